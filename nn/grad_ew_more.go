package nn

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// ewMoreGrads holds the backward passes of the elementwise family not in
// grad_ew.go: unary math and activations, Pow, PRelu, the variadic ops
// (Max, Min, Sum, Mean), Where and Cast/CastLike. The piecewise-constant
// Floor, Ceil, Round and Sign get zero gradients (as in PyTorch).
//
// Max and Min route the gradient of each output element to the inputs
// that attain it; on ties it is split evenly among them (for two inputs
// this is PyTorch's rule for torch.maximum/minimum: half each).
//
// Float32 and float64 have separate generic kernels; each loops over
// contiguous runs (the whole tensor when no broadcasting is involved) and
// large tensors are split across GOMAXPROCS goroutines.
func ewMoreGrads() map[string]GradFunc {
	m := map[string]GradFunc{
		"Pow":      ewgPow,
		"PRelu":    ewgPRelu,
		"Max":      ewgMaxMin,
		"Min":      ewgMaxMin,
		"Sum":      ewgSumMean(false),
		"Mean":     ewgSumMean(true),
		"Where":    ewgWhere,
		"Cast":     ewgCast,
		"CastLike": ewgCast,
	}
	for _, t := range []string{"Sqrt", "Exp", "Log", "Erf", "Gelu", "Elu", "Selu", "Celu",
		"HardSigmoid", "HardSwish", "Softplus", "Softsign", "Mish", "Reciprocal", "Abs",
		"Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
		"ThresholdedRelu", "Shrink", "Swish", "Floor", "Ceil", "Round", "Sign"} {
		m[t] = ewgUnary
	}
	return m
}

// ewgFloat is the element type of gradient kernels.
type ewgFloat interface{ ~float32 | ~float64 }

// ewgTensor wraps a float32 or float64 buffer as a tensor.
func ewgTensor[T ewgFloat](buf []T, shape []int) *Tensor {
	t := &Tensor{Shape: append([]int{}, shape...)}
	switch b := any(buf).(type) {
	case []float32:
		t.DType, t.F32 = Float32, b
	case []float64:
		t.DType, t.F64 = Float64, b
	}
	return t
}

// ewgIdx returns 1 for true and 0 for false. The compiler turns it into a
// flag move, so kernels pick between two values by indexing a two-element
// array instead of branching on data (random signs or masks would make a
// branch mispredict half of the time).
func ewgIdx(b bool) int {
	var i int
	if b {
		i = 1
	}
	return i
}

// ewgCheckDy verifies that the output gradient is a float32/float64 tensor
// holding as many elements as shape needs.
func ewgCheckDy(dy *Tensor, shape []int) error {
	if dy == nil {
		return fmt.Errorf("missing output gradient")
	}
	if err := ewCheckFloat(dy); err != nil {
		return err
	}
	if err := ewCheckData(dy); err != nil {
		return fmt.Errorf("output gradient: %w", err)
	}
	if !SameShape(dy.Shape, shape) {
		return fmt.Errorf("output gradient has shape %s, output has %s", ShapeString(dy.Shape), ShapeString(shape))
	}
	return nil
}

// ewgSameType verifies that every tensor has dt's type and valid data.
func ewgSameType(dt DType, ts ...*Tensor) error {
	for _, t := range ts {
		if t == nil {
			continue
		}
		if t.DType != dt {
			return fmt.Errorf("element types differ: %v and %v", t.DType, dt)
		}
		if err := ewCheckData(t); err != nil {
			return err
		}
	}
	return nil
}

// ewgDrive runs a gradient kernel over the broadcast bc of len(lens)
// operands (lens[k]: operand k's element count). It allocates a zeroed
// gradient buffer for every operand with need[k] and calls run once per
// contiguous run of output positions [o, o+n): operand k's elements are at
// offs[k] + i*bc.inner(k), and run must ADD its contribution to gs[k] at the
// same positions (gs[k] is nil when not needed). Operands as large as the
// output are written once per element, so chunks share them; broadcast
// (reduced) operands get one private buffer per chunk, merged at the end.
// Work is split across goroutines only when those private buffers are small
// next to the output.
func ewgDrive[T ewgFloat](bc *ewBcast, lens []int, need []bool, cost int, run func(o int, offs []int, n int, gs [][]T)) [][]T {
	k := len(lens)
	final := make([][]T, k)
	reduced := 0
	for i := range lens {
		if need[i] {
			final[i] = make([]T, lens[i])
			if lens[i] != bc.n {
				reduced += lens[i]
			}
		}
	}
	if bc.n == 0 {
		return final
	}
	procs := runtime.GOMAXPROCS(0)
	if procs <= 1 || bc.n*cost < ewParallelMin || reduced*procs > bc.n {
		bc.runs(0, bc.n, func(o int, offs []int, n int) { run(o, offs, n, final) })
		return final
	}
	var mu sync.Mutex
	ewParallel(bc.n, cost, func(lo, hi int) {
		gs := final
		if reduced > 0 {
			gs = make([][]T, k)
			for i, f := range final {
				if f != nil && lens[i] != bc.n {
					gs[i] = make([]T, lens[i])
				} else {
					gs[i] = f
				}
			}
		}
		bc.runs(lo, hi, func(o int, offs []int, n int) { run(o, offs, n, gs) })
		if reduced > 0 {
			mu.Lock()
			for i, g := range gs {
				if g != nil && lens[i] != bc.n {
					f := final[i]
					for j, v := range g {
						f[j] += v
					}
				}
			}
			mu.Unlock()
		}
	})
	return final
}

