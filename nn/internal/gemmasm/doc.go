// Package gemmasm holds graft's AVX2/FMA assembly kernels for package nn:
// the 6×16 SGEMM micro-kernel and the multi-tap row update used by the
// depthwise convolution. Keeping the assembly in its own package keeps it
// independent of nn's build variants (a package that uses cgo cannot hold
// Go assembly).
package gemmasm
