package nn

import (
	"fmt"
	"math"
	"sync"
)

// Backward passes of the normalization, softmax, reduction and dropout ops
// (op_norm*.go, op_softmax.go, op_reduce.go, op_dropout.go). Every gradient
// reads the forward op's resolved settings (axis, epsilon, mode) from the
// node's built op, so forward and backward always agree. Statistics (means,
// variances) are recomputed from the input in float64; inner loops run over
// contiguous rows or channel planes, in parallel when the work is large.

// normGrads holds the backward passes of the normalization family.
func normGrads() map[string]GradFunc {
	return map[string]GradFunc{
		"BatchNormalization":        nmgBatchNormGrad,
		"InstanceNormalization":     nmgInstanceNormGrad,
		"LayerNormalization":        nmgLayerNormGrad,
		"GroupNormalization":        nmgGroupNormGrad,
		"RMSNormalization":          nmgRMSNormGrad,
		"MeanVarianceNormalization": nmgMVNGrad,
		"LpNormalization":           nmgLpNormGrad,
		"Softmax":                   nmgSoftmaxGrad,
		"LogSoftmax":                nmgSoftmaxGrad,
		"ReduceSum":                 nmgReduceGrad,
		"ReduceMean":                nmgReduceGrad,
		"ReduceMax":                 nmgReduceGrad,
		"ReduceMin":                 nmgReduceGrad,
		"ReduceSumSquare":           nmgReduceGrad,
		"ReduceL1":                  nmgReduceGrad,
		"ReduceL2":                  nmgReduceGrad,
		"ReduceLogSum":              nmgReduceGrad,
		"ReduceLogSumExp":           nmgReduceGrad,
		"ReduceProd":                nmgReduceGrad,
		"Dropout":                   nmgDropoutGrad,
		// Piecewise constant (integer or one-hot results): the gradient is
		// zero almost everywhere, so nothing flows back.
		"ArgMax":  nmgNoGrad,
		"ArgMin":  nmgNoGrad,
		"Hardmax": nmgNoGrad,
	}
}

// nmgNoGrad returns no gradient for any input.
func nmgNoGrad(_ *Context, _ *Node, in, _, _ []*Tensor, _ []bool) ([]*Tensor, error) {
	return make([]*Tensor, len(in)), nil
}

// nmgCheck reports an error unless every non-nil tensor holds float data
// (float32/float16/bfloat16 or float64).
func nmgCheck(what string, ts ...*Tensor) error {
	for _, t := range ts {
		if t == nil {
			continue
		}
		if s := t.DType.Storage(); (s != StoreF32 && s != StoreF64) || !t.DType.IsFloat() {
			return fmt.Errorf("%s backward: element type %v, want a float type", what, t.DType)
		}
	}
	return nil
}

// nmgMatch reports an error when dy's storage differs from x's or its
// length is not n.
func nmgMatch(what string, x, dy *Tensor, n int) error {
	if dy == nil {
		return nil
	}
	if (x.F64 != nil) != (dy.F64 != nil) {
		return fmt.Errorf("%s backward: output gradient is %v, input is %v", what, dy.DType, x.DType)
	}
	if dy.Len() != n {
		return fmt.Errorf("%s backward: output gradient has shape %s, want %d elements", what, ShapeString(dy.Shape), n)
	}
	return nil
}

// nmgFromF64 returns a tensor of like's dtype and shape holding v.
func nmgFromF64(v []float64, like *Tensor) *Tensor {
	t := New(like.DType, like.Shape...)
	if t.F64 != nil {
		copy(t.F64, v)
		return t
	}
	for i, f := range v {
		t.F32[i] = float32(f)
	}
	t.RoundToDType()
	return t
}

// nmgVec returns a per-feature gradient tensor (float data) as float64, or
// nil when t is nil.
func nmgVec(t *Tensor, n int) ([]float64, error) {
	if t == nil {
		return nil, nil
	}
	v, err := normFloatVec(t, "statistics gradient")
	if err != nil {
		return nil, err
	}
	if len(v) != n {
		return nil, fmt.Errorf("statistics gradient has %d elements, want %d", len(v), n)
	}
	return v, nil
}

// nmgData returns the data slice of a float tensor (nil tensor: nil).
func nmgData[T float32 | float64](t *Tensor) []T {
	if t == nil {
		return nil
	}
	if s, ok := any(t.F32).([]T); ok && t.F32 != nil {
		return s
	}
	if s, ok := any(t.F64).([]T); ok {
		return s
	}
	return nil
}

// ---------------------------------------------------------------------------
// BatchNormalization

