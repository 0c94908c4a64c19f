package nn

import (
	"math"
	"strings"
	"testing"
)

// shpTestNode builds a node of the given type and opset with attributes.
func shpTestNode(typ string, opset int, nOut int, attrs ...*Attr) *Node {
	n := &Node{OpType: typ, Opset: opset, Attrs: map[string]*Attr{}}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	for i := 0; i < nOut; i++ {
		n.Outputs = append(n.Outputs, "y")
	}
	return n
}

func shpAInt(name string, v int64) *Attr { return &Attr{Name: name, Type: AttrInt, I: v} }
func shpAInts(name string, v ...int64) *Attr {
	return &Attr{Name: name, Type: AttrInts, Ints: v}
}
func shpAStr(name, v string) *Attr { return &Attr{Name: name, Type: AttrString, S: v} }
func shpAFloat(name string, v float32) *Attr {
	return &Attr{Name: name, Type: AttrFloat, F: v}
}

func shpRunNode(t *testing.T, n *Node, in ...*Tensor) ([]*Tensor, error) {
	t.Helper()
	if err := Standard().Build(n); err != nil {
		return nil, err
	}
	return n.Op.Run(NewContext(nil), in)
}

func shpMust(t *testing.T, n *Node, in ...*Tensor) []*Tensor {
	t.Helper()
	out, err := shpRunNode(t, n, in...)
	if err != nil {
		t.Fatalf("%s: %v", n.OpType, err)
	}
	return out
}

func shpF(shape []int, v ...float32) *Tensor { return FromFloat32(v, shape...) }
func shpI(shape []int, v ...int64) *Tensor   { return FromInt64(v, shape...) }
func shpIv(v ...int64) *Tensor               { return FromInt64(v, len(v)) }

func shpExpect(t *testing.T, what string, got *Tensor, shape []int, want []float64) {
	t.Helper()
	if !SameShape(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, shape)
	}
	for i, w := range want {
		g := got.Float64At(i)
		if math.Abs(g-w) > 1e-5+1e-5*math.Abs(w) {
			t.Fatalf("%s: element %d = %v, want %v (got %v)", what, i, g, w, shpVals(got))
		}
	}
}

func shpVals(t *Tensor) []float64 {
	out := make([]float64, t.Len())
	for i := range out {
		out[i] = t.Float64At(i)
	}
	return out
}

func shpWantErr(t *testing.T, err error, sub string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), sub) {
		t.Fatalf("error %v, want one containing %q", err, sub)
	}
}

// shpAllKinds returns x converted to each storage kind (values 0..n-1 kept).
func shpAllKinds(shape []int) []*Tensor {
	n := NumElements(shape)
	var out []*Tensor
	for _, dt := range []DType{Float32, Float64, Int32, Bool, Float16} {
		x := New(dt, shape...)
		for i := 0; i < n; i++ {
			v := float64(i)
			if dt == Bool {
				v = float64(i % 2)
			}
			shpSetFrom(x, i, &Tensor{DType: Float64, Shape: []int{}, F64: []float64{v}}, 0)
		}
		out = append(out, x)
	}
	return out
}

func TestShapeTransposeAllKinds(t *testing.T) {
	for _, x := range shpAllKinds([]int{2, 3, 4}) {
		y := shpMust(t, shpTestNode("Transpose", 13, 1, shpAInts("perm", 2, 0, 1)), x)[0]
		if y.DType != x.DType || !SameShape(y.Shape, []int{4, 2, 3}) {
			t.Fatalf("%v: got %v", x, y)
		}
		for c := 0; c < 4; c++ {
			for a := 0; a < 2; a++ {
				for b := 0; b < 3; b++ {
					if y.Float64At(c*6+a*3+b) != x.Float64At(a*12+b*4+c) {
						t.Fatalf("%v: wrong element at %d,%d,%d", x, c, a, b)
					}
				}
			}
		}
	}
	// Default perm reverses; a big 2-D transpose exercises the blocked path.
	x := New(Float32, 37, 45)
	for i := range x.F32 {
		x.F32[i] = float32(i)
	}
	y := shpMust(t, shpTestNode("Transpose", 13, 1), x)[0]
	for i := 0; i < 37; i++ {
		for j := 0; j < 45; j++ {
			if y.F32[j*37+i] != x.F32[i*45+j] {
				t.Fatalf("blocked transpose wrong at %d,%d", i, j)
			}
		}
	}
	// NCHW -> NHWC
	x = New(Int64, 2, 3, 10, 11)
	for i := range x.I64 {
		x.I64[i] = int64(i)
	}
	y = shpMust(t, shpTestNode("Transpose", 13, 1, shpAInts("perm", 0, 2, 3, 1)), x)[0]
	for n := 0; n < 2; n++ {
		for c := 0; c < 3; c++ {
			for h := 0; h < 10; h++ {
				for w := 0; w < 11; w++ {
					if y.I64[((n*10+h)*11+w)*3+c] != x.I64[((n*3+c)*10+h)*11+w] {
						t.Fatalf("NHWC transpose wrong")
					}
				}
			}
		}
	}
	_, err := shpRunNode(t, shpTestNode("Transpose", 13, 1, shpAInts("perm", 0, 0, 1, 2)), x)
	shpWantErr(t, err, "not a permutation")
}

