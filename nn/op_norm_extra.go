package nn

import (
	"fmt"
	"math"
)

// normGroupOp is GroupNormalization. Opset 18 takes scale and bias per
// group, opset 21 per channel.
type normGroupOp struct {
	groups     int
	eps        float64
	perChannel bool
}

func normGroupNew(n *Node) (Op, error) {
	if err := normMaxOutputs(n, 1); err != nil {
		return nil, err
	}
	if !n.HasAttr("num_groups") {
		return nil, fmt.Errorf("attribute num_groups is required")
	}
	g := int(n.AttrInt("num_groups", 0))
	if g <= 0 {
		return nil, fmt.Errorf("num_groups %d must be positive", g)
	}
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	if eps < 0 {
		return nil, fmt.Errorf("epsilon %g is negative", eps)
	}
	return &normGroupOp{groups: g, eps: eps, perChannel: n.Opset >= 21}, nil
}

func (op *normGroupOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 3 {
		return nil, fmt.Errorf("%d inputs, want 3 (X, scale, bias)", len(in))
	}
	x := in[0]
	if err := normCheckFloat(x, "input X"); err != nil {
		return nil, err
	}
	if x.Rank() < 2 {
		return nil, fmt.Errorf("input X has shape %s, want rank >= 2 (N, C, ...)", ShapeString(x.Shape))
	}
	N, C := x.Shape[0], x.Shape[1]
	G := op.groups
	if C%G != 0 {
		return nil, fmt.Errorf("input X shape %s: %d channels are not divisible into %d groups", ShapeString(x.Shape), C, G)
	}
	plane := NumElements(x.Shape[2:])
	scale, err := normFloatVec(in[1], "input scale")
	if err != nil {
		return nil, err
	}
	bias, err := normFloatVec(in[2], "input bias")
	if err != nil {
		return nil, err
	}
	want := G
	if op.perChannel {
		want = C
	}
	if len(scale) != want || len(bias) != want {
		return nil, fmt.Errorf("input X shape %s: scale has %d and bias %d elements, want %d", ShapeString(x.Shape), len(scale), len(bias), want)
	}
	// Expand per-group parameters to per-channel.
	if !op.perChannel {
		s, b := make([]float64, C), make([]float64, C)
		for c := range s {
			s[c], b[c] = scale[c/(C/G)], bias[c/(C/G)]
		}
		scale, bias = s, b
	}
	y := New(x.DType, x.Shape...)
	if x.F64 != nil {
		normGroup(x.F64, y.F64, N, C, G, plane, scale, bias, op.eps)
	} else {
		normGroup(x.F32, y.F32, N, C, G, plane, scale, bias, op.eps)
		y.RoundToDType()
	}
	return []*Tensor{y}, nil
}

func normGroup[T float32 | float64](x, y []T, N, C, G, plane int, scale, bias []float64, eps float64) {
	cpg := C / G
	size := cpg * plane
	if size == 0 {
		return
	}
	normParallel(N*G, size, func(lo, hi int) {
		for ng := lo; ng < hi; ng++ {
			xr := x[ng*size : (ng+1)*size]
			mu := redRowF(redSum, xr, 0) / float64(size)
			is := 1 / math.Sqrt(normSqDev(xr, mu)/float64(size)+eps)
			c0 := (ng % G) * cpg
			for k := 0; k < cpg; k++ {
				a := scale[c0+k] * is
				off := k * plane
				normScaleShift(xr[off:off+plane], y[ng*size+off:ng*size+off+plane], a, bias[c0+k]-mu*a)
			}
		}
	})
}

// normRMSOp is RMSNormalization (opset 23).
type normRMSOp struct {
	axis int
	eps  float64
}

func normRMSNew(n *Node) (Op, error) {
	if err := normMaxOutputs(n, 1); err != nil {
		return nil, err
	}
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	if eps < 0 {
		return nil, fmt.Errorf("epsilon %g is negative", eps)
	}
	return &normRMSOp{axis: int(n.AttrInt("axis", -1)), eps: eps}, nil
}

func (op *normRMSOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("inputs X and scale are required")
	}
	x := in[0]
	if err := normCheckFloat(x, "input X"); err != nil {
		return nil, err
	}
	if x.Rank() == 0 {
		return nil, fmt.Errorf("input X is a scalar, want rank >= 1")
	}
	axis, err := normAxis(op.axis, x.Rank())
	if err != nil {
		return nil, fmt.Errorf("input X shape %s: %w", ShapeString(x.Shape), err)
	}
	normShape := x.Shape[axis:]
	outer, inner := NumElements(x.Shape[:axis]), NumElements(normShape)
	scale, err := normLayerParam(in[1], normShape, "scale")
	if err != nil {
		return nil, err
	}
	y := New(x.DType, x.Shape...)
	if x.F64 != nil {
		normRMS(x.F64, y.F64, outer, inner, scale, op.eps)
	} else {
		normRMS(x.F32, y.F32, outer, inner, scale, op.eps)
		y.RoundToDType()
	}
	return []*Tensor{y}, nil
}

func normRMS[T float32 | float64](x, y []T, outer, inner int, scale []float64, eps float64) {
	if inner == 0 {
		return
	}
	normParallel(outer, inner, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			xr := x[o*inner : (o+1)*inner]
			yr := y[o*inner : (o+1)*inner]
			is := 1 / math.Sqrt(redRowF(redSumSquare, xr, 0)/float64(inner)+eps)
			for i, v := range xr {
				yr[i] = T(float64(v) * is * scale[i])
			}
		}
	})
}