// ewgSumTo sums scale·dy back to shape (to which dy's shape is a numpy
// broadcast). With scale 1 and equal shapes it returns dy itself.
func ewgSumTo(dy *Tensor, shape []int, scale float64) (*Tensor, error) {
	if scale == 1 && SameShape(dy.Shape, shape) {
		return dy, nil
	}
	bc, err := ewNewBcast(dy.Shape, shape)
	if err != nil || !SameShape(bc.out, dy.Shape) {
		return nil, fmt.Errorf("cannot sum gradient of shape %s to %s", ShapeString(dy.Shape), ShapeString(shape))
	}
	if dy.DType == Float32 {
		return ewgTensor(ewgSumToT(bc, dy.F32, NumElements(shape), float32(scale)), shape), nil
	}
	return ewgTensor(ewgSumToT(bc, dy.F64, NumElements(shape), scale), shape), nil
}

func ewgSumToT[T ewgFloat](bc *ewBcast, dy []T, n int, scale T) []T {
	s := bc.inner(1)
	gs := ewgDrive(bc, []int{bc.n, n}, []bool{false, true}, 1, func(o int, offs []int, n int, gs [][]T) {
		d := dy[o : o+n]
		g := gs[1][offs[1]:]
		if s == 1 {
			g = g[:n]
			for i, v := range d {
				g[i] += scale * v
			}
			return
		}
		var acc T
		for _, v := range d {
			acc += v
		}
		g[0] += scale * acc
	})
	return gs[1]
}

// ---------------------------------------------------------------------------
// Unary ops

// ewgUnary is the gradient of the unary math ops and activations built as
// *ewUnary (attributes already parsed by the forward op).
func ewgUnary(_ *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	u, ok := n.Op.(*ewUnary)
	if !ok {
		return nil, fmt.Errorf("%s: unexpected forward op %T", n.OpType, n.Op)
	}
	res := make([]*Tensor, len(in))
	if len(need) == 0 || !need[0] {
		return res, nil
	}
	if len(in) < 1 || in[0] == nil || len(out) < 1 || out[0] == nil || len(dOut) < 1 {
		return nil, fmt.Errorf("%s backward: missing input, output or output gradient", n.OpType)
	}
	x, y, dy := in[0], out[0], dOut[0]
	if dy == nil {
		return res, nil
	}
	if err := ewCheckFloat(x); err != nil {
		return nil, err
	}
	if err := ewgSameType(x.DType, y, dy); err != nil {
		return nil, err
	}
	if !SameShape(x.Shape, y.Shape) || !SameShape(x.Shape, dy.Shape) {
		return nil, fmt.Errorf("%s backward: shapes of input %s, output %s and output gradient %s differ",
			n.OpType, ShapeString(x.Shape), ShapeString(y.Shape), ShapeString(dy.Shape))
	}
	if err := ewgUnaryKernel[float64](u, nil, nil, nil, nil); err != nil {
		return nil, err
	}
	dx := New(x.DType, x.Shape...)
	cost := 16
	switch u.op {
	case ewAbs, ewRecip, ewSqrt, ewExp, ewLog, ewHardSigmoid, ewHardSwish, ewSoftsign, ewElu, ewSelu, ewCelu,
		ewTan, ewAtan, ewAtanh, ewThresholdedRelu, ewShrink, ewFloor, ewCeil, ewRound, ewSign:
		cost = 2
	}
	if x.DType == Float32 {
		ewParallel(len(dx.F32), cost, func(lo, hi int) {
			_ = ewgUnaryKernel(u, dx.F32[lo:hi], x.F32[lo:hi], y.F32[lo:hi], dy.F32[lo:hi])
		})
	} else {
		ewParallel(len(dx.F64), cost, func(lo, hi int) {
			_ = ewgUnaryKernel(u, dx.F64[lo:hi], x.F64[lo:hi], y.F64[lo:hi], dy.F64[lo:hi])
		})
	}
	res[0] = dx
	return res, nil
}

