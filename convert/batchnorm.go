package convert

import (
	"fmt"
	"math"

	"github.com/graftml/graft/nn"
)

// FoldBatchNorm folds every inference-mode BatchNormalization into the
// Conv, ConvTranspose or Gemm producing its input, when the batch norm is
// that node's only reader and every weight is a constant. With
// s = γ/√(σ²+ε) per output channel, the weight becomes W·s and the bias
// (b−μ)·s+β (a bias is created when there was none). The batch norm node
// is removed and the producer takes over its output name, so readers and
// graph outputs see the same names. Parameters shared with other nodes are
// copied rather than changed. The arithmetic is done in float64.
func FoldBatchNorm(g *nn.Graph) (Stats, error) {
	st := Stats{Pass: "fold-bn"}
	rd := readers(g)
	prod := g.Producers()
	gone := map[*nn.Node]bool{}
	cands := map[string]bool{}
	for _, bn := range g.Nodes {
		if bn.OpType != "BatchNormalization" || bn.Domain != "" || bn.Folded || gone[bn] {
			continue
		}
		p := prod[bn.Input(0)]
		if p == nil || p.Domain != "" || p.Folded || len(p.Outputs) != 1 {
			st.skip("%s: input is not produced by a Conv, ConvTranspose or Gemm", bn.Label())
			continue
		}
		if p.OpType != "Conv" && p.OpType != "ConvTranspose" && p.OpType != "Gemm" {
			st.skip("%s: input is produced by %s", bn.Label(), p.Label())
			continue
		}
		x := p.Outputs[0]
		if len(rd[x]) != 1 || isOutput(g, x) {
			st.skip("%s: %s has other readers", bn.Label(), p.Label())
			continue
		}
		if why := bnInference(g, rd, bn); why != "" {
			st.skip("%s: %s", bn.Label(), why)
			continue
		}
		for _, in := range append(append([]string{}, bn.Inputs[1:]...), p.Inputs[1:]...) {
			cands[in] = true
		}
		if err := foldInto(g, rd, p, bn); err != nil {
			st.skip("%s: %v", bn.Label(), err)
			continue
		}
		// The producer writes the batch norm's output.
		p.Outputs[0] = bn.Outputs[0]
		delete(rd, x)
		gone[bn] = true
		st.Changed++
	}
	dropNodes(g, gone)
	st.Removed = dropUnusedParams(g, cands)
	return st, nil
}

// bnInference returns why bn is not a foldable inference-mode batch norm,
// or "".
func bnInference(g *nn.Graph, rd map[string][]*nn.Node, bn *nn.Node) string {
	if len(bn.Inputs) != 5 {
		return fmt.Sprintf("%d inputs", len(bn.Inputs))
	}
	if bn.AttrInt("training_mode", 0) != 0 {
		return "training mode"
	}
	if bn.Opset < 7 && bn.AttrInt("is_test", 0) == 0 && bn.HasAttr("is_test") {
		return "is_test=0"
	}
	if bn.Opset < 9 && bn.AttrInt("spatial", 1) != 1 {
		return "spatial=0"
	}
	for _, o := range bn.Outputs[1:] {
		if o != "" && (len(rd[o]) > 0 || isOutput(g, o)) {
			return "its running statistics outputs are read"
		}
	}
	for i := 1; i < 5; i++ {
		t := constant(g, bn.Inputs[i])
		if t == nil || !t.DType.IsFloat() {
			return fmt.Sprintf("input %d (%q) is not a constant float tensor", i, bn.Inputs[i])
		}
	}
	return ""
}