// nmgBatchNormGrad is the backward pass of BatchNormalization. In inference
// mode (running statistics) y = x·a + b per channel: dX = dY·a, dscale =
// Σ dY·x̂, dB = Σ dY, and the running mean/var get no gradient. In training
// mode (Context training on an unfrozen node, or the ONNX training modes)
// the statistics are the batch's, recomputed here from X (the forward
// updates the running statistics in place, so they no longer hold the
// values it used), and dX is the full batch-norm backward. In the ONNX
// training modes the statistics outputs also carry gradients: the running
// mean/var outputs (momentum·input + (1-momentum)·batch) pass momentum·dOut
// to the mean/var inputs and the rest, like the saved mean/var outputs, to X.
func nmgBatchNormGrad(ctx *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	op, ok := n.Op.(*normBatchOp)
	if !ok {
		return nil, fmt.Errorf("BatchNormalization backward: node op is %T", n.Op)
	}
	if len(in) < 5 || in[0] == nil || in[1] == nil || in[2] == nil || in[3] == nil || in[4] == nil {
		return nil, fmt.Errorf("BatchNormalization backward: want 5 inputs (X, scale, B, mean, var)")
	}
	x := in[0]
	var dy *Tensor
	if len(dOut) > 0 {
		dy = dOut[0]
	}
	if err := nmgCheck("BatchNormalization", x, dy); err != nil {
		return nil, err
	}
	if err := nmgMatch("BatchNormalization", x, dy, x.Len()); err != nil {
		return nil, err
	}
	if x.Rank() < 2 {
		return nil, fmt.Errorf("BatchNormalization backward: input X has shape %s, want rank >= 2", ShapeString(x.Shape))
	}
	N, C := x.Shape[0], x.Shape[1]
	plane := NumElements(x.Shape[2:])
	scale, err := normFloatVec(in[1], "input scale")
	if err != nil {
		return nil, err
	}
	F, featLen := len(scale), plane
	switch {
	case F == C:
	case F == C*plane && F > 0:
		featLen = 1
	default:
		return nil, fmt.Errorf("BatchNormalization backward: input X shape %s: scale has %d elements, want %d", ShapeString(x.Shape), F, C)
	}
	onnxTraining := op.trainingMode || op.legacyTraining
	training := onnxTraining || (ctx != nil && ctx.TrainingNode(n))
	var mean, vr []float64
	if training {
		if st := tmSavedStats(ctx, n, x); st != nil && len(st.mean) == F {
			mean, vr = st.mean, st.vr // computed by the forward pass from this x
		} else {
			mean, vr = normBatchStats(x, N, F, featLen)
		}
	} else {
		if mean, err = normFloatVec(in[3], "input mean"); err != nil {
			return nil, err
		}
		if vr, err = normFloatVec(in[4], "input var"); err != nil {
			return nil, err
		}
		if len(mean) != F || len(vr) != F {
			return nil, fmt.Errorf("BatchNormalization backward: mean has %d and var %d elements, want %d", len(mean), len(vr), F)
		}
	}
	inv := make([]float64, F)
	for f := range inv {
		inv[f] = 1 / math.Sqrt(vr[f]+op.eps)
	}
	// Per-feature sums Σ dY and Σ dY·(x-μ).
	sdy := make([]float64, F)
	sdxc := make([]float64, F)
	if dy != nil {
		if x.F64 != nil {
			nmgBNSums(x.F64, dy.F64, N, F, featLen, mean, sdy, sdxc)
		} else {
			nmgBNSums(x.F32, dy.F32, N, F, featLen, mean, sdy, sdxc)
		}
	}
	// Gradients reaching the batch statistics through the statistics
	// outputs (ONNX training modes only).
	var gMean, gVar []float64
	if onnxTraining {
		m := op.momentum
		for k, w := range []float64{1 - m, 1 - m, 1, 1} {
			idx := k + 1
			if idx >= len(dOut) || dOut[idx] == nil {
				continue
			}
			v, err := nmgVec(dOut[idx], F)
			if err != nil {
				return nil, fmt.Errorf("BatchNormalization backward: output %d: %w", idx, err)
			}
			dst := &gMean
			if k%2 == 1 {
				dst = &gVar
			}
			if *dst == nil {
				*dst = make([]float64, F)
			}
			for f := range v {
				(*dst)[f] += w * v[f]
			}
		}
	}
	res := make([]*Tensor, len(in))
	if need[0] {
		// dX = a·dY + b·x + c per feature.
		a := make([]float64, F)
		b := make([]float64, F)
		c := make([]float64, F)
		M := float64(N * featLen)
		for f := range a {
			k1 := scale[f] * inv[f]
			if dy != nil {
				a[f] = k1
			}
			if !training || M == 0 {
				continue
			}
			c2 := -k1 * inv[f] * inv[f] * sdxc[f] / M
			c3 := -k1 * sdy[f] / M
			if gMean != nil {
				c3 += gMean[f] / M
			}
			if gVar != nil {
				c2 += 2 * gVar[f] / M
			}
			b[f], c[f] = c2, c3
		}
		var dx *Tensor
		if dy != nil && tmOwnedOut(ctx, 0) {
			dx = dy // nobody else reads dy; the update is elementwise
		} else {
			dx = tmNewDirty(ctx, x.DType, x.Shape...)
		}
		if x.F64 != nil {
			nmgAxpbyc(nmgData[float64](dy), x.F64, dx.F64, N, F, featLen, a, b, mean, c)
		} else {
			nmgAxpbyc(nmgData[float32](dy), x.F32, dx.F32, N, F, featLen, a, b, mean, c)
			dx.RoundToDType()
		}
		res[0] = dx
	}
	if need[1] && dy != nil {
		ds := make([]float64, F)
		for f := range ds {
			ds[f] = sdxc[f] * inv[f]
		}
		res[1] = nmgFromF64(ds, in[1])
	}
	if need[2] && dy != nil {
		if in[2].Len() != F {
			return nil, fmt.Errorf("BatchNormalization backward: B has %d elements, want %d", in[2].Len(), F)
		}
		res[2] = nmgFromF64(sdy, in[2])
	}
	// Running statistics are not trained; only the ONNX statistics outputs
	// depend on them.
	if onnxTraining {
		for k := 3; k <= 4; k++ {
			if !need[k] || k-2 >= len(dOut) || dOut[k-2] == nil {
				continue
			}
			v, err := nmgVec(dOut[k-2], F)
			if err != nil {
				return nil, err
			}
			if in[k].Len() != F {
				return nil, fmt.Errorf("BatchNormalization backward: input %d has %d elements, want %d", k, in[k].Len(), F)
			}
			for f := range v {
				v[f] *= op.momentum
			}
			res[k] = nmgFromF64(v, in[k])
		}
	}
	return res, nil
}

// nmgBNSums sets sdy[f] = Σ dy and sdxc[f] = Σ dy·(x-mean[f]) over the
// elements of feature f of data laid out as [N][F][L].
func nmgBNSums[T float32 | float64](x, dy []T, N, F, L int, mean, sdy, sdxc []float64) {
	normParallel(F, N*L, func(lo, hi int) {
		for f := lo; f < hi; f++ {
			var s, q float64
			mu := mean[f]
			for n := 0; n < N; n++ {
				off := (n*F + f) * L
				a, b := nmgSumDot(x[off:off+L], dy[off:off+L], mu)
				s += a
				q += b
			}
			sdy[f], sdxc[f] = s, q
		}
	})
}

// nmgSumDot returns Σ dy and Σ dy·(x-mu) over a run.
func nmgSumDot[T float32 | float64](x, dy []T, mu float64) (float64, float64) {
	dy = dy[:len(x)]
	var s0, s1, q0, q1 float64
	i := 0
	if xf, ok := any(x).([]float32); ok {
		i, s0, q0 = tmSumDotVec(xf, any(dy).([]float32), mu)
	}
	for ; i+2 <= len(x); i += 2 {
		d0, d1 := float64(dy[i]), float64(dy[i+1])
		s0 += d0
		s1 += d1
		q0 += d0 * (float64(x[i]) - mu)
		q1 += d1 * (float64(x[i+1]) - mu)
	}
	for ; i < len(x); i++ {
		d := float64(dy[i])
		s0 += d
		q0 += d * (float64(x[i]) - mu)
	}
	return s0 + s1, q0 + q1
}

