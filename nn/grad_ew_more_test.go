package nn

import (
	"math"
	"math/rand"
	"testing"
)

// ewgAway moves the entries of x that lie within margin of a kink k by
// 2·margin away from it, so finite differences do not straddle it.
func ewgAway(x *Tensor, margin float64, kinks ...float64) *Tensor {
	for i, v := range x.F64 {
		for _, k := range kinks {
			if d := v - k; math.Abs(d) < margin {
				if d >= 0 {
					v = k + 2*margin
				} else {
					v = k - 2*margin
				}
			}
		}
		x.F64[i] = v
	}
	return x
}

// ewgPositive maps x to lo + |x|.
func ewgPositive(x *Tensor, lo float64) *Tensor {
	for i, v := range x.F64 {
		x.F64[i] = lo + math.Abs(v)
	}
	return x
}

// ewgTo32 converts float64 tensors to float32 (others unchanged).
func ewgTo32(t *testing.T, in []*Tensor) []*Tensor {
	t.Helper()
	out := make([]*Tensor, len(in))
	for i, x := range in {
		if x == nil || x.DType != Float64 {
			out[i] = x
			continue
		}
		c, err := ewCastTensor(x, Float32)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = c
	}
	return out
}

// ewgCheck runs gradCheck in float64 and then compares the float32
// backward pass (the training path, with its own kernels) with the float64
// one on the same values.
func ewgCheck(t *testing.T, n *Node, in []*Tensor, wrt []int) {
	t.Helper()
	gradCheck(t, n, in, wrt, 1e-5)
	ctx := NewContext(nil)
	out64, err := n.Op.Run(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	in32 := ewgTo32(t, in)
	out32, err := n.Op.Run(ctx, in32)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	d64 := []*Tensor{randF64(rng, out64[0].Shape...)}
	d32 := ewgTo32(t, d64)
	need := make([]bool, len(in))
	for _, i := range wrt {
		need[i] = true
	}
	g64, err := Backward(ctx, n, in, out64, d64, need)
	if err != nil {
		t.Fatal(err)
	}
	g32, err := Backward(ctx, n, in32, out32, d32, need)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range wrt {
		a, b := g32[i], g64[i]
		if a == nil || a.DType != Float32 || !SameShape(a.Shape, in[i].Shape) {
			t.Fatalf("%s: float32 gradient of input %d is %v", n.OpType, i, a)
		}
		bad := 0
		for j, v := range b.F64 {
			if w := float64(a.F32[j]); math.Abs(w-v) > 2e-5+2e-4*math.Abs(v) {
				if bad < 3 {
					t.Errorf("%s: float32 gradient of input %d [%d] = %g, float64 %g", n.OpType, i, j, w, v)
				}
				bad++
			}
		}
	}
}

func TestEwgUnaryGrads(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	shapes := [][]int{{3, 5}, {2, 3, 4}, {}, {7}}
	cases := []struct {
		op    string
		opset int
		attrs map[string]any
		prep  func(*Tensor) *Tensor
	}{
		{"Sqrt", 13, nil, func(x *Tensor) *Tensor { return ewgPositive(x, 0.3) }},
		{"Exp", 13, nil, nil},
		{"Log", 13, nil, func(x *Tensor) *Tensor { return ewgPositive(x, 0.2) }},
		{"Erf", 13, nil, nil},
		{"Gelu", 20, nil, nil},
		{"Gelu", 20, map[string]any{"approximate": "none"}, nil},
		{"Gelu", 20, map[string]any{"approximate": "tanh"}, nil},
		{"Elu", 6, nil, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, 0) }},
		{"Elu", 22, map[string]any{"alpha": 0.7}, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, 0) }},
		{"Selu", 6, nil, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, 0) }},
		{"Selu", 22, map[string]any{"alpha": 1.5, "gamma": 0.8}, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, 0) }},
		{"Celu", 12, nil, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, 0) }},
		{"Celu", 12, map[string]any{"alpha": 1.7}, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, 0) }},
		{"HardSigmoid", 6, nil, func(x *Tensor) *Tensor { scaleTensor(x, 2); return ewgAway(x, 1e-3, -2.5, 2.5) }},
		{"HardSigmoid", 22, map[string]any{"alpha": 0.5, "beta": 0.4}, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, -0.8, 1.2) }},
		{"HardSwish", 14, nil, func(x *Tensor) *Tensor { scaleTensor(x, 3); return ewgAway(x, 1e-3, -3, 3) }},
		{"HardSwish", 22, nil, func(x *Tensor) *Tensor { scaleTensor(x, 3); return ewgAway(x, 1e-3, -3, 3) }},
		{"Softplus", 1, nil, func(x *Tensor) *Tensor { scaleTensor(x, 5); return x }},
		{"Softplus", 22, nil, nil},
		{"Softsign", 1, nil, func(x *Tensor) *Tensor { scaleTensor(x, 3); return x }},
		{"Mish", 18, nil, func(x *Tensor) *Tensor { scaleTensor(x, 4); return x }},
		{"Mish", 22, nil, nil},
		{"Reciprocal", 13, nil, func(x *Tensor) *Tensor { return ewgAway(x, 0.3, 0) }},
		{"Abs", 13, nil, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, 0) }},
		{"Abs", 6, nil, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, 0) }},
	}
	for _, c := range cases {
		for _, sh := range shapes {
			n := gradTestNode(t, c.op, c.opset, c.attrs, 1, 1)
			x := randF64(rng, sh...)
			if c.prep != nil {
				x = c.prep(x)
			}
			ewgCheck(t, n, []*Tensor{x}, []int{0})
		}
	}
}

