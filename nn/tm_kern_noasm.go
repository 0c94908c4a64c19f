//go:build !amd64 || purego

package nn

// The tm kernels have no vector version on this platform: they handle
// nothing and the callers' scalar loops do all the work.

func tmSumDotVec(x, dy []float32, mu float64) (int, float64, float64) { return 0, 0, 0 }

func tmAxpbycVec(dy, x, dx []float32, a, b, m, c float32) int { return 0 }

func tmScaleShiftVec(x, y []float32, a, b float32) int { return 0 }

func tmSelectVec(y, dy, dx []float32, p, q float32, gtOnly bool) int { return 0 }
