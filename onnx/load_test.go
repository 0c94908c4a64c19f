package onnx

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/internal/testenv"
	"github.com/graftml/graft/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// nodeTestDirs lists the ONNX node-test folders in the shared data.
func nodeTestDirs(t testing.TB) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(testenv.SharedDir(t), "onnx-node", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no node tests found: %v", err)
	}
	return dirs
}

func TestLoadNodeTestModels(t *testing.T) {
	models, tensors, nonTensor := 0, 0, 0
	for _, dir := range nodeTestDirs(t) {
		m, err := Load(filepath.Join(dir, "model.onnx"))
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(dir), err)
			continue
		}
		models++
		for _, init := range m.GetGraph().GetInitializer() {
			if _, err := TensorFromProto(init); err != nil {
				t.Errorf("%s: initializer: %v", filepath.Base(dir), err)
			}
		}
		pbs, _ := filepath.Glob(filepath.Join(dir, "test_data_set_0", "*.pb"))
		for _, pb := range pbs {
			if _, err := ReadTensorFile(pb); err != nil {
				nonTensor++
				t.Logf("%s: %v", filepath.Base(dir), err)
				continue
			}
			tensors++
		}
	}
	t.Logf("%d models, %d tensors, %d files that are not tensors", models, tensors, nonTensor)
	if nonTensor > 4 {
		t.Errorf("%d test-data files failed to read as tensors", nonTensor)
	}
}

// testModel returns a small valid model: y = Add(x, w) with the given
// initializers and extra nodes.
func testModel(inits []*onnxpb.TensorProto, nodes ...*onnxpb.NodeProto) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:    8,
		ProducerName: "graft-test",
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Version: 17}},
		Graph: &onnxpb.GraphProto{
			Name:        "g",
			Initializer: inits,
			Node: append([]*onnxpb.NodeProto{{
				Name: "add", OpType: "Add", Input: []string{"x", "w"}, Output: []string{"y"},
			}}, nodes...),
			Input:  []*onnxpb.ValueInfoProto{floatInfo("x", 2)},
			Output: []*onnxpb.ValueInfoProto{floatInfo("y", 2)},
		},
	}
}

func floatInfo(name string, dims ...int64) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(onnxpb.TensorProto_FLOAT), Shape: shape}}}}
}

func floatTensor(name string, vals ...float32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: name, DataType: int32(onnxpb.TensorProto_FLOAT), Dims: []int64{int64(len(vals))}, FloatData: vals}
}

func mustEncode(t testing.TB, m *onnxpb.ModelProto) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantErr checks that err is non-nil and contains every fragment.
func wantErr(t *testing.T, what string, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %q", what, fragments)
		return
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("%s: error %q does not contain %q", what, err, f)
		}
	}
}

