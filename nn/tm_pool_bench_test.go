package nn

import "testing"

// BenchmarkTmMaxPoolBack: resnet18's stem pooling (3×3, stride 2, pad 1)
// backward at batch 16.
func BenchmarkTmMaxPoolBack(b *testing.B) {
	n := gradTestNode(&testing.T{}, "MaxPool", 12, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}}, 1, 1)
	x := nmgRand32(16, 64, 112, 112)
	outs, err := RunNode(NewContext(nil), n, []*Tensor{x})
	if err != nil {
		b.Fatal(err)
	}
	dy := nmgRand32(outs[0].Shape...)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Backward(NewContext(nil), n, []*Tensor{x}, outs, []*Tensor{dy}, []bool{true}); err != nil {
			b.Fatal(err)
		}
	}
}
