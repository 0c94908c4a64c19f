package nn

import (
	"fmt"
	"sort"
	"strings"
)

// Differentiable is implemented by ops that have a backward pass.
//
// Backward receives the forward inputs and outputs of the node, and dOut:
// the gradient of the loss with respect to each output (nil for an output
// the loss does not depend on). need[i] says whether input i needs a
// gradient. It returns one tensor per input: the gradient for the inputs
// that need one (same shape and dtype as the input; broadcast dimensions
// summed back), nil for the others. Backward must not modify in, out or
// dOut. Float32 is the training type; float64 must work too (gradient
// checks evaluate in float64).
type Differentiable interface {
	Backward(ctx *Context, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error)
}

// Tape records a forward pass for reverse-mode differentiation: the graph,
// every value computed, and which nodes ran.
type Tape struct {
	// ctx is the forward pass's context; Backward uses it when given none,
	// so BatchNormalization and Dropout differentiate the mode they ran in.
	ctx  *Context
	g    *Graph
	vals map[string]*Tensor
	ran  []int
	// tm is set on tapes recorded by ForwardTrain.
	tm *tmTape
}

// Forward runs the graph like Run but keeps every intermediate value so
// Backward can use it. It returns the tape and the graph outputs.
func (g *Graph) Forward(ctx *Context, inputs map[string]*Tensor) (*Tape, map[string]*Tensor, error) {
	if ctx == nil {
		ctx = NewContext(nil)
	}
	if g.plan == nil {
		g.plan = g.buildPlan()
	}
	// A graph being trained does not keep Run's inference buffers alive
	// (the next Run allocates them again).
	g.ReleaseBuffers()
	if err := g.CheckInputs(inputs); err != nil {
		return nil, nil, err
	}
	tp := &Tape{ctx: ctx, g: g, vals: make(map[string]*Tensor, len(g.Nodes)+len(g.Params))}
	for name, p := range g.Params {
		tp.vals[name] = p.Value
	}
	for name, t := range g.Consts {
		tp.vals[name] = t
	}
	for name, t := range inputs {
		tp.vals[name] = t
	}
	for i, n := range g.Nodes {
		if !g.plan.live[i] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		args := make([]*Tensor, len(n.Inputs))
		for j, in := range n.Inputs {
			if in == "" {
				continue
			}
			t, ok := tp.vals[in]
			if !ok {
				return nil, nil, fmt.Errorf("node %s: input %q has no value", n.Label(), in)
			}
			args[j] = t
		}
		outs, err := runOp(ctx, n, args)
		if err != nil {
			return nil, nil, fmt.Errorf("node %s: %w", n.Label(), err)
		}
		if ctx.Observe != nil {
			ctx.Observe(n, args, outs)
		}
		for j, o := range n.Outputs {
			if o == "" {
				continue
			}
			if j >= len(outs) || outs[j] == nil {
				return nil, nil, fmt.Errorf("node %s: output %d (%q) was not produced", n.Label(), j, o)
			}
			tp.vals[o] = outs[j]
		}
		tp.ran = append(tp.ran, i)
	}
	res := make(map[string]*Tensor, len(g.Outputs))
	for _, o := range g.Outputs {
		t, ok := tp.vals[o.Name]
		if !ok {
			return nil, nil, fmt.Errorf("graph output %q was not computed", o.Name)
		}
		res[o.Name] = t
	}
	return tp, res, nil
}

