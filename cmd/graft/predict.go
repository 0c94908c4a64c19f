package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/graftml/graft/finetune"
	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/internal/progress"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
	"github.com/graftml/graft/zoo"
	"github.com/spf13/cobra"
)

type predictOptions struct {
	Model     string
	Files     []string
	Top       int
	Norm      string
	Labels    string
	Resize    string
	Size      string
	BatchSize int
	JSON      bool
	// ClassNames are default class names (a zoo entry's labels) used
	// when neither --labels nor the model's metadata names the classes.
	ClassNames []string
	// Progress, when a terminal, shows a progress bar for runs of more
	// than one batch.
	Progress io.Writer
}

func newPredictCmd() *cobra.Command {
	o := &predictOptions{}
	cmd := &cobra.Command{
		Use:   "predict MODEL FILE... [--top K] [--norm NORM] [--labels FILE] [--json] [flags]",
		Short: "Classify images (PNG, JPEG, GIF) with a model and print the top classes",
		Long: `predict runs an image classifier on image files and prints, per file, the
most likely classes with their probabilities.

Image size, channels and layout come from the model's input shape. Class
names come from --labels, else from the "graft.classes" metadata that
graft finetune writes, else classes are shown by index. The normalization
comes from --norm, else from the "graft.norm" metadata, else from the
"graft.preprocess" metadata (norm=NAME, or scale=1/255,mean=M,std=S), else
"unit" ([0,1]).
A model ending in Softmax prints its own output; otherwise softmax is applied
to its logits.`,
		Example: `  graft predict tuned.onnx shoe.jpg bag.png
  graft predict resnet50.onnx cat.jpg --norm imagenet --labels imagenet.txt --top 3 --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageError{errors.New(cmd.CommandPath() + ": expected a model path and at least one image file (see --help)")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Files = args[1:]
			if err := o.check(); err != nil {
				return usageError{err}
			}
			path, norm, err := resolveModel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			o.Model = path
			if o.Norm == "" {
				o.Norm = norm
			}
			if strings.HasPrefix(args[0], "zoo:") {
				if e, err := zoo.Lookup(strings.TrimPrefix(args[0], "zoo:")); err == nil {
					o.ClassNames = e.Classes()
				}
			}
			o.Progress = cmd.ErrOrStderr()
			return runPredict(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVarP(&o.Top, "top", "k", 5, "print the K most likely classes per image")
	f.StringVar(&o.Norm, "norm", "", `input normalization: imagenet, unit, raw255, signed or MEAN/STD (default: the model's "graft.norm" or "graft.preprocess" metadata, else unit)`)
	f.StringVar(&o.Labels, "labels", "", "class names, one per line (default: the model's \"graft.classes\" metadata, else indices)")
	f.StringVar(&o.Resize, "resize", "direct", "how images reach the input size: direct (stretch, as graft finetune trains) or crop (shorter side, then centre crop)")
	f.StringVar(&o.Size, "size", "", "input size HxW (or N) for models with a dynamic image size")
	f.IntVar(&o.BatchSize, "batch-size", 32, "images per model run")
	f.BoolVar(&o.JSON, "json", false, "print the predictions as JSON")
	return cmd
}

// check validates flag values that need no model.
func (o *predictOptions) check() error {
	if o.Top < 1 {
		return fmt.Errorf("--top %d: must be at least 1", o.Top)
	}
	if o.BatchSize < 1 {
		return fmt.Errorf("--batch-size %d: must be at least 1", o.BatchSize)
	}
	if o.Norm != "" {
		if _, err := data.ParseNorm(o.Norm); err != nil {
			return fmt.Errorf("--norm: %w", err)
		}
	}
	if _, err := data.ParseResize(o.Resize); err != nil {
		return fmt.Errorf("--resize: %w", err)
	}
	if _, _, err := predictParseSize(o.Size); err != nil {
		return err
	}
	return nil
}

// predictParseSize parses "" (0,0), "N" or "HxW".
func predictParseSize(s string) (h, w int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	hs, ws, ok := strings.Cut(strings.ToLower(s), "x")
	if !ok {
		ws = hs
	}
	h, err1 := strconv.Atoi(strings.TrimSpace(hs))
	w, err2 := strconv.Atoi(strings.TrimSpace(ws))
	if err1 != nil || err2 != nil || h < 1 || w < 1 {
		return 0, 0, fmt.Errorf("--size %q: want HxW or N, e.g. 224x224", s)
	}
	return h, w, nil
}

// classPrediction is one class of a file's top K.
type classPrediction struct {
	Class       string  `json:"class"`
	Index       int     `json:"index"`
	Probability float64 `json:"probability"`
}

// filePrediction holds the top classes of one image.
type filePrediction struct {
	File        string            `json:"file"`
	Predictions []classPrediction `json:"predictions"`
}

// predictor runs a classifier on batches of images.
type predictor struct {
	g          *nn.Graph
	input      nn.ValueInfo
	img        data.ImageOptions
	final      string   // "Softmax", "LogSoftmax" or "" (logits)
	names      []string // class names, nil for indices
	labelsFile string   // where names came from, "" for metadata
	fixedN     int      // a fixed batch size above 1 the model insists on, else 0
}

func runPredict(ctx context.Context, o *predictOptions, w io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	p, err := newPredictor(o)
	if err != nil {
		return err
	}
	batch := o.BatchSize
	if p.fixedN > 1 {
		batch = p.fixedN
	}
	var bar *progress.Bar // nil: silent
	if o.Progress != nil && len(o.Files) > batch && progress.IsTerminal(o.Progress) {
		bar = progress.New(o.Progress, len(o.Files), "predict", progress.Transient())
	}
	var res []filePrediction
	for s := 0; s < len(o.Files); s += batch {
		files := o.Files[s:min(s+batch, len(o.Files))]
		probs, err := p.predict(ctx, files)
		if err != nil {
			bar.Done()
			return err
		}
		for i, f := range files {
			res = append(res, filePrediction{File: f, Predictions: p.top(probs[i], o.Top)})
		}
		bar.Add(len(files), "")
	}
	bar.Done()
	if o.JSON {
		return json.NewEncoder(w).Encode(res)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	named := p.names != nil
	if named {
		fmt.Fprintln(tw, "FILE\tRANK\tCLASS\tINDEX\tPROBABILITY")
	} else {
		fmt.Fprintln(tw, "FILE\tRANK\tCLASS\tPROBABILITY")
	}
	for _, r := range res {
		for k, c := range r.Predictions {
			file := r.File
			if k > 0 {
				file = ""
			}
			if named {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%.4f\n", file, k+1, c.Class, c.Index, c.Probability)
			} else {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%.4f\n", file, k+1, c.Class, c.Probability)
			}
		}
	}
	return tw.Flush()
}

// newPredictor loads the model and resolves preprocessing and class names.
func newPredictor(o *predictOptions) (*predictor, error) {
	m, err := onnx.Load(o.Model)
	if err != nil {
		return nil, err
	}
	g, err := onnx.Import(m, onnx.ImportOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Model, err)
	}
	if len(g.Inputs) != 1 || len(g.Outputs) == 0 {
		return nil, fmt.Errorf("%s: predict needs a model with one image input and a class-score output (it has %d inputs, %d outputs)", o.Model, len(g.Inputs), len(g.Outputs))
	}
	p := &predictor{g: g, input: g.Inputs[0]}
	if in := p.input; in.HasShape && len(in.Shape) > 0 && in.Shape[0].Param == "" && in.Shape[0].Value > 1 {
		p.fixedN = in.Shape[0].Value
	}
	meta := predictModelMeta(m)
	if p.img, err = predictImageOptions(p.input, o, meta); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Model, err)
	}
	p.final = predictFinalOp(g)
	// The classifier's class count lets a wrong labels file fail before
	// any image is read; the output's size is checked again after a run.
	classes := 0
	if h, err := finetune.FindHead(g); err == nil {
		classes = h.Classes
	}
	if o.Labels != "" {
		if p.names, err = data.ReadLabels(o.Labels); err != nil {
			return nil, err
		}
		p.labelsFile = o.Labels
		if classes > 0 && len(p.names) != classes {
			return nil, fmt.Errorf("labels file %s has %d names, the model predicts %d classes", o.Labels, len(p.names), classes)
		}
	} else if s, ok := meta["graft.classes"]; ok {
		var names []string
		if json.Unmarshal([]byte(s), &names) == nil && (classes == 0 || len(names) == classes) {
			p.names = names
		}
	}
	if p.names == nil && len(o.ClassNames) > 0 && (classes == 0 || len(o.ClassNames) == classes) {
		p.names = o.ClassNames
	}
	return p, nil
}

