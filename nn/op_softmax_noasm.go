//go:build !amd64 || purego

package nn

// smExpSubVec has no vector version on this platform: it handles nothing.
func smExpSubVec(x, y []float32, m float64) (int, float64) { return 0, 0 }

// smMaxVec has no vector version on this platform: it handles nothing.
func smMaxVec(x []float32) (float32, int, bool) { return 0, 0, false }

// smScaleVec has no vector version on this platform: it handles nothing.
func smScaleVec(y []float32, r float32) int { return 0 }
