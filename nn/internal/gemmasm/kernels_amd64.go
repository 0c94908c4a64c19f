//go:build amd64 && !purego

package gemmasm

//go:noescape
func kernel6x16(kc int, a, b, c *float32, ldc int)

//go:noescape
func tapsF32(n, ntaps int, w *float32, offs *int, base, y *float32)

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

func xgetbv() (eax, edx uint32)

// hasAVX2FMA reports whether the CPU and OS support AVX2 and FMA3.
func hasAVX2FMA() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&fma == 0 || ecx1&osxsave == 0 || ecx1&avx == 0 {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0
}

// OK reports whether the kernels can run on this machine (AVX2 and FMA3
// present). It is set once at start-up from the CPU features and never
// written afterwards.
var OK = hasAVX2FMA()

// Kernel6x16 computes C[6x16] += Apanel*Bpanel: a holds kc groups of 6
// values (one per row of C), b kc groups of 16 values (one per column), c
// is row-major with a row stride of ldc elements. kc must be at least 1 and
// the slices long enough; only call it when OK is true.
func Kernel6x16(kc int, a, b, c []float32, ldc int) {
	_ = a[kc*6-1]
	_ = b[kc*16-1]
	_ = c[5*ldc+15]
	kernel6x16(kc, &a[0], &b[0], &c[0], ldc)
}

// Taps computes y[i] += sum_t w[t]*base[offs[t]+i] for the largest prefix
// of y whose length is a multiple of 8, and returns that length. Every
// read must lie inside base; only call it when OK is true.
func Taps(y []float32, w []float32, offs []int, base []float32) int {
	n := len(y) &^ 7
	if n == 0 || len(w) == 0 {
		return 0
	}
	tapsF32(n, len(w), &w[0], &offs[0], &base[0], &y[0])
	return n
}

//go:noescape
func tapsS2F32(n, ntaps int, w *float32, offs *int, base, y *float32)

// TapsStride2 computes y[i] += sum_t w[t]*base[offs[t]+2*i] for the
// largest prefix of y whose length is a multiple of 8, and returns that
// length. Tap t reads base[offs[t] : offs[t]+2*n] (one element past the
// last one it uses), which must lie inside base; only call it when OK is
// true.
func TapsStride2(y []float32, w []float32, offs []int, base []float32) int {
	n := len(y) &^ 7
	if n == 0 || len(w) == 0 {
		return 0
	}
	for _, o := range offs[:len(w)] {
		_ = base[o+2*n-1]
	}
	tapsS2F32(n, len(w), &w[0], &offs[0], &base[0], &y[0])
	return n
}