// normMVNOp is MeanVarianceNormalization: (X - mean) / (std + 1e-9) over
// the given axes (default 0, 2, 3).
type normMVNOp struct{ axes []int }

func normMVNNew(n *Node) (Op, error) {
	if err := normMaxOutputs(n, 1); err != nil {
		return nil, err
	}
	return &normMVNOp{axes: n.AttrInts("axes", []int{0, 2, 3})}, nil
}

func (op *normMVNOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("missing input")
	}
	x := in[0]
	if err := normCheckFloat(x, "input"); err != nil {
		return nil, err
	}
	reduced := make([]bool, x.Rank())
	for _, a := range op.axes {
		ax, err := normAxis(a, x.Rank())
		if err != nil || x.Rank() == 0 {
			return nil, fmt.Errorf("axes %v: axis %d out of range for input shape %s", op.axes, a, ShapeString(x.Shape))
		}
		reduced[ax] = true
	}
	lay := redMakeLayout(x.Shape, reduced)
	mean := redFloat(redMean, x, lay)
	vr := make([]float64, lay.outLen)
	L := lay.runLen
	y := New(x.DType, x.Shape...)
	if x.Len() == 0 {
		return []*Tensor{y}, nil
	}
	if x.F64 != nil {
		normMVN(x.F64, y.F64, lay, mean, vr, L)
	} else {
		normMVN(x.F32, y.F32, lay, mean, vr, L)
		y.RoundToDType()
	}
	return []*Tensor{y}, nil
}

func normMVN[T float32 | float64](x, y []T, lay *redLayout, mean, vr []float64, L int) {
	if lay.lastRed {
		lay.run(func(inOff, outOff int) {
			vr[outOff] += normSqDev(x[inOff:inOff+L], mean[outOff])
		})
	} else {
		lay.run(func(inOff, outOff int) {
			m, v := mean[outOff:outOff+L], vr[outOff:outOff+L]
			for i, e := range x[inOff : inOff+L] {
				d := float64(e) - m[i]
				v[i] += d * d
			}
		})
	}
	cnt := float64(lay.count)
	for i := range vr {
		vr[i] = 1 / (math.Sqrt(vr[i]/cnt) + 1e-9)
	}
	if lay.lastRed {
		lay.run(func(inOff, outOff int) {
			a := vr[outOff]
			normScaleShift(x[inOff:inOff+L], y[inOff:inOff+L], a, -mean[outOff]*a)
		})
		return
	}
	lay.run(func(inOff, outOff int) {
		m, r := mean[outOff:outOff+L], vr[outOff:outOff+L]
		yr := y[inOff : inOff+L]
		for i, e := range x[inOff : inOff+L] {
			yr[i] = T((float64(e) - m[i]) * r[i])
		}
	})
}

// normLpOp is LpNormalization: x / ||x||_p along one axis (p 1 or 2); a
// zero norm gives zeros.
type normLpOp struct{ axis, p int }

func normLpNew(n *Node) (Op, error) {
	if err := normMaxOutputs(n, 1); err != nil {
		return nil, err
	}
	p := int(n.AttrInt("p", 2))
	if p != 1 && p != 2 {
		return nil, fmt.Errorf("p %d is not supported (want 1 or 2)", p)
	}
	return &normLpOp{axis: int(n.AttrInt("axis", -1)), p: p}, nil
}

// norms returns the reduction layout along the op's axis and the L1 or L2
// norm of every slice of x (forward and backward share it).
func (op *normLpOp) norms(x *Tensor) (*redLayout, []float64, error) {
	if x.Rank() == 0 {
		return nil, nil, fmt.Errorf("input is a scalar, want rank >= 1")
	}
	axis, err := normAxis(op.axis, x.Rank())
	if err != nil {
		return nil, nil, fmt.Errorf("input shape %s: %w", ShapeString(x.Shape), err)
	}
	reduced := make([]bool, x.Rank())
	reduced[axis] = true
	lay := redMakeLayout(x.Shape, reduced)
	kind := redL2
	if op.p == 1 {
		kind = redL1
	}
	return lay, redFloat(kind, x, lay), nil
}

func (op *normLpOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("missing input")
	}
	x := in[0]
	if err := normCheckFloat(x, "input"); err != nil {
		return nil, err
	}
	lay, norm, err := op.norms(x)
	if err != nil {
		return nil, err
	}
	for i, v := range norm {
		if v != 0 {
			norm[i] = 1 / v
		}
	}
	y := New(x.DType, x.Shape...)
	if x.Len() == 0 {
		return []*Tensor{y}, nil
	}
	if x.F64 != nil {
		normLpApply(x.F64, y.F64, lay, norm)
	} else {
		normLpApply(x.F32, y.F32, lay, norm)
		y.RoundToDType()
	}
	return []*Tensor{y}, nil
}

func normLpApply[T float32 | float64](x, y []T, lay *redLayout, r []float64) {
	L := lay.runLen
	if lay.lastRed {
		lay.run(func(inOff, outOff int) {
			normScaleShift(x[inOff:inOff+L], y[inOff:inOff+L], r[outOff], 0)
		})
		return
	}
	lay.run(func(inOff, outOff int) {
		rr := r[outOff : outOff+L]
		yr := y[inOff : inOff+L]
		for i, e := range x[inOff : inOff+L] {
			yr[i] = T(float64(e) * rr[i])
		}
	})
}
