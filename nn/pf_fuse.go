package nn

import "math"

// Convolution + activation fusion at inference. A Relu or Clip whose input
// is a float32 Conv output read by nothing else (the cases pf_inplace.go
// already runs in place) is applied inside the convolution instead, to
// each sample's or channel's output right after it is computed, while it
// is still in cache (convGeom.act). The activation node then passes its
// input through. Like the in-place ops, this happens only in Graph.Run for
// plain inference (no training, no Observe hook).

// pfFuseNodes returns, for every Conv node whose activation can be fused,
// the index of that activation node plus one (0 elsewhere); nil when no
// node qualifies. inplace holds the in-place marks of pfInplaceNodes.
func (g *Graph) pfFuseNodes(live []bool, inplace []int8) []int32 {
	if inplace == nil {
		return nil
	}
	producer := map[string]int{}
	for i, n := range g.Nodes {
		if live[i] && n.OpType == "Conv" && n.Domain == "" && len(n.Outputs) == 1 {
			if _, ok := n.Op.(*convOp); ok {
				producer[n.Outputs[0]] = i
			}
		}
	}
	var fuse []int32
	for j, n := range g.Nodes {
		if !live[j] || inplace[j] != 1 || (n.OpType != "Relu" && n.OpType != "Clip") {
			continue
		}
		i, ok := producer[n.Inputs[0]]
		if !ok {
			continue
		}
		if fuse == nil {
			fuse = make([]int32, len(g.Nodes))
		}
		fuse[i] = int32(j) + 1
	}
	return fuse
}

// pfFusedAct returns the clamp bounds of activation node n (Relu or Clip)
// given its inputs as known before the convolution runs, or nil when they
// cannot be determined then (the nodes then run separately).
func pfFusedAct(n *Node, vals map[string]*Tensor) *convAct {
	switch op := n.Op.(type) {
	case *ewUnary:
		if op.op == ewRelu && len(n.Inputs) == 1 {
			return &convAct{lo: 0, hi: math.Inf(1)}
		}
	case *ewClip:
		if op.attrs {
			if len(n.Inputs) != 1 {
				return nil
			}
			return &convAct{lo: op.lo, hi: op.hi}
		}
		act := &convAct{lo: math.Inf(-1), hi: math.Inf(1)}
		for k, dst := range []*float64{&act.lo, &act.hi} {
			if k+1 >= len(n.Inputs) || n.Inputs[k+1] == "" {
				continue
			}
			t, ok := vals[n.Inputs[k+1]]
			if !ok || t == nil || t.DType != Float32 || t.Len() != 1 || len(t.F32) != 1 {
				return nil
			}
			*dst = float64(t.F32[0])
		}
		if len(n.Inputs) > 3 {
			return nil
		}
		return act
	}
	return nil
}
