package nn

import (
	"fmt"
	"math"
)

// normWanted records which node outputs are named.
func normWanted(n *Node) []bool {
	w := make([]bool, len(n.Outputs))
	for i, o := range n.Outputs {
		w[i] = o != ""
	}
	return w
}

func normWant(w []bool, i int) bool { return i < len(w) && w[i] }

// normBatchOp is BatchNormalization.
type normBatchOp struct {
	eps, momentum float64
	// trainingMode is the training_mode attribute (opset 14+).
	trainingMode bool
	// legacyTraining is set before opset 14 when the node names the
	// running/saved statistics outputs, which only exist in training.
	legacyTraining bool
	opset          int
	want           []bool
	node           *Node
}

func normBatchNew(n *Node) (Op, error) {
	op := &normBatchOp{
		eps:      float64(n.AttrFloat("epsilon", 1e-5)),
		momentum: float64(n.AttrFloat("momentum", 0.9)),
		opset:    n.Opset,
		want:     normWanted(n),
		node:     n,
	}
	if n.Opset >= 14 {
		op.trainingMode = n.AttrInt("training_mode", 0) != 0
		if !op.trainingMode && len(n.Outputs) > 1 {
			for _, o := range n.Outputs[1:] {
				if o != "" {
					return nil, fmt.Errorf("outputs running_mean and running_var need training_mode=1")
				}
			}
		}
	} else if n.Opset >= 7 || n.AttrInt("is_test", 0) == 0 {
		// Before opset 14 the statistics outputs exist only in training
		// (opset 6: is_test=0).
		for _, o := range n.Outputs[min(1, len(n.Outputs)):] {
			if o != "" {
				op.legacyTraining = true
			}
		}
	}
	maxOut := 5
	if n.Opset >= 14 {
		maxOut = 3
	}
	if len(n.Outputs) > maxOut {
		return nil, fmt.Errorf("%d outputs, BatchNormalization at opset %d has at most %d", len(n.Outputs), n.Opset, maxOut)
	}
	if op.eps < 0 {
		return nil, fmt.Errorf("epsilon %g is negative", op.eps)
	}
	return op, nil
}

