//go:build !amd64 || purego

package actasm

// Clamp has no vector version on this platform: it handles nothing.
func Clamp(d, x []float32, lo, hi float32) int { return 0 }

// Sigmoid has no vector version on this platform: it handles nothing.
func Sigmoid(d, x []float32) int { return 0 }
