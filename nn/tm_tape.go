package nn

import "fmt"

// Memory management of training tapes (Graph.ForwardTrain). Knowing the
// values gradients will be taken with respect to, the forward pass keeps
// only what the backward pass reads: a value no backward reads is dropped
// after its last forward reader (or kept as a shape-only stub when a
// backward needs its shape), and Relu, Clip and Add overwrite an input
// nobody needs any more. The backward pass drops each forward value after
// the last backward that reads it and each gradient once consumed, lets
// Relu and BatchNormalization overwrite an output gradient nobody else
// reads, and accumulates gradients in place. Buffers are tracked by their
// first element, with a reference count over tape values and gradients; a
// buffer an op allocated for this step ("owned") whose count drops to zero
// goes back to Context.Buffers for the next ops and steps. Buffers that an
// op of unknown behaviour might alias at an offset are pinned: never
// recycled nor overwritten.

// tmStep is the per-tape state ops see through Context.tm.
type tmStep struct {
	// owned[j]: the backward pass may overwrite output gradient j.
	owned []bool
	// saved holds BatchNormalization batch statistics from the forward
	// pass, so the backward pass need not recompute them.
	saved map[*Node]*tmBNStats
	// poolArg holds the window positions MaxPool nodes picked in the
	// forward pass (poolMax3x3s2F32's arg), for their backward pass.
	poolArg map[*Node]*tmPoolArg
	// inplace: the forward op may write its output over input 0.
	inplace bool
	// backward: the backward pass of the running node will run, so it
	// may record what that pass reads (poolArg).
	backward bool
}

// tmPoolArg are the window positions a MaxPool node picked from the input
// whose data starts at x.
type tmPoolArg struct {
	x   any
	n   int
	arg []uint8
}

// tmSavedPoolArg returns the window positions MaxPool node n recorded in
// the forward pass of the tape being differentiated, if it recorded them
// for input x.
func tmSavedPoolArg(ctx *Context, n *Node, x *Tensor) []uint8 {
	if ctx == nil || ctx.tm == nil {
		return nil
	}
	a := ctx.tm.poolArg[n]
	if a == nil || a.x != tmKey(x) || a.n != x.Len() {
		return nil
	}
	return a.arg
}

// tmBNStats are the batch statistics a BatchNormalization node computed
// from the input whose data starts at x.
type tmBNStats struct {
	x        any
	n        int
	mean, vr []float64
}

// tmSavedStats returns the batch statistics node n computed in the forward
// pass of the tape being differentiated, if they were computed from x.
func tmSavedStats(ctx *Context, n *Node, x *Tensor) *tmBNStats {
	if ctx == nil || ctx.tm == nil {
		return nil
	}
	st := ctx.tm.saved[n]
	if st == nil || st.x != tmKey(x) || st.n != x.Len() {
		return nil
	}
	return st
}

// tmBuf is one data buffer referenced by tape values or gradients.
type tmBuf struct {
	refs   int
	owned  bool
	pinned bool
	f32    []float32
}

// tmTape is the bookkeeping of a ForwardTrain tape.
type tmTape struct {
	step    tmStep
	pool    *BufferPool
	bufs    map[any]*tmBuf
	keep    map[string]bool
	targets map[string]bool
	wrt     map[string]bool
	// release[i] lists the values to drop once node i's backward ran.
	release map[int][]string
	done    bool
}

func tmKey(t *Tensor) any {
	switch {
	case t == nil:
		return nil
	case len(t.F32) > 0:
		return &t.F32[0]
	case len(t.F64) > 0:
		return &t.F64[0]
	}
	return nil
}

// ref counts one more reference to t's buffer; a buffer not seen before is
// registered as owned (recyclable) or not.
func (tt *tmTape) ref(t *Tensor, owned bool) {
	k := tmKey(t)
	if k == nil {
		return
	}
	b := tt.bufs[k]
	if b == nil {
		b = &tmBuf{owned: owned}
		if t.DType == Float32 {
			b.f32 = t.F32
		}
		tt.bufs[k] = b
	}
	b.refs++
}

// known reports whether t's buffer is already tracked.
func (tt *tmTape) known(t *Tensor) bool {
	k := tmKey(t)
	return k != nil && tt.bufs[k] != nil
}

