package nn

import (
	"math/rand"
	"testing"
)

// rnnBenchOp builds a float32 layer with random weights of the given sizes.
func rnnBenchOp(b *testing.B, kind rnnKind, dir string, seq, batch, input, hidden int) (Op, []*Tensor) {
	n := &Node{OpType: kind.String(), Opset: 14, Outputs: []string{"Y", "Y_h"}, Attrs: map[string]*Attr{
		"hidden_size": {Name: "hidden_size", Type: AttrInt, I: int64(hidden)},
		"direction":   {Name: "direction", Type: AttrString, S: dir},
	}}
	if kind == rnnKindGRU {
		n.Attrs["linear_before_reset"] = &Attr{Name: "linear_before_reset", Type: AttrInt, I: 1}
	}
	op, err := rnnNew(n, kind, 14)
	if err != nil {
		b.Fatal(err)
	}
	nd := 1
	if dir == "bidirectional" {
		nd = 2
	}
	G := kind.gates()
	rng := rand.New(rand.NewSource(1))
	rt := func(shape ...int) *Tensor {
		t := New(Float32, shape...)
		for i := range t.F32 {
			t.F32[i] = float32(rng.NormFloat64() * 0.3)
		}
		return t
	}
	in := []*Tensor{rt(seq, batch, input), rt(nd, G*hidden, input), rt(nd, G*hidden, hidden), rt(nd, 2*G*hidden), nil, rt(nd, batch, hidden)}
	return op, in
}

func rnnBench(b *testing.B, kind rnnKind, dir string, seq, batch, input, hidden int) {
	op, in := rnnBenchOp(b, kind, dir, seq, batch, input, hidden)
	ctx := NewContext(nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := op.Run(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// Shapes of silero VAD's LSTM and of gtcrn's GRUs, then larger layers.
func BenchmarkRNNSileroLSTM(b *testing.B) { rnnBench(b, rnnKindLSTM, "forward", 1, 1, 128, 128) }
func BenchmarkRNNGtcrnGRU1(b *testing.B)  { rnnBench(b, rnnKindGRU, "forward", 1, 1, 8, 16) }
func BenchmarkRNNGtcrnGRUBi(b *testing.B) { rnnBench(b, rnnKindGRU, "bidirectional", 33, 1, 8, 4) }
func BenchmarkRNNGtcrnGRU33(b *testing.B) { rnnBench(b, rnnKindGRU, "forward", 1, 33, 8, 8) }
func BenchmarkRNNLSTMLarge(b *testing.B)  { rnnBench(b, rnnKindLSTM, "bidirectional", 100, 8, 256, 256) }
func BenchmarkRNNGRULarge(b *testing.B)   { rnnBench(b, rnnKindGRU, "forward", 100, 1, 256, 256) }
