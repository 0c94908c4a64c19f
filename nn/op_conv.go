package nn

import (
	"fmt"
)

// convGemm dispatches a row-major GEMM to the float32 or float64 BLAS.
func convGemm[T float32 | float64](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	switch av := any(a).(type) {
	case []float32:
		gemmF32(transA, transB, m, n, k, 1, av, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		gemmF64(transA, transB, m, n, k, 1, av, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

// convBuf returns scratch space of n elements and its release function;
// float32 buffers come from a sync.Pool.
func convBuf[T float32 | float64](n int) ([]T, func()) {
	var zero T
	if _, ok := any(zero).(float32); ok {
		p := gemmGetBuf(n)
		return any(*p).([]T), func() { gemmPutBuf(p) }
	}
	return make([]T, n), func() {}
}

// convData returns the float slice of t as []T.
func convData[T float32 | float64](t *Tensor) []T {
	if t == nil {
		return nil
	}
	var zero T
	if _, ok := any(zero).(float32); ok {
		return any(t.F32).([]T)
	}
	return any(t.F64).([]T)
}

// convOp implements ONNX Conv.
type convOp struct {
	attrs convAttrs
	group int
}

func convNew(n *Node) (Op, error) {
	a, err := convReadAttrs(n)
	if err != nil {
		return nil, fmt.Errorf("Conv: %w", err)
	}
	g := int(n.AttrInt("group", 1))
	if g < 1 {
		return nil, fmt.Errorf("Conv: group %d must be positive", g)
	}
	return &convOp{attrs: a, group: g}, nil
}

func (c *convOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	return c.run(ctx, in, nil)
}

// convAct is an activation fused into a convolution: outputs are clamped
// to [lo, hi] (Relu: [0, +Inf)).
type convAct struct{ lo, hi float64 }

// run is Run with an optional fused activation.
func (c *convOp) run(ctx *Context, in []*Tensor, act *convAct) ([]*Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("Conv: needs inputs X and W")
	}
	x, w := in[0], in[1]
	var b *Tensor
	if len(in) > 2 {
		b = in[2]
	}
	if err := gemmCheckFloat("Conv", x, w, b); err != nil {
		return nil, err
	}
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return nil, fmt.Errorf("Conv: X %v and W %v must have equal rank of at least 3", ShapeString(x.Shape), ShapeString(w.Shape))
	}
	N, C, M := x.Shape[0], x.Shape[1], w.Shape[0]
	G := c.group
	if C%G != 0 || M%G != 0 || w.Shape[1]*G != C {
		return nil, fmt.Errorf("Conv: X %v, W %v and group %d do not fit (need C = W[1]*group and M divisible by group)",
			ShapeString(x.Shape), ShapeString(w.Shape), G)
	}
	if b != nil && (b.Rank() != 1 || b.Shape[0] != M) {
		return nil, fmt.Errorf("Conv: bias %v must have shape [%d]", ShapeString(b.Shape), M)
	}
	kernel := w.Shape[2:]
	if c.attrs.kernel != nil && !SameShape(c.attrs.kernel, kernel) {
		return nil, fmt.Errorf("Conv: kernel_shape %v differs from W %v", c.attrs.kernel, ShapeString(w.Shape))
	}
	geo, err := convMakeGeom(&c.attrs, x.Shape[2:], kernel)
	if err != nil {
		return nil, fmt.Errorf("Conv: X %v, W %v: %w", ShapeString(x.Shape), ShapeString(w.Shape), err)
	}
	if act != nil {
		geo.act, geo.actLo, geo.actHi = true, act.lo, act.hi
	}
	geo.packs = ctx.packs
	// convForward writes every element of y.
	y := ctx.arNew(x.DType, append([]int{N, M}, geo.outShape()...)...)
	if y.F32 != nil {
		convForward(geo, N, C, M, G, x.F32, w.F32, convData[float32](b), y.F32)
		y.RoundToDType()
	} else {
		convForward(geo, N, C, M, G, x.F64, w.F64, convData[float64](b), y.F64)
	}
	return []*Tensor{y}, nil
}

// convForward computes a grouped convolution y = conv(x, w) + b.
func convForward[T float32 | float64](g *convGeom, N, C, M, G int, x, w, b, y []T) {
	Cg, Mg := C/G, M/G
	if Cg == 1 && G > 1 {
		if xf, ok := any(x).([]float32); ok && gemmKernelOK {
			// Rank <= 2 takes the whole-plane kernel (faster at every stride-2
			// size of MobileNet-v2 too: BenchmarkConvDepthwiseS2Kernels); 3-D
			// convolutions go row by row.
			if g.in[0] == 1 && g.k[0] == 1 {
				convDepthwiseFlatF32(g, N, C, M, G, xf, any(w).([]float32), any(b).([]float32), any(y).([]float32))
				return
			}
			convDepthwiseF32(g, N, C, M, G, xf, any(w).([]float32), any(b).([]float32), any(y).([]float32))
			return
		}
		convDepthwise(g, N, C, M, G, x, w, b, y)
		return
	}
	if xf, ok := any(x).([]float32); ok && convNHWCOK(g, N, G) {
		convForwardNHWCF32(g, N, C, M, xf, any(w).([]float32), any(b).([]float32), any(y).([]float32))
		return
	}
	if xf, ok := any(x).([]float32); ok && !convBatchedPays(g, N) && convImplicitOK(g, G) {
		convForwardImplicitF32(g, N, C, M, xf, any(w).([]float32), any(b).([]float32), any(y).([]float32))
		return
	}
	if G == 1 && convBatchedPays(g, N) {
		convForwardBatched(g, N, C, M, convBatchSize(C*g.kSize, g.outSz, N), x, w, b, y)
		return
	}
	if convTapsOK(g, N, C, G) {
		convForwardTaps(g, N, C, M, x, w, b, y)
		return
	}
	pointwise := convPointwise(g)
	K := Cg * g.kSize
	task := func(t int, parallelIm2col bool) {
		n, gi := t/G, t%G
		xg := x[(n*C+gi*Cg)*g.inSize:][:Cg*g.inSize]
		wg := w[gi*Mg*K:][:Mg*K]
		yg := y[(n*M+gi*Mg)*g.outSz:][:Mg*g.outSz]
		var beta T
		if b != nil {
			for m := 0; m < Mg; m++ {
				bv := b[gi*Mg+m]
				pfFill(yg[m*g.outSz:(m+1)*g.outSz], bv)
			}
			beta = 1
		}
		if pointwise {
			convGemm(false, false, Mg, g.outSz, K, wg, K, xg, g.outSz, beta, yg, g.outSz)
			convEpilogue(g, yg)
			return
		}
		col, release := convBuf[T](K * g.outSz)
		if parallelIm2col {
			gemmParallel(Cg, func(lo, hi int) { convIm2col(g, xg, col, lo, hi) })
		} else {
			convIm2col(g, xg, col, 0, Cg)
		}
		convGemm(false, false, Mg, g.outSz, K, wg, K, col, g.outSz, beta, yg, g.outSz)
		release()
		convEpilogue(g, yg)
	}
	tasks := N * G
	if tasks == 1 {
		task(0, true)
		return
	}
	gemmParallel(tasks, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			task(t, false)
		}
	})
}

