package nn

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// shgI64 builds a 1-D int64 tensor.
func shgI64(v ...int64) *Tensor { return FromInt64(v, len(v)) }

// shgF64 builds a 1-D float64 tensor.
func shgF64s(v ...float64) *Tensor {
	return &Tensor{DType: Float64, Shape: []int{len(v)}, F64: v}
}

// shgCase is one gradient check: a node built from the standard registry,
// its inputs, and which inputs to check.
type shgCase struct {
	name  string
	op    string
	opset int
	attrs map[string]any
	in    []*Tensor
	nOut  int
	wrt   []int
}

func shgRun(t *testing.T, cases []shgCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nOut := c.nOut
			if nOut == 0 {
				nOut = 1
			}
			n := gradTestNode(t, c.op, c.opset, c.attrs, len(c.in), nOut)
			wrt := c.wrt
			if wrt == nil {
				wrt = []int{0}
			}
			gradCheck(t, n, c.in, wrt, 1e-5)
		})
	}
}

func TestShapeGradViews(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	shgRun(t, []shgCase{
		{name: "identity", op: "Identity", opset: 16, in: []*Tensor{randF64(rng, 2, 3)}},
		{name: "flatten_axis0", op: "Flatten", opset: 13, attrs: map[string]any{"axis": 0}, in: []*Tensor{randF64(rng, 2, 3, 4)}},
		{name: "flatten_axis2", op: "Flatten", opset: 13, attrs: map[string]any{"axis": 2}, in: []*Tensor{randF64(rng, 2, 3, 4)}},
		{name: "flatten_neg", op: "Flatten", opset: 11, attrs: map[string]any{"axis": -1}, in: []*Tensor{randF64(rng, 2, 3, 4)}},
		{name: "reshape_input", op: "Reshape", opset: 14, in: []*Tensor{randF64(rng, 2, 3, 4), shgI64(0, -1, 2)}},
		{name: "reshape_attr", op: "Reshape", opset: 1, attrs: map[string]any{"shape": []int{4, 6}}, in: []*Tensor{randF64(rng, 2, 3, 4)}},
		{name: "squeeze11_attr_neg", op: "Squeeze", opset: 11, attrs: map[string]any{"axes": []int{-1, 1}}, in: []*Tensor{randF64(rng, 3, 1, 2, 1)}},
		{name: "squeeze11_all", op: "Squeeze", opset: 11, in: []*Tensor{randF64(rng, 1, 3, 1, 2)}},
		{name: "squeeze13_input", op: "Squeeze", opset: 13, in: []*Tensor{randF64(rng, 3, 1, 2, 1), shgI64(-3)}},
		{name: "unsqueeze11_attr", op: "Unsqueeze", opset: 11, attrs: map[string]any{"axes": []int{0, -1}}, in: []*Tensor{randF64(rng, 3, 2)}},
		{name: "unsqueeze13_input", op: "Unsqueeze", opset: 13, in: []*Tensor{randF64(rng, 3, 2), shgI64(1, -1)}},
	})
}

