package nn

import (
	"runtime"

	"github.com/graftml/graft/nn/internal/gemmasm"
)

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

// convStreamMin is the smallest pointwise convolution output (in values:
// 16 MB) that convForwardImplicitF32 writes with non-temporal stores.
const convStreamMin = 4 << 20

// convForwardImplicitF32 computes y = conv(x, w) + b through gemmOffsF32,
// one sample per task (or, with fewer samples than threads, one sample at
// a time with the product split over threads).
func convForwardImplicitF32(g *convGeom, N, C, M int, x, w, b, y []float32) {
	K := C * g.kSize
	pa, release := g.packs.pack(false, M, K, w, K)
	defer release()
	perSample := N >= runtime.GOMAXPROCS(0)
	if convPointwise(g) {
		offs := make([]int, C)
		for c := range offs {
			offs[c] = c * g.inSize
		}
		// An output larger than half a 32 MB last-level cache would be
		// evicted before the next layer reads it: stream it out.
		out, fused := convOffsOut(g, b)
		out.stream = N*M*g.outSz >= convStreamMin
		gemmParallelIf(perSample, N, func(lo, hi int) {
			for n := lo; n < hi; n++ {
				ys := y[n*M*g.outSz:][:M*g.outSz]
				gemmOffsRun(gemmasm.OK512, perSample, pa, g.outSz, x[n*C*g.inSize:][:C*g.inSize], offs, out, ys, g.outSz)
				if !fused {
					convEpilogue(g, ys)
				}
			}
		})
		return
	}
	tg := convTapsLayout(g)
	offs := convImplicitOffsets(&tg, C)
	out, fused := convOffsOut(g, b)
	gemmParallelIf(perSample, N, func(lo, hi int) {
		xp, releaseX := convBuf[float32](C*tg.chStride + tg.slack)
		defer releaseX()
		wide, releaseO := convBuf[float32](M * tg.L)
		defer releaseO()
		for n := lo; n < hi; n++ {
			convTapsPad(g, &tg, C, x[n*C*g.inSize:][:C*g.inSize], xp)
			gemmOffsRun(gemmasm.OK512, perSample, pa, tg.L, xp, offs, out, wide, tg.L)
			ys := y[n*M*g.outSz:][:M*g.outSz]
			convTapsCompact(g, &tg, M, wide, nil, ys)
			if !fused {
				convEpilogue(g, ys)
			}
		}
	})
}

