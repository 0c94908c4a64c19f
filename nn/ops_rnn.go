package nn

func rnnOps() []OpDef {
	return []OpDef{}
}
