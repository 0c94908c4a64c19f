package nn

import (
	"fmt"
	"testing"
)

func BenchmarkZZGemmShapes(b *testing.B) {
	shapes := [][3]int{{1024, 1024, 1024}, {64, 3136, 576}, {64, 3136, 64}, {128, 784, 1152}, {128, 784, 128}, {256, 196, 2304}, {256, 196 * 8, 256}, {512, 392, 4608}, {512, 392, 512}, {32, 12544, 27}, {96, 3136, 16}, {144, 3136, 24}, {24, 3136, 144}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		a := make([]float32, m*k)
		bb := make([]float32, k*n)
		c := make([]float32, m*n)
		for i := range a {
			a[i] = float32(i%7) * 0.1
		}
		for i := range bb {
			bb[i] = float32(i%5) * 0.1
		}
		for _, impl := range []string{"own", "blas"} {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", impl, m, n, k), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					if impl == "own" {
						gemmPackedF32(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
					} else {
						gemmSplitF32(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
					}
				}
				b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func BenchmarkZZGemmOffs(b *testing.B) {
	shapes := [][3]int{{1024, 1024, 1024}, {64, 3136, 576}, {64, 3136, 64}, {128, 784, 1152}, {256, 1568, 256}, {96, 3136, 16}, {144, 3136, 24}, {24, 3136, 144}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		a := make([]float32, m*k)
		bb := make([]float32, k*n+16)
		c := make([]float32, m*n)
		offs := make([]int, k)
		for p := range offs {
			offs[p] = p * n
		}
		b.Run(fmt.Sprintf("%dx%dx%d", m, n, k), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				pa := gemmOffsPack(false, m, k, a, k)
				gemmOffsF32(false, pa, n, bb, offs, nil, 0, c, n)
				pa.release()
			}
			b.ReportMetric(float64(2*m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
