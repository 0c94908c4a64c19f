package nn

func elementwiseOps() []OpDef {
	return []OpDef{}
}
