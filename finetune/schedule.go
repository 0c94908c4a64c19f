package finetune

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Schedule gives the learning rate for each optimizer step.
type Schedule interface {
	// LR returns the rate at step (0-based) of epoch (0-based), with
	// stepsPerEpoch steps in an epoch and base the configured rate.
	LR(base float64, epoch, step, stepsPerEpoch, epochs int) float64
	// Observe is told the validation loss at the end of every epoch
	// (reduce-on-plateau uses it; others ignore it).
	Observe(valLoss float64)
}

// ParseSchedule reads a schedule spec:
//
//	constant
//	step:E:G        multiply by G every E epochs (e.g. step:10:0.1)
//	cosine          cosine decay to 0 over all steps
//	warmup:W[+S]    linear warm-up over W epochs, then schedule S (default constant)
//	plateau:P:F     multiply by F after P epochs without validation improvement
func ParseSchedule(spec string) (Schedule, error) {
	spec = strings.TrimSpace(spec)
	name, rest, _ := strings.Cut(spec, ":")
	if strings.HasPrefix(spec, "warmup:") {
		w, after, _ := strings.Cut(strings.TrimPrefix(spec, "warmup:"), "+")
		epochs, err := strconv.ParseFloat(w, 64)
		if err != nil || epochs < 0 {
			return nil, fmt.Errorf("schedule %q: warm-up epochs must be a number >= 0", spec)
		}
		inner := Schedule(constant{})
		if after != "" {
			if inner, err = ParseSchedule(after); err != nil {
				return nil, err
			}
		}
		return &warmup{epochs: epochs, inner: inner}, nil
	}
	args := []float64{}
	if rest != "" {
		for _, a := range strings.Split(rest, ":") {
			v, err := strconv.ParseFloat(a, 64)
			if err != nil {
				return nil, fmt.Errorf("schedule %q: %q is not a number", spec, a)
			}
			args = append(args, v)
		}
	}
	switch name {
	case "", "constant":
		return constant{}, nil
	case "cosine":
		return cosine{}, nil
	case "step":
		if len(args) != 2 || args[0] < 1 || args[1] <= 0 {
			return nil, fmt.Errorf("schedule %q: want step:EPOCHS:GAMMA, e.g. step:10:0.1", spec)
		}
		return stepDecay{every: int(args[0]), gamma: args[1]}, nil
	case "plateau":
		p := &plateau{patience: 3, factor: 0.1, best: math.Inf(1), scale: 1}
		if len(args) > 0 {
			p.patience = int(args[0])
		}
		if len(args) > 1 {
			p.factor = args[1]
		}
		if p.patience < 1 || p.factor <= 0 || p.factor >= 1 {
			return nil, fmt.Errorf("schedule %q: want plateau:PATIENCE:FACTOR with factor in (0,1)", spec)
		}
		return p, nil
	}
	return nil, fmt.Errorf("unknown schedule %q (want constant, step:E:G, cosine, warmup:W[+S] or plateau:P:F)", spec)
}

type constant struct{}

func (constant) LR(base float64, _, _, _, _ int) float64 { return base }
func (constant) Observe(float64)                         {}

type stepDecay struct {
	every int
	gamma float64
}

func (s stepDecay) LR(base float64, epoch, _, _, _ int) float64 {
	return base * math.Pow(s.gamma, float64(epoch/s.every))
}
func (stepDecay) Observe(float64) {}

type cosine struct{}

func (cosine) LR(base float64, epoch, step, spe, epochs int) float64 {
	total := float64(spe * epochs)
	if total <= 0 {
		return base
	}
	t := float64(epoch*spe + step)
	return base * 0.5 * (1 + math.Cos(math.Pi*t/total))
}
func (cosine) Observe(float64) {}

type warmup struct {
	epochs float64
	inner  Schedule
}

func (w *warmup) LR(base float64, epoch, step, spe, epochs int) float64 {
	lr := w.inner.LR(base, epoch, step, spe, epochs)
	t := float64(epoch) + float64(step+1)/float64(max(spe, 1))
	if t < w.epochs {
		return lr * t / w.epochs
	}
	return lr
}
func (w *warmup) Observe(v float64) { w.inner.Observe(v) }

type plateau struct {
	patience int
	factor   float64
	best     float64
	bad      int
	scale    float64
}

func (p *plateau) LR(base float64, _, _, _, _ int) float64 { return base * p.scale }
func (p *plateau) Observe(v float64) {
	if v < p.best-1e-12 {
		p.best, p.bad = v, 0
		return
	}
	p.bad++
	if p.bad >= p.patience {
		p.scale *= p.factor
		p.bad = 0
	}
}
