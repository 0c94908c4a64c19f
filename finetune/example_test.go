package finetune_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/graftml/graft/finetune"
	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/onnx"
)

// Example imports a pretrained model, gives it a new head for five
// classes, trains the head on an image folder with everything else frozen,
// and exports the result as ONNX. It is the README's Go API example.
func Example() {
	m, err := onnx.Load("../testdata/models/fmnist_cnn.onnx")
	if err != nil {
		log.Fatal(err)
	}
	g, err := onnx.Import(m, onnx.ImportOptions{})
	if err != nil {
		log.Fatal(err)
	}
	img := data.ImageOptions{Height: 28, Width: 28, Channels: 1, Norm: data.NormSigned()}
	train, val, err := data.OpenImageSplits("../testdata/fmnist", data.FolderOptions{ImageOptions: img})
	if err != nil {
		log.Fatal(err)
	}
	head, err := finetune.FindHead(g)
	if err != nil {
		log.Fatal(err)
	}
	if err := finetune.ReplaceHead(g, head, len(train.Classes()), 0); err != nil {
		log.Fatal(err)
	}
	tr, err := finetune.NewTrainer(g, head, finetune.Config{Epochs: 30, BatchSize: 32, LR: 1e-3,
		Optimizer: finetune.OptimizerConfig{Name: "adam"}, Freeze: "all-but-head"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tr.Fit(context.Background(), train, val); err != nil {
		log.Fatal(err)
	}
	out, err := onnx.Export(m, g, onnx.ExportOptions{})
	if err != nil {
		log.Fatal(err)
	}
	dir, _ := os.MkdirTemp("", "graft-example")
	defer os.RemoveAll(dir)
	if err := onnx.Save(filepath.Join(dir, "tuned.onnx"), out); err != nil {
		log.Fatal(err)
	}
	ev, err := finetune.Evaluate(context.Background(), g, head, val, 64)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.Accuracy >= 0.9)
	// Output: true
}
