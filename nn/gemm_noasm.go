//go:build !amd64 || purego || openblas

package nn

const gemmKernelOK = false

func gemmMicro(kc int, a, b, c []float32, ldc int) {
	panic("nn: gemm micro-kernel not available")
}
