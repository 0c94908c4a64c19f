package convert

import (
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
)

// synth builds small ONNX models for the cases the bundled models lack.
type synth struct {
	m   *onnxpb.ModelProto
	rng *rand.Rand
}

func newSynth(opset int64) *synth {
	return &synth{
		m: &onnxpb.ModelProto{IrVersion: 8, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: opset}},
			Graph: &onnxpb.GraphProto{Name: "synth"}},
		rng: rand.New(rand.NewSource(5)),
	}
}

func valueInfo(name string, dims ...int64) *onnxpb.ValueInfoProto {
	sh := &onnxpb.TensorShapeProto{}
	for i, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
		if i == 0 {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
		}
		sh.Dim = append(sh.Dim, dim)
	}
	tt := &onnxpb.TypeProto_Tensor{ElemType: int32(nn.Float32), Shape: sh}
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}}
}

func (s *synth) input(name string, dims ...int64) {
	s.m.Graph.Input = append(s.m.Graph.Input, valueInfo(name, dims...))
}

func (s *synth) output(name string) { s.outputOf(name, nn.Float32) }

func (s *synth) outputOf(name string, dt nn.DType) {
	s.m.Graph.Output = append(s.m.Graph.Output, &onnxpb.ValueInfoProto{Name: name,
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(dt)}}}})
}

// weight adds a random float initializer; positive makes it > 0 (variances).
func (s *synth) weight(name string, positive bool, shape ...int) {
	t := nn.New(nn.Float32, shape...)
	for i := range t.F32 {
		v := float32(s.rng.NormFloat64())
		if positive {
			v = 0.5 + float32(s.rng.Float64())
		}
		t.F32[i] = v
	}
	s.m.Graph.Initializer = append(s.m.Graph.Initializer, onnx.TensorToProto(name, t))
}

func (s *synth) node(op, name string, in, out []string, attrs ...*onnxpb.AttributeProto) {
	s.m.Graph.Node = append(s.m.Graph.Node, &onnxpb.NodeProto{OpType: op, Name: name, Input: in, Output: out, Attribute: attrs})
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

func floatAttr(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOAT, F: v}
}

// bn adds a BatchNormalization over c channels reading x.
func (s *synth) bn(name, x, y string, c int) {
	for _, p := range []string{"g", "b", "m"} {
		s.weight(name+"."+p, false, c)
	}
	s.weight(name+".v", true, c)
	s.node("BatchNormalization", name, []string{x, name + ".g", name + ".b", name + ".m", name + ".v"}, []string{y}, floatAttr("epsilon", 1e-3))
}

// run saves the model, converts it with ConvertFile (which verifies it
// against graft and, when available, onnxruntime) and returns the report
// and the written graph.
func (s *synth) run(t *testing.T, o Options) (*Report, *nn.Graph) {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.onnx"), filepath.Join(dir, "out.onnx")
	if err := onnx.Save(in, s.m); err != nil {
		t.Fatal(err)
	}
	r, err := ConvertFile(in, out, FileOptions{Options: o, Samples: 2})
	if err != nil {
		t.Fatalf("%v (report %+v)", err, r)
	}
	g, err := onnx.LoadGraph(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append(r.Errors, r.ORTErrors...) {
		t.Logf("%s: max abs %.3g, max rel %.3g (onnxruntime: %s)", e.Name, e.MaxAbs, e.MaxRel, r.ORT)
	}
	return r, g
}

func opTypes(g *nn.Graph) string {
	var s []string
	for _, n := range g.Nodes {
		s = append(s, n.OpType)
	}
	return strings.Join(s, " ")
}

func TestFoldBatchNormGemm(t *testing.T) {
	for _, c := range []struct {
		name        string
		transB      int64
		bias        []int
		beta        float32
		wantBiasLen int
	}{
		{"transB", 1, []int{6}, 1, 6},
		{"plain-beta", 0, []int{1, 6}, 0.5, 6},
		{"no-bias", 1, nil, 1, 6},
		{"scalar-bias", 0, []int{1}, 2, 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSynth(13)
			s.input("x", 1, 4)
			if c.transB != 0 {
				s.weight("W", false, 6, 4)
			} else {
				s.weight("W", false, 4, 6)
			}
			in := []string{"x", "W"}
			if c.bias != nil {
				s.weight("C", false, c.bias...)
				in = append(in, "C")
			}
			s.node("Gemm", "fc", in, []string{"h"}, intAttr("transB", c.transB), floatAttr("beta", c.beta))
			s.bn("bn", "h", "y", 6)
			s.output("y")
			r, g := s.run(t, Options{FoldBN: true})
			if r.NodesAfter != 1 || opTypes(g) != "Gemm" || g.Nodes[0].Name != "fc" || g.Nodes[0].Outputs[0] != "y" {
				t.Errorf("nodes %s, outputs %v", opTypes(g), g.Nodes[0].Outputs)
			}
			if b := g.Params[g.Nodes[0].Input(2)]; b == nil || b.Value.Len() != c.wantBiasLen {
				t.Errorf("bias %v", b)
			}
		})
	}
}

