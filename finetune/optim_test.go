package finetune

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/graftml/graft/nn"
)

// TestOptimizersMatchPyTorch replays the gradients of testdata/optim/ref.json
// (written by testdata/gen/optim_ref.py with PyTorch) and compares every
// step's weights.
func TestOptimizersMatchPyTorch(t *testing.T) {
	b, err := os.ReadFile("../testdata/optim/ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []struct {
			Optimizer string         `json:"optimizer"`
			Config    map[string]any `json:"config"`
			W0        []float32      `json:"w0"`
			Grads     [][]float32    `json:"grads"`
			Weights   [][]float32    `json:"weights"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	num := func(m map[string]any, k string) float64 {
		if v, ok := m[k].(float64); ok {
			return v
		}
		return 0
	}
	for _, c := range ref.Cases {
		cfg := OptimizerConfig{Name: c.Optimizer, Momentum: num(c.Config, "momentum"), WeightDecay: num(c.Config, "weight_decay"),
			Beta1: num(c.Config, "beta1"), Beta2: num(c.Config, "beta2"), Eps: num(c.Config, "eps")}
		if c.Optimizer == "adamw" && c.Config["weight_decay"] == nil {
			cfg.WeightDecay = 0.01
		}
		if v, ok := c.Config["nesterov"].(bool); ok {
			cfg.Nesterov = v
		}
		opt, err := NewOptimizer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		p := &nn.Param{Name: "w", Value: nn.FromFloat32(append([]float32{}, c.W0...), len(c.W0))}
		for step, g := range c.Grads {
			opt.Step([]*nn.Param{p}, []*nn.Tensor{nn.FromFloat32(g, len(g))}, num(c.Config, "lr"))
			for i, want := range c.Weights[step] {
				if got := p.Value.F32[i]; math.Abs(float64(got-want)) > 1e-6+1e-5*math.Abs(float64(want)) {
					t.Fatalf("%s %v step %d weight %d: %g, PyTorch %g", c.Optimizer, c.Config, step, i, got, want)
				}
			}
		}
	}
}

// TestLossesMatchPyTorch compares loss values and gradients with PyTorch's
// (testdata/optim/loss_ref.json).
func TestLossesMatchPyTorch(t *testing.T) {
	b, err := os.ReadFile("../testdata/optim/loss_ref.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Logits  []float32 `json:"logits"`
		Labels  []int     `json:"labels"`
		Targets []float32 `json:"targets"`
		Cases   []struct {
			Loss  string    `json:"loss"`
			Value float64   `json:"value"`
			Grad  []float64 `json:"grad"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	x := nn.FromFloat32(ref.Logits, 4, 5)
	targets := nn.FromFloat32(ref.Targets, 4, 5)
	for _, c := range ref.Cases {
		var l Loss
		switch c.Loss {
		case "ce":
			l = CrossEntropy{}
		case "ce_smooth0.1":
			l = CrossEntropy{LabelSmoothing: 0.1}
		case "bce":
			l = BCE{}
		case "mse":
			l = MSE{}
		}
		tg := targets
		if c.Loss == "bce" {
			tg = nil // one-hot targets from the labels
		}
		v, g, err := l.Compute(x, ref.Labels, tg)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(v-c.Value) > 1e-5*math.Max(1, math.Abs(c.Value)) {
			t.Errorf("%s: loss %g, PyTorch %g", c.Loss, v, c.Value)
		}
		for i, want := range c.Grad {
			if math.Abs(float64(g.F32[i])-want) > 1e-6 {
				t.Errorf("%s: grad[%d] %g, PyTorch %g", c.Loss, i, g.F32[i], want)
				break
			}
		}
	}
}
