package nn

import "fmt"

// gemmGrads holds the backward passes of the matrix-product ops.
func gemmGrads() map[string]GradFunc {
	return map[string]GradFunc{
		"Gemm":   gemmGrad,
		"MatMul": gemmMatMulGrad,
	}
}

// gemmMul computes C = alpha*op(A)*op(B) for float32 or float64 operands.
func gemmMul(dt DType, transA, transB bool, m, n, k int, alpha float64, a *Tensor, lda int, b *Tensor, ldb int, c *Tensor, ldc int) {
	if dt.Storage() == StoreF64 {
		gemmF64(transA, transB, m, n, k, alpha, a.F64, lda, b.F64, ldb, 0, c.F64, ldc)
		return
	}
	gemmF32(transA, transB, m, n, k, float32(alpha), a.F32, lda, b.F32, ldb, 0, c.F32, ldc)
}

// gemmGrad: Y = α·op(A)·op(B) + β·C.
func gemmGrad(_ *Context, node *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	a, b, dy := in[0], in[1], dOut[0]
	alpha := float64(node.AttrFloat("alpha", 1))
	beta := float64(node.AttrFloat("beta", 1))
	transA := node.AttrInt("transA", 0) != 0
	transB := node.AttrInt("transB", 0) != 0
	m, k := a.Shape[0], a.Shape[1]
	if transA {
		m, k = k, m
	}
	n := dy.Shape[1]
	res := make([]*Tensor, len(in))
	if need[0] {
		da := New(a.DType, a.Shape...)
		if !transA {
			gemmMul(a.DType, false, !transB, m, k, n, alpha, dy, n, b, b.Shape[1], da, k)
		} else {
			gemmMul(a.DType, transB, true, k, m, n, alpha, b, b.Shape[1], dy, n, da, m)
		}
		res[0] = da
	}
	if need[1] {
		db := New(b.DType, b.Shape...)
		if !transB {
			gemmMul(b.DType, !transA, false, k, n, m, alpha, a, a.Shape[1], dy, n, db, n)
		} else {
			gemmMul(b.DType, true, transA, n, k, m, alpha, dy, n, a, a.Shape[1], db, k)
		}
		res[1] = db
	}
	if len(in) > 2 && in[2] != nil && need[2] {
		dc := SumToShape(dy, in[2].Shape)
		if dc == dy {
			dc = dy.Clone()
		}
		scaleTensor(dc, beta)
		res[2] = dc
	}
	return res, nil
}

// scaleTensor multiplies a float tensor in place.
func scaleTensor(t *Tensor, f float64) {
	if f == 1 {
		return
	}
	for i := range t.F32 {
		t.F32[i] *= float32(f)
	}
	for i := range t.F64 {
		t.F64[i] *= f
	}
}

// gemmMatMulGrad: Y = A·B with numpy broadcasting of batch dimensions and
// 1-D operands promoted to matrices.
func gemmMatMulGrad(_ *Context, _ *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	a, b, dy := in[0], in[1], dOut[0]
	_, batch, m, k, n, err := gemmMatMulShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	// Work on matrix views: A [..., m, k], B [..., k, n], dY [batch..., m, n].
	aShape, bShape := a.Shape, b.Shape
	if len(aShape) == 1 {
		aShape = []int{1, aShape[0]}
	}
	if len(bShape) == 1 {
		bShape = []int{bShape[0], 1}
	}
	aBatch := aShape[:len(aShape)-2]
	bBatch := bShape[:len(bShape)-2]
	nb := NumElements(batch)
	if dy.Len() != nb*m*n {
		return nil, fmt.Errorf("MatMul backward: gradient %v does not match the output", ShapeString(dy.Shape))
	}
	ao := BroadcastIndex(aBatch, batch)
	bo := BroadcastIndex(bBatch, batch)
	res := make([]*Tensor, 2)
	dt := a.DType
	tmp := New(dt, m*k+k*n)
	view := func(t *Tensor, off, size int) *Tensor {
		if t.F64 != nil {
			return &Tensor{DType: dt, F64: t.F64[off : off+size]}
		}
		return &Tensor{DType: dt, F32: t.F32[off : off+size]}
	}
	acc := func(dst *Tensor, off int, src *Tensor, size int) {
		if dst.F64 != nil {
			for i := 0; i < size; i++ {
				dst.F64[off+i] += src.F64[i]
			}
			return
		}
		for i := 0; i < size; i++ {
			dst.F32[off+i] += src.F32[i]
		}
	}
	if need[0] {
		da := New(dt, a.Shape...)
		for i := 0; i < nb; i++ {
			t := view(tmp, 0, m*k)
			// dA_i = dY_i · B_iᵀ
			gemmMul(dt, false, true, m, k, n, 1, view(dy, i*m*n, m*n), n, view(b, bo[i]*k*n, k*n), n, t, k)
			acc(da, ao[i]*m*k, t, m*k)
		}
		res[0] = da
	}
	if need[1] {
		db := New(dt, b.Shape...)
		for i := 0; i < nb; i++ {
			t := view(tmp, m*k, k*n)
			// dB_i = A_iᵀ · dY_i
			gemmMul(dt, true, false, k, n, m, 1, view(a, ao[i]*m*k, m*k), k, view(dy, i*m*n, m*n), n, t, n)
			acc(db, bo[i]*k*n, t, k*n)
		}
		res[1] = db
	}
	return res, nil
}
