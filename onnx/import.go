package onnx

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// ErrNonTensor reports a graph input or output that is not a tensor
// (sequence, map, optional, sparse): graft computes with tensors only.
var ErrNonTensor = errors.New("graft supports tensor values only")

// ImportOptions controls Import.
type ImportOptions struct {
	// Registry supplies op implementations; nil means nn.Standard().
	Registry *nn.Registry
	// AllowUnsupported imports a model with unsupported ops anyway (their
	// nodes have a nil Op and the graph cannot run); inspect uses it.
	AllowUnsupported bool
	// NoFold disables constant folding.
	NoFold bool
}

// UnsupportedOp describes one op type the registry cannot run.
type UnsupportedOp struct {
	OpType string
	Domain string
	Opset  int
	Count  int
	// Nodes holds the labels of the first few nodes of this type.
	Nodes []string
}

// UnsupportedError lists every unsupported op of a model.
type UnsupportedError struct {
	Ops []UnsupportedOp
}

func (e *UnsupportedError) Error() string {
	var parts []string
	for _, u := range e.Ops {
		typ := u.OpType
		if u.Domain != "" {
			typ = u.Domain + "." + typ
		}
		parts = append(parts, fmt.Sprintf("%s (opset %d) ×%d, e.g. %s", typ, u.Opset, u.Count, strings.Join(u.Nodes, ", ")))
	}
	return fmt.Sprintf("model uses %d unsupported op type(s): %s", len(e.Ops), strings.Join(parts, "; "))
}

// LoadGraph loads an ONNX file and imports it with default options.
func LoadGraph(path string) (*nn.Graph, error) {
	m, err := Load(path)
	if err != nil {
		return nil, err
	}
	g, err := Import(m, ImportOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Import converts a decoded ONNX model into a native layer graph: every
// initializer and every Constant node feeding a weight input becomes a named
// parameter, nodes keep their ONNX identity, ops are built from the registry,
// and values that depend only on constants are folded.
func Import(m *onnxpb.ModelProto, opts ImportOptions) (*nn.Graph, error) {
	reg := opts.Registry
	if reg == nil {
		reg = nn.Standard()
	}
	gp := m.GetGraph()
	if gp == nil {
		return nil, fmt.Errorf("model has no graph")
	}
	g := &nn.Graph{
		Name:   gp.GetName(),
		Doc:    gp.GetDocString(),
		Opsets: map[string]int{},
		Consts: map[string]*nn.Tensor{},
		Params: map[string]*nn.Param{},
	}
	for _, os := range m.GetOpsetImport() {
		d := os.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		g.Opsets[d] = int(os.GetVersion())
	}
	if _, ok := g.Opsets[""]; !ok {
		g.Opsets[""] = 1
	}
	if len(gp.GetSparseInitializer()) > 0 {
		return nil, fmt.Errorf("sparse initializer %q: sparse tensors are not supported", gp.GetSparseInitializer()[0].GetValues().GetName())
	}
	for _, init := range gp.GetInitializer() {
		t, err := TensorFromProto(init)
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", init.GetName(), err)
		}
		g.AddParam(&nn.Param{Name: init.GetName(), Value: t, Source: nn.FromInitializer, Doc: init.GetDocString()})
	}
	for _, vi := range gp.GetInput() {
		if _, isInit := g.Params[vi.GetName()]; isInit {
			continue
		}
		v, err := valueInfo(vi)
		if err != nil {
			return nil, fmt.Errorf("graph input %q: %w", vi.GetName(), err)
		}
		g.Inputs = append(g.Inputs, v)
	}
	for _, vi := range gp.GetOutput() {
		v, err := valueInfo(vi)
		if err != nil {
			return nil, fmt.Errorf("graph output %q: %w", vi.GetName(), err)
		}
		g.Outputs = append(g.Outputs, v)
	}
	for _, vi := range gp.GetValueInfo() {
		if v, err := valueInfo(vi); err == nil {
			g.ValueInfo = append(g.ValueInfo, v)
		}
	}
	for i, np := range gp.GetNode() {
		n, err := importNode(np, g.Opsets)
		if err != nil {
			return nil, fmt.Errorf("node %d (%s %q): %w", i, np.GetOpType(), np.GetName(), err)
		}
		g.Nodes = append(g.Nodes, n)
	}
	g.FixedBatch = fixedBatch(g)

	if err := g.SortNodes(); err != nil {
		return nil, err
	}
	if err := checkSupported(g, reg); err != nil && !opts.AllowUnsupported {
		return nil, err
	}
	promoteConstantWeights(g, reg)
	markRelaxBatch(g)
	var buildErrs []string
	for _, n := range g.Nodes {
		if n.Folded || !reg.Has(n.Domain, n.OpType) {
			continue
		}
		if err := reg.Build(n); err != nil {
			buildErrs = append(buildErrs, err.Error())
		}
	}
	if len(buildErrs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(buildErrs, "; "))
	}
	if !opts.NoFold {
		if err := foldConstants(g); err != nil {
			return nil, err
		}
		foldStaticShapes(g)
	}
	g.Invalidate()
	return g, nil
}

