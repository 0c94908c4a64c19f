package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"unsafe"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// dataTypeName returns the ONNX spelling of a TensorProto data type
// ("FLOAT", "FLOAT8E4M3FN", ...), or its number when it is unknown.
func dataTypeName(dt int32) string {
	return onnxpb.TensorProto_DataType(dt).String()
}

// maxElements bounds the element count of any tensor so that count times
// element size (at most 8 bytes) never overflows an int.
const maxElements = math.MaxInt64 / 8

// tensorShape checks a tensor's data type and dimensions. It returns the
// graft type, the shape as ints and the element count. It does not look at
// the data.
func tensorShape(tp *onnxpb.TensorProto) (nn.DType, []int, int, error) {
	name := tp.GetName()
	dt := nn.DType(tp.GetDataType())
	if !dt.Supported() {
		return 0, nil, 0, fmt.Errorf("tensor %q: data type %s is not supported", name, dataTypeName(tp.GetDataType()))
	}
	if tp.GetSegment() != nil {
		return 0, nil, 0, fmt.Errorf("tensor %q: segmented tensors are not supported", name)
	}
	shape := make([]int, len(tp.GetDims()))
	n := int64(1)
	for i, d := range tp.GetDims() {
		if d < 0 {
			return 0, nil, 0, fmt.Errorf("tensor %q: negative dimension %d in dims %s", name, d, dimsString(tp.GetDims()))
		}
		if d != 0 && n > maxElements/d {
			return 0, nil, 0, fmt.Errorf("tensor %q: dims %s hold too many elements", name, dimsString(tp.GetDims()))
		}
		n *= d
		shape[i] = int(d)
	}
	return dt, shape, int(n), nil
}

// isExternal reports whether the tensor's data lives in an external file.
func isExternal(tp *onnxpb.TensorProto) bool {
	return tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL
}

// typedField returns the name and length of the typed data field that the
// ONNX spec assigns to dt.
func typedField(tp *onnxpb.TensorProto, dt nn.DType) (string, int) {
	switch dt {
	case nn.Float32:
		return "float_data", len(tp.GetFloatData())
	case nn.Float64:
		return "double_data", len(tp.GetDoubleData())
	case nn.Int64:
		return "int64_data", len(tp.GetInt64Data())
	case nn.Uint32, nn.Uint64:
		return "uint64_data", len(tp.GetUint64Data())
	}
	return "int32_data", len(tp.GetInt32Data())
}

// checkTensorData verifies that the tensor holds exactly n elements of dt in
// one place (raw_data or the typed field for dt), so that decoding allocates
// no more than the message itself justifies.
func checkTensorData(tp *onnxpb.TensorProto, dt nn.DType, n int) error {
	name := tp.GetName()
	if isExternal(tp) {
		return fmt.Errorf("tensor %q uses external data; load the model from its file", name)
	}
	field, typed := typedField(tp, dt)
	others := []struct {
		name string
		n    int
	}{
		{"float_data", len(tp.GetFloatData())},
		{"int32_data", len(tp.GetInt32Data())},
		{"string_data", len(tp.GetStringData())},
		{"int64_data", len(tp.GetInt64Data())},
		{"double_data", len(tp.GetDoubleData())},
		{"uint64_data", len(tp.GetUint64Data())},
	}
	for _, o := range others {
		if o.n > 0 && o.name != field {
			return fmt.Errorf("tensor %q: %s data must not be stored in %s", name, dataTypeName(tp.GetDataType()), o.name)
		}
	}
	raw := len(tp.GetRawData())
	switch {
	case raw > 0 && typed > 0:
		return fmt.Errorf("tensor %q: data stored both in raw_data and in %s", name, field)
	case raw > 0:
		if want := n * dt.ByteSize(); raw != want {
			return fmt.Errorf("tensor %q: raw_data holds %d bytes, but %s%s needs %d",
				name, raw, dt, dimsString(tp.GetDims()), want)
		}
	case typed > 0:
		if typed != n {
			return fmt.Errorf("tensor %q: %s holds %d values, but %s%s needs %d",
				name, field, typed, dt, dimsString(tp.GetDims()), n)
		}
	case n > 0:
		return fmt.Errorf("tensor %q: %s%s needs %d values but the tensor holds no data",
			name, dt, dimsString(tp.GetDims()), n)
	}
	return nil
}

