package nn

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"syscall"
	"testing"
	"time"
)

// cvgCPUTime returns the process's user+system CPU time.
func cvgCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type cvgCase struct {
	name  string
	x, w  []int
	attrs map[string]any
	bias  bool
}

func TestConvGrad(t *testing.T) {
	pads := func(p ...int) []int { return p }
	cases := []cvgCase{
		{"2d_plain", []int{2, 3, 6, 5}, []int{4, 3, 3, 3}, nil, true},
		{"2d_pads_asym", []int{2, 3, 6, 7}, []int{4, 3, 3, 2}, map[string]any{"pads": pads(1, 0, 2, 1)}, true},
		{"2d_strides", []int{2, 2, 7, 8}, []int{3, 2, 3, 3}, map[string]any{"strides": []int{2, 3}, "pads": pads(1, 1, 1, 1)}, true},
		{"2d_dilations", []int{1, 2, 8, 7}, []int{3, 2, 3, 2}, map[string]any{"dilations": []int{2, 3}, "pads": pads(2, 1, 0, 2)}, true},
		{"2d_groups", []int{2, 4, 5, 6}, []int{6, 2, 3, 3}, map[string]any{"group": 2, "pads": pads(1, 1, 1, 1)}, true},
		{"2d_depthwise", []int{2, 4, 6, 7}, []int{4, 1, 3, 3}, map[string]any{"group": 4, "pads": pads(1, 1, 1, 1)}, true},
		{"2d_depthwise_s2", []int{2, 3, 7, 8}, []int{3, 1, 3, 3}, map[string]any{"group": 3, "strides": []int{2, 2}, "pads": pads(1, 0, 1, 2)}, true},
		{"2d_depthwise_mult", []int{2, 3, 6, 6}, []int{6, 1, 3, 3}, map[string]any{"group": 3, "pads": pads(1, 1, 1, 1)}, true},
		{"2d_depthwise_dil", []int{1, 3, 8, 8}, []int{3, 1, 3, 3}, map[string]any{"group": 3, "dilations": []int{2, 2}, "pads": pads(2, 1, 2, 3)}, false},
		{"2d_depthwise_bigpad", []int{1, 2, 5, 5}, []int{2, 1, 2, 2}, map[string]any{"group": 2, "pads": pads(2, 0, 3, 1)}, false},
		{"2d_same_upper", []int{2, 2, 7, 6}, []int{3, 2, 4, 3}, map[string]any{"auto_pad": "SAME_UPPER", "strides": []int{2, 2}}, true},
		{"2d_same_lower", []int{2, 2, 7, 6}, []int{3, 2, 4, 3}, map[string]any{"auto_pad": "SAME_LOWER", "strides": []int{2, 1}}, true},
		{"2d_valid", []int{1, 2, 6, 6}, []int{2, 2, 3, 3}, map[string]any{"auto_pad": "VALID"}, true},
		{"2d_pointwise", []int{2, 5, 4, 4}, []int{3, 5, 1, 1}, nil, true},
		{"2d_pointwise_s2", []int{2, 5, 5, 4}, []int{3, 5, 1, 1}, map[string]any{"strides": []int{2, 2}}, true},
		{"2d_batch1", []int{1, 3, 5, 5}, []int{2, 3, 3, 3}, map[string]any{"pads": pads(1, 1, 1, 1)}, true},
		{"1d", []int{2, 3, 9}, []int{4, 3, 3}, map[string]any{"strides": []int{2}, "pads": pads(1, 2), "dilations": []int{2}}, true},
		{"1d_depthwise", []int{2, 3, 9}, []int{3, 1, 3}, map[string]any{"group": 3, "pads": pads(1, 1)}, true},
		{"3d", []int{1, 2, 4, 5, 4}, []int{3, 2, 2, 3, 2}, map[string]any{"strides": []int{1, 2, 1}, "pads": pads(1, 0, 1, 0, 1, 0)}, true},
		{"3d_depthwise", []int{1, 2, 4, 5, 4}, []int{2, 1, 2, 3, 3}, map[string]any{"group": 2, "pads": pads(1, 1, 1, 0, 1, 1)}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(7))
			nIn := 2
			if c.bias {
				nIn = 3
			}
			n := gradTestNode(t, "Conv", 11, c.attrs, nIn, 1)
			in := []*Tensor{randF64(rng, c.x...), randF64(rng, c.w...)}
			wrt := []int{0, 1}
			if c.bias {
				in = append(in, randF64(rng, c.w[0]))
				wrt = append(wrt, 2)
			}
			gradCheck(t, n, in, wrt, 1e-5)
		})
	}
}

