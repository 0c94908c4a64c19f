package nn

// normOps lists normalization, reduction, softmax and dropout ops.
func normOps() []OpDef {
	defs := []OpDef{
		{Type: "BatchNormalization", Since: 6, New: normBatchNew, WeightInputs: []int{1, 2, 3, 4}},
		{Type: "BatchNormalization", Since: 7, New: normBatchNew, WeightInputs: []int{1, 2, 3, 4}},
		{Type: "BatchNormalization", Since: 9, New: normBatchNew, WeightInputs: []int{1, 2, 3, 4}},
		{Type: "BatchNormalization", Since: 14, New: normBatchNew, WeightInputs: []int{1, 2, 3, 4}},
		{Type: "BatchNormalization", Since: 15, New: normBatchNew, WeightInputs: []int{1, 2, 3, 4}},
		{Type: "InstanceNormalization", Since: 6, New: normInstanceNew, WeightInputs: []int{1, 2}},
		{Type: "LayerNormalization", Since: 17, New: normLayerNew, WeightInputs: []int{1, 2}},
		{Type: "GroupNormalization", Since: 18, New: normGroupNew, WeightInputs: []int{1, 2}},
		{Type: "GroupNormalization", Since: 21, New: normGroupNew, WeightInputs: []int{1, 2}},
		{Type: "RMSNormalization", Since: 23, New: normRMSNew, WeightInputs: []int{1}},
		{Type: "MeanVarianceNormalization", Since: 9, New: normMVNNew},
		{Type: "LpNormalization", Since: 1, New: normLpNew},

		{Type: "Softmax", Since: 1, New: smNew(false, true)},
		{Type: "Softmax", Since: 13, New: smNew(false, false)},
		{Type: "LogSoftmax", Since: 1, New: smNew(true, true)},
		{Type: "LogSoftmax", Since: 13, New: smNew(true, false)},
		{Type: "Hardmax", Since: 1, New: smHardmaxNew(true)},
		{Type: "Hardmax", Since: 13, New: smHardmaxNew(false)},

		{Type: "ArgMax", Since: 1, New: argNew(true)},
		{Type: "ArgMin", Since: 1, New: argNew(false)},

		{Type: "Dropout", Since: 6, New: normDropoutNew},
		{Type: "Dropout", Since: 7, New: normDropoutNew},
		{Type: "Dropout", Since: 10, New: normDropoutNew},
		{Type: "Dropout", Since: 12, New: normDropoutNew},
		{Type: "Dropout", Since: 13, New: normDropoutNew},
	}
	reductions := []struct {
		name string
		kind redKind
	}{
		{"ReduceSum", redSum}, {"ReduceMean", redMean}, {"ReduceMax", redMax},
		{"ReduceMin", redMin}, {"ReduceProd", redProd}, {"ReduceL1", redL1},
		{"ReduceL2", redL2}, {"ReduceSumSquare", redSumSquare},
		{"ReduceLogSum", redLogSum}, {"ReduceLogSumExp", redLogSumExp},
	}
	for _, r := range reductions {
		inputSince := 18
		if r.kind == redSum {
			inputSince = 13
		}
		defs = append(defs,
			OpDef{Type: r.name, Since: 1, New: redNew(r.kind, false)},
			OpDef{Type: r.name, Since: inputSince, New: redNew(r.kind, true)},
		)
	}
	return defs
}
