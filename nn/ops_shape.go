package nn

// shapeOps lists the shape and data-movement ops. They work for every
// storage kind and keep the input's element type.
func shapeOps() []OpDef {
	d := func(typ string, since int, f func(*Node) (Op, error)) OpDef {
		return OpDef{Type: typ, Since: since, New: f}
	}
	return []OpDef{
		d("Identity", 1, shpNewIdentity),
		d("Flatten", 1, shpNewFlatten),
		d("Reshape", 1, shpNewReshape1),
		d("Reshape", 5, shpNewReshape),
		d("Transpose", 1, shpNewTranspose),
		d("Concat", 1, shpNewConcat),
		d("Split", 1, shpNewSplit),
		d("Slice", 1, shpNewSlice1),
		d("Slice", 10, shpNewSlice10),
		d("Squeeze", 1, shpNewSqueeze1),
		d("Squeeze", 13, shpNewSqueeze13),
		d("Unsqueeze", 1, shpNewUnsqueeze1),
		d("Unsqueeze", 13, shpNewUnsqueeze13),
		{Type: "Gather", Since: 1, New: shpNewGather, WeightInputs: []int{0}},
		d("GatherElements", 11, shpNewGatherElements),
		d("GatherND", 11, shpNewGatherND),
		d("ScatterND", 11, shpNewScatterND),
		d("ScatterElements", 11, shpNewScatterElements),
		d("Scatter", 9, shpNewScatterElements),
		d("Shape", 1, shpNewShape),
		d("Size", 1, shpNewSize),
		d("Constant", 1, shpNewConstant),
		d("ConstantOfShape", 9, shpNewConstantOfShape),
		d("Expand", 8, shpNewExpand),
		d("Tile", 6, shpNewTile),
		d("Range", 11, shpNewRange),
		d("Pad", 1, shpNewPad),
		d("CenterCropPad", 18, shpNewCenterCropPad),
		d("DepthToSpace", 1, shpNewDepthToSpace),
		d("SpaceToDepth", 1, shpNewSpaceToDepth),
		d("Trilu", 14, shpNewTrilu),
		d("Resize", 10, rsNewResize),
		d("Upsample", 7, rsNewUpsample),
	}
}
