//go:build amd64 && !purego

package nn

//go:noescape
func redSumAVX2(x *float32, n int) float64

//go:noescape
func redSqDevAVX2(x *float32, n int, mu float64) float64

//go:noescape
func redAccumAVX2(acc *float64, x *float32, n int)

// redAccumVec adds a prefix of x whose length is a multiple of 8 into acc
// and returns that length.
func redAccumVec(acc []float64, x []float32) int {
	n := len(x) &^ 7
	if !smAVX2 || n == 0 {
		return 0
	}
	acc = acc[:len(x)]
	redAccumAVX2(&acc[0], &x[0], n)
	return n
}

// redSumVec sums a prefix of x whose length is a multiple of 16 and returns
// that length (0 when nothing was done) and the sum.
func redSumVec(x []float32) (int, float64) {
	n := len(x) &^ 15
	if !smAVX2 || n == 0 {
		return 0, 0
	}
	return n, redSumAVX2(&x[0], n)
}

// redSqDevVec returns, for a prefix of x whose length is a multiple of 16,
// that length and the sum of (x[i]-mu)^2.
func redSqDevVec(x []float32, mu float64) (int, float64) {
	n := len(x) &^ 15
	if !smAVX2 || n == 0 {
		return 0, 0
	}
	return n, redSqDevAVX2(&x[0], n, mu)
}
