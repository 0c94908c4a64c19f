package convert

import (
	"fmt"
	"math"

	"github.com/graftml/graft/nn"
)

// Int8 quantization: dynamic (weights stored as int8, activations
// quantized at run time by DynamicQuantizeLinear and multiplied with
// MatMulInteger, the form onnxruntime's quantize_dynamic writes) and static
// QDQ (QuantizeLinear/DequantizeLinear pairs with calibrated activation
// ranges, see quant_static.go).

// DynamicOptions configure QuantizeDynamicWith.
type DynamicOptions struct {
	// PerTensor stores one scale per weight matrix instead of one per
	// output column.
	PerTensor bool
	// Conv quantizes convolutions too, run by ConvInteger (onnxruntime's
	// ConvInteger is much slower than its float convolution).
	Conv bool
}

// QuantizeDynamic rewrites every Gemm and MatMul whose second operand is a
// constant float32 matrix into dynamic int8 form, with per-column weight
// scales: DynamicQuantizeLinear on the activation (uint8), MatMulInteger
// with the int8 weight (symmetric, no zero point), Cast to float, Mul by
// the product of the two scales, Add of the bias. With DynamicOptions.Conv
// convolutions take the same form with ConvInteger (per output channel
// scales, broadcast over the spatial axes). The graph needs opset 11
// (DynamicQuantizeLinear).
func QuantizeDynamic(g *nn.Graph) (Stats, error) {
	return QuantizeDynamicWith(g, DynamicOptions{})
}

// QuantizeDynamicWith is QuantizeDynamic with options.
func QuantizeDynamicWith(g *nn.Graph, o DynamicOptions) (Stats, error) {
	st := Stats{Pass: "int8-dynamic"}
	opset := g.Opsets[""]
	if opset < 11 {
		return st, fmt.Errorf("opset %d: dynamic quantization needs opset 11 or later (DynamicQuantizeLinear)", opset)
	}
	reg := nn.Standard()
	nm := qntNewNamer(g)
	rd := readers(g)
	var nodes []*nn.Node
	old := map[string]bool{}
	for _, n := range g.Nodes {
		repl, err := qntDynamicNode(g, reg, nm, rd, n, o, &st)
		if err != nil {
			return st, fmt.Errorf("%s: %w", n.Label(), err)
		}
		if repl == nil {
			nodes = append(nodes, n)
			continue
		}
		for _, in := range n.Inputs[1:] {
			old[in] = true
		}
		nodes = append(nodes, repl...)
		st.Changed++
	}
	g.Nodes = nodes
	g.Invalidate()
	st.Removed = dropUnusedParams(g, old)
	return st, g.SortNodes()
}

