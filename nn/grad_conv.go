package nn

import (
	"fmt"
	"runtime"
	"sync"
)

// convGrads holds the backward passes of the convolution and pooling ops.
func convGrads() map[string]GradFunc {
	return map[string]GradFunc{
		"Conv":              cvgConv,
		"ConvTranspose":     cvgConvTranspose,
		"MaxPool":           cvgMaxPool,
		"AveragePool":       cvgAvgPool,
		"GlobalAveragePool": cvgGlobalPool(false),
		"GlobalMaxPool":     cvgGlobalPool(true),
		"LRN":               cvgLRN,
	}
}

// cvgCheck validates the float operands of a backward pass: every tensor
// must have the storage of x, and dy the expected shape.
func cvgCheck(name string, x, dy *Tensor, shape []int, others ...*Tensor) error {
	if dy == nil {
		return fmt.Errorf("%s backward: no output gradient", name)
	}
	st := x.DType.Storage()
	if st != StoreF32 && st != StoreF64 {
		return fmt.Errorf("%s backward: unsupported input type %v", name, x.DType)
	}
	if dy.DType.Storage() != st {
		return fmt.Errorf("%s backward: output gradient type %v differs from input type %v", name, dy.DType, x.DType)
	}
	for _, t := range others {
		if t != nil && t.DType.Storage() != st {
			return fmt.Errorf("%s backward: operand type %v differs from input type %v", name, t.DType, x.DType)
		}
	}
	if !SameShape(dy.Shape, shape) {
		return fmt.Errorf("%s backward: output gradient %v does not match the output shape %v", name, ShapeString(dy.Shape), ShapeString(shape))
	}
	return nil
}

// cvgSwap returns the geometry with input and output grids exchanged, so
// that convIm2col/convCol2im work on the other side of the window map.
func cvgSwap(g *convGeom) *convGeom {
	t := *g
	t.in, t.out = g.out, g.in
	t.inSize, t.outSz = g.outSz, g.inSize
	return &t
}

// cvgRound applies RoundToDType to the non-nil float32 results.
func cvgRound(ts ...*Tensor) {
	for _, t := range ts {
		if t != nil && t.F32 != nil {
			t.RoundToDType()
		}
	}
}

// cvgBiasGrad sums dy [N, M, S] over N and S into db [M].
func cvgBiasGrad[T float32 | float64](N, M, S int, dy, db []T) {
	gemmParallel(M, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			var s float64
			for n := 0; n < N; n++ {
				row := dy[(n*M+m)*S:][:S]
				var a0, a1, a2, a3 T
				i := 0
				for ; i+4 <= len(row); i += 4 {
					a0 += row[i]
					a1 += row[i+1]
					a2 += row[i+2]
					a3 += row[i+3]
				}
				for ; i < len(row); i++ {
					a0 += row[i]
				}
				s += float64(a0 + a1 + a2 + a3)
			}
			db[m] = T(s)
		}
	})
}

// cvgConv: Y = conv(X, W) + B.
func cvgConv(ctx *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	if len(dOut) == 0 || dOut[0] == nil {
		return make([]*Tensor, len(in)), nil // the loss does not depend on Y
	}
	op, ok := n.Op.(*convOp)
	if !ok {
		return nil, fmt.Errorf("Conv backward: node op is %T, not the standard Conv", n.Op)
	}
	if len(in) < 2 || in[0] == nil || in[1] == nil || len(dOut) < 1 {
		return nil, fmt.Errorf("Conv backward: needs inputs X and W and the output gradient")
	}
	x, w := in[0], in[1]
	var b *Tensor
	if len(in) > 2 {
		b = in[2]
	}
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return nil, fmt.Errorf("Conv backward: X %v and W %v must have equal rank of at least 3", ShapeString(x.Shape), ShapeString(w.Shape))
	}
	N, C, M := x.Shape[0], x.Shape[1], w.Shape[0]
	G := op.group
	if C%G != 0 || M%G != 0 || w.Shape[1]*G != C {
		return nil, fmt.Errorf("Conv backward: X %v, W %v and group %d do not fit", ShapeString(x.Shape), ShapeString(w.Shape), G)
	}
	geo, err := convMakeGeom(&op.attrs, x.Shape[2:], w.Shape[2:])
	if err != nil {
		return nil, fmt.Errorf("Conv backward: X %v, W %v: %w", ShapeString(x.Shape), ShapeString(w.Shape), err)
	}
	dy := dOut[0]
	if err := cvgCheck("Conv", x, dy, append([]int{N, M}, geo.outShape()...), w, b); err != nil {
		return nil, err
	}
	res := make([]*Tensor, len(in))
	var dx, dw *Tensor
	if need[0] {
		dx = tmNew(ctx, x.DType, x.Shape...)
	}
	if len(need) > 1 && need[1] {
		dw = tmNew(ctx, w.DType, w.Shape...)
	}
	if b != nil && len(need) > 2 && need[2] {
		db := New(b.DType, b.Shape...)
		if db.F32 != nil {
			cvgBiasGrad(N, M, geo.outSz, dy.F32, db.F32)
		} else {
			cvgBiasGrad(N, M, geo.outSz, dy.F64, db.F64)
		}
		cvgRound(db)
		res[2] = db
	}
	if dx != nil || dw != nil {
		if x.F32 != nil {
			convBackAuto(geo, N, C, M, G, x.F32, w.F32, dy.F32, convData[float32](dx), convData[float32](dw))
		} else {
			convBackAuto(geo, N, C, M, G, x.F64, w.F64, dy.F64, convData[float64](dx), convData[float64](dw))
		}
	}
	cvgRound(dx, dw)
	res[0] = dx
	if len(res) > 1 {
		res[1] = dw
	}
	return res, nil
}

