//go:build !amd64 || purego

package actasm

// Clamp has no vector version on this platform: it handles nothing.
func Clamp(d, x []float32, lo, hi float32) int { return 0 }

// Sigmoid has no vector version on this platform: it handles nothing.
func Sigmoid(d, x []float32) int { return 0 }

// Arithmetic operations of Arith.
const (
	OpAdd = iota
	OpSub
	OpMul
	OpDiv
)

// Arith computes nothing without the assembly kernels: it returns 0.
func Arith(op int, d, a, b []float32) int { return 0 }
