package finetune

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/graftml/graft/nn"
)

// Optimizer updates parameters in place from their gradients.
type Optimizer interface {
	// Name is the flag value that selects the optimizer.
	Name() string
	// Step applies one update with learning rate lr. params and grads are
	// parallel; a nil gradient leaves its parameter unchanged.
	Step(params []*nn.Param, grads []*nn.Tensor, lr float64)
	// State exposes the per-parameter slots (momentum, moments) and the
	// step count for checkpoints; SetState restores them.
	State() (slots map[string]map[string][]float32, step int64)
	SetState(slots map[string]map[string][]float32, step int64) error
}

// OptimizerConfig selects and configures an optimizer.
type OptimizerConfig struct {
	Name        string  // sgd, adam or adamw
	Momentum    float64 // SGD momentum
	Nesterov    bool    // SGD Nesterov momentum
	WeightDecay float64 // L2 for sgd/adam, decoupled for adamw
	Beta1       float64 // Adam β1 (default 0.9)
	Beta2       float64 // Adam β2 (default 0.999)
	Eps         float64 // Adam ε (default 1e-8)
}

// NewOptimizer builds the optimizer c describes.
func NewOptimizer(c OptimizerConfig) (Optimizer, error) {
	if c.WeightDecay < 0 || c.Momentum < 0 || c.Momentum >= 1 {
		return nil, fmt.Errorf("optimizer: momentum must be in [0,1) and weight decay >= 0")
	}
	b1, b2, eps := c.Beta1, c.Beta2, c.Eps
	if b1 == 0 {
		b1 = 0.9
	}
	if b2 == 0 {
		b2 = 0.999
	}
	if eps == 0 {
		eps = 1e-8
	}
	switch strings.ToLower(c.Name) {
	case "sgd", "":
		if c.Nesterov && c.Momentum == 0 {
			return nil, fmt.Errorf("optimizer: Nesterov needs momentum > 0")
		}
		return &SGD{Momentum: c.Momentum, Nesterov: c.Nesterov, WeightDecay: c.WeightDecay, slots: map[string][]float32{}}, nil
	case "adam", "adamw":
		return &Adam{Beta1: b1, Beta2: b2, Eps: eps, WeightDecay: c.WeightDecay, Decoupled: strings.ToLower(c.Name) == "adamw",
			m: map[string][]float32{}, v: map[string][]float32{}}, nil
	}
	return nil, fmt.Errorf("unknown optimizer %q (want sgd, adam or adamw)", c.Name)
}

// SGD is stochastic gradient descent with optional (Nesterov) momentum and
// L2 weight decay, with PyTorch's update rule.
type SGD struct {
	Momentum    float64
	Nesterov    bool
	WeightDecay float64
	slots       map[string][]float32
	step        int64
}

// Name implements Optimizer.
func (o *SGD) Name() string { return "sgd" }

// Step implements Optimizer.
func (o *SGD) Step(params []*nn.Param, grads []*nn.Tensor, lr float64) {
	o.step++
	mom, wd := float32(o.Momentum), float32(o.WeightDecay)
	// The update is elementwise: it runs in slices of at most sgdChunk
	// values spread over the threads (a serial pass over resnet18's 11.7M
	// parameters took about 1.5% of a training step's wall time).
	type slice struct {
		w, g, buf []float32
		fresh     bool
	}
	var work []slice
	for k, p := range params {
		g := grads[k]
		if g == nil {
			continue
		}
		w := p.Value.F32
		var buf []float32
		fresh := false
		if mom != 0 {
			buf = o.slots[p.Name]
			if buf == nil {
				buf = make([]float32, len(w))
				o.slots[p.Name] = buf
				fresh = true
			}
		}
		for lo := 0; lo < len(w); lo += sgdChunk {
			hi := min(lo+sgdChunk, len(w))
			sl := slice{w: w[lo:hi], g: g.F32[lo:hi], fresh: fresh}
			if buf != nil {
				sl.buf = buf[lo:hi]
			}
			work = append(work, sl)
		}
	}
	eta := float32(lr)
	parallelFor(len(work), func(i int) {
		sl := work[i]
		w, g, buf := sl.w, sl.g, sl.buf
		for i := range w {
			d := g[i] + wd*w[i]
			if buf != nil {
				if sl.fresh { // PyTorch: the first buffer is the gradient itself
					buf[i] = d
				} else {
					buf[i] = mom*buf[i] + d
				}
				if o.Nesterov {
					d += mom * buf[i]
				} else {
					d = buf[i]
				}
			}
			w[i] -= eta * d
		}
	})
}

