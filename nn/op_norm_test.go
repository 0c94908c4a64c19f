package nn

import (
	"math"
	"testing"
)

func TestBatchNormInference(t *testing.T) {
	// N=1, C=2, 2 elements per channel.
	x := normF32([]int{1, 2, 1, 2}, -1, 0, 1, 2)
	scale := normF32([]int{2}, 1, 2)
	bias := normF32([]int{2}, 0, 1)
	mean := normF32([]int{2}, 0, 3)
	vr := normF32([]int{2}, 1, 4)
	eps := 1e-5
	s0, s1 := 1/math.Sqrt(1+eps), 2/math.Sqrt(4+eps)
	want := []float64{-1 * s0, 0, (1-3)*s1 + 1, (2-3)*s1 + 1}
	for _, opset := range []int{7, 9, 14, 15} {
		y := normMust(t, "BatchNormalization", opset, nil, 1, nil, x, scale, bias, mean, vr)
		normCheck(t, "bn", y[0], []int{1, 2, 1, 2}, want, 1e-6)
	}
	// float64 and a non-default epsilon.
	x64 := &Tensor{DType: Float64, Shape: []int{1, 1, 2}, F64: []float64{1, 3}}
	p := &Tensor{DType: Float64, Shape: []int{1}, F64: []float64{1}}
	y := normMust(t, "BatchNormalization", 15, []*Attr{normAF("epsilon", 0.5)}, 1, nil, x64, p, &Tensor{DType: Float64, Shape: []int{1}, F64: []float64{0}}, p, p)
	normCheck(t, "bn f64", y[0], []int{1, 1, 2}, []float64{0, 2 / math.Sqrt(1.5)}, 1e-7)
	// Rank 2 input (N, C).
	y = normMust(t, "BatchNormalization", 15, nil, 1, nil, normF32([]int{2, 2}, 1, 3, 5, 7), scale, bias, mean, vr)
	normCheck(t, "bn 2d", y[0], []int{2, 2}, []float64{s0, 1, 5 * s0, 4*s1 + 1}, 1e-6)
	// Wrong parameter size.
	if _, err := normRun(t, "BatchNormalization", 15, nil, 1, nil, x, normF32([]int{3}, 1, 1, 1), bias, mean, vr); err == nil {
		t.Fatal("scale of 3 elements for 2 channels accepted")
	}
}

func TestBatchNormSpatial0(t *testing.T) {
	// Opset 7, spatial=0: parameters per channel and position.
	x := normF32([]int{2, 1, 2}, 1, 2, 3, 4)
	scale := normF32([]int{1, 2}, 1, 2)
	bias := normF32([]int{1, 2}, 0, 1)
	mean := normF32([]int{1, 2}, 1, 0)
	vr := normF32([]int{1, 2}, 1, 1)
	y := normMust(t, "BatchNormalization", 7, []*Attr{normAI("spatial", 0), normAF("epsilon", 0)}, 1, nil, x, scale, bias, mean, vr)
	normCheck(t, "bn spatial0", y[0], []int{2, 1, 2}, []float64{0, 5, 2, 9}, 1e-6)
}

func TestBatchNormTraining(t *testing.T) {
	// One channel, values 1,3,5,7: batch mean 4, population variance 5.
	x := normF32([]int{2, 1, 2}, 1, 3, 5, 7)
	scale := normF32([]int{1}, 2)
	bias := normF32([]int{1}, 1)
	mean := normF32([]int{1}, 0)
	vr := normF32([]int{1}, 1)
	eps := 1e-5
	a := 2 / math.Sqrt(5+eps)
	want := []float64{-3*a + 1, -a + 1, a + 1, 3*a + 1}
	out := normMust(t, "BatchNormalization", 15, []*Attr{normAI("training_mode", 1)}, 3, nil, x, scale, bias, mean, vr)
	normCheck(t, "y", out[0], []int{2, 1, 2}, want, 1e-6)
	normCheck(t, "running mean", out[1], []int{1}, []float64{0.4}, 1e-6)
	normCheck(t, "running var", out[2], []int{1}, []float64{1.4}, 1e-6)
	// Momentum.
	out = normMust(t, "BatchNormalization", 14, []*Attr{normAI("training_mode", 1), normAF("momentum", 0.5)}, 3, nil, x, scale, bias, mean, vr)
	normCheck(t, "running mean m", out[1], []int{1}, []float64{2}, 1e-6)
	normCheck(t, "running var m", out[2], []int{1}, []float64{3}, 1e-6)
	// Context training: batch statistics with one output, and the running
	// statistics (parameters) updated in place.
	ctx := NewContext(nil)
	ctx.Training = true
	rm, rv := mean.Clone(), vr.Clone()
	out = normMust(t, "BatchNormalization", 15, nil, 1, ctx, x, scale, bias, rm, rv)
	normCheck(t, "ctx training", out[0], []int{2, 1, 2}, want, 1e-6)
	normCheck(t, "updated running mean", rm, []int{1}, []float64{0.4}, 1e-6)
	normCheck(t, "updated running var", rv, []int{1}, []float64{1.4}, 1e-6)
	// A frozen node keeps using (and keeping) the running statistics.
	n := &Node{OpType: "BatchNormalization", Opset: 15, Inputs: []string{"x", "s", "b", "m", "v"}, Outputs: []string{"y"}, Frozen: true}
	if err := NewRegistry(normOps()).Build(n); err != nil {
		t.Fatal(err)
	}
	rm, rv = mean.Clone(), vr.Clone()
	res, err := n.Op.Run(ctx, []*Tensor{x, scale, bias, rm, rv})
	if err != nil {
		t.Fatal(err)
	}
	s0 := 2 / math.Sqrt(1+eps)
	normCheck(t, "frozen", res[0], []int{2, 1, 2}, []float64{s0 + 1, 3*s0 + 1, 5*s0 + 1, 7*s0 + 1}, 1e-6)
	normCheck(t, "frozen mean kept", rm, []int{1}, []float64{0}, 0)
	// Opset 9 training outputs: running mean/var, saved mean/var.
	out = normMust(t, "BatchNormalization", 9, nil, 5, nil, x, scale, bias, mean, vr)
	normCheck(t, "legacy y", out[0], []int{2, 1, 2}, want, 1e-6)
	normCheck(t, "legacy saved mean", out[3], []int{1}, []float64{4}, 1e-6)
	normCheck(t, "legacy saved var", out[4], []int{1}, []float64{5}, 1e-6)
	// Running outputs without training_mode are an error.
	if _, err := normRun(t, "BatchNormalization", 15, nil, 3, nil, x, scale, bias, mean, vr); err == nil {
		t.Fatal("running outputs without training_mode accepted")
	}
}