// unref drops one reference to t's buffer, recycling it when it was the
// last one and the buffer is owned and not pinned.
func (tt *tmTape) unref(t *Tensor) {
	k := tmKey(t)
	if k == nil {
		return
	}
	b := tt.bufs[k]
	if b == nil {
		return
	}
	b.refs--
	if b.refs > 0 {
		return
	}
	delete(tt.bufs, k)
	if b.owned && !b.pinned && tt.pool != nil && b.f32 != nil {
		tt.pool.put(b.f32)
	}
}

func (tt *tmTape) pin(t *Tensor) {
	if b := tt.bufs[tmKey(t)]; b != nil {
		b.pinned = true
	}
}

// exclusive reports whether exactly one reference holds t's buffer and the
// tape may overwrite it.
func (tt *tmTape) exclusive(t *Tensor) bool {
	b := tt.bufs[tmKey(t)]
	return b != nil && b.owned && !b.pinned && b.refs == 1
}

// tmStub returns a tensor with t's type and shape and no elements, for a
// backward pass that reads only the shape.
func tmStub(t *Tensor) *Tensor {
	s := &Tensor{DType: t.DType, Shape: t.Shape}
	switch t.DType.Storage() {
	case StoreF32:
		s.F32 = []float32{}
	case StoreF64:
		s.F64 = []float64{}
	case StoreI64:
		s.I64 = []int64{}
	case StoreBool:
		s.Bool = []bool{}
	}
	return s
}

// tmFreshOp reports whether every output of an op type is a newly
// allocated tensor (never a view of an input, a parameter or a constant).
func tmFreshOp(opType string) bool {
	switch opType {
	case "Conv", "ConvTranspose", "Gemm", "BatchNormalization", "Add", "Sub", "Mul", "Div",
		"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "MaxPool", "AveragePool", "GlobalAveragePool":
		return true
	}
	return false
}

// tmViewOp reports whether an op type returns its input's buffer whole or
// a fresh copy (never a view at an offset), forward and backward.
func tmViewOp(opType string) bool {
	switch opType {
	case "Identity", "Flatten", "Reshape", "Squeeze", "Unsqueeze":
		return true
	}
	return false
}

// tmFreshGrad reports whether the backward pass of an op type returns, for
// each input, a new tensor or an output gradient whole.
func tmFreshGrad(opType string) bool {
	switch opType {
	case "Conv", "BatchNormalization", "Relu", "Clip", "Add", "Sub", "MaxPool", "GlobalAveragePool", "Gemm":
		return true
	}
	return tmViewOp(opType)
}

// tmNeedsData reports whether the backward pass of n reads the elements of
// its input (or, with out, output) j; the others it gets as shape-only
// stubs. Unknown ops read everything.
func tmNeedsData(n *Node, out bool, j int) bool {
	if n.Domain != "" {
		return true
	}
	switch n.OpType {
	case "Conv":
		return !out && j < 2
	case "BatchNormalization":
		return !out
	case "Relu":
		return out && j == 0
	case "Clip":
		return (out && j == 0) || (!out && j > 0)
	case "Add", "Sub":
		return n.Opset < 7
	case "GlobalAveragePool":
		return false
	case "MaxPool":
		return j == 0
	case "Identity", "Flatten", "Squeeze", "Unsqueeze":
		return false
	case "Reshape":
		return !out && j > 0
	}
	return true
}

// tmInplaceAct reports whether an op type's backward reads only its
// output, so the forward may overwrite its input.
func tmInplaceAct(opType string) bool { return opType == "Relu" || opType == "Clip" }

