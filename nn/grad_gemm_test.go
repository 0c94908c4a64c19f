package nn

import (
	"math/rand"
	"testing"
)

func TestGemmGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, tc := range []struct {
		transA, transB int
		cShape         []int
	}{{0, 0, []int{4}}, {1, 0, []int{3, 4}}, {0, 1, []int{1, 4}}, {1, 1, []int{3, 1}}, {0, 0, nil}} {
		aShape, bShape := []int{3, 5}, []int{5, 4}
		if tc.transA == 1 {
			aShape = []int{5, 3}
		}
		if tc.transB == 1 {
			bShape = []int{4, 5}
		}
		nIn := 3
		in := []*Tensor{randF64(rng, aShape...), randF64(rng, bShape...)}
		if tc.cShape == nil {
			nIn = 2
		} else {
			in = append(in, randF64(rng, tc.cShape...))
		}
		n := gradTestNode(t, "Gemm", 13, map[string]any{"transA": tc.transA, "transB": tc.transB, "alpha": 0.7, "beta": 1.3}, nIn, 1)
		wrt := []int{0, 1}
		if nIn == 3 {
			wrt = append(wrt, 2)
		}
		gradCheck(t, n, in, wrt, 1e-5)
	}
}

func TestMatMulGrad(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, sh := range [][2][]int{
		{{3, 4}, {4, 2}},
		{{2, 3, 4}, {4, 5}},
		{{2, 1, 3, 4}, {3, 4, 2}},
		{{4}, {4, 3}},
		{{2, 3, 4}, {4}},
		{{5, 3, 4}, {5, 4, 2}},
	} {
		n := gradTestNode(t, "MatMul", 13, nil, 2, 1)
		gradCheck(t, n, []*Tensor{randF64(rng, sh[0]...), randF64(rng, sh[1]...)}, []int{0, 1}, 1e-5)
	}
}
