package nn

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/graftml/graft/nn/internal/gemmasm"
)

// The implicit-GEMM forward (float32) agrees with the float64 im2col
// forward on every geometry it accepts: strides 1 and 2, dilations, odd
// sizes, asymmetric pads, 1-D, pointwise, an RGB stem, a fused Relu, one
// sample (product split over threads) and several (one task per sample).
func TestConvImplicitMatchesIm2col(t *testing.T) {
	if !gemmKernelOK {
		t.Skip("no AVX2/FMA on this CPU: the implicit-GEMM path is never taken")
	}
	cases := []struct {
		name        string
		in, k, pads []int
		dil         []int
		N, C, M     int
		strides     []int
		relu        bool
	}{
		{"3x3 pad1", []int{20, 18}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 3, 4, 5, nil, false},
		{"3x3 pad1 N1", []int{30, 30}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 1, 17, 13, nil, true},
		{"3x3 no pad", []int{22, 21}, []int{3, 3}, nil, nil, 2, 3, 2, nil, false},
		{"5x5 pad2 asym", []int{30, 40}, []int{5, 5}, []int{2, 1, 2, 3}, nil, 2, 2, 3, nil, false},
		{"dilated", []int{25, 30}, []int{3, 3}, []int{2, 2, 2, 2}, []int{2, 2}, 2, 3, 2, nil, true},
		{"1d", []int{200}, []int{3}, []int{1, 1}, nil, 2, 3, 4, nil, false},
		{"3x3 s2 pad1", []int{40, 40}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 2, 3, 4, []int{2, 2}, false},
		{"3x3 s2 odd", []int{41, 39}, []int{3, 3}, []int{1, 0, 0, 1}, nil, 2, 2, 3, []int{2, 2}, false},
		{"stem 7x7 s2 pad3", []int{60, 60}, []int{7, 7}, []int{3, 3, 3, 3}, nil, 2, 3, 8, []int{2, 2}, true},
		{"3x3 s(1,2)", []int{30, 41}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 2, 2, 2, []int{1, 2}, false},
		{"1x1 s2", []int{28, 28}, []int{1, 1}, nil, nil, 2, 5, 7, []int{2, 2}, false},
		{"pointwise", []int{9, 11}, []int{1, 1}, nil, nil, 3, 20, 9, nil, true},
		{"pointwise N1 deep", []int{16, 16}, []int{1, 1}, nil, nil, 1, 300, 14, nil, false},
	}
	rng := rand.New(rand.NewSource(12))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := convAttrs{autoPad: "NOTSET", pads: tc.pads, dilations: tc.dil, strides: tc.strides}
			g := convTestGeom(t, &a, tc.in, tc.k)
			if tc.relu {
				g.act, g.actLo, g.actHi = true, 0, math.Inf(1)
			}
			if !convImplicitOK(g, 1) {
				t.Fatalf("geometry %+v not accepted by convImplicitOK", g)
			}
			convCheckForward(t, rng, g, tc.N, tc.C, tc.M, convForwardImplicitF32)
		})
	}
}

// convCheckForward runs a float32 forward kernel on random data (bias and
// g's fused activation included) and compares it with float64 sums over
// the im2col matrix (rel 1e-4); every output must be written.
func convCheckForward(t *testing.T, rng *rand.Rand, g *convGeom, N, C, M int, fwd func(g *convGeom, N, C, M int, x, w, b, y []float32)) {
	t.Helper()
	K := C * g.kSize
	x := randF64(rng, N*C*g.inSize).F64
	w := randF64(rng, M*K).F64
	b := randF64(rng, M).F64
	want := make([]float64, N*M*g.outSz)
	for n := 0; n < N; n++ {
		xs := x[n*C*g.inSize:][:C*g.inSize]
		ys := want[n*M*g.outSz:][:M*g.outSz]
		col := make([]float64, K*g.outSz)
		convIm2col(g, xs, col, 0, C)
		for m := 0; m < M; m++ {
			for j := 0; j < g.outSz; j++ {
				s := b[m]
				for p := 0; p < K; p++ {
					s += w[m*K+p] * col[p*g.outSz+j]
				}
				if g.act {
					s = min(max(s, g.actLo), g.actHi)
				}
				ys[m*g.outSz+j] = s
			}
		}
	}
	y := make([]float32, len(want))
	for i := range y {
		y[i] = float32(math.NaN())
	}
	fwd(g, N, C, M, toF32(x), toF32(w), toF32(b), y)
	for i, wv := range want {
		if d := math.Abs(float64(y[i]) - wv); !(d <= 1e-4*(1+math.Abs(wv))) {
			t.Fatalf("y[%d] = %v, want %v", i, y[i], wv)
		}
	}
}

