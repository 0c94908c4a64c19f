package nn

import "github.com/graftml/graft/nn/internal/gemmasm"

// gemmKernelOK reports whether the AVX2/FMA kernels run on this CPU.
var gemmKernelOK = gemmasm.OK

// gemmOwnKernels describes graft's own float32 kernels on this CPU for
// BLASBackend: "" without AVX2/FMA.
func gemmOwnKernels() string {
	switch {
	case gemmasm.OK512:
		return " + graft AVX2/AVX-512 kernels"
	case gemmKernelOK:
		return " + graft AVX2/FMA kernels"
	}
	return ""
}

func gemmMicro(kc int, a, b, c []float32, ldc int) { gemmasm.Kernel6x16(kc, a, b, c, ldc) }

// gemmTaps computes y[i] += sum_t w[t]*base[offs[t]+i] over the largest
// prefix of y with a length divisible by 8 and returns that length.
func gemmTaps(y []float32, w []float32, offs []int, base []float32) int {
	return gemmasm.Taps(y, w, offs, base)
}

// gemmTapsStride2 is gemmTaps reading every second element:
// y[i] += sum_t w[t]*base[offs[t]+2*i].
func gemmTapsStride2(y []float32, w []float32, offs []int, base []float32) int {
	return gemmasm.TapsStride2(y, w, offs, base)
}
