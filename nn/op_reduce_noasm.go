//go:build !amd64 || purego

package nn

// redSumVec has no vector version on this platform: it handles nothing.
func redSumVec(x []float32) (int, float64) { return 0, 0 }

// redSqDevVec has no vector version on this platform: it handles nothing.
func redSqDevVec(x []float32, mu float64) (int, float64) { return 0, 0 }

// redAccumVec has no vector version on this platform: it handles nothing.
func redAccumVec(acc []float64, x []float32) int { return 0 }
