package convert

import (
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx/onnxpb"
)

// opsetIRVersion is the lowest IR version of the ONNX release that
// introduced each ai.onnx opset.
var opsetIRVersion = map[int]int64{
	7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8,
	17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10, 23: 11,
}

// setOpsetImport makes the ai.onnx opset import of m follow g (after
// ConvertOpset) and sets the IR version to that of the ONNX release that
// introduced the opset (the runtimes a lower opset is written for may not
// read newer IR versions; model-local functions keep IR 8 at least).
func setOpsetImport(m *onnxpb.ModelProto, g *nn.Graph) {
	v, ok := g.Opsets[""]
	if !ok {
		return
	}
	found := false
	for _, op := range m.GetOpsetImport() {
		if d := op.GetDomain(); d == "" || d == "ai.onnx" {
			if op.GetVersion() == int64(v) {
				return
			}
			op.Version = int64(v)
			found = true
		}
	}
	if !found {
		m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Version: int64(v)})
	}
	ir, ok := opsetIRVersion[v]
	if !ok {
		return
	}
	if len(m.GetFunctions()) > 0 && ir < 8 {
		ir = 8
	}
	m.IrVersion = ir
}