// TestEwgUnaryHandValues checks a few derivatives against hand-computed
// values (not derived from the code under test).
func TestEwgUnaryHandValues(t *testing.T) {
	cases := []struct {
		op    string
		opset int
		attrs map[string]any
		x, d  float64
	}{
		{"Sqrt", 13, nil, 4, 0.25},              // 1/(2·2)
		{"Log", 13, nil, 0.5, 2},                // 1/x
		{"Reciprocal", 13, nil, 2, -0.25},       // -1/x²
		{"Erf", 13, nil, 0, 1.1283791670955126}, // 2/√π
		{"Gelu", 20, nil, 0, 0.5},               // Φ(0)
		{"Gelu", 20, map[string]any{"approximate": "tanh"}, 0, 0.5},
		{"Elu", 6, map[string]any{"alpha": 2.0}, -1, 2 * math.Exp(-1)}, // α·eˣ
		{"Celu", 12, map[string]any{"alpha": 2.0}, -2, math.Exp(-1)},   // exp(x/α)
		{"HardSigmoid", 6, nil, 1, 0.2},
		{"HardSigmoid", 6, nil, 3, 0},
		{"HardSwish", 14, nil, 1.5, 1}, // x/3 + 1/2
		{"HardSwish", 14, nil, -4, 0},  // below -3
		{"Softplus", 1, nil, 0, 0.5},   // sigmoid(0)
		{"Softsign", 1, nil, -1, 0.25}, // 1/(1+1)²
		{"Mish", 18, nil, 0, math.Tanh(math.Log(2))},
		{"Abs", 13, nil, -2, -1},
	}
	for _, c := range cases {
		n := gradTestNode(t, c.op, c.opset, c.attrs, 1, 1)
		for _, dt := range []DType{Float64, Float32} {
			x := New(Float64)
			x.F64[0] = c.x
			in := []*Tensor{x}
			if dt == Float32 {
				in = ewgTo32(t, in)
			}
			out, err := n.Op.Run(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			dy := New(dt)
			if dt == Float32 {
				dy.F32[0] = 1
			} else {
				dy.F64[0] = 1
			}
			g, err := Backward(nil, n, in, out, []*Tensor{dy}, []bool{true})
			if err != nil {
				t.Fatal(err)
			}
			if got := g[0].Float64At(0); math.Abs(got-c.d) > 1e-6 {
				t.Errorf("%s'(%g) in %v = %g, want %g", c.op, c.x, dt, got, c.d)
			}
		}
	}
}

var ewgBinShapes = [][2][]int{
	{{2, 3, 4}, {2, 3, 4}},
	{{2, 3, 4}, {4}},
	{{4}, {2, 3, 4}},
	{{3, 1}, {2, 1, 4}},
	{{2, 1, 4}, {3, 1}},
	{{1}, {5}},
	{{}, {3, 2}},
	{{3, 2}, {}},
	{{2, 3, 1, 5}, {1, 3, 4, 1}},
}

func TestEwgPowGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, opset := range []int{7, 13, 15} {
		for _, sh := range ewgBinShapes {
			n := gradTestNode(t, "Pow", opset, nil, 2, 1)
			a := ewgPositive(randF64(rng, sh[0]...), 0.3)
			b := randF64(rng, sh[1]...)
			ewgCheck(t, n, []*Tensor{a, b}, []int{0, 1})
		}
	}
	// Constant scalar exponents (fast path: base gradient only), negative
	// bases allowed for integral exponents.
	for _, e := range []float64{0, 1, 2, 3, 0.5, -1, 1.7, 4} {
		n := gradTestNode(t, "Pow", 13, nil, 2, 1)
		a := randF64(rng, 3, 7)
		if e != math.Trunc(e) {
			a = ewgPositive(a, 0.3)
		}
		if e < 0 {
			a = ewgAway(a, 0.3, 0)
		}
		b := New(Float64)
		b.F64[0] = e
		ewgCheck(t, n, []*Tensor{a, b}, []int{0})
	}
	// Integer and float32 exponents with a float64 base.
	n := gradTestNode(t, "Pow", 13, nil, 2, 1)
	a := randF64(rng, 2, 3)
	bi := FromInt64([]int64{2, 3, 1}, 3)
	gradCheck(t, n, []*Tensor{a, bi}, []int{0}, 1e-5)
	out, _ := n.Op.Run(nil, []*Tensor{a, bi})
	g, err := Backward(nil, n, []*Tensor{a, bi}, out, []*Tensor{randF64(rng, 2, 3)}, []bool{true, true})
	if err != nil || g[1] != nil || g[0] == nil {
		t.Errorf("Pow with int64 exponent: gradients %v, %v", g, err)
	}
	b32 := FromFloat32([]float32{0.5, 1.5, 2}, 3)
	a = ewgPositive(a, 0.2)
	out, _ = n.Op.Run(nil, []*Tensor{a, b32})
	g, err = Backward(nil, n, []*Tensor{a, b32}, out, []*Tensor{ewgOnes(2, 3)}, []bool{true, true})
	if err != nil || g[1] == nil || g[1].DType != Float32 || !SameShape(g[1].Shape, []int{3}) {
		t.Fatalf("Pow with float32 exponent: gradients %v, %v", g, err)
	}
	for j := 0; j < 3; j++ {
		want := 0.0
		for i := 0; i < 2; i++ {
			x := a.F64[i*3+j]
			want += math.Pow(x, float64(b32.F32[j])) * math.Log(x)
		}
		if math.Abs(float64(g[1].F32[j])-want) > 1e-5*(1+math.Abs(want)) {
			t.Errorf("Pow float32 exponent gradient [%d] = %g, want %g", j, g[1].F32[j], want)
		}
	}
	// Legacy broadcast attribute (opset 6): B aligned at axis 1.
	n6 := gradTestNode(t, "Pow", 6, map[string]any{"broadcast": 1, "axis": 1}, 2, 1)
	ewgCheck(t, n6, []*Tensor{ewgPositive(randF64(rng, 2, 3, 4), 0.3), randF64(rng, 3)}, []int{0, 1})
}