func TestShapeGradMoves(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	shgRun(t, []shgCase{
		{name: "transpose_default", op: "Transpose", opset: 13, in: []*Tensor{randF64(rng, 2, 3, 4)}},
		{name: "transpose_perm", op: "Transpose", opset: 13, attrs: map[string]any{"perm": []int{1, 3, 0, 2}}, in: []*Tensor{randF64(rng, 2, 3, 4, 5)}},
		{name: "transpose_big_tile", op: "Transpose", opset: 13, attrs: map[string]any{"perm": []int{0, 2, 1}}, in: []*Tensor{randF64(rng, 2, 9, 11)}},
		{name: "concat_neg_axis", op: "Concat", opset: 13, attrs: map[string]any{"axis": -2},
			in: []*Tensor{randF64(rng, 2, 1, 3), randF64(rng, 2, 4, 3), randF64(rng, 2, 2, 3)}, wrt: []int{0, 1, 2}},
		{name: "concat_axis0", op: "Concat", opset: 4, attrs: map[string]any{"axis": 0},
			in: []*Tensor{randF64(rng, 1, 3), randF64(rng, 2, 3)}, wrt: []int{0, 1}},
		{name: "concat1_default_axis", op: "Concat", opset: 1,
			in: []*Tensor{randF64(rng, 2, 2, 2), randF64(rng, 2, 3, 2)}, wrt: []int{1}},
		{name: "split11_attr", op: "Split", opset: 11, attrs: map[string]any{"axis": 1, "split": []int{1, 3, 2}},
			in: []*Tensor{randF64(rng, 2, 6, 3)}, nOut: 3},
		{name: "split11_equal_neg_axis", op: "Split", opset: 11, attrs: map[string]any{"axis": -1},
			in: []*Tensor{randF64(rng, 2, 3, 6)}, nOut: 3},
		{name: "split13_input", op: "Split", opset: 13, attrs: map[string]any{"axis": -2},
			in: []*Tensor{randF64(rng, 2, 5, 3), shgI64(2, 0, 3)}, nOut: 3},
		{name: "split13_leading", op: "Split", opset: 13,
			in: []*Tensor{randF64(rng, 5, 3), shgI64(4, 1)}, nOut: 2},
		{name: "split18_num_outputs_uneven", op: "Split", opset: 18, attrs: map[string]any{"axis": 1, "num_outputs": 3},
			in: []*Tensor{randF64(rng, 2, 7)}, nOut: 3},
		{name: "depth_to_space_dcr", op: "DepthToSpace", opset: 13, attrs: map[string]any{"blocksize": 2},
			in: []*Tensor{randF64(rng, 2, 8, 2, 3)}},
		{name: "depth_to_space_crd", op: "DepthToSpace", opset: 13, attrs: map[string]any{"blocksize": 2, "mode": "CRD"},
			in: []*Tensor{randF64(rng, 1, 8, 3, 2)}},
		{name: "space_to_depth", op: "SpaceToDepth", opset: 13, attrs: map[string]any{"blocksize": 2},
			in: []*Tensor{randF64(rng, 2, 3, 4, 6)}},
		{name: "trilu_upper", op: "Trilu", opset: 14, in: []*Tensor{randF64(rng, 2, 3, 4)}},
		{name: "trilu_lower_k", op: "Trilu", opset: 14, attrs: map[string]any{"upper": 0},
			in: []*Tensor{randF64(rng, 4, 3), {DType: Int64, Shape: []int{}, I64: []int64{-1}}}},
	})
}

// A Split whose gradient arrives for some outputs only: the missing parts
// of the input gradient are zero.
func TestShapeGradSplitPartial(t *testing.T) {
	n := gradTestNode(t, "Split", 13, map[string]any{"axis": 0}, 2, 2)
	x := shgF64s(1, 2, 3)
	dy := shgF64s(10)
	dIn, err := Backward(NewContext(nil), n, []*Tensor{x, shgI64(2, 1)}, nil, []*Tensor{nil, dy}, []bool{true, false})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0, 0, 10}
	for i, v := range want {
		if dIn[0].F64[i] != v {
			t.Fatalf("gradient %v, want %v", dIn[0].F64, want)
		}
	}
	if dIn[1] != nil {
		t.Fatalf("split sizes got a gradient")
	}
}

func TestShapeGradSlice(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	shgRun(t, []shgCase{
		{name: "slice1_attrs", op: "Slice", opset: 1, attrs: map[string]any{"starts": []int{1, 0}, "ends": []int{3, -1}, "axes": []int{0, 2}},
			in: []*Tensor{randF64(rng, 4, 3, 5)}},
		{name: "slice1_no_axes_clamped", op: "Slice", opset: 1, attrs: map[string]any{"starts": []int{-10, 1}, "ends": []int{100, 1000}},
			in: []*Tensor{randF64(rng, 3, 4)}},
		{name: "slice10_steps", op: "Slice", opset: 10,
			in: []*Tensor{randF64(rng, 5, 6), shgI64(0, 1), shgI64(5, 6), shgI64(0, 1), shgI64(2, 3)}},
		{name: "slice13_negative_step", op: "Slice", opset: 13,
			in: []*Tensor{randF64(rng, 4, 7), shgI64(-1), shgI64(0), shgI64(-1), shgI64(-2)}},
		{name: "slice13_reverse_all", op: "Slice", opset: 13,
			in: []*Tensor{randF64(rng, 3, 5), shgI64(math.MaxInt64, -1), shgI64(math.MinInt64, math.MinInt64), shgI64(0, 1), shgI64(-1, -3)}},
		{name: "slice13_leading_block", op: "Slice", opset: 13,
			in: []*Tensor{randF64(rng, 5, 2, 3), shgI64(1), shgI64(4)}},
		{name: "slice13_empty", op: "Slice", opset: 13,
			in: []*Tensor{randF64(rng, 3, 4), shgI64(2), shgI64(1), shgI64(1)}},
	})
}

