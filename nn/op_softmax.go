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
		if err := normMaxOutputs(n, 1); err != nil {
			return nil, err
		}
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
		smRun(x.F64, y.F64, outer, D, inner, op.log, math.Exp)
	} else {
		smRun(x.F32, y.F32, outer, D, inner, op.log, smExp32)
		y.RoundToDType()
	}
	return []*Tensor{y}, nil
}

// smRun computes (log-)softmax over D for each of outer x inner positions,
// with exp (math.Exp, or smExp32 for float32 results).
func smRun[T float32 | float64](x, y []T, outer, D, inner int, log bool, exp func(float64) float64) {
	if inner == 1 {
		normParallel(outer, D, func(lo, hi int) {
			for o := lo; o < hi; o++ {
				smRow(x[o*D:(o+1)*D], y[o*D:(o+1)*D], log, exp)
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
				xr := xb[j*inner : (j+1)*inner]
				if x32, ok := any(xr).([]float32); ok {
					// Log softmax overwrites yr below.
					smExpCols32(x32, any(yr).([]float32), mx, sum)
					continue
				}
				for i, v := range xr {
					e := exp(float64(v) - mx[i])
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
func smRow[T float32 | float64](x, y []T, log bool, exp func(float64) float64) {
	x32, fast := any(x).([]float32)
	var m float64
	if fast {
		m = smMax32(x32)
	} else {
		m = math.Inf(-1)
		for _, v := range x {
			if f := float64(v); f > m || f != f {
				m = f
			}
		}
	}
	var s float64
	if fast {
		y32 := any(y).([]float32)
		if log {
			// y is scratch space here; it is overwritten below.
			s = smExpRow32(x32, y32, m)
		} else {
			s = smExpRow32(x32, y32, m)
			r := float32(1 / s)
			for i := smScaleVec(y32, r); i < len(y32); i++ {
				y32[i] *= r
			}
			return
		}
	}
	if log {
		if !fast {
			for _, v := range x {
				s += exp(float64(v) - m)
			}
		}
		c := m + math.Log(s)
		for i, v := range x {
			y[i] = T(float64(v) - c)
		}
		return
	}
	for i, v := range x {
		e := exp(float64(v) - m)
		s += e
		y[i] = T(e)
	}
	r := 1 / s
	for i := range y {
		y[i] = T(float64(y[i]) * r)
	}
}

// smExp32 returns e^x with float32-grade accuracy (relative error below
// 1e-7), several times faster than math.Exp. It is used where the result is
// stored as float32.
func smExp32(x float64) float64 {
	switch {
	case x != x:
		return x
	case x < -104:
		return 0
	case x > 89:
		return math.Inf(1)
	}
	return smExpCore(x)
}

// smExpCore is smExp32 for finite x in [-104, 89] (small enough to inline):
// x = (64m + j)*ln2/64 + r with |r| <= ln2/128, so e^x = 2^m * 2^(j/64) * e^r
// with 2^(j/64) from a table and e^r from its degree-3 Taylor polynomial
// (error below 4e-11 relative).
func smExpCore(x float64) float64 {
	const (
		shifter = 6755399441055744.0 // 1.5 * 2^52: adding it rounds to an integer
		inv     = 64 * 1.4426950408889634
		c1hi    = 6.93147180369123816490e-01 / 64
		c1lo    = 1.90821492927058770002e-10 / 64
	)
	k := (x*inv + shifter) - shifter
	r := x - k*c1hi - k*c1lo
	ki := int64(k)
	p := 1 + r*(1+r*(0.5+r*(1.0/6)))
	return p * math.Float64frombits(uint64(int64(smExpTab[ki&63])+(ki>>6)<<52))
}

// smExpTab holds the bit patterns of 2^(j/64), j = 0..63. It is computed
// once and never written afterwards.
var smExpTab = func() (t [64]uint64) {
	for j := range t {
		t[j] = math.Float64bits(math.Exp2(float64(j) / 64))
	}
	return t
}()

// smExpRow32 sets y[i] = e^(x[i]-m) (y may be nil) and returns the sum, for
// m = max(x) (so every exponent is <= 0, or NaN).
func smExpRow32(x, y []float32, m float64) float64 {
	var s float64
	start := 0
	if y != nil {
		y = y[:len(x)]
		if m == m && !math.IsInf(m, 0) {
			start, s = smExpSubVec(x, y, m)
		}
	}
	for i := start; i < len(x); i++ {
		v := x[i]
		d := float64(v) - m
		var e float64
		switch {
		case d >= -104:
			e = smExpCore(d)
		case d != d:
			e = d
		}
		s += e
		if y != nil {
			y[i] = float32(e)
		}
	}
	return s
}

// smExpCols32 sets y[i] = e^(x[i]-m[i]) and adds it to sum[i].
func smExpCols32(x, y []float32, m, sum []float64) {
	y, m, sum = y[:len(x)], m[:len(x)], sum[:len(x)]
	for i, v := range x {
		d := float64(v) - m[i]
		var e float64
		switch {
		case d >= -104:
			e = smExpCore(d)
		case d != d:
			e = d
		}
		sum[i] += e
		y[i] = float32(e)
	}
}

// smHardmaxOp is Hardmax: 1 at the first maximum along the axis (or of the
// flattened trailing dimensions before opset 13), 0 elsewhere.
type smHardmaxOp struct {
	axis     int
	coerce2D bool
}

func smHardmaxNew(coerce2D bool) func(n *Node) (Op, error) {
	return func(n *Node) (Op, error) {
		if err := normMaxOutputs(n, 1); err != nil {
			return nil, err
		}
		def := int64(-1)
		if coerce2D {
			def = 1
		}
		return &smHardmaxOp{axis: int(n.AttrInt("axis", def)), coerce2D: coerce2D}, nil
	}
}

func (op *smHardmaxOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("missing input")
	}
	x := in[0]
	if err := normCheckFloat(x, "input"); err != nil {
		return nil, err
	}
	if x.Rank() == 0 {
		return nil, fmt.Errorf("input is a scalar, want rank >= 1")
	}
	axis, err := normAxis(op.axis, x.Rank())
	if err != nil {
		return nil, fmt.Errorf("input shape %s: %w", ShapeString(x.Shape), err)
	}
	outer := NumElements(x.Shape[:axis])
	D, inner := x.Shape[axis], NumElements(x.Shape[axis+1:])
	if op.coerce2D {
		D, inner = NumElements(x.Shape[axis:]), 1
	}
	y := New(x.DType, x.Shape...)
	if D == 0 || x.Len() == 0 {
		return []*Tensor{y}, nil
	}
	idx := make([]int64, outer*inner)
	if x.F64 != nil {
		argRun(x.F64, idx, outer, D, inner, true, false)
	} else {
		argRun(x.F32, idx, outer, D, inner, true, false)
	}
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			p := (o*D+int(idx[o*inner+i]))*inner + i
			if y.F64 != nil {
				y.F64[p] = 1
			} else {
				y.F32[p] = 1
			}
		}
	}
	return []*Tensor{y}, nil
}

// smMax32 returns the maximum of a non-empty row, NaN if the row holds a
// NaN.
func smMax32(x []float32) float64 {
	m0, m1, m2, m3 := x[0], x[0], x[0], x[0]
	var chk float32 // NaN when x holds a NaN (or both infinities)
	vm, i, nan := smMaxVec(x)
	if nan {
		chk = float32(math.NaN())
		i = len(x)
	} else if i > 0 {
		m0, m1, m2, m3 = vm, vm, vm, vm
	}
	for ; i+4 <= len(x); i += 4 {
		a, b, c, d := x[i], x[i+1], x[i+2], x[i+3]
		chk += (a + b) + (c + d)
		if a > m0 {
			m0 = a
		}
		if b > m1 {
			m1 = b
		}
		if c > m2 {
			m2 = c
		}
		if d > m3 {
			m3 = d
		}
	}
	for ; i < len(x); i++ {
		chk += x[i]
		if x[i] > m0 {
			m0 = x[i]
		}
	}
	if chk != chk {
		// Slow but exact NaN propagation.
		m := math.Inf(-1)
		for _, v := range x {
			if f := float64(v); f > m || f != f {
				m = f
			}
		}
		return m
	}
	return float64(max(m0, m1, m2, m3))
}