// qntDynamicNode returns the replacement of n, or nil to keep it.
func qntDynamicNode(g *nn.Graph, reg *nn.Registry, nm *qntNamer, rd map[string][]*nn.Node, n *nn.Node, o DynamicOptions, st *Stats) ([]*nn.Node, error) {
	if n.Domain != "" || n.Folded {
		return nil, nil
	}
	switch n.OpType {
	case "Gemm", "MatMul":
	case "Conv":
		if !o.Conv {
			return nil, nil
		}
		return qntDynamicConv(g, reg, nm, n, o, st)
	default:
		return nil, nil
	}
	w := qntConstWeight(g, n.Input(1))
	if w == nil {
		st.skip("%s: the weight %q is not a constant", n.Label(), n.Input(1))
		return nil, nil
	}
	if w.DType != nn.Float32 || w.Rank() != 2 {
		st.skip("%s: weight %v is not a float32 matrix", n.Label(), w)
		return nil, nil
	}
	alpha, beta := float32(1), float32(1)
	transB := false
	var bias *nn.Tensor
	if n.OpType == "Gemm" {
		if n.AttrInt("transA", 0) != 0 {
			st.skip("%s: transA=1", n.Label())
			return nil, nil
		}
		alpha, beta = n.AttrFloat("alpha", 1), n.AttrFloat("beta", 1)
		transB = n.AttrInt("transB", 0) != 0
		if c := n.Input(2); c != "" && beta != 0 {
			bias = constant(g, c)
			if bias == nil || bias.DType != nn.Float32 {
				st.skip("%s: the bias %q is not a float32 constant", n.Label(), c)
				return nil, nil
			}
		}
	}
	// W as [K,N] (column j = output j).
	k, cols := w.Shape[0], w.Shape[1]
	if transB {
		k, cols = cols, k
	}
	at := func(p, j int) float32 {
		if transB {
			return w.F32[j*k+p]
		}
		return w.F32[p*cols+j]
	}
	nsc := cols
	if o.PerTensor {
		nsc = 1
	}
	scale := make([]float32, nsc)
	for j := 0; j < cols; j++ {
		for p := 0; p < k; p++ {
			s := &scale[0]
			if !o.PerTensor {
				s = &scale[j]
			}
			*s = max(*s, float32(math.Abs(float64(at(p, j)))))
		}
	}
	for i, s := range scale {
		if s == 0 {
			scale[i] = 1
		} else {
			scale[i] = s / 127
		}
	}
	q := nn.New(nn.Int8, k, cols)
	for p := 0; p < k; p++ {
		for j := 0; j < cols; j++ {
			s := scale[0]
			if !o.PerTensor {
				s = scale[j]
			}
			q.I64[p*cols+j] = qntSaturate(math.RoundToEven(float64(at(p, j)/s)), -127, 127)
		}
	}
	// alpha scales the product: fold it into the weight scale.
	wsc := make([]float32, nsc)
	for i, s := range scale {
		wsc[i] = s * alpha
	}
	base := n.Name
	if base == "" {
		base = n.Outputs[0]
	}
	wName := nm.param(g, base+"_W_quantized", q, "int8 weight written by graft convert --int8-dynamic")
	var wsT *nn.Tensor
	if o.PerTensor {
		wsT = &nn.Tensor{DType: nn.Float32, Shape: []int{}, F32: wsc}
	} else {
		wsT = nn.FromFloat32(wsc, cols)
	}
	wsName := nm.param(g, base+"_W_scale", wsT, "weight scale written by graft convert --int8-dynamic")
	aq, as, az := nm.value(base+"_A_quantized"), nm.value(base+"_A_scale"), nm.value(base+"_A_zero_point")
	mm, mmf, sc := nm.value(base+"_MatMulInteger"), nm.value(base+"_MatMulInteger_float"), nm.value(base+"_scale")
	out := n.Outputs[0]
	prod := out
	if bias != nil {
		prod = nm.value(base + "_scaled")
	}
	var nodes []*nn.Node
	add := func(op, suffix string, in, outs []string, attrs ...*nn.Attr) error {
		nd, err := qntNode(g, reg, nm.value(base+"_"+suffix), op, in, outs, attrs...)
		if err != nil {
			return err
		}
		nodes = append(nodes, nd)
		return nil
	}
	steps := []func() error{
		func() error {
			return add("DynamicQuantizeLinear", "DynamicQuantizeLinear", []string{n.Inputs[0]}, []string{aq, as, az})
		},
		func() error { return add("MatMulInteger", "MatMulInteger", []string{aq, wName, az}, []string{mm}) },
		func() error {
			return add("Cast", "Cast", []string{mm}, []string{mmf}, &nn.Attr{Name: "to", Type: nn.AttrInt, I: int64(nn.Float32)})
		},
		func() error { return add("Mul", "scale_Mul", []string{as, wsName}, []string{sc}) },
		func() error { return add("Mul", "Mul", []string{mmf, sc}, []string{prod}) },
	}
	if bias != nil {
		b := bias
		if beta != 1 {
			b = bias.Clone()
			for i := range b.F32 {
				b.F32[i] *= beta
			}
		}
		bName := n.Inputs[2]
		if beta != 1 || g.Params[bName] == nil && g.Consts[bName] == nil {
			bName = nm.param(g, base+"_bias", b, "bias written by graft convert --int8-dynamic")
		}
		steps = append(steps, func() error { return add("Add", "bias_Add", []string{prod, bName}, []string{out}) })
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

// qntDynamicConv rewrites a Conv with a constant float32 weight into
// DynamicQuantizeLinear, ConvInteger, Cast, Mul and Add.
func qntDynamicConv(g *nn.Graph, reg *nn.Registry, nm *qntNamer, n *nn.Node, o DynamicOptions, st *Stats) ([]*nn.Node, error) {
	w := constant(g, n.Input(1))
	if w == nil || w.DType != nn.Float32 || w.Rank() < 3 {
		st.skip("%s: the weight %q is not a constant float32 kernel", n.Label(), n.Input(1))
		return nil, nil
	}
	var bias *nn.Tensor
	if c := n.Input(2); c != "" {
		if bias = constant(g, c); bias == nil || bias.DType != nn.Float32 {
			st.skip("%s: the bias %q is not a float32 constant", n.Label(), c)
			return nil, nil
		}
	}
	m := w.Shape[0]
	per := w.Len() / max(m, 1)
	nsc := m
	if o.PerTensor {
		nsc = 1
	}
	ch := func(i int) int {
		if o.PerTensor {
			return 0
		}
		return i / per
	}
	scale := make([]float32, nsc)
	for i, v := range w.F32 {
		scale[ch(i)] = max(scale[ch(i)], float32(math.Abs(float64(v))))
	}
	for i, s := range scale {
		scale[i] = s / 127
		if s == 0 {
			scale[i] = 1
		}
	}
	q := nn.New(nn.Int8, w.Shape...)
	for i, v := range w.F32 {
		q.I64[i] = qntSaturate(math.RoundToEven(float64(v/scale[ch(i)])), -127, 127)
	}
	// Scales and bias broadcast over [N, M, spatial...] as [M, 1, ...].
	bshape := []int{m}
	for range w.Shape[2:] {
		bshape = append(bshape, 1)
	}
	base := n.Name
	if base == "" {
		base = n.Outputs[0]
	}
	doc := "written by graft convert --int8-dynamic"
	wName := nm.param(g, base+"_W_quantized", q, "int8 weight "+doc)
	wsT := &nn.Tensor{DType: nn.Float32, Shape: []int{}, F32: scale}
	if !o.PerTensor {
		wsT = nn.FromFloat32(scale, bshape...)
	}
	wsName := nm.param(g, base+"_W_scale", wsT, "weight scale "+doc)
	xq, xs, xz := nm.value(base+"_X_quantized"), nm.value(base+"_X_scale"), nm.value(base+"_X_zero_point")
	ci, cf, sc := nm.value(base+"_ConvInteger"), nm.value(base+"_ConvInteger_float"), nm.value(base+"_scale")
	out := n.Outputs[0]
	prod := out
	if bias != nil {
		prod = nm.value(base + "_scaled")
	}
	type step struct {
		op, suffix string
		in, out    []string
		attrs      []*nn.Attr
	}
	var convAttrs []*nn.Attr
	for _, name := range n.AttrOrder {
		convAttrs = append(convAttrs, n.Attrs[name])
	}
	steps := []step{
		{"DynamicQuantizeLinear", "DynamicQuantizeLinear", []string{n.Inputs[0]}, []string{xq, xs, xz}, nil},
		{"ConvInteger", "ConvInteger", []string{xq, wName, xz}, []string{ci}, convAttrs},
		{"Cast", "Cast", []string{ci}, []string{cf}, []*nn.Attr{{Name: "to", Type: nn.AttrInt, I: int64(nn.Float32)}}},
		{"Mul", "scale_Mul", []string{xs, wsName}, []string{sc}, nil},
		{"Mul", "Mul", []string{cf, sc}, []string{prod}, nil},
	}
	if bias != nil {
		b := bias.Reshaped(bshape...)
		bName := nm.param(g, base+"_bias", b, "bias "+doc)
		steps = append(steps, step{"Add", "bias_Add", []string{prod, bName}, []string{out}, nil})
	}
	var nodes []*nn.Node
	for _, s := range steps {
		nd, err := qntNode(g, reg, nm.value(base+"_"+s.suffix), s.op, s.in, s.out, s.attrs...)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, nd)
	}
	return nodes, nil
}

// qntConstWeight returns the value of a constant, or of a transposed
// constant matrix (MatMul weights exported as Transpose of an
// initializer), or nil.
func qntConstWeight(g *nn.Graph, name string) *nn.Tensor {
	if t := constant(g, name); t != nil {
		return t
	}
	p := g.Producers()[name]
	if p == nil || p.OpType != "Transpose" || p.Domain != "" || p.Folded {
		return nil
	}
	t := constant(g, p.Input(0))
	if t == nil || t.Rank() != 2 || t.DType != nn.Float32 {
		return nil
	}
	if perm := p.AttrInts("perm", nil); perm != nil && (len(perm) != 2 || perm[0] != 1 || perm[1] != 0) {
		return nil
	}
	r, c := t.Shape[0], t.Shape[1]
	out := nn.New(nn.Float32, c, r)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out.F32[j*r+i] = t.F32[i*c+j]
		}
	}
	return out
}

