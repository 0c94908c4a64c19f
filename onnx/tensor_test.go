package onnx

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/graftml/graft/internal/testenv"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx/onnxpb"
)

// tensorCase is one tensor written both with raw_data and with the typed
// field the ONNX spec assigns to its type, and the graft tensor both must
// decode to. The raw bytes are written out by hand.
type tensorCase struct {
	name  string
	typed *onnxpb.TensorProto
	raw   []byte
	want  *nn.Tensor
}

func le16(v ...uint16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return b
}

func le32(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

func le64(v ...uint64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], x)
	}
	return b
}

func tensorCases() []tensorCase {
	T := func(dt onnxpb.TensorProto_DataType, dims ...int64) *onnxpb.TensorProto {
		return &onnxpb.TensorProto{Name: "t", DataType: int32(dt), Dims: dims}
	}
	with := func(tp *onnxpb.TensorProto, f func(*onnxpb.TensorProto)) *onnxpb.TensorProto { f(tp); return tp }
	return []tensorCase{
		{"float32", with(T(onnxpb.TensorProto_FLOAT, 2, 2), func(t *onnxpb.TensorProto) { t.FloatData = []float32{1, -2, 0.5, 3e-39} }),
			le32(0x3f800000, 0xc0000000, 0x3f000000, math.Float32bits(3e-39)),
			&nn.Tensor{DType: nn.Float32, Shape: []int{2, 2}, F32: []float32{1, -2, 0.5, 3e-39}}},
		// float16 bit patterns: 1, -2, 65504 (max), 2^-24 (smallest subnormal).
		{"float16", with(T(onnxpb.TensorProto_FLOAT16, 4), func(t *onnxpb.TensorProto) { t.Int32Data = []int32{0x3c00, 0xc000, 0x7bff, 0x0001} }),
			le16(0x3c00, 0xc000, 0x7bff, 0x0001),
			&nn.Tensor{DType: nn.Float16, Shape: []int{4}, F32: []float32{1, -2, 65504, 5.9604645e-08}}},
		// bfloat16 bit patterns: 1, -2, 0.15625.
		{"bfloat16", with(T(onnxpb.TensorProto_BFLOAT16, 3), func(t *onnxpb.TensorProto) { t.Int32Data = []int32{0x3f80, 0xc000, 0x3e20} }),
			le16(0x3f80, 0xc000, 0x3e20),
			&nn.Tensor{DType: nn.BFloat16, Shape: []int{3}, F32: []float32{1, -2, 0.15625}}},
		{"double", with(T(onnxpb.TensorProto_DOUBLE, 2), func(t *onnxpb.TensorProto) { t.DoubleData = []float64{math.Pi, -1e300} }),
			le64(math.Float64bits(math.Pi), math.Float64bits(-1e300)),
			&nn.Tensor{DType: nn.Float64, Shape: []int{2}, F64: []float64{math.Pi, -1e300}}},
		{"int8", with(T(onnxpb.TensorProto_INT8, 3), func(t *onnxpb.TensorProto) { t.Int32Data = []int32{-128, 127, -1} }),
			[]byte{0x80, 0x7f, 0xff},
			&nn.Tensor{DType: nn.Int8, Shape: []int{3}, I64: []int64{-128, 127, -1}}},
		{"uint8", with(T(onnxpb.TensorProto_UINT8, 2), func(t *onnxpb.TensorProto) { t.Int32Data = []int32{0, 255} }),
			[]byte{0, 255},
			&nn.Tensor{DType: nn.Uint8, Shape: []int{2}, I64: []int64{0, 255}}},
		{"int16", with(T(onnxpb.TensorProto_INT16, 2), func(t *onnxpb.TensorProto) { t.Int32Data = []int32{-32768, 32767} }),
			le16(0x8000, 0x7fff),
			&nn.Tensor{DType: nn.Int16, Shape: []int{2}, I64: []int64{-32768, 32767}}},
		{"uint16", with(T(onnxpb.TensorProto_UINT16, 2), func(t *onnxpb.TensorProto) { t.Int32Data = []int32{0, 65535} }),
			le16(0, 0xffff),
			&nn.Tensor{DType: nn.Uint16, Shape: []int{2}, I64: []int64{0, 65535}}},
		{"int32", with(T(onnxpb.TensorProto_INT32, 2), func(t *onnxpb.TensorProto) { t.Int32Data = []int32{math.MinInt32, math.MaxInt32} }),
			le32(0x80000000, 0x7fffffff),
			&nn.Tensor{DType: nn.Int32, Shape: []int{2}, I64: []int64{math.MinInt32, math.MaxInt32}}},
		{"uint32", with(T(onnxpb.TensorProto_UINT32, 2), func(t *onnxpb.TensorProto) { t.Uint64Data = []uint64{0, math.MaxUint32} }),
			le32(0, 0xffffffff),
			&nn.Tensor{DType: nn.Uint32, Shape: []int{2}, I64: []int64{0, math.MaxUint32}}},
		{"int64", with(T(onnxpb.TensorProto_INT64, 2), func(t *onnxpb.TensorProto) { t.Int64Data = []int64{math.MinInt64, math.MaxInt64} }),
			le64(1<<63, 1<<63-1),
			&nn.Tensor{DType: nn.Int64, Shape: []int{2}, I64: []int64{math.MinInt64, math.MaxInt64}}},
		{"uint64", with(T(onnxpb.TensorProto_UINT64, 2), func(t *onnxpb.TensorProto) { t.Uint64Data = []uint64{1, math.MaxUint64} }),
			le64(1, math.MaxUint64),
			&nn.Tensor{DType: nn.Uint64, Shape: []int{2}, I64: []int64{1, -1}}},
		{"bool", with(T(onnxpb.TensorProto_BOOL, 3), func(t *onnxpb.TensorProto) { t.Int32Data = []int32{1, 0, 1} }),
			[]byte{1, 0, 1},
			&nn.Tensor{DType: nn.Bool, Shape: []int{3}, Bool: []bool{true, false, true}}},
		{"scalar", with(T(onnxpb.TensorProto_FLOAT), func(t *onnxpb.TensorProto) { t.FloatData = []float32{7} }),
			le32(0x40e00000),
			&nn.Tensor{DType: nn.Float32, Shape: []int{}, F32: []float32{7}}},
		{"empty", T(onnxpb.TensorProto_INT64, 0, 3), nil,
			&nn.Tensor{DType: nn.Int64, Shape: []int{0, 3}, I64: []int64{}}},
	}
}

