package nn

import (
	"fmt"
	"math"
)

// ewCast implements Cast (to fixed at import) and CastLike (like != false:
// the target type is that of the second input).
type ewCast struct {
	to   DType
	like bool
}

func ewNewCast(n *Node) (Op, error) {
	if !n.HasAttr("to") {
		return nil, fmt.Errorf("Cast: missing attribute 'to'")
	}
	to := DType(n.AttrInt("to", 0))
	if !to.Supported() {
		return nil, fmt.Errorf("Cast: target type %v is not supported", to)
	}
	return &ewCast{to: to}, nil
}

func ewNewCastLike(*Node) (Op, error) { return &ewCast{like: true}, nil }

// Run implements Op.
func (c *ewCast) Run(_ *Context, in []*Tensor) ([]*Tensor, error) {
	want := 1
	if c.like {
		want = 2
	}
	if err := ewCheckIn(in, want); err != nil {
		return nil, fmt.Errorf("Cast: %w", err)
	}
	to := c.to
	if c.like {
		to = in[1].DType
	}
	out, err := ewCastTensor(in[0], to)
	if err != nil {
		return nil, err
	}
	return []*Tensor{out}, nil
}

// ewF64ToF32Odd converts v to float32 rounding to odd, so that a following
// rounding to float16/bfloat16 gives the correctly rounded result of v.
func ewF64ToF32Odd(v float64) float32 {
	f := float32(v)
	if math.IsInf(float64(f), 0) || v != v || float64(f) == v {
		return f
	}
	b := math.Float32bits(f)
	if math.Abs(float64(f)) > math.Abs(v) {
		b-- // truncate toward zero
	}
	return math.Float32frombits(b | 1)
}

// ewCastTensor converts x to element type to. Floats convert to integers
// by truncation toward zero and integers wrap to the target's width, as in
// C and onnxruntime; half-precision targets round to nearest even.
func ewCastTensor(x *Tensor, to DType) (*Tensor, error) {
	if !to.Supported() {
		return nil, fmt.Errorf("Cast: target type %v is not supported", to)
	}
	if !x.DType.Supported() {
		return nil, fmt.Errorf("Cast: input type %v is not supported", x.DType)
	}
	out := New(to, x.Shape...)
	src, dst := x.DType.Storage(), to.Storage()
	uns := x.DType == Uint64
	switch dst {
	case StoreF32:
		d := out.F32
		switch src {
		case StoreF32:
			copy(d, x.F32)
		case StoreF64:
			if to == Float32 {
				for i, v := range x.F64 {
					d[i] = float32(v)
				}
			} else {
				for i, v := range x.F64 {
					d[i] = ewF64ToF32Odd(v)
				}
			}
		case StoreI64:
			for i, v := range x.I64 {
				if uns {
					d[i] = float32(uint64(v))
				} else {
					d[i] = float32(v)
				}
			}
		case StoreBool:
			for i, v := range x.Bool {
				if v {
					d[i] = 1
				}
			}
		}
		if x.DType != to {
			ewRoundRange(to, d)
		}
	case StoreF64:
		d := out.F64
		switch src {
		case StoreF32:
			for i, v := range x.F32 {
				d[i] = float64(v)
			}
		case StoreF64:
			copy(d, x.F64)
		case StoreI64:
			for i, v := range x.I64 {
				if uns {
					d[i] = float64(uint64(v))
				} else {
					d[i] = float64(v)
				}
			}
		case StoreBool:
			for i, v := range x.Bool {
				if v {
					d[i] = 1
				}
			}
		}
	case StoreI64:
		d := out.I64
		switch src {
		case StoreF32:
			for i, v := range x.F32 {
				d[i] = ewFloatToIntType(float64(v), to)
			}
		case StoreF64:
			for i, v := range x.F64 {
				d[i] = ewFloatToIntType(v, to)
			}
		case StoreI64:
			copy(d, x.I64)
		case StoreBool:
			for i, v := range x.Bool {
				if v {
					d[i] = 1
				}
			}
		}
		ewWrapInts(to, d)
	case StoreBool:
		d := out.Bool
		switch src {
		case StoreF32:
			for i, v := range x.F32 {
				d[i] = v != 0
			}
		case StoreF64:
			for i, v := range x.F64 {
				d[i] = v != 0
			}
		case StoreI64:
			for i, v := range x.I64 {
				d[i] = v != 0
			}
		case StoreBool:
			copy(d, x.Bool)
		}
	}
	return out, nil
}

// ewCvtt32 truncates f toward zero to a 32-bit integer the way x86's
// cvttss2si/cvttps2dq do: NaN and values outside the int32 range give
// math.MinInt32 (the "integer indefinite" value).
func ewCvtt32(f float64) int64 {
	if !(f > -2147483649 && f < 2147483648) {
		return math.MinInt32
	}
	return int64(f)
}

// ewCvtt64 is the 64-bit analogue of ewCvtt32.
func ewCvtt64(f float64) int64 {
	if !(f >= -9223372036854775808 && f < 9223372036854775808) {
		return math.MinInt64
	}
	return int64(f)
}

// ewFloatToIntType converts a float to the integer type to with C cast
// semantics for in-range values (truncation toward zero). Out-of-range
// values and NaN, undefined in C, follow what onnxruntime computes on x86:
// narrow types go through a 32-bit conversion and keep its low bits, and
// unsigned 32/64-bit targets use the usual subtract-2**31/2**63 lowering.
func ewFloatToIntType(f float64, to DType) int64 {
	switch to {
	case Int64:
		return ewCvtt64(f)
	case Uint64:
		if f >= 9223372036854775808 {
			return ewCvtt64(f-9223372036854775808) ^ math.MinInt64
		}
		return ewCvtt64(f)
	case Uint32:
		if f >= 2147483648 {
			return int64(uint32(ewCvtt32(f-2147483648)) ^ 0x80000000)
		}
		return int64(uint32(ewCvtt32(f)))
	}
	return to.WrapInt(ewCvtt32(f))
}
