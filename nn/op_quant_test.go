package nn_test

import (
	"math"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
)

// qntModel builds a one-node model: the inputs named in feed are graph
// inputs, those in consts initializers ("" skips an optional input).
type qntCase struct {
	name   string
	op     string
	opset  int
	attrs  []*onnxpb.AttributeProto
	inputs []string
	feed   map[string]*nn.Tensor
	consts map[string]*nn.Tensor
	outs   []nn.DType
}

func (c qntCase) model() *onnxpb.ModelProto {
	g := &onnxpb.GraphProto{Name: "q"}
	node := &onnxpb.NodeProto{OpType: c.op, Name: "n", Input: c.inputs, Attribute: c.attrs}
	for i, dt := range c.outs {
		name := []string{"y", "y1", "y2"}[i]
		node.Output = append(node.Output, name)
		g.Output = append(g.Output, ewOrtValueInfo(name, dt, nil))
	}
	for _, in := range c.inputs {
		if t := c.feed[in]; t != nil {
			g.Input = append(g.Input, ewOrtValueInfo(in, t.DType, t.Shape))
		}
		if t := c.consts[in]; t != nil {
			g.Initializer = append(g.Initializer, onnx.TensorToProto(in, t))
		}
	}
	g.Node = []*onnxpb.NodeProto{node}
	return &onnxpb.ModelProto{IrVersion: 9, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: int64(c.opset)}}, Graph: g}
}

func qntRun(t *testing.T, c qntCase) map[string]*nn.Tensor {
	t.Helper()
	g, err := onnx.Import(c.model(), onnx.ImportOptions{})
	if err != nil {
		t.Fatalf("%s: import: %v", c.name, err)
	}
	out, err := g.Run(nil, c.feed)
	if err != nil {
		t.Fatalf("%s: run: %v", c.name, err)
	}
	return out
}

func qntInts(dt nn.DType, shape []int, v ...int64) *nn.Tensor {
	t := nn.New(dt, shape...)
	copy(t.I64, v)
	return t
}

func qntFloats(shape []int, v ...float32) *nn.Tensor {
	t := nn.New(nn.Float32, shape...)
	copy(t.F32, v)
	return t
}

func qntEqual(t *testing.T, name string, got, want *nn.Tensor) {
	t.Helper()
	if got.DType != want.DType || !nn.SameShape(got.Shape, want.Shape) {
		t.Fatalf("%s: got %v, want %v", name, got, want)
	}
	for i := 0; i < want.Len(); i++ {
		if got.Float64At(i) != want.Float64At(i) {
			t.Fatalf("%s: element %d is %v, want %v (got %v, want %v)", name, i, got.Float64At(i), want.Float64At(i), got.F32, want.F32)
		}
	}
}