func TestShapeReshape(t *testing.T) {
	x := shpF([]int{2, 3, 4}, make([]float32, 24)...)
	y := shpMust(t, shpTestNode("Reshape", 14, 1), x, shpIv(0, -1))[0]
	shpExpect(t, "reshape 0,-1", y, []int{2, 12}, nil)
	y = shpMust(t, shpTestNode("Reshape", 14, 1, shpAInt("allowzero", 1)), New(Float32, 0, 3), shpIv(3, 0))[0]
	shpExpect(t, "allowzero", y, []int{3, 0}, nil)
	_, err := shpRunNode(t, shpTestNode("Reshape", 14, 1), x, shpIv(5, -1))
	shpWantErr(t, err, "cannot reshape")
	_, err = shpRunNode(t, shpTestNode("Reshape", 14, 1), x, shpIv(-1, -1))
	shpWantErr(t, err, "more than one -1")
	y = shpMust(t, shpTestNode("Reshape", 1, 1, shpAInts("shape", 4, -1)), x)[0]
	shpExpect(t, "reshape-1", y, []int{4, 6}, nil)

	// Batch relaxation: a [1,256] target on a batch of 3.
	n := shpTestNode("Reshape", 13, 1)
	n.RelaxBatch = true
	y = shpMust(t, n, New(Float32, 3, 16, 4, 4), shpIv(1, 256))[0]
	shpExpect(t, "relax", y, []int{3, 256}, nil)
	n = shpTestNode("Reshape", 13, 1)
	n.RelaxBatch = true
	y = shpMust(t, n, New(Float32, 3, 16, 4, 4), shpIv(1, -1, 16))[0]
	shpExpect(t, "relax -1", y, []int{3, 16, 16}, nil)
	n = shpTestNode("Reshape", 13, 1)
	n.RelaxBatch = true
	y = shpMust(t, n, New(Float32, 1, 16, 4, 4), shpIv(1, 256))[0]
	shpExpect(t, "relax batch 1", y, []int{1, 256}, nil)
	// Without the flag the count mismatch is an error.
	_, err = shpRunNode(t, shpTestNode("Reshape", 13, 1), New(Float32, 3, 16, 4, 4), shpIv(1, 256))
	shpWantErr(t, err, "cannot reshape")
}

func TestShapeFlattenSqueezeUnsqueeze(t *testing.T) {
	x := New(Bool, 2, 1, 3, 1)
	y := shpMust(t, shpTestNode("Flatten", 13, 1, shpAInt("axis", -2)), x)[0]
	shpExpect(t, "flatten", y, []int{2, 3}, nil)
	y = shpMust(t, shpTestNode("Squeeze", 13, 1), x)[0]
	shpExpect(t, "squeeze all", y, []int{2, 3}, nil)
	y = shpMust(t, shpTestNode("Squeeze", 13, 1), x, shpIv(-1))[0]
	shpExpect(t, "squeeze -1", y, []int{2, 1, 3}, nil)
	y = shpMust(t, shpTestNode("Squeeze", 11, 1, shpAInts("axes", 1)), x)[0]
	shpExpect(t, "squeeze-11", y, []int{2, 3, 1}, nil)
	_, err := shpRunNode(t, shpTestNode("Squeeze", 13, 1), x, shpIv(0))
	shpWantErr(t, err, "not 1")
	y = shpMust(t, shpTestNode("Unsqueeze", 13, 1), New(Float32, 3, 4), shpIv(3, -5, 1))[0]
	shpExpect(t, "unsqueeze", y, []int{1, 1, 3, 1, 4}, nil)
	y = shpMust(t, shpTestNode("Unsqueeze", 11, 1, shpAInts("axes", 0)), New(Float32, 3))[0]
	shpExpect(t, "unsqueeze-11", y, []int{1, 3}, nil)
	_, err = shpRunNode(t, shpTestNode("Unsqueeze", 13, 1), New(Float32, 3), shpIv(2))
	shpWantErr(t, err, "out of range")
}

