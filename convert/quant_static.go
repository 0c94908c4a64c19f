package convert

import (
	"fmt"
	"math"
	"math/rand"
	"sort"

	"github.com/graftml/graft/nn"
)

// Dataset is the calibration data of QuantizeStatic: samples without the
// batch dimension (finetune/data datasets satisfy it).
type Dataset interface {
	Len() int
	Get(i int) (x *nn.Tensor, label int, err error)
}

// StaticOptions configure QuantizeStatic.
type StaticOptions struct {
	// Samples is the number of calibration samples (default 512; all of
	// the dataset when it is smaller), drawn in a seeded random order.
	Samples int
	// BatchSize is the calibration batch size (default 64).
	BatchSize int
	// Seed seeds the choice of samples (default 1).
	Seed int64
	// PerTensorWeights stores one scale per weight instead of one per
	// output channel (and works from opset 10).
	PerTensorWeights bool
}

// qntTransparent lists ops whose output takes the quantization
// parameters of their input (they only move or select values), so a
// runtime can run them on the quantized data.
var qntTransparent = map[string]bool{
	"MaxPool": true, "Flatten": true, "Reshape": true, "Transpose": true, "Squeeze": true, "Unsqueeze": true,
}

// qntParams are the uint8 quantization parameters of one activation.
type qntParams struct {
	min, max float32
	seen     bool
	scale    float32
	zero     int64
	// names of the scale and zero point initializers once written.
	sName, zName string
}

