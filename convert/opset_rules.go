package convert

import (
	"fmt"
	"math"

	"github.com/graftml/graft/nn"
)

// inputAttr moves an integer-list attribute to input i (an int64
// initializer) or back, as the conversion crosses version v. It reports
// whether it changed the node.
func (c *opsetConv) inputAttr(n *nn.Node, attr string, i, v int) (bool, error) {
	if !c.crosses(v) {
		return false, nil
	}
	if c.dst >= v {
		a := n.Attr(attr)
		if a == nil {
			return false, nil
		}
		name := c.param(opsetBase(n, attr), int64Tensor(a.Ints))
		c.delAttr(n, attr)
		c.setInput(n, i, name)
		c.changed++
		return true, nil
	}
	in := n.Input(i)
	if in == "" {
		return false, nil
	}
	vals, ok := c.ints(in)
	if !ok {
		return false, fmt.Errorf("input %s %q is not a constant: opset %d needs it as an attribute", attr, in, c.dst)
	}
	c.setInts(n, attr, vals)
	c.setInput(n, i, "")
	c.changed++
	return true, nil
}

// opsetBase names a new initializer after the node.
func opsetBase(n *nn.Node, what string) string {
	base := n.Name
	if base == "" && len(n.Outputs) > 0 {
		base = n.Outputs[0]
	}
	return base + "_" + what
}

func opsetSqueeze(c *opsetConv, n *nn.Node) (bool, error) {
	if n.OpType == "Unsqueeze" && !n.HasAttr("axes") && n.Input(1) == "" {
		return false, fmt.Errorf("Unsqueeze without axes")
	}
	_, err := c.inputAttr(n, "axes", 1, 13)
	return false, err
}

func opsetReduce(c *opsetConv, n *nn.Node) (bool, error) {
	v := 18
	if n.OpType == "ReduceSum" {
		v = 13
	}
	if !c.crosses(v) {
		return false, nil
	}
	if c.dst < v {
		if n.AttrInt("noop_with_empty_axes", 0) != 0 {
			axes, ok := c.ints(n.Input(1))
			if n.Input(1) == "" || (ok && len(axes) == 0) {
				return false, fmt.Errorf("noop_with_empty_axes=1 without axes has no form before opset %d", v)
			}
		}
		c.delAttr(n, "noop_with_empty_axes")
		if axes, ok := c.ints(n.Input(1)); ok && len(axes) == 0 {
			// An empty axes tensor reduces every axis, like no axes.
			c.setInput(n, 1, "")
			c.changed++
			return false, nil
		}
	}
	_, err := c.inputAttr(n, "axes", 1, v)
	return false, err
}

// opsetSplit handles the split sizes (attribute before 13, input from 13)
// and num_outputs (from 18).
func opsetSplit(c *opsetConv, n *nn.Node) (bool, error) {
	if !c.crosses(13) && !c.crosses(18) {
		return false, nil
	}
	// The sizes the source form gives, nil for an equal split.
	var sizes []int64
	explicit := false
	switch {
	case n.HasAttr("split"):
		sizes, explicit = n.Attr("split").Ints, true
	case n.Input(1) != "":
		s, ok := c.ints(n.Input(1))
		if !ok {
			if c.dst < 13 {
				return false, fmt.Errorf("input split %q is not a constant: opset %d needs it as an attribute", n.Input(1), c.dst)
			}
			return false, nil // stays an input
		}
		sizes, explicit = s, true
	case n.HasAttr("num_outputs") && c.dst < 18:
		k := n.AttrInt("num_outputs", 0)
		axis := n.AttrInt("axis", 0)
		if shape, ok := c.shapes[n.Input(0)]; ok && k > 0 {
			if axis < 0 {
				axis += int64(len(shape))
			}
			if axis >= 0 && int(axis) < len(shape) && shape[axis] > 0 && int64(shape[axis])%k != 0 {
				d := int64(shape[axis])
				chunk := (d + k - 1) / k
				for j := int64(0); j < k-1; j++ {
					sizes = append(sizes, chunk)
				}
				sizes = append(sizes, d-chunk*(k-1))
				explicit = true
			}
		}
		// Otherwise an equal split: when the dimension is not divisible
		// the older form fails at run time instead of differing.
	}
	c.delAttr(n, "split")
	c.delAttr(n, "num_outputs")
	c.setInput(n, 1, "")
	switch {
	case explicit && c.dst < 13:
		c.setInts(n, "split", sizes)
	case explicit:
		c.setInput(n, 1, c.param(opsetBase(n, "split"), int64Tensor(sizes)))
	case c.dst >= 18:
		c.setInt(n, "num_outputs", int64(len(n.Outputs)))
	}
	c.changed++
	return false, nil
}

