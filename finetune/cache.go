package finetune

import (
	"context"
	"fmt"

	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/nn"
)

// featureCache holds, for every sample of a dataset, the activations at
// the boundary of the frozen prefix of the graph: the values that trainable
// layers read and that depend on nothing trainable. With it, an epoch runs
// only the trainable part of the model.
type featureCache struct {
	boundary []string
	shapes   map[string][]int // per value, one sample's shape
	rows     map[string][]float32
	labels   []int
	n        int
}

// cacheBoundary finds the values where the frozen prefix ends. It returns
// a reason instead when caching would change results (augmentation, active
// Dropout or batch-statistics BatchNormalization in the prefix) or gain
// nothing (the boundary is the input itself).
func cacheBoundary(g *nn.Graph, trainable []string, target string, augment bool) ([]string, string) {
	if augment {
		return nil, "augmentation changes the inputs every epoch"
	}
	dep := map[string]bool{}
	for _, p := range trainable {
		dep[p] = true
	}
	prod := g.Producers()
	var suffix []*nn.Node
	for _, n := range g.Nodes {
		if n.Folded {
			continue
		}
		for _, in := range n.Inputs {
			if dep[in] {
				for _, o := range n.Outputs {
					dep[o] = true
				}
				suffix = append(suffix, n)
				break
			}
		}
	}
	if !dep[target] {
		return nil, "the loss does not depend on a trainable parameter"
	}
	seen := map[string]bool{}
	var boundary []string
	for _, n := range suffix {
		for _, in := range n.Inputs {
			if in == "" || dep[in] || seen[in] || g.Params[in] != nil || g.Consts[in] != nil {
				continue
			}
			seen[in] = true
			boundary = append(boundary, in)
		}
	}
	// The prefix must behave in training exactly as in inference.
	inPrefix := map[*nn.Node]bool{}
	var stack []string
	stack = append(stack, boundary...)
	visited := map[string]bool{}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if visited[v] {
			continue
		}
		visited[v] = true
		if p := prod[v]; p != nil && !inPrefix[p] {
			inPrefix[p] = true
			stack = append(stack, p.Inputs...)
		}
	}
	for n := range inPrefix {
		switch {
		case n.OpType == "Dropout":
			return nil, fmt.Sprintf("%s is active in training", n.Label())
		case n.OpType == "BatchNormalization" && !n.Frozen:
			return nil, fmt.Sprintf("%s uses batch statistics", n.Label())
		}
	}
	inputs := map[string]bool{}
	for _, in := range g.Inputs {
		inputs[in.Name] = true
	}
	onlyInputs := true
	for _, b := range boundary {
		if !inputs[b] {
			onlyInputs = false
		}
	}
	if onlyInputs {
		return nil, "the first layer trains"
	}
	return boundary, ""
}

// buildCache runs the frozen prefix once over ds in inference mode.
func buildCache(ctx context.Context, g *nn.Graph, boundary []string, ds data.Dataset, batch int) (*featureCache, error) {
	c := &featureCache{boundary: boundary, shapes: map[string][]int{}, rows: map[string][]float32{}, n: ds.Len()}
	nctx := nn.NewContext(ctx)
	for s := 0; s < ds.Len(); s += batch {
		idx := make([]int, 0, batch)
		for i := s; i < min(s+batch, ds.Len()); i++ {
			idx = append(idx, i)
		}
		x, labels, err := data.Batch(ds, idx)
		if err != nil {
			return nil, err
		}
		c.labels = append(c.labels, labels...)
		tp, err := g.ForwardFrom(nctx, map[string]*nn.Tensor{g.Inputs[0].Name: x}, boundary...)
		if err != nil {
			return nil, err
		}
		for _, b := range boundary {
			v := tp.Value(b)
			if v == nil || v.DType != nn.Float32 || len(v.Shape) == 0 || v.Shape[0] != len(idx) {
				return nil, fmt.Errorf("value %q does not have the batch as its first dimension", b)
			}
			if c.shapes[b] == nil {
				c.shapes[b] = append([]int{}, v.Shape[1:]...)
				c.rows[b] = make([]float32, 0, ds.Len()*(v.Len()/len(idx)))
			}
			c.rows[b] = append(c.rows[b], v.F32...)
		}
	}
	return c, nil
}

// batch assembles the cached boundary values of samples idx.
func (c *featureCache) batch(idx []int) (map[string]*nn.Tensor, []int) {
	out := map[string]*nn.Tensor{}
	for _, b := range c.boundary {
		shape := c.shapes[b]
		per := nn.NumElements(shape)
		t := nn.New(nn.Float32, append([]int{len(idx)}, shape...)...)
		for k, i := range idx {
			copy(t.F32[k*per:(k+1)*per], c.rows[b][i*per:(i+1)*per])
		}
		out[b] = t
	}
	labels := make([]int, len(idx))
	for k, i := range idx {
		labels[k] = c.labels[i]
	}
	return out, labels
}

