package nn

import "testing"

func shpBench(b *testing.B, n *Node, in ...*Tensor) {
	if err := Standard().Build(n); err != nil {
		b.Fatal(err)
	}
	ctx := NewContext(nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := n.Op.Run(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTransposeNCHWtoNHWC(b *testing.B) {
	x := New(Float32, 1, 64, 112, 112)
	b.SetBytes(int64(4 * x.Len()))
	shpBench(b, shpTestNode("Transpose", 13, 1, shpAInts("perm", 0, 2, 3, 1)), x)
}

func BenchmarkTransposeHeads(b *testing.B) {
	x := New(Float32, 8, 128, 12, 64)
	b.SetBytes(int64(4 * x.Len()))
	shpBench(b, shpTestNode("Transpose", 13, 1, shpAInts("perm", 0, 2, 1, 3)), x)
}

func BenchmarkResizeBilinear2x(b *testing.B) {
	x := New(Float32, 1, 64, 128, 128)
	b.SetBytes(int64(4 * x.Len() * 4))
	shpBench(b, shpTestNode("Resize", 13, 1, shpAStr("mode", "linear")), x, nil, shpF([]int{4}, 1, 1, 2, 2))
}

func BenchmarkResizeNearest2x(b *testing.B) {
	x := New(Float32, 1, 64, 128, 128)
	b.SetBytes(int64(4 * x.Len() * 4))
	shpBench(b, shpTestNode("Resize", 13, 1), x, nil, shpF([]int{4}, 1, 1, 2, 2))
}

func BenchmarkGatherEmbedding(b *testing.B) {
	emb := New(Float32, 30000, 768)
	idx := New(Int64, 8, 128)
	for i := range idx.I64 {
		idx.I64[i] = int64(i * 37 % 30000)
	}
	b.SetBytes(int64(4 * 768 * idx.Len()))
	shpBench(b, shpTestNode("Gather", 13, 1), emb, idx)
}
