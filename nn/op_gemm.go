package nn

import (
	"fmt"
)

// gemmCheckFloat reports an error unless all tensors share a float dtype.
func gemmCheckFloat(op string, ts ...*Tensor) error {
	dt := ts[0].DType
	if dt.Storage() != StoreF32 && dt.Storage() != StoreF64 {
		return fmt.Errorf("%s: unsupported input type %v (want float32, float16, bfloat16 or float64)", op, dt)
	}
	for _, t := range ts[1:] {
		if t != nil && t.DType != dt {
			return fmt.Errorf("%s: input types %v and %v differ", op, dt, t.DType)
		}
	}
	return nil
}

// gemmOp implements ONNX Gemm: Y = alpha*op(A)*op(B) + beta*C.
type gemmOp struct {
	alpha, beta    float32
	transA, transB bool
}

func gemmNew(n *Node) (Op, error) {
	return &gemmOp{
		alpha:  n.AttrFloat("alpha", 1),
		beta:   n.AttrFloat("beta", 1),
		transA: n.AttrInt("transA", 0) != 0,
		transB: n.AttrInt("transB", 0) != 0,
	}, nil
}

func (g *gemmOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("Gemm: needs inputs A and B")
	}
	a, b := in[0], in[1]
	var c *Tensor
	if len(in) > 2 {
		c = in[2]
	}
	if err := gemmCheckFloat("Gemm", a, b, c); err != nil {
		return nil, err
	}
	if a.Rank() != 2 || b.Rank() != 2 {
		return nil, fmt.Errorf("Gemm: A %v and B %v must be matrices", ShapeString(a.Shape), ShapeString(b.Shape))
	}
	m, k := a.Shape[0], a.Shape[1]
	if g.transA {
		m, k = k, m
	}
	kb, n := b.Shape[0], b.Shape[1]
	if g.transB {
		kb, n = n, kb
	}
	if k != kb {
		return nil, fmt.Errorf("Gemm: inner dimensions of A %v (transA=%v) and B %v (transB=%v) differ",
			ShapeString(a.Shape), g.transA, ShapeString(b.Shape), g.transB)
	}
	// Y is either filled from C or overwritten by the beta=0 GEMM.
	y := ctx.arNew(a.DType, m, n)
	beta := g.beta
	if c != nil && beta != 0 {
		if c.Rank() > 2 {
			return nil, fmt.Errorf("Gemm: C %v has rank above 2", ShapeString(c.Shape))
		}
		out, err := BroadcastShapes(c.Shape, []int{m, n})
		if err != nil || !SameShape(out, []int{m, n}) {
			return nil, fmt.Errorf("Gemm: C %v cannot be broadcast to the output [%d,%d]", ShapeString(c.Shape), m, n)
		}
		gemmFillBroadcast(y, c, m, n)
	} else {
		beta = 0
	}
	if y.F32 != nil {
		gemmF32(g.transA, g.transB, m, n, k, g.alpha, a.F32, a.Shape[1], b.F32, b.Shape[1], beta, y.F32, n)
		y.RoundToDType()
	} else {
		gemmF64(g.transA, g.transB, m, n, k, float64(g.alpha), a.F64, a.Shape[1], b.F64, b.Shape[1], float64(beta), y.F64, n)
	}
	return []*Tensor{y}, nil
}

// gemmFillBroadcast writes c broadcast to [m,n] into y.
func gemmFillBroadcast(y, c *Tensor, m, n int) {
	rows, cols := 1, 1
	switch c.Rank() {
	case 1:
		cols = c.Shape[0]
	case 2:
		rows, cols = c.Shape[0], c.Shape[1]
	}
	for i := 0; i < m; i++ {
		ci := 0
		if rows != 1 {
			ci = i * cols
		}
		for j := 0; j < n; j++ {
			cj := ci
			if cols != 1 {
				cj += j
			}
			if y.F32 != nil {
				y.F32[i*n+j] = c.F32[cj]
			} else {
				y.F64[i*n+j] = c.F64[cj]
			}
		}
	}
}

// gemmMatMulShapes computes the numpy matmul result shape, the broadcast
// batch shape and the matrix sizes.
func gemmMatMulShapes(as, bs []int) (out, batch []int, m, k, n int, err error) {
	if len(as) == 0 || len(bs) == 0 {
		return nil, nil, 0, 0, 0, fmt.Errorf("MatMul: scalar operand (shapes %v and %v)", ShapeString(as), ShapeString(bs))
	}
	a1, b1 := len(as) == 1, len(bs) == 1
	if a1 {
		as = []int{1, as[0]}
	}
	if b1 {
		bs = []int{bs[0], 1}
	}
	m, k = as[len(as)-2], as[len(as)-1]
	kb := bs[len(bs)-2]
	n = bs[len(bs)-1]
	if k != kb {
		return nil, nil, 0, 0, 0, fmt.Errorf("MatMul: shapes %v and %v: inner dimensions %d and %d differ", ShapeString(as), ShapeString(bs), k, kb)
	}
	batch, err = BroadcastShapes(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return nil, nil, 0, 0, 0, fmt.Errorf("MatMul: batch dimensions: %v", err)
	}
	out = append([]int{}, batch...)
	if !a1 {
		out = append(out, m)
	}
	if !b1 {
		out = append(out, n)
	}
	return out, batch, m, k, n, nil
}

