package convert

import (
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

func qntCountOps(g *nn.Graph) map[string]int {
	m := map[string]int{}
	for _, n := range g.Nodes {
		m[n.OpType]++
	}
	return m
}

func qntCheckReport(t *testing.T, r *QuantReport) {
	t.Helper()
	for _, e := range r.Errors {
		t.Logf("graft vs float %s: max abs %.3g, max rel %.3g", e.Name, e.MaxAbs, e.MaxRel)
	}
	for _, e := range r.ORTvsGraft {
		t.Logf("onnxruntime vs graft %s: max abs %.3g, max rel %.3g", e.Name, e.MaxAbs, e.MaxRel)
	}
	if !r.OK {
		t.Errorf("report not OK: %+v", r)
	}
	if r.ORT != "checked" && !strings.HasPrefix(r.ORT, "unavailable") {
		t.Errorf("onnxruntime: %s", r.ORT)
	}
}

// TestQuantizeDynamicLeNet: LeNet (61K parameters, mostly Gemm) shrinks to
// at most 30% of its float32 size; onnxruntime matches graft on the
// written file.
func TestQuantizeDynamicLeNet(t *testing.T) {
	for _, c := range []struct {
		name     string
		o        DynamicOptions
		maxRatio float64
		ops      map[string]int
	}{
		{"per-channel", DynamicOptions{}, 0.30, map[string]int{"Gemm": 0, "MatMulInteger": 3, "DynamicQuantizeLinear": 3, "Conv": 2}},
		{"per-tensor", DynamicOptions{PerTensor: true}, 0.30, map[string]int{"Gemm": 0, "MatMulInteger": 3}},
		{"with convolutions", DynamicOptions{Conv: true}, 0.28, map[string]int{"Gemm": 0, "Conv": 0, "ConvInteger": 2, "MatMulInteger": 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "q.onnx")
			r, err := QuantizeFile(models("lenet"), out, QuantFileOptions{Options: All(), Mode: ModeDynamic, Dynamic: c.o})
			if err != nil {
				t.Fatalf("%v (report %+v)", err, r)
			}
			qntCheckReport(t, r)
			ratio := float64(r.BytesAfter) / float64(r.BytesBefore)
			t.Logf("%d -> %d bytes (%.1f%%)", r.BytesBefore, r.BytesAfter, 100*ratio)
			if ratio > c.maxRatio {
				t.Errorf("size ratio %.3f above %.2f", ratio, c.maxRatio)
			}
			for _, e := range r.ORTvsGraft {
				if e.MaxRel > 1e-5 {
					t.Errorf("onnxruntime vs graft %s: max rel %.3g", e.Name, e.MaxRel)
				}
			}
			g, err := onnx.LoadGraph(out)
			if err != nil {
				t.Fatal(err)
			}
			ops := qntCountOps(g)
			for op, n := range c.ops {
				if ops[op] != n {
					t.Errorf("%d %s nodes, want %d (%v)", ops[op], op, n, ops)
				}
			}
			for _, p := range g.Params {
				if p.Value.DType == nn.Float32 && p.Value.Len() > 3000 {
					t.Errorf("float weight %s %v left", p.Name, p.Value)
				}
			}
		})
	}
}

// TestQuantizeDynamicGemmForms covers Gemm attributes (transB=0, alpha,
// beta, row bias) and MatMul over a 3-D activation, plus a weight stored
// transposed (Transpose of an initializer).
func TestQuantizeDynamicGemmForms(t *testing.T) {
	s := newSynth(13)
	s.input("x", 2, 16)
	s.weight("W1", false, 16, 12)
	s.weight("C1", false, 1, 12)
	s.node("Gemm", "g1", []string{"x", "W1", "C1"}, []string{"h"}, floatAttr("alpha", 0.5), floatAttr("beta", 2))
	s.node("Reshape", "r", []string{"h", "shape"}, []string{"h3"})
	s.m.Graph.Initializer = append(s.m.Graph.Initializer, onnx.TensorToProto("shape", nn.FromInt64([]int64{0, 3, 4}, 3)))
	s.weight("W2t", false, 5, 4)
	s.node("Transpose", "t", []string{"W2t"}, []string{"W2"})
	s.node("MatMul", "mm", []string{"h3", "W2"}, []string{"y"})
	s.output("y")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.onnx"), filepath.Join(dir, "out.onnx")
	if err := onnx.Save(in, s.m); err != nil {
		t.Fatal(err)
	}
	r, err := QuantizeFile(in, out, QuantFileOptions{Mode: ModeDynamic, Samples: 4})
	if err != nil {
		t.Fatalf("%v (report %+v)", err, r)
	}
	qntCheckReport(t, r)
	g, err := onnx.LoadGraph(out)
	if err != nil {
		t.Fatal(err)
	}
	ops := qntCountOps(g)
	if ops["MatMulInteger"] != 2 || ops["Gemm"] != 0 || ops["MatMul"] != 0 || ops["Transpose"] != 0 {
		t.Errorf("ops %v", ops)
	}
	if r.Errors[0].MaxRel > 0.03 {
		t.Errorf("int8 error %.3g relative", r.Errors[0].MaxRel)
	}
}

