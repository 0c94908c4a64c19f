package nn

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/graftml/graft/internal/testenv"
)

func npyFixture(t *testing.T, name string) []byte {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "testdata", "npy", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The expected values repeat those in testdata/gen/npy_fixtures.py.
func TestReadNPYFixtures(t *testing.T) {
	cases := []struct {
		file string
		want *Tensor
	}{
		{"f4_2x3.npy", &Tensor{DType: Float32, Shape: []int{2, 3}, F32: []float32{1.5, -2, 0.25, 3, 1e-3, -7.5}}},
		{"i8_4.npy", &Tensor{DType: Int64, Shape: []int{4}, I64: []int64{math.MinInt64, -1, 0, math.MaxInt64}}},
		{"b1_scalar.npy", &Tensor{DType: Bool, Shape: []int{}, Bool: []bool{true}}},
		// 6e-8 is stored as the smallest float16 subnormal, 2^-24.
		{"f2_3_v2.npy", &Tensor{DType: Float16, Shape: []int{3}, F32: []float32{0.5, -65504, 5.960464477539063e-08}}},
		{"u2_empty_v3.npy", &Tensor{DType: Uint16, Shape: []int{2, 0, 2}, I64: []int64{}}},
	}
	for _, c := range cases {
		got, err := ReadNPY(bytes.NewReader(npyFixture(t, c.file)))
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.file, got, c.want)
		}
	}
}

// WriteNPY's output must be byte-identical to numpy.save for format 1.0.
func TestWriteNPYMatchesNumpy(t *testing.T) {
	for _, file := range []string{"f4_2x3.npy", "i8_4.npy", "b1_scalar.npy"} {
		want := npyFixture(t, file)
		tt, err := ReadNPY(bytes.NewReader(want))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteNPY(&buf, tt); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s: WriteNPY wrote\n%q\nnumpy wrote\n%q", file, buf.Bytes(), want)
		}
	}
}

func npyAllTypes() []*Tensor {
	return []*Tensor{
		{DType: Float32, Shape: []int{2, 2}, F32: []float32{1, -2.5, float32(math.Inf(1)), 3e38}},
		{DType: Float16, Shape: []int{3}, F32: []float32{1, -0.5, 65504}},
		{DType: Float64, Shape: []int{2}, F64: []float64{math.Pi, -1e300}},
		{DType: Int8, Shape: []int{2}, I64: []int64{-128, 127}},
		{DType: Int16, Shape: []int{2}, I64: []int64{-32768, 32767}},
		{DType: Int32, Shape: []int{2}, I64: []int64{math.MinInt32, math.MaxInt32}},
		{DType: Int64, Shape: []int{1, 1, 2}, I64: []int64{math.MinInt64, math.MaxInt64}},
		{DType: Uint8, Shape: []int{2}, I64: []int64{0, 255}},
		{DType: Uint16, Shape: []int{2}, I64: []int64{0, 65535}},
		{DType: Uint32, Shape: []int{2}, I64: []int64{0, math.MaxUint32}},
		{DType: Uint64, Shape: []int{2}, I64: []int64{0, -1}}, // -1 is the bit pattern of 2^64-1
		{DType: Bool, Shape: []int{3}, Bool: []bool{true, false, true}},
		{DType: Float32, Shape: []int{}, F32: []float32{42}},
		{DType: Int32, Shape: []int{0, 5}, I64: []int64{}},
	}
}

func TestNPYRoundTrip(t *testing.T) {
	for _, tt := range npyAllTypes() {
		var buf bytes.Buffer
		if err := WriteNPY(&buf, tt); err != nil {
			t.Fatalf("%v: %v", tt, err)
		}
		if buf.Len()%64 != 0 && tt.Len() == 0 {
			t.Errorf("%v: header not padded to 64 bytes", tt)
		}
		got, err := ReadNPY(&buf)
		if err != nil {
			t.Fatalf("%v: %v", tt, err)
		}
		if !reflect.DeepEqual(got, tt) {
			t.Errorf("round trip: got %+v, want %+v", got, tt)
		}
	}
}

