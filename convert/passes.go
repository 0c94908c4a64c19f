package convert

import (
	"fmt"

	"github.com/graftml/graft/nn"
)

// FoldConstants writes the values graft computed at import (constant
// folding, static shape arithmetic, Constant nodes) as initializers and
// removes the nodes that computed them. Constant nodes holding weights
// become initializers of the same name.
func FoldConstants(g *nn.Graph) (Stats, error) {
	st := Stats{Pass: "fold-constants"}
	needed := map[string]bool{}
	for _, n := range g.Nodes {
		if n.Folded {
			continue
		}
		for _, in := range n.Inputs {
			needed[in] = true
		}
	}
	for _, o := range g.Outputs {
		needed[o.Name] = true
	}
	gone := map[*nn.Node]bool{}
	cands := map[string]bool{}
	for _, n := range g.Nodes {
		if !n.Folded {
			continue
		}
		ok := true
		for _, o := range n.Outputs {
			if o == "" || !needed[o] {
				continue
			}
			if p := g.Params[o]; p != nil {
				continue
			}
			if _, known := g.Consts[o]; !known {
				ok = false
			}
		}
		if !ok {
			st.skip("%s: an output read at run time has no folded value", n.Label())
			continue
		}
		for _, o := range n.Outputs {
			if o == "" || !needed[o] {
				continue
			}
			if p := g.Params[o]; p != nil {
				if p.Source == nn.FromConstantNode {
					p.Source, p.Node = nn.FromInitializer, ""
				}
				continue
			}
			g.AddParam(&nn.Param{Name: o, Value: g.Consts[o], Source: nn.FromInitializer})
			delete(g.Consts, o)
		}
		for _, v := range append(append([]string{}, n.Inputs...), n.Outputs...) {
			cands[v] = true
		}
		gone[n] = true
		st.Changed++
	}
	dropNodes(g, gone)
	st.Removed = dropUnusedParams(g, cands)
	return st, nil
}

// RemoveIdentity removes Identity nodes and inference-mode Dropout nodes
// (no training_mode input other than a constant false, mask output unread):
// their readers read the input instead. When the removed node's output is a
// graph output, the node producing its input is renamed to write it, so
// graph outputs keep their names; a graph input or constant passed straight
// to an output keeps its Identity.
func RemoveIdentity(g *nn.Graph) (Stats, error) {
	st := Stats{Pass: "remove-identity"}
	gone := map[*nn.Node]bool{}
	for {
		rd := readers(g)
		prod := g.Producers()
		changed := false
		for _, n := range g.Nodes {
			if gone[n] || n.Domain != "" || n.Folded || len(n.Outputs) == 0 || n.Input(0) == "" {
				continue
			}
			switch n.OpType {
			case "Identity":
			case "Dropout":
				if why := dropoutActive(g, rd, n); why != "" {
					st.skip("%s: %s", n.Label(), why)
					continue
				}
			default:
				continue
			}
			x, y := n.Inputs[0], n.Outputs[0]
			if !isOutput(g, y) {
				renameReads(g, y, x)
				gone[n] = true
				st.Changed++
				changed = true
				continue
			}
			// y is a graph output: the producer of x must take it over.
			p := prod[x]
			if p == nil || p.Folded || isOutput(g, x) || isInput(g, x) {
				st.skip("%s: passes %q straight to graph output %q", n.Label(), x, y)
				continue
			}
			for i, o := range p.Outputs {
				if o == x {
					p.Outputs[i] = y
				}
			}
			renameReads(g, x, y)
			gone[n] = true
			st.Changed++
			changed = true
		}
		if !changed {
			break
		}
		dropNodes(g, gone)
	}
	dropNodes(g, gone)
	return st, nil
}

// dropoutActive returns why a Dropout node may drop at inference, or "".
func dropoutActive(g *nn.Graph, rd map[string][]*nn.Node, n *nn.Node) string {
	if len(n.Outputs) > 1 && n.Outputs[1] != "" && (len(rd[n.Outputs[1]]) > 0 || isOutput(g, n.Outputs[1])) {
		return "its mask is read"
	}
	if n.Opset < 7 && n.HasAttr("is_test") && n.AttrInt("is_test", 0) == 0 {
		return "is_test=0"
	}
	if tm := n.Input(2); tm != "" {
		t := constant(g, tm)
		if t == nil || t.Len() != 1 || t.DType != nn.Bool || t.Bool[0] {
			return "training_mode is not a constant false"
		}
	}
	return ""
}

// EliminateDead removes nodes whose outputs no graph output depends on,
// and parameters and constants nothing reads.
func EliminateDead(g *nn.Graph) (Stats, error) {
	st := Stats{Pass: "eliminate-dead"}
	needed := map[string]bool{}
	for _, o := range g.Outputs {
		needed[o.Name] = true
	}
	live := make([]bool, len(g.Nodes))
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		for _, o := range n.Outputs {
			if o != "" && needed[o] {
				live[i] = true
			}
		}
		if live[i] {
			for _, in := range n.Inputs {
				needed[in] = true
			}
		}
	}
	gone := map[*nn.Node]bool{}
	for i, n := range g.Nodes {
		if !live[i] {
			gone[n] = true
			st.Changed++
		}
	}
	dropNodes(g, gone)
	st.Removed = dropUnusedParams(g, nil)
	return st, nil
}