// convOffsOut returns gemmOffsRun's output options for a convolution with
// bias b, and whether they include its fused activation (on AVX-512 CPUs
// the kernel clamps; otherwise convEpilogue does, after the product).
func convOffsOut(g *convGeom, b []float32) (gemmOffsOut, bool) {
	out := gemmOffsOut{bias: b}
	if g.act && gemmasm.OK512 {
		out.clamp, out.lo, out.hi = true, float32(g.actLo), float32(g.actHi)
		return out, true
	}
	return out, !g.act
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

// cvgConvBackWeightImplicitOK reports whether
// cvgConvBackWeightImplicitF32 computes dw of a convolution: the
// geometries of the implicit forward on AVX-512 CPUs, except those the
// sample-batched path takes.
func cvgConvBackWeightImplicitOK(g *convGeom, N, G int) bool {
	return gemmasm.OK512 && convImplicitOK(g, G) && !convBatchedPays(g, N)
}

// cvgConvWeightRB is the row block of cvgConvBackWeightImplicitF32, in
// 6-row panels: its accumulators (96×M) stay in L2 while every sample
// streams past them. (16 and an inner block of 256 measured best of 8/16
// × 128/256 on resnet18's layers, BenchmarkConvBatched dw-implicit.)
const cvgConvWeightRB = 16

// cvgConvWeightBudget bounds the per-chunk buffers of
// cvgConvBackWeightImplicitF32 (padded inputs and transposed output
// gradients), in values: 2M (8 MB).
const cvgConvWeightBudget = 2 << 20

// cvgConvWeightKC is the inner-dimension block of
// cvgConvBackWeightImplicitF32: a 32-column B panel of it is 32 KB.
const cvgConvWeightKC = 256

// cvgConvBackWeightImplicitF32 computes dw (overwritten) of a convolution
// cvgConvBackWeightImplicitOK accepts as
//
//	dWᵀ[(c,t), m] = Σ_n Σ_j xp_n[c·chStride+off_t+j]·dYw_n[m, j]
//
// with KernelR6x32, which reads both operands in place: the rows of the
// implicit column matrix from the padded inputs of all samples, and the
// transposed, widened output gradients. Nothing is packed and no im2col
// is written. Workers own disjoint blocks of rows of dWᵀ, so there is no
// reduction; each block's accumulators stay in cache across all samples.
func cvgConvBackWeightImplicitF32(g *convGeom, N, C, M int, x, dy, dw []float32) {
	cvgConvBackWeightImplicitChunks(g, N, C, M, x, dy, dw, 0)
}

// cvgConvBackWeightImplicitChunks is cvgConvBackWeightImplicitF32 with
// chunks of nb samples (0: as many as fit in cvgConvWeightBudget).
func cvgConvBackWeightImplicitChunks(g *convGeom, N, C, M int, x, dy, dw []float32, nb int) {
	tg := convTapsLayout(g)
	taps := len(tg.offs)
	K := C * taps
	L := tg.L
	oH, oW := g.out[1], g.out[2]
	pointwise := convPointwise(g)
	var aoffs []int
	P := C * g.inSize
	if pointwise {
		aoffs = make([]int, C)
		for c := range aoffs {
			aoffs[c] = c * g.inSize
		}
		L = g.outSz
	} else {
		aoffs = convImplicitOffsets(&tg, C)
		P = C*tg.chStride + tg.slack
	}
	// Samples go in chunks of nb whose padded inputs and transposed output
	// gradients fit in cvgConvWeightBudget values: xs holds the chunk's
	// (padded) inputs, then L zeros that the rows past K of a ragged last
	// panel read (or is x itself, see inPlace); dyT[n][j][m] the widened
	// output gradients, transposed,
	// then 32 values of slack so a 32-wide panel at the last columns stays
	// inside.
	Mp := (M + 31) &^ 31
	if nb <= 0 {
		nb = cvgConvWeightBudget / (P + L*M)
	}
	nb = min(N, max(1, nb))
	// A pointwise convolution whose rows fill whole 6-row panels reads its
	// input in place: nothing to pad, no zero rows.
	inPlace := pointwise && K%gemmMR == 0
	xs, zeroRow := x, 0
	if !inPlace {
		buf, releaseX := convBuf[float32](nb*P + L)
		defer releaseX()
		xs, zeroRow = buf, nb*P
		clear(xs[zeroRow:])
	}
	dyT, releaseT := convBuf[float32](nb*L*M + Mp)
	defer releaseT()
	clear(dyT[nb*L*M:])
	acc, releaseA := convBuf[float32](K * M)
	defer releaseA()
	for n0 := 0; n0 < N; n0 += nb {
		cnb := min(nb, N-n0)
		gemmParallel(cnb, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				n := n0 + j
				switch {
				case inPlace:
				case pointwise:
					copy(xs[j*P:][:P], x[n*P:][:P])
				default:
					convTapsPad(g, &tg, C, x[n*C*g.inSize:][:C*g.inSize], xs[j*P:][:P])
				}
				d := dyT[j*L*M:][:L*M]
				dys := dy[n*M*g.outSz:][:M*g.outSz]
				if pointwise {
					convTransposeF32(d, M, dys, g.outSz, M, g.outSz)
					continue
				}
				for oh := 0; oh < oH; oh++ {
					convTransposeF32(d[oh*tg.Wq*M:], M, dys[oh*oW:], g.outSz, M, oW)
					clear(d[(oh*tg.Wq+oW)*M : (oh+1)*tg.Wq*M])
				}
			}
		})
		aBase := func(j int) int { return j * P } // sample j's rows of A in xs
		if inPlace {
			aBase = func(j int) int { return (n0 + j) * P }
		}
		cvgWeightRows(K, M, L, cnb, xs, aBase, aoffs, zeroRow, dyT, acc, n0 == 0)
	}
	cvgWeightStore(K, M, acc, dw)
}