func TestFoldBatchNormConvTranspose(t *testing.T) {
	s := newSynth(13)
	s.input("x", 1, 4, 5, 5)
	s.weight("W", false, 4, 3, 3, 3) // group 2: 6 output channels
	s.node("ConvTranspose", "up", []string{"x", "W"}, []string{"h"}, intAttr("group", 2))
	s.bn("bn", "h", "y", 6)
	s.output("y")
	r, g := s.run(t, Options{FoldBN: true})
	if opTypes(g) != "ConvTranspose" || r.Passes[0].Changed != 1 {
		t.Errorf("nodes %s, passes %+v", opTypes(g), r.Passes)
	}
}

// A weight shared by two convolutions is copied, not changed; a batch norm
// after a convolution whose output is also a graph output stays.
func TestFoldBatchNormSharedAndBlocked(t *testing.T) {
	s := newSynth(13)
	s.input("x", 1, 3, 6, 6)
	s.weight("W", false, 3, 3, 3, 3)
	s.node("Conv", "c1", []string{"x", "W"}, []string{"h1"}, intAttr("group", 1))
	s.bn("bn1", "h1", "y1", 3)
	s.node("Conv", "c2", []string{"y1", "W"}, []string{"h2"})
	s.bn("bn2", "h2", "y2", 3)
	s.output("y2")
	s.output("h2")
	r, g := s.run(t, Options{FoldBN: true})
	if opTypes(g) != "Conv Conv BatchNormalization" {
		t.Errorf("nodes %s", opTypes(g))
	}
	if r.Passes[0].Changed != 1 || len(r.Passes[0].Skipped) != 1 {
		t.Errorf("pass %+v", r.Passes[0])
	}
	if g.Nodes[0].Input(1) == g.Nodes[1].Input(1) || g.Nodes[1].Input(1) != "W" {
		t.Errorf("shared weight: c1 reads %q, c2 %q", g.Nodes[0].Input(1), g.Nodes[1].Input(1))
	}
}

func TestFuseBias(t *testing.T) {
	s := newSynth(13)
	s.input("x", 1, 3, 6, 6)
	s.weight("W1", false, 4, 3, 3, 3)
	s.weight("b1", false, 4)
	s.weight("W2", false, 5, 4, 1, 1)
	s.weight("c1", false, 4, 1, 1)
	s.weight("c2", false, 1, 5, 1, 1)
	s.weight("c3", false, 6) // broadcasts over the width: not a bias
	s.weight("Wf", false, 6, 5)
	s.weight("cf", false, 6)
	s.node("Conv", "conv1", []string{"x", "W1", "b1"}, []string{"h1"})
	s.node("Add", "add1", []string{"h1", "c1"}, []string{"a1"})
	s.node("Conv", "conv2", []string{"a1", "W2"}, []string{"h2"})
	s.node("Add", "add2", []string{"c2", "h2"}, []string{"a2"})
	s.node("Conv", "conv3", []string{"a2", "W2"}, []string{"h3"}, intAttr("group", 1))
	s.output("a2")
	// A Gemm after global pooling: its bias takes the Add too.
	s.node("GlobalAveragePool", "gap", []string{"a2"}, []string{"p"})
	s.node("Flatten", "flat", []string{"p"}, []string{"f"})
	s.node("Gemm", "fc", []string{"f", "Wf"}, []string{"z"}, intAttr("transB", 1))
	s.node("Add", "addf", []string{"z", "cf"}, []string{"logits"})
	s.node("Add", "add3", []string{"x", "c3"}, []string{"a3"})
	s.output("logits")
	s.output("a3")
	r, g := s.run(t, Options{FuseBias: true, EliminateDead: true})
	if got := opTypes(g); got != "Conv Conv GlobalAveragePool Flatten Gemm Add" {
		t.Errorf("nodes %s (%+v)", got, r.Passes)
	}
	if r.Passes[0].Changed != 3 {
		t.Errorf("fused %d, want 3", r.Passes[0].Changed)
	}
}