// cvgWorkers runs tasks [0,n) on up to GOMAXPROCS goroutines in contiguous
// chunks; fn receives the worker index, so per-worker accumulators can be
// used. It returns the number of workers used.
func cvgWorkers(n int, fn func(worker, lo, hi int)) int {
	procs := min(runtime.GOMAXPROCS(0), n)
	if procs <= 1 {
		fn(0, 0, n)
		return 1
	}
	chunk := (n + procs - 1) / procs
	var wg sync.WaitGroup
	nw := 0
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			fn(w, lo, hi)
		}(nw, lo, hi)
		nw++
	}
	wg.Wait()
	return nw
}

// cvgBatched runs task over [0,tasks) in parallel. When dw is non-nil each
// worker gets a private zeroed accumulator of its size (the first worker
// uses dw itself) that is summed into dw at the end; acc is nil when dw is.
// par tells the task it runs alone and may parallelise internally.
func cvgBatched[T float32 | float64](tasks int, dw []T, task func(acc []T, t int, par bool)) {
	procs := min(runtime.GOMAXPROCS(0), tasks)
	if procs <= 1 {
		for t := 0; t < tasks; t++ {
			task(dw, t, true)
		}
		return
	}
	var accs [][]T
	if dw != nil {
		// Private accumulators (pooled scratch, zeroed) for workers 1..;
		// released after the reduction below.
		accs = make([][]T, procs)
		accs[0] = dw
		for wk := 1; wk < procs; wk++ {
			buf, release := convBuf[T](len(dw))
			defer release()
			clear(buf)
			accs[wk] = buf
		}
	}
	nw := cvgWorkers(tasks, func(wk, lo, hi int) {
		var acc []T
		if accs != nil {
			acc = accs[wk]
		}
		for t := lo; t < hi; t++ {
			task(acc, t, false)
		}
	})
	if accs != nil && nw > 1 {
		gemmParallel(len(dw), func(lo, hi int) {
			d := dw[lo:hi]
			for _, a := range accs[1:nw] {
				for i, v := range a[lo:hi] {
					d[i] += v
				}
			}
		})
	}
}

