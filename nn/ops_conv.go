package nn

func convOps() []OpDef {
	return []OpDef{}
}
