package nn_test

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
)

// Differential tests of the normalization / reduction / softmax family
// against onnxruntime: one-node models over random inputs.

type normOrtIn struct {
	dt     nn.DType
	shape  []int
	lo, hi float64
	fixed  *nn.Tensor // a given value instead of random data
}

type normOrtCase struct {
	op    string
	opset int
	attrs []*onnxpb.AttributeProto
	in    []normOrtIn
	outs  []nn.DType
	// outShape declares the first output's shape (for ops whose shape
	// onnxruntime does not infer).
	outShape []int
}

func normOrtI(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

func normOrtF(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOAT, F: v}
}

func normOrtInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: v}
}

func normOrtVI(name string, dt nn.DType, shape []int) *onnxpb.ValueInfoProto {
	tt := &onnxpb.TypeProto_Tensor{ElemType: int32(dt)}
	if shape != nil {
		sp := &onnxpb.TensorShapeProto{}
		for _, d := range shape {
			sp.Dim = append(sp.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		}
		tt.Shape = sp
	}
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}}
}

func normOrtModel(c normOrtCase) *onnxpb.ModelProto {
	g := &onnxpb.GraphProto{Name: "norm"}
	node := &onnxpb.NodeProto{OpType: c.op, Name: "n", Attribute: c.attrs}
	for i, in := range c.in {
		name := fmt.Sprintf("x%d", i)
		node.Input = append(node.Input, name)
		if in.fixed != nil {
			// Constant inputs (axes) are initializers so shape inference
			// can work out the output shape.
			tp := &onnxpb.TensorProto{Name: name, DataType: int32(in.fixed.DType), Int64Data: in.fixed.I64}
			for _, d := range in.fixed.Shape {
				tp.Dims = append(tp.Dims, int64(d))
			}
			g.Initializer = append(g.Initializer, tp)
			continue
		}
		g.Input = append(g.Input, normOrtVI(name, in.dt, in.shape))
	}
	for i, dt := range c.outs {
		name := fmt.Sprintf("y%d", i)
		node.Output = append(node.Output, name)
		var shape []int
		if i == 0 {
			shape = c.outShape
		}
		g.Output = append(g.Output, normOrtVI(name, dt, shape))
	}
	g.Node = []*onnxpb.NodeProto{node}
	return &onnxpb.ModelProto{
		IrVersion:   9,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: int64(c.opset)}},
		Graph:       g,
	}
}

type normOrtRand struct{ s uint64 }

func (r *normOrtRand) float() float64 {
	r.s = r.s*6364136223846793005 + 1442695040888963407
	return float64(r.s>>11) / (1 << 53)
}

func normOrtInput(r *normOrtRand, in normOrtIn) *nn.Tensor {
	if in.fixed != nil {
		return in.fixed
	}
	t := nn.New(in.dt, in.shape...)
	for i := 0; i < t.Len(); i++ {
		v := in.lo + (in.hi-in.lo)*r.float()
		switch in.dt.Storage() {
		case nn.StoreF32:
			t.F32[i] = float32(v)
		case nn.StoreF64:
			t.F64[i] = v
		case nn.StoreI64:
			t.I64[i] = in.dt.WrapInt(int64(math.Round(v)))
		case nn.StoreBool:
			t.Bool[i] = v > 0.5*(in.lo+in.hi)
		}
	}
	t.RoundToDType()
	return t
}

