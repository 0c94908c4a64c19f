package nn_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
)

// TestNormSpeedVsOnnxruntime logs best-of-30 run times of common shapes in
// graft and onnxruntime. It only runs with GRAFT_NORM_SPEED=1.
func TestNormSpeedVsOnnxruntime(t *testing.T) {
	if os.Getenv("GRAFT_NORM_SPEED") != "1" {
		t.Skip("set GRAFT_NORM_SPEED=1 to compare speed with onnxruntime")
	}
	ortref.Require(t)
	f32 := nn.Float32
	x := func(shape ...int) normOrtIn { return normOrtIn{dt: f32, shape: shape, lo: -3, hi: 3} }
	pos := func(shape ...int) normOrtIn { return normOrtIn{dt: f32, shape: shape, lo: 0.2, hi: 2} }
	ax := func(a ...int64) normOrtIn {
		return normOrtIn{dt: nn.Int64, shape: []int{len(a)}, fixed: nn.FromInt64(a, len(a))}
	}
	cases := []normOrtCase{
		{op: "BatchNormalization", opset: 15, in: []normOrtIn{x(1, 64, 112, 112), x(64), x(64), x(64), pos(64)}, outs: []nn.DType{f32}},
		{op: "Softmax", opset: 13, in: []normOrtIn{x(64, 1000)}, outs: []nn.DType{f32}},
		{op: "Softmax", opset: 13, in: []normOrtIn{x(12, 128, 128)}, outs: []nn.DType{f32}},
		{op: "LayerNormalization", opset: 17, in: []normOrtIn{x(128, 768), x(768), x(768)}, outs: []nn.DType{f32}},
		{op: "InstanceNormalization", opset: 6, in: []normOrtIn{x(1, 64, 56, 56), x(64), x(64)}, outs: []nn.DType{f32}},
		{op: "ReduceMean", opset: 18, in: []normOrtIn{x(8, 512, 7, 7), ax(2, 3)}, outs: []nn.DType{f32}},
		{op: "ReduceMean", opset: 18, in: []normOrtIn{x(128, 768), ax(-1)}, outs: []nn.DType{f32}},
		{op: "ReduceSum", opset: 13, in: []normOrtIn{x(128, 768), ax(0)}, outs: []nn.DType{f32}},
		{op: "ArgMax", opset: 13, attrs: []*onnxpb.AttributeProto{normOrtI("axis", -1)}, in: []normOrtIn{x(64, 1000)}, outs: []nn.DType{nn.Int64}},
	}
	dir := t.TempDir()
	r := &normOrtRand{s: 1}
	for ci, c := range cases {
		m := normOrtModel(c)
		path := filepath.Join(dir, fmt.Sprintf("m%d.onnx", ci))
		if err := onnx.Save(path, m); err != nil {
			t.Fatal(err)
		}
		inputs := map[string]*nn.Tensor{}
		for i, in := range c.in {
			if in.fixed == nil {
				inputs[fmt.Sprintf("x%d", i)] = normOrtInput(r, in)
			}
		}
		for _, threads := range []int{1, 2} {
			s, err := ortref.OpenOptions(path, ortref.Options{Threads: threads})
			if err != nil {
				t.Fatal(err)
			}
			g, err := onnx.Import(m, onnx.ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := nn.NewContext(nil)
			best := func(f func()) time.Duration {
				b := time.Hour
				for k := 0; k < 30; k++ {
					t0 := time.Now()
					f()
					if d := time.Since(t0); d < b {
						b = d
					}
				}
				return b
			}
			to := best(func() { s.Run(inputs) })
			tg := best(func() { g.Run(ctx, inputs) })
			s.Close()
			t.Logf("%-22s %v threads=%d  ort %8v  graft %8v  ratio %.2f", c.op, c.in[0].shape, threads, to, tg, float64(tg)/float64(to))
		}
	}
}