// TestConvGradF32 compares the float32 backward pass (fast kernels) with
// the float64 one.
func TestConvGradF32(t *testing.T) {
	cases := []cvgCase{
		{"3x3", []int{3, 8, 12, 11}, []int{16, 8, 3, 3}, map[string]any{"pads": []int{1, 1, 1, 1}}, true},
		{"3x3_s2", []int{2, 8, 12, 11}, []int{16, 8, 3, 3}, map[string]any{"strides": []int{2, 2}, "pads": []int{1, 0, 1, 1}}, true},
		{"pointwise", []int{3, 16, 9, 9}, []int{8, 16, 1, 1}, nil, true},
		{"groups", []int{2, 8, 9, 9}, []int{8, 2, 3, 3}, map[string]any{"group": 4, "pads": []int{1, 1, 1, 1}}, true},
		{"depthwise", []int{3, 8, 13, 17}, []int{8, 1, 3, 3}, map[string]any{"group": 8, "pads": []int{1, 1, 1, 1}}, true},
		{"depthwise_5x5_asym", []int{2, 4, 13, 17}, []int{4, 1, 5, 5}, map[string]any{"group": 4, "pads": []int{2, 1, 3, 2}}, true},
		{"depthwise_s2", []int{3, 8, 13, 17}, []int{8, 1, 3, 3}, map[string]any{"group": 8, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}, true},
		{"depthwise_mult_dil", []int{2, 3, 11, 10}, []int{6, 1, 3, 2}, map[string]any{"group": 3, "dilations": []int{2, 3}, "pads": []int{2, 0, 1, 3}}, true},
		{"depthwise_s21_bigpad", []int{2, 3, 9, 10}, []int{3, 1, 2, 3}, map[string]any{"group": 3, "strides": []int{2, 1}, "pads": []int{3, 4, 2, 1}}, true},
		{"depthwise_s3_1d", []int{2, 5, 40}, []int{5, 1, 4}, map[string]any{"group": 5, "strides": []int{3}, "pads": []int{1, 2}}, true},
		{"depthwise_same_lower_s2", []int{2, 4, 14, 15}, []int{4, 1, 3, 3}, map[string]any{"group": 4, "strides": []int{2, 2}, "auto_pad": "SAME_LOWER"}, false},
		{"conv_dil_s2", []int{2, 6, 13, 11}, []int{6, 3, 3, 2}, map[string]any{"group": 2, "strides": []int{2, 1}, "dilations": []int{1, 2}, "pads": []int{0, 1, 2, 1}}, true},
		{"depthwise_3d", []int{1, 4, 5, 6, 7}, []int{4, 1, 3, 3, 3}, map[string]any{"group": 4, "pads": []int{1, 1, 1, 1, 1, 1}}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cvgCompareF32(t, "Conv", c)
		})
	}
}

// cvgCompareF32 runs forward and backward in float32 and float64 on the
// same data and compares the input gradients.
func cvgCompareF32(t *testing.T, op string, c cvgCase) {
	t.Helper()
	rng := rand.New(rand.NewSource(3))
	nIn := 2
	if c.bias {
		nIn = 3
	}
	n := gradTestNode(t, op, 11, c.attrs, nIn, 1)
	in64 := []*Tensor{randF64(rng, c.x...), randF64(rng, c.w...)}
	if c.bias {
		in64 = append(in64, randF64(rng, c.w[0]))
	}
	in32 := make([]*Tensor, len(in64))
	for i, v := range in64 {
		in32[i] = cvgTo32(v)
	}
	ctx := NewContext(nil)
	out64, err := n.Op.Run(ctx, in64)
	if err != nil {
		t.Fatal(err)
	}
	out32, err := n.Op.Run(ctx, in32)
	if err != nil {
		t.Fatal(err)
	}
	dy64 := randF64(rng, out64[0].Shape...)
	need := make([]bool, len(in64))
	for i := range need {
		need[i] = true
	}
	g64, err := Backward(ctx, n, in64, out64, []*Tensor{dy64}, need)
	if err != nil {
		t.Fatal(err)
	}
	g32, err := Backward(ctx, n, in32, out32, []*Tensor{cvgTo32(dy64)}, need)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in64 {
		cvgClose(t, fmt.Sprintf("%s input %d", op, i), g32[i], g64[i], 1e-4)
	}
	// Each gradient alone matches the full pass.
	for i := range in64 {
		only := make([]bool, len(in64))
		only[i] = true
		g, err := Backward(ctx, n, in32, out32, []*Tensor{cvgTo32(dy64)}, only)
		if err != nil {
			t.Fatal(err)
		}
		for j := range g {
			if j != i && g[j] != nil {
				t.Errorf("input %d: gradient computed though not needed", j)
			}
		}
		cvgClose(t, fmt.Sprintf("%s input %d alone", op, i), g[i], g64[i], 1e-4)
	}
}