// convDepthwise is the direct kernel for convolutions with one input
// channel per group (depthwise, possibly with a channel multiplier).
func convDepthwise[T float32 | float64](g *convGeom, N, C, M, G int, x, w, b, y []T) {
	Mg := M / G
	iD, iH, iW := g.in[0], g.in[1], g.in[2]
	oD, oH, oW := g.out[0], g.out[1], g.out[2]
	sw := g.s[2]
	gemmParallel(N*M, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			n, m := p/M, p%M
			ci := m / Mg
			xc := x[(n*C+ci)*g.inSize:][:g.inSize]
			wk := w[m*g.kSize:][:g.kSize]
			yc := y[p*g.outSz:][:g.outSz]
			var bv T
			if b != nil {
				bv = b[m]
			}
			for od := 0; od < oD; od++ {
				for oh := 0; oh < oH; oh++ {
					yr := yc[(od*oH+oh)*oW:][:oW]
					for i := range yr {
						yr[i] = bv
					}
					for kd := 0; kd < g.k[0]; kd++ {
						id := od*g.s[0] - g.pb[0] + kd*g.d[0]
						if id < 0 || id >= iD {
							continue
						}
						for kh := 0; kh < g.k[1]; kh++ {
							ih := oh*g.s[1] - g.pb[1] + kh*g.d[1]
							if ih < 0 || ih >= iH {
								continue
							}
							xr := xc[(id*iH+ih)*iW:][:iW]
							wrow := wk[(kd*g.k[1]+kh)*g.k[2]:][:g.k[2]]
							for kw, wv := range wrow {
								off := kw*g.d[2] - g.pb[2]
								lo, hi := convValidRange(off, sw, iW, oW)
								if lo >= hi {
									continue
								}
								if sw == 1 {
									xs := xr[lo+off : hi+off]
									ys := yr[lo:hi]
									for i, xv := range xs {
										ys[i] += wv * xv
									}
								} else {
									iw := lo*sw + off
									for ow := lo; ow < hi; ow++ {
										yr[ow] += wv * xr[iw]
										iw += sw
									}
								}
							}
						}
					}
				}
			}
			convEpilogue(g, yc)
		}
	})
}

