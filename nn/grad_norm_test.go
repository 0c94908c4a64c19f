package nn

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// nmgGradCheckCtx is gradCheckCtx (kept under the family's name).
func nmgGradCheckCtx(t *testing.T, ctx *Context, n *Node, in []*Tensor, wrt []int, tol float64, reset func()) {
	t.Helper()
	gradCheckCtx(t, ctx, n, in, wrt, tol, reset)
}

// nmgTo32 returns a float32 copy of a float64 tensor (other tensors as is).
func nmgTo32(x *Tensor) *Tensor {
	if x == nil || x.DType != Float64 {
		return x
	}
	y := New(Float32, x.Shape...)
	for i, v := range x.F64 {
		y.F32[i] = float32(v)
	}
	return y
}

// nmgCompare32 runs n's forward and backward in float32 and float64 on the
// same values and checks the float32 gradients against the float64 ones.
func nmgCompare32(t *testing.T, ctx *Context, n *Node, in []*Tensor, wrt []int, reset func()) {
	t.Helper()
	if reset == nil {
		reset = func() {}
	}
	in32 := make([]*Tensor, len(in))
	for i, x := range in {
		in32[i] = nmgTo32(x)
		if x != nil && x.DType == Float64 {
			in[i] = x.Clone()
			in32[i] = nmgTo32(in[i])
		}
	}
	need := make([]bool, len(in))
	for _, i := range wrt {
		need[i] = true
	}
	run := func(args []*Tensor, dt DType) []*Tensor {
		reset()
		out, err := n.Op.Run(ctx, args)
		if err != nil {
			t.Fatalf("%s forward (%v): %v", n.OpType, dt, err)
		}
		rng := rand.New(rand.NewSource(3))
		dOut := make([]*Tensor, len(out))
		for k, o := range out {
			if o != nil && o.DType.IsFloat() {
				r := randF64(rng, o.Shape...)
				if dt == Float32 {
					r = nmgTo32(r)
				}
				dOut[k] = r
			}
		}
		d, err := Backward(ctx, n, args, out, dOut, need)
		if err != nil {
			t.Fatalf("%s backward (%v): %v", n.OpType, dt, err)
		}
		return d
	}
	d64 := run(in, Float64)
	d32 := run(in32, Float32)
	for _, i := range wrt {
		a, b := d64[i], d32[i]
		if a == nil || b == nil || b.DType != Float32 || a.Len() != b.Len() {
			t.Fatalf("%s: input %d: float64 gradient %v, float32 gradient %v", n.OpType, i, a, b)
		}
		scaleMax := 0.0
		for _, v := range a.F64 {
			scaleMax = math.Max(scaleMax, math.Abs(v))
		}
		for e, v := range a.F64 {
			if math.Abs(float64(b.F32[e])-v) > 1e-4*(scaleMax+1) {
				t.Errorf("%s: input %d [%d]: float32 gradient %g, float64 %g", n.OpType, i, e, b.F32[e], v)
				break
			}
		}
	}
}

// nmgPos returns |N(0,1)| + lo entries (variances).
func nmgPos(rng *rand.Rand, lo float64, shape ...int) *Tensor {
	x := randF64(rng, shape...)
	for i, v := range x.F64 {
		x.F64[i] = math.Abs(v) + lo
	}
	return x
}

func nmgRandShape(rng *rand.Rand, rank, lo, hi int) []int {
	s := make([]int, rank)
	for i := range s {
		s[i] = lo + rng.Intn(hi-lo+1)
	}
	return s
}

