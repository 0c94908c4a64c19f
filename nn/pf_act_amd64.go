//go:build amd64 && !purego && !openblas

package nn

//go:noescape
func pfClampAVX2(d, x *float32, n int, lo, hi float32)

//go:noescape
func pfSigmoidAVX2(d, x *float32, n int) int

// pfClampVec clamps a prefix of x whose length is a multiple of 8 into d
// with AVX2 and returns that length (0 without AVX2).
func pfClampVec(d, x []float32, lo, hi float32) int {
	n := len(d) &^ 7
	if !smAVX2 || n == 0 {
		return 0
	}
	x = x[:n]
	pfClampAVX2(&d[0], &x[0], n, lo, hi)
	return n
}

// pfSigmoidVec computes the logistic function of a prefix of x into d with
// AVX2 and returns its length: a multiple of 8, ending before the first
// block of eight that holds a NaN or an |x| > 87 (0 without AVX2).
func pfSigmoidVec(d, x []float32) int {
	n := len(d) &^ 7
	if !smAVX2 || n == 0 {
		return 0
	}
	x = x[:n]
	return pfSigmoidAVX2(&d[0], &x[0], n)
}