// ewgUnaryKernel computes dx = dy·f'(x) for the unary op u, using the
// forward output y where that is cheaper (the op was checked beforehand by
// a call on empty slices, which only reports unsupported ops). float32 uses the fast float32
// kernels of op_ew_fastmath.go for exp, erf, tanh and sigmoid.
func ewgUnaryKernel[T ewgFloat](u *ewUnary, dx, x, y, dy []T) error {
	n := len(dx)
	x, y, dy = x[:n], y[:n], dy[:n]
	_, f32 := any(dx).([]float32)
	switch u.op {
	case ewSqrt: // 1/(2√x)
		for i, g := range dy {
			dx[i] = g * 0.5 / y[i]
		}
	case ewExp:
		for i, g := range dy {
			dx[i] = g * y[i]
		}
	case ewLog:
		for i, g := range dy {
			dx[i] = g / x[i]
		}
	case ewRecip: // -1/x² = -y²
		for i, g := range dy {
			dx[i] = -g * y[i] * y[i]
		}
	case ewAbs: // sign(x), 0 at 0
		for i, g := range dy {
			v := x[i]
			sel := [3]T{-g, 0, g}
			dx[i] = sel[ewgIdx(v >= 0)+ewgIdx(v > 0)]
		}
	case ewErf: // 2/√π·exp(-x²)
		const c = 2 / 1.7724538509055160272981674833411451827975
		if f32 {
			for i, g := range dy {
				v := float32(x[i])
				dx[i] = g * T(c*ewExp32(-v*v))
			}
			break
		}
		for i, g := range dy {
			v := float64(x[i])
			dx[i] = g * T(c*math.Exp(-v*v))
		}
	case ewGelu: // Φ(x) + x·φ(x)
		const invSqrt2 = 1 / math.Sqrt2
		const invSqrt2Pi = 0.3989422804014326779399460599343818684759
		if f32 {
			// Φ(x) = y/x from the forward output saves the erf; the
			// float32 quotient keeps Φ's relative precision. At x = 0,
			// Φ = 1/2.
			for i, g := range dy {
				v := float32(x[i])
				cdf := float32(0.5)
				if v != 0 {
					cdf = float32(y[i]) / v
				}
				dx[i] = g * T(cdf+v*invSqrt2Pi*ewExp32(-0.5*v*v))
			}
			break
		}
		for i, g := range dy {
			v := float64(x[i])
			cdf := 0.5 * (1 + math.Erf(v*invSqrt2))
			dx[i] = g * T(cdf+v*invSqrt2Pi*math.Exp(-0.5*v*v))
		}
	case ewGeluTanh: // y = x/2·(1+tanh(c(x+k x³)))
		const c = 0.7978845608028653558798921198687637369517 // √(2/π)
		const k = 0.044715
		if f32 {
			// 1+t = 2y/x from the forward output saves the tanh (t = 0
			// at x = 0); (1-t)(1+t) keeps 1-t² accurate where t ≈ -1.
			for i, g := range dy {
				v := float32(x[i])
				p := float32(1) // 1+t
				if v != 0 {
					p = 2 * float32(y[i]) / v
				}
				dx[i] = g * T(0.5*p+0.5*v*((2-p)*p)*c*(1+3*k*v*v))
			}
			break
		}
		for i, g := range dy {
			v := float64(x[i])
			t := math.Tanh(c * (v + k*v*v*v))
			dx[i] = g * T(0.5*(1+t)+0.5*v*(1-t*t)*c*(1+3*k*v*v))
		}
	case ewElu: // x>0: 1, else α·eˣ = y+α
		a := T(u.alpha)
		for i, g := range dy {
			sel := [2]T{g * (y[i] + a), g}
			dx[i] = sel[ewgIdx(x[i] > 0)]
		}
	case ewSelu: // x>0: γ, else γα·eˣ = y+γα
		gm, ga := T(u.gamma), T(u.gamma*u.alpha)
		for i, g := range dy {
			sel := [2]T{g * (y[i] + ga), g * gm}
			dx[i] = sel[ewgIdx(x[i] > 0)]
		}
	case ewCelu: // x>0: 1, else exp(x/α) = y/α+1
		ia := T(1 / u.alpha)
		for i, g := range dy {
			sel := [2]T{g * (y[i]*ia + 1), g}
			dx[i] = sel[ewgIdx(x[i] > 0)]
		}
	case ewHardSigmoid: // α inside 0 < αx+β < 1
		a, b := T(u.alpha), T(u.beta)
		for i, g := range dy {
			v := a*x[i] + b
			sel := [2]T{0, g * a}
			dx[i] = sel[ewgIdx(v > 0)&ewgIdx(v < 1)]
		}
	case ewHardSwish: // x·clip(x/6+1/2, 0, 1): 0 below -3, 1 above 3, x/3+1/2 between
		for i, g := range dy {
			v := x[i]
			sel := [3]T{0, g * (v/3 + 0.5), g}
			dx[i] = sel[ewgIdx(v >= -3)+ewgIdx(v > 3)]
		}
	case ewSoftplus: // sigmoid(x)
		if f32 {
			for i, g := range dy {
				dx[i] = g * T(ewSigmoid32(float32(x[i])))
			}
			break
		}
		for i, g := range dy {
			dx[i] = g * T(ewSigmoid64(float64(x[i])))
		}
	case ewSoftsign: // 1/(1+|x|)²
		for i, g := range dy {
			v := x[i]
			if v < 0 {
				v = -v
			}
			d := 1 + v
			dx[i] = g / (d * d)
		}
	case ewMish:
		// y = x·tanh(softplus(x)). With e = eˣ: tanh(softplus(x)) =
		// e(e+2)/(e(e+2)+2) and sigmoid(x) = e/(1+e), so
		// y' = t + x·(1-t²)·sigmoid(x) with one exponential.
		if f32 {
			for i, g := range dy {
				v := float32(x[i])
				e := ewExp32(min(v, 20))
				p := e * (e + 2)
				t := p / (p + 2)
				dx[i] = g * T(t+v*(1-t*t)*(e/(1+e)))
			}
			break
		}
		for i, g := range dy {
			v := float64(x[i])
			e := math.Exp(min(v, 40))
			p := e * (e + 2)
			t := p / (p + 2)
			dx[i] = g * T(t+v*(1-t*t)*(e/(1+e)))
		}
	case ewSin:
		for i, g := range dy {
			dx[i] = g * T(math.Cos(float64(x[i])))
		}
	case ewCos:
		for i, g := range dy {
			dx[i] = -g * T(math.Sin(float64(x[i])))
		}
	case ewTan: // 1 + tan²
		for i, g := range dy {
			dx[i] = g * (1 + y[i]*y[i])
		}
	case ewAsin, ewAcos: // ±1/√(1-x²)
		s := 1.0
		if u.op == ewAcos {
			s = -1
		}
		for i, g := range dy {
			v := float64(x[i])
			dx[i] = g * T(s/math.Sqrt(1-v*v))
		}
	case ewAtan:
		for i, g := range dy {
			v := x[i]
			dx[i] = g / (1 + v*v)
		}
	case ewSinh:
		for i, g := range dy {
			dx[i] = g * T(math.Cosh(float64(x[i])))
		}
	case ewCosh:
		for i, g := range dy {
			dx[i] = g * T(math.Sinh(float64(x[i])))
		}
	case ewAsinh, ewAcosh: // 1/√(x²±1)
		s := 1.0
		if u.op == ewAcosh {
			s = -1
		}
		for i, g := range dy {
			v := float64(x[i])
			dx[i] = g * T(1/math.Sqrt(v*v+s))
		}
	case ewAtanh:
		for i, g := range dy {
			v := x[i]
			dx[i] = g / (1 - v*v)
		}
	case ewThresholdedRelu: // 1 above alpha
		a := T(u.alpha)
		for i, g := range dy {
			sel := [2]T{0, g}
			dx[i] = sel[ewgIdx(x[i] > a)]
		}
	case ewShrink: // 1 outside [-lambd, lambd]
		l := T(u.alpha)
		for i, g := range dy {
			v := x[i]
			sel := [2]T{0, g}
			dx[i] = sel[ewgIdx(v < -l)|ewgIdx(v > l)]
		}
	case ewSwish: // y = x·σ(αx): σ + αx·σ(1-σ)
		a := T(u.alpha)
		for i, g := range dy {
			v := x[i]
			var sg T
			if f32 {
				sg = T(ewSigmoid32(float32(a * v)))
			} else {
				sg = T(ewSigmoid64(float64(a * v)))
			}
			dx[i] = g * (sg + a*v*sg*(1-sg))
		}
	case ewFloor, ewCeil, ewRound, ewSign:
		clear(dx)
	default:
		return fmt.Errorf("%s has no gradient", u.name)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Pow

// ewgPow: y = aᵇ; da = b·aᵇ⁻¹ (0 where b = 0), db = y·ln a (0 where a = 0
// and b >= 0; NaN for negative bases, as in PyTorch). An exponent of
// another type than the base is converted for the computation and its
// gradient converted back (nil for integer exponents).
func ewgPow(_ *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if len(in) < 2 || in[0] == nil || in[1] == nil || len(out) < 1 || out[0] == nil || len(dOut) < 1 {
		return nil, fmt.Errorf("Pow backward: missing input, output or output gradient")
	}
	a, b, y, dy := in[0], in[1], out[0], dOut[0]
	if dy == nil || !(need[0] || need[1]) {
		return res, nil
	}
	if err := ewCheckFloat(a); err != nil {
		return nil, err
	}
	if err := ewgSameType(a.DType, y, dy); err != nil {
		return nil, err
	}
	if err := ewCheckData(b); err != nil {
		return nil, err
	}
	needB := need[1] && b.DType.IsFloat()
	bb := b
	if b.DType != a.DType {
		var err error
		if bb, err = ewCastTensor(b, a.DType); err != nil {
			return nil, err
		}
	}
	if prep := ewBinaryPrep(n); prep != nil {
		var err error
		if bb, err = prep(a, bb); err != nil {
			return nil, err
		}
	}
	bc, err := ewNewBcast(a.Shape, bb.Shape)
	if err != nil {
		return nil, fmt.Errorf("Pow backward: %w", err)
	}
	if !SameShape(bc.out, y.Shape) || !SameShape(bc.out, dy.Shape) {
		return nil, fmt.Errorf("Pow backward: output %s / output gradient %s do not match inputs %s and %s",
			ShapeString(y.Shape), ShapeString(dy.Shape), ShapeString(a.Shape), ShapeString(bb.Shape))
	}
	nd := []bool{need[0], needB}
	var gs []*Tensor
	if a.DType == Float32 {
		gs = ewgPowT(bc, a.Shape, bb.Shape, a.F32, bb.F32, y.F32, dy.F32, nd)
	} else {
		gs = ewgPowT(bc, a.Shape, bb.Shape, a.F64, bb.F64, y.F64, dy.F64, nd)
	}
	res[0] = gs[0]
	if db := gs[1]; db != nil {
		db = db.Reshaped(b.Shape...)
		if b.DType != db.DType {
			if db, err = ewCastTensor(db, b.DType); err != nil {
				return nil, err
			}
		}
		res[1] = db
	}
	return res, nil
}

func ewgPowT[T ewgFloat](bc *ewBcast, as, bs []int, a, b, y, dy []T, need []bool) []*Tensor {
	out := make([]*Tensor, 2)
	// Constant scalar exponent, base gradient only (x², x³, √x, ...).
	if len(b) == 1 && !need[1] && SameShape(as, bc.out) {
		e := b[0]
		dx := make([]T, len(a))
		ewParallel(len(dx), 4, func(lo, hi int) {
			d, x, g := dx[lo:hi], a[lo:hi], dy[lo:hi]
			switch e {
			case 0:
			case 1:
				copy(d, g)
			case 2:
				for i, v := range x {
					d[i] = 2 * v * g[i]
				}
			case 3:
				for i, v := range x {
					d[i] = 3 * v * v * g[i]
				}
			case 0.5:
				yy := y[lo:hi]
				for i, v := range yy {
					d[i] = 0.5 * g[i] / v
				}
			default: // e·xᵉ⁻¹ = e·y/x away from 0
				em1 := float64(e) - 1
				yy := y[lo:hi]
				for i, v := range x {
					if v != 0 {
						d[i] = e * yy[i] / v * g[i]
					} else {
						d[i] = T(float64(e)*math.Pow(0, em1)) * g[i]
					}
				}
			}
		})
		out[0] = ewgTensor(dx, as)
		return out
	}
	sa, sb := bc.inner(0), bc.inner(1)
	gs := ewgDrive(bc, []int{len(a), len(b)}, need, 8, func(o int, offs []int, n int, gs [][]T) {
		av, bv := a[offs[0]:], b[offs[1]:]
		yv, g := y[o:o+n], dy[o:o+n]
		if ga := gs[0]; ga != nil {
			ga = ga[offs[0]:]
			for i, gi := range g {
				e := bv[i*sb]
				if e == 0 {
					continue
				}
				if x := av[i*sa]; x != 0 {
					ga[i*sa] += e * yv[i] / x * gi // e·xᵉ⁻¹ = e·y/x
				} else {
					ga[i*sa] += T(float64(e)*math.Pow(0, float64(e)-1)) * gi
				}
			}
		}
		if gb := gs[1]; gb != nil {
			gb = gb[offs[1]:]
			for i, gi := range g {
				x := av[i*sa]
				if x == 0 && bv[i*sb] >= 0 {
					continue
				}
				gb[i*sb] += gi * yv[i] * T(math.Log(float64(x)))
			}
		}
	})
	if gs[0] != nil {
		out[0] = ewgTensor(gs[0], as)
	}
	if gs[1] != nil {
		out[1] = ewgTensor(gs[1], bs)
	}
	return out
}

// ---------------------------------------------------------------------------
// PRelu

// ewgPRelu: y = x for x >= 0, slope·x below; dx = dy or slope·dy, dslope
// = Σ x·dy over the negative x each slope element was broadcast to.
func ewgPRelu(_ *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if len(in) < 2 || in[0] == nil || in[1] == nil || len(dOut) < 1 {
		return nil, fmt.Errorf("PRelu backward: missing input or output gradient")
	}
	x, s, dy := in[0], in[1], dOut[0]
	if dy == nil || !(need[0] || need[1]) {
		return res, nil
	}
	if err := ewCheckFloat(x); err != nil {
		return nil, err
	}
	if err := ewgSameType(x.DType, s, dy); err != nil {
		return nil, err
	}
	ss := s
	if prep := ewBinaryPrep(n); prep != nil {
		var err error
		if ss, err = prep(x, s); err != nil {
			return nil, err
		}
	}
	bc, err := ewNewBcast(x.Shape, ss.Shape)
	if err != nil || !SameShape(bc.out, x.Shape) {
		return nil, fmt.Errorf("PRelu backward: slope shape %s does not broadcast to X shape %s", ShapeString(s.Shape), ShapeString(x.Shape))
	}
	if !SameShape(dy.Shape, x.Shape) {
		return nil, fmt.Errorf("PRelu backward: output gradient has shape %s, X has %s", ShapeString(dy.Shape), ShapeString(x.Shape))
	}
	var gs []*Tensor
	if x.DType == Float32 {
		gs = ewgPReluT(bc, x.F32, ss.F32, dy.F32, need[:2])
	} else {
		gs = ewgPReluT(bc, x.F64, ss.F64, dy.F64, need[:2])
	}
	if gs[0] != nil {
		res[0] = gs[0].Reshaped(x.Shape...)
	}
	if gs[1] != nil {
		res[1] = gs[1].Reshaped(s.Shape...)
	}
	return res, nil
}

func ewgPReluT[T ewgFloat](bc *ewBcast, x, s, dy []T, need []bool) []*Tensor {
	st := bc.inner(1)
	gs := ewgDrive(bc, []int{len(x), len(s)}, need, 2, func(o int, offs []int, n int, gs [][]T) {
		xv, g := x[o:o+n], dy[o:o+n]
		sv := s[offs[1]:]
		if gx := gs[0]; gx != nil {
			gx = gx[o : o+n]
			if st == 0 {
				k := sv[0]
				for i, v := range xv {
					sel := [2]T{g[i], k * g[i]}
					gx[i] = sel[ewgIdx(v < 0)]
				}
			} else {
				sv := sv[:n]
				for i, v := range xv {
					sel := [2]T{g[i], sv[i] * g[i]}
					gx[i] = sel[ewgIdx(v < 0)]
				}
			}
		}
		if gsl := gs[1]; gsl != nil {
			gsl = gsl[offs[1]:]
			if st == 0 {
				var acc T
				for i, v := range xv {
					sel := [2]T{0, v * g[i]}
					acc += sel[ewgIdx(v < 0)]
				}
				gsl[0] += acc
			} else {
				gsl = gsl[:n]
				for i, v := range xv {
					sel := [2]T{0, v * g[i]}
					gsl[i] += sel[ewgIdx(v < 0)]
				}
			}
		}
	})
	out := make([]*Tensor, 2)
	if gs[0] != nil {
		out[0] = ewgTensor(gs[0], []int{len(x)})
	}
	if gs[1] != nil {
		out[1] = ewgTensor(gs[1], []int{len(s)})
	}
	return out
}

// ---------------------------------------------------------------------------
// Max, Min, Sum, Mean

// ewgVariadicIn validates the inputs of a variadic op against its output
// gradient and returns their broadcast plan.
func ewgVariadicIn(op string, in []*Tensor, dy *Tensor) (*ewBcast, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%s backward: no inputs", op)
	}
	shapes := make([][]int, len(in))
	for i, t := range in {
		if t == nil {
			return nil, fmt.Errorf("%s backward: input %d is missing", op, i)
		}
		shapes[i] = t.Shape
	}
	bc, err := ewNewBcast(shapes...)
	if err != nil {
		return nil, fmt.Errorf("%s backward: %w", op, err)
	}
	if err := ewgCheckDy(dy, bc.out); err != nil {
		return nil, fmt.Errorf("%s backward: %w", op, err)
	}
	return bc, nil
}

// ewgSumMean: every input receives dy (divided by the input count for
// Mean) summed back to its shape.
func ewgSumMean(mean bool) GradFunc {
	return func(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
		res := make([]*Tensor, len(in))
		if len(dOut) < 1 || dOut[0] == nil {
			return res, nil
		}
		dy := dOut[0]
		if _, err := ewgVariadicIn(n.OpType, in, dy); err != nil {
			return nil, err
		}
		scale := 1.0
		if mean {
			scale = 1 / float64(len(in))
		}
		for i, t := range in {
			if !need[i] || !t.DType.IsFloat() {
				continue
			}
			if t.DType != dy.DType {
				return nil, fmt.Errorf("%s backward: input %d is %v, output gradient %v", n.OpType, i, t.DType, dy.DType)
			}
			g, err := ewgSumTo(dy, t.Shape, scale)
			if err != nil {
				return nil, fmt.Errorf("%s backward: %w", n.OpType, err)
			}
			res[i] = g
		}
		return res, nil
	}
}

// ewgMaxMin: each output element's gradient goes to the inputs equal to
// the output there, split evenly on ties.
func ewgMaxMin(_ *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if len(dOut) < 1 || dOut[0] == nil || len(out) < 1 || out[0] == nil {
		return res, nil
	}
	dy, y := dOut[0], out[0]
	bc, err := ewgVariadicIn(n.OpType, in, dy)
	if err != nil {
		return nil, err
	}
	if err := ewgSameType(dy.DType, y); err != nil {
		return nil, fmt.Errorf("%s backward: %w", n.OpType, err)
	}
	if !SameShape(y.Shape, dy.Shape) {
		return nil, fmt.Errorf("%s backward: output shape %s, gradient %s", n.OpType, ShapeString(y.Shape), ShapeString(dy.Shape))
	}
	if err := ewgSameType(dy.DType, in...); err != nil {
		return nil, fmt.Errorf("%s backward: %w", n.OpType, err)
	}
	nd := make([]bool, len(in))
	copy(nd, need)
	var gs []*Tensor
	if dy.DType == Float32 {
		ins := make([][]float32, len(in))
		for i, t := range in {
			ins[i] = t.F32
		}
		gs = ewgMaxMinT(bc, ins, y.F32, dy.F32, nd)
	} else {
		ins := make([][]float64, len(in))
		for i, t := range in {
			ins[i] = t.F64
		}
		gs = ewgMaxMinT(bc, ins, y.F64, dy.F64, nd)
	}
	for i, g := range gs {
		if g != nil {
			res[i] = g.Reshaped(in[i].Shape...)
		}
	}
	return res, nil
}

func ewgMaxMinT[T ewgFloat](bc *ewBcast, ins [][]T, y, dy []T, need []bool) []*Tensor {
	k := len(ins)
	lens := make([]int, k)
	st := make([]int, k)
	for i, s := range ins {
		lens[i] = len(s)
		st[i] = bc.inner(i)
	}
	var gs [][]T
	if k == 2 {
		// Two inputs: branch on the comparison, no per-element inner loop.
		sa, sb := st[0], st[1]
		gs = ewgDrive(bc, lens, need, 2, func(o int, offs []int, n int, gs [][]T) {
			av, bv := ins[0][offs[0]:], ins[1][offs[1]:]
			ga, gb := gs[0], gs[1]
			if ga != nil {
				ga = ga[offs[0]:]
			}
			if gb != nil {
				gb = gb[offs[1]:]
			}
			yv, g := y[o:o+n], dy[o:o+n]
			for i, r := range yv {
				ka, kb := ewgIdx(av[i*sa] == r), ewgIdx(bv[i*sb] == r)
				gi := g[i]
				// index own + 2·other: 1 alone, 3 tied (half), else 0
				sel := [4]T{0, gi, 0, 0.5 * gi}
				if ga != nil {
					ga[i*sa] += sel[ka+2*kb]
				}
				if gb != nil {
					gb[i*sb] += sel[kb+2*ka]
				}
			}
		})
	} else {
		gs = ewgDrive(bc, lens, need, 1+k, func(o int, offs []int, n int, gs [][]T) {
			yv, g := y[o:o+n], dy[o:o+n]
			for i, r := range yv {
				cnt := 0
				for j, s := range ins {
					if s[offs[j]+i*st[j]] == r {
						cnt++
					}
				}
				if cnt == 0 {
					continue
				}
				gi := g[i] / T(cnt)
				for j, s := range ins {
					if gj := gs[j]; gj != nil {
						if p := offs[j] + i*st[j]; s[p] == r {
							gj[p] += gi
						}
					}
				}
			}
		})
	}
	res := make([]*Tensor, k)
	for i, g := range gs {
		if g != nil {
			res[i] = ewgTensor(g, []int{len(g)})
		}
	}
	return res
}

// ---------------------------------------------------------------------------
// Where

// ewgWhere: dX = dy where the condition holds, dY = dy elsewhere, each
// summed back to its shape; the condition gets no gradient.
func ewgWhere(_ *Context, _ *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if len(in) < 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return nil, fmt.Errorf("Where backward: missing input")
	}
	if len(dOut) < 1 || dOut[0] == nil || !(need[1] || need[2]) {
		return res, nil
	}
	c, x, y, dy := in[0], in[1], in[2], dOut[0]
	if c.DType != Bool {
		return nil, fmt.Errorf("Where backward: condition must be bool, got %v", c)
	}
	if err := ewCheckData(c); err != nil {
		return nil, fmt.Errorf("Where backward: condition: %w", err)
	}
	if !x.DType.IsFloat() {
		return res, nil
	}
	bc, err := ewNewBcast(c.Shape, x.Shape, y.Shape)
	if err != nil {
		return nil, fmt.Errorf("Where backward: %w", err)
	}
	if err := ewgCheckDy(dy, bc.out); err != nil {
		return nil, fmt.Errorf("Where backward: %w", err)
	}
	if err := ewgSameType(dy.DType, x, y); err != nil {
		return nil, fmt.Errorf("Where backward: %w", err)
	}
	nd := []bool{false, need[1], need[2]}
	var gs []*Tensor
	if dy.DType == Float32 {
		gs = ewgWhereT(bc, c.Bool, x.Len(), y.Len(), dy.F32, nd)
	} else {
		gs = ewgWhereT(bc, c.Bool, x.Len(), y.Len(), dy.F64, nd)
	}
	if gs[0] != nil {
		res[1] = gs[0].Reshaped(x.Shape...)
	}
	if gs[1] != nil {
		res[2] = gs[1].Reshaped(y.Shape...)
	}
	return res, nil
}

