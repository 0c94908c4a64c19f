package convert

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/internal/testenv"
)

var allModels = []string{"lenet", "resnet_small", "mobilenet_block", "se_block", "shufflenet_shuffle",
	"transformer_encoder", "transformer_encoder_opset17", "lstm_classifier", "gru_classifier", "fmnist_cnn"}

// TestPassesOnModels runs every pass alone, and all together, on every
// bundled model: outputs keep their names and match the original (graft on
// the in-memory and written graph, onnxruntime on the written file), and a
// second application changes nothing.
func TestPassesOnModels(t *testing.T) {
	passes := map[string]Options{
		"fold-constants":  {FoldConstants: true},
		"remove-identity": {RemoveIdentity: true},
		"fold-bn":         {FoldBN: true},
		"fuse-bias":       {FuseBias: true},
		"eliminate-dead":  {EliminateDead: true},
		"all":             All(),
		"fp16-weights":    {FP16Weights: true},
		"fp16":            {FP16: true},
	}
	for _, name := range allModels {
		for pname, o := range passes {
			t.Run(name+"/"+pname, func(t *testing.T) {
				ref, g := load(t, name)
				before := len(g.Nodes)
				st, err := Apply(g, o)
				if err != nil {
					t.Fatal(err)
				}
				tol := 1e-5
				if !o.Exact() {
					tol = 1e-2
				}
				file := writeAndCheck(t, name, ref, g, tol)
				checkORT(t, ref, file, tol)
				names := map[string]bool{}
				for _, n := range ref.Nodes {
					names[n.Name] = true
				}
				for _, n := range g.Nodes {
					if !names[n.Name] && !strings.HasPrefix(n.Name, "graft_") {
						t.Errorf("node %s is new and not named graft_*", n.Label())
					}
				}
				after := len(g.Nodes)
				t.Logf("nodes %d -> %d, %+v", before, after, st)
				st2, err := Apply(g, o)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range st2 {
					if s.Changed != 0 && s.Pass != "eliminate-dead" {
						t.Errorf("second %s changed %d", s.Pass, s.Changed)
					}
				}
				if len(g.Nodes) != after {
					t.Errorf("second application: %d nodes, want %d", len(g.Nodes), after)
				}
			})
		}
	}
}

func TestAllReducesNodes(t *testing.T) {
	want := map[string]int{"resnet_small": 6, "mobilenet_block": 7}
	for name, fewer := range want {
		_, g := load(t, name)
		before := len(g.Nodes)
		if _, err := Apply(g, All()); err != nil {
			t.Fatal(err)
		}
		if before-len(g.Nodes) < fewer {
			t.Errorf("%s: %d -> %d nodes, want at least %d fewer", name, before, len(g.Nodes), fewer)
		}
		for _, n := range g.Nodes {
			if n.OpType == "BatchNormalization" || n.Folded {
				t.Errorf("%s: %s left", name, n.Label())
			}
		}
	}
}

// TestSharedModels converts the Model Zoo and community models of the
// shared directory with every exact pass, and to float16; ConvertFile
// verifies each against the original in graft and onnxruntime.
func TestSharedModels(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "models")
	for _, name := range []string{"mnist-8", "super-resolution-10", "version-RFB-320", "silero_vad_openvino_16k", "gtcrn_simple"} {
		for _, o := range []Options{All(), {FoldConstants: true, FP16: true}} {
			t.Run(name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out.onnx")
				r, err := ConvertFile(filepath.Join(dir, name+".onnx"), out, FileOptions{Options: o, Samples: 1})
				if err != nil {
					t.Fatal(err)
				}
				for i, e := range r.Errors {
					ort := "-"
					if i < len(r.ORTErrors) {
						ort = fmt.Sprintf("%.3g", r.ORTErrors[i].MaxRel)
					}
					t.Logf("fp16=%v nodes %d -> %d, bytes %d -> %d, %s: max rel %.3g (onnxruntime %s)", o.FP16, r.NodesBefore, r.NodesAfter, r.BytesBefore, r.BytesAfter, e.Name, e.MaxRel, ort)
				}
			})
		}
	}
}
