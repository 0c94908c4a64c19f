package finetune

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand"
	"time"

	"github.com/graftml/graft/nn"
)

// Dataset is a labelled set of samples. Get returns one sample's input
// without the batch axis (e.g. [C,H,W]) and its class index.
type Dataset interface {
	Len() int
	Get(i int) (*nn.Tensor, int, error)
}

// Config holds the knobs of a fine-tuning run, named like the CLI flags.
type Config struct {
	Epochs         int
	BatchSize      int
	LR             float64
	Optimizer      OptimizerConfig
	Schedule       string  // see ParseSchedule
	ClipNorm       float64 // global gradient-norm clipping; 0 disables
	LabelSmoothing float64
	Loss           string // cross-entropy (default), bce, mse
	Freeze         string // see ParseFreeze
	BN             string // auto, frozen, train
	Seed           int64
	// EarlyStopping stops after this many epochs without validation-loss
	// improvement and restores the best weights; 0 disables.
	EarlyStopping int
	// Phase2 unfreezes more after Epochs: it trains Phase2.Epochs more
	// epochs with its own freeze spec and learning rate.
	Phase2 *PhaseConfig
	// Log receives one line per epoch (and the freeze summary); nil is quiet.
	Log io.Writer
	// OnEpoch, if set, is called after each epoch.
	OnEpoch func(EpochRecord)
}

// PhaseConfig is the second phase of a two-phase schedule.
type PhaseConfig struct {
	Epochs int
	Freeze string
	LR     float64
}

// EpochRecord is one line of training history.
type EpochRecord struct {
	Epoch     int     `json:"epoch"`
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_accuracy"`
	ValLoss   float64 `json:"val_loss"`
	ValAcc    float64 `json:"val_accuracy"`
	LR        float64 `json:"lr"`
	Seconds   float64 `json:"seconds"`
}

// Result summarizes a run.
type Result struct {
	History   []EpochRecord
	BestEpoch int
	BestLoss  float64
	Stopped   bool // early stopping triggered
}

// Trainer fine-tunes one graph.
type Trainer struct {
	G      *nn.Graph
	Head   *Head
	Freeze *Freezing
	Cfg    Config
	opt    Optimizer
	loss   Loss
	sched  Schedule
	input  string
}

// NewTrainer prepares g for training: it finds the head, applies the
// freeze spec and BatchNormalization mode, checks that every op between the
// trainable parameters and the loss has a gradient, and prints the freeze
// summary to cfg.Log.
func NewTrainer(g *nn.Graph, h *Head, cfg Config) (*Trainer, error) {
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("fine-tuning needs a model with one input, this one has %d", len(g.Inputs))
	}
	if cfg.Epochs < 1 || cfg.BatchSize < 1 || cfg.LR <= 0 {
		return nil, fmt.Errorf("epochs, batch size and learning rate must be positive")
	}
	t := &Trainer{G: g, Head: h, Cfg: cfg, input: g.Inputs[0].Name}
	var err error
	if t.loss, err = NewLoss(cfg.Loss, cfg.LabelSmoothing); err != nil {
		return nil, err
	}
	if t.opt, err = NewOptimizer(cfg.Optimizer); err != nil {
		return nil, err
	}
	if t.sched, err = ParseSchedule(cfg.Schedule); err != nil {
		return nil, err
	}
	if err := t.setFreeze(cfg.Freeze); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Trainer) setFreeze(spec string) error {
	f, err := ParseFreeze(t.G, t.Head, spec)
	if err != nil {
		return err
	}
	if err := ApplyBN(t.G, f, t.Cfg.BN); err != nil {
		return err
	}
	t.Freeze = f
	if err := t.G.NonDifferentiable(f.TrainableNames(), []string{t.Head.Logits}); err != nil {
		return err
	}
	if t.Cfg.Log != nil {
		WriteSummary(t.Cfg.Log, t.G, f)
	}
	return nil
}