// Hand-computed cases.
func TestQuantLinearByHand(t *testing.T) {
	x := qntFloats([]int{6}, 0, 1, 2.5, -1, 1000, 3)
	// x/2 = 0, 0.5, 1.25, -0.5, 500, 1.5 -> round half to even 0, 0, 1, -0, 500, 2; + 128, saturated.
	c := qntCase{name: "q10", op: "QuantizeLinear", opset: 10, inputs: []string{"x", "s", "z"},
		feed: map[string]*nn.Tensor{"x": x}, consts: map[string]*nn.Tensor{"s": nn.Scalar(2), "z": qntInts(nn.Uint8, []int{}, 128)},
		outs: []nn.DType{nn.Uint8}}
	qntEqual(t, c.name, qntRun(t, c)["y"], qntInts(nn.Uint8, []int{6}, 128, 128, 129, 128, 255, 130))
	// No zero point: uint8 with zero point 0, negatives saturate to 0.
	c.inputs = []string{"x", "s"}
	qntEqual(t, "q10 no zp", qntRun(t, c)["y"], qntInts(nn.Uint8, []int{6}, 0, 0, 1, 0, 255, 2))
	// Per-axis int8 (axis 1 of [2,2]): scales 1 and 0.5, zero points 0 and -3.
	c = qntCase{name: "q13 axis", op: "QuantizeLinear", opset: 13, inputs: []string{"x", "s", "z"},
		feed:   map[string]*nn.Tensor{"x": qntFloats([]int{2, 2}, 1.5, 1.5, -200, 2)},
		consts: map[string]*nn.Tensor{"s": qntFloats([]int{2}, 1, 0.5), "z": qntInts(nn.Int8, []int{2}, 0, -3)},
		outs:   []nn.DType{nn.Int8}}
	qntEqual(t, c.name, qntRun(t, c)["y"], qntInts(nn.Int8, []int{2, 2}, 2, 0, -128, 1))
	// Dequantize per axis 0 of [2,3].
	c = qntCase{name: "dq13 axis", op: "DequantizeLinear", opset: 13, attrs: []*onnxpb.AttributeProto{ewOrtAttrI("axis", 0)},
		inputs: []string{"x", "s", "z"},
		feed:   map[string]*nn.Tensor{"x": qntInts(nn.Int8, []int{2, 3}, -128, 0, 127, 5, 6, 7)},
		consts: map[string]*nn.Tensor{"s": qntFloats([]int{2}, 0.5, 2), "z": qntInts(nn.Int8, []int{2}, 0, 5)},
		outs:   []nn.DType{nn.Float32}}
	qntEqual(t, c.name, qntRun(t, c)["y"], qntFloats([]int{2, 3}, -64, 0, 63.5, 0, 2, 4))
	// Blocked (opset 21): blocks of 2 along axis 1 of [1,5] -> 3 scales.
	c = qntCase{name: "dq21 blocked", op: "DequantizeLinear", opset: 21,
		attrs:  []*onnxpb.AttributeProto{ewOrtAttrI("axis", 1), ewOrtAttrI("block_size", 2)},
		inputs: []string{"x", "s"},
		feed:   map[string]*nn.Tensor{"x": qntInts(nn.Int16, []int{1, 5}, 1, 2, 3, 4, -5)},
		consts: map[string]*nn.Tensor{"s": qntFloats([]int{1, 3}, 1, 10, 100)},
		outs:   []nn.DType{nn.Float32}}
	qntEqual(t, c.name, qntRun(t, c)["y"], qntFloats([]int{1, 5}, 1, 2, 30, 40, -500))
	// DynamicQuantizeLinear: range [-1, 4] (0 included) -> scale 5/255,
	// zero point round(1/scale) = round(51) = 51.
	c = qntCase{name: "dyn", op: "DynamicQuantizeLinear", opset: 11, inputs: []string{"x"},
		feed: map[string]*nn.Tensor{"x": qntFloats([]int{3}, -1, 4, 0)}, outs: []nn.DType{nn.Uint8, nn.Float32, nn.Uint8}}
	out := qntRun(t, c)
	qntEqual(t, "dyn y", out["y"], qntInts(nn.Uint8, []int{3}, 0, 255, 51))
	qntEqual(t, "dyn zp", out["y2"], qntInts(nn.Uint8, []int{}, 51))
	if s := out["y1"].F32[0]; s != float32(5)/255 {
		t.Errorf("dyn scale %v", s)
	}
	// ConvInteger: 1x1x2x2 input minus zero point 1, 1x1x1x1 kernel 3 -> 3*(x-1).
	c = qntCase{name: "convinteger", op: "ConvInteger", opset: 10, inputs: []string{"x", "w", "xz"},
		feed:   map[string]*nn.Tensor{"x": qntInts(nn.Uint8, []int{1, 1, 2, 2}, 1, 2, 3, 255)},
		consts: map[string]*nn.Tensor{"w": qntInts(nn.Uint8, []int{1, 1, 1, 1}, 3), "xz": qntInts(nn.Uint8, []int{}, 1)},
		outs:   []nn.DType{nn.Int32}}
	qntEqual(t, c.name, qntRun(t, c)["y"], qntInts(nn.Int32, []int{1, 1, 2, 2}, 0, 3, 6, 762))
}

