package nn

import "math"

// Fast float32 activation kernels used on the inference hot path (ReLU,
// ReLU6/Clip, HardSigmoid, HardSwish, Sigmoid). On amd64 the clamp is branch-free
// AVX2 (VMAXPS/VMINPS) instead of data-dependent branches, which mispredict
// on activations that are half saturated.
// Semantics match the generic kernels: NaN passes through, and a clamp with
// lo > hi yields hi everywhere.

// pfClampF32 sets d[i] = min(max(x[i], lo), hi) for i < len(d).
func pfClampF32(d, x []float32, lo, hi float32) {
	x = x[:len(d)]
	done := pfClampVec(d, x, lo, hi)
	d, x = d[done:], x[done:len(d)]
	for i, v := range x {
		d[i] = pfClampOne(v, lo, hi)
	}
}

// pfClampOne clamps v to [lo, hi], keeping NaN. (Plain comparisons: the
// float min/max builtins are slower in Go, which handles signed zeros.)
func pfClampOne(v, lo, hi float32) float32 {
	if v < lo {
		v = lo
	}
	if v > hi {
		v = hi
	}
	return v
}

// pfHardSigmoidF32 sets d[i] = clamp(alpha*x[i]+beta, 0, 1).
func pfHardSigmoidF32(d, x []float32, alpha, beta float32) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = pfClampOne(alpha*v+beta, 0, 1)
	}
}

// pfHardSwishF32 sets d[i] = x[i] * clamp(x[i]/6+0.5, 0, 1).
func pfHardSwishF32(d, x []float32) {
	x = x[:len(d)]
	for i, v := range x {
		d[i] = v * pfClampOne(v/6+0.5, 0, 1)
	}
}

// pfUnaryF32 runs the fast kernel of a float32-stored activation and
// reports whether u has one; the caller still rounds half-precision results.
func pfUnaryF32(u *ewUnary, d, x []float32) bool {
	switch u.op {
	case ewRelu:
		pfClampF32(d, x, 0, float32(math.Inf(1)))
	case ewHardSigmoid:
		pfHardSigmoidF32(d, x, float32(u.alpha), float32(u.beta))
	case ewHardSwish:
		pfHardSwishF32(d, x)
	case ewSigmoid:
		pfSigmoidF32(d, x)
	default:
		return false
	}
	return true
}

// pfSigmoidF32 sets d[i] = 1/(1+e^-x[i]): vectorized where possible, with
// the scalar kernel for blocks the vector one declines and for the tail.
func pfSigmoidF32(d, x []float32) {
	x = x[:len(d)]
	for i := 0; i < len(d); {
		i += pfSigmoidVec(d[i:], x[i:])
		end := min(i+8, len(d)) // the declined block, or the tail
		for ; i < end; i++ {
			d[i] = ewSigmoid32(x[i])
		}
	}
}

// pfFill sets every element of s to v: a short scalar prefix, then doubling
// copies (memmove is vectorized, a scalar store loop is not).
func pfFill[T float32 | float64](s []T, v T) {
	n := min(len(s), 16)
	for i := range s[:n] {
		s[i] = v
	}
	for n < len(s) {
		n += copy(s[n:], s[:n])
	}
}
