package nn

import (
	"math"
	"math/rand"
	"strings"
	"testing"
)

// ewTestRun builds one node of the elementwise family and runs it.
func ewTestRun(t *testing.T, typ string, opset int, attrs map[string]*Attr, in ...*Tensor) ([]*Tensor, error) {
	t.Helper()
	r := NewRegistry(elementwiseOps())
	n := &Node{OpType: typ, Opset: opset, Attrs: attrs, Outputs: []string{"y"}}
	if err := r.Build(n); err != nil {
		return nil, err
	}
	return n.Op.Run(NewContext(nil), in)
}

func ewTestOne(t *testing.T, typ string, opset int, attrs map[string]*Attr, in ...*Tensor) *Tensor {
	t.Helper()
	out, err := ewTestRun(t, typ, opset, attrs, in...)
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return out[0]
}

func ewInts(dt DType, shape []int, v ...int64) *Tensor {
	t := FromInt64(v, shape...)
	t.DType = dt
	return t
}

func ewF64(shape []int, v ...float64) *Tensor {
	return &Tensor{DType: Float64, Shape: shape, F64: v}
}

func ewBools(shape []int, v ...bool) *Tensor {
	return &Tensor{DType: Bool, Shape: shape, Bool: v}
}

func ewCheckF32(t *testing.T, what string, got *Tensor, shape []int, want []float32, tol float64) {
	t.Helper()
	if !SameShape(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, shape)
	}
	if len(got.F32) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got.F32), len(want))
	}
	for i := range want {
		g, w := float64(got.F32[i]), float64(want[i])
		if math.IsNaN(w) && math.IsNaN(g) {
			continue
		}
		if math.Abs(g-w) > tol*math.Max(1, math.Abs(w)) {
			t.Fatalf("%s: [%d] = %v, want %v (all %v)", what, i, g, w, got.F32)
		}
	}
}

func ewCheckI64(t *testing.T, what string, got *Tensor, dt DType, want ...int64) {
	t.Helper()
	if got.DType != dt {
		t.Fatalf("%s: dtype %v, want %v", what, got.DType, dt)
	}
	for i := range want {
		if got.I64[i] != want[i] {
			t.Fatalf("%s: got %v, want %v", what, got.I64, want)
		}
	}
}

func ewCheckBool(t *testing.T, what string, got *Tensor, want ...bool) {
	t.Helper()
	if got.DType != Bool || len(got.Bool) != len(want) {
		t.Fatalf("%s: got %v %v, want %v", what, got, got.Bool, want)
	}
	for i := range want {
		if got.Bool[i] != want[i] {
			t.Fatalf("%s: got %v, want %v", what, got.Bool, want)
		}
	}
}

func TestEwAddBroadcast(t *testing.T) {
	a := FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b := FromFloat32([]float32{10, 20, 30}, 3)
	ewCheckF32(t, "row", ewTestOne(t, "Add", 13, nil, a, b), []int{2, 3}, []float32{11, 22, 33, 14, 25, 36}, 0)
	ewCheckF32(t, "same", ewTestOne(t, "Sub", 13, nil, a, a), []int{2, 3}, []float32{0, 0, 0, 0, 0, 0}, 0)
	ewCheckF32(t, "scalar", ewTestOne(t, "Mul", 13, nil, Scalar(2), a), []int{2, 3}, []float32{2, 4, 6, 8, 10, 12}, 0)
	ewCheckF32(t, "scalar div", ewTestOne(t, "Div", 13, nil, a, Scalar(2)), []int{2, 3}, []float32{0.5, 1, 1.5, 2, 2.5, 3}, 0)
	ewCheckF32(t, "scalar rdiv", ewTestOne(t, "Div", 13, nil, Scalar(6), a), []int{2, 3}, []float32{6, 3, 2, 1.5, 1.2, 1}, 1e-7)
	// column [2,1] against row [3]: outer sum
	c := FromFloat32([]float32{100, 200}, 2, 1)
	ewCheckF32(t, "outer", ewTestOne(t, "Sub", 13, nil, c, b), []int{2, 3}, []float32{90, 80, 70, 190, 180, 170}, 0)
	// rank-3 two-sided: [2,1,3] + [4,1] -> [2,4,3]; expected by index arithmetic
	x := FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 1, 3)
	y := FromFloat32([]float32{10, 20, 30, 40}, 4, 1)
	want := make([]float32, 24)
	for i := 0; i < 2; i++ {
		for j := 0; j < 4; j++ {
			for k := 0; k < 3; k++ {
				want[i*12+j*3+k] = x.F32[i*3+k] + y.F32[j]
			}
		}
	}
	ewCheckF32(t, "two-sided", ewTestOne(t, "Add", 14, nil, x, y), []int{2, 4, 3}, want, 0)
	// channel broadcast [1,2,2,2] * [2,1,1]
	img := FromFloat32([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 1, 2, 2, 2)
	ch := FromFloat32([]float32{10, -1}, 2, 1, 1)
	ewCheckF32(t, "channel", ewTestOne(t, "Mul", 14, nil, img, ch), []int{1, 2, 2, 2}, []float32{10, 20, 30, 40, -5, -6, -7, -8}, 0)
}

