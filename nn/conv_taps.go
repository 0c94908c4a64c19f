package nn

import "github.com/graftml/graft/nn/internal/gemmasm"

// Per-tap convolution: 2-D convolutions without im2col (stride 1 here;
// strides of 2 through phase planes, see convTapsGeom).
//
// With the input zero-padded to Hp×Wp planes, output row oh and column ow
// of tap (kh, kw) reads xpad[c, oh+kh·dh, ow+kw·dw]. Computing the output
// "wide", Wp columns per row of which the last Wp-oW are discarded, makes
// every tap a shifted view of the padded planes: the column matrix of tap
// t is xpad[c·plane + off_t + j] for j in [0, oH·Wp), a matrix with C rows
// of row stride plane that any GEMM can read in place. So
//
//	forward   out[M, L]  = Σ_t W_t[M, C]·X_t[C, L]        (then compacted to y)
//	dW_t      dW_t[M, C] = Σ_n dY_w[M, L]·X_tᵀ
//	dX        dXpad_t    += W_tᵀ[C, M]·dY_w[M, L]         (GEMM output at offset off_t, row stride plane)
//
// with L = oH·Wp and dY_w the output gradient widened with zero columns
// (so the discarded columns contribute nothing). im2col and col2im, which
// copy the input kH·kW times, disappear; the padded planes stay small
// enough for the caches. The waste is the (Wp-oW)/oW extra columns, so only
// outputs at least about 7 times wider than the padding take this path.

// convTapsOK reports whether the per-tap formulation applies and pays: an
// ungrouped 2-D (or 1-D) convolution with strides of at most 2, a kernel
// larger than 1×1 and at least convTapsMinC input channels, whose widened
// rows waste at most 15% and whose outputs are not so small that the
// sample-batched path is better.
func convTapsOK(g *convGeom, N, C, G int) bool {
	// Each tap is a product with inner dimension C: with few channels
	// (an RGB stem) one im2col product is better than many thin ones.
	if C < convTapsMinC {
		return false
	}
	if G != 1 || g.in[0] != 1 || g.k[0] != 1 || g.s[0] != 1 || g.kSize == 1 {
		return false
	}
	if g.s[1] > 2 || g.s[2] > 2 {
		return false
	}
	if convBatchedPays(g, N) {
		return false
	}
	tg := convTapsLayout(g)
	return (tg.Wq-g.out[2])*100 <= 15*g.out[2]
}

// convTapsBackOK reports whether the backward pass should go tap by tap:
// only for stride 1 and outputs of at least 20×20. On resnet18's shapes at
// batch 16 (BenchmarkConvBatched, OpenBLAS) the per-sample im2col backward
// was faster at 14×14 and for stride 2, the per-tap one at 28×28 and 56×56.
func convTapsBackOK(g *convGeom, N, C, G int) bool {
	return convTapsOK(g, N, C, G) && g.s == [3]int{1, 1, 1} && g.outSz >= 400
}

// convTapsMinC is the fewest input channels the per-tap formulation takes.
const convTapsMinC = 16

// convTapsGeom holds the padded layout of a per-tap convolution. With
// strides sh, sw the padded input is split into sh·sw phase planes of
// Hq×Wq (phase (rh, rw) holds rows rh, rh+sh, ... and columns rw, rw+sw,
// ...), so that every tap again reads a unit-stride shifted view: tap
// (kh, kw) reads phase ((kh·dh) mod sh, (kw·dw) mod sw) at row (kh·dh)/sh
// and column (kw·dw)/sw. A channel's phases are stored one after another
// (rows of the column matrix are chStride apart).
type convTapsGeom struct {
	Hp, Wp, Hq, Wq, planeQ, chStride, L, slack int
	offs                                       []int // element offset of each tap within a channel's phases
}

func convTapsLayout(g *convGeom) convTapsGeom {
	sh, sw := g.s[1], g.s[2]
	t := convTapsGeom{Hp: g.in[1] + g.pb[1] + g.pe[1], Wp: g.in[2] + g.pb[2] + g.pe[2]}
	t.Hq, t.Wq = (t.Hp+sh-1)/sh, (t.Wp+sw-1)/sw
	t.planeQ = t.Hq * t.Wq
	t.chStride = sh * sw * t.planeQ
	t.L = g.out[1] * t.Wq
	for kh := 0; kh < g.k[1]; kh++ {
		for kw := 0; kw < g.k[2]; kw++ {
			ah, aw := kh*g.d[1], kw*g.d[2]
			off := ((ah%sh)*sw+aw%sw)*t.planeQ + (ah/sh)*t.Wq + aw/sw
			t.offs = append(t.offs, off)
			t.slack = max(t.slack, off+t.L-t.chStride)
		}
	}
	return t
}

