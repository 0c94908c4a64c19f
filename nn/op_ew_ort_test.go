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

// Differential tests of the elementwise family against onnxruntime: one-node
// models over random inputs of many shapes and element types.

type ewOrtIn struct {
	dt      nn.DType
	shape   []int
	lo, hi  float64 // value range
	nonzero bool    // avoid zeros (divisors)
	special bool    // cycle through NaN, infinities, signed zeros, ...
}

type ewOrtCase struct {
	op    string
	opset int
	attrs []*onnxpb.AttributeProto
	in    []ewOrtIn
	out   nn.DType
}

func ewOrtAttrF(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOAT, F: v}
}

func ewOrtAttrI(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

func ewOrtAttrS(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_STRING, S: []byte(v)}
}

func ewOrtValueInfo(name string, dt nn.DType, shape []int) *onnxpb.ValueInfoProto {
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

func ewOrtModel(c ewOrtCase) *onnxpb.ModelProto {
	g := &onnxpb.GraphProto{Name: "ew"}
	node := &onnxpb.NodeProto{OpType: c.op, Name: "n", Output: []string{"y"}, Attribute: c.attrs}
	for i, in := range c.in {
		name := fmt.Sprintf("x%d", i)
		node.Input = append(node.Input, name)
		g.Input = append(g.Input, ewOrtValueInfo(name, in.dt, in.shape))
	}
	g.Node = []*onnxpb.NodeProto{node}
	g.Output = []*onnxpb.ValueInfoProto{ewOrtValueInfo("y", c.out, nil)}
	return &onnxpb.ModelProto{
		IrVersion:   9,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: int64(c.opset)}},
		Graph:       g,
	}
}

type ewOrtRand struct{ s uint64 }

func (r *ewOrtRand) float() float64 {
	r.s = r.s*6364136223846793005 + 1442695040888963407
	return float64(r.s>>11) / (1 << 53)
}

var ewOrtSpecials = []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1, -1, 1e-40, 0.5, -0.5, 2.5, 100, -100}

func ewOrtInput(r *ewOrtRand, in ewOrtIn) *nn.Tensor {
	t := nn.New(in.dt, in.shape...)
	if in.special {
		for i := 0; i < t.Len(); i++ {
			v := ewOrtSpecials[(i+int(in.lo))%len(ewOrtSpecials)]
			if in.dt == nn.Float64 {
				t.F64[i] = v
			} else {
				t.F32[i] = float32(v)
			}
		}
		t.RoundToDType()
		return t
	}
	for i := 0; i < t.Len(); i++ {
		v := in.lo + (in.hi-in.lo)*r.float()
		switch in.dt.Storage() {
		case nn.StoreF32:
			t.F32[i] = float32(v)
		case nn.StoreF64:
			t.F64[i] = v
		case nn.StoreI64:
			iv := int64(math.Round(v))
			if in.nonzero && iv == 0 {
				iv = 1
			}
			if in.dt == nn.Uint64 && v >= 1<<63 {
				iv = int64(uint64(v))
			}
			t.I64[i] = in.dt.WrapInt(iv)
		case nn.StoreBool:
			t.Bool[i] = v > 0.5*(in.lo+in.hi)
		}
	}
	if in.dt.Storage() == nn.StoreF32 {
		t.RoundToDType()
		if in.nonzero {
			for i, v := range t.F32 {
				if v == 0 {
					t.F32[i] = 0.5
				}
			}
		}
	}
	return t
}