// ewgOnes returns a float64 tensor of ones.
func ewgOnes(shape ...int) *Tensor {
	t := New(Float64, shape...)
	for i := range t.F64 {
		t.F64[i] = 1
	}
	return t
}

func TestEwgPReluGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for _, opset := range []int{7, 9, 16} {
		for _, sh := range [][2][]int{
			{{2, 3, 4, 5}, {3, 1, 1}},
			{{2, 3, 4, 5}, {5}},
			{{2, 3, 4, 5}, {1}},
			{{2, 3, 4, 5}, {2, 3, 4, 5}},
			{{2, 3, 4, 5}, {1, 3, 1, 5}},
			{{6}, {}},
		} {
			n := gradTestNode(t, "PRelu", opset, nil, 2, 1)
			x := ewgAway(randF64(rng, sh[0]...), 1e-3, 0)
			s := randF64(rng, sh[1]...)
			ewgCheck(t, n, []*Tensor{x, s}, []int{0, 1})
		}
	}
}

func TestEwgMaxMinGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	for _, op := range []string{"Max", "Min"} {
		for _, opset := range []int{6, 8, 12, 13} {
			for _, sh := range ewgBinShapes {
				if opset < 8 && !SameShape(sh[0], sh[1]) {
					continue // no broadcasting before opset 8
				}
				n := gradTestNode(t, op, opset, nil, 2, 1)
				ewgCheck(t, n, []*Tensor{randF64(rng, sh[0]...), randF64(rng, sh[1]...)}, []int{0, 1})
			}
		}
		for _, shs := range [][][]int{
			{{3, 4}},
			{{2, 3, 4}, {4}, {3, 1}},
			{{5}, {5}, {5}, {5}},
			{{2, 1, 4}, {}, {3, 1}, {2, 3, 4}},
		} {
			n := gradTestNode(t, op, 13, nil, len(shs), 1)
			in := make([]*Tensor, len(shs))
			wrt := make([]int, len(shs))
			for i, s := range shs {
				in[i], wrt[i] = randF64(rng, s...), i
			}
			ewgCheck(t, n, in, wrt)
		}
	}
}