func TestShapeConcatSplit(t *testing.T) {
	a := shpI([]int{2, 2}, 1, 2, 3, 4)
	b := shpI([]int{2, 1}, 5, 6)
	y := shpMust(t, shpTestNode("Concat", 13, 1, shpAInt("axis", -1)), a, b)[0]
	shpExpect(t, "concat", y, []int{2, 3}, []float64{1, 2, 5, 3, 4, 6})
	if y.DType != Int64 {
		t.Fatal("dtype lost")
	}
	_, err := shpRunNode(t, shpTestNode("Concat", 13, 1, shpAInt("axis", 0)), a, b)
	shpWantErr(t, err, "differ on axis 1")

	x := shpF([]int{7}, 0, 1, 2, 3, 4, 5, 6)
	outs := shpMust(t, shpTestNode("Split", 18, 3, shpAInt("num_outputs", 3)), x)
	shpExpect(t, "split0", outs[0], []int{3}, []float64{0, 1, 2})
	shpExpect(t, "split2", outs[2], []int{1}, []float64{6})
	outs = shpMust(t, shpTestNode("Split", 13, 2), x, shpIv(2, 5))
	shpExpect(t, "split in1", outs[1], []int{5}, []float64{2, 3, 4, 5, 6})
	outs = shpMust(t, shpTestNode("Split", 11, 2, shpAInts("split", 4, 3)), x)
	shpExpect(t, "split attr", outs[0], []int{4}, []float64{0, 1, 2, 3})
	x2 := shpF([]int{2, 4}, 0, 1, 2, 3, 4, 5, 6, 7)
	outs = shpMust(t, shpTestNode("Split", 13, 2, shpAInt("axis", 1)), x2)
	shpExpect(t, "split axis1", outs[1], []int{2, 2}, []float64{2, 3, 6, 7})
	_, err = shpRunNode(t, shpTestNode("Split", 13, 2), x, shpIv(2, 4))
	shpWantErr(t, err, "sums to 6")
}

func TestShapeSlice(t *testing.T) {
	x := New(Float64, 3, 4)
	for i := range x.F64 {
		x.F64[i] = float64(i)
	}
	y := shpMust(t, shpTestNode("Slice", 13, 1), x, shpIv(1, 0), shpIv(3, 4), shpIv(0, 1), shpIv(1, 2))[0]
	shpExpect(t, "slice", y, []int{2, 2}, []float64{4, 6, 8, 10})
	// Negative step over the whole axis with INT64 sentinels.
	y = shpMust(t, shpTestNode("Slice", 13, 1), x, shpIv(math.MaxInt64), shpIv(math.MinInt64), shpIv(1), shpIv(-1))[0]
	shpExpect(t, "reverse", y, []int{3, 4}, []float64{3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8})
	y = shpMust(t, shpTestNode("Slice", 13, 1), x, shpIv(-1), shpIv(-100), shpIv(0), shpIv(-2))[0]
	shpExpect(t, "neg step 2", y, []int{2, 4}, []float64{8, 9, 10, 11, 0, 1, 2, 3})
	y = shpMust(t, shpTestNode("Slice", 13, 1), x, shpIv(2), shpIv(1000), shpIv(-1))[0]
	shpExpect(t, "clamp end", y, []int{3, 2}, []float64{2, 3, 6, 7, 10, 11})
	y = shpMust(t, shpTestNode("Slice", 13, 1), x, shpIv(3), shpIv(1), shpIv(1))[0]
	shpExpect(t, "empty", y, []int{3, 0}, nil)
	y = shpMust(t, shpTestNode("Slice", 1, 1, shpAInts("starts", 1), shpAInts("ends", -1), shpAInts("axes", 1)), x)[0]
	shpExpect(t, "slice-1", y, []int{3, 2}, []float64{1, 2, 5, 6, 9, 10})
	_, err := shpRunNode(t, shpTestNode("Slice", 13, 1), x, shpIv(0), shpIv(1), shpIv(2))
	shpWantErr(t, err, "out of range")
	_, err = shpRunNode(t, shpTestNode("Slice", 13, 1), x, shpIv(0), shpIv(1), shpIv(0), shpIv(0))
	shpWantErr(t, err, "step is 0")
}

