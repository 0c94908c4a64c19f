package nn

import (
	"fmt"
	"math"
	"strings"
)

// Tensor is a dense, row-major n-dimensional array.
//
// Exactly one of the data slices is in use, chosen by DType.Storage():
// F32 for float32/float16/bfloat16 (half-precision values are kept rounded
// to their precision), F64 for float64, I64 for every integer type and Bool
// for bool. A tensor with an empty Shape is a scalar holding one element.
type Tensor struct {
	DType DType
	Shape []int
	F32   []float32
	F64   []float64
	I64   []int64
	Bool  []bool
}

// NumElements returns the product of the dimensions of shape (1 for a scalar).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// New returns a zero-filled tensor of the given type and shape.
func New(dt DType, shape ...int) *Tensor {
	t := &Tensor{DType: dt, Shape: append([]int{}, shape...)}
	n := NumElements(shape)
	switch dt.Storage() {
	case StoreF32:
		t.F32 = make([]float32, n)
	case StoreF64:
		t.F64 = make([]float64, n)
	case StoreI64:
		t.I64 = make([]int64, n)
	case StoreBool:
		t.Bool = make([]bool, n)
	default:
		panic(fmt.Sprintf("nn.New: unsupported dtype %v", dt))
	}
	return t
}

// FromFloat32 wraps data (not copied) as a float32 tensor of the given shape.
func FromFloat32(data []float32, shape ...int) *Tensor {
	if len(data) != NumElements(shape) {
		panic(fmt.Sprintf("nn.FromFloat32: %d values for shape %v", len(data), shape))
	}
	return &Tensor{DType: Float32, Shape: append([]int{}, shape...), F32: data}
}

// FromInt64 wraps data (not copied) as an int64 tensor of the given shape.
func FromInt64(data []int64, shape ...int) *Tensor {
	if len(data) != NumElements(shape) {
		panic(fmt.Sprintf("nn.FromInt64: %d values for shape %v", len(data), shape))
	}
	return &Tensor{DType: Int64, Shape: append([]int{}, shape...), I64: data}
}

// Scalar returns a float32 scalar tensor.
func Scalar(v float32) *Tensor { return &Tensor{DType: Float32, Shape: []int{}, F32: []float32{v}} }

// Len returns the number of elements.
func (t *Tensor) Len() int { return NumElements(t.Shape) }

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{DType: t.DType, Shape: append([]int{}, t.Shape...)}
	if t.F32 != nil {
		c.F32 = append([]float32{}, t.F32...)
	}
	if t.F64 != nil {
		c.F64 = append([]float64{}, t.F64...)
	}
	if t.I64 != nil {
		c.I64 = append([]int64{}, t.I64...)
	}
	if t.Bool != nil {
		c.Bool = append([]bool{}, t.Bool...)
	}
	return c
}

// Reshaped returns a tensor sharing t's data with a new shape of the same
// number of elements.
func (t *Tensor) Reshaped(shape ...int) *Tensor {
	if NumElements(shape) != t.Len() {
		panic(fmt.Sprintf("nn.Reshaped: %v to %v", t.Shape, shape))
	}
	c := *t
	c.Shape = append([]int{}, shape...)
	return &c
}

// Float64At returns element i converted to float64, whatever the storage.
// Unsigned 64-bit values are converted as unsigned.
func (t *Tensor) Float64At(i int) float64 {
	switch t.DType.Storage() {
	case StoreF32:
		return float64(t.F32[i])
	case StoreF64:
		return t.F64[i]
	case StoreI64:
		if t.DType == Uint64 {
			return float64(uint64(t.I64[i]))
		}
		return float64(t.I64[i])
	case StoreBool:
		if t.Bool[i] {
			return 1
		}
		return 0
	}
	return math.NaN()
}

// Int64At returns element i converted to int64 (floats truncate toward zero).
func (t *Tensor) Int64At(i int) int64 {
	switch t.DType.Storage() {
	case StoreI64:
		return t.I64[i]
	case StoreF32:
		return int64(t.F32[i])
	case StoreF64:
		return int64(t.F64[i])
	case StoreBool:
		if t.Bool[i] {
			return 1
		}
	}
	return 0
}

// Ints returns the elements as ints; it is meant for small shape and index
// tensors.
func (t *Tensor) Ints() []int {
	out := make([]int, t.Len())
	for i := range out {
		out[i] = int(t.Int64At(i))
	}
	return out
}

// SameShape reports whether a and b have equal shapes.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Strides returns the row-major element strides of shape.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// String describes the tensor's type and shape, e.g. "float32[1,3,224,224]".
func (t *Tensor) String() string {
	return t.DType.String() + ShapeString(t.Shape)
}

// ShapeString formats a shape as "[1,3,224,224]".
func ShapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// RoundToDType rounds every float32 element to the precision of t's dtype
// (a no-op for float32). Ops that compute float16/bfloat16 results in
// float32 call it on their output.
func (t *Tensor) RoundToDType() {
	switch t.DType {
	case Float16:
		for i, v := range t.F32 {
			t.F32[i] = Float16ToFloat32(Float32ToFloat16(v))
		}
	case BFloat16:
		for i, v := range t.F32 {
			t.F32[i] = BFloat16ToFloat32(Float32ToBFloat16(v))
		}
	}
}

// Float16ToFloat32 decodes an IEEE 754 half-precision value.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// Float32ToFloat16 encodes f as IEEE 754 half precision, rounding to nearest
// even, with overflow to infinity and NaN preserved.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++
	}
	return sign | uint16(r)
}

// BFloat16ToFloat32 decodes a bfloat16 value.
func BFloat16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBFloat16 encodes f as bfloat16 with round-to-nearest-even.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40
	}
	rounding := uint32(0x7fff) + (b>>16)&1
	return uint16((b + rounding) >> 16)
}
