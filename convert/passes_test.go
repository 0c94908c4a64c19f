package convert

import (
	"testing"
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
