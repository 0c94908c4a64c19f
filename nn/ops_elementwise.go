package nn

import "fmt"

// elementwiseOps lists the elementwise family: broadcasting arithmetic,
// comparisons and logic, unary math, activations, Clip and Cast.
func elementwiseOps() []OpDef {
	defs := []OpDef{
		{Type: "Add", Since: 1, New: ewNewArith(ewAdd)},
		{Type: "Sub", Since: 1, New: ewNewArith(ewSub)},
		{Type: "Mul", Since: 1, New: ewNewArith(ewMul)},
		{Type: "Div", Since: 1, New: ewNewArith(ewDiv)},
		{Type: "Pow", Since: 1, New: ewNewBinary(ewPowRun)},
		{Type: "Mod", Since: 10, New: ewNewMod},
		{Type: "PRelu", Since: 1, New: ewNewBinary(ewPReluRun), WeightInputs: []int{1}},
		{Type: "Max", Since: 1, New: ewNewVariadic("Max", ewMax, false)},
		{Type: "Min", Since: 1, New: ewNewVariadic("Min", ewMin, false)},
		{Type: "Sum", Since: 1, New: ewNewVariadic("Sum", ewAdd, false)},
		{Type: "Mean", Since: 1, New: ewNewVariadic("Mean", ewAdd, true)},
		{Type: "Equal", Since: 1, New: ewNewCompare(ewEq)},
		{Type: "Less", Since: 1, New: ewNewCompare(ewLt)},
		{Type: "Greater", Since: 1, New: ewNewCompare(ewGt)},
		{Type: "LessOrEqual", Since: 12, New: ewNewCompare(ewLe)},
		{Type: "GreaterOrEqual", Since: 12, New: ewNewCompare(ewGe)},
		{Type: "And", Since: 1, New: ewNewLogic(ewAnd)},
		{Type: "Or", Since: 1, New: ewNewLogic(ewOr)},
		{Type: "Xor", Since: 1, New: ewNewLogic(ewXor)},
		{Type: "Not", Since: 1, New: ewNewUnaryFunc(ewNotRun)},
		{Type: "Where", Since: 9, New: ewNewWhere},
		{Type: "IsNaN", Since: 9, New: func(*Node) (Op, error) { return &ewIsNaNInf{}, nil }},
		{Type: "IsInf", Since: 10, New: func(n *Node) (Op, error) {
			return &ewIsNaNInf{inf: true, neg: n.AttrInt("detect_negative", 1) != 0, pos: n.AttrInt("detect_positive", 1) != 0}, nil
		}},
		{Type: "BitShift", Since: 11, New: ewNewBitShift},
		{Type: "BitwiseAnd", Since: 18, New: ewNewBitwise(ewBitAnd)},
		{Type: "BitwiseOr", Since: 18, New: ewNewBitwise(ewBitOr)},
		{Type: "BitwiseXor", Since: 18, New: ewNewBitwise(ewBitXor)},
		{Type: "BitwiseNot", Since: 18, New: ewNewUnaryFunc(ewBitNot)},
		{Type: "Clip", Since: 1, New: ewNewClip(true)},
		{Type: "Clip", Since: 11, New: ewNewClip(false)},
		{Type: "Cast", Since: 6, New: ewNewCast},
		{Type: "CastLike", Since: 15, New: ewNewCastLike},
		{Type: "Gelu", Since: 20, New: func(n *Node) (Op, error) {
			switch a := n.AttrString("approximate", "none"); a {
			case "none":
				return &ewUnary{name: "Gelu", op: ewGelu}, nil
			case "tanh":
				return &ewUnary{name: "Gelu", op: ewGeluTanh}, nil
			default:
				return nil, fmt.Errorf("Gelu: unknown approximate %q (want none or tanh)", a)
			}
		}},
	}
	simple := []struct {
		name string
		op   ewUOp
		ints bool
	}{
		{"Sqrt", ewSqrt, false}, {"Exp", ewExp, false}, {"Log", ewLog, false},
		{"Neg", ewNeg, true}, {"Abs", ewAbs, true}, {"Reciprocal", ewRecip, false},
		{"Floor", ewFloor, false}, {"Ceil", ewCeil, false}, {"Round", ewRound, false},
		{"Sign", ewSign, true}, {"Erf", ewErf, false}, {"Sin", ewSin, false},
		{"Cos", ewCos, false}, {"Tan", ewTan, false}, {"Asin", ewAsin, false},
		{"Acos", ewAcos, false}, {"Atan", ewAtan, false}, {"Sinh", ewSinh, false},
		{"Cosh", ewCosh, false}, {"Asinh", ewAsinh, false}, {"Acosh", ewAcosh, false},
		{"Atanh", ewAtanh, false}, {"Relu", ewRelu, true}, {"Sigmoid", ewSigmoid, false},
		{"HardSwish", ewHardSwish, false}, {"Tanh", ewTanh, false},
		{"Softplus", ewSoftplus, false}, {"Softsign", ewSoftsign, false}, {"Mish", ewMish, false},
	}
	for _, s := range simple {
		s := s
		defs = append(defs, OpDef{Type: s.name, Since: 1, New: func(*Node) (Op, error) {
			return &ewUnary{name: s.name, op: s.op, ints: s.ints}, nil
		}})
	}
	withAttrs := []struct {
		name        string
		op          ewUOp
		alpha, beta float64
	}{
		{"LeakyRelu", ewLeakyRelu, 0.01, 0},
		{"Elu", ewElu, 1, 0},
		{"Celu", ewCelu, 1, 0},
		{"ThresholdedRelu", ewThresholdedRelu, 1, 0},
		{"HardSigmoid", ewHardSigmoid, 0.2, 0.5},
	}
	for _, s := range withAttrs {
		s := s
		defs = append(defs, OpDef{Type: s.name, Since: 1, New: func(n *Node) (Op, error) {
			u := &ewUnary{name: s.name, op: s.op,
				alpha: float64(n.AttrFloat("alpha", float32(s.alpha))),
				beta:  float64(n.AttrFloat("beta", float32(s.beta)))}
			if s.op == ewCelu && u.alpha == 0 {
				return nil, fmt.Errorf("Celu: alpha must not be 0")
			}
			return u, nil
		}})
	}
	defs = append(defs, OpDef{Type: "Shrink", Since: 9, New: func(n *Node) (Op, error) {
		return &ewUnary{name: "Shrink", op: ewShrink, ints: true,
			alpha: float64(n.AttrFloat("lambd", 0.5)), beta: float64(n.AttrFloat("bias", 0))}, nil
	}})
	defs = append(defs, OpDef{Type: "Swish", Since: 24, New: func(n *Node) (Op, error) {
		return &ewUnary{name: "Swish", op: ewSwish, alpha: float64(n.AttrFloat("alpha", 1))}, nil
	}})
	defs = append(defs, OpDef{Type: "Selu", Since: 1, New: func(n *Node) (Op, error) {
		return &ewUnary{name: "Selu", op: ewSelu,
			alpha: float64(n.AttrFloat("alpha", 1.67326319217681884765625)),
			gamma: float64(n.AttrFloat("gamma", 1.05070102214813232421875))}, nil
	}})
	return defs
}