// predictImageOptions derives size, channels and layout from the model
// input and the normalization from the flags or metadata.
func predictImageOptions(in nn.ValueInfo, o *predictOptions, meta map[string]string) (data.ImageOptions, error) {
	if !in.HasShape || len(in.Shape) != 4 {
		return data.ImageOptions{}, fmt.Errorf("input %q has shape %s, not an image batch [N,C,H,W] or [N,H,W,C]", in.Name, in.ShapeString())
	}
	switch in.DType {
	case nn.Float32, nn.Float16, nn.BFloat16, nn.Float64, nn.Undefined:
	default:
		return data.ImageOptions{}, fmt.Errorf("input %q has element type %v; predict feeds float images", in.Name, in.DType)
	}
	shape := make([]int, 4)
	for i, d := range in.Shape {
		if d.Param == "" && d.Value > 0 {
			shape[i] = d.Value
		}
	}
	h, w, _ := predictParseSize(o.Size)
	if h > 0 {
		// --size fills a dynamic image size; a fixed one must agree.
		isC := func(d int) bool { return d == 1 || d == 3 }
		hi, wi := -1, -1
		switch {
		case isC(shape[1]):
			hi, wi = 2, 3
		case isC(shape[3]):
			hi, wi = 1, 2
		}
		if hi >= 0 {
			for _, d := range [][2]int{{hi, h}, {wi, w}} {
				if shape[d[0]] != 0 && shape[d[0]] != d[1] {
					return data.ImageOptions{}, fmt.Errorf("--size %s: input %q has the fixed shape %s", o.Size, in.Name, in.ShapeString())
				}
				shape[d[0]] = d[1]
			}
		}
	}
	img, err := data.ImageOptionsFor(shape)
	if err != nil {
		if h == 0 && shape[1]*shape[2]*shape[3] == 0 {
			return img, fmt.Errorf("input %q has shape %s with a dynamic image size: give --size HxW", in.Name, in.ShapeString())
		}
		return img, fmt.Errorf("input %q: %w", in.Name, err)
	}
	switch {
	case o.Norm != "":
		img.Norm, err = data.ParseNorm(o.Norm)
	case meta["graft.norm"] != "":
		if img.Norm, err = data.ParseNorm(meta["graft.norm"]); err != nil {
			err = fmt.Errorf("graft.norm metadata: %w", err)
		}
	case meta["graft.preprocess"] != "":
		if img.Norm, err = data.ParsePreprocess(meta["graft.preprocess"]); err != nil {
			err = fmt.Errorf("graft.preprocess metadata %q: %w", meta["graft.preprocess"], err)
		}
	default:
		img.Norm = data.NormUnit()
	}
	if err != nil {
		return img, err
	}
	if img.Resize, err = data.ParseResize(o.Resize); err != nil {
		return img, err
	}
	if img.Resize == data.ResizeDefault {
		img.Resize = data.ResizeDirect
	}
	return img, nil
}

