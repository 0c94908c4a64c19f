package nn_test

import (
	"fmt"
	"math"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
)

// Differential tests of LSTM, GRU and RNN against onnxruntime: one-node
// models with random weights (as initializers) over many configurations.
// onnxruntime rejects layout=1, which the PyTorch fixtures cover instead.

type rnnOrtCase struct {
	op                        string
	opset                     int
	dir                       string
	seq, batch, input, hidden int
	bias, init, peep          bool
	lens                      []int32
	outs                      []string // output names; "" leaves one out
	attrs                     []*onnxpb.AttributeProto
	weightScale               float64
}

func (c rnnOrtCase) name() string {
	return fmt.Sprintf("%s_%s_s%d_b%d_i%d_h%d_bias%v_init%v_peep%v_lens%v_outs%q_attrs%d",
		c.op, c.dir, c.seq, c.batch, c.input, c.hidden, c.bias, c.init, c.peep, c.lens != nil, c.outs, len(c.attrs))
}

func rnnOrtVI(name string, shape []int) *onnxpb.ValueInfoProto {
	sp := &onnxpb.TensorShapeProto{}
	for _, d := range shape {
		sp.Dim = append(sp.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	tt := &onnxpb.TypeProto_Tensor{ElemType: int32(nn.Float32), Shape: sp}
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}}
}

func rnnOrtRand(rng *rand.Rand, scale float64, shape ...int) *nn.Tensor {
	t := nn.New(nn.Float32, shape...)
	for i := range t.F32 {
		t.F32[i] = float32(rng.NormFloat64() * scale)
	}
	return t
}

// rnnOrtModel builds the model and the graph inputs.
func rnnOrtModel(c rnnOrtCase, rng *rand.Rand) (*onnxpb.ModelProto, map[string]*nn.Tensor) {
	nd := 1
	if c.dir == "bidirectional" {
		nd = 2
	}
	G := map[string]int{"RNN": 1, "GRU": 3, "LSTM": 4}[c.op]
	ws := c.weightScale
	if ws == 0 {
		ws = 0.5 / math.Sqrt(float64(max(c.hidden, c.input)))
		ws = math.Max(ws, 0.15)
	}
	g := &onnxpb.GraphProto{Name: "rnn"}
	inputs := []string{"X", "W", "R", "", "", ""}
	feed := map[string]*nn.Tensor{"X": rnnOrtRand(rng, 1, c.seq, c.batch, c.input)}
	g.Input = append(g.Input, rnnOrtVI("X", []int{c.seq, c.batch, c.input}))
	addInit := func(name string, t *nn.Tensor) {
		g.Initializer = append(g.Initializer, onnx.TensorToProto(name, t))
	}
	addInit("W", rnnOrtRand(rng, ws, nd, G*c.hidden, c.input))
	addInit("R", rnnOrtRand(rng, ws, nd, G*c.hidden, c.hidden))
	if c.bias {
		inputs[3] = "B"
		addInit("B", rnnOrtRand(rng, 0.3, nd, 2*G*c.hidden))
	}
	if c.lens != nil {
		inputs[4] = "L"
		l := nn.New(nn.Int32, c.batch)
		for i, v := range c.lens {
			l.I64[i] = int64(v)
		}
		addInit("L", l)
	}
	state := []int{nd, c.batch, c.hidden}
	if c.init {
		inputs[5] = "h0"
		feed["h0"] = rnnOrtRand(rng, 0.5, state...)
		g.Input = append(g.Input, rnnOrtVI("h0", state))
		if c.op == "LSTM" {
			inputs = append(inputs, "c0")
			feed["c0"] = rnnOrtRand(rng, 0.5, state...)
			g.Input = append(g.Input, rnnOrtVI("c0", state))
		}
	}
	if c.peep {
		for len(inputs) < 7 {
			inputs = append(inputs, "")
		}
		inputs = append(inputs, "P")
		addInit("P", rnnOrtRand(rng, 0.3, nd, 3*c.hidden))
	}
	for len(inputs) > 0 && inputs[len(inputs)-1] == "" {
		inputs = inputs[:len(inputs)-1]
	}
	attrs := []*onnxpb.AttributeProto{
		{Name: "hidden_size", Type: onnxpb.AttributeProto_INT, I: int64(c.hidden)},
		{Name: "direction", Type: onnxpb.AttributeProto_STRING, S: []byte(c.dir)},
	}
	attrs = append(attrs, c.attrs...)
	node := &onnxpb.NodeProto{OpType: c.op, Name: "n", Input: inputs, Output: c.outs, Attribute: attrs}
	g.Node = []*onnxpb.NodeProto{node}
	shapes := [][]int{{c.seq, nd, c.batch, c.hidden}, state, state}
	for i, o := range c.outs {
		if o != "" {
			g.Output = append(g.Output, rnnOrtVI(o, shapes[i]))
		}
	}
	return &onnxpb.ModelProto{
		IrVersion:   8,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: int64(c.opset)}},
		Graph:       g,
	}, feed
}

