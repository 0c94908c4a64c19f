package nn

import "math"

// ewExpFast returns e**x with a relative error below 1e-9 for the range of
// float32 arguments (|x| < 105); it is used by the float32 kernels, whose
// results are rounded to float32 afterwards. It is several times faster
// than math.Exp. Larger arguments fall back to math.Exp.
func ewExpFast(x float64) float64 {
	if !(x > -700 && x < 700) { // also catches NaN
		return math.Exp(x)
	}
	const (
		log2e = 1.4426950408889634
		ln2hi = 6.93147180369123816490e-01
		ln2lo = 1.90821492927058770002e-10
	)
	y := x * log2e
	var k int
	if y >= 0 {
		k = int(y + 0.5)
	} else {
		k = int(y - 0.5)
	}
	fk := float64(k)
	r := (x - fk*ln2hi) - fk*ln2lo // |r| <= ln2/2
	// Taylor polynomial of degree 9 (Horner form), truncation < 1e-12.
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040+r*(1.0/40320+r*(1.0/362880)))))))))
	return p * math.Float64frombits(uint64(k+1023)<<52)
}

// ewSigmoidFast is the logistic function on top of ewExpFast.
func ewSigmoidFast(x float64) float64 {
	return 1 / (1 + ewExpFast(-x))
}

// ewTanhFast is tanh on top of ewExpFast, with a series near zero.
func ewTanhFast(x float64) float64 {
	a := x
	if a < 0 {
		a = -a
	}
	if a < 0.005 {
		x2 := x * x
		return x * (1 - x2*(1.0/3-x2*(2.0/15)))
	}
	if a > 20 {
		return math.Copysign(1, x)
	}
	t := 1 - 2/(ewExpFast(2*a)+1)
	return math.Copysign(t, x)
}
