package nn

// In-place activations at inference. A unary activation (Relu, Clip,
// Sigmoid, HardSigmoid, HardSwish) whose float32 input is a buffer nobody
// else can see may overwrite that buffer instead of allocating its output:
// this saves the allocation (and its zeroing) and one pass of memory
// traffic per activation. "Nobody else" is decided once per plan: the input
// is output 0 of a node known to return a freshly allocated tensor (Conv,
// ConvTranspose, Gemm, BatchNormalization, Add, Sub, Mul, Div: never a
// view of an input, a parameter or a constant), it is not a graph input,
// output, parameter or constant, and the activation is its only reader.
// Only Graph.Run uses this, and only outside training and without an
// Observe hook; Forward and ForwardFrom keep every value for the tape.

// pfFreshProducer reports whether the first output of an op type is
// always a newly allocated tensor.
func pfFreshProducer(opType string) bool {
	switch opType {
	case "Conv", "ConvTranspose", "Gemm", "BatchNormalization", "Add", "Sub", "Mul", "Div":
		return true
	}
	return false
}

// pfInplaceAct reports whether an op type is an activation that can run in
// place.
func pfInplaceAct(opType string) bool {
	switch opType {
	case "Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish":
		return true
	}
	return false
}

// pfInplaceNodes marks the live nodes whose activation may overwrite its
// input (see above); keep holds the values that must never be overwritten.
func (g *Graph) pfInplaceNodes(live []bool, keep map[string]bool) []bool {
	readers := map[string]int{}
	for i, n := range g.Nodes {
		if !live[i] {
			continue
		}
		for _, in := range n.Inputs {
			if in != "" {
				readers[in]++
			}
		}
	}
	graphIn := map[string]bool{}
	for _, in := range g.Inputs {
		graphIn[in.Name] = true
	}
	producer := map[string]int{}
	for i, n := range g.Nodes {
		if live[i] && !n.Folded && n.Domain == "" && len(n.Outputs) > 0 && pfFreshProducer(n.OpType) {
			producer[n.Outputs[0]] = i
		}
	}
	var out []bool
	for i, n := range g.Nodes {
		if !live[i] || n.Domain != "" || !pfInplaceAct(n.OpType) || len(n.Inputs) == 0 || len(n.Outputs) != 1 {
			continue
		}
		x := n.Inputs[0]
		if x == "" || keep[x] || graphIn[x] || readers[x] != 1 {
			continue
		}
		if p, ok := producer[x]; !ok || p >= i {
			continue
		}
		if out == nil {
			out = make([]bool, len(g.Nodes))
		}
		out[i] = true
	}
	return out
}

// pfRunNode runs node n like runOp, in place when inplace allows it and the
// run is plain inference.
func pfRunNode(ctx *Context, n *Node, inplace bool, args []*Tensor) ([]*Tensor, error) {
	if inplace && !ctx.Training && ctx.Observe == nil {
		if y := pfActInPlace(n, args); y != nil {
			return []*Tensor{y}, nil
		}
	}
	return runOp(ctx, n, args)
}

// pfActInPlace applies n's activation to args[0] in place and returns it,
// or returns nil (having changed nothing) when the case is not covered:
// the op then runs normally and reports any error itself.
func pfActInPlace(n *Node, args []*Tensor) *Tensor {
	if len(args) == 0 || args[0] == nil {
		return nil
	}
	x := args[0]
	if x.DType != Float32 || len(x.F32) != x.Len() {
		return nil
	}
	d := x.F32
	switch op := n.Op.(type) {
	case *ewUnary:
		if len(args) != 1 {
			return nil
		}
		switch op.op {
		case ewRelu, ewSigmoid, ewHardSigmoid, ewHardSwish:
		default:
			return nil
		}
		ewParallel(len(d), op.cost(), func(lo, hi int) { pfUnaryF32(op, d[lo:hi], d[lo:hi]) })
	case *ewClip:
		lo, hi := float32(op.lo), float32(op.hi)
		if !op.attrs {
			loT, err1 := ewClipBound(args, 1, x)
			hiT, err2 := ewClipBound(args, 2, x)
			if err1 != nil || err2 != nil || len(args) > 3 {
				return nil
			}
			if loT != nil {
				lo = loT.F32[0]
			}
			if hiT != nil {
				hi = hiT.F32[0]
			}
		} else if len(args) != 1 {
			return nil
		}
		ewParallel(len(d), 1, func(a, b int) { pfClampF32(d[a:b], d[a:b], lo, hi) })
	default:
		return nil
	}
	return x
}