func dimsString(dims []int64) string {
	s := make([]int, len(dims))
	for i, d := range dims {
		s[i] = int(d)
	}
	return nn.ShapeString(s)
}

// CheckTensor validates a TensorProto without converting it: supported data
// type, sane dims, and a data size matching the dims.
func CheckTensor(tp *onnxpb.TensorProto) error {
	dt, _, n, err := tensorShape(tp)
	if err != nil {
		return err
	}
	return checkTensorData(tp, dt, n)
}

// TensorFromProto converts a TensorProto to a graft tensor. It reads
// raw_data (little-endian) or the typed field the ONNX spec assigns to the
// data type: float_data, double_data, int64_data, uint64_data (uint32,
// uint64), int32_data (int8, int16, int32, uint8, uint16, bool, and the bit
// patterns of float16 and bfloat16). Float16 and bfloat16 values are
// widened to float32. Tensors with external data must be loaded with Load.
func TensorFromProto(tp *onnxpb.TensorProto) (*nn.Tensor, error) {
	if tp == nil {
		return nil, errors.New("nil TensorProto")
	}
	dt, shape, n, err := tensorShape(tp)
	if err != nil {
		return nil, err
	}
	if err := checkTensorData(tp, dt, n); err != nil {
		return nil, err
	}
	t := &nn.Tensor{DType: dt, Shape: shape}
	raw := tp.GetRawData()
	le := binary.LittleEndian
	switch dt.Storage() {
	case nn.StoreF32:
		out := make([]float32, n)
		switch {
		case len(raw) > 0 && dt == nn.Float32 && littleEndian():
			copy(bytesOf(out), raw)
		case len(raw) > 0 && dt == nn.Float32:
			for i := range out {
				out[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
			}
		case len(raw) > 0 && dt == nn.Float16:
			for i := range out {
				out[i] = nn.Float16ToFloat32(le.Uint16(raw[2*i:]))
			}
		case len(raw) > 0:
			for i := range out {
				out[i] = nn.BFloat16ToFloat32(le.Uint16(raw[2*i:]))
			}
		case dt == nn.Float32:
			copy(out, tp.GetFloatData())
		case dt == nn.Float16:
			for i, v := range tp.GetInt32Data()[:n] {
				out[i] = nn.Float16ToFloat32(uint16(v))
			}
		default:
			for i, v := range tp.GetInt32Data()[:n] {
				out[i] = nn.BFloat16ToFloat32(uint16(v))
			}
		}
		t.F32 = out
	case nn.StoreF64:
		out := make([]float64, n)
		switch {
		case len(raw) > 0 && littleEndian():
			copy(bytesOf(out), raw)
		case len(raw) > 0:
			for i := range out {
				out[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
			}
		default:
			copy(out, tp.GetDoubleData())
		}
		t.F64 = out
	case nn.StoreBool:
		out := make([]bool, n)
		if len(raw) > 0 {
			for i := range out {
				out[i] = raw[i] != 0
			}
		} else {
			for i, v := range tp.GetInt32Data()[:n] {
				out[i] = v != 0
			}
		}
		t.Bool = out
	case nn.StoreI64:
		out := make([]int64, n)
		switch {
		case len(raw) > 0 && (dt == nn.Int64 || dt == nn.Uint64) && littleEndian():
			copy(bytesOf(out), raw)
		case len(raw) > 0:
			tensorRawInts(out, raw, dt)
		default:
			switch dt {
			case nn.Int64:
				copy(out, tp.GetInt64Data())
			case nn.Uint32, nn.Uint64:
				for i, v := range tp.GetUint64Data()[:n] {
					out[i] = dt.WrapInt(int64(v))
				}
			default:
				for i, v := range tp.GetInt32Data()[:n] {
					out[i] = dt.WrapInt(int64(v))
				}
			}
		}
		t.I64 = out
	}
	return t, nil
}

// tensorRawInts decodes little-endian integers of type dt from raw into out.
func tensorRawInts(out []int64, raw []byte, dt nn.DType) {
	le := binary.LittleEndian
	switch dt {
	case nn.Int8:
		for i := range out {
			out[i] = int64(int8(raw[i]))
		}
	case nn.Uint8:
		for i := range out {
			out[i] = int64(raw[i])
		}
	case nn.Int16:
		for i := range out {
			out[i] = int64(int16(le.Uint16(raw[2*i:])))
		}
	case nn.Uint16:
		for i := range out {
			out[i] = int64(le.Uint16(raw[2*i:]))
		}
	case nn.Int32:
		for i := range out {
			out[i] = int64(int32(le.Uint32(raw[4*i:])))
		}
	case nn.Uint32:
		for i := range out {
			out[i] = int64(le.Uint32(raw[4*i:]))
		}
	default: // Int64, Uint64
		for i := range out {
			out[i] = int64(le.Uint64(raw[8*i:]))
		}
	}
}

// TensorToProto converts t to a TensorProto named name, with its elements
// in raw_data (little-endian; float16 and bfloat16 re-encoded from their
// float32 values, bool as one byte per element). t's data slice must hold
// at least t.Len() elements.
func TensorToProto(name string, t *nn.Tensor) *onnxpb.TensorProto {
	n := t.Len()
	tp := &onnxpb.TensorProto{
		Name:     name,
		DataType: int32(t.DType),
		Dims:     make([]int64, len(t.Shape)),
	}
	for i, d := range t.Shape {
		tp.Dims[i] = int64(d)
	}
	size := t.DType.ByteSize()
	raw := make([]byte, n*size)
	le := binary.LittleEndian
	switch {
	case n > 0 && littleEndian() && t.DType == nn.Float32:
		copy(raw, bytesOf(t.F32[:n]))
		return finishProto(tp, raw)
	case n > 0 && littleEndian() && t.DType == nn.Float64:
		copy(raw, bytesOf(t.F64[:n]))
		return finishProto(tp, raw)
	case n > 0 && littleEndian() && (t.DType == nn.Int64 || t.DType == nn.Uint64):
		copy(raw, bytesOf(t.I64[:n]))
		return finishProto(tp, raw)
	}
	switch t.DType {
	case nn.Float32:
		for i, v := range t.F32[:n] {
			le.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	case nn.Float16:
		for i, v := range t.F32[:n] {
			le.PutUint16(raw[2*i:], nn.Float32ToFloat16(v))
		}
	case nn.BFloat16:
		for i, v := range t.F32[:n] {
			le.PutUint16(raw[2*i:], nn.Float32ToBFloat16(v))
		}
	case nn.Float64:
		for i, v := range t.F64[:n] {
			le.PutUint64(raw[8*i:], math.Float64bits(v))
		}
	case nn.Bool:
		for i, v := range t.Bool[:n] {
			if v {
				raw[i] = 1
			}
		}
	default:
		switch size {
		case 1:
			for i, v := range t.I64[:n] {
				raw[i] = byte(v)
			}
		case 2:
			for i, v := range t.I64[:n] {
				le.PutUint16(raw[2*i:], uint16(v))
			}
		case 4:
			for i, v := range t.I64[:n] {
				le.PutUint32(raw[4*i:], uint32(v))
			}
		case 8:
			for i, v := range t.I64[:n] {
				le.PutUint64(raw[8*i:], uint64(v))
			}
		}
	}
	return finishProto(tp, raw)
}

// finishProto sets raw as the tensor's data (left unset when empty).
func finishProto(tp *onnxpb.TensorProto, raw []byte) *onnxpb.TensorProto {
	if len(raw) > 0 {
		tp.RawData = raw
	}
	return tp
}

// littleEndian reports whether the host stores numbers little-endian, as
// ONNX raw_data does, so that bulk copies can replace per-element decoding.
func littleEndian() bool {
	return binary.NativeEndian.Uint16([]byte{1, 0}) == 1
}

// bytesOf views the memory of a numeric slice as bytes.
func bytesOf[T float32 | float64 | int64](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

// DecodeTensor parses a serialized TensorProto (such as the input_N.pb and
// output_N.pb files of ONNX's test data) and validates it like Decode does
// for model tensors.
func DecodeTensor(b []byte) (*onnxpb.TensorProto, error) {
	tp := &onnxpb.TensorProto{}
	if err := proto.Unmarshal(b, tp); err != nil {
		return nil, fmt.Errorf("not a TensorProto: %v", err)
	}
	if err := CheckTensor(tp); err != nil {
		return nil, err
	}
	return tp, nil
}

// ReadTensorFile reads a file holding one serialized TensorProto and
// converts it to a graft tensor.
func ReadTensorFile(path string) (*nn.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tp, err := DecodeTensor(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t, err := TensorFromProto(tp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}