func TestNmgBatchNormInference(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, opset := range []int{7, 9, 15} {
		for rank := 2; rank <= 5; rank++ {
			shape := nmgRandShape(rng, rank, 2, 4)
			C := shape[1]
			t.Run(fmt.Sprintf("opset%d_%v", opset, shape), func(t *testing.T) {
				n := gradTestNode(t, "BatchNormalization", opset, map[string]any{"epsilon": 1e-3}, 5, 1)
				in := []*Tensor{randF64(rng, shape...), randF64(rng, C), randF64(rng, C), randF64(rng, C), nmgPos(rng, 0.5, C)}
				gradCheck(t, n, in, []int{0, 1, 2}, 1e-5)
				nmgCompare32(t, NewContext(nil), n, in, []int{0, 1, 2}, nil)
			})
		}
	}
	// Opset 7 spatial=0: one statistic per channel and position.
	n := gradTestNode(t, "BatchNormalization", 7, map[string]any{"spatial": 0}, 5, 1)
	F := 3 * 2 * 2
	in := []*Tensor{randF64(rng, 2, 3, 2, 2), randF64(rng, 3, 2, 2), randF64(rng, 3, 2, 2), randF64(rng, 3, 2, 2), nmgPos(rng, 0.5, F)}
	gradCheck(t, n, in, []int{0, 1, 2}, 1e-5)
	// Frozen node in a training context: running statistics.
	n = gradTestNode(t, "BatchNormalization", 15, nil, 5, 1)
	n.Frozen = true
	ctx := &Context{Context: NewContext(nil).Context, Training: true}
	in = []*Tensor{randF64(rng, 3, 2, 4), randF64(rng, 2), randF64(rng, 2), randF64(rng, 2), nmgPos(rng, 0.5, 2)}
	nmgGradCheckCtx(t, ctx, n, in, []int{0, 1, 2}, 1e-5, nil)
}

func TestNmgBatchNormTraining(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	ctx := &Context{Context: NewContext(nil).Context, Training: true}
	for _, opset := range []int{9, 15} {
		for rank := 2; rank <= 5; rank++ {
			shape := nmgRandShape(rng, rank, 2, 4)
			C := shape[1]
			t.Run(fmt.Sprintf("opset%d_%v", opset, shape), func(t *testing.T) {
				n := gradTestNode(t, "BatchNormalization", opset, nil, 5, 1)
				mean, vr := randF64(rng, C), nmgPos(rng, 0.5, C)
				in := []*Tensor{randF64(rng, shape...), randF64(rng, C), randF64(rng, C), mean.Clone(), vr.Clone()}
				nmgGradCheckCtx(t, ctx, n, in, []int{0, 1, 2}, 1e-5, nil)
				// The forward updated the running statistics in place; the
				// gradient does not depend on them.
				in2 := append([]*Tensor{}, in...)
				in2[3], in2[4] = mean.Clone(), vr.Clone()
				nmgCompare32(t, ctx, n, in2, []int{0, 1, 2}, nil)
			})
		}
	}
	// Large enough for the parallel paths.
	n := gradTestNode(t, "BatchNormalization", 15, nil, 5, 1)
	in := []*Tensor{randF64(rng, 8, 16, 24, 24), randF64(rng, 16), randF64(rng, 16), randF64(rng, 16), nmgPos(rng, 0.5, 16)}
	nmgGradCheckCtx(t, ctx, n, in, []int{0, 1, 2}, 1e-5, nil)
	nmgCompare32(t, ctx, n, in, []int{0, 1, 2}, nil)
}

func TestNmgBatchNormONNXTraining(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	ctx := NewContext(nil)
	// Opset 15 training_mode=1 with running mean/var outputs.
	n := gradTestNode(t, "BatchNormalization", 15, map[string]any{"training_mode": 1, "momentum": 0.8}, 5, 3)
	in := []*Tensor{randF64(rng, 3, 2, 3, 2), randF64(rng, 2), randF64(rng, 2), randF64(rng, 2), nmgPos(rng, 0.5, 2)}
	nmgGradCheckCtx(t, ctx, n, in, []int{0, 1, 2, 3, 4}, 1e-5, nil)
	// Opset 9 with running and saved statistics outputs.
	n = gradTestNode(t, "BatchNormalization", 9, nil, 5, 5)
	in = []*Tensor{randF64(rng, 4, 3, 5), randF64(rng, 3), randF64(rng, 3), randF64(rng, 3), nmgPos(rng, 0.5, 3)}
	nmgGradCheckCtx(t, ctx, n, in, []int{0, 1, 2, 3, 4}, 1e-5, nil)
	// Only Y named.
	n = gradTestNode(t, "BatchNormalization", 14, map[string]any{"training_mode": 1}, 5, 1)
	nmgGradCheckCtx(t, ctx, n, in, []int{0, 1, 2}, 1e-5, nil)
}

