package nn

import "fmt"

// DType is the element type of a Tensor. Its values are the ONNX
// TensorProto.DataType numbers, so conversion to and from ONNX is the
// identity.
type DType int32

// Element types. Only the types graft computes with are listed; the ONNX
// layer rejects the others (strings, complex, 8-bit and 4-bit floats) with a
// clear error.
const (
	Undefined DType = 0
	Float32   DType = 1
	Uint8     DType = 2
	Int8      DType = 3
	Uint16    DType = 4
	Int16     DType = 5
	Int32     DType = 6
	Int64     DType = 7
	String    DType = 8
	Bool      DType = 9
	Float16   DType = 10
	Float64   DType = 11
	Uint32    DType = 12
	Uint64    DType = 13
	BFloat16  DType = 16
)

var dtypeNames = map[DType]string{
	Undefined: "undefined", Float32: "float32", Uint8: "uint8", Int8: "int8",
	Uint16: "uint16", Int16: "int16", Int32: "int32", Int64: "int64",
	String: "string", Bool: "bool", Float16: "float16", Float64: "float64",
	Uint32: "uint32", Uint64: "uint64", BFloat16: "bfloat16",
}

// String returns the lower-case name of the type ("float32", "int64", ...).
func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Supported reports whether graft can hold tensors of this type.
func (d DType) Supported() bool {
	switch d {
	case Float32, Float16, BFloat16, Float64, Bool,
		Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64:
		return true
	}
	return false
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	return d == Float32 || d == Float16 || d == BFloat16 || d == Float64
}

// IsInt reports whether d is an integer type (signed or unsigned).
func (d DType) IsInt() bool {
	switch d {
	case Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64:
		return true
	}
	return false
}

// IsUnsigned reports whether d is an unsigned integer type.
func (d DType) IsUnsigned() bool {
	return d == Uint8 || d == Uint16 || d == Uint32 || d == Uint64
}

// Storage says which slice of a Tensor holds elements of type d.
type Storage int

// Storage kinds.
const (
	StoreNone Storage = iota
	StoreF32          // Float32, Float16, BFloat16 (values rounded to the type's precision)
	StoreF64          // Float64
	StoreI64          // every integer type, sign- or zero-extended; Uint64 as its bit pattern
	StoreBool         // Bool
)

// Storage returns where elements of type d are kept.
func (d DType) Storage() Storage {
	switch d {
	case Float32, Float16, BFloat16:
		return StoreF32
	case Float64:
		return StoreF64
	case Bool:
		return StoreBool
	}
	if d.IsInt() {
		return StoreI64
	}
	return StoreNone
}

// ByteSize is the size of one element in the ONNX raw_data encoding.
func (d DType) ByteSize() int {
	switch d {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16, BFloat16:
		return 2
	case Int32, Uint32, Float32:
		return 4
	case Int64, Uint64, Float64:
		return 8
	}
	return 0
}

// WrapInt reduces v to the value range of the integer type d, with the
// two's-complement wrap-around that C and onnxruntime apply.
func (d DType) WrapInt(v int64) int64 {
	switch d {
	case Int8:
		return int64(int8(v))
	case Int16:
		return int64(int16(v))
	case Int32:
		return int64(int32(v))
	case Uint8:
		return int64(uint8(v))
	case Uint16:
		return int64(uint16(v))
	case Uint32:
		return int64(uint32(v))
	}
	return v
}