func cvgTo32(x *Tensor) *Tensor {
	y := New(Float32, x.Shape...)
	for i, v := range x.F64 {
		y.F32[i] = float32(v)
	}
	return y
}

func cvgClose(t *testing.T, what string, got32, want64 *Tensor, tol float64) {
	t.Helper()
	if got32 == nil || want64 == nil || !SameShape(got32.Shape, want64.Shape) {
		t.Fatalf("%s: gradients %v and %v", what, got32, want64)
	}
	scale := 0.0
	for _, v := range want64.F64 {
		scale = math.Max(scale, math.Abs(v))
	}
	bad := 0
	for i, w := range want64.F64 {
		g := float64(got32.F32[i])
		if math.Abs(g-w) > tol*(1+scale) {
			if bad < 5 {
				t.Errorf("%s [%d]: float32 %.7g, float64 %.7g", what, i, g, w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements differ", what, bad, len(want64.F64))
	}
}

func TestConvTransposeGrad(t *testing.T) {
	cases := []cvgCase{
		{"2d_plain", []int{2, 3, 4, 5}, []int{3, 2, 3, 3}, nil, true},
		{"2d_strides_pads", []int{2, 2, 4, 3}, []int{2, 3, 3, 2}, map[string]any{"strides": []int{2, 3}, "pads": []int{1, 0, 0, 1}}, true},
		{"2d_outpad_dil", []int{1, 2, 3, 4}, []int{2, 2, 2, 3}, map[string]any{"strides": []int{2, 2}, "dilations": []int{2, 1}, "output_padding": []int{1, 1}}, true},
		{"2d_groups", []int{2, 4, 3, 3}, []int{4, 3, 3, 3}, map[string]any{"group": 2, "strides": []int{2, 2}}, true},
		{"2d_same_upper", []int{1, 2, 3, 4}, []int{2, 2, 3, 3}, map[string]any{"auto_pad": "SAME_UPPER", "strides": []int{2, 2}}, true},
		{"2d_output_shape", []int{1, 2, 3, 3}, []int{2, 2, 3, 3}, map[string]any{"strides": []int{2, 2}, "output_shape": []int{9, 8}}, true},
		{"1d", []int{2, 3, 5}, []int{3, 2, 3}, map[string]any{"strides": []int{2}, "pads": []int{1, 1}}, true},
		{"3d", []int{1, 2, 3, 2, 3}, []int{2, 2, 2, 2, 2}, map[string]any{"strides": []int{2, 1, 2}}, true},
	}
	for _, c := range cases {
		t.Run(c.name+"_f32", func(t *testing.T) {
			cvgCompareF32(t, "ConvTranspose", cvgCase{c.name, c.x, c.w, c.attrs, false})
		})
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(11))
			nIn := 2
			if c.bias {
				nIn = 3
			}
			n := gradTestNode(t, "ConvTranspose", 11, c.attrs, nIn, 1)
			g := 1
			if v, ok := c.attrs["group"]; ok {
				g = v.(int)
			}
			in := []*Tensor{randF64(rng, c.x...), randF64(rng, c.w...)}
			wrt := []int{0, 1}
			if c.bias {
				in = append(in, randF64(rng, c.w[1]*g))
				wrt = append(wrt, 2)
			}
			gradCheck(t, n, in, wrt, 1e-5)
		})
	}
}

