package onnx_test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/internal/testenv"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// checkTestData runs every test_data_set_N of dir through g and compares
// with the stored reference outputs.
func checkTestData(t *testing.T, g *nn.Graph, dir string, rtol, atol float64) {
	t.Helper()
	sets, err := onnx.TestDataSets(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, set := range sets {
		ds, err := onnx.ReadTestDataSet(set)
		if err != nil {
			t.Fatal(err)
		}
		feed, err := onnx.FeedFromTestData(g, ds.Inputs)
		if err != nil {
			t.Fatal(err)
		}
		out, err := g.Run(nil, feed)
		if err != nil {
			t.Fatalf("%s: %v", set, err)
		}
		for i, want := range ds.Outputs {
			name := g.Outputs[i].Name
			d, err := nn.Compare(out[name], want.Tensor, rtol, atol)
			if err != nil {
				t.Fatalf("%s output %q: %v", set, name, err)
			}
			report(t, fmt.Sprintf("%s/%s %s", filepath.Base(dir), filepath.Base(set), name), "reference test data", d)
			if d.Bad > 0 {
				t.Errorf("%s output %q: %d elements beyond rtol %g atol %g (max abs %.3g, max rel %.3g)", set, name, d.Bad, rtol, atol, d.MaxAbs, d.MaxRel)
			}
		}
	}
}

func report(t *testing.T, what, against string, d nn.Diff) {
	t.Helper()
	t.Logf("%-50s vs %-20s max abs %.3g  max rel %.3g", what, against, d.MaxAbs, d.MaxRel)
}

// TestSharedModelsTestData checks the Model Zoo models of ../shared/models
// against their published test data.
func TestSharedModelsTestData(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "models")
	for _, name := range []string{"mnist-8", "super-resolution-10"} {
		t.Run(name, func(t *testing.T) {
			g, err := onnx.LoadGraph(filepath.Join(dir, name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			// mnist-8's logits reach ±7000: 1e-4 relative with a small
			// absolute floor.
			checkTestData(t, g, filepath.Join(dir, name), 1e-4, 1e-4)
		})
	}
}

// TestMNISTBatched runs mnist-8, exported with a fixed batch of 1, on its
// three test inputs stacked into one batch of 3.
func TestMNISTBatched(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "models")
	g, err := onnx.LoadGraph(filepath.Join(dir, "mnist-8.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var xs, ys []*nn.Tensor
	for i := 0; i < 3; i++ {
		ds, err := onnx.ReadTestDataSet(filepath.Join(dir, "mnist-8", fmt.Sprintf("test_data_set_%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		xs = append(xs, ds.Inputs[0].Tensor)
		ys = append(ys, ds.Outputs[0].Tensor)
	}
	x := stack(xs)
	out, err := g.Run(nil, map[string]*nn.Tensor{g.Inputs[0].Name: x})
	if err != nil {
		t.Fatalf("batch of 3: %v", err)
	}
	got := out[g.Outputs[0].Name]
	d, err := nn.Compare(got, stack(ys), 1e-4, 1e-4)
	if err != nil {
		t.Fatal(err)
	}
	report(t, "mnist-8 batch 3", "reference test data", d)
	if d.Bad > 0 {
		t.Errorf("batch 3: %d mismatches (max abs %.3g)", d.Bad, d.MaxAbs)
	}
}

// stack concatenates tensors of shape [1, ...] along the first axis.
func stack(ts []*nn.Tensor) *nn.Tensor {
	shape := append([]int{len(ts)}, ts[0].Shape[1:]...)
	out := nn.New(ts[0].DType, shape...)
	off := 0
	for _, t := range ts {
		off += copy(out.F32[off:], t.F32)
	}
	return out
}

// randomInputs makes seeded inputs for every graph input (float inputs
// normal with the given scale; symbolic dims set to batch).
func randomInputs(t *testing.T, g *nn.Graph, batch int, scale float32, seed int64) map[string]*nn.Tensor {
	t.Helper()
	feed, err := onnx.ZeroInputs(g, batch)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	names := make([]string, 0, len(feed))
	for n := range feed {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		x := feed[n]
		switch x.DType {
		case nn.Float32:
			for i := range x.F32 {
				x.F32[i] = float32(rng.NormFloat64()) * scale
			}
		case nn.Int64: // token ids: small non-negative integers
			for i := range x.I64 {
				x.I64[i] = rng.Int63n(20)
			}
		default:
			t.Fatalf("input %q: %v inputs are not generated", n, x.DType)
		}
	}
	return feed
}

// compareWithORT runs the model in graft and onnxruntime on the same inputs.
func compareWithORT(t *testing.T, path string, g *nn.Graph, feed map[string]*nn.Tensor, rtol, atol float64) {
	t.Helper()
	sess, err := ortref.Open(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	want, err := sess.Run(feed)
	if err != nil {
		t.Fatalf("onnxruntime: %v", err)
	}
	got, err := g.Run(nil, feed)
	if err != nil {
		t.Fatalf("graft: %v", err)
	}
	for _, o := range g.Outputs {
		d, err := nn.Compare(got[o.Name], want[o.Name], rtol, atol)
		if err != nil {
			t.Fatalf("output %q: %v", o.Name, err)
		}
		report(t, filepath.Base(path)+" "+o.Name, "onnxruntime", d)
		if d.Bad > 0 {
			t.Errorf("output %q: %d elements beyond rtol %g atol %g (max abs %.3g, max rel %.3g, first at %d)", o.Name, d.Bad, rtol, atol, d.MaxAbs, d.MaxRel, d.First)
		}
	}
}

// TestSharedModelsVsORT runs the models without reference outputs against
// onnxruntime on seeded random inputs.
func TestSharedModelsVsORT(t *testing.T) {
	dir := filepath.Join(testenv.SharedDir(t), "models")
	ortref.Require(t)
	cases := []struct {
		file  string
		scale float32
	}{
		{"version-RFB-320.onnx", 1},
		{"silero_vad_openvino_16k.onnx", 0.1},
		{"gtcrn_simple.onnx", 0.1},
		{"mnist-8.onnx", 100},
		{"super-resolution-10.onnx", 1},
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.file, ".onnx"), func(t *testing.T) {
			path := filepath.Join(dir, c.file)
			g, err := onnx.LoadGraph(path)
			if err != nil {
				t.Fatal(err)
			}
			for seed := int64(1); seed <= 2; seed++ {
				compareWithORT(t, path, g, randomInputs(t, g, 1, c.scale, seed), 1e-4, 1e-4)
			}
		})
	}
}

// TestPyTorchModels checks the PyTorch exports in testdata/models against
// the outputs PyTorch computed (batch 3 and batch 1), and against
// onnxruntime.
func TestPyTorchModels(t *testing.T) {
	models, _ := filepath.Glob(filepath.Join("..", "testdata", "models", "*.onnx"))
	if len(models) == 0 {
		t.Fatal("no models in testdata/models")
	}
	for _, path := range models {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		t.Run(name, func(t *testing.T) {
			g, err := onnx.LoadGraph(path)
			if err != nil {
				t.Fatal(err)
			}
			checkTestData(t, g, strings.TrimSuffix(path, ".onnx"), 1e-4, 1e-5)
			if _, err := ortref.LibPath(); err == nil || os.Getenv("GRAFT_REQUIRE_ORT") == "1" {
				compareWithORT(t, path, g, randomInputs(t, g, 4, 1, 7), 1e-4, 1e-5)
			}
		})
	}
}
