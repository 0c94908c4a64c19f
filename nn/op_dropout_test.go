package nn

import (
	"math/rand"
	"testing"
)

func TestDropoutInference(t *testing.T) {
	x := normF32([]int{2, 2}, 1, 2, 3, 4)
	for _, opset := range []int{7, 10, 12, 13, 22} {
		out := normMust(t, "Dropout", opset, nil, 2, nil, x)
		normCheck(t, "y", out[0], []int{2, 2}, []float64{1, 2, 3, 4}, 0)
		normCheck(t, "mask", out[1], []int{2, 2}, []float64{1, 1, 1, 1}, 0)
		if opset >= 10 && out[1].DType != Bool {
			t.Fatalf("opset %d: mask type %v", opset, out[1].DType)
		}
		if opset < 10 && out[1].DType != Float32 {
			t.Fatalf("opset %d: mask type %v", opset, out[1].DType)
		}
	}
	// Opset 12 with training_mode false.
	out := normMust(t, "Dropout", 12, nil, 1, nil, x, Scalar(0.5), &Tensor{DType: Bool, Shape: []int{}, Bool: []bool{false}})
	normCheck(t, "tm false", out[0], []int{2, 2}, []float64{1, 2, 3, 4}, 0)
	// Zero ratio in training is the identity.
	out = normMust(t, "Dropout", 13, nil, 2, nil, x, Scalar(0), &Tensor{DType: Bool, Shape: []int{}, Bool: []bool{true}})
	normCheck(t, "zero ratio", out[0], []int{2, 2}, []float64{1, 2, 3, 4}, 0)
	normCheck(t, "zero ratio mask", out[1], []int{2, 2}, []float64{1, 1, 1, 1}, 0)
	if _, err := normRun(t, "Dropout", 13, nil, 1, nil, x, Scalar(1.5)); err == nil {
		t.Fatal("ratio 1.5 accepted")
	}
	if _, err := normRun(t, "Dropout", 13, []*Attr{normAF("ratio", 0.2)}, 1, nil, x); err == nil {
		t.Fatal("ratio attribute at opset 13 accepted")
	}
}

func TestDropoutTraining(t *testing.T) {
	const n = 20000
	x := New(Float32, n)
	for i := range x.F32 {
		x.F32[i] = 1
	}
	check := func(out []*Tensor, ratio float64) {
		t.Helper()
		kept := 0
		scale := float32(1 / (1 - ratio))
		for i, v := range out[0].F32 {
			k := out[1].Bool[i]
			if k {
				kept++
			}
			if (k && v != scale) || (!k && v != 0) {
				t.Fatalf("element %d: value %v with mask %v", i, v, k)
			}
		}
		if f := float64(kept) / n; f < 1-ratio-0.02 || f > 1-ratio+0.02 {
			t.Fatalf("kept fraction %v with ratio %v", f, ratio)
		}
	}
	tm := &Tensor{DType: Bool, Shape: []int{}, Bool: []bool{true}}
	out := normMust(t, "Dropout", 13, []*Attr{normAI("seed", 3)}, 2, nil, x, Scalar(0.25), tm)
	check(out, 0.25)
	// Same seed, fresh op: same mask.
	out2 := normMust(t, "Dropout", 13, []*Attr{normAI("seed", 3)}, 2, nil, x, Scalar(0.25), tm)
	for i := range out[1].Bool {
		if out[1].Bool[i] != out2[1].Bool[i] {
			t.Fatal("seeded dropout is not reproducible")
		}
	}
	// Context training with the ratio attribute (opset 10) and the
	// context's random source.
	ctx := NewContext(nil)
	ctx.Training = true
	ctx.Rand = rand.New(rand.NewSource(7))
	out = normMust(t, "Dropout", 10, []*Attr{normAF("ratio", 0.5)}, 2, ctx, x)
	check(out, 0.5)
	// Default ratio 0.5 at opset 12 under context training.
	out = normMust(t, "Dropout", 12, nil, 2, ctx, x)
	check(out, 0.5)
}
