package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/finetune"
	"github.com/graftml/graft/onnx"
)

func TestFinetuneWithConfigAndEval(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "run.yaml")
	os.WriteFile(cfg, []byte("data: ../../testdata/fmnist\ncut: /MaxPool_1\nnum_classes: 5\nepochs: 2\nlr: 0.01\nseed: 3\n"), 0o644)
	out := filepath.Join(dir, "tuned.onnx")
	var buf bytes.Buffer
	cmd := newRootCmd(&buf, &buf)
	cmd.SetArgs([]string{"finetune", "../../testdata/models/lenet.onnx", "--config", cfg, "--epochs", "1", "-o", out, "--report-dir", filepath.Join(dir, "report")})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !strings.Contains(buf.String(), "epoch   1/1") || strings.Contains(buf.String(), "epoch   2/") {
		t.Errorf("--epochs on the command line should win over the config file:\n%s", buf.String())
	}
	m, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{}
	for _, kv := range m.GetMetadataProps() {
		meta[kv.GetKey()] = kv.GetValue()
	}
	var classes []string
	if err := json.Unmarshal([]byte(meta["graft.classes"]), &classes); err != nil || strings.Join(classes, ",") != "Sandal,Shirt,Sneaker,Bag,Ankle boot" {
		t.Errorf("class names in the model: %q (%v); want the names of testdata/fmnist/labels.txt", meta["graft.classes"], err)
	}
	for _, f := range []string{"metrics.csv", "metrics.json", "loss.png", "accuracy.svg"} {
		if _, err := os.Stat(filepath.Join(dir, "report", f)); err != nil {
			t.Errorf("report file missing: %v", err)
		}
	}
	buf.Reset()
	if err := runEval(context.Background(), &evalOptions{EvalOptions: evalOpts(out, "../../testdata/fmnist/test"), JSON: true}, &buf); err != nil {
		t.Fatal(err)
	}
	var r struct {
		Accuracy   float64 `json:"accuracy"`
		NumSamples int     `json:"num_samples"`
	}
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil || r.NumSamples != 100 {
		t.Errorf("eval --json: %v %+v\n%s", err, r, buf.String())
	}
}

func TestFinetuneErrors(t *testing.T) {
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"finetune", resnetModel}, 2, "--data is required"},
		{[]string{"finetune", resnetModel, "--data", "../../testdata/fmnist", "--freeze", "bogus"}, 1, `unknown freeze term "bogus"`},
		{[]string{"finetune", resnetModel, "--data", "/nonexistent"}, 1, "/nonexistent"},
		{[]string{"finetune", resnetModel, "--data", empty}, 1, "dataset empty"},
		{[]string{"finetune", resnetModel, "--data", "../../testdata/fmnist", "--optimizer", "rmsprop"}, 1, `unknown optimizer "rmsprop"`},
		{[]string{"finetune", resnetModel, "--data", "../../testdata/fmnist", "--schedule", "step:x"}, 1, "is not a number"},
		{[]string{"finetune", resnetModel, "--data", "../../testdata/fmnist", "--classes", "a-b"}, 2, "is not a number"},
	} {
		stderr := captureStderr(t, func() {
			if code := run(c.args); code != c.code {
				t.Errorf("%v: exit %d, want %d", c.args, code, c.code)
			}
		})
		if !strings.Contains(stderr, c.want) || strings.Contains(stderr, "goroutine") {
			t.Errorf("%v: stderr %q lacks %q", c.args, stderr, c.want)
		}
	}
}

func evalOpts(model, data string) finetune.EvalOptions {
	return finetune.EvalOptions{Model: model, Data: data, BatchSize: 64}
}
