package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/spf13/cobra"
)

// Default tolerances of verification: an element passes when
// |a-b| <= atol + rtol*|b|.
const (
	verifyRTol = 1e-5
	verifyATol = 1e-6
)

type verifyOptions struct {
	A, B    string
	Against string
	Data    string
	Norm    string
	Samples int
	Seed    int64
	RTol    float64
	ATol    float64
	JSON    bool
}

func newVerifyCmd() *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify A.onnx B.onnx | verify MODEL --against onnxruntime",
		Short: "Compare two models (or graft and onnxruntime) on the same inputs",
		Long: `verify runs two models on the same inputs and prints, per output, the largest
absolute and relative difference. Inputs are seeded random values within each
input's declared type and shape (symbolic batch dimensions become --samples),
or the first --samples items of --data. With --against onnxruntime the one
model runs in graft and in onnxruntime (the shared library must be installed;
see internal/ortref). Exit status 1 when an output differs beyond the
tolerance (|a-b| <= atol + rtol*|b|).`,
		Example: `  graft verify tuned.onnx tuned-external.onnx
  graft verify tuned.onnx --against onnxruntime --data photos/ --samples 16 --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError{errors.New(cmd.CommandPath() + ": expected two models, or one model with --against onnxruntime (see --help)")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.A = args[0]
			if len(args) == 2 {
				o.B = args[1]
			}
			switch {
			case o.Against != "" && o.Against != "onnxruntime":
				return usageError{fmt.Errorf("--against %q: only onnxruntime is supported", o.Against)}
			case o.Against != "" && o.B != "":
				return usageError{errors.New("give either two models or one model with --against onnxruntime")}
			case o.Against == "" && o.B == "":
				return usageError{errors.New("give a second model, or --against onnxruntime")}
			case o.Samples < 1:
				return usageError{fmt.Errorf("--samples %d: must be at least 1", o.Samples)}
			}
			return runVerify(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Against, "against", "", "compare graft with this runtime (onnxruntime)")
	addVerifyFlags(f, &o.Data, &o.Norm, &o.Samples, &o.Seed)
	f.Float64Var(&o.RTol, "rtol", verifyRTol, "relative tolerance")
	f.Float64Var(&o.ATol, "atol", verifyATol, "absolute tolerance")
	f.BoolVar(&o.JSON, "json", false, "print the comparison as JSON")
	return cmd
}

type verifyFlagSet interface {
	StringVar(p *string, name, value, usage string)
	IntVar(p *int, name string, value int, usage string)
	Int64Var(p *int64, name string, value int64, usage string)
}

// addVerifyFlags declares the sample flags shared by verify, export and
// import-weights.
func addVerifyFlags(f verifyFlagSet, dataSpec, norm *string, samples *int, seed *int64) {
	f.StringVar(dataSpec, "data", "", "check on the first --samples items of this data (image folder, IDX folder, X.npy,y.npy, fashion-mnist:train|test) instead of random inputs")
	f.StringVar(norm, "norm", "", `normalization of --data images (default: the model's "graft.norm"/"graft.preprocess" metadata, else unit)`)
	f.IntVar(samples, "samples", 4, "number of sample inputs")
	f.Int64Var(seed, "seed", 1, "seed of the random inputs")
}

// verifyRunner runs one side of a comparison.
type verifyRunner struct {
	label string
	run   func(ctx context.Context, feed map[string]*nn.Tensor) (map[string]*nn.Tensor, error)
	// batchable is false when the side only accepts the declared fixed
	// leading dimension.
	batchable bool
	close     func()
}

func verifyGraphRunner(label string, g *nn.Graph) verifyRunner {
	return verifyRunner{
		label: label,
		run: func(ctx context.Context, feed map[string]*nn.Tensor) (map[string]*nn.Tensor, error) {
			return g.Run(nn.NewContext(ctx), feed)
		},
		batchable: verifyLeadingFree(g),
	}
}

// verifyLeadingFree reports whether every input of g takes any leading (batch)
// dimension.
func verifyLeadingFree(g *nn.Graph) bool {
	for _, in := range g.Inputs {
		if !in.HasShape || len(in.Shape) == 0 {
			return false
		}
		d := in.Shape[0]
		if d.Param == "" && d.Value >= 0 && !(g.FixedBatch == 1 && d.Value == 1) {
			return false
		}
	}
	return len(g.Inputs) > 0
}