func TestNmgSoftmax(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		for _, opset := range []int{11, 13} {
			for rank := 1; rank <= 4; rank++ {
				shape := nmgRandShape(rng, rank, 2, 5)
				for axis := -rank; axis < rank; axis++ {
					t.Run(fmt.Sprintf("%s_opset%d_%v_axis%d", op, opset, shape, axis), func(t *testing.T) {
						n := gradTestNode(t, op, opset, map[string]any{"axis": axis}, 1, 1)
						in := []*Tensor{randF64(rng, shape...)}
						gradCheck(t, n, in, []int{0}, 1e-5)
						nmgCompare32(t, NewContext(nil), n, in, []int{0}, nil)
					})
				}
			}
		}
		// Default axis and a large input (parallel paths). The loss sums
		// many log-probabilities of size ~log(D), so finite differences
		// carry rounding noise near 1e-5 relative: looser tolerance.
		for _, opset := range []int{11, 13} {
			n := gradTestNode(t, op, opset, nil, 1, 1)
			in := []*Tensor{randF64(rng, 64, 33, 40)}
			gradCheck(t, n, in, []int{0}, 1e-4)
			nmgCompare32(t, NewContext(nil), n, in, []int{0}, nil)
		}
		n := gradTestNode(t, op, 13, map[string]any{"axis": 1}, 1, 1)
		in := []*Tensor{randF64(rng, 64, 33, 40)}
		gradCheck(t, n, in, []int{0}, 1e-4)
		nmgCompare32(t, NewContext(nil), n, in, []int{0}, nil)
	}
}

// nmgRedCase builds a Reduce* node at opset with the given axes (nil:
// absent) and keepdims, passing the axes as an input when the opset takes
// them that way.
func nmgRedCase(t *testing.T, op string, opset int, axes []int, keepdims, noop int, x *Tensor) (*Node, []*Tensor) {
	t.Helper()
	inputSince := 18
	if op == "ReduceSum" {
		inputSince = 13
	}
	attrs := map[string]any{"keepdims": keepdims}
	if opset >= inputSince {
		attrs["noop_with_empty_axes"] = noop
		if axes != nil {
			a := make([]int64, len(axes))
			for i, v := range axes {
				a[i] = int64(v)
			}
			return gradTestNode(t, op, opset, attrs, 2, 1), []*Tensor{x, FromInt64(a, len(a))}
		}
		return gradTestNode(t, op, opset, attrs, 1, 1), []*Tensor{x}
	}
	if axes != nil {
		attrs["axes"] = axes
	}
	return gradTestNode(t, op, opset, attrs, 1, 1), []*Tensor{x}
}