// The implicit-GEMM input gradient (float32) agrees with the float64
// im2col backward on the stride-1 geometries it accepts: dilations,
// asymmetric pads and pads larger than the kernel, odd sizes and 1-D, one
// sample (product split over threads) and several.
func TestConvBackDataImplicitMatchesIm2col(t *testing.T) {
	if !gemmKernelOK {
		t.Skip("no AVX2/FMA on this CPU: the implicit-GEMM path is never taken")
	}
	cases := []struct {
		name        string
		in, k, pads []int
		dil         []int
		N, C, M     int
	}{
		{"3x3 pad1", []int{20, 18}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 3, 4, 5},
		{"3x3 pad1 N1", []int{30, 30}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 1, 17, 13},
		{"3x3 no pad", []int{22, 21}, []int{3, 3}, nil, nil, 2, 3, 2},
		{"5x5 pad2 asym", []int{30, 40}, []int{5, 5}, []int{2, 1, 2, 3}, nil, 2, 2, 3},
		{"pad beyond kernel", []int{20, 20}, []int{3, 3}, []int{1, 1, 4, 4}, nil, 2, 2, 3},
		{"dilated", []int{25, 30}, []int{3, 3}, []int{2, 2, 2, 2}, []int{2, 2}, 2, 3, 2},
		{"1d", []int{200}, []int{3}, []int{1, 1}, nil, 2, 3, 4},
	}
	rng := rand.New(rand.NewSource(13))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := convAttrs{autoPad: "NOTSET", pads: tc.pads, dilations: tc.dil}
			g := convTestGeom(t, &a, tc.in, tc.k)
			if !cvgConvBackDataImplicitOK(g, 1, 1) {
				t.Fatalf("geometry %+v not accepted by cvgConvBackDataImplicitOK", g)
			}
			cvgCheckDx(t, rng, g, tc.N, tc.C, tc.M, func(w, dy, dx []float32) {
				cvgConvBackDataImplicitF32(g, tc.N, tc.C, tc.M, w, dy, dx)
			})
		})
	}
}

// The phase-by-phase input gradient of strided convolutions agrees with
// the float64 im2col reference: resnet18's strided 3×3 and 1×1 layers,
// strides 2 and 3, kernels smaller than the stride (positions no tap
// reaches), asymmetric and large pads, odd sizes, anisotropic strides and
// 1-D.
func TestConvBackDataStridedMatchesIm2col(t *testing.T) {
	if !gemmKernelOK {
		t.Skip("no AVX2/FMA on this CPU: the implicit-GEMM path is never taken")
	}
	cases := []struct {
		name                 string
		in, k, pads, strides []int
		N, C, M              int
	}{
		{"3x3 s2 pad1", []int{28, 28}, []int{3, 3}, []int{1, 1, 1, 1}, []int{2, 2}, 2, 8, 16},
		{"1x1 s2", []int{28, 28}, []int{1, 1}, nil, []int{2, 2}, 2, 8, 16},
		{"3x3 s2 odd", []int{27, 23}, []int{3, 3}, []int{1, 1, 1, 1}, []int{2, 2}, 3, 5, 7},
		{"7x7 s2 pad3", []int{40, 38}, []int{7, 7}, []int{3, 3, 3, 3}, []int{2, 2}, 2, 3, 6},
		{"3x3 s3", []int{25, 25}, []int{3, 3}, []int{1, 1, 1, 1}, []int{3, 3}, 1, 4, 5},
		{"2x2 s3 unreached", []int{20, 19}, []int{2, 2}, []int{0, 1, 2, 0}, []int{3, 3}, 2, 3, 4},
		{"3x3 s2x1 asym", []int{21, 17}, []int{3, 3}, []int{2, 0, 1, 2}, []int{2, 1}, 2, 4, 3},
		{"pad beyond kernel", []int{16, 16}, []int{3, 3}, []int{1, 1, 4, 4}, []int{2, 2}, 2, 2, 3},
		{"1d s2", []int{101}, []int{3}, []int{1, 1}, []int{2}, 2, 3, 4},
	}
	rng := rand.New(rand.NewSource(17))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := convAttrs{autoPad: "NOTSET", pads: tc.pads, strides: tc.strides}
			g := convTestGeom(t, &a, tc.in, tc.k)
			// Kernels smaller than the stride are not dispatched here but
			// must still be computed right.
			if small := tc.k[0] < tc.strides[0] || tc.k[len(tc.k)-1] < tc.strides[len(tc.strides)-1]; cvgConvBackDataStridedOK(g, 1, 1) == small {
				t.Fatalf("geometry %+v: cvgConvBackDataStridedOK = %v", g, !small)
			}
			cvgCheckDx(t, rng, g, tc.N, tc.C, tc.M, func(w, dy, dx []float32) {
				cvgConvBackDataStridedF32(g, tc.N, tc.C, tc.M, w, dy, dx)
			})
		})
	}
}

