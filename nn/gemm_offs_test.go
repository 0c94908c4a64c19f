package nn

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
	"unsafe"

	"github.com/graftml/graft/nn/internal/gemmasm"
)

// TestGemmOffsAgainstNaive checks gemmOffsRun (B read in place through row
// offsets, fused bias, beta 0 or 1, a fused clamp; A packed from a
// row-major or a transposed matrix, or read through row offsets) against a float64 triple
// loop, on sizes with ragged row and column panels, inner dimensions
// spanning several blocks, and rows that end exactly at the end of base.
func TestGemmOffsAgainstNaive(t *testing.T) {
	if !gemmKernelOK {
		t.Skip("no AVX2/FMA on this CPU: gemmOffsF32 is never called")
	}
	r := rand.New(rand.NewSource(7))
	wides := []bool{false}
	if gemmasm.OK512 {
		wides = append(wides, true)
	}
	for _, wide := range wides {
		for _, sz := range [][3]int{{1, 1, 1}, {6, 16, 3}, {7, 17, 5}, {64, 300, 9}, {13, 45, 600}, {96, 257, 16}, {5, 1000, 300}, {12, 64, 7}, {13, 80, 130}, {8, 70, 20}, {9, 64, 33}} {
			for _, beta := range []float32{0, 1} {
				for _, withBias := range []bool{false, true} {
					for mode, serial := range []bool{false, true, false} {
						m, n, k := sz[0], sz[1], sz[2]
						name := fmt.Sprintf("wide%v/%dx%dx%d/beta%g/bias%v/mode%d", wide, m, n, k, beta, withBias, mode)
						lda, ldc := k+3, n+2
						a := make([]float32, m*lda)
						for i := range a {
							a[i] = float32(r.NormFloat64())
						}
						var pa *gemmOffsA
						switch mode {
						case 0: // row-major
							pa = gemmOffsPack(false, m, k, a, lda)
						case 1: // transposed copy
							at := make([]float32, k*(m+1))
							for i := 0; i < m; i++ {
								for p := 0; p < k; p++ {
									at[p*(m+1)+i] = a[i*lda+p]
								}
							}
							pa = gemmOffsPack(true, m, k, at, m+1)
						case 2: // rows through offsets, in reverse order
							ab := make([]float32, m*lda)
							aoffs := make([]int, m)
							for i := 0; i < m; i++ {
								aoffs[i] = (m - 1 - i) * lda
								copy(ab[aoffs[i]:][:k], a[i*lda:][:k])
							}
							pa = gemmOffsRows(m, k, ab, aoffs)
						}
						// Rows of B at shuffled, overlapping offsets; the largest
						// ends exactly at len(base).
						span := n + 40
						base := make([]float32, span+k*7)
						for i := range base {
							base[i] = float32(r.NormFloat64())
						}
						offs := make([]int, k)
						for p := range offs {
							offs[p] = r.Intn(len(base) - n + 1)
						}
						offs[r.Intn(k)] = len(base) - n
						var bias []float32
						if withBias {
							bias = make([]float32, m)
							for i := range bias {
								bias[i] = float32(r.NormFloat64())
							}
						}
						c := make([]float32, m*ldc)
						for i := range c {
							c[i] = float32(r.NormFloat64())
						}
						c0 := append([]float32{}, c...)
						out := gemmOffsOut{bias: bias, acc: beta == 1}
						if withBias && mode == 1 {
							// A fused clamp too, tight enough to bite.
							out.clamp, out.lo, out.hi = true, -0.5, 0.75
						}
						gemmOffsRun(wide, serial, pa, n, base, offs, out, c, ldc)
						pa.release()
						for i := 0; i < m; i++ {
							for j := 0; j < ldc; j++ {
								got := float64(c[i*ldc+j])
								if j >= n {
									if got != float64(c0[i*ldc+j]) {
										t.Fatalf("%s: C[%d][%d] beyond n written", name, i, j)
									}
									continue
								}
								want := float64(beta) * float64(c0[i*ldc+j])
								if bias != nil {
									want += float64(bias[i])
								}
								scale := math.Abs(want)
								for p := 0; p < k; p++ {
									v := float64(a[i*lda+p]) * float64(base[offs[p]+j])
									want += v
									scale += math.Abs(v)
								}
								if withBias && mode == 1 {
									want = min(max(want, -0.5), 0.75)
								}
								if math.Abs(got-want) > 1e-5*(scale+1) {
									t.Fatalf("%s: C[%d][%d] = %g, want %g", name, i, j, got, want)
								}
							}
						}
					}
				}
			}
		}
	}
}

