package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/finetune"
	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
)

const (
	lenetModel = "../../testdata/models/lenet.onnx"
	fmnistCNN  = "../../testdata/models/fmnist_cnn.onnx"
	fmnistDir  = "../../testdata/fmnist"
)

// predictImages writes n test images: 28×28 gray PNGs with different
// patterns and one 50×40 colour JPEG (converted to gray and resized by
// predict).
func predictImages(t *testing.T, dir string, n int) []string {
	t.Helper()
	var files []string
	for k := range n {
		var img image.Image
		path := filepath.Join(dir, "img"+string(rune('a'+k)))
		if k%3 == 2 {
			c := image.NewRGBA(image.Rect(0, 0, 50, 40))
			for y := range 40 {
				for x := range 50 {
					c.Set(x, y, color.RGBA{uint8(x * (5 + k)), uint8(y * 6), uint8(100 + 20*k), 255})
				}
			}
			img, path = c, path+".jpg"
		} else {
			g := image.NewGray(image.Rect(0, 0, 28, 28))
			for i := range g.Pix {
				x, y := i%28, i/28
				if (x-14+k)*(x-14+k)+(y-14)*(y-14) < 40+20*k {
					g.Pix[i] = uint8(255 - 30*k)
				}
			}
			img, path = g, path+".png"
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(path, ".jpg") {
			err = jpeg.Encode(f, img, &jpeg.Options{Quality: 95})
		} else {
			err = png.Encode(f, img)
		}
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	return files
}

// runPredictJSON runs predict with --json and decodes its output.
func runPredictJSON(t *testing.T, o *predictOptions) []filePrediction {
	t.Helper()
	o.JSON = true
	if o.BatchSize == 0 {
		o.BatchSize = 32
	}
	if o.Resize == "" {
		o.Resize = "direct"
	}
	var buf bytes.Buffer
	if err := runPredict(context.Background(), o, &buf); err != nil {
		t.Fatal(err)
	}
	var res []filePrediction
	if err := json.Unmarshal(buf.Bytes(), &res); err != nil {
		t.Fatalf("predict --json is not JSON: %v\n%s", err, buf.String())
	}
	if len(res) != len(o.Files) {
		t.Fatalf("%d results for %d files", len(res), len(o.Files))
	}
	return res
}

// directProbs runs the model at path on each file alone (batch 1), with
// the image pipeline set up by hand, and returns its raw first output.
func directOutputs(t *testing.T, path string, files []string, img data.ImageOptions) [][]float64 {
	t.Helper()
	g, err := onnx.LoadGraph(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]float64
	for _, f := range files {
		x, err := data.LoadImage(f, img)
		if err != nil {
			t.Fatal(err)
		}
		x = x.Reshaped(append([]int{1}, x.Shape...)...)
		out, err := g.Run(nil, map[string]*nn.Tensor{g.Inputs[0].Name: x})
		if err != nil {
			t.Fatal(err)
		}
		y := out[g.Outputs[0].Name]
		r := make([]float64, y.Len())
		for i := range r {
			r[i] = float64(y.F32[i])
		}
		rows = append(rows, r)
	}
	return rows
}

func argmax(r []float64) int {
	best := 0
	for i, v := range r {
		if v > r[best] {
			best = i
		}
	}
	return best
}

// checkPredictions checks one file's result: all classes listed in
// decreasing order, probabilities summing to 1 and equal to want.
func checkPredictions(t *testing.T, r filePrediction, want []float64, names []string) {
	t.Helper()
	if len(r.Predictions) != len(want) {
		t.Fatalf("%s: %d predictions, want %d", r.File, len(r.Predictions), len(want))
	}
	sum := 0.0
	for k, p := range r.Predictions {
		sum += p.Probability
		if k > 0 && p.Probability > r.Predictions[k-1].Probability {
			t.Errorf("%s: rank %d has a higher probability than rank %d", r.File, k+1, k)
		}
		if math.Abs(p.Probability-want[p.Index]) > 1e-6 {
			t.Errorf("%s: class %d probability %v, want %v", r.File, p.Index, p.Probability, want[p.Index])
		}
		name := p.Class
		if names != nil && name != names[p.Index] || names == nil && name != string(rune('0'+p.Index)) && p.Index < 10 {
			t.Errorf("%s: class %d named %q", r.File, p.Index, name)
		}
	}
	if math.Abs(sum-1) > 1e-5 {
		t.Errorf("%s: probabilities sum to %v", r.File, sum)
	}
	if r.Predictions[0].Index != argmax(want) {
		t.Errorf("%s: top-1 is class %d, the model's argmax is %d", r.File, r.Predictions[0].Index, argmax(want))
	}
}

// softmax64 is an independent softmax for the expected values.
func softmax64(r []float64) []float64 {
	out := make([]float64, len(r))
	m, s := r[0], 0.0
	for _, v := range r {
		m = math.Max(m, v)
	}
	for i, v := range r {
		out[i] = math.Exp(v - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// TestPredictLogits: LeNet ends in a Gemm (logits), so predict applies
// softmax; top-1 must agree with running the model directly.
func TestPredictLogits(t *testing.T) {
	files := predictImages(t, t.TempDir(), 5)
	res := runPredictJSON(t, &predictOptions{Model: lenetModel, Files: files, Top: 10, BatchSize: 2})
	img := data.ImageOptions{Height: 28, Width: 28, Channels: 1, Resize: data.ResizeDirect}
	direct := directOutputs(t, lenetModel, files, img)
	for i, r := range res {
		if r.File != files[i] {
			t.Errorf("result %d is for %s, want %s", i, r.File, files[i])
		}
		checkPredictions(t, r, softmax64(direct[i]), nil)
	}
	// --top limits the list; a K above the class count lists every class.
	res = runPredictJSON(t, &predictOptions{Model: lenetModel, Files: files[:1], Top: 3})
	if len(res[0].Predictions) != 3 {
		t.Errorf("--top 3 gave %d predictions", len(res[0].Predictions))
	}
	res = runPredictJSON(t, &predictOptions{Model: lenetModel, Files: files[:1], Top: 50})
	if len(res[0].Predictions) != 10 {
		t.Errorf("--top 50 gave %d predictions, want the 10 classes", len(res[0].Predictions))
	}
	// --size matching the fixed input size is accepted.
	runPredictJSON(t, &predictOptions{Model: lenetModel, Files: files[:1], Top: 1, Size: "28"})
}

// TestPredictRGB: a 3-channel model (gray images replicated to RGB), with
// ImageNet normalization and centre crop.
func TestPredictRGB(t *testing.T) {
	files := predictImages(t, t.TempDir(), 4)
	for _, resize := range []string{"direct", "crop"} {
		res := runPredictJSON(t, &predictOptions{Model: resnetModel, Files: files, Top: 100, Norm: "imagenet", Resize: resize, BatchSize: 3})
		mode, _ := data.ParseResize(resize)
		img := data.ImageOptions{Height: 32, Width: 32, Channels: 3, Norm: data.NormImageNet(), Resize: mode}
		direct := directOutputs(t, resnetModel, files, img)
		for i, r := range res {
			checkPredictions(t, r, softmax64(direct[i]), nil)
		}
	}
}

// writeVariant saves LeNet with a fixed batch of 1 (or variantBatch), a final op (Softmax,
// LogSoftmax or none) and metadata.
func writeVariant(t *testing.T, path, final string, meta map[string]string) {
	t.Helper()
	writeVariantBatch(t, path, final, meta, 1)
}

func writeVariantBatch(t *testing.T, path, final string, meta map[string]string, batch int64) {
	t.Helper()
	m, err := onnx.Load(lenetModel)
	if err != nil {
		t.Fatal(err)
	}
	g := m.Graph
	g.Input[0].Type.GetTensorType().Shape.Dim[0] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: batch}}
	if final != "" {
		out := g.Output[0].GetName()
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: final, Name: "final", Input: []string{out}, Output: []string{"probs"},
			Attribute: []*onnxpb.AttributeProto{{Name: "axis", Type: onnxpb.AttributeProto_INT, I: 1}}})
		g.Output[0].Name = "probs"
	}
	for k, v := range meta {
		m.MetadataProps = append(m.MetadataProps, &onnxpb.StringStringEntryProto{Key: k, Value: v})
	}
	if err := onnx.Save(path, m); err != nil {
		t.Fatal(err)
	}
}

var fashionNames = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// TestPredictSoftmaxMetadata: a batch-1 model ending in Softmax with
// graft.classes and graft.norm metadata; several files are batched, the
// printed probabilities are the model's own output, names and norm come
// from the metadata.
func TestPredictSoftmaxMetadata(t *testing.T) {
	dir := t.TempDir()
	files := predictImages(t, dir, 5)
	names, _ := json.Marshal(fashionNames)
	raw := data.ImageOptions{Height: 28, Width: 28, Channels: 1, Norm: data.NormRaw255(), Resize: data.ResizeDirect}
	for _, final := range []string{"Softmax", "LogSoftmax"} {
		t.Run(final, func(t *testing.T) {
			model := filepath.Join(dir, final+".onnx")
			writeVariant(t, model, final, map[string]string{"graft.classes": string(names), "graft.norm": "raw255"})
			g, err := onnx.LoadGraph(model)
			if err != nil {
				t.Fatal(err)
			}
			if g.FixedBatch != 1 {
				t.Fatalf("variant has fixed batch %d, want 1", g.FixedBatch)
			}
			res := runPredictJSON(t, &predictOptions{Model: model, Files: files, Top: 10, BatchSize: 4})
			direct := directOutputs(t, model, files, raw)
			for i, r := range res {
				want := direct[i]
				if final == "LogSoftmax" {
					for j := range want {
						want[j] = math.Exp(want[j])
					}
				}
				checkPredictions(t, r, want, fashionNames)
			}
		})
	}
	// --norm overrides the metadata: unit inputs give other probabilities.
	model := filepath.Join(dir, "Softmax.onnx")
	res := runPredictJSON(t, &predictOptions{Model: model, Files: files[:2], Top: 10, Norm: "unit"})
	unit := raw
	unit.Norm = data.NormUnit()
	direct := directOutputs(t, model, files[:2], unit)
	for i, r := range res {
		checkPredictions(t, r, direct[i], fashionNames)
	}
	// --labels overrides the metadata names.
	labels := filepath.Join(dir, "labels.txt")
	os.WriteFile(labels, []byte("zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n"), 0o644)
	res = runPredictJSON(t, &predictOptions{Model: model, Files: files[:1], Top: 10, Labels: labels})
	direct = directOutputs(t, model, files[:1], raw)
	checkPredictions(t, res[0], direct[0], []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"})
}

// TestPredictBadMetadata: class names that do not fit the model are
// ignored (indices are shown).
func TestPredictBadMetadata(t *testing.T) {
	dir := t.TempDir()
	files := predictImages(t, dir, 1)
	for i, v := range []string{`["a","b"]`, `not json`} {
		model := filepath.Join(dir, string(rune('a'+i))+".onnx")
		writeVariant(t, model, "", map[string]string{"graft.classes": v})
		res := runPredictJSON(t, &predictOptions{Model: model, Files: files, Top: 10})
		direct := directOutputs(t, model, files, data.ImageOptions{Height: 28, Channels: 1, Resize: data.ResizeDirect})
		checkPredictions(t, res[0], softmax64(direct[0]), nil)
	}
}

func TestPredictTable(t *testing.T) {
	dir := t.TempDir()
	files := predictImages(t, dir, 2)
	names, _ := json.Marshal(fashionNames)
	model := filepath.Join(dir, "m.onnx")
	writeVariant(t, model, "Softmax", map[string]string{"graft.classes": string(names)})
	var buf bytes.Buffer
	o := &predictOptions{Model: model, Files: files, Top: 2, BatchSize: 32, Resize: "direct"}
	if err := runPredict(context.Background(), o, &buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "FILE") || !strings.Contains(lines[0], "PROBABILITY") {
		t.Fatalf("want a header and 2 rows per file:\n%s", buf.String())
	}
	if !strings.HasPrefix(lines[1], files[0]) || !strings.HasPrefix(lines[3], files[1]) || strings.HasPrefix(lines[2], files[0]) {
		t.Errorf("file names should start each file's first row only:\n%s", buf.String())
	}
	found := false
	for _, n := range fashionNames {
		found = found || strings.Contains(lines[1], n)
	}
	if !found {
		t.Errorf("first row names no class:\n%s", buf.String())
	}
}

// TestPredictFashionCNN runs the Fashion-MNIST CNN (testdata/models,
// pretrained on classes 0-4, metadata graft.classes and graft.preprocess
// "scale=1/255,mean=0.5,std=0.5") on sample PNGs of testdata/fmnist.
func TestPredictFashionCNN(t *testing.T) {
	if _, err := os.Stat(fmnistCNN); err != nil {
		t.Skip("testdata/models/fmnist_cnn.onnx not present")
	}
	var files []string
	for _, class := range []string{"5-sandal", "6-shirt", "7-sneaker", "8-bag", "9-ankle-boot"} {
		m, _ := filepath.Glob(filepath.Join(fmnistDir, "test", class, "*.png"))
		if len(m) > 3 {
			m = m[:3]
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no images under testdata/fmnist/test")
	}
	res := runPredictJSON(t, &predictOptions{Model: fmnistCNN, Files: files, Top: 100, BatchSize: 4})
	// The pretraining script's preprocessing, set up by hand: (p/255-0.5)/0.5.
	img := data.ImageOptions{Height: 28, Width: 28, Channels: 1, Norm: data.NormSigned(), Resize: data.ResizeDirect}
	direct := directOutputs(t, fmnistCNN, files, img)
	names := []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"}
	for i, r := range res {
		checkPredictions(t, r, softmax64(direct[i]), names)
	}
	// The table names the classes.
	var buf bytes.Buffer
	if err := runPredict(context.Background(), &predictOptions{Model: fmnistCNN, Files: files[:2], Top: 2, BatchSize: 8, Resize: "direct"}, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), res[0].Predictions[0].Class) || !strings.Contains(buf.String(), "INDEX") {
		t.Errorf("table lacks the class names:\n%s", buf.String())
	}
}

// TestPredictFashionCNNReference turns the model's ONNX test input back
// into PNG files and checks predict against PyTorch's stored logits: the
// whole path (decode, graft.preprocess normalization, batching, softmax).
func TestPredictFashionCNNReference(t *testing.T) {
	set := filepath.Join(strings.TrimSuffix(fmnistCNN, ".onnx"), "test_data_set_0")
	x, err := onnx.ReadTensorFile(filepath.Join(set, "input_0.pb"))
	if err != nil {
		t.Skip("fmnist_cnn test data not present")
	}
	y, err := onnx.ReadTensorFile(filepath.Join(set, "output_0.pb"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n, c := x.Shape[0], y.Shape[1]
	var files []string
	for i := range n {
		g := image.NewGray(image.Rect(0, 0, 28, 28))
		for k := range g.Pix {
			g.Pix[k] = uint8(math.Round((float64(x.F32[i*784+k])*0.5 + 0.5) * 255))
		}
		path := filepath.Join(dir, fmt.Sprintf("%d.png", i))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, g)
		f.Close()
		files = append(files, path)
	}
	res := runPredictJSON(t, &predictOptions{Model: fmnistCNN, Files: files, Top: c})
	for i, r := range res {
		logits := make([]float64, c)
		for j := range logits {
			logits[j] = float64(y.F32[i*c+j])
		}
		want := softmax64(logits)
		for _, p := range r.Predictions {
			if math.Abs(p.Probability-want[p.Index]) > 1e-4 {
				t.Errorf("image %d class %d: probability %v, PyTorch gives %v", i, p.Index, p.Probability, want[p.Index])
			}
		}
		if r.Predictions[0].Index != argmax(want) {
			t.Errorf("image %d: top-1 %d, PyTorch's argmax %d", i, r.Predictions[0].Index, argmax(want))
		}
	}
}

func TestPredictErrors(t *testing.T) {
	dir := t.TempDir()
	files := predictImages(t, dir, 2)
	bad := filepath.Join(dir, "notes.png")
	os.WriteFile(bad, []byte("not an image"), 0o644)
	labels := filepath.Join(dir, "three.txt")
	os.WriteFile(labels, []byte("a\nb\nc\n"), 0o644)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unreadable image", []string{"predict", lenetModel, files[0], bad, files[1]}, 1, "notes.png: not a PNG, JPEG or GIF image"},
		{"missing image", []string{"predict", lenetModel, filepath.Join(dir, "gone.png")}, 1, "gone.png"},
		{"missing model", []string{"predict", filepath.Join(dir, "nope.onnx"), files[0]}, 1, "no such file"},
		{"not an image model", []string{"predict", "../../testdata/models/transformer_encoder.onnx", files[0]}, 1, "not an image batch"},
		{"labels count", []string{"predict", lenetModel, files[0], "--labels", labels}, 1, "has 3 names, the model predicts 10 classes"},
		{"missing labels", []string{"predict", lenetModel, files[0], "--labels", filepath.Join(dir, "none.txt")}, 1, "none.txt"},
		{"no files", []string{"predict", lenetModel}, 2, "expected a model path and at least one image file"},
		{"bad top", []string{"predict", lenetModel, files[0], "--top", "0"}, 2, "--top 0"},
		{"bad norm", []string{"predict", lenetModel, files[0], "--norm", "fancy"}, 2, "unknown normalization"},
		{"bad size", []string{"predict", lenetModel, files[0], "--size", "big"}, 2, "--size"},
		{"bad resize", []string{"predict", lenetModel, files[0], "--resize", "zoom"}, 2, "unknown resize mode"},
		{"size differs from the model", []string{"predict", lenetModel, files[0], "--size", "32x32"}, 1, "has the fixed shape [batch,1,28,28]"},
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

func TestPredictParseSize(t *testing.T) {
	for s, want := range map[string][2]int{"": {0, 0}, "32": {32, 32}, "24x32": {24, 32}, "24X32": {24, 32}} {
		h, w, err := predictParseSize(s)
		if err != nil || h != want[0] || w != want[1] {
			t.Errorf("predictParseSize(%q) = %d, %d, %v", s, h, w, err)
		}
	}
	for _, s := range []string{"0", "x", "3x", "-1x4", "ax2"} {
		if _, _, err := predictParseSize(s); err == nil {
			t.Errorf("predictParseSize(%q): no error", s)
		}
	}
}

// TestPredictFixedBatchRunsBatched: a model declaring batch 1 runs several
// images in one batch (no one-by-one fallback needed).
func TestPredictFixedBatchRunsBatched(t *testing.T) {
	dir := t.TempDir()
	files := predictImages(t, dir, 3)
	model := filepath.Join(dir, "m.onnx")
	writeVariant(t, model, "Softmax", nil)
	p, err := newPredictor(&predictOptions{Model: model, Files: files, Top: 1, Resize: "direct"})
	if err != nil {
		t.Fatal(err)
	}
	x, err := data.LoadImages(files, p.img)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := p.run(context.Background(), x)
	if err != nil {
		t.Fatalf("batch of 3 on a batch-1 model: %v", err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
}

// TestPredictDynamicSize: a model with a symbolic image size needs --size.
func TestPredictDynamicSize(t *testing.T) {
	dir := t.TempDir()
	files := predictImages(t, dir, 3)
	m, err := onnx.Load(resnetModel)
	if err != nil {
		t.Fatal(err)
	}
	dims := m.Graph.Input[0].Type.GetTensorType().Shape.Dim
	dims[2] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "h"}}
	dims[3] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "w"}}
	model := filepath.Join(dir, "dyn.onnx")
	if err := onnx.Save(model, m); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = runPredict(context.Background(), &predictOptions{Model: model, Files: files, Top: 1, BatchSize: 8, Resize: "direct"}, &buf)
	if err == nil || !strings.Contains(err.Error(), "dynamic image size: give --size") {
		t.Fatalf("error %v, want a request for --size", err)
	}
	res := runPredictJSON(t, &predictOptions{Model: model, Files: files, Top: 100, Size: "40x48"})
	img := data.ImageOptions{Height: 40, Width: 48, Channels: 3, Resize: data.ResizeDirect}
	direct := directOutputs(t, model, files, img)
	for i, r := range res {
		checkPredictions(t, r, softmax64(direct[i]), nil)
	}
}

// TestPredictAfterFinetune: graft finetune writes graft.classes and
// graft.norm; predict picks both up.
func TestPredictAfterFinetune(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "photos")
	files := predictImages(t, dir, 4)
	for _, class := range []string{"circle", "stripes"} {
		for k, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			os.MkdirAll(filepath.Join(folder, class), 0o755)
			os.WriteFile(filepath.Join(folder, class, fmt.Sprintf("%d%s", k, filepath.Ext(f))), b, 0o644)
		}
	}
	tuned := filepath.Join(dir, "tuned.onnx")
	o := &finetuneOptions{Options: finetune.Options{Model: lenetModel, TrainData: folder, Norm: "raw255", Out: tuned,
		Config: finetune.Config{Epochs: 1, BatchSize: 4, LR: 1e-3, Seed: 1, Freeze: "all-but-head", BN: "auto"}}}
	o.Config.Optimizer.Name = "sgd"
	var buf bytes.Buffer
	if err := runFinetune(withVerbosity(context.Background(), true, false), o, &buf); err != nil {
		t.Fatalf("finetune: %v\n%s", err, buf.String())
	}
	res := runPredictJSON(t, &predictOptions{Model: tuned, Files: files, Top: 2})
	raw := data.ImageOptions{Height: 28, Width: 28, Channels: 1, Norm: data.NormRaw255(), Resize: data.ResizeDirect}
	direct := directOutputs(t, tuned, files, raw)
	for i, r := range res {
		checkPredictions(t, r, softmax64(direct[i]), []string{"circle", "stripes"})
	}
}

// TestPredictFixedBatchThree: a model fixed at batch 3 gets batches of
// exactly 3, the last one padded.
func TestPredictFixedBatchThree(t *testing.T) {
	dir := t.TempDir()
	files := predictImages(t, dir, 4)
	model := filepath.Join(dir, "b3.onnx")
	writeVariantBatch(t, model, "", nil, 3)
	res := runPredictJSON(t, &predictOptions{Model: model, Files: files, Top: 10, BatchSize: 2})
	img := data.ImageOptions{Height: 28, Width: 28, Channels: 1, Resize: data.ResizeDirect}
	// The reference runs all four through LeNet (dynamic batch).
	direct := directOutputs(t, lenetModel, files, img)
	for i, r := range res {
		checkPredictions(t, r, softmax64(direct[i]), nil)
	}
}
