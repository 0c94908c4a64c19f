package nn

import (
	"fmt"
	"sort"
	"strings"
)

// plan is the cached execution schedule of a graph.
type plan struct {
	// live[i] is false for nodes whose outputs nothing needs (every reader
	// was folded away); the executor skips them.
	live []bool
	// lastUse[i] lists the values whose last reader is node i (by index
	// into Graph.Nodes); they are released after the node runs.
	lastUse [][]string
	keep    map[string]bool
	// inplace[i] is k+1 when node i may write its output over its input k
	// during inference (pfInplaceNodes), else 0; nil when no node qualifies.
	inplace []int8
	// fuse[i] is j+1 when Conv node i may apply activation node j itself
	// during inference (pfFuseNodes), else 0; nil when no node qualifies.
	fuse []int32
	// blocks[i] is the fusable inverted-residual chain whose first node
	// is i (pfBlockNodes); nil when there are none.
	blocks []*pfBlock
}

func (g *Graph) buildPlan() *plan {
	keep := map[string]bool{}
	for _, o := range g.Outputs {
		keep[o.Name] = true
	}
	for name := range g.Params {
		keep[name] = true
	}
	for name := range g.Consts {
		keep[name] = true
	}
	live := make([]bool, len(g.Nodes))
	needed := map[string]bool{}
	for _, o := range g.Outputs {
		needed[o.Name] = true
	}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if n.Folded {
			continue
		}
		for _, o := range n.Outputs {
			if needed[o] {
				live[i] = true
			}
		}
		if live[i] {
			for _, in := range n.Inputs {
				needed[in] = true
			}
		}
	}
	last := map[string]int{}
	for i, n := range g.Nodes {
		if !live[i] {
			continue
		}
		for _, in := range n.Inputs {
			if in != "" {
				last[in] = i
			}
		}
	}
	p := &plan{lastUse: make([][]string, len(g.Nodes)), keep: keep, live: live, inplace: g.pfInplaceNodes(live, keep)}
	p.fuse = g.pfFuseNodes(live, p.inplace)
	p.blocks = g.pfBlockNodes(live, keep)
	for name, i := range last {
		if !keep[name] {
			p.lastUse[i] = append(p.lastUse[i], name)
		}
	}
	return p
}

// Run executes the graph on the named inputs and returns the graph outputs.
// Intermediate values are dropped as soon as their last reader has run.
// For plain inference (ctx not in training mode, no Observe hook) their
// storage is reused by later nodes and kept by g for later runs (see
// ReleaseBuffers); the returned outputs are always the caller's own.
// Concurrent inference runs of one graph each use buffers of their own.
// Plain inference also keeps the graph's parameters and constants packed
// for its matrix products: after changing their values in place (outside
// Forward and ForwardTrain, which drop the packed copies), call
// ReleaseBuffers before the next Run.
func (g *Graph) Run(ctx *Context, inputs map[string]*Tensor) (map[string]*Tensor, error) {
	if ctx == nil {
		ctx = NewContext(nil)
	}
	pl := g.arPlan()
	var pool *arPool
	if !ctx.Training && ctx.Observe == nil {
		// Plain inference: ops take output storage from a buffer pool of
		// g (see arPool). The run works on a copy of ctx so that
		// concurrent runs sharing one Context each keep their own pool.
		pool = g.arAcquire()
		rc := *ctx
		rc.ar = pool
		rc.packs = g.packCache()
		orig := ctx
		ctx = &rc
		defer func() {
			if orig.Rand == nil && rc.Rand != nil {
				orig.Rand = rc.Rand
			}
		}()
	}
	res, err := g.run(ctx, pl, pool, inputs)
	if pool != nil {
		pool.finish(res, err != nil)
		g.arRelease(pool)
	}
	return res, err
}