// Unsupported lists the op types of g that reg cannot run.
func Unsupported(g *nn.Graph, reg *nn.Registry) []UnsupportedOp {
	byType := map[string]*UnsupportedOp{}
	var order []string
	for _, n := range g.Nodes {
		if _, ok := reg.Lookup(n.Domain, n.OpType, n.Opset); ok {
			continue
		}
		k := n.Domain + "." + n.OpType
		u := byType[k]
		if u == nil {
			u = &UnsupportedOp{OpType: n.OpType, Domain: n.Domain, Opset: n.Opset}
			byType[k] = u
			order = append(order, k)
		}
		u.Count++
		if len(u.Nodes) < 3 {
			u.Nodes = append(u.Nodes, n.Label())
		}
	}
	out := make([]UnsupportedOp, 0, len(order))
	for _, k := range order {
		out = append(out, *byType[k])
	}
	return out
}

func checkSupported(g *nn.Graph, reg *nn.Registry) error {
	if u := Unsupported(g, reg); len(u) > 0 {
		return &UnsupportedError{Ops: u}
	}
	return nil
}

func valueInfo(vi *onnxpb.ValueInfoProto) (nn.ValueInfo, error) {
	v := nn.ValueInfo{Name: vi.GetName(), Doc: vi.GetDocString()}
	tp := vi.GetType()
	if tp == nil {
		return v, nil
	}
	tt := tp.GetTensorType()
	if tt == nil {
		kind := "non-tensor"
		switch {
		case tp.GetSequenceType() != nil:
			kind = "sequence"
		case tp.GetOptionalType() != nil:
			kind = "optional"
		case tp.GetMapType() != nil:
			kind = "map"
		case tp.GetSparseTensorType() != nil:
			kind = "sparse tensor"
		}
		return v, fmt.Errorf("has %s type: %w", kind, ErrNonTensor)
	}
	v.DType = nn.DType(tt.GetElemType())
	if v.DType != nn.Undefined && !v.DType.Supported() {
		return v, fmt.Errorf("element type %s is not supported", importDTypeName(int32(v.DType)))
	}
	if sh := tt.GetShape(); sh != nil {
		v.HasShape = true
		for _, d := range sh.GetDim() {
			dim := nn.Dim{Value: -1, Param: d.GetDimParam()}
			if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
				dim.Value = int(d.GetDimValue())
			}
			v.Shape = append(v.Shape, dim)
		}
	}
	return v, nil
}

func importNode(np *onnxpb.NodeProto, opsets map[string]int) (*nn.Node, error) {
	domain := np.GetDomain()
	if domain == "ai.onnx" {
		domain = ""
	}
	n := &nn.Node{
		Name:    np.GetName(),
		OpType:  np.GetOpType(),
		Domain:  domain,
		Opset:   opsets[domain],
		Inputs:  append([]string{}, np.GetInput()...),
		Outputs: append([]string{}, np.GetOutput()...),
		Attrs:   map[string]*nn.Attr{},
		Doc:     np.GetDocString(),
	}
	for _, ap := range np.GetAttribute() {
		a, err := importAttr(ap)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", ap.GetName(), err)
		}
		n.Attrs[a.Name] = a
		n.AttrOrder = append(n.AttrOrder, a.Name)
	}
	return n, nil
}

func importAttr(ap *onnxpb.AttributeProto) (*nn.Attr, error) {
	a := &nn.Attr{
		Name:    ap.GetName(),
		Type:    nn.AttrType(ap.GetType()),
		F:       ap.GetF(),
		I:       ap.GetI(),
		S:       string(ap.GetS()),
		Floats:  ap.GetFloats(),
		Ints:    ap.GetInts(),
		RefAttr: ap.GetRefAttrName(),
		Doc:     ap.GetDocString(),
	}
	for _, s := range ap.GetStrings() {
		a.Strings = append(a.Strings, string(s))
	}
	if a.Type == nn.AttrUndefined {
		// IR version 1 files may omit the type; infer it from the filled field.
		switch {
		case ap.GetT() != nil:
			a.Type = nn.AttrTensor
		case ap.GetG() != nil:
			a.Type = nn.AttrGraph
		case len(ap.GetFloats()) > 0:
			a.Type = nn.AttrFloats
		case len(ap.GetInts()) > 0:
			a.Type = nn.AttrInts
		case len(ap.GetStrings()) > 0:
			a.Type = nn.AttrStrings
		case len(ap.GetS()) > 0:
			a.Type = nn.AttrString
		}
	}
	switch a.Type {
	case nn.AttrTensor:
		if ap.GetT() == nil {
			return nil, fmt.Errorf("tensor attribute without a tensor")
		}
		t, err := TensorFromProto(ap.GetT())
		if err != nil {
			return nil, err
		}
		a.T = t
	case nn.AttrTensors:
		for _, tp := range ap.GetTensors() {
			t, err := TensorFromProto(tp)
			if err != nil {
				return nil, err
			}
			a.Tensors = append(a.Tensors, t)
		}
	case nn.AttrFloat, nn.AttrInt, nn.AttrString, nn.AttrFloats, nn.AttrInts, nn.AttrStrings:
	default:
		raw, err := proto.Marshal(ap)
		if err != nil {
			return nil, err
		}
		a.Raw = raw
	}
	return a, nil
}