func TestTensorFromProtoTypedAndRaw(t *testing.T) {
	for _, c := range tensorCases() {
		got, err := TensorFromProto(c.typed)
		if err != nil {
			t.Errorf("%s typed: %v", c.name, err)
		} else if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s typed: got %+v, want %+v", c.name, got, c.want)
		}
		raw := &onnxpb.TensorProto{Name: "t", DataType: c.typed.DataType, Dims: c.typed.Dims, RawData: c.raw}
		got, err = TensorFromProto(raw)
		if err != nil {
			t.Errorf("%s raw: %v", c.name, err)
		} else if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s raw: got %+v, want %+v", c.name, got, c.want)
		}
		// TensorToProto writes exactly the hand-made raw bytes.
		back := TensorToProto("t", c.want)
		if !reflect.DeepEqual(back.RawData, raw.RawData) || back.DataType != raw.DataType ||
			!reflect.DeepEqual(back.Dims, c.typed.Dims) && len(back.Dims)+len(c.typed.Dims) > 0 {
			t.Errorf("%s TensorToProto: got %v %v %x, want %v %v %x", c.name,
				back.DataType, back.Dims, back.RawData, raw.DataType, raw.Dims, raw.RawData)
		}
	}
}

func TestTensorToProtoRounding(t *testing.T) {
	// float16 0.1 rounds to 0x2e66; bfloat16 0.1 (0x3dcccccd) rounds to 0x3dcd.
	h := TensorToProto("h", &nn.Tensor{DType: nn.Float16, Shape: []int{1}, F32: []float32{0.1}})
	if got := binary.LittleEndian.Uint16(h.RawData); got != 0x2e66 {
		t.Errorf("float16(0.1) = %#x, want 0x2e66", got)
	}
	b := TensorToProto("b", &nn.Tensor{DType: nn.BFloat16, Shape: []int{1}, F32: []float32{0.1}})
	if got := binary.LittleEndian.Uint16(b.RawData); got != 0x3dcd {
		t.Errorf("bfloat16(0.1) = %#x, want 0x3dcd", got)
	}
	if b.Name != "b" || b.DataType != int32(onnxpb.TensorProto_BFLOAT16) {
		t.Errorf("name/type %q %v", b.Name, b.DataType)
	}
}

