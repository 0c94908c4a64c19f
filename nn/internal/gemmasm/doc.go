// Package gemmasm holds graft's AVX2/FMA assembly kernels for package nn:
// the 6×16 SGEMM micro-kernel and the multi-tap row update used by the
// depthwise convolution. It is a separate package because package nn uses
// cgo in the openblas build, and a cgo package cannot contain Go assembly.
package gemmasm