// cvgConvBack computes dx (if non-nil, zeroed) and dw (if non-nil, zeroed)
// of a grouped convolution: dW_g = Σ_n dY_{n,g}·im2col(X_{n,g})ᵀ and
// dX_{n,g} = col2im(W_gᵀ·dY_{n,g}). Batch×group tasks run in parallel,
// each worker accumulating dW privately before a final reduction.
func cvgConvBack[T float32 | float64](g *convGeom, N, C, M, G int, x, w, dy, dx, dw []T) {
	Cg, Mg := C/G, M/G
	if Cg == 1 && G > 1 {
		cvgDepthwiseBack(g, N, C, M, G, x, w, dy, dx, dw)
		return
	}
	pointwise := g.kSize == 1 && g.inSize == g.outSz &&
		g.s == [3]int{1, 1, 1} && g.pb == [3]int{} && g.pe == [3]int{}
	K := Cg * g.kSize
	task := func(acc []T, t int, par bool) {
		n, gi := t/G, t%G
		xg := x[(n*C+gi*Cg)*g.inSize:][:Cg*g.inSize]
		dyg := dy[(n*M+gi*Mg)*g.outSz:][:Mg*g.outSz]
		if pointwise {
			if acc != nil {
				// dW_gᵀ [K, Mg] += X_g·dY_gᵀ
				convGemm(false, true, K, Mg, g.outSz, xg, g.inSize, dyg, g.outSz, 1, acc[gi*Mg*K:][:Mg*K], Mg)
			}
			if dx != nil {
				convGemm(true, false, K, g.outSz, Mg, w[gi*Mg*K:][:Mg*K], K, dyg, g.outSz, 0, dx[(n*C+gi*Cg)*g.inSize:][:Cg*g.inSize], g.inSize)
			}
			return
		}
		col, release := convBuf[T](K * g.outSz)
		defer release()
		if acc != nil {
			if par {
				gemmParallel(Cg, func(lo, hi int) { convIm2col(g, xg, col, lo, hi) })
			} else {
				convIm2col(g, xg, col, 0, Cg)
			}
			// dW_gᵀ [K, Mg] += col·dY_gᵀ (packing the small dY rather
			// than the large col transposed).
			convGemm(false, true, K, Mg, g.outSz, col, g.outSz, dyg, g.outSz, 1, acc[gi*Mg*K:][:Mg*K], Mg)
		}
		if dx != nil {
			clear(col)
			convGemm(true, false, K, g.outSz, Mg, w[gi*Mg*K:][:Mg*K], K, dyg, g.outSz, 1, col, g.outSz)
			dxg := dx[(n*C+gi*Cg)*g.inSize:][:Cg*g.inSize]
			if par {
				gemmParallel(Cg, func(lo, hi int) { cvgCol2im(g, col, dxg, lo, hi) })
			} else {
				cvgCol2im(g, col, dxg, 0, Cg)
			}
		}
	}
	var dwT []T
	if dw != nil {
		buf, release := convBuf[T](len(dw))
		defer release()
		clear(buf)
		dwT = buf
	}
	cvgBatched(N*G, dwT, task)
	if dw != nil {
		// dwT holds one [K, Mg] block per group.
		for gi := 0; gi < G; gi++ {
			src := dwT[gi*Mg*K:][:Mg*K]
			dst := dw[gi*Mg*K:][:Mg*K]
			for k := 0; k < K; k++ {
				row := src[k*Mg:][:Mg]
				for m, v := range row {
					dst[m*K+k] = v
				}
			}
		}
	}
}

// cvgDepthwiseBack is the direct backward kernel of convolutions with one
// input channel per group. Tasks are input channels: channel c owns the
// weight rows of its Mg outputs and the planes dx[:, c], so no reduction
// is needed.
func cvgDepthwiseBack[T float32 | float64](g *convGeom, N, C, M, G int, x, w, dy, dx, dw []T) {
	Mg := M / G
	if xf, ok := any(x).([]float32); ok && cvgDepthwiseFlatBack(g, N, C, M, G, xf, any(w).([]float32), any(dy).([]float32), any(dx).([]float32), any(dw).([]float32)) {
		return
	}
	if dx != nil {
		if _, ok := any(x).([]float32); ok && cvgDepthwiseDXFast(g, N, C, M, G, any(w).([]float32), any(dy).([]float32), any(dx).([]float32)) {
			dx = nil
		}
	}
	if dx == nil && dw == nil {
		return
	}
	iD, iH, iW := g.in[0], g.in[1], g.in[2]
	oD, oH, oW := g.out[0], g.out[1], g.out[2]
	sw := g.s[2]
	kw := g.k[2]
	gemmParallel(C, func(lo, hi int) {
		acc := make([]T, g.kSize)
		for c := lo; c < hi; c++ {
			for m := c * Mg; m < (c+1)*Mg; m++ {
				wk := w[m*g.kSize:][:g.kSize]
				clear(acc)
				for n := 0; n < N; n++ {
					xc := x[(n*C+c)*g.inSize:][:g.inSize]
					var dxc []T
					if dx != nil {
						dxc = dx[(n*C+c)*g.inSize:][:g.inSize]
					}
					dyc := dy[(n*M+m)*g.outSz:][:g.outSz]
					for od := 0; od < oD; od++ {
						for oh := 0; oh < oH; oh++ {
							yr := dyc[(od*oH+oh)*oW:][:oW]
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
									r := (id*iH + ih) * iW
									xr := xc[r:][:iW]
									t0 := (kd*g.k[1] + kh) * kw
									for k := 0; k < kw; k++ {
										off := k*g.d[2] - g.pb[2]
										l, h := convValidRange(off, sw, iW, oW)
										if l >= h {
											continue
										}
										ys := yr[l:h]
										if sw == 1 {
											xs := xr[l+off : h+off]
											if dw != nil {
												acc[t0+k] += cvgDot(ys, xs)
											}
											if dxc != nil {
												cvgAxpy(wk[t0+k], ys, dxc[r+l+off:r+h+off])
											}
											continue
										}
										base := l*sw + off
										if dw != nil {
											var s T
											for i, v := range ys {
												s += v * xr[base+i*sw]
											}
											acc[t0+k] += s
										}
										if dxc != nil {
											wv := wk[t0+k]
											dr := dxc[r:][:iW]
											for i, v := range ys {
												dr[base+i*sw] += wv * v
											}
										}
									}
								}
							}
						}
					}
				}
				if dw != nil {
					copy(dw[m*g.kSize:][:g.kSize], acc)
				}
			}
		}
	})
}