func TestPoolGrad(t *testing.T) {
	cases := []struct {
		name, op string
		x        []int
		attrs    map[string]any
	}{
		{"max_2d", "MaxPool", []int{2, 3, 6, 7}, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}}},
		{"max_overlap_pads", "MaxPool", []int{2, 2, 7, 6}, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 1}, "pads": []int{1, 0, 1, 2}}},
		{"max_stem_3x3s2", "MaxPool", []int{2, 2, 9, 10}, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}},
		{"max_dil_ceil", "MaxPool", []int{1, 2, 8, 9}, map[string]any{"kernel_shape": []int{2, 3}, "strides": []int{2, 2}, "dilations": []int{2, 1}, "ceil_mode": 1}},
		{"max_same_lower", "MaxPool", []int{1, 2, 7, 7}, map[string]any{"kernel_shape": []int{3, 2}, "strides": []int{2, 2}, "auto_pad": "SAME_LOWER"}},
		{"max_1d", "MaxPool", []int{2, 3, 11}, map[string]any{"kernel_shape": []int{3}, "strides": []int{2}, "pads": []int{1, 1}}},
		{"max_3d", "MaxPool", []int{1, 2, 5, 4, 5}, map[string]any{"kernel_shape": []int{2, 2, 3}, "strides": []int{2, 1, 2}}},
		{"avg_2d", "AveragePool", []int{2, 3, 6, 7}, map[string]any{"kernel_shape": []int{2, 3}, "strides": []int{2, 2}}},
		{"avg_pads_excl", "AveragePool", []int{2, 2, 6, 7}, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 0, 2, 1}}},
		{"avg_pads_incl", "AveragePool", []int{2, 2, 6, 7}, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 0, 2, 1}, "count_include_pad": 1}},
		{"avg_ceil_excl", "AveragePool", []int{1, 2, 7, 8}, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 3}, "ceil_mode": 1}},
		{"avg_ceil_incl_pads", "AveragePool", []int{1, 2, 7, 8}, map[string]any{"kernel_shape": []int{3, 2}, "strides": []int{2, 3}, "pads": []int{1, 1, 1, 1}, "ceil_mode": 1, "count_include_pad": 1}},
		{"avg_same_upper", "AveragePool", []int{1, 2, 7, 6}, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "auto_pad": "SAME_UPPER"}},
		{"avg_dil", "AveragePool", []int{1, 2, 8, 8}, map[string]any{"kernel_shape": []int{2, 2}, "dilations": []int{2, 3}, "pads": []int{1, 1, 0, 1}}},
		{"avg_1d", "AveragePool", []int{2, 2, 9}, map[string]any{"kernel_shape": []int{4}, "strides": []int{2}, "pads": []int{2, 1}, "count_include_pad": 1}},
		{"avg_3d", "AveragePool", []int{1, 2, 4, 5, 4}, map[string]any{"kernel_shape": []int{2, 3, 2}, "strides": []int{2, 2, 1}, "pads": []int{0, 1, 1, 1, 0, 0}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(5))
			n := gradTestNode(t, c.op, 19, c.attrs, 1, 1)
			gradCheck(t, n, []*Tensor{randF64(rng, c.x...)}, []int{0}, 1e-5)
			// float32 agrees with float64.
			x := randF64(rng, c.x...)
			ctx := NewContext(nil)
			o64, err := n.Op.Run(ctx, []*Tensor{x})
			if err != nil {
				t.Fatal(err)
			}
			dy := randF64(rng, o64[0].Shape...)
			g64, err := Backward(ctx, n, []*Tensor{x}, o64, []*Tensor{dy}, []bool{true})
			if err != nil {
				t.Fatal(err)
			}
			x32 := cvgTo32(x)
			o32, err := n.Op.Run(ctx, []*Tensor{x32})
			if err != nil {
				t.Fatal(err)
			}
			g32, err := Backward(ctx, n, []*Tensor{x32}, o32, []*Tensor{cvgTo32(dy)}, []bool{true})
			if err != nil {
				t.Fatal(err)
			}
			cvgClose(t, c.op, g32[0], g64[0], 1e-5)
		})
	}
}