func opsetClip(c *opsetConv, n *nn.Node) (bool, error) {
	if !c.crosses(11) {
		return false, nil
	}
	if c.dst < 11 {
		return false, fmt.Errorf("Clip below opset 11 is not written")
	}
	dt := c.dtype(n.Input(0))
	for i, a := range []string{"min", "max"} {
		if at := n.Attr(a); at != nil {
			c.setInput(n, i+1, c.param(opsetBase(n, a), scalarOf(dt, float64(at.F))))
			c.delAttr(n, a)
		}
	}
	c.changed++
	return false, nil
}

func opsetPad(c *opsetConv, n *nn.Node) (bool, error) {
	mode := n.AttrString("mode", "constant")
	if mode == "wrap" && c.dst < 19 {
		return false, fmt.Errorf("mode wrap needs opset 19")
	}
	if c.src < 11 {
		pads := n.Attr("pads")
		if pads == nil {
			return false, fmt.Errorf("no pads attribute")
		}
		c.setInput(n, 1, c.param(opsetBase(n, "pads"), int64Tensor(pads.Ints)))
		if v := n.AttrFloat("value", 0); v != 0 {
			c.setInput(n, 2, c.param(opsetBase(n, "value"), scalarOf(c.dtype(n.Input(0)), float64(v))))
		}
		c.delAttr(n, "pads")
		c.delAttr(n, "value")
		c.changed++
		return false, nil
	}
	if c.dst < 18 && n.Input(3) != "" {
		axes, ok1 := c.ints(n.Input(3))
		pads, ok2 := c.ints(n.Input(1))
		r := c.rank(n.Input(0))
		if !ok1 || !ok2 || r < 0 || len(pads) != 2*len(axes) {
			return false, fmt.Errorf("axes input needs opset 18 (axes, pads or the input rank are not known)")
		}
		full := make([]int64, 2*r)
		for i, a := range axes {
			if a < 0 {
				a += int64(r)
			}
			if a < 0 || int(a) >= r {
				return false, fmt.Errorf("axis %d out of range for rank %d", axes[i], r)
			}
			full[a] = pads[i]
			full[int(a)+r] = pads[i+len(axes)]
		}
		c.setInput(n, 1, c.param(opsetBase(n, "pads"), int64Tensor(full)))
		c.setInput(n, 3, "")
		c.changed++
	}
	return false, nil
}

// emptyF32 returns an empty float32 initializer (roi or scales of Resize
// before opset 13, where they are required).
func (c *opsetConv) emptyF32(n *nn.Node, what string) string {
	return c.param(opsetBase(n, what), nn.New(nn.Float32, 0))
}

func opsetResize(c *opsetConv, n *nn.Node) (bool, error) {
	if c.src < 11 {
		// Resize-10: X, scales with asymmetric coordinates.
		return opsetUpsample(c, n)
	}
	coord := n.AttrString("coordinate_transformation_mode", "half_pixel")
	if coord == "tf_half_pixel_for_nearest" && c.dst >= 13 {
		return false, fmt.Errorf("coordinate_transformation_mode tf_half_pixel_for_nearest was removed at opset 13")
	}
	if coord == "half_pixel_symmetric" && c.dst < 19 {
		return false, fmt.Errorf("coordinate_transformation_mode half_pixel_symmetric needs opset 19")
	}
	if c.dst < 18 {
		if n.AttrInt("antialias", 0) != 0 {
			return false, fmt.Errorf("antialias needs opset 18")
		}
		if n.HasAttr("axes") {
			return false, fmt.Errorf("attribute axes needs opset 18")
		}
		if p := n.AttrString("keep_aspect_ratio_policy", "stretch"); p != "stretch" {
			return false, fmt.Errorf("keep_aspect_ratio_policy %s needs opset 18", p)
		}
		for _, a := range []string{"antialias", "keep_aspect_ratio_policy"} {
			if n.HasAttr(a) {
				c.delAttr(n, a)
				c.changed++
			}
		}
	}
	if c.dst < 13 {
		// roi and scales are required inputs before 13.
		changed := false
		if n.Input(1) == "" {
			c.setInput(n, 1, c.emptyF32(n, "roi"))
			changed = true
		}
		if n.Input(2) == "" {
			c.setInput(n, 2, c.emptyF32(n, "scales"))
			changed = true
		}
		if changed {
			c.changed++
		}
	}
	return false, nil
}

