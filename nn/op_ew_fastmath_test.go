package nn

import (
	"math"
	"testing"
)

func TestEwFastMathAccuracy(t *testing.T) {
	worst := [3]float64{}
	for i := -2000000; i <= 2000000; i++ {
		x := float64(i) * 5e-5 // [-100, 100]
		got := [3]float64{ewExpFast(x), ewSigmoidFast(x), ewTanhFast(x)}
		want := [3]float64{math.Exp(x), 1 / (1 + math.Exp(-x)), math.Tanh(x)}
		for k := range got {
			if want[k] == 0 {
				if got[k] != 0 {
					t.Fatalf("fn %d at %v: %v, want 0", k, x, got[k])
				}
				continue
			}
			if e := math.Abs(got[k]-want[k]) / math.Abs(want[k]); e > worst[k] {
				worst[k] = e
			}
		}
	}
	for k, w := range worst {
		if w > 1e-9 {
			t.Errorf("fn %d: worst relative error %g", k, w)
		}
	}
	for _, x := range []float64{1e-8, -3e-3, 0.0049, 0.0051, -0.0051} {
		if e := math.Abs(ewTanhFast(x)-math.Tanh(x)) / math.Abs(math.Tanh(x)); e > 1e-12 {
			t.Errorf("tanh(%v) relative error %g", x, e)
		}
	}
	if !math.IsNaN(ewExpFast(math.NaN())) || ewExpFast(math.Inf(-1)) != 0 || !math.IsInf(ewExpFast(800), 1) {
		t.Error("special values")
	}
	if ewSigmoidFast(-800) != 0 || ewSigmoidFast(800) != 1 {
		t.Error("sigmoid saturation")
	}
}
