package convert

import (
	"fmt"
	"math"
	"math/rand"
	"sort"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// OutputError is the largest difference of one graph output between the
// converted and the original model over every verification sample.
type OutputError struct {
	Name string `json:"name"`
	// MaxAbs is the largest absolute difference.
	MaxAbs float64 `json:"max_abs"`
	// MaxRel is MaxAbs relative to the largest reference magnitude of the
	// same sample (element-wise relative errors explode near zero).
	MaxRel float64 `json:"max_rel"`
}

// RandomInputs returns seeded inputs following g's input declarations:
// standard normal floats, integers in [0, 20), random booleans; symbolic
// dimensions (and a fixed batch of 1) take the given batch, other unknown
// dimensions 1.
func RandomInputs(g *nn.Graph, batch int, seed int64) (map[string]*nn.Tensor, error) {
	feed, err := onnx.ZeroInputs(g, batch)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewSource(seed))
	names := make([]string, 0, len(feed))
	for n := range feed {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		x := feed[n]
		switch x.DType.Storage() {
		case nn.StoreF32:
			for i := range x.F32 {
				x.F32[i] = float32(rng.NormFloat64())
			}
			x.RoundToDType()
		case nn.StoreF64:
			for i := range x.F64 {
				x.F64[i] = rng.NormFloat64()
			}
		case nn.StoreI64:
			for i := range x.I64 {
				x.I64[i] = rng.Int63n(20)
			}
		case nn.StoreBool:
			for i := range x.Bool {
				x.Bool[i] = rng.Intn(2) == 1
			}
		default:
			return nil, fmt.Errorf("input %q: %v inputs cannot be generated", n, x.DType)
		}
	}
	return feed, nil
}

// castInputs converts the float inputs of feed to the element types g
// declares (a model converted with float16 inputs and outputs).
func castInputs(g *nn.Graph, feed map[string]*nn.Tensor) map[string]*nn.Tensor {
	out := make(map[string]*nn.Tensor, len(feed))
	for _, in := range g.Inputs {
		t := feed[in.Name]
		if t != nil && in.DType != nn.Undefined && in.DType != t.DType && in.DType.IsFloat() && t.DType.IsFloat() {
			c := nn.New(in.DType, t.Shape...)
			for i := 0; i < t.Len(); i++ {
				v := t.Float64At(i)
				if c.DType == nn.Float64 {
					c.F64[i] = v
				} else {
					c.F32[i] = float32(v)
				}
			}
			c.RoundToDType()
			t = c
		}
		out[in.Name] = t
	}
	return out
}

// Runner runs a model file on inputs; Verify uses it for onnxruntime.
type Runner func(path string, feed map[string]*nn.Tensor) (map[string]*nn.Tensor, error)

// Compare runs want and got on samples seeded inputs (batch 2) and
// returns the error of every output of want. got may declare float16
// inputs and outputs where want has float32 (they are converted).
func Compare(want, got *nn.Graph, samples int, seed int64) ([]OutputError, error) {
	return compareWith(want, func(feed map[string]*nn.Tensor) (map[string]*nn.Tensor, error) {
		return got.Run(nil, castInputs(got, feed))
	}, samples, seed)
}

// CompareRunner is Compare with the converted model run by r (onnxruntime)
// from its file.
func CompareRunner(want *nn.Graph, r Runner, path string, samples int, seed int64) ([]OutputError, error) {
	conv, err := onnx.LoadGraph(path)
	if err != nil {
		return nil, err
	}
	return compareWith(want, func(feed map[string]*nn.Tensor) (map[string]*nn.Tensor, error) {
		return r(path, castInputs(conv, feed))
	}, samples, seed)
}

func compareWith(want *nn.Graph, run func(map[string]*nn.Tensor) (map[string]*nn.Tensor, error), samples int, seed int64) ([]OutputError, error) {
	if samples < 1 {
		samples = 1
	}
	errs := make([]OutputError, len(want.Outputs))
	for i, o := range want.Outputs {
		errs[i].Name = o.Name
	}
	for s := 0; s < samples; s++ {
		feed, err := RandomInputs(want, 2, seed+int64(s))
		if err != nil {
			return nil, err
		}
		ref, err := want.Run(nil, feed)
		if err != nil {
			return nil, fmt.Errorf("original model: %w", err)
		}
		out, err := run(feed)
		if err != nil {
			return nil, fmt.Errorf("converted model: %w", err)
		}
		for i, o := range want.Outputs {
			a, b := out[o.Name], ref[o.Name]
			if a == nil {
				return nil, fmt.Errorf("converted model: output %q missing", o.Name)
			}
			if !nn.SameShape(a.Shape, b.Shape) {
				return nil, fmt.Errorf("output %q: shape %s, want %s", o.Name, nn.ShapeString(a.Shape), nn.ShapeString(b.Shape))
			}
			if a.DType.IsFloat() != b.DType.IsFloat() {
				return nil, fmt.Errorf("output %q: element type %v, want %v", o.Name, a.DType, b.DType)
			}
			var maxAbs, maxRef float64
			for k := 0; k < b.Len(); k++ {
				x, y := a.Float64At(k), b.Float64At(k)
				if math.IsNaN(x) != math.IsNaN(y) {
					maxAbs = math.Inf(1)
				}
				if d := math.Abs(x - y); d > maxAbs {
					maxAbs = d
				}
				if m := math.Abs(y); m > maxRef {
					maxRef = m
				}
			}
			rel := 0.0
			if maxRef > 0 {
				rel = maxAbs / maxRef
			} else if maxAbs > 0 {
				rel = math.Inf(1)
			}
			errs[i].MaxAbs = math.Max(errs[i].MaxAbs, maxAbs)
			errs[i].MaxRel = math.Max(errs[i].MaxRel, rel)
		}
	}
	return errs, nil
}
