package onnx_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// stHandFile builds a safetensors file byte by byte following the format
// description (huggingface/safetensors README: u64 little-endian header
// size, JSON header with dtype/shape/data_offsets and __metadata__, then
// the little-endian data), independently of the encoder under test.
func stHandFile(header string, data []byte) []byte {
	for len(header)%8 != 0 {
		header += " "
	}
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestSafeTensorsHandBuilt(t *testing.T) {
	var data []byte
	// "w": F32 [2,2] = 1, -2, 0.5, 3e38
	for _, v := range []float32{1, -2, 0.5, 3e38} {
		data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
	}
	// "h": F16 [3] = 1.0 (0x3c00), -2.0 (0xc000), 0.5 (0x3800)
	for _, v := range []uint16{0x3c00, 0xc000, 0x3800} {
		data = binary.LittleEndian.AppendUint16(data, v)
	}
	// "i": I32 [2] = -7, 100000
	for _, v := range []int32{-7, 100000} {
		data = binary.LittleEndian.AppendUint32(data, uint32(v))
	}
	// "b": BOOL [2] = true, false; "u": U8 [] = 255
	data = append(data, 1, 0, 255)
	hdr := `{"__metadata__":{"format":"pt"},` +
		`"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},` +
		`"h":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},` +
		`"i":{"dtype":"I32","shape":[2],"data_offsets":[22,30]},` +
		`"b":{"dtype":"BOOL","shape":[2],"data_offsets":[30,32]},` +
		`"u":{"dtype":"U8","shape":[],"data_offsets":[32,33]}}`
	ts, meta, err := onnx.DecodeSafeTensors(stHandFile(hdr, data))
	if err != nil {
		t.Fatal(err)
	}
	if meta["format"] != "pt" {
		t.Errorf("metadata %v", meta)
	}
	check := func(name string, dt nn.DType, shape []int, want []float64) {
		t.Helper()
		x := ts[name]
		if x == nil || x.DType != dt || !nn.SameShape(x.Shape, shape) {
			t.Fatalf("%s: %v, want %v %v", name, x, dt, shape)
		}
		for i, w := range want {
			if x.Float64At(i) != w {
				t.Errorf("%s[%d] = %v, want %v", name, i, x.Float64At(i), w)
			}
		}
	}
	check("w", nn.Float32, []int{2, 2}, []float64{1, -2, 0.5, float64(float32(3e38))})
	check("h", nn.Float16, []int{3}, []float64{1, -2, 0.5})
	check("i", nn.Int32, []int{2}, []float64{-7, 100000})
	check("u", nn.Uint8, []int{}, []float64{255})
	if b := ts["b"]; b == nil || !b.Bool[0] || b.Bool[1] {
		t.Errorf("b = %v", b)
	}
}

func TestSafeTensorsRoundTrip(t *testing.T) {
	in := map[string]*nn.Tensor{}
	for i, dt := range []nn.DType{nn.Float32, nn.Float64, nn.Float16, nn.BFloat16, nn.Int64, nn.Int32, nn.Int16, nn.Int8,
		nn.Uint64, nn.Uint32, nn.Uint16, nn.Uint8, nn.Bool} {
		x := nn.New(dt, 2, 3)
		for k := 0; k < 6; k++ {
			v := float64(k*7-11) * 0.75
			switch {
			case len(x.F32) > 0:
				x.F32[k] = float32(v)
			case len(x.F64) > 0:
				x.F64[k] = v
			case len(x.Bool) > 0:
				x.Bool[k] = k%2 == 0
			default:
				n := int64(k*37 - 60)
				if dt.IsUnsigned() {
					n = int64(k * 37)
				}
				x.I64[k] = n
			}
		}
		x.RoundToDType()
		in[dt.String()+"."+string(rune('a'+i))] = x
	}
	in["empty"] = nn.New(nn.Float32, 0, 4)
	in["scalar"] = nn.Scalar(2.5)
	b, err := onnx.EncodeSafeTensors(in, map[string]string{"graft.k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	if n%8 != 0 || b[8] != '{' {
		t.Errorf("header length %d (want a multiple of 8) starting with %q", n, b[8])
	}
	out, meta, err := onnx.DecodeSafeTensors(b)
	if err != nil {
		t.Fatal(err)
	}
	if meta["graft.k"] != "v" || len(out) != len(in) {
		t.Fatalf("metadata %v, %d tensors (want %d)", meta, len(out), len(in))
	}
	for name, want := range in {
		got := out[name]
		if got == nil {
			t.Errorf("%s missing", name)
			continue
		}
		d, err := nn.Compare(got, want, 0, 0)
		if err != nil || d.Bad > 0 {
			t.Errorf("%s: %v %+v", name, err, d)
		}
	}
	// Save/Load through a file.
	p := filepath.Join(t.TempDir(), "w.safetensors")
	if err := onnx.SaveSafeTensors(p, in, nil); err != nil {
		t.Fatal(err)
	}
	if out, _, err := onnx.LoadSafeTensors(p); err != nil || len(out) != len(in) {
		t.Fatalf("load: %v (%d tensors)", err, len(out))
	}
}

func TestSafeTensorsMalformed(t *testing.T) {
	good := stHandFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8))
	// Every truncation fails cleanly.
	for i := 0; i < len(good); i++ {
		if _, _, err := onnx.DecodeSafeTensors(good[:i]); err == nil {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
	for _, c := range []struct{ hdr, want string }{
		{`{"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}`, "not supported"},
		{`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, "needs 12 bytes"},
		{`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, "overlaps"},
		{`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, "unused bytes"},
		{`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, "after the last tensor"},
		{`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,40]}}`, "outside"},
		{`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}`, "negative"},
		{`{"a":{"dtype":"U8","shape":[4611686018427387904],"data_offsets":[0,8]}}`, "bytes"},
		{`{"__metadata__":{"k":1}}`, "strings"},
		{`[1,2]`, "not a JSON object"},
	} {
		_, _, err := onnx.DecodeSafeTensors(stHandFile(c.hdr, make([]byte, 8)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.hdr, err, c.want)
		}
	}
	huge := make([]byte, 16)
	binary.LittleEndian.PutUint64(huge, 1<<40)
	if _, _, err := onnx.DecodeSafeTensors(huge); err == nil || !strings.Contains(err.Error(), "100 MB") {
		t.Errorf("huge header: %v", err)
	}
}

func FuzzDecodeSafeTensors(f *testing.F) {
	f.Add(stHandFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(stHandFile(`{"__metadata__":{"x":"y"},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]}}`, make([]byte, 4)))
	f.Fuzz(func(t *testing.T, b []byte) {
		onnx.DecodeSafeTensors(b) // must not panic
	})
}

func TestSetParams(t *testing.T) {
	g, err := onnx.LoadGraph(filepath.Join("..", "testdata", "models", "lenet.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	params := onnx.GraphParams(g)
	name := g.ParamNames[0]
	shape := params[name].Shape
	// Unknown names and wrong shapes are listed; nothing changes.
	before := params[name].Clone()
	bad := map[string]*nn.Tensor{
		name:       nn.New(nn.Float32, shape...),
		"nope.1":   nn.New(nn.Float32, 1),
		"nope.2":   nn.New(nn.Float32, 1),
		"conv1.xx": nn.New(nn.Float32, 1),
	}
	bad[g.ParamNames[1]] = nn.New(nn.Float32, 7, 7)
	_, err = onnx.SetParams(g, bad, false)
	if err == nil || !strings.Contains(err.Error(), "3 name(s) not in the model: conv1.xx, nope.1, nope.2") ||
		!strings.Contains(err.Error(), g.ParamNames[1]+": [7,7] in the weights") {
		t.Errorf("error %v", err)
	}
	if d, _ := nn.Compare(g.Params[name].Value, before, 0, 0); d.Bad > 0 {
		t.Error("a failed SetParams changed the graph")
	}
	// A float16 tensor loads into a float32 parameter.
	h := nn.New(nn.Float16, shape...)
	for i := range h.F32 {
		h.F32[i] = 0.5
	}
	res, err := onnx.SetParams(g, map[string]*nn.Tensor{name: h}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Loaded) != 1 || len(res.Converted) != 1 || len(res.Missing) != len(g.ParamNames)-1 || g.Params[name].Value.F32[0] != 0.5 {
		t.Errorf("result %+v, value %v", res, g.Params[name].Value.F32[0])
	}
	if _, err := onnx.SetParams(g, map[string]*nn.Tensor{name: h}, true); err == nil || !strings.Contains(err.Error(), "missing from the weights") {
		t.Errorf("strict: %v", err)
	}
}

// TestSafeTensorsReadByNumpy reads a file written by EncodeSafeTensors with
// an independent reader in Python (json + numpy, following the format
// description) and compares every tensor's shape and values.
func TestSafeTensorsReadByNumpy(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import numpy").Run(); err != nil {
		t.Skipf("/usr/bin/python3 with numpy unavailable: %v", err)
	}
	in := map[string]*nn.Tensor{
		"f32":  nn.FromFloat32([]float32{1.5, -2.25, 3e-8, 65504}, 2, 2),
		"i64":  nn.FromInt64([]int64{-1, 1 << 40, 7}, 3),
		"s":    nn.Scalar(-0.125),
		"none": nn.New(nn.Float32, 0, 3),
	}
	f16 := nn.New(nn.Float16, 3)
	copy(f16.F32, []float32{0.5, -1, 2048})
	in["f16"] = f16
	i8 := nn.New(nn.Int8, 2)
	copy(i8.I64, []int64{-128, 127})
	in["i8"] = i8
	f64 := nn.New(nn.Float64, 1, 2)
	copy(f64.F64, []float64{math.Pi, -1e300})
	in["f64"] = f64
	b := nn.New(nn.Bool, 3)
	copy(b.Bool, []bool{true, false, true})
	in["b"] = b
	p := filepath.Join(t.TempDir(), "x.safetensors")
	if err := onnx.SaveSafeTensors(p, in, map[string]string{"who": "graft"}); err != nil {
		t.Fatal(err)
	}
	script := `
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
buf = raw[8 + n:]
types = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I8": "i1", "BOOL": "?"}
assert hdr.pop("__metadata__") == {"who": "graft"}
for name in sorted(hdr):
    e = hdr[name]
    b, end = e["data_offsets"]
    a = np.frombuffer(buf[b:end], dtype=types[e["dtype"]]).reshape(e["shape"])
    print(name, e["dtype"], "x".join(str(d) for d in a.shape) or "scalar", " ".join(repr(float(v)) for v in a.astype(np.float64).ravel()))
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, p).CombinedOutput()
	if err != nil {
		t.Fatalf("python reader: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(in) {
		t.Fatalf("python read %d tensors, want %d:\n%s", len(lines), len(in), out)
	}
	for _, line := range lines {
		f := strings.Fields(line)
		x := in[f[0]]
		if x == nil {
			t.Errorf("python found unknown tensor %q", f[0])
			continue
		}
		want := "scalar"
		if len(x.Shape) > 0 {
			want = strings.Trim(strings.ReplaceAll(fmt.Sprint(x.Shape), " ", "x"), "[]")
		}
		if f[2] != want {
			t.Errorf("%s: python reads shape %s, want %s", f[0], f[2], want)
		}
		vals := f[3:]
		if len(vals) != x.Len() {
			t.Errorf("%s: python read %d values, want %d (%s)", f[0], len(vals), x.Len(), line)
			continue
		}
		for i, v := range vals {
			got, _ := strconv.ParseFloat(v, 64)
			if got != x.Float64At(i) {
				t.Errorf("%s[%d]: python reads %v, want %v", f[0], i, got, x.Float64At(i))
			}
		}
	}
}
