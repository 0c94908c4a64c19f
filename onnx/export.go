package onnx

import (
	"fmt"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// ExportOptions controls Export.
type ExportOptions struct {
	// Metadata entries are added to (or replace those of) the model's
	// metadata_props.
	Metadata map[string]string
	// SymbolicBatch names the leading dimension of inputs and outputs
	// ("batch" when empty) for models imported with a fixed batch of 1,
	// and rewrites their batch-relaxed Reshape targets to -1, so other
	// runtimes accept any batch too.
	SymbolicBatch string
}

// Export writes the layer graph back as an ONNX model, starting from the
// model it was imported from: opset imports, model metadata, doc strings,
// node names, attributes and initializer names are kept; parameters get
// their current values (Constant-node weights are written back into their
// Constant nodes); nodes and parameters added by graft (a new head) are
// written with their names, and removed ones are dropped.
func Export(base *onnxpb.ModelProto, g *nn.Graph, opts ExportOptions) (*onnxpb.ModelProto, error) {
	m := proto.Clone(base).(*onnxpb.ModelProto)
	gp := m.GetGraph()
	if gp == nil {
		return nil, fmt.Errorf("base model has no graph")
	}
	m.ProducerName = "graft"
	m.ProducerVersion = "0.1"

	// Nodes.
	gp.Node = gp.Node[:0]
	for _, n := range g.Nodes {
		np, err := exportNode(g, n)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Label(), err)
		}
		gp.Node = append(gp.Node, np)
	}
	// Initializers, in the graph's parameter order.
	oldInit := map[string]*onnxpb.TensorProto{}
	for _, t := range gp.GetInitializer() {
		oldInit[t.GetName()] = t
	}
	gp.Initializer = gp.Initializer[:0]
	relaxed := relaxedShapes(g, opts)
	for _, name := range g.ParamNames {
		p := g.Params[name]
		if p.Source != nn.FromInitializer {
			continue
		}
		v := p.Value
		if r, ok := relaxed[name]; ok {
			v = r
		}
		tp := TensorToProto(name, v)
		if old := oldInit[name]; old != nil {
			tp.DocString = old.GetDocString()
		} else {
			tp.DocString = p.Doc
		}
		gp.Initializer = append(gp.Initializer, tp)
	}
	// Inputs: keep initializer entries only if the original listed them
	// (IR 3 models do), and only for parameters that still exist.
	var inputs []*onnxpb.ValueInfoProto
	declared := map[string]bool{}
	for _, in := range g.Inputs {
		declared[in.Name] = true
	}
	for _, vi := range gp.GetInput() {
		if declared[vi.GetName()] || g.Params[vi.GetName()] != nil {
			inputs = append(inputs, vi)
		}
	}
	gp.Input = inputs
	batch := opts.SymbolicBatch
	if batch == "" {
		batch = "batch"
	}
	for _, vi := range gp.GetInput() {
		if declared[vi.GetName()] && g.FixedBatch == 1 {
			setLeadingDim(vi, batch)
		}
	}
	// Outputs follow the graph (a new head may change the class count).
	gp.Output = gp.Output[:0]
	for _, o := range g.Outputs {
		vi := valueInfoProto(o)
		if g.FixedBatch == 1 {
			setLeadingDim(vi, batch)
		}
		gp.Output = append(gp.Output, vi)
	}
	// Keep value_info only for values that still exist with unchanged producers.
	produced := map[string]bool{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			produced[o] = true
		}
	}
	vis := gp.ValueInfo[:0]
	for _, vi := range gp.GetValueInfo() {
		if produced[vi.GetName()] {
			vis = append(vis, vi)
		}
	}
	gp.ValueInfo = vis
	for k, v := range opts.Metadata {
		found := false
		for _, kv := range m.MetadataProps {
			if kv.GetKey() == k {
				kv.Value, found = v, true
			}
		}
		if !found {
			m.MetadataProps = append(m.MetadataProps, &onnxpb.StringStringEntryProto{Key: k, Value: v})
		}
	}
	return m, nil
}