// cvgDepthwiseDXFast computes dx of a float32 stride-1 depthwise
// convolution (one output per channel) as the forward depthwise kernel
// applied to dy with the flipped kernel. It reports false (doing nothing)
// when the shape does not qualify.
func cvgDepthwiseDXFast(g *convGeom, N, C, M, G int, w, dy, dx []float32) bool {
	if !gemmKernelOK || M != C || g.s != [3]int{1, 1, 1} {
		return false
	}
	t := *g
	t.in, t.out = g.out, g.in
	for j := 0; j < 3; j++ {
		ext := (g.k[j] - 1) * g.d[j]
		t.pb[j], t.pe[j] = ext-g.pb[j], ext-g.pe[j]
		if t.pb[j] < 0 || t.pe[j] < 0 {
			return false
		}
	}
	t.sizes()
	wf := make([]float32, len(w))
	for m := 0; m < M; m++ {
		src := w[m*g.kSize:][:g.kSize]
		dst := wf[m*g.kSize:][:g.kSize]
		for i, v := range src {
			dst[g.kSize-1-i] = v
		}
	}
	if t.in[0] == 1 && t.k[0] == 1 {
		convDepthwiseFlatF32(&t, N, M, C, G, dy, wf, nil, dx)
	} else {
		convDepthwiseF32(&t, N, M, C, G, dy, wf, nil, dx)
	}
	return true
}

// cvgDot returns Σ a[i]·b[i] (len(b) >= len(a)).
func cvgDot[T float32 | float64](a, b []T) T {
	b = b[:len(a)]
	var s0, s1, s2, s3 T
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// cvgAxpy computes y[i] += a·x[i] (len(y) >= len(x)).
func cvgAxpy[T float32 | float64](a T, x, y []T) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// cvgConvTranspose: Y = conv_transpose(X, W) + B, i.e. Y_g = col2im(W_gᵀ·X_g).
func cvgConvTranspose(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	if len(dOut) == 0 || dOut[0] == nil {
		return make([]*Tensor, len(in)), nil // the loss does not depend on Y
	}
	op, ok := n.Op.(*convTransposeOp)
	if !ok {
		return nil, fmt.Errorf("ConvTranspose backward: node op is %T, not the standard ConvTranspose", n.Op)
	}
	if len(in) < 2 || in[0] == nil || in[1] == nil || len(dOut) < 1 {
		return nil, fmt.Errorf("ConvTranspose backward: needs inputs X and W and the output gradient")
	}
	x, w := in[0], in[1]
	var b *Tensor
	if len(in) > 2 {
		b = in[2]
	}
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return nil, fmt.Errorf("ConvTranspose backward: X %v and W %v must have equal rank of at least 3", ShapeString(x.Shape), ShapeString(w.Shape))
	}
	N, C := x.Shape[0], x.Shape[1]
	G := op.group
	if w.Shape[0] != C || C%G != 0 {
		return nil, fmt.Errorf("ConvTranspose backward: X %v, W %v and group %d do not fit", ShapeString(x.Shape), ShapeString(w.Shape), G)
	}
	M := w.Shape[1] * G
	geo, err := op.geometry(x.Shape[2:], w.Shape[2:])
	if err != nil {
		return nil, fmt.Errorf("ConvTranspose backward: X %v, W %v: %w", ShapeString(x.Shape), ShapeString(w.Shape), err)
	}
	dy := dOut[0]
	if err := cvgCheck("ConvTranspose", x, dy, append([]int{N, M}, geo.outShape()...), w, b); err != nil {
		return nil, err
	}
	res := make([]*Tensor, len(in))
	var dx, dw *Tensor
	if need[0] {
		dx = New(x.DType, x.Shape...)
	}
	if len(need) > 1 && need[1] {
		dw = New(w.DType, w.Shape...)
	}
	if b != nil && len(need) > 2 && need[2] {
		db := New(b.DType, b.Shape...)
		if db.F32 != nil {
			cvgBiasGrad(N, M, geo.outSz, dy.F32, db.F32)
		} else {
			cvgBiasGrad(N, M, geo.outSz, dy.F64, db.F64)
		}
		cvgRound(db)
		res[2] = db
	}
	if dx != nil || dw != nil {
		if x.F32 != nil {
			cvgConvTransposeBack(geo, N, C, M, G, x.F32, w.F32, dy.F32, convData[float32](dx), convData[float32](dw))
		} else {
			cvgConvTransposeBack(geo, N, C, M, G, x.F64, w.F64, dy.F64, convData[float64](dx), convData[float64](dw))
		}
	}
	cvgRound(dx, dw)
	res[0] = dx
	if len(res) > 1 {
		res[1] = dw
	}
	return res, nil
}