func ewgWhereT[T ewgFloat](bc *ewBcast, c []bool, nx, ny int, dy []T, need []bool) []*Tensor {
	sc, sx, sy := bc.inner(0), bc.inner(1), bc.inner(2)
	gs := ewgDrive(bc, []int{len(c), nx, ny}, need, 1, func(o int, offs []int, n int, gs [][]T) {
		cv, g := c[offs[0]:], dy[o:o+n]
		if gx := gs[1]; gx != nil {
			gx = gx[offs[1]:]
			for i, v := range g {
				sel := [2]T{0, v}
				gx[i*sx] += sel[ewgIdx(cv[i*sc])]
			}
		}
		if gy := gs[2]; gy != nil {
			gy = gy[offs[2]:]
			for i, v := range g {
				sel := [2]T{v, 0}
				gy[i*sy] += sel[ewgIdx(cv[i*sc])]
			}
		}
	})
	out := make([]*Tensor, 2)
	if gs[1] != nil {
		out[0] = ewgTensor(gs[1], []int{nx})
	}
	if gs[2] != nil {
		out[1] = ewgTensor(gs[2], []int{ny})
	}
	return out
}

// ---------------------------------------------------------------------------
// Cast, CastLike

// ewgCast casts the output gradient back to the input's float type; an
// integer or bool input (or output) gets no gradient, nor does CastLike's
// second input.
func ewgCast(_ *Context, _ *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if len(in) < 1 || in[0] == nil || len(need) < 1 || !need[0] || len(dOut) < 1 || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if !x.DType.IsFloat() || !dy.DType.IsFloat() {
		return res, nil
	}
	if err := ewCheckData(dy); err != nil {
		return nil, fmt.Errorf("Cast backward: output gradient: %w", err)
	}
	if !SameShape(dy.Shape, x.Shape) {
		return nil, fmt.Errorf("Cast backward: output gradient has shape %s, input %s", ShapeString(dy.Shape), ShapeString(x.Shape))
	}
	if dy.DType == x.DType {
		res[0] = dy
		return res, nil
	}
	dx, err := ewCastTensor(dy, x.DType)
	if err != nil {
		return nil, fmt.Errorf("Cast backward: %w", err)
	}
	res[0] = dx
	return res, nil
}