// relaxedShapes returns, for a fixed-batch-1 model, Reshape targets with
// their leading 1 replaced by -1 (only when no other -1 is present).
func relaxedShapes(g *nn.Graph, opts ExportOptions) map[string]*nn.Tensor {
	out := map[string]*nn.Tensor{}
	if g.FixedBatch != 1 {
		return out
	}
	for _, n := range g.Nodes {
		if !n.RelaxBatch || len(n.Inputs) < 2 {
			continue
		}
		p := g.Params[n.Inputs[1]]
		if p == nil || p.Value.DType != nn.Int64 {
			continue
		}
		hasNeg := false
		for _, v := range p.Value.I64 {
			if v == -1 {
				hasNeg = true
			}
		}
		if !hasNeg && len(p.Value.I64) > 0 && p.Value.I64[0] == 1 {
			c := p.Value.Clone()
			c.I64[0] = -1
			out[n.Inputs[1]] = c
		}
	}
	return out
}

func setLeadingDim(vi *onnxpb.ValueInfoProto, name string) {
	tt := vi.GetType().GetTensorType()
	if tt == nil || tt.GetShape() == nil || len(tt.GetShape().GetDim()) == 0 {
		return
	}
	tt.Shape.Dim[0] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: name}}
}

func valueInfoProto(v nn.ValueInfo) *onnxpb.ValueInfoProto {
	tt := &onnxpb.TypeProto_Tensor{ElemType: int32(v.DType)}
	if v.HasShape {
		sh := &onnxpb.TensorShapeProto{}
		for _, d := range v.Shape {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			switch {
			case d.Param != "":
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
			case d.Value >= 0:
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d.Value)}
			}
			sh.Dim = append(sh.Dim, dim)
		}
		tt.Shape = sh
	}
	return &onnxpb.ValueInfoProto{Name: v.Name, DocString: v.Doc, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}}}
}

func exportNode(g *nn.Graph, n *nn.Node) (*onnxpb.NodeProto, error) {
	np := &onnxpb.NodeProto{
		Name:      n.Name,
		OpType:    n.OpType,
		Domain:    n.Domain,
		Input:     append([]string{}, n.Inputs...),
		Output:    append([]string{}, n.Outputs...),
		DocString: n.Doc,
	}
	order := n.AttrOrder
	if len(order) != len(n.Attrs) {
		order = order[:0:0]
		for k := range n.Attrs {
			order = append(order, k)
		}
	}
	for _, name := range order {
		a := n.Attrs[name]
		if a == nil {
			continue
		}
		// A Constant node whose value became a parameter carries the
		// parameter's current value.
		if n.OpType == "Constant" && name == "value" && len(n.Outputs) == 1 {
			if p := g.Params[n.Outputs[0]]; p != nil && p.Source == nn.FromConstantNode {
				a = &nn.Attr{Name: name, Type: nn.AttrTensor, T: p.Value, Doc: a.Doc}
			}
		}
		ap, err := exportAttr(a)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", name, err)
		}
		np.Attribute = append(np.Attribute, ap)
	}
	return np, nil
}

func exportAttr(a *nn.Attr) (*onnxpb.AttributeProto, error) {
	if a.Raw != nil {
		ap := &onnxpb.AttributeProto{}
		if err := proto.Unmarshal(a.Raw, ap); err != nil {
			return nil, err
		}
		return ap, nil
	}
	ap := &onnxpb.AttributeProto{Name: a.Name, Type: onnxpb.AttributeProto_AttributeType(a.Type), RefAttrName: a.RefAttr, DocString: a.Doc}
	switch a.Type {
	case nn.AttrFloat:
		ap.F = a.F
	case nn.AttrInt:
		ap.I = a.I
	case nn.AttrString:
		ap.S = []byte(a.S)
	case nn.AttrTensor:
		ap.T = TensorToProto("", a.T)
	case nn.AttrFloats:
		ap.Floats = a.Floats
	case nn.AttrInts:
		ap.Ints = a.Ints
	case nn.AttrStrings:
		for _, s := range a.Strings {
			ap.Strings = append(ap.Strings, []byte(s))
		}
	case nn.AttrTensors:
		for _, t := range a.Tensors {
			ap.Tensors = append(ap.Tensors, TensorToProto("", t))
		}
	case nn.AttrUndefined:
		if a.RefAttr == "" {
			return nil, fmt.Errorf("attribute has no type")
		}
	default:
		return nil, fmt.Errorf("attribute type %d cannot be written", a.Type)
	}
	return ap, nil
}