// ForwardFrom is Forward starting from already computed values: known
// maps value names (graph inputs or intermediate values, e.g. cached
// activations of a frozen prefix) to tensors, and only the nodes needed
// for the targets (graph outputs when empty) that known does not already
// cover run.
func (g *Graph) ForwardFrom(ctx *Context, known map[string]*Tensor, targets ...string) (*Tape, error) {
	if ctx == nil {
		ctx = NewContext(nil)
	}
	need := map[string]bool{}
	for _, t := range targets {
		need[t] = true
	}
	if len(targets) == 0 {
		for _, o := range g.Outputs {
			need[o.Name] = true
		}
	}
	run := make([]bool, len(g.Nodes))
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if n.Folded {
			continue
		}
		for _, o := range n.Outputs {
			if need[o] && known[o] == nil {
				run[i] = true
			}
		}
		if run[i] {
			for _, in := range n.Inputs {
				if in != "" && known[in] == nil {
					need[in] = true
				}
			}
		}
	}
	tp := &Tape{ctx: ctx, g: g, vals: make(map[string]*Tensor, len(g.Nodes)+len(g.Params))}
	for name, p := range g.Params {
		tp.vals[name] = p.Value
	}
	for name, t := range g.Consts {
		tp.vals[name] = t
	}
	for name, t := range known {
		tp.vals[name] = t
	}
	for i, n := range g.Nodes {
		if !run[i] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		args := make([]*Tensor, len(n.Inputs))
		for j, in := range n.Inputs {
			if in == "" {
				continue
			}
			t, ok := tp.vals[in]
			if !ok {
				return nil, fmt.Errorf("node %s: input %q has no value", n.Label(), in)
			}
			args[j] = t
		}
		outs, err := runOp(ctx, n, args)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Label(), err)
		}
		for j, o := range n.Outputs {
			if o != "" && j < len(outs) && outs[j] != nil {
				tp.vals[o] = outs[j]
			}
		}
		tp.ran = append(tp.ran, i)
	}
	return tp, nil
}

// Value returns a value recorded on the tape, or nil.
func (tp *Tape) Value(name string) *Tensor { return tp.vals[name] }

