//go:build amd64 && !purego

package nn

//go:noescape
func tmSumDotAVX2(x, dy *float32, n int, mu float64) (s, q float64)

//go:noescape
func tmAxpbycAVX2(dy, x, dx *float32, n int, a, b, m, c float32)

//go:noescape
func tmScaleShiftAVX2(x, y *float32, n int, a, b float32)

//go:noescape
func tmSelectAVX2(y, dy, dx *float32, n int, p, q float32)

//go:noescape
func tmSelectGtAVX2(y, dy, dx *float32, n int, p float32)

// tmSumDotVec returns, over the prefix of x (and dy, as long) whose length
// is a multiple of 8, that length, Σ dy and Σ dy·(x-mu) in float64.
func tmSumDotVec(x, dy []float32, mu float64) (int, float64, float64) {
	n := len(x) &^ 7
	if !smAVX2 || n == 0 {
		return 0, 0, 0
	}
	dy = dy[:n]
	s, q := tmSumDotAVX2(&x[0], &dy[0], n, mu)
	return n, s, q
}

// tmAxpbycVec sets dx = (a·dy + b·(x-m)) + c over the prefix whose length
// is a multiple of 8 and returns that length.
func tmAxpbycVec(dy, x, dx []float32, a, b, m, c float32) int {
	n := len(x) &^ 7
	if !smAVX2 || n == 0 {
		return 0
	}
	dy, dx = dy[:n], dx[:n]
	tmAxpbycAVX2(&dy[0], &x[0], &dx[0], n, a, b, m, c)
	return n
}

// tmScaleShiftVec sets y = x·a + b over the prefix whose length is a
// multiple of 8 and returns that length.
func tmScaleShiftVec(x, y []float32, a, b float32) int {
	n := len(x) &^ 7
	if !smAVX2 || n == 0 {
		return 0
	}
	y = y[:n]
	tmScaleShiftAVX2(&x[0], &y[0], n, a, b)
	return n
}

// tmSelectVec sets dx = dy where p < y < q (only y > p when gtOnly), 0
// elsewhere, over the prefix whose length is a multiple of 8, and returns
// that length.
func tmSelectVec(y, dy, dx []float32, p, q float32, gtOnly bool) int {
	n := len(y) &^ 7
	if !smAVX2 || n == 0 {
		return 0
	}
	dy, dx = dy[:n], dx[:n]
	if gtOnly {
		tmSelectGtAVX2(&y[0], &dy[0], &dx[0], n, p)
	} else {
		tmSelectAVX2(&y[0], &dy[0], &dx[0], n, p, q)
	}
	return n
}