// cvgWeightRows accumulates the transposed weight gradient
//
//	acc[r][m] (+)= Σ_(j<cnb) Σ_(q<L) xs[aBase(j)+aoffs[r]+q]·dyT[(j·L+q)·M+m]
//
// for r < K, m < M, overwriting acc when first: A's rows are read in place
// at any offsets (KernelR6x32) and B is dyT, sample j's [L][M] block of
// transposed output gradients, with 32 values of slack after the last.
// xs[zeroRow:] holds L zeros for the rows past K of a ragged last panel.
// Workers own disjoint blocks of rows of acc, whose accumulators stay in
// cache while every sample streams past them.
func cvgWeightRows(K, M, L, cnb int, xs []float32, aBase func(j int) int, aoffs []int, zeroRow int, dyT, acc []float32, first bool) {
	panels := (K + gemmMR - 1) / gemmMR
	// Blocks of up to cvgConvWeightRB panels, at least 4 per thread when
	// there are few panels (an RGB stem has 25), for balance.
	rb := max(1, min(cvgConvWeightRB, panels/(4*runtime.GOMAXPROCS(0))))
	blocks := (panels + rb - 1) / rb
	gemmParallel(blocks, func(lo, hi int) {
		bo := make([]int, cvgConvWeightKC)
		var arows [gemmMR]int
		var tmp [gemmMR * 2 * gemmNR]float32
		for blk := lo; blk < hi; blk++ {
			p0, p1 := blk*rb, min((blk+1)*rb, panels)
			for j := 0; j < cnb; j++ {
				ab := aBase(j)
				for pc := 0; pc < L; pc += cvgConvWeightKC {
					kb := min(cvgConvWeightKC, L-pc)
					load := !first || j > 0 || pc > 0
					for jr := 0; jr < M; jr += 2 * gemmNR {
						for p := 0; p < kb; p++ {
							bo[p] = (j*L+pc+p)*M + jr
						}
						nr := min(2*gemmNR, M-jr)
						for ip := p0; ip < p1; ip++ {
							r0 := ip * gemmMR
							mr := min(gemmMR, K-r0)
							for i := range arows {
								if i < mr {
									arows[i] = ab + aoffs[r0+i] + pc
								} else {
									arows[i] = zeroRow
								}
							}
							if mr == gemmMR && nr == 2*gemmNR {
								gemmasm.KernelR6x32(kb, arows[:], xs, dyT, bo, acc[r0*M+jr:], M, load)
								continue
							}
							gemmasm.KernelR6x32(kb, arows[:], xs, dyT, bo, tmp[:], 2*gemmNR, false)
							for i := 0; i < mr; i++ {
								row := acc[(r0+i)*M+jr:][:nr]
								t := tmp[i*2*gemmNR:][:nr]
								if load {
									for q := range row {
										row[q] += t[q]
									}
								} else {
									copy(row, t)
								}
							}
						}
					}
				}
			}
		}
	})
}

// cvgWeightStore writes the transposed weight gradient acc [K][M] to dw
// [M][K].
func cvgWeightStore(K, M int, acc, dw []float32) {
	// 16 rows of acc (columns of dw) per task.
	gemmParallel((K+15)/16, func(lo, hi int) {
		r0, r1 := lo*16, min(hi*16, K)
		convTransposeF32(dw[r0:], K, acc[r0*M:], M, r1-r0, M)
	})
}

// cvgConvBackDataStridedOK reports whether cvgConvBackDataStridedF32
// computes dx of a convolution: float32, ungrouped, 2-D (or 1-D) with a
// stride above 1, no dilation and a kernel at least as large as the stride,
// on a CPU with the offset kernels, except those the sample-batched path
// takes. (A kernel smaller than the stride, as in resnet18's 1×1 stride-2
// downsampling, leaves most phases unreached: their zero fill made the path
// 2× slower than im2col there, BenchmarkConvBatched down2.)
func cvgConvBackDataStridedOK(g *convGeom, N, G int) bool {
	return gemmKernelOK && G == 1 && g.in[0] == 1 && g.k[0] == 1 && g.d == [3]int{1, 1, 1} &&
		(g.s[1] > 1 || g.s[2] > 1) && g.k[1] >= g.s[1] && g.k[2] >= g.s[2] && !convBatchedPays(g, N)
}