// ForwardTrain runs the forward pass of one training step: the nodes
// needed for targets (graph outputs when empty) from the known values
// (graph inputs, or e.g. cached activations of a frozen prefix), like
// ForwardFrom. Unlike ForwardFrom it keeps only what targets and a
// backward pass to wrt need: the returned tape answers Value for targets
// and known values, and supports one Backward call with seeds among
// targets and wrt within wrt, which releases the recorded values as it
// goes. With ctx.Buffers set, buffers come from and return to that pool.
func (g *Graph) ForwardTrain(ctx *Context, known map[string]*Tensor, targets, wrt []string) (*Tape, error) {
	if ctx == nil {
		ctx = NewContext(nil)
	}
	// Training changes the parameters: Run's packed weights go.
	g.ReleaseBuffers()
	if len(targets) == 0 {
		for _, o := range g.Outputs {
			targets = append(targets, o.Name)
		}
	}
	tt := &tmTape{
		pool: ctx.Buffers, bufs: map[any]*tmBuf{}, keep: map[string]bool{},
		targets: map[string]bool{}, wrt: map[string]bool{}, release: map[int][]string{},
		step: tmStep{saved: map[*Node]*tmBNStats{}, poolArg: map[*Node]*tmPoolArg{}},
	}
	need := map[string]bool{}
	for _, t := range targets {
		need[t], tt.targets[t], tt.keep[t] = true, true, true
	}
	for _, w := range wrt {
		tt.wrt[w], tt.keep[w] = true, true
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
	// Which nodes will run backward: those with an input depending on wrt
	// and an output the targets depend on.
	dep := map[string]bool{}
	for w := range tt.wrt {
		dep[w] = true
	}
	for i, n := range g.Nodes {
		if !run[i] {
			continue
		}
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
	reach := map[string]bool{}
	for t := range tt.targets {
		reach[t] = true
	}
	bw := make([]bool, len(g.Nodes))
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		if !run[i] {
			continue
		}
		n := g.Nodes[i]
		hit, depIn := false, false
		for _, o := range n.Outputs {
			if o != "" && reach[o] {
				hit = true
			}
		}
		for _, in := range n.Inputs {
			if in != "" && dep[in] {
				depIn = true
			}
		}
		if !hit {
			continue
		}
		for _, in := range n.Inputs {
			if in != "" {
				reach[in] = true
			}
		}
		bw[i] = depIn
	}
	lastFwd := map[string]int{}
	firstBw := map[string]int{}
	dataNeed := map[string]bool{}
	for i, n := range g.Nodes {
		if !run[i] {
			continue
		}
		for _, in := range n.Inputs {
			if in != "" {
				lastFwd[in] = i
			}
		}
		if !bw[i] {
			continue
		}
		for j, v := range n.Inputs {
			if v == "" {
				continue
			}
			if _, ok := firstBw[v]; !ok {
				firstBw[v] = i
			}
			if tmNeedsData(n, false, j) {
				dataNeed[v] = true
			}
		}
		for j, v := range n.Outputs {
			if v == "" {
				continue
			}
			if _, ok := firstBw[v]; !ok {
				firstBw[v] = i
			}
			if tmNeedsData(n, true, j) {
				dataNeed[v] = true
			}
		}
	}
	for v, i := range firstBw {
		tt.release[i] = append(tt.release[i], v)
	}
	tp := &Tape{ctx: ctx, g: g, vals: make(map[string]*Tensor, len(g.Nodes)+len(g.Params)), tm: tt}
	for name, p := range g.Params {
		tp.vals[name] = p.Value
		tt.keep[name] = true
		tt.ref(p.Value, false)
		tt.pin(p.Value)
	}
	for name, t := range g.Consts {
		tp.vals[name] = t
		tt.keep[name] = true
		tt.ref(t, false)
		tt.pin(t)
	}
	for name, t := range known {
		tp.vals[name] = t
		tt.keep[name] = true
		tt.ref(t, false)
		tt.pin(t)
	}
	// drop removes value v from the tape (a stub stays when a backward
	// reads its shape).
	drop := func(v string) {
		t := tp.vals[v]
		if t == nil || tt.keep[v] {
			return
		}
		if _, ok := firstBw[v]; ok {
			tp.vals[v] = tmStub(t)
		} else {
			delete(tp.vals, v)
		}
		tt.unref(t)
	}
	fctx := *ctx
	fctx.tm = &tt.step
	// A random source the ops create lazily must outlive this copy.
	defer func() { ctx.Rand = fctx.Rand }()
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
		// May the op overwrite input k? Only a buffer of this step that
		// nothing else reads, now or in the backward pass.
		free := func(k int) bool {
			v := n.Inputs[k]
			return v != "" && !tt.keep[v] && lastFwd[v] == i && !dataNeed[v] && tt.exclusive(args[k])
		}
		var outs []*Tensor
		if ctx.Observe == nil && n.Domain == "" && len(n.Outputs) == 1 {
			var y *Tensor
			switch {
			case tmInplaceAct(n.OpType) && len(args) > 0 && free(0):
				y = pfActInPlace(n, args)
			case pfInplaceBinary(n):
				for k := 0; k < 2 && y == nil; k++ {
					if free(k) {
						y = pfBinaryInPlace(n, k, args)
					}
				}
			}
			if y != nil {
				outs = []*Tensor{y}
			}
		}
		if outs == nil {
			// BatchNormalization can normalize in place (in a frozen
			// prefix, where no backward reads its input).
			tt.step.inplace = ctx.Observe == nil && n.Domain == "" && n.OpType == "BatchNormalization" && len(args) > 0 && free(0)
			tt.step.backward = bw[i]
			var err error
			outs, err = runOp(&fctx, n, args)
			tt.step.inplace, tt.step.backward = false, false
			if err != nil {
				return nil, fmt.Errorf("node %s: %w", n.Label(), err)
			}
		}
		if ctx.Observe != nil {
			ctx.Observe(n, args, outs)
		}
		fresh := n.Domain == "" && tmFreshOp(n.OpType)
		if !fresh && !(n.Domain == "" && tmViewOp(n.OpType)) {
			for _, a := range args {
				tt.pin(a)
			}
		}
		for j, o := range n.Outputs {
			if o == "" || j >= len(outs) || outs[j] == nil {
				continue
			}
			if prev := tp.vals[o]; prev != nil {
				tt.unref(prev)
			}
			tp.vals[o] = outs[j]
			tt.ref(outs[j], fresh)
		}
		tp.ran = append(tp.ran, i)
		for _, names := range [][]string{n.Inputs, n.Outputs} {
			for _, v := range names {
				if v == "" || dataNeed[v] {
					continue
				}
				if last, ok := lastFwd[v]; ok && last > i {
					continue
				}
				drop(v)
			}
		}
	}
	for t := range tt.targets {
		if _, ok := tp.vals[t]; !ok {
			return nil, fmt.Errorf("target %q was not computed", t)
		}
	}
	return tp, nil
}

