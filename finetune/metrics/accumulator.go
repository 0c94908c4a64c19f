package metrics

import (
	"fmt"
	"math"

	"github.com/graftml/graft/nn"
)

// Options configures an Accumulator.
type Options struct {
	// Probabilities says the model outputs are already probabilities (the
	// graph ends in Softmax). The loss of a sample is then -log(p+1e-12)
	// of its true class; otherwise the outputs are logits and the loss is
	// computed with a numerically stable log-softmax.
	Probabilities bool
}

// probEps keeps -log(p) finite for a zero probability.
const probEps = 1e-12

// Accumulator collects predictions batch by batch: the confusion matrix,
// the summed cross-entropy loss and the top-5 hits. It is not safe for
// concurrent use; give each worker its own and Merge them.
type Accumulator struct {
	conf    *Confusion
	opts    Options
	lossSum float64
	top5    int
	n       int
}

// NewAccumulator returns an empty accumulator for numClasses classes.
func NewAccumulator(numClasses int, opts Options) (*Accumulator, error) {
	c, err := NewConfusion(numClasses)
	if err != nil {
		return nil, err
	}
	return &Accumulator{conf: c, opts: opts}, nil
}

// NumClasses returns the number of classes.
func (a *Accumulator) NumClasses() int { return a.conf.NumClasses }

// AddBatch records a batch. scores has shape [N, C] (trailing dimensions of
// size 1, as in [N, C, 1, 1], are accepted) with float32, float16,
// bfloat16 or float64 elements; labels holds the N true classes. The
// prediction is the first index of the highest score (NaN scores never
// win). A sample counts as a top-5 hit when fewer than 5 classes rank above
// its true class, where a class ranks above when its score is higher, or
// equal with a lower index. Nothing is recorded when an error is returned.
func (a *Accumulator) AddBatch(scores *nn.Tensor, labels []int) error {
	if scores == nil {
		return fmt.Errorf("metrics: nil scores tensor")
	}
	C := a.conf.NumClasses
	if len(scores.Shape) < 2 {
		return fmt.Errorf("metrics: scores shape %v: want [N, %d]", scores.Shape, C)
	}
	for _, d := range scores.Shape[2:] {
		if d != 1 {
			return fmt.Errorf("metrics: scores shape %v: want [N, %d]", scores.Shape, C)
		}
	}
	N := scores.Shape[0]
	if scores.Shape[1] != C {
		return fmt.Errorf("metrics: scores shape %v has %d classes, accumulator has %d", scores.Shape, scores.Shape[1], C)
	}
	if N != len(labels) {
		return fmt.Errorf("metrics: scores shape %v for %d labels", scores.Shape, len(labels))
	}
	var f32 []float32
	var f64 []float64
	switch scores.DType.Storage() {
	case nn.StoreF32:
		f32 = scores.F32
		if len(f32) != N*C {
			return fmt.Errorf("metrics: scores shape %v with %d values", scores.Shape, len(f32))
		}
	case nn.StoreF64:
		f64 = scores.F64
		if len(f64) != N*C {
			return fmt.Errorf("metrics: scores shape %v with %d values", scores.Shape, len(f64))
		}
	default:
		return fmt.Errorf("metrics: scores must be floating point, got %v", scores.DType)
	}
	for i, l := range labels {
		if l < 0 || l >= C {
			return fmt.Errorf("metrics: label %d of sample %d out of range [0, %d)", l, i, C)
		}
	}
	for i, l := range labels {
		var pred, rank int
		var loss float64
		if f32 != nil {
			pred, rank, loss = metricsRow32(f32[i*C:(i+1)*C], l, a.opts.Probabilities)
		} else {
			pred, rank, loss = metricsRow64(f64[i*C:(i+1)*C], l, a.opts.Probabilities)
		}
		a.conf.Counts[l][pred]++
		if rank < 5 {
			a.top5++
		}
		a.lossSum += loss
	}
	a.n += N
	return nil
}

// metricsRow32 returns the arg-max, the rank of the true class and the
// sample's loss for one row of float32 scores.
func metricsRow32(row []float32, label int, probs bool) (pred, rank int, loss float64) {
	best := math.Inf(-1)
	target := float64(row[label])
	for j, v := range row {
		x := float64(v)
		if x > best {
			best, pred = x, j
		}
		if x > target || (x == target && j < label) {
			rank++
		}
	}
	if probs {
		return pred, rank, -math.Log(target + probEps)
	}
	if math.IsInf(best, -1) {
		// Every score is -Inf or NaN: nothing to normalise.
		return pred, rank, math.NaN()
	}
	var sum float64
	for _, v := range row {
		sum += math.Exp(float64(v) - best)
	}
	return pred, rank, best + math.Log(sum) - target
}

// metricsRow64 is metricsRow32 for float64 scores.
func metricsRow64(row []float64, label int, probs bool) (pred, rank int, loss float64) {
	best := math.Inf(-1)
	target := row[label]
	for j, x := range row {
		if x > best {
			best, pred = x, j
		}
		if x > target || (x == target && j < label) {
			rank++
		}
	}
	if probs {
		return pred, rank, -math.Log(target + probEps)
	}
	if math.IsInf(best, -1) {
		return pred, rank, math.NaN()
	}
	var sum float64
	for _, x := range row {
		sum += math.Exp(x - best)
	}
	return pred, rank, best + math.Log(sum) - target
}

// NumSamples returns the number of recorded samples.
func (a *Accumulator) NumSamples() int { return a.n }

// Loss returns the mean loss so far (NaN when there are no samples).
func (a *Accumulator) Loss() float64 {
	if a.n == 0 {
		return math.NaN()
	}
	return a.lossSum / float64(a.n)
}

// Accuracy returns the top-1 accuracy so far (0 when there are no samples).
func (a *Accumulator) Accuracy() float64 { return a.conf.Accuracy() }

// Top5Accuracy returns the top-5 accuracy so far (0 when there are no
// samples; 1 when there are 5 classes or fewer).
func (a *Accumulator) Top5Accuracy() float64 {
	if a.n == 0 {
		return 0
	}
	return float64(a.top5) / float64(a.n)
}

// Confusion returns the accumulated confusion matrix (not a copy).
func (a *Accumulator) Confusion() *Confusion { return a.conf }

// Merge adds the samples recorded by o to a. Both must have the same
// number of classes and options.
func (a *Accumulator) Merge(o *Accumulator) error {
	if o.opts != a.opts {
		return fmt.Errorf("metrics: merging accumulators with different options")
	}
	if err := a.conf.Merge(o.conf); err != nil {
		return err
	}
	a.lossSum += o.lossSum
	a.top5 += o.top5
	a.n += o.n
	return nil
}

// Reset forgets every recorded sample.
func (a *Accumulator) Reset() {
	a.conf.Reset()
	a.lossSum, a.top5, a.n = 0, 0, 0
}

// Report builds the evaluation report. classNames may be empty or have one
// name per class. With no samples the loss is NaN and every metric 0.
func (a *Accumulator) Report(classNames []string) (*Report, error) {
	r, err := a.conf.Report(classNames)
	if err != nil {
		return nil, err
	}
	r.Loss = a.Loss()
	if a.conf.NumClasses > 5 {
		t5 := a.Top5Accuracy()
		r.Top5Accuracy = &t5
	}
	return r, nil
}
