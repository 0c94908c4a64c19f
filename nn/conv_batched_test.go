package nn

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// The sample-batched convolution must compute exactly what the per-sample
// formulation computes (which the node suite and the finite-difference
// gradient checks verify against references), for every geometry and
// chunk size, including chunks that do not divide the batch.
func TestConvBatchedMatchesPerSample(t *testing.T) {
	cases := []struct {
		name          string
		in, k         []int
		strides, pads []int
		dilations     []int
		N, C, M       int
	}{
		{"3x3 pad1", []int{7, 6}, []int{3, 3}, nil, []int{1, 1, 1, 1}, nil, 5, 3, 4},
		{"3x3 s2 pad1", []int{9, 8}, []int{3, 3}, []int{2, 2}, []int{1, 1, 1, 1}, nil, 4, 2, 3},
		{"1x1 pointwise", []int{5, 5}, []int{1, 1}, nil, nil, nil, 3, 6, 2},
		{"1x1 s2", []int{6, 6}, []int{1, 1}, []int{2, 2}, nil, nil, 3, 4, 5},
		{"7x7 s2 pad3", []int{11, 10}, []int{7, 7}, []int{2, 2}, []int{3, 3, 3, 3}, nil, 2, 3, 2},
		{"dilated asym pad", []int{8, 9}, []int{3, 2}, []int{1, 2}, []int{2, 0, 1, 1}, []int{2, 1}, 3, 2, 3},
		{"1d", []int{12}, []int{3}, nil, []int{1, 2}, nil, 4, 2, 3},
		{"3d", []int{4, 5, 4}, []int{2, 3, 2}, []int{1, 1, 2}, []int{0, 1, 1, 1, 0, 0}, nil, 3, 2, 2},
	}
	rng := rand.New(rand.NewSource(7))
	for _, tc := range cases {
		a := convAttrs{autoPad: "NOTSET", strides: tc.strides, pads: tc.pads, dilations: tc.dilations}
		g, err := convMakeGeom(&a, tc.in, tc.k)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		K := tc.C * g.kSize
		x := randF64(rng, tc.N*tc.C*g.inSize).F64
		w := randF64(rng, tc.M*K).F64
		b := randF64(rng, tc.M).F64
		dy := randF64(rng, tc.N*tc.M*g.outSz).F64
		wantY := make([]float64, tc.N*tc.M*g.outSz)
		// Reference: the per-sample kernel, one sample at a time.
		for n := 0; n < tc.N; n++ {
			convForward(g, 1, tc.C, tc.M, 1, x[n*tc.C*g.inSize:][:tc.C*g.inSize], w, b, wantY[n*tc.M*g.outSz:][:tc.M*g.outSz])
		}
		wantDX := make([]float64, len(x))
		wantDW := make([]float64, len(w))
		cvgConvBack(g, tc.N, tc.C, tc.M, 1, x, w, dy, wantDX, wantDW)
		for _, nb := range []int{1, 2, tc.N} {
			t.Run(fmt.Sprintf("%s/nb=%d", tc.name, nb), func(t *testing.T) {
				y := make([]float64, len(wantY))
				convForwardBatched(g, tc.N, tc.C, tc.M, nb, x, w, b, y)
				convBatchedClose(t, "y", y, wantY)
				dx := make([]float64, len(x))
				dw := make([]float64, len(w))
				for i := range dx {
					dx[i] = math.NaN() // must be overwritten
				}
				cvgConvBackBatched(g, tc.N, tc.C, tc.M, nb, x, w, dy, dx, dw)
				convBatchedClose(t, "dx", dx, wantDX)
				convBatchedClose(t, "dw", dw, wantDW)
				// dw alone and dx alone.
				dw2 := make([]float64, len(w))
				cvgConvBackBatched(g, tc.N, tc.C, tc.M, nb, x, w, dy, nil, dw2)
				convBatchedClose(t, "dw only", dw2, wantDW)
				dx2 := make([]float64, len(x))
				cvgConvBackBatched(g, tc.N, tc.C, tc.M, nb, x, w, dy, dx2, nil)
				convBatchedClose(t, "dx only", dx2, wantDX)
			})
		}
	}
}