func TestRoundTripNodeTestModels(t *testing.T) {
	dir := t.TempDir()
	for i, d := range nodeTestDirs(t) {
		b, err := os.ReadFile(filepath.Join(d, "model.onnx"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(b)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(d), err)
			continue
		}
		enc, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Errorf("%s: decoding re-encoded model: %v", filepath.Base(d), err)
			continue
		}
		if !proto.Equal(m, m2) {
			t.Errorf("%s: Encode/Decode round trip differs", filepath.Base(d))
		}
		if i%20 != 0 { // Save syncs to disk: check a sample
			continue
		}
		p := filepath.Join(dir, filepath.Base(d)+".onnx")
		if err := Save(p, m); err != nil {
			t.Fatal(err)
		}
		m3, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(m, m3) {
			t.Errorf("%s: Save/Load round trip differs", filepath.Base(d))
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) > 0 {
		t.Errorf("Save left temporary files: %v", left)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := mustEncode(t, testModel([]*onnxpb.TensorProto{floatTensor("w", 1, 2)}))
	if _, err := Decode(good); err != nil {
		t.Fatalf("valid model: %v", err)
	}
	_, err := Decode([]byte("this is not a protobuf \xff\xff\xff\xff"))
	wantErr(t, "garbage", err, "not an ONNX model")
	_, err = Decode(good[:len(good)-3])
	wantErr(t, "truncated", err, "not an ONNX model")
	_, err = Decode(nil)
	wantErr(t, "empty", err, "not an ONNX model")

	m := testModel(nil)
	m.IrVersion = 14
	_, err = Decode(mustEncode(t, m))
	wantErr(t, "IR 14", err, "IR version 14 is newer than graft supports (3-13)")
	m.IrVersion = 2
	_, err = Decode(mustEncode(t, m))
	wantErr(t, "IR 2", err, "IR version 2 is older than graft supports (3-13)")
	m.IrVersion = 7
	m.Graph = nil
	_, err = Decode(mustEncode(t, m))
	wantErr(t, "no graph", err, "model has no graph")
}

func TestDecodeBadTensors(t *testing.T) {
	f32 := int32(onnxpb.TensorProto_FLOAT)
	cases := []struct {
		name string
		tp   *onnxpb.TensorProto
		want string
	}{
		{"float8", &onnxpb.TensorProto{Name: "w", DataType: int32(onnxpb.TensorProto_FLOAT8E4M3FN), Dims: []int64{1}, RawData: []byte{1}},
			`tensor "w": data type FLOAT8E4M3FN is not supported`},
		{"string", &onnxpb.TensorProto{Name: "w", DataType: int32(onnxpb.TensorProto_STRING), Dims: []int64{1}, StringData: [][]byte{[]byte("a")}},
			`tensor "w": data type STRING is not supported`},
		{"complex", &onnxpb.TensorProto{Name: "w", DataType: int32(onnxpb.TensorProto_COMPLEX64), Dims: []int64{1}, FloatData: []float32{1, 2}},
			`tensor "w": data type COMPLEX64 is not supported`},
		{"int4", &onnxpb.TensorProto{Name: "w", DataType: int32(onnxpb.TensorProto_INT4), Dims: []int64{2}, RawData: []byte{0x21}},
			`tensor "w": data type INT4 is not supported`},
		{"undefined", &onnxpb.TensorProto{Name: "w", Dims: []int64{1}, RawData: []byte{1}},
			`tensor "w": data type UNDEFINED is not supported`},
		{"unknown", &onnxpb.TensorProto{Name: "w", DataType: 99, Dims: []int64{1}, RawData: []byte{1}},
			`tensor "w": data type 99 is not supported`},
		{"negative dim", &onnxpb.TensorProto{Name: "w", DataType: f32, Dims: []int64{2, -1}, RawData: []byte{1}},
			`tensor "w": negative dimension -1`},
		{"overflow", &onnxpb.TensorProto{Name: "w", DataType: f32, Dims: []int64{1 << 40, 1 << 40}, RawData: []byte{1, 2, 3, 4}},
			`tensor "w": dims [1099511627776,1099511627776] hold too many elements`},
		{"hostile raw", &onnxpb.TensorProto{Name: "w", DataType: f32, Dims: []int64{1000000, 1000000}, RawData: []byte{1, 2, 3, 4}},
			`tensor "w": raw_data holds 4 bytes, but float32[1000000,1000000] needs 4000000000000`},
		{"hostile typed", &onnxpb.TensorProto{Name: "w", DataType: f32, Dims: []int64{1000000, 1000000}, FloatData: []float32{1}},
			`tensor "w": float_data holds 1 values, but float32[1000000,1000000] needs 1000000000000`},
		{"no data", &onnxpb.TensorProto{Name: "w", DataType: f32, Dims: []int64{3}},
			`tensor "w": float32[3] needs 3 values but the tensor holds no data`},
		{"wrong field", &onnxpb.TensorProto{Name: "w", DataType: f32, Dims: []int64{1}, Int64Data: []int64{1}},
			`tensor "w": FLOAT data must not be stored in int64_data`},
		{"raw and typed", &onnxpb.TensorProto{Name: "w", DataType: f32, Dims: []int64{1}, FloatData: []float32{1}, RawData: []byte{0, 0, 0, 0}},
			`tensor "w": data stored both in raw_data and in float_data`},
		{"segment", &onnxpb.TensorProto{Name: "w", DataType: f32, Dims: []int64{1}, FloatData: []float32{1}, Segment: &onnxpb.TensorProto_Segment{Begin: 0, End: 1}},
			`tensor "w": segmented tensors are not supported`},
		{"external", &onnxpb.TensorProto{Name: "w", DataType: f32, Dims: []int64{1}, DataLocation: onnxpb.TensorProto_EXTERNAL,
			ExternalData: []*onnxpb.StringStringEntryProto{{Key: "location", Value: "w.bin"}}},
			`tensor "w" uses external data; load the model from its file`},
	}
	for _, c := range cases {
		// As an initializer.
		_, err := Decode(mustEncode(t, testModel([]*onnxpb.TensorProto{c.tp})))
		wantErr(t, c.name, err, c.want)
		// As the value of a Constant node.
		constNode := &onnxpb.NodeProto{Name: "const1", OpType: "Constant", Output: []string{"c"},
			Attribute: []*onnxpb.AttributeProto{{Name: "value", Type: onnxpb.AttributeProto_TENSOR, T: c.tp}}}
		_, err = Decode(mustEncode(t, testModel(nil, constNode)))
		wantErr(t, c.name+" in Constant", err, `node "const1" (Constant) attribute "value"`, c.want)
		// Inside a subgraph of an If node.
		sub := testModel([]*onnxpb.TensorProto{c.tp}).Graph
		ifNode := &onnxpb.NodeProto{OpType: "If", Input: []string{"cond"}, Output: []string{"z"},
			Attribute: []*onnxpb.AttributeProto{{Name: "then_branch", Type: onnxpb.AttributeProto_GRAPH, G: sub}}}
		_, err = Decode(mustEncode(t, testModel(nil, ifNode)))
		wantErr(t, c.name+" in subgraph", err, `node #1 (If) attribute "then_branch"`, c.want)
		// TensorFromProto on its own.
		_, err = TensorFromProto(c.tp)
		wantErr(t, c.name+" TensorFromProto", err, c.want)
	}
}

// writeExtModel saves a model with one external float tensor "w" of the
// given dims whose external_data entries are ext, and returns its path.
func writeExtModel(t *testing.T, dir string, dims []int64, ext map[string]string) string {
	t.Helper()
	tp := &onnxpb.TensorProto{Name: "w", DataType: int32(onnxpb.TensorProto_FLOAT), Dims: dims,
		DataLocation: onnxpb.TensorProto_EXTERNAL}
	for _, k := range []string{"location", "offset", "length", "checksum"} {
		if v, ok := ext[k]; ok {
			tp.ExternalData = append(tp.ExternalData, &onnxpb.StringStringEntryProto{Key: k, Value: v})
		}
	}
	p := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(p, mustEncode(t, testModel([]*onnxpb.TensorProto{tp})), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadExternalData(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	// 8 bytes of padding, then float32 1, 2, 3 little-endian.
	weights := []byte{9, 9, 9, 9, 9, 9, 9, 9, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40}
	if err := os.WriteFile(filepath.Join(dir, "data", "w.bin"), weights, 0o644); err != nil {
		t.Fatal(err)
	}
	p := writeExtModel(t, dir, []int64{3}, map[string]string{"location": "data/w.bin", "offset": "8", "length": "12", "checksum": "ignored"})
	m, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	w := m.Graph.Initializer[0]
	if w.DataLocation != onnxpb.TensorProto_DEFAULT || len(w.RawData) != 12 {
		t.Fatalf("external tensor not resolved: location %v, %d raw bytes", w.DataLocation, len(w.RawData))
	}
	tt, err := TensorFromProto(w)
	if err != nil {
		t.Fatal(err)
	}
	if got := tt.F32; len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Errorf("external values %v, want [1 2 3]", got)
	}
	loc, off, length, ok := ExternalLocation(w)
	if !ok || loc != "data/w.bin" || off != 8 || length != 12 {
		t.Errorf("ExternalLocation = %q %d %d %v", loc, off, length, ok)
	}
	StripExternalRecords(m)
	if len(w.ExternalData) != 0 {
		t.Error("StripExternalRecords kept the entries")
	}

	// Without offset and length the whole file is the tensor.
	if err := os.WriteFile(filepath.Join(dir, "whole.bin"), weights[8:], 0o644); err != nil {
		t.Fatal(err)
	}
	p = writeExtModel(t, dir, []int64{3}, map[string]string{"location": "./whole.bin"})
	if _, err := Load(p); err != nil {
		t.Errorf("whole-file external data: %v", err)
	}
	// Decode has no folder to read from.
	b, _ := os.ReadFile(p)
	_, err = Decode(b)
	wantErr(t, "Decode", err, `tensor "w" uses external data; load the model from its file`)

	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.bin"), weights[8:], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.bin"), filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "whole.bin"), filepath.Join(dir, "data", "inside.bin")); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		dims []int64
		ext  map[string]string
		want []string
	}{
		{"absolute", []int64{3}, map[string]string{"location": filepath.Join(outside, "secret.bin")}, []string{`tensor "w"`, "absolute path"}},
		{"dotdot", []int64{3}, map[string]string{"location": "../" + filepath.Base(outside) + "/secret.bin"}, []string{`tensor "w"`, "leaves the model's folder"}},
		{"dotdot inside", []int64{3}, map[string]string{"location": "data/../../x.bin"}, []string{"leaves the model's folder"}},
		{"symlink out", []int64{3}, map[string]string{"location": "link.bin"}, []string{`tensor "w"`, "outside the model's folder"}},
		{"missing", []int64{3}, map[string]string{"location": "nope.bin"}, []string{`tensor "w"`, "nope.bin"}},
		{"no location", []int64{3}, map[string]string{"offset": "0"}, []string{"external data has no location"}},
		{"directory", []int64{3}, map[string]string{"location": "data"}, []string{"not a regular file"}},
		{"offset beyond", []int64{3}, map[string]string{"location": "whole.bin", "offset": "4096"}, []string{"offset 4096 is beyond the end"}},
		{"length beyond", []int64{3}, map[string]string{"location": "whole.bin", "offset": "4", "length": "12"}, []string{"beyond the end"}},
		{"bad offset", []int64{3}, map[string]string{"location": "whole.bin", "offset": "-4"}, []string{"offset"}},
		{"size mismatch", []int64{4}, map[string]string{"location": "whole.bin"}, []string{"external data holds 12 bytes, but float32[4] needs 16"}},
		{"hostile dims", []int64{1 << 20, 1 << 20}, map[string]string{"location": "whole.bin"}, []string{"external data holds 12 bytes"}},
	}
	for _, c := range bad {
		p := writeExtModel(t, dir, c.dims, c.ext)
		_, err := Load(p)
		wantErr(t, c.name, err, c.want...)
	}
	// A symlink that stays inside the folder is fine.
	p = writeExtModel(t, dir, []int64{3}, map[string]string{"location": "data/inside.bin"})
	if _, err := Load(p); err != nil {
		t.Errorf("symlink inside the folder: %v", err)
	}
}

