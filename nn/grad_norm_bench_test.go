package nn

import (
	"math/rand"
	"testing"
)

// nmgBench times the forward op and its backward pass on float32 data
// (gradients for the inputs listed in wrt).
func nmgBench(b *testing.B, ctx *Context, op string, opset int, attrs map[string]any, in []*Tensor, wrt ...int) {
	n := gradTestNode(&testing.T{}, op, opset, attrs, len(in), 1)
	out, err := n.Op.Run(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	dy := nmgRand32(out[0].Shape...)
	need := make([]bool, len(in))
	for _, i := range wrt {
		need[i] = true
	}
	b.Run("forward", func(b *testing.B) {
		b.SetBytes(int64(4 * in[0].Len()))
		for i := 0; i < b.N; i++ {
			n.Op.Run(ctx, in)
		}
	})
	b.Run("backward", func(b *testing.B) {
		b.SetBytes(int64(4 * in[0].Len()))
		for i := 0; i < b.N; i++ {
			if _, err := Backward(ctx, n, in, out, []*Tensor{dy}, need); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func nmgRand32(shape ...int) *Tensor {
	rng := rand.New(rand.NewSource(1))
	x := New(Float32, shape...)
	for i := range x.F32 {
		x.F32[i] = float32(rng.NormFloat64())
	}
	return x
}

func nmgOnes32(n int) *Tensor {
	x := New(Float32, n)
	for i := range x.F32 {
		x.F32[i] = 1
	}
	return x
}

func BenchmarkNmgBatchNormTrain(b *testing.B) {
	ctx := &Context{Context: NewContext(nil).Context, Training: true}
	nmgBench(b, ctx, "BatchNormalization", 15, nil, []*Tensor{nmgRand32(16, 64, 56, 56), nmgRand32(64), nmgRand32(64), nmgRand32(64), nmgOnes32(64)}, 0, 1, 2)
}

func BenchmarkNmgBatchNormInfer(b *testing.B) {
	nmgBench(b, NewContext(nil), "BatchNormalization", 15, nil, []*Tensor{nmgRand32(16, 64, 56, 56), nmgRand32(64), nmgRand32(64), nmgRand32(64), nmgOnes32(64)}, 0, 1, 2)
}

func BenchmarkNmgLayerNorm(b *testing.B) {
	nmgBench(b, NewContext(nil), "LayerNormalization", 17, nil, []*Tensor{nmgRand32(4096, 768), nmgRand32(768), nmgRand32(768)}, 0, 1, 2)
}

func BenchmarkNmgInstanceNorm(b *testing.B) {
	nmgBench(b, NewContext(nil), "InstanceNormalization", 6, nil, []*Tensor{nmgRand32(16, 64, 56, 56), nmgRand32(64), nmgRand32(64)}, 0, 1, 2)
}

func BenchmarkNmgSoftmax(b *testing.B) {
	nmgBench(b, NewContext(nil), "Softmax", 13, nil, []*Tensor{nmgRand32(384, 128, 128)}, 0)
}

func BenchmarkNmgLogSoftmax(b *testing.B) {
	nmgBench(b, NewContext(nil), "LogSoftmax", 13, nil, []*Tensor{nmgRand32(512, 1000)}, 0)
}

func BenchmarkNmgReduceMeanSpatial(b *testing.B) {
	nmgBench(b, NewContext(nil), "ReduceMean", 13, map[string]any{"axes": []int{2, 3}}, []*Tensor{nmgRand32(16, 256, 28, 28)}, 0)
}

func BenchmarkNmgReduceMaxLast(b *testing.B) {
	nmgBench(b, NewContext(nil), "ReduceMax", 13, map[string]any{"axes": []int{-1}}, []*Tensor{nmgRand32(4096, 768)}, 0)
}
