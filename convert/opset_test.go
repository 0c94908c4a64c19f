package convert

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/internal/testenv"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// opsetFile converts in to opset target with ConvertFile (verified in graft
// and, when available, onnxruntime) and returns the written path.
func opsetFile(t *testing.T, in string, target int) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(strings.TrimSuffix(in, ".onnx"))+"_"+itoa(target)+".onnx")
	r, err := ConvertFile(in, out, FileOptions{Options: Options{Opset: target}, Samples: 2})
	if err != nil {
		t.Fatalf("opset %d: %v", target, err)
	}
	for _, e := range append(r.Errors, r.ORTErrors...) {
		t.Logf("opset %d: %s max abs %.3g, max rel %.3g (onnxruntime %s)", target, e.Name, e.MaxAbs, e.MaxRel, r.ORT)
	}
	m, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range m.GetOpsetImport() {
		if op.GetDomain() == "" && op.GetVersion() != int64(target) {
			t.Errorf("written opset %d, want %d", op.GetVersion(), target)
		}
	}
	opsetChecker(t, out, target)
	return out
}

// opsetChecker runs onnx.checker (full check, with shape inference) on
// file through /usr/bin/python3 when it has onnx and knows the opset.
func opsetChecker(t *testing.T, file string, opset int) {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Logf("onnx.checker skipped: no %s", py)
		return
	}
	out, err := exec.Command(py, "-c", "import onnx; print(onnx.defs.onnx_opset_version())").Output()
	if err != nil {
		t.Logf("onnx.checker skipped: python3 has no onnx module")
		return
	}
	var max int
	for _, ch := range strings.TrimSpace(string(out)) {
		max = max*10 + int(ch-'0')
	}
	if opset > max {
		t.Logf("onnx.checker skipped: the installed onnx knows opsets up to %d, file has %d", max, opset)
		return
	}
	cmd := exec.Command(py, "-c", "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", file)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("onnx.checker on opset %d: %v\n%s", opset, err, b)
	}
}

// compareFiles checks that the model at got computes what the one at want
// does (graft on both).
func compareFiles(t *testing.T, want, got string) {
	t.Helper()
	a, err := onnx.LoadGraph(want)
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnx.LoadGraph(got)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := Compare(a, b, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if e.MaxRel > TolExact {
			t.Errorf("%s: max rel %.3g beyond %g", e.Name, e.MaxRel, TolExact)
		}
	}
}

func TestOpsetModels(t *testing.T) {
	for _, c := range []struct {
		model string
		chain []int
	}{
		{"transformer_encoder", []int{17, 13}},
		{"transformer_encoder", []int{21, 13}},
		{"transformer_encoder", []int{11, 13}},
		{"transformer_encoder_opset17", []int{13, 17}},
		{"transformer_encoder_opset17", []int{11}},
		{"transformer_encoder_opset17", []int{21, 13}},
		{"shufflenet_shuffle", []int{17, 13}},
		{"shufflenet_shuffle", []int{21, 11, 13}},
		{"gru_classifier", []int{17, 13}},
		{"gru_classifier", []int{21, 11}},
		{"lstm_classifier", []int{17, 13}},
		{"lstm_classifier", []int{21, 11}},
		{"resnet_small", []int{21, 13}},
		{"resnet_small", []int{11, 17}},
		{"mobilenet_block", []int{21, 11, 13}},
		{"se_block", []int{17, 11}},
		{"lenet", []int{21, 11}},
		{"fmnist_cnn", []int{17, 13}},
	} {
		name := c.model
		for _, v := range c.chain {
			name += "/" + itoa(v)
		}
		t.Run(name, func(t *testing.T) {
			orig := models(c.model)
			file := orig
			for _, v := range c.chain {
				file = opsetFile(t, file, v)
			}
			compareFiles(t, orig, file)
		})
	}
}

// TestOpsetRefusals checks that every node that cannot be converted is
// listed, and that the graph is left unchanged.
func TestOpsetRefusals(t *testing.T) {
	s := newSynth(14)
	s.input("x", 1, 3, 4)
	s.m.Graph.Initializer = append(s.m.Graph.Initializer, onnx.TensorToProto("shape", int64Tensor([]int64{0, 12})))
	s.node("Reshape", "rs", []string{"x", "shape"}, []string{"a"}, intAttr("allowzero", 1))
	s.node("HardSwish", "hs", []string{"a"}, []string{"b"})
	s.node("Softmax", "sm", []string{"b"}, []string{"c"}, intAttr("axis", 0))
	s.output("c")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.onnx")
	if err := onnx.Save(in, s.m); err != nil {
		t.Fatal(err)
	}
	g, err := onnx.LoadGraph(in)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ConvertOpset(g, 11)
	var oe *OpsetError
	// The probe run fails (allowzero keeps the 0), so the Softmax input
	// rank is unknown too.
	if !errors.As(err, &oe) || len(oe.Problems) != 3 {
		t.Fatalf("error %v, want the three nodes listed", err)
	}
	t.Log(err)
	if !strings.Contains(err.Error(), `Reshape "rs": attribute allowzero needs opset 14`) || !strings.Contains(err.Error(), `HardSwish "hs"`) ||
		!strings.Contains(err.Error(), `Softmax "sm": axis 0 of an input of unknown rank`) {
		t.Errorf("error %v", err)
	}
	if g.Opsets[""] != 14 || g.Nodes[2].Opset != 14 || g.Nodes[2].AttrInt("axis", 0) != 0 || len(g.Nodes) != 3 {
		t.Errorf("graph changed on refusal")
	}
	if _, err := ConvertOpset(g, 25); err == nil {
		t.Errorf("opset 25 accepted")
	}
}

var _ = nn.Float32

// TestOpsetSharedModels converts the shared Model Zoo models (opsets 8 to
// 17, with Slice-1 attributes, Upsample, Split, reductions) up and down.
func TestOpsetSharedModels(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "models")
	for _, name := range []string{"mnist-8", "super-resolution-10", "version-RFB-320", "silero_vad_openvino_16k", "gtcrn_simple"} {
		t.Run(name, func(t *testing.T) {
			orig := filepath.Join(dir, name+".onnx")
			if _, err := os.Stat(orig); err != nil {
				t.Skip(err)
			}
			file := orig
			for _, v := range []int{21, 13} {
				file = opsetFile(t, file, v)
			}
			compareFiles(t, orig, file)
		})
	}
}