// nmgAxpbyc computes dx = a[f]·dy + b[f]·(x-m[f]) + c[f] over data laid out as
// [N][F][L] (dy may be nil: no dy term).
func nmgAxpbyc[T float32 | float64](dy, x, dx []T, N, F, L int, a, b, m, c []float64) {
	normParallel(N*F, L, func(lo, hi int) {
		for nf := lo; nf < hi; nf++ {
			f := nf % F
			off := nf * L
			var d []T
			if dy != nil {
				d = dy[off : off+L]
			}
			nmgAxpbycRun(d, x[off:off+L], dx[off:off+L], a[f], b[f], m[f], c[f])
		}
	})
}

// nmgAxpbycRun computes dx = a·dy + b·(x-m) + c over one run, in the element
// type's precision (dy nil: no dy term).
func nmgAxpbycRun[T float32 | float64](dy, x, dx []T, a, b, m, c float64) {
	dx = dx[:len(x)]
	av, bv, mv, cv := T(a), T(b), T(m), T(c)
	if dy == nil {
		for i, v := range x {
			dx[i] = bv*(v-mv) + cv
		}
		return
	}
	dy = dy[:len(x)]
	if b == 0 && c == 0 {
		for i, d := range dy {
			dx[i] = av * d
		}
		return
	}
	i := 0
	if xf, ok := any(x).([]float32); ok {
		i = tmAxpbycVec(any(dy).([]float32), xf, any(dx).([]float32), float32(a), float32(b), float32(m), float32(c))
	}
	for ; i < len(x); i++ {
		dx[i] = av*dy[i] + bv*(x[i]-mv) + cv
	}
}

// ---------------------------------------------------------------------------
// Softmax and LogSoftmax

// nmgSoftmaxGrad: softmax dX = y·(dY - Σ dY·y); log-softmax dX = dY -
// e^y·Σ dY, the sums running over the softmax axis (or, before opset 13,
// over the flattened dimensions from axis on).
func nmgSoftmaxGrad(_ *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	op, ok := n.Op.(*smOp)
	if !ok {
		return nil, fmt.Errorf("%s backward: node op is %T", n.OpType, n.Op)
	}
	res := make([]*Tensor, len(in))
	if len(in) < 1 || !need[0] || len(dOut) < 1 || dOut[0] == nil {
		return res, nil
	}
	x, y, dy := in[0], out[0], dOut[0]
	if err := nmgCheck(n.OpType, x, y, dy); err != nil {
		return nil, err
	}
	if err := nmgMatch(n.OpType, x, dy, x.Len()); err != nil {
		return nil, err
	}
	if err := nmgMatch(n.OpType, x, y, x.Len()); err != nil {
		return nil, err
	}
	outer, D, inner := 1, 1, 1
	if r := x.Rank(); r > 0 {
		axis, err := normAxis(op.axis, r)
		if err != nil {
			return nil, fmt.Errorf("%s backward: input shape %s: %w", n.OpType, ShapeString(x.Shape), err)
		}
		outer = NumElements(x.Shape[:axis])
		if op.coerce2D {
			D = NumElements(x.Shape[axis:])
		} else {
			D, inner = x.Shape[axis], NumElements(x.Shape[axis+1:])
		}
	}
	dx := New(x.DType, x.Shape...)
	if x.Len() > 0 {
		if x.F64 != nil {
			nmgSoftmaxBack(y.F64, dy.F64, dx.F64, outer, D, inner, op.log, math.Exp)
		} else {
			nmgSoftmaxBack(y.F32, dy.F32, dx.F32, outer, D, inner, op.log, smExp32)
			dx.RoundToDType()
		}
	}
	res[0] = dx
	return res, nil
}

func nmgSoftmaxBack[T float32 | float64](y, dy, dx []T, outer, D, inner int, log bool, exp func(float64) float64) {
	if inner == 1 {
		normParallel(outer, D, func(lo, hi int) {
			for o := lo; o < hi; o++ {
				yr, dr, xr := y[o*D:(o+1)*D], dy[o*D:(o+1)*D], dx[o*D:(o+1)*D]
				var s float64
				if log {
					for _, d := range dr {
						s += float64(d)
					}
					if y32, ok := any(yr).([]float32); ok {
						// e^y with the vectorized exp (y <= 0), then dy - e^y·s.
						x32, d32 := any(xr).([]float32), any(dr).([]float32)
						smExpRow32(y32, x32, 0)
						sv := float32(s)
						for i, e := range x32 {
							x32[i] = d32[i] - e*sv
						}
						continue
					}
					for i, v := range yr {
						xr[i] = T(float64(dr[i]) - exp(float64(v))*s)
					}
					continue
				}
				for i, v := range yr {
					s += float64(v) * float64(dr[i])
				}
				sv := T(s)
				for i, v := range yr {
					xr[i] = v * (dr[i] - sv)
				}
			}
		})
		return
	}
	normParallel(outer, D*inner, func(lo, hi int) {
		acc := make([]float64, inner)
		for o := lo; o < hi; o++ {
			base := o * D * inner
			for i := range acc {
				acc[i] = 0
			}
			for j := 0; j < D; j++ {
				off := base + j*inner
				dr := dy[off : off+inner]
				if log {
					for i, d := range dr {
						acc[i] += float64(d)
					}
					continue
				}
				yr := y[off : off+inner]
				for i, d := range dr {
					acc[i] += float64(d) * float64(yr[i])
				}
			}
			for j := 0; j < D; j++ {
				off := base + j*inner
				yr, dr, xr := y[off:off+inner], dy[off:off+inner], dx[off:off+inner]
				if log {
					for i, v := range yr {
						xr[i] = T(float64(dr[i]) - exp(float64(v))*acc[i])
					}
					continue
				}
				for i, v := range yr {
					xr[i] = T(float64(v) * (float64(dr[i]) - acc[i]))
				}
			}
		}
	})
}

// ---------------------------------------------------------------------------
// Reductions

// nmgRedAxes resolves the reduced axes of a Reduce* node exactly like its
// forward (axes attribute, or the axes input from opset 13/18;
// noop_with_empty_axes).
func nmgRedAxes(op *redOp, in []*Tensor) ([]bool, error) {
	x := in[0]
	axes := op.axes
	if op.axesInput && len(in) > 1 && in[1] != nil {
		if in[1].DType.Storage() != StoreI64 {
			return nil, fmt.Errorf("axes input has element type %v, want int64", in[1].DType)
		}
		axes = in[1].Ints()
	}
	rank := x.Rank()
	reduced := make([]bool, rank)
	if len(axes) == 0 {
		if !op.noopEmpty {
			for i := range reduced {
				reduced[i] = true
			}
		}
		return reduced, nil
	}
	for _, a := range axes {
		ax, err := normAxis(a, rank)
		if err != nil || rank == 0 {
			return nil, fmt.Errorf("axes %v: axis %d out of range for input shape %s", axes, a, ShapeString(x.Shape))
		}
		reduced[ax] = true
	}
	return reduced, nil
}

