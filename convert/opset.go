package convert

import (
	"fmt"
	"sort"
	"strings"

	"github.com/graftml/graft/nn"
)

// Opset range ConvertOpset targets: the ai.onnx versions whose operator
// changes it knows.
const (
	MinTargetOpset = 11
	MaxTargetOpset = 21
)

// ConvertOpset rewrites the ai.onnx nodes of g for opset target (11..21,
// from any source opset >= 7): attributes that became inputs and back
// (Squeeze/Unsqueeze and ReduceSum axes at 13, the other reductions at 18,
// Split at 13, Clip and Pad at 11, Dropout ratio at 12, Slice and TopK at
// 10), Split num_outputs (18), Pad axes (18), the Resize attribute sets
// (11, 13, 18, 19), BatchNormalization training_mode (14) and spatial (9),
// Constant value_* forms (12), Cast saturate (19); Upsample and Resize-10
// become Resize; LayerNormalization (17) and Gelu (20) are decomposed below
// their opsets and CastLike (15) written as Cast. Softmax, LogSoftmax and
// Hardmax across 13 get the equivalent axis, or an exact Flatten/Reshape
// (up) or Transpose (down) rewrite. Shapes and element types come from two
// probe runs of g. New nodes are named graft_*; every node is rebuilt for
// the target. When some node cannot be converted, g is left unchanged and
// the *OpsetError lists every such node with the reason.
func ConvertOpset(g *nn.Graph, target int) (Stats, error) {
	st := Stats{Pass: fmt.Sprintf("opset-%d", target)}
	src := g.Opsets[""]
	if target < MinTargetOpset || target > MaxTargetOpset {
		return st, fmt.Errorf("target opset %d is outside the supported range %d..%d", target, MinTargetOpset, MaxTargetOpset)
	}
	if src < 7 {
		return st, fmt.Errorf("source opset %d is below 7: not supported", src)
	}
	if src == target {
		return st, nil
	}
	c := &opsetConv{g: g, src: src, dst: target, reg: nn.Standard()}
	c.shapes, c.dtypes = opsetProbe(g)
	var problems []string
	for _, n := range g.Nodes {
		if n.Domain != "" && n.Domain != "ai.onnx" {
			continue
		}
		if err := c.node(n); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", n.Label(), err))
		}
	}
	if len(problems) > 0 {
		return st, &OpsetError{From: src, To: target, Problems: problems}
	}
	// Every check passed: apply the rewrites.
	for _, e := range c.edits {
		e()
	}
	if len(c.replace) > 0 {
		nodes := make([]*nn.Node, 0, len(g.Nodes)+len(c.added))
		for _, n := range g.Nodes {
			if r, ok := c.replace[n]; ok {
				nodes = append(nodes, r...)
				continue
			}
			nodes = append(nodes, n)
		}
		g.Nodes = nodes
	}
	for _, n := range g.Nodes {
		if n.Domain != "" && n.Domain != "ai.onnx" {
			continue
		}
		n.Opset = target
	}
	g.Opsets[""] = target
	for _, n := range g.Nodes {
		if n.Domain != "" && n.Domain != "ai.onnx" {
			continue
		}
		if n.Folded && n.Op == nil {
			continue
		}
		if err := c.reg.Build(n); err != nil {
			return st, fmt.Errorf("rebuilding at opset %d: %w", target, err)
		}
	}
	g.Invalidate()
	if err := g.SortNodes(); err != nil {
		return st, err
	}
	st.Changed = c.changed
	st.Removed = dropUnusedParams(g, c.orphans)
	return st, nil
}

// OpsetError lists the nodes ConvertOpset could not convert.
type OpsetError struct {
	From, To int
	Problems []string
}