// opsetUpsample writes Upsample (scales attribute before 9, input from 9)
// and Resize-10 as Resize with the same sampling: asymmetric coordinates,
// nearest rounding down.
func opsetUpsample(c *opsetConv, n *nn.Node) (bool, error) {
	mode := n.AttrString("mode", "nearest")
	switch mode {
	case "nearest", "linear":
	case "bilinear":
		mode = "linear"
	default:
		return false, fmt.Errorf("mode %q cannot be written as Resize", mode)
	}
	scales := n.Input(1)
	if a := n.Attr("scales"); a != nil {
		t := nn.New(nn.Float32, len(a.Floats))
		copy(t.F32, a.Floats)
		scales = c.param(opsetBase(n, "scales"), t)
	}
	if scales == "" {
		return false, fmt.Errorf("no scales")
	}
	roi := ""
	if c.dst < 13 {
		roi = c.emptyF32(n, "roi")
	}
	x := n.Input(0)
	c.edit(func() {
		n.OpType = "Resize"
		n.Inputs = []string{x, roi, scales}
		n.Attrs = map[string]*nn.Attr{
			"mode":                           {Name: "mode", Type: nn.AttrString, S: mode},
			"coordinate_transformation_mode": {Name: "coordinate_transformation_mode", Type: nn.AttrString, S: "asymmetric"},
		}
		n.AttrOrder = []string{"mode", "coordinate_transformation_mode"}
		if mode == "nearest" {
			n.Attrs["nearest_mode"] = &nn.Attr{Name: "nearest_mode", Type: nn.AttrString, S: "floor"}
			n.AttrOrder = append(n.AttrOrder, "nearest_mode")
		}
	})
	c.changed++
	return true, nil
}

// opsetBuilder collects the nodes replacing one node.
type opsetBuilder struct {
	c     *opsetConv
	n     *nn.Node
	nodes []*nn.Node
}

// add appends a node of the given type and returns its output name (out
// when not empty, else a new name).
func (b *opsetBuilder) add(op string, in []string, out string, attrs ...*nn.Attr) string {
	if out == "" {
		out = b.c.reserve(opsetBase(b.n, op))
	}
	node := &nn.Node{
		Name:   b.c.reserveNode("graft_" + opsetBase(b.n, op)),
		OpType: op, Opset: b.c.dst,
		Inputs: in, Outputs: []string{out},
		Attrs: map[string]*nn.Attr{},
	}
	for _, a := range attrs {
		node.Attrs[a.Name] = a
		node.AttrOrder = append(node.AttrOrder, a.Name)
	}
	b.nodes = append(b.nodes, node)
	return out
}

func (b *opsetBuilder) done() {
	if b.c.replace == nil {
		b.c.replace = map[*nn.Node][]*nn.Node{}
	}
	b.c.replace[b.n] = b.nodes
	b.c.added = append(b.c.added, b.nodes...)
	b.c.changed++
}

// extraOutputsRead reports an output beyond the first that something reads.
func (c *opsetConv) extraOutputsRead(n *nn.Node) string {
	for _, o := range n.Outputs[1:] {
		if o == "" {
			continue
		}
		if isOutput(c.g, o) || len(readersOf(c.g, o)) > 0 {
			return o
		}
	}
	return ""
}

