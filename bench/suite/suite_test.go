package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/onnx"
)

// TestFreezeSpecsMatchPyTorch checks that the fine-tuning rows train as
// many parameters as bench/pytorch_train_step.py does. The expected counts
// are PyTorch's (sum of numel over the parameters with requires_grad, torch
// 1.13 / torchvision 0.14), not graft's.
func TestFreezeSpecsMatchPyTorch(t *testing.T) {
	want := map[string]map[string]int64{
		"resnet18":     {"full": 11689512, "last": 8906728},
		"mobilenet_v2": {"full": 3504872, "last": 2167080},
	}
	for model, modes := range want {
		path := filepath.Join("..", "..", "testdata", "bench", model+"_bn.onnx")
		if _, err := os.Stat(path); err != nil {
			t.Logf("%s missing (git-ignored; testdata/gen/export_bench_models.py --keep-bn): skipped", path)
			continue
		}
		for mode, n := range modes {
			spec := "none"
			if mode == "last" {
				spec = lastBlock[model]
			}
			got, err := trainableParams(path, spec)
			if err != nil {
				t.Fatalf("%s %s: %v", model, mode, err)
			}
			if got != n && sharesParams(t, path) {
				t.Skipf("%s was exported with shared BatchNorm parameters (before export_bench_models.py made them distinct): re-export it", path)
			}
			if got != n {
				t.Errorf("%s %s (--freeze %s): %d trainable parameters, PyTorch trains %d", model, mode, spec, got, n)
			}
		}
	}
}

// sharesParams reports whether an Identity node copies an initializer: the
// ONNX exporter's deduplication of equal parameters.
func sharesParams(t *testing.T, path string) bool {
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	inits := map[string]bool{}
	for _, in := range m.GetGraph().GetInitializer() {
		inits[in.GetName()] = true
	}
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "Identity" && len(n.GetInput()) == 1 && inits[n.GetInput()[0]] {
			return true
		}
	}
	return false
}

func TestJudgeAndCells(t *testing.T) {
	pure := &buildResult{Name: "pure Go"}
	blas := &buildResult{Name: "OpenBLAS", Tags: "openblas"}
	inf := func() *row {
		return &row{Section: "inference", Name: "resnet18 b8", Model: "resnet18", Batch: 8, Unit: "ms", Graft: 30, Reference: 20, RefName: "onnxruntime 1.30.0"}
	}
	res := &results{Builds: []*buildResult{pure, blas}}
	pure.Rows = []*row{inf()}
	blas.Rows = []*row{inf(),
		{Section: "train", Name: "resnet18 full b16", Mode: "full", Unit: "samples/s", Graft: 20, Reference: 19, GraftRSSMiB: 900, RefRSSMiB: 1000},
		{Section: "transfer", Name: "fmnist_cnn head-only end-to-end", Mode: "end-to-end", Unit: "s", Graft: 1, Reference: 2.5,
			GraftRSSMiB: 100, RefRSSMiB: 400, Details: map[string]any{"graft_accuracy": 0.93, "reference_accuracy": 0.93}},
		{Section: "train", Name: "mobilenet_v2 full b16", Mode: "full", Unit: "samples/s", Note: noteNoTorch},
	}
	speedups(res)
	for _, b := range res.Builds {
		for _, r := range b.Rows {
			judge(b, r)
		}
	}
	if r := pure.Rows[0]; r.Target != "" {
		t.Errorf("pure-Go inference row has a target %q; the inference bar is for the openblas build", r.Target)
	}
	checks := []struct {
		r       *row
		speedup float64
		target  string
		met     bool
		cmp     string
	}{
		{blas.Rows[0], 20.0 / 30, "lat<=1.5x ok", true, "1.50x slower"},
		{blas.Rows[1], 20.0 / 19, ">=1x ok, rss<=ref ok", true, "1.05x faster"},
		{blas.Rows[2], 2.5, ">=3x MISS, rss<=ref ok", false, "2.50x faster"},
	}
	for _, c := range checks {
		if diff := c.r.Speedup - c.speedup; diff > 1e-12 || diff < -1e-12 {
			t.Errorf("%s: speedup %v, want %v", c.r.Name, c.r.Speedup, c.speedup)
		}
		if c.r.Target != c.target || c.r.TargetMet == nil || *c.r.TargetMet != c.met {
			t.Errorf("%s: target %q met %v, want %q %v", c.r.Name, c.r.Target, c.r.TargetMet, c.target, c.met)
		}
		if cells := rowCells(c.r); cells[5] != c.cmp {
			t.Errorf("%s: GRAFT VS REF %q, want %q", c.r.Name, cells[5], c.cmp)
		}
	}
	missing := rowCells(blas.Rows[3])
	if missing[2] != "-" || missing[3] != "-" || !strings.Contains(missing[8], "no PyTorch") || blas.Rows[3].Target != "" {
		t.Errorf("row without reference: cells %q, target %q", missing, blas.Rows[3].Target)
	}
}
