package finetune

import (
	"fmt"
	"math"
	"math/rand"
	"strings"

	"github.com/graftml/graft/nn"
)

// Head describes the classifier of a model: the node that produces the
// class scores, its parameters, and the value the loss reads.
type Head struct {
	// Node is the classifier node (Gemm, MatMul, or a 1×1 Conv).
	Node *nn.Node
	// Weight and Bias name its parameters (Bias may be empty).
	Weight, Bias string
	// Logits names the value the loss is computed on: the classifier's
	// output before a trailing Softmax/LogSoftmax, if the model has one.
	Logits string
	// Output is the graph output the head feeds.
	Output string
	// Softmax is set when the graph output passes through Softmax or
	// LogSoftmax after the logits (kept in the model; the loss uses Logits).
	Softmax bool
	// Classes is the number of outputs.
	Classes int
}

// passThrough ops may sit between the classifier and the output.
var passThrough = map[string]bool{
	"Flatten": true, "Reshape": true, "Squeeze": true, "Identity": true, "Dropout": true,
	"Relu": true, "GlobalAveragePool": true, "AveragePool": true, "ReduceMean": true,
}

// FindHead locates the final classifier that produces the first graph
// output: the last Gemm, MatMul(+Add), or 1×1 Conv followed by global
// pooling (SqueezeNet style), walking back through Softmax, Flatten,
// Reshape and similar shape-only ops.
func FindHead(g *nn.Graph) (*Head, error) {
	if len(g.Outputs) == 0 {
		return nil, fmt.Errorf("model has no outputs")
	}
	prod := g.Producers()
	h := &Head{Output: g.Outputs[0].Name}
	cur := h.Output
	var addBias *nn.Node
	for steps := 0; steps < 16; steps++ {
		n := prod[cur]
		if n == nil {
			break
		}
		switch n.OpType {
		case "Softmax", "LogSoftmax":
			h.Softmax = true
			h.Logits = n.Input(0)
			cur = n.Input(0)
			continue
		case "Gemm":
			if g.Params[n.Input(1)] == nil {
				return nil, fmt.Errorf("classifier %s: its weight is not a parameter", n.Label())
			}
			h.Node, h.Weight = n, n.Input(1)
			if b := n.Input(2); b != "" && g.Params[b] != nil {
				h.Bias = b
			}
			w := g.Params[h.Weight].Value
			if n.AttrInt("transB", 0) != 0 {
				h.Classes = w.Shape[0]
			} else {
				h.Classes = w.Shape[len(w.Shape)-1]
			}
		case "Add":
			// MatMul + bias.
			for i := 0; i < 2; i++ {
				if m := prod[n.Input(i)]; m != nil && m.OpType == "MatMul" && g.Params[n.Input(1-i)] != nil {
					addBias, h.Bias = n, n.Input(1-i)
					cur = n.Input(i)
				}
			}
			if addBias == nil {
				return nil, fmt.Errorf("no classifier found: %s is not a bias addition", n.Label())
			}
			continue
		case "MatMul":
			h.Node = n
			w := n.Input(1)
			if g.Params[w] == nil {
				// mnist-8 style: the weight is a Reshape of a parameter.
				if r := prod[w]; r != nil && r.OpType == "Reshape" && g.Params[r.Input(0)] != nil {
					w = r.Input(0)
				} else {
					return nil, fmt.Errorf("classifier %s: its weight is not a parameter", n.Label())
				}
			}
			h.Weight = w
			h.Classes = g.Params[w].Value.Shape[len(g.Params[w].Value.Shape)-1]
			if r := prod[n.Input(1)]; r != nil && r.OpType == "Reshape" && n.Input(1) != w {
				if s, ok := g.Consts[r.Input(1)]; ok && s.Len() > 0 {
					h.Classes = int(s.Int64At(s.Len() - 1))
				}
			}
		case "Conv":
			w := g.Params[n.Input(1)]
			if w == nil || len(w.Value.Shape) != 4 || w.Value.Shape[2] != 1 || w.Value.Shape[3] != 1 {
				return nil, fmt.Errorf("no classifier found: %s is not a 1×1 convolution", n.Label())
			}
			h.Node, h.Weight, h.Classes = n, n.Input(1), w.Value.Shape[0]
			if b := n.Input(2); b != "" && g.Params[b] != nil {
				h.Bias = b
			}
		default:
			if passThrough[n.OpType] {
				cur = n.Input(0)
				continue
			}
			return nil, fmt.Errorf("no classifier found before the output: reached %s", n.Label())
		}
		break
	}
	if h.Node == nil {
		return nil, fmt.Errorf("no classifier (Gemm, MatMul or 1×1 Conv) found before output %q", h.Output)
	}
	if h.Logits == "" {
		h.Logits = h.Output
	}
	return h, nil
}

