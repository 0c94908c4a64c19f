package onnx

import (
	"errors"
	"fmt"
	"sort"

	"github.com/graftml/graft/nn"
)

// Report describes a model for people (graft inspect) and programs (--json).
type Report struct {
	Path            string            `json:"path"`
	Producer        string            `json:"producer"`
	ProducerVersion string            `json:"producer_version"`
	IRVersion       int64             `json:"ir_version"`
	Opsets          map[string]int    `json:"opsets"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Inputs          []ValueReport     `json:"inputs"`
	Outputs         []ValueReport     `json:"outputs"`
	Layers          []LayerReport     `json:"layers"`
	Params          int64             `json:"parameters"`
	ParamTensors    int               `json:"parameter_tensors"`
	FLOPs           int64             `json:"flops_batch1"`
	Unsupported     []UnsupportedOp   `json:"unsupported_ops,omitempty"`
	// ShapeError explains why per-layer shapes are missing (the graph could
	// not be run at batch 1).
	ShapeError string `json:"shape_error,omitempty"`
}

// ValueReport is a graph input or output.
type ValueReport struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape string `json:"shape"`
}

// LayerReport is one node of the graph.
type LayerReport struct {
	Name   string `json:"name"`
	Op     string `json:"op"`
	Shape  string `json:"output_shape"`
	Params int64  `json:"parameters"`
	FLOPs  int64  `json:"flops"`
	Folded bool   `json:"folded,omitempty"`
}

// Inspect loads a model and describes it: metadata, inputs and outputs,
// per-layer output shapes (from a run at batch 1 on zero inputs),
// parameter counts and FLOPs, and unsupported ops.
func Inspect(path string) (*Report, error) {
	m, err := Load(path)
	if err != nil {
		return nil, err
	}
	reg := nn.Standard()
	g, err := Import(m, ImportOptions{Registry: reg, AllowUnsupported: true})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := &Report{
		Path:            path,
		Producer:        m.GetProducerName(),
		ProducerVersion: m.GetProducerVersion(),
		IRVersion:       m.GetIrVersion(),
		Opsets:          g.Opsets,
		Unsupported:     Unsupported(g, reg),
	}
	for _, kv := range m.GetMetadataProps() {
		if r.Metadata == nil {
			r.Metadata = map[string]string{}
		}
		r.Metadata[kv.GetKey()] = kv.GetValue()
	}
	for _, v := range g.Inputs {
		r.Inputs = append(r.Inputs, ValueReport{v.Name, v.DType.String(), v.ShapeString()})
	}
	for _, v := range g.Outputs {
		r.Outputs = append(r.Outputs, ValueReport{v.Name, v.DType.String(), v.ShapeString()})
	}
	for _, p := range g.Params {
		r.Params += int64(p.Value.Len())
	}
	r.ParamTensors = len(g.Params)

	shapes := map[*nn.Node][]*nn.Tensor{}
	ins := map[*nn.Node][]*nn.Tensor{}
	if len(r.Unsupported) == 0 {
		ctx := nn.NewContext(nil)
		ctx.Observe = func(n *nn.Node, in, out []*nn.Tensor) {
			shapes[n] = shapeOnly(out)
			ins[n] = shapeOnly(in)
		}
		feed, ferr := ZeroInputs(g, 1)
		if ferr == nil {
			_, ferr = g.Run(ctx, feed)
		}
		if ferr != nil {
			r.ShapeError = ferr.Error()
		}
	} else {
		r.ShapeError = (&UnsupportedError{Ops: r.Unsupported}).Error()
	}
	for _, n := range g.Nodes {
		l := LayerReport{Name: n.Name, Op: n.OpType, Folded: n.Folded}
		if l.Name == "" && len(n.Outputs) > 0 {
			l.Name = n.Outputs[0]
		}
		for _, in := range n.Inputs {
			if p := g.Params[in]; p != nil {
				l.Params += int64(p.Value.Len())
			}
		}
		if n.OpType == "Constant" && len(n.Outputs) == 1 && g.Params[n.Outputs[0]] != nil {
			l.Params = 0 // counted at the consumer
		}
		if outs := shapes[n]; len(outs) > 0 && outs[0] != nil {
			l.Shape = nn.ShapeString(outs[0].Shape)
			l.FLOPs = nodeFLOPs(n, ins[n], outs)
			r.FLOPs += l.FLOPs
		} else if n.Folded {
			l.Shape = "(constant)"
		}
		r.Layers = append(r.Layers, l)
	}
	return r, nil
}

func shapeOnly(ts []*nn.Tensor) []*nn.Tensor {
	out := make([]*nn.Tensor, len(ts))
	for i, t := range ts {
		if t != nil {
			out[i] = &nn.Tensor{DType: t.DType, Shape: append([]int{}, t.Shape...)}
		}
	}
	return out
}

// nodeFLOPs estimates floating-point operations (a multiply-add counts 2).
func nodeFLOPs(n *nn.Node, in, out []*nn.Tensor) int64 {
	o := out[0]
	size := int64(nn.NumElements(o.Shape))
	switch n.OpType {
	case "Conv":
		if len(in) > 1 && in[1] != nil && len(in[1].Shape) > 1 {
			w := in[1].Shape
			k := int64(nn.NumElements(w[1:])) // Cin/groups × kernel
			return 2 * size * k
		}
	case "ConvTranspose":
		if len(in) > 1 && in[1] != nil && len(in[0].Shape) > 0 {
			w := in[1].Shape
			return 2 * int64(nn.NumElements(in[0].Shape)) * int64(nn.NumElements(w[1:]))
		}
	case "Gemm":
		if in[0] != nil && len(in[0].Shape) == 2 {
			k := in[0].Shape[1]
			if n.AttrInt("transA", 0) != 0 {
				k = in[0].Shape[0]
			}
			return 2 * size * int64(k)
		}
	case "MatMul":
		if in[0] != nil && len(in[0].Shape) > 0 {
			return 2 * size * int64(in[0].Shape[len(in[0].Shape)-1])
		}
	case "LSTM", "GRU", "RNN":
		if len(in) > 2 && in[1] != nil && in[2] != nil && in[0] != nil && len(in[0].Shape) == 3 {
			seqBatch := int64(in[0].Shape[0] * in[0].Shape[1])
			return 2 * seqBatch * (int64(nn.NumElements(in[1].Shape)) + int64(nn.NumElements(in[2].Shape)))
		}
	case "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Shape", "Constant", "Transpose",
		"Concat", "Split", "Slice", "Gather", "Cast", "Expand", "Tile", "Pad", "Dropout", "Size",
		"ConstantOfShape", "Range":
		return 0
	}
	return size
}

// ZeroInputs returns zero-filled inputs for every graph input, with
// symbolic or unknown dimensions set to batch for the first axis and 1
// elsewhere. It fails when an input's shape is not declared.
func ZeroInputs(g *nn.Graph, batch int) (map[string]*nn.Tensor, error) {
	feed := map[string]*nn.Tensor{}
	for _, in := range g.Inputs {
		if !in.HasShape {
			return nil, fmt.Errorf("input %q has no declared shape", in.Name)
		}
		shape := make([]int, len(in.Shape))
		for i, d := range in.Shape {
			switch {
			case d.Param == "" && d.Value >= 0:
				shape[i] = d.Value
			case i == 0:
				shape[i] = batch
			default:
				shape[i] = 1
			}
		}
		if len(shape) > 0 && g.FixedBatch > 0 && shape[0] == g.FixedBatch {
			shape[0] = batch
		}
		dt := in.DType
		if dt == nn.Undefined {
			dt = nn.Float32
		}
		if !dt.Supported() {
			return nil, fmt.Errorf("input %q: element type %v is not supported", in.Name, dt)
		}
		feed[in.Name] = nn.New(dt, shape...)
	}
	return feed, nil
}

// IsUnsupported reports whether err lists unsupported ops.
func IsUnsupported(err error) bool {
	var u *UnsupportedError
	return errors.As(err, &u) || errors.Is(err, ErrNonTensor)
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// OpsetString formats opset imports as "ai.onnx 13, com.microsoft 1".
func OpsetString(opsets map[string]int) string {
	s := ""
	for i, k := range sortedKeys(opsets) {
		if i > 0 {
			s += ", "
		}
		name := k
		if name == "" {
			name = "ai.onnx"
		}
		s += fmt.Sprintf("%s %d", name, opsets[k])
	}
	return s
}
