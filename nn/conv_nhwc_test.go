package nn

import (
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
			x := randF64(rng, tc.N*tc.C*g.inSize).F64
			w := randF64(rng, tc.M*tc.C*g.kSize).F64
			dy := randF64(rng, tc.N*tc.M*g.outSz).F64
			want := make([]float64, len(x))
			cvgConvBack(g, tc.N, tc.C, tc.M, 1, x, w, dy, want, nil)
			dx := make([]float32, len(x))
			for i := range dx {
				dx[i] = float32(math.NaN())
			}
			if !cvgConvBackDataNHWC(g, tc.N, tc.C, tc.M, toF32(w), toF32(dy), dx) {
				t.Fatal("declined")
			}
			for i, v := range want {
				if d := math.Abs(float64(dx[i]) - v); !(d <= 1e-4*(1+math.Abs(v))) {
					t.Fatalf("dx[%d] = %v, want %v", i, dx[i], v)
				}
			}
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
			x := randF64(rng, tc.N*tc.C*g.inSize).F64
			w := randF64(rng, tc.M*tc.C*g.kSize).F64
			dy := randF64(rng, tc.N*tc.M*g.outSz).F64
			want := make([]float64, len(w))
			cvgConvBack(g, tc.N, tc.C, tc.M, 1, x, w, dy, nil, want)
			dw := make([]float32, len(w))
			for i := range dw {
				dw[i] = float32(math.NaN())
			}
			if !cvgConvBackWeightNHWC(g, tc.N, tc.C, tc.M, toF32(x), toF32(dy), dw) {
				t.Fatal("declined")
			}
			scale := 0.0
			for _, v := range want {
				scale = max(scale, math.Abs(v))
			}
			for i, v := range want {
				if d := math.Abs(float64(dw[i]) - v); !(d <= 1e-5*(scale+1)) {
					t.Fatalf("dw[%d] = %v, want %v", i, dw[i], v)
				}
			}
		})
	}
}