func opsetLayerNorm(c *opsetConv, n *nn.Node) (bool, error) {
	if c.dst >= 17 {
		return false, nil
	}
	if o := c.extraOutputsRead(n); o != "" {
		return false, fmt.Errorf("output %q (mean or inverse deviation) is read: no decomposition written", o)
	}
	x := n.Input(0)
	dt := c.dtype(x)
	if dt == nn.Undefined {
		dt = c.dtype(n.Input(1))
	}
	if dt != nn.Float32 && dt != nn.Float64 {
		return false, fmt.Errorf("input type %v: only float32 and float64 are decomposed", dt)
	}
	axis := n.AttrInt("axis", -1)
	var axes []int64
	if axis < 0 {
		for a := axis; a < 0; a++ {
			axes = append(axes, a)
		}
	} else {
		r := c.rank(x)
		if r < 0 {
			return false, fmt.Errorf("axis %d with an input of unknown rank", axis)
		}
		for a := axis; a < int64(r); a++ {
			axes = append(axes, a)
		}
	}
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	b := &opsetBuilder{c: c, n: n}
	red := func(in string) string {
		return b.add("ReduceMean", []string{in}, "",
			&nn.Attr{Name: "axes", Type: nn.AttrInts, Ints: axes}, &nn.Attr{Name: "keepdims", Type: nn.AttrInt, I: 1})
	}
	mean := red(x)
	d := b.add("Sub", []string{x, mean}, "")
	sq := b.add("Mul", []string{d, d}, "")
	v := red(sq)
	ve := b.add("Add", []string{v, c.param(opsetBase(n, "epsilon"), scalarOf(dt, eps))}, "")
	sd := b.add("Sqrt", []string{ve}, "")
	nrm := b.add("Div", []string{d, sd}, "")
	y := n.Outputs[0]
	if n.Input(2) == "" {
		b.add("Mul", []string{nrm, n.Input(1)}, y)
	} else {
		s := b.add("Mul", []string{nrm, n.Input(1)}, "")
		b.add("Add", []string{s, n.Input(2)}, y)
	}
	b.done()
	return true, nil
}

func opsetGelu(c *opsetConv, n *nn.Node) (bool, error) {
	if c.dst >= 20 {
		return false, nil
	}
	x := n.Input(0)
	dt := c.dtype(x)
	if dt != nn.Float32 && dt != nn.Float64 {
		return false, fmt.Errorf("input type %v: only float32 and float64 are decomposed", dt)
	}
	k := func(what string, v float64) string { return c.param(opsetBase(n, what), scalarOf(dt, v)) }
	b := &opsetBuilder{c: c, n: n}
	var inner string
	switch a := n.AttrString("approximate", "none"); a {
	case "none":
		t := b.add("Div", []string{x, k("sqrt2", math.Sqrt2)}, "")
		inner = b.add("Erf", []string{t}, "")
	case "tanh":
		x2 := b.add("Mul", []string{x, x}, "")
		x3 := b.add("Mul", []string{x2, x}, "")
		s := b.add("Mul", []string{x3, k("c", 0.044715)}, "")
		p := b.add("Add", []string{x, s}, "")
		q := b.add("Mul", []string{p, k("sqrt2pi", math.Sqrt(2/math.Pi))}, "")
		inner = b.add("Tanh", []string{q}, "")
	default:
		return false, fmt.Errorf("approximate %q", a)
	}
	one := b.add("Add", []string{inner, k("one", 1)}, "")
	m := b.add("Mul", []string{x, one}, "")
	b.add("Mul", []string{m, k("half", 0.5)}, n.Outputs[0])
	b.done()
	return true, nil
}

func opsetBatchNorm(c *opsetConv, n *nn.Node) (bool, error) {
	if c.src < 9 && n.HasAttr("spatial") {
		if n.AttrInt("spatial", 1) != 1 {
			return false, fmt.Errorf("spatial=0 was removed at opset 9")
		}
		c.delAttr(n, "spatial")
		c.changed++
	}
	if n.HasAttr("is_test") {
		return false, fmt.Errorf("attribute is_test (before opset 7)")
	}
	if c.crosses(14) {
		if n.AttrInt("training_mode", 0) != 0 {
			return false, fmt.Errorf("training_mode=1")
		}
		if o := c.extraOutputsRead(n); o != "" {
			return false, fmt.Errorf("training output %q is read", o)
		}
		if len(n.Outputs) > 1 || n.HasAttr("training_mode") {
			c.edit(func() { n.Outputs = n.Outputs[:1] })
			c.delAttr(n, "training_mode")
			c.changed++
		}
	}
	return false, nil
}

