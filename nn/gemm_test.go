package nn

import (
	"math"
	"math/rand"
	"testing"
)

// TestGemmBackendAgainstNaive checks the active BLAS backend (gonum or
// OpenBLAS) against a plain triple loop for every transpose combination,
// odd sizes and leading dimensions larger than the row length.
func TestGemmBackendAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, sz := range [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 33, 9}, {64, 65, 130}, {150, 7, 300}, {200, 90, 70}, {60, 300, 80}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				ar, ac := m, k
				if ta {
					ar, ac = k, m
				}
				br, bc := k, n
				if tb {
					br, bc = n, k
				}
				lda, ldb, ldc := ac+2, bc+1, n+3
				a := make([]float32, ar*lda)
				b := make([]float32, br*ldb)
				c := make([]float32, m*ldc)
				for i := range a {
					a[i] = float32(r.NormFloat64())
				}
				for i := range b {
					b[i] = float32(r.NormFloat64())
				}
				for i := range c {
					c[i] = float32(r.NormFloat64())
				}
				c0 := append([]float32{}, c...)
				alpha, beta := float32(0.5), float32(-1.5)
				gemmF32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						s := 0.0
						for p := 0; p < k; p++ {
							var av, bv float32
							if ta {
								av = a[p*lda+i]
							} else {
								av = a[i*lda+p]
							}
							if tb {
								bv = b[j*ldb+p]
							} else {
								bv = b[p*ldb+j]
							}
							s += float64(av) * float64(bv)
						}
						want := float64(alpha)*s + float64(beta)*float64(c0[i*ldc+j])
						if got := float64(c[i*ldc+j]); math.Abs(got-want) > 1e-4*(1+math.Abs(want)) {
							t.Fatalf("%s %v ta=%v tb=%v: c[%d,%d] = %v, want %v", BLASBackend(), sz, ta, tb, i, j, got, want)
						}
					}
					// Padding columns of C are untouched.
					for j := n; j < ldc; j++ {
						if c[i*ldc+j] != c0[i*ldc+j] {
							t.Fatalf("%s %v: padding c[%d,%d] changed", BLASBackend(), sz, i, j)
						}
					}
				}
			}
		}
	}
	t.Logf("backend %s ok", BLASBackend())
}
