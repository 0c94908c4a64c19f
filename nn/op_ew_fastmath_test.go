package nn

import (
	"math"
	"testing"
)

func TestEwFastMathAccuracy(t *testing.T) {
	fns := []struct {
		name string
		f32  func(float32) float32
		ref  func(float64) float64
	}{
		{"exp", ewExp32, math.Exp},
		{"sigmoid", ewSigmoid32, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }},
		{"tanh", ewTanh32, math.Tanh},
		{"erf", ewErf32, math.Erf},
		{"gelu", ewGelu32, func(x float64) float64 { return 0.5 * x * math.Erfc(-x/math.Sqrt2) }},
	}
	for _, fn := range fns {
		worst, at := 0.0, 0.0
		check := func(x float32) {
			want := float64(float32(fn.ref(float64(x)))) // correctly rounded reference
			got := float64(fn.f32(x))
			if want == 0 || math.IsInf(want, 0) || math.Abs(want) < 1e-30 {
				if math.Abs(got-want) > 1e-36 && !(math.IsInf(want, 0) && got == want) {
					t.Errorf("%s(%v) = %v, want %v", fn.name, x, got, want)
				}
				return
			}
			if e := math.Abs(got-want) / math.Abs(want); e > worst {
				worst, at = e, float64(x)
			}
		}
		for i := -1000000; i <= 1000000; i++ {
			check(float32(i) * 1e-4) // [-100, 100]
		}
		for _, x := range []float32{1e-30, -1e-30, 1e-7, -3e-5, 0.2999, 0.3001, -0.3001, 87.99, 88.01, -86.99, -87.01, 9.99, 10.01, 0, 0.9999, 1.0001, 3.9999, 4.0001, -5.656, -5.658} {
			check(x)
		}
		if worst > 1e-6 {
			t.Errorf("%s: worst relative error %g at %v", fn.name, worst, at)
		} else {
			t.Logf("%s: worst relative error %g at %v", fn.name, worst, at)
		}
	}
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	if v := ewExp32(nan); v == v {
		t.Error("exp(NaN) is not NaN")
	}
	if v := ewTanh32(nan); v == v {
		t.Error("tanh(NaN) is not NaN")
	}
	if v := ewErf32(nan); v == v {
		t.Error("erf(NaN) is not NaN")
	}
	if v := ewGelu32(nan); v == v {
		t.Error("gelu(NaN) is not NaN")
	}
	if v := ewSigmoid32(nan); v == v {
		t.Error("sigmoid(NaN) is not NaN")
	}
	if ewExp32(-inf) != 0 || ewExp32(inf) != inf || ewExp32(100) != inf {
		t.Error("exp special values")
	}
	if ewSigmoid32(-inf) != 0 || ewSigmoid32(inf) != 1 || ewTanh32(inf) != 1 || ewTanh32(-inf) != -1 {
		t.Error("saturation")
	}
}
