package nn

import (
	"math/rand"
	"testing"
)

// ewgBench times the float32 backward pass of n on inputs of the given
// shapes (float32, normal values) with every input needing a gradient.
func ewgBench(b *testing.B, op string, opset int, attrs map[string]any, shapes ...[]int) {
	rng := rand.New(rand.NewSource(1))
	n := &Node{Name: "bench", OpType: op, Opset: opset, Attrs: map[string]*Attr{}}
	for i := range shapes {
		n.Inputs = append(n.Inputs, "in"+string(rune('0'+i)))
	}
	n.Outputs = []string{"out0"}
	for k, v := range attrs {
		n.Attrs[k] = &Attr{Name: k, Type: AttrString, S: v.(string)}
	}
	if err := Standard().Build(n); err != nil {
		b.Fatal(err)
	}
	in := make([]*Tensor, len(shapes))
	need := make([]bool, len(shapes))
	for i, s := range shapes {
		x := New(Float32, s...)
		for j := range x.F32 {
			x.F32[j] = float32(rng.NormFloat64())
		}
		if op == "Where" && i == 0 {
			x = New(Bool, s...)
			for j := range x.Bool {
				x.Bool[j] = rng.Intn(2) == 0
			}
		}
		in[i], need[i] = x, i > 0 || op != "Where"
	}
	out, err := n.Op.Run(nil, in)
	if err != nil {
		b.Fatal(err)
	}
	dy := New(Float32, out[0].Shape...)
	for j := range dy.F32 {
		dy.F32[j] = float32(rng.NormFloat64())
	}
	b.SetBytes(int64(4 * len(dy.F32)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Backward(nil, n, in, out, []*Tensor{dy}, need); err != nil {
			b.Fatal(err)
		}
	}
}

var ewgBenchShape = []int{16, 64, 32, 32}

func BenchmarkEwgGelu(b *testing.B) { ewgBench(b, "Gelu", 20, nil, ewgBenchShape) }
func BenchmarkEwgGeluTanh(b *testing.B) {
	ewgBench(b, "Gelu", 20, map[string]any{"approximate": "tanh"}, ewgBenchShape)
}
func BenchmarkEwgMish(b *testing.B)      { ewgBench(b, "Mish", 18, nil, ewgBenchShape) }
func BenchmarkEwgHardSwish(b *testing.B) { ewgBench(b, "HardSwish", 14, nil, ewgBenchShape) }
func BenchmarkEwgPRelu(b *testing.B)     { ewgBench(b, "PRelu", 16, nil, ewgBenchShape, []int{64, 1, 1}) }
func BenchmarkEwgMaxSame(b *testing.B)   { ewgBench(b, "Max", 13, nil, ewgBenchShape, ewgBenchShape) }
func BenchmarkEwgSumBcast(b *testing.B)  { ewgBench(b, "Sum", 13, nil, ewgBenchShape, []int{64, 1, 1}) }
func BenchmarkEwgWhere(b *testing.B) {
	ewgBench(b, "Where", 16, nil, ewgBenchShape, ewgBenchShape, []int{1})
}
func BenchmarkEwgPowSq(b *testing.B) {
	ewgBench(b, "Pow", 13, nil, ewgBenchShape, []int{})
}
func BenchmarkEwgPowBoth(b *testing.B) {
	ewgBench(b, "Pow", 13, nil, ewgBenchShape, []int{64, 1, 1})
}
func BenchmarkEwgMulBcast(b *testing.B) { ewgBench(b, "Mul", 13, nil, ewgBenchShape, []int{64, 1, 1}) }
func BenchmarkEwgRelu(b *testing.B)     { ewgBench(b, "Relu", 13, nil, ewgBenchShape) }
