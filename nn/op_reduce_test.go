package nn

import (
	"math"
	"testing"
)

func TestReduceSumAxes(t *testing.T) {
	x := normF32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	// Opset 13: axes as input.
	y := normMust(t, "ReduceSum", 13, []*Attr{normAI("keepdims", 0)}, 1, nil, x, normI64([]int{1}, 1))
	normCheck(t, "sum axis 1", y[0], []int{2}, []float64{6, 15}, 0)
	y = normMust(t, "ReduceSum", 13, nil, 1, nil, x, normI64([]int{1}, -2))
	normCheck(t, "sum axis -2", y[0], []int{1, 3}, []float64{5, 7, 9}, 0)
	// No axes: everything.
	y = normMust(t, "ReduceSum", 13, nil, 1, nil, x)
	normCheck(t, "sum all", y[0], []int{1, 1}, []float64{21}, 0)
	y = normMust(t, "ReduceSum", 13, []*Attr{normAI("keepdims", 0)}, 1, nil, x, normI64([]int{0}))
	normCheck(t, "sum empty axes", y[0], []int{}, []float64{21}, 0)
	// noop_with_empty_axes.
	y = normMust(t, "ReduceSum", 13, []*Attr{normAI("noop_with_empty_axes", 1)}, 1, nil, x, normI64([]int{0}))
	normCheck(t, "noop", y[0], []int{2, 3}, []float64{1, 2, 3, 4, 5, 6}, 0)
	// Opset 11: axes attribute.
	y = normMust(t, "ReduceSum", 11, []*Attr{normAInts("axes", 0, 1), normAI("keepdims", 0)}, 1, nil, x)
	normCheck(t, "sum attr", y[0], []int{}, []float64{21}, 0)
	// Axes attribute not allowed from 13.
	if _, err := normRun(t, "ReduceSum", 13, []*Attr{normAInts("axes", 0)}, 1, nil, x); err == nil {
		t.Fatal("axes attribute at opset 13 accepted")
	}
	for _, bad := range [][]int64{{2}, {-3}, {0, 0}, {1, -1}} {
		if _, err := normRun(t, "ReduceSum", 13, nil, 1, nil, x, normI64([]int{len(bad)}, bad...)); err == nil {
			t.Fatalf("axes %v accepted", bad)
		}
	}
}

func TestReduceEmptySet(t *testing.T) {
	x := New(Float32, 2, 0, 4)
	axes := normI64([]int{1}, 1)
	y := normMust(t, "ReduceSum", 13, nil, 1, nil, x, axes)
	normCheck(t, "sum", y[0], []int{2, 1, 4}, make([]float64, 8), 0)
	inf := math.Inf(1)
	cases := []struct {
		op   string
		want float64
	}{
		{"ReduceProd", 1}, {"ReduceMax", -inf}, {"ReduceMin", inf}, {"ReduceMean", math.NaN()},
		{"ReduceL1", 0}, {"ReduceL2", 0}, {"ReduceSumSquare", 0}, {"ReduceLogSum", -inf}, {"ReduceLogSumExp", -inf},
	}
	for _, c := range cases {
		y := normMust(t, c.op, 18, nil, 1, nil, x, axes)
		w := make([]float64, 8)
		for i := range w {
			w[i] = c.want
		}
		normCheck(t, c.op, y[0], []int{2, 1, 4}, w, 0)
	}
	// Reducing a non-empty axis of an empty tensor gives an empty result.
	y = normMust(t, "ReduceSum", 13, nil, 1, nil, x, normI64([]int{1}, 2))
	normCheck(t, "non-reduced zero", y[0], []int{2, 0, 1}, nil, 0)
	// Integer max over the empty set: the type's minimum.
	xi := New(Int32, 0, 3)
	y = normMust(t, "ReduceMax", 18, []*Attr{normAI("keepdims", 0)}, 1, nil, xi, normI64([]int{1}, 0))
	normCheck(t, "int max", y[0], []int{3}, []float64{math.MinInt32, math.MinInt32, math.MinInt32}, 0)
}

func TestReduceKinds(t *testing.T) {
	x := normF32([]int{2, 2}, 1, 2, 3, 4)
	l := math.Log(1 + math.Exp(-1))
	cases := []struct {
		op   string
		want []float64
	}{
		{"ReduceSum", []float64{3, 7}},
		{"ReduceMean", []float64{1.5, 3.5}},
		{"ReduceMax", []float64{2, 4}},
		{"ReduceMin", []float64{1, 3}},
		{"ReduceProd", []float64{2, 12}},
		{"ReduceL1", []float64{3, 7}},
		{"ReduceL2", []float64{math.Sqrt(5), 5}},
		{"ReduceSumSquare", []float64{5, 25}},
		{"ReduceLogSum", []float64{math.Log(3), math.Log(7)}},
		{"ReduceLogSumExp", []float64{2 + l, 4 + l}},
	}
	for _, c := range cases {
		// Last axis (runs reduced) at opset 18, and the same via a
		// transposed layout (first axis, runs kept) at opset 11.
		y := normMust(t, c.op, 18, []*Attr{normAI("keepdims", 0)}, 1, nil, x, normI64([]int{1}, 1))
		normCheck(t, c.op+" last", y[0], []int{2}, c.want, 1e-6)
		xt := normF32([]int{2, 2}, 1, 3, 2, 4)
		y = normMust(t, c.op, 11, []*Attr{normAInts("axes", 0)}, 1, nil, xt)
		normCheck(t, c.op+" first", y[0], []int{1, 2}, c.want, 1e-6)
		// float64 storage.
		x64 := &Tensor{DType: Float64, Shape: []int{2, 2}, F64: []float64{1, 2, 3, 4}}
		y = normMust(t, c.op, 11, []*Attr{normAInts("axes", -1), normAI("keepdims", 0)}, 1, nil, x64)
		if y[0].DType != Float64 {
			t.Fatalf("%s: dtype %v", c.op, y[0].DType)
		}
		normCheck(t, c.op+" f64", y[0], []int{2}, c.want, 1e-12)
	}
}