// Backward propagates seed gradients (keyed by value name, usually graph
// outputs) back through the recorded pass and returns the gradient of every
// value named in wrt (parameters or inputs). A value of wrt the seeds do
// not depend on gets no entry. On a tape recorded by ForwardTrain, seeds
// must be among its targets and wrt among its wrt, Backward runs once, and
// it releases the recorded values other than the targets and known values
// (Value returns nil for them afterwards).
func (tp *Tape) Backward(ctx *Context, seeds map[string]*Tensor, wrt []string) (map[string]*Tensor, error) {
	if ctx == nil {
		ctx = tp.ctx
	}
	tt := tp.tm
	if tt != nil {
		if err := tt.check(seeds, wrt); err != nil {
			return nil, err
		}
		tt.done = true
		c := *ctx
		c.Buffers = tt.pool
		c.tm = &tt.step
		defer func(orig *Context) { orig.Rand = c.Rand }(ctx)
		ctx = &c
	}
	g := tp.g
	want := map[string]bool{}
	for _, w := range wrt {
		want[w] = true
	}
	// Forward sweep: which values depend on something in wrt.
	dep := map[string]bool{}
	for w := range want {
		dep[w] = true
	}
	for _, i := range tp.ran {
		n := g.Nodes[i]
		for _, in := range n.Inputs {
			if in != "" && dep[in] {
				for _, o := range n.Outputs {
					if o != "" {
						dep[o] = true
					}
				}
				break
			}
		}
	}
	grads := make(map[string]*Tensor, len(seeds))
	for name, s := range seeds {
		grads[name] = s
		if tt != nil {
			tt.ref(s, false)
			tt.pin(s)
		}
	}
	for k := len(tp.ran) - 1; k >= 0; k-- {
		n := g.Nodes[tp.ran[k]]
		if tt != nil && k < len(tp.ran)-1 {
			// Values the backward passes after node k+1 no longer read.
			for _, v := range tt.release[tp.ran[k+1]] {
				tp.tmDrop(v)
			}
		}
		dOut := make([]*Tensor, len(n.Outputs))
		anyOut := false
		for j, o := range n.Outputs {
			if o == "" {
				continue
			}
			if gr := grads[o]; gr != nil {
				dOut[j] = gr
				anyOut = true
			}
		}
		if !anyOut {
			continue
		}
		need := make([]bool, len(n.Inputs))
		anyIn := false
		for j, in := range n.Inputs {
			if in != "" && dep[in] {
				need[j] = true
				anyIn = true
			}
		}
		if !anyIn {
			continue
		}
		if !HasGradient(n) {
			return nil, fmt.Errorf("node %s: op %s has no gradient", n.Label(), n.OpType)
		}
		in := make([]*Tensor, len(n.Inputs))
		for j, name := range n.Inputs {
			if name != "" {
				in[j] = tp.vals[name]
				if in[j] == nil && tt != nil {
					return nil, fmt.Errorf("node %s backward: input %q was not kept by ForwardTrain", n.Label(), name)
				}
			}
		}
		out := make([]*Tensor, len(n.Outputs))
		for j, name := range n.Outputs {
			if name != "" {
				out[j] = tp.vals[name]
			}
		}
		if tt != nil {
			tt.step.owned = make([]bool, len(dOut))
			for j, o := range n.Outputs {
				tt.step.owned[j] = dOut[j] != nil && !want[o] && tt.exclusive(dOut[j])
			}
		}
		dIn, err := backwardOp(ctx, n, in, out, dOut, need)
		if err != nil {
			return nil, fmt.Errorf("node %s backward: %w", n.Label(), err)
		}
		if tt != nil {
			tt.step.owned = nil
			fresh := n.Domain == "" && tmFreshGrad(n.OpType)
			for j := range dIn {
				if j < len(need) && need[j] && dIn[j] != nil {
					tt.ref(dIn[j], fresh && !tt.known(dIn[j]))
				}
			}
			if !fresh {
				for _, t := range dOut {
					tt.pin(t)
				}
				for _, t := range dIn {
					tt.pin(t)
				}
			}
		}
		for j, name := range n.Inputs {
			if !need[j] || j >= len(dIn) || dIn[j] == nil {
				continue
			}
			if !SameShape(dIn[j].Shape, in[j].Shape) {
				return nil, fmt.Errorf("node %s backward: gradient of input %d has shape %s, input has %s", n.Label(), j, ShapeString(dIn[j].Shape), ShapeString(in[j].Shape))
			}
			if prev := grads[name]; prev != nil {
				if tt != nil {
					grads[name] = tt.accumulate(ctx, prev, dIn[j])
				} else {
					grads[name] = addGrad(prev, dIn[j])
				}
			} else {
				grads[name] = dIn[j]
			}
		}
		// Output gradients are no longer needed (unless requested).
		for _, o := range n.Outputs {
			if !want[o] {
				if tt != nil && grads[o] != nil {
					tt.unref(grads[o])
				}
				delete(grads, o)
			}
		}
	}
	// Ops may pass a gradient buffer through unchanged (Add, Reshape), so
	// two results can share one; callers scale gradients in place (clipping),
	// so every result gets its own buffer.
	res := make(map[string]*Tensor, len(wrt))
	owned := map[*Tensor]bool{}
	for _, s := range seeds {
		owned[s] = true
	}
	for _, w := range wrt {
		if gr := grads[w]; gr != nil {
			if owned[gr] || sharesData(gr, res) {
				gr = gr.Clone()
			}
			owned[gr] = true
			res[w] = gr
		}
	}
	if tt != nil {
		// The results are the caller's; everything else goes back.
		for _, r := range res {
			tt.pin(r)
		}
		for name, gr := range grads {
			if !want[name] {
				tt.unref(gr)
			}
		}
		for v := range tp.vals {
			tp.tmDrop(v)
		}
	}
	return res, nil
}

// tmDrop removes value v of a ForwardTrain tape (unless kept) and releases
// its buffer.
func (tp *Tape) tmDrop(v string) {
	t := tp.vals[v]
	if t == nil || tp.tm.keep[v] {
		return
	}
	delete(tp.vals, v)
	tp.tm.unref(t)
}

// sharesData reports whether t's data slice is the one of a tensor in m.
func sharesData(t *Tensor, m map[string]*Tensor) bool {
	for _, o := range m {
		switch {
		case len(t.F32) > 0 && len(o.F32) > 0 && &t.F32[0] == &o.F32[0]:
			return true
		case len(t.F64) > 0 && len(o.F64) > 0 && &t.F64[0] == &o.F64[0]:
			return true
		}
	}
	return false
}