func TestMaxPoolGradWithIndices(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	n := gradTestNode(t, "MaxPool", 12, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{1, 1}}, 1, 2)
	gradCheck(t, n, []*Tensor{randF64(rng, 2, 2, 5, 5)}, []int{0}, 1e-5)
}

func TestMaxPoolGradTies(t *testing.T) {
	// All-equal window: the gradient goes to the first element only.
	n := gradTestNode(t, "MaxPool", 12, map[string]any{"kernel_shape": []int{2, 2}}, 1, 1)
	x := New(Float64, 1, 1, 2, 2)
	for i := range x.F64 {
		x.F64[i] = 1
	}
	dy := New(Float64, 1, 1, 1, 1)
	dy.F64[0] = 3
	g, err := Backward(NewContext(nil), n, []*Tensor{x}, nil, []*Tensor{dy}, []bool{true})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{3, 0, 0, 0}
	for i, v := range want {
		if g[0].F64[i] != v {
			t.Fatalf("tie gradient %v, want %v", g[0].F64, want)
		}
	}
}

// Ties in full 3×3 windows (the unrolled path of the stem pooling): each
// window's gradient goes to the first maximal element in forward order.
func TestMaxPoolGradTies3x3(t *testing.T) {
	n := gradTestNode(t, "MaxPool", 12, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{3, 3}}, 1, 1)
	x := New(Float64, 1, 1, 3, 6)
	// Window 0 (columns 0-2): maximum 5 at (1,1) and (2,0). Window 1
	// (columns 3-5): all equal.
	copy(x.F64, []float64{
		1, 2, 0, 7, 7, 7,
		0, 5, 1, 7, 7, 7,
		5, 3, 2, 7, 7, 7,
	})
	dy := New(Float64, 1, 1, 1, 2)
	dy.F64[0], dy.F64[1] = 3, 4
	g, err := Backward(NewContext(nil), n, []*Tensor{x}, nil, []*Tensor{dy}, []bool{true})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{
		0, 0, 0, 4, 0, 0,
		0, 3, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0,
	}
	for i, v := range want {
		if g[0].F64[i] != v {
			t.Fatalf("tie gradient %v, want %v", g[0].F64, want)
		}
	}
}

func TestGlobalPoolGrad(t *testing.T) {
	for _, op := range []string{"GlobalAveragePool", "GlobalMaxPool"} {
		for _, shape := range [][]int{{2, 3, 4, 5}, {2, 3, 7}, {1, 2, 3, 2, 3}} {
			t.Run(fmt.Sprint(op, shape), func(t *testing.T) {
				rng := rand.New(rand.NewSource(13))
				n := gradTestNode(t, op, 1, nil, 1, 1)
				gradCheck(t, n, []*Tensor{randF64(rng, shape...)}, []int{0}, 1e-5)
			})
		}
	}
}

func TestLRNGrad(t *testing.T) {
	for _, size := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprint("size", size), func(t *testing.T) {
			rng := rand.New(rand.NewSource(17))
			n := gradTestNode(t, "LRN", 13, map[string]any{"size": size, "alpha": float32(0.3), "beta": float32(0.75), "bias": float32(1.5)}, 1, 1)
			gradCheck(t, n, []*Tensor{randF64(rng, 2, 6, 3, 2)}, []int{0}, 1e-5)
		})
	}
}

// cvgBenchBackward times the backward pass of a Conv node (dX, dW, dB).
func cvgBenchBackward(b *testing.B, x, w []int, attrs map[string]any) {
	r := rand.New(rand.NewSource(1))
	xt, wt := convTestRand(r, x...), convTestRand(r, w...)
	bias := convTestRand(r, w[0])
	n := &Node{Name: "bench", OpType: "Conv", Opset: 11, Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}, Attrs: map[string]*Attr{}}
	for k, v := range attrs {
		a := &Attr{Name: k}
		switch v := v.(type) {
		case int:
			a.Type, a.I = AttrInt, int64(v)
		case []int:
			a.Type = AttrInts
			for _, e := range v {
				a.Ints = append(a.Ints, int64(e))
			}
		}
		n.Attrs[k] = a
	}
	if err := Standard().Build(n); err != nil {
		b.Fatal(err)
	}
	ctx := NewContext(nil)
	in := []*Tensor{xt, wt, bias}
	out, err := n.Op.Run(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	dy := convTestRand(r, out[0].Shape...)
	need := []bool{true, true, true}
	// dX and dW each cost as much as the forward pass.
	flops := 2 * 2 * float64(out[0].Len()) * float64(NumElements(w[1:]))
	b.ResetTimer()
	cpu0 := cvgCPUTime()
	for i := 0; i < b.N; i++ {
		if _, err := Backward(ctx, n, in, out, []*Tensor{dy}, need); err != nil {
			b.Fatal(err)
		}
	}
	cvgReport(b, flops, cvgCPUTime()-cpu0)
}