func TestEwErrors(t *testing.T) {
	a := FromFloat32([]float32{1, 2, 3}, 3)
	b := FromFloat32([]float32{1, 2}, 2)
	if _, err := ewTestRun(t, "Add", 13, nil, a, b); err == nil || !strings.Contains(err.Error(), "broadcast") {
		t.Fatalf("incompatible shapes: err = %v", err)
	}
	if _, err := ewTestRun(t, "Add", 13, nil, a, ewInts(Int64, []int{3}, 1, 2, 3)); err == nil {
		t.Fatal("mixed types accepted")
	}
	if _, err := ewTestRun(t, "Div", 13, nil, ewInts(Int32, []int{2}, 1, 2), ewInts(Int32, []int{2}, 1, 0)); err == nil {
		t.Fatal("integer division by zero accepted")
	}
	if _, err := ewTestRun(t, "Sqrt", 13, nil, ewInts(Int32, []int{1}, 4)); err == nil {
		t.Fatal("Sqrt on int accepted")
	}
	if _, err := ewTestRun(t, "Add", 13, nil, a); err == nil {
		t.Fatal("one input accepted")
	}
	if _, err := ewTestRun(t, "Where", 16, nil, a, a, a); err == nil {
		t.Fatal("float condition accepted")
	}
	if _, err := ewTestRun(t, "PRelu", 16, nil, a, FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)); err == nil {
		t.Fatal("PRelu slope broadcasting X accepted")
	}
	if _, err := ewTestRun(t, "Cast", 13, map[string]*Attr{"to": {Name: "to", Type: AttrInt, I: int64(String)}}, a); err == nil {
		t.Fatal("Cast to string accepted")
	}
	if _, err := ewTestRun(t, "Max", 13, nil, a, b); err == nil {
		t.Fatal("Max on incompatible shapes accepted")
	}
	bad := &Tensor{DType: Float32, Shape: []int{100000}, F32: make([]float32, 10)}
	for _, op := range []string{"Add", "Sigmoid", "Max", "Cast", "Where", "Clip"} {
		in := []*Tensor{bad, a}
		attrs := map[string]*Attr(nil)
		switch op {
		case "Sigmoid", "Clip":
			in = in[:1]
		case "Cast":
			in, attrs = in[:1], ewAttrTo(Int32)
		case "Where":
			in = []*Tensor{ewBools([]int{1}, true), bad, a}
		}
		if _, err := ewTestRun(t, op, 16, attrs, in...); err == nil || !strings.Contains(err.Error(), "holds 10 values") {
			t.Fatalf("%s on a malformed tensor: err = %v", op, err)
		}
	}
}

func TestEwIntegerWrap(t *testing.T) {
	ewCheckI64(t, "int8 add", ewTestOne(t, "Add", 14, nil, ewInts(Int8, []int{2}, 100, -100), ewInts(Int8, []int{2}, 100, -100)), Int8, -56, 56)
	ewCheckI64(t, "uint8 add", ewTestOne(t, "Add", 14, nil, ewInts(Uint8, []int{1}, 200), ewInts(Uint8, []int{1}, 100)), Uint8, 44)
	ewCheckI64(t, "uint8 sub", ewTestOne(t, "Sub", 14, nil, ewInts(Uint8, []int{1}, 1), ewInts(Uint8, []int{1}, 2)), Uint8, 255)
	ewCheckI64(t, "uint16 mul", ewTestOne(t, "Mul", 14, nil, ewInts(Uint16, []int{1}, 300), ewInts(Uint16, []int{1}, 300)), Uint16, 90000%65536)
	ewCheckI64(t, "int32 mul", ewTestOne(t, "Mul", 14, nil, ewInts(Int32, []int{1}, 1<<20), ewInts(Int32, []int{1}, 1<<11)), Int32, math.MinInt32)
	ewCheckI64(t, "int32 div", ewTestOne(t, "Div", 14, nil, ewInts(Int32, []int{4}, -7, 7, -7, 7), ewInts(Int32, []int{4}, 2, -2, -2, 2)), Int32, -3, -3, 3, 3)
	ewCheckI64(t, "int8 div overflow", ewTestOne(t, "Div", 14, nil, ewInts(Int8, []int{1}, -128), ewInts(Int8, []int{1}, -1)), Int8, -128)
	big := int64(-2) // 0xFFFFFFFFFFFFFFFE as uint64
	ewCheckI64(t, "uint64 div", ewTestOne(t, "Div", 14, nil, ewInts(Uint64, []int{1}, big), ewInts(Uint64, []int{1}, 2)), Uint64, math.MaxInt64)
	ewCheckI64(t, "uint64 max", ewTestOne(t, "Max", 13, nil, ewInts(Uint64, []int{2}, big, 5), ewInts(Uint64, []int{2}, 1, 7)), Uint64, big, 7)
	ewCheckI64(t, "uint64 min", ewTestOne(t, "Min", 13, nil, ewInts(Uint64, []int{2}, big, 5), ewInts(Uint64, []int{2}, 1, 7)), Uint64, 1, 5)
	ewCheckBool(t, "uint64 less", ewTestOne(t, "Less", 13, nil, ewInts(Uint64, []int{2}, big, 5), ewInts(Uint64, []int{2}, 1, 7)), false, true)
	ewCheckI64(t, "int8 neg", ewTestOne(t, "Neg", 13, nil, ewInts(Int8, []int{2}, -128, 5)), Int8, -128, -5)
	ewCheckI64(t, "int8 abs", ewTestOne(t, "Abs", 13, nil, ewInts(Int8, []int{3}, -128, -5, 3)), Int8, -128, 5, 3)
	ewCheckI64(t, "int32 relu", ewTestOne(t, "Relu", 14, nil, ewInts(Int32, []int{3}, -1, 0, 9)), Int32, 0, 0, 9)
	ewCheckI64(t, "int64 sign", ewTestOne(t, "Sign", 13, nil, ewInts(Int64, []int{3}, -9, 0, 9)), Int64, -1, 0, 1)
	ewCheckI64(t, "int mod", ewTestOne(t, "Mod", 13, nil, ewInts(Int32, []int{4}, -7, 7, -7, 7), ewInts(Int32, []int{4}, 3, -3, -3, 3)), Int32, 2, -2, -1, 1)
	ewCheckI64(t, "int fmod", ewTestOne(t, "Mod", 13, map[string]*Attr{"fmod": {Name: "fmod", Type: AttrInt, I: 1}}, ewInts(Int32, []int{4}, -7, 7, -7, 7), ewInts(Int32, []int{4}, 3, -3, -3, 3)), Int32, -1, 1, -1, 1)
}

