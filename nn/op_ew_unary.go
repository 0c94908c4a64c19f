package nn

import (
	"fmt"
	"math"
)

// ewUOp selects a unary kernel (math functions and activations).
type ewUOp int

const (
	ewSqrt ewUOp = iota
	ewExp
	ewLog
	ewNeg
	ewAbs
	ewRecip
	ewFloor
	ewCeil
	ewRound
	ewSign
	ewErf
	ewSin
	ewCos
	ewTan
	ewAsin
	ewAcos
	ewAtan
	ewSinh
	ewCosh
	ewAsinh
	ewAcosh
	ewAtanh
	ewRelu
	ewLeakyRelu
	ewElu
	ewSelu
	ewCelu
	ewSigmoid
	ewHardSigmoid
	ewHardSwish
	ewTanh
	ewSoftplus
	ewSoftsign
	ewGelu
	ewGeluTanh
	ewMish
	ewThresholdedRelu
	ewShrink
	ewSwish
	ewIdentity
)

// ewUnary is a built unary op with its attributes.
type ewUnary struct {
	name        string
	op          ewUOp
	alpha, beta float64
	gamma       float64
	ints        bool // integer inputs allowed (Neg, Abs, Sign, Relu, ...)
}

// cost returns the op's relative per-element cost, used to decide on
// parallelism.
func (u *ewUnary) cost() int {
	switch u.op {
	case ewNeg, ewAbs, ewRelu, ewLeakyRelu, ewHardSigmoid, ewHardSwish, ewSoftsign,
		ewFloor, ewCeil, ewRound, ewSign, ewRecip, ewIdentity, ewThresholdedRelu, ewSqrt, ewShrink:
		return 1
	}
	return 16
}

// Run implements Op.
func (u *ewUnary) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if err := ewCheckIn(in, 1); err != nil {
		return nil, fmt.Errorf("%s: %w", u.name, err)
	}
	out, err := u.arApply(ctx, in[0])
	if err != nil {
		return nil, err
	}
	return []*Tensor{out}, nil
}

func (u *ewUnary) apply(x *Tensor) (*Tensor, error) { return u.arApply(nil, x) }

// arApply is apply with float32 output storage from ctx's run buffers.
func (u *ewUnary) arApply(ctx *Context, x *Tensor) (*Tensor, error) {
	out := &Tensor{DType: x.DType, Shape: append([]int{}, x.Shape...)}
	n := x.Len()
	cost := u.cost()
	switch x.DType.Storage() {
	case StoreF32:
		out = ctx.arNew(x.DType, x.Shape...) // every element is written below
		half := x.DType != Float32
		ewParallel(n, cost, func(lo, hi int) {
			if !pfUnaryF32(u, out.F32[lo:hi], x.F32[lo:hi]) {
				ewUnaryFloat(u, out.F32[lo:hi], x.F32[lo:hi])
			}
			if half {
				ewRoundRange(x.DType, out.F32[lo:hi])
			}
		})
	case StoreF64:
		out.F64 = make([]float64, n)
		ewParallel(n, cost, func(lo, hi int) { ewUnaryFloat(u, out.F64[lo:hi], x.F64[lo:hi]) })
	case StoreI64:
		if !u.ints {
			return nil, fmt.Errorf("%s does not support element type %v", u.name, x.DType)
		}
		out.I64 = make([]int64, n)
		if err := ewUnaryInt(u, x.DType, out.I64, x.I64); err != nil {
			return nil, err
		}
		ewWrapInts(x.DType, out.I64)
	default:
		return nil, fmt.Errorf("%s does not support element type %v", u.name, x.DType)
	}
	return out, nil
}

func ewUnaryInt(u *ewUnary, dt DType, d, x []int64) error {
	uns := dt.IsUnsigned()
	switch u.op {
	case ewNeg:
		for i, v := range x {
			d[i] = -v
		}
	case ewAbs:
		for i, v := range x {
			if v < 0 && !uns {
				v = -v
			}
			d[i] = v
		}
	case ewSign:
		for i, v := range x {
			switch {
			case v == 0:
				d[i] = 0
			case v < 0 && !uns:
				d[i] = -1
			default:
				d[i] = 1
			}
		}
	case ewRelu:
		for i, v := range x {
			if v < 0 && !uns {
				v = 0
			}
			d[i] = v
		}
	case ewIdentity:
		copy(d, x)
	case ewShrink:
		for i, v := range x {
			f := float64(v)
			if uns {
				f = float64(uint64(v))
			}
			switch {
			case f < -u.alpha:
				d[i] = ewFloatToIntType(f+u.beta, Int64)
			case f > u.alpha:
				d[i] = ewFloatToIntType(f-u.beta, Int64)
			default:
				d[i] = 0
			}
		}
	default:
		return fmt.Errorf("%s does not support element type %v", u.name, dt)
	}
	return nil
}