func (e *OpsetError) Error() string {
	return fmt.Sprintf("cannot convert from opset %d to %d: %d node(s) refused:\n  %s",
		e.From, e.To, len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// opsetConv holds the state of one conversion: checks run on every node
// first and queue edits, applied only when no node was refused.
type opsetConv struct {
	g        *nn.Graph
	src, dst int
	reg      *nn.Registry
	shapes   map[string][]int // -1 for dimensions that follow the input sizes
	dtypes   map[string]nn.DType
	edits    []func()
	replace  map[*nn.Node][]*nn.Node
	added    []*nn.Node
	names    map[string]bool
	nodeName map[string]bool
	orphans  map[string]bool // inputs no longer read by their node
	changed  int
}

// crosses reports whether the conversion crosses version v (the form of
// versions >= v differs from those below).
func (c *opsetConv) crosses(v int) bool { return (c.src < v) != (c.dst < v) }

// up reports whether the conversion goes to a higher opset.
func (c *opsetConv) up() bool { return c.dst > c.src }

func (c *opsetConv) edit(f func()) { c.edits = append(c.edits, f) }

// constOf returns the value of a parameter, a folded constant or a
// Constant node's output.
func (c *opsetConv) constOf(name string) *nn.Tensor {
	if t := constant(c.g, name); t != nil || name == "" {
		return t
	}
	for _, n := range c.g.Nodes {
		if n.OpType == "Constant" && len(n.Outputs) == 1 && n.Outputs[0] == name {
			if a := n.Attr("value"); a != nil {
				return a.T
			}
		}
	}
	return nil
}

// ints returns a constant integer input as int64 values.
func (c *opsetConv) ints(name string) ([]int64, bool) {
	t := c.constOf(name)
	if t == nil || t.DType.Storage() != nn.StoreI64 {
		return nil, false
	}
	return append([]int64{}, t.I64...), true
}

// scalarF returns a constant float scalar (or one-element) input.
func (c *opsetConv) scalarF(name string) (float32, bool) {
	t := c.constOf(name)
	if t == nil || !t.DType.IsFloat() || t.Len() != 1 {
		return 0, false
	}
	return float32(t.Float64At(0)), true
}

// reserve returns a value name unused in g and by earlier reservations.
func (c *opsetConv) reserve(base string) string {
	if c.names == nil {
		c.names = map[string]bool{}
		for name := range c.g.Params {
			c.names[name] = true
		}
		for name := range c.g.Consts {
			c.names[name] = true
		}
		for _, in := range c.g.Inputs {
			c.names[in.Name] = true
		}
		for _, n := range c.g.Nodes {
			for _, o := range n.Outputs {
				c.names[o] = true
			}
			for _, i := range n.Inputs {
				c.names[i] = true
			}
		}
	}
	name := base
	for i := 1; c.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	c.names[name] = true
	return name
}

// reserveNode returns a node name unused in g.
func (c *opsetConv) reserveNode(base string) string {
	if c.nodeName == nil {
		c.nodeName = map[string]bool{}
		for _, n := range c.g.Nodes {
			c.nodeName[n.Name] = true
		}
	}
	name := base
	for i := 1; c.nodeName[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	c.nodeName[name] = true
	return name
}

// param queues a new initializer and returns its name.
func (c *opsetConv) param(base string, t *nn.Tensor) string {
	name := c.reserve(base)
	c.edit(func() {
		c.g.AddParam(&nn.Param{Name: name, Value: t, Source: nn.FromInitializer, Doc: "written by graft convert --opset"})
	})
	return name
}

func int64Tensor(v []int64) *nn.Tensor {
	t := nn.New(nn.Int64, len(v))
	copy(t.I64, v)
	return t
}

// scalarOf returns a scalar of dtype dt holding v.
func scalarOf(dt nn.DType, v float64) *nn.Tensor {
	if dt == nn.Undefined {
		dt = nn.Float32
	}
	return fromFloat64(dt, []int{}, []float64{v})
}

// setAttrInts queues setting an integer-list attribute.
func (c *opsetConv) setInts(n *nn.Node, name string, v []int64) {
	c.setAttr(n, &nn.Attr{Name: name, Type: nn.AttrInts, Ints: v})
}

func (c *opsetConv) setInt(n *nn.Node, name string, v int64) {
	c.setAttr(n, &nn.Attr{Name: name, Type: nn.AttrInt, I: v})
}

func (c *opsetConv) setAttr(n *nn.Node, a *nn.Attr) {
	c.edit(func() {
		if n.Attrs == nil {
			n.Attrs = map[string]*nn.Attr{}
		}
		if _, ok := n.Attrs[a.Name]; !ok {
			n.AttrOrder = append(n.AttrOrder, a.Name)
		}
		n.Attrs[a.Name] = a
	})
}

// delAttr queues removing an attribute.
func (c *opsetConv) delAttr(n *nn.Node, name string) {
	if !n.HasAttr(name) {
		return
	}
	c.edit(func() {
		delete(n.Attrs, name)
		order := n.AttrOrder[:0:0]
		for _, a := range n.AttrOrder {
			if a != name {
				order = append(order, a)
			}
		}
		n.AttrOrder = order
	})
}

// setInput queues setting input i (appending empty inputs as needed);
// trailing empty inputs are trimmed.
func (c *opsetConv) setInput(n *nn.Node, i int, name string) {
	c.edit(func() {
		for len(n.Inputs) <= i {
			n.Inputs = append(n.Inputs, "")
		}
		if old := n.Inputs[i]; old != "" && old != name {
			if c.orphans == nil {
				c.orphans = map[string]bool{}
			}
			c.orphans[old] = true
		}
		n.Inputs[i] = name
		for len(n.Inputs) > 0 && n.Inputs[len(n.Inputs)-1] == "" {
			n.Inputs = n.Inputs[:len(n.Inputs)-1]
		}
	})
}

// rank returns the rank of a value, or -1 when unknown.
func (c *opsetConv) rank(name string) int {
	if s, ok := c.shapes[name]; ok {
		return len(s)
	}
	return -1
}

// dtype returns the element type of a value, or Undefined.
func (c *opsetConv) dtype(name string) nn.DType {
	if t := c.constOf(name); t != nil {
		return t.DType
	}
	return c.dtypes[name]
}

// opsetFormVersions maps op types to the versions where ConvertOpset knows
// their form changes; a node crossing none of them only gets a new opset.
func (c *opsetConv) node(n *nn.Node) error {
	for _, a := range n.Attrs {
		if a.Type == nn.AttrGraph || a.Type == nn.AttrGraphs {
			return fmt.Errorf("has a subgraph (attribute %q): subgraphs are not converted", a.Name)
		}
	}
	if f := opsetRules[n.OpType]; f != nil {
		done, err := f(c, n)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
	if err := c.checkAttrs(n); err != nil {
		return err
	}
	if v := opsetIntroduced[n.OpType]; v > c.dst {
		return fmt.Errorf("%s was introduced at opset %d", n.OpType, v)
	}
	if _, ok := c.reg.Lookup("", n.OpType, c.dst); !ok {
		return fmt.Errorf("%s does not exist at opset %d", n.OpType, c.dst)
	}
	return nil
}

// opsetRule converts one op type; done reports that the node was replaced
// (no further checks apply to it).
type opsetRule func(c *opsetConv, n *nn.Node) (done bool, err error)

var opsetRules map[string]opsetRule

func init() {
	opsetRules = map[string]opsetRule{
		"Squeeze":            opsetSqueeze,
		"Unsqueeze":          opsetSqueeze,
		"ReduceSum":          opsetReduce,
		"ReduceMean":         opsetReduce,
		"ReduceMax":          opsetReduce,
		"ReduceMin":          opsetReduce,
		"ReduceProd":         opsetReduce,
		"ReduceL1":           opsetReduce,
		"ReduceL2":           opsetReduce,
		"ReduceLogSum":       opsetReduce,
		"ReduceLogSumExp":    opsetReduce,
		"ReduceSumSquare":    opsetReduce,
		"Split":              opsetSplit,
		"Clip":               opsetClip,
		"Pad":                opsetPad,
		"Resize":             opsetResize,
		"Upsample":           opsetUpsample,
		"LayerNormalization": opsetLayerNorm,
		"BatchNormalization": opsetBatchNorm,
		"Softmax":            opsetSoftmax,
		"LogSoftmax":         opsetSoftmax,
		"Hardmax":            opsetSoftmax,
		"Dropout":            opsetDropout,
		"Gelu":               opsetGelu,
		"Cast":               opsetCast,
		"CastLike":           opsetCastLike,
		"Constant":           opsetConstant,
		"Slice":              opsetSlice,
		"TopK":               opsetTopK,
	}
}

// opsetIntroduced gives the opset that introduced ops newer than 11.
var opsetIntroduced = map[string]int{
	"Celu": 12, "Einsum": 12, "GreaterOrEqual": 12, "LessOrEqual": 12,
	"NegativeLogLikelihoodLoss": 12, "SoftmaxCrossEntropyLoss": 12,
	"HardSwish": 14, "Trilu": 14,
	"CastLike": 15, "Bernoulli": 15, "Optional": 15, "OptionalHasElement": 15, "OptionalGetElement": 15,
	"GridSample":         16,
	"LayerNormalization": 17, "SequenceMap": 17, "DFT": 17, "STFT": 17, "BlackmanWindow": 17,
	"HannWindow": 17, "HammingWindow": 17, "MelWeightMatrix": 17,
	"BitwiseAnd": 18, "BitwiseOr": 18, "BitwiseXor": 18, "BitwiseNot": 18, "CenterCropPad": 18,
	"Col2Im": 18, "GroupNormalization": 18, "Mish": 18,
	"DeformConv": 19,
	"AffineGrid": 20, "Gelu": 20, "ImageDecoder": 20, "RegexFullMatch": 20, "StringConcat": 20, "StringSplit": 20,
}

// opsetNewAttrs lists attributes added to an op at a version, with the
// value that keeps the older behaviour: below that version the attribute
// is dropped when it holds that value and the node refused otherwise.
var opsetNewAttrs = map[string][]struct {
	name  string
	since int
	def   int64
}{
	"Reshape":            {{"allowzero", 14, 0}},
	"LSTM":               {{"layout", 14, 0}},
	"GRU":                {{"layout", 14, 0}},
	"RNN":                {{"layout", 14, 0}},
	"ArgMax":             {{"select_last_index", 12, 0}},
	"GatherND":           {{"batch_dims", 12, 0}},
	"ArgMin":             {{"select_last_index", 12, 0}},
	"Shape":              {{"start", 15, 0}},
	"AveragePool":        {{"dilations", 19, -1}},
	"GridSample":         {{"mode", 20, -1}},
	"ScatterElements":    {{"reduction", 16, -1}},
	"ScatterND":          {{"reduction", 16, -1}},
	"QuantizeLinear":     {{"saturate", 19, 1}, {"block_size", 21, 0}, {"output_dtype", 21, 0}},
	"DequantizeLinear":   {{"block_size", 21, 0}},
	"GroupNormalization": {{"stash_type", 21, 1}},
}

// checkAttrs drops or refuses attributes that do not exist at the target.
func (c *opsetConv) checkAttrs(n *nn.Node) error {
	if n.OpType == "Shape" && n.HasAttr("end") && c.dst < 15 {
		return fmt.Errorf("attribute end needs opset 15")
	}
	if n.OpType == "GroupNormalization" && c.crosses(21) {
		return fmt.Errorf("GroupNormalization changed its scale and bias shapes at opset 21")
	}
	if n.OpType == "DFT" && c.crosses(20) {
		return fmt.Errorf("DFT moved axis and dft_length to inputs at opset 20")
	}
	if n.OpType == "GridSample" && c.crosses(20) {
		return fmt.Errorf("GridSample renamed its modes at opset 20")
	}
	for _, a := range opsetNewAttrs[n.OpType] {
		if c.dst >= a.since || !n.HasAttr(a.name) {
			continue
		}
		at := n.Attr(a.name)
		if a.def < 0 || at.Type != nn.AttrInt || at.I != a.def {
			return fmt.Errorf("attribute %s needs opset %d", a.name, a.since)
		}
		c.delAttr(n, a.name)
		c.changed++
	}
	return nil
}

// opsetProbe runs g twice on probe inputs whose free dimensions differ and
// records the shape and element type of every value; dimensions that
// differ between the runs are -1. Values of a failed run are unknown.
func opsetProbe(g *nn.Graph) (map[string][]int, map[string]nn.DType) {
	shapes := map[string][]int{}
	dtypes := map[string]nn.DType{}
	for name, p := range g.Params {
		shapes[name] = append([]int{}, p.Value.Shape...)
		dtypes[name] = p.Value.DType
	}
	for name, t := range g.Consts {
		shapes[name] = append([]int{}, t.Shape...)
		dtypes[name] = t.DType
	}
	run := func(size int) map[string][]int {
		feed := map[string]*nn.Tensor{}
		for _, in := range g.Inputs {
			if !in.HasShape || in.DType == nn.Undefined || !in.DType.Supported() {
				return nil
			}
			shape := make([]int, len(in.Shape))
			for i, d := range in.Shape {
				shape[i] = d.Value
				if d.Param != "" || d.Value < 0 || (i == 0 && g.FixedBatch > 0 && d.Value == g.FixedBatch) {
					shape[i] = size
				}
			}
			if nn.NumElements(shape) > 1<<24 {
				return nil
			}
			t := nn.New(in.DType, shape...)
			if t.DType.Storage() == nn.StoreF32 {
				for i := range t.F32 {
					t.F32[i] = float32(i%7) * 0.125
				}
			}
			feed[in.Name] = t
		}
		seen := map[string][]int{}
		ctx := nn.NewContext(nil)
		ctx.Observe = func(n *nn.Node, in, out []*nn.Tensor) {
			for j, o := range n.Outputs {
				if o != "" && j < len(out) && out[j] != nil {
					seen[o] = append([]int{}, out[j].Shape...)
					dtypes[o] = out[j].DType
				}
			}
		}
		for name, t := range feed {
			seen[name] = append([]int{}, t.Shape...)
			dtypes[name] = t.DType
		}
		if _, err := g.Run(ctx, feed); err != nil {
			return nil
		}
		return seen
	}
	a, b := run(2), run(3)
	if a == nil || b == nil {
		return shapes, dtypes
	}
	names := make([]string, 0, len(a))
	for name := range a {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		sa, sb := a[name], b[name]
		if sb == nil || len(sa) != len(sb) {
			continue
		}
		s := make([]int, len(sa))
		for i := range sa {
			s[i] = sa[i]
			if sa[i] != sb[i] {
				s[i] = -1
			}
		}
		shapes[name] = s
	}
	return shapes, dtypes
}