func TestShapeGradGather(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	idx2 := FromInt64([]int64{0, 2, -1, 0, 1, 2}, 2, 3) // repeated and negative
	shgRun(t, []shgCase{
		{name: "gather_axis0", op: "Gather", opset: 13, in: []*Tensor{randF64(rng, 3, 4), idx2}},
		{name: "gather_axis1", op: "Gather", opset: 13, attrs: map[string]any{"axis": 1}, in: []*Tensor{randF64(rng, 2, 3, 2), idx2}},
		{name: "gather_axis_neg", op: "Gather", opset: 11, attrs: map[string]any{"axis": -1}, in: []*Tensor{randF64(rng, 2, 3), shgI64(-1, -1, 1)}},
		{name: "gather_scalar_index", op: "Gather", opset: 13, attrs: map[string]any{"axis": 1},
			in: []*Tensor{randF64(rng, 2, 3, 4), {DType: Int64, Shape: []int{}, I64: []int64{-2}}}},
		{name: "gather_elements", op: "GatherElements", opset: 13, attrs: map[string]any{"axis": -1},
			in: []*Tensor{randF64(rng, 3, 4), FromInt64([]int64{0, 0, -1, 3, 2, 2, 1, 1, 0}, 3, 3)}},
		{name: "gather_elements_axis0", op: "GatherElements", opset: 11,
			in: []*Tensor{randF64(rng, 3, 2), FromInt64([]int64{2, 0, 2, 2}, 2, 2)}},
		{name: "gather_nd", op: "GatherND", opset: 13,
			in: []*Tensor{randF64(rng, 3, 4, 2), FromInt64([]int64{0, 1, 2, -1, 0, 1}, 3, 2)}},
		{name: "gather_nd_batch", op: "GatherND", opset: 13, attrs: map[string]any{"batch_dims": 1},
			in: []*Tensor{randF64(rng, 2, 3, 4), FromInt64([]int64{1, 1, 0, 2, 2, 2}, 2, 3, 1)}},
	})
}

func TestShapeGradScatter(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	shgRun(t, []shgCase{
		{name: "scatter_nd_none", op: "ScatterND", opset: 13,
			in: []*Tensor{randF64(rng, 4, 3), FromInt64([]int64{1, -1}, 2, 1), randF64(rng, 2, 3)}, wrt: []int{0, 2}},
		{name: "scatter_nd_none_duplicates", op: "ScatterND", opset: 13,
			in: []*Tensor{randF64(rng, 4, 3), FromInt64([]int64{1, 0, 1, 2, 1, 0}, 3, 2), randF64(rng, 3)}, wrt: []int{0, 2}},
		{name: "scatter_nd_add_duplicates", op: "ScatterND", opset: 16, attrs: map[string]any{"reduction": "add"},
			in: []*Tensor{randF64(rng, 4, 3), FromInt64([]int64{1, 3, 1}, 3, 1), randF64(rng, 3, 3)}, wrt: []int{0, 2}},
		{name: "scatter_elements", op: "ScatterElements", opset: 13, attrs: map[string]any{"axis": 1},
			in: []*Tensor{randF64(rng, 3, 4), FromInt64([]int64{0, -1, 2, 1, 3, 1}, 3, 2), randF64(rng, 3, 2)}, wrt: []int{0, 2}},
		{name: "scatter_elements_add", op: "ScatterElements", opset: 16, attrs: map[string]any{"reduction": "add"},
			in: []*Tensor{randF64(rng, 3, 2), FromInt64([]int64{1, 1, 1, 0}, 2, 2), randF64(rng, 2, 2)}, wrt: []int{0, 2}},
	})
}

