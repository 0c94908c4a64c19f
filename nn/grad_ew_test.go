package nn

import (
	"math/rand"
	"testing"
)

func TestBasicElementwiseGrads(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		for _, sh := range [][2][]int{{{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{3, 1}, {2, 1, 4}}, {{1}, {5}}} {
			n := gradTestNode(t, op, 13, nil, 2, 1)
			a, b := randF64(rng, sh[0]...), randF64(rng, sh[1]...)
			if op == "Div" {
				for i := range b.F64 {
					b.F64[i] = 1.5 + b.F64[i]*b.F64[i] // keep away from 0
				}
			}
			gradCheck(t, n, []*Tensor{a, b}, []int{0, 1}, 1e-5)
		}
	}
	for _, op := range []string{"Neg", "Relu", "Sigmoid", "Tanh", "LeakyRelu"} {
		n := gradTestNode(t, op, 13, nil, 1, 1)
		gradCheck(t, n, []*Tensor{randF64(rng, 3, 5)}, []int{0}, 1e-5)
	}
	clip := gradTestNode(t, "Clip", 13, nil, 3, 1)
	lo, hi := New(Float64), New(Float64)
	lo.F64[0], hi.F64[0] = -0.5, 0.7
	gradCheck(t, clip, []*Tensor{randF64(rng, 4, 6), lo, hi}, []int{0}, 1e-5)
	clip6 := gradTestNode(t, "Clip", 6, map[string]any{"min": float32(0), "max": float32(0.6)}, 1, 1)
	gradCheck(t, clip6, []*Tensor{randF64(rng, 4, 6)}, []int{0}, 1e-5)
}