// nmgReduceGrad is the backward pass of the Reduce* ops: every input element
// gets dY of its output times ∂y/∂x: 1 (sum), 1/count (mean), 2x (sum of
// squares), x/y (L2; 0 where y = 0), sign(x) (L1), 1/Σx (log-sum), e^(x-y)
// (log-sum-exp), y/x (product; the product of the other elements where
// x = 0). Max and min route the whole gradient to the first element equal
// to the result (the arg max/min). The axes input gets no gradient.
func nmgReduceGrad(_ *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	op, ok := n.Op.(*redOp)
	if !ok {
		return nil, fmt.Errorf("%s backward: node op is %T", n.OpType, n.Op)
	}
	res := make([]*Tensor, len(in))
	if len(in) < 1 || in[0] == nil || !need[0] || len(dOut) < 1 || dOut[0] == nil {
		return res, nil
	}
	x, y, dy := in[0], out[0], dOut[0]
	if err := nmgCheck(n.OpType, x, y, dy); err != nil {
		return nil, err
	}
	reduced, err := nmgRedAxes(op, in)
	if err != nil {
		return nil, fmt.Errorf("%s backward: %w", n.OpType, err)
	}
	lay := redMakeLayout(x.Shape, reduced)
	if err := nmgMatch(n.OpType, x, dy, lay.outLen); err != nil {
		return nil, err
	}
	if err := nmgMatch(n.OpType, x, y, lay.outLen); err != nil {
		return nil, err
	}
	dx := New(x.DType, x.Shape...)
	if x.Len() > 0 {
		if x.F64 != nil {
			nmgReduceBack(op.kind, lay, x.F64, y.F64, dy.F64, dx.F64)
		} else {
			nmgReduceBack(op.kind, lay, x.F32, y.F32, dy.F32, dx.F32)
			dx.RoundToDType()
		}
	}
	res[0] = dx
	return res, nil
}

func nmgReduceBack[T float32 | float64](kind redKind, lay *redLayout, x, y, dy, dx []T) {
	L := lay.runLen
	switch kind {
	case redMax, redMin:
		// Route each output's gradient to its first arg max/min.
		done := make([]bool, lay.outLen)
		lay.run(func(inOff, outOff int) {
			xr, gr := x[inOff:inOff+L], dx[inOff:inOff+L]
			if lay.lastRed {
				if done[outOff] {
					return
				}
				yv := y[outOff]
				for i, v := range xr {
					if v == yv {
						gr[i] = dy[outOff]
						done[outOff] = true
						return
					}
				}
				return
			}
			yr, dr, dn := y[outOff:outOff+L], dy[outOff:outOff+L], done[outOff:outOff+L]
			for i, v := range xr {
				if !dn[i] && v == yr[i] {
					gr[i] = dr[i]
					dn[i] = true
				}
			}
		})
		return
	case redProd:
		nmgProdBack(lay, x, y, dy, dx)
		return
	}
	cnt := float64(lay.count)
	// Per-output factor g(y, dy) and per-element factor h(x, y):
	// dx = g·h.
	var h func(v, yv float64) float64
	g := func(yv, d float64) float64 { return d }
	switch kind {
	case redSum:
	case redMean:
		g = func(yv, d float64) float64 { return d / cnt }
	case redSumSquare:
		h = func(v, yv float64) float64 { return 2 * v }
	case redL1:
		h = func(v, yv float64) float64 {
			switch {
			case v > 0:
				return 1
			case v < 0:
				return -1
			}
			return 0
		}
	case redL2:
		g = func(yv, d float64) float64 {
			if yv == 0 {
				return 0
			}
			return d / yv
		}
		h = func(v, yv float64) float64 { return v }
	case redLogSum:
		g = func(yv, d float64) float64 { return d / math.Exp(yv) }
	case redLogSumExp:
		h = func(v, yv float64) float64 { return math.Exp(v - yv) }
	}
	if lay.lastRed {
		lay.run(func(inOff, outOff int) {
			gv := g(float64(y[outOff]), float64(dy[outOff]))
			gr := dx[inOff : inOff+L]
			if h == nil {
				t := T(gv)
				for i := range gr {
					gr[i] = t
				}
				return
			}
			yv := float64(y[outOff])
			xr := x[inOff : inOff+L]
			switch kind {
			case redSumSquare, redL2:
				// Linear in x: 2x·dy or x·dy/y.
				t := T(gv)
				if kind == redSumSquare {
					t = T(2 * gv)
				}
				for i, v := range xr {
					gr[i] = t * v
				}
				return
			case redLogSumExp:
				if x32, ok := any(xr).([]float32); ok && yv == yv && !math.IsInf(yv, 0) {
					// Vectorized e^(x-y) (x <= y), then the scale.
					g32 := any(gr).([]float32)
					smExpRow32(x32, g32, yv)
					t := float32(gv)
					for i := range g32 {
						g32[i] *= t
					}
					return
				}
			}
			for i, v := range xr {
				gr[i] = T(gv * h(float64(v), yv))
			}
		})
		return
	}
	lay.run(func(inOff, outOff int) {
		yr, dr := y[outOff:outOff+L], dy[outOff:outOff+L]
		gr := dx[inOff : inOff+L]
		switch kind {
		case redSum:
			copy(gr, dr)
			return
		case redMean:
			r := T(1 / cnt)
			for i, d := range dr {
				gr[i] = d * r
			}
			return
		}
		if h == nil {
			for i := range gr {
				gr[i] = T(g(float64(yr[i]), float64(dr[i])))
			}
			return
		}
		for i, v := range x[inOff : inOff+L] {
			yv := float64(yr[i])
			gr[i] = T(g(yv, float64(dr[i])) * h(float64(v), yv))
		}
	})
}

// nmgProdBack: dx = dy·y/x, with the product of the other elements taken
// directly where x = 0.
func nmgProdBack[T float32 | float64](lay *redLayout, x, y, dy, dx []T) {
	L := lay.runLen
	// Product over the non-zero elements and number of zeros per output.
	nz := make([]float64, lay.outLen)
	zeros := make([]int, lay.outLen)
	for i := range nz {
		nz[i] = 1
	}
	lay.walk(0, lay.numRuns, func(inOff, outOff int) {
		for i, v := range x[inOff : inOff+L] {
			o := outOff
			if !lay.lastRed {
				o += i
			}
			if v == 0 {
				zeros[o]++
			} else {
				nz[o] *= float64(v)
			}
		}
	})
	lay.walk(0, lay.numRuns, func(inOff, outOff int) {
		for i, v := range x[inOff : inOff+L] {
			o := outOff
			if !lay.lastRed {
				o += i
			}
			var p float64
			switch {
			case zeros[o] == 0:
				p = nz[o] / float64(v)
			case zeros[o] == 1 && v == 0:
				p = nz[o]
			}
			dx[inOff+i] = T(float64(dy[o]) * p)
		}
	})
}