func TestShapeGradBroadcast(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	shgRun(t, []shgCase{
		{name: "expand_rank_up", op: "Expand", opset: 13, in: []*Tensor{randF64(rng, 3, 1), shgI64(2, 1, 4)}},
		{name: "expand_both_ways", op: "Expand", opset: 13, in: []*Tensor{randF64(rng, 1, 3, 1), shgI64(2, 1, 4)}},
		{name: "expand_scalar_like", op: "Expand", opset: 8, in: []*Tensor{randF64(rng, 1), shgI64(3, 4)}},
		{name: "expand_noop", op: "Expand", opset: 13, in: []*Tensor{randF64(rng, 2, 3), shgI64(1, 1)}},
		{name: "tile", op: "Tile", opset: 13, in: []*Tensor{randF64(rng, 2, 3), shgI64(3, 2)}},
		{name: "tile_3d", op: "Tile", opset: 6, in: []*Tensor{randF64(rng, 2, 1, 3), shgI64(1, 4, 2)}},
	})
}

func TestShapeGradPad(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	var cases []shgCase
	for _, mode := range []string{"constant", "reflect", "edge"} {
		cases = append(cases,
			shgCase{name: mode + "_opset2_attr", op: "Pad", opset: 2,
				attrs: map[string]any{"mode": mode, "pads": []int{1, 0, 2, 2, 1, 1}},
				in:    []*Tensor{randF64(rng, 3, 4, 5)}},
			shgCase{name: mode + "_opset13_input", op: "Pad", opset: 13,
				attrs: map[string]any{"mode": mode},
				in:    []*Tensor{randF64(rng, 2, 3, 4), shgI64(0, 2, 3, 1, 1, 2)}},
			shgCase{name: mode + "_opset18_axes_crop", op: "Pad", opset: 18,
				attrs: map[string]any{"mode": mode},
				in:    []*Tensor{randF64(rng, 2, 4, 5), shgI64(-1, 3, 2, -1), nil, shgI64(-1, 1)}},
		)
	}
	cases = append(cases,
		shgCase{name: "constant_value_grad", op: "Pad", opset: 11,
			in: []*Tensor{randF64(rng, 2, 3), shgI64(1, 0, 2, 1), shgF64s(0.5)}, wrt: []int{0, 2}},
		shgCase{name: "constant_value_scalar", op: "Pad", opset: 18,
			in: []*Tensor{randF64(rng, 3, 3), shgI64(1, -1, 0, 2), {DType: Float64, Shape: []int{}, F64: []float64{2}}}, wrt: []int{0, 2}},
		shgCase{name: "reflect_multi", op: "Pad", opset: 13, attrs: map[string]any{"mode": "reflect"},
			in: []*Tensor{randF64(rng, 3, 3), shgI64(0, 5, 0, 4)}},
		shgCase{name: "edge_big", op: "Pad", opset: 13, attrs: map[string]any{"mode": "edge"},
			in: []*Tensor{randF64(rng, 1, 2, 3, 2), shgI64(0, 0, 3, 1, 0, 0, 2, 4)}},
		shgCase{name: "wrap_opset19", op: "Pad", opset: 19, attrs: map[string]any{"mode": "wrap"},
			in: []*Tensor{randF64(rng, 3, 4), shgI64(2, 5, 4, 1)}},
		shgCase{name: "pad1_paddings", op: "Pad", opset: 1, attrs: map[string]any{"paddings": []int{1, 1, 0, 2}},
			in: []*Tensor{randF64(rng, 2, 3)}},
		shgCase{name: "center_crop_pad", op: "CenterCropPad", opset: 18,
			in: []*Tensor{randF64(rng, 5, 4, 3), shgI64(3, 7)}, attrs: map[string]any{"axes": []int{0, -2}}},
	)
	shgRun(t, cases)
}

