package nn

import (
	"fmt"
	"math"
)

// ewGrads holds the backward passes of the basic elementwise ops; the rest
// of the family, and the kernels of these, live in grad_ew_more.go.
func ewGrads() map[string]GradFunc {
	return map[string]GradFunc{
		"Add":       ewgAddSub(1),
		"Sub":       ewgAddSub(-1),
		"Mul":       ewgMulDiv(false),
		"Div":       ewgMulDiv(true),
		"Neg":       ewgBasic(ewgNeg, nil),
		"Relu":      ewgBasic(ewgRelu, nil),
		"Sigmoid":   ewgBasic(ewgSigmoid, nil),
		"Tanh":      ewgBasic(ewgTanh, nil),
		"LeakyRelu": ewgBasic(ewgLeaky, ewgLeakyAlpha),
		"Clip":      ewgBasic(ewgClip, ewgClipBounds), // bounds get no gradient
	}
}

func ewCheckFloat(ts ...*Tensor) error {
	for _, t := range ts {
		if t != nil && t.DType != Float32 && t.DType != Float64 {
			return fmt.Errorf("gradients need float32 or float64 tensors, got %v", t.DType)
		}
	}
	return nil
}

// ewgLeakyAlpha reads LeakyRelu's slope.
func ewgLeakyAlpha(n *Node, _ []*Tensor) (float64, float64) {
	return float64(n.AttrFloat("alpha", 0.01)), 0
}

// ewgClipBounds reads Clip's bounds (the gradient passes where
// min < x < max): attributes before opset 11, optional inputs after.
func ewgClipBounds(n *Node, in []*Tensor) (float64, float64) {
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
	return lo, hi
}