// convTapsWeights reorders w [M, C, taps] into [taps][M][C] (pooled).
func convTapsWeights[T float32 | float64](w []T, M, C, taps int) ([]T, func()) {
	wt, release := convBuf[T](len(w))
	convTapsReorder(w, wt, M, C, taps, true)
	return wt, release
}

// convTapsReorder moves between the ONNX weight layout [M][C][taps] (mct)
// and the per-tap layout [taps][M][C] (tmc): toTaps copies mct into tmc,
// otherwise tmc into mct.
func convTapsReorder[T float32 | float64](mct, tmc []T, M, C, taps int, toTaps bool) {
	gemmParallel(M, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			for c := 0; c < C; c++ {
				row := mct[(m*C+c)*taps:][:taps]
				for t := range row {
					if toTaps {
						tmc[(t*M+m)*C+c] = row[t]
					} else {
						row[t] = tmc[(t*M+m)*C+c]
					}
				}
			}
		}
	})
}

// convTapsPad writes the zero-padded phase planes of xs [C, iH·iW] into
// xp (C·chStride + slack elements).
func convTapsPad[T float32 | float64](g *convGeom, tg *convTapsGeom, C int, xs, xp []T) {
	clear(xp)
	convTapsMove(g, tg, C, xs, xp, true)
}

// convTapsUnpad copies the input positions of the phase planes xp back into
// dxs [C, iH·iW], dropping the padding (the inverse of convTapsPad).
func convTapsUnpad[T float32 | float64](g *convGeom, tg *convTapsGeom, C int, xp, dxs []T) {
	convTapsMove(g, tg, C, dxs, xp, false)
}

// convTapsMove copies between plain planes xs [C, iH·iW] and the input
// positions of the phase planes xp: into xp when toPhases, else out of it.
func convTapsMove[T float32 | float64](g *convGeom, tg *convTapsGeom, C int, xs, xp []T, toPhases bool) {
	iH, iW := g.in[1], g.in[2]
	pt, pl := g.pb[1], g.pb[2]
	sh, sw := g.s[1], g.s[2]
	for c := 0; c < C; c++ {
		for ih := 0; ih < iH; ih++ {
			plain := xs[(c*iH+ih)*iW:][:iW]
			ph := ih + pt
			rowBase := c*tg.chStride + (ph%sh)*sw*tg.planeQ + (ph/sh)*tg.Wq
			if sw == 1 {
				if toPhases {
					copy(xp[rowBase+pl:][:iW], plain)
				} else {
					copy(plain, xp[rowBase+pl:][:iW])
				}
				continue
			}
			if sw == 2 {
				// Padded column pw goes to phase pw%2 at column pw/2: input
				// columns iw and iw+1 of a pair land at the same column of
				// the two phases.
				p0 := xp[rowBase+pl/2:]
				p1 := xp[rowBase+tg.planeQ+pl/2:]
				if pl%2 == 1 {
					p0, p1 = p1, xp[rowBase+pl/2+1:]
				}
				pairs := iW / 2
				p0, p1 = p0[:pairs+iW%2], p1[:pairs]
				if toPhases {
					i0 := 0
					if f, ok := any(plain).([]float32); ok && gemmKernelOK {
						i0 = gemmasm.Deinterleave2(f[:2*pairs], any(p0).([]float32), any(p1).([]float32))
					}
					for i := i0; i < pairs; i++ {
						pr := plain[2*i : 2*i+2 : 2*i+2]
						p0[i], p1[i] = pr[0], pr[1]
					}
					if iW%2 == 1 {
						p0[pairs] = plain[iW-1]
					}
				} else {
					for i := 0; i < pairs; i++ {
						pr := plain[2*i : 2*i+2 : 2*i+2]
						pr[0], pr[1] = p0[i], p1[i]
					}
					if iW%2 == 1 {
						plain[iW-1] = p0[pairs]
					}
				}
				continue
			}
			for iw := range plain {
				pw := iw + pl
				k := rowBase + (pw%sw)*tg.planeQ + pw/sw
				if toPhases {
					xp[k] = plain[iw]
				} else {
					plain[iw] = xp[k]
				}
			}
		}
	}
}

