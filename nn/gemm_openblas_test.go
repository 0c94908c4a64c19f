//go:build openblas

package nn

import (
	"math"
	"math/rand"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	"gonum.org/v1/netlib/blas/netlib"
)

// TestOpenBLASMatchesGonum compares netlib's Sgemm with gonum's pure-Go one.
func TestOpenBLASMatchesGonum(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, sz := range [][3]int{{1, 1, 1}, {7, 9, 11}, {64, 64, 64}, {129, 257, 65}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, tr := range [][2]blas.Transpose{{blas.NoTrans, blas.NoTrans}, {blas.Trans, blas.NoTrans}, {blas.NoTrans, blas.Trans}, {blas.Trans, blas.Trans}} {
			a := make([]float32, m*k)
			b := make([]float32, k*n)
			for i := range a {
				a[i] = float32(r.NormFloat64())
			}
			for i := range b {
				b[i] = float32(r.NormFloat64())
			}
			lda, ldb := k, n
			if tr[0] == blas.Trans {
				lda = m
			}
			if tr[1] == blas.Trans {
				ldb = k
			}
			c1 := make([]float32, m*n)
			c2 := make([]float32, m*n)
			gonum.Implementation{}.Sgemm(tr[0], tr[1], m, n, k, 1.25, a, lda, b, ldb, 0, c1, n)
			netlib.Implementation{}.Sgemm(tr[0], tr[1], m, n, k, 1.25, a, lda, b, ldb, 0, c2, n)
			for i := range c1 {
				if math.Abs(float64(c1[i]-c2[i])) > 1e-4*(1+math.Abs(float64(c1[i]))) {
					t.Fatalf("%v %v: element %d gonum %v, OpenBLAS %v", sz, tr, i, c1[i], c2[i])
				}
			}
		}
	}
}
