//go:build !amd64 || purego

package gemmasm

// OK is false: no vector kernels on this platform or with -tags purego.
const OK = false

// Kernel6x16 is unavailable here; callers check OK first.
func Kernel6x16(kc int, a, b, c []float32, ldc int) {
	panic("gemmasm: kernel not available on this platform")
}

// Taps is unavailable here and processes nothing.
func Taps(y []float32, w []float32, offs []int, base []float32) int { return 0 }

// TapsStride2 is unavailable here and processes nothing.
func TapsStride2(y []float32, w []float32, offs []int, base []float32) int { return 0 }
