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
				if v.DType.IsFloat() && !nmgRunningStat(g, p) {
					params = append(params, p)
				}
			}
			if err := g.NonDifferentiable(params, nil); err != nil {
				t.Skipf("not differentiable yet: %v", err)
			}
			dt := nn.Float32
			if nmgToF64(g) {
				dt = nn.Float64
			}
			rng := rand.New(rand.NewSource(1))
			in := g.Inputs[0]
			shape := []int{3}
			for _, d := range in.Shape[1:] {
				shape = append(shape, int(d.Value))
			}
			x := nmgRandT(rng, dt, shape)
			ctx := &nn.Context{Context: nn.NewContext(nil).Context, Training: true}
			feeds := map[string]*nn.Tensor{in.Name: x}
			tp, outs, err := g.Forward(ctx, feeds)
			if err != nil {
				t.Fatal(err)
			}
			outName := g.Outputs[0].Name
			R := nmgRandT(rng, dt, outs[outName].Shape)
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
				for i := 0; i < R.Len(); i++ {
					s += o[outName].Float64At(i) * R.Float64At(i)
				}
				return s
			}
			// Direction: random, scaled per parameter.
			dir := map[string][]float64{}
			pred := 0.0
			for _, p := range params {
				v := g.Params[p].Value
				d := make([]float64, v.Len())
				gr := grads[p]
				for i := range d {
					d[i] = rng.NormFloat64()
					if gr != nil {
						pred += d[i] * gr.Float64At(i)
					}
				}
				dir[p] = d
			}
			eps, tol := 1e-3, 2e-2
			if dt == nn.Float64 {
				eps, tol = 1e-7, 1e-5
			}
			shift := func(s float64) {
				for _, p := range params {
					v := g.Params[p].Value
					for i, d := range dir[p] {
						if v.F64 != nil {
							v.F64[i] += s * d
						} else {
							v.F32[i] += float32(s * d)
						}
					}
				}
			}
			shift(eps)
			lp := loss()
			shift(-2 * eps)
			lm := loss()
			shift(eps)
			num := (lp - lm) / (2 * eps)
			t.Logf("%v, %d parameters: directional derivative %.6g (tape), %.6g (numeric)", dt, len(params), pred, num)
			if math.Abs(pred-num) > tol*math.Abs(num)+1e-3 {
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

// nmgToF64 converts the float32 parameters and constants of g to float64
// when no node casts (the graph then runs in float64); it reports whether
// it did.
func nmgToF64(g *nn.Graph) bool {
	for _, n := range g.Nodes {
		if n.OpType == "Cast" || n.OpType == "CastLike" {
			return false
		}
	}
	conv := func(t *nn.Tensor) *nn.Tensor {
		if t.DType != nn.Float32 {
			return t
		}
		c := nn.New(nn.Float64, t.Shape...)
		for i, v := range t.F32 {
			c.F64[i] = float64(v)
		}
		return c
	}
	for _, p := range g.Params {
		p.Value = conv(p.Value)
	}
	for k, t := range g.Consts {
		g.Consts[k] = conv(t)
	}
	for _, n := range g.Nodes {
		for _, a := range n.Attrs {
			if a.T != nil && a.T.DType == nn.Float32 {
				a.T = conv(a.T)
			}
		}
	}
	for i := range g.Inputs {
		if g.Inputs[i].DType == nn.Float32 {
			g.Inputs[i].DType = nn.Float64
		}
	}
	return true
}

func nmgRandT(rng *rand.Rand, dt nn.DType, shape []int) *nn.Tensor {
	x := nn.New(dt, shape...)
	for i := 0; i < x.Len(); i++ {
		v := rng.NormFloat64()
		if x.F64 != nil {
			x.F64[i] = v
		} else {
			x.F32[i] = float32(v)
		}
	}
	return x
}