// The float32 depthwise kernels (whole-plane: on AVX-512 CPUs the flat
// kernel for rows narrower than 64 and the row kernel for wider ones; and
// row-by-row) agree with the generic depthwise kernel run in float64,
// with and without a fused clamp, on strides 1 and 2, odd and tiny sizes,
// asymmetric pads, dilation, a channel multiplier and outputs narrower
// than one vector; a NaN input stays NaN through the fused clamp.
func TestConvDepthwiseF32MatchesGeneric(t *testing.T) {
	if !gemmKernelOK {
		t.Skip("no AVX2/FMA on this CPU: the float32 depthwise kernels are never taken")
	}
	cases := []struct {
		name        string
		in, k, pads []int
		dil, str    []int
		N, C, mult  int
	}{
		{"3x3 s1", []int{20, 18}, []int{3, 3}, []int{1, 1, 1, 1}, nil, nil, 2, 5, 1},
		{"3x3 s1 7x7", []int{7, 7}, []int{3, 3}, []int{1, 1, 1, 1}, nil, nil, 2, 3, 1},
		{"3x3 s1 3x3", []int{3, 3}, []int{3, 3}, []int{1, 1, 1, 1}, nil, nil, 2, 3, 1},
		{"3x3 s1 4x9", []int{4, 9}, []int{3, 3}, []int{1, 1, 1, 1}, nil, nil, 1, 4, 1},
		{"3x3 s1 56", []int{56, 56}, []int{3, 3}, []int{1, 1, 1, 1}, nil, nil, 1, 3, 1},
		{"3x3 s2", []int{41, 40}, []int{3, 3}, []int{1, 1, 1, 1}, nil, []int{2, 2}, 2, 3, 1},
		{"3x3 s2 wide", []int{30, 112}, []int{3, 3}, []int{0, 1, 1, 0}, nil, []int{2, 2}, 1, 2, 1},
		{"5x5 asym", []int{17, 23}, []int{5, 5}, []int{2, 1, 2, 3}, nil, nil, 1, 4, 1},
		{"dilated", []int{25, 30}, []int{3, 3}, []int{2, 2, 2, 2}, []int{2, 2}, nil, 1, 2, 1},
		{"multiplier", []int{12, 13}, []int{3, 3}, []int{1, 1, 1, 1}, nil, nil, 2, 3, 2},
	}
	rng := rand.New(rand.NewSource(21))
	for _, tc := range cases {
		for _, act := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/act%v", tc.name, act), func(t *testing.T) {
				a := convAttrs{autoPad: "NOTSET", pads: tc.pads, dilations: tc.dil, strides: tc.str}
				g := convTestGeom(t, &a, tc.in, tc.k)
				if act {
					g.act, g.actLo, g.actHi = true, 0, 6
				}
				C, M := tc.C, tc.C*tc.mult
				x := randF64(rng, tc.N*C*g.inSize).F64
				w := randF64(rng, M*g.kSize).F64
				b := randF64(rng, M).F64
				x[len(x)/2] = math.NaN()
				want := make([]float64, tc.N*M*g.outSz)
				convDepthwise(g, tc.N, C, M, C, x, w, b, want)
				for _, k := range []struct {
					name string
					fn   func(g *convGeom, N, C, M, G int, x, w, b, y []float32)
				}{{"flat", convDepthwiseFlatF32}, {"rows", convDepthwiseF32}} {
					y := make([]float32, len(want))
					for i := range y {
						y[i] = 12345
					}
					k.fn(g, tc.N, C, M, C, toF32(x), toF32(w), toF32(b), y)
					for i, wv := range want {
						got := float64(y[i])
						if math.IsNaN(wv) {
							if !math.IsNaN(got) {
								t.Fatalf("%s: y[%d] = %v, want NaN", k.name, i, got)
							}
							continue
						}
						if d := math.Abs(got - wv); !(d <= 1e-5*(1+math.Abs(wv))) {
							t.Fatalf("%s: y[%d] = %v, want %v", k.name, i, got, wv)
						}
					}
				}
			})
		}
	}
}

