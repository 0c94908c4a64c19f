package convert

import (
	"fmt"

	"github.com/graftml/graft/nn"
)

// fp32Inputs lists, per op type, the inputs that must stay float32 in a
// float16 graph (ONNX types them tensor(float), or precision matters).
var fp32Inputs = map[string][]int{
	"Resize":   {1, 2},
	"Upsample": {1},
}

// fp16Blocked are op types left computing in float32 inside a float16
// graph (their float inputs are cast to float32 and their float outputs
// back to float16): ops of other domains, and ops whose output type is an
// attribute or whose inputs describe ranges.
func fp16Blocked(n *nn.Node) bool {
	if n.Domain != "" {
		return true
	}
	switch n.OpType {
	case "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "EyeLike", "Multinomial", "Range":
		return true
	}
	return false
}

// ToFloat16 converts the whole graph to float16: every float32 parameter,
// constant and intermediate value becomes float16, Cast and
// ConstantOfShape nodes follow. Unless io is set, Cast nodes at the graph
// inputs and outputs keep them float32 (inputs and outputs keep their
// names; the float16 copies are named with "_fp16"). With io, the declared
// inputs and outputs become float16. Constant folding (FoldConstants) runs
// first, so no float32 constant node is left. Value types are found by
// running the graph once on seeded random inputs.
func ToFloat16(g *nn.Graph, io bool) (Stats, error) {
	st := Stats{Pass: "fp16"}
	if _, err := FoldConstants(g); err != nil {
		return st, err
	}
	// Types of every value.
	types := map[string]nn.DType{}
	for name, p := range g.Params {
		types[name] = p.Value.DType
	}
	for name, t := range g.Consts {
		types[name] = t.DType
	}
	for _, in := range g.Inputs {
		types[in.Name] = in.DType
	}
	feed, err := RandomInputs(g, 2, 1)
	if err != nil {
		return st, fmt.Errorf("probing value types: %w", err)
	}
	ctx := nn.NewContext(nil)
	ctx.Observe = func(n *nn.Node, _, out []*nn.Tensor) {
		for j, o := range n.Outputs {
			if o != "" && j < len(out) && out[j] != nil {
				types[o] = out[j].DType
			}
		}
	}
	if _, err := g.Run(ctx, feed); err != nil {
		return st, fmt.Errorf("probing value types: %w", err)
	}
	// Outputs already cast back to float32 from float16 (a second run)
	// stay as they are.
	boundary := map[string]bool{}
	for _, n := range g.Nodes {
		if n.OpType == "Cast" && len(n.Outputs) == 1 && isOutput(g, n.Outputs[0]) &&
			n.AttrInt("to", 0) == int64(nn.Float32) && types[n.Input(0)] == nn.Float16 {
			boundary[n.Outputs[0]] = true
		}
	}
	isF32 := func(name string) bool { return name != "" && types[name] == nn.Float32 && !boundary[name] }
	slot32 := func(n *nn.Node, i int) bool {
		if fp16Blocked(n) {
			return true
		}
		for _, k := range fp32Inputs[n.OpType] {
			if k == i {
				return true
			}
		}
		return false
	}
	// Parameters and constants: converted when some reader takes float16.
	conv := map[string]bool{}
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if isF32(in) && !slot32(n, i) {
				conv[in] = true
			}
		}
	}
	for _, o := range g.Outputs {
		if isF32(o.Name) && (g.Params[o.Name] != nil || g.Consts[o.Name] != nil) {
			conv[o.Name] = false
		}
	}
	half := func(t *nn.Tensor) *nn.Tensor {
		h := t.Clone()
		h.DType = nn.Float16
		h.RoundToDType()
		return h
	}
	for name, ok := range conv {
		if !ok {
			continue
		}
		if p := g.Params[name]; p != nil {
			p.Value = half(p.Value)
			st.Changed++
		} else if c := g.Consts[name]; c != nil {
			g.Consts[name] = half(c)
			st.Changed++
		}
	}
	// Every float32 value is float16 from now on, except parameters and
	// constants only read as float32.
	f16 := func(name string) bool {
		if !isF32(name) {
			return false
		}
		if g.Params[name] != nil || g.Consts[name] != nil {
			return conv[name]
		}
		return true
	}
	reg := nn.Standard()
	var added []*nn.Node
	castNode := func(in, out string, to nn.DType) *nn.Node {
		c := &nn.Node{
			Name: uniqueNodeName(g, "graft_cast_"+out), OpType: "Cast", Opset: g.Opsets[""],
			Inputs: []string{in}, Outputs: []string{out},
			Attrs:     map[string]*nn.Attr{"to": {Name: "to", Type: nn.AttrInt, I: int64(to)}},
			AttrOrder: []string{"to"},
		}
		added = append(added, c)
		g.Nodes = append(g.Nodes, c) // keeps uniqueNodeName aware of it
		return c
	}
	nodes := append([]*nn.Node{}, g.Nodes...)
	cast32 := map[string]string{}
	for _, n := range nodes {
		blocked := fp16Blocked(n)
		for i, in := range n.Inputs {
			if f16(in) && slot32(n, i) {
				c, ok := cast32[in]
				if !ok {
					c = uniqueName(g, in+"_fp32")
					castNode(in, c, nn.Float32)
					cast32[in] = c
				}
				n.Inputs[i] = c
			}
		}
		if blocked {
			for j, o := range n.Outputs {
				if f16(o) {
					tmp := uniqueName(g, o+"_fp32")
					n.Outputs[j] = tmp
					castNode(tmp, o, nn.Float16)
				}
			}
			continue
		}
		switch n.OpType {
		case "Cast":
			if len(n.Outputs) == 1 && f16(n.Outputs[0]) {
				n.Attrs["to"].I = int64(nn.Float16)
				if err := reg.Build(n); err != nil {
					return st, err
				}
			}
		case "ConstantOfShape":
			if len(n.Outputs) == 1 && f16(n.Outputs[0]) {
				v := nn.New(nn.Float16, 1)
				if a := n.Attrs["value"]; a != nil && a.T != nil {
					v = half(a.T)
				} else {
					n.Attrs["value"] = &nn.Attr{Name: "value", Type: nn.AttrTensor}
					n.AttrOrder = append(n.AttrOrder, "value")
				}
				n.Attrs["value"].T = v
				if err := reg.Build(n); err != nil {
					return st, err
				}
			}
		}
	}
	// Graph inputs and outputs.
	for i := range g.Inputs {
		in := &g.Inputs[i]
		if in.DType != nn.Float32 {
			continue
		}
		if io {
			in.DType = nn.Float16
			continue
		}
		if rd := readersOf(g, in.Name); len(rd) > 0 && allCastsTo(rd, nn.Float16) {
			continue
		}
		h := uniqueName(g, in.Name+"_fp16")
		renameReads(g, in.Name, h)
		castNode(in.Name, h, nn.Float16)
	}
	prod := g.Producers()
	for i := range g.Outputs {
		o := &g.Outputs[i]
		if !f16(o.Name) {
			continue
		}
		if io {
			o.DType = nn.Float16
			continue
		}
		p := prod[o.Name]
		if p == nil {
			continue // a graph input passed through
		}
		h := uniqueName(g, o.Name+"_fp16")
		for j, out := range p.Outputs {
			if out == o.Name {
				p.Outputs[j] = h
			}
		}
		renameReads(g, o.Name, h)
		castNode(h, o.Name, nn.Float32)
	}
	for _, c := range added {
		if err := reg.Build(c); err != nil {
			return st, err
		}
	}
	g.Invalidate()
	return st, g.SortNodes()
}

func allCastsTo(ns []*nn.Node, dt nn.DType) bool {
	for _, n := range ns {
		if n.OpType != "Cast" || n.AttrInt("to", 0) != int64(dt) {
			return false
		}
	}
	return true
}