// predictFinalOp reports whether the first output comes from a Softmax or
// LogSoftmax (possibly followed by shape-only ops), or "" for logits.
func predictFinalOp(g *nn.Graph) string {
	prod := g.Producers()
	cur := g.Outputs[0].Name
	for range 16 {
		n := prod[cur]
		if n == nil {
			return ""
		}
		switch n.OpType {
		case "Softmax", "LogSoftmax":
			return n.OpType
		case "Flatten", "Reshape", "Squeeze", "Identity", "Dropout":
			cur = n.Input(0)
		default:
			return ""
		}
	}
	return ""
}

// predict returns the class probabilities of each file.
func (p *predictor) predict(ctx context.Context, files []string) ([][]float64, error) {
	x, err := data.LoadImages(files, p.img)
	if err != nil {
		return nil, err
	}
	n := len(files)
	if p.fixedN > n {
		// A model with a fixed batch: pad with copies of the last image.
		per := x.Len() / n
		full := nn.New(nn.Float32, append([]int{p.fixedN}, x.Shape[1:]...)...)
		copy(full.F32, x.F32)
		for i := n; i < p.fixedN; i++ {
			copy(full.F32[i*per:], x.F32[(n-1)*per:n*per])
		}
		x = full
	}
	x = predictCast(x, p.input.DType)
	out, err := p.run(ctx, x)
	if err != nil && len(files) > 1 && p.g.FixedBatch == 1 {
		// A batch-1 model whose graph does not follow the batch: one by one.
		out = nil
		per := x.Len() / len(files)
		for i := range files {
			xi := predictSlice(x, i*per, per)
			oi, err := p.run(ctx, xi)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", files[i], err)
			}
			out = append(out, oi...)
		}
	} else if err != nil {
		return nil, err
	}
	return out[:n], nil
}