// ewSigmoid64 is the logistic function, stable for large |x|.
func ewSigmoid64(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// ewSoftplus64 is log(1+exp(x)), stable for large |x|.
func ewSoftplus64(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// ewUnaryFloat applies u to x. On float32 storage (float32, float16,
// bfloat16) Exp, Sigmoid, Tanh, Erf and Gelu use the float32 kernels of
// op_ew_fastmath.go; other transcendental functions, and every float64
// input, go through package math in float64. The switch is outside the loops.
func ewUnaryFloat[T float32 | float64](u *ewUnary, d, x []T) {
	x = x[:len(d)]
	_, f32 := any(d).([]float32)
	switch u.op {
	case ewSqrt:
		for i, v := range x {
			d[i] = T(math.Sqrt(float64(v)))
		}
	case ewExp:
		if f32 {
			for i, v := range x {
				d[i] = T(ewExp32(float32(v)))
			}
			break
		}
		for i, v := range x {
			d[i] = T(math.Exp(float64(v)))
		}
	case ewLog:
		for i, v := range x {
			d[i] = T(math.Log(float64(v)))
		}
	case ewNeg:
		for i, v := range x {
			d[i] = -v
		}
	case ewAbs:
		for i, v := range x {
			d[i] = T(math.Abs(float64(v)))
		}
	case ewRecip:
		for i, v := range x {
			d[i] = 1 / v
		}
	case ewFloor:
		for i, v := range x {
			d[i] = T(math.Floor(float64(v)))
		}
	case ewCeil:
		for i, v := range x {
			d[i] = T(math.Ceil(float64(v)))
		}
	case ewRound:
		for i, v := range x {
			d[i] = T(math.RoundToEven(float64(v)))
		}
	case ewSign:
		for i, v := range x {
			switch {
			case v > 0:
				d[i] = 1
			case v < 0:
				d[i] = -1
			default:
				d[i] = v // 0 or NaN
			}
		}
	case ewErf:
		if f32 {
			for i, v := range x {
				d[i] = T(ewErf32(float32(v)))
			}
			break
		}
		for i, v := range x {
			d[i] = T(math.Erf(float64(v)))
		}
	case ewSin:
		for i, v := range x {
			d[i] = T(math.Sin(float64(v)))
		}
	case ewCos:
		for i, v := range x {
			d[i] = T(math.Cos(float64(v)))
		}
	case ewTan:
		for i, v := range x {
			d[i] = T(math.Tan(float64(v)))
		}
	case ewAsin:
		for i, v := range x {
			d[i] = T(math.Asin(float64(v)))
		}
	case ewAcos:
		for i, v := range x {
			d[i] = T(math.Acos(float64(v)))
		}
	case ewAtan:
		for i, v := range x {
			d[i] = T(math.Atan(float64(v)))
		}
	case ewSinh:
		for i, v := range x {
			d[i] = T(math.Sinh(float64(v)))
		}
	case ewCosh:
		for i, v := range x {
			d[i] = T(math.Cosh(float64(v)))
		}
	case ewAsinh:
		for i, v := range x {
			d[i] = T(math.Asinh(float64(v)))
		}
	case ewAcosh:
		for i, v := range x {
			d[i] = T(math.Acosh(float64(v)))
		}
	case ewAtanh:
		for i, v := range x {
			d[i] = T(math.Atanh(float64(v)))
		}
	case ewRelu:
		for i, v := range x {
			if v < 0 {
				v = 0
			}
			d[i] = v
		}
	case ewLeakyRelu:
		a := T(u.alpha)
		for i, v := range x {
			if v < 0 {
				v *= a
			}
			d[i] = v
		}
	case ewElu:
		a := u.alpha
		for i, v := range x {
			if v < 0 {
				v = T(a * math.Expm1(float64(v)))
			}
			d[i] = v
		}
	case ewSelu:
		a, g := u.alpha, u.gamma
		for i, v := range x {
			f := float64(v)
			if f > 0 {
				d[i] = T(g * f)
			} else {
				d[i] = T(g * a * math.Expm1(f))
			}
		}
	case ewCelu:
		a := u.alpha
		for i, v := range x {
			f := float64(v)
			if f < 0 {
				f = a * math.Expm1(f/a)
			}
			d[i] = T(f)
		}
	case ewSigmoid:
		if f32 {
			for i, v := range x {
				d[i] = T(ewSigmoid32(float32(v)))
			}
			break
		}
		for i, v := range x {
			d[i] = T(ewSigmoid64(float64(v)))
		}
	case ewHardSigmoid:
		a, b := T(u.alpha), T(u.beta)
		for i, v := range x {
			v = a*v + b
			if v < 0 {
				v = 0
			} else if v > 1 {
				v = 1
			}
			d[i] = v
		}
	case ewHardSwish:
		for i, v := range x {
			h := v/6 + 0.5
			if h < 0 {
				h = 0
			} else if h > 1 {
				h = 1
			}
			d[i] = v * h
		}
	case ewTanh:
		if f32 {
			for i, v := range x {
				d[i] = T(ewTanh32(float32(v)))
			}
			break
		}
		for i, v := range x {
			d[i] = T(math.Tanh(float64(v)))
		}
	case ewSoftplus:
		for i, v := range x {
			d[i] = T(ewSoftplus64(float64(v)))
		}
	case ewSoftsign:
		for i, v := range x {
			a := v
			if a < 0 {
				a = -a
			}
			d[i] = v / (1 + a)
		}
	case ewGelu:
		if f32 {
			for i, v := range x {
				d[i] = T(ewGelu32(float32(v)))
			}
			break
		}
		for i, v := range x {
			f := float64(v)
			d[i] = T(0.5 * f * (1 + math.Erf(f/math.Sqrt2)))
		}
	case ewGeluTanh:
		c := math.Sqrt(2 / math.Pi)
		if f32 {
			c32 := float32(c)
			for i, v := range x {
				f := float32(v)
				d[i] = T(0.5 * f * (1 + ewTanh32(c32*(f+0.044715*f*f*f))))
			}
			break
		}
		for i, v := range x {
			f := float64(v)
			d[i] = T(0.5 * f * (1 + math.Tanh(c*(f+0.044715*f*f*f))))
		}
	case ewMish:
		for i, v := range x {
			f := float64(v)
			d[i] = T(f * math.Tanh(ewSoftplus64(f)))
		}
	case ewThresholdedRelu:
		a := T(u.alpha)
		for i, v := range x {
			if !(v > a) {
				v = 0
			}
			d[i] = v
		}
	case ewShrink:
		l, b := T(u.alpha), T(u.beta)
		for i, v := range x {
			switch {
			case v < -l:
				v += b
			case v > l:
				v -= b
			default:
				v = 0
			}
			d[i] = v
		}
	case ewSwish:
		a := T(u.alpha)
		if f32 {
			for i, v := range x {
				d[i] = v * T(ewSigmoid32(float32(a*v)))
			}
			break
		}
		for i, v := range x {
			d[i] = v * T(ewSigmoid64(float64(a*v)))
		}
	case ewIdentity:
		copy(d, x)
	}
}

// ewIsNaNInf implements IsNaN (inf == false) and IsInf.
type ewIsNaNInf struct {
	inf      bool
	neg, pos bool
}

// Run implements Op.
func (o *ewIsNaNInf) Run(_ *Context, in []*Tensor) ([]*Tensor, error) {
	if err := ewCheckIn(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	out := New(Bool, x.Shape...)
	test := func(v float64) bool {
		if !o.inf {
			return v != v
		}
		return (o.pos && math.IsInf(v, 1)) || (o.neg && math.IsInf(v, -1))
	}
	switch x.DType.Storage() {
	case StoreF32:
		for i, v := range x.F32 {
			out.Bool[i] = test(float64(v))
		}
	case StoreF64:
		for i, v := range x.F64 {
			out.Bool[i] = test(v)
		}
	default:
		return nil, fmt.Errorf("IsNaN/IsInf need a floating-point input, got %v", x)
	}
	return []*Tensor{out}, nil
}
