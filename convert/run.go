package convert

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/graftml/graft/onnx"
)

// Tolerances of the verification, on the largest absolute difference of
// an output relative to the largest magnitude of the reference output.
const (
	// TolExact bounds passes that only reorder float32 arithmetic.
	TolExact = 1e-5
	// TolFP16 bounds float16 weights (about 2⁻¹¹ relative rounding per
	// weight, accumulated through the layers).
	TolFP16 = 1e-2
)

// FileOptions configure ConvertFile.
type FileOptions struct {
	Options
	// Samples is the number of seeded random input batches to verify with
	// (default 3).
	Samples int
	// Seed seeds the inputs (default 1).
	Seed int64
	// NoORT skips the onnxruntime check even when it is available.
	NoORT bool
}

// Report describes one conversion.
type Report struct {
	Input       string        `json:"input"`
	Output      string        `json:"output"`
	NodesBefore int           `json:"nodes_before"`
	NodesAfter  int           `json:"nodes_after"`
	BytesBefore int64         `json:"bytes_before"`
	BytesAfter  int64         `json:"bytes_after"`
	Passes      []Stats       `json:"passes"`
	Samples     int           `json:"samples"`
	Tolerance   float64       `json:"tolerance"`
	Errors      []OutputError `json:"errors"`
	// ORTErrors compare onnxruntime on the written file with graft on the
	// original; ORT says why they are missing.
	ORTErrors []OutputError `json:"ort_errors,omitempty"`
	ORT       string        `json:"ort"`
	OK        bool          `json:"ok"`
}

// ConvertFile reads the model at in, applies the selected passes, writes
// out, and verifies out (re-imported by graft, and in onnxruntime when it
// is available) against the original on seeded random inputs. When an
// output differs beyond the tolerance the written file is removed and an
// error returned with the report.
func ConvertFile(in, out string, o FileOptions) (*Report, error) {
	if o.Samples <= 0 {
		o.Samples = 3
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	r := &Report{Input: in, Output: out, Samples: o.Samples, Tolerance: TolExact}
	if !o.Exact() {
		r.Tolerance = TolFP16
	}
	if a, b := filepath.Clean(in), filepath.Clean(out); a == b {
		return nil, fmt.Errorf("output %s is the input model; write to another file", out)
	}
	if si, err := os.Stat(in); err == nil {
		if so, err := os.Stat(out); err == nil && os.SameFile(si, so) {
			return nil, fmt.Errorf("output %s is the input model; write to another file", out)
		}
	}
	m, err := onnx.Load(in)
	if err != nil {
		return nil, err
	}
	r.NodesBefore = len(m.GetGraph().GetNode())
	if st, err := os.Stat(in); err == nil {
		r.BytesBefore = st.Size()
	}
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
	if err := Write(m, g, out); err != nil {
		return nil, fmt.Errorf("writing %s: %w", out, err)
	}
	fail := func(err error) (*Report, error) {
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
	if r.Errors, err = Compare(ref, conv, o.Samples, o.Seed); err != nil {
		return fail(fmt.Errorf("verifying %s: %w", out, err))
	}
	switch err := ORTAvailable(); {
	case o.NoORT:
		r.ORT = "skipped"
	case err != nil:
		r.ORT = "unavailable: " + err.Error()
	default:
		if r.ORTErrors, err = CompareRunner(ref, ORTRunner, out, o.Samples, o.Seed); err != nil {
			if !o.FP16IO {
				r.ORT = "failed"
				return fail(fmt.Errorf("verifying %s in onnxruntime: %w", out, err))
			}
			// The onnxruntime binding cannot return float16 outputs of
			// dynamic shape.
			r.ORT = "not checked: " + err.Error()
			break
		}
		r.ORT = "checked"
	}
	for _, set := range [][]OutputError{r.Errors, r.ORTErrors} {
		for _, e := range set {
			if !(e.MaxRel <= r.Tolerance) {
				return fail(fmt.Errorf("output %q differs from the original by %.3g relative (max abs %.3g), above the tolerance %g; %s not written",
					e.Name, e.MaxRel, e.MaxAbs, r.Tolerance, out))
			}
		}
	}
	r.OK = true
	return r, nil
}
