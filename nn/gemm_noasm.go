//go:build !amd64 || purego || openblas

package nn

const gemmKernelOK = false

func gemmMicro(kc int, a, b, c []float32, ldc int) {
	panic("nn: gemm micro-kernel not available")
}

func gemmTaps(y []float32, w []float32, offs []int, base []float32) int { return 0 }