// predictSlice returns sample i of a batch as a batch of one.
func predictSlice(x *nn.Tensor, off, n int) *nn.Tensor {
	shape := append([]int{1}, x.Shape[1:]...)
	t := &nn.Tensor{DType: x.DType, Shape: shape}
	if x.F64 != nil {
		t.F64 = x.F64[off : off+n]
	} else {
		t.F32 = x.F32[off : off+n]
	}
	return t
}

// predictCast converts a float32 batch to the model's input type.
func predictCast(x *nn.Tensor, dt nn.DType) *nn.Tensor {
	switch dt {
	case nn.Float16, nn.BFloat16:
		x.DType = dt
		x.RoundToDType()
	case nn.Float64:
		t := nn.New(nn.Float64, x.Shape...)
		for i, v := range x.F32 {
			t.F64[i] = float64(v)
		}
		return t
	}
	return x
}

// run runs one batch and returns a probability row per sample.
func (p *predictor) run(ctx context.Context, x *nn.Tensor) ([][]float64, error) {
	out, err := p.g.Run(nn.NewContext(ctx), map[string]*nn.Tensor{p.input.Name: x})
	if err != nil {
		return nil, err
	}
	y := out[p.g.Outputs[0].Name]
	n := x.Shape[0]
	if y == nil || len(y.Shape) == 0 || y.Shape[0] != n || y.Len() == 0 || !y.DType.IsFloat() {
		return nil, fmt.Errorf("output %q: shape %v is not one row of class scores per image (batch %d)", p.g.Outputs[0].Name, y.Shape, n)
	}
	c := y.Len() / n
	if p.names != nil && len(p.names) != c {
		if p.labelsFile != "" {
			return nil, fmt.Errorf("labels file %s has %d names, the model predicts %d classes", p.labelsFile, len(p.names), c)
		}
		p.names = nil // metadata that does not fit: show indices
	}
	rows := make([][]float64, n)
	for i := range n {
		r := make([]float64, c)
		for j := range c {
			r[j] = y.Float64At(i*c + j)
		}
		switch p.final {
		case "Softmax":
		case "LogSoftmax":
			for j, v := range r {
				r[j] = math.Exp(v)
			}
		default:
			predictSoftmax(r)
		}
		rows[i] = r
	}
	return rows, nil
}

// predictSoftmax replaces logits by their softmax.
func predictSoftmax(r []float64) {
	m := math.Inf(-1)
	for _, v := range r {
		m = max(m, v)
	}
	var s float64
	for j, v := range r {
		r[j] = math.Exp(v - m)
		s += r[j]
	}
	for j := range r {
		r[j] /= s
	}
}

// top returns the k most likely classes, ties by index.
func (p *predictor) top(probs []float64, k int) []classPrediction {
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(probs[b], probs[a]) })
	k = min(k, len(idx))
	out := make([]classPrediction, k)
	for r, i := range idx[:k] {
		name := strconv.Itoa(i)
		if i < len(p.names) {
			name = p.names[i]
		}
		out[r] = classPrediction{Class: name, Index: i, Probability: probs[i]}
	}
	return out
}

// predictModelMeta returns a model's metadata_props as a map (for tests
// and callers holding a decoded model).
func predictModelMeta(m *onnxpb.ModelProto) map[string]string {
	meta := map[string]string{}
	for _, kv := range m.GetMetadataProps() {
		meta[kv.GetKey()] = kv.GetValue()
	}
	return meta
}
