package nn

import (
	"math"
	"math/rand"
	"testing"
)

// TestTmKernels checks the vector kernels against plain loops (exact for
// the elementwise ones, to float64 rounding for the sums), with lengths
// that leave tails and with NaN and infinities among the inputs.
func TestTmKernels(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{0, 1, 7, 8, 9, 31, 64, 1000} {
		x := make([]float32, n)
		dy := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 3)
			dy[i] = float32(rng.NormFloat64())
		}
		if n > 8 {
			x[3], x[5], x[6] = float32(math.NaN()), float32(math.Inf(1)), 6
			x[7] = 0
		}
		// Σ dy and Σ dy·(x-mu) (NaN-free copy).
		xc := append([]float32{}, x...)
		for i, v := range xc {
			if v != v || math.IsInf(float64(v), 0) {
				xc[i] = 1
			}
		}
		mu := 0.25
		var ws, wq float64
		for i := range xc {
			ws += float64(dy[i])
			wq += float64(dy[i]) * (float64(xc[i]) - mu)
		}
		gs, gq := nmgSumDot(xc, dy, mu)
		if math.Abs(gs-ws) > 1e-9*(1+math.Abs(ws)) || math.Abs(gq-wq) > 1e-9*(1+math.Abs(wq)) {
			t.Errorf("n=%d: nmgSumDot = %v, %v, want %v, %v", n, gs, gq, ws, wq)
		}
		// dx = a·dy + b·(x-m) + c, also in place.
		a, b, m, c := float32(0.7), float32(-0.3), float32(0.1), float32(0.05)
		want := make([]float32, n)
		for i := range want {
			t1 := a * dy[i]
			t2 := b * (xc[i] - m)
			want[i] = (t1 + t2) + c
		}
		got := make([]float32, n)
		nmgAxpbycRun(dy, xc, got, float64(a), float64(b), float64(m), float64(c))
		tmSameF32(t, "axpbyc", n, got, want)
		inPlace := append([]float32{}, dy...)
		nmgAxpbycRun(inPlace, xc, inPlace, float64(a), float64(b), float64(m), float64(c))
		tmSameF32(t, "axpbyc in place", n, inPlace, want)
		// y = x·a + b.
		for i := range want {
			want[i] = x[i]*a + b
		}
		normScaleShift(x, got, float64(a), float64(b))
		tmSameF32(t, "scaleshift", n, got, want)
		// Relu and Clip selections on y.
		for i := range want {
			want[i] = 0
			if x[i] > 0 {
				want[i] = dy[i]
			}
		}
		ewgBasicKernel(ewgRelu, 0, 0, got, x, x, dy)
		tmSameF32(t, "relu", n, got, want)
		for i := range want {
			want[i] = 0
			if x[i] > 0 && x[i] < 6 {
				want[i] = dy[i]
			}
		}
		ewgBasicKernel(ewgClip, 0, 6, got, x, x, dy)
		tmSameF32(t, "clip", n, got, want)
		inPlace = append(inPlace[:0], dy...)
		ewgBasicKernel(ewgClip, 0, 6, inPlace, x, x, inPlace)
		tmSameF32(t, "clip in place", n, inPlace, want)
	}
}

func tmSameF32(t *testing.T, what string, n int, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			t.Errorf("%s n=%d: [%d] = %v, want %v", what, n, i, got[i], want[i])
			return
		}
	}
}