func rnnOrtCases() []rnnOrtCase {
	var cs []rnnOrtCase
	attrI := func(name string, v int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
	}
	attrF := func(name string, v float32) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOAT, F: v}
	}
	attrSs := func(name string, v ...string) *onnxpb.AttributeProto {
		a := &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_STRINGS}
		for _, s := range v {
			a.Strings = append(a.Strings, []byte(s))
		}
		return a
	}
	attrFs := func(name string, v ...float32) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_FLOATS, Floats: v}
	}
	for _, op := range []string{"LSTM", "GRU", "RNN"} {
		outs := []string{"Y", "Y_h"}
		if op == "LSTM" {
			outs = append(outs, "Y_c")
		}
		for _, dir := range []string{"forward", "reverse", "bidirectional"} {
			for _, batch := range []int{1, 3, 6} {
				for _, lens := range [][]int32{nil, {5, 2, 0, 5, 1, 3}} {
					c := rnnOrtCase{op: op, opset: 14, dir: dir, seq: 5, batch: batch, input: 4, hidden: 5,
						bias: true, init: batch != 1, outs: outs, lens: nil}
					if lens != nil {
						c.lens = lens[:batch]
					}
					if op == "GRU" {
						c.attrs = []*onnxpb.AttributeProto{attrI("linear_before_reset", int64(batch%2))}
					}
					cs = append(cs, c)
				}
			}
		}
		// Sizes of the real models and larger layers (packed GEMM paths).
		cs = append(cs,
			rnnOrtCase{op: op, opset: 11, dir: "forward", seq: 1, batch: 1, input: 128, hidden: 128, bias: true, init: true, outs: outs},
			rnnOrtCase{op: op, opset: 11, dir: "bidirectional", seq: 33, batch: 1, input: 8, hidden: 4, bias: true, init: true, outs: outs},
			rnnOrtCase{op: op, opset: 11, dir: "forward", seq: 1, batch: 33, input: 8, hidden: 8, bias: true, init: true, outs: outs},
			rnnOrtCase{op: op, opset: 14, dir: "bidirectional", seq: 20, batch: 8, input: 64, hidden: 96, bias: true, init: true, outs: outs,
				lens: []int32{20, 3, 17, 20, 1, 9, 20, 12}},
			// unidirectional: batch rows split over goroutines
			rnnOrtCase{op: op, opset: 14, dir: "reverse", seq: 24, batch: 9, input: 64, hidden: 96, bias: true, init: true, outs: outs,
				lens: []int32{24, 3, 17, 24, 1, 9, 24, 12, 0}},
			// outputs left out
			rnnOrtCase{op: op, opset: 14, dir: "forward", seq: 4, batch: 2, input: 3, hidden: 4, bias: false, outs: []string{"", "Y_h"}},
			rnnOrtCase{op: op, opset: 7, dir: "reverse", seq: 4, batch: 2, input: 3, hidden: 4, bias: true, outs: []string{"Y"}},
			// clip
			rnnOrtCase{op: op, opset: 14, dir: "bidirectional", seq: 4, batch: 3, input: 3, hidden: 4, bias: true, init: true, outs: outs,
				attrs: []*onnxpb.AttributeProto{attrF("clip", 0.6)}, weightScale: 1.2},
		)
	}
	lstmOuts := []string{"Y", "Y_h", "Y_c"}
	cs = append(cs,
		// batch 1, wide: the step product splits its columns over goroutines
		rnnOrtCase{op: "LSTM", opset: 14, dir: "forward", seq: 3, batch: 1, input: 16, hidden: 768, bias: true, init: true, outs: lstmOuts},
		rnnOrtCase{op: "LSTM", opset: 14, dir: "bidirectional", seq: 5, batch: 4, input: 3, hidden: 4, bias: true, init: true, peep: true,
			outs: lstmOuts, lens: []int32{5, 3, 1, 4}},
		rnnOrtCase{op: "LSTM", opset: 14, dir: "forward", seq: 5, batch: 3, input: 3, hidden: 4, bias: true, init: true, peep: true,
			outs: lstmOuts, attrs: []*onnxpb.AttributeProto{attrI("input_forget", 1)}},
		rnnOrtCase{op: "LSTM", opset: 14, dir: "bidirectional", seq: 4, batch: 2, input: 3, hidden: 4, bias: true, outs: lstmOuts,
			attrs: []*onnxpb.AttributeProto{
				attrSs("activations", "HardSigmoid", "LeakyRelu", "Softsign", "Sigmoid", "Elu", "ScaledTanh"),
				attrFs("activation_alpha", 0.3, 0.05, 0.9, 1.5), attrFs("activation_beta", 0.45, 0.8)}},
		rnnOrtCase{op: "GRU", opset: 14, dir: "forward", seq: 4, batch: 2, input: 3, hidden: 4, bias: true, outs: []string{"Y", "Y_h"},
			attrs: []*onnxpb.AttributeProto{attrSs("activations", "Softplus", "Affine"), attrFs("activation_alpha", 0.5), attrFs("activation_beta", 0.1)}},
		rnnOrtCase{op: "RNN", opset: 14, dir: "bidirectional", seq: 4, batch: 2, input: 3, hidden: 4, bias: true, outs: []string{"Y", "Y_h"},
			attrs: []*onnxpb.AttributeProto{attrSs("activations", "Relu", "ThresholdedRelu"), attrFs("activation_alpha", 0.2)}},
	)
	return cs
}