// foldInto rewrites the weights of p so that it computes bn(p(x)).
func foldInto(g *nn.Graph, rd map[string][]*nn.Node, p, bn *nn.Node) error {
	w := constant(g, p.Input(1))
	if w == nil || !w.DType.IsFloat() {
		return fmt.Errorf("%s: weight is not a constant float tensor", p.Label())
	}
	gamma, _ := floatData(constant(g, bn.Inputs[1]))
	beta, _ := floatData(constant(g, bn.Inputs[2]))
	mean, _ := floatData(constant(g, bn.Inputs[3]))
	vr, _ := floatData(constant(g, bn.Inputs[4]))
	eps := float64(bn.AttrFloat("epsilon", 1e-5))
	ch := len(gamma)
	if len(beta) != ch || len(mean) != ch || len(vr) != ch {
		return fmt.Errorf("parameter sizes %d, %d, %d, %d differ", ch, len(beta), len(mean), len(vr))
	}
	s := make([]float64, ch)
	for c := range s {
		s[c] = gamma[c] / math.Sqrt(vr[c]+eps)
	}
	wv, _ := floatData(w)
	var outCh int
	// chanOf maps a flat weight index to its output channel.
	var chanOf func(i int) int
	switch p.OpType {
	case "Conv":
		if len(w.Shape) < 3 {
			return fmt.Errorf("%s: weight shape %v", p.Label(), w.Shape)
		}
		outCh = w.Shape[0]
		per := w.Len() / outCh
		chanOf = func(i int) int { return i / per }
	case "ConvTranspose":
		if len(w.Shape) < 3 {
			return fmt.Errorf("%s: weight shape %v", p.Label(), w.Shape)
		}
		group := int(p.AttrInt("group", 1))
		if group < 1 || w.Shape[0]%group != 0 {
			return fmt.Errorf("%s: group %d", p.Label(), group)
		}
		perOut := w.Shape[1]
		outCh = perOut * group
		inPerGroup := w.Shape[0] / group
		spatial := w.Len() / (w.Shape[0] * w.Shape[1])
		chanOf = func(i int) int {
			c := i / (perOut * spatial)
			j := (i / spatial) % perOut
			return (c/inPerGroup)*perOut + j
		}
	case "Gemm":
		if len(w.Shape) != 2 {
			return fmt.Errorf("%s: weight shape %v", p.Label(), w.Shape)
		}
		if p.AttrInt("transB", 0) != 0 {
			outCh = w.Shape[0]
			chanOf = func(i int) int { return i / w.Shape[1] }
		} else {
			outCh = w.Shape[1]
			chanOf = func(i int) int { return i % w.Shape[1] }
		}
	}
	if outCh != ch {
		return fmt.Errorf("%s has %d output channels, the batch norm %d", p.Label(), outCh, ch)
	}
	// Bias: Conv/ConvTranspose b[M]; Gemm beta·C with C broadcast to [*,N].
	var bias []float64
	biasShape := []int{ch}
	if b := p.Input(2); b != "" {
		bt := constant(g, b)
		if bt == nil || !bt.DType.IsFloat() {
			return fmt.Errorf("%s: bias %q is not a constant float tensor", p.Label(), b)
		}
		bv, _ := floatData(bt)
		switch {
		case p.OpType != "Gemm":
			if len(bv) != ch {
				return fmt.Errorf("%s: bias has %d elements, want %d", p.Label(), len(bv), ch)
			}
			bias = bv
		default:
			var err error
			bias, biasShape, err = gemmBias(p, bt, bv, ch)
			if err != nil {
				return err
			}
		}
	} else {
		bias = make([]float64, ch)
	}
	for i := range wv {
		wv[i] *= s[chanOf(i)]
	}
	for i := range bias {
		c := i % ch
		bias[i] = (bias[i]-mean[c])*s[c] + beta[c]
	}
	setWeight(g, rd, p, 1, fromFloat64(w.DType, w.Shape, wv), p.Input(1)+"_bnfold")
	base := p.Input(1) + "_bias"
	if p.Input(2) != "" {
		base = p.Input(2) + "_bnfold"
	}
	setWeight(g, rd, p, 2, fromFloat64(w.DType, biasShape, bias), base)
	if p.OpType == "Gemm" {
		setGemmBeta(p)
		if err := nn.Standard().Build(p); err != nil {
			return err
		}
	}
	return nil
}

// gemmBias returns beta·C with its shape, for a C of shape [], [1], [N],
// [1,N] or [M,N] (other shapes, such as [M,1], are rejected).
func gemmBias(p *nn.Node, bt *nn.Tensor, bv []float64, n int) ([]float64, []int, error) {
	beta := float64(p.AttrFloat("beta", 1))
	shape := bt.Shape
	var out []float64
	var outShape []int
	switch {
	case len(bv) == 1 && len(shape) <= 2:
		out = make([]float64, n)
		for i := range out {
			out[i] = bv[0]
		}
		outShape = []int{n}
	case len(shape) == 1 && shape[0] == n, len(shape) == 2 && shape[0] == 1 && shape[1] == n:
		out = append([]float64{}, bv...)
		outShape = append([]int{}, shape...)
	case len(shape) == 2 && shape[1] == n:
		out = append([]float64{}, bv...)
		outShape = append([]int{}, shape...)
	default:
		return nil, nil, fmt.Errorf("%s: bias shape %v does not broadcast per output column", p.Label(), shape)
	}
	for i := range out {
		out[i] *= beta
	}
	return out, outShape, nil
}

// setGemmBeta sets a Gemm's beta to 1 (its bias now holds beta·C).
func setGemmBeta(p *nn.Node) {
	if a := p.Attrs["beta"]; a != nil {
		a.F = 1
		return
	}
	if p.Attrs == nil {
		p.Attrs = map[string]*nn.Attr{}
	}
	p.Attrs["beta"] = &nn.Attr{Name: "beta", Type: nn.AttrFloat, F: 1}
	p.AttrOrder = append(p.AttrOrder, "beta")
}