func TestEwPow(t *testing.T) {
	x := FromFloat32([]float32{1, 2, 3}, 3)
	ewCheckF32(t, "f32^f32", ewTestOne(t, "Pow", 15, nil, x, FromFloat32([]float32{4, 5, 6}, 3)), []int{3}, []float32{1, 32, 729}, 0)
	ewCheckF32(t, "f32^2", ewTestOne(t, "Pow", 15, nil, x, Scalar(2)), []int{3}, []float32{1, 4, 9}, 0)
	ewCheckF32(t, "f32^0.5", ewTestOne(t, "Pow", 15, nil, FromFloat32([]float32{4, 9}, 2), Scalar(0.5)), []int{2}, []float32{2, 3}, 0)
	ewCheckF32(t, "f32^int64", ewTestOne(t, "Pow", 15, nil, x, ewInts(Int64, []int{3}, 4, 5, 6)), []int{3}, []float32{1, 32, 729}, 0)
	ewCheckF32(t, "f32^uint64", ewTestOne(t, "Pow", 15, nil, x, ewInts(Uint64, []int{3}, 4, 5, 6)), []int{3}, []float32{1, 32, 729}, 0)
	ewCheckI64(t, "int32^f32", ewTestOne(t, "Pow", 15, nil, ewInts(Int32, []int{3}, 1, 2, 3), FromFloat32([]float32{4, 5, 6}, 3)), Int32, 1, 32, 729)
	ewCheckI64(t, "int64^int64", ewTestOne(t, "Pow", 15, nil, ewInts(Int64, []int{4}, 1, 2, 3, -2), ewInts(Int64, []int{4}, 4, 5, 6, 3)), Int64, 1, 32, 729, -8)
	ewCheckI64(t, "int8^int8 wrap", ewTestOne(t, "Pow", 15, nil, ewInts(Int8, []int{1}, 2), ewInts(Int8, []int{1}, 7)), Int8, -128)
	ewCheckF32(t, "bcast", ewTestOne(t, "Pow", 15, nil, FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3), FromFloat32([]float32{1, 2, 3}, 3)), []int{2, 3}, []float32{1, 4, 27, 4, 25, 216}, 0)
}

func TestEwVariadic(t *testing.T) {
	a := FromFloat32([]float32{3, 2, 1}, 3)
	b := FromFloat32([]float32{1, 4, 4}, 3)
	c := FromFloat32([]float32{2, 5, 3}, 3)
	ewCheckF32(t, "max", ewTestOne(t, "Max", 13, nil, a, b, c), []int{3}, []float32{3, 5, 4}, 0)
	ewCheckF32(t, "min", ewTestOne(t, "Min", 13, nil, a, b, c), []int{3}, []float32{1, 2, 1}, 0)
	ewCheckF32(t, "sum", ewTestOne(t, "Sum", 13, nil, a, b, c), []int{3}, []float32{6, 11, 8}, 0)
	ewCheckF32(t, "mean", ewTestOne(t, "Mean", 13, nil, a, b, c), []int{3}, []float32{2, 11.0 / 3, 8.0 / 3}, 1e-7)
	ewCheckF32(t, "one", ewTestOne(t, "Sum", 13, nil, a), []int{3}, []float32{3, 2, 1}, 0)
	// scalar first, then broadcasting rows: [1] + [2,1] + [3] -> [2,3]
	s := FromFloat32([]float32{100}, 1)
	col := FromFloat32([]float32{10, 20}, 2, 1)
	ewCheckF32(t, "bcast sum", ewTestOne(t, "Sum", 13, nil, s, col, a), []int{2, 3}, []float32{113, 112, 111, 123, 122, 121}, 0)
	ewCheckF32(t, "bcast max", ewTestOne(t, "Max", 13, nil, col, Scalar(15)), []int{2, 1}, []float32{15, 20}, 0)
	h := &Tensor{DType: Float16, Shape: []int{2}, F32: []float32{1, 2}}
	h2 := &Tensor{DType: Float16, Shape: []int{2}, F32: []float32{0.5, 1}}
	m := ewTestOne(t, "Mean", 13, nil, h, h2, h2)
	if m.DType != Float16 {
		t.Fatalf("mean float16 dtype %v", m.DType)
	}
	// (1+0.5+0.5)/3 = 0.6667 -> float16 0.66650390625; (2+1+1)/3 = 1.3333 -> 1.3330078125
	ewCheckF32(t, "mean f16", m, []int{2}, []float32{0.66650390625, 1.3330078125}, 0)
	ewCheckI64(t, "max int", ewTestOne(t, "Max", 13, nil, ewInts(Int16, []int{2}, -5, 5), ewInts(Int16, []int{1}, 0)), Int16, 0, 5)
}

