package finetune

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/graftml/graft/finetune/checkpoint"
)

// Checkpoint metadata keys used by the trainer.
const (
	metaHistory   = "history"
	metaBad       = "epochs_without_improvement"
	metaTrainable = "trainable"
)

type resumeState struct {
	epoch, bad int
	history    []EpochRecord
	bestLoss   float64
	bestEpoch  int
}

// saveCheckpoint writes the state after `epochs` completed epochs.
func (t *Trainer) saveCheckpoint(path string, epochs, bad int, res *Result) error {
	slots, step := t.opt.State()
	hist, err := json.Marshal(res.History)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	c := &checkpoint.Checkpoint{
		Epoch:      epochs,
		GlobalStep: step,
		Params:     checkpoint.ParamsFromGraph(t.G),
		Optimizer: checkpoint.Optimizer{Name: t.opt.Name(), Slots: checkpoint.SlotsFromFlat(slots),
			Scalars: map[string]float64{"step": float64(step)}},
		RNG:  checkpoint.RNG{Seed: t.Cfg.Seed},
		Best: checkpoint.Best{Metric: "val_loss", Value: res.BestLoss, Epoch: res.BestEpoch + 1},
		Metadata: map[string]string{
			metaHistory:   string(hist),
			metaBad:       strconv.Itoa(bad),
			metaTrainable: mustJSON(t.Freeze.TrainableNames()),
		},
	}
	for k, v := range t.Cfg.Metadata {
		c.Metadata[k] = v
	}
	return checkpoint.Save(path, c)
}

// resume restores parameters and optimizer state from a checkpoint.
func (t *Trainer) resume(path string) (*resumeState, error) {
	c, err := checkpoint.Load(path)
	if err != nil {
		return nil, err
	}
	if c.Optimizer.Name != t.opt.Name() {
		return nil, fmt.Errorf("resume %s: written by optimizer %s, this run uses %s", path, c.Optimizer.Name, t.opt.Name())
	}
	missing, err := c.RestoreParams(t.G)
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", path, err)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("resume %s: the checkpoint lacks parameters %v of this model (different model or head?)", path, missing)
	}
	slots, err := c.Optimizer.FlatSlots()
	if err != nil {
		return nil, fmt.Errorf("resume %s: %w", path, err)
	}
	if err := t.opt.SetState(slots, int64(c.Optimizer.Scalars["step"])); err != nil {
		return nil, fmt.Errorf("resume %s: %w", path, err)
	}
	st := &resumeState{epoch: c.Epoch, bestLoss: c.Best.Value, bestEpoch: c.Best.Epoch - 1}
	if math.IsNaN(st.bestLoss) {
		st.bestLoss = math.Inf(1)
	}
	if h := c.Metadata[metaHistory]; h != "" {
		if err := json.Unmarshal([]byte(h), &st.history); err != nil {
			return nil, fmt.Errorf("resume %s: history: %w", path, err)
		}
	}
	st.bad, _ = strconv.Atoi(c.Metadata[metaBad])
	return st, nil
}