// The float32 batched backward pass (whose weight gradient runs on
// KernelR6x32 on AVX-512 CPUs) agrees with the float64 per-sample kernel
// to float32 rounding, in one chunk and in several, with output channels
// that fill no, one and several 32-wide panels and row counts that leave a
// ragged last panel.
func TestConvBackBatchedF32(t *testing.T) {
	cases := []struct {
		name          string
		in, k         []int
		strides, pads []int
		N, C, M       int
	}{
		{"3x3 pad1 M5", []int{7, 6}, []int{3, 3}, nil, []int{1, 1, 1, 1}, 5, 3, 5},
		{"3x3 pad1 M40", []int{7, 7}, []int{3, 3}, nil, []int{1, 1, 1, 1}, 4, 5, 40},
		{"3x3 s2 M64", []int{9, 8}, []int{3, 3}, []int{2, 2}, []int{1, 1, 1, 1}, 3, 4, 64},
		{"1x1 s2 M33", []int{6, 6}, []int{1, 1}, []int{2, 2}, nil, 3, 12, 33},
	}
	rng := rand.New(rand.NewSource(8))
	for _, tc := range cases {
		a := convAttrs{autoPad: "NOTSET", strides: tc.strides, pads: tc.pads}
		g := convTestGeom(t, &a, tc.in, tc.k)
		K := tc.C * g.kSize
		x := randF64(rng, tc.N*tc.C*g.inSize).F64
		w := randF64(rng, tc.M*K).F64
		dy := randF64(rng, tc.N*tc.M*g.outSz).F64
		wantDX := make([]float64, len(x))
		wantDW := make([]float64, len(w))
		cvgConvBack(g, tc.N, tc.C, tc.M, 1, x, w, dy, wantDX, wantDW)
		for _, nb := range []int{1, 2, tc.N} {
			dx := make([]float32, len(x))
			dw := make([]float32, len(w))
			for i := range dw {
				dw[i] = float32(math.NaN()) // must be overwritten
			}
			cvgConvBackBatched(g, tc.N, tc.C, tc.M, nb, toF32(x), toF32(w), toF32(dy), dx, dw)
			for _, c := range []struct {
				what string
				got  []float32
				want []float64
			}{{"dx", dx, wantDX}, {"dw", dw, wantDW}} {
				scale := 0.0
				for _, v := range c.want {
					scale = max(scale, math.Abs(v))
				}
				for i, v := range c.want {
					if d := math.Abs(float64(c.got[i]) - v); !(d <= 1e-5*(scale+1)) {
						t.Fatalf("%s nb=%d: %s[%d] = %v, want %v", tc.name, nb, c.what, i, c.got[i], v)
					}
				}
			}
		}
	}
}

func convBatchedClose(t *testing.T, what string, got, want []float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(got[i] - want[i]); !(d <= 1e-12*(1+math.Abs(want[i]))) {
			t.Fatalf("%s[%d] = %v, per-sample kernel gives %v", what, i, got[i], want[i])
		}
	}
}