func TestEwCompareLogicWhere(t *testing.T) {
	a := FromFloat32([]float32{1, 2, 3}, 3)
	b := Scalar(2)
	ewCheckBool(t, "eq", ewTestOne(t, "Equal", 13, nil, a, b), false, true, false)
	ewCheckBool(t, "lt", ewTestOne(t, "Less", 13, nil, a, b), true, false, false)
	ewCheckBool(t, "gt", ewTestOne(t, "Greater", 13, nil, a, b), false, false, true)
	ewCheckBool(t, "le", ewTestOne(t, "LessOrEqual", 16, nil, a, b), true, true, false)
	ewCheckBool(t, "ge", ewTestOne(t, "GreaterOrEqual", 16, nil, a, b), false, true, true)
	ewCheckBool(t, "eq int", ewTestOne(t, "Equal", 13, nil, ewInts(Int32, []int{2}, 4, 5), ewInts(Int32, []int{2}, 4, 6)), true, false)
	ewCheckBool(t, "eq bool", ewTestOne(t, "Equal", 13, nil, ewBools([]int{2}, true, false), ewBools([]int{2}, true, true)), true, false)
	p := ewBools([]int{4}, true, true, false, false)
	q := ewBools([]int{4}, true, false, true, false)
	ewCheckBool(t, "and", ewTestOne(t, "And", 7, nil, p, q), true, false, false, false)
	ewCheckBool(t, "or", ewTestOne(t, "Or", 7, nil, p, q), true, true, true, false)
	ewCheckBool(t, "xor", ewTestOne(t, "Xor", 7, nil, p, q), false, true, true, false)
	ewCheckBool(t, "not", ewTestOne(t, "Not", 1, nil, p), false, false, true, true)
	// and with broadcast [2,1] & [2]
	ewCheckBool(t, "and bcast", ewTestOne(t, "And", 7, nil, ewBools([]int{2, 1}, true, false), ewBools([]int{2}, true, false)), true, false, false, false)
	cond := ewBools([]int{2, 1}, true, false)
	w := ewTestOne(t, "Where", 16, nil, cond, FromFloat32([]float32{1, 2, 3}, 3), Scalar(-1))
	ewCheckF32(t, "where", w, []int{2, 3}, []float32{1, 2, 3, -1, -1, -1}, 0)
	wi := ewTestOne(t, "Where", 16, nil, ewBools([]int{3}, true, false, true), ewInts(Int64, []int{3}, 1, 2, 3), ewInts(Int64, []int{1}, 9))
	ewCheckI64(t, "where int", wi, Int64, 1, 9, 3)
	nan := float32(math.NaN())
	ewCheckBool(t, "isnan", ewTestOne(t, "IsNaN", 13, nil, FromFloat32([]float32{1, nan}, 2)), false, true)
	inf := float32(math.Inf(1))
	ewCheckBool(t, "isinf", ewTestOne(t, "IsInf", 10, nil, FromFloat32([]float32{1, inf, -inf, nan}, 4)), false, true, true, false)
	ewCheckBool(t, "isinf pos", ewTestOne(t, "IsInf", 10, map[string]*Attr{"detect_negative": {Type: AttrInt, I: 0}}, FromFloat32([]float32{inf, -inf}, 2)), true, false)
}