func normOrtCompare(got, want *nn.Tensor) error {
	if got == nil || want == nil {
		return fmt.Errorf("missing output (got %v, want %v)", got, want)
	}
	if got.DType != want.DType {
		return fmt.Errorf("dtype %v, want %v", got.DType, want.DType)
	}
	if !nn.SameShape(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	rel, abs := 1e-4, 1e-5
	if got.DType == nn.Float16 {
		rel, abs = 1e-3, 1e-3
	}
	for i := 0; i < got.Len(); i++ {
		switch got.DType.Storage() {
		case nn.StoreF32, nn.StoreF64:
			g, w := got.Float64At(i), want.Float64At(i)
			if math.IsNaN(g) && math.IsNaN(w) || g == w {
				continue
			}
			if math.Abs(g-w) > abs+rel*math.Abs(w) {
				return fmt.Errorf("[%d] = %v, want %v", i, g, w)
			}
		case nn.StoreI64:
			if got.I64[i] != want.I64[i] {
				return fmt.Errorf("[%d] = %d, want %d", i, got.I64[i], want.I64[i])
			}
		case nn.StoreBool:
			if got.Bool[i] != want.Bool[i] {
				return fmt.Errorf("[%d] = %v, want %v", i, got.Bool[i], want.Bool[i])
			}
		}
	}
	return nil
}

func normOrtCases() []normOrtCase {
	f32, f64, f16, i64, i32 := nn.Float32, nn.Float64, nn.Float16, nn.Int64, nn.Int32
	x := func(dt nn.DType, shape ...int) normOrtIn { return normOrtIn{dt: dt, shape: shape, lo: -3, hi: 3} }
	pos := func(dt nn.DType, shape ...int) normOrtIn { return normOrtIn{dt: dt, shape: shape, lo: 0.2, hi: 2} }
	axes := func(a ...int64) normOrtIn {
		return normOrtIn{dt: i64, shape: []int{len(a)}, fixed: nn.FromInt64(a, len(a))}
	}
	var cs []normOrtCase
	// Softmax family.
	for _, op := range []string{"Softmax", "LogSoftmax", "Hardmax"} {
		for _, opset := range []int{11, 13} {
			for _, ax := range []int64{0, 1, 2, -1} {
				cs = append(cs, normOrtCase{op: op, opset: opset, attrs: []*onnxpb.AttributeProto{normOrtI("axis", ax)}, in: []normOrtIn{x(f32, 3, 4, 5)}, outs: []nn.DType{f32}})
			}
			cs = append(cs, normOrtCase{op: op, opset: opset, in: []normOrtIn{x(f32, 2, 3, 70)}, outs: []nn.DType{f32}})
		}
	}
	cs = append(cs,
		normOrtCase{op: "Softmax", opset: 13, in: []normOrtIn{x(f64, 4, 9)}, outs: []nn.DType{f64}},
		normOrtCase{op: "LogSoftmax", opset: 13, in: []normOrtIn{{dt: f32, shape: []int{3, 300}, lo: -80, hi: 80}}, outs: []nn.DType{f32}},
		normOrtCase{op: "Softmax", opset: 13, in: []normOrtIn{{dt: f32, shape: []int{3, 300}, lo: -80, hi: 80}}, outs: []nn.DType{f32}},
		normOrtCase{op: "Softmax", opset: 13, attrs: []*onnxpb.AttributeProto{normOrtI("axis", 1)}, in: []normOrtIn{{dt: f32, shape: []int{4, 65, 33}, lo: -20, hi: 20}}, outs: []nn.DType{f32}},
	)
	// Reductions.
	reds := []string{"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"}
	axisSets := [][]int64{{0}, {1}, {-1}, {0, 2}, {1, 2}, {}}
	for _, op := range reds {
		in := x(f32, 3, 4, 5)
		if op == "ReduceLogSum" || op == "ReduceProd" {
			in = pos(f32, 3, 4, 5)
		}
		for _, a := range axisSets {
			for _, keep := range []int64{0, 1} {
				attrs := []*onnxpb.AttributeProto{normOrtI("keepdims", keep)}
				if len(a) > 0 {
					attrs = append(attrs, normOrtInts("axes", a...))
				}
				cs = append(cs, normOrtCase{op: op, opset: 11, attrs: attrs, in: []normOrtIn{in}, outs: []nn.DType{f32}})
				newOpset := 18
				if op == "ReduceSum" {
					newOpset = 13
				}
				ins := []normOrtIn{in}
				if len(a) > 0 {
					ins = append(ins, axes(a...))
				}
				cs = append(cs, normOrtCase{op: op, opset: newOpset, attrs: []*onnxpb.AttributeProto{normOrtI("keepdims", keep)}, in: ins, outs: []nn.DType{f32}})
			}
		}
		cs = append(cs, normOrtCase{op: op, opset: 18, attrs: []*onnxpb.AttributeProto{normOrtI("keepdims", 0)}, in: []normOrtIn{x(f64, 5, 6), axes(1)}, outs: []nn.DType{f64}})
	}
	for _, op := range []string{"ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceMean"} {
		for _, dt := range []nn.DType{i64, i32} {
			cs = append(cs, normOrtCase{op: op, opset: 18, in: []normOrtIn{{dt: dt, shape: []int{4, 6}, lo: -9, hi: 9}, axes(1)}, outs: []nn.DType{dt}})
		}
	}
	cs = append(cs,
		normOrtCase{op: "ReduceSum", opset: 13, attrs: []*onnxpb.AttributeProto{normOrtI("noop_with_empty_axes", 1)}, in: []normOrtIn{x(f32, 3, 4), {dt: i64, shape: []int{0}, fixed: nn.FromInt64([]int64{}, 0)}}, outs: []nn.DType{f32}},
		normOrtCase{op: "ReduceMean", opset: 18, in: []normOrtIn{x(f32, 2, 64, 7, 7), axes(2, 3)}, outs: []nn.DType{f32}},
		normOrtCase{op: "ReduceMean", opset: 18, in: []normOrtIn{x(f16, 3, 40), axes(-1)}, outs: []nn.DType{f16}},
	)
	// ArgMax / ArgMin, with ties from small integer ranges.
	for _, op := range []string{"ArgMax", "ArgMin"} {
		for _, ax := range []int64{0, 1, -1} {
			for _, last := range []int64{0, 1} {
				for _, keep := range []int64{0, 1} {
					attrs := []*onnxpb.AttributeProto{normOrtI("axis", ax), normOrtI("select_last_index", last), normOrtI("keepdims", keep)}
					cs = append(cs,
						normOrtCase{op: op, opset: 13, attrs: attrs, in: []normOrtIn{{dt: f32, shape: []int{3, 5, 4}, lo: -2, hi: 2}}, outs: []nn.DType{i64}},
						normOrtCase{op: op, opset: 13, attrs: attrs, in: []normOrtIn{{dt: i32, shape: []int{3, 5, 4}, lo: -2, hi: 2}}, outs: []nn.DType{i64}})
				}
			}
		}
	}
	// Normalizations.
	for _, opset := range []int{9, 14, 15} {
		cs = append(cs, normOrtCase{op: "BatchNormalization", opset: opset, attrs: []*onnxpb.AttributeProto{normOrtF("epsilon", 1e-3)},
			in: []normOrtIn{x(f32, 2, 3, 4, 5), x(f32, 3), x(f32, 3), x(f32, 3), pos(f32, 3)}, outs: []nn.DType{f32}})
	}
	cs = append(cs,
		normOrtCase{op: "BatchNormalization", opset: 15, in: []normOrtIn{x(f32, 4, 3), x(f32, 3), x(f32, 3), x(f32, 3), pos(f32, 3)}, outs: []nn.DType{f32}},
		normOrtCase{op: "BatchNormalization", opset: 15, in: []normOrtIn{x(f64, 2, 3, 6), x(f64, 3), x(f64, 3), x(f64, 3), pos(f64, 3)}, outs: []nn.DType{f64}},
		normOrtCase{op: "BatchNormalization", opset: 15, attrs: []*onnxpb.AttributeProto{normOrtI("training_mode", 1), normOrtF("momentum", 0.8)},
			in: []normOrtIn{x(f32, 2, 3, 4, 5), x(f32, 3), x(f32, 3), x(f32, 3), pos(f32, 3)}, outs: []nn.DType{f32, f32, f32}},
		normOrtCase{op: "InstanceNormalization", opset: 6, in: []normOrtIn{x(f32, 2, 3, 4, 5), x(f32, 3), x(f32, 3)}, outs: []nn.DType{f32}},
		normOrtCase{op: "InstanceNormalization", opset: 6, attrs: []*onnxpb.AttributeProto{normOrtF("epsilon", 0.1)}, in: []normOrtIn{x(f32, 2, 3, 7), x(f32, 3), x(f32, 3)}, outs: []nn.DType{f32}},
		normOrtCase{op: "MeanVarianceNormalization", opset: 13, in: []normOrtIn{x(f32, 2, 3, 4, 5)}, outs: []nn.DType{f32}, outShape: []int{2, 3, 4, 5}},
		normOrtCase{op: "MeanVarianceNormalization", opset: 13, attrs: []*onnxpb.AttributeProto{normOrtInts("axes", 1)}, in: []normOrtIn{x(f32, 2, 3, 4)}, outs: []nn.DType{f32}, outShape: []int{2, 3, 4}},
		normOrtCase{op: "LpNormalization", opset: 1, in: []normOrtIn{x(f32, 3, 4, 5)}, outs: []nn.DType{f32}},
		normOrtCase{op: "LpNormalization", opset: 1, attrs: []*onnxpb.AttributeProto{normOrtI("axis", 1), normOrtI("p", 1)}, in: []normOrtIn{x(f32, 3, 4, 5)}, outs: []nn.DType{f32}},
		normOrtCase{op: "GroupNormalization", opset: 18, attrs: []*onnxpb.AttributeProto{normOrtI("num_groups", 2)}, in: []normOrtIn{x(f32, 2, 4, 3, 3), x(f32, 2), x(f32, 2)}, outs: []nn.DType{f32}},
		normOrtCase{op: "GroupNormalization", opset: 21, attrs: []*onnxpb.AttributeProto{normOrtI("num_groups", 2)}, in: []normOrtIn{x(f32, 2, 4, 3, 3), x(f32, 4), x(f32, 4)}, outs: []nn.DType{f32}},
		normOrtCase{op: "RMSNormalization", opset: 23, in: []normOrtIn{x(f32, 3, 16), x(f32, 16)}, outs: []nn.DType{f32}},
		normOrtCase{op: "Dropout", opset: 13, in: []normOrtIn{x(f32, 3, 4)}, outs: []nn.DType{f32, nn.Bool}},
		normOrtCase{op: "Dropout", opset: 7, attrs: []*onnxpb.AttributeProto{normOrtF("ratio", 0.3)}, in: []normOrtIn{x(f32, 3, 4)}, outs: []nn.DType{f32}},
	)
	for _, ax := range []int64{0, 1, -1, -2} {
		full := []int{3, 4, 5}
		a := int(ax)
		if a < 0 {
			a += 3
		}
		ps := full[a:]
		cs = append(cs,
			normOrtCase{op: "LayerNormalization", opset: 17, attrs: []*onnxpb.AttributeProto{normOrtI("axis", ax)},
				in: []normOrtIn{x(f32, full...), x(f32, ps...), x(f32, ps...)}, outs: []nn.DType{f32, f32, f32}},
			normOrtCase{op: "LayerNormalization", opset: 17, attrs: []*onnxpb.AttributeProto{normOrtI("axis", ax), normOrtF("epsilon", 0.1)},
				in: []normOrtIn{x(f32, full...), x(f32, ps...)}, outs: []nn.DType{f32}})
	}
	// Half precision.
	cs = append(cs,
		normOrtCase{op: "Softmax", opset: 13, in: []normOrtIn{x(f16, 4, 30)}, outs: []nn.DType{f16}},
		normOrtCase{op: "LogSoftmax", opset: 13, in: []normOrtIn{x(f16, 4, 30)}, outs: []nn.DType{f16}},
		normOrtCase{op: "BatchNormalization", opset: 15, in: []normOrtIn{x(f16, 2, 3, 4), x(f16, 3), x(f16, 3), x(f16, 3), pos(f16, 3)}, outs: []nn.DType{f16}},
		normOrtCase{op: "LayerNormalization", opset: 17, in: []normOrtIn{x(f16, 3, 8), x(f16, 8), x(f16, 8)}, outs: []nn.DType{f16}},
		normOrtCase{op: "InstanceNormalization", opset: 6, in: []normOrtIn{x(f16, 2, 3, 7), x(f16, 3), x(f16, 3)}, outs: []nn.DType{f16}},
		normOrtCase{op: "ReduceSum", opset: 13, in: []normOrtIn{x(f16, 3, 40), axes(-1)}, outs: []nn.DType{f16}},
		normOrtCase{op: "ArgMax", opset: 13, in: []normOrtIn{x(f16, 3, 40)}, outs: []nn.DType{i64}},
	)
	// Empty reductions.
	for _, op := range reds {
		cs = append(cs, normOrtCase{op: op, opset: 18, in: []normOrtIn{x(f32, 2, 0, 4), axes(1)}, outs: []nn.DType{f32}})
	}
	return cs
}

func TestNormAgainstOnnxruntime(t *testing.T) {
	if testing.Short() {
		t.Skip("differential test")
	}
	ortref.Require(t)
	dir := t.TempDir()
	r := &normOrtRand{s: 7}
	failed, skipped := 0, 0
	cases := normOrtCases()
	for ci, c := range cases {
		label := fmt.Sprintf("%s-%d", c.op, c.opset)
		for _, in := range c.in {
			label += fmt.Sprintf(" %v%v", in.dt, in.shape)
		}
		for _, a := range c.attrs {
			label += fmt.Sprintf(" %s=%v%v%v", a.Name, a.I, a.Ints, a.F)
		}
		m := normOrtModel(c)
		path := filepath.Join(dir, fmt.Sprintf("m%d.onnx", ci))
		if err := onnx.Save(path, m); err != nil {
			t.Fatalf("%s: save: %v", label, err)
		}
		inputs := map[string]*nn.Tensor{}
		for i, in := range c.in {
			if in.fixed == nil {
				inputs[fmt.Sprintf("x%d", i)] = normOrtInput(r, in)
			}
		}
		got, want, skip, err := ortAndGraft(path, m, inputs)
		if skip != "" {
			t.Logf("%s: %s (skipped)", label, skip)
			skipped++
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", label, err)
			failed++
			continue
		}
		for i := range c.outs {
			name := fmt.Sprintf("y%d", i)
			if err := normOrtCompare(got[name], want[name]); err != nil {
				t.Errorf("%s: output %d: %v", label, i, err)
				failed++
				break
			}
		}
	}
	t.Logf("%d cases: %d failed, %d not runnable in onnxruntime", len(cases), failed, skipped)
}