// The per-tap formulation must agree with the im2col one for every
// geometry it accepts (strides 1 and 2, dilations, odd sizes, 1-D).
func TestConvTapsMatchesIm2col(t *testing.T) {
	cases := []struct {
		name        string
		in, k, pads []int
		dil         []int
		N, C, M     int
		strides     []int
	}{
		{"3x3 pad1", []int{20, 18}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 3, 4, 5, nil},
		{"3x3 no pad", []int{22, 21}, []int{3, 3}, nil, nil, 2, 3, 2, nil},
		{"5x5 pad2 asym", []int{30, 40}, []int{5, 5}, []int{2, 1, 2, 3}, nil, 2, 2, 3, nil},
		{"dilated", []int{25, 30}, []int{3, 3}, []int{2, 2, 2, 2}, []int{2, 2}, 2, 3, 2, nil},
		{"1d", []int{200}, []int{3}, []int{1, 1}, nil, 2, 3, 4, nil},
		{"1x3", []int{9, 30}, []int{1, 3}, []int{0, 1, 0, 1}, nil, 2, 2, 2, nil},
		{"3x3 s2 pad1", []int{40, 40}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 2, 3, 4, []int{2, 2}},
		{"3x3 s2 odd", []int{41, 39}, []int{3, 3}, []int{1, 0, 0, 1}, nil, 2, 2, 3, []int{2, 2}},
		{"7x7 s2 pad3", []int{60, 60}, []int{7, 7}, []int{3, 3, 3, 3}, nil, 2, 16, 2, []int{2, 2}},
		{"3x3 s(1,2)", []int{30, 41}, []int{3, 3}, []int{1, 1, 1, 1}, nil, 2, 2, 2, []int{1, 2}},
		{"3x3 s2 dilated", []int{50, 50}, []int{3, 3}, []int{2, 2, 2, 2}, []int{2, 2}, 2, 2, 2, []int{2, 2}},
	}
	rng := rand.New(rand.NewSource(11))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := convAttrs{autoPad: "NOTSET", pads: tc.pads, dilations: tc.dil, strides: tc.strides}
			g := convTestGeom(t, &a, tc.in, tc.k)
			if !convTapsOK(g, tc.N, convTapsMinC, 1) {
				t.Fatalf("geometry %+v not accepted by convTapsOK", g)
			}
			K := tc.C * g.kSize
			x := randF64(rng, tc.N*tc.C*g.inSize).F64
			w := randF64(rng, tc.M*K).F64
			b := randF64(rng, tc.M).F64
			dy := randF64(rng, tc.N*tc.M*g.outSz).F64
			wantY := make([]float64, tc.N*tc.M*g.outSz)
			for n := 0; n < tc.N; n++ {
				convForward(g, 1, tc.C, tc.M, 1, x[n*tc.C*g.inSize:][:tc.C*g.inSize], w, b, wantY[n*tc.M*g.outSz:][:tc.M*g.outSz])
			}
			wantDX, wantDW := make([]float64, len(x)), make([]float64, len(w))
			cvgConvBack(g, tc.N, tc.C, tc.M, 1, x, w, dy, wantDX, wantDW)
			y := make([]float64, len(wantY))
			for i := range y {
				y[i] = math.NaN()
			}
			convForwardTaps(g, tc.N, tc.C, tc.M, x, w, b, y)
			convBatchedClose(t, "y", y, wantY)
			dx, dw := make([]float64, len(x)), make([]float64, len(w))
			for i := range dx {
				dx[i] = math.NaN()
			}
			cvgConvBackTaps(g, tc.N, tc.C, tc.M, x, w, dy, dx, dw)
			convBatchedClose(t, "dx", dx, wantDX)
			convBatchedClose(t, "dw", dw, wantDW)
			dw2 := make([]float64, len(w))
			cvgConvBackTaps(g, tc.N, tc.C, tc.M, x, w, dy, nil, dw2)
			convBatchedClose(t, "dw only", dw2, wantDW)
		})
	}
}

// The 3×3 stride-2 max-pooling fast path agrees with the general kernel
// (which the node suite checks against ONNX's references) on every
// padding and odd/even size, including a NaN input.
func TestPoolMax3x3s2MatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	poolS2Geoms([][2]int{{9, 9}, {8, 11}, {3, 3}, {4, 5}, {2, 2}, {1, 2}, {112, 112}}, func(in [2]int, pads []int, g *convGeom) {
		planes := 3
		x := make([]float32, planes*g.inSize)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		x[len(x)/2] = float32(math.NaN())
		want := make([]float32, planes*g.outSz)
		poolMaxRows(g, planes, x, want)
		got := make([]float32, len(want))
		if !poolMax3x3s2F32(g, planes, x, got, nil) {
			t.Fatalf("%v pads %v: fast path not taken", in, pads)
		}
		for i := range want {
			if got[i] != want[i] && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
				t.Fatalf("%v pads %v: y[%d] = %v, general kernel %v", in, pads, i, got[i], want[i])
			}
		}
	})
}