// The implicit-GEMM weight gradient (float32, AVX-512) agrees with the
// float64 im2col backward: strides 1 and 2, dilations, asymmetric pads, an
// RGB stem (a ragged last row panel), pointwise, 1-D, and output channel
// counts below, at and above one 32-wide panel.
func TestConvBackWeightImplicitMatchesIm2col(t *testing.T) {
	if !gemmasm.OK512 {
		t.Skip("no AVX-512 on this CPU: the implicit weight gradient is never taken")
	}
	cases := []struct {
		name        string
		in, k, pads []int
		dil, str    []int
		N, C, M     int
	}{
		{"3x3 pad1", []int{20, 18}, []int{3, 3}, []int{1, 1, 1, 1}, nil, nil, 3, 4, 5},
		{"3x3 pad1 M40", []int{16, 16}, []int{3, 3}, []int{1, 1, 1, 1}, nil, nil, 2, 6, 40},
		{"3x3 M64", []int{14, 14}, []int{3, 3}, []int{1, 1, 1, 1}, nil, nil, 2, 8, 64},
		{"5x5 pad2 asym", []int{30, 40}, []int{5, 5}, []int{2, 1, 2, 3}, nil, nil, 2, 2, 3},
		{"dilated", []int{25, 30}, []int{3, 3}, []int{2, 2, 2, 2}, []int{2, 2}, nil, 2, 3, 2},
		{"1d", []int{200}, []int{3}, []int{1, 1}, nil, nil, 2, 3, 4},
		{"3x3 s2 pad1", []int{40, 40}, []int{3, 3}, []int{1, 1, 1, 1}, nil, []int{2, 2}, 2, 3, 33},
		{"stem 7x7 s2 pad3", []int{60, 60}, []int{7, 7}, []int{3, 3, 3, 3}, nil, []int{2, 2}, 2, 3, 8},
		{"pointwise", []int{9, 11}, []int{1, 1}, nil, nil, nil, 3, 20, 9},
		{"pointwise K6", []int{9, 11}, []int{1, 1}, nil, nil, nil, 2, 12, 32},
	}
	rng := rand.New(rand.NewSource(17))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := convAttrs{autoPad: "NOTSET", pads: tc.pads, dilations: tc.dil, strides: tc.str}
			g := convTestGeom(t, &a, tc.in, tc.k)
			if !cvgConvBackWeightImplicitOK(g, 1, 1) {
				t.Fatalf("geometry %+v not accepted by cvgConvBackWeightImplicitOK", g)
			}
			// Chunks: automatic (all samples here), one sample, two.
			for _, nb := range []int{0, 1, 2} {
				t.Run(fmt.Sprintf("nb=%d", nb), func(t *testing.T) {
					cvgCheckDw(t, rng, g, tc.N, tc.C, tc.M, func(x, dy, dw []float32) {
						cvgConvBackWeightImplicitChunks(g, tc.N, tc.C, tc.M, x, dy, dw, nb)
					})
				})
			}
		})
	}
}

// toF32 rounds float64 test data to float32.
func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, e := range v {
		out[i] = float32(e)
	}
	return out
}

// cvgCheckDx runs the float32 input gradient fn(w, dy, dx) of geometry g on
// random operands, dx poisoned with NaN, and compares it with the float64
// im2col backward pass (to 1e-5 of the largest value).
func cvgCheckDx(t *testing.T, rng *rand.Rand, g *convGeom, N, C, M int, fn func(w, dy, dx []float32)) {
	t.Helper()
	cvgCheckGrad(t, rng, g, N, C, M, "dx", func(x, w, dy, dx, _ []float32) { fn(w, dy, dx) })
}

// cvgCheckDw is cvgCheckDx for the weight gradient fn(x, dy, dw).
func cvgCheckDw(t *testing.T, rng *rand.Rand, g *convGeom, N, C, M int, fn func(x, dy, dw []float32)) {
	t.Helper()
	cvgCheckGrad(t, rng, g, N, C, M, "dw", func(x, w, dy, _, dw []float32) { fn(x, dy, dw) })
}

// cvgCheckGrad runs fn(x, w, dy, dx, dw) on random float32 operands, with
// the gradient named what ("dx" or "dw") poisoned with NaN, and compares
// that gradient with the float64 im2col backward pass (to 1e-5 of its
// largest value).
func cvgCheckGrad(t *testing.T, rng *rand.Rand, g *convGeom, N, C, M int, what string, fn func(x, w, dy, dx, dw []float32)) {
	t.Helper()
	x := randF64(rng, N*C*g.inSize).F64
	w := randF64(rng, M*C*g.kSize).F64
	dy := randF64(rng, N*M*g.outSz).F64
	wantDx, wantDw := make([]float64, len(x)), make([]float64, len(w))
	cvgConvBack(g, N, C, M, 1, x, w, dy, wantDx, wantDw)
	want := wantDx
	if what == "dw" {
		want = wantDw
	}
	got := make([]float32, len(want))
	for i := range got {
		got[i] = float32(math.NaN())
	}
	dx, dw := got, []float32(nil)
	if what == "dw" {
		dx, dw = nil, got
	}
	fn(toF32(x), toF32(w), toF32(dy), dx, dw)
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	for i, wv := range want {
		if d := math.Abs(float64(got[i]) - wv); !(d <= 1e-5*(scale+1)) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], wv)
		}
	}
}
