package nn_test

import (
	"math"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// TestTmForwardTrainSameGradients checks that a ForwardTrain tape (values
// dropped or overwritten in place once no backward reads them, gradients
// recycled through a BufferPool) gives bit for bit the gradients of a full
// Forward tape, over several steps sharing one pool, for all parameters,
// for the last layers only and for the input, in float32 and float64; and
// that the input and the targets' values are left intact.
func TestTmForwardTrainSameGradients(t *testing.T) {
	for _, name := range []string{"resnet_small", "mobilenet_block", "se_block", "fmnist_cnn", "transformer_encoder_opset17"} {
		for _, f64 := range []bool{false, true} {
			for _, subset := range []string{"all", "last", "input"} {
				label := name + "/" + subset
				if f64 {
					label += "/f64"
				}
				t.Run(label, func(t *testing.T) { tmCheckModel(t, name, f64, subset) })
			}
		}
	}
}

func tmCheckModel(t *testing.T, name string, f64 bool, subset string) {
	g, err := onnx.LoadGraph(filepath.Join("..", "testdata", "models", name+".onnx"))
	if err != nil {
		t.Fatal(err)
	}
	dt := nn.Float32
	if f64 {
		if !nmgToF64(g) {
			t.Skip("graph casts")
		}
		dt = nn.Float64
	}
	var params []string
	for _, p := range g.ParamNames {
		v := g.Params[p].Value
		if v.DType.IsFloat() && !nmgRunningStat(g, p) {
			params = append(params, p)
		}
	}
	in := g.Inputs[0]
	wrt := params
	switch subset {
	case "last":
		wrt = params[len(params)*2/3:]
	case "input":
		wrt = []string{in.Name, params[0]}
	}
	if err := g.NonDifferentiable(wrt, nil); err != nil {
		t.Skipf("not differentiable: %v", err)
	}
	rng := rand.New(rand.NewSource(3))
	shape := []int{3}
	for _, d := range in.Shape[1:] {
		shape = append(shape, int(d.Value))
	}
	outName := g.Outputs[0].Name
	pool := nn.NewBufferPool()
	for step := 0; step < 3; step++ {
		x := nmgRandT(rng, dt, shape)
		x0 := x.Clone()
		feeds := map[string]*nn.Tensor{in.Name: x}
		ctx := &nn.Context{Context: nn.NewContext(nil).Context, Training: true}
		ref, outs, err := g.Forward(ctx, feeds)
		if err != nil {
			t.Fatal(err)
		}
		R := nmgRandT(rng, dt, outs[outName].Shape)
		want, err := ref.Backward(ctx, map[string]*nn.Tensor{outName: R}, wrt)
		if err != nil {
			t.Fatal(err)
		}
		wantOut := outs[outName].Clone()
		tctx := &nn.Context{Context: nn.NewContext(nil).Context, Training: true, Buffers: pool}
		tp, err := g.ForwardTrain(tctx, feeds, []string{outName}, wrt)
		if err != nil {
			t.Fatal(err)
		}
		if !tmSameData(tp.Value(outName), wantOut) {
			t.Fatalf("step %d: output differs", step)
		}
		got, err := tp.Backward(tctx, map[string]*nn.Tensor{outName: R.Clone()}, wrt)
		if err != nil {
			t.Fatal(err)
		}
		if !tmSameData(tp.Value(outName), wantOut) {
			t.Fatalf("step %d: output changed by Backward", step)
		}
		if !tmSameData(x, x0) {
			t.Fatalf("step %d: input changed", step)
		}
		for _, w := range wrt {
			if (want[w] == nil) != (got[w] == nil) {
				t.Fatalf("step %d: gradient of %s: presence differs", step, w)
			}
			if want[w] != nil && !tmSameData(got[w], want[w]) {
				t.Fatalf("step %d: gradient of %s differs", step, w)
			}
		}
		if _, err := tp.Backward(tctx, map[string]*nn.Tensor{outName: R}, wrt); err == nil || !strings.Contains(err.Error(), "one Backward") {
			t.Fatalf("second Backward: got %v", err)
		}
		pool.Put(tmValues(got)...)
	}
}

func tmValues(m map[string]*nn.Tensor) []*nn.Tensor {
	var ts []*nn.Tensor
	for _, v := range m {
		ts = append(ts, v)
	}
	return ts
}

func tmSameData(a, b *nn.Tensor) bool {
	if a == nil || b == nil || a.Len() != b.Len() || a.DType != b.DType {
		return false
	}
	for i := 0; i < a.Len(); i++ {
		x, y := a.Float64At(i), b.Float64At(i)
		if x != y && !(math.IsNaN(x) && math.IsNaN(y)) {
			return false
		}
	}
	return true
}

// TestTmForwardTrainErrors: seeds and wrt outside what ForwardTrain was
// told are refused, not silently wrong.
func TestTmForwardTrainErrors(t *testing.T) {
	g, err := onnx.LoadGraph(filepath.Join("..", "testdata", "models", "resnet_small.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	in := g.Inputs[0]
	shape := []int{2}
	for _, d := range in.Shape[1:] {
		shape = append(shape, int(d.Value))
	}
	x := nmgRandT(rand.New(rand.NewSource(1)), nn.Float32, shape)
	p := g.ParamNames[len(g.ParamNames)-1]
	ctx := &nn.Context{Context: nn.NewContext(nil).Context, Training: true}
	tp, err := g.ForwardTrain(ctx, map[string]*nn.Tensor{in.Name: x}, nil, []string{p})
	if err != nil {
		t.Fatal(err)
	}
	out := g.Outputs[0].Name
	seed := tp.Value(out).Clone()
	if _, err := tp.Backward(ctx, map[string]*nn.Tensor{out: seed}, []string{g.ParamNames[0]}); err == nil {
		t.Fatal("Backward to a value outside wrt: no error")
	}
	tp, err = g.ForwardTrain(ctx, map[string]*nn.Tensor{in.Name: x}, nil, []string{p})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Backward(ctx, map[string]*nn.Tensor{"nope": seed}, []string{p}); err == nil {
		t.Fatal("Backward from a seed outside the targets: no error")
	}
}