// A streamed output (non-temporal stores) holds exactly what the cached
// path writes, ragged row panel, ragged column panel and bias included.
func TestGemmOffsStreamingMatchesCached(t *testing.T) {
	if !gemmasm.OK512 {
		t.Skip("no AVX-512: no streaming stores")
	}
	m, n, k := 97, 2000+40, 24
	r := rand.New(rand.NewSource(9))
	a := make([]float32, m*k)
	for i := range a {
		a[i] = float32(r.NormFloat64())
	}
	base := make([]float32, k*n)
	for i := range base {
		base[i] = float32(r.NormFloat64())
	}
	offs := make([]int, k)
	for p := range offs {
		offs[p] = p * n
	}
	bias := make([]float32, m)
	for i := range bias {
		bias[i] = float32(r.NormFloat64())
	}
	ldc := (n + 15) &^ 15
	pa := gemmOffsPack(false, m, k, a, k)
	defer pa.release()
	got := make([]float32, m*ldc)
	if uintptr(unsafe.Pointer(&got[0]))%64 != 0 {
		t.Fatal("C is not 64-byte aligned: the streaming stores would not be exercised")
	}
	gemmOffsRun(true, false, pa, n, base, offs, gemmOffsOut{bias: bias, stream: true}, got, ldc)
	want := make([]float32, m*ldc)
	gemmOffsRun(true, false, pa, n, base, offs, gemmOffsOut{bias: bias}, want, ldc)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("c[%d] = %v, cached path %v", i, got[i], want[i])
		}
	}
}

// graft's offset GEMM (B read in place) next to the build's BLAS backend
// (gemmF32: OpenBLAS, or graft's packed AVX2 GEMM in the pure-Go build) on
// convolution-shaped products: m×n×k as resnet18's and MobileNet-v2's
// layers give them per sample (3×3 ones as their im2col product).
func BenchmarkGemmOffsVsBackend(b *testing.B) {
	if !gemmKernelOK {
		b.Skip("no AVX2/FMA")
	}
	for _, s := range [][3]int{{64, 3136, 576}, {128, 784, 1152}, {256, 196, 2304}, {96, 12544, 16}, {144, 3136, 24}, {24, 3136, 144}, {32, 784, 192}, {192, 784, 32}, {64, 196, 384}, {96, 196, 576}, {1024, 1024, 1024}} {
		m, n, k := s[0], s[1], s[2]
		a := make([]float32, m*k)
		bm := make([]float32, k*n)
		c := make([]float32, m*n)
		for i := range a {
			a[i] = float32(i%7) * 0.1
		}
		for i := range bm {
			bm[i] = float32(i%5) * 0.1
		}
		offs := make([]int, k)
		for p := range offs {
			offs[p] = p * n
		}
		flops := float64(2 * m * n * k)
		b.Run(fmt.Sprintf("%dx%dx%d/offs", m, n, k), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				pa := gemmOffsPack(false, m, k, a, k)
				gemmOffsF32(false, pa, n, bm, offs, nil, 0, c, n)
				pa.release()
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("%dx%dx%d/backend", m, n, k), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				gemmF32(false, false, m, n, k, 1, a, k, bm, n, 0, c, n)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
