package nn

import (
	"math"
	"testing"
)

func TestMaxPoolHandChecked(t *testing.T) {
	x := FromFloat32([]float32{
		1, 5, 2, 0,
		3, 4, 9, 8,
		7, 6, -1, -2,
		0, 1, 2, 3}, 1, 1, 4, 4)
	op := convTestNode(t, "MaxPool", 2, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}})
	out := convTestRun(t, op, x)
	convTestClose(t, "maxpool", out[0], []float64{5, 9, 7, 3}, []int{1, 1, 2, 2}, 0)
	convTestClose(t, "maxpool indices", out[1], []float64{1, 6, 8, 15}, []int{1, 1, 2, 2}, 0)
	// Column-major indices: (h,w) -> h + w*H.
	op = convTestNode(t, "MaxPool", 2, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}, "storage_order": 1})
	out = convTestRun(t, op, x)
	convTestClose(t, "maxpool indices col-major", out[1], []float64{4, 9, 2, 15}, []int{1, 1, 2, 2}, 0)
	// ceil_mode with kernel 3 stride 2 on 4x4: out 2x2 (last window clipped).
	op = convTestNode(t, "MaxPool", 1, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "ceil_mode": 1})
	out = convTestRun(t, op, x)
	if len(out) != 1 {
		t.Fatalf("%d outputs for a one-output node", len(out))
	}
	convTestClose(t, "maxpool ceil", out[0], []float64{9, 9, 7, 3}, []int{1, 1, 2, 2}, 0)
	// uint8.
	xu := &Tensor{DType: Uint8, Shape: []int{1, 1, 2, 2}, I64: []int64{3, 250, 7, 9}}
	op = convTestNode(t, "MaxPool", 1, map[string]any{"kernel_shape": []int{2, 2}})
	out = convTestRun(t, op, xu)
	if out[0].DType != Uint8 || out[0].I64[0] != 250 {
		t.Fatalf("uint8 maxpool: %v %v", out[0], out[0].I64)
	}
}

func TestAveragePoolHandChecked(t *testing.T) {
	x := FromFloat32([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3)
	// Pads 1, kernel 2, stride 2: windows at -1 and 1.
	op := convTestNode(t, "AveragePool", 1, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}})
	y := convTestRun(t, op, x)[0]
	convTestClose(t, "avgpool exclude pad", y, []float64{1, 2.5, 5.5, 7}, []int{1, 1, 2, 2}, 1e-6)
	op = convTestNode(t, "AveragePool", 1, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}, "count_include_pad": 1})
	y = convTestRun(t, op, x)[0]
	convTestClose(t, "avgpool include pad", y, []float64{0.25, 5.0 / 4, 11.0 / 4, 28.0 / 4}, []int{1, 1, 2, 2}, 1e-6)
	// Dilation 2, kernel 2 on 3x3: single window of the corners.
	op = convTestNode(t, "AveragePool", 1, map[string]any{"kernel_shape": []int{2, 2}, "dilations": []int{2, 2}})
	y = convTestRun(t, op, x)[0]
	convTestClose(t, "avgpool dilated", y, []float64{5}, []int{1, 1, 1, 1}, 1e-6)
}

func TestGlobalPoolsAndLRN(t *testing.T) {
	x := FromFloat32([]float32{1, 2, 3, 4, -1, -2, -3, -8}, 1, 2, 2, 2)
	y := convTestRun(t, convTestNode(t, "GlobalAveragePool", 1, nil), x)[0]
	convTestClose(t, "gap", y, []float64{2.5, -3.5}, []int{1, 2, 1, 1}, 1e-6)
	y = convTestRun(t, convTestNode(t, "GlobalMaxPool", 1, nil), x)[0]
	convTestClose(t, "gmp", y, []float64{4, -1}, []int{1, 2, 1, 1}, 1e-6)
	// LRN size 2 over 2 channels: channel 0 sums c0,c1; channel 1 sums c1 only.
	op := convTestNode(t, "LRN", 1, map[string]any{"size": 2, "alpha": float32(0.5), "beta": float32(0.5), "bias": float32(1)})
	x = FromFloat32([]float32{1, 2}, 1, 2, 1, 1)
	y = convTestRun(t, op, x)[0]
	want := []float64{1 / math.Sqrt(1+0.25*5), 2 / math.Sqrt(1+0.25*4)}
	convTestClose(t, "lrn", y, want, []int{1, 2, 1, 1}, 1e-6)
}

func BenchmarkMaxPool3x3s2(b *testing.B) {
	x := New(Float32, 1, 64, 112, 112)
	op := convTestNode(b, "MaxPool", 1, map[string]any{"kernel_shape": []int{3, 3}, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		convTestRun(b, op, x)
	}
}