// HasGradient reports whether node n has a backward pass.
func HasGradient(n *Node) bool {
	if _, ok := n.Op.(Differentiable); ok {
		return true
	}
	return n.Grad != nil
}

// Backward runs the backward pass of one built node, turning panics into
// errors.
func Backward(ctx *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	if !HasGradient(n) {
		return nil, fmt.Errorf("op %s has no gradient", n.OpType)
	}
	return backwardOp(ctx, n, in, out, dOut, need)
}

func backwardOp(ctx *Context, n *Node, in, out, dOut []*Tensor, need []bool) (res []*Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in %s backward: %v", n.OpType, r)
		}
	}()
	if d, ok := n.Op.(Differentiable); ok {
		return d.Backward(ctx, in, out, dOut, need)
	}
	return n.Grad(ctx, n, in, out, dOut, need)
}

// addGrad returns a+b as a new tensor (float32 or float64).
func addGrad(a, b *Tensor) *Tensor {
	c := a.Clone()
	switch c.DType.Storage() {
	case StoreF32:
		for i, v := range b.F32 {
			c.F32[i] += v
		}
	case StoreF64:
		for i, v := range b.F64 {
			c.F64[i] += v
		}
	}
	return c
}

// NonDifferentiable lists the nodes that lie on a path from one of the
// values in from (trainable parameters) to one in to (the value the loss
// reads; graph outputs when to is empty) and have no backward pass, grouped
// by op type: training cannot start while any remain. The message names
// every op type, its count and first nodes.
func (g *Graph) NonDifferentiable(from, to []string) error {
	dep := map[string]bool{}
	for _, f := range from {
		dep[f] = true
	}
	onPath := map[*Node]bool{}
	for _, n := range g.Nodes {
		if n.Folded {
			continue
		}
		for _, in := range n.Inputs {
			if in != "" && dep[in] {
				onPath[n] = true
				for _, o := range n.Outputs {
					dep[o] = true
				}
				break
			}
		}
	}
	// Keep only nodes from which an output is reachable.
	reach := map[string]bool{}
	for _, o := range to {
		reach[o] = true
	}
	if len(to) == 0 {
		for _, o := range g.Outputs {
			reach[o.Name] = true
		}
	}
	bad := map[string][]string{}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		hits := false
		for _, o := range n.Outputs {
			if reach[o] {
				hits = true
			}
		}
		if !hits || n.Folded {
			continue
		}
		for _, in := range n.Inputs {
			reach[in] = true
		}
		if onPath[n] {
			if !HasGradient(n) {
				bad[n.OpType] = append(bad[n.OpType], n.Label())
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	types := make([]string, 0, len(bad))
	for t := range bad {
		types = append(types, t)
	}
	sort.Strings(types)
	parts := make([]string, len(types))
	for i, t := range types {
		nodes := bad[t]
		ex := nodes
		if len(ex) > 3 {
			ex = ex[:3]
		}
		parts[i] = fmt.Sprintf("%s ×%d (e.g. %s)", t, len(nodes), strings.Join(ex, ", "))
	}
	return fmt.Errorf("no gradient for %d op type(s) between the trainable parameters and the outputs: %s", len(types), strings.Join(parts, "; "))
}

// SumToShape sums a gradient of a broadcast result back to the shape of
// the operand that was broadcast (numpy rules). It returns g itself when
// the shapes already agree.
func SumToShape(g *Tensor, shape []int) *Tensor {
	if SameShape(g.Shape, shape) {
		return g
	}
	out := New(g.DType, shape...)
	idx := BroadcastIndex(shape, g.Shape)
	switch g.DType.Storage() {
	case StoreF32:
		for i, j := range idx {
			out.F32[j] += g.F32[i]
		}
	case StoreF64:
		for i, j := range idx {
			out.F64[j] += g.F64[i]
		}
	}
	return out
}
