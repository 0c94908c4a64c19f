package nn

import (
	"math"
	"testing"
)

func normBenchTensor(shape ...int) *Tensor {
	x := New(Float32, shape...)
	for i := range x.F32 {
		x.F32[i] = float32(math.Sin(float64(i) * 0.1))
	}
	return x
}

func normBenchOp(b *testing.B, typ string, opset int, attrs []*Attr, in ...*Tensor) {
	n := &Node{OpType: typ, Opset: opset, Attrs: map[string]*Attr{}, Outputs: []string{"y"}}
	for i := range in {
		n.Inputs = append(n.Inputs, string(rune('a'+i)))
	}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	if err := NewRegistry(normOps()).Build(n); err != nil {
		b.Fatal(err)
	}
	ctx := NewContext(nil)
	b.SetBytes(int64(in[0].Len() * 4))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := n.Op.Run(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormBatchNorm(b *testing.B) {
	c := normBenchTensor(64)
	v := New(Float32, 64)
	for i := range v.F32 {
		v.F32[i] = 1
	}
	normBenchOp(b, "BatchNormalization", 15, nil, normBenchTensor(1, 64, 112, 112), c, c, c, v)
}

func BenchmarkNormLayerNorm(b *testing.B) {
	s := normBenchTensor(768)
	normBenchOp(b, "LayerNormalization", 17, nil, normBenchTensor(128, 768), s, s)
}

func BenchmarkNormInstanceNorm(b *testing.B) {
	s := normBenchTensor(64)
	normBenchOp(b, "InstanceNormalization", 6, nil, normBenchTensor(1, 64, 56, 56), s, s)
}

func BenchmarkSmSoftmaxRows(b *testing.B) {
	normBenchOp(b, "Softmax", 13, nil, normBenchTensor(64, 1000))
}

func BenchmarkSmSoftmaxAttention(b *testing.B) {
	normBenchOp(b, "Softmax", 13, nil, normBenchTensor(12, 128, 128))
}

func BenchmarkRedMeanHW(b *testing.B) {
	normBenchOp(b, "ReduceMean", 18, nil, normBenchTensor(8, 512, 7, 7), normI64([]int{2}, 2, 3))
}

func BenchmarkRedMeanLast(b *testing.B) {
	normBenchOp(b, "ReduceMean", 18, nil, normBenchTensor(128, 768), normI64([]int{1}, -1))
}

func BenchmarkRedSumFirst(b *testing.B) {
	normBenchOp(b, "ReduceSum", 13, nil, normBenchTensor(128, 768), normI64([]int{1}, 0))
}

func BenchmarkRedArgMax(b *testing.B) {
	normBenchOp(b, "ArgMax", 13, []*Attr{normAI("axis", -1)}, normBenchTensor(64, 1000))
}
