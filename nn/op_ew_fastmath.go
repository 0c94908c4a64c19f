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

// ewTwoOverSqrtPi is 2/sqrt(pi), the derivative of erf at 0.
const ewTwoOverSqrtPi = 1.1283791670955126

// ewErfSmall32 returns erf(x) for |x| < 1 from its Taylor series
// (2/sqrt(pi)) * sum (-1)^n x^(2n+1) / (n! (2n+1)), truncated after n = 10.
func ewErfSmall32(x float32) float32 {
	z := x * x
	const k = ewTwoOverSqrtPi
	p := k + z*(-k/3+z*(k/10+z*(-k/42+z*(k/216+z*(-k/1320+z*(k/9360+
		z*(-k/75600+z*(k/685440+z*(-k/6894720+z*(k/76204800))))))))))
	return x * p
}

// ewErfcMid32 returns erfc(a) for 1 <= a < 4 as exp(-a*a) * g(a), where
// g = erfc*exp(a*a) is smooth; g is a degree-12 Chebyshev expansion over
// [1, 4] (coefficients fitted to math.Erfc, truncation error below 2e-9),
// evaluated with Clenshaw's recurrence.
func ewErfcMid32(a float32) float32 {
	t := (2*a - 5) * (1.0 / 3)
	t2 := 2 * t
	b1, b2 := float32(0), float32(0)
	b1, b2 = t2*b1-b2+6.747602336e-09, b1
	b1, b2 = t2*b1-b2-3.606320654e-08, b1
	b1, b2 = t2*b1-b2+1.882900687e-07, b1
	b1, b2 = t2*b1-b2-9.589944832e-07, b1
	b1, b2 = t2*b1-b2+4.756874692e-06, b1
	b1, b2 = t2*b1-b2-2.293663448e-05, b1
	b1, b2 = t2*b1-b2+0.0001072737545, b1
	b1, b2 = t2*b1-b2-0.0004853987641, b1
	b1, b2 = t2*b1-b2+0.002118423998, b1
	b1, b2 = t2*b1-b2-0.008884098618, b1
	b1, b2 = t2*b1-b2+0.03563511415, b1
	b1, b2 = t2*b1-b2-0.1358986289, b1
	g := t*b1 - b2 + 0.2444257528
	return ewExp32(-a*a) * g
}

// ewErf32 returns erf(x).
func ewErf32(x float32) float32 {
	a := x
	if a < 0 {
		a = -a
	}
	if a < 1 {
		return ewErfSmall32(x)
	}
	var r float32
	if a < 4 {
		r = 1 - ewErfcMid32(a)
	} else {
		if a != a {
			return x
		}
		r = 1 // erfc(4) < 2**-25: erf rounds to 1
	}
	if x < 0 {
		return -r
	}
	return r
}

// ewGelu32 returns x * Phi(x) = x/2 * erfc(-x/sqrt2), using erfc directly
// on the negative side so that the small tail values keep their precision.
func ewGelu32(x float32) float32 {
	z := x * (1 / math.Sqrt2)
	a := z
	if a < 0 {
		a = -a
	}
	var c float32 // erfc(a)
	switch {
	case a < 1:
		c = 1 - ewErfSmall32(a)
	case x < 0 || !(a < 4):
		// The negative tail is small and sensitive to the rounding of z
		// (relative error grows like 2z²·ulp): evaluate it in float64.
		if a != a {
			return x
		}
		f := float64(x)
		return float32(0.5 * f * math.Erfc(-f/math.Sqrt2))
	default:
		c = ewErfcMid32(a)
	}
	if x < 0 {
		return 0.5 * x * c
	}
	return x - 0.5*x*c
}