func (op *normBatchOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 5 {
		return nil, fmt.Errorf("%d inputs, want 5 (X, scale, B, mean, var)", len(in))
	}
	x := in[0]
	if err := normCheckFloat(x, "input X"); err != nil {
		return nil, err
	}
	if x.Rank() < 2 {
		return nil, fmt.Errorf("input X has shape %s, want rank >= 2 (N, C, ...)", ShapeString(x.Shape))
	}
	N, C := x.Shape[0], x.Shape[1]
	plane := NumElements(x.Shape[2:])
	names := [4]string{"scale", "B", "mean", "var"}
	var p [4][]float64
	for i := range p {
		v, err := normFloatVec(in[i+1], "input "+names[i])
		if err != nil {
			return nil, err
		}
		p[i] = v
	}
	// Parameters are per channel, or (opset 7 with spatial=0) per channel
	// and spatial position.
	F := len(p[0])
	featLen := plane
	switch {
	case F == C:
	case F == C*plane && F > 0:
		featLen = 1
	default:
		return nil, fmt.Errorf("input X shape %s: scale has %d elements, want %d (one per channel)", ShapeString(x.Shape), F, C)
	}
	for i := 1; i < 4; i++ {
		if len(p[i]) != F {
			return nil, fmt.Errorf("input X shape %s: %s has %d elements, scale has %d", ShapeString(x.Shape), names[i], len(p[i]), F)
		}
	}
	// Fine-tuning (Context.Training on a node that is not frozen) uses
	// batch statistics and updates the running statistics in place, like
	// the frameworks' training mode. The ONNX training modes (attribute
	// training_mode, or the statistics outputs before opset 14) return
	// the updated statistics as outputs instead.
	onnxTraining := op.trainingMode || op.legacyTraining
	ctxTraining := ctx.TrainingNode(op.node) && !onnxTraining
	training := onnxTraining || ctxTraining
	mean, vr := p[2], p[3]
	var bMean, bVar []float64
	if training {
		bMean, bVar = normBatchStats(x, N, F, featLen)
		mean, vr = bMean, bVar
		if ctx.tm != nil && ctx.tm.saved != nil {
			// The backward pass of this training tape reuses them.
			ctx.tm.saved[op.node] = &tmBNStats{x: tmKey(x), n: x.Len(), mean: bMean, vr: bVar}
		}
	}
	if ctxTraining {
		normUpdateRunning(in[3], bMean, op.momentum)
		normUpdateRunning(in[4], bVar, op.momentum)
	}
	a := make([]float64, F)
	b := make([]float64, F)
	for f := range a {
		a[f] = p[0][f] / math.Sqrt(vr[f]+op.eps)
		b[f] = p[1][f] - mean[f]*a[f]
	}
	var y *Tensor
	if ctx.tm != nil && ctx.tm.inplace && x.Len() == len(x.F32)+len(x.F64) {
		y = x // a training tape owns x and nobody reads it after this node
	} else {
		y = ctx.arNew(x.DType, x.Shape...) // normAffine writes every element
	}
	if x.F64 != nil {
		normAffine(x.F64, y.F64, N, F, featLen, a, b)
	} else {
		normAffine(x.F32, y.F32, N, F, featLen, a, b)
		y.RoundToDType()
	}
	outs := make([]*Tensor, len(op.want))
	outs[0] = y
	if !training || len(op.want) < 2 {
		return outs, nil
	}
	m := op.momentum
	running := func(old, cur []float64, like *Tensor) *Tensor {
		t := New(like.DType, like.Shape...)
		for i := range cur {
			v := old[i]*m + cur[i]*(1-m)
			if t.F64 != nil {
				t.F64[i] = v
			} else {
				t.F32[i] = float32(v)
			}
		}
		t.RoundToDType()
		return t
	}
	plain := func(v []float64, like *Tensor) *Tensor {
		t := New(like.DType, like.Shape...)
		for i := range v {
			if t.F64 != nil {
				t.F64[i] = v[i]
			} else {
				t.F32[i] = float32(v[i])
			}
		}
		t.RoundToDType()
		return t
	}
	if normWant(op.want, 1) {
		outs[1] = running(p[2], bMean, in[3])
	}
	if normWant(op.want, 2) {
		outs[2] = running(p[3], bVar, in[4])
	}
	if normWant(op.want, 3) {
		outs[3] = plain(bMean, in[3])
	}
	if normWant(op.want, 4) {
		outs[4] = plain(bVar, in[4])
	}
	return outs, nil
}

// normUpdateRunning sets the running statistic t (a parameter) to
// t*momentum + cur*(1-momentum) in place.
func normUpdateRunning(t *Tensor, cur []float64, momentum float64) {
	switch t.DType.Storage() {
	case StoreF32:
		for i := range cur {
			t.F32[i] = float32(float64(t.F32[i])*momentum + cur[i]*(1-momentum))
		}
		t.RoundToDType()
	case StoreF64:
		for i := range cur {
			t.F64[i] = t.F64[i]*momentum + cur[i]*(1-momentum)
		}
	}
}

// normBatchStats returns the mean and population variance of each of F
// features of x, laid out as [N][F][featLen].
func normBatchStats(x *Tensor, N, F, featLen int) ([]float64, []float64) {
	mean := make([]float64, F)
	vr := make([]float64, F)
	cnt := float64(N * featLen)
	normParallel(F, N*featLen, func(lo, hi int) {
		for f := lo; f < hi; f++ {
			var s float64
			for n := 0; n < N; n++ {
				off := (n*F + f) * featLen
				if x.F64 != nil {
					s += redRowF(redSum, x.F64[off:off+featLen], 0)
				} else {
					s += redRowF(redSum, x.F32[off:off+featLen], 0)
				}
			}
			mu := s / cnt
			var q float64
			for n := 0; n < N; n++ {
				off := (n*F + f) * featLen
				if x.F64 != nil {
					q += normSqDev(x.F64[off:off+featLen], mu)
				} else {
					q += normSqDev(x.F32[off:off+featLen], mu)
				}
			}
			if cnt > 0 {
				mean[f], vr[f] = mu, q/cnt
			}
		}
	})
	return mean, vr
}

