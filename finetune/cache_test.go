package finetune

import (
	"context"
	"math"
	"math/rand"
	"testing"

	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// TestFeatureCacheSameResult trains the head of the LeNet export with and
// without the frozen-feature cache and requires the same weights.
func TestFeatureCacheSameResult(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	x := nn.New(nn.Float32, 60, 1, 28, 28)
	for i := range x.F32 {
		x.F32[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, 60)
	for i := range labels {
		labels[i] = i % 3
		// Make the classes separable: brighten a class-specific row.
		for j := 0; j < 28; j++ {
			x.F32[i*784+(labels[i]*9)*28+j] += 2
		}
	}
	ds, err := data.NewMemory(x, labels, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	train := func(noCache bool) (*nn.Graph, *Trainer) {
		g, err := onnx.LoadGraph("../testdata/models/lenet.onnx")
		if err != nil {
			t.Fatal(err)
		}
		h, err := FindHead(g)
		if err != nil {
			t.Fatal(err)
		}
		if err := ReplaceHead(g, h, 3, 1); err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrainer(g, h, Config{Epochs: 3, BatchSize: 8, LR: 0.01, Seed: 2,
			Optimizer: OptimizerConfig{Name: "sgd", Momentum: 0.9}, NoFeatureCache: noCache})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Fit(context.Background(), ds, ds); err != nil {
			t.Fatal(err)
		}
		return g, tr
	}
	cached, tr := train(false)
	if tr.cache == nil {
		t.Fatal("the feature cache was not used")
	}
	plain, _ := train(true)
	for _, name := range []string{"graft_head.weight", "graft_head.bias"} {
		a, b := cached.Params[name].Value.F32, plain.Params[name].Value.F32
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 1e-5+1e-4*math.Abs(float64(b[i])) {
				t.Fatalf("%s[%d]: %g with the cache, %g without", name, i, a[i], b[i])
			}
		}
	}
}