// TestEwgMaxMinTies: ties split the gradient evenly (PyTorch's rule for
// two inputs, extended to more).
func TestEwgMaxMinTies(t *testing.T) {
	for _, dt := range []DType{Float64, Float32} {
		for _, k := range []int{2, 3} {
			n := gradTestNode(t, "Max", 13, nil, k, 1)
			in := make([]*Tensor, k)
			for i := range in {
				x := New(Float64, 3)
				x.F64[0], x.F64[1], x.F64[2] = 1, 2, -1
				if i > 0 {
					x.F64[2] = 5 // input 0 loses at position 2
				}
				in[i] = x
			}
			if dt == Float32 {
				in = ewgTo32(t, in)
			}
			out, err := n.Op.Run(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			dy := ewgTo32(t, []*Tensor{ewgOnes(3)})[0]
			if dt == Float64 {
				dy = ewgOnes(3)
			}
			need := make([]bool, k)
			for i := range need {
				need[i] = true
			}
			g, err := Backward(nil, n, in, out, []*Tensor{dy}, need)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < k; i++ {
				want := []float64{1 / float64(k), 1 / float64(k), 1 / float64(k-1)}
				if i == 0 {
					want[2] = 0
				}
				for j := range want {
					if got := g[i].Float64At(j); math.Abs(got-want[j]) > 1e-6 {
						t.Errorf("Max %d inputs %v: gradient of input %d [%d] = %g, want %g", k, dt, i, j, got, want[j])
					}
				}
			}
		}
	}
}

func TestEwgSumMeanGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	for _, op := range []string{"Sum", "Mean"} {
		for _, shs := range [][][]int{
			{{3, 4}},
			{{3, 4}, {3, 4}},
			{{2, 3, 4}, {4}},
			{{4}, {2, 3, 4}},
			{{2, 3, 4}, {4}, {3, 1}},
			{{2, 1, 4}, {}, {3, 1}, {1, 3, 4}},
		} {
			n := gradTestNode(t, op, 13, nil, len(shs), 1)
			in := make([]*Tensor, len(shs))
			wrt := make([]int, len(shs))
			for i, s := range shs {
				in[i], wrt[i] = randF64(rng, s...), i
			}
			ewgCheck(t, n, in, wrt)
		}
	}
}

func TestEwgWhereGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(19))
	for _, opset := range []int{9, 16} {
		for _, shs := range [][3][]int{
			{{2, 3, 4}, {2, 3, 4}, {2, 3, 4}},
			{{2, 1, 4}, {3, 1}, {2, 3, 4}},
			{{2, 3, 4}, {}, {4}},
			{{4}, {2, 3, 1}, {1, 3, 4}},
			{{}, {3, 2}, {3, 2}},
		} {
			n := gradTestNode(t, "Where", opset, nil, 3, 1)
			c := New(Bool, shs[0]...)
			for i := range c.Bool {
				c.Bool[i] = rng.Intn(2) == 0
			}
			ewgCheck(t, n, []*Tensor{c, randF64(rng, shs[1]...), randF64(rng, shs[2]...)}, []int{1, 2})
		}
	}
}

func TestEwgCastGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(23))
	for _, opset := range []int{6, 13, 19, 21} {
		n := gradTestNode(t, "Cast", opset, map[string]any{"to": int(Float64)}, 1, 1)
		gradCheck(t, n, []*Tensor{randF64(rng, 3, 4)}, []int{0}, 1e-5)
	}
	for _, opset := range []int{15, 19, 21} {
		n := gradTestNode(t, "CastLike", opset, nil, 2, 1)
		gradCheck(t, n, []*Tensor{randF64(rng, 3, 4), New(Float64)}, []int{0}, 1e-5)
	}
	// float64 -> float32: the float32 gradient comes back as float64.
	n := gradTestNode(t, "Cast", 13, map[string]any{"to": int(Float32)}, 1, 1)
	x := randF64(rng, 2, 3)
	out, _ := n.Op.Run(nil, []*Tensor{x})
	dy := FromFloat32([]float32{1, -2, 0.5, 3, 0.25, -1}, 2, 3)
	g, err := Backward(nil, n, []*Tensor{x}, out, []*Tensor{dy}, []bool{true})
	if err != nil || g[0] == nil || g[0].DType != Float64 || !SameShape(g[0].Shape, x.Shape) {
		t.Fatalf("Cast float64->float32 gradient %v, %v", g, err)
	}
	for i, v := range dy.F32 {
		if g[0].F64[i] != float64(v) {
			t.Errorf("Cast gradient [%d] = %g, want %g", i, g[0].F64[i], v)
		}
	}
	// float32 -> float16: gradient back to float32.
	n = gradTestNode(t, "Cast", 13, map[string]any{"to": int(Float16)}, 1, 1)
	x32 := FromFloat32([]float32{1, 2}, 2)
	out, _ = n.Op.Run(nil, []*Tensor{x32})
	dh := &Tensor{DType: Float16, Shape: []int{2}, F32: []float32{0.5, -3}}
	g, err = Backward(nil, n, []*Tensor{x32}, out, []*Tensor{dh}, []bool{true})
	if err != nil || g[0] == nil || g[0].DType != Float32 || g[0].F32[0] != 0.5 || g[0].F32[1] != -3 {
		t.Fatalf("Cast float32->float16 gradient %v, %v", g, err)
	}
	// integer input: no gradient; CastLike's target input: no gradient.
	n = gradTestNode(t, "Cast", 13, map[string]any{"to": int(Float32)}, 1, 1)
	xi := FromInt64([]int64{1, 2}, 2)
	out, _ = n.Op.Run(nil, []*Tensor{xi})
	g, err = Backward(nil, n, []*Tensor{xi}, out, []*Tensor{FromFloat32([]float32{1, 1}, 2)}, []bool{true})
	if err != nil || g[0] != nil {
		t.Errorf("Cast int64->float32: gradient %v, %v (want nil)", g, err)
	}
	n = gradTestNode(t, "CastLike", 15, nil, 2, 1)
	like := New(Float32)
	out, _ = n.Op.Run(nil, []*Tensor{x, like})
	g, err = Backward(nil, n, []*Tensor{x, like}, out, []*Tensor{FromFloat32(make([]float32, 6), 2, 3)}, []bool{true, true})
	if err != nil || g[0] == nil || g[0].DType != Float64 || g[1] != nil {
		t.Errorf("CastLike gradients %v, %v", g, err)
	}
}

