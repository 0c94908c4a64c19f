package nn

import (
	"fmt"
	"math/rand"
	"testing"
)

// Convolution backward and forward on resnet18's layer shapes at batch
// 16: per-sample against sample-batched GEMMs.
func BenchmarkConvBatched(b *testing.B) {
	shapes := []struct {
		name       string
		C, M, H, k int
		s, p       int
	}{
		{"conv1", 3, 64, 224, 7, 2, 3},
		{"layer1", 64, 64, 56, 3, 1, 1},
		{"layer2", 128, 128, 28, 3, 1, 1},
		{"layer3", 256, 256, 14, 3, 1, 1},
		{"layer4", 512, 512, 7, 3, 1, 1},
		{"layer2s2", 64, 128, 56, 3, 2, 1},
		{"layer3s2", 128, 256, 28, 3, 2, 1},
		{"down2", 64, 128, 56, 1, 2, 0},
		{"down4", 256, 512, 14, 1, 2, 0},
	}
	const N = 16
	rng := rand.New(rand.NewSource(1))
	for _, sh := range shapes {
		a := convAttrs{autoPad: "NOTSET", strides: []int{sh.s, sh.s}, pads: []int{sh.p, sh.p, sh.p, sh.p}}
		g := convTestGeom(b, &a, []int{sh.H, sh.H}, []int{sh.k, sh.k})
		K := sh.C * g.kSize
		f := func(n int) []float32 {
			s := make([]float32, n)
			for i := range s {
				s[i] = float32(rng.NormFloat64())
			}
			return s
		}
		x, w, dy := f(N*sh.C*g.inSize), f(sh.M*K), f(N*sh.M*g.outSz)
		y := make([]float32, len(dy))
		dx, dw := make([]float32, len(x)), make([]float32, len(w))
		flops := float64(2 * N * sh.M * K * g.outSz)
		nb := convBatchSize(max(K, sh.M), g.outSz, N)
		// run reports GFLOP/s of wall time; work is the number of
		// forward-sized products fn computes (2 for dx and dw together).
		run := func(name string, fn func(), work float64) {
			b.Run(fmt.Sprintf("%s/%s", sh.name, name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					fn()
				}
				b.ReportMetric(work*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		run("fwd-sample", func() {
			gemmParallel(N, func(lo, hi int) {
				for n := lo; n < hi; n++ {
					convForward(g, 1, sh.C, sh.M, 1, x[n*sh.C*g.inSize:][:sh.C*g.inSize], w, nil, y[n*sh.M*g.outSz:][:sh.M*g.outSz])
				}
			})
		}, 1)
		if convImplicitOK(g, 1) {
			run("fwd-implicit", func() { convForwardImplicitF32(g, N, sh.C, sh.M, x, w, nil, y) }, 1)
		}
		if cvgConvBackWeightImplicitOK(g, N, 1) {
			run("dw-implicit", func() { cvgConvBackWeightImplicitF32(g, N, sh.C, sh.M, x, dy, dw) }, 1)
		}
		if cvgConvBackDataImplicitOK(g, N, 1) {
			run("dx-implicit", func() { cvgConvBackDataImplicitF32(g, N, sh.C, sh.M, w, dy, dx) }, 1)
		}
		if cvgConvBackDataStridedOK(g, N, 1) {
			run("dx-strided", func() { cvgConvBackDataStridedF32(g, N, sh.C, sh.M, w, dy, dx) }, 1)
		}
		run("fwd-batched", func() { convForwardBatched(g, N, sh.C, sh.M, convBatchSize(K, g.outSz, N), x, w, nil, y) }, 1)
		if convTapsOK(g, N, sh.C, 1) {
			run("fwd-taps", func() { convForwardTaps(g, N, sh.C, sh.M, x, w, nil, y) }, 1)
			run("bwd-taps", func() { cvgConvBackTaps(g, N, sh.C, sh.M, x, w, dy, dx, dw) }, 2)
			run("dw-taps", func() { cvgConvBackTaps(g, N, sh.C, sh.M, x, w, dy, nil, dw) }, 1)
			run("dx-taps", func() { cvgConvBackTaps(g, N, sh.C, sh.M, x, w, dy, dx, nil) }, 1)
			run("bwd-sample", func() { clear(dx); clear(dw); cvgConvBack(g, N, sh.C, sh.M, 1, x, w, dy, dx, dw) }, 2)
		}
		run("dw-sample", func() { clear(dw); cvgConvBack(g, N, sh.C, sh.M, 1, x, w, dy, nil, dw) }, 1)
		run("dw-batched", func() { cvgConvBackBatched(g, N, sh.C, sh.M, nb, x, w, dy, nil, dw) }, 1)
		run("dx-sample", func() { clear(dx); cvgConvBack(g, N, sh.C, sh.M, 1, x, w, dy, dx, nil) }, 1)
		run("dx-batched", func() { cvgConvBackBatched(g, N, sh.C, sh.M, nb, x, w, dy, dx, nil) }, 1)
	}
}

// im2col alone on resnet18 layer shapes (one sample).
func BenchmarkConvIm2col(b *testing.B) {
	for _, sh := range []struct{ C, H, s int }{{64, 56, 1}, {128, 28, 1}, {256, 14, 1}, {512, 7, 1}, {64, 56, 2}} {
		a := convAttrs{autoPad: "NOTSET", strides: []int{sh.s, sh.s}, pads: []int{1, 1, 1, 1}}
		g := convTestGeom(b, &a, []int{sh.H, sh.H}, []int{3, 3})
		x := make([]float32, sh.C*g.inSize)
		col := make([]float32, sh.C*g.kSize*g.outSz)
		b.Run(fmt.Sprintf("C%dH%ds%d", sh.C, sh.H, sh.s), func(b *testing.B) {
			b.SetBytes(int64(4 * len(col)))
			for i := 0; i < b.N; i++ {
				convIm2col(g, x, col, 0, sh.C)
			}
		})
	}
}
