package nn

// In-place operations at inference. A unary activation (Relu, Clip,
// Sigmoid, HardSigmoid, HardSwish), or Add/Sub/Mul/Div with an operand of
// the output's shape, whose float32 input is a buffer nobody else can see
// may write its result over that buffer instead of allocating: this saves
// the allocation (and its zeroing) and a pass of memory traffic. "Nobody
// else" is decided once per plan: the input is output 0 of a node known to
// return a tensor of its own (pfFreshProducer: never a view of an input, a
// parameter or a constant), it is not a graph input, output, parameter or
// constant, and this node is its only reader. Outputs written in place
// qualify again: the buffer they reuse was exclusive and is dead.
// Only Graph.Run uses this, and only outside training and without an
// Observe hook; Forward and ForwardFrom keep every value for the tape.

// pfFreshProducer reports whether the first output of an op type is
// always a newly allocated tensor.
func pfFreshProducer(opType string) bool {
	switch opType {
	case "Conv", "ConvTranspose", "Gemm", "BatchNormalization", "Add", "Sub", "Mul", "Div",
		"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish":
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
func (g *Graph) pfInplaceNodes(live []bool, keep map[string]bool) []int8 {
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
	exclusive := func(name string, i int) bool {
		if name == "" || keep[name] || graphIn[name] || readers[name] != 1 {
			return false
		}
		p, ok := producer[name]
		return ok && p < i
	}
	var out []int8
	mark := func(i int, k int8) {
		if out == nil {
			out = make([]int8, len(g.Nodes))
		}
		out[i] = k + 1
	}
	for i, n := range g.Nodes {
		if !live[i] || n.Domain != "" || len(n.Inputs) == 0 || len(n.Outputs) != 1 {
			continue
		}
		switch {
		case pfInplaceAct(n.OpType):
			if exclusive(n.Inputs[0], i) {
				mark(i, 0)
			}
		case pfInplaceBinary(n):
			// Which operand has the output's shape is known only at run
			// time; prefer the first.
			if exclusive(n.Inputs[0], i) {
				mark(i, 0)
			} else if exclusive(n.Inputs[1], i) {
				mark(i, 1)
			}
		}
	}
	return out
}

// pfInplaceBinary reports whether n is an arithmetic node that can write
// over one of its operands: numpy-style broadcasting (opset 7 on), two
// distinct inputs.
func pfInplaceBinary(n *Node) bool {
	switch n.OpType {
	case "Add", "Sub", "Mul", "Div":
	default:
		return false
	}
	return n.Opset >= 7 && !n.HasAttr("broadcast") && len(n.Inputs) == 2 && n.Inputs[0] != n.Inputs[1]
}

// inplaceAt returns the in-place mark of node i (see plan.inplace).
func (p *plan) inplaceAt(i int) int8 {
	if p.inplace == nil {
		return 0
	}
	return p.inplace[i]
}

// pfRunNode runs node n like runOp, in place when inplace (a plan.inplace
// mark) allows it and the run is plain inference.
func pfRunNode(ctx *Context, n *Node, inplace int8, args []*Tensor) ([]*Tensor, error) {
	if inplace > 0 && !ctx.Training && ctx.Observe == nil {
		var y *Tensor
		if pfInplaceAct(n.OpType) {
			y = pfActInPlace(n, args)
		} else {
			y = pfBinaryInPlace(n, int(inplace-1), args)
		}
		if y != nil {
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

// pfBinaryInPlace computes n's arithmetic into args[k] and returns it, or
// returns nil (having changed nothing) when args[k] is not a float32 tensor
// of the broadcast output's shape.
func pfBinaryInPlace(n *Node, k int, args []*Tensor) *Tensor {
	if len(args) != 2 || args[0] == nil || args[1] == nil {
		return nil
	}
	a, b, d := args[0], args[1], args[k]
	if a.DType != Float32 || b.DType != Float32 || len(d.F32) != d.Len() || len(a.F32) != a.Len() || len(b.F32) != b.Len() {
		return nil
	}
	var op ewOp
	switch n.OpType {
	case "Add":
		op = ewAdd
	case "Sub":
		op = ewSub
	case "Mul":
		op = ewMul
	case "Div":
		op = ewDiv
	default:
		return nil
	}
	bc, err := ewNewBcast(a.Shape, b.Shape)
	if err != nil || !SameShape(bc.out, d.Shape) || bc.n == 0 {
		return nil
	}
	if err := ewArithInto(op, bc, d, a, b); err != nil {
		return nil
	}
	return d
}