// check validates a Backward call on a ForwardTrain tape.
func (tt *tmTape) check(seeds map[string]*Tensor, wrt []string) error {
	if tt.done {
		return fmt.Errorf("a ForwardTrain tape supports one Backward call")
	}
	for s := range seeds {
		if !tt.targets[s] {
			return fmt.Errorf("seed %q is not a target of ForwardTrain", s)
		}
	}
	for _, w := range wrt {
		if !tt.wrt[w] {
			return fmt.Errorf("%q was not among the wrt values of ForwardTrain", w)
		}
	}
	return nil
}

// accumulate returns prev+d, reusing one of the two buffers when the tape
// owns it alone, and keeps the reference counts.
func (tt *tmTape) accumulate(ctx *Context, prev, d *Tensor) *Tensor {
	// add sets acc += x.
	add := func(x, acc *Tensor) {
		if x.F32 != nil {
			ewParallel(len(x.F32), 1, func(lo, hi int) {
				a := acc.F32[lo:hi]
				for i, v := range x.F32[lo:hi] {
					a[i] += v
				}
			})
			return
		}
		for i, v := range x.F64 {
			acc.F64[i] += v
		}
	}
	switch {
	case tt.exclusive(prev) && tmKey(prev) != tmKey(d):
		add(d, prev)
		tt.unref(d)
		return prev
	case tt.exclusive(d) && tmKey(prev) != tmKey(d):
		add(prev, d)
		tt.unref(prev)
		return d
	}
	c := tmNewDirty(ctx, prev.DType, prev.Shape...)
	if c.F32 != nil {
		copy(c.F32, prev.F32)
	} else {
		copy(c.F64, prev.F64)
	}
	add(d, c)
	tt.ref(c, true)
	tt.unref(prev)
	tt.unref(d)
	return c
}
