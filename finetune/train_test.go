package finetune

import (
	"context"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/graftml/graft/nn"
)

// blobs is a synthetic dataset of separable Gaussian clusters.
type blobs struct {
	x      []*nn.Tensor
	labels []int
}

func (b *blobs) Len() int                           { return len(b.x) }
func (b *blobs) Get(i int) (*nn.Tensor, int, error) { return b.x[i].Clone(), b.labels[i], nil }
func (b *blobs) Classes() []string                  { return []string{"a", "b", "c", "d"} }
func (b *blobs) InputShape() []int                  { return b.x[0].Shape }

func newBlobs(n, dim, classes int, seed int64) *blobs {
	rng := rand.New(rand.NewSource(seed))
	centers := make([][]float64, classes)
	for c := range centers {
		centers[c] = make([]float64, dim)
		for j := range centers[c] {
			centers[c][j] = rng.NormFloat64() * 3
		}
	}
	b := &blobs{}
	for i := 0; i < n; i++ {
		c := i % classes
		x := nn.New(nn.Float32, dim)
		for j := range x.F32 {
			x.F32[j] = float32(centers[c][j] + rng.NormFloat64()*0.5)
		}
		b.x = append(b.x, x)
		b.labels = append(b.labels, c)
	}
	return b
}

// linearModel is x[batch,dim] → Gemm(W[classes,dim], b) → Softmax, built
// directly as a layer graph.
func linearModel(t *testing.T, dim, classes int) *nn.Graph {
	t.Helper()
	g := &nn.Graph{
		Inputs:  []nn.ValueInfo{{Name: "x", DType: nn.Float32, HasShape: true, Shape: []nn.Dim{{Param: "batch"}, {Value: dim}}}},
		Outputs: []nn.ValueInfo{{Name: "prob", DType: nn.Float32}},
		Opsets:  map[string]int{"": 13},
		Consts:  map[string]*nn.Tensor{},
	}
	g.AddParam(&nn.Param{Name: "W", Value: nn.New(nn.Float32, classes, dim)})
	g.AddParam(&nn.Param{Name: "b", Value: nn.New(nn.Float32, classes)})
	g.Nodes = []*nn.Node{
		{Name: "fc", OpType: "Gemm", Opset: 13, Inputs: []string{"x", "W", "b"}, Outputs: []string{"logits"},
			Attrs: map[string]*nn.Attr{"transB": {Name: "transB", Type: nn.AttrInt, I: 1}}},
		{Name: "sm", OpType: "Softmax", Opset: 13, Inputs: []string{"logits"}, Outputs: []string{"prob"}, Attrs: map[string]*nn.Attr{}},
	}
	reg := nn.Standard()
	for _, n := range g.Nodes {
		if err := reg.Build(n); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func TestFitLearnsAndIsDeterministic(t *testing.T) {
	train, val := newBlobs(300, 6, 4, 1), newBlobs(100, 6, 4, 1)
	run := func() (*nn.Graph, *Result) {
		g := linearModel(t, 6, 4)
		h, err := FindHead(g)
		if err != nil {
			t.Fatal(err)
		}
		if h.Logits != "logits" || !h.Softmax || h.Classes != 4 {
			t.Fatalf("head = %+v", h)
		}
		if err := ReplaceHead(g, h, 4, 7); err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrainer(g, h, Config{Epochs: 8, BatchSize: 16, LR: 0.05, Seed: 3,
			Optimizer: OptimizerConfig{Name: "sgd", Momentum: 0.9}, Schedule: "cosine"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := tr.Fit(context.Background(), train, val)
		if err != nil {
			t.Fatal(err)
		}
		return g, res
	}
	g1, r1 := run()
	last := r1.History[len(r1.History)-1]
	if last.ValAcc < 0.95 || last.TrainLoss >= r1.History[0].TrainLoss {
		t.Errorf("did not learn: %+v", r1.History)
	}
	g2, _ := run()
	w1, w2 := g1.Params["graft_head.weight"].Value.F32, g2.Params["graft_head.weight"].Value.F32
	for i := range w1 {
		if w1[i] != w2[i] {
			t.Fatalf("same seed, different weights at %d: %g vs %g", i, w1[i], w2[i])
		}
	}
}

// TestResumeIsExact checks that 4 epochs equal 2 epochs, a checkpoint, and
// 2 more epochs resumed from it (identical weights and history).
func TestResumeIsExact(t *testing.T) {
	train, val := newBlobs(120, 6, 4, 1), newBlobs(40, 6, 4, 2)
	ckpt := filepath.Join(t.TempDir(), "run.ckpt")
	run := func(epochs int, save, resume string) (*nn.Graph, *Result) {
		g := linearModel(t, 6, 4)
		h, _ := FindHead(g)
		if err := ReplaceHead(g, h, 4, 7); err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrainer(g, h, Config{Epochs: epochs, BatchSize: 16, LR: 0.01, Seed: 5,
			Optimizer: OptimizerConfig{Name: "adam"}, Schedule: "step:1:0.7", Checkpoint: save, Resume: resume})
		if err != nil {
			t.Fatal(err)
		}
		res, err := tr.Fit(context.Background(), train, val)
		if err != nil {
			t.Fatal(err)
		}
		return g, res
	}
	full, fullRes := run(4, "", "")
	run(2, ckpt, "")
	resumed, res := run(4, "", ckpt)
	if len(res.History) != 4 {
		t.Fatalf("resumed history has %d epochs, want 4", len(res.History))
	}
	for _, name := range []string{"graft_head.weight", "graft_head.bias"} {
		a, b := full.Params[name].Value.F32, resumed.Params[name].Value.F32
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s[%d]: %g after 4 epochs, %g after 2+2", name, i, a[i], b[i])
			}
		}
	}
	if fullRes.History[3].TrainLoss != res.History[3].TrainLoss {
		t.Errorf("epoch 4 loss %g vs %g", fullRes.History[3].TrainLoss, res.History[3].TrainLoss)
	}
}

// TrainStep (what graft bench --train times) is a real optimization step:
// repeated on one batch it drives the loss down, and with the head frozen
// nothing changes.
func TestTrainStep(t *testing.T) {
	data := newBlobs(16, 5, 4, 3)
	x := nn.New(nn.Float32, 16, 5)
	for i, s := range data.x {
		copy(x.F32[i*5:], s.F32)
	}
	g := linearModel(t, 5, 4)
	h, err := FindHead(g)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(g, h, Config{Epochs: 1, BatchSize: 16, LR: 0.1, Freeze: "none",
		Optimizer: OptimizerConfig{Name: "sgd", Momentum: 0.9}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := tr.TrainStep(context.Background(), x, data.labels, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	last := first
	for i := 0; i < 20; i++ {
		if last, err = tr.TrainStep(context.Background(), x, data.labels, 0.1); err != nil {
			t.Fatal(err)
		}
	}
	// Initial weights are zero: the first loss is ln 4.
	if d := first - 1.3862944; d > 1e-5 || d < -1e-5 {
		t.Errorf("first loss %v, want ln 4 = 1.3862944 (zero weights)", first)
	}
	if !(last < first/4) {
		t.Errorf("loss %v after 21 steps on one batch, started at %v: not learning", last, first)
	}
	// With everything frozen there is nothing to train: refused up front.
	if _, err := NewTrainer(g, h, Config{Epochs: 1, BatchSize: 16, LR: 0.1, Freeze: "all",
		Optimizer: OptimizerConfig{Name: "sgd", Momentum: 0.9}}); err == nil {
		t.Errorf("freeze all: no error, want a refusal (nothing would train)")
	}
}