// fixedBatch returns the shared fixed leading dimension of the graph inputs
// when it is 1, else 0.
func fixedBatch(g *nn.Graph) int {
	if len(g.Inputs) == 0 {
		return 0
	}
	for _, in := range g.Inputs {
		if !in.HasShape || len(in.Shape) < 2 || in.Shape[0].Param != "" || in.Shape[0].Value != 1 {
			return 0
		}
	}
	return 1
}

// promoteConstantWeights turns Constant nodes whose output feeds a weight
// input of another node into parameters, so they can be frozen or trained
// by name like initializers.
func promoteConstantWeights(g *nn.Graph, reg *nn.Registry) {
	weightUse := map[string]bool{}
	for _, n := range g.Nodes {
		d, ok := reg.Lookup(n.Domain, n.OpType, n.Opset)
		if !ok {
			continue
		}
		for _, i := range d.WeightInputs {
			if in := n.Input(i); in != "" {
				weightUse[in] = true
			}
		}
	}
	for _, n := range g.Nodes {
		if n.OpType != "Constant" || n.Domain != "" || len(n.Outputs) != 1 || !weightUse[n.Outputs[0]] {
			continue
		}
		a := n.Attr("value")
		if a == nil || a.T == nil || !a.T.DType.IsFloat() {
			continue
		}
		g.AddParam(&nn.Param{Name: n.Outputs[0], Value: a.T, Source: nn.FromConstantNode, Node: n.Name})
		n.Folded = true
	}
}

// markRelaxBatch flags Reshape nodes with a constant target whose leading
// dimension is the model's fixed batch of 1, so they follow the real batch.
func markRelaxBatch(g *nn.Graph) {
	if g.FixedBatch != 1 {
		return
	}
	consts := map[string]*nn.Tensor{}
	for name, p := range g.Params {
		consts[name] = p.Value
	}
	for _, n := range g.Nodes {
		if n.OpType == "Constant" {
			if a := n.Attr("value"); a != nil && a.T != nil && len(n.Outputs) == 1 {
				consts[n.Outputs[0]] = a.T
			}
		}
	}
	for _, n := range g.Nodes {
		if n.OpType != "Reshape" {
			continue
		}
		if a := n.Attr("shape"); a != nil { // opset < 5
			if len(a.Ints) > 1 && a.Ints[0] == 1 {
				n.RelaxBatch = true
			}
			continue
		}
		t := consts[n.Input(1)]
		if t != nil && t.DType == nn.Int64 && t.Len() > 1 && t.I64[0] == 1 {
			n.RelaxBatch = true
		}
	}
}

// foldConstants evaluates, at import time, every node whose inputs are all
// known constants that are not trainable (float) parameters. Shape
// arithmetic and Constant nodes fold away; weights stay parameters.
func foldConstants(g *nn.Graph) error {
	known := map[string]*nn.Tensor{}
	for name, p := range g.Params {
		if !p.Value.DType.IsFloat() {
			known[name] = p.Value
		}
	}
	ctx := nn.NewContext(nil)
	for _, n := range g.Nodes {
		if n.Folded || n.Op == nil || !foldable(n) {
			continue
		}
		args := make([]*nn.Tensor, len(n.Inputs))
		ok := true
		for i, in := range n.Inputs {
			if in == "" {
				continue
			}
			t, isConst := known[in]
			if !isConst {
				ok = false
				break
			}
			args[i] = t
		}
		if !ok {
			continue
		}
		outs, err := nn.RunNode(ctx, n, args)
		if err != nil {
			return fmt.Errorf("node %s (constant folding): %w", n.Label(), err)
		}
		for j, o := range n.Outputs {
			if o == "" || j >= len(outs) || outs[j] == nil {
				continue
			}
			known[o] = outs[j]
			g.Consts[o] = outs[j]
		}
		n.Folded = true
	}
	dropUnusedConsts(g)
	return nil
}