// ---------------------------------------------------------------------------
// Dropout

// nmgDropoutGrad: identity when the forward did not drop (inference,
// ratio 0, is_test); in training dX = dY·mask/(1-ratio). The mask is the
// node's mask output when it names one. Otherwise it is rebuilt from the
// forward values: an element was kept exactly where y != 0, except where x
// is exactly 0, which gives y = 0 whether kept or dropped. The draw is
// independent of x, so there the expected factor E[mask/(1-ratio)] = 1 is
// used: dX = dY (unbiased over the mask; after a ReLU, the usual source of
// exact zeros, the upstream gradient there is 0 anyway). Name the mask
// output for exact per-draw gradients.
func nmgDropoutGrad(ctx *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	op, ok := n.Op.(*normDropoutOp)
	if !ok {
		return nil, fmt.Errorf("Dropout backward: node op is %T", n.Op)
	}
	res := make([]*Tensor, len(in))
	if len(in) < 1 || in[0] == nil || !need[0] || len(dOut) < 1 || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := nmgCheck("Dropout", x, dy); err != nil {
		return nil, err
	}
	if err := nmgMatch("Dropout", x, dy, x.Len()); err != nil {
		return nil, err
	}
	ratio, training := op.ratio, ctx != nil && ctx.Training
	if op.ratioInput {
		if len(in) > 1 && in[1] != nil {
			if in[1].Len() != 1 || !in[1].DType.IsFloat() {
				return nil, fmt.Errorf("Dropout backward: ratio input %s, want a float scalar", in[1])
			}
			ratio = in[1].Float64At(0)
		}
		if len(in) > 2 && in[2] != nil {
			if in[2].Len() != 1 || in[2].DType != Bool {
				return nil, fmt.Errorf("Dropout backward: training_mode input %s, want a bool scalar", in[2])
			}
			training = training || in[2].Bool[0]
		}
	}
	if !training || ratio == 0 || op.isTest {
		res[0] = dy
		return res, nil
	}
	scale := 0.0
	if ratio < 1 {
		scale = 1 / (1 - ratio)
	}
	var mask *Tensor
	if len(out) > 1 && out[1] != nil {
		mask = out[1]
		if mask.Len() != x.Len() {
			return nil, fmt.Errorf("Dropout backward: mask has shape %s, data %s", ShapeString(mask.Shape), ShapeString(x.Shape))
		}
	}
	y := out[0]
	if mask == nil && (y == nil || y.Len() != x.Len() || (y.F64 != nil) != (x.F64 != nil)) {
		return nil, fmt.Errorf("Dropout backward: neither the mask nor a matching output is available")
	}
	dx := New(x.DType, x.Shape...)
	if x.F64 != nil {
		nmgDropoutBack(x.F64, dy.F64, nmgData[float64](y), dx.F64, mask, scale)
	} else {
		nmgDropoutBack(x.F32, dy.F32, nmgData[float32](y), dx.F32, mask, scale)
		dx.RoundToDType()
	}
	res[0] = dx
	return res, nil
}

func nmgDropoutBack[T float32 | float64](x, dy, y, dx []T, mask *Tensor, scale float64) {
	s := T(scale)
	switch {
	case mask == nil:
		// Expected factor where the draw cannot be told: 1, or 0 when
		// everything is dropped (ratio 1).
		var e T
		if scale != 0 {
			e = 1
		}
		for i, v := range y {
			switch {
			case v != 0:
				dx[i] = dy[i] * s
			case x[i] == 0:
				dx[i] = dy[i] * e
			}
		}
	case mask.Bool != nil:
		for i, k := range mask.Bool {
			if k {
				dx[i] = dy[i] * s
			}
		}
	default:
		for i := range dx {
			if mask.Float64At(i) != 0 {
				dx[i] = dy[i] * s
			}
		}
	}
}

// nmgMerger guards merges of per-goroutine partial sums.
type nmgMerger struct {
	mu sync.Mutex
}

func (m *nmgMerger) add(dst, src []float64) {
	m.mu.Lock()
	for i, v := range src {
		dst[i] += v
	}
	m.mu.Unlock()
}

// ---------------------------------------------------------------------------
// Instance, group, layer and RMS normalization

// nmgInstanceNormGrad is the backward pass of InstanceNormalization: a
// group normalization with one channel per group.
func nmgInstanceNormGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	op, ok := n.Op.(*normInstanceOp)
	if !ok {
		return nil, fmt.Errorf("InstanceNormalization backward: node op is %T", n.Op)
	}
	return nmgGroupLike("InstanceNormalization", in, dOut, need, 0, true, op.eps)
}

// nmgGroupNormGrad is the backward pass of GroupNormalization (scale and
// bias per group at opset 18, per channel from opset 21).
func nmgGroupNormGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	op, ok := n.Op.(*normGroupOp)
	if !ok {
		return nil, fmt.Errorf("GroupNormalization backward: node op is %T", n.Op)
	}
	return nmgGroupLike("GroupNormalization", in, dOut, need, op.groups, op.perChannel, op.eps)
}