// TestEwgLargeParallel exercises the parallel paths (shared full-size
// buffers, private partial sums for broadcast operands) against plain
// loops.
func TestEwgLargeParallel(t *testing.T) {
	rng := rand.New(rand.NewSource(29))
	const N, C, HW = 4, 16, 64 * 64
	for _, dt := range []DType{Float64, Float32} {
		x := randF64(rng, N, C, HW)
		s := randF64(rng, C, 1)
		dy := randF64(rng, N, C, HW)
		in := []*Tensor{x, s}
		d := []*Tensor{dy}
		if dt == Float32 {
			in, d = ewgTo32(t, in), ewgTo32(t, d)
		}
		n := gradTestNode(t, "PRelu", 16, nil, 2, 1)
		out, _ := n.Op.Run(nil, in)
		g, err := Backward(nil, n, in, out, d, []bool{true, true})
		if err != nil {
			t.Fatal(err)
		}
		ds := make([]float64, C)
		for i := 0; i < N; i++ {
			for c := 0; c < C; c++ {
				for j := 0; j < HW; j++ {
					p := (i*C+c)*HW + j
					xv, gv := in[0].Float64At(p), d[0].Float64At(p)
					want := gv
					if xv < 0 {
						want = in[1].Float64At(c) * gv
						ds[c] += xv * gv
					}
					if got := g[0].Float64At(p); math.Abs(got-want) > 1e-6*(1+math.Abs(want)) {
						t.Fatalf("PRelu %v dX[%d] = %g, want %g", dt, p, got, want)
					}
				}
			}
		}
		for c := range ds {
			if got := g[1].Float64At(c); math.Abs(got-ds[c]) > 1e-3*(1+math.Abs(ds[c])) {
				t.Errorf("PRelu %v dslope[%d] = %g, want %g", dt, c, got, ds[c])
			}
		}
		// Sum with a broadcast operand: its gradient is dy summed over N and HW.
		ns := gradTestNode(t, "Mean", 13, nil, 2, 1)
		in2 := []*Tensor{in[0], in[1].Reshaped(C, 1)}
		out, _ = ns.Op.Run(nil, in2)
		g, err = Backward(nil, ns, in2, out, d, []bool{true, true})
		if err != nil {
			t.Fatal(err)
		}
		for c := 0; c < C; c++ {
			want := 0.0
			for i := 0; i < N; i++ {
				for j := 0; j < HW; j++ {
					want += d[0].Float64At((i*C+c)*HW+j) / 2
				}
			}
			if got := g[1].Float64At(c); math.Abs(got-want) > 1e-3*(1+math.Abs(want)) {
				t.Errorf("Mean %v d(input 1)[%d] = %g, want %g", dt, c, got, want)
			}
		}
		if got, want := g[0].Float64At(12345), d[0].Float64At(12345)/2; math.Abs(got-want) > 1e-6 {
			t.Errorf("Mean %v d(input 0) = %g, want %g", dt, got, want)
		}
	}
}

// TestEwgBasicFast covers the kernels behind grad_ew.go's ops: broadcasting
// both ways, the legacy broadcast attribute, and float32 against float64.
func TestEwgBasicFast(t *testing.T) {
	rng := rand.New(rand.NewSource(31))
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		for _, sh := range ewgBinShapes {
			n := gradTestNode(t, op, 14, nil, 2, 1)
			a, b := randF64(rng, sh[0]...), randF64(rng, sh[1]...)
			if op == "Div" {
				b = ewgAway(b, 0.5, 0)
			}
			ewgCheck(t, n, []*Tensor{a, b}, []int{0, 1})
		}
		n6 := gradTestNode(t, op, 6, map[string]any{"broadcast": 1, "axis": 1}, 2, 1)
		ewgCheck(t, n6, []*Tensor{randF64(rng, 2, 3, 4), ewgAway(randF64(rng, 3), 0.5, 0)}, []int{0, 1})
		n6 = gradTestNode(t, op, 6, map[string]any{"broadcast": 1}, 2, 1)
		ewgCheck(t, n6, []*Tensor{randF64(rng, 2, 3, 4), ewgAway(randF64(rng, 3, 4), 0.5, 0)}, []int{0, 1})
	}
	for _, op := range []string{"Neg", "Relu", "Sigmoid", "Tanh", "LeakyRelu"} {
		n := gradTestNode(t, op, 14, nil, 1, 1)
		ewgCheck(t, n, []*Tensor{ewgAway(randF64(rng, 3, 5), 1e-3, 0)}, []int{0})
	}
	n := gradTestNode(t, "LeakyRelu", 16, map[string]any{"alpha": 0.3}, 1, 1)
	ewgCheck(t, n, []*Tensor{ewgAway(randF64(rng, 4, 5), 1e-3, 0)}, []int{0})
	clip := gradTestNode(t, "Clip", 13, nil, 3, 1)
	lo, hi := New(Float64), New(Float64)
	lo.F64[0], hi.F64[0] = -0.5, 0.7
	ewgCheck(t, clip, []*Tensor{ewgAway(randF64(rng, 4, 6), 1e-3, -0.5, 0.7), lo, hi}, []int{0})
	clip = gradTestNode(t, "Clip", 13, nil, 3, 1) // max only
	ewgCheck(t, clip, []*Tensor{ewgAway(randF64(rng, 4, 6), 1e-3, 0.7), nil, hi}, []int{0})
}