// ---------------------------------------------------------------------------
// Fast kernels for the basic ops wired in grad_ew.go (Add, Sub, Mul, Div,
// Neg, Relu, Sigmoid, Tanh, LeakyRelu, Clip).

// ewgBinaryPlan validates (a, b, dy) of a broadcasting binary op, applies
// the legacy (opset < 7) broadcast attribute to b, and plans the broadcast.
// It returns b as the kernels see it. Without data, only the shapes and
// types of a and b are used (a training tape may pass shape-only stubs).
func ewgBinaryPlan(n *Node, a, b, dy *Tensor, data bool) (*ewBcast, *Tensor, error) {
	if a == nil || b == nil {
		return nil, nil, fmt.Errorf("missing input")
	}
	if err := ewCheckFloat(a); err != nil {
		return nil, nil, err
	}
	if data {
		if err := ewgSameType(a.DType, b, dy); err != nil {
			return nil, nil, err
		}
	} else {
		if b.DType != a.DType {
			return nil, nil, fmt.Errorf("element types differ: %v and %v", b.DType, a.DType)
		}
		if err := ewgSameType(a.DType, dy); err != nil {
			return nil, nil, err
		}
	}
	if prep := ewBinaryPrep(n); prep != nil {
		var err error
		if b, err = prep(a, b); err != nil {
			return nil, nil, err
		}
	}
	bc, err := ewNewBcast(a.Shape, b.Shape)
	if err != nil {
		return nil, nil, err
	}
	if err := ewgCheckDy(dy, bc.out); err != nil {
		return nil, nil, err
	}
	return bc, b, nil
}