func TestNmgReduce(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	ops := []string{"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceProd"}
	axesSets := [][]int{nil, {0}, {-1}, {1}, {0, 2}, {1, 2}, {0, 1, 2}, {-3, -1}}
	for _, op := range ops {
		for _, opset := range []int{11, 13, 18} {
			for _, axes := range axesSets {
				for keep := 0; keep <= 1; keep++ {
					shape := nmgRandShape(rng, 3, 2, 4)
					if len(axes) == 1 && axes[0] == 1 && keep == 1 {
						shape = append(shape, 3) // rank 4
					}
					name := fmt.Sprintf("%s_opset%d_%v_axes%v_keep%d", op, opset, shape, axes, keep)
					t.Run(name, func(t *testing.T) {
						x := randF64(rng, shape...)
						if op == "ReduceLogSum" {
							x = nmgPos(rng, 0.5, shape...)
						}
						if op == "ReduceL1" {
							for i, v := range x.F64 {
								if math.Abs(v) < 0.05 {
									x.F64[i] = 0.5
								}
							}
						}
						n, in := nmgRedCase(t, op, opset, axes, keep, 0, x)
						gradCheck(t, n, in, []int{0}, 1e-5)
						nmgCompare32(t, NewContext(nil), n, in, []int{0}, nil)
					})
				}
			}
		}
	}
	// noop_with_empty_axes: identity.
	for _, op := range []string{"ReduceMean", "ReduceMax", "ReduceL2"} {
		n, in := nmgRedCase(t, op, 18, nil, 1, 1, randF64(rng, 2, 3))
		gradCheck(t, n, in, []int{0}, 1e-5)
	}
	n, in := nmgRedCase(t, "ReduceSum", 13, []int{}, 0, 1, randF64(rng, 3, 2))
	gradCheck(t, n, in, []int{0}, 1e-5)
	// Products with zeros: one zero (gradient = product of the others) and
	// two zeros (all zero).
	x := randF64(rng, 3, 4)
	x.F64[5] = 0
	x.F64[8], x.F64[9] = 0, 0
	n, in = nmgRedCase(t, "ReduceProd", 11, []int{1}, 1, 0, x)
	gradCheck(t, n, in, []int{0}, 1e-5)
	// Large inputs (parallel layouts).
	for _, op := range []string{"ReduceMean", "ReduceMax", "ReduceLogSumExp"} {
		for _, axes := range [][]int{{-1}, {0}, {1}, {0, 2}} {
			n, in := nmgRedCase(t, op, 13, axes, 1, 0, randF64(rng, 40, 30, 50))
			gradCheck(t, n, in, []int{0}, 1e-5)
			nmgCompare32(t, NewContext(nil), n, in, []int{0}, nil)
		}
	}
}

// TestNmgReduceMaxTies checks that ties route the gradient to the first
// maximum only.
func TestNmgReduceMaxTies(t *testing.T) {
	n := gradTestNode(t, "ReduceMax", 13, map[string]any{"axes": []int{1}, "keepdims": 0}, 1, 1)
	x := &Tensor{DType: Float64, Shape: []int{2, 3}, F64: []float64{1, 5, 5, 7, 2, 7}}
	out, err := n.Op.Run(NewContext(nil), []*Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	dy := &Tensor{DType: Float64, Shape: []int{2}, F64: []float64{10, 20}}
	d, err := Backward(NewContext(nil), n, []*Tensor{x}, out, []*Tensor{dy}, []bool{true})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0, 10, 0, 20, 0, 0}
	for i, v := range want {
		if d[0].F64[i] != v {
			t.Fatalf("gradient %v, want %v", d[0].F64, want)
		}
	}
}

