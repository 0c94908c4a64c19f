package nn

func shapeOps() []OpDef {
	return []OpDef{}
}