// ReplaceHead swaps the classifier for a freshly initialized one with
// numClasses outputs, named "graft_head.weight" and "graft_head.bias".
// Weights follow PyTorch's default for Linear/Conv layers (Kaiming uniform
// with a=√5, i.e. U(-1/√fan_in, 1/√fan_in), bias likewise), seeded. The
// old parameters are removed when nothing else reads them; the declared
// output shape is updated.
func ReplaceHead(g *nn.Graph, h *Head, numClasses int, seed int64) error {
	if numClasses < 1 {
		return fmt.Errorf("number of classes must be >= 1, got %d", numClasses)
	}
	rng := rand.New(rand.NewSource(seed))
	old := g.Params[h.Weight].Value
	n := h.Node
	var shape []int
	var fanIn int
	switch n.OpType {
	case "Gemm":
		if n.AttrInt("transB", 0) != 0 {
			fanIn = old.Shape[1]
			shape = []int{numClasses, fanIn}
		} else {
			fanIn = old.Shape[0]
			shape = []int{fanIn, numClasses}
		}
	case "MatMul":
		fanIn = old.Len() / h.Classes
		shape = []int{fanIn, numClasses}
	case "Conv":
		fanIn = old.Len() / old.Shape[0]
		shape = []int{numClasses, old.Shape[1], 1, 1}
	}
	bound := 1 / math.Sqrt(float64(fanIn))
	w := nn.New(nn.Float32, shape...)
	for i := range w.F32 {
		w.F32[i] = float32((rng.Float64()*2 - 1) * bound)
	}
	const wName, bName = "graft_head.weight", "graft_head.bias"
	oldW, oldB := h.Weight, h.Bias
	g.AddParam(&nn.Param{Name: wName, Value: w, Doc: "classifier replaced by graft"})
	// Point the classifier (or, for mnist-8, the MatMul reading a reshaped
	// weight) at the new parameter.
	n.Inputs[1] = wName
	h.Weight = wName
	if oldB != "" {
		ob := g.Params[oldB].Value
		bshape := []int{numClasses}
		if len(ob.Shape) == 2 { // e.g. mnist-8's [1,10] bias
			bshape = []int{1, numClasses}
		}
		b := nn.New(nn.Float32, bshape...)
		for i := range b.F32 {
			b.F32[i] = float32((rng.Float64()*2 - 1) * bound)
		}
		g.AddParam(&nn.Param{Name: bName, Value: b, Doc: "classifier replaced by graft"})
		for _, node := range g.Nodes {
			for i, in := range node.Inputs {
				if in == oldB && (node == n || node.OpType == "Add") {
					node.Inputs[i] = bName
				}
			}
		}
		h.Bias = bName
	}
	h.Classes = numClasses
	removeUnused(g, oldW, oldB)
	for i := range g.Outputs {
		o := &g.Outputs[i]
		if o.HasShape && len(o.Shape) > 0 {
			o.Shape[len(o.Shape)-1] = nn.Dim{Value: numClasses}
		}
	}
	g.Invalidate()
	return nil
}

// removeUnused drops the named parameters when nothing reads them any
// more, together with the nodes that only transformed them (mnist-8's
// Reshape of its classifier weight).
func removeUnused(g *nn.Graph, names ...string) {
	gone := map[string]bool{}
	for _, name := range names {
		if name != "" {
			gone[name] = true
		}
	}
	for changed := true; changed; {
		changed = false
		used := map[string]bool{}
		for _, n := range g.Nodes {
			for _, in := range n.Inputs {
				used[in] = true
			}
		}
		for _, o := range g.Outputs {
			used[o.Name] = true
		}
		kept := g.Nodes[:0]
		for _, n := range g.Nodes {
			dead, readsGone := true, false
			for _, o := range n.Outputs {
				if used[o] {
					dead = false
				}
			}
			for _, in := range n.Inputs {
				if gone[in] {
					readsGone = true
				}
			}
			if dead && readsGone {
				for _, in := range n.Inputs {
					gone[in] = true
				}
				changed = true
				continue
			}
			kept = append(kept, n)
		}
		g.Nodes = kept
		if !changed {
			for name := range gone {
				if _, isParam := g.Params[name]; isParam && !used[name] {
					delete(g.Params, name)
					for i, p := range g.ParamNames {
						if p == name {
							g.ParamNames = append(g.ParamNames[:i], g.ParamNames[i+1:]...)
							break
						}
					}
				}
			}
		}
	}
}