// cvgReport reports GFLOP/s and the CPU time per op (robust against other
// load on the machine, unlike wall time).
func cvgReport(b *testing.B, flops float64, cpu time.Duration) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cvgBenchForward times the forward pass of the same Conv node.
func cvgBenchForward(b *testing.B, x, w []int, attrs map[string]any) {
	r := rand.New(rand.NewSource(1))
	xt, wt := convTestRand(r, x...), convTestRand(r, w...)
	bias := convTestRand(r, w[0])
	op := convTestNode(b, "Conv", 1, attrs)
	in := []*Tensor{xt, wt, bias}
	y := convTestRun(b, op, in...)[0]
	flops := 2 * float64(y.Len()) * float64(NumElements(w[1:]))
	b.ResetTimer()
	cpu0 := cvgCPUTime()
	for i := 0; i < b.N; i++ {
		if _, err := op.Run(NewContext(nil), in); err != nil {
			b.Fatal(err)
		}
	}
	cvgReport(b, flops, cvgCPUTime()-cpu0)
}

func BenchmarkConvBackward(b *testing.B) {
	b.Run("resnet_16x64x56x56_3x3", func(b *testing.B) {
		cvgBenchBackward(b, []int{16, 64, 56, 56}, []int{64, 64, 3, 3}, map[string]any{"pads": []int{1, 1, 1, 1}})
	})
	b.Run("pointwise_16x64x56x56_1x1", func(b *testing.B) {
		cvgBenchBackward(b, []int{16, 64, 56, 56}, []int{64, 64, 1, 1}, nil)
	})
	b.Run("depthwise_16x144x56x56_3x3", func(b *testing.B) {
		cvgBenchBackward(b, []int{16, 144, 56, 56}, []int{144, 1, 3, 3}, map[string]any{"group": 144, "pads": []int{1, 1, 1, 1}})
	})
	b.Run("depthwise_s2_16x96x112x112_3x3", func(b *testing.B) {
		cvgBenchBackward(b, []int{16, 96, 112, 112}, []int{96, 1, 3, 3}, map[string]any{"group": 96, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}})
	})
}

// BenchmarkConvForwardBatch16 is the forward pass of the same layers, for
// comparison with BenchmarkConvBackward.
func BenchmarkConvForwardBatch16(b *testing.B) {
	b.Run("resnet_16x64x56x56_3x3", func(b *testing.B) {
		cvgBenchForward(b, []int{16, 64, 56, 56}, []int{64, 64, 3, 3}, map[string]any{"pads": []int{1, 1, 1, 1}})
	})
	b.Run("pointwise_16x64x56x56_1x1", func(b *testing.B) {
		cvgBenchForward(b, []int{16, 64, 56, 56}, []int{64, 64, 1, 1}, nil)
	})
	b.Run("depthwise_16x144x56x56_3x3", func(b *testing.B) {
		cvgBenchForward(b, []int{16, 144, 56, 56}, []int{144, 1, 3, 3}, map[string]any{"group": 144, "pads": []int{1, 1, 1, 1}})
	})
	b.Run("depthwise_s2_16x96x112x112_3x3", func(b *testing.B) {
		cvgBenchForward(b, []int{16, 96, 112, 112}, []int{96, 1, 3, 3}, map[string]any{"group": 96, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}})
	})
}