func TestSaveAtomic(t *testing.T) {
	dir := t.TempDir()
	m := testModel([]*onnxpb.TensorProto{floatTensor("w", 1, 2)})
	p := filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Save(p, m); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode after Save: %v %v", st.Mode(), err)
	}
	got, err := Load(p)
	if err != nil || !proto.Equal(got, m) {
		t.Errorf("Load after Save: %v", err)
	}
	// A failing save leaves nothing behind.
	if err := Save(filepath.Join(dir, "missing", "m.onnx"), m); err == nil {
		t.Error("Save into a missing folder succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after Save, want 1", len(entries))
	}
	if _, err := Encode(nil); err == nil {
		t.Error("Encode(nil) succeeded")
	}
}

// Models written with external data by the onnx Python package must load,
// and models graft saves must pass onnx.checker.
func TestPythonONNXInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs python; skipped with -short")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import onnx, numpy").Run(); err != nil {
		t.Skip("/usr/bin/python3 with onnx and numpy not available")
	}
	dir := t.TempDir()
	script := `
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
d = sys.argv[1]
w = numpy_helper.from_array(np.arange(2000, dtype=np.float32).reshape(40, 50), "w")
b = numpy_helper.from_array(np.array([1, -2, 3], dtype=np.int64), "b")
g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 40])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 50])], [w, b])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
onnx.save_model(m, d + "/ext.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
    location="weights.data", size_threshold=16)
`
	if out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	m, err := Load(filepath.Join(dir, "ext.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := TensorFromProto(m.Graph.Initializer[0])
	if err != nil {
		t.Fatal(err)
	}
	if loc, _, _, ok := ExternalLocation(m.Graph.Initializer[0]); !ok || loc != "weights.data" {
		t.Errorf("external record %q %v", loc, ok)
	}
	for i, v := range w.F32 {
		if v != float32(i) {
			t.Fatalf("w[%d] = %v", i, v)
		}
	}
	if len(w.F32) != 2000 || w.Shape[0] != 40 || w.Shape[1] != 50 {
		t.Fatalf("w is %v", w)
	}
	StripExternalRecords(m)
	out := filepath.Join(dir, "inline.onnx")
	if err := Save(out, m); err != nil {
		t.Fatal(err)
	}
	check := `
import sys, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m)
print(numpy_helper.to_array(m.graph.initializer[0]).sum(), numpy_helper.to_array(m.graph.initializer[1]).tolist())
`
	res, err := exec.Command("/usr/bin/python3", "-c", check, out).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx rejects the saved model: %v\n%s", err, res)
	}
	if got := strings.TrimSpace(string(res)); got != "1999000.0 [1, -2, 3]" {
		t.Errorf("python read %q", got)
	}
}