// normSqDev returns the sum of squared deviations of row from mu.
func normSqDev[T float32 | float64](row []T, mu float64) float64 {
	var s0, s1 float64
	i := 0
	if r32, ok := any(row).([]float32); ok {
		i, s0 = redSqDevVec(r32, mu)
	}
	for ; i+2 <= len(row); i += 2 {
		a, b := float64(row[i])-mu, float64(row[i+1])-mu
		s0 += a * a
		s1 += b * b
	}
	for ; i < len(row); i++ {
		a := float64(row[i]) - mu
		s0 += a * a
	}
	return s0 + s1
}

// normAffine computes y = x*a[f] + b[f] over data laid out as
// [N][F][featLen].
func normAffine[T float32 | float64](x, y []T, N, F, featLen int, a, b []float64) {
	normParallel(N*F, featLen, func(lo, hi int) {
		for nf := lo; nf < hi; nf++ {
			f := nf % F
			off := nf * featLen
			normScaleShift(x[off:off+featLen], y[off:off+featLen], a[f], b[f])
		}
	})
}

// normScaleShift computes y = x*a + b in the element type's precision.
func normScaleShift[T float32 | float64](x, y []T, a, b float64) {
	y = y[:len(x)]
	av, bv := T(a), T(b)
	i := 0
	if xf, ok := any(x).([]float32); ok {
		i = tmScaleShiftVec(xf, any(y).([]float32), float32(a), float32(b))
	}
	for ; i < len(x); i++ {
		y[i] = x[i]*av + bv
	}
}

// normInstanceOp is InstanceNormalization.
type normInstanceOp struct{ eps float64 }

func normInstanceNew(n *Node) (Op, error) {
	if err := normMaxOutputs(n, 1); err != nil {
		return nil, err
	}
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	if eps < 0 {
		return nil, fmt.Errorf("epsilon %g is negative", eps)
	}
	return &normInstanceOp{eps: eps}, nil
}

func (op *normInstanceOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 3 {
		return nil, fmt.Errorf("%d inputs, want 3 (input, scale, B)", len(in))
	}
	x := in[0]
	if err := normCheckFloat(x, "input"); err != nil {
		return nil, err
	}
	if x.Rank() < 2 {
		return nil, fmt.Errorf("input has shape %s, want rank >= 2 (N, C, ...)", ShapeString(x.Shape))
	}
	N, C := x.Shape[0], x.Shape[1]
	plane := NumElements(x.Shape[2:])
	scale, err := normFloatVec(in[1], "input scale")
	if err != nil {
		return nil, err
	}
	bias, err := normFloatVec(in[2], "input B")
	if err != nil {
		return nil, err
	}
	if len(scale) != C || len(bias) != C {
		return nil, fmt.Errorf("input shape %s: scale has %d and B %d elements, want %d (one per channel)", ShapeString(x.Shape), len(scale), len(bias), C)
	}
	y := New(x.DType, x.Shape...)
	if x.F64 != nil {
		normInstance(x.F64, y.F64, N, C, plane, scale, bias, op.eps)
	} else {
		normInstance(x.F32, y.F32, N, C, plane, scale, bias, op.eps)
		y.RoundToDType()
	}
	return []*Tensor{y}, nil
}

func normInstance[T float32 | float64](x, y []T, N, C, plane int, scale, bias []float64, eps float64) {
	if plane == 0 {
		return
	}
	normParallel(N*C, plane, func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			c := nc % C
			xr := x[nc*plane : (nc+1)*plane]
			mu := redRowF(redSum, xr, 0) / float64(plane)
			vr := normSqDev(xr, mu) / float64(plane)
			a := scale[c] / math.Sqrt(vr+eps)
			normScaleShift(xr, y[nc*plane:(nc+1)*plane], a, bias[c]-mu*a)
		}
	})
}

// normLayerOp is LayerNormalization (opset 17).
type normLayerOp struct {
	axis int
	eps  float64
	want []bool
}

