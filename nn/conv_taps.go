package nn

// Per-tap convolution: stride-1 2-D convolutions without im2col.
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
// ungrouped, stride-1, 2-D (or 1-D) convolution with a kernel larger than
// 1×1, whose widened rows waste at most 15% and whose outputs are not so
// small that the sample-batched path is better.
func convTapsOK(g *convGeom, N, G int) bool {
	if G != 1 || g.in[0] != 1 || g.k[0] != 1 || g.s != [3]int{1, 1, 1} || g.kSize == 1 {
		return false
	}
	if convBatchedPays(g, N) {
		return false
	}
	Wp := g.in[2] + g.pb[2] + g.pe[2]
	return (Wp-g.out[2])*100 <= 15*g.out[2]
}

// convTapsGeom holds the padded layout of a per-tap convolution.
type convTapsGeom struct {
	Hp, Wp, plane, L, slack int
	offs                    []int // element offset of each tap in a padded plane
}

func convTapsLayout(g *convGeom) convTapsGeom {
	t := convTapsGeom{Hp: g.in[1] + g.pb[1] + g.pe[1], Wp: g.in[2] + g.pb[2] + g.pe[2]}
	t.plane = t.Hp * t.Wp
	t.L = g.out[1] * t.Wp
	t.slack = (g.k[2] - 1) * g.d[2]
	for kh := 0; kh < g.k[1]; kh++ {
		for kw := 0; kw < g.k[2]; kw++ {
			t.offs = append(t.offs, kh*g.d[1]*t.Wp+kw*g.d[2])
		}
	}
	return t
}

// convTapsWeights reorders w [M, C, taps] into [taps][M][C].
func convTapsWeights[T float32 | float64](w []T, M, C, taps int) ([]T, func()) {
	wt, release := convBuf[T](len(w))
	gemmParallel(M, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			for c := 0; c < C; c++ {
				src := w[(m*C+c)*taps:][:taps]
				for t, v := range src {
					wt[(t*M+m)*C+c] = v
				}
			}
		}
	})
	return wt, release
}

// convTapsPad writes the zero-padded planes of xs [C, iH·iW] into xp
// (C·plane + slack elements).
func convTapsPad[T float32 | float64](g *convGeom, tg *convTapsGeom, C int, xs, xp []T) {
	clear(xp)
	iH, iW := g.in[1], g.in[2]
	pt, pl := g.pb[1], g.pb[2]
	for c := 0; c < C; c++ {
		for ih := 0; ih < iH; ih++ {
			copy(xp[c*tg.plane+(ih+pt)*tg.Wp+pl:][:iW], xs[(c*iH+ih)*iW:][:iW])
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
	oH, oW := g.out[1], g.out[2]
	gemmParallel(N, func(lo, hi int) {
		xp, releaseX := convBuf[T](C*tg.plane + tg.slack)
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
				convGemm(false, false, M, tg.L, C, wt[t*M*C:][:M*C], C, xp[off:], tg.plane, beta, out, tg.L)
			}
			ys := y[n*M*g.outSz:][:M*g.outSz]
			for m := 0; m < M; m++ {
				var bv T
				if b != nil {
					bv = b[m]
				}
				for oh := 0; oh < oH; oh++ {
					src := out[m*tg.L+oh*tg.Wp:][:oW]
					dst := ys[m*g.outSz+oh*oW:][:oW]
					for i, v := range src {
						dst[i] = v + bv
					}
				}
			}
		}
	})
}

// cvgConvBackTaps computes dx (if non-nil; overwritten) and dw (if non-nil;
// overwritten) of an ungrouped stride-1 convolution tap by tap.
func cvgConvBackTaps[T float32 | float64](g *convGeom, N, C, M int, x, w, dy, dx, dw []T) {
	tg := convTapsLayout(g)
	taps := len(tg.offs)
	oH, oW := g.out[1], g.out[2]
	iH, iW := g.in[1], g.in[2]
	pt, pl := g.pb[1], g.pb[2]
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
				row := dyw[m*tg.L+oh*tg.Wp:][:tg.Wp]
				copy(row, dy[(n*M+m)*g.outSz+oh*oW:][:oW])
				clear(row[oW:])
			}
		}
		xp, releaseX := convBuf[T](C*tg.plane + tg.slack)
		defer releaseX()
		if acc != nil {
			convTapsPad(g, &tg, C, x[n*C*g.inSize:][:C*g.inSize], xp)
			for t, off := range tg.offs {
				// dW_t[M,C] += dY_w[M,L]·X_tᵀ
				convGemm(false, true, M, C, tg.L, dyw, tg.L, xp[off:], tg.plane, 1, acc[t*M*C:][:M*C], C)
			}
		}
		if dx != nil {
			clear(xp)
			for t, off := range tg.offs {
				// dXpad[c, off+j] += Σ_m W_t[m,c]·dY_w[m,j]
				convGemm(true, false, C, tg.L, M, wt[t*M*C:][:M*C], C, dyw, tg.L, 1, xp[off:], tg.plane)
			}
			dxs := dx[n*C*g.inSize:][:C*g.inSize]
			for c := 0; c < C; c++ {
				for ih := 0; ih < iH; ih++ {
					copy(dxs[(c*iH+ih)*iW:][:iW], xp[c*tg.plane+(ih+pt)*tg.Wp+pl:][:iW])
				}
			}
		}
	})
	if dw != nil {
		gemmParallel(M, func(lo, hi int) {
			for m := lo; m < hi; m++ {
				for c := 0; c < C; c++ {
					dst := dw[(m*C+c)*taps:][:taps]
					for t := range dst {
						dst[t] = dwT[(t*M+m)*C+c]
					}
				}
			}
		})
	}
}