// qntSaturate rounds-free clamp of an already rounded value.
func qntSaturate(v, lo, hi float64) int64 {
	if v != v {
		return 0
	}
	return int64(min(max(v, lo), hi))
}

// qntNamer hands out value and parameter names unused in the graph.
type qntNamer struct{ used map[string]bool }

func qntNewNamer(g *nn.Graph) *qntNamer {
	nm := &qntNamer{used: map[string]bool{"": true}}
	for name := range g.Params {
		nm.used[name] = true
	}
	for name := range g.Consts {
		nm.used[name] = true
	}
	for _, in := range g.Inputs {
		nm.used[in.Name] = true
	}
	for _, o := range g.Outputs {
		nm.used[o.Name] = true
	}
	for _, n := range g.Nodes {
		nm.used[n.Name] = true
		for _, o := range n.Outputs {
			nm.used[o] = true
		}
	}
	return nm
}

func (nm *qntNamer) value(base string) string {
	name := base
	for i := 1; nm.used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	nm.used[name] = true
	return name
}

// param adds a new parameter (an initializer) and returns its name.
func (nm *qntNamer) param(g *nn.Graph, base string, t *nn.Tensor, doc string) string {
	name := nm.value(base)
	g.AddParam(&nn.Param{Name: name, Value: t, Source: nn.FromInitializer, Doc: doc})
	return name
}

// qntNode builds a default-domain node at the graph's opset.
func qntNode(g *nn.Graph, reg *nn.Registry, name, op string, in, out []string, attrs ...*nn.Attr) (*nn.Node, error) {
	n := &nn.Node{Name: name, OpType: op, Opset: g.Opsets[""], Inputs: in, Outputs: out, Attrs: map[string]*nn.Attr{}}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
		n.AttrOrder = append(n.AttrOrder, a.Name)
	}
	if err := reg.Build(n); err != nil {
		return nil, err
	}
	return n, nil
}
