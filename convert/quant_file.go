package convert

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// Tolerances of int8 models, on the largest absolute output difference
// relative to the largest reference magnitude.
const (
	// TolInt8 bounds the quantized model against the float original: a
	// sanity bound (quantization changes the outputs by design; accuracy
	// on labelled data is the real measure).
	TolInt8 = 0.1
	// TolInt8ORT bounds onnxruntime against graft on the same quantized
	// file: graft follows the ONNX definition (float arithmetic between
	// QuantizeLinear and DequantizeLinear), onnxruntime fuses the pairs
	// into integer kernels whose rounding differs by a quantization step
	// here and there.
	TolInt8ORT = 0.02
	// TolInt8DynamicORT bounds onnxruntime against graft on a dynamically
	// quantized file: the integer products are exact, only the float
	// scaling may round differently.
	TolInt8DynamicORT = 1e-4
)

// Quantization modes of QuantizeFile.
const (
	ModeDynamic = "dynamic"
	ModeStatic  = "static"
)

// QuantFileOptions configure QuantizeFile.
type QuantFileOptions struct {
	// Options selects exact passes run before quantization (All() folds
	// batch norms, which static quantization wants); float16 passes are
	// refused.
	Options
	// Mode is ModeDynamic or ModeStatic.
	Mode    string
	Dynamic DynamicOptions
	Static  StaticOptions
	// Calib is the calibration data (static; optional for dynamic, where
	// it only provides the verification inputs).
	Calib Dataset
	// Samples is the number of verification batches (default 3), Seed
	// their seed (default 1); with data, batches of 16 samples not used
	// for calibration, else seeded random inputs.
	Samples int
	Seed    int64
	// NoORT skips onnxruntime.
	NoORT bool
}

// QuantReport describes one quantization. The embedded Report compares
// the written file with the float original: Errors in graft, ORTErrors in
// onnxruntime.
type QuantReport struct {
	Report
	Mode string `json:"mode"`
	// Inputs says where the verification inputs come from ("data" or
	// "random").
	Inputs string `json:"inputs"`
	// ORTvsGraft compares onnxruntime with graft, both running the
	// written file; ORTTolerance bounds it.
	ORTvsGraft   []OutputError `json:"ort_vs_graft,omitempty"`
	ORTTolerance float64       `json:"ort_tolerance"`
	// ArgmaxAgreement is the fraction of verification rows (of the first
	// output) where the quantized model picks the same class as the float
	// one in graft.
	ArgmaxAgreement float64 `json:"argmax_agreement"`
}