func TestReduceNonContiguousAxes(t *testing.T) {
	// x[i][j][k] = 6i + 2j + k; mean over i and k is 2j + 3.5.
	x := normF32([]int{2, 3, 2}, normSeq(12)...)
	y := normMust(t, "ReduceMean", 18, []*Attr{normAI("keepdims", 0)}, 1, nil, x, normI64([]int{2}, 0, 2))
	normCheck(t, "mean", y[0], []int{3}, []float64{3.5, 5.5, 7.5}, 1e-6)
	// Reduce the middle axis of [2,3,2]: sum over j of 6i+2j+k = 18i+6+3k.
	y = normMust(t, "ReduceSum", 13, nil, 1, nil, x, normI64([]int{1}, 1))
	normCheck(t, "sum mid", y[0], []int{2, 1, 2}, []float64{6, 9, 24, 27}, 0)
	// Size-1 axes are transparent.
	x4 := normF32([]int{1, 2, 1, 3}, 1, 2, 3, 4, 5, 6)
	y = normMust(t, "ReduceMax", 18, []*Attr{normAI("keepdims", 0)}, 1, nil, x4, normI64([]int{2}, 1, 2))
	normCheck(t, "max", y[0], []int{1, 3}, []float64{4, 5, 6}, 0)
}

func TestReduceLarge(t *testing.T) {
	// Big enough to go parallel; compare with a direct double loop.
	const A, B, C = 64, 50, 33
	x := New(Float32, A, B, C)
	for i := range x.F32 {
		x.F32[i] = float32(math.Sin(float64(i)))
	}
	for _, ax := range []int64{0, 1, 2} {
		y := normMust(t, "ReduceSum", 13, nil, 1, nil, x, normI64([]int{1}, ax))
		dims := []int{A, B, C}
		want := make([]float64, A*B*C/dims[ax])
		for i := 0; i < A; i++ {
			for j := 0; j < B; j++ {
				for k := 0; k < C; k++ {
					idx := [3]int{i, j, k}
					idx[ax] = 0
					o := (idx[0]*B+idx[1])*C + idx[2]
					switch ax {
					case 0:
						o = idx[1]*C + idx[2]
					case 1:
						o = idx[0]*C + idx[2]
					case 2:
						o = idx[0]*B + idx[1]
					}
					want[o] += float64(x.F32[(i*B+j)*C+k])
				}
			}
		}
		shape := []int{A, B, C}
		shape[ax] = 1
		normCheck(t, "large", y[0], shape, want, 1e-5)
	}
}

func TestReduceInts(t *testing.T) {
	x := &Tensor{DType: Int32, Shape: []int{2, 2}, I64: []int64{math.MaxInt32, 1, 3, 4}}
	y := normMust(t, "ReduceSum", 13, []*Attr{normAI("keepdims", 0)}, 1, nil, x, normI64([]int{1}, 1))
	if y[0].DType != Int32 || y[0].I64[0] != math.MinInt32 || y[0].I64[1] != 7 {
		t.Fatalf("int32 sum: %v %v", y[0].DType, y[0].I64)
	}
	y = normMust(t, "ReduceMean", 18, []*Attr{normAI("keepdims", 0)}, 1, nil, normI64([]int{2}, 1, 2), normI64([]int{1}, 0))
	if y[0].I64[0] != 1 {
		t.Fatalf("int mean: %v", y[0].I64)
	}
	u := &Tensor{DType: Uint64, Shape: []int{2}, I64: []int64{-1, 5}}
	y = normMust(t, "ReduceMax", 18, []*Attr{normAI("keepdims", 0)}, 1, nil, u)
	if uint64(y[0].I64[0]) != math.MaxUint64 {
		t.Fatalf("uint64 max: %v", y[0].I64)
	}
	b := &Tensor{DType: Bool, Shape: []int{2, 2}, Bool: []bool{true, false, false, false}}
	y = normMust(t, "ReduceMax", 20, []*Attr{normAI("keepdims", 0)}, 1, nil, b, normI64([]int{1}, 1))
	if y[0].DType != Bool || !y[0].Bool[0] || y[0].Bool[1] {
		t.Fatalf("bool max: %v", y[0].Bool)
	}
	y = normMust(t, "ReduceL2", 18, []*Attr{normAI("keepdims", 0)}, 1, nil, normI64([]int{2}, 3, 4))
	if y[0].I64[0] != 5 {
		t.Fatalf("int L2: %v", y[0].I64)
	}
}

