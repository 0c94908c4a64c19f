package nn

import (
	"math"
	"testing"
)

// normRun builds a node of the norm family and runs it once.
func normRun(t *testing.T, typ string, opset int, attrs []*Attr, nOut int, ctx *Context, in ...*Tensor) ([]*Tensor, error) {
	t.Helper()
	n := &Node{OpType: typ, Opset: opset, Attrs: map[string]*Attr{}}
	for i := range in {
		if in[i] == nil {
			n.Inputs = append(n.Inputs, "")
		} else {
			n.Inputs = append(n.Inputs, string(rune('a'+i)))
		}
	}
	for i := 0; i < nOut; i++ {
		n.Outputs = append(n.Outputs, string(rune('p'+i)))
	}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	reg := NewRegistry(normOps())
	if err := reg.Build(n); err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = NewContext(nil)
	}
	return n.Op.Run(ctx, in)
}

// normMust is normRun that fails the test on error.
func normMust(t *testing.T, typ string, opset int, attrs []*Attr, nOut int, ctx *Context, in ...*Tensor) []*Tensor {
	t.Helper()
	out, err := normRun(t, typ, opset, attrs, nOut, ctx, in...)
	if err != nil {
		t.Fatalf("%s opset %d: %v", typ, opset, err)
	}
	if len(out) != nOut {
		t.Fatalf("%s: %d outputs, want %d", typ, len(out), nOut)
	}
	return out
}

func normAI(name string, v int64) *Attr { return &Attr{Name: name, Type: AttrInt, I: v} }
func normAF(name string, v float32) *Attr {
	return &Attr{Name: name, Type: AttrFloat, F: v}
}
func normAInts(name string, v ...int64) *Attr { return &Attr{Name: name, Type: AttrInts, Ints: v} }

// normCheck compares a tensor's shape and values with want.
func normCheck(t *testing.T, what string, got *Tensor, shape []int, want []float64, tol float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil tensor", what)
	}
	if !SameShape(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, shape)
	}
	if got.Len() != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, got.Len(), len(want))
	}
	for i, w := range want {
		g := got.Float64At(i)
		if math.IsNaN(w) && math.IsNaN(g) {
			continue
		}
		if math.IsInf(w, 0) && g == w {
			continue
		}
		if math.Abs(g-w) > tol*(1+math.Abs(w)) {
			t.Fatalf("%s: element %d = %v, want %v (all: got %v)", what, i, g, w, normVals(got))
		}
	}
}

func normVals(t *Tensor) []float64 {
	v := make([]float64, t.Len())
	for i := range v {
		v[i] = t.Float64At(i)
	}
	return v
}

func normF32(shape []int, v ...float32) *Tensor { return FromFloat32(v, shape...) }

func normI64(shape []int, v ...int64) *Tensor { return FromInt64(v, shape...) }

func normSeq(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)
	}
	return v
}