func TestDecodeTensorErrors(t *testing.T) {
	if _, err := DecodeTensor([]byte{0xff, 0xff, 0xff}); err == nil || !strings.Contains(err.Error(), "not a TensorProto") {
		t.Errorf("garbage: %v", err)
	}
	if _, err := TensorFromProto(nil); err == nil {
		t.Error("nil: no error")
	}
}

// Every test-data tensor must decode to what onnx.numpy_helper reads.
func TestTensorsMatchNumpyHelper(t *testing.T) {
	shared := testenv.SharedDir(t)
	if testing.Short() {
		t.Skip("runs python; skipped with -short")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import onnx, numpy").Run(); err != nil {
		t.Skip("/usr/bin/python3 with onnx and numpy not available")
	}
	pbs, _ := filepath.Glob(filepath.Join(shared, "onnx-node", "*", "test_data_set_0", "*.pb"))
	out := t.TempDir()
	script := `
import sys, os, numpy as np, onnx
from onnx import numpy_helper
out = sys.argv[1]
for i, p in enumerate(sys.stdin.read().split("\n")):
    t = onnx.TensorProto()
    try:
        t.ParseFromString(open(p, "rb").read())
        if t.data_type == onnx.TensorProto.BFLOAT16:
            bits = np.frombuffer(t.raw_data, dtype="<u2") if t.raw_data else np.array(t.int32_data, dtype=np.uint16)
            a = (bits.astype(np.uint32) << 16).view(np.float32).reshape(tuple(t.dims))
        else:
            a = numpy_helper.to_array(t)
    except Exception as e:
        continue
    if a.dtype == object or a.dtype.kind == "c":
        continue
    np.save(os.path.join(out, "%d.npy" % i), a.copy(order="C"))
`
	cmd := exec.Command("/usr/bin/python3", "-c", script, out)
	cmd.Stdin = strings.NewReader(strings.Join(pbs, "\n"))
	if res, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, res)
	}
	compared := 0
	for i, pb := range pbs {
		f, err := os.Open(filepath.Join(out, strconv.Itoa(i)+".npy"))
		if err != nil {
			continue // not a tensor numpy could read
		}
		want, err := nn.ReadNPY(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", pb, err)
		}
		got, err := ReadTensorFile(pb)
		if err != nil {
			t.Errorf("%s: numpy_helper reads it, graft: %v", pb, err)
			continue
		}
		if got.DType == nn.BFloat16 { // numpy has no bfloat16; the script widened it
			want.DType = nn.BFloat16
		}
		if !sameTensor(got, want) {
			t.Errorf("%s: graft %v differs from numpy_helper %v", pb, got, want)
		}
		compared++
	}
	t.Logf("%d of %d test-data tensors match numpy_helper", compared, len(pbs))
	if compared < len(pbs)-4 {
		t.Errorf("only %d of %d tensors compared", compared, len(pbs))
	}
}

// sameTensor compares type, shape and bit patterns of the elements (so NaNs
// compare equal to themselves).
func sameTensor(a, b *nn.Tensor) bool {
	if a.DType != b.DType || !nn.SameShape(a.Shape, b.Shape) || len(a.F32) != len(b.F32) ||
		len(a.F64) != len(b.F64) || !reflect.DeepEqual(a.I64, b.I64) && len(a.I64)+len(b.I64) > 0 ||
		!reflect.DeepEqual(a.Bool, b.Bool) && len(a.Bool)+len(b.Bool) > 0 {
		return false
	}
	for i := range a.F32 {
		if math.Float32bits(a.F32[i]) != math.Float32bits(b.F32[i]) {
			return false
		}
	}
	for i := range a.F64 {
		if math.Float64bits(a.F64[i]) != math.Float64bits(b.F64[i]) {
			return false
		}
	}
	return true
}