// sgdChunk is the largest slice of a parameter SGD.Step updates as one
// task.
const sgdChunk = 1 << 16

// parallelFor calls fn(i) for every i in [0, n) on up to GOMAXPROCS
// goroutines, which take the indices in turn.
func parallelFor(n int, fn func(i int)) {
	procs := min(runtime.GOMAXPROCS(0), n)
	if procs <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(procs)
	for w := 0; w < procs; w++ {
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// State implements Optimizer.
func (o *SGD) State() (map[string]map[string][]float32, int64) {
	s := map[string]map[string][]float32{}
	for name, b := range o.slots {
		s[name] = map[string][]float32{"momentum": b}
	}
	return s, o.step
}

// SetState implements Optimizer.
func (o *SGD) SetState(s map[string]map[string][]float32, step int64) error {
	o.slots = map[string][]float32{}
	for name, sl := range s {
		b, ok := sl["momentum"]
		if !ok {
			return fmt.Errorf("sgd state of %q lacks momentum", name)
		}
		o.slots[name] = append([]float32{}, b...)
	}
	o.step = step
	return nil
}

// Adam is Adam (L2 weight decay added to the gradient) or, with Decoupled,
// AdamW (weight decay applied to the weights directly), with bias
// correction as in PyTorch.
type Adam struct {
	Beta1, Beta2, Eps float64
	WeightDecay       float64
	Decoupled         bool
	m, v              map[string][]float32
	step              int64
}

// Name implements Optimizer.
func (o *Adam) Name() string {
	if o.Decoupled {
		return "adamw"
	}
	return "adam"
}

// Step implements Optimizer.
func (o *Adam) Step(params []*nn.Param, grads []*nn.Tensor, lr float64) {
	o.step++
	b1, b2 := o.Beta1, o.Beta2
	bc1 := 1 - math.Pow(b1, float64(o.step))
	bc2 := 1 - math.Pow(b2, float64(o.step))
	stepSize := float32(lr / bc1)
	sqrtBC2 := float32(math.Sqrt(bc2))
	eps := float32(o.Eps)
	wd := float32(o.WeightDecay)
	fb1, fb2 := float32(b1), float32(b2)
	for k, p := range params {
		g := grads[k]
		if g == nil {
			continue
		}
		w := p.Value.F32
		m, v := o.m[p.Name], o.v[p.Name]
		if m == nil {
			m, v = make([]float32, len(w)), make([]float32, len(w))
			o.m[p.Name], o.v[p.Name] = m, v
		}
		if o.Decoupled && wd != 0 {
			f := 1 - float32(lr)*wd
			for i := range w {
				w[i] *= f
			}
		}
		for i := range w {
			d := g.F32[i]
			if !o.Decoupled {
				d += wd * w[i]
			}
			m[i] = fb1*m[i] + (1-fb1)*d
			v[i] = fb2*v[i] + (1-fb2)*d*d
			denom := float32(math.Sqrt(float64(v[i])))/sqrtBC2 + eps
			w[i] -= stepSize * m[i] / denom
		}
	}
}

// State implements Optimizer.
func (o *Adam) State() (map[string]map[string][]float32, int64) {
	s := map[string]map[string][]float32{}
	for name := range o.m {
		s[name] = map[string][]float32{"m": o.m[name], "v": o.v[name]}
	}
	return s, o.step
}

// SetState implements Optimizer.
func (o *Adam) SetState(s map[string]map[string][]float32, step int64) error {
	o.m, o.v = map[string][]float32{}, map[string][]float32{}
	for name, sl := range s {
		m, ok1 := sl["m"]
		v, ok2 := sl["v"]
		if !ok1 || !ok2 {
			return fmt.Errorf("adam state of %q lacks m or v", name)
		}
		o.m[name], o.v[name] = append([]float32{}, m...), append([]float32{}, v...)
	}
	o.step = step
	return nil
}