func TestShapeGatherScatter(t *testing.T) {
	emb := shpF([]int{3, 2}, 1, 2, 3, 4, 5, 6)
	y := shpMust(t, shpTestNode("Gather", 13, 1), emb, shpI([]int{2, 2}, 2, 0, -1, 1))[0]
	shpExpect(t, "gather", y, []int{2, 2, 2}, []float64{5, 6, 1, 2, 5, 6, 3, 4})
	y = shpMust(t, shpTestNode("Gather", 13, 1, shpAInt("axis", 1)), emb, shpI([]int{}, 1))[0]
	shpExpect(t, "gather scalar", y, []int{3}, []float64{2, 4, 6})
	_, err := shpRunNode(t, shpTestNode("Gather", 13, 1), emb, shpIv(3))
	shpWantErr(t, err, "out of range")

	d := shpI([]int{2, 2}, 1, 2, 3, 4)
	y = shpMust(t, shpTestNode("GatherElements", 13, 1, shpAInt("axis", 1)), d, shpI([]int{2, 2}, 0, 0, 1, 0))[0]
	shpExpect(t, "gatherelements", y, []int{2, 2}, []float64{1, 1, 4, 3})
	_, err = shpRunNode(t, shpTestNode("GatherElements", 13, 1), d, shpI([]int{2, 2}, 0, 2, 0, 0))
	shpWantErr(t, err, "out of range")

	data := shpF([]int{4, 2}, 1, 2, 3, 4, 5, 6, 7, 8)
	idx := shpI([]int{2, 1}, 3, 1)
	upd := shpF([]int{2, 2}, 10, 20, 30, 40)
	y = shpMust(t, shpTestNode("ScatterND", 16, 1), data, idx, upd)[0]
	shpExpect(t, "scatternd", y, []int{4, 2}, []float64{1, 2, 30, 40, 5, 6, 10, 20})
	y = shpMust(t, shpTestNode("ScatterND", 16, 1, shpAStr("reduction", "add")), data, shpI([]int{2, 1}, 1, 1), upd)[0]
	shpExpect(t, "scatternd add", y, []int{4, 2}, []float64{1, 2, 43, 64, 5, 6, 7, 8})
	y = shpMust(t, shpTestNode("ScatterND", 18, 1, shpAStr("reduction", "max")), data, shpI([]int{1, 2}, 0, 1), shpF([]int{1}, -5))[0]
	shpExpect(t, "scatternd max", y, []int{4, 2}, []float64{1, 2, 3, 4, 5, 6, 7, 8})
	y = shpMust(t, shpTestNode("ScatterND", 18, 1, shpAStr("reduction", "min")), data, shpI([]int{1, 2}, 0, 1), shpF([]int{1}, -5))[0]
	shpExpect(t, "scatternd min", y, []int{4, 2}, []float64{1, -5, 3, 4, 5, 6, 7, 8})
	y = shpMust(t, shpTestNode("ScatterND", 18, 1, shpAStr("reduction", "mul")), data, shpI([]int{1, 1}, -4), shpF([]int{1, 2}, 3, 0.5))[0]
	shpExpect(t, "scatternd mul", y, []int{4, 2}, []float64{3, 1, 3, 4, 5, 6, 7, 8})
	if data.F32[0] != 1 {
		t.Fatal("ScatterND modified its input")
	}
	_, err = shpRunNode(t, shpTestNode("ScatterND", 16, 1), data, shpI([]int{1, 1}, 4), shpF([]int{1, 2}, 0, 0))
	shpWantErr(t, err, "out of range")
	_, err = shpRunNode(t, shpTestNode("ScatterND", 16, 1), data, idx, shpF([]int{2, 3}, 0, 0, 0, 0, 0, 0))
	shpWantErr(t, err, "updates shape")

	y = shpMust(t, shpTestNode("ScatterElements", 16, 1, shpAInt("axis", 1)), shpF([]int{1, 5}, 1, 2, 3, 4, 5), shpI([]int{1, 2}, 1, 3), shpF([]int{1, 2}, 1.1, 2.1))[0]
	shpExpect(t, "scatterelements", y, []int{1, 5}, []float64{1, 1.1, 3, 2.1, 5})
}

