package nn

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Dim is one dimension of a declared shape: a fixed size, a symbolic name
// (such as "batch"), or unknown (Value < 0 and Param empty).
type Dim struct {
	Value int
	Param string
}

// String formats the dimension as its size, its symbolic name or "?".
func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Value >= 0:
		return fmt.Sprint(d.Value)
	}
	return "?"
}

// ValueInfo declares a named value: its element type and, if known, its shape.
type ValueInfo struct {
	Name     string
	DType    DType
	Shape    []Dim
	HasShape bool
	Doc      string
}

// ShapeString formats the declared shape, e.g. "[batch,3,224,224]".
func (v ValueInfo) ShapeString() string {
	if !v.HasShape {
		return "(unknown)"
	}
	parts := make([]string, len(v.Shape))
	for i, d := range v.Shape {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// AttrType is an ONNX attribute type; the values are ONNX's AttributeType numbers.
type AttrType int32

// Attribute types.
const (
	AttrUndefined AttrType = 0
	AttrFloat     AttrType = 1
	AttrInt       AttrType = 2
	AttrString    AttrType = 3
	AttrTensor    AttrType = 4
	AttrGraph     AttrType = 5
	AttrFloats    AttrType = 6
	AttrInts      AttrType = 7
	AttrStrings   AttrType = 8
	AttrTensors   AttrType = 9
	AttrGraphs    AttrType = 10
	AttrSparse    AttrType = 11
	AttrSparses   AttrType = 12
	AttrTypeProto AttrType = 13
)

// Attr is one node attribute. Only the field matching Type is meaningful.
// Raw keeps the attribute's original encoding for types graft does not
// interpret (graphs, sparse tensors, type protos), so export can write them
// back unchanged.
type Attr struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       string
	T       *Tensor
	Floats  []float32
	Ints    []int64
	Strings []string
	Tensors []*Tensor
	RefAttr string
	Doc     string
	Raw     []byte
}

// Node is one operation of the graph, with its ONNX identity kept intact:
// name, op type, domain, opset, attributes and the names of the values it
// reads and writes. An empty input name marks an absent optional input.
type Node struct {
	Name    string
	OpType  string
	Domain  string
	Opset   int
	Inputs  []string
	Outputs []string
	Attrs   map[string]*Attr
	// AttrOrder keeps the attributes in their original order for export.
	AttrOrder []string
	Doc       string

	// Op is the implementation, built from the registry at import.
	Op Op
	// Grad is the backward pass, when the op type has one.
	Grad GradFunc
	// Folded is set when every output was computed at import time (constant
	// folding); the executor skips the node, export still writes it.
	Folded bool
	// RelaxBatch is set on Reshape-like nodes with a constant target shape
	// whose leading 1 is the model's fixed batch size: at run time the
	// leading dimension follows the actual batch.
	RelaxBatch bool
	// Frozen is set by fine-tuning on nodes whose parameters are all
	// frozen: in training mode their BatchNormalization keeps using the
	// running statistics (Keras semantics).
	Frozen bool
}

// Attr returns the attribute called name, or nil.
func (n *Node) Attr(name string) *Attr { return n.Attrs[name] }

// AttrInt returns an integer attribute or def when absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a := n.Attrs[name]; a != nil {
		return a.I
	}
	return def
}

// AttrFloat returns a float attribute or def when absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a := n.Attrs[name]; a != nil {
		return a.F
	}
	return def
}

// AttrString returns a string attribute or def when absent.
func (n *Node) AttrString(name, def string) string {
	if a := n.Attrs[name]; a != nil {
		return a.S
	}
	return def
}

// AttrInts returns an integer-list attribute (a copy as []int) or def when absent.
func (n *Node) AttrInts(name string, def []int) []int {
	a := n.Attrs[name]
	if a == nil {
		return def
	}
	out := make([]int, len(a.Ints))
	for i, v := range a.Ints {
		out[i] = int(v)
	}
	return out
}

// AttrFloats returns a float-list attribute or def when absent.
func (n *Node) AttrFloats(name string, def []float32) []float32 {
	if a := n.Attrs[name]; a != nil {
		return a.Floats
	}
	return def
}

// HasAttr reports whether the attribute is present.
func (n *Node) HasAttr(name string) bool { return n.Attrs[name] != nil }