// CutHead attaches a new classifier of numClasses outputs after the value
// produced by node (a node name or a value name), inserting global average
// pooling for rank-4 activations and flattening as needed; the new head's
// output "graft_logits" becomes the only graph output, and everything after
// the cut stops running. Weights are initialized like ReplaceHead's.
func CutHead(g *nn.Graph, node string, numClasses int, seed int64, reg *nn.Registry) (*Head, error) {
	if numClasses < 1 {
		return nil, fmt.Errorf("--cut needs --num-classes")
	}
	value := ""
	for _, n := range g.Nodes {
		if n.Name == node && len(n.Outputs) > 0 {
			value = n.Outputs[0]
		}
	}
	if value == "" {
		if _, ok := g.Producers()[node]; ok {
			value = node
		}
	}
	if value == "" {
		return nil, fmt.Errorf("--cut %q: no node or value of that name", node)
	}
	// Find the activation's shape with a probe run at batch 2.
	feed := map[string]*nn.Tensor{}
	for _, in := range g.Inputs {
		shape := make([]int, len(in.Shape))
		for i, d := range in.Shape {
			shape[i] = d.Value
			if d.Param != "" || d.Value < 0 || (i == 0 && g.FixedBatch > 0) {
				shape[i] = 2
			}
		}
		feed[in.Name] = nn.New(in.DType, shape...)
	}
	tp, err := g.ForwardFrom(nil, feed, value)
	if err != nil {
		return nil, fmt.Errorf("--cut %q: %w", node, err)
	}
	v := tp.Value(value)
	if v == nil || v.DType != nn.Float32 || len(v.Shape) < 2 || v.Shape[0] != 2 {
		return nil, fmt.Errorf("--cut %q: its output %v is not a float batch of features", node, v)
	}
	cur := value
	add := func(opType string, attrs map[string]*nn.Attr, inputs ...string) (string, error) {
		out := "graft_" + strings.ToLower(opType) + "_out"
		n := &nn.Node{Name: "graft_" + strings.ToLower(opType), OpType: opType, Opset: g.Opsets[""], Inputs: inputs,
			Outputs: []string{out}, Attrs: attrs}
		for k := range attrs {
			n.AttrOrder = append(n.AttrOrder, k)
		}
		if err := reg.Build(n); err != nil {
			return "", err
		}
		g.Nodes = append(g.Nodes, n)
		return out, nil
	}
	if len(v.Shape) > 2 {
		if len(v.Shape) >= 3 {
			if cur, err = add("GlobalAveragePool", map[string]*nn.Attr{}, cur); err != nil {
				return nil, err
			}
		}
		if cur, err = add("Flatten", map[string]*nn.Attr{"axis": {Name: "axis", Type: nn.AttrInt, I: 1}}, cur); err != nil {
			return nil, err
		}
	}
	features := v.Shape[1]
	rng := rand.New(rand.NewSource(seed))
	bound := 1 / math.Sqrt(float64(features))
	w := nn.New(nn.Float32, numClasses, features)
	for i := range w.F32 {
		w.F32[i] = float32((rng.Float64()*2 - 1) * bound)
	}
	b := nn.New(nn.Float32, numClasses)
	for i := range b.F32 {
		b.F32[i] = float32((rng.Float64()*2 - 1) * bound)
	}
	g.AddParam(&nn.Param{Name: "graft_head.weight", Value: w, Doc: "classifier added by graft"})
	g.AddParam(&nn.Param{Name: "graft_head.bias", Value: b, Doc: "classifier added by graft"})
	gemm := &nn.Node{Name: "graft_head", OpType: "Gemm", Opset: g.Opsets[""], Inputs: []string{cur, "graft_head.weight", "graft_head.bias"},
		Outputs: []string{"graft_logits"}, Attrs: map[string]*nn.Attr{"transB": {Name: "transB", Type: nn.AttrInt, I: 1}}, AttrOrder: []string{"transB"}}
	if err := reg.Build(gemm); err != nil {
		return nil, err
	}
	g.Nodes = append(g.Nodes, gemm)
	batch := nn.Dim{Param: "batch"}
	if len(g.Inputs) > 0 && len(g.Inputs[0].Shape) > 0 {
		batch = g.Inputs[0].Shape[0]
	}
	g.Outputs = []nn.ValueInfo{{Name: "graft_logits", DType: nn.Float32, HasShape: true, Shape: []nn.Dim{batch, {Value: numClasses}}}}
	// Drop what only fed the old outputs.
	pruneDead(g)
	g.Invalidate()
	return &Head{Node: gemm, Weight: "graft_head.weight", Bias: "graft_head.bias", Logits: "graft_logits", Output: "graft_logits", Classes: numClasses}, nil
}

// pruneDead removes nodes whose outputs nothing reads and parameters no
// node reads.
func pruneDead(g *nn.Graph) {
	for {
		used := map[string]bool{}
		for _, n := range g.Nodes {
			for _, in := range n.Inputs {
				used[in] = true
			}
		}
		for _, o := range g.Outputs {
			used[o.Name] = true
		}
		kept := g.Nodes[:0]
		for _, n := range g.Nodes {
			live := false
			for _, o := range n.Outputs {
				live = live || used[o]
			}
			if live {
				kept = append(kept, n)
			}
		}
		removed := len(kept) != len(g.Nodes)
		g.Nodes = kept
		if !removed {
			names := g.ParamNames[:0]
			for _, p := range g.ParamNames {
				if used[p] {
					names = append(names, p)
				} else {
					delete(g.Params, p)
				}
			}
			g.ParamNames = names
			return
		}
	}
}
