package nn

func normOps() []OpDef {
	return []OpDef{}
}
