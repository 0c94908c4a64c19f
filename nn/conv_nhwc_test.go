package nn

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/graftml/graft/nn/internal/gemmasm"
)

// The channels-last forward path agrees with float64 im2col sums on every
// geometry it accepts: strides 1 and 2 (and mixed), dilations, asymmetric
// pads, 1-D, 5×5 and 2×2 kernels; channel counts over one 256-channel
// block; output channel counts that leave a ragged 32-wide panel; one
// sample (rows split finer, up to 28×28) and several, with bias and a
// fused clamp.
func TestConvNHWCMatchesIm2col(t *testing.T) {
	if !gemmasm.OK512 {
		t.Skip("no AVX-512 on this CPU: the channels-last path is never taken")
	}
	cases := []struct {
		name        string
		in, k, pads []int
		dil         []int
		N, C, M     int
		strides     []int
		clamp       bool
	}{
		{"3x3 pad1 7x7", []int{7, 7}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 3, 20, 64, nil, false},
		{"3x3 pad1 N1 C300", []int{14, 14}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 1, 300, 40, nil, true},
		{"3x3 pad1 N1 28x28", []int{28, 28}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 1, 16, 32, nil, false},
		{"3x3 s2 pad1", []int{14, 13}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 2, 9, 33, []int{2, 2}, false},
		{"3x3 s(1,2) asym", []int{9, 12}, []int{3, 3}, []int{0, 1, 2, 0}, nil, 2, 7, 5, []int{1, 2}, true},
		{"5x5 pad2 dilated", []int{11, 10}, []int{5, 5}, []int{2, 2, 2, 2}, []int{2, 1}, 2, 6, 35, nil, false},
		{"2x2 no pad", []int{8, 9}, []int{2, 2}, nil, nil, 4, 3, 7, nil, false},
		{"1d k3", []int{40}, []int{3}, []int{1, 1}, nil, 2, 5, 32, nil, false},
	}
	rng := rand.New(rand.NewSource(31))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := convAttrs{autoPad: "NOTSET", pads: tc.pads, dilations: tc.dil, strides: tc.strides}
			g := convTestGeom(t, &a, tc.in, tc.k)
			if tc.clamp {
				g.act, g.actLo, g.actHi = true, -0.5, 6
			}
			if !convNHWCOK(g, tc.N, 1) {
				t.Fatalf("geometry %+v not accepted by convNHWCOK", g)
			}
			convCheckForward(t, rng, g, tc.N, tc.C, tc.M, convForwardNHWCF32)
		})
	}
	// A graph's weights are rearranged once and kept between runs: the
	// cached copy gives the same outputs.
	a := convAttrs{autoPad: "NOTSET", pads: []int{1, 1, 1, 1}}
	g := convTestGeom(t, &a, []int{7, 7}, []int{3, 3})
	w := toF32(randF64(rng, 40*9*9).F64)
	g.packs = &packCache{consts: map[*float32]int{&w[0]: len(w)}, packs: map[packKey]*gemmOffsA{}, prepares: map[prepKey][]float32{}}
	x := toF32(randF64(rng, 2*9*49).F64)
	y0, y1 := make([]float32, 2*40*49), make([]float32, 2*40*49)
	g2 := *g
	g2.packs = nil
	convForwardNHWCF32(&g2, 2, 9, 40, x, w, nil, y0)
	for run := 0; run < 2; run++ {
		convForwardNHWCF32(g, 2, 9, 40, x, w, nil, y1)
		for i := range y0 {
			if y1[i] != y0[i] || math.IsNaN(float64(y1[i])) {
				t.Fatalf("cached weights, run %d: y[%d] = %v, uncached %v", run, i, y1[i], y0[i])
			}
		}
	}
	if len(g.packs.prepares) != 1 {
		t.Fatalf("%d prepared weight copies cached, want 1", len(g.packs.prepares))
	}
}

// The channels-last input gradient of stride-1 convolutions agrees with
// the float64 im2col backward pass: pads on either side up to the kernel's
// reach, dilations, 14×14 with two channel blocks, ragged channel counts;
// strided convolutions are declined.
func TestConvBackDataNHWCMatchesIm2col(t *testing.T) {
	if !gemmasm.OK512 {
		t.Skip("no AVX-512 on this CPU: the channels-last path is never taken")
	}
	cases := []struct {
		name        string
		in, k, pads []int
		dil         []int
		N, C, M     int
	}{
		{"3x3 pad1 7x7", []int{7, 7}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 3, 20, 64},
		{"3x3 pad1 14x14 M300", []int{14, 14}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 1, 33, 300},
		{"3x3 asym pads", []int{9, 12}, []int{3, 3}, []int{0, 1, 2, 0}, nil, 2, 7, 5},
		{"5x5 dilated", []int{11, 10}, []int{5, 5}, []int{2, 2, 2, 2}, []int{2, 1}, 2, 6, 35},
		{"2x2 no pad", []int{8, 9}, []int{2, 2}, nil, nil, 4, 3, 7},
	}
	rng := rand.New(rand.NewSource(32))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := convAttrs{autoPad: "NOTSET", pads: tc.pads, dilations: tc.dil}
			g := convTestGeom(t, &a, tc.in, tc.k)
			cvgCheckDx(t, rng, g, tc.N, tc.C, tc.M, func(w, dy, dx []float32) {
				if !cvgConvBackDataNHWC(g, tc.N, tc.C, tc.M, w, dy, dx) {
					t.Fatal("declined")
				}
			})
		})
	}
	a := convAttrs{autoPad: "NOTSET", pads: []int{1, 1, 1, 1}, strides: []int{2, 2}}
	g := convTestGeom(t, &a, []int{14, 14}, []int{3, 3})
	if cvgConvBackDataNHWC(g, 1, 2, 2, make([]float32, 36), make([]float32, 2*49), make([]float32, 2*196)) {
		t.Fatal("stride 2 accepted")
	}
}