// convTransposeOp implements ONNX ConvTranspose.
type convTransposeOp struct {
	attrs     convAttrs
	group     int
	outPad    []int
	outShape  []int
	hasOutPad bool
}

func convTransposeNew(n *Node) (Op, error) {
	a, err := convReadAttrs(n)
	if err != nil {
		return nil, fmt.Errorf("ConvTranspose: %w", err)
	}
	g := int(n.AttrInt("group", 1))
	if g < 1 {
		return nil, fmt.Errorf("ConvTranspose: group %d must be positive", g)
	}
	return &convTransposeOp{
		attrs:    a,
		group:    g,
		outPad:   n.AttrInts("output_padding", nil),
		outShape: n.AttrInts("output_shape", nil),
	}, nil
}

func (c *convTransposeOp) geometry(in, k []int) (*convGeom, error) {
	r := len(in)
	if r < 1 || r > 3 {
		return nil, fmt.Errorf("%d spatial dimensions (supported: 1 to 3)", r)
	}
	a := &c.attrs
	if len(k) != r || (a.strides != nil && len(a.strides) != r) || (a.dilations != nil && len(a.dilations) != r) ||
		(a.pads != nil && len(a.pads) != 2*r) || (c.outPad != nil && len(c.outPad) != r) {
		return nil, fmt.Errorf("kernel %v, strides %v, dilations %v, pads %v or output_padding %v do not match %d spatial dimensions",
			k, a.strides, a.dilations, a.pads, c.outPad, r)
	}
	var outShape []int
	if c.outShape != nil {
		if len(c.outShape) < r {
			return nil, fmt.Errorf("output_shape %v has fewer than %d dimensions", c.outShape, r)
		}
		outShape = c.outShape[len(c.outShape)-r:]
	}
	g := &convGeom{rank: r}
	off := 3 - r
	for i := 0; i < 3; i++ {
		g.in[i], g.k[i], g.s[i], g.d[i], g.out[i] = 1, 1, 1, 1, 1
	}
	for i := 0; i < r; i++ {
		j := off + i
		g.in[j], g.k[j] = in[i], k[i]
		if a.strides != nil {
			g.s[j] = a.strides[i]
		}
		if a.dilations != nil {
			g.d[j] = a.dilations[i]
		}
		op := 0
		if c.outPad != nil {
			op = c.outPad[i]
		}
		ek := (g.k[j]-1)*g.d[j] + 1
		full := g.s[j]*(g.in[j]-1) + op + ek
		switch {
		case outShape != nil || a.autoPad == "SAME_UPPER" || a.autoPad == "SAME_LOWER":
			o := g.in[j] * g.s[j]
			if outShape != nil {
				o = outShape[i]
			}
			total := full - o
			if total < 0 {
				// Requested output is larger than the full result: the
				// extra positions at the end stay zero (bias only).
				g.pb[j], g.pe[j] = 0, total
			} else if a.autoPad == "SAME_UPPER" {
				g.pb[j], g.pe[j] = total/2, total-total/2
			} else {
				g.pb[j], g.pe[j] = total-total/2, total/2
			}
			g.out[j] = o
		default:
			if a.pads != nil && a.autoPad == "NOTSET" {
				g.pb[j], g.pe[j] = a.pads[i], a.pads[i+r]
			}
			g.out[j] = full - g.pb[j] - g.pe[j]
		}
		if g.out[j] < 1 {
			return nil, fmt.Errorf("output size %d along spatial axis %d is not positive", g.out[j], i)
		}
	}
	g.sizes()
	return g, nil
}

