//go:build !amd64 || purego || openblas

package nn

// pfClampVec has no vector version on this platform: it handles nothing.
func pfClampVec(d, x []float32, lo, hi float32) int { return 0 }

// pfSigmoidVec has no vector version on this platform: it handles nothing.
func pfSigmoidVec(d, x []float32) int { return 0 }
