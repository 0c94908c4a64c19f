package convert_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/graftml/graft/convert"
	"github.com/graftml/graft/finetune"
	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// fashionMNIST skips (or, in CI, fails) without Debian's
// dataset-fashion-mnist.
func fashionMNIST(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(data.FashionMNISTDir, "t10k-images-idx3-ubyte.gz")); err != nil {
		if os.Getenv("GRAFT_REQUIRE_SHARED") == "1" {
			t.Fatalf("Fashion-MNIST missing (apt-get install dataset-fashion-mnist): %v", err)
		}
		t.Skipf("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): %v", err)
	}
}

var fmnistClasses = []int{5, 6, 7, 8, 9}

// tunedFashionCNN fine-tunes testdata/models/fmnist_cnn.onnx's head on
// classes 5–9 (the finetune acceptance recipe) and returns the file.
func tunedFashionCNN(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "tuned.onnx")
	_, err := finetune.Run(context.Background(), finetune.Options{
		Model: "../testdata/models/fmnist_cnn.onnx", TrainData: "fashion-mnist:train",
		Classes: fmnistClasses, PerClass: 50, NumClasses: 5, Out: out,
		Config: finetune.Config{Epochs: 30, BatchSize: 32, LR: 1e-3, Seed: 0,
			Optimizer: finetune.OptimizerConfig{Name: "adam"}, Freeze: "all-but-head"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// graftAccuracy evaluates the model file in graft on the 5,000 test
// images of classes 5–9 (finetune.Eval needs a recognisable classifier
// head, which the quantized graphs no longer have).
func graftAccuracy(t *testing.T, model string) float64 {
	t.Helper()
	g, err := onnx.LoadGraph(model)
	if err != nil {
		t.Fatal(err)
	}
	return accuracy(t, g.Inputs[0].Name, g.Outputs[0].Name, func(f map[string]*nn.Tensor) (map[string]*nn.Tensor, error) { return g.Run(nil, f) })
}

func testImages(t *testing.T) *data.IDX {
	t.Helper()
	ds, err := data.OpenFashionMNIST("", false, data.IDXOptions{ImageOptions: data.ImageOptions{Norm: data.NormSigned()}, Classes: fmnistClasses})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// ortAccuracy evaluates the model file in onnxruntime on the 5,000 test
// images of classes 5–9.
func ortAccuracy(t *testing.T, model string) float64 {
	t.Helper()
	sess, err := ortref.Open(model, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	return accuracy(t, sess.Inputs()[0].Name, sess.Outputs()[0].Name, sess.Run)
}

func accuracy(t *testing.T, in, out string, run func(map[string]*nn.Tensor) (map[string]*nn.Tensor, error)) float64 {
	t.Helper()
	ds := testImages(t)
	right := 0
	for lo := 0; lo < ds.Len(); lo += 100 {
		idx := make([]int, 0, 100)
		for i := lo; i < min(lo+100, ds.Len()); i++ {
			idx = append(idx, i)
		}
		x, labels, err := data.Batch(ds, idx)
		if err != nil {
			t.Fatal(err)
		}
		res, err := run(map[string]*nn.Tensor{in: x})
		if err != nil {
			t.Fatal(err)
		}
		y := res[out]
		c := y.Shape[1]
		for r, l := range labels {
			best := 0
			for j := 1; j < c; j++ {
				if y.F32[r*c+j] > y.F32[r*c+best] {
					best = j
				}
			}
			if best == l {
				right++
			}
		}
	}
	return float64(right) / float64(ds.Len())
}

// ortMedianMS times onnxruntime (one intra-op thread) on a batch of test
// images: the median of runs after a warm-up.
func ortMedianMS(t *testing.T, model string, batch, runs int) float64 {
	t.Helper()
	ds := testImages(t)
	idx := make([]int, batch)
	for i := range idx {
		idx[i] = i
	}
	x, _, err := data.Batch(ds, idx)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := ortref.Open(model, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	feed := map[string]*nn.Tensor{sess.Inputs()[0].Name: x}
	for i := 0; i < 5; i++ {
		if _, err := sess.Run(feed); err != nil {
			t.Fatal(err)
		}
	}
	times := make([]float64, runs)
	for i := range times {
		start := time.Now()
		if _, err := sess.Run(feed); err != nil {
			t.Fatal(err)
		}
		times[i] = float64(time.Since(start).Microseconds()) / 1000
	}
	sort.Float64s(times)
	return times[runs/2]
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestQuantizeFashionCNN is the acceptance test of int8 quantization on
// the fine-tuned Fashion-MNIST CNN (93% on the 5,000 test images of
// classes 5–9): dynamic (Gemm head and convolutions) and static QDQ
// (calibrated on 512 training images) must each lose at most one point of
// accuracy, in graft and in onnxruntime.
func TestQuantizeFashionCNN(t *testing.T) {
	fashionMNIST(t)
	ortref.Require(t)
	dir := t.TempDir()
	tuned := tunedFashionCNN(t, dir)
	base := graftAccuracy(t, tuned)
	baseORT := ortAccuracy(t, tuned)
	t.Logf("float32: %d bytes, accuracy graft %.4f, onnxruntime %.4f", fileSize(t, tuned), base, baseORT)
	calib, err := data.OpenFashionMNIST("", true, data.IDXOptions{ImageOptions: data.ImageOptions{Norm: data.NormSigned()}})
	if err != nil {
		t.Fatal(err)
	}
	folded := filepath.Join(dir, "folded.onnx")
	if _, err := convert.ConvertFile(tuned, folded, convert.FileOptions{Options: convert.All()}); err != nil {
		t.Fatal(err)
	}
	const runs = 50
	msFloat1, msFloat64 := ortMedianMS(t, folded, 1, runs), ortMedianMS(t, folded, 64, runs)
	t.Logf("float32 (batch norms folded): onnxruntime median %.3f ms at batch 1, %.3f ms at batch 64", msFloat1, msFloat64)
	cases := []struct {
		name string
		o    convert.QuantFileOptions
	}{
		{"dynamic (Gemm head)", convert.QuantFileOptions{Mode: convert.ModeDynamic}},
		{"dynamic with convolutions", convert.QuantFileOptions{Mode: convert.ModeDynamic, Dynamic: convert.DynamicOptions{Conv: true}}},
		{"static", convert.QuantFileOptions{Mode: convert.ModeStatic, Calib: calib, Static: convert.StaticOptions{Samples: 512}}},
	}
	for _, c := range cases {
		out := filepath.Join(dir, "q.onnx")
		c.o.Options = convert.All()
		r, err := convert.QuantizeFile(tuned, out, c.o)
		if err != nil {
			t.Errorf("%s: %v (report %+v)", c.name, err, r)
			continue
		}
		acc, accORT := graftAccuracy(t, out), ortAccuracy(t, out)
		ms1, ms64 := ortMedianMS(t, out, 1, runs), ortMedianMS(t, out, 64, runs)
		t.Logf("%s: %d -> %d bytes (%.1f%%), accuracy graft %.4f (%+.2f points), onnxruntime %.4f (%+.2f points); vs float max rel %.3g; onnxruntime vs graft max rel %.3g; onnxruntime median %.3f ms at batch 1 (%.2fx float), %.3f ms at batch 64 (%.2fx float)",
			c.name, r.BytesBefore, r.BytesAfter, 100*float64(r.BytesAfter)/float64(r.BytesBefore),
			acc, 100*(acc-base), accORT, 100*(accORT-baseORT), r.Errors[0].MaxRel, r.ORTvsGraft[0].MaxRel,
			ms1, msFloat1/ms1, ms64, msFloat64/ms64)
		if acc < base-0.01 || accORT < baseORT-0.01 {
			t.Errorf("%s: accuracy %.4f (graft), %.4f (onnxruntime) is more than a point below %.4f, %.4f", c.name, acc, accORT, base, baseORT)
		}
	}
}
