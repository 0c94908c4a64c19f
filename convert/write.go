package convert

import (
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
)

// Write exports g over base (the model it was imported from) and saves it
// to path. The declared element types of the graph inputs follow g (float16
// inputs); value_info annotations of values whose type may have changed
// (every float value once the graph was converted to float16) are dropped.
func Write(base *onnxpb.ModelProto, g *nn.Graph, path string) error {
	m, err := onnx.Export(base, g, onnx.ExportOptions{})
	if err != nil {
		return err
	}
	setOpsetImport(m, g)
	gp := m.GetGraph()
	types := map[string]nn.DType{}
	for name, p := range g.Params {
		types[name] = p.Value.DType // IR 3 files list initializers as inputs
	}
	for _, in := range g.Inputs {
		types[in.Name] = in.DType
	}
	for _, vi := range gp.GetInput() {
		tt := vi.GetType().GetTensorType()
		if dt, ok := types[vi.GetName()]; ok && tt != nil && dt != nn.Undefined {
			tt.ElemType = int32(dt)
		}
	}
	if hasFloat16(g) {
		vis := gp.ValueInfo[:0]
		for _, vi := range gp.GetValueInfo() {
			if dt := nn.DType(vi.GetType().GetTensorType().GetElemType()); !dt.IsFloat() {
				vis = append(vis, vi)
			}
		}
		gp.ValueInfo = vis
	}
	return onnx.Save(path, m)
}

// hasFloat16 reports whether g holds float16 parameters or constants.
func hasFloat16(g *nn.Graph) bool {
	for _, p := range g.Params {
		if p.Value.DType == nn.Float16 {
			return true
		}
	}
	for _, c := range g.Consts {
		if c.DType == nn.Float16 {
			return true
		}
	}
	return false
}
