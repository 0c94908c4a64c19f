package nn

import (
	"math"
	"testing"
)

// Out-of-range float -> integer casts, expected values as computed by
// onnxruntime 1.2x on x86-64 (its vectorised path).
func TestEwCastOutOfRange(t *testing.T) {
	vals := []float64{-1e20, -1e10, -3e9, -70000, -300.5, -1.7, 1.7, 300.5, 40000, 70000, 3e9, 5e9, 1e10, 1e20, math.NaN()}
	want := map[DType][]int64{
		Int8:   {0, 0, 0, -112, -44, -1, 1, 44, 64, 112, 0, 0, 0, 0, 0},
		Uint8:  {0, 0, 0, 144, 212, 255, 1, 44, 64, 112, 0, 0, 0, 0, 0},
		Int16:  {0, 0, 0, -4464, -300, -1, 1, 300, -25536, 4464, 0, 0, 0, 0, 0},
		Uint16: {0, 0, 0, 61072, 65236, 65535, 1, 300, 40000, 4464, 0, 0, 0, 0, 0},
		Int32:  {math.MinInt32, math.MinInt32, math.MinInt32, -70000, -300, -1, 1, 300, 40000, 70000, math.MinInt32, math.MinInt32, math.MinInt32, math.MinInt32, math.MinInt32},
		Uint32: {2147483648, 2147483648, 2147483648, 4294897296, 4294966996, 4294967295, 1, 300, 40000, 70000, 3000000000, 0, 0, 0, 2147483648},
		Int64:  {math.MinInt64, -10000000000, -3000000000, -70000, -300, -1, 1, 300, 40000, 70000, 3000000000, 5000000000, 10000000000, math.MinInt64, math.MinInt64},
		Uint64: {math.MinInt64, -10000000000, -3000000000, -70000, -300, -1, 1, 300, 40000, 70000, 3000000000, 5000000000, 10000000000, 0, math.MinInt64},
	}
	x := &Tensor{DType: Float64, Shape: []int{len(vals)}, F64: vals}
	for to, w := range want {
		got, err := ewCastTensor(x, to)
		if err != nil {
			t.Fatal(err)
		}
		for i := range w {
			if got.I64[i] != w[i] {
				t.Errorf("float64 %v -> %v: %d, want %d", vals[i], to, got.I64[i], w[i])
			}
		}
	}
	// 1e19 fits uint64
	if v := ewFloatToIntType(1e19, Uint64); uint64(v) != 10000000000000000000 {
		t.Errorf("1e19 -> uint64: %d", uint64(v))
	}
}