func TestEwUnary(t *testing.T) {
	x := FromFloat32([]float32{-1, 0, 0.5, 1}, 4)
	run := func(op string, opset int, attrs map[string]*Attr) *Tensor { return ewTestOne(t, op, opset, attrs, x) }
	// reference values from the closed forms (hand / calculator)
	ewCheckF32(t, "sigmoid", run("Sigmoid", 13, nil), []int{4}, []float32{0.2689414213699951, 0.5, 0.6224593312018546, 0.7310585786300049}, 1e-7)
	ewCheckF32(t, "tanh", run("Tanh", 13, nil), []int{4}, []float32{-0.7615941559557649, 0, 0.46211715726000974, 0.7615941559557649}, 1e-7)
	ewCheckF32(t, "erf", run("Erf", 13, nil), []int{4}, []float32{-0.8427007929497149, 0, 0.5204998778130465, 0.8427007929497149}, 1e-7)
	ewCheckF32(t, "exp", run("Exp", 13, nil), []int{4}, []float32{0.36787944117144233, 1, 1.6487212707001282, 2.718281828459045}, 1e-7)
	ewCheckF32(t, "relu", run("Relu", 14, nil), []int{4}, []float32{0, 0, 0.5, 1}, 0)
	ewCheckF32(t, "leaky", run("LeakyRelu", 16, map[string]*Attr{"alpha": {Type: AttrFloat, F: 0.1}}), []int{4}, []float32{-0.1, 0, 0.5, 1}, 1e-7)
	ewCheckF32(t, "leaky default", run("LeakyRelu", 16, nil), []int{4}, []float32{-0.01, 0, 0.5, 1}, 1e-7)
	ewCheckF32(t, "hardsigmoid", run("HardSigmoid", 6, nil), []int{4}, []float32{0.3, 0.5, 0.6, 0.7}, 1e-7)
	ewCheckF32(t, "hardswish", run("HardSwish", 14, nil), []int{4}, []float32{-1.0 / 3, 0, 0.5 * (0.5/6 + 0.5), 1 * (1.0/6 + 0.5)}, 1e-7)
	ewCheckF32(t, "softsign", run("Softsign", 1, nil), []int{4}, []float32{-0.5, 0, 0.5 / 1.5, 0.5}, 1e-7)
	ewCheckF32(t, "softplus", run("Softplus", 1, nil), []int{4}, []float32{0.31326168751822286, 0.6931471805599453, 0.9740769841801067, 1.3132616875182228}, 1e-7)
	ewCheckF32(t, "elu", run("Elu", 6, nil), []int{4}, []float32{-0.6321205588285577, 0, 0.5, 1}, 1e-7)
	ewCheckF32(t, "selu", run("Selu", 6, nil), []int{4}, []float32{-1.1113307378125625, 0, 0.5253505110740662, 1.0507010221481323}, 1e-6)
	ewCheckF32(t, "gelu", run("Gelu", 20, nil), []int{4}, []float32{-0.15865525393145707, 0, 0.34573123063700656, 0.8413447460685429}, 1e-7)
	ewCheckF32(t, "gelu tanh", run("Gelu", 20, map[string]*Attr{"approximate": {Type: AttrString, S: "tanh"}}), []int{4}, []float32{-0.15880800939172324, 0, 0.34571400982514394, 0.8411919906082768}, 1e-7)
	ewCheckF32(t, "mish", run("Mish", 18, nil), []int{4}, []float32{-0.30340146137410895, 0, 0.375245, 0.8650983882673103}, 1e-6)
	ewCheckF32(t, "neg", run("Neg", 13, nil), []int{4}, []float32{1, 0, -0.5, -1}, 0)
	ewCheckF32(t, "abs", run("Abs", 13, nil), []int{4}, []float32{1, 0, 0.5, 1}, 0)
	ewCheckF32(t, "sign", run("Sign", 13, nil), []int{4}, []float32{-1, 0, 1, 1}, 0)
	r := ewTestOne(t, "Round", 11, nil, FromFloat32([]float32{0.5, 1.5, 2.5, -0.5, -1.6, 2.4}, 6))
	ewCheckF32(t, "round", r, []int{6}, []float32{0, 2, 2, 0, -2, 2}, 0)
	f := FromFloat32([]float32{-1.5, 1.5}, 2)
	ewCheckF32(t, "floor", ewTestOne(t, "Floor", 13, nil, f), []int{2}, []float32{-2, 1}, 0)
	ewCheckF32(t, "ceil", ewTestOne(t, "Ceil", 13, nil, f), []int{2}, []float32{-1, 2}, 0)
	ewCheckF32(t, "recip", ewTestOne(t, "Reciprocal", 13, nil, f), []int{2}, []float32{-2.0 / 3, 2.0 / 3}, 1e-7)
	ewCheckF32(t, "sqrt", ewTestOne(t, "Sqrt", 13, nil, FromFloat32([]float32{4, 2}, 2)), []int{2}, []float32{2, 1.4142135623730951}, 1e-7)
	ewCheckF32(t, "log", ewTestOne(t, "Log", 13, nil, FromFloat32([]float32{1, 10}, 2)), []int{2}, []float32{0, 2.302585092994046}, 1e-7)
	d := ewTestOne(t, "Exp", 13, nil, ewF64([]int{1}, 1))
	if d.DType != Float64 || d.F64[0] != math.E {
		t.Fatalf("exp float64 = %v", d.F64)
	}
	h := ewTestOne(t, "Sigmoid", 13, nil, &Tensor{DType: Float16, Shape: []int{1}, F32: []float32{1}})
	// sigmoid(1) = 0.7310586 -> nearest float16 is 0.73095703125
	ewCheckF32(t, "sigmoid f16", h, []int{1}, []float32{0.73095703125}, 0)
}

func TestEwPRelu(t *testing.T) {
	x := FromFloat32([]float32{-1, 2, -3, 4, -5, 6, -7, 8}, 2, 2, 2)
	s := FromFloat32([]float32{0.5, 2}, 2, 1)
	ewCheckF32(t, "prelu", ewTestOne(t, "PRelu", 16, nil, x, s), []int{2, 2, 2}, []float32{-0.5, 2, -6, 4, -2.5, 6, -14, 8}, 0)
	ewCheckF32(t, "prelu scalar", ewTestOne(t, "PRelu", 16, nil, x, Scalar(0.1)), []int{2, 2, 2}, []float32{-0.1, 2, -0.3, 4, -0.5, 6, -0.7, 8}, 1e-7)
}

func TestEwClip(t *testing.T) {
	x := FromFloat32([]float32{-2, -1, 0, 1, 2}, 5)
	attrs := map[string]*Attr{"min": {Type: AttrFloat, F: -1}, "max": {Type: AttrFloat, F: 1.5}}
	ewCheckF32(t, "attrs", ewTestOne(t, "Clip", 6, attrs, x), []int{5}, []float32{-1, -1, 0, 1, 1.5}, 0)
	ewCheckF32(t, "inputs", ewTestOne(t, "Clip", 13, nil, x, Scalar(-1), Scalar(1.5)), []int{5}, []float32{-1, -1, 0, 1, 1.5}, 0)
	ewCheckF32(t, "min only", ewTestOne(t, "Clip", 13, nil, x, Scalar(0)), []int{5}, []float32{0, 0, 0, 1, 2}, 0)
	ewCheckF32(t, "max only", ewTestOne(t, "Clip", 13, nil, x, nil, Scalar(0)), []int{5}, []float32{-2, -1, 0, 0, 0}, 0)
	ewCheckF32(t, "none", ewTestOne(t, "Clip", 13, nil, x), []int{5}, []float32{-2, -1, 0, 1, 2}, 0)
	ewCheckF32(t, "min>max", ewTestOne(t, "Clip", 13, nil, x, Scalar(2), Scalar(1)), []int{5}, []float32{1, 1, 1, 1, 1}, 0)
	xi := ewInts(Int8, []int{4}, -128, -3, 5, 127)
	ewCheckI64(t, "int8", ewTestOne(t, "Clip", 13, nil, xi, ewInts(Int8, []int{}, -4), ewInts(Int8, []int{}, 4)), Int8, -4, -3, 4, 4)
	ewCheckI64(t, "int8 default", ewTestOne(t, "Clip", 13, nil, xi), Int8, -128, -3, 5, 127)
	if _, err := ewTestRun(t, "Clip", 13, nil, x, ewInts(Int8, []int{}, 1)); err == nil {
		t.Fatal("Clip bound type mismatch accepted")
	}
}

