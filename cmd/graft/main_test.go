package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
)

const (
	resnetModel = "../../testdata/models/resnet_small.onnx"
	resnetData  = "../../testdata/models/resnet_small"
)

func TestInspectJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := runInspect(&inspectOptions{Model: resnetModel, JSON: true}, &buf); err != nil {
		t.Fatal(err)
	}
	var r onnx.Report
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		t.Fatalf("inspect --json is not JSON: %v\n%s", err, buf.String())
	}
	// Facts recorded by the PyTorch export script (testdata/models/MODELS.md).
	if r.Producer != "pytorch" || r.Opsets[""] != 13 {
		t.Errorf("producer %q opset %d, want pytorch / 13", r.Producer, r.Opsets[""])
	}
	if len(r.Inputs) != 1 || r.Inputs[0].Name != "input" || r.Inputs[0].Shape != "[batch,3,32,32]" {
		t.Errorf("inputs = %+v, want input [batch,3,32,32]", r.Inputs)
	}
	if len(r.Layers) != 22 {
		t.Errorf("%d layers, want the 22 nodes of the export", len(r.Layers))
	}
	if r.ShapeError != "" || r.FLOPs <= 0 || r.Params <= 0 {
		t.Errorf("shape error %q, FLOPs %d, params %d", r.ShapeError, r.FLOPs, r.Params)
	}
	if len(r.Unsupported) != 0 {
		t.Errorf("unsupported ops reported: %+v", r.Unsupported)
	}
}

func TestInspectTable(t *testing.T) {
	var buf bytes.Buffer
	if err := runInspect(&inspectOptions{Model: resnetModel}, &buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"Producer  pytorch", "BatchNormalization", "[batch,3,32,32]", "Supported   yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
}

func TestRunTestData(t *testing.T) {
	var buf bytes.Buffer
	opts := &runOptions{Model: resnetModel, TestData: resnetData, Format: "npy", RTol: 1e-4, ATol: 1e-5}
	if err := runRun(context.Background(), opts, &buf); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if strings.Count(buf.String(), " ok") != 2 {
		t.Errorf("want two ok rows (two test data sets):\n%s", buf.String())
	}
}

// TestRunWritesOutputs runs the model on a .pb input, writes .npy and .pb
// outputs, and compares them with PyTorch's stored output.
func TestRunWritesOutputs(t *testing.T) {
	want, err := onnx.ReadTensorFile(filepath.Join(resnetData, "test_data_set_0", "output_0.pb"))
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"npy", "pb"} {
		dir := t.TempDir()
		opts := &runOptions{Model: resnetModel, Format: format, OutputDir: dir,
			Inputs: []string{"input=" + filepath.Join(resnetData, "test_data_set_0", "input_0.pb")}}
		var buf bytes.Buffer
		if err := runRun(context.Background(), opts, &buf); err != nil {
			t.Fatal(err)
		}
		got, err := readTensor(filepath.Join(dir, "output."+format))
		if err != nil {
			t.Fatal(err)
		}
		d, err := nn.Compare(got, want, 1e-4, 1e-5)
		if err != nil || d.Bad > 0 {
			t.Errorf("%s output differs from PyTorch: %v %+v", format, err, d)
		}
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.onnx")
	os.WriteFile(corrupt, []byte("this is not a model"), 0o644)
	wrongShape := filepath.Join(dir, "x.npy")
	f, _ := os.Create(wrongShape)
	nn.WriteNPY(f, nn.New(nn.Float32, 2, 3))
	f.Close()
	unsupported := filepath.Join(dir, "unsupported.onnx")
	writeUnsupportedModel(t, unsupported)

	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing model", []string{"inspect", filepath.Join(dir, "nope.onnx")}, 1, "no such file"},
		{"corrupt model", []string{"inspect", corrupt}, 1, "not an ONNX model"},
		{"wrong input shape", []string{"run", resnetModel, "--input", "input=" + wrongShape}, 1, `input "input": expected shape [batch,3,32,32], given [2,3]`},
		{"unknown input", []string{"run", resnetModel, "--input", "pixels=" + wrongShape}, 1, "unknown input(s) pixels"},
		{"unsupported ops listed together", []string{"run", unsupported, "--input", "x=" + wrongShape}, 1, "2 unsupported op type(s): NonMaxSuppression"},
		{"bad flag", []string{"inspect", "--bogus", resnetModel}, 2, "unknown flag"},
		{"no arguments", []string{"run"}, 2, "expected one model path"},
		{"both modes", []string{"run", resnetModel}, 2, "give either --input"},
		{"bad format", []string{"run", resnetModel, "--test-data", resnetData, "--format", "csv"}, 2, "must be npy or pb"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stderr := captureStderr(t, func() {
				if code := run(c.args); code != c.code {
					t.Errorf("exit code %d, want %d", code, c.code)
				}
			})
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q lacks %q", stderr, c.want)
			}
			if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
				t.Errorf("stderr has a panic trace: %s", stderr)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 0 {
				t.Errorf("want one line of error, got %d:\n%s", n+1, stderr)
			}
		})
	}
}

// writeUnsupportedModel writes a model using two op types graft lacks.
func writeUnsupportedModel(t *testing.T, path string) {
	t.Helper()
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: 1}}}}
	}
	m := &onnxpb.ModelProto{
		IrVersion:   8,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: 17}},
		Graph: &onnxpb.GraphProto{
			Name: "g",
			Node: []*onnxpb.NodeProto{
				{OpType: "NonMaxSuppression", Name: "nms", Input: []string{"x", "x"}, Output: []string{"a"}},
				{OpType: "Relu", Input: []string{"a"}, Output: []string{"b"}},
				{OpType: "TopK", Name: "topk", Input: []string{"b", "x"}, Output: []string{"y", "i"}},
			},
			Input:  []*onnxpb.ValueInfoProto{vi("x")},
			Output: []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
	if err := onnx.Save(path, m); err != nil {
		t.Fatal(err)
	}
}

func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	f()
	os.Stderr = old
	w.Close()
	var buf bytes.Buffer
	buf.ReadFrom(r)
	return buf.String()
}

// TestZooReference checks that zoo:NAME is accepted where a model path is:
// the bundled entry needs no network.
func TestZooReference(t *testing.T) {
	t.Setenv("GRAFT_CACHE", t.TempDir())
	t.Setenv("GRAFT_OFFLINE", "1")
	var buf bytes.Buffer
	cmd := newRootCmd(&buf, &buf)
	cmd.SetArgs([]string{"inspect", "zoo:fmnist-cnn", "--json"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	var r onnx.Report
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil || len(r.Inputs) != 1 || r.Inputs[0].Shape != "[batch,1,28,28]" {
		t.Errorf("inspect zoo:fmnist-cnn: %v %+v", err, r.Inputs)
	}
	stderr := captureStderr(t, func() {
		if code := run([]string{"inspect", "zoo:resnet18-v1-7"}); code != 1 {
			t.Errorf("offline pull of an uncached model: exit %d, want 1", code)
		}
	})
	if !strings.Contains(stderr, "not in the cache") {
		t.Errorf("stderr %q", stderr)
	}
}