// opsetSoftmax converts the axis of Softmax, LogSoftmax and Hardmax across
// opset 13: before it the input is coerced to 2-D at axis (default 1) and
// normalized over the flattened trailing axes, from 13 over the single
// axis (default -1). Only cases where both agree are converted.
func opsetSoftmax(c *opsetConv, n *nn.Node) (bool, error) {
	if !c.crosses(13) {
		return false, nil
	}
	x := n.Input(0)
	shape, known := c.shapes[x]
	r := len(shape)
	if c.dst < 13 {
		a := n.AttrInt("axis", -1)
		if a == -1 {
			c.setInt(n, "axis", -1)
			c.changed++
			return false, nil
		}
		if !known {
			return false, fmt.Errorf("axis %d of an input of unknown rank: before opset 13 the axes from %d on are normalized together, and no Transpose can be written", a, a)
		}
		if a < 0 {
			a += int64(r)
		}
		for d := int(a) + 1; d < r; d++ {
			if shape[d] != 1 {
				return opsetSoftmaxTranspose(c, n, int(a), r)
			}
		}
		c.setInt(n, "axis", a)
		c.changed++
		return false, nil
	}
	k := n.AttrInt("axis", 1)
	if !known {
		if k == -1 {
			c.setInt(n, "axis", -1)
			c.changed++
			return false, nil
		}
		return opsetSoftmaxFlatten(c, n, k)
	}
	if k < 0 {
		k += int64(r)
	}
	axis := int64(r - 1)
	if int(k) < r-1 {
		axis = -1
		for d := int(k); d < r; d++ {
			if shape[d] == 1 {
				continue
			}
			if axis >= 0 {
				return opsetSoftmaxFlatten(c, n, k)
			}
			axis = int64(d)
		}
		if axis < 0 {
			axis = k
		}
	}
	c.setInt(n, "axis", axis)
	c.changed++
	return false, nil
}

// opsetSoftmaxFlatten writes the coerced 2-D form of opset < 13 at 13 or
// later: Flatten at axis k, the op over the last axis, Reshape back.
func opsetSoftmaxFlatten(c *opsetConv, n *nn.Node, k int64) (bool, error) {
	x := n.Input(0)
	b := &opsetBuilder{c: c, n: n}
	sh := b.add("Shape", []string{x}, "")
	f := b.add("Flatten", []string{x}, "", &nn.Attr{Name: "axis", Type: nn.AttrInt, I: k})
	m := b.add(n.OpType, []string{f}, "", &nn.Attr{Name: "axis", Type: nn.AttrInt, I: -1})
	b.add("Reshape", []string{m, sh}, n.Outputs[0])
	b.done()
	return true, nil
}

// opsetSoftmaxTranspose writes the single-axis form of opset >= 13 before
// 13: axis a of a rank-r input moved last, the op over it, moved back.
func opsetSoftmaxTranspose(c *opsetConv, n *nn.Node, a, r int) (bool, error) {
	perm := make([]int64, 0, r)
	for d := 0; d < r; d++ {
		if d != a {
			perm = append(perm, int64(d))
		}
	}
	perm = append(perm, int64(a))
	inv := make([]int64, r)
	for i, p := range perm {
		inv[p] = int64(i)
	}
	b := &opsetBuilder{c: c, n: n}
	t := b.add("Transpose", []string{n.Input(0)}, "", &nn.Attr{Name: "perm", Type: nn.AttrInts, Ints: perm})
	m := b.add(n.OpType, []string{t}, "", &nn.Attr{Name: "axis", Type: nn.AttrInt, I: -1})
	b.add("Transpose", []string{m}, n.Outputs[0], &nn.Attr{Name: "perm", Type: nn.AttrInts, Ints: inv})
	b.done()
	return true, nil
}

func opsetShape(s []int) string {
	out := "["
	for i, d := range s {
		if i > 0 {
			out += ","
		}
		if d < 0 {
			out += "?"
		} else {
			out += fmt.Sprint(d)
		}
	}
	return out + "]"
}

