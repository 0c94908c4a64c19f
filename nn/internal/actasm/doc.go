// Package actasm holds graft's AVX2/FMA assembly kernels for float32
// activations (clamp, logistic sigmoid) used by package nn. Like gemmasm it
// is a package of its own so that every build of nn, including the cgo
// (OpenBLAS) one, can use it. Callers check gemmasm.OK (AVX2 and FMA3)
// before calling.
package actasm
