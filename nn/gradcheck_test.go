package nn

import (
	"math"
	"math/rand"
	"testing"
)

// gradTestNode builds a node of the standard registry for gradient checks.
// attrs values may be int, int64, float32, float64, string, []int,
// []int64, []float32 or *Tensor.
// graphTestNode builds node op like gradTestNode, named after its first
// output, reading ins and writing outs.
func graphTestNode(t *testing.T, op string, opset int, attrs map[string]any, ins, outs []string) *Node {
	t.Helper()
	n := gradTestNode(t, op, opset, attrs, len(ins), len(outs))
	n.Name = op + "_" + outs[0]
	n.Inputs, n.Outputs = ins, outs
	return n
}

func gradTestNode(t *testing.T, opType string, opset int, attrs map[string]any, nIn, nOut int) *Node {
	t.Helper()
	n := &Node{Name: "under_test", OpType: opType, Opset: opset, Attrs: map[string]*Attr{}}
	for i := 0; i < nIn; i++ {
		n.Inputs = append(n.Inputs, "in"+string(rune('0'+i)))
	}
	for i := 0; i < nOut; i++ {
		n.Outputs = append(n.Outputs, "out"+string(rune('0'+i)))
	}
	for k, v := range attrs {
		a := &Attr{Name: k}
		switch v := v.(type) {
		case int:
			a.Type, a.I = AttrInt, int64(v)
		case int64:
			a.Type, a.I = AttrInt, v
		case float32:
			a.Type, a.F = AttrFloat, v
		case float64:
			a.Type, a.F = AttrFloat, float32(v)
		case string:
			a.Type, a.S = AttrString, v
		case []int:
			a.Type = AttrInts
			for _, x := range v {
				a.Ints = append(a.Ints, int64(x))
			}
		case []int64:
			a.Type, a.Ints = AttrInts, v
		case []float32:
			a.Type, a.Floats = AttrFloats, v
		case *Tensor:
			a.Type, a.T = AttrTensor, v
		default:
			t.Fatalf("attribute %s: unsupported Go type %T", k, v)
		}
		n.Attrs[k] = a
		n.AttrOrder = append(n.AttrOrder, k)
	}
	if err := Standard().Build(n); err != nil {
		t.Fatal(err)
	}
	return n
}

// randF64 returns a float64 tensor with normal entries (seeded).
func randF64(rng *rand.Rand, shape ...int) *Tensor {
	x := New(Float64, shape...)
	for i := range x.F64 {
		x.F64[i] = rng.NormFloat64()
	}
	return x
}

// gradCheck compares n's Backward with central finite differences on the
// scalar loss L = Σ_k Σ out_k·R_k (R_k fixed random), evaluated in float64.
// Inputs listed in wrt must be Float64 tensors. At most 120 elements per
// input are probed (chosen at random). An element passes when
// |analytic - numeric| <= 1e-6 + tol·|numeric|.
func gradCheck(t *testing.T, n *Node, in []*Tensor, wrt []int, tol float64) {
	t.Helper()
	gradCheckCtx(t, NewContext(nil), n, in, wrt, tol, nil)
}

// gradCheckCtx is gradCheck with a caller's context; reset (may be nil)
// runs before every forward evaluation (e.g. to reseed the random source so
// dropout draws the same mask each time).
func gradCheckCtx(t *testing.T, ctx *Context, n *Node, in []*Tensor, wrt []int, tol float64, reset func()) {
	t.Helper()
	const eps = 1e-6
	const maxElems = 120
	if reset == nil {
		reset = func() {}
	}
	reset()
	out, err := n.Op.Run(ctx, in)
	if err != nil {
		t.Fatalf("%s forward: %v", n.OpType, err)
	}
	rng := rand.New(rand.NewSource(42))
	R := make([]*Tensor, len(out))
	for k, o := range out {
		if o != nil && o.DType == Float64 {
			R[k] = randF64(rng, o.Shape...)
		}
	}
	loss := func(args []*Tensor) float64 {
		reset()
		o, err := n.Op.Run(ctx, args)
		if err != nil {
			t.Fatalf("%s forward: %v", n.OpType, err)
		}
		s := 0.0
		for k := range o {
			if R[k] == nil {
				continue
			}
			for i, v := range o[k].F64 {
				s += v * R[k].F64[i]
			}
		}
		return s
	}
	need := make([]bool, len(in))
	for _, i := range wrt {
		need[i] = true
	}
	dIn, err := Backward(ctx, n, in, out, R, need)
	if err != nil {
		t.Fatalf("%s backward: %v", n.OpType, err)
	}
	for _, i := range wrt {
		if i >= len(dIn) || dIn[i] == nil {
			t.Fatalf("%s: no gradient for input %d", n.OpType, i)
		}
		g := dIn[i]
		if g.DType != Float64 || !SameShape(g.Shape, in[i].Shape) {
			t.Fatalf("%s: gradient of input %d is %v, input is %v", n.OpType, i, g, in[i])
		}
		idx := rng.Perm(in[i].Len())
		if len(idx) > maxElems {
			idx = idx[:maxElems]
		}
		bad := 0
		for _, e := range idx {
			args := append([]*Tensor{}, in...)
			x := in[i].Clone()
			args[i] = x
			orig := x.F64[e]
			x.F64[e] = orig + eps
			lp := loss(args)
			x.F64[e] = orig - eps
			lm := loss(args)
			num := (lp - lm) / (2 * eps)
			ana := g.F64[e]
			if math.Abs(ana-num) > 1e-6+tol*math.Abs(num) {
				if bad < 5 {
					t.Errorf("%s: d/d input %d [%d]: analytic %.8g, numeric %.8g", n.OpType, i, e, ana, num)
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d probed gradient elements of input %d are off", n.OpType, bad, len(idx), i)
		}
	}
}