func TestRemoveIdentityDropout(t *testing.T) {
	s := newSynth(13)
	s.input("x", 1, 4)
	s.weight("W", false, 4, 4)
	s.node("Identity", "id0", []string{"x"}, []string{"x1"})
	s.node("Gemm", "fc", []string{"x1", "W"}, []string{"h"})
	s.node("Dropout", "drop", []string{"h"}, []string{"d"})
	s.node("Relu", "relu", []string{"d"}, []string{"r"})
	s.node("Identity", "id1", []string{"r"}, []string{"y"})
	s.node("Dropout", "drop2", []string{"r"}, []string{"d2", "mask"})
	s.node("Identity", "id2", []string{"x"}, []string{"xcopy"})
	s.output("y")
	s.outputOf("mask", nn.Bool)
	s.output("d2")
	s.output("xcopy")
	r, g := s.run(t, Options{RemoveIdentity: true})
	if got := opTypes(g); got != "Gemm Relu Dropout Identity" {
		t.Errorf("nodes %s (%+v)", got, r.Passes)
	}
	if g.Nodes[1].Outputs[0] != "y" || g.Nodes[2].Input(0) != "y" {
		t.Errorf("relu writes %v, dropout reads %v", g.Nodes[1].Outputs, g.Nodes[2].Inputs)
	}
	if r.Passes[0].Changed != 3 {
		t.Errorf("removed %d, want 3", r.Passes[0].Changed)
	}
}

// TestToFloat16Special converts a graph with the inputs that must stay
// float32 (Resize scales), a ConstantOfShape and a Cast to float: graft and
// onnxruntime run the result.
func TestToFloat16Special(t *testing.T) {
	s := newSynth(13)
	s.input("x", 1, 2, 4, 4)
	scales := nn.New(nn.Float32, 4)
	copy(scales.F32, []float32{1, 1, 2, 1.5})
	s.m.Graph.Initializer = append(s.m.Graph.Initializer, onnx.TensorToProto("scales", scales))
	half := nn.New(nn.Float32, 1)
	half.F32[0] = 0.5
	s.node("Cast", "tofloat", []string{"x"}, []string{"xf"}, intAttr("to", int64(nn.Float32)))
	s.node("Resize", "up", []string{"xf", "", "scales"}, []string{"r"},
		&onnxpb.AttributeProto{Name: "mode", Type: onnxpb.AttributeProto_STRING, S: []byte("linear")})
	s.node("Shape", "shape", []string{"xf"}, []string{"sh"})
	s.node("ConstantOfShape", "fill", []string{"sh"}, []string{"k"},
		&onnxpb.AttributeProto{Name: "value", Type: onnxpb.AttributeProto_TENSOR, T: onnx.TensorToProto("", half)})
	s.node("Add", "add", []string{"xf", "k"}, []string{"a"})
	s.output("r")
	s.output("a")
	r, g := s.run(t, Options{FP16: true})
	if r.ORT != "checked" {
		t.Skipf("onnxruntime: %s", r.ORT)
	}
	if sc := g.Params["scales"]; sc == nil || sc.Value.DType != nn.Float32 {
		t.Errorf("scales became %v", sc)
	}
	for _, n := range g.Nodes {
		if n.OpType == "ConstantOfShape" && n.Attr("value").T.DType != nn.Float16 {
			t.Errorf("%s: value %v", n.Label(), n.Attr("value").T)
		}
	}
	if g.Outputs[0].Name != "r" || g.Outputs[1].Name != "a" || g.Outputs[0].DType != nn.Float32 {
		t.Errorf("outputs %+v", g.Outputs)
	}
}
