package nn

import (
	"math/rand"
	"testing"
)

// shgBench times the forward op and its backward pass on float32 data.
func shgBench(b *testing.B, op string, opset int, attrs map[string]any, in []*Tensor) {
	t := &testing.T{}
	n := gradTestNode(t, op, opset, attrs, len(in), 1)
	ctx := NewContext(nil)
	out, err := n.Op.Run(ctx, in)
	if err != nil {
		b.Fatal(err)
	}
	dy := New(Float32, out[0].Shape...)
	need := make([]bool, len(in))
	need[0] = true
	b.Run("forward", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			n.Op.Run(ctx, in)
		}
	})
	b.Run("backward", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Backward(ctx, n, in, out, []*Tensor{dy}, need); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func shgRand32(shape ...int) *Tensor {
	rng := rand.New(rand.NewSource(1))
	x := New(Float32, shape...)
	for i := range x.F32 {
		x.F32[i] = float32(rng.NormFloat64())
	}
	return x
}

func BenchmarkShapeGradPadReflect(b *testing.B) {
	shgBench(b, "Pad", 13, map[string]any{"mode": "reflect"}, []*Tensor{shgRand32(8, 64, 56, 56), shgI64(0, 0, 1, 1, 0, 0, 1, 1)})
}

func BenchmarkShapeGradPadConstant(b *testing.B) {
	shgBench(b, "Pad", 13, nil, []*Tensor{shgRand32(8, 64, 56, 56), shgI64(0, 0, 1, 1, 0, 0, 1, 1)})
}

func BenchmarkShapeGradSlice(b *testing.B) {
	shgBench(b, "Slice", 13, nil, []*Tensor{shgRand32(8, 64, 56, 56), shgI64(1, 1), shgI64(55, 55), shgI64(2, 3)})
}

func BenchmarkShapeGradResizeNearest(b *testing.B) {
	shgBench(b, "Resize", 13, map[string]any{"mode": "nearest"}, []*Tensor{shgRand32(8, 64, 28, 28), nil, FromFloat32([]float32{1, 1, 2, 2}, 4)})
}

func BenchmarkShapeGradResizeLinear(b *testing.B) {
	shgBench(b, "Resize", 13, map[string]any{"mode": "linear"}, []*Tensor{shgRand32(8, 64, 28, 28), nil, FromFloat32([]float32{1, 1, 2, 2}, 4)})
}

func BenchmarkShapeGradTranspose(b *testing.B) {
	shgBench(b, "Transpose", 13, map[string]any{"perm": []int{0, 2, 3, 1}}, []*Tensor{shgRand32(8, 64, 56, 56)})
}

func BenchmarkShapeGradGather(b *testing.B) {
	idx := make([]int64, 4096)
	for i := range idx {
		idx[i] = int64(i * 7 % 30000)
	}
	shgBench(b, "Gather", 13, nil, []*Tensor{shgRand32(30000, 256), FromInt64(idx, 4096)})
}