func TestNmgDropout(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	seed := func(ctx *Context) func() {
		return func() { ctx.Rand = rand.New(rand.NewSource(7)) }
	}
	ratio := &Tensor{DType: Float64, Shape: []int{}, F64: []float64{0.3}}
	on := &Tensor{DType: Bool, Shape: []int{}, Bool: []bool{true}}
	// Inference: identity, for every opset.
	for _, opset := range []int{7, 10, 12, 13} {
		n := gradTestNode(t, "Dropout", opset, nil, 1, 2)
		gradCheck(t, n, []*Tensor{randF64(rng, 3, 4)}, []int{0}, 1e-5)
	}
	// Context training, ratio attribute (opset 7 and 10), with and without
	// the mask output.
	for _, opset := range []int{7, 10} {
		for nOut := 1; nOut <= 2; nOut++ {
			ctx := &Context{Context: NewContext(nil).Context, Training: true}
			n := gradTestNode(t, "Dropout", opset, map[string]any{"ratio": 0.4}, 1, nOut)
			in := []*Tensor{randF64(rng, 5, 7)}
			nmgGradCheckCtx(t, ctx, n, in, []int{0}, 1e-5, seed(ctx))
			nmgCompare32(t, ctx, n, in, []int{0}, seed(ctx))
		}
	}
	// Opset 13: ratio and training_mode inputs.
	for nOut := 1; nOut <= 2; nOut++ {
		ctx := NewContext(nil)
		n := gradTestNode(t, "Dropout", 13, nil, 3, nOut)
		in := []*Tensor{randF64(rng, 4, 6, 3), ratio, on}
		nmgGradCheckCtx(t, ctx, n, in, []int{0}, 1e-5, seed(ctx))
	}
	// Without the mask output an exact zero input gets the expected
	// gradient dY (kept or dropped cannot be told); with it, the exact
	// gradient 1/(1-ratio) or 0.
	for nOut := 1; nOut <= 2; nOut++ {
		ctx := NewContext(nil)
		ctx.Rand = rand.New(rand.NewSource(1))
		n := gradTestNode(t, "Dropout", 13, nil, 3, nOut)
		x := &Tensor{DType: Float64, Shape: []int{64}, F64: make([]float64, 64)}
		in := []*Tensor{x, ratio, on}
		out, err := n.Op.Run(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		dy := New(Float64, 64)
		for i := range dy.F64 {
			dy.F64[i] = 1
		}
		d, err := Backward(ctx, n, in, out, []*Tensor{dy, nil}, []bool{true, false, false})
		if err != nil {
			t.Fatal(err)
		}
		kept := 0
		for i, v := range d[0].F64 {
			switch {
			case nOut == 1 && v != 1:
				t.Fatalf("no mask: gradient %g at zero input %d, want 1", v, i)
			case nOut == 2 && out[1].Bool[i] && math.Abs(v-1/0.7) > 1e-12:
				t.Fatalf("mask: kept element %d has gradient %g, want %g", i, v, 1/0.7)
			case nOut == 2 && !out[1].Bool[i] && v != 0:
				t.Fatalf("mask: dropped element %d has gradient %g", i, v)
			}
			if v != 0 {
				kept++
			}
		}
		if nOut == 2 && (kept == 0 || kept == 64) {
			t.Fatalf("mask kept %d of 64 elements", kept)
		}
	}
}

func TestNmgArgNoGrad(t *testing.T) {
	for _, op := range []string{"ArgMax", "ArgMin", "Hardmax"} {
		n := gradTestNode(t, op, 13, nil, 1, 1)
		if !HasGradient(n) {
			t.Fatalf("%s has no gradient", op)
		}
		d, err := Backward(NewContext(nil), n, []*Tensor{randF64(rand.New(rand.NewSource(1)), 2, 3)}, []*Tensor{nil}, []*Tensor{nil}, []bool{true})
		if err != nil || len(d) != 1 || d[0] != nil {
			t.Fatalf("%s: gradient %v, %v", op, d, err)
		}
	}
}

func TestNmgInstanceGroupNorm(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	for rank := 2; rank <= 5; rank++ {
		shape := nmgRandShape(rng, rank, 2, 4)
		C := shape[1]
		t.Run(fmt.Sprintf("instance_%v", shape), func(t *testing.T) {
			n := gradTestNode(t, "InstanceNormalization", 6, map[string]any{"epsilon": 1e-3}, 3, 1)
			in := []*Tensor{randF64(rng, shape...), randF64(rng, C), randF64(rng, C)}
			gradCheck(t, n, in, []int{0, 1, 2}, 1e-5)
			nmgCompare32(t, NewContext(nil), n, in, []int{0, 1, 2}, nil)
		})
	}
	for _, opset := range []int{18, 21} {
		for _, g := range []int{1, 2, 3, 6} {
			shape := []int{2, 6, 2 + rng.Intn(3), 3}
			np := 6
			if opset < 21 {
				np = g
			}
			t.Run(fmt.Sprintf("group_opset%d_G%d_%v", opset, g, shape), func(t *testing.T) {
				n := gradTestNode(t, "GroupNormalization", opset, map[string]any{"num_groups": g}, 3, 1)
				in := []*Tensor{randF64(rng, shape...), randF64(rng, np), randF64(rng, np)}
				gradCheck(t, n, in, []int{0, 1, 2}, 1e-5)
				nmgCompare32(t, NewContext(nil), n, in, []int{0, 1, 2}, nil)
			})
		}
	}
	// Large (parallel) and offset mean (float32 cancellation).
	n := gradTestNode(t, "InstanceNormalization", 6, nil, 3, 1)
	x := randF64(rng, 4, 16, 32, 32)
	for i := range x.F64 {
		x.F64[i] = 3 + 0.5*x.F64[i]
	}
	in := []*Tensor{x, randF64(rng, 16), randF64(rng, 16)}
	gradCheck(t, n, in, []int{0, 1, 2}, 1e-5)
	nmgCompare32(t, NewContext(nil), n, in, []int{0, 1, 2}, nil)
}

func TestNmgLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for rank := 1; rank <= 4; rank++ {
		shape := nmgRandShape(rng, rank, 2, 5)
		for axis := -rank; axis < rank; axis++ {
			a, _ := normAxis(axis, rank)
			ns := shape[a:]
			for nOut := 1; nOut <= 3; nOut += 2 {
				for _, bias := range []bool{true, false} {
					t.Run(fmt.Sprintf("%v_axis%d_out%d_bias%v", shape, axis, nOut, bias), func(t *testing.T) {
						n := gradTestNode(t, "LayerNormalization", 17, map[string]any{"axis": axis, "epsilon": 1e-3}, 3, nOut)
						in := []*Tensor{randF64(rng, shape...), randF64(rng, ns...), randF64(rng, ns...)}
						wrt := []int{0, 1, 2}
						if !bias {
							in[2], wrt = nil, []int{0, 1}
						}
						gradCheck(t, n, in, wrt, 1e-5)
						nmgCompare32(t, NewContext(nil), n, in, wrt, nil)
					})
				}
			}
		}
	}
	// Parameters that broadcast to the normalized shape, and parameters
	// with the same element count but another shape.
	n := gradTestNode(t, "LayerNormalization", 17, map[string]any{"axis": 1}, 3, 1)
	in := []*Tensor{randF64(rng, 2, 3, 4), randF64(rng, 4), randF64(rng, 1, 4)}
	gradCheck(t, n, in, []int{0, 1, 2}, 1e-5)
	in = []*Tensor{randF64(rng, 2, 3, 4), randF64(rng, 12), randF64(rng, 1, 3, 4)}
	gradCheck(t, n, in, []int{0, 1, 2}, 1e-5)
	// Large (parallel accumulation of the parameter gradients).
	n = gradTestNode(t, "LayerNormalization", 17, nil, 3, 3)
	x := randF64(rng, 8, 64, 96)
	for i := range x.F64 {
		x.F64[i] = 2 + x.F64[i]
	}
	in = []*Tensor{x, randF64(rng, 96), randF64(rng, 96)}
	gradCheck(t, n, in, []int{0, 1, 2}, 1e-5)
	nmgCompare32(t, NewContext(nil), n, in, []int{0, 1, 2}, nil)
}