// Fit trains on train and, when val is not nil, validates after each
// epoch. It honours ctx cancellation between batches.
func (t *Trainer) Fit(ctx context.Context, train, val Dataset) (*Result, error) {
	if train.Len() == 0 {
		return nil, fmt.Errorf("dataset empty: no training samples")
	}
	res := &Result{BestLoss: math.Inf(1), BestEpoch: -1}
	var best map[string][]float32
	total := t.Cfg.Epochs
	if t.Cfg.Phase2 != nil {
		total += t.Cfg.Phase2.Epochs
	}
	lrBase := t.Cfg.LR
	bad := 0
	for epoch := 0; epoch < total; epoch++ {
		if t.Cfg.Phase2 != nil && epoch == t.Cfg.Epochs {
			if err := t.setFreeze(t.Cfg.Phase2.Freeze); err != nil {
				return res, fmt.Errorf("phase 2: %w", err)
			}
			if t.Cfg.Phase2.LR > 0 {
				lrBase = t.Cfg.Phase2.LR
			}
		}
		rec, err := t.epoch(ctx, train, epoch, total, lrBase)
		if err != nil {
			return res, err
		}
		if val != nil && val.Len() > 0 {
			ev, err := Evaluate(ctx, t.G, t.Head, val, t.Cfg.BatchSize)
			if err != nil {
				return res, fmt.Errorf("validation: %w", err)
			}
			rec.ValLoss, rec.ValAcc = ev.Loss, ev.Accuracy
			t.sched.Observe(ev.Loss)
			if ev.Loss < res.BestLoss {
				res.BestLoss, res.BestEpoch, bad = ev.Loss, epoch, 0
				if t.Cfg.EarlyStopping > 0 {
					best = t.snapshot()
				}
			} else {
				bad++
			}
		}
		res.History = append(res.History, rec)
		if t.Cfg.Log != nil {
			fmt.Fprintf(t.Cfg.Log, "epoch %3d  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f  lr %.3g  %.1fs\n",
				rec.Epoch, rec.TrainLoss, rec.TrainAcc, rec.ValLoss, rec.ValAcc, rec.LR, rec.Seconds)
		}
		if t.Cfg.OnEpoch != nil {
			t.Cfg.OnEpoch(rec)
		}
		if t.Cfg.EarlyStopping > 0 && bad >= t.Cfg.EarlyStopping {
			res.Stopped = true
			break
		}
	}
	if best != nil {
		t.restore(best)
	}
	return res, nil
}

func (t *Trainer) epoch(ctx context.Context, ds Dataset, epoch, epochs int, lrBase float64) (EpochRecord, error) {
	start := time.Now()
	rec := EpochRecord{Epoch: epoch + 1}
	rng := rand.New(rand.NewSource(t.Cfg.Seed*1000003 + int64(epoch)))
	perm := rng.Perm(ds.Len())
	bs := t.Cfg.BatchSize
	steps := (len(perm) + bs - 1) / bs
	names := t.Freeze.TrainableNames()
	params := make([]*nn.Param, len(names))
	for i, n := range names {
		params[i] = t.G.Params[n]
	}
	nctx := nn.NewContext(ctx)
	nctx.Training = true
	nctx.Rand = rng
	var lossSum float64
	var correct, seen int
	for s := 0; s < steps; s++ {
		if err := ctx.Err(); err != nil {
			return rec, err
		}
		idx := perm[s*bs : min((s+1)*bs, len(perm))]
		x, labels, err := Batch(ds, idx)
		if err != nil {
			return rec, err
		}
		tape, _, err := t.G.Forward(nctx, map[string]*nn.Tensor{t.input: x})
		if err != nil {
			return rec, err
		}
		logits := tape.Value(t.Head.Logits)
		loss, dl, err := t.loss.Compute(logits, labels, nil)
		if err != nil {
			return rec, err
		}
		grads, err := tape.Backward(nctx, map[string]*nn.Tensor{t.Head.Logits: dl}, names)
		if err != nil {
			return rec, err
		}
		gs := make([]*nn.Tensor, len(names))
		for i, n := range names {
			gs[i] = grads[n]
		}
		if t.Cfg.ClipNorm > 0 {
			clipGlobalNorm(gs, t.Cfg.ClipNorm)
		}
		lr := t.sched.LR(lrBase, epoch, s, steps, epochs)
		t.opt.Step(params, gs, lr)
		rec.LR = lr
		lossSum += loss * float64(len(idx))
		correct += countCorrect(logits, labels)
		seen += len(idx)
	}
	rec.TrainLoss = lossSum / float64(seen)
	rec.TrainAcc = float64(correct) / float64(seen)
	rec.Seconds = time.Since(start).Seconds()
	return rec, nil
}