func TestRNNAgainstORT(t *testing.T) {
	ortref.Require(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(7))
	worst := 0.0
	for i, c := range rnnOrtCases() {
		m, feed := rnnOrtModel(c, rng)
		path := filepath.Join(dir, fmt.Sprintf("m%d.onnx", i))
		if err := onnx.Save(path, m); err != nil {
			t.Fatal(err)
		}
		s, err := ortref.OpenOptions(path, ortref.Options{Threads: 1})
		if err != nil {
			t.Fatalf("%s: onnxruntime: %v", c.name(), err)
		}
		want, err := s.Run(feed)
		s.Close()
		if err != nil {
			t.Fatalf("%s: onnxruntime: %v", c.name(), err)
		}
		g, err := onnx.Import(m, onnx.ImportOptions{})
		if err != nil {
			t.Fatalf("%s: import: %v", c.name(), err)
		}
		got, err := g.Run(nil, feed)
		if err != nil {
			t.Fatalf("%s: %v", c.name(), err)
		}
		for name, w := range want {
			gt := got[name]
			if gt == nil || !nn.SameShape(gt.Shape, w.Shape) {
				t.Fatalf("%s: output %s is %v, want %v", c.name(), name, gt, w)
			}
			for j := range w.F32 {
				d := math.Abs(float64(gt.F32[j] - w.F32[j]))
				worst = math.Max(worst, d)
				if d > 1e-5+1e-4*math.Abs(float64(w.F32[j])) {
					t.Fatalf("%s: %s[%d] = %v, onnxruntime %v", c.name(), name, j, gt.F32[j], w.F32[j])
				}
			}
		}
	}
	t.Logf("%d configurations, max abs difference %.3g", len(rnnOrtCases()), worst)
}