func ewAttrTo(dt DType) map[string]*Attr {
	return map[string]*Attr{"to": {Name: "to", Type: AttrInt, I: int64(dt)}}
}

func TestEwCast(t *testing.T) {
	x := FromFloat32([]float32{-1.7, 1.7, 300.5, 0}, 4)
	ewCheckI64(t, "f32->int32", ewTestOne(t, "Cast", 13, ewAttrTo(Int32), x), Int32, -1, 1, 300, 0)
	ewCheckI64(t, "f32->uint8", ewTestOne(t, "Cast", 13, ewAttrTo(Uint8), x), Uint8, 255, 1, 44, 0)
	ewCheckBool(t, "f32->bool", ewTestOne(t, "Cast", 13, ewAttrTo(Bool), x), true, true, true, false)
	b := ewTestOne(t, "Cast", 13, ewAttrTo(Float32), ewBools([]int{2}, true, false))
	ewCheckF32(t, "bool->f32", b, []int{2}, []float32{1, 0}, 0)
	ewCheckI64(t, "int64->int8", ewTestOne(t, "Cast", 13, ewAttrTo(Int8), ewInts(Int64, []int{2}, 200, -129)), Int8, -56, 127)
	ewCheckI64(t, "int8->uint16", ewTestOne(t, "Cast", 13, ewAttrTo(Uint16), ewInts(Int8, []int{1}, -1)), Uint16, 65535)
	ewCheckI64(t, "int8->uint64", ewTestOne(t, "Cast", 13, ewAttrTo(Uint64), ewInts(Int8, []int{1}, -1)), Uint64, -1)
	u := ewTestOne(t, "Cast", 13, ewAttrTo(Float64), ewInts(Uint64, []int{1}, -1))
	if u.F64[0] != 18446744073709551615.0 {
		t.Fatalf("uint64 max -> float64 = %v", u.F64[0])
	}
	// float32 -> float16: 1+2^-11 ties to even (1), 1+3*2^-11 ties to even (1+2^-9), 70000 overflows to +Inf
	h := ewTestOne(t, "Cast", 13, ewAttrTo(Float16), FromFloat32([]float32{1 + 1.0/2048, 1 + 3.0/2048, 70000, 0.1}, 4))
	ewCheckF32(t, "f32->f16", h, []int{4}, []float32{1, 1 + 1.0/512, float32(math.Inf(1)), 0.0999755859375}, 0)
	// float64 -> float16 must not double-round: just above a tie rounds up
	h2 := ewTestOne(t, "Cast", 13, ewAttrTo(Float16), ewF64([]int{1}, 1+1.0/2048+1.0/(1<<40)))
	ewCheckF32(t, "f64->f16", h2, []int{1}, []float32{1 + 1.0/1024}, 0)
	bf := ewTestOne(t, "Cast", 13, ewAttrTo(BFloat16), FromFloat32([]float32{1 + 1.0/256, 1 + 3.0/256}, 2))
	ewCheckF32(t, "f32->bf16", bf, []int{2}, []float32{1, 1 + 1.0/64}, 0)
	cl, err := ewTestRun(t, "CastLike", 15, nil, x, ewInts(Int16, []int{}, 0))
	if err != nil {
		t.Fatal(err)
	}
	ewCheckI64(t, "castlike", cl[0], Int16, -1, 1, 300, 0)
}

func TestEwLegacyBroadcast(t *testing.T) {
	a := FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 1, 2, 3)
	b := FromFloat32([]float32{10, 20}, 2)
	attrs := map[string]*Attr{"broadcast": {Type: AttrInt, I: 1}, "axis": {Type: AttrInt, I: 1}}
	ewCheckF32(t, "axis", ewTestOne(t, "Add", 6, attrs, a, b), []int{1, 2, 3}, []float32{11, 12, 13, 24, 25, 26}, 0)
}

func TestEwLarge(t *testing.T) {
	// big enough for the parallel path; odd sizes exercise chunk borders
	const rows, cols = 517, 391
	a := New(Float32, rows, cols)
	for i := range a.F32 {
		a.F32[i] = float32(i%1000) * 0.5
	}
	row := New(Float32, cols)
	for i := range row.F32 {
		row.F32[i] = float32(i)
	}
	col := New(Float32, rows, 1)
	for i := range col.F32 {
		col.F32[i] = float32(-i)
	}
	got := ewTestOne(t, "Add", 14, nil, a, row)
	got2 := ewTestOne(t, "Mul", 14, nil, col, a)
	got3 := ewTestOne(t, "Sigmoid", 13, nil, a)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			k := i*cols + j
			if got.F32[k] != a.F32[k]+row.F32[j] {
				t.Fatalf("add [%d,%d] = %v", i, j, got.F32[k])
			}
			if got2.F32[k] != col.F32[i]*a.F32[k] {
				t.Fatalf("mul [%d,%d] = %v", i, j, got2.F32[k])
			}
			if w := 1 / (1 + math.Exp(-float64(a.F32[k]))); math.Abs(float64(got3.F32[k])-w) > 1e-6*w {
				t.Fatalf("sigmoid [%d] = %v, want %v", k, got3.F32[k], w)
			}
		}
	}
}