// ewLegacyB reshapes B for the pre-opset-7 broadcast attribute: B's
// dimensions align with A's starting at axis (default: trailing).
func ewLegacyB(a, b *Tensor, axis int) (*Tensor, error) {
	ra, rb := len(a.Shape), len(b.Shape)
	switch {
	case axis == -1<<31:
		axis = ra - rb
	case axis < 0:
		axis += ra
	}
	if axis < 0 || axis+rb > ra {
		return nil, fmt.Errorf("legacy broadcast: B shape %s does not fit A shape %s at axis %d", ShapeString(b.Shape), ShapeString(a.Shape), axis)
	}
	shape := make([]int, 0, ra-axis)
	shape = append(shape, b.Shape...)
	for len(shape) < ra-axis {
		shape = append(shape, 1)
	}
	return b.Reshaped(shape...), nil
}

// ewBinaryPrep applies the legacy (opset < 7) broadcast attribute of a node.
func ewBinaryPrep(n *Node) func(a, b *Tensor) (*Tensor, error) {
	if n == nil || n.Opset >= 7 || n.AttrInt("broadcast", 0) == 0 {
		return nil
	}
	axis := -1 << 31
	if n.HasAttr("axis") {
		axis = int(n.AttrInt("axis", 0))
	}
	return func(a, b *Tensor) (*Tensor, error) { return ewLegacyB(a, b, axis) }
}