func normLayerNew(n *Node) (Op, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	if eps < 0 {
		return nil, fmt.Errorf("epsilon %g is negative", eps)
	}
	if st := n.AttrInt("stash_type", 1); st != 1 && st != int64(Float64) {
		// Statistics are always computed in float64 here, which is at
		// least as precise as any stash type; only reject nonsense.
		if !DType(st).IsFloat() {
			return nil, fmt.Errorf("stash_type %d is not a float type", st)
		}
	}
	if len(n.Outputs) > 3 {
		return nil, fmt.Errorf("%d outputs, LayerNormalization has at most 3", len(n.Outputs))
	}
	return &normLayerOp{axis: int(n.AttrInt("axis", -1)), eps: eps, want: normWanted(n)}, nil
}

func (op *normLayerOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("inputs X and Scale are required")
	}
	x := in[0]
	if err := normCheckFloat(x, "input X"); err != nil {
		return nil, err
	}
	if x.Rank() == 0 {
		return nil, fmt.Errorf("input X is a scalar, want rank >= 1")
	}
	axis, err := normAxis(op.axis, x.Rank())
	if err != nil {
		return nil, fmt.Errorf("input X shape %s: %w", ShapeString(x.Shape), err)
	}
	normShape := x.Shape[axis:]
	outer := NumElements(x.Shape[:axis])
	inner := NumElements(normShape)
	scale, err := normLayerParam(in[1], normShape, "Scale")
	if err != nil {
		return nil, err
	}
	var bias []float64
	if len(in) > 2 && in[2] != nil {
		if bias, err = normLayerParam(in[2], normShape, "B"); err != nil {
			return nil, err
		}
	}
	y := New(x.DType, x.Shape...)
	statShape := append([]int{}, x.Shape[:axis]...)
	for range normShape {
		statShape = append(statShape, 1)
	}
	statType := Float32
	if x.DType == Float64 {
		statType = Float64
	}
	mean := make([]float64, outer)
	inv := make([]float64, outer)
	if x.F64 != nil {
		normLayer(x.F64, y.F64, outer, inner, scale, bias, op.eps, mean, inv)
	} else {
		normLayer(x.F32, y.F32, outer, inner, scale, bias, op.eps, mean, inv)
		y.RoundToDType()
	}
	outs := make([]*Tensor, len(op.want))
	outs[0] = y
	for k, v := range [][]float64{mean, inv} {
		if !normWant(op.want, k+1) {
			continue
		}
		t := New(statType, statShape...)
		for i, f := range v {
			if t.F64 != nil {
				t.F64[i] = f
			} else {
				t.F32[i] = float32(f)
			}
		}
		outs[k+1] = t
	}
	return outs, nil
}

// normLayerParam broadcasts a LayerNormalization Scale or B to the
// normalized shape and returns it flattened as float64.
func normLayerParam(t *Tensor, normShape []int, what string) ([]float64, error) {
	v, err := normFloatVec(t, "input "+what)
	if err != nil {
		return nil, err
	}
	n := NumElements(normShape)
	if len(v) == n {
		// Same number of elements (e.g. [1,768] for [768]): taken as is,
		// as onnxruntime does.
		return v, nil
	}
	bs, err := BroadcastShapes(t.Shape, normShape)
	if err != nil || !SameShape(bs, normShape) {
		return nil, fmt.Errorf("input %s shape %s does not broadcast to the normalized shape %s", what, ShapeString(t.Shape), ShapeString(normShape))
	}
	idx := BroadcastIndex(t.Shape, normShape)
	out := make([]float64, n)
	for i, j := range idx {
		out[i] = v[j]
	}
	return out, nil
}

func normLayer[T float32 | float64](x, y []T, outer, inner int, scale, bias []float64, eps float64, mean, inv []float64) {
	if inner == 0 {
		return
	}
	normParallel(outer, inner, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			xr := x[o*inner : (o+1)*inner]
			yr := y[o*inner : (o+1)*inner]
			mu := redRowF(redSum, xr, 0) / float64(inner)
			is := 1 / math.Sqrt(normSqDev(xr, mu)/float64(inner)+eps)
			mean[o], inv[o] = mu, is
			if bias != nil {
				for i, v := range xr {
					yr[i] = T((float64(v)-mu)*is*scale[i] + bias[i])
				}
			} else {
				for i, v := range xr {
					yr[i] = T((float64(v) - mu) * is * scale[i])
				}
			}
		}
	})
}