func BenchmarkEwAddSame(b *testing.B) {
	x := New(Float32, 1<<20)
	y := New(Float32, 1<<20)
	b.SetBytes(4 << 20)
	for i := 0; i < b.N; i++ {
		ewArithRun(ewAdd, x, y)
	}
}

func BenchmarkEwAddChannel(b *testing.B) {
	x := New(Float32, 8, 64, 56, 56)
	y := New(Float32, 64, 1, 1)
	for i := 0; i < b.N; i++ {
		ewArithRun(ewAdd, x, y)
	}
}

func BenchmarkEwSigmoid(b *testing.B) {
	x := New(Float32, 1<<20)
	u := &ewUnary{op: ewSigmoid}
	for i := 0; i < b.N; i++ {
		u.apply(x)
	}
}

func TestEwBitwise(t *testing.T) {
	a := ewInts(Uint8, []int{3}, 0xF0, 0x0F, 0xFF)
	b := ewInts(Uint8, []int{3}, 0x3C, 0x3C, 0x01)
	ewCheckI64(t, "and", ewTestOne(t, "BitwiseAnd", 18, nil, a, b), Uint8, 0x30, 0x0C, 0x01)
	ewCheckI64(t, "or", ewTestOne(t, "BitwiseOr", 18, nil, a, b), Uint8, 0xFC, 0x3F, 0xFF)
	ewCheckI64(t, "xor", ewTestOne(t, "BitwiseXor", 18, nil, a, b), Uint8, 0xCC, 0x33, 0xFE)
	ewCheckI64(t, "not", ewTestOne(t, "BitwiseNot", 18, nil, a), Uint8, 0x0F, 0xF0, 0x00)
	ewCheckI64(t, "not int8", ewTestOne(t, "BitwiseNot", 18, nil, ewInts(Int8, []int{2}, 0, -1)), Int8, -1, 0)
	left := map[string]*Attr{"direction": {Type: AttrString, S: "LEFT"}}
	right := map[string]*Attr{"direction": {Type: AttrString, S: "RIGHT"}}
	ewCheckI64(t, "shl", ewTestOne(t, "BitShift", 11, left, a, ewInts(Uint8, []int{1}, 1)), Uint8, 0xE0, 0x1E, 0xFE)
	ewCheckI64(t, "shr", ewTestOne(t, "BitShift", 11, right, a, ewInts(Uint8, []int{1}, 4)), Uint8, 0x0F, 0x00, 0x0F)
	ewCheckI64(t, "shr u64", ewTestOne(t, "BitShift", 11, right, ewInts(Uint64, []int{1}, -1), ewInts(Uint64, []int{1}, 60)), Uint64, 15)
	if _, err := ewTestRun(t, "BitShift", 11, nil, a, a); err == nil {
		t.Fatal("BitShift without direction accepted")
	}
}

// ewNaiveIndex maps an output coordinate to the flat index of an input of
// shape s broadcast to out (reference implementation for the tests).
func ewNaiveIndex(coord, s, out []int) int {
	off := len(out) - len(s)
	idx := 0
	for d, n := range s {
		c := coord[off+d]
		if n == 1 {
			c = 0
		}
		idx = idx*n + c
	}
	return idx
}

func TestEwBroadcastRandom(t *testing.T) {
	seed := uint64(12345)
	rnd := func(n int) int {
		seed = seed*6364136223846793005 + 1442695040888963407
		return int(seed>>33) % n
	}
	for iter := 0; iter < 300; iter++ {
		rank := 1 + rnd(4)
		out := make([]int, rank)
		for i := range out {
			out[i] = 1 + rnd(5)
		}
		mk := func() []int {
			r := rnd(rank + 1)
			s := append([]int{}, out[rank-r:]...)
			for i := range s {
				if rnd(3) == 0 {
					s[i] = 1
				}
			}
			return s
		}
		sa, sb, sc := mk(), mk(), mk()
		bc, err := ewNewBcast(sa, sb, sc)
		if err != nil {
			t.Fatal(err)
		}
		// every split point must give the same offsets as the naive mapping
		lo := rnd(bc.n + 1)
		hi := lo + rnd(bc.n-lo+1)
		coord := make([]int, len(bc.out))
		seen := lo
		bc.runs(lo, hi, func(o int, offs []int, n int) {
			if o != seen {
				t.Fatalf("run starts at %d, want %d", o, seen)
			}
			seen += n
			for k := 0; k < n; k++ {
				p := o + k
				q := p
				for d := len(bc.out) - 1; d >= 0; d-- {
					coord[d] = q % bc.out[d]
					q /= bc.out[d]
				}
				for i, s := range [][]int{sa, sb, sc} {
					if got, want := offs[i]+k*bc.inner(i), ewNaiveIndex(coord, s, bc.out); got != want {
						t.Fatalf("shapes %v %v %v pos %d input %d: index %d, want %d", sa, sb, sc, p, i, got, want)
					}
				}
			}
		})
		if seen != hi && lo < hi {
			t.Fatalf("runs covered up to %d, want %d", seen, hi)
		}
	}
}

