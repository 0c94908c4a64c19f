package nn

import "math"

// Fast float32-accuracy exponential for the gate activations of float32
// layers: exp(x) = 2^k·exp(r) with |r| <= ln2/2 and a degree-7 Taylor
// polynomial for exp(r) (relative error below 6e-9, far under float32's
// resolution). Arithmetic is in float64, which costs the same as float32
// in scalar Go code.
const (
	rnnLog2e = 1.4426950408889634
	rnnLn2Hi = 6.93147180369123816490e-01
	rnnLn2Lo = 1.90821492927058770002e-10

	rnnRoundMagic = 6755399441055744.0 // 1.5·2^52
)

// rnnExpFast returns e^x for x in [-100, 100] (callers clamp).
func rnnExpFast(x float64) float64 {
	// Adding 1.5·2^52 rounds to an integer held in the low mantissa bits.
	t := x*rnnLog2e + rnnRoundMagic
	k := t - rnnRoundMagic
	r := (x - k*rnnLn2Hi) - k*rnnLn2Lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return p * math.Float64frombits((math.Float64bits(t)+1023)<<52)
}

// rnnSigmoid32 is the logistic function to float32 accuracy.
func rnnSigmoid32(x []float32) {
	for i, v := range x {
		f := float64(v)
		if f < -100 {
			f = -100
		} else if f > 100 {
			f = 100
		}
		x[i] = float32(1 / (1 + rnnExpFast(-f)))
	}
}

// rnnTanh32 is the hyperbolic tangent to float32 accuracy.
func rnnTanh32(x []float32) {
	for i, v := range x {
		f := float64(v)
		if f < -20 {
			f = -20
		} else if f > 20 {
			f = 20
		}
		e := rnnExpFast(2 * f)
		x[i] = float32((e - 1) / (e + 1))
	}
}