// ewgAddSub: d(a ± b) = (dy, ±dy), each summed to its operand's shape.
func ewgAddSub(sign float64) GradFunc {
	return func(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
		res := make([]*Tensor, len(in))
		if len(in) < 2 || len(dOut) < 1 || dOut[0] == nil {
			return res, nil
		}
		dy := dOut[0]
		_, b, err := ewgBinaryPlan(n, in[0], in[1], dy, n.Opset < 7)
		if err != nil {
			return nil, fmt.Errorf("%s backward: %w", n.OpType, err)
		}
		if need[0] {
			if res[0], err = ewgSumTo(dy, in[0].Shape, 1); err != nil {
				return nil, err
			}
		}
		if need[1] {
			g, err := ewgSumTo(dy, b.Shape, sign)
			if err != nil {
				return nil, err
			}
			res[1] = g.Reshaped(in[1].Shape...)
		}
		return res, nil
	}
}

// ewgMulDiv: d(a·b) = (dy·b, dy·a); d(a/b) = (dy/b, -dy·a/b²), summed to
// the operand shapes.
func ewgMulDiv(div bool) GradFunc {
	return func(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
		res := make([]*Tensor, len(in))
		if len(in) < 2 || len(dOut) < 1 || dOut[0] == nil || !(need[0] || need[1]) {
			return res, nil
		}
		a, dy := in[0], dOut[0]
		bc, b, err := ewgBinaryPlan(n, a, in[1], dy, true)
		if err != nil {
			return nil, fmt.Errorf("%s backward: %w", n.OpType, err)
		}
		nd := need[:2]
		var gs []*Tensor
		if a.DType == Float32 {
			gs = ewgMulDivT(bc, div, a.F32, b.F32, dy.F32, nd)
		} else {
			gs = ewgMulDivT(bc, div, a.F64, b.F64, dy.F64, nd)
		}
		if gs[0] != nil {
			res[0] = gs[0].Reshaped(a.Shape...)
		}
		if gs[1] != nil {
			res[1] = gs[1].Reshaped(in[1].Shape...)
		}
		return res, nil
	}
}