func TestShapeSmallOps(t *testing.T) {
	x := New(Int8, 2, 3, 4)
	y := shpMust(t, shpTestNode("Shape", 15, 1, shpAInt("start", -2)), x)[0]
	shpExpect(t, "shape", y, []int{2}, []float64{3, 4})
	y = shpMust(t, shpTestNode("Size", 13, 1), x)[0]
	shpExpect(t, "size", y, []int{}, []float64{24})

	y = shpMust(t, shpTestNode("Constant", 13, 1, &Attr{Name: "value_ints", Type: AttrInts, Ints: []int64{3, 4}}))[0]
	shpExpect(t, "constant ints", y, []int{2}, []float64{3, 4})
	y = shpMust(t, shpTestNode("Constant", 13, 1, shpAFloat("value_float", 2.5)))[0]
	shpExpect(t, "constant float", y, []int{}, []float64{2.5})
	_, err := shpRunNode(t, shpTestNode("Constant", 13, 1, &Attr{Name: "sparse_value", Type: AttrSparse}))
	shpWantErr(t, err, "sparse_value")
	_, err = shpRunNode(t, shpTestNode("Constant", 13, 1, &Attr{Name: "value_string", Type: AttrString}))
	shpWantErr(t, err, "string")

	y = shpMust(t, shpTestNode("ConstantOfShape", 9, 1), shpIv(2, 3))[0]
	if y.DType != Float32 {
		t.Fatal("ConstantOfShape default dtype")
	}
	shpExpect(t, "cos", y, []int{2, 3}, []float64{0, 0, 0, 0, 0, 0})
	y = shpMust(t, shpTestNode("ConstantOfShape", 9, 1, &Attr{Name: "value", Type: AttrTensor, T: shpI([]int{1}, 7)}), shpIv(2, 0))[0]
	shpExpect(t, "cos empty", y, []int{2, 0}, nil)
	y = shpMust(t, shpTestNode("ConstantOfShape", 9, 1, &Attr{Name: "value", Type: AttrTensor, T: shpI([]int{1}, 7)}), shpIv(2))[0]
	shpExpect(t, "cos int", y, []int{2}, []float64{7, 7})

	y = shpMust(t, shpTestNode("Expand", 13, 1), shpF([]int{3, 1}, 1, 2, 3), shpIv(2, 1, 2))[0]
	shpExpect(t, "expand", y, []int{2, 3, 2}, []float64{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3})
	_, err = shpRunNode(t, shpTestNode("Expand", 13, 1), shpF([]int{3}, 1, 2, 3), shpIv(2))
	shpWantErr(t, err, "cannot expand")

	y = shpMust(t, shpTestNode("Tile", 13, 1), shpI([]int{2, 2}, 1, 2, 3, 4), shpIv(2, 3))[0]
	shpExpect(t, "tile", y, []int{4, 6}, []float64{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4})

	y = shpMust(t, shpTestNode("Range", 11, 1), shpI([]int{}, 10), shpI([]int{}, 4), shpI([]int{}, -3))[0]
	shpExpect(t, "range int", y, []int{2}, []float64{10, 7})
	y = shpMust(t, shpTestNode("Range", 11, 1), shpF([]int{}, 1), shpF([]int{}, 2), shpF([]int{}, 0.3))[0]
	shpExpect(t, "range float", y, []int{4}, []float64{1, 1.3, 1.6, 1.9})

	y = shpMust(t, shpTestNode("Identity", 13, 1), x)[0]
	if y != x {
		t.Fatal("identity")
	}

	d := shpF([]int{1, 4, 1, 1}, 1, 2, 3, 4)
	y = shpMust(t, shpTestNode("DepthToSpace", 13, 1, shpAInt("blocksize", 2)), d)[0]
	shpExpect(t, "d2s", y, []int{1, 1, 2, 2}, []float64{1, 2, 3, 4})
	y = shpMust(t, shpTestNode("SpaceToDepth", 13, 1, shpAInt("blocksize", 2)), y)[0]
	shpExpect(t, "s2d", y, []int{1, 4, 1, 1}, []float64{1, 2, 3, 4})

	y = shpMust(t, shpTestNode("Trilu", 14, 1, shpAInt("upper", 0)), shpF([]int{2, 3}, 1, 2, 3, 4, 5, 6))[0]
	shpExpect(t, "tril", y, []int{2, 3}, []float64{1, 0, 0, 4, 5, 0})
}