// TestEwgUnaryExtra covers the unary ops beyond the task list: inverse and
// hyperbolic trigonometry, ThresholdedRelu, Shrink, Swish and the
// zero-gradient rounding ops.
func TestEwgUnaryExtra(t *testing.T) {
	rng := rand.New(rand.NewSource(37))
	open := func(lo, hi float64) func(*Tensor) *Tensor {
		return func(x *Tensor) *Tensor {
			for i, v := range x.F64 {
				x.F64[i] = lo + (hi-lo)*(0.5+math.Atan(v)/math.Pi)
			}
			return x
		}
	}
	cases := []struct {
		op    string
		opset int
		attrs map[string]any
		prep  func(*Tensor) *Tensor
	}{
		{"Sin", 7, nil, nil}, {"Cos", 7, nil, nil}, {"Tan", 7, nil, open(-1.3, 1.3)},
		{"Asin", 7, nil, open(-0.9, 0.9)}, {"Acos", 7, nil, open(-0.9, 0.9)}, {"Atan", 7, nil, nil},
		{"Sinh", 9, nil, nil}, {"Cosh", 9, nil, nil}, {"Asinh", 9, nil, nil},
		{"Acosh", 9, nil, open(1.2, 4)}, {"Atanh", 9, nil, open(-0.9, 0.9)},
		{"ThresholdedRelu", 10, map[string]any{"alpha": 0.4}, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, 0.4) }},
		{"Shrink", 9, map[string]any{"lambd": 0.6, "bias": 0.2}, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, -0.6, 0.6) }},
		{"Swish", 24, nil, nil},
		{"Swish", 24, map[string]any{"alpha": 1.7}, nil},
		{"Floor", 13, nil, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, -2, -1, 0, 1, 2) }},
		{"Ceil", 13, nil, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, -2, -1, 0, 1, 2) }},
		{"Round", 11, nil, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, -1.5, -0.5, 0.5, 1.5) }},
		{"Sign", 13, nil, func(x *Tensor) *Tensor { return ewgAway(x, 1e-3, 0) }},
	}
	for _, c := range cases {
		for _, sh := range [][]int{{3, 5}, {2, 3, 4}} {
			n := gradTestNode(t, c.op, c.opset, c.attrs, 1, 1)
			x := randF64(rng, sh...)
			if c.prep != nil {
				x = c.prep(x)
			}
			ewgCheck(t, n, []*Tensor{x}, []int{0})
		}
	}
}

// TestEwgRegistered: every op of the task list has a backward pass in the
// standard registry.
func TestEwgRegistered(t *testing.T) {
	for _, op := range []string{"Pow", "Sqrt", "Exp", "Log", "Erf", "Gelu", "Elu", "Selu", "Celu",
		"PRelu", "HardSigmoid", "HardSwish", "Softplus", "Softsign", "Mish", "Reciprocal", "Abs",
		"Max", "Min", "Sum", "Mean", "Where", "Cast", "CastLike",
		"Add", "Sub", "Mul", "Div", "Neg", "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Clip"} {
		if !Standard().HasGrad(op) {
			t.Errorf("%s has no gradient", op)
		}
	}
}

