package finetune

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand"
	"time"

	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/finetune/plot"
	"github.com/graftml/graft/internal/progress"
	"github.com/graftml/graft/nn"
)

// Dataset is a labelled set of samples (see package data).
type Dataset = data.Dataset

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
	// Augment is applied to training samples (nil: none).
	Augment *data.Augment
	// NoFeatureCache disables the frozen-feature cache: by default, when
	// everything up to some layer is frozen (and no augmentation or active
	// Dropout is involved), that prefix runs once per sample and epochs
	// train on the cached activations.
	NoFeatureCache bool
	// EarlyStopping stops after this many epochs without validation-loss
	// improvement and restores the best weights; 0 disables.
	EarlyStopping int
	// Phase2 unfreezes more after Epochs: it trains Phase2.Epochs more
	// epochs with its own freeze spec and learning rate.
	Phase2 *PhaseConfig
	// Checkpoint, when set, is written atomically after every epoch:
	// parameters, optimizer state, epoch, best metric and history; with a
	// validation set, CHECKPOINT.best holds the best epoch so far.
	Checkpoint string
	// Resume continues from this checkpoint (written by a run with the same
	// model, head and configuration): training N epochs equals training
	// K epochs and resuming for N-K.
	Resume string
	// Metadata is stored in every checkpoint (class names, head settings,
	// normalization, base model hash) so a checkpoint can be exported alone.
	Metadata map[string]string
	// Verbose also writes progress lines within epochs when Log is not a
	// terminal (on a terminal a progress bar is always drawn).
	Verbose bool
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
type EpochRecord = plot.EpochRecord

// Result summarizes a run.
type Result struct {
	History   []EpochRecord
	BestEpoch int
	BestLoss  float64
	Stopped   bool // early stopping triggered
}