// run is Run's executor; pool (nil when not pooling) tracks which buffers
// handed out by ctx.arNew the live values still use.
func (g *Graph) run(ctx *Context, pl *plan, pool *arPool, inputs map[string]*Tensor) (map[string]*Tensor, error) {
	vals := make(map[string]*Tensor, len(g.Nodes)+len(inputs))
	for name, p := range g.Params {
		vals[name] = p.Value
	}
	for name, t := range g.Consts {
		vals[name] = t
	}
	if err := g.CheckInputs(inputs); err != nil {
		return nil, err
	}
	for name, t := range inputs {
		vals[name] = t
	}
	args := make([]*Tensor, 0, 8)
	var fused []bool // activation nodes a Conv already applied
	// Fused inverted-residual chains: the nodes inside one are skipped and
	// its projection takes the output computed at its head.
	var inBlock []bool
	var blockOut map[int]*Tensor
	plain := !ctx.Training && ctx.Observe == nil
	for i, n := range g.Nodes {
		if !pl.live[i] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if inBlock != nil && inBlock[i] {
			// Computed inside a fused chain: no output of its own.
			g.runRelease(pl, i, vals, pool)
			continue
		}
		var outs []*Tensor
		var err error
		// A fused chain's projection takes the output computed at the
		// chain's head; its own input was never produced.
		y := blockOut[i]
		if y == nil {
			if args, err = runArgs(n, vals, args[:0]); err != nil {
				return nil, err
			}
			if pl.blocks != nil && pl.blocks[i] != nil && plain {
				b := pl.blocks[i]
				if out, ok := g.pfBlockRun(ctx, b, vals); ok {
					if inBlock == nil {
						inBlock = make([]bool, len(g.Nodes))
						blockOut = map[int]*Tensor{}
					}
					for _, j := range b.inner() {
						inBlock[j] = true
					}
					blockOut[b.proj] = out
					if pool != nil {
						// Held until the projection node hands it out.
						pool.ref(out, 1)
					}
					g.runRelease(pl, i, vals, pool)
					continue
				}
			}
		}
		switch {
		case y != nil:
			outs = []*Tensor{y}
			if pool != nil {
				pool.ref(y, -1) // the output loop below takes it over
			}
			delete(blockOut, i)
		case fused != nil && fused[i]:
			// The producing Conv applied this activation already.
			outs = []*Tensor{args[0]}
		case pl.fuse != nil && pl.fuse[i] > 0 && plain && args[0].DType == Float32:
			j := int(pl.fuse[i] - 1)
			if act := pfFusedAct(g.Nodes[j], vals); act != nil {
				outs, err = n.Op.(*convOp).run(ctx, args, act)
				if fused == nil {
					fused = make([]bool, len(g.Nodes))
				}
				fused[j] = true
				break
			}
			outs, err = pfRunNode(ctx, n, pl.inplaceAt(i), args)
		default:
			outs, err = pfRunNode(ctx, n, pl.inplaceAt(i), args)
		}
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Label(), err)
		}
		if ctx.Observe != nil {
			ctx.Observe(n, args, outs)
		}
		for j, o := range n.Outputs {
			if o == "" {
				continue
			}
			if j >= len(outs) || outs[j] == nil {
				return nil, fmt.Errorf("node %s: output %d (%q) was not produced", n.Label(), j, o)
			}
			if pool != nil {
				pool.ref(outs[j], 1)
				if prev, ok := vals[o]; ok {
					pool.ref(prev, -1)
				}
			}
			vals[o] = outs[j]
		}
		g.runRelease(pl, i, vals, pool)
	}
	res := make(map[string]*Tensor, len(g.Outputs))
	for _, o := range g.Outputs {
		t, ok := vals[o.Name]
		if !ok {
			return nil, fmt.Errorf("graph output %q was not computed", o.Name)
		}
		res[o.Name] = t
	}
	return res, nil
}

// runArgs appends node n's inputs from vals to args (nil for an omitted
// optional input) and checks that n is built.
func runArgs(n *Node, vals map[string]*Tensor, args []*Tensor) ([]*Tensor, error) {
	for _, in := range n.Inputs {
		if in == "" {
			args = append(args, nil)
			continue
		}
		t, ok := vals[in]
		if !ok {
			return nil, fmt.Errorf("node %s: input %q has no value", n.Label(), in)
		}
		args = append(args, t)
	}
	if n.Op == nil {
		return nil, fmt.Errorf("node %s: not built", n.Label())
	}
	return args, nil
}

// runRelease drops the values whose last reader is node i.
func (g *Graph) runRelease(pl *plan, i int, vals map[string]*Tensor, pool *arPool) {
	for _, name := range pl.lastUse[i] {
		if pool != nil {
			pool.ref(vals[name], -1)
		}
		delete(vals, name)
	}
	if pool != nil {
		pool.sweep()
	}
}

// CheckInputs verifies that every declared input is given with the declared
// element type, rank and fixed dimensions. A fixed leading dimension equal to
// the model's FixedBatch accepts any batch size.
func (g *Graph) CheckInputs(inputs map[string]*Tensor) error {
	known := map[string]bool{}
	for _, in := range g.Inputs {
		known[in.Name] = true
	}
	var extra []string
	for name := range inputs {
		if !known[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		names := make([]string, len(g.Inputs))
		for i, in := range g.Inputs {
			names[i] = in.Name
		}
		return fmt.Errorf("unknown input(s) %s; the model's inputs are %s", strings.Join(extra, ", "), strings.Join(names, ", "))
	}
	var missing []string
	for _, in := range g.Inputs {
		t, ok := inputs[in.Name]
		if !ok || t == nil {
			missing = append(missing, in.Name)
			continue
		}
		if in.DType != Undefined && t.DType != in.DType {
			return fmt.Errorf("input %q: expected element type %v, given %v", in.Name, in.DType, t.DType)
		}
		if !in.HasShape {
			continue
		}
		if len(t.Shape) != len(in.Shape) {
			return fmt.Errorf("input %q: expected shape %s, given %s", in.Name, in.ShapeString(), ShapeString(t.Shape))
		}
		for i, d := range in.Shape {
			if d.Param != "" || d.Value < 0 {
				continue
			}
			if i == 0 && g.FixedBatch > 0 && d.Value == g.FixedBatch {
				continue
			}
			if t.Shape[i] != d.Value {
				return fmt.Errorf("input %q: expected shape %s, given %s (dimension %d)", in.Name, in.ShapeString(), ShapeString(t.Shape), i)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing input(s): %s", strings.Join(missing, ", "))
	}
	return nil
}

// runOp runs one node, turning a panic inside an op into an error so a bug
// or an unforeseen input never takes down the caller's process.
func runOp(ctx *Context, n *Node, args []*Tensor) (outs []*Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			shapes := make([]string, len(args))
			for i, a := range args {
				if a != nil {
					shapes[i] = a.String()
				}
			}
			err = fmt.Errorf("internal error in %s with inputs %s: %v", n.OpType, strings.Join(shapes, ", "), r)
		}
	}()
	return n.Op.Run(ctx, args)
}

// RunNode runs a single built node on the given inputs, with the same
// panic protection as Run (constant folding uses it).
func RunNode(ctx *Context, n *Node, args []*Tensor) ([]*Tensor, error) {
	if ctx == nil {
		ctx = NewContext(nil)
	}
	return runOp(ctx, n, args)
}
