package onnx

import (
	"path/filepath"
	"testing"

	"github.com/graftml/graft/internal/testenv"
	"github.com/graftml/graft/nn"
)

// TestStaticShapeFolding checks that the batch-independent parts of a
// PyTorch shape chain fold at import while the batch-dependent ones stay.
func TestStaticShapeFolding(t *testing.T) {
	g, err := LoadGraph(filepath.Join("..", "testdata", "models", "shufflenet_shuffle.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	folded, liveShape := map[string]int{}, 0
	for _, n := range g.Nodes {
		if n.Folded {
			folded[n.OpType]++
		} else if n.OpType == "Shape" {
			liveShape++
		}
	}
	if folded["Gather"] == 0 || folded["Unsqueeze"] == 0 {
		t.Errorf("no Shape→Gather→Unsqueeze chain folded: %v", folded)
	}
	if liveShape == 0 {
		t.Errorf("every Shape node folded, so the batch dimension cannot be dynamic")
	}
	// With folding off the outputs are the same (the PyTorch reference
	// tests check the folded graph at batch 3 and 1).
	m, err := Load(filepath.Join("..", "testdata", "models", "shufflenet_shuffle.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := Import(m, ImportOptions{NoFold: true})
	if err != nil {
		t.Fatal(err)
	}
	feed, err := ZeroInputs(g, 5)
	if err != nil {
		t.Fatal(err)
	}
	x := feed[g.Inputs[0].Name]
	for i := range x.F32 {
		x.F32[i] = float32(i%13) - 6
	}
	a, err := g.Run(nil, feed)
	if err != nil {
		t.Fatal(err)
	}
	b, err := raw.Run(nil, feed)
	if err != nil {
		t.Fatal(err)
	}
	name := g.Outputs[0].Name
	if d, err := nn.Compare(a[name], b[name], 0, 0); err != nil || d.Bad > 0 {
		t.Errorf("folded and unfolded graphs differ at batch 5: %v %+v", err, d)
	}
}

// TestConstantNodeWeights checks that weights stored as Constant nodes (silero
// VAD has no initializers) become named parameters.
func TestConstantNodeWeights(t *testing.T) {
	g, err := LoadGraph(filepath.Join(testenv.SharedDir(t), "models", "silero_vad_openvino_16k.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range g.ParamNames {
		p := g.Params[name]
		if p.Source != nn.FromConstantNode {
			t.Errorf("parameter %q: source %v", name, p.Source)
		}
		n += p.Value.Len()
	}
	if len(g.ParamNames) == 0 || n < 100000 {
		t.Errorf("%d parameters with %d values; want the LSTM and conv weights", len(g.ParamNames), n)
	}
}
