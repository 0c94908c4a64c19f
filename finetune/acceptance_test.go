package finetune

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/internal/testenv"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// fashionMNIST skips (or, in CI, fails) when Debian's dataset-fashion-mnist
// is not installed.
func fashionMNIST(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(data.FashionMNISTDir, "t10k-images-idx3-ubyte.gz")); err != nil {
		if os.Getenv("GRAFT_REQUIRE_SHARED") == "1" {
			t.Fatalf("Fashion-MNIST missing (apt-get install dataset-fashion-mnist): %v", err)
		}
		t.Skipf("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): %v", err)
	}
}

// TestMNIST8FashionTransfer is an acceptance test of the fine-tuning work:
// mnist-8 from the ONNX Model Zoo (pretrained on MNIST, fixed batch 1, raw
// 0–255 input, classifier weight stored as a Reshape of an initializer)
// gets a new head trained on 100 Fashion-MNIST images per class with its
// convolutions frozen, and must reach 72% on the 10,000 test images
// (PyTorch with the same recipe: about 75%).
func TestMNIST8FashionTransfer(t *testing.T) {
	model := filepath.Join(testenv.SharedDir(t), "models", "mnist-8.onnx")
	fashionMNIST(t)
	out, err := Run(context.Background(), Options{
		Model: model, TrainData: "fashion-mnist:train", TestData: "fashion-mnist:test",
		PerClass: 100, Norm: "raw255", NumClasses: 10,
		Out: filepath.Join(t.TempDir(), "tuned.onnx"),
		Config: Config{Epochs: 30, BatchSize: 32, LR: 1e-3, Seed: 1,
			Optimizer: OptimizerConfig{Name: "adam"}, Freeze: "all-but-head"},
	})
	if err != nil {
		t.Fatal(err)
	}
	acc := out.Test.Accuracy
	t.Logf("mnist-8 → Fashion-MNIST: test accuracy %.4f on %d images, %.1fs training, export max diff %.2g", acc, out.Test.NumSamples, out.TrainSeconds, out.ExportMaxDiff)
	if out.Test.NumSamples != 10000 || acc < 0.72 {
		t.Errorf("test accuracy %.4f on %d images; the bar is 0.72 on 10000", acc, out.Test.NumSamples)
	}
	if out.Trainable != 2570 {
		t.Errorf("%d trainable parameters, want the new head's 256×10+10", out.Trainable)
	}
}

// TestFashionCNNTransfer is the main acceptance test of the fine-tuning
// work: the BN CNN pretrained by testdata/gen/pretrain_fmnist.py on
// Fashion-MNIST classes 0–4 gets a new head for classes 5–9, trained on the
// first 50 training images per class with the convolutional layers frozen
// (their BatchNormalization on running statistics), and must reach 90% on
// the 5,000 test images of classes 5–9 (bench/pytorch_finetune.py runs the
// same recipe in PyTorch). Partial and full fine-tuning must run and learn.
func TestFashionCNNTransfer(t *testing.T) {
	fashionMNIST(t)
	base := Options{
		Model: "../testdata/models/fmnist_cnn.onnx", TrainData: "fashion-mnist:train", TestData: "fashion-mnist:test",
		Classes: []int{5, 6, 7, 8, 9}, PerClass: 50, NumClasses: 5,
	}
	cases := []struct {
		name   string
		freeze string
		epochs int
		lr     float64
		bar    float64
	}{
		{"head only", "all-but-head", 30, 1e-3, 0.90},
		{"partial", "until=/features/features.4/Conv", 8, 1e-3, 0.85},
		{"full", "none", 8, 1e-3, 0.85},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base
			o.Out = filepath.Join(t.TempDir(), "tuned.onnx")
			o.Config = Config{Epochs: c.epochs, BatchSize: 32, LR: c.lr, Seed: 0,
				Optimizer: OptimizerConfig{Name: "adam"}, Freeze: c.freeze}
			out, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: test accuracy %.4f on %d images (%d trainable, %d frozen parameters, %.1fs training)",
				c.name, out.Test.Accuracy, out.Test.NumSamples, out.Trainable, out.Frozen, out.TrainSeconds)
			if out.Test.NumSamples != 5000 || out.Test.Accuracy < c.bar {
				t.Errorf("%s: accuracy %.4f on %d images; the bar is %.2f on 5000", c.name, out.Test.Accuracy, out.Test.NumSamples, c.bar)
			}
			checkExportInORT(t, o.Out)
		})
	}
}

// checkExportInORT runs an exported model in onnxruntime and in graft on
// real test images and requires relative error below 1e-5.
func checkExportInORT(t *testing.T, path string) {
	t.Helper()
	if _, err := ortref.LibPath(); err != nil && os.Getenv("GRAFT_REQUIRE_ORT") != "1" {
		t.Logf("onnxruntime check skipped: %v", err)
		return
	}
	g, err := onnx.LoadGraph(path)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.OpenFashionMNIST("", false, data.IDXOptions{ImageOptions: data.ImageOptions{Norm: data.NormSigned()}, Classes: []int{5, 6, 7, 8, 9}, PerClass: 4})
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, ds.Len())
	for i := range idx {
		idx[i] = i
	}
	x, _, err := data.Batch(ds, idx)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := ortref.Open(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	feed := map[string]*nn.Tensor{g.Inputs[0].Name: x}
	want, err := sess.Run(feed)
	if err != nil {
		t.Fatalf("onnxruntime on the exported model: %v", err)
	}
	got, err := g.Run(nil, feed)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range g.Outputs {
		d, err := nn.Compare(got[o.Name], want[o.Name], 1e-5, 1e-6)
		if err != nil || d.Bad > 0 {
			t.Errorf("exported model, output %q: graft vs onnxruntime %v %+v", o.Name, err, d)
		}
		t.Logf("exported model vs onnxruntime: max abs %.2g, max rel %.2g", d.MaxAbs, d.MaxRel)
	}
}
