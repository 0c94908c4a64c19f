package nn

import (
	"math"
	"testing"
)

// normSoftmaxRef computes softmax of v directly.
func normSoftmaxRef(v []float64) []float64 {
	var s float64
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Exp(x)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

func TestSoftmaxLastAxis(t *testing.T) {
	x := normF32([]int{2, 3}, 1, 2, 3, 0, 0, 0)
	want := append(normSoftmaxRef([]float64{1, 2, 3}), 1.0/3, 1.0/3, 1.0/3)
	y := normMust(t, "Softmax", 13, nil, 1, nil, x)
	normCheck(t, "softmax", y[0], []int{2, 3}, want, 1e-6)
	y = normMust(t, "LogSoftmax", 13, []*Attr{normAI("axis", -1)}, 1, nil, x)
	lw := make([]float64, len(want))
	for i, w := range want {
		lw[i] = math.Log(w)
	}
	normCheck(t, "logsoftmax", y[0], []int{2, 3}, lw, 1e-6)
	// Large values do not overflow.
	y = normMust(t, "Softmax", 13, nil, 1, nil, normF32([]int{2}, 1000, 1001))
	normCheck(t, "large", y[0], []int{2}, normSoftmaxRef([]float64{0, 1}), 1e-6)
	y = normMust(t, "LogSoftmax", 13, nil, 1, nil, normF32([]int{2}, 1000, 1001))
	normCheck(t, "log large", y[0], []int{2}, []float64{-1 - math.Log(1+math.Exp(-1)), -math.Log(1 + math.Exp(-1))}, 1e-6)
}

func TestSoftmaxAxisOpset13(t *testing.T) {
	// Axis 0 of [2,3]: pairs (0,3), (1,4), (2,5) -> column softmax.
	x := normF32([]int{2, 3}, 0, 1, 2, 3, 5, 2)
	y := normMust(t, "Softmax", 13, []*Attr{normAI("axis", 0)}, 1, nil, x)
	c0 := normSoftmaxRef([]float64{0, 3})
	c1 := normSoftmaxRef([]float64{1, 5})
	c2 := normSoftmaxRef([]float64{2, 2})
	normCheck(t, "axis0", y[0], []int{2, 3}, []float64{c0[0], c1[0], c2[0], c0[1], c1[1], c2[1]}, 1e-6)
	y = normMust(t, "LogSoftmax", 13, []*Attr{normAI("axis", 0)}, 1, nil, x)
	normCheck(t, "log axis0", y[0], []int{2, 3}, []float64{math.Log(c0[0]), math.Log(c1[0]), math.Log(c2[0]), math.Log(c0[1]), math.Log(c1[1]), math.Log(c2[1])}, 1e-6)
	// float64.
	x64 := &Tensor{DType: Float64, Shape: []int{3}, F64: []float64{1, 2, 3}}
	y = normMust(t, "Softmax", 13, nil, 1, nil, x64)
	normCheck(t, "f64", y[0], []int{3}, normSoftmaxRef([]float64{1, 2, 3}), 1e-12)
	if _, err := normRun(t, "Softmax", 13, []*Attr{normAI("axis", 2)}, 1, nil, x); err == nil {
		t.Fatal("axis 2 of rank 2 accepted")
	}
	if _, err := normRun(t, "Softmax", 13, nil, 1, nil, normI64([]int{2}, 1, 2)); err == nil {
		t.Fatal("int input accepted")
	}
}

func TestSoftmaxCoerce2D(t *testing.T) {
	// Opset 11, default axis 1 on [2,2,2]: softmax over the 4 trailing
	// elements of each batch entry.
	x := normF32([]int{2, 2, 2}, 0, 1, 2, 3, 1, 1, 1, 1)
	y := normMust(t, "Softmax", 11, nil, 1, nil, x)
	want := append(normSoftmaxRef([]float64{0, 1, 2, 3}), 0.25, 0.25, 0.25, 0.25)
	normCheck(t, "coerce", y[0], []int{2, 2, 2}, want, 1e-6)
	// Axis 2: rows of 2.
	y = normMust(t, "Softmax", 11, []*Attr{normAI("axis", 2)}, 1, nil, x)
	p := normSoftmaxRef([]float64{0, 1})
	normCheck(t, "coerce axis2", y[0], []int{2, 2, 2}, []float64{p[0], p[1], p[0], p[1], 0.5, 0.5, 0.5, 0.5}, 1e-6)
	// Axis 0: the whole tensor.
	y = normMust(t, "LogSoftmax", 9, []*Attr{normAI("axis", 0)}, 1, nil, normF32([]int{2, 1}, 0, 0))
	normCheck(t, "coerce axis0", y[0], []int{2, 1}, []float64{-math.Log(2), -math.Log(2)}, 1e-6)
}

func TestSoftmaxLargeParallel(t *testing.T) {
	const R, C = 300, 257
	x := New(Float32, R, C)
	for i := range x.F32 {
		x.F32[i] = float32(math.Cos(float64(i) * 0.37))
	}
	y := normMust(t, "Softmax", 13, nil, 1, nil, x)
	for r := 0; r < R; r++ {
		row := make([]float64, C)
		for c := range row {
			row[c] = float64(x.F32[r*C+c])
		}
		want := normSoftmaxRef(row)
		for c, w := range want {
			if g := float64(y[0].F32[r*C+c]); math.Abs(g-w) > 1e-6 {
				t.Fatalf("row %d col %d: %v want %v", r, c, g, w)
			}
		}
	}
	// Middle axis of [R, C, 2] (strided path).
	x3 := x.Reshaped(150, 257, 2)
	y = normMust(t, "Softmax", 13, []*Attr{normAI("axis", 1)}, 1, nil, x3)
	for o := 0; o < 150; o += 37 {
		for i := 0; i < 2; i++ {
			col := make([]float64, 257)
			for j := range col {
				col[j] = float64(x3.F32[(o*257+j)*2+i])
			}
			want := normSoftmaxRef(col)
			for j, w := range want {
				if g := float64(y[0].F32[(o*257+j)*2+i]); math.Abs(g-w) > 1e-6 {
					t.Fatalf("strided %d %d %d: %v want %v", o, j, i, g, w)
				}
			}
		}
	}
}

func TestSmExp32(t *testing.T) {
	for x := -110.0; x <= 95; x += 0.0137 {
		got, want := smExp32(x), math.Exp(x)
		if float32(want) == 0 {
			if got > 1e-44 {
				t.Fatalf("exp(%v) = %v, want ~0", x, got)
			}
			continue
		}
		if math.IsInf(float64(float32(want)), 1) {
			if !math.IsInf(got, 1) && float32(got) < math.MaxFloat32 {
				t.Fatalf("exp(%v) = %v, want +Inf", x, got)
			}
			continue
		}
		if want > 1e-37 && math.Abs(got-want) > 2e-7*want {
			t.Fatalf("exp(%v) = %v, want %v (rel %v)", x, got, want, math.Abs(got-want)/want)
		}
	}
	if !math.IsNaN(smExp32(math.NaN())) || smExp32(math.Inf(-1)) != 0 || !math.IsInf(smExp32(math.Inf(1)), 1) {
		t.Fatal("special values")
	}
}

func TestSmExpSubVec(t *testing.T) {
	x := make([]float32, 1003)
	for i := range x {
		x[i] = float32(-120 + 120*float64(i)/1002)
	}
	y := make([]float32, len(x))
	n, s := smExpSubVec(x, y, 0)
	if n != 0 && n != 1000 {
		t.Fatalf("handled %d of %d", n, len(x))
	}
	var want float64
	for i := 0; i < n; i++ {
		w := math.Exp(float64(x[i]))
		want += w
		g := float64(y[i])
		if w < 1e-37 {
			if g > 1e-37 {
				t.Fatalf("exp(%v) = %v, want ~0", x[i], g)
			}
			continue
		}
		if math.Abs(g-w) > 3e-7*w {
			t.Fatalf("exp(%v) = %v, want %v (rel %v)", x[i], g, w, math.Abs(g-w)/w)
		}
	}
	if math.Abs(s-want) > 1e-6*want {
		t.Fatalf("sum %v, want %v", s, want)
	}
	t.Logf("vector exp handled %d elements", n)
}

func TestSmMax32(t *testing.T) {
	for _, n := range []int{1, 7, 8, 9, 16, 37, 64} {
		for pos := 0; pos < n; pos++ {
			x := make([]float32, n)
			for i := range x {
				x[i] = -float32(i % 5)
			}
			x[pos] = 3
			if m := smMax32(x); m != 3 {
				t.Fatalf("n %d pos %d: max %v", n, pos, m)
			}
			x[pos] = float32(math.NaN())
			if m := smMax32(x); !math.IsNaN(m) {
				t.Fatalf("n %d pos %d: max %v, want NaN", n, pos, m)
			}
		}
	}
}
