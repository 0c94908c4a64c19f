package nn

import (
	"fmt"
	"math"
)

// ewClip implements Clip. Before opset 11 the bounds are the min/max
// attributes; from opset 11 they are optional scalar inputs of X's type.
type ewClip struct {
	attrs  bool
	lo, hi float64
}

func ewNewClip(attrs bool) func(n *Node) (Op, error) {
	return func(n *Node) (Op, error) {
		c := &ewClip{attrs: attrs, lo: math.Inf(-1), hi: math.Inf(1)}
		if attrs {
			if n.HasAttr("min") {
				c.lo = float64(n.AttrFloat("min", 0))
			}
			if n.HasAttr("max") {
				c.hi = float64(n.AttrFloat("max", 0))
			}
		}
		return c, nil
	}
}

// ewClipBound returns the optional bound input i, or nil when absent.
func ewClipBound(in []*Tensor, i int, x *Tensor) (*Tensor, error) {
	if i >= len(in) || in[i] == nil || in[i].Len() == 0 {
		return nil, nil
	}
	b := in[i]
	if b.DType != x.DType {
		return nil, fmt.Errorf("Clip: bound %d has type %v, input has %v", i, b.DType, x.DType)
	}
	if b.Len() != 1 {
		return nil, fmt.Errorf("Clip: bound %d must be a scalar, got shape %s", i, ShapeString(b.Shape))
	}
	return b, nil
}

// Run implements Op.
func (c *ewClip) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if err := ewCheckIn(in, 1); err != nil {
		return nil, fmt.Errorf("Clip: %w", err)
	}
	x := in[0]
	var loT, hiT *Tensor
	if !c.attrs {
		var err error
		if loT, err = ewClipBound(in, 1, x); err != nil {
			return nil, err
		}
		if hiT, err = ewClipBound(in, 2, x); err != nil {
			return nil, err
		}
	}
	out := &Tensor{DType: x.DType, Shape: append([]int{}, x.Shape...)}
	n := x.Len()
	switch x.DType.Storage() {
	case StoreF32, StoreF64:
		lo, hi := c.lo, c.hi
		if loT != nil {
			lo = loT.Float64At(0)
		}
		if hiT != nil {
			hi = hiT.Float64At(0)
		}
		if x.DType.Storage() == StoreF32 {
			out = ctx.arNew(x.DType, x.Shape...) // every element is written
			ewParallel(n, 1, func(a, b int) { pfClampF32(out.F32[a:b], x.F32[a:b], float32(lo), float32(hi)) })
		} else {
			out.F64 = make([]float64, n)
			ewParallel(n, 1, func(a, b int) { ewClipKernel(out.F64[a:b], x.F64[a:b], lo, hi) })
		}
	case StoreI64:
		out.I64 = make([]int64, n)
		if x.DType == Uint64 {
			lo, hi := uint64(0), uint64(math.MaxUint64)
			if loT != nil {
				lo = uint64(loT.I64[0])
			} else if c.attrs && !math.IsInf(c.lo, 0) {
				lo = uint64(ewFloatToInt(math.Max(c.lo, 0), true))
			}
			if hiT != nil {
				hi = uint64(hiT.I64[0])
			} else if c.attrs && !math.IsInf(c.hi, 0) {
				hi = uint64(ewFloatToInt(math.Max(c.hi, 0), true))
			}
			ewClipKernel(ewU64(out.I64), ewU64(x.I64), lo, hi)
			break
		}
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if loT != nil {
			lo = loT.I64[0]
		} else if c.attrs && !math.IsInf(c.lo, 0) {
			lo = int64(c.lo)
		}
		if hiT != nil {
			hi = hiT.I64[0]
		} else if c.attrs && !math.IsInf(c.hi, 0) {
			hi = int64(c.hi)
		}
		ewClipKernel(out.I64, x.I64, lo, hi)
	default:
		return nil, fmt.Errorf("Clip does not support element type %v", x.DType)
	}
	return []*Tensor{out}, nil
}

// ewClipKernel clamps x to [lo, hi]; when lo > hi every value becomes hi,
// and NaN passes through.
func ewClipKernel[T ewNum](d, x []T, lo, hi T) {
	x = x[:len(d)]
	for i, v := range x {
		if v < lo {
			v = lo
		}
		if v > hi {
			v = hi
		}
		d[i] = v
	}
}