func ewNewBinary(run func(a, b *Tensor) (*Tensor, error)) func(n *Node) (Op, error) {
	return arNewBinary(func(_ *Context, a, b *Tensor) (*Tensor, error) { return run(a, b) })
}

// arNewBinary is ewNewBinary for a run function that takes the Context.
func arNewBinary(run func(ctx *Context, a, b *Tensor) (*Tensor, error)) func(n *Node) (Op, error) {
	return func(n *Node) (Op, error) {
		prep := ewBinaryPrep(n)
		return OpFunc(func(ctx *Context, in []*Tensor) ([]*Tensor, error) {
			if err := ewCheckIn(in, 2); err != nil {
				return nil, err
			}
			a, b := in[0], in[1]
			if prep != nil {
				var err error
				if b, err = prep(a, b); err != nil {
					return nil, err
				}
			}
			out, err := run(ctx, a, b)
			if err != nil {
				return nil, err
			}
			return []*Tensor{out}, nil
		}), nil
	}
}

func ewNewArith(op ewOp) func(n *Node) (Op, error) {
	return arNewBinary(func(ctx *Context, a, b *Tensor) (*Tensor, error) { return arArithRun(ctx, op, a, b) })
}

func ewNewCompare(op ewCmpOp) func(n *Node) (Op, error) {
	return ewNewBinary(func(a, b *Tensor) (*Tensor, error) { return ewCompareRun(op, a, b) })
}

func ewNewLogic(op ewLogicOp) func(n *Node) (Op, error) {
	return ewNewBinary(func(a, b *Tensor) (*Tensor, error) { return ewLogicRun(op, a, b) })
}

func ewNewMod(n *Node) (Op, error) {
	fmod := n.AttrInt("fmod", 0) != 0
	return ewNewBinary(func(a, b *Tensor) (*Tensor, error) {
		if !fmod && a.DType.IsFloat() {
			return nil, fmt.Errorf("Mod: fmod must be 1 for floating-point type %v", a.DType)
		}
		return ewModRun(a, b, fmod)
	})(n)
}

func ewNewVariadic(name string, op ewOp, mean bool) func(n *Node) (Op, error) {
	return func(*Node) (Op, error) {
		return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
			out, err := ewVariadic(name, op, mean, in)
			if err != nil {
				return nil, err
			}
			return []*Tensor{out}, nil
		}), nil
	}
}

func ewNewUnaryFunc(run func(x *Tensor) (*Tensor, error)) func(n *Node) (Op, error) {
	return func(*Node) (Op, error) {
		return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
			if err := ewCheckIn(in, 1); err != nil {
				return nil, err
			}
			out, err := run(in[0])
			if err != nil {
				return nil, err
			}
			return []*Tensor{out}, nil
		}), nil
	}
}

func ewNewWhere(*Node) (Op, error) {
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if err := ewCheckIn(in, 3); err != nil {
			return nil, fmt.Errorf("Where: %w", err)
		}
		out, err := ewWhereRun(in[0], in[1], in[2])
		if err != nil {
			return nil, err
		}
		return []*Tensor{out}, nil
	}), nil
}
