package onnx

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// extTestModel has a 64 KiB float initializer, a small one, an int64 one of
// 8000 bytes and a Constant node holding 2000 floats.
func extTestModel() *onnxpb.ModelProto {
	big := nn.New(nn.Float32, 128, 128)
	for i := range big.F32 {
		big.F32[i] = float32(i) * 0.5
	}
	ints := nn.New(nn.Int64, 1000)
	for i := range ints.I64 {
		ints.I64[i] = int64(i) - 500
	}
	cst := nn.New(nn.Float32, 2000)
	for i := range cst.F32 {
		cst.F32[i] = -float32(i)
	}
	constNode := &onnxpb.NodeProto{Name: "c", OpType: "Constant", Output: []string{"c"},
		Attribute: []*onnxpb.AttributeProto{{Name: "value", Type: onnxpb.AttributeProto_TENSOR, T: TensorToProto("", cst)}}}
	return testModel([]*onnxpb.TensorProto{
		TensorToProto("w", nn.FromFloat32([]float32{1, 2}, 2)),
		TensorToProto("ints", ints),
		TensorToProto("big", big),
	}, constNode)
}

func TestSaveExternal(t *testing.T) {
	dir := t.TempDir()
	m := extTestModel()
	orig := proto.Clone(m).(*onnxpb.ModelProto)
	p := filepath.Join(dir, "m.onnx")
	if err := SaveExternal(p, m, ExternalOptions{Location: "weights/m.bin"}); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m, orig) {
		t.Fatal("SaveExternal changed the model")
	}
	// The model file itself holds only the small tensor's data.
	onDisk, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	raw := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(onDisk, raw); err != nil {
		t.Fatal(err)
	}
	var external []string
	forEachTensor(raw, func(tp *onnxpb.TensorProto) {
		if isExternal(tp) {
			loc, off, length, _ := ExternalLocation(tp)
			external = append(external, tp.GetName())
			if loc != "weights/m.bin" || len(tp.RawData) != 0 {
				t.Errorf("tensor %q: location %q, %d raw bytes", tp.GetName(), loc, len(tp.RawData))
			}
			if length >= 64<<10 && off%4096 != 0 {
				t.Errorf("tensor %q: offset %d not aligned", tp.GetName(), off)
			}
		}
	})
	if strings.Join(external, ",") != "ints,big," {
		t.Errorf("external tensors %q, want ints, big and the Constant value", external)
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	StripExternalRecords(got)
	if !proto.Equal(got, orig) {
		t.Error("Load(SaveExternal(m)) differs from m")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*", ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// Saved again with KeepLocations, the tensors go back to their files
	// even when the threshold would keep them inline.
	p2 := filepath.Join(t.TempDir(), "m2.onnx")
	m2, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveExternal(p2, m2, ExternalOptions{Threshold: 1 << 30, KeepLocations: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(p2), "weights", "m.bin")); err != nil {
		t.Errorf("KeepLocations: %v", err)
	}
	if _, err := os.Stat(p2 + ".data"); err == nil {
		t.Error("KeepLocations also wrote the default data file")
	}
	got2, err := Load(p2)
	if err != nil {
		t.Fatal(err)
	}
	StripExternalRecords(got2)
	if !proto.Equal(got2, orig) {
		t.Error("KeepLocations round trip differs")
	}

	// Errors.
	for _, loc := range []string{"/abs.bin", "../up.bin", "m.onnx"} {
		if err := SaveExternal(p, m, ExternalOptions{Location: loc}); err == nil {
			t.Errorf("location %q accepted", loc)
		}
	}
	bad := testModel([]*onnxpb.TensorProto{{Name: "x", DataType: 1, Dims: []int64{1}, DataLocation: onnxpb.TensorProto_EXTERNAL}})
	wantErr(t, "unloaded external", SaveExternal(filepath.Join(dir, "bad.onnx"), bad, ExternalOptions{}), `tensor "x" refers to external data`)
}

// The onnx Python package must read what SaveExternal writes.
func TestSaveExternalReadByPython(t *testing.T) {
	if testing.Short() {
		t.Skip("runs python; skipped with -short")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import onnx, numpy").Run(); err != nil {
		t.Skip("/usr/bin/python3 with onnx and numpy not available")
	}
	p := filepath.Join(t.TempDir(), "m.onnx")
	if err := SaveExternal(p, extTestModel(), ExternalOptions{}); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m)
print([float(numpy_helper.to_array(t).sum()) for t in m.graph.initializer],
      float(numpy_helper.to_array(m.graph.node[1].attribute[0].t).sum()))
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, p).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	// Sums: 1+2; sum(i-500, i<1000) = -500; 0.5*sum(i<16384) = 67104768;
	// -sum(i<2000) = -1999000.
	if got := strings.TrimSpace(string(out)); got != "[3.0, -500.0, 67104768.0] -1999000.0" {
		t.Errorf("python read %s", got)
	}
}