// nmgGroupLike computes the gradients of y = x̂·scale + bias where x̂ is x
// normalized over each (sample, group) of channels; groups 0 means one
// group per channel. With x̂ = (x-μ)·r over a group of size S and g =
// dY·scale: dX = r·g - r³·(x-μ)·Σ g(x-μ)/S - r·Σ g/S; dscale = Σ dY·x̂;
// dbias = Σ dY (summed per group when the parameters are per group).
func nmgGroupLike(what string, in, dOut []*Tensor, need []bool, groups int, perChannel bool, eps float64) ([]*Tensor, error) {
	if len(in) < 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return nil, fmt.Errorf("%s backward: want 3 inputs (X, scale, bias)", what)
	}
	res := make([]*Tensor, len(in))
	if len(dOut) < 1 || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := nmgCheck(what, x, dy); err != nil {
		return nil, err
	}
	if err := nmgMatch(what, x, dy, x.Len()); err != nil {
		return nil, err
	}
	if x.Rank() < 2 {
		return nil, fmt.Errorf("%s backward: input X has shape %s, want rank >= 2", what, ShapeString(x.Shape))
	}
	N, C := x.Shape[0], x.Shape[1]
	plane := NumElements(x.Shape[2:])
	G := groups
	if G == 0 {
		G = C
	}
	if G <= 0 || C%G != 0 {
		return nil, fmt.Errorf("%s backward: %d channels are not divisible into %d groups", what, C, G)
	}
	cpg := C / G
	scale, err := normFloatVec(in[1], "input scale")
	if err != nil {
		return nil, err
	}
	np := C
	if !perChannel {
		np = G
	}
	if len(scale) != np || in[2].Len() != np {
		return nil, fmt.Errorf("%s backward: input X shape %s: scale has %d and bias %d elements, want %d", what, ShapeString(x.Shape), len(scale), in[2].Len(), np)
	}
	if !perChannel {
		s := make([]float64, C)
		for c := range s {
			s[c] = scale[c/cpg]
		}
		scale = s
	}
	chDy := make([]float64, N*C)
	chDyXhat := make([]float64, N*C)
	var dx *Tensor
	if need[0] {
		dx = New(x.DType, x.Shape...)
	}
	if x.F64 != nil {
		nmgGroupBack(x.F64, dy.F64, nmgData[float64](dx), N, C, G, plane, scale, eps, chDy, chDyXhat)
	} else {
		nmgGroupBack(x.F32, dy.F32, nmgData[float32](dx), N, C, G, plane, scale, eps, chDy, chDyXhat)
		if dx != nil {
			dx.RoundToDType()
		}
	}
	res[0] = dx
	for k, sums := range [][]float64{chDyXhat, chDy} {
		if !need[k+1] {
			continue
		}
		v := make([]float64, np)
		for nc, s := range sums {
			c := nc % C
			if !perChannel {
				c /= cpg
			}
			v[c] += s
		}
		res[k+1] = nmgFromF64(v, in[k+1])
	}
	return res, nil
}

// nmgGroupBack handles data laid out as [N][G][C/G][plane]: it sets dx
// (when non-nil) and the per-(sample, channel) sums Σ dY and Σ dY·x̂.
func nmgGroupBack[T float32 | float64](x, dy, dx []T, N, C, G, plane int, scale []float64, eps float64, chDy, chDyXhat []float64) {
	cpg := C / G
	size := cpg * plane
	if size == 0 {
		return
	}
	normParallel(N*G, size, func(lo, hi int) {
		for ng := lo; ng < hi; ng++ {
			xr := x[ng*size : (ng+1)*size]
			dr := dy[ng*size : (ng+1)*size]
			mu := redRowF(redSum, xr, 0) / float64(size)
			r := 1 / math.Sqrt(normSqDev(xr, mu)/float64(size)+eps)
			c0 := (ng % G) * cpg
			var sg, sgx float64
			for k := 0; k < cpg; k++ {
				off := k * plane
				a, b := nmgSumDot(xr[off:off+plane], dr[off:off+plane], mu)
				nc := ng*cpg + k
				chDy[nc], chDyXhat[nc] = a, b*r
				sg += scale[c0+k] * a
				sgx += scale[c0+k] * b
			}
			if dx == nil {
				continue
			}
			B := -r * r * r * sgx / float64(size)
			cc := -r * sg / float64(size)
			gr := dx[ng*size : (ng+1)*size]
			for k := 0; k < cpg; k++ {
				off := k * plane
				nmgAxpbycRun(dr[off:off+plane], xr[off:off+plane], gr[off:off+plane], scale[c0+k]*r, B, mu, cc)
			}
		}
	})
}

// nmgParamGrad sums a gradient over the normalized shape back to the shape
// of a LayerNormalization/RMSNormalization parameter (which has the same
// number of elements or broadcasts to it).
func nmgParamGrad(full []float64, p *Tensor, normShape []int) *Tensor {
	if p.Len() == len(full) {
		return nmgFromF64(full, p)
	}
	v := make([]float64, p.Len())
	for i, j := range BroadcastIndex(p.Shape, normShape) {
		v[j] += full[i]
	}
	return nmgFromF64(v, p)
}

// nmgLayerNormGrad is the backward pass of LayerNormalization. Per row
// (the dimensions from axis on) with x̂ = (x-μ)·r and g = dY·scale:
// dX = r·g - r³·(x-μ)·Σ g(x-μ)/D - r·Σ g/D; dScale = Σ dY·x̂ and dB = Σ dY
// over the rows. Gradients of the optional Mean and InvStdDev outputs add
// dMean/D and -dInv·r³·(x-μ)/D.
func nmgLayerNormGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	op, ok := n.Op.(*normLayerOp)
	if !ok {
		return nil, fmt.Errorf("LayerNormalization backward: node op is %T", n.Op)
	}
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("LayerNormalization backward: inputs X and Scale are required")
	}
	x := in[0]
	var dy *Tensor
	if len(dOut) > 0 {
		dy = dOut[0]
	}
	if err := nmgCheck("LayerNormalization", x, dy); err != nil {
		return nil, err
	}
	if err := nmgMatch("LayerNormalization", x, dy, x.Len()); err != nil {
		return nil, err
	}
	if x.Rank() == 0 {
		return nil, fmt.Errorf("LayerNormalization backward: input X is a scalar")
	}
	axis, err := normAxis(op.axis, x.Rank())
	if err != nil {
		return nil, fmt.Errorf("LayerNormalization backward: input X shape %s: %w", ShapeString(x.Shape), err)
	}
	normShape := x.Shape[axis:]
	outer, inner := NumElements(x.Shape[:axis]), NumElements(normShape)
	scale, err := normLayerParam(in[1], normShape, "Scale")
	if err != nil {
		return nil, err
	}
	var gMean, gInv []float64
	if len(dOut) > 1 {
		if gMean, err = nmgVec(dOut[1], outer); err != nil {
			return nil, fmt.Errorf("LayerNormalization backward: Mean: %w", err)
		}
	}
	if len(dOut) > 2 {
		if gInv, err = nmgVec(dOut[2], outer); err != nil {
			return nil, fmt.Errorf("LayerNormalization backward: InvStdDev: %w", err)
		}
	}
	hasBias := len(in) > 2 && in[2] != nil
	res := make([]*Tensor, len(in))
	var dScale, dBias []float64
	if need[1] && dy != nil {
		dScale = make([]float64, inner)
	}
	if hasBias && need[2] && dy != nil {
		dBias = make([]float64, inner)
	}
	var dx *Tensor
	if need[0] {
		dx = New(x.DType, x.Shape...)
	}
	if x.F64 != nil {
		nmgLayerBack(x.F64, nmgData[float64](dy), nmgData[float64](dx), outer, inner, scale, op.eps, gMean, gInv, dScale, dBias, false)
	} else {
		nmgLayerBack(x.F32, nmgData[float32](dy), nmgData[float32](dx), outer, inner, scale, op.eps, gMean, gInv, dScale, dBias, false)
		if dx != nil {
			dx.RoundToDType()
		}
	}
	res[0] = dx
	if dScale != nil {
		res[1] = nmgParamGrad(dScale, in[1], normShape)
	}
	if dBias != nil {
		res[2] = nmgParamGrad(dBias, in[2], normShape)
	}
	return res, nil
}