// Files written by WriteNPY must load in numpy with the same values.
func TestWriteNPYReadByNumpy(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import numpy").Run(); err != nil {
		t.Skip("/usr/bin/python3 with numpy not available")
	}
	dir := t.TempDir()
	var script strings.Builder
	script.WriteString("import numpy as np, sys\n")
	for i, tt := range npyAllTypes() {
		p := filepath.Join(dir, "t"+string(rune('a'+i))+".npy")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteNPY(f, tt); err != nil {
			t.Fatal(err)
		}
		f.Close()
		script.WriteString("a = np.load(" + "'" + p + "'" + ")\n")
		script.WriteString("print(a.dtype.str, list(a.shape), a.flatten().tolist())\n")
	}
	out, err := exec.Command("/usr/bin/python3", "-c", script.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	want := []string{
		"<f4 [2, 2] [1.0, -2.5, inf, 3.0000000054977558e+38]",
		"<f2 [3] [1.0, -0.5, 65504.0]",
		"<f8 [2] [3.141592653589793, -1e+300]",
		"|i1 [2] [-128, 127]",
		"<i2 [2] [-32768, 32767]",
		"<i4 [2] [-2147483648, 2147483647]",
		"<i8 [1, 1, 2] [-9223372036854775808, 9223372036854775807]",
		"|u1 [2] [0, 255]",
		"<u2 [2] [0, 65535]",
		"<u4 [2] [0, 4294967295]",
		"<u8 [2] [0, 18446744073709551615]",
		"|b1 [3] [True, False, True]",
		"<f4 [] [42.0]",
		"<i4 [0, 5] []",
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("numpy read\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// npyHandMade builds a version 1.0 file from a header dict and data.
func npyHandMade(dict string, data []byte) []byte {
	h := dict + strings.Repeat(" ", 64-10-len(dict)%64-1+64) + "\n"
	h = h[:len(h)-((10+len(h))%64)]
	if !strings.HasSuffix(h, "\n") {
		h = h[:len(h)-1] + "\n"
	}
	b := []byte(npyMagic + "\x01\x00")
	b = append(b, byte(len(h)), byte(len(h)>>8))
	b = append(b, h...)
	return append(b, data...)
}

func TestReadNPYErrors(t *testing.T) {
	cases := []struct {
		name, want string
		file       []byte
	}{
		{"magic", "bad magic", []byte("PK\x03\x04 not numpy at all")},
		{"short", "reading magic", []byte("\x93NU")},
		{"version", "version 9.0", []byte(npyMagic + "\x09\x00\x00\x00")},
		{"fortran", "fortran_order=True", npyHandMade("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", make([]byte, 16))},
		{"big-endian", "big-endian", npyHandMade("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", make([]byte, 8))},
		{"complex", "not supported", npyHandMade("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", make([]byte, 16))},
		{"structured", "structured", npyHandMade("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", make([]byte, 8))},
		{"truncated", "data ends after 2 of 3", npyHandMade("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", make([]byte, 8))},
		// A header claiming 10^12 elements over 4 bytes must fail without
		// allocating terabytes.
		{"huge", "data ends after 1 of 1000000000000", npyHandMade("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", make([]byte, 4))},
		{"overflow", "too many elements", npyHandMade("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", nil)},
		{"missing key", "missing key", npyHandMade("{'descr': '<f4', 'shape': (3,), }", nil)},
		{"bad dim", "bad dimension", npyHandMade("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", nil)},
	}
	for _, c := range cases {
		_, err := ReadNPY(bytes.NewReader(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestWriteNPYErrors(t *testing.T) {
	if err := WriteNPY(&bytes.Buffer{}, &Tensor{DType: BFloat16, Shape: []int{1}, F32: []float32{1}}); err == nil {
		t.Error("bfloat16: no error")
	}
	if err := WriteNPY(&bytes.Buffer{}, &Tensor{DType: Float32, Shape: []int{3}, F32: []float32{1}}); err == nil {
		t.Error("short data: no error")
	}
}

// FuzzReadNPY feeds arbitrary bytes to ReadNPY; it must never panic, and
// what it accepts must write back and read again to the same tensor.
func FuzzReadNPY(f *testing.F) {
	for _, tt := range npyAllTypes() {
		var buf bytes.Buffer
		if err := WriteNPY(&buf, tt); err == nil {
			f.Add(buf.Bytes())
		}
	}
	f.Add(npyHandMade("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", make([]byte, 4)))
	f.Fuzz(func(t *testing.T, b []byte) {
		tt, err := ReadNPY(bytes.NewReader(b))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteNPY(&buf, tt); err != nil {
			t.Fatalf("WriteNPY of a tensor ReadNPY accepted: %v", err)
		}
		back, err := ReadNPY(&buf)
		if err != nil {
			t.Fatalf("re-reading: %v", err)
		}
		if back.DType != tt.DType || !SameShape(back.Shape, tt.Shape) || back.Len() != tt.Len() {
			t.Fatalf("round trip %v became %v", tt, back)
		}
	})
}
