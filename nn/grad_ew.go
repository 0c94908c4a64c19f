package nn

import (
	"fmt"
	"math"
)

// ewGrads holds the backward passes of the basic elementwise ops; the rest
// of the family lives in grad_ew_more.go.
func ewGrads() map[string]GradFunc {
	return map[string]GradFunc{
		"Add":       ewGradAddSub(1),
		"Sub":       ewGradAddSub(-1),
		"Mul":       ewGradMul,
		"Div":       ewGradDiv,
		"Neg":       ewGradUnary(func(x, y float64) float64 { return -1 }),
		"Relu":      ewGradUnary(func(x, y float64) float64 { return ewStep(x > 0) }),
		"Sigmoid":   ewGradUnary(func(x, y float64) float64 { return y * (1 - y) }),
		"Tanh":      ewGradUnary(func(x, y float64) float64 { return 1 - y*y }),
		"LeakyRelu": ewGradLeakyRelu,
		"Clip":      ewGradClip,
	}
}

func ewStep(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func ewCheckFloat(ts ...*Tensor) error {
	for _, t := range ts {
		if t != nil && t.DType != Float32 && t.DType != Float64 {
			return fmt.Errorf("gradients need float32 or float64 tensors, got %v", t.DType)
		}
	}
	return nil
}

// ewGradAddSub: d(a ± b) = (dy, ±dy), each summed to its operand's shape.
func ewGradAddSub(sign float64) GradFunc {
	return func(_ *Context, _ *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
		dy := dOut[0]
		if err := ewCheckFloat(dy); err != nil {
			return nil, err
		}
		res := make([]*Tensor, len(in))
		if need[0] {
			res[0] = SumToShape(dy, in[0].Shape)
		}
		if len(in) > 1 && need[1] {
			g := SumToShape(dy, in[1].Shape)
			if sign < 0 {
				if g == dy {
					g = dy.Clone()
				}
				scaleTensor(g, -1)
			}
			res[1] = g
		}
		return res, nil
	}
}

// ewBinaryGrad computes, for y = f(a, b) with broadcasting, the full-size
// products dy·∂f/∂a and dy·∂f/∂b, then sums them to the operand shapes.
func ewBinaryGrad(in, dOut []*Tensor, need []bool, da, db func(a, b float64) float64) ([]*Tensor, error) {
	a, b, dy := in[0], in[1], dOut[0]
	if err := ewCheckFloat(a, b, dy); err != nil {
		return nil, err
	}
	ia := BroadcastIndex(a.Shape, dy.Shape)
	ib := BroadcastIndex(b.Shape, dy.Shape)
	res := make([]*Tensor, 2)
	for k, f := range []func(a, b float64) float64{da, db} {
		if !need[k] {
			continue
		}
		full := New(dy.DType, dy.Shape...)
		if dy.F32 != nil {
			for i := range full.F32 {
				full.F32[i] = float32(float64(dy.F32[i]) * f(float64(a.F32[ia[i]]), float64(b.F32[ib[i]])))
			}
		} else {
			for i := range full.F64 {
				full.F64[i] = dy.F64[i] * f(a.F64[ia[i]], b.F64[ib[i]])
			}
		}
		res[k] = SumToShape(full, in[k].Shape)
	}
	return res, nil
}

func ewGradMul(_ *Context, _ *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	return ewBinaryGrad(in, dOut, need,
		func(a, b float64) float64 { return b },
		func(a, b float64) float64 { return a })
}

func ewGradDiv(_ *Context, _ *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	return ewBinaryGrad(in, dOut, need,
		func(a, b float64) float64 { return 1 / b },
		func(a, b float64) float64 { return -a / (b * b) })
}

// ewGradUnary builds the gradient of y = f(x) from dy/dx expressed with
// both x and y.
func ewGradUnary(deriv func(x, y float64) float64) GradFunc {
	return func(_ *Context, _ *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
		x, y, dy := in[0], out[0], dOut[0]
		if err := ewCheckFloat(x, dy); err != nil {
			return nil, err
		}
		res := make([]*Tensor, len(in))
		if !need[0] {
			return res, nil
		}
		dx := New(x.DType, x.Shape...)
		if x.F32 != nil {
			for i, g := range dy.F32 {
				dx.F32[i] = g * float32(deriv(float64(x.F32[i]), float64(y.F32[i])))
			}
		} else {
			for i, g := range dy.F64 {
				dx.F64[i] = g * deriv(x.F64[i], y.F64[i])
			}
		}
		res[0] = dx
		return res, nil
	}
}

func ewGradLeakyRelu(ctx *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	alpha := float64(n.AttrFloat("alpha", 0.01))
	return ewGradUnary(func(x, _ float64) float64 {
		if x > 0 {
			return 1
		}
		return alpha
	})(ctx, n, in, out, dOut, need)
}

// ewGradClip passes the gradient where min < x < max (bounds as attributes
// before opset 11, optional inputs after; bounds get no gradient).
func ewGradClip(ctx *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	lo, hi := math.Inf(-1), math.Inf(1)
	if n.Opset < 11 {
		lo = float64(n.AttrFloat("min", float32(math.Inf(-1))))
		hi = float64(n.AttrFloat("max", float32(math.Inf(1))))
	} else {
		if len(in) > 1 && in[1] != nil {
			lo = in[1].Float64At(0)
		}
		if len(in) > 2 && in[2] != nil {
			hi = in[2].Float64At(0)
		}
	}
	res, err := ewGradUnary(func(x, _ float64) float64 { return ewStep(x > lo && x < hi) })(ctx, n, in[:1], out, dOut, need[:1])
	if err != nil {
		return nil, err
	}
	full := make([]*Tensor, len(in))
	full[0] = res[0]
	return full, nil
}