// The channels-last weight gradient agrees with the float64 im2col backward
// pass on the geometries the forward path takes (test cases of
// TestConvNHWCMatchesIm2col, strides included).
func TestConvBackWeightNHWCMatchesIm2col(t *testing.T) {
	if !gemmasm.OK512 {
		t.Skip("no AVX-512 on this CPU: the channels-last path is never taken")
	}
	cases := []struct {
		name        string
		in, k, pads []int
		dil         []int
		N, C, M     int
		strides     []int
	}{
		{"3x3 pad1 7x7", []int{7, 7}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 3, 20, 64, nil},
		{"3x3 pad1 N1 28x28", []int{28, 28}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 1, 16, 40, nil},
		{"3x3 s2 pad1", []int{14, 13}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 2, 9, 33, []int{2, 2}},
		{"3x3 s(1,2) asym", []int{9, 12}, []int{3, 3}, []int{0, 1, 2, 0}, nil, 2, 7, 5, []int{1, 2}},
		{"5x5 pad2 dilated", []int{11, 10}, []int{5, 5}, []int{2, 2, 2, 2}, []int{2, 1}, 2, 6, 35, nil},
		{"3x3 C300", []int{7, 7}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 2, 300, 7, nil},
	}
	rng := rand.New(rand.NewSource(33))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := convAttrs{autoPad: "NOTSET", pads: tc.pads, dilations: tc.dil, strides: tc.strides}
			g := convTestGeom(t, &a, tc.in, tc.k)
			cvgCheckDw(t, rng, g, tc.N, tc.C, tc.M, func(x, dy, dw []float32) {
				if !cvgConvBackWeightNHWC(g, tc.N, tc.C, tc.M, x, dy, dw) {
					t.Fatal("declined")
				}
			})
		})
	}
}

// BenchmarkConvNHWC times the channels-last forward path against the path
// convForward would take without it, on resnet18's layers at 7×7, 14×14
// and 28×28 (and their stride-2 entries) at batch 1, 8 and 16: the
// measurements behind convNHWCOK. The weights are rearranged on every call
// (no cache), as in training.
func BenchmarkConvNHWC(b *testing.B) {
	if !gemmasm.OK512 {
		b.Skip("no AVX-512")
	}
	for _, sh := range []struct {
		name       string
		C, M, H, k int
		s, p       int
	}{
		{"layer2", 128, 128, 28, 3, 1, 1},
		{"layer3", 256, 256, 14, 3, 1, 1},
		{"layer4", 512, 512, 7, 3, 1, 1},
		{"layer3s2", 128, 256, 28, 3, 2, 1},
		{"layer4s2", 256, 512, 14, 3, 2, 1},
		{"down4", 256, 512, 14, 1, 2, 0},
	} {
		for _, N := range []int{1, 8, 16} {
			a := convAttrs{autoPad: "NOTSET", strides: []int{sh.s, sh.s}, pads: []int{sh.p, sh.p, sh.p, sh.p}}
			g := convTestGeom(b, &a, []int{sh.H, sh.H}, []int{sh.k, sh.k})
			K := sh.C * g.kSize
			rng := rand.New(rand.NewSource(1))
			x, w := toF32(randF64(rng, N*sh.C*g.inSize).F64), toF32(randF64(rng, sh.M*K).F64)
			y := make([]float32, N*sh.M*g.outSz)
			flops := float64(2 * N * sh.M * K * g.outSz)
			for _, path := range []string{"other", "nhwc"} {
				b.Run(fmt.Sprintf("%s/b%d/%s", sh.name, N, path), func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						switch {
						case path == "nhwc":
							convForwardNHWCF32(g, N, sh.C, sh.M, x, w, nil, y)
						case !convBatchedPays(g, N) && convImplicitOK(g, 1):
							convForwardImplicitF32(g, N, sh.C, sh.M, x, w, nil, y)
						default:
							convForwardBatched(g, N, sh.C, sh.M, convBatchSize(K, g.outSz, N), x, w, nil, y)
						}
					}
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// convTransposeF32 writes every element of the transpose and nothing else,
// for row counts around its 16- and 8-row blocks and column counts around
// the 8-column vector kernels, with padded strides on both sides.
func TestConvTransposeF32(t *testing.T) {
	for _, rows := range []int{1, 7, 8, 15, 16, 17, 33} {
		for _, cols := range []int{1, 7, 8, 9, 29} {
			lds, ldd := cols+2, rows+3
			src := make([]float32, (rows-1)*lds+cols)
			for i := range src {
				src[i] = float32(i)
			}
			dst := make([]float32, (cols-1)*ldd+rows+1)
			for i := range dst {
				dst[i] = -1
			}
			convTransposeF32(dst, ldd, src, lds, rows, cols)
			for i, v := range dst {
				c, r := i/ldd, i%ldd
				want := float32(-1)
				if c < cols && r < rows {
					want = src[r*lds+c]
				}
				if v != want {
					t.Fatalf("rows=%d cols=%d: dst[%d*%d+%d] = %v, want %v", rows, cols, c, ldd, r, v, want)
				}
			}
		}
	}
}