// nmgRMSNormGrad is the backward pass of RMSNormalization: y = x·r·scale
// with r = (Σx²/D + ε)^(-1/2); with g = dY·scale, dX = r·g - r³·x·Σ gx/D
// and dScale = Σ dY·x·r over the rows.
func nmgRMSNormGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	op, ok := n.Op.(*normRMSOp)
	if !ok {
		return nil, fmt.Errorf("RMSNormalization backward: node op is %T", n.Op)
	}
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("RMSNormalization backward: inputs X and scale are required")
	}
	res := make([]*Tensor, len(in))
	if len(dOut) < 1 || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := nmgCheck("RMSNormalization", x, dy); err != nil {
		return nil, err
	}
	if err := nmgMatch("RMSNormalization", x, dy, x.Len()); err != nil {
		return nil, err
	}
	if x.Rank() == 0 {
		return nil, fmt.Errorf("RMSNormalization backward: input X is a scalar")
	}
	axis, err := normAxis(op.axis, x.Rank())
	if err != nil {
		return nil, fmt.Errorf("RMSNormalization backward: input X shape %s: %w", ShapeString(x.Shape), err)
	}
	normShape := x.Shape[axis:]
	outer, inner := NumElements(x.Shape[:axis]), NumElements(normShape)
	scale, err := normLayerParam(in[1], normShape, "scale")
	if err != nil {
		return nil, err
	}
	var dScale []float64
	if need[1] {
		dScale = make([]float64, inner)
	}
	var dx *Tensor
	if need[0] {
		dx = New(x.DType, x.Shape...)
	}
	if x.F64 != nil {
		nmgLayerBack(x.F64, dy.F64, nmgData[float64](dx), outer, inner, scale, op.eps, nil, nil, dScale, nil, true)
	} else {
		nmgLayerBack(x.F32, dy.F32, nmgData[float32](dx), outer, inner, scale, op.eps, nil, nil, dScale, nil, true)
		if dx != nil {
			dx.RoundToDType()
		}
	}
	res[0] = dx
	if dScale != nil {
		res[1] = nmgParamGrad(dScale, in[1], normShape)
	}
	return res, nil
}

// nmgLayerBack is the row kernel of the layer and RMS normalization
// backward passes over outer rows of inner elements. rms selects RMS
// normalization (no mean subtraction). dy, dx, gMean, gInv, dScale and
// dBias may be nil.
func nmgLayerBack[T float32 | float64](x, dy, dx []T, outer, inner int, scale []float64, eps float64, gMean, gInv, dScale, dBias []float64, rms bool) {
	if inner == 0 {
		return
	}
	var merge nmgMerger
	D := float64(inner)
	normParallel(outer, inner, func(lo, hi int) {
		var ls, lb []float64
		if dScale != nil {
			ls = make([]float64, inner)
		}
		if dBias != nil {
			lb = make([]float64, inner)
		}
		for o := lo; o < hi; o++ {
			xr := x[o*inner : (o+1)*inner]
			var mu, r float64
			if rms {
				r = 1 / math.Sqrt(redRowF(redSumSquare, xr, 0)/D+eps)
			} else {
				mu = redRowF(redSum, xr, 0) / D
				r = 1 / math.Sqrt(normSqDev(xr, mu)/D+eps)
			}
			var sg, sgx float64
			var dr []T
			if dy != nil {
				dr = dy[o*inner : (o+1)*inner]
				sg, sgx = nmgRowSums(xr, dr, scale, mu, r, ls, lb)
			}
			if dx == nil {
				continue
			}
			r3 := r * r * r
			B := -r3 * sgx / D
			var cc float64
			if !rms {
				cc = -r * sg / D
			}
			if gMean != nil {
				cc += gMean[o] / D
			}
			if gInv != nil {
				B -= gInv[o] * r3 / D
			}
			gr := dx[o*inner : (o+1)*inner]
			bv, mv, cv := T(B), T(mu), T(cc)
			if dr == nil {
				for i, v := range xr {
					gr[i] = bv*(v-mv) + cv
				}
				continue
			}
			sc := scale[:len(xr)]
			dr, gr = dr[:len(xr)], gr[:len(xr)]
			for i, v := range xr {
				gr[i] = T(r*sc[i]*float64(dr[i])) + bv*(v-mv) + cv
			}
		}
		if ls != nil {
			merge.add(dScale, ls)
		}
		if lb != nil {
			merge.add(dBias, lb)
		}
	})
}

// nmgRowSums returns Σ g and Σ g·(x-mu) for g = dy·scale over one row, and
// adds dy·(x-mu)·r to ls and dy to lb (either may be nil).
func nmgRowSums[T float32 | float64](x, dy []T, scale []float64, mu, r float64, ls, lb []float64) (float64, float64) {
	dy, scale = dy[:len(x)], scale[:len(x)]
	var s0, s1, q0, q1 float64
	if ls != nil && lb != nil {
		ls, lb = ls[:len(x)], lb[:len(x)]
		for i, v := range x {
			d := float64(dy[i])
			xc := float64(v) - mu
			g := d * scale[i]
			s0 += g
			q0 += g * xc
			ls[i] += d * xc * r
			lb[i] += d
		}
		return s0, q0
	}
	if ls != nil {
		ls = ls[:len(x)]
		for i, v := range x {
			d := float64(dy[i])
			xc := float64(v) - mu
			g := d * scale[i]
			s0 += g
			q0 += g * xc
			ls[i] += d * xc * r
		}
		return s0, q0
	}
	i := 0
	for ; i+2 <= len(x); i += 2 {
		g0, g1 := float64(dy[i])*scale[i], float64(dy[i+1])*scale[i+1]
		s0 += g0
		s1 += g1
		q0 += g0 * (float64(x[i]) - mu)
		q1 += g1 * (float64(x[i+1]) - mu)
	}
	for ; i < len(x); i++ {
		g := float64(dy[i]) * scale[i]
		s0 += g
		q0 += g * (float64(x[i]) - mu)
	}
	if lb != nil {
		lb = lb[:len(x)]
		for i, d := range dy {
			lb[i] += float64(d)
		}
	}
	return s0 + s1, q0 + q1
}