// bytes is the cache's memory footprint.
func (c *featureCache) bytes() int {
	n := 0
	for _, r := range c.rows {
		n += 4 * len(r)
	}
	return n
}

// maxCacheBytes bounds the in-memory feature cache.
const maxCacheBytes = 4 << 30

// trainBatch is a training batch: loaded inputs, or cached activations.
type trainBatch struct {
	*data.Minibatch
	known map[string]*nn.Tensor
}

// batches yields the epoch's batches in the loader's order, from the
// feature cache when there is one (no sample is loaded then).
func (t *Trainer) batches(ctx context.Context, loader *data.Loader, epoch int) func(func(trainBatch, error) bool) {
	return func(yield func(trainBatch, error) bool) {
		if t.cache == nil {
			for mb, err := range loader.Epoch(ctx, epoch) {
				if !yield(trainBatch{Minibatch: mb}, err) {
					return
				}
			}
			return
		}
		order := loader.Order(epoch)
		bs := t.Cfg.BatchSize
		for s := 0; s < len(order); s += bs {
			if err := ctx.Err(); err != nil {
				yield(trainBatch{}, err)
				return
			}
			idx := order[s:min(s+bs, len(order))]
			known, labels := t.cache.batch(idx)
			if !yield(trainBatch{Minibatch: &data.Minibatch{Epoch: epoch, Index: s / bs, Indices: idx, Labels: labels}, known: known}, nil) {
				return
			}
		}
	}
}

// prepareCache builds the feature caches when the freezing allows it.
func (t *Trainer) prepareCache(ctx context.Context, train, val Dataset) error {
	t.cache, t.valCache = nil, nil
	if t.Cfg.NoFeatureCache {
		return nil
	}
	boundary, why := cacheBoundary(t.G, t.Freeze.TrainableNames(), t.Head.Logits, t.Cfg.Augment.Enabled())
	if boundary == nil {
		if t.Cfg.Log != nil {
			fmt.Fprintf(t.Cfg.Log, "feature cache: off (%s)\n", why)
		}
		return nil
	}
	bs := max(t.Cfg.BatchSize, 64)
	c, err := buildCache(ctx, t.G, boundary, train, bs)
	if err != nil {
		if t.Cfg.Log != nil {
			fmt.Fprintf(t.Cfg.Log, "feature cache: off (%v)\n", err)
		}
		return ctx.Err()
	}
	if c.bytes() > maxCacheBytes {
		if t.Cfg.Log != nil {
			fmt.Fprintf(t.Cfg.Log, "feature cache: off (%d MB exceeds the in-memory limit)\n", c.bytes()>>20)
		}
		return nil
	}
	t.cache = c
	if val != nil && val.Len() > 0 {
		if t.valCache, err = buildCache(ctx, t.G, boundary, val, bs); err != nil {
			t.valCache = nil
		}
	}
	if t.Cfg.Log != nil {
		fmt.Fprintf(t.Cfg.Log, "feature cache: on, frozen prefix ends at %v (%.1f MB for %d samples)\n", boundary, float64(c.bytes())/(1<<20), c.n)
	}
	return nil
}

// evaluate is Evaluate, from the validation feature cache when present.
func (t *Trainer) evaluate(ctx context.Context, ds Dataset) (Evaluation, error) {
	if t.valCache == nil {
		return Evaluate(ctx, t.G, t.Head, ds, t.Cfg.BatchSize)
	}
	var ev Evaluation
	ce := CrossEntropy{}
	nctx := nn.NewContext(ctx)
	bs := max(t.Cfg.BatchSize, 64)
	for s := 0; s < t.valCache.n; s += bs {
		idx := make([]int, 0, bs)
		for i := s; i < min(s+bs, t.valCache.n); i++ {
			idx = append(idx, i)
		}
		known, labels := t.valCache.batch(idx)
		tp, err := t.G.ForwardFrom(nctx, known, t.Head.Logits)
		if err != nil {
			return ev, err
		}
		logits := tp.Value(t.Head.Logits)
		l, _, err := ce.Compute(logits, labels, nil)
		if err != nil {
			return ev, err
		}
		ev.Loss += l * float64(len(idx))
		ev.Accuracy += float64(countCorrect(logits, labels))
		ev.N += len(idx)
	}
	ev.Loss /= float64(ev.N)
	ev.Accuracy /= float64(ev.N)
	return ev, nil
}