func TestShapeGradResize(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	empty := &Tensor{DType: Float32, Shape: []int{0}, F32: []float32{}}
	sc := func(v ...float32) *Tensor { return FromFloat32(v, len(v)) }
	var cases []shgCase
	for _, coord := range []string{"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "tf_half_pixel_for_nn"} {
		for _, nm := range []string{"round_prefer_floor", "floor", "ceil", "round_prefer_ceil"} {
			cases = append(cases, shgCase{name: "nearest_" + coord + "_" + nm, op: "Resize", opset: 13,
				attrs: map[string]any{"mode": "nearest", "coordinate_transformation_mode": coord, "nearest_mode": nm},
				in:    []*Tensor{randF64(rng, 1, 2, 3, 4), empty, sc(1, 1, 1.7, 0.6)}})
		}
	}
	for _, coord := range []string{"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "half_pixel_symmetric"} {
		cases = append(cases,
			shgCase{name: "linear_up_" + coord, op: "Resize", opset: 19,
				attrs: map[string]any{"mode": "linear", "coordinate_transformation_mode": coord},
				in:    []*Tensor{randF64(rng, 1, 2, 3, 4), empty, sc(1, 1, 2, 1.5)}},
			shgCase{name: "linear_down_" + coord, op: "Resize", opset: 19,
				attrs: map[string]any{"mode": "linear", "coordinate_transformation_mode": coord},
				in:    []*Tensor{randF64(rng, 2, 1, 5, 7), empty, nil, shgI64(2, 1, 3, 4)}},
			shgCase{name: "cubic_" + coord, op: "Resize", opset: 19,
				attrs: map[string]any{"mode": "cubic", "coordinate_transformation_mode": coord},
				in:    []*Tensor{randF64(rng, 1, 1, 4, 5), empty, sc(1, 1, 1.5, 0.8)}},
		)
	}
	cases = append(cases,
		shgCase{name: "linear_tf_crop_and_resize", op: "Resize", opset: 13,
			attrs: map[string]any{"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 3.0},
			in:    []*Tensor{randF64(rng, 1, 1, 4, 5), sc(0, 0, -0.2, 0.3, 1, 1, 1.1, 0.9), nil, shgI64(1, 1, 5, 3)}},
		shgCase{name: "nearest_tf_crop_and_resize", op: "Resize", opset: 13,
			attrs: map[string]any{"mode": "nearest", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 2.0},
			in:    []*Tensor{randF64(rng, 1, 1, 4, 5), sc(0, 0, -0.2, 0.3, 1, 1, 1.1, 0.9), nil, shgI64(1, 1, 5, 3)}},
		shgCase{name: "cubic_exclude_outside", op: "Resize", opset: 13,
			attrs: map[string]any{"mode": "cubic", "exclude_outside": 1, "cubic_coeff_a": -0.5},
			in:    []*Tensor{randF64(rng, 1, 1, 4, 4), empty, sc(1, 1, 2, 0.75)}},
		shgCase{name: "linear_antialias", op: "Resize", opset: 18,
			attrs: map[string]any{"mode": "linear", "antialias": 1},
			in:    []*Tensor{randF64(rng, 1, 1, 9, 8), empty, sc(1, 1, 0.4, 0.6)}},
		shgCase{name: "cubic_antialias", op: "Resize", opset: 18,
			attrs: map[string]any{"mode": "cubic", "antialias": 1},
			in:    []*Tensor{randF64(rng, 1, 1, 7, 6), empty, sc(1, 1, 0.5, 1.5)}},
		shgCase{name: "linear_axes_keep_aspect", op: "Resize", opset: 18,
			attrs: map[string]any{"mode": "linear", "axes": []int{-1, 2}, "keep_aspect_ratio_policy": "not_larger"},
			in:    []*Tensor{randF64(rng, 1, 2, 4, 6), empty, nil, shgI64(9, 7)}},
		shgCase{name: "linear_1d_inner_rows", op: "Resize", opset: 13,
			attrs: map[string]any{"mode": "linear"},
			in:    []*Tensor{randF64(rng, 2, 5, 3), empty, sc(1, 1.6, 1)}},
		shgCase{name: "resize10_nearest", op: "Resize", opset: 10, attrs: map[string]any{"mode": "nearest"},
			in: []*Tensor{randF64(rng, 1, 2, 3, 3), sc(1, 1, 2, 0.7)}},
		shgCase{name: "resize10_linear", op: "Resize", opset: 10, attrs: map[string]any{"mode": "linear"},
			in: []*Tensor{randF64(rng, 1, 2, 3, 3), sc(1, 1, 2, 1.5)}},
		shgCase{name: "upsample7_nearest", op: "Upsample", opset: 7, attrs: map[string]any{"mode": "nearest", "scales": []float32{1, 1, 2, 3}},
			in: []*Tensor{randF64(rng, 1, 2, 2, 3)}},
		shgCase{name: "upsample9_linear", op: "Upsample", opset: 9, attrs: map[string]any{"mode": "linear"},
			in: []*Tensor{randF64(rng, 1, 2, 2, 3), sc(1, 1, 2, 2.5)}},
	)
	shgRun(t, cases)
}

// The integer and geometry inputs get no gradient, and Shape-like ops
// are differentiable (with nothing flowing back).
func TestShapeGradNilForIndexInputs(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	n := gradTestNode(t, "Gather", 13, nil, 2, 1)
	x, idx := randF64(rng, 3, 2), shgI64(2, 0)
	out, err := n.Op.Run(NewContext(nil), []*Tensor{x, idx})
	if err != nil {
		t.Fatal(err)
	}
	dIn, err := Backward(NewContext(nil), n, []*Tensor{x, idx}, out, []*Tensor{randF64(rng, 2, 2)}, []bool{true, true})
	if err != nil {
		t.Fatal(err)
	}
	if dIn[0] == nil || dIn[1] != nil {
		t.Fatalf("gradients %v, want data only", dIn)
	}
	for _, typ := range []string{"Shape", "Size", "ConstantOfShape", "Identity", "Slice", "Pad", "Resize", "Gather"} {
		if !Standard().HasGrad(typ) {
			t.Errorf("%s has no gradient", typ)
		}
	}
}

// Float32 gradients (the training type) agree with the float64 ones.
func TestShapeGradFloat32(t *testing.T) {
	rng := rand.New(rand.NewSource(10))
	type tc struct {
		op    string
		opset int
		attrs map[string]any
		in    []*Tensor
	}
	for i, c := range []tc{
		{"Pad", 13, map[string]any{"mode": "reflect"}, []*Tensor{randF64(rng, 3, 4), shgI64(1, 2, 2, 1)}},
		{"Slice", 13, nil, []*Tensor{randF64(rng, 4, 5), shgI64(3, 0), shgI64(0, 5), shgI64(0, 1), shgI64(-1, 2)}},
		{"Gather", 13, map[string]any{"axis": 1}, []*Tensor{randF64(rng, 2, 3), shgI64(0, 0, 2)}},
		{"Resize", 13, map[string]any{"mode": "linear"}, []*Tensor{randF64(rng, 1, 1, 3, 4), nil, FromFloat32([]float32{1, 1, 2, 1.5}, 4)}},
		{"Tile", 13, nil, []*Tensor{randF64(rng, 2, 3), shgI64(2, 2)}},
		{"Transpose", 13, nil, []*Tensor{randF64(rng, 2, 3, 4)}},
	} {
		t.Run(fmt.Sprint(c.op, i), func(t *testing.T) {
			n := gradTestNode(t, c.op, c.opset, c.attrs, len(c.in), 1)
			ctx := NewContext(nil)
			out64, err := n.Op.Run(ctx, c.in)
			if err != nil {
				t.Fatal(err)
			}
			dy64 := randF64(rng, out64[0].Shape...)
			in32 := append([]*Tensor{}, c.in...)
			in32[0] = shgTo32(c.in[0])
			out32, err := n.Op.Run(ctx, in32)
			if err != nil {
				t.Fatal(err)
			}
			need := make([]bool, len(c.in))
			need[0] = true
			g64, err := Backward(ctx, n, c.in, out64, []*Tensor{dy64}, need)
			if err != nil {
				t.Fatal(err)
			}
			g32, err := Backward(ctx, n, in32, out32, []*Tensor{shgTo32(dy64)}, need)
			if err != nil {
				t.Fatal(err)
			}
			if g32[0].DType != Float32 || !SameShape(g32[0].Shape, c.in[0].Shape) {
				t.Fatalf("float32 gradient is %v", g32[0])
			}
			for j, v := range g64[0].F64 {
				if math.Abs(float64(g32[0].F32[j])-v) > 1e-5*(1+math.Abs(v)) {
					t.Fatalf("element %d: float32 %v, float64 %v", j, g32[0].F32[j], v)
				}
			}
		})
	}
}

func shgTo32(t *Tensor) *Tensor {
	o := New(Float32, t.Shape...)
	for i, v := range t.F64 {
		o.F32[i] = float32(v)
	}
	return o
}

// A graph mixing shape computations (Shape feeding Reshape) with data
// movement differentiates end to end on the tape, and the whole path
// counts as differentiable.
func TestShapeGradTape(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	reg := Standard()
	node := func(op string, opset int, attrs map[string]any, ins, outs []string) *Node {
		n := gradTestNode(t, op, opset, attrs, len(ins), len(outs))
		n.Name = op + "_" + outs[0]
		n.Inputs, n.Outputs = ins, outs
		if err := reg.Build(n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	g := &Graph{
		Inputs:  []ValueInfo{{Name: "x", DType: Float64}},
		Outputs: []ValueInfo{{Name: "y"}},
		Consts: map[string]*Tensor{
			"perm_shape": shgI64(-1),
			"starts":     shgI64(-1),
			"ends":       shgI64(math.MinInt64),
			"axes":       shgI64(0),
			"steps":      shgI64(-2),
			"idx":        shgI64(1, 1, 0),
			"pads":       shgI64(1, 0, 1, 0),
		},
	}
	g.Nodes = []*Node{
		node("Transpose", 13, map[string]any{"perm": []int{1, 0}}, []string{"x"}, []string{"t"}),
		node("Shape", 15, nil, []string{"t"}, []string{"s"}),
		node("Reshape", 14, nil, []string{"t", "perm_shape"}, []string{"f"}),
		node("Reshape", 14, nil, []string{"f", "s"}, []string{"u"}),
		node("Slice", 13, nil, []string{"u", "starts", "ends", "axes", "steps"}, []string{"v"}),
		node("Gather", 13, map[string]any{"axis": 1}, []string{"v", "idx"}, []string{"w"}),
		node("Pad", 13, map[string]any{"mode": "reflect"}, []string{"w", "pads"}, []string{"p"}),
		node("Concat", 13, map[string]any{"axis": 0}, []string{"p", "p", "t"}, []string{"y"}),
	}
	if err := g.NonDifferentiable([]string{"x"}, nil); err != nil {
		t.Fatal(err)
	}
	x := randF64(rng, 3, 5)
	tp, outs, err := g.Forward(nil, map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	seed := randF64(rng, outs["y"].Shape...)
	grads, err := tp.Backward(nil, map[string]*Tensor{"y": seed}, []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	gx := grads["x"]
	if gx == nil || !SameShape(gx.Shape, x.Shape) {
		t.Fatalf("gradient of x: %v", gx)
	}
	loss := func(x *Tensor) float64 {
		o, err := g.Run(nil, map[string]*Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for i, v := range o["y"].F64 {
			s += v * seed.F64[i]
		}
		return s
	}
	const eps = 1e-6
	for i := range x.F64 {
		xp, xm := x.Clone(), x.Clone()
		xp.F64[i] += eps
		xm.F64[i] -= eps
		num := (loss(xp) - loss(xm)) / (2 * eps)
		if math.Abs(num-gx.F64[i]) > 1e-6+1e-6*math.Abs(num) {
			t.Errorf("x[%d]: tape gradient %v, numeric %v", i, gx.F64[i], num)
		}
	}
}

// Integer tensors moved by shape ops (shape arithmetic) never get a
// gradient, even when asked.
func TestShapeGradIntegerData(t *testing.T) {
	n := gradTestNode(t, "Concat", 13, map[string]any{"axis": 0}, 2, 1)
	a, b := shgI64(1, 2), shgI64(3)
	out, err := n.Op.Run(NewContext(nil), []*Tensor{a, b})
	if err != nil {
		t.Fatal(err)
	}
	dIn, err := Backward(NewContext(nil), n, []*Tensor{a, b}, out, []*Tensor{shgI64(0, 0, 0)}, []bool{true, true})
	if err != nil {
		t.Fatal(err)
	}
	if dIn[0] != nil || dIn[1] != nil {
		t.Fatalf("integer inputs got gradients %v", dIn)
	}
}

// Large enough for the parallel scatter paths.
func TestShapeGradLarge(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	empty := &Tensor{DType: Float32, Shape: []int{0}, F32: []float32{}}
	shgRun(t, []shgCase{
		{name: "pad_reflect", op: "Pad", opset: 13, attrs: map[string]any{"mode": "reflect"},
			in: []*Tensor{randF64(rng, 4, 8, 40, 40), shgI64(0, 0, 3, 2, 0, 0, 1, 4)}},
		{name: "pad_constant", op: "Pad", opset: 13,
			in: []*Tensor{randF64(rng, 3, 8, 40, 40), shgI64(0, 0, 1, 1, 0, 0, 1, 1), shgF64s(0.25)}, wrt: []int{0, 2}},
		{name: "tile", op: "Tile", opset: 13, in: []*Tensor{randF64(rng, 64, 600), shgI64(3, 1)}},
		{name: "slice_step", op: "Slice", opset: 13,
			in: []*Tensor{randF64(rng, 300, 500), shgI64(-1, 0), shgI64(0, 500), shgI64(0, 1), shgI64(-1, 1)}},
		{name: "resize_nearest_up", op: "Resize", opset: 13, attrs: map[string]any{"mode": "nearest"},
			in: []*Tensor{randF64(rng, 2, 4, 64, 64), empty, FromFloat32([]float32{1, 1, 2, 2}, 4)}},
		{name: "resize_linear_up", op: "Resize", opset: 13, attrs: map[string]any{"mode": "linear"},
			in: []*Tensor{randF64(rng, 2, 4, 64, 64), empty, FromFloat32([]float32{1, 1, 2, 2}, 4)}},
		{name: "gather_rows", op: "Gather", opset: 13,
			in: []*Tensor{randF64(rng, 500, 300), FromInt64(func() []int64 {
				v := make([]int64, 400)
				for i := range v {
					v[i] = int64(rng.Intn(1000) - 500)
				}
				return v
			}(), 400)}},
	})
}

// shgMappedAdd (serial and parallel paths) against a plain loop, with
// repeated and negative map entries.
func TestShapeGradMappedAdd(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	for _, xs := range [][]int{{3, 4}, {5, 30, 40}, {7, 50, 60}, {2, 1, 300, 3}} {
		x := New(Float64, xs...)
		maps := make([][]int, len(xs))
		for a, d := range xs {
			m := make([]int, d+rng.Intn(2*d+1))
			for i := range m {
				m[i] = rng.Intn(d+1) - 1
			}
			maps[a] = m
		}
		dy := randF64(rng, shgMapsShape(maps)...)
		dx, skipped, err := shgMappedGrad(x, dy, maps)
		if err != nil {
			t.Fatal(err)
		}
		want := New(Float64, xs...)
		wantSkip := 0.0
		st := Strides(xs)
		ost := Strides(dy.Shape)
		for i, v := range dy.F64 {
			off, skip := 0, false
			for a := range xs {
				m := maps[a][(i/ost[a])%dy.Shape[a]]
				if m < 0 {
					skip = true
					break
				}
				off += m * st[a]
			}
			if skip {
				wantSkip += v
			} else {
				want.F64[off] += v
			}
		}
		if math.Abs(skipped-wantSkip) > 1e-9*(1+math.Abs(wantSkip)) {
			t.Errorf("%v: skipped sum %v, want %v", xs, skipped, wantSkip)
		}
		for i, v := range want.F64 {
			if math.Abs(dx.F64[i]-v) > 1e-9*(1+math.Abs(v)) {
				t.Fatalf("%v: element %d is %v, want %v", xs, i, dx.F64[i], v)
			}
		}
	}
}
