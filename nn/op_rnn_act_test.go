package nn

import (
	"math"
	"testing"
)

func TestRNNFastActivations(t *testing.T) {
	var worstS, worstT float64
	for i := -200000; i <= 200000; i++ {
		v := float32(i) / 2000
		s, th := []float32{v}, []float32{v}
		rnnSigmoid32(s)
		rnnTanh32(th)
		ws := 1 / (1 + math.Exp(-float64(v)))
		wt := math.Tanh(float64(v))
		worstS = math.Max(worstS, math.Abs(float64(s[0])-ws)/math.Max(ws, 1e-30))
		worstT = math.Max(worstT, math.Abs(float64(th[0])-wt)/math.Max(math.Abs(wt), 1e-30))
	}
	// float32 rounding alone gives up to 2^-24 ≈ 6e-8.
	if worstS > 1.2e-7 || worstT > 1.2e-7 {
		t.Fatalf("relative error sigmoid %.3g tanh %.3g", worstS, worstT)
	}
	t.Logf("max relative error: sigmoid %.3g, tanh %.3g", worstS, worstT)
	for _, v := range []float32{0, float32(math.Inf(1)), float32(math.Inf(-1)), 1e-30, -1e-30, 1e6} {
		s, th := []float32{v}, []float32{v}
		rnnSigmoid32(s)
		rnnTanh32(th)
		if math.Abs(float64(s[0])-1/(1+math.Exp(-float64(v)))) > 1e-7 || math.Abs(float64(th[0])-math.Tanh(float64(v))) > 1e-7 {
			t.Errorf("x=%v: sigmoid %v tanh %v", v, s[0], th[0])
		}
	}
}
