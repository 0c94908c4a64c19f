package convert

import (
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
)

// Write exports g over base (the model it was imported from) and saves it
// to path.
func Write(base *onnxpb.ModelProto, g *nn.Graph, path string) error {
	m, err := onnx.Export(base, g, onnx.ExportOptions{})
	if err != nil {
		return err
	}
	return onnx.Save(path, m)
}