// The 3×3 stride-2 fast path's recorded window positions route the
// gradient exactly where the comparison scan of the backward pass does (the
// first maximum in forward order), on every padding and odd/even size,
// with ties (values on a coarse grid) and NaN windows (which record
// poolArgNone and fall back to the scan).
func TestPoolMaxArgBackMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	poolS2Geoms([][2]int{{9, 9}, {8, 11}, {3, 3}, {4, 5}, {2, 2}, {1, 2}, {30, 31}, {37, 112}, {36, 75}}, func(in [2]int, pads []int, g *convGeom) {
		planes := 3
		x := make([]float32, planes*g.inSize)
		for i := range x {
			x[i] = float32(rng.Intn(4)) // many ties
		}
		x[len(x)/2] = float32(math.NaN())
		y := make([]float32, planes*g.outSz)
		arg := make([]uint8, len(y))
		if !poolMax3x3s2F32(g, planes, x, y, arg) {
			t.Fatalf("%v pads %v: fast path not taken", in, pads)
		}
		dy := make([]float32, len(y))
		for i := range dy {
			dy[i] = float32(rng.NormFloat64())
		}
		want := make([]float32, len(x))
		cvgMaxPoolBack(g, planes, x, y, dy, want)
		got := make([]float32, len(x))
		cvgMaxPoolBackArg(g, planes, arg, x, dy, got)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%v pads %v: dx[%d] = %v, scan gives %v", in, pads, i, got[i], want[i])
			}
		}
	})
}

// poolS2Geoms calls fn with the geometry of 3×3 stride-2 pooling over each
// input size under every padding of at most one on each side (skipping the
// combinations that give no output).
func poolS2Geoms(sizes [][2]int, fn func(in [2]int, pads []int, g *convGeom)) {
	for _, in := range sizes {
		for _, pads := range [][]int{nil, {1, 1, 1, 1}, {0, 1, 1, 0}, {1, 0, 0, 1}, {0, 0, 1, 1}, {1, 1, 0, 0}} {
			a := convAttrs{autoPad: "NOTSET", strides: []int{2, 2}, pads: pads}
			g, err := convMakeGeom(&a, in[:], []int{3, 3})
			if err != nil {
				continue
			}
			fn(in, pads, g)
		}
	}
}

// The small-plane im2col gives exactly the general one's column matrix.
func TestConvIm2colSmallMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for _, tc := range []struct {
		in, k, pads []int
	}{
		{[]int{7, 7}, []int{3, 3}, []int{1, 1, 1, 1}},
		{[]int{5, 9}, []int{3, 2}, []int{2, 0, 1, 1}},
		{[]int{14, 14}, []int{3, 3}, nil},
		{[]int{16}, []int{5}, []int{2, 2}},
		{[]int{4, 4}, []int{1, 1}, nil},
	} {
		a := convAttrs{autoPad: "NOTSET", pads: tc.pads}
		g := convTestGeom(t, &a, tc.in, tc.k)
		if !convIm2colSmallOK(g) {
			t.Fatalf("%v: small path not taken", tc)
		}
		const C, ld0 = 3, 5
		x := randF64(rng, C*g.inSize).F64
		ld := g.outSz + ld0 // a wider row stride, as in the batched layout
		want := make([]float64, C*g.kSize*ld)
		got := make([]float64, len(want))
		convIm2colGeneral(g, x, want, ld, 0, C)
		convIm2colSmall(g, x, got, ld, 0, C)
		convBatchedClose(t, "col", got, want)
	}
}
