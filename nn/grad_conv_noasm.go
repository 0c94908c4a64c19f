//go:build !amd64 || purego

package nn

// cvgDots has no vector version on this platform: it handles nothing.
func cvgDots(a []float32, base []float32, offs []int, out []float32) int { return 0 }

const cvgDotsOK = false
