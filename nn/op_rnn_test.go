package nn

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// rnnTestTensor is a tensor as stored in testdata/rnn/cases.json.
type rnnTestTensor struct {
	DType string    `json:"dtype"`
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

type rnnTestCase struct {
	Name    string                     `json:"name"`
	Op      string                     `json:"op"`
	Opset   int                        `json:"opset"`
	Attrs   map[string]json.RawMessage `json:"attrs"`
	Source  string                     `json:"source"`
	Tol     float64                    `json:"tol"`
	Inputs  []*rnnTestTensor           `json:"inputs"`
	Outputs []*rnnTestTensor           `json:"outputs"`
}

func (tt *rnnTestTensor) tensor() *Tensor {
	if tt == nil {
		return nil
	}
	switch tt.DType {
	case "int32":
		t := New(Int32, tt.Shape...)
		for i, v := range tt.Data {
			t.I64[i] = int64(v)
		}
		return t
	case "float64":
		t := New(Float64, tt.Shape...)
		copy(t.F64, tt.Data)
		return t
	}
	t := New(Float32, tt.Shape...)
	for i, v := range tt.Data {
		t.F32[i] = float32(v)
	}
	return t
}

// rnnTestAttrs converts the JSON attributes to node attributes.
func rnnTestAttrs(t *testing.T, raw map[string]json.RawMessage) map[string]*Attr {
	attrs := map[string]*Attr{}
	for name, msg := range raw {
		var v any
		if err := json.Unmarshal(msg, &v); err != nil {
			t.Fatal(err)
		}
		a := &Attr{Name: name}
		switch x := v.(type) {
		case string:
			a.Type, a.S = AttrString, x
		case float64:
			if name == "clip" {
				a.Type, a.F = AttrFloat, float32(x)
			} else {
				a.Type, a.I = AttrInt, int64(x)
			}
		case []any:
			for _, e := range x {
				switch ev := e.(type) {
				case string:
					a.Type = AttrStrings
					a.Strings = append(a.Strings, ev)
				case float64:
					a.Type = AttrFloats
					a.Floats = append(a.Floats, float32(ev))
				}
			}
		}
		attrs[name] = a
	}
	return attrs
}

func rnnTestLoad(t *testing.T) []rnnTestCase {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "rnn", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []rnnTestCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	return file.Cases
}

func rnnTestBuild(t *testing.T, c rnnTestCase, outputs []string) Op {
	n := &Node{Name: c.Name, OpType: c.Op, Opset: c.Opset, Attrs: rnnTestAttrs(t, c.Attrs), Outputs: outputs}
	for i := range c.Inputs {
		n.Inputs = append(n.Inputs, "in"+string(rune('0'+i)))
	}
	reg := Standard()
	def, ok := reg.Lookup("", c.Op, c.Opset)
	if !ok {
		t.Fatalf("%s opset %d not registered", c.Op, c.Opset)
	}
	op, err := def.New(n)
	if err != nil {
		t.Fatalf("%s: New: %v", c.Name, err)
	}
	return op
}

// TestRNNReference compares LSTM, GRU and RNN against PyTorch (and a NumPy
// implementation of the ONNX equations for features PyTorch lacks).
func TestRNNReference(t *testing.T) {
	worst := map[string]float64{}
	for _, c := range rnnTestLoad(t) {
		t.Run(c.Name, func(t *testing.T) {
			outNames := []string{"Y", "Y_h", "Y_c"}[:len(c.Outputs)]
			op := rnnTestBuild(t, c, outNames)
			in := make([]*Tensor, len(c.Inputs))
			for i, tt := range c.Inputs {
				in[i] = tt.tensor()
			}
			got, err := op.Run(NewContext(nil), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.Outputs) {
				t.Fatalf("%d outputs, want %d", len(got), len(c.Outputs))
			}
			for k, want := range c.Outputs {
				g := got[k]
				if !SameShape(g.Shape, want.Shape) {
					t.Fatalf("output %s shape %v, want %v", outNames[k], g.Shape, want.Shape)
				}
				maxErr := 0.0
				for i, w := range want.Data {
					d := math.Abs(g.Float64At(i) - w)
					maxErr = math.Max(maxErr, d)
					if d > c.Tol+c.Tol*math.Abs(w) {
						t.Fatalf("output %s[%d] = %v, want %v", outNames[k], i, g.Float64At(i), w)
					}
				}
				key := c.Source + "/" + want.DType
				worst[key] = math.Max(worst[key], maxErr)
			}
			// Every optional output may be left out.
			for k := range c.Outputs {
				names := make([]string, len(c.Outputs))
				names[k] = outNames[k]
				got, err := rnnTestBuild(t, c, names).Run(NewContext(nil), in)
				if err != nil {
					t.Fatal(err)
				}
				for j := range names {
					if j != k && got[j] != nil {
						t.Fatalf("output %d not requested but produced", j)
					}
				}
				if got[k] == nil || !SameShape(got[k].Shape, c.Outputs[k].Shape) {
					t.Fatalf("output %s alone: got %v", outNames[k], got[k])
				}
			}
		})
	}
	for k, v := range worst {
		t.Logf("max abs error vs %s: %.3g", k, v)
	}
}

func TestRNNErrors(t *testing.T) {
	n := &Node{OpType: "LSTM", Opset: 14, Attrs: map[string]*Attr{
		"hidden_size": {Name: "hidden_size", Type: AttrInt, I: 2},
		"activations": {Name: "activations", Type: AttrStrings, Strings: []string{"Sigmoid", "Nope", "Tanh"}},
	}, Outputs: []string{"Y"}}
	if _, err := rnnNew(n, rnnKindLSTM, 14); err == nil {
		t.Fatal("unknown activation accepted")
	}
	delete(n.Attrs, "activations")
	op, err := rnnNew(n, rnnKindLSTM, 14)
	if err != nil {
		t.Fatal(err)
	}
	x := New(Float32, 3, 1, 2)
	w := New(Float32, 1, 8, 3) // wrong input size
	r := New(Float32, 1, 8, 2)
	if _, err := op.Run(NewContext(nil), []*Tensor{x, w, r}); err == nil {
		t.Fatal("bad W shape accepted")
	}
	w = New(Float32, 1, 8, 2)
	sl := FromInt64([]int64{4}, 1)
	if _, err := op.Run(NewContext(nil), []*Tensor{x, w, r, nil, sl}); err == nil {
		t.Fatal("sequence_lens beyond seq_length accepted")
	}
}

// TestRNNFloat16 runs a float16 GRU: it computes in float32 and rounds the
// outputs to float16.
func TestRNNFloat16(t *testing.T) {
	n := &Node{OpType: "GRU", Opset: 14, Outputs: []string{"Y", "Y_h"}, Attrs: map[string]*Attr{
		"hidden_size": {Name: "hidden_size", Type: AttrInt, I: 3},
	}}
	op, err := rnnNew(n, rnnKindGRU, 14)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(dt DType, shape ...int) *Tensor {
		x := New(dt, shape...)
		for i := range x.F32 {
			x.F32[i] = float32(math.Sin(float64(i)*0.7)) * 0.5
		}
		x.RoundToDType()
		return x
	}
	in16 := []*Tensor{mk(Float16, 4, 2, 3), mk(Float16, 1, 9, 3), mk(Float16, 1, 9, 3)}
	in32 := []*Tensor{mk(Float32, 4, 2, 3), mk(Float32, 1, 9, 3), mk(Float32, 1, 9, 3)}
	for i := range in32 {
		copy(in32[i].F32, in16[i].F32)
	}
	got, err := op.Run(NewContext(nil), in16)
	if err != nil {
		t.Fatal(err)
	}
	want, err := op.Run(NewContext(nil), in32)
	if err != nil {
		t.Fatal(err)
	}
	for k := range got {
		if got[k].DType != Float16 {
			t.Fatalf("output %d has type %v", k, got[k].DType)
		}
		for i, v := range got[k].F32 {
			if v != Float16ToFloat32(Float32ToFloat16(want[k].F32[i])) {
				t.Fatalf("output %d [%d] = %v, want %v rounded", k, i, v, want[k].F32[i])
			}
		}
	}
}
