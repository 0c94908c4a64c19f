package nn

// rnnOps registers the recurrent layers LSTM, GRU and RNN. Opset 7 removed
// the output_sequence attribute of opset 1 (both are handled alike: Y is
// produced whenever the node names it); opset 14 added the layout attribute.
func rnnOps() []OpDef {
	var defs []OpDef
	for _, k := range []rnnKind{rnnKindRNN, rnnKindGRU, rnnKindLSTM} {
		kind := k
		weights := []int{1, 2, 3}
		if kind == rnnKindLSTM {
			weights = []int{1, 2, 3, 7}
		}
		for _, since := range []int{1, 7, 14} {
			s := since
			defs = append(defs, OpDef{
				Type:         kind.String(),
				Since:        s,
				WeightInputs: weights,
				New:          func(n *Node) (Op, error) { return rnnNew(n, kind, s) },
			})
		}
	}
	return defs
}
