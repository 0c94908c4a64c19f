package nn

import (
	"fmt"
	"math"
)

// smOp is Softmax or LogSoftmax. Before opset 13 the input is coerced to
// 2-D at axis and normalized over the flattened trailing dimensions; from
// opset 13 it is normalized along the single axis.
type smOp struct {
	log      bool
	axis     int
	coerce2D bool
}

func smNew(log, coerce2D bool) func(n *Node) (Op, error) {
	return func(n *Node) (Op, error) {
		def := int64(-1)
		if coerce2D {
			def = 1
		}
		return &smOp{log: log, axis: int(n.AttrInt("axis", def)), coerce2D: coerce2D}, nil
	}
}

func (op *smOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("missing input")
	}
	x := in[0]
	if err := normCheckFloat(x, "input"); err != nil {
		return nil, err
	}
	rank := x.Rank()
	var outer, D, inner int
	if rank == 0 {
		outer, D, inner = 1, 1, 1
	} else {
		axis, err := normAxis(op.axis, rank)
		if err != nil {
			return nil, fmt.Errorf("input shape %s: %w", ShapeString(x.Shape), err)
		}
		outer = NumElements(x.Shape[:axis])
		if op.coerce2D {
			D, inner = NumElements(x.Shape[axis:]), 1
		} else {
			D, inner = x.Shape[axis], NumElements(x.Shape[axis+1:])
		}
	}
	y := New(x.DType, x.Shape...)
	if x.Len() == 0 {
		return []*Tensor{y}, nil
	}
	if x.F64 != nil {
		smRun(x.F64, y.F64, outer, D, inner, op.log)
	} else {
		smRun(x.F32, y.F32, outer, D, inner, op.log)
		y.RoundToDType()
	}
	return []*Tensor{y}, nil
}

// smRun computes (log-)softmax over D for each of outer x inner positions.
func smRun[T float32 | float64](x, y []T, outer, D, inner int, log bool) {
	if inner == 1 {
		normParallel(outer, D, func(lo, hi int) {
			for o := lo; o < hi; o++ {
				smRow(x[o*D:(o+1)*D], y[o*D:(o+1)*D], log)
			}
		})
		return
	}
	normParallel(outer, D*inner, func(lo, hi int) {
		mx := make([]float64, inner)
		sum := make([]float64, inner)
		for o := lo; o < hi; o++ {
			xb := x[o*D*inner : (o+1)*D*inner]
			yb := y[o*D*inner : (o+1)*D*inner]
			for i := range mx {
				mx[i] = math.Inf(-1)
				sum[i] = 0
			}
			for j := 0; j < D; j++ {
				for i, v := range xb[j*inner : (j+1)*inner] {
					if f := float64(v); f > mx[i] || f != f {
						mx[i] = f
					}
				}
			}
			for j := 0; j < D; j++ {
				yr := yb[j*inner : (j+1)*inner]
				for i, v := range xb[j*inner : (j+1)*inner] {
					e := math.Exp(float64(v) - mx[i])
					sum[i] += e
					if !log {
						yr[i] = T(e)
					}
				}
			}
			if log {
				for i := range sum {
					sum[i] = mx[i] + math.Log(sum[i])
				}
				for j := 0; j < D; j++ {
					yr := yb[j*inner : (j+1)*inner]
					for i, v := range xb[j*inner : (j+1)*inner] {
						yr[i] = T(float64(v) - sum[i])
					}
				}
				continue
			}
			for i := range sum {
				sum[i] = 1 / sum[i]
			}
			for j := 0; j < D; j++ {
				yr := yb[j*inner : (j+1)*inner]
				for i := range yr {
					yr[i] = T(float64(yr[i]) * sum[i])
				}
			}
		}
	})
}

// smRow computes (log-)softmax of one contiguous row.
func smRow[T float32 | float64](x, y []T, log bool) {
	m := math.Inf(-1)
	for _, v := range x {
		if f := float64(v); f > m || f != f {
			m = f
		}
	}
	var s float64
	if log {
		for _, v := range x {
			s += math.Exp(float64(v) - m)
		}
		c := m + math.Log(s)
		for i, v := range x {
			y[i] = T(float64(v) - c)
		}
		return
	}
	for i, v := range x {
		e := math.Exp(float64(v) - m)
		s += e
		y[i] = T(e)
	}
	r := 1 / s
	for i := range y {
		y[i] = T(float64(y[i]) * r)
	}
}