// FuseBias folds an Add of a constant per-channel vector (or scalar) into
// the bias of the Conv, ConvTranspose or Gemm it follows, when the Add is
// that node's only reader. The Add node is removed; the producer takes over
// its output name.
func FuseBias(g *nn.Graph) (Stats, error) {
	st := Stats{Pass: "fuse-bias"}
	cands := map[string]bool{}
	rd := readers(g)
	prod := g.Producers()
	gone := map[*nn.Node]bool{}
	for _, add := range g.Nodes {
		if add.OpType != "Add" || add.Domain != "" || add.Folded || len(add.Inputs) != 2 || add.Opset < 7 {
			continue
		}
		var p *nn.Node
		var c *nn.Tensor
		for i := 0; i < 2; i++ {
			q := prod[add.Inputs[i]]
			if q == nil || q.Folded || q.Domain != "" || len(q.Outputs) != 1 {
				continue
			}
			if q.OpType != "Conv" && q.OpType != "ConvTranspose" && q.OpType != "Gemm" {
				continue
			}
			if k := constant(g, add.Inputs[1-i]); k != nil {
				p, c = q, k
			}
		}
		if p == nil {
			continue
		}
		x := p.Outputs[0]
		if len(rd[x]) != 1 || isOutput(g, x) {
			st.skip("%s: %s has other readers", add.Label(), p.Label())
			continue
		}
		cands[add.Inputs[0]], cands[add.Inputs[1]], cands[p.Input(2)] = true, true, true
		if err := fuseAdd(g, rd, p, c); err != nil {
			st.skip("%s: %v", add.Label(), err)
			continue
		}
		p.Outputs[0] = add.Outputs[0]
		delete(rd, x)
		gone[add] = true
		st.Changed++
	}
	dropNodes(g, gone)
	st.Removed = dropUnusedParams(g, cands)
	return st, nil
}

// fuseAdd adds the constant c (broadcast over p's output) to p's bias.
func fuseAdd(g *nn.Graph, rd map[string][]*nn.Node, p *nn.Node, c *nn.Tensor) error {
	w := constant(g, p.Input(1))
	if w == nil || !w.DType.IsFloat() || c.DType != w.DType {
		return fmt.Errorf("weight and addend are not constants of one float type")
	}
	var ch, rank int
	switch p.OpType {
	case "Conv":
		ch, rank = w.Shape[0], len(w.Shape)
	case "ConvTranspose":
		ch, rank = w.Shape[1]*int(p.AttrInt("group", 1)), len(w.Shape)
	case "Gemm":
		if len(w.Shape) != 2 {
			return fmt.Errorf("weight shape %v", w.Shape)
		}
		ch, rank = w.Shape[1], 2
		if p.AttrInt("transB", 0) != 0 {
			ch = w.Shape[0]
		}
	}
	// The addend must broadcast to [1, ch, 1, ...] (or a scalar) within the
	// output rank: one value per output channel.
	cv, _ := floatData(c)
	if len(c.Shape) > rank {
		return fmt.Errorf("addend shape %v has a higher rank than the output", c.Shape)
	}
	per := make([]float64, ch)
	switch {
	case len(cv) == 1:
		for i := range per {
			per[i] = cv[0]
		}
	default:
		// Broadcasting aligns the shapes on the right: output axis 1 (the
		// channels) is axis ax of the addend.
		ax := 1 - (rank - len(c.Shape))
		if ax < 0 || c.Shape[ax] != ch || len(cv) != ch {
			return fmt.Errorf("addend shape %v is not one value per output channel", c.Shape)
		}
		copy(per, cv)
	}
	var bias []float64
	biasShape := []int{ch}
	if b := p.Input(2); b != "" {
		bt := constant(g, b)
		if bt == nil || !bt.DType.IsFloat() {
			return fmt.Errorf("bias %q is not a constant float tensor", b)
		}
		bv, _ := floatData(bt)
		if p.OpType == "Gemm" {
			var err error
			if bias, biasShape, err = gemmBias(p, bt, bv, ch); err != nil {
				return err
			}
		} else {
			bias = bv
		}
	} else {
		bias = make([]float64, ch)
	}
	for i := range bias {
		bias[i] += per[i%ch]
	}
	base := p.Input(1) + "_bias"
	if p.Input(2) != "" {
		base = p.Input(2) + "_fused"
	}
	setWeight(g, rd, p, 2, fromFloat64(w.DType, biasShape, bias), base)
	if p.OpType == "Gemm" {
		setGemmBeta(p)
		return nn.Standard().Build(p)
	}
	return nil
}