func ewOrtCompare(got, want *nn.Tensor) error {
	if got.DType != want.DType {
		return fmt.Errorf("dtype %v, want %v", got.DType, want.DType)
	}
	if !nn.SameShape(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	rel, abs := 1e-5, 1e-6
	if got.DType == nn.Float16 || got.DType == nn.BFloat16 {
		rel, abs = 1e-3, 1e-3
		if got.DType == nn.BFloat16 {
			rel = 8e-3
		}
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

func ewOrtCases() []ewOrtCase {
	var cs []ewOrtCase
	ints := []nn.DType{nn.Int8, nn.Uint8, nn.Int16, nn.Uint16, nn.Int32, nn.Uint32, nn.Int64, nn.Uint64}
	floats := []nn.DType{nn.Float32, nn.Float64, nn.Float16}
	shapes := [][2][]int{
		{{2, 3, 4}, {2, 3, 4}},
		{{2, 3, 4}, {}},
		{{}, {2, 3, 4}},
		{{2, 3, 4}, {4}},
		{{2, 1, 4}, {3, 1}},
		{{1, 3, 1, 5}, {2, 1, 4, 1}},
		{{2, 3, 70, 70}, {3, 1, 1}}, // large: parallel path
	}
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		for _, dt := range append(append([]nn.DType{}, floats...), ints...) {
			for _, sh := range shapes {
				lo, hi := -100.0, 100.0
				if dt.IsUnsigned() {
					lo = 0
					hi = 250
				}
				if dt == nn.Uint64 {
					hi = 1.8e19
				}
				a := ewOrtIn{dt: dt, shape: sh[0], lo: lo, hi: hi}
				b := ewOrtIn{dt: dt, shape: sh[1], lo: lo, hi: hi, nonzero: op == "Div"}
				if op == "Div" && dt == nn.Uint64 {
					b.hi = 1e6
				}
				cs = append(cs, ewOrtCase{op: op, opset: 14, in: []ewOrtIn{a, b}, out: dt})
			}
		}
	}
	for _, op := range []string{"Max", "Min", "Sum", "Mean"} {
		dts := append(append([]nn.DType{}, floats...), ints...)
		if op == "Sum" || op == "Mean" {
			dts = floats
		}
		for _, dt := range dts {
			lo, hi := -50.0, 50.0
			if dt.IsUnsigned() {
				lo, hi = 0, 200
			}
			if dt == nn.Uint64 {
				hi = 1.8e19
			}
			cs = append(cs, ewOrtCase{op: op, opset: 13, out: dt, in: []ewOrtIn{
				{dt: dt, shape: []int{3, 1, 4}, lo: lo, hi: hi},
				{dt: dt, shape: []int{2, 1}, lo: lo, hi: hi},
				{dt: dt, shape: []int{4}, lo: lo, hi: hi},
			}})
			cs = append(cs, ewOrtCase{op: op, opset: 13, out: dt, in: []ewOrtIn{{dt: dt, shape: []int{5}, lo: lo, hi: hi}}})
		}
	}
	for _, op := range []string{"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"} {
		for _, dt := range []nn.DType{nn.Float32, nn.Int32, nn.Int64, nn.Uint64, nn.Uint8, nn.Float64} {
			lo, hi := -3.0, 3.0
			if dt.IsUnsigned() {
				lo = 0
			}
			cs = append(cs, ewOrtCase{op: op, opset: 16, out: nn.Bool, in: []ewOrtIn{
				{dt: dt, shape: []int{3, 4}, lo: lo, hi: hi}, {dt: dt, shape: []int{4}, lo: lo, hi: hi}}})
		}
	}
	for _, op := range []string{"And", "Or", "Xor"} {
		cs = append(cs, ewOrtCase{op: op, opset: 7, out: nn.Bool, in: []ewOrtIn{
			{dt: nn.Bool, shape: []int{3, 4}, lo: 0, hi: 1}, {dt: nn.Bool, shape: []int{3, 1}, lo: 0, hi: 1}}})
	}
	cs = append(cs, ewOrtCase{op: "Not", opset: 1, out: nn.Bool, in: []ewOrtIn{{dt: nn.Bool, shape: []int{7}, lo: 0, hi: 1}}})
	for _, dt := range []nn.DType{nn.Float32, nn.Int64, nn.Uint8, nn.Bool, nn.Float16} {
		cs = append(cs, ewOrtCase{op: "Where", opset: 16, out: dt, in: []ewOrtIn{
			{dt: nn.Bool, shape: []int{3, 1, 4}, lo: 0, hi: 1}, {dt: dt, shape: []int{2, 1}, lo: 0, hi: 9}, {dt: dt, shape: []int{4}, lo: 0, hi: 9}}})
	}
	// Pow, including mixed types
	pow := [][2]nn.DType{{nn.Float32, nn.Float32}, {nn.Float32, nn.Int64}, {nn.Float32, nn.Int32}, {nn.Int32, nn.Float32},
		{nn.Int64, nn.Int64}, {nn.Int32, nn.Int32}, {nn.Float64, nn.Float64}, {nn.Float16, nn.Float16}, {nn.Float64, nn.Int64}}
	for _, p := range pow {
		cs = append(cs, ewOrtCase{op: "Pow", opset: 15, out: p[0], in: []ewOrtIn{
			{dt: p[0], shape: []int{2, 5}, lo: 0.1, hi: 4}, {dt: p[1], shape: []int{5}, lo: 0, hi: 4}}})
	}
	cs = append(cs, ewOrtCase{op: "Pow", opset: 15, out: nn.Float32, in: []ewOrtIn{
		{dt: nn.Float32, shape: []int{2, 5}, lo: -3, hi: 3}, {dt: nn.Float32, shape: []int{}, lo: 2, hi: 2}}})
	for _, dt := range []nn.DType{nn.Int32, nn.Int64, nn.Int8} {
		for fm := int64(0); fm < 2; fm++ {
			cs = append(cs, ewOrtCase{op: "Mod", opset: 13, out: dt, attrs: []*onnxpb.AttributeProto{ewOrtAttrI("fmod", fm)}, in: []ewOrtIn{
				{dt: dt, shape: []int{3, 4}, lo: -50, hi: 50}, {dt: dt, shape: []int{4}, lo: -9, hi: 9, nonzero: true}}})
		}
	}
	for _, dt := range []nn.DType{nn.Float32, nn.Float64} {
		cs = append(cs, ewOrtCase{op: "Mod", opset: 13, out: dt, attrs: []*onnxpb.AttributeProto{ewOrtAttrI("fmod", 1)}, in: []ewOrtIn{
			{dt: dt, shape: []int{3, 4}, lo: -50, hi: 50}, {dt: dt, shape: []int{4}, lo: -9, hi: 9, nonzero: true}}})
	}
	// unary math and activations over float types
	type un struct {
		op     string
		opset  int
		lo, hi float64
		attrs  []*onnxpb.AttributeProto
	}
	unary := []un{
		{"Sqrt", 13, 0, 100, nil}, {"Exp", 13, -20, 20, nil}, {"Log", 13, 0.01, 100, nil}, {"Neg", 13, -5, 5, nil},
		{"Abs", 13, -5, 5, nil}, {"Reciprocal", 13, 0.5, 5, nil}, {"Floor", 13, -5, 5, nil}, {"Ceil", 13, -5, 5, nil},
		{"Round", 11, -5, 5, nil}, {"Sign", 13, -5, 5, nil}, {"Erf", 13, -3, 3, nil}, {"Sin", 7, -5, 5, nil},
		{"Cos", 7, -5, 5, nil}, {"Relu", 14, -5, 5, nil}, {"Sigmoid", 13, -20, 20, nil}, {"Tanh", 13, -10, 10, nil},
		{"LeakyRelu", 16, -5, 5, []*onnxpb.AttributeProto{ewOrtAttrF("alpha", 0.2)}},
		{"Elu", 6, -5, 5, []*onnxpb.AttributeProto{ewOrtAttrF("alpha", 0.7)}},
		{"Selu", 6, -5, 5, nil}, {"Celu", 12, -5, 5, []*onnxpb.AttributeProto{ewOrtAttrF("alpha", 2)}},
		{"HardSigmoid", 6, -5, 5, []*onnxpb.AttributeProto{ewOrtAttrF("alpha", 0.3), ewOrtAttrF("beta", 0.4)}},
		{"HardSwish", 14, -5, 5, nil}, {"Softplus", 1, -30, 30, nil}, {"Softsign", 1, -5, 5, nil},
		{"Gelu", 20, -5, 5, nil}, {"Gelu", 20, -5, 5, []*onnxpb.AttributeProto{ewOrtAttrS("approximate", "tanh")}},
		{"Mish", 18, -10, 10, nil}, {"ThresholdedRelu", 10, -3, 3, []*onnxpb.AttributeProto{ewOrtAttrF("alpha", 0.5)}},
		{"Shrink", 9, -3, 3, []*onnxpb.AttributeProto{ewOrtAttrF("lambd", 0.7), ewOrtAttrF("bias", 0.2)}},
		{"Tan", 7, -1.5, 1.5, nil}, {"Asin", 7, -1, 1, nil}, {"Acos", 7, -1, 1, nil}, {"Atan", 7, -5, 5, nil},
		{"Sinh", 9, -5, 5, nil}, {"Cosh", 9, -5, 5, nil}, {"Asinh", 9, -5, 5, nil}, {"Acosh", 9, 1, 5, nil}, {"Atanh", 9, -0.99, 0.99, nil},
	}
	for _, u := range unary {
		for _, dt := range []nn.DType{nn.Float32, nn.Float64, nn.Float16} {
			for _, shape := range [][]int{{3, 7}, {64, 301}} {
				cs = append(cs, ewOrtCase{op: u.op, opset: u.opset, attrs: u.attrs, out: dt,
					in: []ewOrtIn{{dt: dt, shape: shape, lo: u.lo, hi: u.hi}}})
			}
		}
	}
	for _, op := range []string{"Neg", "Abs", "Sign", "Relu"} {
		for _, dt := range []nn.DType{nn.Int8, nn.Int32, nn.Int64} {
			cs = append(cs, ewOrtCase{op: op, opset: 14, out: dt, in: []ewOrtIn{{dt: dt, shape: []int{9}, lo: -100, hi: 100}}})
		}
	}
	cs = append(cs, ewOrtCase{op: "PRelu", opset: 16, out: nn.Float32, in: []ewOrtIn{
		{dt: nn.Float32, shape: []int{2, 3, 4, 5}, lo: -5, hi: 5}, {dt: nn.Float32, shape: []int{3, 1, 1}, lo: 0, hi: 1}}})
	cs = append(cs, ewOrtCase{op: "PRelu", opset: 16, out: nn.Float32, in: []ewOrtIn{
		{dt: nn.Float32, shape: []int{2, 3, 4, 5}, lo: -5, hi: 5}, {dt: nn.Float32, shape: []int{5}, lo: 0, hi: 1}}})
	for _, dt := range []nn.DType{nn.Float32, nn.Int8, nn.Int32, nn.Int64, nn.Uint8, nn.Float16, nn.Float64} {
		lo, hi := -100.0, 100.0
		if dt.IsUnsigned() {
			lo, hi = 0, 200
		}
		cs = append(cs, ewOrtCase{op: "Clip", opset: 13, out: dt, in: []ewOrtIn{
			{dt: dt, shape: []int{4, 5}, lo: lo, hi: hi}, {dt: dt, shape: []int{}, lo: lo / 2, hi: lo / 2}, {dt: dt, shape: []int{}, lo: hi / 2, hi: hi / 2}}})
	}
	cs = append(cs, ewOrtCase{op: "Clip", opset: 6, out: nn.Float32, attrs: []*onnxpb.AttributeProto{ewOrtAttrF("min", -1), ewOrtAttrF("max", 2)},
		in: []ewOrtIn{{dt: nn.Float32, shape: []int{4, 5}, lo: -5, hi: 5}}})
	// Cast between every pair of supported types, with in-range values
	all := []nn.DType{nn.Float32, nn.Float64, nn.Float16, nn.BFloat16, nn.Int8, nn.Uint8, nn.Int16, nn.Uint16,
		nn.Int32, nn.Uint32, nn.Int64, nn.Uint64, nn.Bool}
	for _, from := range all {
		for _, to := range all {
			lo, hi := -100.0, 100.0
			if from.IsUnsigned() || to.IsUnsigned() {
				lo = 0
			}
			if from == nn.Bool {
				lo, hi = 0, 1
			}
			cs = append(cs, ewOrtCase{op: "Cast", opset: 19, out: to, attrs: []*onnxpb.AttributeProto{ewOrtAttrI("to", int64(to))},
				in: []ewOrtIn{{dt: from, shape: []int{4, 6}, lo: lo, hi: hi}}})
		}
	}
	// integer narrowing wraps
	for _, to := range []nn.DType{nn.Int8, nn.Uint8, nn.Int16, nn.Uint16, nn.Int32, nn.Uint32, nn.Uint64} {
		cs = append(cs, ewOrtCase{op: "Cast", opset: 19, out: to, attrs: []*onnxpb.AttributeProto{ewOrtAttrI("to", int64(to))},
			in: []ewOrtIn{{dt: nn.Int64, shape: []int{16}, lo: -1e12, hi: 1e12}}})
	}
	// out-of-range float -> integer conversions (x86 semantics in onnxruntime)
	for _, from := range []nn.DType{nn.Float32, nn.Float64} {
		for _, to := range []nn.DType{nn.Int8, nn.Uint8, nn.Int16, nn.Uint16, nn.Int32, nn.Uint32, nn.Int64, nn.Uint64} {
			cs = append(cs, ewOrtCase{op: "Cast", opset: 19, out: to, attrs: []*onnxpb.AttributeProto{ewOrtAttrI("to", int64(to))},
				in: []ewOrtIn{{dt: from, shape: []int{32}, lo: -1e10, hi: 1e10}}})
			cs = append(cs, ewOrtCase{op: "Cast", opset: 19, out: to, attrs: []*onnxpb.AttributeProto{ewOrtAttrI("to", int64(to))},
				in: []ewOrtIn{{dt: from, shape: []int{32}, lo: -1e20, hi: 1e20}}})
		}
	}
	// large float64 -> float16 / bfloat16 values round once
	cs = append(cs, ewOrtCase{op: "Cast", opset: 19, out: nn.Float16, attrs: []*onnxpb.AttributeProto{ewOrtAttrI("to", int64(nn.Float16))},
		in: []ewOrtIn{{dt: nn.Float64, shape: []int{64}, lo: -70000, hi: 70000}}})
	cs = append(cs, ewOrtCase{op: "CastLike", opset: 15, out: nn.Int32, in: []ewOrtIn{
		{dt: nn.Float32, shape: []int{6}, lo: -9, hi: 9}, {dt: nn.Int32, shape: []int{}, lo: 0, hi: 0}}})
	for _, op := range []string{"BitwiseAnd", "BitwiseOr", "BitwiseXor"} {
		for _, dt := range []nn.DType{nn.Int8, nn.Uint8, nn.Int32, nn.Uint64} {
			cs = append(cs, ewOrtCase{op: op, opset: 18, out: dt, in: []ewOrtIn{
				{dt: dt, shape: []int{3, 4}, lo: 0, hi: 120}, {dt: dt, shape: []int{4}, lo: 0, hi: 120}}})
		}
	}
	for _, dir := range []string{"LEFT", "RIGHT"} {
		for _, dt := range []nn.DType{nn.Uint8, nn.Uint16, nn.Uint32, nn.Uint64} {
			cs = append(cs, ewOrtCase{op: "BitShift", opset: 11, out: dt, attrs: []*onnxpb.AttributeProto{ewOrtAttrS("direction", dir)}, in: []ewOrtIn{
				{dt: dt, shape: []int{3, 4}, lo: 0, hi: 250}, {dt: dt, shape: []int{4}, lo: 0, hi: 7}}})
		}
	}
	// special values: NaN, infinities, signed zeros, subnormals
	sp := func(dt nn.DType, n, shift int) ewOrtIn {
		return ewOrtIn{dt: dt, shape: []int{n}, lo: float64(shift), special: true}
	}
	for _, dt := range []nn.DType{nn.Float32, nn.Float64} {
		n := len(ewOrtSpecials)
		for _, op := range []string{"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Equal", "Less", "Greater"} {
			out := dt
			if op == "Equal" || op == "Less" || op == "Greater" {
				out = nn.Bool
			}
			for shift := 0; shift < n; shift++ {
				cs = append(cs, ewOrtCase{op: op, opset: 15, out: out, in: []ewOrtIn{sp(dt, n, 0), sp(dt, n, shift)}})
			}
		}
		for _, u := range unary {
			if u.opset > 18 && dt == nn.Float64 {
				continue
			}
			cs = append(cs, ewOrtCase{op: u.op, opset: u.opset, attrs: u.attrs, out: dt, in: []ewOrtIn{sp(dt, n, 0)}})
		}
		cs = append(cs, ewOrtCase{op: "Clip", opset: 13, out: dt, in: []ewOrtIn{sp(dt, n, 0), {dt: dt, shape: []int{}, lo: -1, hi: -1}, {dt: dt, shape: []int{}, lo: 1, hi: 1}}})
		for _, to := range []nn.DType{nn.Float16, nn.BFloat16, nn.Bool, nn.Float32, nn.Float64} {
			cs = append(cs, ewOrtCase{op: "Cast", opset: 19, out: to, attrs: []*onnxpb.AttributeProto{ewOrtAttrI("to", int64(to))}, in: []ewOrtIn{sp(dt, n, 0)}})
		}
	}
	return cs
}

func TestEwAgainstOnnxruntime(t *testing.T) {
	if testing.Short() {
		t.Skip("long differential test")
	}
	ortref.Require(t)
	dir := t.TempDir()
	r := &ewOrtRand{s: 42}
	failed, skipped := 0, 0
	cases := ewOrtCases()
	for ci, c := range cases {
		label := c.op
		for _, in := range c.in {
			label += fmt.Sprintf(" %v%v", in.dt, in.shape)
		}
		for _, a := range c.attrs {
			label += fmt.Sprintf(" %s=%v%s", a.Name, a.I+int64(a.F), a.S)
		}
		m := ewOrtModel(c)
		path := filepath.Join(dir, fmt.Sprintf("m%d.onnx", ci))
		if err := onnx.Save(path, m); err != nil {
			t.Fatalf("%s: save: %v", label, err)
		}
		inputs := map[string]*nn.Tensor{}
		for i, in := range c.in {
			inputs[fmt.Sprintf("x%d", i)] = ewOrtInput(r, in)
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
		if err := ewOrtCompare(got["y"], want["y"]); err != nil {
			t.Errorf("%s: %v", label, err)
			failed++
		}
	}
	t.Logf("%d cases: %d failed, %d not runnable in onnxruntime", len(cases), failed, skipped)
}

// BenchmarkEwVsOnnxruntime times a few hot elementwise kernels in graft and
// in onnxruntime (default threads) on the same inputs.
func BenchmarkEwVsOnnxruntime(b *testing.B) {
	ortref.Require(b)
	f32 := func(shape ...int) ewOrtIn { return ewOrtIn{dt: nn.Float32, shape: shape, lo: -3, hi: 3} }
	cases := []struct {
		name string
		c    ewOrtCase
	}{
		{"AddSame1M", ewOrtCase{op: "Add", opset: 14, out: nn.Float32, in: []ewOrtIn{f32(1024, 1024), f32(1024, 1024)}}},
		{"AddChannel", ewOrtCase{op: "Add", opset: 14, out: nn.Float32, in: []ewOrtIn{f32(8, 64, 56, 56), f32(64, 1, 1)}}},
		{"MulRow", ewOrtCase{op: "Mul", opset: 14, out: nn.Float32, in: []ewOrtIn{f32(4, 128, 768), f32(768)}}},
		{"MulSmallInner", ewOrtCase{op: "Mul", opset: 14, out: nn.Float32, in: []ewOrtIn{f32(100000, 3), f32(3)}}},
		{"Sigmoid1M", ewOrtCase{op: "Sigmoid", opset: 13, out: nn.Float32, in: []ewOrtIn{f32(1024, 1024)}}},
		{"Tanh1M", ewOrtCase{op: "Tanh", opset: 13, out: nn.Float32, in: []ewOrtIn{f32(1024, 1024)}}},
		{"Erf1M", ewOrtCase{op: "Erf", opset: 13, out: nn.Float32, in: []ewOrtIn{f32(1024, 1024)}}},
		{"Relu1M", ewOrtCase{op: "Relu", opset: 14, out: nn.Float32, in: []ewOrtIn{f32(1024, 1024)}}},
		{"Gelu1M", ewOrtCase{op: "Gelu", opset: 20, out: nn.Float32, in: []ewOrtIn{f32(1024, 1024)}}},
	}
	dir := b.TempDir()
	for i, cs := range cases {
		m := ewOrtModel(cs.c)
		path := filepath.Join(dir, fmt.Sprintf("b%d.onnx", i))
		if err := onnx.Save(path, m); err != nil {
			b.Fatal(err)
		}
		r := &ewOrtRand{s: 7}
		inputs := map[string]*nn.Tensor{}
		for j, in := range cs.c.in {
			inputs[fmt.Sprintf("x%d", j)] = ewOrtInput(r, in)
		}
		g, err := onnx.Import(m, onnx.ImportOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(cs.name+"/graft", func(b *testing.B) {
			for k := 0; k < b.N; k++ {
				if _, err := g.Run(nil, inputs); err != nil {
					b.Fatal(err)
				}
			}
		})
		s, err := ortref.Open(path, 0)
		if err != nil {
			b.Logf("%s: %v", cs.name, err)
			continue
		}
		b.Run(cs.name+"/ort", func(b *testing.B) {
			for k := 0; k < b.N; k++ {
				if _, err := s.Run(inputs); err != nil {
					b.Fatal(err)
				}
			}
		})
		s.Close()
	}
}