// cvgConvBackDataStridedF32 computes dx (overwritten) of a strided
// convolution as sH·sW stride-1 products, one per phase of the input
// positions. Padded input row P = oh·sH + kh is reached only by taps kh ≡ P
// (mod sH), so with P = sH·Q + rh and kh = rh + sH·j,
//
//	dXpad[c, sH·Q+rh, sW·Qw+rw] = Σ_(m,j,jw) W[m, c, rh+sH·j, rw+sW·jw]·dY[m, Q−j, Qw−jw]
//
// a correlation of dY with the phase's sub-kernel. Each runs through
// gemmOffsF32 with B rows that are shifted views of dY in a zero-padded
// plane (as in cvgConvBackDataImplicitF32), and its rows are scattered to
// every sH-th row and sW-th column of dx. No FLOP multiplies an inserted
// zero, unlike a stride-1 convolution of the zero-upsampled dY.
func cvgConvBackDataStridedF32(g *convGeom, N, C, M int, w, dy, dx []float32) {
	iH, iW, oH, oW := g.in[1], g.in[2], g.out[1], g.out[2]
	sH, sW, pt, pl := g.s[1], g.s[2], g.pb[1], g.pb[2]
	kH, kW := g.k[1], g.k[2]
	taps := kH * kW
	// dY sits at row JH and column JW of a zero plane Hd×Wd per channel,
	// JH and JW the largest sub-kernel offsets.
	JH, JW := (kH-1)/sH, (kW-1)/sW
	type phase struct {
		rh, rw    int
		qlo, qwlo int // first Q and Qw whose row and column are in dx
		nq, nqw   int // how many
		kh, kw    []int
		pa        *gemmOffsA
		offs      []int
		rowsTaps  int
	}
	var phases []*phase
	Hd, Wd := oH+JH, oW+JW
	for rh := 0; rh < sH; rh++ {
		for rw := 0; rw < sW; rw++ {
			p := &phase{rh: rh, rw: rw}
			// Input row ih = sH·Q + rh − pt in [0, iH).
			p.qlo = max(0, (pt-rh+sH-1)/sH)
			p.nq = max(0, (iH-1+pt-rh)/sH-p.qlo+1)
			if iH-1+pt-rh < 0 {
				p.nq = 0
			}
			p.qwlo = max(0, (pl-rw+sW-1)/sW)
			p.nqw = max(0, (iW-1+pl-rw)/sW-p.qwlo+1)
			if iW-1+pl-rw < 0 {
				p.nqw = 0
			}
			if p.nq == 0 || p.nqw == 0 {
				continue
			}
			for kh := rh; kh < kH; kh += sH {
				for kw := rw; kw < kW; kw += sW {
					p.kh, p.kw = append(p.kh, kh), append(p.kw, kw)
				}
			}
			Hd = max(Hd, p.qlo+p.nq+JH+1)
			Wd = max(Wd, p.qwlo+p.nqw+JW)
			phases = append(phases, p)
		}
	}
	S := Hd*Wd + Wd
	nOut := 0
	for _, p := range phases {
		nt := len(p.kh)
		if nt == 0 {
			continue
		}
		// A[c][(m, t)] = W[m, c, kh_t, kw_t].
		wr, releaseW := convBuf[float32](C * M * nt)
		for c := 0; c < C; c++ {
			for m := 0; m < M; m++ {
				src := w[(m*C+c)*taps:][:taps]
				dst := wr[(c*M+m)*nt:][:nt]
				for t := range dst {
					dst[t] = src[p.kh[t]*kW+p.kw[t]]
				}
			}
		}
		p.pa = gemmOffsPack(false, C, M*nt, wr, M*nt)
		releaseW()
		// B row (m, t) reads dY[m, Q−j, Qw−jw] at plane row Q−j+JH and
		// column Qw−jw+JW, from Q = qlo and Qw = qwlo on.
		p.offs = make([]int, M*nt)
		for m := 0; m < M; m++ {
			for t := range p.kh {
				j, jw := (p.kh[t]-p.rh)/sH, (p.kw[t]-p.rw)/sW
				p.offs[m*nt+t] = m*S + (p.qlo-j+JH)*Wd + p.qwlo - jw + JW
			}
		}
		nOut = max(nOut, p.nq*Wd)
	}
	defer func() {
		for _, p := range phases {
			if p.pa != nil {
				p.pa.release()
			}
		}
	}()
	perSample := N >= runtime.GOMAXPROCS(0)
	gemmParallelIf(perSample, N, func(lo, hi int) {
		dyp, releaseB := convBuf[float32](M * S)
		defer releaseB()
		clear(dyp)
		out, releaseO := convBuf[float32](C * max(nOut, 1))
		defer releaseO()
		for n := lo; n < hi; n++ {
			dys := dy[n*M*g.outSz:][:M*g.outSz]
			for m := 0; m < M; m++ {
				for oh := 0; oh < oH; oh++ {
					copy(dyp[m*S+(oh+JH)*Wd+JW:][:oW], dys[m*g.outSz+oh*oW:][:oW])
				}
			}
			dxs := dx[n*C*g.inSize:][:C*g.inSize]
			for _, p := range phases {
				if len(p.kh) == 0 {
					// No tap reaches these positions (a kernel smaller
					// than the stride): zero.
					for c := 0; c < C; c++ {
						for q := 0; q < p.nq; q++ {
							row := dxs[(c*iH+sH*(p.qlo+q)+p.rh-pt)*iW:][:iW]
							for qw, iw := 0, sW*p.qwlo+p.rw-pl; qw < p.nqw; qw, iw = qw+1, iw+sW {
								row[iw] = 0
							}
						}
					}
					continue
				}
				L := p.nq * Wd
				gemmOffsF32(perSample, p.pa, L, dyp, p.offs, nil, 0, out, L)
				for c := 0; c < C; c++ {
					for q := 0; q < p.nq; q++ {
						src := out[c*L+q*Wd:][:p.nqw]
						row := dxs[(c*iH+sH*(p.qlo+q)+p.rh-pt)*iW:][:iW]
						iw := sW*p.qwlo + p.rw - pl
						if sW == 1 {
							copy(row[iw:], src)
							continue
						}
						for _, v := range src {
							row[iw] = v
							iw += sW
						}
					}
				}
			}
		}
	})
}