// gemmBatchOffsets returns, for each flat batch index of batch, the matrix
// index into a tensor with the given batch shape (broadcast).
func gemmBatchOffsets(shape, batch []int) []int {
	return BroadcastIndex(shape, batch)
}

func gemmMatMul(_ *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("MatMul: needs two inputs")
	}
	a, b := in[0], in[1]
	if err := gemmCheckFloat("MatMul", a, b); err != nil {
		return nil, err
	}
	out, batch, m, k, n, err := gemmMatMulShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	y := New(a.DType, out...)
	nb := NumElements(batch)
	var aBatch, bBatch []int
	if a.Rank() > 2 {
		aBatch = a.Shape[:a.Rank()-2]
	}
	if b.Rank() > 2 {
		bBatch = b.Shape[:b.Rank()-2]
	}
	run := func(ai, bi, yi, mm int) {
		if y.F32 != nil {
			gemmF32(false, false, mm, n, k, 1, a.F32[ai:], k, b.F32[bi:], n, 0, y.F32[yi:], n)
		} else {
			gemmF64(false, false, mm, n, k, 1, a.F64[ai:], k, b.F64[bi:], n, 0, y.F64[yi:], n)
		}
	}
	switch {
	case NumElements(bBatch) == 1 && SameShape(aBatch, batch):
		// B is one matrix (typically a weight): fold A's batch into rows.
		run(0, 0, 0, nb*m)
	default:
		ao := gemmBatchOffsets(aBatch, batch)
		bo := gemmBatchOffsets(bBatch, batch)
		for i := 0; i < nb; i++ {
			run(ao[i]*m*k, bo[i]*k*n, i*m*n, m)
		}
	}
	y.RoundToDType()
	return []*Tensor{y}, nil
}

// gemmMatMulInteger implements MatMulInteger: (A - a_zero) * (B - b_zero)
// accumulated in int32.
func gemmMatMulInteger(_ *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("MatMulInteger: needs inputs A and B")
	}
	a, b := in[0], in[1]
	for _, t := range []*Tensor{a, b} {
		if t.DType != Uint8 && t.DType != Int8 {
			return nil, fmt.Errorf("MatMulInteger: input type %v (want uint8 or int8)", t.DType)
		}
	}
	out, batch, m, k, n, err := gemmMatMulShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	// Zero points: scalar, or per row of A (length M) / per column of B (length N).
	var az, bz []int64
	if len(in) > 2 && in[2] != nil {
		az = in[2].I64
		if len(az) != 1 && len(az) != m {
			return nil, fmt.Errorf("MatMulInteger: a_zero_point %v must be a scalar or have %d elements", ShapeString(in[2].Shape), m)
		}
	}
	if len(in) > 3 && in[3] != nil {
		bz = in[3].I64
		if len(bz) != 1 && len(bz) != n {
			return nil, fmt.Errorf("MatMulInteger: b_zero_point %v must be a scalar or have %d elements", ShapeString(in[3].Shape), n)
		}
	}
	y := New(Int32, out...)
	var aBatch, bBatch []int
	if a.Rank() > 2 {
		aBatch = a.Shape[:a.Rank()-2]
	}
	if b.Rank() > 2 {
		bBatch = b.Shape[:b.Rank()-2]
	}
	ao := gemmBatchOffsets(aBatch, batch)
	bo := gemmBatchOffsets(bBatch, batch)
	row := make([]int64, k)
	for bi := range ao {
		A := a.I64[ao[bi]*m*k:]
		B := b.I64[bo[bi]*k*n:]
		Y := y.I64[bi*m*n:]
		for i := 0; i < m; i++ {
			var za int64
			if len(az) == 1 {
				za = az[0]
			} else if az != nil {
				za = az[i]
			}
			for p := 0; p < k; p++ {
				row[p] = A[i*k+p] - za
			}
			yr := Y[i*n : i*n+n]
			for j := range yr {
				yr[j] = 0
			}
			for p := 0; p < k; p++ {
				av := row[p]
				if av == 0 {
					continue
				}
				br := B[p*n : p*n+n]
				for j, bv := range br {
					var zb int64
					if len(bz) == 1 {
						zb = bz[0]
					} else if bz != nil {
						zb = bz[j]
					}
					yr[j] += av * (bv - zb)
				}
			}
			for j := range yr {
				yr[j] = Int32.WrapInt(yr[j])
			}
		}
	}
	return []*Tensor{y}, nil
}