func TestShapePad(t *testing.T) {
	x := shpF([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	y := shpMust(t, shpTestNode("Pad", 13, 1), x, shpIv(0, 1, 1, 0), shpF([]int{}, 9))[0]
	shpExpect(t, "constant", y, []int{3, 4}, []float64{9, 1, 2, 3, 9, 4, 5, 6, 9, 9, 9, 9})
	y = shpMust(t, shpTestNode("Pad", 13, 1, shpAStr("mode", "reflect")), x, shpIv(0, 2, 0, 2))[0]
	shpExpect(t, "reflect", y, []int{2, 7}, []float64{3, 2, 1, 2, 3, 2, 1, 6, 5, 4, 5, 6, 5, 4})
	y = shpMust(t, shpTestNode("Pad", 13, 1, shpAStr("mode", "edge")), x, shpIv(1, 0, 0, 1))[0]
	shpExpect(t, "edge", y, []int{3, 4}, []float64{1, 2, 3, 3, 1, 2, 3, 3, 4, 5, 6, 6})
	y = shpMust(t, shpTestNode("Pad", 19, 1, shpAStr("mode", "wrap")), x, shpIv(0, 2, 0, 1))[0]
	shpExpect(t, "wrap", y, []int{2, 6}, []float64{2, 3, 1, 2, 3, 1, 5, 6, 4, 5, 6, 4})
	y = shpMust(t, shpTestNode("Pad", 13, 1), x, shpIv(0, -1, 0, 1))[0]
	shpExpect(t, "crop", y, []int{2, 3}, []float64{2, 3, 0, 5, 6, 0})
	y = shpMust(t, shpTestNode("Pad", 18, 1), x, shpIv(1, 1), nil, shpIv(-1))[0]
	shpExpect(t, "axes", y, []int{2, 5}, []float64{0, 1, 2, 3, 0, 0, 4, 5, 6, 0})
	y = shpMust(t, shpTestNode("Pad", 2, 1, shpAInts("pads", 1, 0, 0, 0), shpAFloat("value", 1.5)), x)[0]
	shpExpect(t, "pad-2", y, []int{3, 3}, []float64{1.5, 1.5, 1.5, 1, 2, 3, 4, 5, 6})
	xi := shpI([]int{3}, 1, 2, 3)
	y = shpMust(t, shpTestNode("Pad", 13, 1), xi, shpIv(1, 1), shpI([]int{}, -7))[0]
	shpExpect(t, "int pad", y, []int{5}, []float64{-7, 1, 2, 3, -7})
	_, err := shpRunNode(t, shpTestNode("Pad", 13, 1), x, shpIv(1, 1))
	shpWantErr(t, err, "pads")
}

func TestShapeGatherND(t *testing.T) {
	d := shpI([]int{2, 2}, 0, 1, 2, 3)
	y := shpMust(t, shpTestNode("GatherND", 13, 1), d, shpI([]int{2, 2}, 0, 0, 1, 1))[0]
	shpExpect(t, "gathernd elems", y, []int{2}, []float64{0, 3})
	y = shpMust(t, shpTestNode("GatherND", 13, 1), d, shpI([]int{2, 1}, 1, 0))[0]
	shpExpect(t, "gathernd rows", y, []int{2, 2}, []float64{2, 3, 0, 1})
	d3 := shpF([]int{2, 2, 2}, 0, 1, 2, 3, 4, 5, 6, 7)
	y = shpMust(t, shpTestNode("GatherND", 13, 1, shpAInt("batch_dims", 1)), d3, shpI([]int{2, 1}, 1, 0))[0]
	shpExpect(t, "gathernd batch", y, []int{2, 2}, []float64{2, 3, 4, 5})
	_, err := shpRunNode(t, shpTestNode("GatherND", 13, 1), d, shpI([]int{1, 2}, 0, 2))
	shpWantErr(t, err, "out of range")
}

// TestShapeOpsKeepDType runs the data-movement ops on every storage kind and
// checks type and values against the float64 run.
func TestShapeOpsKeepDType(t *testing.T) {
	type tc struct {
		name string
		node func() *Node
		args func(x *Tensor) []*Tensor
	}
	cases := []tc{
		{"concat", func() *Node { return shpTestNode("Concat", 13, 1, shpAInt("axis", 1)) }, func(x *Tensor) []*Tensor { return []*Tensor{x, x} }},
		{"slice", func() *Node { return shpTestNode("Slice", 13, 1) }, func(x *Tensor) []*Tensor {
			return []*Tensor{x, shpIv(2, 0), shpIv(0, 3), shpIv(2, 0), shpIv(-1, 1)}
		}},
		{"gather", func() *Node { return shpTestNode("Gather", 13, 1, shpAInt("axis", 2)) }, func(x *Tensor) []*Tensor { return []*Tensor{x, shpIv(3, -4, 1)} }},
		{"pad", func() *Node { return shpTestNode("Pad", 13, 1, shpAStr("mode", "reflect")) }, func(x *Tensor) []*Tensor { return []*Tensor{x, shpIv(0, 1, 2, 0, 1, 1)} }},
		{"expand", func() *Node { return shpTestNode("Expand", 13, 1) }, func(x *Tensor) []*Tensor { return []*Tensor{x, shpIv(2, 1, 1, 1)} }},
		{"tile", func() *Node { return shpTestNode("Tile", 13, 1) }, func(x *Tensor) []*Tensor { return []*Tensor{x, shpIv(1, 2, 2)} }},
		{"gatherelements", func() *Node { return shpTestNode("GatherElements", 13, 1, shpAInt("axis", 1)) }, func(x *Tensor) []*Tensor {
			return []*Tensor{x, shpI([]int{2, 1, 2}, 2, 0, 1, 1)}
		}},
		{"resize", func() *Node { return shpTestNode("Resize", 13, 1) }, func(x *Tensor) []*Tensor { return []*Tensor{x, nil, shpF([]int{3}, 1, 1.5, 0.5)} }},
		{"split", func() *Node { return shpTestNode("Split", 18, 2, shpAInt("num_outputs", 2), shpAInt("axis", -1)) }, func(x *Tensor) []*Tensor { return []*Tensor{x} }},
	}
	for _, c := range cases {
		var ref []*Tensor
		for _, x := range shpAllKinds([]int{2, 3, 4}) {
			outs := shpMust(t, c.node(), c.args(x)...)
			if ref == nil {
				// shpAllKinds yields Float32 first: its run is the reference
				// (bool inputs hold other values and are checked for shape).
				ref = outs
			}
			for i, y := range outs {
				if y.DType != x.DType {
					t.Fatalf("%s: %v input gave %v output", c.name, x.DType, y.DType)
				}
				if err := shpCheck(y, "output"); err != nil {
					t.Fatalf("%s %v: %v", c.name, x.DType, err)
				}
				if !SameShape(y.Shape, ref[i].Shape) {
					t.Fatalf("%s %v: shape %v, want %v", c.name, x.DType, y.Shape, ref[i].Shape)
				}
				if x.DType == Bool {
					continue
				}
				for j := 0; j < y.Len(); j++ {
					if y.Float64At(j) != ref[i].Float64At(j) {
						t.Fatalf("%s %v: element %d = %v, want %v", c.name, x.DType, j, y.Float64At(j), ref[i].Float64At(j))
					}
				}
			}
		}
	}
}

func TestShapeCenterCropPad(t *testing.T) {
	x := shpF([]int{5, 2}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	y := shpMust(t, shpTestNode("CenterCropPad", 18, 1), x, shpIv(3, 5))[0]
	shpExpect(t, "crop/pad", y, []int{3, 5}, []float64{0, 3, 4, 0, 0, 0, 5, 6, 0, 0, 0, 7, 8, 0, 0})
	y = shpMust(t, shpTestNode("CenterCropPad", 18, 1, shpAInts("axes", -2)), x, shpIv(2))[0]
	shpExpect(t, "axes", y, []int{2, 2}, []float64{3, 4, 5, 6})
}

// TestShapeOpsNeverPanic feeds every shape op odd inputs (missing, empty,
// wrong type, out-of-range values) and only requires that Run returns
// without panicking.
func TestShapeOpsNeverPanic(t *testing.T) {
	vals := []*Tensor{
		nil,
		New(Float32),
		New(Float32, 0),
		New(Float32, 2, 3),
		New(Bool, 1, 2, 1),
		shpIv(),
		shpIv(-1),
		shpIv(5, -7),
		shpIv(0, 0, 0),
		shpIv(1, 2, 3, 4),
		shpI([]int{}, 3),
		shpF([]int{2}, 0.5, -1),
		shpF([]int{4}, 1, 1, 0, 2),
		New(Int32, 2, 2, 2),
		New(Float32, 1, 2, 3, 4),
		shpF([]int{4}, 1, 1, 1.5, 0.5),
		shpF([]int{8}, 0, 0, 0.2, -0.5, 1, 1, 0.7, 1.5),
	}
	ops := []struct {
		typ   string
		opset int
		nIn   int
		attrs []*Attr
	}{
		{"Identity", 13, 1, nil}, {"Flatten", 13, 1, []*Attr{shpAInt("axis", 5)}},
		{"Reshape", 14, 2, nil}, {"Reshape", 14, 2, []*Attr{shpAInt("allowzero", 1)}},
		{"Transpose", 13, 1, []*Attr{shpAInts("perm", 1, 0)}}, {"Transpose", 13, 1, nil},
		{"Concat", 13, 3, []*Attr{shpAInt("axis", -1)}}, {"Split", 13, 2, nil}, {"Split", 18, 1, []*Attr{shpAInt("num_outputs", 2)}},
		{"Slice", 13, 5, nil}, {"Squeeze", 13, 2, nil}, {"Unsqueeze", 13, 2, nil},
		{"Gather", 13, 2, []*Attr{shpAInt("axis", 1)}}, {"GatherElements", 13, 2, nil}, {"GatherND", 13, 2, []*Attr{shpAInt("batch_dims", 1)}},
		{"ScatterND", 18, 3, []*Attr{shpAStr("reduction", "max")}}, {"ScatterElements", 18, 3, nil},
		{"Shape", 15, 1, []*Attr{shpAInt("start", -9)}}, {"Size", 13, 1, nil},
		{"ConstantOfShape", 9, 1, nil}, {"Expand", 13, 2, nil}, {"Tile", 13, 2, nil}, {"Range", 11, 3, nil},
		{"Pad", 19, 4, []*Attr{shpAStr("mode", "wrap")}}, {"Pad", 13, 3, []*Attr{shpAStr("mode", "reflect")}},
		{"CenterCropPad", 18, 2, nil},
		{"Resize", 19, 4, []*Attr{shpAStr("mode", "cubic")}}, {"Resize", 13, 3, []*Attr{shpAStr("coordinate_transformation_mode", "tf_crop_and_resize")}},
		{"Resize", 10, 2, nil}, {"Upsample", 9, 2, []*Attr{shpAStr("mode", "linear")}},
		{"DepthToSpace", 13, 1, []*Attr{shpAInt("blocksize", 2)}}, {"SpaceToDepth", 13, 1, []*Attr{shpAInt("blocksize", 2)}},
		{"Trilu", 14, 2, nil},
	}
	for _, o := range ops {
		n := shpTestNode(o.typ, o.opset, 2, o.attrs...)
		if err := Standard().Build(n); err != nil {
			t.Fatalf("%s: %v", o.typ, err)
		}
		args := make([]*Tensor, o.nIn)
		var rec func(i int)
		rec = func(i int) {
			if i == len(args) {
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("%s-%d panicked on %v: %v", o.typ, o.opset, args, r)
						}
					}()
					n.Op.Run(NewContext(nil), args)
				}()
				return
			}
			for _, v := range vals {
				args[i] = v
				rec(i + 1)
			}
		}
		if o.nIn > 3 {
			// Vary the first three inputs fully, the rest one by one.
			for _, v := range vals {
				args = make([]*Tensor, o.nIn)
				args[0] = New(Float32, 1, 2, 3, 4)
				for j := 1; j < o.nIn; j++ {
					args[j] = v
				}
				rec(o.nIn)
			}
			args = make([]*Tensor, 3)
		}
		rec(0)
	}
}