// dropUnusedConsts removes folded values nobody reads at run time.
func dropUnusedConsts(g *nn.Graph) {
	used := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Folded {
			continue
		}
		for _, in := range n.Inputs {
			used[in] = true
		}
	}
	for _, o := range g.Outputs {
		used[o.Name] = true
	}
	for name := range g.Consts {
		if !used[name] {
			delete(g.Consts, name)
		}
	}
}

// foldStaticShapes folds the static parts of shape computations. PyTorch
// exports compute reshape targets with Shape → Gather → Unsqueeze → Concat
// chains; with a dynamic batch these cannot fold as plain constants, yet
// most of their values (channel counts, spatial sizes) do not depend on the
// batch. The values computed from Shape/Size outputs and constants alone are
// data-independent; the graph is run twice with different sizes for every
// symbolic (or relaxed fixed-batch) dimension, and each such value that comes
// out the same both times is folded. Values that follow the batch keep being
// computed at run time. Any failure of the probe runs leaves the graph as
// it was.
func foldStaticShapes(g *nn.Graph) {
	derived := map[string]bool{}
	isConst := func(name string) bool {
		if _, ok := g.Consts[name]; ok {
			return true
		}
		p := g.Params[name]
		return p != nil && !p.Value.DType.IsFloat()
	}
	var cands []*nn.Node
	want := map[*nn.Node]bool{}
	for _, n := range g.Nodes {
		if n.Folded || n.Op == nil || !foldable(n) {
			continue
		}
		shapeSource := n.OpType == "Shape" || n.OpType == "Size"
		all, any := true, false
		for _, in := range n.Inputs {
			switch {
			case in == "":
			case derived[in]:
				any = true
			case !isConst(in):
				all = false
			}
		}
		if shapeSource || (all && any) {
			for _, o := range n.Outputs {
				derived[o] = true
			}
			cands = append(cands, n)
			want[n] = true
		}
	}
	if len(cands) == 0 {
		return
	}
	probe := func(size int) map[string]*nn.Tensor {
		feed, err := probeInputs(g, size)
		if err != nil {
			return nil
		}
		seen := map[string]*nn.Tensor{}
		ctx := nn.NewContext(nil)
		ctx.Observe = func(n *nn.Node, _, out []*nn.Tensor) {
			if !want[n] {
				return
			}
			for j, o := range n.Outputs {
				if o != "" && j < len(out) && out[j] != nil {
					seen[o] = out[j].Clone()
				}
			}
		}
		if _, err := g.Run(ctx, feed); err != nil {
			return nil
		}
		return seen
	}
	a, b := probe(2), probe(3)
	if a == nil || b == nil {
		return
	}
	changed := false
	for _, n := range cands {
		all := true
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			ta, tb := a[o], b[o]
			if ta == nil || tb == nil {
				all = false
				continue
			}
			if d, err := nn.Compare(ta, tb, 0, 0); err != nil || d.Bad > 0 {
				all = false
				continue
			}
			g.Consts[o] = ta
			changed = true
		}
		if all {
			n.Folded = true
		}
	}
	if changed {
		dropUnusedConsts(g)
		g.Invalidate()
	}
}

// probeInputs returns zero inputs with every symbolic or unknown dimension,
// and a relaxed fixed batch, set to size.
func probeInputs(g *nn.Graph, size int) (map[string]*nn.Tensor, error) {
	feed := map[string]*nn.Tensor{}
	for _, in := range g.Inputs {
		if !in.HasShape {
			return nil, fmt.Errorf("input %q has no declared shape", in.Name)
		}
		shape := make([]int, len(in.Shape))
		for i, d := range in.Shape {
			shape[i] = d.Value
			if d.Param != "" || d.Value < 0 || (i == 0 && g.FixedBatch > 0 && d.Value == g.FixedBatch) {
				shape[i] = size
			}
		}
		dt := in.DType
		if dt == nn.Undefined || !dt.Supported() || nn.NumElements(shape) > 1<<26 {
			return nil, fmt.Errorf("input %q cannot be probed", in.Name)
		}
		feed[in.Name] = nn.New(dt, shape...)
	}
	return feed, nil
}

// foldable reports whether a node is deterministic and cheap enough to be
// evaluated at import.
func foldable(n *nn.Node) bool {
	switch n.OpType {
	case "Dropout", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli":
		return false
	case "ConstantOfShape", "Expand", "Tile", "Range", "Resize", "Upsample", "Pad":
		// Size-amplifying: their output size comes from input values, so a
		// hostile model could make folding allocate without bound. They
		// run at inference time instead (only when their input is data).
		return false
	}
	return true
}

// OpTypes returns the sorted set of op types used by a model's main graph.
func OpTypes(m *onnxpb.ModelProto) []string {
	set := map[string]bool{}
	for _, n := range m.GetGraph().GetNode() {
		set[n.GetOpType()] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func importDTypeName(dt int32) string {
	return onnxpb.TensorProto_DataType(dt).String()
}