// ---------------------------------------------------------------------------
// MeanVarianceNormalization and LpNormalization

// nmgLayDot returns, per output of a reduction layout, Σ a·(b - sub) (b
// nil: Σ a; sub nil: no offset).
func nmgLayDot[T float32 | float64](lay *redLayout, a, b []T, sub []float64) []float64 {
	acc := make([]float64, lay.outLen)
	L := lay.runLen
	lay.run(func(inOff, outOff int) {
		ar := a[inOff : inOff+L]
		var br []T
		if b != nil {
			br = b[inOff : inOff+L]
		}
		for i, v := range ar {
			o := outOff
			if !lay.lastRed {
				o += i
			}
			f := float64(v)
			if br != nil {
				w := float64(br[i])
				if sub != nil {
					w -= sub[o]
				}
				f *= w
			}
			acc[o] += f
		}
	})
	return acc
}

// nmgLayMap sets dx[i] = f(i, o) for every input element i with output o.
func nmgLayMap[T float32 | float64](lay *redLayout, dx []T, f func(i, o int) float64) {
	L := lay.runLen
	lay.run(func(inOff, outOff int) {
		for i := 0; i < L; i++ {
			o := outOff
			if !lay.lastRed {
				o += i
			}
			dx[inOff+i] = T(f(inOff+i, o))
		}
	})
}

// nmgMVNGrad is the backward pass of MeanVarianceNormalization, y = (x-μ)·q
// with q = 1/(σ + 1e-9) over the axes: dX = q·(dY - mean dY) -
// q²·(x-μ)·Σ dY(x-μ)/(n·σ).
func nmgMVNGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	op, ok := n.Op.(*normMVNOp)
	if !ok {
		return nil, fmt.Errorf("MeanVarianceNormalization backward: node op is %T", n.Op)
	}
	res := make([]*Tensor, len(in))
	if len(in) < 1 || in[0] == nil || !need[0] || len(dOut) < 1 || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := nmgCheck("MeanVarianceNormalization", x, dy); err != nil {
		return nil, err
	}
	if err := nmgMatch("MeanVarianceNormalization", x, dy, x.Len()); err != nil {
		return nil, err
	}
	reduced := make([]bool, x.Rank())
	for _, a := range op.axes {
		ax, err := normAxis(a, x.Rank())
		if err != nil || x.Rank() == 0 {
			return nil, fmt.Errorf("MeanVarianceNormalization backward: axes %v: axis %d out of range for input shape %s", op.axes, a, ShapeString(x.Shape))
		}
		reduced[ax] = true
	}
	lay := redMakeLayout(x.Shape, reduced)
	dx := New(x.DType, x.Shape...)
	if x.Len() > 0 {
		if x.F64 != nil {
			nmgMVNBack(lay, x.F64, dy.F64, dx.F64)
		} else {
			nmgMVNBack(lay, x.F32, dy.F32, dx.F32)
			dx.RoundToDType()
		}
	}
	res[0] = dx
	return res, nil
}

func nmgMVNBack[T float32 | float64](lay *redLayout, x, dy, dx []T) {
	cnt := float64(lay.count)
	mean := nmgLayDot(lay, x, nil, nil)
	for i := range mean {
		mean[i] /= cnt
	}
	// Σ x·(x-μ) = Σ (x-μ)² since Σ (x-μ) = 0.
	vr := nmgLayDot(lay, x, x, mean)
	sdy := nmgLayDot(lay, dy, nil, nil)
	sdxc := nmgLayDot(lay, dy, x, mean)
	q := make([]float64, len(vr))
	k := make([]float64, len(vr))
	for o, v := range vr {
		sd := math.Sqrt(v / cnt)
		q[o] = 1 / (sd + 1e-9)
		if sd > 0 {
			k[o] = q[o] * q[o] * sdxc[o] / (cnt * sd)
		}
	}
	nmgLayMap(lay, dx, func(i, o int) float64 {
		return q[o]*(float64(dy[i])-sdy[o]/cnt) - k[o]*(float64(x[i])-mean[o])
	})
}

// nmgLpNormGrad is the backward pass of LpNormalization, y = x/‖x‖_p along
// the axis: dX = (dY - s·Σ dY·y)/‖x‖ with s = y (p = 2) or sign(x) (p = 1);
// zero where the norm is zero.
func nmgLpNormGrad(_ *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	op, ok := n.Op.(*normLpOp)
	if !ok {
		return nil, fmt.Errorf("LpNormalization backward: node op is %T", n.Op)
	}
	res := make([]*Tensor, len(in))
	if len(in) < 1 || in[0] == nil || !need[0] || len(dOut) < 1 || dOut[0] == nil {
		return res, nil
	}
	x, y, dy := in[0], out[0], dOut[0]
	if err := nmgCheck("LpNormalization", x, y, dy); err != nil {
		return nil, err
	}
	if err := nmgMatch("LpNormalization", x, dy, x.Len()); err != nil {
		return nil, err
	}
	if err := nmgMatch("LpNormalization", x, y, x.Len()); err != nil {
		return nil, err
	}
	lay, norm, err := op.norms(x)
	if err != nil {
		return nil, fmt.Errorf("LpNormalization backward: %w", err)
	}
	dx := New(x.DType, x.Shape...)
	if x.Len() > 0 {
		if x.F64 != nil {
			nmgLpBack(lay, op.p, norm, x.F64, y.F64, dy.F64, dx.F64)
		} else {
			nmgLpBack(lay, op.p, norm, x.F32, y.F32, dy.F32, dx.F32)
			dx.RoundToDType()
		}
	}
	res[0] = dx
	return res, nil
}

func nmgLpBack[T float32 | float64](lay *redLayout, p int, norm []float64, x, y, dy, dx []T) {
	s := nmgLayDot(lay, dy, y, nil)
	nmgLayMap(lay, dx, func(i, o int) float64 {
		if norm[o] == 0 {
			return 0
		}
		var d float64
		if p == 1 {
			switch v := x[i]; {
			case v > 0:
				d = 1
			case v < 0:
				d = -1
			}
		} else {
			d = float64(y[i])
		}
		return (float64(dy[i]) - d*s[o]) / norm[o]
	})
}