func TestNmgRMSNorm(t *testing.T) {
	rng := rand.New(rand.NewSource(10))
	for rank := 1; rank <= 4; rank++ {
		shape := nmgRandShape(rng, rank, 2, 5)
		for axis := -rank; axis < rank; axis++ {
			a, _ := normAxis(axis, rank)
			t.Run(fmt.Sprintf("%v_axis%d", shape, axis), func(t *testing.T) {
				n := gradTestNode(t, "RMSNormalization", 23, map[string]any{"axis": axis}, 2, 1)
				in := []*Tensor{randF64(rng, shape...), randF64(rng, shape[a:]...)}
				gradCheck(t, n, in, []int{0, 1}, 1e-5)
				nmgCompare32(t, NewContext(nil), n, in, []int{0, 1}, nil)
			})
		}
	}
	n := gradTestNode(t, "RMSNormalization", 23, nil, 2, 1)
	in := []*Tensor{randF64(rng, 16, 40, 128), randF64(rng, 128)}
	gradCheck(t, n, in, []int{0, 1}, 1e-5)
	nmgCompare32(t, NewContext(nil), n, in, []int{0, 1}, nil)
}

func TestNmgMVNLp(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for _, axes := range [][]int{nil, {1}, {-1}, {0, 1, 2, 3}, {2, 3}, {0, 2}} {
		t.Run(fmt.Sprintf("mvn_%v", axes), func(t *testing.T) {
			attrs := map[string]any{}
			if axes != nil {
				attrs["axes"] = axes
			}
			n := gradTestNode(t, "MeanVarianceNormalization", 13, attrs, 1, 1)
			in := []*Tensor{randF64(rng, 3, 2, 3, 4)}
			gradCheck(t, n, in, []int{0}, 1e-5)
			nmgCompare32(t, NewContext(nil), n, in, []int{0}, nil)
		})
	}
	for _, p := range []int{1, 2} {
		for axis := -3; axis < 3; axis++ {
			t.Run(fmt.Sprintf("lp%d_axis%d", p, axis), func(t *testing.T) {
				n := gradTestNode(t, "LpNormalization", 1, map[string]any{"p": p, "axis": axis}, 1, 1)
				x := randF64(rng, 3, 4, 5)
				for i, v := range x.F64 {
					if math.Abs(v) < 0.05 {
						x.F64[i] = 0.3
					}
				}
				in := []*Tensor{x}
				gradCheck(t, n, in, []int{0}, 1e-5)
				nmgCompare32(t, NewContext(nil), n, in, []int{0}, nil)
			})
		}
	}
}

