package finetune

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/graftml/graft/finetune/checkpoint"
	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/finetune/metrics"
	"github.com/graftml/graft/finetune/plot"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
)

// Options describe a whole fine-tuning job: model, data, training, output.
// Data specs are an image folder (DIR/<class>/*.png, optionally with
// train/ and val/ or test/ subfolders), "fashion-mnist:train" or
// "fashion-mnist:test" (Debian's dataset-fashion-mnist), or
// "idx:IMAGES,LABELS".
type Options struct {
	Model string
	// TrainData, ValData and TestData are data specs; the last two are
	// optional (an image folder with splits provides its own validation set).
	TrainData, ValData, TestData string
	// ValSplit holds out this fraction of Train (stratified) for validation
	// when no validation set is given.
	ValSplit float64
	// Classes selects and relabels IDX classes (e.g. 5,6,7,8,9); PerClass
	// keeps the first K training samples of each class.
	Classes  []int
	PerClass int
	// Norm is a normalization preset or MEAN/STD (see data.ParseNorm);
	// empty uses the model's recorded preprocessing, else "unit".
	Norm string
	// NumClasses > 0 replaces the classifier with one of that many outputs;
	// 0 replaces it only when the data's class count differs from the
	// model's.
	NumClasses int
	// Cut attaches a new head after this node (or value) instead of
	// replacing the classifier; NumClasses must be set.
	Cut string
	// Out is the ONNX file to write (optional); ReportDir receives
	// metrics.csv, metrics.json, curves and the confusion matrix (optional).
	Out, ReportDir string
	Config         Config
}

// Outcome is what a run produced.
type Outcome struct {
	History       []EpochRecord
	Test          *metrics.Report `json:"test,omitempty"`
	Classes       []string
	Out           string
	ExportMaxDiff float64
	TrainSeconds  float64
	Trainable     int
	Frozen        int
}

