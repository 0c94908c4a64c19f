package nn

import "runtime"

// Implicit-GEMM convolution (float32, AVX2/FMA CPUs).
//
// A convolution is the product W[M, C·taps]·col[C·taps, L]. With the input
// laid out as the zero-padded phase planes of the per-tap formulation
// (convTapsLayout), row (c, t) of col is a shifted view of those planes:
// col[(c,t)][j] = xp[c·chStride + off_t + j] over the "wide" output of L =
// oH·Wq columns. gemmOffsF32 reads B through exactly such a table of row
// offsets, so the product runs with its full inner dimension C·taps (the
// 6×16 accumulators stay in registers across all of it) while the column
// matrix is never written: no im2col, no packed copy of B, and the weights
// are used in their ONNX layout [M][C][taps]. The bias is added in the
// kernel. A 1×1 stride-1 convolution needs no padding at all: its column
// matrix is the input itself.
//
// On resnet18's and mobilenet_v2's shapes this beats both the per-tap
// products (inner dimension C, 9 passes over the output) and OpenBLAS on
// im2col (see BenchmarkConvImplicit).

// convImplicitOK reports whether the implicit-GEMM forward applies: a
// float32 ungrouped 2-D (or 1-D) convolution with strides of at most 2 on a
// CPU with the AVX2/FMA kernel, either pointwise or with widened rows that
// waste at most 15%.
func convImplicitOK(g *convGeom, G int) bool {
	if !gemmKernelOK || G != 1 {
		return false
	}
	if convPointwise(g) {
		return true
	}
	if g.in[0] != 1 || g.k[0] != 1 || g.s[0] != 1 || g.s[1] > 2 || g.s[2] > 2 {
		return false
	}
	tg := convTapsLayout(g)
	return (tg.Wq-g.out[2])*100 <= 15*g.out[2]
}

// convImplicitOffsets returns the row offsets of the implicit column
// matrix: row c·taps+t starts at c·chStride + offs[t].
func convImplicitOffsets(tg *convTapsGeom, C int) []int {
	taps := len(tg.offs)
	offs := make([]int, C*taps)
	for c := 0; c < C; c++ {
		for t, o := range tg.offs {
			offs[c*taps+t] = c*tg.chStride + o
		}
	}
	return offs
}

// convForwardImplicitF32 computes y = conv(x, w) + b through gemmOffsF32,
// one sample per task (or, with fewer samples than threads, one sample at
// a time with the product split over threads).
func convForwardImplicitF32(g *convGeom, N, C, M int, x, w, b, y []float32) {
	K := C * g.kSize
	pa := gemmOffsPack(false, M, K, w, K)
	defer pa.release()
	perSample := N >= runtime.GOMAXPROCS(0)
	if convPointwise(g) {
		offs := make([]int, C)
		for c := range offs {
			offs[c] = c * g.inSize
		}
		gemmParallelIf(perSample, N, func(lo, hi int) {
			for n := lo; n < hi; n++ {
				ys := y[n*M*g.outSz:][:M*g.outSz]
				gemmOffsF32(perSample, pa, g.outSz, x[n*C*g.inSize:][:C*g.inSize], offs, b, 0, ys, g.outSz)
				convEpilogue(g, ys)
			}
		})
		return
	}
	tg := convTapsLayout(g)
	offs := convImplicitOffsets(&tg, C)
	oH, oW := g.out[1], g.out[2]
	gemmParallelIf(perSample, N, func(lo, hi int) {
		xp, releaseX := convBuf[float32](C*tg.chStride + tg.slack)
		defer releaseX()
		out, releaseO := convBuf[float32](M * tg.L)
		defer releaseO()
		for n := lo; n < hi; n++ {
			convTapsPad(g, &tg, C, x[n*C*g.inSize:][:C*g.inSize], xp)
			gemmOffsF32(perSample, pa, tg.L, xp, offs, b, 0, out, tg.L)
			ys := y[n*M*g.outSz:][:M*g.outSz]
			for m := 0; m < M; m++ {
				for oh := 0; oh < oH; oh++ {
					copy(ys[m*g.outSz+oh*oW:][:oW], out[m*tg.L+oh*tg.Wq:][:oW])
				}
			}
			convEpilogue(g, ys)
		}
	})
}

