package nn

import "github.com/graftml/graft/nn/internal/actasm"

// pfClampVec clamps a prefix of x (length a multiple of 8) into d with
// AVX2 and returns its length (0 without AVX2/FMA).
func pfClampVec(d, x []float32, lo, hi float32) int {
	if !gemmKernelOK {
		return 0
	}
	return actasm.Clamp(d, x, lo, hi)
}

// pfSigmoidVec computes the logistic function of a prefix of x into d with
// AVX2 and returns its length: a multiple of 8, ending before the first
// block of eight that holds a NaN or an |x| > 87 (0 without AVX2/FMA).
func pfSigmoidVec(d, x []float32) int {
	if !gemmKernelOK {
		return 0
	}
	return actasm.Sigmoid(d, x)
}
