package nn

import (
	"math"
	"testing"
)

func TestGroupNorm(t *testing.T) {
	// x = 0.1*i^2 - 1 for i = 0..15, shape [1,4,2,2], 2 groups; expected
	// values from torch.nn.functional.group_norm (per-channel affine).
	xs := make([]float32, 16)
	for i := range xs {
		xs[i] = float32(float64(i*i)*0.1 - 1)
	}
	x := normF32([]int{1, 4, 2, 2}, xs...)
	want := []float64{-1.0491068, -0.9891578, -0.8093109, -0.5095661, 0.8201531, 1.8992344, 3.2181114, 4.7767843,
		-4.1683604, -3.2042498, -2.1267145, -0.9357544, -0.5084927, 1.3819202, 3.4235661, 5.6164451}
	y := normMust(t, "GroupNormalization", 21, []*Attr{normAI("num_groups", 2)}, 1, nil, x,
		normF32([]int{4}, 1, 2, 3, 4), normF32([]int{4}, 0, 1, 0, -1))
	normCheck(t, "groupnorm 21", y[0], []int{1, 4, 2, 2}, want, 1e-5)
	// Opset 18: per-group parameters; scale 1, bias 0 gives the plain
	// normalization, equal to the opset-21 result with unit parameters.
	y18 := normMust(t, "GroupNormalization", 18, []*Attr{normAI("num_groups", 2)}, 1, nil, x,
		normF32([]int{2}, 1, 1), normF32([]int{2}, 0, 0))
	y21 := normMust(t, "GroupNormalization", 21, []*Attr{normAI("num_groups", 2)}, 1, nil, x,
		normF32([]int{4}, 1, 1, 1, 1), normF32([]int{4}, 0, 0, 0, 0))
	normCheck(t, "groupnorm 18", y18[0], []int{1, 4, 2, 2}, normVals(y21[0]), 1e-6)
	if _, err := normRun(t, "GroupNormalization", 21, []*Attr{normAI("num_groups", 3)}, 1, nil, x, normF32([]int{4}, 1, 1, 1, 1), normF32([]int{4}, 0, 0, 0, 0)); err == nil {
		t.Fatal("4 channels in 3 groups accepted")
	}
}

func TestRMSNorm(t *testing.T) {
	// Rows [3,4] (mean square 12.5) and [0,0].
	x := normF32([]int{2, 2}, 3, 4, 0, 0)
	y := normMust(t, "RMSNormalization", 23, []*Attr{normAF("epsilon", 0)}, 1, nil, x, normF32([]int{2}, 1, 2))
	r := 1 / math.Sqrt(12.5)
	normCheck(t, "rms", y[0], []int{2, 2}, []float64{3 * r, 8 * r, math.NaN(), math.NaN()}, 1e-6)
	y = normMust(t, "RMSNormalization", 23, nil, 1, nil, x, normF32([]int{1}, 1))
	normCheck(t, "rms eps", y[0], []int{2, 2}, []float64{3 / math.Sqrt(12.5+1e-5), 4 / math.Sqrt(12.5+1e-5), 0, 0}, 1e-6)
}

func TestMeanVarianceNorm(t *testing.T) {
	// Default axes [0,2,3] on [2,1,1,2]: one channel, values 1,3,5,7
	// (mean 4, std sqrt(5)).
	x := normF32([]int{2, 1, 1, 2}, 1, 3, 5, 7)
	y := normMust(t, "MeanVarianceNormalization", 13, nil, 1, nil, x)
	s := math.Sqrt(5)
	normCheck(t, "mvn", y[0], []int{2, 1, 1, 2}, []float64{-3 / s, -1 / s, 1 / s, 3 / s}, 1e-6)
	// Axes [0] on [2,2]: columns (1,5) and (3,7), each std 2.
	y = normMust(t, "MeanVarianceNormalization", 13, []*Attr{normAInts("axes", 0)}, 1, nil, normF32([]int{2, 2}, 1, 3, 5, 7))
	normCheck(t, "mvn axis0", y[0], []int{2, 2}, []float64{-1, -1, 1, 1}, 1e-6)
}

func TestLpNorm(t *testing.T) {
	x := normF32([]int{2, 2}, 3, 4, 0, 0)
	y := normMust(t, "LpNormalization", 1, nil, 1, nil, x)
	normCheck(t, "l2", y[0], []int{2, 2}, []float64{0.6, 0.8, 0, 0}, 1e-6)
	y = normMust(t, "LpNormalization", 1, []*Attr{normAI("p", 1), normAI("axis", 0)}, 1, nil, normF32([]int{2, 2}, 1, -2, 3, 2))
	normCheck(t, "l1 axis0", y[0], []int{2, 2}, []float64{0.25, -0.5, 0.75, 0.5}, 1e-6)
	if _, err := normRun(t, "LpNormalization", 1, []*Attr{normAI("p", 3)}, 1, nil, x); err == nil {
		t.Fatal("p=3 accepted")
	}
}

func TestHardmax(t *testing.T) {
	x := normF32([]int{2, 3}, 1, 3, 3, 0, -1, -2)
	y := normMust(t, "Hardmax", 13, nil, 1, nil, x)
	normCheck(t, "hardmax", y[0], []int{2, 3}, []float64{0, 1, 0, 1, 0, 0}, 0)
	y = normMust(t, "Hardmax", 13, []*Attr{normAI("axis", 0)}, 1, nil, x)
	normCheck(t, "hardmax axis0", y[0], []int{2, 3}, []float64{1, 1, 1, 0, 0, 0}, 0)
	// Opset 11, axis 0: one maximum over the whole tensor.
	y = normMust(t, "Hardmax", 11, []*Attr{normAI("axis", 0)}, 1, nil, x)
	normCheck(t, "hardmax coerce", y[0], []int{2, 3}, []float64{0, 1, 0, 0, 0, 0}, 0)
}