func TestQuantLinearErrors(t *testing.T) {
	cases := []qntCase{
		{name: "per-axis at opset 10", op: "QuantizeLinear", opset: 10, inputs: []string{"x", "s"},
			feed: map[string]*nn.Tensor{"x": qntFloats([]int{2, 2})}, consts: map[string]*nn.Tensor{"s": qntFloats([]int{2}, 1, 1)}, outs: []nn.DType{nn.Uint8}},
		{name: "scale length", op: "DequantizeLinear", opset: 13, inputs: []string{"x", "s"},
			feed: map[string]*nn.Tensor{"x": qntInts(nn.Int8, []int{2, 3})}, consts: map[string]*nn.Tensor{"s": qntFloats([]int{2}, 1, 1)}, outs: []nn.DType{nn.Float32}},
		{name: "float input to dequantize", op: "DequantizeLinear", opset: 13, inputs: []string{"x", "s"},
			feed: map[string]*nn.Tensor{"x": qntFloats([]int{2})}, consts: map[string]*nn.Tensor{"s": nn.Scalar(1)}, outs: []nn.DType{nn.Float32}},
	}
	for _, c := range cases {
		g, err := onnx.Import(c.model(), onnx.ImportOptions{})
		if err == nil {
			_, err = g.Run(nil, c.feed)
		}
		if err == nil {
			t.Errorf("%s: no error", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

// TestQuantOpsMatchORT runs one-node models over random data in graft and
// in onnxruntime; integer outputs must be equal, float outputs within 1e-6
// relative.
func TestQuantOpsMatchORT(t *testing.T) {
	ortref.Require(t)
	rng := rand.New(rand.NewSource(3))
	randF := func(scale float64, shape ...int) *nn.Tensor {
		x := nn.New(nn.Float32, shape...)
		for i := range x.F32 {
			x.F32[i] = float32(rng.NormFloat64() * scale)
		}
		return x
	}
	randI := func(dt nn.DType, lo, hi int64, shape ...int) *nn.Tensor {
		x := nn.New(dt, shape...)
		for i := range x.I64 {
			x.I64[i] = lo + rng.Int63n(hi-lo+1)
		}
		return x
	}
	// Inputs on exact .5 multiples of the scale exercise the ties.
	ties := nn.New(nn.Float32, 4, 8)
	for i := range ties.F32 {
		ties.F32[i] = float32(i-16) * 0.25
	}
	var cases []qntCase
	for _, opset := range []int{10, 13, 19, 21} {
		cases = append(cases,
			qntCase{name: "Q per-tensor uint8", op: "QuantizeLinear", opset: opset, inputs: []string{"x", "s", "z"},
				feed: map[string]*nn.Tensor{"x": randF(3, 3, 5, 7)}, consts: map[string]*nn.Tensor{"s": nn.Scalar(0.037), "z": qntInts(nn.Uint8, []int{}, 117)},
				outs: []nn.DType{nn.Uint8}},
			qntCase{name: "Q ties int8", op: "QuantizeLinear", opset: opset, inputs: []string{"x", "s", "z"},
				feed: map[string]*nn.Tensor{"x": ties}, consts: map[string]*nn.Tensor{"s": nn.Scalar(0.5), "z": qntInts(nn.Int8, []int{}, -3)},
				outs: []nn.DType{nn.Int8}},
			qntCase{name: "Q no zero point", op: "QuantizeLinear", opset: opset, inputs: []string{"x", "s"},
				feed: map[string]*nn.Tensor{"x": randF(3, 4, 9)}, consts: map[string]*nn.Tensor{"s": nn.Scalar(0.02)},
				outs: []nn.DType{nn.Uint8}},
			qntCase{name: "DQ uint8", op: "DequantizeLinear", opset: opset, inputs: []string{"x", "s", "z"},
				feed: map[string]*nn.Tensor{"x": randI(nn.Uint8, 0, 255, 2, 3, 4)}, consts: map[string]*nn.Tensor{"s": nn.Scalar(0.0173), "z": qntInts(nn.Uint8, []int{}, 131)},
				outs: []nn.DType{nn.Float32}},
			qntCase{name: "DQ int32", op: "DequantizeLinear", opset: opset, inputs: []string{"x", "s"},
				feed: map[string]*nn.Tensor{"x": randI(nn.Int32, -1<<30, 1<<30, 17)}, consts: map[string]*nn.Tensor{"s": nn.Scalar(1.7e-5)},
				outs: []nn.DType{nn.Float32}},
		)
		if opset >= 13 {
			cases = append(cases,
				qntCase{name: "Q per-axis int8", op: "QuantizeLinear", opset: opset, inputs: []string{"x", "s", "z"}, attrs: []*onnxpb.AttributeProto{ewOrtAttrI("axis", 0)},
					feed:   map[string]*nn.Tensor{"x": randF(2, 4, 3, 3)},
					consts: map[string]*nn.Tensor{"s": qntFloats([]int{4}, 0.01, 0.02, 0.03, 0.5), "z": qntInts(nn.Int8, []int{4}, 0, 1, -5, 0)},
					outs:   []nn.DType{nn.Int8}},
				qntCase{name: "DQ per-axis -1", op: "DequantizeLinear", opset: opset, inputs: []string{"x", "s", "z"}, attrs: []*onnxpb.AttributeProto{ewOrtAttrI("axis", -1)},
					feed:   map[string]*nn.Tensor{"x": randI(nn.Int8, -128, 127, 2, 5, 3)},
					consts: map[string]*nn.Tensor{"s": qntFloats([]int{3}, 0.01, 0.2, 3), "z": qntInts(nn.Int8, []int{3}, 0, 1, -5)},
					outs:   []nn.DType{nn.Float32}},
				qntCase{name: "DQ per-axis default axis", op: "DequantizeLinear", opset: opset, inputs: []string{"x", "s"},
					feed:   map[string]*nn.Tensor{"x": randI(nn.Uint8, 0, 255, 2, 3, 4)},
					consts: map[string]*nn.Tensor{"s": qntFloats([]int{3}, 0.01, 0.2, 3)},
					outs:   []nn.DType{nn.Float32}},
			)
		}
		if opset >= 21 {
			cases = append(cases,
				qntCase{name: "Q blocked int16", op: "QuantizeLinear", opset: opset, inputs: []string{"x", "s", "z"},
					attrs:  []*onnxpb.AttributeProto{ewOrtAttrI("axis", 1), ewOrtAttrI("block_size", 3)},
					feed:   map[string]*nn.Tensor{"x": randF(50, 2, 7)},
					consts: map[string]*nn.Tensor{"s": qntFloats([]int{2, 3}, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06), "z": qntInts(nn.Int16, []int{2, 3}, 0, 1, 2, 3, 4, 5)},
					outs:   []nn.DType{nn.Int16}},
				qntCase{name: "DQ blocked uint16", op: "DequantizeLinear", opset: opset, inputs: []string{"x", "s"},
					attrs:  []*onnxpb.AttributeProto{ewOrtAttrI("axis", 0), ewOrtAttrI("block_size", 2)},
					feed:   map[string]*nn.Tensor{"x": randI(nn.Uint16, 0, 65535, 5, 2)},
					consts: map[string]*nn.Tensor{"s": qntFloats([]int{3, 2}, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06)},
					outs:   []nn.DType{nn.Float32}},
				qntCase{name: "Q output_dtype int8", op: "QuantizeLinear", opset: opset, inputs: []string{"x", "s"},
					attrs: []*onnxpb.AttributeProto{ewOrtAttrI("output_dtype", int64(nn.Int8))},
					feed:  map[string]*nn.Tensor{"x": randF(1, 3, 4)}, consts: map[string]*nn.Tensor{"s": nn.Scalar(0.01)},
					outs: []nn.DType{nn.Int8}},
			)
		}
	}
	for _, x := range []*nn.Tensor{randF(2, 3, 40), randF(1, 1000), qntFloats([]int{4}), qntFloats([]int{3}, 1, 2, 3), qntFloats([]int{3}, -1, -2, -3), ties} {
		cases = append(cases, qntCase{name: "DynamicQuantizeLinear " + x.String(), op: "DynamicQuantizeLinear", opset: 11, inputs: []string{"x"},
			feed: map[string]*nn.Tensor{"x": x}, outs: []nn.DType{nn.Uint8, nn.Float32, nn.Uint8}})
	}
	cases = append(cases,
		qntCase{name: "MatMulInteger u8 s8 per-column zero", op: "MatMulInteger", opset: 10, inputs: []string{"a", "b", "az", "bz"},
			feed:   map[string]*nn.Tensor{"a": randI(nn.Uint8, 0, 255, 2, 5, 16)},
			consts: map[string]*nn.Tensor{"b": randI(nn.Int8, -128, 127, 16, 3), "az": qntInts(nn.Uint8, []int{}, 121), "bz": qntInts(nn.Int8, []int{3}, 0, 0, 0)},
			outs:   []nn.DType{nn.Int32}},
		qntCase{name: "ConvInteger", op: "ConvInteger", opset: 10, inputs: []string{"x", "w", "xz", "wz"},
			attrs:  []*onnxpb.AttributeProto{{Name: "pads", Type: onnxpb.AttributeProto_INTS, Ints: []int64{1, 1, 1, 1}}},
			feed:   map[string]*nn.Tensor{"x": randI(nn.Uint8, 0, 255, 2, 3, 6, 6)},
			consts: map[string]*nn.Tensor{"w": randI(nn.Uint8, 0, 255, 4, 3, 3, 3), "xz": qntInts(nn.Uint8, []int{}, 100), "wz": qntInts(nn.Uint8, []int{}, 128)},
			outs:   []nn.DType{nn.Int32}},
		qntCase{name: "ConvInteger s8 weights", op: "ConvInteger", opset: 10, inputs: []string{"x", "w", "xz"},
			feed:   map[string]*nn.Tensor{"x": randI(nn.Uint8, 0, 255, 1, 2, 5, 5)},
			consts: map[string]*nn.Tensor{"w": randI(nn.Int8, -127, 127, 3, 2, 3, 3), "xz": qntInts(nn.Uint8, []int{}, 100)},
			outs:   []nn.DType{nn.Int32}},
	)
	cases = append(cases,
		qntCase{name: "QLinearMatMul per-column", op: "QLinearMatMul", opset: 10, inputs: []string{"a", "as", "az", "b", "bs", "bz", "ys", "yz"},
			feed: map[string]*nn.Tensor{"a": randI(nn.Uint8, 0, 255, 3, 16)},
			consts: map[string]*nn.Tensor{"as": nn.Scalar(0.02), "az": qntInts(nn.Uint8, []int{}, 120), "b": randI(nn.Int8, -127, 127, 16, 4),
				"bs": qntFloats([]int{4}, 0.01, 0.003, 0.02, 0.005), "bz": qntInts(nn.Int8, []int{4}, 0, 0, 0, 0), "ys": nn.Scalar(0.4), "yz": qntInts(nn.Uint8, []int{}, 128)},
			outs: []nn.DType{nn.Uint8}},
		qntCase{name: "QLinearConv", op: "QLinearConv", opset: 10, inputs: []string{"x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"},
			attrs: []*onnxpb.AttributeProto{{Name: "pads", Type: onnxpb.AttributeProto_INTS, Ints: []int64{1, 1, 1, 1}}},
			feed:  map[string]*nn.Tensor{"x": randI(nn.Uint8, 0, 255, 2, 3, 5, 5)},
			consts: map[string]*nn.Tensor{"xs": nn.Scalar(0.01), "xz": qntInts(nn.Uint8, []int{}, 100), "w": randI(nn.Int8, -127, 127, 4, 3, 3, 3),
				"ws": qntFloats([]int{4}, 0.01, 0.02, 0.005, 0.03), "wz": qntInts(nn.Int8, []int{4}, 0, 0, 0, 0), "ys": nn.Scalar(0.3), "yz": qntInts(nn.Uint8, []int{}, 10),
				"b": qntInts(nn.Int32, []int{4}, 1000, -2000, 30, 0)},
			outs: []nn.DType{nn.Uint8}},
	)
	dir := t.TempDir()
	for i, c := range cases {
		path := filepath.Join(dir, "m.onnx")
		if err := onnx.Save(path, c.model()); err != nil {
			t.Fatal(err)
		}
		sess, err := ortref.Open(path, 1)
		if err != nil {
			t.Errorf("%s opset %d: onnxruntime: %v", c.name, c.opset, err)
			continue
		}
		want, err := sess.Run(c.feed)
		sess.Close()
		if err != nil {
			t.Errorf("%s opset %d: onnxruntime: %v", c.name, c.opset, err)
			continue
		}
		got := qntRun(t, c)
		for name, w := range want {
			g := got[name]
			if g == nil || g.DType != w.DType || !nn.SameShape(g.Shape, w.Shape) {
				t.Errorf("case %d %s opset %d: output %s is %v, onnxruntime %v", i, c.name, c.opset, name, g, w)
				continue
			}
			bad := 0
			for k := 0; k < w.Len(); k++ {
				a, b := g.Float64At(k), w.Float64At(k)
				if a != b && math.Abs(a-b) > 1e-6*math.Abs(b) {
					if bad < 3 {
						t.Errorf("case %d %s opset %d: %s[%d] = %v, onnxruntime %v", i, c.name, c.opset, name, k, a, b)
					}
					bad++
				}
			}
		}
	}
	t.Logf("%d one-node models checked", len(cases))
}