// Run executes a fine-tuning job.
func Run(ctx context.Context, o Options) (*Outcome, error) {
	log := o.Config.Log
	if log == nil {
		log = io.Discard
	}
	base, err := onnx.Load(o.Model)
	if err != nil {
		return nil, err
	}
	g, err := onnx.Import(base, onnx.ImportOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Model, err)
	}
	if len(g.Inputs) != 1 || !g.Inputs[0].HasShape {
		return nil, fmt.Errorf("%s: fine-tuning needs one input with a declared shape", o.Model)
	}
	img, err := imageOptions(g, base, o.Norm)
	if err != nil {
		return nil, err
	}
	train, val, err := openTrainVal(o, img)
	if err != nil {
		return nil, err
	}
	classes := train.Classes()
	var h *Head
	if o.Cut != "" {
		n := o.NumClasses
		if n == 0 {
			n = len(classes)
		}
		if h, err = CutHead(g, o.Cut, n, o.Config.Seed, nn.Standard()); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "new head after %s: %d outputs (%s)\n", o.Cut, n, strings.Join(classes, ", "))
	} else if h, err = FindHead(g); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Model, err)
	}
	want := o.NumClasses
	if o.Cut == "" && want == 0 && len(classes) != h.Classes {
		want = len(classes)
	}
	if o.Cut == "" && want > 0 {
		if len(classes) > want {
			return nil, fmt.Errorf("the data has %d classes but --num-classes is %d", len(classes), want)
		}
		if err := ReplaceHead(g, h, want, o.Config.Seed); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "new head: %s with %d outputs (%s)\n", h.Node.Label(), want, strings.Join(classes, ", "))
	}
	cfg := o.Config
	cfg.Metadata = map[string]string{
		checkpoint.MetaClassNames:      mustJSON(classes),
		checkpoint.MetaBaseModelSHA256: fileSHA256(o.Model),
		"norm":                         normSpec(img.Norm),
	}
	if o.Cut != "" {
		cfg.Metadata[checkpoint.MetaHeadConfig] = mustJSON(map[string]string{"cut": o.Cut})
	}
	for k, v := range o.Config.Metadata {
		cfg.Metadata[k] = v
	}
	tr, err := NewTrainer(g, h, cfg)
	if err != nil {
		return nil, err
	}
	out := &Outcome{Classes: classes}
	for _, name := range tr.Freeze.Order {
		if tr.Freeze.Trainable[name] {
			out.Trainable += g.Params[name].Value.Len()
		} else {
			out.Frozen += g.Params[name].Value.Len()
		}
	}
	start := time.Now()
	res, err := tr.Fit(ctx, train, val)
	out.TrainSeconds = time.Since(start).Seconds()
	if res != nil {
		out.History = res.History
	}
	if err != nil {
		return out, err
	}
	if o.TestData != "" {
		test, err := openData(o.TestData, o, img, false)
		if err != nil {
			return out, fmt.Errorf("test data: %w", err)
		}
		if out.Test, err = EvaluateReport(ctx, g, h, test, o.Config.BatchSize, classes); err != nil {
			return out, fmt.Errorf("test: %w", err)
		}
	}
	if o.Out != "" {
		meta := map[string]string{
			"graft.classes":    mustJSON(classes),
			"graft.base_model": fileSHA256(o.Model),
			"graft.preprocess": preprocessString(img),
			"graft.norm":       normSpec(img.Norm),
			"graft.training":   trainingSummary(out),
		}
		m, err := onnx.Export(base, g, onnx.ExportOptions{Metadata: meta})
		if err != nil {
			return out, fmt.Errorf("export: %w", err)
		}
		if err := onnx.Save(o.Out, m); err != nil {
			return out, fmt.Errorf("export: %w", err)
		}
		diff, err := verifyExport(ctx, g, o.Out, train)
		if err != nil {
			return out, fmt.Errorf("export verification: %w", err)
		}
		out.Out, out.ExportMaxDiff = o.Out, diff
	}
	if o.ReportDir != "" {
		if err := writeReports(o.ReportDir, out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// EvaluateReport runs g over ds and returns the full classification report.
func EvaluateReport(ctx context.Context, g *nn.Graph, h *Head, ds Dataset, batch int, classes []string) (*metrics.Report, error) {
	acc, err := metrics.NewAccumulator(h.Classes, metrics.Options{})
	if err != nil {
		return nil, err
	}
	err = evalBatches(ctx, g, h, ds, batch, func(logits *nn.Tensor, labels []int) error {
		return acc.AddBatch(logits, labels)
	})
	if err != nil {
		return nil, err
	}
	names := classes
	if len(names) != h.Classes {
		names = nil
	}
	return acc.Report(names)
}

// verifyExport re-imports the written model and compares its outputs with
// the in-memory graph's on a few training samples.
func verifyExport(ctx context.Context, g *nn.Graph, path string, ds Dataset) (float64, error) {
	g2, err := onnx.LoadGraph(path)
	if err != nil {
		return 0, err
	}
	n := min(ds.Len(), 8)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x, _, err := data.Batch(ds, idx)
	if err != nil {
		return 0, err
	}
	feed := map[string]*nn.Tensor{g.Inputs[0].Name: x}
	a, err := g.Run(nn.NewContext(ctx), feed)
	if err != nil {
		return 0, err
	}
	b, err := g2.Run(nn.NewContext(ctx), feed)
	if err != nil {
		return 0, fmt.Errorf("the written model does not run: %w", err)
	}
	worst := 0.0
	for _, o := range g.Outputs {
		d, err := nn.Compare(b[o.Name], a[o.Name], 1e-5, 1e-6)
		if err != nil {
			return 0, fmt.Errorf("output %q: %w", o.Name, err)
		}
		if d.Bad > 0 {
			return d.MaxAbs, fmt.Errorf("output %q of the written model differs by up to %.3g", o.Name, d.MaxAbs)
		}
		worst = max(worst, d.MaxAbs)
	}
	return worst, nil
}

func imageOptions(g *nn.Graph, m *onnxpb.ModelProto, norm string) (data.ImageOptions, error) {
	shape := make([]int, len(g.Inputs[0].Shape))
	for i, d := range g.Inputs[0].Shape {
		shape[i] = d.Value
	}
	img, err := data.ImageOptionsFor(shape)
	if err != nil {
		return img, fmt.Errorf("model input %q: %w", g.Inputs[0].Name, err)
	}
	if norm == "" {
		img.Norm, err = recordedNorm(m)
	} else {
		img.Norm, err = data.ParseNorm(norm)
	}
	if err != nil {
		return img, err
	}
	img.Resize = data.ResizeDirect
	return img, nil
}

// recordedNorm reads the normalization a model records: graft's
// "graft.norm" key, or a "graft.preprocess" entry (see
// data.ParsePreprocess); unit ([0,1]) when there is none.
func recordedNorm(m *onnxpb.ModelProto) (data.Norm, error) {
	meta := map[string]string{}
	for _, kv := range m.GetMetadataProps() {
		meta[kv.GetKey()] = kv.GetValue()
	}
	if n := meta["graft.norm"]; n != "" {
		return data.ParseNorm(n)
	}
	if p := meta["graft.preprocess"]; p != "" {
		return data.ParsePreprocess(p)
	}
	return data.ParseNorm("unit")
}

// normSpec writes a normalization in data.ParseNorm's syntax.
func normSpec(n data.Norm) string {
	switch n.Name {
	case "imagenet", "unit", "raw255", "signed":
		return n.Name
	}
	if len(n.Mean) == 0 && len(n.Std) == 0 {
		if n.Scale == 255 {
			return "raw255"
		}
		return "unit"
	}
	join := func(v []float32, def float32) string {
		if len(v) == 0 {
			v = []float32{def}
		}
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
		}
		return strings.Join(parts, ",")
	}
	return join(n.Mean, 0) + "/" + join(n.Std, 1)
}

func preprocessString(img data.ImageOptions) string {
	return fmt.Sprintf("size=%dx%d,channels=%d,layout=%v,norm=%s", img.Height, img.Width, img.Channels, img.Layout, normSpec(img.Norm))
}

func openTrainVal(o Options, img data.ImageOptions) (train, val Dataset, err error) {
	if st, e := os.Stat(o.TrainData); e == nil && st.IsDir() {
		fo := folderOptions(o.TrainData, img)
		tr, va, err := data.OpenImageSplits(o.TrainData, fo)
		if err != nil {
			return nil, nil, err
		}
		train = tr
		if va != nil {
			val = va
		}
	} else if train, err = openData(o.TrainData, o, img, true); err != nil {
		return nil, nil, err
	}
	if o.ValData != "" {
		if val, err = openData(o.ValData, o, img, false); err != nil {
			return nil, nil, fmt.Errorf("validation data: %w", err)
		}
	} else if val == nil && o.ValSplit > 0 {
		tr, va, err := data.Split(train, o.ValSplit, uint64(o.Config.Seed))
		if err != nil {
			return nil, nil, err
		}
		train, val = tr, va
	}
	return train, val, nil
}

// openData opens a data spec; perClass applies to training data only.
func openData(spec string, o Options, img data.ImageOptions, training bool) (Dataset, error) {
	idx := data.IDXOptions{ImageOptions: img, Classes: o.Classes}
	if training {
		idx.PerClass = o.PerClass
	}
	switch {
	case spec == "fashion-mnist:train" || spec == "fashion-mnist:test":
		return data.OpenFashionMNIST("", spec == "fashion-mnist:train", idx)
	case strings.HasPrefix(spec, "idx:"):
		imgs, labels, ok := strings.Cut(strings.TrimPrefix(spec, "idx:"), ",")
		if !ok {
			return nil, fmt.Errorf("data %q: want idx:IMAGES,LABELS", spec)
		}
		return data.OpenIDX(imgs, labels, idx)
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, fmt.Errorf("data %q: %w", spec, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("data %q: want an image folder, fashion-mnist:train|test or idx:IMAGES,LABELS", spec)
	}
	return data.OpenImageFolder(spec, folderOptions(spec, img))
}

// folderOptions uses a labels.txt beside the class folders (or one level
// up, for split folders) as the class names.
func folderOptions(dir string, img data.ImageOptions) data.FolderOptions {
	fo := data.FolderOptions{ImageOptions: img}
	for _, p := range []string{filepath.Join(dir, "labels.txt"), filepath.Join(filepath.Dir(dir), "labels.txt")} {
		if _, err := os.Stat(p); err == nil {
			fo.LabelsFile = p
			break
		}
	}
	return fo
}

// ParseClasses reads "5-9" or "5,6,7" into class indices.
func ParseClasses(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("classes %q: %q is not a number", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a {
				return nil, fmt.Errorf("classes %q: bad range %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

func writeReports(dir string, out *Outcome) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	write := func(name string, f func(io.Writer) error) error {
		fh, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := f(fh); err != nil {
			fh.Close()
			return err
		}
		return fh.Close()
	}
	if err := write("metrics.csv", func(w io.Writer) error { return plot.WriteCSV(w, out.History) }); err != nil {
		return err
	}
	if err := write("metrics.json", func(w io.Writer) error { return plot.WriteJSON(w, out.History) }); err != nil {
		return err
	}
	if err := plot.Curves(out.History, filepath.Join(dir, "")+string(filepath.Separator)); err != nil {
		return fmt.Errorf("curves: %w", err)
	}
	if out.Test != nil {
		if err := write("test.json", func(w io.Writer) error {
			e := json.NewEncoder(w)
			e.SetIndent("", "  ")
			return e.Encode(out.Test)
		}); err != nil {
			return err
		}
		if err := write("confusion.csv", out.Test.WriteConfusionCSV); err != nil {
			return err
		}
		if err := plot.ConfusionHeatmap(out.Test.ConfusionMatrix, out.Test.ClassNames, filepath.Join(dir, "confusion.png")); err != nil {
			return fmt.Errorf("confusion heat map: %w", err)
		}
	}
	return nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func fileSHA256(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func trainingSummary(o *Outcome) string {
	s := map[string]any{"epochs": len(o.History), "seconds": o.TrainSeconds}
	if n := len(o.History); n > 0 {
		s["final_train_loss"] = o.History[n-1].TrainLoss
		s["final_val_accuracy"] = o.History[n-1].ValAcc
	}
	if o.Test != nil {
		s["test_accuracy"] = o.Test.Accuracy
	}
	return mustJSON(s)
}

// EvalOptions describe an evaluation of a model on labelled data.
type EvalOptions struct {
	Model     string
	Data      string // data spec, as for Options.TrainData
	Classes   []int
	PerClass  int
	Norm      string
	BatchSize int
}

// Eval evaluates a model on labelled data: loss, accuracy, top-5,
// per-class precision/recall/F1 and the confusion matrix. The class
// names recorded by graft in the model win over the data's.
func Eval(ctx context.Context, o EvalOptions) (*metrics.Report, error) {
	base, err := onnx.Load(o.Model)
	if err != nil {
		return nil, err
	}
	g, err := onnx.Import(base, onnx.ImportOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Model, err)
	}
	if len(g.Inputs) != 1 || !g.Inputs[0].HasShape {
		return nil, fmt.Errorf("%s: evaluation needs one input with a declared shape", o.Model)
	}
	img, err := imageOptions(g, base, o.Norm)
	if err != nil {
		return nil, err
	}
	ds, err := openData(o.Data, Options{Classes: o.Classes, PerClass: o.PerClass}, img, true)
	if err != nil {
		return nil, err
	}
	h, err := FindHead(g)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Model, err)
	}
	classes := ds.Classes()
	for _, kv := range base.GetMetadataProps() {
		if kv.GetKey() == "graft.classes" {
			var names []string
			if json.Unmarshal([]byte(kv.GetValue()), &names) == nil && len(names) == h.Classes {
				classes = names
			}
		}
	}
	if len(ds.Classes()) > h.Classes {
		return nil, fmt.Errorf("the data has %d classes, the model predicts %d", len(ds.Classes()), h.Classes)
	}
	return EvaluateReport(ctx, g, h, ds, o.BatchSize, classes)
}
