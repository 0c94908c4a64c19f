//go:build amd64 && !purego

package nn

//go:noescape
func smExpSubAVX2(x, y *float32, n int, m float32) float64

//go:noescape
func smMaxAVX2(x *float32, n int) (m float32, nan uint32)

//go:noescape
func smScaleAVX2(y *float32, n int, r float32)

func smCPUID(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

func smXgetbv() (eax, edx uint32)

// smHasAVX2FMA reports whether the CPU and OS support AVX2 and FMA3.
func smHasAVX2FMA() bool {
	maxID, _, _, _ := smCPUID(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := smCPUID(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&fma == 0 || ecx1&osxsave == 0 || ecx1&avx == 0 {
		return false
	}
	if xcr0, _ := smXgetbv(); xcr0&6 != 6 {
		return false
	}
	_, ebx7, _, _ := smCPUID(7, 0)
	return ebx7&(1<<5) != 0
}

// smAVX2 is fixed at start-up from the CPU features; it is never written
// afterwards.
var smAVX2 = smHasAVX2FMA()

// smExpSubVec sets y[i] = e^(x[i]-m) for a prefix of x whose length is a
// multiple of 8 and returns that length and the prefix's sum. m must be
// finite and no smaller than any x[i].
func smExpSubVec(x, y []float32, m float64) (int, float64) {
	n := len(x) &^ 7
	if !smAVX2 || n == 0 {
		return 0, 0
	}
	y = y[:len(x)]
	return n, smExpSubAVX2(&x[0], &y[0], n, float32(m))
}

// smMaxVec returns the maximum of a prefix of x whose length is a multiple
// of 8, that length (0 when nothing was done) and whether the prefix holds
// a NaN.
func smMaxVec(x []float32) (float32, int, bool) {
	n := len(x) &^ 7
	if !smAVX2 || n == 0 {
		return 0, 0, false
	}
	m, nan := smMaxAVX2(&x[0], n)
	return m, n, nan != 0
}

// smScaleVec multiplies a prefix of y whose length is a multiple of 8 by r
// and returns that length.
func smScaleVec(y []float32, r float32) int {
	n := len(y) &^ 7
	if !smAVX2 || n == 0 {
		return 0
	}
	smScaleAVX2(&y[0], n, r)
	return n
}