// QuantizeStatic inserts QuantizeLinear→DequantizeLinear pairs for static
// int8 inference (the QDQ form onnxruntime fuses into integer kernels):
// the weights of Conv, Gemm and MatMul are stored as int8 (symmetric, per
// output channel) behind a DequantizeLinear, their biases as int32 with the
// product of the input and weight scales; the activations they read and
// write (after a following Relu, which the quantization then clamps) are
// quantized to uint8 with an asymmetric range calibrated by running the
// graph on calib; pooling and reshaping ops between them share their
// input's parameters. Fold batch normalization first (FoldBatchNorm) so
// that Conv–Relu pairs are adjacent.
func QuantizeStatic(g *nn.Graph, calib Dataset, o StaticOptions) (Stats, error) {
	st := Stats{Pass: "int8-static"}
	if o.Samples <= 0 {
		o.Samples = 512
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 64
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	opset := g.Opsets[""]
	if opset < 13 && !o.PerTensorWeights {
		return st, fmt.Errorf("opset %d: per-channel QuantizeLinear/DequantizeLinear need opset 13 (per-tensor weights need 10)", opset)
	}
	if opset < 10 {
		return st, fmt.Errorf("opset %d: QuantizeLinear/DequantizeLinear need opset 10", opset)
	}
	if len(g.Inputs) != 1 {
		return st, fmt.Errorf("calibration needs a model with one input, this one has %d", len(g.Inputs))
	}
	if calib == nil || calib.Len() == 0 {
		return st, fmt.Errorf("no calibration data")
	}
	rd := readers(g)
	prod := g.Producers()
	// The quantized nodes and the activations to quantize.
	var qnodes []*nn.Node
	var qins []string // the activation each reads, before renaming
	var acts []string
	want := map[string]bool{}
	addAct := func(v string) {
		if v != "" && !want[v] && !isOutput(g, v) && constant(g, v) == nil {
			want[v] = true
			acts = append(acts, v)
		}
	}
	for _, n := range g.Nodes {
		if !qntStaticCandidate(g, n, &st) {
			continue
		}
		qnodes = append(qnodes, n)
		qins = append(qins, n.Inputs[0])
		addAct(n.Inputs[0])
		out := n.Outputs[0]
		if r := rd[out]; len(r) == 1 && r[0].OpType == "Relu" && r[0].Domain == "" && !isOutput(g, out) {
			out = r[0].Outputs[0]
		}
		addAct(out)
	}
	if len(qnodes) == 0 {
		st.skip("no Conv, Gemm or MatMul with constant float32 weights")
		return st, nil
	}
	// Values produced by a transparent op from a quantized value share its
	// parameters.
	share := map[string]string{}
	for _, v := range acts {
		p := prod[v]
		if p != nil && qntTransparent[p.OpType] && p.Domain == "" && want[p.Input(0)] {
			share[v] = p.Input(0)
		}
	}
	root := func(v string) string {
		for share[v] != "" {
			v = share[v]
		}
		return v
	}
	params := map[string]*qntParams{}
	for _, v := range acts {
		if r := root(v); params[r] == nil {
			params[r] = &qntParams{}
		}
	}
	if err := qntCalibrate(g, calib, o, params); err != nil {
		return st, err
	}
	reg := nn.Standard()
	nm := qntNewNamer(g)
	var added []*nn.Node
	// Activation pairs.
	for _, v := range acts {
		p := params[root(v)]
		if !p.seen {
			return st, fmt.Errorf("value %q was not computed during calibration", v)
		}
		if p.sName == "" {
			p.scale, p.zero = qntUint8Params(p.min, p.max)
			p.sName = nm.param(g, root(v)+"_scale", &nn.Tensor{DType: nn.Float32, Shape: []int{}, F32: []float32{p.scale}}, "activation scale written by graft convert --int8-static")
			p.zName = nm.param(g, root(v)+"_zero_point", &nn.Tensor{DType: nn.Uint8, Shape: []int{}, I64: []int64{p.zero}}, "activation zero point written by graft convert --int8-static")
		}
		vq, vdq := nm.value(v+"_QuantizeLinear"), nm.value(v+"_DequantizeLinear")
		q, err := qntNode(g, reg, nm.value(v+"_QuantizeLinear"), "QuantizeLinear", []string{v, p.sName, p.zName}, []string{vq})
		if err != nil {
			return st, err
		}
		dq, err := qntNode(g, reg, nm.value(v+"_DequantizeLinear"), "DequantizeLinear", []string{vq, p.sName, p.zName}, []string{vdq})
		if err != nil {
			return st, err
		}
		renameReads(g, v, vdq)
		added = append(added, q, dq)
	}
	// Weights and biases.
	old := map[string]bool{}
	for i, n := range qnodes {
		xp := params[root(qins[i])]
		if xp == nil || !want[qins[i]] {
			st.skip("%s: input %q is not quantized", n.Label(), qins[i])
			continue
		}
		nodes, err := qntStaticWeights(g, reg, nm, n, xp.scale, o.PerTensorWeights, old)
		if err != nil {
			return st, fmt.Errorf("%s: %w", n.Label(), err)
		}
		added = append(added, nodes...)
		st.Changed++
	}
	g.Nodes = append(g.Nodes, added...)
	g.Invalidate()
	st.Removed = dropUnusedParams(g, old)
	return st, g.SortNodes()
}

// qntStaticCandidate reports whether n gets int8 weights.
func qntStaticCandidate(g *nn.Graph, n *nn.Node, st *Stats) bool {
	if n.Domain != "" || n.Folded {
		return false
	}
	switch n.OpType {
	case "Conv", "Gemm", "MatMul":
	default:
		return false
	}
	w := qntConstWeight(g, n.Input(1))
	if w == nil || w.DType != nn.Float32 {
		st.skip("%s: the weight %q is not a float32 constant", n.Label(), n.Input(1))
		return false
	}
	switch n.OpType {
	case "Conv":
		return w.Rank() >= 3
	case "MatMul":
		return w.Rank() == 2
	}
	if n.AttrInt("transA", 0) != 0 || w.Rank() != 2 {
		st.skip("%s: transA=1", n.Label())
		return false
	}
	if c := n.Input(2); c != "" {
		if b := constant(g, c); b == nil || b.DType != nn.Float32 || b.Rank() > 1 {
			st.skip("%s: bias %q is not a constant float32 vector", n.Label(), c)
			return false
		}
	}
	return true
}

// qntUint8Params returns the scale and zero point of an asymmetric uint8
// quantization of [lo, hi] widened to include 0.
func qntUint8Params(lo, hi float32) (float32, int64) {
	lo, hi = min(lo, 0), max(hi, 0)
	scale := (hi - lo) / 255
	if scale == 0 {
		return 1, 0
	}
	z := math.RoundToEven(float64(-lo / scale))
	return scale, int64(min(max(z, 0), 255))
}

// qntCalibrate runs g over the calibration samples and records the range
// of every value in params.
func qntCalibrate(g *nn.Graph, calib Dataset, o StaticOptions, params map[string]*qntParams) error {
	idx := rand.New(rand.NewSource(o.Seed)).Perm(calib.Len())
	if len(idx) > o.Samples {
		idx = idx[:o.Samples]
	}
	sort.Ints(idx)
	record := func(name string, t *nn.Tensor) {
		p := params[name]
		if p == nil || t == nil || t.DType != nn.Float32 {
			return
		}
		for _, v := range t.F32 {
			if !p.seen {
				p.min, p.max, p.seen = v, v, true
			}
			if v < p.min {
				p.min = v
			}
			if v > p.max {
				p.max = v
			}
		}
	}
	ctx := nn.NewContext(nil)
	ctx.Observe = func(n *nn.Node, _, out []*nn.Tensor) {
		for i, name := range n.Outputs {
			if i < len(out) {
				record(name, out[i])
			}
		}
	}
	in := g.Inputs[0].Name
	for lo := 0; lo < len(idx); lo += o.BatchSize {
		x, err := StackSamples(calib, idx[lo:min(lo+o.BatchSize, len(idx))])
		if err != nil {
			return fmt.Errorf("calibration data: %w", err)
		}
		record(in, x)
		if _, err := g.Run(ctx, map[string]*nn.Tensor{in: x}); err != nil {
			return fmt.Errorf("calibration run: %w", err)
		}
	}
	return nil
}

// StackSamples stacks the inputs of the given samples into one batch.
func StackSamples(ds Dataset, idx []int) (*nn.Tensor, error) {
	var out *nn.Tensor
	for b, i := range idx {
		x, _, err := ds.Get(i)
		if err != nil {
			return nil, err
		}
		if x.DType.Storage() != nn.StoreF32 {
			return nil, fmt.Errorf("sample %d is %v, want float32", i, x)
		}
		if out == nil {
			out = nn.New(x.DType, append([]int{len(idx)}, x.Shape...)...)
		}
		if x.Len()*len(idx) != out.Len() {
			return nil, fmt.Errorf("sample %d is %v, others %v", i, x, out)
		}
		copy(out.F32[b*x.Len():], x.F32)
	}
	if out == nil {
		return nil, fmt.Errorf("no samples")
	}
	return out, nil
}

// qntStaticWeights stores n's weight (and bias) quantized behind
// DequantizeLinear nodes, which it returns. xScale is the scale of n's
// input activation.
func qntStaticWeights(g *nn.Graph, reg *nn.Registry, nm *qntNamer, n *nn.Node, xScale float32, perTensor bool, old map[string]bool) ([]*nn.Node, error) {
	w := qntConstWeight(g, n.Inputs[1])
	axis := 0
	var bias *nn.Tensor
	alpha, beta := float32(1), float32(1)
	switch n.OpType {
	case "Conv":
		bias = constant(g, n.Input(2))
	case "MatMul":
		axis = 1
	case "Gemm":
		if n.AttrInt("transB", 0) == 0 {
			axis = 1
		}
		alpha, beta = n.AttrFloat("alpha", 1), n.AttrFloat("beta", 1)
		if beta != 0 {
			bias = constant(g, n.Input(2))
		}
	}
	if bias != nil && bias.Rank() == 0 {
		bias = nil // a broadcast scalar bias stays as it is
	}
	channels := w.Shape[axis]
	inner := nn.NumElements(w.Shape[axis+1:])
	if bias != nil && bias.Len() != channels {
		bias = nil
	}
	nsc := channels
	if perTensor {
		nsc = 1
	}
	ch := func(i int) int {
		if perTensor {
			return 0
		}
		return (i / inner) % channels
	}
	amax := make([]float32, nsc)
	for i, v := range w.F32 {
		amax[ch(i)] = max(amax[ch(i)], float32(math.Abs(float64(v*alpha))))
	}
	scale := make([]float32, nsc)
	for c, a := range amax {
		scale[c] = a / 127
		if a == 0 {
			scale[c] = 1
		}
	}
	q := nn.New(nn.Int8, w.Shape...)
	for i, v := range w.F32 {
		q.I64[i] = qntSaturate(math.RoundToEven(float64(v*alpha/scale[ch(i)])), -127, 127)
	}
	base := n.Name
	if base == "" {
		base = n.Outputs[0]
	}
	shape := []int{}
	if !perTensor {
		shape = []int{nsc}
	}
	doc := "written by graft convert --int8-static"
	wq := nm.param(g, n.Inputs[1]+"_quantized", q, "int8 weight "+doc)
	ws := nm.param(g, n.Inputs[1]+"_scale", &nn.Tensor{DType: nn.Float32, Shape: shape, F32: scale}, "weight scale "+doc)
	wz := nm.param(g, n.Inputs[1]+"_zero_point", nn.New(nn.Int8, shape...), "weight zero point "+doc)
	wdq := nm.value(n.Inputs[1] + "_DequantizeLinear")
	var attrs []*nn.Attr
	if !perTensor {
		attrs = append(attrs, &nn.Attr{Name: "axis", Type: nn.AttrInt, I: int64(axis)})
	}
	d, err := qntNode(g, reg, nm.value(base+"_W_DequantizeLinear"), "DequantizeLinear", []string{wq, ws, wz}, []string{wdq}, attrs...)
	if err != nil {
		return nil, err
	}
	nodes := []*nn.Node{d}
	old[n.Inputs[1]] = true
	n.Inputs[1] = wdq
	if bias != nil {
		bs := make([]float32, channels)
		bq := nn.New(nn.Int32, channels)
		for c := range bs {
			bs[c] = xScale * scale[ch(c*inner)]
			if bs[c] == 0 {
				bs[c] = 1
			}
			bq.I64[c] = qntSaturate(math.RoundToEven(float64(bias.F32[c]*beta/bs[c])), math.MinInt32, math.MaxInt32)
		}
		bqn := nm.param(g, n.Inputs[2]+"_quantized", bq, "int32 bias "+doc)
		bsn := nm.param(g, n.Inputs[2]+"_scale", nn.FromFloat32(bs, channels), "bias scale "+doc)
		bdq := nm.value(n.Inputs[2] + "_DequantizeLinear")
		d, err := qntNode(g, reg, nm.value(base+"_B_DequantizeLinear"), "DequantizeLinear", []string{bqn, bsn}, []string{bdq},
			&nn.Attr{Name: "axis", Type: nn.AttrInt, I: 0})
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, d)
		old[n.Inputs[2]] = true
		n.Inputs[2] = bdq
	}
	if n.OpType == "Gemm" && (alpha != 1 || (beta != 1 && bias != nil)) {
		if a := n.Attrs["alpha"]; a != nil {
			a.F = 1
		}
		if a := n.Attrs["beta"]; a != nil && bias != nil {
			a.F = 1
		}
		if err := reg.Build(n); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}
