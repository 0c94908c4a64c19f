package nn

import (
	"fmt"
	"math/rand"
	"testing"
)

func TestGemmHandChecked(t *testing.T) {
	a := FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3) // 2x3
	b := FromFloat32([]float32{1, 0, 0, 1, 1, 1}, 3, 2) // 3x2
	// A*B = [[1+3, 2+3], [4+6, 5+6]] = [[4,5],[10,11]]
	y := convTestRun(t, convTestNode(t, "Gemm", 1, nil), a, b)[0]
	convTestClose(t, "gemm", y, []float64{4, 5, 10, 11}, []int{2, 2}, 1e-6)
	// alpha 2, beta 3, C = [1, 2] broadcast over rows.
	c := FromFloat32([]float32{1, 2}, 2)
	y = convTestRun(t, convTestNode(t, "Gemm", 1, map[string]any{"alpha": float32(2), "beta": float32(3)}), a, b, c)[0]
	convTestClose(t, "gemm alpha beta", y, []float64{11, 16, 23, 28}, []int{2, 2}, 1e-6)
	// transA, transB: A^T is 3x2, B^T is 2x3 -> 3x3; C column [3,1].
	at := FromFloat32([]float32{1, 4, 2, 5, 3, 6}, 3, 2) // = A^T... so transA gives A
	bt := FromFloat32([]float32{1, 0, 1, 0, 1, 1}, 2, 3) // = B^T
	cc := FromFloat32([]float32{100, 200}, 2, 1)
	y = convTestRun(t, convTestNode(t, "Gemm", 1, map[string]any{"transA": 1, "transB": 1}), at, bt, cc)[0]
	convTestClose(t, "gemm transposed", y, []float64{104, 105, 210, 211}, []int{2, 2}, 1e-6)
	// Scalar C.
	y = convTestRun(t, convTestNode(t, "Gemm", 1, nil), a, b, FromFloat32([]float32{1}))[0]
	convTestClose(t, "gemm scalar C", y, []float64{5, 6, 11, 12}, []int{2, 2}, 1e-6)
	if _, err := convTestNode(t, "Gemm", 1, nil).Run(NewContext(nil), []*Tensor{a, a}); err == nil {
		t.Fatal("Gemm accepted mismatched inner dimensions")
	}
	if _, err := convTestNode(t, "Gemm", 1, nil).Run(NewContext(nil), []*Tensor{a, b, New(Float32, 3, 2)}); err == nil {
		t.Fatal("Gemm accepted a C that does not broadcast")
	}
}

// gemmNaiveMatMul multiplies with explicit numpy broadcasting.
func gemmNaiveMatMul(a, b *Tensor) ([]float64, []int) {
	as, bs := append([]int{}, a.Shape...), append([]int{}, b.Shape...)
	a1, b1 := len(as) == 1, len(bs) == 1
	if a1 {
		as = []int{1, as[0]}
	}
	if b1 {
		bs = []int{bs[0], 1}
	}
	for len(as) < len(bs) {
		as = append([]int{1}, as...)
	}
	for len(bs) < len(as) {
		bs = append([]int{1}, bs...)
	}
	r := len(as)
	m, k, n := as[r-2], as[r-1], bs[r-1]
	batch := make([]int, r-2)
	for i := range batch {
		batch[i] = max(as[i], bs[i])
	}
	nb := NumElements(batch)
	y := make([]float64, nb*m*n)
	idx := make([]int, r-2)
	for bi := 0; bi < nb; bi++ {
		rem := bi
		for d := r - 3; d >= 0; d-- {
			idx[d] = rem % batch[d]
			rem /= batch[d]
		}
		ao, bo := 0, 0
		for d := 0; d < r-2; d++ {
			ao = ao*as[d] + min(idx[d], as[d]-1)
			bo = bo*bs[d] + min(idx[d], bs[d]-1)
		}
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				s := 0.0
				for p := 0; p < k; p++ {
					s += float64(a.F32[ao*m*k+i*k+p]) * float64(b.F32[bo*k*n+p*n+j])
				}
				y[bi*m*n+i*n+j] = s
			}
		}
	}
	shape := append([]int{}, batch...)
	if !a1 {
		shape = append(shape, m)
	}
	if !b1 {
		shape = append(shape, n)
	}
	return y, shape
}

func TestMatMulAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	cases := [][2][]int{
		{{4}, {4}},
		{{4}, {2, 4, 3}},
		{{2, 3, 4}, {4}},
		{{3, 4}, {4, 5}},
		{{2, 3, 4}, {4, 5}},
		{{2, 3, 4}, {2, 4, 5}},
		{{1, 3, 4}, {2, 4, 5}},
		{{3, 1, 3, 4}, {2, 4, 5}},
		{{3, 4}, {2, 2, 4, 5}},
		{{2, 1, 3, 4}, {1, 3, 4, 2}},
	}
	op := convTestNode(t, "MatMul", 1, nil)
	for _, c := range cases {
		a, b := convTestRand(r, c[0]...), convTestRand(r, c[1]...)
		want, shape := gemmNaiveMatMul(a, b)
		got := convTestRun(t, op, a, b)[0]
		convTestClose(t, fmt.Sprintf("matmul %v x %v", c[0], c[1]), got, want, shape, 1e-5)
		got = convTestRun(t, op, convTestTo64(a), convTestTo64(b))[0]
		convTestClose(t, fmt.Sprintf("matmul64 %v x %v", c[0], c[1]), got, want, shape, 1e-12)
	}
	if _, err := op.Run(NewContext(nil), []*Tensor{New(Float32, 2, 3), New(Float32, 2, 3)}); err == nil {
		t.Fatal("MatMul accepted [2,3] x [2,3]")
	}
}

func TestMatMulInteger(t *testing.T) {
	// (A - 1) * (B - [0, 2]) with A uint8 2x2, B uint8 2x2.
	a := &Tensor{DType: Uint8, Shape: []int{2, 2}, I64: []int64{2, 3, 4, 255}}
	b := &Tensor{DType: Uint8, Shape: []int{2, 2}, I64: []int64{1, 2, 3, 4}}
	az := &Tensor{DType: Uint8, Shape: []int{}, I64: []int64{1}}
	bz := &Tensor{DType: Uint8, Shape: []int{2}, I64: []int64{0, 2}}
	y := convTestRun(t, convTestNode(t, "MatMulInteger", 1, nil), a, b, az, bz)[0]
	// A-1 = [[1,2],[3,254]], B-bz = [[1,0],[3,2]]
	if y.DType != Int32 {
		t.Fatalf("dtype %v", y.DType)
	}
	convTestClose(t, "matmulinteger", y, []float64{7, 4, 765, 508}, []int{2, 2}, 0)
}

func BenchmarkGemm1024(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	const n = 1024
	x, w := convTestRand(r, n, n), convTestRand(r, n, n)
	c := New(Float32, n, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		gemmF32(false, false, n, n, n, 1, x.F32, n, w.F32, n, 0, c.F32, n)
	}
	b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkMatMulBatched(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	x, w := convTestRand(r, 8, 128, 256), convTestRand(r, 256, 512)
	op := convTestNode(b, "MatMul", 1, nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		convTestRun(b, op, x, w)
	}
}
