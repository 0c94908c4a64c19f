package onnx_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/owulveryck/onnx-go/backend/testbackend"
	_ "github.com/owulveryck/onnx-go/backend/testbackend/onnx" // registers the conformance cases
	"gorgonia.org/tensor"
)

// TestOnnxGoConformance runs onnx-go's conformance cases (ONNX node tests
// compiled to Go) through graft's decoder, importer and executor.
func TestOnnxGoConformance(t *testing.T) {
	cases := testbackend.GetAllRegisteredTests()
	if len(cases) == 0 {
		t.Fatal("onnx-go registered no conformance cases")
	}
	reg := nn.Standard()
	var pass, fail, unsupported int
	var failed []string
	sort.Slice(cases, func(i, j int) bool { return cases[i]().Title < cases[j]().Title })
	for _, newCase := range cases {
		tc := newCase()
		status, detail := runOnnxGoCase(tc, reg)
		switch status {
		case "pass":
			pass++
		case "unsupported":
			unsupported++
		default:
			fail++
			failed = append(failed, tc.Title)
			t.Logf("%s (%s): %s", tc.Title, tc.OpType, detail)
		}
		if testing.Verbose() && status != "fail" {
			t.Logf("%-60s %s %s", tc.Title, status, detail)
		}
	}
	t.Logf("onnx-go conformance: %d cases: %d passed, %d failed, %d unsupported", len(cases), pass, fail, unsupported)
	fmt.Printf("onnx-go conformance: %d passed, %d failed, %d unsupported\n", pass, fail, unsupported)
	supported := pass + fail
	if supported > 0 && float64(pass) < 0.95*float64(supported) {
		t.Errorf("only %d of %d supported onnx-go cases pass (bar 95%%): %s", pass, supported, strings.Join(failed, " "))
	}
}

func runOnnxGoCase(tc *testbackend.TestCase, reg *nn.Registry) (string, string) {
	m, err := onnx.Decode(tc.ModelB)
	if err != nil {
		return "unsupported", "decode: " + err.Error()
	}
	g, err := onnx.Import(m, onnx.ImportOptions{Registry: reg})
	if err != nil {
		if onnx.IsUnsupported(err) {
			return "unsupported", err.Error()
		}
		return "fail", "import: " + err.Error()
	}
	if len(tc.Input) != len(g.Inputs) {
		return "fail", fmt.Sprintf("%d inputs given, model has %d", len(tc.Input), len(g.Inputs))
	}
	feed := map[string]*nn.Tensor{}
	for i, in := range tc.Input {
		x, err := fromGorgonia(in)
		if err != nil {
			return "unsupported", err.Error()
		}
		feed[g.Inputs[i].Name] = conform(x, g.Inputs[i])
	}
	out, err := g.Run(nil, feed)
	if err != nil {
		return "fail", "run: " + err.Error()
	}
	for i, exp := range tc.ExpectedOutput {
		want, err := fromGorgonia(exp)
		if err != nil {
			return "unsupported", err.Error()
		}
		got := out[g.Outputs[i].Name]
		want = conform(want, g.Outputs[i])
		d, err := nn.Compare(got, want, 1e-4, 1e-5)
		if err != nil {
			return "fail", fmt.Sprintf("output %d: %v", i, err)
		}
		if d.Bad > 0 {
			return "fail", fmt.Sprintf("output %d: %d mismatches, max abs %.3g", i, d.Bad, d.MaxAbs)
		}
	}
	return "pass", ""
}

// fromGorgonia converts a gorgonia tensor to a graft tensor.
func fromGorgonia(t tensor.Tensor) (*nn.Tensor, error) {
	shape := append([]int{}, t.Shape()...)
	if len(shape) == 1 && shape[0] == 0 {
		shape = []int{0}
	}
	switch d := t.Data().(type) {
	case []float32:
		return &nn.Tensor{DType: nn.Float32, Shape: fixShape(shape, len(d)), F32: append([]float32{}, d...)}, nil
	case float32:
		return &nn.Tensor{DType: nn.Float32, Shape: []int{}, F32: []float32{d}}, nil
	case []float64:
		return &nn.Tensor{DType: nn.Float64, Shape: fixShape(shape, len(d)), F64: append([]float64{}, d...)}, nil
	case []int64:
		return &nn.Tensor{DType: nn.Int64, Shape: fixShape(shape, len(d)), I64: append([]int64{}, d...)}, nil
	case []int32:
		v := make([]int64, len(d))
		for i, x := range d {
			v[i] = int64(x)
		}
		return &nn.Tensor{DType: nn.Int32, Shape: fixShape(shape, len(d)), I64: v}, nil
	case []int:
		v := make([]int64, len(d))
		for i, x := range d {
			v[i] = int64(x)
		}
		return &nn.Tensor{DType: nn.Int64, Shape: fixShape(shape, len(d)), I64: v}, nil
	case []bool:
		return &nn.Tensor{DType: nn.Bool, Shape: fixShape(shape, len(d)), Bool: append([]bool{}, d...)}, nil
	}
	return nil, fmt.Errorf("gorgonia tensor of %T is not converted", t.Data())
}

// fixShape reconciles gorgonia's shape with the data length (gorgonia
// reports vectors of one element and scalars loosely).
func fixShape(shape []int, n int) []int {
	if nn.NumElements(shape) == n {
		return shape
	}
	return []int{n}
}

// conform adapts a tensor from onnx-go's generated cases to the type and
// shape the model declares: the generator stored some integer tensors as
// float32 (Size outputs, Slice starts, Mod operands) and some scalars as
// [1]. The values are unchanged.
func conform(t *nn.Tensor, vi nn.ValueInfo) *nn.Tensor {
	if vi.DType != nn.Undefined && t.DType != vi.DType && vi.DType.Supported() {
		c := nn.New(vi.DType, t.Shape...)
		for i := 0; i < t.Len(); i++ {
			v := t.Float64At(i)
			switch c.DType.Storage() {
			case nn.StoreF32:
				c.F32[i] = float32(v)
			case nn.StoreF64:
				c.F64[i] = v
			case nn.StoreI64:
				c.I64[i] = int64(v)
			case nn.StoreBool:
				c.Bool[i] = v != 0
			}
		}
		t = c
	}
	if d := dimsOf(vi); vi.HasShape && d != nil && len(d) != len(t.Shape) && nn.NumElements(d) == t.Len() {
		t = t.Reshaped(d...)
	}
	return t
}

func dimsOf(vi nn.ValueInfo) []int {
	d := make([]int, len(vi.Shape))
	for i, x := range vi.Shape {
		if x.Value < 0 || x.Param != "" {
			return nil
		}
		d[i] = x.Value
	}
	return d
}
