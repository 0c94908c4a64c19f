package onnx_test

import (
	"path/filepath"
	"testing"

	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/internal/testenv"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// roundTrip exports the imported graph, re-imports the written file and
// checks both give identical outputs on seeded inputs.
func roundTrip(t *testing.T, path string, batch int) string {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(m, onnx.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := onnx.Export(m, g, onnx.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := onnx.Save(file, out); err != nil {
		t.Fatal(err)
	}
	g2, err := onnx.LoadGraph(file)
	if err != nil {
		t.Fatalf("re-import: %v", err)
	}
	feed := randomInputs(t, g, batch, 1, 3)
	a, err := g.Run(nil, feed)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g2.Run(nil, feed)
	if err != nil {
		t.Fatalf("exported model: %v", err)
	}
	for _, o := range g.Outputs {
		d, err := nn.Compare(b[o.Name], a[o.Name], 0, 0)
		if err != nil || d.Bad > 0 {
			t.Errorf("output %q differs after export: %v %+v", o.Name, err, d)
		}
	}
	return file
}

func TestExportRoundTrip(t *testing.T) {
	models, _ := filepath.Glob(filepath.Join("..", "testdata", "models", "*.onnx"))
	for _, p := range models {
		t.Run(filepath.Base(p), func(t *testing.T) { roundTrip(t, p, 2) })
	}
	shared := filepath.Join(testenv.SharedDir(t), "models")
	for _, name := range []string{"mnist-8", "super-resolution-10", "version-RFB-320", "silero_vad_openvino_16k", "gtcrn_simple"} {
		t.Run(name, func(t *testing.T) { roundTrip(t, filepath.Join(shared, name+".onnx"), 1) })
	}
}

// TestExportSymbolicBatch exports mnist-8 (fixed batch 1, Reshape to
// [1,256]) and runs the written file in onnxruntime at batch 3.
func TestExportSymbolicBatch(t *testing.T) {
	path := filepath.Join(testenv.SharedDir(t), "models", "mnist-8.onnx")
	ortref.Require(t)
	file := roundTrip(t, path, 3)
	g, err := onnx.LoadGraph(file)
	if err != nil {
		t.Fatal(err)
	}
	if g.Inputs[0].Shape[0].Param != "batch" {
		t.Errorf("exported input shape %s, want a symbolic batch", g.Inputs[0].ShapeString())
	}
	compareWithORT(t, file, g, randomInputs(t, g, 3, 100, 5), 1e-4, 1e-4)
}