// gemmParallelIf is gemmParallel when parallel is true and fn(0, n) on the
// calling goroutine otherwise.
func gemmParallelIf(parallel bool, n int, fn func(lo, hi int)) {
	if parallel {
		gemmParallel(n, fn)
		return
	}
	fn(0, n)
}

// cvgConvBackDataImplicitOK reports whether cvgConvBackDataImplicitF32
// computes dx of a convolution: the stride-1 geometries of the implicit
// forward, except pointwise ones and those the sample-batched path takes.
func cvgConvBackDataImplicitOK(g *convGeom, N, G int) bool {
	return convImplicitOK(g, G) && g.s == [3]int{1, 1, 1} && !convPointwise(g) && !convBatchedPays(g, N)
}

// cvgConvBackDataImplicitF32 computes dx (overwritten) of a convolution
// cvgConvBackDataImplicitOK accepts, one sample per task: dx is the forward
// convolution of the output gradient with the transposed, flipped kernel,
//
//	dXpad[c, q] = Σ_(m,t) W[m,c,t]·dYw[m, q-off_t]
//
// over the interior rows of the padded plane, through gemmOffsF32 whose B
// rows are shifted views of the widened output gradient dYw placed in a
// zero margin. (The weight gradient as an implicit GEMM measured slower
// than the per-tap and im2col products on resnet18's shapes: its left
// operand has to be packed from the shifted views on every sample.)
func cvgConvBackDataImplicitF32(g *convGeom, N, C, M int, w, dy, dx []float32) {
	tg := convTapsLayout(g)
	taps := len(tg.offs)
	oH, oW := g.out[1], g.out[2]
	// The weights as A[c][(m,t)] = W[m,c,t].
	wr, releaseW := convBuf[float32](len(w))
	defer releaseW()
	for m := 0; m < M; m++ {
		for c := 0; c < C; c++ {
			copy(wr[(c*M+m)*taps:][:taps], w[(m*C+c)*taps:][:taps])
		}
	}
	pw := gemmOffsPack(false, C, M*taps, wr, M*taps)
	defer pw.release()
	// B row (m, t) starts at m·S + maxOff − off_t + q0 in dyb, where dYw[m]
	// sits at maxOff within a zero row of S values and q0 is the first
	// interior row of the padded plane.
	maxOff := 0
	for _, o := range tg.offs {
		maxOff = max(maxOff, o)
	}
	q0 := g.pb[1] * tg.Wp
	nOut := g.in[1] * tg.Wp
	S := maxOff + q0 + nOut
	offs := make([]int, M*taps)
	for m := 0; m < M; m++ {
		for t, o := range tg.offs {
			offs[m*taps+t] = m*S + maxOff - o + q0
		}
	}
	perSample := N >= runtime.GOMAXPROCS(0)
	gemmParallelIf(perSample, N, func(lo, hi int) {
		dyb, releaseB := convBuf[float32](M * S)
		defer releaseB()
		out, releaseO := convBuf[float32](C * nOut)
		defer releaseO()
		for n := lo; n < hi; n++ {
			dys := dy[n*M*g.outSz:][:M*g.outSz]
			for m := 0; m < M; m++ {
				row := dyb[m*S:][:S]
				clear(row[:maxOff])
				// Output rows starting at or past S only reach the bottom
				// padding (pads larger than the kernel): dropped.
				for oh := 0; oh < oH && maxOff+oh*tg.Wq < S; oh++ {
					seg := row[maxOff+oh*tg.Wq : min(maxOff+(oh+1)*tg.Wq, S)]
					k := copy(seg, dys[m*g.outSz+oh*oW:][:oW])
					clear(seg[k:])
				}
				if maxOff+tg.L < S {
					clear(row[maxOff+tg.L:])
				}
			}
			gemmOffsF32(perSample, pw, nOut, dyb, offs, nil, 0, out, nOut)
			dxs := dx[n*C*g.inSize:][:C*g.inSize]
			iH, iW, pl := g.in[1], g.in[2], g.pb[2]
			for c := 0; c < C; c++ {
				for ih := 0; ih < iH; ih++ {
					copy(dxs[(c*iH+ih)*iW:][:iW], out[c*nOut+ih*tg.Wp+pl:][:iW])
				}
			}
		}
	})
}