func TestEwShrinkSwish(t *testing.T) {
	x := FromFloat32([]float32{-2, -0.5, 0, 0.4, 1.5}, 5)
	attrs := map[string]*Attr{"lambd": {Type: AttrFloat, F: 0.45}, "bias": {Type: AttrFloat, F: 0.25}}
	ewCheckF32(t, "shrink", ewTestOne(t, "Shrink", 9, attrs, x), []int{5}, []float32{-1.75, -0.25, 0, 0, 1.25}, 1e-7)
	ewCheckF32(t, "shrink default", ewTestOne(t, "Shrink", 9, nil, x), []int{5}, []float32{-2, 0, 0, 0, 1.5}, 0)
	ewCheckI64(t, "shrink int", ewTestOne(t, "Shrink", 9, map[string]*Attr{"lambd": {Type: AttrFloat, F: 1.5}, "bias": {Type: AttrFloat, F: 1}},
		ewInts(Int8, []int{4}, -3, -1, 1, 5)), Int8, -2, 0, 0, 4)
	// swish(x) = x*sigmoid(alpha*x); sigmoid(1) = 0.7310585786300049, sigmoid(-2) = 0.11920292202211755
	sw := ewTestOne(t, "Swish", 24, map[string]*Attr{"alpha": {Type: AttrFloat, F: 2}}, FromFloat32([]float32{0.5, -1}, 2))
	ewCheckF32(t, "swish", sw, []int{2}, []float32{0.5 * 0.7310585786300049, -0.11920292202211755}, 1e-6)
}

func TestEwArithRandomShapes(t *testing.T) {
	seed := uint64(777)
	rnd := func(n int) int {
		seed = seed*6364136223846793005 + 1442695040888963407
		return int(seed>>33) % n
	}
	shapes := [][2][]int{
		{{1000, 3}, {3}}, {{3}, {1000, 3}}, {{1, 3, 80, 80, 2}, {1, 3, 1, 1, 2}}, {{1, 3, 1, 1, 2}, {1, 3, 80, 80, 2}},
		{{4, 5, 2}, {5, 1}}, {{7, 2}, {7, 1}},
	}
	for iter := 0; iter < 200; iter++ {
		rank := 1 + rnd(4)
		out := make([]int, rank)
		for i := range out {
			out[i] = 1 + rnd(6)
		}
		mk := func() []int {
			r := rnd(rank + 1)
			s := append([]int{}, out[rank-r:]...)
			for i := range s {
				if rnd(3) == 0 {
					s[i] = 1
				}
			}
			return s
		}
		shapes = append(shapes, [2][]int{mk(), mk()})
	}
	for _, sh := range shapes {
		a, b := New(Float32, sh[0]...), New(Float32, sh[1]...)
		for i := range a.F32 {
			a.F32[i] = float32(rnd(1000))
		}
		for i := range b.F32 {
			b.F32[i] = float32(rnd(1000) + 1)
		}
		for _, op := range []ewOp{ewSub, ewDiv} {
			got, err := ewArithRun(op, a, b)
			if err != nil {
				t.Fatal(err)
			}
			coord := make([]int, len(got.Shape))
			for p := range got.F32 {
				q := p
				for d := len(got.Shape) - 1; d >= 0; d-- {
					coord[d] = q % got.Shape[d]
					q /= got.Shape[d]
				}
				x, y := a.F32[ewNaiveIndex(coord, a.Shape, got.Shape)], b.F32[ewNaiveIndex(coord, b.Shape, got.Shape)]
				w := x - y
				if op == ewDiv {
					w = x / y
				}
				if got.F32[p] != w {
					t.Fatalf("%v op %d %v: [%d] = %v, want %v", a.Shape, op, b.Shape, p, got.F32[p], w)
				}
			}
		}
	}
}

// The AVX2 float32 add, sub, mul and div of ewArith give Go's float32
// arithmetic bit for bit (IEEE, no fused operations) for every stride
// combination and length, infinities, NaNs and signed zeros included, with
// the output aliasing the first operand.
func TestEwArithVecMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewSource(40))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-40, 3e38}
	val := func() float32 {
		if rng.Intn(8) == 0 {
			return special[rng.Intn(len(special))]
		}
		return float32(rng.NormFloat64())
	}
	ops := []struct {
		op ewOp
		f  func(x, y float32) float32
	}{
		{ewAdd, func(x, y float32) float32 { return x + y }},
		{ewSub, func(x, y float32) float32 { return x - y }},
		{ewMul, func(x, y float32) float32 { return x * y }},
		{ewDiv, func(x, y float32) float32 { return x / y }},
	}
	same := func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) || (x != x && y != y) }
	for _, o := range ops {
		for _, st := range [][2]int{{1, 1}, {1, 0}, {0, 1}, {0, 0}} {
			for _, n := range []int{1, 7, 8, 9, 31, 32, 33, 70} {
				for _, alias := range []bool{false, true} {
					a := make([]float32, max(1, n*st[0]))
					b := make([]float32, max(1, n*st[1]))
					for i := range a {
						a[i] = val()
					}
					for i := range b {
						b[i] = val()
					}
					want := make([]float32, n)
					for i := range want {
						want[i] = o.f(a[i*st[0]], b[i*st[1]])
					}
					dst := make([]float32, n)
					if alias && st[0] == 1 {
						dst = a
					}
					ewArith(o.op, dst, a, b, st[0], st[1])
					for i := range want {
						if !same(dst[i], want[i]) {
							t.Fatalf("%s strides %v n=%d alias=%v: [%d] = %v, want %v", ewOpNames[o.op], st, n, alias, i, dst[i], want[i])
						}
					}
				}
			}
		}
	}
}
