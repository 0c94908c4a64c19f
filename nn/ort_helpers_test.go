package nn_test

import (
	"fmt"

	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
)

// ortAndGraft runs the saved one-node model at path in onnxruntime (one
// thread) and the same model m in graft on inputs. skip is non-empty when
// onnxruntime itself cannot load or run the model (a type it lacks); err
// reports a failure on graft's side.
func ortAndGraft(path string, m *onnxpb.ModelProto, inputs map[string]*nn.Tensor) (got, want map[string]*nn.Tensor, skip string, err error) {
	s, err := ortref.OpenOptions(path, ortref.Options{Threads: 1})
	if err != nil {
		return nil, nil, fmt.Sprintf("onnxruntime cannot load the model: %v", err), nil
	}
	want, err = s.Run(inputs)
	s.Close()
	if err != nil {
		return nil, nil, fmt.Sprintf("onnxruntime cannot run the model: %v", err), nil
	}
	g, err := onnx.Import(m, onnx.ImportOptions{})
	if err != nil {
		return nil, nil, "", fmt.Errorf("import: %w", err)
	}
	got, err = g.Run(nil, inputs)
	if err != nil {
		return nil, nil, "", fmt.Errorf("run: %w", err)
	}
	return got, want, "", nil
}
