package nn

import "math"

// Float32 kernels for the transcendental activations. They compute in
// float32 arithmetic only (float32<->float64 conversions are comparatively
// expensive in tight Go loops) and stay within a few float32 ulps (relative
// error below 1e-6) of the correctly rounded result over the whole float32
// range; arguments outside the polynomial's range fall back to package math.

const (
	ewExpMagic = 12582912.0 // 1.5 * 2**23: adding it rounds to an integer
	ewLog2E32  = 1.44269504
	ewLn2Hi32  = 0.693145752   // ln 2 with trailing zero bits, so k*ewLn2Hi32 is exact
	ewLn2Lo32  = 1.42860677e-6 // ln 2 - ewLn2Hi32
	ewExpMax32 = 88.0          // largest argument handled inline (2**127 scale)
	ewExpMin32 = -87.0         // smallest argument handled inline (normal results)
)

// ewExp32 returns e**x.
func ewExp32(x float32) float32 {
	if !(x > ewExpMin32 && x < ewExpMax32) { // also NaN and infinities
		return float32(math.Exp(float64(x)))
	}
	t := x*ewLog2E32 + ewExpMagic
	k := t - ewExpMagic // round(x / ln 2)
	r := x - k*ewLn2Hi32 - k*ewLn2Lo32
	// Taylor polynomial of e**r for |r| <= ln2/2 (truncation < 3e-9).
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	e := int32(math.Float32bits(t)) - int32(math.Float32bits(ewExpMagic))
	return p * math.Float32frombits(uint32(e+127)<<23)
}

// ewSigmoid32 returns 1/(1+e**-x), evaluated so that neither tail cancels.
func ewSigmoid32(x float32) float32 {
	a := x
	if a < 0 {
		a = -a
	}
	e := ewExp32(-a)
	s := 1 / (1 + e)
	if x < 0 {
		return e * s
	}
	return s
}

// ewTanh32 returns tanh(x): an odd Taylor polynomial near zero, else
// (1-e)/(1+e) with e = e**(-2|x|).
func ewTanh32(x float32) float32 {
	a := x
	if a < 0 {
		a = -a
	}
	if a < 0.3 {
		z := x * x
		return x + x*z*(-1.0/3+z*(2.0/15+z*(-17.0/315+z*(62.0/2835+z*(-1382.0/155925)))))
	}
	if !(a < 10) { // |tanh| rounds to 1 (and NaN stays NaN)
		if a != a {
			return x
		}
		return float32(math.Copysign(1, float64(x)))
	}
	e := ewExp32(-2 * a)
	t := (1 - e) / (1 + e)
	if x < 0 {
		return -t
	}
	return t
}
