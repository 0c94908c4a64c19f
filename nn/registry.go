package nn

// standardDefs lists every op family graft implements. Each family lives in
// its own files (op_*.go) and returns its definitions from one function.
func standardDefs() [][]OpDef {
	return [][]OpDef{
		convOps(),
		elementwiseOps(),
		normOps(),
		shapeOps(),
		rnnOps(),
		quantOps(),
	}
}

// standardGrads lists the backward passes, one map per op family (op type
// to gradient), kept in grad_*.go files.
func standardGrads() []map[string]GradFunc {
	return []map[string]GradFunc{
		gemmGrads(),
		normGrads(),
		ewGrads(),
		ewMoreGrads(),
		shapeGrads(),
		convGrads(),
	}
}