// Trainer fine-tunes one graph.
type Trainer struct {
	cache    *featureCache
	valCache *featureCache
	G        *nn.Graph
	Head     *Head
	Freeze   *Freezing
	Cfg      Config
	opt      Optimizer
	loss     Loss
	sched    Schedule
	input    string
	// bufs recycles activation and gradient buffers from step to step.
	bufs *nn.BufferPool
	gc   *gcPacer
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
	t := &Trainer{G: g, Head: h, Cfg: cfg, input: g.Inputs[0].Name, bufs: nn.NewBufferPool(), gc: newGCPacer()}
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
	first := 0
	if t.Cfg.Resume != "" {
		st, err := t.resume(t.Cfg.Resume)
		if err != nil {
			return nil, err
		}
		first, bad = st.epoch, st.bad
		res.History, res.BestLoss, res.BestEpoch = st.history, st.bestLoss, st.bestEpoch
		if t.Cfg.Phase2 != nil && first > t.Cfg.Epochs {
			if err := t.setFreeze(t.Cfg.Phase2.Freeze); err != nil {
				return res, fmt.Errorf("phase 2: %w", err)
			}
		}
		if t.Cfg.Phase2 != nil && first >= t.Cfg.Epochs && t.Cfg.Phase2.LR > 0 {
			lrBase = t.Cfg.Phase2.LR
		}
		for _, r := range res.History {
			if !math.IsNaN(r.ValLoss) {
				t.sched.Observe(r.ValLoss)
			}
		}
	}
	if err := t.prepareCache(ctx, train, val); err != nil {
		return res, err
	}
	for epoch := first; epoch < total; epoch++ {
		if t.Cfg.Phase2 != nil && epoch == t.Cfg.Epochs {
			if err := t.setFreeze(t.Cfg.Phase2.Freeze); err != nil {
				return res, fmt.Errorf("phase 2: %w", err)
			}
			if err := t.prepareCache(ctx, train, val); err != nil {
				return res, err
			}
			if t.Cfg.Phase2.LR > 0 {
				lrBase = t.Cfg.Phase2.LR
			}
		}
		rec, err := t.epoch(ctx, train, epoch, total, lrBase)
		if err != nil {
			return res, err
		}
		rec.ValLoss, rec.ValAcc = math.NaN(), math.NaN()
		if val != nil && val.Len() > 0 {
			ev, err := t.evaluate(ctx, val)
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
				if t.Cfg.Checkpoint != "" {
					// Keep-best: the best epoch so far, beside the latest.
					if err := t.saveCheckpoint(t.Cfg.Checkpoint+".best", epoch+1, 0, res); err != nil {
						return res, err
					}
				}
			} else {
				bad++
			}
		}
		res.History = append(res.History, rec)
		if t.Cfg.Log != nil {
			v := ""
			if val != nil && val.Len() > 0 {
				v = fmt.Sprintf("  val_loss %.4f  val_acc %.4f", rec.ValLoss, rec.ValAcc)
			}
			fmt.Fprintf(t.Cfg.Log, "epoch %3d/%d  loss %.4f  acc %.4f%s  lr %.3g  %.1fs\n",
				rec.Epoch, total, rec.TrainLoss, rec.TrainAcc, v, rec.LR, rec.Seconds)
		}
		if t.Cfg.OnEpoch != nil {
			t.Cfg.OnEpoch(rec)
		}
		if t.Cfg.Checkpoint != "" {
			if err := t.saveCheckpoint(t.Cfg.Checkpoint, epoch+1, bad, res); err != nil {
				return res, err
			}
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
	loader, err := data.NewLoader(ds, data.LoaderOptions{BatchSize: t.Cfg.BatchSize, Shuffle: true,
		Seed: uint64(t.Cfg.Seed), Augment: t.Cfg.Augment})
	if err != nil {
		return rec, err
	}
	steps := loader.NumBatches()
	names, params := t.trainable()
	nctx := nn.NewContext(ctx)
	nctx.Training = true
	nctx.Rand = rand.New(rand.NewSource(t.Cfg.Seed*1000003 + int64(epoch)))
	var lossSum float64
	var correct, seen int
	s := 0
	var bar *progress.Bar
	if t.Cfg.Log != nil && (t.Cfg.Verbose || progress.IsTerminal(t.Cfg.Log)) {
		bar = progress.New(t.Cfg.Log, ds.Len(), fmt.Sprintf("epoch %d/%d", epoch+1, epochs), progress.Transient())
	}
	defer bar.Done()
	for mb, err := range t.batches(ctx, loader, epoch) {
		if err != nil {
			return rec, err
		}
		lr := t.sched.LR(lrBase, epoch, s, steps, epochs)
		loss, logits, err := t.step(nctx, mb, names, params, lr)
		if err != nil {
			return rec, err
		}
		rec.LR = lr
		lossSum += loss * float64(len(mb.Labels))
		correct += countCorrect(logits, mb.Labels)
		seen += len(mb.Labels)
		s++
		bar.Add(len(mb.Labels), fmt.Sprintf("loss %.4f", lossSum/float64(seen)))
	}
	rec.TrainLoss = lossSum / float64(seen)
	rec.TrainAcc = float64(correct) / float64(seen)
	rec.Seconds = time.Since(start).Seconds()
	return rec, nil
}

// step runs one optimization step on a mini-batch: forward (from the cached
// features when mb.known is set), loss, backward to the trainable
// parameters, optional clipping and the optimizer update. It returns the
// batch loss and the logits.
func (t *Trainer) step(nctx *nn.Context, mb trainBatch, names []string, params []*nn.Param, lr float64) (float64, *nn.Tensor, error) {
	known := mb.known
	if known == nil {
		known = map[string]*nn.Tensor{t.input: mb.X}
		if err := t.G.CheckInputs(known); err != nil {
			return 0, nil, err
		}
	}
	// The training tape keeps only what the backward pass to the trainable
	// parameters reads, and recycles buffers through t.bufs.
	nctx.Buffers = t.bufs
	tape, err := t.G.ForwardTrain(nctx, known, []string{t.Head.Logits}, names)
	if err != nil {
		return 0, nil, err
	}
	logits := tape.Value(t.Head.Logits)
	loss, dl, err := t.loss.Compute(logits, mb.Labels, mb.Targets)
	if err != nil {
		return 0, nil, err
	}
	grads, err := tape.Backward(nctx, map[string]*nn.Tensor{t.Head.Logits: dl}, names)
	if err != nil {
		return 0, nil, err
	}
	gs := make([]*nn.Tensor, len(names))
	for i, n := range names {
		gs[i] = grads[n]
	}
	if t.Cfg.ClipNorm > 0 {
		clipGlobalNorm(gs, t.Cfg.ClipNorm)
	}
	t.opt.Step(params, gs, lr)
	t.bufs.Put(gs...) // nobody reads the gradients after the update
	t.gc.afterStep()
	return loss, logits, nil
}

// trainable returns the names of the trainable parameters and the
// parameters themselves, in the same order.
func (t *Trainer) trainable() ([]string, []*nn.Param) {
	names := t.Freeze.TrainableNames()
	params := make([]*nn.Param, len(names))
	for i, n := range names {
		params[i] = t.G.Params[n]
	}
	return names, params
}

// TrainStep runs one training step on the batch x with the given labels at
// learning rate lr (the schedule is not consulted and the feature cache is
// not used): forward, loss, backward and optimizer update, as in Fit. It
// returns the batch loss. graft bench --train measures it.
func (t *Trainer) TrainStep(ctx context.Context, x *nn.Tensor, labels []int, lr float64) (float64, error) {
	names, params := t.trainable()
	nctx := nn.NewContext(ctx)
	nctx.Training = true
	nctx.Rand = rand.New(rand.NewSource(t.Cfg.Seed))
	loss, _, err := t.step(nctx, trainBatch{Minibatch: &data.Minibatch{X: x, Labels: labels}}, names, params, lr)
	return loss, err
}

// evalBatchBytes bounds the input of one evaluation batch: evaluation may
// use batches larger than training's (fewer, larger products) as long as
// the input stays this small.
const evalBatchBytes = 8 << 20

// evalBatches runs g in inference mode over ds in batches and calls fn
// with the logits (h.Logits) and labels of each. The batch is at least
// batch (32 when not positive) and, for small inputs, up to 256 samples.
// Only the logits are kept: intermediate buffers are recycled from batch
// to batch.
func evalBatches(ctx context.Context, g *nn.Graph, h *Head, ds Dataset, batch int, fn func(logits *nn.Tensor, labels []int) error) error {
	if batch < 1 {
		batch = 32
	}
	if per := 4 * nn.NumElements(ds.InputShape()); per > 0 {
		batch = max(batch, min(256, evalBatchBytes/per))
	}
	nctx := nn.NewContext(ctx)
	nctx.Buffers = nn.NewBufferPool()
	idx := make([]int, 0, batch)
	for s := 0; s < ds.Len(); s += batch {
		if err := nctx.Err(); err != nil {
			return err
		}
		idx = idx[:0]
		for i := s; i < min(s+batch, ds.Len()); i++ {
			idx = append(idx, i)
		}
		x, labels, err := data.Batch(ds, idx)
		if err != nil {
			return err
		}
		tape, err := g.ForwardTrain(nctx, map[string]*nn.Tensor{g.Inputs[0].Name: x}, []string{h.Logits}, nil)
		if err != nil {
			return err
		}
		if err := fn(tape.Value(h.Logits), labels); err != nil {
			return err
		}
	}
	return nil
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
	// The values changed in place: Run must not reuse weights it packed.
	t.G.ReleaseBuffers()
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
	ce := CrossEntropy{}
	err := evalBatches(ctx, g, h, ds, batch, func(logits *nn.Tensor, labels []int) error {
		l, _, err := ce.Compute(logits, labels, nil)
		if err != nil {
			return err
		}
		ev.Loss += l * float64(len(labels))
		ev.Accuracy += float64(countCorrect(logits, labels))
		ev.N += len(labels)
		return nil
	})
	if err != nil {
		return ev, err
	}
	if ev.N > 0 {
		ev.Loss /= float64(ev.N)
		ev.Accuracy /= float64(ev.N)
	}
	return ev, nil
}