// convTransposeF32 writes the transpose of the rows×cols matrix src (row
// stride lds) to dst (row stride ldd): dst[c·ldd+r] = src[r·lds+c]. It
// takes 16 or 8 source rows at a time (gemmasm.Transpose16 and Transpose8
// for their leading multiple of 8 columns), so that each destination row
// gets a cache line (or half of one) per visit instead of one value.
func convTransposeF32(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	r := 0
	if gemmasm.OK {
		for ; r+16 <= rows; r += 16 {
			c0 := gemmasm.Transpose16(cols, src[r*lds:], lds, dst[r:], ldd)
			convTransposeScalar(dst, ldd, src, lds, r, r+16, c0, cols)
		}
	}
	for ; r+8 <= rows; r += 8 {
		c0 := 0
		if gemmasm.OK {
			c0 = gemmasm.Transpose8(cols, src[r*lds:], lds, dst[r:], ldd)
		}
		s0, s1 := src[r*lds:][:cols], src[(r+1)*lds:][:cols]
		s2, s3 := src[(r+2)*lds:][:cols], src[(r+3)*lds:][:cols]
		s4, s5 := src[(r+4)*lds:][:cols], src[(r+5)*lds:][:cols]
		s6, s7 := src[(r+6)*lds:][:cols], src[(r+7)*lds:][:cols]
		for c := c0; c < cols; c++ {
			d := dst[c*ldd+r:][:8]
			d[0], d[1], d[2], d[3] = s0[c], s1[c], s2[c], s3[c]
			d[4], d[5], d[6], d[7] = s4[c], s5[c], s6[c], s7[c]
		}
	}
	convTransposeScalar(dst, ldd, src, lds, r, rows, 0, cols)
}

// convTransposeScalar is convTransposeF32 for rows [r0, r1) and columns
// [c0, cols), one value at a time.
func convTransposeScalar(dst []float32, ldd int, src []float32, lds, r0, r1, c0, cols int) {
	for r := r0; r < r1; r++ {
		for c, v := range src[r*lds+c0 : r*lds+cols] {
			dst[(c0+c)*ldd+r] = v
		}
	}
}