// ewgAccMul adds g[i]·src[i·ss] to dst[i·ds] (strides 0 or 1), or
// g[i]/src[i·ss] with div; dst with stride 0 accumulates into dst[0].
func ewgAccMul[T ewgFloat](dst []T, ds int, g, src []T, ss int, div bool) {
	n := len(g)
	switch {
	case ds == 1 && ss == 1:
		dst, src = dst[:n], src[:n]
		if div {
			for i, v := range g {
				dst[i] += v / src[i]
			}
		} else {
			for i, v := range g {
				dst[i] += v * src[i]
			}
		}
	case ds == 1:
		dst = dst[:n]
		s := src[0]
		if div {
			s = 1 / s
		}
		for i, v := range g {
			dst[i] += v * s
		}
	case ss == 1:
		src = src[:n]
		var acc T
		if div {
			for i, v := range g {
				acc += v / src[i]
			}
		} else {
			for i, v := range g {
				acc += v * src[i]
			}
		}
		dst[0] += acc
	default:
		var acc T
		for _, v := range g {
			acc += v
		}
		if div {
			dst[0] += acc / src[0]
		} else {
			dst[0] += acc * src[0]
		}
	}
}

func ewgMulDivT[T ewgFloat](bc *ewBcast, div bool, a, b, dy []T, need []bool) []*Tensor {
	sa, sb := bc.inner(0), bc.inner(1)
	gs := ewgDrive(bc, []int{len(a), len(b)}, need, 2, func(o int, offs []int, n int, gs [][]T) {
		av, bv, g := a[offs[0]:], b[offs[1]:], dy[o:o+n]
		if ga := gs[0]; ga != nil {
			ewgAccMul(ga[offs[0]:], sa, g, bv, sb, div)
		}
		gb := gs[1]
		if gb == nil {
			return
		}
		gb = gb[offs[1]:]
		if !div {
			ewgAccMul(gb, sb, g, av, sa, false)
			return
		}
		if sa == 1 && sb == 1 {
			gb, av, bv = gb[:n], av[:n], bv[:n]
			for i, v := range g {
				q := bv[i]
				gb[i] -= v * av[i] / (q * q)
			}
			return
		}
		for i, v := range g {
			q := bv[i*sb]
			gb[i*sb] -= v * av[i*sa] / (q * q)
		}
	})
	out := make([]*Tensor, 2)
	if gs[0] != nil {
		out[0] = ewgTensor(gs[0], []int{len(a)})
	}
	if gs[1] != nil {
		out[1] = ewgTensor(gs[1], []int{len(b)})
	}
	return out
}