func TestQuantizeErrors(t *testing.T) {
	s := newSynth(10)
	s.input("x", 2, 4)
	s.weight("W", false, 4, 3)
	s.node("MatMul", "mm", []string{"x", "W"}, []string{"y"})
	s.output("y")
	g, err := onnx.Import(s.m, onnx.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := QuantizeDynamic(g); err == nil || !strings.Contains(err.Error(), "opset 11") {
		t.Errorf("opset 10 dynamic: %v", err)
	}
	if _, err := QuantizeStatic(g, nil, StaticOptions{}); err == nil || !strings.Contains(err.Error(), "opset 13") {
		t.Errorf("opset 10 static: %v", err)
	}
	dir := t.TempDir()
	if _, err := QuantizeFile(models("lenet"), filepath.Join(dir, "q.onnx"), QuantFileOptions{Mode: ModeStatic}); err == nil || !strings.Contains(err.Error(), "calibration") {
		t.Errorf("static without data: %v", err)
	}
	if _, err := QuantizeFile(models("lenet"), filepath.Join(dir, "q.onnx"), QuantFileOptions{Mode: "int4"}); err == nil {
		t.Error("mode int4 accepted")
	}
	if _, err := QuantizeFile(models("lenet"), models("lenet"), QuantFileOptions{Mode: ModeDynamic}); err == nil || !strings.Contains(err.Error(), "input model") {
		t.Errorf("overwrite: %v", err)
	}
	// Nothing to quantize: no file left.
	s = newSynth(13)
	s.input("x", 2, 4)
	s.node("Relu", "r", []string{"x"}, []string{"y"})
	s.output("y")
	in, out := filepath.Join(dir, "relu.onnx"), filepath.Join(dir, "relu_q.onnx")
	if err := onnx.Save(in, s.m); err != nil {
		t.Fatal(err)
	}
	if _, err := QuantizeFile(in, out, QuantFileOptions{Mode: ModeDynamic}); err == nil || !strings.Contains(err.Error(), "nothing to quantize") {
		t.Errorf("relu only: %v", err)
	}
}

// qntRandomData is a calibration set of random samples in [-1, 1].
type qntRandomData struct {
	shape []int
	n     int
}

func (d qntRandomData) Len() int { return d.n }

func (d qntRandomData) Get(i int) (*nn.Tensor, int, error) {
	rng := rand.New(rand.NewSource(int64(i)))
	x := nn.New(nn.Float32, d.shape...)
	for k := range x.F32 {
		x.F32[k] = float32(2*rng.Float64() - 1)
	}
	return x, 0, nil
}

// TestQuantizeStaticModels writes QDQ models of the bundled CNNs,
// calibrated on random data, and checks the structure, the error against
// the float model and onnxruntime against graft.
func TestQuantizeStaticModels(t *testing.T) {
	for _, c := range []struct {
		model  string
		shape  []int
		convs  int
		maxRel float64
	}{
		{"lenet", []int{1, 28, 28}, 2, 0.05},
		{"fmnist_cnn", []int{1, 28, 28}, 3, 0.1},
		{"resnet_small", []int{3, 32, 32}, 6, 0.1},
	} {
		t.Run(c.model, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "q.onnx")
			r, err := QuantizeFile(models(c.model), out, QuantFileOptions{Options: All(), Mode: ModeStatic,
				Calib: qntRandomData{c.shape, 200}, Static: StaticOptions{Samples: 128, BatchSize: 32}})
			if err != nil {
				t.Fatalf("%v (report %+v)", err, r)
			}
			qntCheckReport(t, r)
			t.Logf("%d -> %d bytes (%.1f%%), argmax agreement %.3f, passes %+v", r.BytesBefore, r.BytesAfter, 100*float64(r.BytesAfter)/float64(r.BytesBefore), r.ArgmaxAgreement, r.Passes[len(r.Passes)-1])
			if r.Errors[0].MaxRel > c.maxRel {
				t.Errorf("int8 error %.3g relative, above %g", r.Errors[0].MaxRel, c.maxRel)
			}
			g, err := onnx.LoadGraph(out)
			if err != nil {
				t.Fatal(err)
			}
			ops := qntCountOps(g)
			if ops["Conv"] != c.convs || ops["QuantizeLinear"] == 0 || ops["DequantizeLinear"] <= ops["QuantizeLinear"] {
				t.Errorf("ops %v", ops)
			}
			for _, n := range g.Nodes {
				if n.OpType == "Conv" {
					for i, in := range n.Inputs {
						if p := g.Producers()[in]; p == nil || p.OpType != "DequantizeLinear" {
							t.Errorf("%s input %d %q is not dequantized", n.Label(), i, in)
						}
					}
				}
			}
			for _, p := range g.Params {
				if p.Value.DType == nn.Float32 && p.Value.Len() > 64 && !strings.HasSuffix(p.Name, "_scale") {
					t.Errorf("float weight %s %v left", p.Name, p.Value)
				}
			}
		})
	}
}

func TestQuantUint8Params(t *testing.T) {
	for _, c := range []struct {
		lo, hi float32
		scale  float32
		zero   int64
	}{
		{0, 2.55, 0.01, 0},
		{-1.275, 1.275, 0.01, 128}, // -lo/scale = 127.5 rounds to even 128
		{1, 2, 2.0 / 255, 0},       // 0 joins the range
		{-5.1, -1, 0.02, 255},
		{0, 0, 1, 0},
	} {
		s, z := qntUint8Params(c.lo, c.hi)
		if d := s - c.scale; d > 1e-7 || d < -1e-7 || z != c.zero {
			t.Errorf("[%g, %g]: scale %g zero %d, want %g %d", c.lo, c.hi, s, z, c.scale, c.zero)
		}
	}
}
