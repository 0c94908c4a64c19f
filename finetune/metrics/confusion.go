// Package metrics evaluates classifiers: confusion matrices, per-class
// precision/recall/F1 (with the conventions of scikit-learn's
// classification_report, zero_division=0), top-1/top-5 accuracy and mean
// cross-entropy loss accumulated over batches of logits or probabilities.
//
// A typical evaluation loop:
//
//	acc, err := metrics.NewAccumulator(numClasses, metrics.Options{})
//	...
//	for each batch {
//		logits := ... // [N, C]
//		if err := acc.AddBatch(logits, labels); err != nil { ... }
//	}
//	rep, err := acc.Report(classNames)
//	...
//	rep.WriteTable(os.Stdout)
package metrics

import (
	"fmt"
)

// Confusion is a confusion matrix: Counts[t][p] is the number of samples
// whose true class is t and whose predicted class is p.
type Confusion struct {
	NumClasses int
	Counts     [][]int
}

// NewConfusion returns an empty numClasses x numClasses confusion matrix.
// numClasses must be positive.
func NewConfusion(numClasses int) (*Confusion, error) {
	if numClasses <= 0 {
		return nil, fmt.Errorf("metrics: confusion matrix needs at least one class, got %d", numClasses)
	}
	c := &Confusion{NumClasses: numClasses, Counts: make([][]int, numClasses)}
	flat := make([]int, numClasses*numClasses)
	for i := range c.Counts {
		c.Counts[i] = flat[i*numClasses : (i+1)*numClasses : (i+1)*numClasses]
	}
	return c, nil
}

// Add records one sample with true class trueLabel predicted as predLabel.
// Labels must lie in [0, NumClasses).
func (c *Confusion) Add(trueLabel, predLabel int) error {
	if trueLabel < 0 || trueLabel >= c.NumClasses {
		return fmt.Errorf("metrics: true label %d out of range [0, %d)", trueLabel, c.NumClasses)
	}
	if predLabel < 0 || predLabel >= c.NumClasses {
		return fmt.Errorf("metrics: predicted label %d out of range [0, %d)", predLabel, c.NumClasses)
	}
	c.Counts[trueLabel][predLabel]++
	return nil
}

// Merge adds the counts of o (e.g. from another evaluation worker) to c.
func (c *Confusion) Merge(o *Confusion) error {
	if o.NumClasses != c.NumClasses {
		return fmt.Errorf("metrics: merging confusion matrices with %d and %d classes", c.NumClasses, o.NumClasses)
	}
	for i := range c.Counts {
		for j := range c.Counts[i] {
			c.Counts[i][j] += o.Counts[i][j]
		}
	}
	return nil
}

// Reset sets every count to zero.
func (c *Confusion) Reset() {
	for i := range c.Counts {
		clear(c.Counts[i])
	}
}

// Total returns the number of recorded samples.
func (c *Confusion) Total() int {
	n := 0
	for _, row := range c.Counts {
		for _, v := range row {
			n += v
		}
	}
	return n
}

// Correct returns the number of samples on the diagonal.
func (c *Confusion) Correct() int {
	n := 0
	for i := range c.Counts {
		n += c.Counts[i][i]
	}
	return n
}

// Accuracy returns the fraction of correctly classified samples (0 when
// there are none).
func (c *Confusion) Accuracy() float64 {
	t := c.Total()
	if t == 0 {
		return 0
	}
	return float64(c.Correct()) / float64(t)
}

// Matrix returns a copy of the counts.
func (c *Confusion) Matrix() [][]int {
	m := make([][]int, len(c.Counts))
	for i, row := range c.Counts {
		m[i] = append([]int(nil), row...)
	}
	return m
}
