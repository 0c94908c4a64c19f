package convert

import (
	"path/filepath"
	"testing"

	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// writeAndCheck exports g over the original file, saves it, re-imports it
// and compares it with ref (in-memory graph and written file alike); the
// written path is returned. Graph output names must be unchanged.
func writeAndCheck(t *testing.T, name string, ref, g *nn.Graph, tol float64) string {
	t.Helper()
	if len(g.Outputs) != len(ref.Outputs) {
		t.Fatalf("%d outputs, want %d", len(g.Outputs), len(ref.Outputs))
	}
	for i := range ref.Outputs {
		if g.Outputs[i].Name != ref.Outputs[i].Name {
			t.Errorf("output %d renamed %q -> %q", i, ref.Outputs[i].Name, g.Outputs[i].Name)
		}
	}
	base, err := onnx.Load(models(name))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "out.onnx")
	if err := Write(base, g, file); err != nil {
		t.Fatal(err)
	}
	g2, err := onnx.LoadGraph(file)
	if err != nil {
		t.Fatalf("re-import: %v", err)
	}
	for _, gg := range []*nn.Graph{g, g2} {
		errs, err := Compare(ref, gg, 3, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range errs {
			t.Logf("%s: max abs %.3g, max rel %.3g", e.Name, e.MaxAbs, e.MaxRel)
			if e.MaxRel > tol || e.MaxAbs > tol*10 {
				t.Errorf("%s: max abs %.3g, max rel %.3g beyond %g", e.Name, e.MaxAbs, e.MaxRel, tol)
			}
		}
	}
	return file
}

func checkORT(t *testing.T, ref *nn.Graph, file string, tol float64) {
	t.Helper()
	ortref.Require(t)
	errs, err := CompareRunner(ref, ORTRunner, file, 2, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		t.Logf("onnxruntime %s: max abs %.3g, max rel %.3g", e.Name, e.MaxAbs, e.MaxRel)
		if e.MaxRel > tol {
			t.Errorf("onnxruntime %s: max rel %.3g beyond %g", e.Name, e.MaxRel, tol)
		}
	}
}
