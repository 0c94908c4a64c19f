package ortref

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/graftml/graft/nn"
)

// A minimal decoder for serialized onnx TensorProto files (the ONNX test-data
// layout), so that this package's tests do not depend on the onnx package.
// It understands dims, data_type, name, raw_data and the typed
// float/int32/int64/double data fields.

func pbVarint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errors.New("bad varint")
}

// pbField calls fn for every field of the message in b. For varint fields
// val holds the value; for length-delimited fields data holds the bytes;
// fixed32/fixed64 fields are given as data too.
func pbFields(b []byte, fn func(num int, wire int, val uint64, data []byte) error) error {
	for len(b) > 0 {
		key, n, err := pbVarint(b)
		if err != nil {
			return err
		}
		b = b[n:]
		num, wire := int(key>>3), int(key&7)
		switch wire {
		case 0:
			v, n, err := pbVarint(b)
			if err != nil {
				return err
			}
			b = b[n:]
			if err := fn(num, wire, v, nil); err != nil {
				return err
			}
		case 1, 5:
			size := 8
			if wire == 5 {
				size = 4
			}
			if len(b) < size {
				return errors.New("truncated fixed field")
			}
			if err := fn(num, wire, 0, b[:size]); err != nil {
				return err
			}
			b = b[size:]
		case 2:
			l, n, err := pbVarint(b)
			if err != nil {
				return err
			}
			b = b[n:]
			if uint64(len(b)) < l {
				return errors.New("truncated length-delimited field")
			}
			if err := fn(num, wire, 0, b[:l]); err != nil {
				return err
			}
			b = b[l:]
		default:
			return fmt.Errorf("unsupported wire type %d", wire)
		}
	}
	return nil
}

// pbVarints decodes a repeated varint field, packed or not.
func pbVarints(wire int, val uint64, data []byte, dst *[]int64) error {
	if wire == 0 {
		*dst = append(*dst, int64(val))
		return nil
	}
	for len(data) > 0 {
		v, n, err := pbVarint(data)
		if err != nil {
			return err
		}
		*dst = append(*dst, int64(v))
		data = data[n:]
	}
	return nil
}

// readTensorPB reads a serialized TensorProto file.
func readTensorPB(path string) (*nn.Tensor, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	var (
		dims, ints []int64
		dt         nn.DType
		name       string
		raw        []byte
		floats     []float32
		doubles    []float64
	)
	err = pbFields(b, func(num, wire int, val uint64, data []byte) error {
		switch num {
		case 1:
			return pbVarints(wire, val, data, &dims)
		case 2:
			dt = nn.DType(val)
		case 4: // float_data, packed fixed32
			for i := 0; i+4 <= len(data); i += 4 {
				floats = append(floats, math.Float32frombits(binary.LittleEndian.Uint32(data[i:])))
			}
		case 5, 7: // int32_data, int64_data
			return pbVarints(wire, val, data, &ints)
		case 8:
			name = string(data)
		case 9:
			raw = data
		case 10: // double_data
			for i := 0; i+8 <= len(data); i += 8 {
				doubles = append(doubles, math.Float64frombits(binary.LittleEndian.Uint64(data[i:])))
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		shape[i] = int(d)
	}
	if !dt.Supported() {
		return nil, "", fmt.Errorf("%s: unsupported data type %v", path, dt)
	}
	t := nn.New(dt, shape...)
	n := t.Len()
	if raw != nil {
		if len(raw) != n*dt.ByteSize() {
			return nil, "", fmt.Errorf("%s: %d raw bytes for %v %v", path, len(raw), dt, shape)
		}
		for i := 0; i < n; i++ {
			switch dt {
			case nn.Float32:
				t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			case nn.Float64:
				t.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			case nn.Int64, nn.Uint64:
				t.I64[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			case nn.Int32:
				t.I64[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			case nn.Uint32:
				t.I64[i] = int64(binary.LittleEndian.Uint32(raw[4*i:]))
			case nn.Int8:
				t.I64[i] = int64(int8(raw[i]))
			case nn.Uint8:
				t.I64[i] = int64(raw[i])
			case nn.Bool:
				t.Bool[i] = raw[i] != 0
			default:
				return nil, "", fmt.Errorf("%s: raw %v data not handled by this test decoder", path, dt)
			}
		}
		return t, name, nil
	}
	switch {
	case dt == nn.Float32 && len(floats) == n:
		copy(t.F32, floats)
	case dt == nn.Float64 && len(doubles) == n:
		copy(t.F64, doubles)
	case dt.Storage() == nn.StoreI64 && len(ints) == n:
		copy(t.I64, ints)
	case dt == nn.Bool && len(ints) == n:
		for i, v := range ints {
			t.Bool[i] = v != 0
		}
	default:
		return nil, "", fmt.Errorf("%s: no usable data for %v %v", path, dt, shape)
	}
	return t, name, nil
}
