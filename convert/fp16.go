package convert

import (
	"github.com/graftml/graft/nn"
)

// WeightsToFloat16 stores every float32 parameter as float16 (halving the
// weight bytes) and inserts a Cast back to float32 after each, so the rest
// of the graph still computes in float32. Initializer names are kept; the
// readers read the Cast's output, named after the parameter with "_fp32".
// This is the weight-only form of float16 conversion: activations stay
// float32, so any runtime runs it, and the error is that of rounding the
// weights.
func WeightsToFloat16(g *nn.Graph) (Stats, error) {
	st := Stats{Pass: "fp16"}
	rd := readers(g)
	var casts []*nn.Node
	for _, name := range g.ParamNames {
		p := g.Params[name]
		if p.Value.DType != nn.Float32 || len(rd[name]) == 0 || isOutput(g, name) {
			continue
		}
		// A parameter already read only through Casts (a second run)
		// is left alone.
		if allCasts(rd[name]) {
			continue
		}
		h := p.Value.Clone()
		h.DType = nn.Float16
		h.RoundToDType()
		p.Value = h
		out := uniqueName(g, name+"_fp32")
		cast := &nn.Node{
			Name: uniqueNodeName(g, "graft_cast_"+name), OpType: "Cast", Opset: g.Opsets[""],
			Inputs: []string{name}, Outputs: []string{out},
			Attrs:     map[string]*nn.Attr{"to": {Name: "to", Type: nn.AttrInt, I: int64(nn.Float32)}},
			AttrOrder: []string{"to"},
		}
		if err := nn.Standard().Build(cast); err != nil {
			return st, err
		}
		for _, n := range rd[name] {
			for i, in := range n.Inputs {
				if in == name {
					n.Inputs[i] = out
				}
			}
		}
		casts = append(casts, cast)
		st.Changed++
	}
	g.Nodes = append(casts, g.Nodes...)
	g.Invalidate()
	return st, g.SortNodes()
}

func allCasts(ns []*nn.Node) bool {
	for _, n := range ns {
		if n.OpType != "Cast" || n.AttrInt("to", 0) != int64(nn.Float32) {
			return false
		}
	}
	return true
}

func uniqueNodeName(g *nn.Graph, base string) string {
	used := map[string]bool{}
	for _, n := range g.Nodes {
		used[n.Name] = true
	}
	name := base
	for i := 1; used[name]; i++ {
		name = base + "_" + itoa(i)
	}
	return name
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