func (c *convTransposeOp) Run(_ *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("ConvTranspose: needs inputs X and W")
	}
	x, w := in[0], in[1]
	var b *Tensor
	if len(in) > 2 {
		b = in[2]
	}
	if err := gemmCheckFloat("ConvTranspose", x, w, b); err != nil {
		return nil, err
	}
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return nil, fmt.Errorf("ConvTranspose: X %v and W %v must have equal rank of at least 3", ShapeString(x.Shape), ShapeString(w.Shape))
	}
	N, C := x.Shape[0], x.Shape[1]
	G := c.group
	if w.Shape[0] != C || C%G != 0 {
		return nil, fmt.Errorf("ConvTranspose: X %v, W %v and group %d do not fit (need W[0] = C divisible by group)",
			ShapeString(x.Shape), ShapeString(w.Shape), G)
	}
	M := w.Shape[1] * G
	if b != nil && (b.Rank() != 1 || b.Shape[0] != M) {
		return nil, fmt.Errorf("ConvTranspose: bias %v must have shape [%d]", ShapeString(b.Shape), M)
	}
	kernel := w.Shape[2:]
	if c.attrs.kernel != nil && !SameShape(c.attrs.kernel, kernel) {
		return nil, fmt.Errorf("ConvTranspose: kernel_shape %v differs from W %v", c.attrs.kernel, ShapeString(w.Shape))
	}
	geo, err := c.geometry(x.Shape[2:], kernel)
	if err != nil {
		return nil, fmt.Errorf("ConvTranspose: X %v, W %v: %w", ShapeString(x.Shape), ShapeString(w.Shape), err)
	}
	y := New(x.DType, append([]int{N, M}, geo.outShape()...)...)
	if y.F32 != nil {
		convTransposeForward(geo, N, C, M, G, x.F32, w.F32, convData[float32](b), y.F32)
		y.RoundToDType()
	} else {
		convTransposeForward(geo, N, C, M, G, x.F64, w.F64, convData[float64](b), y.F64)
	}
	return []*Tensor{y}, nil
}

// convTransposeForward computes y = conv_transpose(x, w) + b via GEMM and col2im.
func convTransposeForward[T float32 | float64](g *convGeom, N, C, M, G int, x, w, b, y []T) {
	Cg, Mg := C/G, M/G
	R := Mg * g.kSize
	task := func(t int, par bool) {
		n, gi := t/G, t%G
		xg := x[(n*C+gi*Cg)*g.inSize:][:Cg*g.inSize]
		wg := w[gi*Cg*R:][:Cg*R]
		yg := y[(n*M+gi*Mg)*g.outSz:][:Mg*g.outSz]
		if b != nil {
			for m := 0; m < Mg; m++ {
				bv := b[gi*Mg+m]
				pfFill(yg[m*g.outSz:(m+1)*g.outSz], bv)
			}
		}
		col, release := convBuf[T](R * g.inSize)
		convGemm(true, false, R, g.inSize, Cg, wg, R, xg, g.inSize, 0, col, g.inSize)
		if par {
			gemmParallel(Mg, func(lo, hi int) { convCol2im(g, col, yg, lo, hi) })
		} else {
			convCol2im(g, col, yg, 0, Mg)
		}
		release()
	}
	tasks := N * G
	if tasks == 1 {
		task(0, true)
		return
	}
	gemmParallel(tasks, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			task(t, false)
		}
	})
}
