//go:build !amd64 || purego

package gemmasm

// Kernel modes, as in the amd64 build.
const (
	ModeLoad   = 1
	ModeStream = 2
	ModeClamp  = 4
)

// OK512 is false: no AVX-512 kernels on this platform or with -tags purego.
const OK512 = false

// OK is false: no vector kernels on this platform or with -tags purego.
const OK = false

// Kernel6x16 is unavailable here; callers check OK first.
func Kernel6x16(kc int, a, b, c []float32, ldc int) {
	panic("gemmasm: kernel not available on this platform")
}

// Taps is unavailable here and processes nothing.
func Taps(y []float32, w []float32, offs []int, base []float32) int { return 0 }

// TapsStride2 is unavailable here and processes nothing.
func TapsStride2(y []float32, w []float32, offs []int, base []float32) int { return 0 }

// PackB16 copies kb rows of 16 values, row p starting at src[p*ldb], into
// dst[p*16 : p*16+16].
func PackB16(kb int, src []float32, ldb int, dst []float32) {
	for p := 0; p < kb; p++ {
		copy(dst[p*16:p*16+16], src[p*ldb:p*ldb+16])
	}
}

// Kernel6x16Offs is unavailable here; callers check OK first.
func Kernel6x16Offs(kc int, a, base []float32, offs []int, c []float32, ldc int, bias []float32, load bool) {
	panic("gemmasm: kernel not available on this platform")
}

// Kernel6x32Offs is unavailable here; callers check OK512 first.
func Kernel6x32Offs(kc int, a, base []float32, offs []int, c []float32, ldc int, bias []float32, mode int, lo, hi float32) {
	panic("gemmasm: kernel not available on this platform")
}

// Kernel6x32OffsRows is unavailable here; callers check OK512 first.
func Kernel6x32OffsRows(rows, kc int, a, base []float32, offs []int, c []float32, ldc int, bias []float32, mode int, lo, hi float32) {
	panic("gemmasm: kernel not available on this platform")
}

// DepthwisePlane is unavailable here; callers check OK first.
func DepthwisePlane(y []float32, rows, ow, wq int, w []float32, offs []int, base []float32, bias float32, act bool, lo, hi float32) {
	panic("gemmasm: kernel not available on this platform")
}

// Deinterleave2 is unavailable here and processes nothing.
func Deinterleave2(src, even, odd []float32) int { return 0 }

// KernelR6x32 is unavailable here; callers check OK512 first.
func KernelR6x32(kc int, arows []int, abase, base []float32, boffs []int, c []float32, ldc int, load bool) {
	panic("gemmasm: kernel not available on this platform")
}

// StoreFence does nothing here: there are no non-temporal stores.
func StoreFence() {}

// PackA6 is unavailable here and packs nothing.
func PackA6(kb int, src []float32, lda int, dst []float32) int { return 0 }

// Kernel16OffsRows is unavailable here; callers check OK512 first.
func Kernel16OffsRows(rows, kc int, a, base []float32, offs []int, c []float32, ldc int, bias []float32, mode int, lo, hi float32) {
	panic("gemmasm: kernel not available on this platform")
}

// Kernel16OffsMasked is unavailable here; callers check OK512 first.
func Kernel16OffsMasked(rows, cols, kc int, a, base []float32, offs []int, c []float32, ldc int, bias []float32, mode int, lo, hi float32) {
	panic("gemmasm: no AVX-512 kernels")
}

// DepthwiseFlat is unavailable here; callers check OK512 first.
func DepthwiseFlat(y []float32, n, ow, wq int, w []float32, offs []int, base []float32, masks []uint64, bias float32, act bool, lo, hi float32) {
	panic("gemmasm: no AVX-512 kernels")
}

// Transpose8 transposes nothing without the assembly kernels: it returns 0.
func Transpose8(cols int, src []float32, lds int, dst []float32, ldd int) int { return 0 }

// Transpose16 transposes nothing without the assembly kernels: it returns 0.
func Transpose16(cols int, src []float32, lds int, dst []float32, ldd int) int { return 0 }

// MaxPool3x3s2 pools nothing without the assembly kernels: it returns 0.
func MaxPool3x3s2(y []float32, arg []uint8, r0, r1, r2 []float32) int { return 0 }