// A small network in training mode, differentiated on the tape: the batch
// normalization uses batch statistics and updates its running statistics
// in place during Forward; parameter gradients match finite differences.
func TestNmgTape(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	reg := Standard()
	node := func(op string, opset int, attrs map[string]any, ins, outs []string) *Node {
		n := gradTestNode(t, op, opset, attrs, len(ins), len(outs))
		n.Name = op + "_" + outs[0]
		n.Inputs, n.Outputs = ins, outs
		if err := reg.Build(n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	g := &Graph{
		Inputs:  []ValueInfo{{Name: "x", DType: Float64}},
		Outputs: []ValueInfo{{Name: "loss"}},
	}
	C := 3
	params := map[string]*Tensor{
		"scale": randF64(rng, C), "bias": randF64(rng, C),
		"mean": randF64(rng, C), "var": nmgPos(rng, 0.5, C),
		"ln_s": randF64(rng, 5), "ln_b": randF64(rng, 5),
	}
	for _, name := range []string{"scale", "bias", "mean", "var", "ln_s", "ln_b"} {
		g.AddParam(&Param{Name: name, Value: params[name]})
	}
	g.Nodes = []*Node{
		node("BatchNormalization", 15, nil, []string{"x", "scale", "bias", "mean", "var"}, []string{"bn"}),
		node("LayerNormalization", 17, nil, []string{"bn", "ln_s", "ln_b"}, []string{"ln"}),
		node("LogSoftmax", 13, map[string]any{"axis": 1}, []string{"ln"}, []string{"ls"}),
		node("ReduceMean", 13, map[string]any{"keepdims": 0}, []string{"ls"}, []string{"loss"}),
	}
	wrt := []string{"scale", "bias", "ln_s", "ln_b", "mean", "var", "x"}
	if err := g.NonDifferentiable(wrt[:4], nil); err != nil {
		t.Fatal(err)
	}
	ctx := &Context{Context: NewContext(nil).Context, Training: true}
	x := randF64(rng, 4, C, 5)
	mean0 := params["mean"].Clone()
	tp, outs, err := g.Forward(ctx, map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	if params["mean"].F64[0] == mean0.F64[0] {
		t.Fatalf("running mean was not updated in training mode")
	}
	seed := &Tensor{DType: Float64, Shape: []int{}, F64: []float64{1}}
	if outs["loss"].Len() != 1 {
		t.Fatalf("loss shape %v", outs["loss"].Shape)
	}
	grads, err := tp.Backward(ctx, map[string]*Tensor{"loss": seed}, wrt)
	if err != nil {
		t.Fatal(err)
	}
	if grads["mean"] != nil || grads["var"] != nil {
		t.Fatalf("running statistics got gradients")
	}
	loss := func() float64 {
		o, err := g.Run(ctx, map[string]*Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		return o["loss"].F64[0]
	}
	const eps = 1e-6
	for _, name := range wrt[:4] {
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

func TestNmgBatchNormSpatial0Training(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	ctx := &Context{Context: NewContext(nil).Context, Training: true}
	n := gradTestNode(t, "BatchNormalization", 7, map[string]any{"spatial": 0}, 5, 1)
	F := 2 * 3
	in := []*Tensor{randF64(rng, 4, 2, 3), randF64(rng, 2, 3), randF64(rng, 2, 3), randF64(rng, F), nmgPos(rng, 0.5, F)}
	nmgGradCheckCtx(t, ctx, n, in, []int{0, 1, 2}, 1e-5, nil)
}

// Half-precision data (stored as float32) gets half-precision gradients
// close to the float64 ones.
func TestNmgFloat16(t *testing.T) {
	rng := rand.New(rand.NewSource(14))
	half := func(x *Tensor) *Tensor {
		y := nmgTo32(x)
		y.DType = Float16
		y.RoundToDType()
		return y
	}
	cases := []struct {
		op    string
		opset int
		attrs map[string]any
		in    []*Tensor
	}{
		{"BatchNormalization", 15, nil, []*Tensor{randF64(rng, 2, 3, 4), randF64(rng, 3), randF64(rng, 3), randF64(rng, 3), nmgPos(rng, 0.5, 3)}},
		{"LayerNormalization", 17, nil, []*Tensor{randF64(rng, 3, 8), randF64(rng, 8), randF64(rng, 8)}},
		{"Softmax", 13, nil, []*Tensor{randF64(rng, 3, 8)}},
		{"ReduceMean", 13, map[string]any{"axes": []int{1}}, []*Tensor{randF64(rng, 3, 8)}},
	}
	for _, c := range cases {
		n := gradTestNode(t, c.op, c.opset, c.attrs, len(c.in), 1)
		in16 := make([]*Tensor, len(c.in))
		in64 := make([]*Tensor, len(c.in))
		for i, x := range c.in {
			in16[i] = half(x)
			in64[i] = New(Float64, x.Shape...)
			for j, v := range in16[i].F32 {
				in64[i].F64[j] = float64(v)
			}
		}
		need := make([]bool, len(c.in))
		need[0] = true
		var grads [2]*Tensor
		for k, args := range [][]*Tensor{in64, in16} {
			out, err := n.Op.Run(NewContext(nil), args)
			if err != nil {
				t.Fatal(err)
			}
			dy := New(out[0].DType, out[0].Shape...)
			for i := 0; i < dy.Len(); i++ {
				v := float64(i%5) - 2
				if dy.F64 != nil {
					dy.F64[i] = v
				} else {
					dy.F32[i] = float32(v)
				}
			}
			d, err := Backward(NewContext(nil), n, args, out, []*Tensor{dy}, need)
			if err != nil {
				t.Fatal(err)
			}
			grads[k] = d[0]
		}
		if grads[1].DType != Float16 {
			t.Fatalf("%s: float16 input got a %v gradient", c.op, grads[1].DType)
		}
		for i, v := range grads[0].F64 {
			if math.Abs(float64(grads[1].F32[i])-v) > 2e-2*(1+math.Abs(v)) {
				t.Fatalf("%s: float16 gradient[%d] %g, float64 %g", c.op, i, grads[1].F32[i], v)
			}
		}
	}
}
