//go:build amd64 && !purego && !openblas

package nn

//go:noescape
func gemmKernel6x16(kc int, a, b, c *float32, ldc int)

func gemmCPUID(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

func gemmXgetbv() (eax, edx uint32)

// gemmHasAVX2FMA reports whether the CPU and OS support AVX2 and FMA3.
func gemmHasAVX2FMA() bool {
	maxID, _, _, _ := gemmCPUID(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := gemmCPUID(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&fma == 0 || ecx1&osxsave == 0 || ecx1&avx == 0 {
		return false
	}
	if xcr0, _ := gemmXgetbv(); xcr0&6 != 6 {
		return false
	}
	_, ebx7, _, _ := gemmCPUID(7, 0)
	return ebx7&(1<<5) != 0
}

// gemmKernelOK is fixed at start-up from the CPU features; it is never
// written afterwards.
var gemmKernelOK = gemmHasAVX2FMA()

func gemmMicro(kc int, a, b, c []float32, ldc int) {
	gemmKernel6x16(kc, &a[0], &b[0], &c[0], ldc)
}

//go:noescape
func gemmTapsF32(n, ntaps int, w *float32, offs *int, base, y *float32)

// gemmTaps computes y[i] += sum_t w[t]*base[offs[t]+i] for i < len(y)
// (vectorised part; the caller handles len(y)%8 itself and must ensure
// every read is inside base).
func gemmTaps(y []float32, w []float32, offs []int, base []float32) int {
	n := len(y) &^ 7
	if n == 0 || len(w) == 0 {
		return 0
	}
	gemmTapsF32(n, len(w), &w[0], &offs[0], &base[0], &y[0])
	return n
}