// Input returns the i-th input name, or "" when absent.
func (n *Node) Input(i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

// Label names the node for messages: its name, or its op type and first
// output when it has no name.
func (n *Node) Label() string {
	if n.Name != "" {
		return fmt.Sprintf("%s %q", n.OpType, n.Name)
	}
	if len(n.Outputs) > 0 {
		return fmt.Sprintf("%s (output %q)", n.OpType, n.Outputs[0])
	}
	return n.OpType
}

// ParamSource says where a parameter came from in the ONNX file.
type ParamSource int

// Parameter sources.
const (
	FromInitializer  ParamSource = iota // a graph initializer
	FromConstantNode                    // the value attribute of a Constant node
)

// Param is a named weight of the model: every initializer, and every
// Constant node that feeds a weight input. Training updates Value in place.
type Param struct {
	Name   string
	Value  *Tensor
	Source ParamSource
	// Node is the Constant node's name when Source is FromConstantNode.
	Node string
	Doc  string
}

// Graph is the native layer graph imported from an ONNX model.
type Graph struct {
	Name string
	Doc  string
	// Inputs are the values a caller feeds (initializers excluded).
	Inputs []ValueInfo
	// Outputs are the values Run returns.
	Outputs []ValueInfo
	// ValueInfo holds the model's annotations of intermediate values.
	ValueInfo []ValueInfo
	// Nodes are in topological order.
	Nodes []*Node
	// Params maps a parameter name to its value; ParamNames keeps the file order.
	Params     map[string]*Param
	ParamNames []string
	// Consts holds values computed at import time by constant folding
	// (keyed by value name); they are not parameters.
	Consts map[string]*Tensor
	// Opsets maps an operator-set domain ("" for ai.onnx) to its version.
	Opsets map[string]int
	// FixedBatch is the model's declared leading input dimension when it is
	// a fixed number (1 for most Model Zoo exports), else 0.
	FixedBatch int

	plan *plan

	// arMu guards plan creation in Run and arIdle, the buffer pools kept
	// between inference runs (see arPool); arPoison makes new pools fill
	// handed-out buffers with NaN (tests).
	arMu   sync.Mutex
	arIdle []*arPool
	// packs caches packed constant weights for plain inference runs
	// (guarded by arMu; nil until a run needs it).
	packs    *packCache
	arPoison bool
}

// Param returns the parameter called name, or nil.
func (g *Graph) Param(name string) *Param { return g.Params[name] }

// AddParam registers a parameter, keeping insertion order.
func (g *Graph) AddParam(p *Param) {
	if g.Params == nil {
		g.Params = map[string]*Param{}
	}
	if _, ok := g.Params[p.Name]; !ok {
		g.ParamNames = append(g.ParamNames, p.Name)
	}
	g.Params[p.Name] = p
	g.plan = nil
}

// NumParams returns the total number of parameter elements.
func (g *Graph) NumParams() int {
	n := 0
	for _, p := range g.Params {
		n += p.Value.Len()
	}
	return n
}

// Producers maps each value name to the node producing it.
func (g *Graph) Producers() map[string]*Node {
	m := make(map[string]*Node, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				m[o] = n
			}
		}
	}
	return m
}

// Invalidate drops cached execution plans and the weights Run keeps packed;
// call it after editing Nodes, Inputs, Outputs or Params (after changing
// only parameter values in place, ReleaseBuffers is enough).
func (g *Graph) Invalidate() {
	g.plan = nil
	g.arMu.Lock()
	g.packs = nil
	g.arMu.Unlock()
}

// SortNodes orders Nodes topologically (stable with respect to the original
// order). It fails on cycles and on inputs that no node, parameter, constant
// or graph input provides.
func (g *Graph) SortNodes() error {
	avail := map[string]bool{"": true}
	for _, in := range g.Inputs {
		avail[in.Name] = true
	}
	for name := range g.Params {
		avail[name] = true
	}
	for name := range g.Consts {
		avail[name] = true
	}
	producer := map[string]int{}
	for i, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				producer[o] = i
			}
		}
	}
	indeg := make([]int, len(g.Nodes))
	users := make([][]int, len(g.Nodes))
	for i, n := range g.Nodes {
		seen := map[int]bool{}
		for _, in := range n.Inputs {
			if avail[in] {
				continue
			}
			p, ok := producer[in]
			if !ok {
				return fmt.Errorf("node %s: input %q is not produced by any node, initializer or graph input", n.Label(), in)
			}
			if !seen[p] {
				seen[p] = true
				indeg[i]++
				users[p] = append(users[p], i)
			}
		}
	}
	var ready []int
	for i := range g.Nodes {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	order := make([]*Node, 0, len(g.Nodes))
	for len(ready) > 0 {
		sort.Ints(ready)
		i := ready[0]
		ready = ready[1:]
		order = append(order, g.Nodes[i])
		for _, u := range users[i] {
			indeg[u]--
			if indeg[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(order) != len(g.Nodes) {
		for i, d := range indeg {
			if d > 0 {
				return fmt.Errorf("graph has a cycle through node %s", g.Nodes[i].Label())
			}
		}
	}
	g.Nodes = order
	g.plan = nil
	return nil
}