// convForwardTaps computes an ungrouped stride-1 convolution tap by tap,
// one sample per task.
func convForwardTaps[T float32 | float64](g *convGeom, N, C, M int, x, w, b, y []T) {
	tg := convTapsLayout(g)
	taps := len(tg.offs)
	wt, releaseW := convTapsWeights(w, M, C, taps)
	defer releaseW()
	gemmParallel(N, func(lo, hi int) {
		xp, releaseX := convBuf[T](C*tg.chStride + tg.slack)
		defer releaseX()
		out, releaseO := convBuf[T](M * tg.L)
		defer releaseO()
		for n := lo; n < hi; n++ {
			convTapsPad(g, &tg, C, x[n*C*g.inSize:][:C*g.inSize], xp)
			for t, off := range tg.offs {
				var beta T
				if t > 0 {
					beta = 1
				}
				convGemm(false, false, M, tg.L, C, wt[t*M*C:][:M*C], C, xp[off:], tg.chStride, beta, out, tg.L)
			}
			ys := y[n*M*g.outSz:][:M*g.outSz]
			convTapsCompact(g, &tg, M, out, b, ys)
			convEpilogue(g, ys)
		}
	})
}

// convTapsCompact copies the first oW of every Wq columns of the wide
// output out [M, L] into ys [M, oH·oW], adding b[m] when b is not nil.
func convTapsCompact[T float32 | float64](g *convGeom, tg *convTapsGeom, M int, out, b, ys []T) {
	oH, oW := g.out[1], g.out[2]
	for m := 0; m < M; m++ {
		for oh := 0; oh < oH; oh++ {
			src := out[m*tg.L+oh*tg.Wq:][:oW]
			dst := ys[m*g.outSz+oh*oW:][:oW]
			if b == nil {
				copy(dst, src)
				continue
			}
			bv := b[m]
			for i, v := range src {
				dst[i] = v + bv
			}
		}
	}
}

// cvgConvBackTaps computes dx (if non-nil; overwritten) and dw (if non-nil;
// overwritten) of an ungrouped stride-1 convolution tap by tap.
func cvgConvBackTaps[T float32 | float64](g *convGeom, N, C, M int, x, w, dy, dx, dw []T) {
	tg := convTapsLayout(g)
	taps := len(tg.offs)
	oH, oW := g.out[1], g.out[2]
	var wt []T
	if dx != nil {
		var releaseW func()
		wt, releaseW = convTapsWeights(w, M, C, taps)
		defer releaseW()
	}
	// dW accumulates as [taps][M][C] (reordered at the end).
	var dwT []T
	if dw != nil {
		buf, release := convBuf[T](len(dw))
		defer release()
		clear(buf)
		dwT = buf
	}
	cvgBatched(N, dwT, func(acc []T, n int, _ bool) {
		dyw, releaseD := convBuf[T](M * tg.L)
		defer releaseD()
		for m := 0; m < M; m++ {
			for oh := 0; oh < oH; oh++ {
				row := dyw[m*tg.L+oh*tg.Wq:][:tg.Wq]
				copy(row, dy[(n*M+m)*g.outSz+oh*oW:][:oW])
				clear(row[oW:])
			}
		}
		xp, releaseX := convBuf[T](C*tg.chStride + tg.slack)
		defer releaseX()
		if acc != nil {
			convTapsPad(g, &tg, C, x[n*C*g.inSize:][:C*g.inSize], xp)
			for t, off := range tg.offs {
				// dW_t[M,C] += dY_w[M,L]·X_tᵀ
				convGemm(false, true, M, C, tg.L, dyw, tg.L, xp[off:], tg.chStride, 1, acc[t*M*C:][:M*C], C)
			}
		}
		if dx != nil {
			clear(xp)
			for t, off := range tg.offs {
				// dXpad[c, off+j] += Σ_m W_t[m,c]·dY_w[m,j]
				convGemm(true, false, C, tg.L, M, wt[t*M*C:][:M*C], C, dyw, tg.L, 1, xp[off:], tg.chStride)
			}
			convTapsUnpad(g, &tg, C, xp, dx[n*C*g.inSize:][:C*g.inSize])
		}
	})
	if dw != nil {
		convTapsReorder(dw, dwT, M, C, taps, false)
	}
}