// verifyDiff is the comparison of one output over all samples.
type verifyDiff struct {
	Output     string  `json:"output"`
	DType      string  `json:"dtype"`
	Shape      []int   `json:"shape"`
	MaxAbs     float64 `json:"max_abs"`
	MaxRel     float64 `json:"max_rel"`
	Mismatched int     `json:"mismatched"`
	OK         bool    `json:"ok"`
	Error      string  `json:"error,omitempty"`
}

// verifyReport is what a comparison found.
type verifyReport struct {
	A       string       `json:"a"`
	B       string       `json:"b"`
	Inputs  string       `json:"inputs"`
	Samples int          `json:"samples"`
	Runs    int          `json:"runs"`
	RTol    float64      `json:"rtol"`
	ATol    float64      `json:"atol"`
	Outputs []verifyDiff `json:"outputs"`
	OK      bool         `json:"ok"`
}

// verifySamples says which inputs a comparison feeds.
type verifySamples struct {
	Data    string
	Norm    string
	Samples int
	Seed    int64
}

// verifyCompare feeds the same samples to a and b and compares every
// output of g (the graph describing the model's interface) by name.
func verifyCompare(ctx context.Context, g *nn.Graph, meta map[string]string, a, b verifyRunner, s verifySamples, rtol, atol float64) (*verifyReport, error) {
	if s.Samples < 1 {
		s.Samples = 1
	}
	feeds, what, err := verifyFeeds(g, meta, s, a.batchable && b.batchable)
	if err != nil {
		return nil, err
	}
	r := &verifyReport{A: a.label, B: b.label, Inputs: what, Samples: s.Samples, Runs: len(feeds), RTol: rtol, ATol: atol, OK: true}
	diffs := make([]verifyDiff, len(g.Outputs))
	for i, o := range g.Outputs {
		diffs[i] = verifyDiff{Output: o.Name, DType: o.DType.String(), OK: true}
	}
	for _, feed := range feeds {
		ra, err := a.run(ctx, feed)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.label, err)
		}
		rb, err := b.run(ctx, feed)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.label, err)
		}
		for i, o := range g.Outputs {
			d := &diffs[i]
			if d.Error != "" {
				continue
			}
			ta, tb := ra[o.Name], rb[o.Name]
			if ta == nil || tb == nil {
				missing := a.label
				if ta != nil {
					missing = b.label
				}
				d.Error, d.OK = missing+" has no output "+o.Name, false
				continue
			}
			d.DType = ta.DType.String()
			if len(feeds) == 1 {
				d.Shape = ta.Shape
			} else if d.Shape == nil {
				d.Shape = append([]int{len(feeds)}, ta.Shape...)
			}
			c, err := nn.Compare(ta, tb, rtol, atol)
			if err != nil {
				d.Error, d.OK = err.Error(), false
				continue
			}
			d.MaxAbs, d.MaxRel = max(d.MaxAbs, c.MaxAbs), max(d.MaxRel, c.MaxRel)
			d.Mismatched += c.Bad
			if c.Bad > 0 {
				d.OK = false
			}
		}
	}
	for _, d := range diffs {
		r.OK = r.OK && d.OK
	}
	r.Outputs = diffs
	return r, nil
}

// failure describes the first failing output, or "".
func (r *verifyReport) failure() string {
	for _, d := range r.Outputs {
		switch {
		case d.Error != "":
			return fmt.Sprintf("output %q: %s", d.Output, d.Error)
		case !d.OK:
			return fmt.Sprintf("output %q differs: %d element(s) beyond rtol %g / atol %g (max abs %.3g, max rel %.3g)",
				d.Output, d.Mismatched, r.RTol, r.ATol, d.MaxAbs, d.MaxRel)
		}
	}
	return ""
}