// TestEwgTorchReference compares with derivatives computed by PyTorch 1.13
// (float64 autograd at x = 0.7, -1.3, 2.1).
func TestEwgTorchReference(t *testing.T) {
	cases := []struct {
		op    string
		opset int
		attrs map[string]any
		want  []float64
	}{
		{"Mish", 18, nil, []float64{0.9687948682001859, -0.02640096215980155, 1.0634632814811114}},
		{"Gelu", 20, map[string]any{"approximate": "tanh"}, []float64{0.976357218656104, -0.12587806978401672, 1.0753508892075991}},
		{"Gelu", 20, nil, []float64{0.9766141011336599, -0.12597868507653925, 1.0745011309960806}},
		{"HardSwish", 14, nil, []float64{0.7333333333333333, 0.06666666666666665, 1.2000000000000002}},
		{"Selu", 6, nil, []float64{1.0507009873554805, 0.4791379656930512, 1.0507009873554805}},
		{"Celu", 12, map[string]any{"alpha": 1.7}, []float64{1.0, 0.4654708109520369, 1.0}},
		{"Softsign", 1, nil, []float64{0.34602076124567477, 0.1890359168241966, 0.10405827263267428}},
	}
	for _, c := range cases {
		n := gradTestNode(t, c.op, c.opset, c.attrs, 1, 1)
		for _, dt := range []DType{Float64, Float32} {
			x := New(Float64, 3)
			copy(x.F64, []float64{0.7, -1.3, 2.1})
			dy := ewgOnes(3)
			in, d := []*Tensor{x}, []*Tensor{dy}
			tol := 1e-6
			if dt == Float32 {
				in, d, tol = ewgTo32(t, in), ewgTo32(t, d), 2e-6
			}
			out, err := n.Op.Run(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			g, err := Backward(nil, n, in, out, d, []bool{true})
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range c.want {
				if got := g[0].Float64At(i); math.Abs(got-w) > tol*(1+math.Abs(w)) {
					t.Errorf("%s %v: gradient at %g = %.9g, PyTorch %.9g", c.op, dt, x.F64[i], got, w)
				}
			}
		}
	}
}

// TestEwgFloat32Sweep compares the float32 derivative kernels (fast exp,
// erf, tanh, sigmoid, and the ones that reuse the forward output) with
// float64 over [-15, 15].
func TestEwgFloat32Sweep(t *testing.T) {
	x := New(Float64, 3001)
	for i := range x.F64 {
		x.F64[i] = -15 + float64(i)*0.01
	}
	for _, c := range []struct {
		op    string
		opset int
		attrs map[string]any
	}{
		{"Gelu", 20, nil}, {"Gelu", 20, map[string]any{"approximate": "tanh"}}, {"Mish", 18, nil},
		{"Erf", 13, nil}, {"Softplus", 1, nil}, {"Swish", 24, nil}, {"Exp", 13, nil},
		{"Sigmoid", 13, nil}, {"Tanh", 13, nil}, {"Elu", 6, nil}, {"Selu", 6, nil}, {"Celu", 12, nil},
	} {
		n := gradTestNode(t, c.op, c.opset, c.attrs, 1, 1)
		in32 := ewgTo32(t, []*Tensor{x})
		// float64 reference on the float32-rounded inputs
		in64 := []*Tensor{New(Float64, x.Shape...)}
		for i, v := range in32[0].F32 {
			in64[0].F64[i] = float64(v)
		}
		o32, err := n.Op.Run(nil, in32)
		if err != nil {
			t.Fatal(err)
		}
		o64, _ := n.Op.Run(nil, in64)
		d64 := ewgOnes(x.Shape...)
		d32 := ewgTo32(t, []*Tensor{d64})
		g32, err := Backward(nil, n, in32, o32, d32, []bool{true})
		if err != nil {
			t.Fatal(err)
		}
		g64, _ := Backward(nil, n, in64, o64, []*Tensor{d64}, []bool{true})
		bad := 0
		for i, w := range g64[0].F64 {
			got := float64(g32[0].F32[i])
			if math.IsInf(w, 0) && got == w {
				continue
			}
			if !(math.Abs(got-w) <= 1e-5+1e-4*math.Abs(w)) {
				if bad < 3 {
					t.Errorf("%s %v: float32 derivative at %g = %g, float64 %g", c.op, c.attrs, in64[0].F64[i], got, w)
				}
				bad++
			}
		}
	}
}
