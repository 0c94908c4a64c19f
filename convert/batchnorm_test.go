package convert

import (
	"path/filepath"
	"testing"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

func models(name string) string { return filepath.Join("..", "testdata", "models", name+".onnx") }

// load imports a model twice: the reference and the copy to convert.
func load(t *testing.T, name string) (ref, g *nn.Graph) {
	t.Helper()
	var err error
	if ref, err = onnx.LoadGraph(models(name)); err != nil {
		t.Fatal(err)
	}
	if g, err = onnx.LoadGraph(models(name)); err != nil {
		t.Fatal(err)
	}
	return ref, g
}

func countOps(g *nn.Graph, op string) int {
	n := 0
	for _, node := range g.Nodes {
		if node.OpType == op {
			n++
		}
	}
	return n
}

func TestFoldBatchNorm(t *testing.T) {
	for _, name := range []string{"resnet_small", "mobilenet_block"} {
		t.Run(name, func(t *testing.T) {
			ref, g := load(t, name)
			bns := countOps(g, "BatchNormalization")
			if bns == 0 {
				t.Fatal("model has no BatchNormalization")
			}
			before := len(g.Nodes)
			st, err := FoldBatchNorm(g)
			if err != nil {
				t.Fatal(err)
			}
			if st.Changed != bns || countOps(g, "BatchNormalization") != 0 {
				t.Fatalf("folded %d of %d batch norms (skipped %v)", st.Changed, bns, st.Skipped)
			}
			if len(g.Nodes) != before-bns {
				t.Errorf("%d nodes, want %d", len(g.Nodes), before-bns)
			}
			file := writeAndCheck(t, name, ref, g, 1e-5)
			checkORT(t, ref, file, 1e-5)
			// Idempotent: nothing left to fold.
			st2, _ := FoldBatchNorm(g)
			if st2.Changed != 0 {
				t.Errorf("second pass folded %d", st2.Changed)
			}
		})
	}
}