// cvgConvTransposeBack: with dcol = im2col(dY_g) over the input grid,
// dX_g = W_g·dcol and dW_g = Σ_n X_g·dcolᵀ.
func cvgConvTransposeBack[T float32 | float64](g *convGeom, N, C, M, G int, x, w, dy, dx, dw []T) {
	Cg, Mg := C/G, M/G
	R := Mg * g.kSize
	gs := cvgSwap(g)
	cvgBatched(N*G, dw, func(acc []T, t int, par bool) {
		n, gi := t/G, t%G
		dyg := dy[(n*M+gi*Mg)*g.outSz:][:Mg*g.outSz]
		col, release := convBuf[T](R * g.inSize)
		defer release()
		if par {
			gemmParallel(Mg, func(lo, hi int) { convIm2col(gs, dyg, col, lo, hi) })
		} else {
			convIm2col(gs, dyg, col, 0, Mg)
		}
		if dx != nil {
			convGemm(false, false, Cg, g.inSize, R, w[gi*Cg*R:][:Cg*R], R, col, g.inSize, 0, dx[(n*C+gi*Cg)*g.inSize:][:Cg*g.inSize], g.inSize)
		}
		if acc != nil {
			convGemm(false, true, Cg, R, g.inSize, x[(n*C+gi*Cg)*g.inSize:][:Cg*g.inSize], g.inSize, col, g.inSize, 1, acc[gi*Cg*R:][:Cg*R], R)
		}
	})
}

// cvgCol2im adds col ([C*kSize, outSz] over the output grid of g) into dx
// ([C, inSize]) for channels [c0,c1): the adjoint of convIm2col. Unit
// column strides add contiguous runs.
func cvgCol2im[T float32 | float64](g *convGeom, col []T, dx []T, c0, c1 int) {
	cvgCol2imLd(g, col, g.outSz, dx, c0, c1)
}

// cvgCol2imLd is cvgCol2im reading row r of the column matrix at
// col[r*ld:].
func cvgCol2imLd[T float32 | float64](g *convGeom, col []T, ld int, dx []T, c0, c1 int) {
	oD, oH, oW := g.out[0], g.out[1], g.out[2]
	iD, iH, iW := g.in[0], g.in[1], g.in[2]
	sw := g.s[2]
	for c := c0; c < c1; c++ {
		xc := dx[c*g.inSize : (c+1)*g.inSize]
		r := c * g.kSize
		for kd := 0; kd < g.k[0]; kd++ {
			for kh := 0; kh < g.k[1]; kh++ {
				for kw := 0; kw < g.k[2]; kw++ {
					row := col[r*ld : r*ld+g.outSz]
					r++
					wOff := kw*g.d[2] - g.pb[2]
					owLo, owHi := convValidRange(wOff, sw, iW, oW)
					if owLo >= owHi {
						continue
					}
					p := 0
					for od := 0; od < oD; od++ {
						id := od*g.s[0] - g.pb[0] + kd*g.d[0]
						for oh := 0; oh < oH; oh++ {
							ih := oh*g.s[1] - g.pb[1] + kh*g.d[1]
							seg := row[p : p+oW]
							p += oW
							if id < 0 || id >= iD || ih < 0 || ih >= iH {
								continue
							}
							xr := xc[(id*iH+ih)*iW:][:iW]
							src := seg[owLo:owHi]
							if sw == 1 {
								dst := xr[owLo+wOff : owHi+wOff]
								dst = dst[:len(src)]
								for i, v := range src {
									dst[i] += v
								}
								continue
							}
							iw := owLo*sw + wOff
							dst := xr[iw : iw+(len(src)-1)*sw+1]
							for i, v := range src {
								dst[i*sw] += v
							}
						}
					}
				}
			}
		}
	}
}