// writeTable prints the report as an aligned table.
func (r *verifyReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "%s vs %s on %s\n", r.A, r.B, r.Inputs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTPUT\tTYPE\tSHAPE\tMAX ABS ERR\tMAX REL ERR\tRESULT")
	for _, d := range r.Outputs {
		res := "ok"
		switch {
		case d.Error != "":
			res = "FAIL: " + d.Error
		case !d.OK:
			res = fmt.Sprintf("FAIL: %d element(s) beyond rtol %g / atol %g", d.Mismatched, r.RTol, r.ATol)
		}
		shape := "-"
		if d.Shape != nil {
			shape = nn.ShapeString(d.Shape)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3g\t%.3g\t%s\n", d.Output, d.DType, shape, d.MaxAbs, d.MaxRel, res)
	}
	tw.Flush()
}

// verifyFeeds makes the inputs of a comparison: one batch of s.Samples
// items when both sides take any batch size, else s.Samples runs at the
// declared leading dimension.
func verifyFeeds(g *nn.Graph, meta map[string]string, s verifySamples, batchable bool) ([]map[string]*nn.Tensor, string, error) {
	if s.Data != "" {
		return verifyDataFeeds(g, meta, s, batchable)
	}
	names := make([]string, 0, len(g.Inputs))
	byName := map[string]nn.ValueInfo{}
	for _, in := range g.Inputs {
		if !in.HasShape {
			return nil, "", fmt.Errorf("input %q has no declared shape; give --data", in.Name)
		}
		names = append(names, in.Name)
		byName[in.Name] = in
	}
	sort.Strings(names)
	rng := rand.New(rand.NewSource(s.Seed))
	runs, batch := s.Samples, 1
	if batchable {
		runs, batch = 1, s.Samples
	}
	bounds := verifyIndexBounds(g)
	var feeds []map[string]*nn.Tensor
	for r := 0; r < runs; r++ {
		feed := map[string]*nn.Tensor{}
		for _, name := range names {
			in := byName[name]
			shape := make([]int, len(in.Shape))
			for i, d := range in.Shape {
				switch {
				case i == 0 && batchable:
					shape[i] = batch
				case d.Param == "" && d.Value >= 0:
					shape[i] = d.Value
				default:
					shape[i] = 1
				}
			}
			dt := in.DType
			if dt == nn.Undefined {
				dt = nn.Float32
			}
			if !dt.Supported() {
				return nil, "", fmt.Errorf("input %q: element type %v cannot be generated", name, dt)
			}
			t := nn.New(dt, shape...)
			switch {
			case dt.IsFloat():
				for i := range t.F32 {
					t.F32[i] = float32(rng.NormFloat64())
				}
				for i := range t.F64 {
					t.F64[i] = rng.NormFloat64()
				}
				t.RoundToDType()
			case dt == nn.Bool:
				for i := range t.Bool {
					t.Bool[i] = rng.Intn(2) == 1
				}
			default:
				hi := int64(10)
				if b, ok := bounds[name]; ok && b > 0 {
					hi = b
				}
				for i := range t.I64 {
					t.I64[i] = rng.Int63n(hi)
				}
				if dt.IsUnsigned() || dt == nn.Int8 {
					for i := range t.I64 {
						t.I64[i] %= 100
					}
				}
			}
			feed[name] = t
		}
		feeds = append(feeds, feed)
	}
	return feeds, fmt.Sprintf("%d random sample(s) (seed %d)", s.Samples, s.Seed), nil
}

// verifyIndexBounds finds integer inputs used as Gather indices into a
// parameter (token ids into an embedding) and returns the table size.
func verifyIndexBounds(g *nn.Graph) map[string]int64 {
	out := map[string]int64{}
	for _, n := range g.Nodes {
		if n.OpType != "Gather" || len(n.Inputs) < 2 {
			continue
		}
		p := g.Params[n.Inputs[0]]
		if p == nil || p.Value == nil || len(p.Value.Shape) == 0 {
			continue
		}
		axis := int(n.AttrInt("axis", 0))
		if axis < 0 {
			axis += len(p.Value.Shape)
		}
		if axis >= 0 && axis < len(p.Value.Shape) {
			b := int64(p.Value.Shape[axis])
			if old, ok := out[n.Inputs[1]]; !ok || b < old {
				out[n.Inputs[1]] = b
			}
		}
	}
	return out
}

// verifyDataFeeds reads the first s.Samples items of s.Data as image inputs of
// g's only input.
func verifyDataFeeds(g *nn.Graph, meta map[string]string, s verifySamples, batchable bool) ([]map[string]*nn.Tensor, string, error) {
	if len(g.Inputs) != 1 {
		return nil, "", fmt.Errorf("--data needs a model with one input; this one has %d", len(g.Inputs))
	}
	in := g.Inputs[0]
	img, err := predictImageOptions(in, &predictOptions{Norm: s.Norm}, meta)
	if err != nil {
		return nil, "", err
	}
	var ds data.Dataset
	switch {
	case s.Data == "fashion-mnist:train" || s.Data == "fashion-mnist:test":
		ds, err = data.OpenFashionMNIST("", s.Data == "fashion-mnist:train", data.IDXOptions{ImageOptions: img})
	default:
		ds, _, err = data.Open(s.Data, data.OpenOptions{Image: img})
	}
	if err != nil {
		return nil, "", err
	}
	n := min(s.Samples, ds.Len())
	if n == 0 {
		return nil, "", fmt.Errorf("data %q holds no samples", s.Data)
	}
	var feeds []map[string]*nn.Tensor
	if batchable {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		x, _, err := data.Batch(ds, idx)
		if err != nil {
			return nil, "", err
		}
		feeds = append(feeds, map[string]*nn.Tensor{in.Name: x})
	} else {
		for i := 0; i < n; i++ {
			x, _, err := data.Batch(ds, []int{i})
			if err != nil {
				return nil, "", err
			}
			feeds = append(feeds, map[string]*nn.Tensor{in.Name: x})
		}
	}
	return feeds, fmt.Sprintf("%d sample(s) of %s", n, s.Data), nil
}

// verifyModelMeta returns the metadata_props of a model file as a map (empty
// when the file cannot be read; the caller reports load errors itself).
func verifyModelMeta(path string) map[string]string {
	meta := map[string]string{}
	if m, err := onnx.Load(path); err == nil {
		for _, kv := range m.GetMetadataProps() {
			meta[kv.GetKey()] = kv.GetValue()
		}
	}
	return meta
}

func runVerify(ctx context.Context, o *verifyOptions, w io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ga, err := onnx.LoadGraph(o.A)
	if err != nil {
		return err
	}
	a := verifyGraphRunner("graft "+o.A, ga)
	var b verifyRunner
	if o.Against == "onnxruntime" {
		a.label = "graft"
		if b, err = ortRunner(o.A); err != nil {
			return err
		}
	} else {
		gb, err := onnx.LoadGraph(o.B)
		if err != nil {
			return err
		}
		if err := verifySameInterface(ga, gb); err != nil {
			return fmt.Errorf("%s and %s: %w", o.A, o.B, err)
		}
		a.label = o.A
		b = verifyGraphRunner(o.B, gb)
	}
	if b.close != nil {
		defer b.close()
	}
	s := verifySamples{Data: o.Data, Norm: o.Norm, Samples: o.Samples, Seed: o.Seed}
	r, err := verifyCompare(ctx, ga, verifyModelMeta(o.A), a, b, s, o.RTol, o.ATol)
	if err != nil {
		return err
	}
	if o.JSON {
		if err := json.NewEncoder(w).Encode(r); err != nil {
			return err
		}
	} else {
		r.writeTable(w)
	}
	if f := r.failure(); f != "" {
		return errors.New(f)
	}
	return nil
}

// verifySameInterface checks that two graphs have the same input and output
// names and element types.
func verifySameInterface(a, b *nn.Graph) error {
	names := func(vs []nn.ValueInfo) string {
		s := make([]string, len(vs))
		for i, v := range vs {
			s[i] = v.Name + ":" + v.DType.String()
		}
		sort.Strings(s)
		return strings.Join(s, ", ")
	}
	if x, y := names(a.Inputs), names(b.Inputs); x != y {
		return fmt.Errorf("inputs differ (%s vs %s)", x, y)
	}
	if x, y := names(a.Outputs), names(b.Outputs); x != y {
		return fmt.Errorf("outputs differ (%s vs %s)", x, y)
	}
	return nil
}
