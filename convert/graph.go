// Package convert rewrites an imported layer graph for serving: batch
// normalization folded into the preceding convolution or Gemm, constant
// values written as initializers, Identity and inference Dropout removed,
// bias additions fused, dead nodes dropped, weights stored as float16. Each
// transform is a pass over an nn.Graph that keeps the names of the graph
// inputs and outputs; Convert runs the selected passes and Verify checks
// the written file against the original graph.
package convert

import (
	"fmt"

	"github.com/graftml/graft/nn"
)

// Stats reports what one pass changed.
type Stats struct {
	// Pass names the transform.
	Pass string `json:"pass"`
	// Changed counts the rewrites (nodes folded, removed or fused, tensors converted).
	Changed int `json:"changed"`
	// Removed counts the parameters and constants dropped because nothing
	// reads them any more.
	Removed int `json:"removed_initializers,omitempty"`
	// Skipped lists candidates left alone, with the reason.
	Skipped []string `json:"skipped,omitempty"`
}

func (s *Stats) skip(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, m := range s.Skipped {
		if m == msg {
			return
		}
	}
	if len(s.Skipped) < 20 {
		s.Skipped = append(s.Skipped, msg)
	}
}

// readers maps each value name to the nodes reading it (every node,
// folded or not).
func readers(g *nn.Graph) map[string][]*nn.Node {
	m := map[string][]*nn.Node{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != "" {
				m[in] = append(m[in], n)
			}
		}
	}
	return m
}

// isOutput reports whether name is a graph output.
func isOutput(g *nn.Graph, name string) bool {
	for _, o := range g.Outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

// isInput reports whether name is a graph input.
func isInput(g *nn.Graph, name string) bool {
	for _, in := range g.Inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

// constant returns the value of a parameter or folded constant, or nil.
func constant(g *nn.Graph, name string) *nn.Tensor {
	if name == "" {
		return nil
	}
	if p := g.Params[name]; p != nil {
		return p.Value
	}
	return g.Consts[name]
}

// uniqueName returns base, or base with a numeric suffix, unused by any
// value of g.
func uniqueName(g *nn.Graph, base string) string {
	used := map[string]bool{}
	for name := range g.Params {
		used[name] = true
	}
	for name := range g.Consts {
		used[name] = true
	}
	for _, in := range g.Inputs {
		used[in.Name] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			used[o] = true
		}
	}
	name := base
	for i := 1; used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	return name
}

// setWeight makes input i of node n read value t: the parameter it reads
// is updated in place when nothing else reads it, otherwise a new
// parameter named after base is added.
func setWeight(g *nn.Graph, rd map[string][]*nn.Node, n *nn.Node, i int, t *nn.Tensor, base string) {
	for len(n.Inputs) <= i {
		n.Inputs = append(n.Inputs, "")
	}
	name := n.Inputs[i]
	if p := g.Params[name]; p != nil && len(rd[name]) == 1 && rd[name][0] == n && !isOutput(g, name) {
		p.Value = t
		return
	}
	newName := uniqueName(g, base)
	g.AddParam(&nn.Param{Name: newName, Value: t, Source: nn.FromInitializer, Doc: "written by graft convert"})
	if name != "" {
		rd[name] = removeNode(rd[name], n)
	}
	rd[newName] = append(rd[newName], n)
	n.Inputs[i] = newName
}

func removeNode(list []*nn.Node, n *nn.Node) []*nn.Node {
	out := list[:0:0]
	for _, m := range list {
		if m != n {
			out = append(out, m)
		}
	}
	return out
}

// dropNodes removes the marked nodes from g.
func dropNodes(g *nn.Graph, gone map[*nn.Node]bool) {
	if len(gone) == 0 {
		return
	}
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if !gone[n] {
			kept = append(kept, n)
		}
	}
	for i := len(kept); i < len(g.Nodes); i++ {
		g.Nodes[i] = nil
	}
	g.Nodes = kept
	g.Invalidate()
}

// dropUnusedParams removes parameters and constants no node reads and no
// graph output names; only those in cands when cands is not nil.
func dropUnusedParams(g *nn.Graph, cands map[string]bool) int {
	used := map[string]bool{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			used[in] = true
		}
	}
	for _, o := range g.Outputs {
		used[o.Name] = true
	}
	removed := 0
	names := g.ParamNames[:0]
	for _, p := range g.ParamNames {
		if used[p] || (cands != nil && !cands[p]) {
			names = append(names, p)
		} else {
			delete(g.Params, p)
			removed++
		}
	}
	g.ParamNames = names
	for name := range g.Consts {
		if !used[name] && (cands == nil || cands[name]) {
			delete(g.Consts, name)
		}
	}
	g.Invalidate()
	return removed
}

func readersOf(g *nn.Graph, name string) []*nn.Node {
	var out []*nn.Node
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in == name {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// renameReads makes every node reading old read new instead.
func renameReads(g *nn.Graph, old, new string) {
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in == old {
				n.Inputs[i] = new
			}
		}
	}
}

// floatData returns a float64 copy of a float tensor's elements.
func floatData(t *nn.Tensor) ([]float64, error) {
	if t == nil {
		return nil, fmt.Errorf("missing tensor")
	}
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("%v is not a float tensor", t)
	}
	out := make([]float64, t.Len())
	for i := range out {
		out[i] = t.Float64At(i)
	}
	return out, nil
}

// fromFloat64 builds a tensor of dtype dt from float64 values.
func fromFloat64(dt nn.DType, shape []int, v []float64) *nn.Tensor {
	t := nn.New(dt, shape...)
	switch dt.Storage() {
	case nn.StoreF64:
		copy(t.F64, v)
	default:
		for i, x := range v {
			t.F32[i] = float32(x)
		}
		t.RoundToDType()
	}
	return t
}