func TestInstanceNorm(t *testing.T) {
	// Channel 0: 1,2,3,4 (mean 2.5, var 1.25); channel 1: 0,0,0,4 (mean 1, var 3).
	x := normF32([]int{1, 2, 4}, 1, 2, 3, 4, 0, 0, 0, 4)
	scale := normF32([]int{2}, 1, 2)
	bias := normF32([]int{2}, 0, -1)
	eps := 1e-5
	i0, i1 := 1/math.Sqrt(1.25+eps), 2/math.Sqrt(3+eps)
	want := []float64{-1.5 * i0, -0.5 * i0, 0.5 * i0, 1.5 * i0, -i1 - 1, -i1 - 1, -i1 - 1, 3*i1 - 1}
	y := normMust(t, "InstanceNormalization", 6, nil, 1, nil, x, scale, bias)
	normCheck(t, "instnorm", y[0], []int{1, 2, 4}, want, 1e-6)
	if _, err := normRun(t, "InstanceNormalization", 6, nil, 1, nil, x, normF32([]int{1}, 1), bias); err == nil {
		t.Fatal("bad scale accepted")
	}
}

func TestLayerNorm(t *testing.T) {
	x := normF32([]int{2, 2}, 1, 3, 2, 6)
	scale := normF32([]int{2}, 1, 2)
	bias := normF32([]int{2}, 0, 1)
	eps := 1e-5
	out := normMust(t, "LayerNormalization", 17, nil, 3, nil, x, scale, bias)
	// Rows normalize to [-1, 1] (up to epsilon).
	r0, r1 := 1/math.Sqrt(1+eps), 2/math.Sqrt(4+eps)
	normCheck(t, "y", out[0], []int{2, 2}, []float64{-r0, 2*r0 + 1, -r1, 2*r1 + 1}, 1e-6)
	normCheck(t, "mean", out[1], []int{2, 1}, []float64{2, 4}, 1e-6)
	normCheck(t, "invstd", out[2], []int{2, 1}, []float64{1 / math.Sqrt(1+eps), 1 / math.Sqrt(4+eps)}, 1e-6)
	// Axis 0: statistics over everything (mean 3, var 3.5).
	s := normF32([]int{2, 2}, 1, 1, 1, 1)
	out = normMust(t, "LayerNormalization", 17, []*Attr{normAI("axis", 0), normAF("epsilon", 0)}, 1, nil, x, s)
	is := 1 / math.Sqrt(3.5)
	normCheck(t, "axis0", out[0], []int{2, 2}, []float64{-2 * is, 0, -is, 3 * is}, 1e-6)
	// Scale broadcast from [1] and no bias; only Mean requested.
	n := &Node{OpType: "LayerNormalization", Opset: 17, Inputs: []string{"x", "s"}, Outputs: []string{"y", "", "inv"}, Attrs: map[string]*Attr{}}
	if err := NewRegistry(normOps()).Build(n); err != nil {
		t.Fatal(err)
	}
	res, err := n.Op.Run(NewContext(nil), []*Tensor{x, normF32([]int{1}, 2)})
	if err != nil {
		t.Fatal(err)
	}
	normCheck(t, "bcast", res[0], []int{2, 2}, []float64{-2 * r0, 2 * r0, -2 * r1, 2 * r1}, 1e-6)
	if res[1] != nil || res[2] == nil {
		t.Fatal("optional outputs")
	}
	if _, err := normRun(t, "LayerNormalization", 17, nil, 1, nil, x, normF32([]int{3}, 1, 1, 1)); err == nil {
		t.Fatal("bad scale accepted")
	}
	if _, err := normRun(t, "LayerNormalization", 17, []*Attr{normAI("axis", 2)}, 1, nil, x, scale); err == nil {
		t.Fatal("axis 2 of rank 2 accepted")
	}
}