// snapshot copies every float parameter that training can change
// (trainable weights and running statistics).
func (t *Trainer) snapshot() map[string][]float32 {
	s := map[string][]float32{}
	for name, p := range t.G.Params {
		if p.Value.DType == nn.Float32 {
			s[name] = append([]float32{}, p.Value.F32...)
		}
	}
	return s
}

func (t *Trainer) restore(s map[string][]float32) {
	for name, v := range s {
		if p := t.G.Params[name]; p != nil {
			copy(p.Value.F32, v)
		}
	}
}

func clipGlobalNorm(gs []*nn.Tensor, maxNorm float64) {
	sum := 0.0
	for _, g := range gs {
		if g == nil {
			continue
		}
		for _, v := range g.F32 {
			sum += float64(v) * float64(v)
		}
	}
	norm := math.Sqrt(sum)
	if norm <= maxNorm || norm == 0 {
		return
	}
	f := float32(maxNorm / norm)
	for _, g := range gs {
		if g == nil {
			continue
		}
		for i := range g.F32 {
			g.F32[i] *= f
		}
	}
}

func countCorrect(logits *nn.Tensor, labels []int) int {
	n := len(labels)
	c := logits.Len() / n
	ok := 0
	for i := 0; i < n; i++ {
		row := logits.F32[i*c : (i+1)*c]
		best := 0
		for j := range row {
			if row[j] > row[best] {
				best = j
			}
		}
		if best == labels[i] {
			ok++
		}
	}
	return ok
}

// Batch stacks the samples idx of ds into one tensor [N, ...].
func Batch(ds Dataset, idx []int) (*nn.Tensor, []int, error) {
	labels := make([]int, len(idx))
	var out *nn.Tensor
	var per int
	for k, i := range idx {
		x, y, err := ds.Get(i)
		if err != nil {
			return nil, nil, err
		}
		if out == nil {
			per = x.Len()
			out = nn.New(x.DType, append([]int{len(idx)}, x.Shape...)...)
		} else if x.Len() != per {
			return nil, nil, fmt.Errorf("sample %d has shape %v, the batch started with %v", i, x.Shape, out.Shape[1:])
		}
		switch x.DType.Storage() {
		case nn.StoreF32:
			copy(out.F32[k*per:], x.F32)
		case nn.StoreI64:
			copy(out.I64[k*per:], x.I64)
		default:
			return nil, nil, fmt.Errorf("sample %d: %v inputs are not supported", i, x.DType)
		}
		labels[k] = y
	}
	return out, labels, nil
}

// Evaluation is the loss and accuracy of a model on a dataset.
type Evaluation struct {
	Loss     float64
	Accuracy float64
	N        int
}

// Evaluate runs g in inference mode over ds and returns the mean
// cross-entropy (on the head's logits) and accuracy.
func Evaluate(ctx context.Context, g *nn.Graph, h *Head, ds Dataset, batch int) (Evaluation, error) {
	var ev Evaluation
	if batch < 1 {
		batch = 32
	}
	ce := CrossEntropy{}
	nctx := nn.NewContext(ctx)
	var want []string
	if h.Logits != h.Output {
		want = []string{h.Logits}
	}
	for s := 0; s < ds.Len(); s += batch {
		idx := make([]int, 0, batch)
		for i := s; i < min(s+batch, ds.Len()); i++ {
			idx = append(idx, i)
		}
		x, labels, err := Batch(ds, idx)
		if err != nil {
			return ev, err
		}
		var logits *nn.Tensor
		if want == nil {
			out, err := g.Run(nctx, map[string]*nn.Tensor{g.Inputs[0].Name: x})
			if err != nil {
				return ev, err
			}
			logits = out[h.Logits]
		} else {
			tape, _, err := g.Forward(nctx, map[string]*nn.Tensor{g.Inputs[0].Name: x})
			if err != nil {
				return ev, err
			}
			logits = tape.Value(h.Logits)
		}
		l, _, err := ce.Compute(logits, labels, nil)
		if err != nil {
			return ev, err
		}
		ev.Loss += l * float64(len(idx))
		ev.Accuracy += float64(countCorrect(logits, labels))
		ev.N += len(idx)
	}
	if ev.N > 0 {
		ev.Loss /= float64(ev.N)
		ev.Accuracy /= float64(ev.N)
	}
	return ev, nil
}
