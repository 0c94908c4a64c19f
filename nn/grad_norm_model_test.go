package nn_test

import (
	"math"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// TestNmgModelDirectional differentiates reference models on the tape in
// training mode (batch statistics) and checks the parameter gradients
// against a central difference along a random direction (float32, so the
// tolerance is loose: it catches wrong formulas, not rounding).
func TestNmgModelDirectional(t *testing.T) {
	for _, name := range []string{"resnet_small", "mobilenet_block", "transformer_encoder_opset17", "transformer_encoder"} {
		t.Run(name, func(t *testing.T) {
			g, err := onnx.LoadGraph(filepath.Join("..", "testdata", "models", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			var params []string
			for _, p := range g.ParamNames {
				v := g.Params[p].Value
				if v.DType == nn.Float32 && !nmgRunningStat(g, p) {
					params = append(params, p)
				}
			}
			if err := g.NonDifferentiable(params, nil); err != nil {
				t.Skipf("not differentiable yet: %v", err)
			}
			rng := rand.New(rand.NewSource(1))
			in := g.Inputs[0]
			shape := []int{3}
			for _, d := range in.Shape[1:] {
				shape = append(shape, int(d.Value))
			}
			x := nn.New(nn.Float32, shape...)
			for i := range x.F32 {
				x.F32[i] = float32(rng.NormFloat64())
			}
			ctx := &nn.Context{Context: nn.NewContext(nil).Context, Training: true}
			feeds := map[string]*nn.Tensor{in.Name: x}
			tp, outs, err := g.Forward(ctx, feeds)
			if err != nil {
				t.Fatal(err)
			}
			outName := g.Outputs[0].Name
			R := nn.New(nn.Float32, outs[outName].Shape...)
			for i := range R.F32 {
				R.F32[i] = float32(rng.NormFloat64())
			}
			grads, err := tp.Backward(ctx, map[string]*nn.Tensor{outName: R}, params)
			if err != nil {
				t.Fatal(err)
			}
			loss := func() float64 {
				o, err := g.Run(ctx, feeds)
				if err != nil {
					t.Fatal(err)
				}
				s := 0.0
				for i, v := range o[outName].F32 {
					s += float64(v) * float64(R.F32[i])
				}
				return s
			}
			// Direction: random, scaled per parameter.
			dir := map[string][]float32{}
			pred := 0.0
			for _, p := range params {
				v := g.Params[p].Value
				d := make([]float32, v.Len())
				gr := grads[p]
				for i := range d {
					d[i] = float32(rng.NormFloat64())
					if gr != nil {
						pred += float64(d[i]) * float64(gr.F32[i])
					}
				}
				dir[p] = d
			}
			const eps = 1e-3
			shift := func(s float32) {
				for _, p := range params {
					v := g.Params[p].Value
					for i, d := range dir[p] {
						v.F32[i] += s * d
					}
				}
			}
			shift(eps)
			lp := loss()
			shift(-2 * eps)
			lm := loss()
			shift(eps)
			num := (lp - lm) / (2 * eps)
			t.Logf("%d parameters: directional derivative %.6g (tape), %.6g (numeric)", len(params), pred, num)
			if math.Abs(pred-num) > 2e-2*math.Abs(num)+1e-3 {
				t.Errorf("directional derivative %.6g (tape), %.6g (numeric)", pred, num)
			}
		})
	}
}

// nmgRunningStat reports whether parameter p feeds a BatchNormalization
// mean or var input.
func nmgRunningStat(g *nn.Graph, p string) bool {
	for _, n := range g.Nodes {
		if n.OpType == "BatchNormalization" && len(n.Inputs) == 5 && (n.Inputs[3] == p || n.Inputs[4] == p) {
			return true
		}
	}
	return false
}