func TestReduceFloat16(t *testing.T) {
	x := &Tensor{DType: Float16, Shape: []int{3}, F32: []float32{1, 1, 1}}
	y := normMust(t, "ReduceMean", 18, nil, 1, nil, x)
	// 1/1 exactly; and a value needing rounding: 1/3.
	normCheck(t, "f16", y[0], []int{1}, []float64{1}, 0)
	x.F32 = []float32{1, 0, 0}
	y = normMust(t, "ReduceMean", 18, nil, 1, nil, x)
	if want := Float16ToFloat32(Float32ToFloat16(1.0 / 3)); y[0].F32[0] != want {
		t.Fatalf("f16 mean %v, want %v", y[0].F32[0], want)
	}
}

func TestArgMaxMin(t *testing.T) {
	x := normF32([]int{2, 3}, 1, 3, 3, 4, 0, 4)
	y := normMust(t, "ArgMax", 13, []*Attr{normAI("axis", 1), normAI("keepdims", 0)}, 1, nil, x)
	normCheck(t, "argmax first", y[0], []int{2}, []float64{1, 0}, 0)
	if y[0].DType != Int64 {
		t.Fatalf("dtype %v", y[0].DType)
	}
	y = normMust(t, "ArgMax", 13, []*Attr{normAI("axis", -1), normAI("select_last_index", 1)}, 1, nil, x)
	normCheck(t, "argmax last", y[0], []int{2, 1}, []float64{2, 2}, 0)
	y = normMust(t, "ArgMin", 13, nil, 1, nil, x)
	normCheck(t, "argmin axis 0", y[0], []int{1, 3}, []float64{0, 1, 0}, 0)
	y = normMust(t, "ArgMin", 13, []*Attr{normAI("select_last_index", 1)}, 1, nil, normI64([]int{2, 2}, 5, 2, 5, 2))
	normCheck(t, "argmin int last", y[0], []int{1, 2}, []float64{1, 1}, 0)
	if _, err := normRun(t, "ArgMax", 13, []*Attr{normAI("axis", 2)}, 1, nil, x); err == nil {
		t.Fatal("axis 2 of rank 2 accepted")
	}
}

// TestReduceAllAxisSubsets checks every axis subset of a rank-4 tensor (with
// a size-1 axis) against a direct coordinate loop.
func TestReduceAllAxisSubsets(t *testing.T) {
	shape := []int{3, 1, 4, 5}
	x := New(Float32, shape...)
	for i := range x.F32 {
		x.F32[i] = float32(math.Sin(float64(i)*1.3) + 1.5)
	}
	str := Strides(shape)
	for mask := 0; mask < 16; mask++ {
		var axes []int64
		for a := 0; a < 4; a++ {
			if mask&(1<<a) != 0 {
				axes = append(axes, int64(a))
			}
		}
		outShape := append([]int{}, shape...)
		for _, a := range axes {
			outShape[a] = 1
		}
		if len(axes) == 0 {
			outShape = []int{1, 1, 1, 1}
		}
		ostr := Strides(outShape)
		sum := make([]float64, NumElements(outShape))
		mx := make([]float64, len(sum))
		for i := range mx {
			mx[i] = math.Inf(-1)
		}
		for i := range x.F32 {
			o := 0
			for d := 0; d < 4; d++ {
				c := (i / str[d]) % shape[d]
				if outShape[d] == 1 {
					c = 0
				}
				o += c * ostr[d]
			}
			v := float64(x.F32[i])
			sum[o] += v
			mx[o] = math.Max(mx[o], v)
		}
		axesT := normI64([]int{len(axes)}, axes...)
		y := normMust(t, "ReduceSum", 13, nil, 1, nil, x, axesT)
		normCheck(t, "sum", y[0], outShape, sum, 1e-6)
		y = normMust(t, "ReduceMax", 18, nil, 1, nil, x, axesT)
		normCheck(t, "max", y[0], outShape, mx, 0)
	}
}

func TestRedSumVec(t *testing.T) {
	for _, n := range []int{0, 5, 16, 17, 33, 100, 1000} {
		x := make([]float32, n)
		var s, q float64
		for i := range x {
			x[i] = float32(math.Sin(float64(i)) * 3)
			s += float64(x[i])
		}
		mu := 0.25
		for _, v := range x {
			q += (float64(v) - mu) * (float64(v) - mu)
		}
		if got := redRowF(redSum, x, 0); math.Abs(got-s) > 1e-9 {
			t.Fatalf("n %d: sum %v, want %v", n, got, s)
		}
		if got := normSqDev(x, mu); math.Abs(got-q) > 1e-9*(1+q) {
			t.Fatalf("n %d: sqdev %v, want %v", n, got, q)
		}
	}
}