// cvgBenchPool times forward and backward of a pooling node.
func cvgBenchPool(b *testing.B, op string, x []int, attrs map[string]any, backward bool) {
	r := rand.New(rand.NewSource(1))
	xt := convTestRand(r, x...)
	n := &Node{Name: "bench", OpType: op, Opset: 19, Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: map[string]*Attr{}}
	for k, v := range attrs {
		a := &Attr{Name: k, Type: AttrInts}
		for _, e := range v.([]int) {
			a.Ints = append(a.Ints, int64(e))
		}
		n.Attrs[k] = a
	}
	if err := Standard().Build(n); err != nil {
		b.Fatal(err)
	}
	ctx := NewContext(nil)
	out, err := n.Op.Run(ctx, []*Tensor{xt})
	if err != nil {
		b.Fatal(err)
	}
	dy := convTestRand(r, out[0].Shape...)
	b.ResetTimer()
	cpu0 := cvgCPUTime()
	for i := 0; i < b.N; i++ {
		if backward {
			_, err = Backward(ctx, n, []*Tensor{xt}, out, []*Tensor{dy}, []bool{true})
		} else {
			_, err = n.Op.Run(ctx, []*Tensor{xt})
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	cvgReport(b, 0, cvgCPUTime()-cpu0)
}

func BenchmarkPoolBackward(b *testing.B) {
	stem := map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}
	for _, bw := range []bool{false, true} {
		name := "forward"
		if bw {
			name = "backward"
		}
		b.Run("maxpool_16x64x112x112_3x3s2/"+name, func(b *testing.B) {
			cvgBenchPool(b, "MaxPool", []int{16, 64, 112, 112}, stem, bw)
		})
		b.Run("avgpool_16x64x112x112_3x3s2/"+name, func(b *testing.B) {
			cvgBenchPool(b, "AveragePool", []int{16, 64, 112, 112}, stem, bw)
		})
		b.Run("globalavg_16x512x7x7/"+name, func(b *testing.B) {
			cvgBenchPool(b, "GlobalAveragePool", []int{16, 512, 7, 7}, nil, bw)
		})
	}
}

// A small CNN differentiated on the tape: parameter and input gradients
// match finite differences of the whole graph.
func TestConvGradTape(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	g := &Graph{
		Inputs:  []ValueInfo{{Name: "x", DType: Float64}},
		Outputs: []ValueInfo{{Name: "loss"}},
	}
	params := map[string]*Tensor{
		"w1": randF64(rng, 4, 2, 3, 3), "b1": randF64(rng, 4),
		"w2": randF64(rng, 4, 1, 3, 3), "b2": randF64(rng, 4),
		"w3": randF64(rng, 3, 4, 1, 1),
	}
	for _, name := range []string{"w1", "b1", "w2", "b2", "w3"} {
		g.AddParam(&Param{Name: name, Value: params[name]})
	}
	g.Nodes = []*Node{
		graphTestNode(t, "Conv", 11, map[string]any{"strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}, []string{"x", "w1", "b1"}, []string{"c1"}),
		graphTestNode(t, "MaxPool", 12, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{1, 1}}, []string{"c1"}, []string{"p1"}),
		graphTestNode(t, "Conv", 11, map[string]any{"group": 4, "pads": []int{1, 1, 1, 1}}, []string{"p1", "w2", "b2"}, []string{"c2"}),
		graphTestNode(t, "AveragePool", 19, map[string]any{"kernel_shape": []int{2, 2}, "pads": []int{0, 0, 1, 1}}, []string{"c2"}, []string{"p2"}),
		graphTestNode(t, "GlobalAveragePool", 1, nil, []string{"p2"}, []string{"gp"}),
		graphTestNode(t, "Conv", 11, nil, []string{"gp", "w3"}, []string{"c3"}),
		graphTestNode(t, "LRN", 13, map[string]any{"size": 3}, []string{"c3"}, []string{"n3"}),
		graphTestNode(t, "GlobalMaxPool", 1, nil, []string{"n3"}, []string{"loss"}),
	}
	wrt := []string{"w1", "b1", "w2", "b2", "w3", "x"}
	if err := g.NonDifferentiable(wrt[:5], nil); err != nil {
		t.Fatal(err)
	}
	ctx := NewContext(nil)
	x := randF64(rng, 1, 2, 9, 8)
	tp, _, err := g.Forward(ctx, map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	seed := randF64(rng, 1, 3, 1, 1)
	grads, err := tp.Backward(ctx, map[string]*Tensor{"loss": seed}, wrt)
	if err != nil {
		t.Fatal(err)
	}
	loss := func() float64 {
		o, err := g.Run(ctx, map[string]*Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for i, v := range o["loss"].F64 {
			s += v * seed.F64[i]
		}
		return s
	}
	const eps = 1e-6
	for _, name := range wrt {
		p := params[name]
		if name == "x" {
			p = x
		}
		gr := grads[name]
		if gr == nil {
			t.Fatalf("no gradient for %s", name)
		}
		for i := range p.F64 {
			orig := p.F64[i]
			p.F64[i] = orig + eps
			lp := loss()
			p.F64[i] = orig - eps
			lm := loss()
			p.F64[i] = orig
			num := (lp - lm) / (2 * eps)
			if math.Abs(num-gr.F64[i]) > 1e-7+1e-5*math.Abs(num) {
				t.Errorf("%s[%d]: tape gradient %v, numeric %v", name, i, gr.F64[i], num)
			}
		}
	}
}

// A training tape (ForwardTrain) records where the ResNet stem's max
// pooling found its maxima and its backward pass routes the gradient
// there: the same gradients, bit for bit, as the comparison scan of a full
// Forward tape. A tape whose backward pass skips the pooling records
// nothing.
func TestMaxPoolTrainTapeRecordsArgmax(t *testing.T) {
	rng := rand.New(rand.NewSource(22))
	g := &Graph{
		Inputs:  []ValueInfo{{Name: "x", DType: Float32}},
		Outputs: []ValueInfo{{Name: "y"}},
	}
	f32 := func(shape ...int) *Tensor {
		t := New(Float32, shape...)
		for i := range t.F32 {
			t.F32[i] = float32(rng.NormFloat64())
		}
		return t
	}
	g.AddParam(&Param{Name: "w1", Value: f32(4, 2, 3, 3)})
	g.AddParam(&Param{Name: "w2", Value: f32(3, 4, 1, 1)})
	pool := graphTestNode(t, "MaxPool", 12, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}, []string{"r1"}, []string{"p1"})
	g.Nodes = []*Node{
		graphTestNode(t, "Conv", 11, map[string]any{"pads": []int{1, 1, 1, 1}}, []string{"x", "w1"}, []string{"c1"}),
		graphTestNode(t, "Relu", 14, nil, []string{"c1"}, []string{"r1"}),
		pool,
		graphTestNode(t, "Conv", 11, nil, []string{"p1", "w2"}, []string{"y"}),
	}
	x, seed := f32(2, 2, 13, 12), f32(2, 3, 7, 6)
	ctx := NewContext(nil)
	ref, _, err := g.Forward(ctx, map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Backward(ctx, map[string]*Tensor{"y": seed}, []string{"w1", "w2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, wrt := range [][]string{{"w1", "w2"}, {"w2"}} {
		tp, err := g.ForwardTrain(ctx, map[string]*Tensor{"x": x}, []string{"y"}, wrt)
		if err != nil {
			t.Fatal(err)
		}
		recorded := tp.tm.step.poolArg[pool] != nil
		if recorded != (len(wrt) == 2) {
			t.Fatalf("wrt %v: max pooling positions recorded: %v", wrt, recorded)
		}
		got, err := tp.Backward(ctx, map[string]*Tensor{"y": seed.Clone()}, wrt)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wrt {
			if !slices.Equal(got[w].F32, want[w].F32) {
				t.Fatalf("wrt %v: gradient of %s differs from the full tape's", wrt, w)
			}
		}
	}
}

func TestConvGradNilOutputGradient(t *testing.T) {
	for _, op := range []string{"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LRN"} {
		attrs := map[string]any{}
		switch op {
		case "MaxPool", "AveragePool":
			attrs["kernel_shape"] = []int{2, 2}
		case "LRN":
			attrs["size"] = 3
		}
		nIn := 1
		if op == "Conv" || op == "ConvTranspose" {
			nIn = 2
		}
		n := gradTestNode(t, op, 13, attrs, nIn, 1)
		in := []*Tensor{New(Float64, 1, 2, 4, 4), New(Float64, 2, 2, 3, 3)}[:nIn]
		g, err := Backward(NewContext(nil), n, in, []*Tensor{nil}, []*Tensor{nil}, []bool{true, true}[:nIn])
		if err != nil || len(g) != nIn || g[0] != nil {
			t.Errorf("%s: nil output gradient gave %v, %v", op, g, err)
		}
	}
}