// ewgBasicOp selects a simple activation gradient.
type ewgBasicOp int

const (
	ewgNeg     ewgBasicOp = iota
	ewgRelu               // x > 0
	ewgSigmoid            // y(1-y)
	ewgTanh               // 1-y²
	ewgLeaky              // x > 0 ? 1 : p
	ewgClip               // p < x < q
)

// ewgBasic returns the gradient of a simple activation; p and q are its
// parameters, read from the node by param when given.
func ewgBasic(op ewgBasicOp, param func(n *Node, in []*Tensor) (p, q float64)) GradFunc {
	return func(ctx *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
		res := make([]*Tensor, len(in))
		if len(need) == 0 || !need[0] || len(dOut) < 1 || dOut[0] == nil {
			return res, nil
		}
		if len(in) < 1 || in[0] == nil || len(out) < 1 || out[0] == nil {
			return nil, fmt.Errorf("%s backward: missing input or output", n.OpType)
		}
		x, y, dy := in[0], out[0], dOut[0]
		if err := ewCheckFloat(x); err != nil {
			return nil, fmt.Errorf("%s backward: %w", n.OpType, err)
		}
		if err := ewgSameType(x.DType, y, dy); err != nil {
			return nil, fmt.Errorf("%s backward: %w", n.OpType, err)
		}
		if !SameShape(x.Shape, y.Shape) || !SameShape(x.Shape, dy.Shape) {
			return nil, fmt.Errorf("%s backward: shapes of input %s, output %s and output gradient %s differ",
				n.OpType, ShapeString(x.Shape), ShapeString(y.Shape), ShapeString(dy.Shape))
		}
		var p, q float64
		if param != nil {
			p, q = param(n, in)
		}
		// Relu and Clip select on the output: y > 0 exactly where x > 0
		// and p < y < q exactly where p < x < q (float32 and float64
		// compute them exactly), so a training tape need not keep x.
		src := x
		if op == ewgRelu || op == ewgClip {
			src = y
		}
		var dx *Tensor
		if tmOwnedOut(ctx, 0) {
			dx = dy // nobody else reads dy: overwrite it (the kernels are elementwise)
		} else {
			dx = tmNewDirty(ctx, x.DType, x.Shape...)
		}
		if x.DType == Float32 {
			ewParallel(len(dx.F32), 2, func(lo, hi int) {
				ewgBasicKernel(op, float32(p), float32(q), dx.F32[lo:hi], src.F32[lo:hi], y.F32[lo:hi], dy.F32[lo:hi])
			})
		} else {
			ewParallel(len(dx.F64), 2, func(lo, hi int) {
				ewgBasicKernel(op, p, q, dx.F64[lo:hi], src.F64[lo:hi], y.F64[lo:hi], dy.F64[lo:hi])
			})
		}
		res[0] = dx
		return res, nil
	}
}

func ewgBasicKernel[T ewgFloat](op ewgBasicOp, p, q T, dx, x, y, dy []T) {
	n := len(dx)
	x, y, dy = x[:n], y[:n], dy[:n]
	switch op {
	case ewgNeg:
		for i, g := range dy {
			dx[i] = -g
		}
	case ewgRelu:
		i0 := 0
		if xf, ok := any(x).([]float32); ok {
			i0 = tmSelectVec(xf, any(dy).([]float32), any(dx).([]float32), 0, 0, true)
		}
		for i := i0; i < n; i++ {
			g := dy[i]
			sel := [2]T{0, g}
			dx[i] = sel[ewgIdx(x[i] > 0)]
		}
	case ewgSigmoid:
		for i, g := range dy {
			v := y[i]
			dx[i] = g * v * (1 - v)
		}
	case ewgTanh:
		for i, g := range dy {
			v := y[i]
			dx[i] = g * (1 - v*v)
		}
	case ewgLeaky:
		for i, g := range dy {
			sel := [2]T{g * p, g}
			dx[i] = sel[ewgIdx(x[i] > 0)]
		}
	case ewgClip:
		i0 := 0
		if xf, ok := any(x).([]float32); ok {
			i0 = tmSelectVec(xf, any(dy).([]float32), any(dx).([]float32), float32(p), float32(q), false)
		}
		for i := i0; i < n; i++ {
			g := dy[i]
			v := x[i]
			sel := [2]T{0, g}
			dx[i] = sel[ewgIdx(v > p)&ewgIdx(v < q)]
		}
	}
}
