package nn

// convOps lists the compute-heavy ops: matrix products, convolutions and
// pooling.
func convOps() []OpDef {
	return []OpDef{
		{Type: "Gemm", Since: 1, New: gemmNew, WeightInputs: []int{1, 2}},
		{Type: "MatMul", Since: 1, New: func(*Node) (Op, error) { return OpFunc(gemmMatMul), nil }, WeightInputs: []int{1}},
		{Type: "MatMulInteger", Since: 10, New: func(*Node) (Op, error) { return OpFunc(gemmMatMulInteger), nil }, WeightInputs: []int{1}},
		{Type: "Conv", Since: 1, New: convNew, WeightInputs: []int{1, 2}},
		{Type: "ConvTranspose", Since: 1, New: convTransposeNew, WeightInputs: []int{1, 2}},
		{Type: "MaxPool", Since: 1, New: poolNew(true)},
		{Type: "AveragePool", Since: 1, New: poolNew(false)},
		{Type: "GlobalAveragePool", Since: 1, New: func(*Node) (Op, error) { return poolGlobal(false), nil }},
		{Type: "GlobalMaxPool", Since: 1, New: func(*Node) (Op, error) { return poolGlobal(true), nil }},
		{Type: "LRN", Since: 1, New: poolLRNNew},
	}
}