// QuantizeFile reads the model at in, applies the selected exact passes
// and the int8 quantization, writes out and verifies it: graft on the
// written file against the original (TolInt8), and onnxruntime against
// graft on the written file (TolInt8ORT). On failure the file is removed
// and the report returned with the error.
func QuantizeFile(in, out string, o QuantFileOptions) (*QuantReport, error) {
	if o.Samples <= 0 {
		o.Samples = 3
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.FP16 || o.FP16Weights {
		return nil, fmt.Errorf("int8 quantization and float16 exclude each other")
	}
	if o.Mode != ModeDynamic && o.Mode != ModeStatic {
		return nil, fmt.Errorf("quantization mode %q (want %s or %s)", o.Mode, ModeDynamic, ModeStatic)
	}
	if o.Mode == ModeStatic && o.Calib == nil {
		return nil, fmt.Errorf("static quantization needs calibration data")
	}
	r := &QuantReport{Report: Report{Input: in, Output: out, Samples: o.Samples, Tolerance: TolInt8}, Mode: o.Mode, ORTTolerance: TolInt8ORT}
	if a, b := filepath.Clean(in), filepath.Clean(out); a == b {
		return nil, fmt.Errorf("output %s is the input model; write to another file", out)
	}
	if si, err := os.Stat(in); err == nil {
		if so, err := os.Stat(out); err == nil && os.SameFile(si, so) {
			return nil, fmt.Errorf("output %s is the input model; write to another file", out)
		}
		r.BytesBefore = si.Size()
	}
	m, err := onnx.Load(in)
	if err != nil {
		return nil, err
	}
	r.NodesBefore = len(m.GetGraph().GetNode())
	ref, err := onnx.Import(m, onnx.ImportOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	g, err := onnx.Import(m, onnx.ImportOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	if r.Passes, err = Apply(g, o.Options); err != nil {
		return nil, err
	}
	var st Stats
	if o.Mode == ModeDynamic {
		st, err = QuantizeDynamicWith(g, o.Dynamic)
	} else {
		st, err = QuantizeStatic(g, o.Calib, o.Static)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", st.Pass, err)
	}
	r.Passes = append(r.Passes, st)
	if st.Changed == 0 {
		return r, fmt.Errorf("%s: nothing to quantize in %s", st.Pass, in)
	}
	// Transposes of replaced weights are dead now.
	if dead, err := EliminateDead(g); err != nil {
		return nil, err
	} else if dead.Changed > 0 {
		dead.Pass = "eliminate-dead (after quantization)"
		r.Passes = append(r.Passes, dead)
	}
	if r.Mode == ModeDynamic {
		r.ORTTolerance = TolInt8DynamicORT
	}
	if err := Write(m, g, out); err != nil {
		return nil, fmt.Errorf("writing %s: %w", out, err)
	}
	fail := func(err error) (*QuantReport, error) {
		os.Remove(out)
		return r, err
	}
	wm, err := onnx.Load(out)
	if err != nil {
		return fail(fmt.Errorf("reading back %s: %w", out, err))
	}
	r.NodesAfter = len(wm.GetGraph().GetNode())
	if st, err := os.Stat(out); err == nil {
		r.BytesAfter = st.Size()
	}
	conv, err := onnx.Import(wm, onnx.ImportOptions{})
	if err != nil {
		return fail(fmt.Errorf("re-importing %s: %w", out, err))
	}
	feeds, err := qntFeeds(ref, o)
	if err != nil {
		return fail(err)
	}
	if o.Calib != nil {
		r.Inputs = "data"
	} else {
		r.Inputs = "random"
	}
	graftRun := func(g *nn.Graph) func(map[string]*nn.Tensor) (map[string]*nn.Tensor, error) {
		return func(f map[string]*nn.Tensor) (map[string]*nn.Tensor, error) { return g.Run(nil, f) }
	}
	names := make([]string, len(ref.Outputs))
	for i, o := range ref.Outputs {
		names[i] = o.Name
	}
	var agree float64
	if r.Errors, agree, err = CompareFeeds(names, graftRun(ref), graftRun(conv), feeds); err != nil {
		return fail(fmt.Errorf("verifying %s: %w", out, err))
	}
	r.ArgmaxAgreement = agree
	ortRun := func(f map[string]*nn.Tensor) (map[string]*nn.Tensor, error) { return ORTRunner(out, f) }
	switch err := ORTAvailable(); {
	case o.NoORT:
		r.ORT = "skipped"
	case err != nil:
		r.ORT = "unavailable: " + err.Error()
	default:
		if r.ORTErrors, _, err = CompareFeeds(names, graftRun(ref), ortRun, feeds); err == nil {
			r.ORTvsGraft, _, err = CompareFeeds(names, graftRun(conv), ortRun, feeds)
		}
		if err != nil {
			r.ORT = "failed"
			return fail(fmt.Errorf("verifying %s in onnxruntime: %w", out, err))
		}
		r.ORT = "checked"
	}
	for _, set := range [][]OutputError{r.Errors, r.ORTErrors} {
		for _, e := range set {
			if !(e.MaxRel <= r.Tolerance) {
				return fail(fmt.Errorf("output %q differs from the float original by %.3g relative (max abs %.3g), above the tolerance %g; %s not written",
					e.Name, e.MaxRel, e.MaxAbs, r.Tolerance, out))
			}
		}
	}
	for _, e := range r.ORTvsGraft {
		if !(e.MaxRel <= r.ORTTolerance) {
			return fail(fmt.Errorf("output %q: onnxruntime and graft differ by %.3g relative (max abs %.3g) on the quantized model, above %g; %s not written",
				e.Name, e.MaxRel, e.MaxAbs, r.ORTTolerance, out))
		}
	}
	r.OK = true
	return r, nil
}

// qntFeeds returns the verification inputs: batches of 16 data samples
// in a seeded order of their own (independent of the calibration choice,
// so they may overlap it), or seeded random inputs of batch 2.
func qntFeeds(g *nn.Graph, o QuantFileOptions) ([]map[string]*nn.Tensor, error) {
	var feeds []map[string]*nn.Tensor
	if o.Calib == nil {
		for s := 0; s < o.Samples; s++ {
			f, err := RandomInputs(g, 2, o.Seed+int64(s))
			if err != nil {
				return nil, err
			}
			feeds = append(feeds, f)
		}
		return feeds, nil
	}
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("verification on data needs a model with one input")
	}
	perm := rand.New(rand.NewSource(o.Seed + 7919)).Perm(o.Calib.Len())
	for s := 0; s < o.Samples; s++ {
		lo := (s * 16) % len(perm)
		idx := append([]int{}, perm[lo:min(lo+16, len(perm))]...)
		sort.Ints(idx)
		x, err := StackSamples(o.Calib, idx)
		if err != nil {
			return nil, fmt.Errorf("verification data: %w", err)
		}
		feeds = append(feeds, map[string]*nn.Tensor{g.Inputs[0].Name: x})
	}
	return feeds, nil
}

// CompareFeeds runs want and got on every feed and returns the largest
// error of each named output (relative to the largest magnitude of want's
// output on the same feed) and the fraction of rows of the first output
// whose argmax agrees.
func CompareFeeds(outputs []string, want, got func(map[string]*nn.Tensor) (map[string]*nn.Tensor, error), feeds []map[string]*nn.Tensor) ([]OutputError, float64, error) {
	errs := make([]OutputError, len(outputs))
	for i, name := range outputs {
		errs[i].Name = name
	}
	rows, same := 0, 0
	for _, feed := range feeds {
		a, err := want(feed)
		if err != nil {
			return nil, 0, fmt.Errorf("reference: %w", err)
		}
		b, err := got(feed)
		if err != nil {
			return nil, 0, fmt.Errorf("quantized model: %w", err)
		}
		for i, name := range outputs {
			x, y := b[name], a[name]
			if x == nil || y == nil {
				return nil, 0, fmt.Errorf("output %q missing", name)
			}
			if !nn.SameShape(x.Shape, y.Shape) {
				return nil, 0, fmt.Errorf("output %q: shape %s, want %s", name, nn.ShapeString(x.Shape), nn.ShapeString(y.Shape))
			}
			var maxAbs, maxRef float64
			for k := 0; k < y.Len(); k++ {
				u, v := x.Float64At(k), y.Float64At(k)
				d := math.Abs(u - v)
				if math.IsNaN(u) != math.IsNaN(v) {
					d = math.Inf(1)
				}
				maxAbs = max(maxAbs, d)
				maxRef = max(maxRef, math.Abs(v))
			}
			rel := 0.0
			if maxRef > 0 {
				rel = maxAbs / maxRef
			} else if maxAbs > 0 {
				rel = math.Inf(1)
			}
			errs[i].MaxAbs = max(errs[i].MaxAbs, maxAbs)
			errs[i].MaxRel = max(errs[i].MaxRel, rel)
			if i == 0 && y.Rank() == 2 && y.Shape[1] > 1 {
				c := y.Shape[1]
				for row := 0; row < y.Shape[0]; row++ {
					rows++
					if qntArgmax(x, row*c, c) == qntArgmax(y, row*c, c) {
						same++
					}
				}
			}
		}
	}
	agree := 1.0
	if rows > 0 {
		agree = float64(same) / float64(rows)
	}
	return errs, agree, nil
}

func qntArgmax(t *nn.Tensor, off, n int) int {
	best := 0
	for j := 1; j < n; j++ {
		if t.Float64At(off+j) > t.Float64At(off+best) {
			best = j
		}
	}
	return best
}