func opsetDropout(c *opsetConv, n *nn.Node) (bool, error) {
	if !c.crosses(12) {
		return false, nil
	}
	if c.dst >= 12 {
		if a := n.Attr("ratio"); a != nil {
			c.setInput(n, 1, c.param(opsetBase(n, "ratio"), nn.Scalar(a.F)))
			c.delAttr(n, "ratio")
		}
		c.changed++
		return false, nil
	}
	if in := n.Input(1); in != "" {
		r, ok := c.scalarF(in)
		if !ok {
			return false, fmt.Errorf("ratio %q is not a constant: opset %d needs it as an attribute", in, c.dst)
		}
		c.setAttr(n, &nn.Attr{Name: "ratio", Type: nn.AttrFloat, F: r})
	}
	if in := n.Input(2); in != "" {
		t := c.constOf(in)
		if t == nil || t.DType != nn.Bool || t.Len() != 1 || t.Bool[0] {
			return false, fmt.Errorf("training_mode %q is not a constant false: opset %d has no training mode", in, c.dst)
		}
	}
	c.delAttr(n, "seed")
	c.setInput(n, 2, "")
	c.setInput(n, 1, "")
	c.changed++
	return false, nil
}

func opsetCast(c *opsetConv, n *nn.Node) (bool, error) {
	to := nn.DType(n.AttrInt("to", 0))
	if to == nn.BFloat16 && c.dst < 13 {
		return false, fmt.Errorf("cast to bfloat16 needs opset 13")
	}
	if to >= 17 && c.dst < 19 {
		return false, fmt.Errorf("cast to element type %d needs opset 19 or later", to)
	}
	if c.dst < 19 && n.HasAttr("saturate") {
		c.delAttr(n, "saturate")
		c.changed++
	}
	return false, nil
}

func opsetCastLike(c *opsetConv, n *nn.Node) (bool, error) {
	if c.dst < 19 && n.HasAttr("saturate") {
		c.delAttr(n, "saturate")
	}
	if c.dst >= 15 {
		return false, nil
	}
	to := c.dtype(n.Input(1))
	if to == nn.Undefined {
		return false, fmt.Errorf("the element type of %q is not known: no Cast written", n.Input(1))
	}
	x := n.Input(0)
	c.edit(func() {
		n.OpType = "Cast"
		n.Inputs = []string{x}
		n.Attrs = map[string]*nn.Attr{"to": {Name: "to", Type: nn.AttrInt, I: int64(to)}}
		n.AttrOrder = []string{"to"}
	})
	c.changed++
	return true, nil
}

// opsetConstant writes the value_float(s)/value_int(s) forms (opset 12) as
// a tensor value below 12.
func opsetConstant(c *opsetConv, n *nn.Node) (bool, error) {
	if c.dst >= 12 {
		return false, nil
	}
	var t *nn.Tensor
	switch {
	case n.HasAttr("value_float"):
		t = nn.Scalar(n.AttrFloat("value_float", 0))
	case n.HasAttr("value_floats"):
		f := n.AttrFloats("value_floats", nil)
		t = nn.New(nn.Float32, len(f))
		copy(t.F32, f)
	case n.HasAttr("value_int"):
		t = nn.New(nn.Int64)
		t.I64[0] = n.AttrInt("value_int", 0)
	case n.HasAttr("value_ints"):
		t = int64Tensor(n.Attr("value_ints").Ints)
	case n.HasAttr("value_string"), n.HasAttr("value_strings"):
		return false, fmt.Errorf("string constants need opset 12")
	default:
		return false, nil
	}
	c.edit(func() {
		n.Attrs = map[string]*nn.Attr{"value": {Name: "value", Type: nn.AttrTensor, T: t}}
		n.AttrOrder = []string{"value"}
	})
	c.changed++
	return false, nil
}

// opsetSlice moves the starts, ends and axes attributes of Slice before
// opset 10 to inputs.
func opsetSlice(c *opsetConv, n *nn.Node) (bool, error) {
	if c.src >= 10 || !n.HasAttr("starts") {
		return false, nil
	}
	for i, a := range []string{"starts", "ends", "axes"} {
		at := n.Attr(a)
		if at == nil {
			if a != "axes" {
				return false, fmt.Errorf("no %s attribute", a)
			}
			continue
		}
		c.setInput(n, i+1, c.param(opsetBase(n, a), int64Tensor(at.Ints)))
		c.delAttr(n, a)
	}
	c.changed++
	return false, nil
}

// opsetTopK moves the k attribute of TopK before opset 10 to an input.
func opsetTopK(c *opsetConv, n *nn.Node) (bool, error) {
	if c.src >= 10 || !n.HasAttr("k") {
		return false, nil
	}
	c.setInput(n, 1, c.param(opsetBase(n, "k"), int64Tensor([]int64{n.AttrInt("k", 0)})))
	c.delAttr(n, "k")
	c.changed++
	return false, nil
}
