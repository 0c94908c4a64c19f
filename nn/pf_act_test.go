package nn

import (
	"math"
	"testing"
)

func TestPfClampF32(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	// 37 values: exercises the 32-wide, 8-wide and scalar parts.
	x := make([]float32, 37)
	for i := range x {
		x[i] = float32(i)*0.5 - 4 // -4 .. 14
	}
	x[3], x[35] = nan, nan
	x[5], x[36] = -inf, inf
	for _, c := range []struct{ lo, hi float32 }{{0, 6}, {0, inf}, {-inf, 1}, {2, 1}} {
		d := make([]float32, len(x))
		pfClampF32(d, x, c.lo, c.hi)
		for i, v := range x {
			want := v
			if v < c.lo {
				want = c.lo
			}
			if want > c.hi {
				want = c.hi
			}
			got := d[i]
			if v != v {
				if got == got {
					t.Fatalf("clamp [%v,%v]: x[%d]=NaN gave %v", c.lo, c.hi, i, got)
				}
				continue
			}
			if got != want {
				t.Fatalf("clamp [%v,%v]: x[%d]=%v gave %v, want %v", c.lo, c.hi, i, v, got, want)
			}
		}
	}
}

func TestPfHardActivations(t *testing.T) {
	x := []float32{-4, -3, -1.5, 0, 1.5, 3, 4}
	// HardSwish: x*clamp(x/6+0.5, 0, 1) by hand.
	wantHS := []float32{0, 0, -0.375, 0, 1.125, 3, 4}
	d := make([]float32, len(x))
	pfHardSwishF32(d, x)
	for i := range x {
		if math.Abs(float64(d[i]-wantHS[i])) > 1e-6 {
			t.Fatalf("HardSwish(%v) = %v, want %v", x[i], d[i], wantHS[i])
		}
	}
	// HardSigmoid alpha 0.2, beta 0.5: clamp(0.2x+0.5, 0, 1).
	wantHG := []float32{0, 0, 0.2, 0.5, 0.8, 1, 1}
	pfHardSigmoidF32(d, x, 0.2, 0.5)
	for i := range x {
		if math.Abs(float64(d[i]-wantHG[i])) > 1e-6 {
			t.Fatalf("HardSigmoid(%v) = %v, want %v", x[i], d[i], wantHG[i])
		}
	}
}

func pfBenchInput() []float32 {
	x := make([]float32, 96*112*112)
	for i := range x {
		x[i] = float32((i*7919)%2000)/100 - 10 // -10 .. 10, scattered
	}
	return x
}

func BenchmarkPfClipGeneric(b *testing.B) {
	x := pfBenchInput()
	d := make([]float32, len(x))
	b.SetBytes(int64(8 * len(x)))
	for i := 0; i < b.N; i++ {
		ewClipKernel(d, x, 0, 6)
	}
}

func BenchmarkPfClipFast(b *testing.B) {
	x := pfBenchInput()
	d := make([]float32, len(x))
	b.SetBytes(int64(8 * len(x)))
	for i := 0; i < b.N; i++ {
		pfClampF32(d, x, 0, 6)
	}
}

func TestPfSigmoidF32(t *testing.T) {
	// Reference: the float64 logistic function. Values span both tails,
	// the cut-over at |x| = 87, NaN and infinities, at every lane position.
	var x []float32
	for v := -100.0; v <= 100; v += 0.37 {
		x = append(x, float32(v))
	}
	x = append(x, 0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 86.9, -86.9, 87.1, -87.1)
	x[17] = float32(math.NaN())
	x[40] = float32(math.Inf(-1))
	x[41] = float32(math.Inf(1))
	d := make([]float32, len(x))
	pfSigmoidF32(d, x)
	for i, v := range x {
		want := 1 / (1 + math.Exp(-float64(v)))
		got := float64(d[i])
		if v != v {
			if got == got {
				t.Fatalf("sigmoid(NaN) = %v", got)
			}
			continue
		}
		if math.Abs(got-want) > 4e-7*want+2e-45 { // subnormal results have absolute precision only
			t.Fatalf("sigmoid(%v) = %v, want %v (rel err %g)", v, got, want, math.Abs(got-want)/want)
		}
	}
}

func BenchmarkPfSigmoidGeneric(b *testing.B) {
	x := pfBenchInput()
	d := make([]float32, len(x))
	for i := 0; i < b.N; i++ {
		for j, v := range x {
			d[j] = ewSigmoid32(v)
		}
	}
}

func BenchmarkPfSigmoidFast(b *testing.B) {
	x := pfBenchInput()
	d := make([]float32, len(x))
	for i := 0; i < b.N; i++ {
		pfSigmoidF32(d, x)
	}
}

func TestPfFill(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17, 33, 1000} {
		s := make([]float32, n)
		pfFill(s, 2.5)
		for i, v := range s {
			if v != 2.5 {
				t.Fatalf("len %d: s[%d] = %v", n, i, v)
			}
		}
	}
}
