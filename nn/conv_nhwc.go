package nn

import (
	"runtime"

	"github.com/graftml/graft/nn/internal/gemmasm"
)

// Convolution over channels-last rows, for small outputs (resnet18's 14×14
// and 7×7 layers). The NCHW paths vectorize over output positions: the
// implicit GEMM computes whole padded rows (2 of every 9 columns wasted at
// 7×7, 2 of 16 at 14×14) and the sample-batched one writes an im2col
// matrix first. Here the input is transposed into zero-padded NHWC planes,
// and every output position q reads, for tap t, the C channels at
// xp[(q's window origin + off_t)·C :][:C], one contiguous row. With the
// weights reordered per tap as B_t[c][m] = W[m][c][t],
//
//	Y[q][m] = Σ_t Σ_c xp[row_t(q) + c]·B_t[c][m]
//
// is a product whose left operand's rows are read in place at any offsets
// (KernelR6x32): only valid positions are computed, whatever the stride,
// and nothing is copied but the input and output transposes.

// convNHWCOK reports whether convForwardNHWCF32 computes a convolution of
// N samples: float32, ungrouped, 2-D (or 1-D), on an AVX-512 CPU, with a
// kernel larger than 1×1 and at most convNHWCMaxOut output positions per
// sample (convNHWCMaxOut1 for a single sample). Measured on resnet18's
// layers at batch 1, 8 and 16 against the paths it replaces
// (BenchmarkConvNHWC): up to 16% faster at 7×7 at batch 8 and 16; at
// 14×14 within a few percent either way at batch 8 and 16 (a later run
// on a busier machine had it 7% slower at batch 16); at batch 1 up to 33%
// faster at 14×14 and 17% at 28×28. Its 1×1 stride-2 products were up to
// 1.6× slower than plain GEMMs, and at 28×28 and 56×56 with 8 or 16
// samples it was 3-25% slower than the implicit GEMM. Whole resnet18
// runs, alternating with the build before it: inference 5% faster at
// batch 8 and 9% at batch 1, the training step 2% faster.
func convNHWCOK(g *convGeom, N, G int) bool {
	limit := convNHWCMaxOut
	if N == 1 {
		limit = convNHWCMaxOut1
	}
	return gemmasm.OK512 && G == 1 && g.in[0] == 1 && g.k[0] == 1 && g.kSize > 1 && g.outSz <= limit
}

// convNHWCMaxOut is the largest output (positions per sample) that
// convForwardNHWCF32 takes: 14×14.
const convNHWCMaxOut = 196

// convNHWCMaxOut1 is convNHWCMaxOut for a single sample: 28×28.
const convNHWCMaxOut1 = 784

// convNHWCKC is the channel block of one KernelR6x32 call.
const convNHWCKC = 256

// convNHWCRows is the number of 6-row panels of one task.
const convNHWCRows = 8

// convForwardNHWCF32 computes y = conv(x, w) + b (with g's fused
// activation) through channels-last rows; see the comment at the top of
// this file.
func convForwardNHWCF32(g *convGeom, N, C, M int, x, w, b, y []float32) {
	oH, oW := g.out[1], g.out[2]
	taps := g.kSize
	xp, zeroRow, releaseX := convNHWCInput(g, N, C, x)
	defer releaseX()
	// B_t[c][m] = W[m][c][t] in panels of 32 output channels, each panel
	// [taps][C][32] contiguous (zero past M): a B row of a kernel call is
	// 32 consecutive values, not one every M (2 KB apart for M = 512, which
	// left the panel thrashing a few L1 sets). Plain inference keeps it.
	colPanels := (M + 2*gemmNR - 1) / (2 * gemmNR)
	const nrw = 2 * gemmNR
	wr, releaseW := g.packs.prepared(packNHWC, w, colPanels*taps*C*nrw, func(wr []float32) {
		convNHWCWeights(w, wr, M, C, taps)
	})
	defer releaseW()
	toff, qoff := convNHWCOffsets(g, N, C)
	P := len(qoff)
	Y, releaseY := convBuf[float32](P * M)
	defer releaseY()
	panels := (P + gemmMR - 1) / gemmMR
	rowBlocks := (panels + convNHWCRows - 1) / convNHWCRows
	// Few positions (batch 1): split rows finer so every thread has work.
	rb := convNHWCRows
	if procs := runtime.GOMAXPROCS(0); rowBlocks*colPanels < 4*procs {
		rb = max(1, panels*colPanels/(4*procs))
		rowBlocks = (panels + rb - 1) / rb
	}
	gemmParallel(rowBlocks*colPanels, func(lo, hi int) {
		bo := make([]int, convNHWCKC)
		var arows [gemmMR]int
		var tmp [gemmMR * 2 * gemmNR]float32
		for task := lo; task < hi; task++ {
			jp := task % colPanels
			jr := jp * nrw
			nr := min(nrw, M-jr)
			p0 := task / colPanels * rb
			p1 := min(p0+rb, panels)
			// Tap by tap and channel block by block, each B panel (up to
			// 256×32 values) serves all the task's row panels from L1.
			for t, to := range toff {
				for pc := 0; pc < C; pc += convNHWCKC {
					kb := min(convNHWCKC, C-pc)
					first := t == 0 && pc == 0
					for p := 0; p < kb; p++ {
						bo[p] = ((jp*taps+t)*C + pc + p) * nrw
					}
					for ip := p0; ip < p1; ip++ {
						q0 := ip * gemmMR
						mr := min(gemmMR, P-q0)
						for i := range arows {
							if i < mr {
								arows[i] = qoff[q0+i] + to + pc
							} else {
								arows[i] = zeroRow
							}
						}
						if mr == gemmMR && nr == nrw {
							gemmasm.KernelR6x32(kb, arows[:], xp, wr, bo, Y[q0*M+jr:], M, !first)
							continue
						}
						gemmasm.KernelR6x32(kb, arows[:], xp, wr, bo, tmp[:], nrw, false)
						for i := 0; i < mr; i++ {
							row := Y[(q0+i)*M+jr:][:nr]
							tr := tmp[i*nrw:][:nr]
							if first {
								copy(row, tr)
								continue
							}
							for j, v := range tr {
								row[j] += v
							}
						}
					}
				}
			}
		}
	})
	// Y [P][M] → y [N][M][oH·oW], with bias and activation.
	oHW := oH * oW
	gemmParallel(N, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			yn := y[n*M*oHW:][:M*oHW]
			convTransposeF32(yn, oHW, Y[n*oHW*M:], M, oHW, M)
			if b != nil {
				for m := 0; m < M; m++ {
					row := yn[m*oHW:][:oHW]
					bv := b[m]
					for i := range row {
						row[i] += bv
					}
				}
			}
			convEpilogue(g, yn)
		}
	})
}

// convNHWCWeights writes the weights w [M][C][taps] as convForwardNHWCF32
// reads them into wr: panels of 32 output channels, each [taps][C][32],
// zero past M. Both steps are transposes: per output channel [C][taps] to
// [taps][C], then per panel and tap [32][C] to [C][32].
func convNHWCWeights(w, wr []float32, M, C, taps int) {
	const nrw = 2 * gemmNR
	colPanels := (M + nrw - 1) / nrw
	wt, release := convBuf[float32](taps * M * C)
	defer release()
	gemmParallel(M, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			convTransposeF32(wt[m*C:], M*C, w[m*C*taps:], taps, C, taps)
		}
	})
	gemmParallel(colPanels*taps, func(lo, hi int) {
		for task := lo; task < hi; task++ {
			jp, t := task/taps, task%taps
			dst := wr[(jp*taps+t)*C*nrw:][:C*nrw]
			m0 := jp * nrw
			nm := min(nrw, M-m0)
			if nm < nrw {
				clear(dst)
			}
			convTransposeF32(dst, nrw, wt[(t*M+m0)*C:], C, nm, C)
		}
	})
}

// cvgConvBackDataNHWC computes dx (overwritten) of a stride-1 2-D
// convolution with a small input (at most convNHWCMaxOut positions) as the
// channels-last forward convolution of dy with the flipped, transposed
// kernel, W'[c][m][t] = W[m][c][taps-1-t], padded by the kernel's reach
// less the original pads. It reports false, doing nothing, for other
// convolutions.
func cvgConvBackDataNHWC(g *convGeom, N, C, M int, w, dy, dx []float32) bool {
	if g.rank != 2 || g.s != [3]int{1, 1, 1} || g.inSize > convNHWCMaxOut || g.kSize == 1 || !gemmasm.OK512 {
		return false
	}
	reach := [2]int{g.d[1] * (g.k[1] - 1), g.d[2] * (g.k[2] - 1)}
	pads := []int{reach[0] - g.pb[1], reach[1] - g.pb[2], reach[0] - g.pe[1], reach[1] - g.pe[2]}
	for _, p := range pads {
		if p < 0 {
			return false
		}
	}
	a := convAttrs{autoPad: "NOTSET", pads: pads, dilations: []int{g.d[1], g.d[2]}}
	g2, err := convMakeGeom(&a, []int{g.out[1], g.out[2]}, []int{g.k[1], g.k[2]})
	if err != nil || g2.out != g.in || !convNHWCOK(g2, N, 1) {
		return false
	}
	taps := g.kSize
	w2, release := convBuf[float32](len(w))
	defer release()
	gemmParallel(C, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			for m := 0; m < M; m++ {
				src := w[(m*C+c)*taps:][:taps]
				dst := w2[(c*M+m)*taps:][:taps]
				for t, v := range src {
					dst[taps-1-t] = v
				}
			}
		}
	})
	convForwardNHWCF32(g2, N, M, C, dy, w2, nil, dx)
	return true
}

// convNHWCInput returns x [N][C][iH·iW] as zero-padded channels-last planes
// [N][Hp][Wp][C], followed by C zeros starting at zeroRow, and the function
// that returns the buffer.
func convNHWCInput(g *convGeom, N, C int, x []float32) (xp []float32, zeroRow int, release func()) {
	iH, iW := g.in[1], g.in[2]
	pt, pl := g.pb[1], g.pb[2]
	Wp := iW + pl + g.pe[2]
	plane := (iH + pt + g.pe[1]) * Wp * C
	xp, release = convBuf[float32](N*plane + C)
	gemmParallel(N, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			xn := xp[n*plane:][:plane]
			clear(xn[:pt*Wp*C])
			clear(xn[(pt+iH)*Wp*C:])
			for h := 0; h < iH; h++ {
				row := xn[(pt+h)*Wp*C:][:Wp*C]
				clear(row[:pl*C])
				clear(row[(pl+iW)*C:])
				convTransposeF32(row[pl*C:], C, x[n*C*g.inSize+h*iW:], g.inSize, C, iW)
			}
		}
	})
	zeroRow = N * plane
	clear(xp[zeroRow:])
	return xp, zeroRow, release
}

// convNHWCOffsets returns, for the planes of convNHWCInput, each tap's
// offset within a plane and each output position's window origin (samples
// in order, then rows and columns), in values.
func convNHWCOffsets(g *convGeom, N, C int) (toff, qoff []int) {
	oH, oW := g.out[1], g.out[2]
	Wp := g.in[2] + g.pb[2] + g.pe[2]
	plane := (g.in[1] + g.pb[1] + g.pe[1]) * Wp * C
	toff = make([]int, g.kSize)
	for t := range toff {
		kh, kw := t/g.k[2], t%g.k[2]
		toff[t] = (kh*g.d[1]*Wp + kw*g.d[2]) * C
	}
	qoff = make([]int, N*oH*oW)
	for q := range qoff {
		n, r := q/(oH*oW), q%(oH*oW)
		oh, ow := r/oW, r%oW
		qoff[q] = n*plane + (oh*g.s[1]*Wp+ow*g.s[2])*C
	}
	return toff, qoff
}

// cvgConvBackWeightNHWC computes dw (overwritten) of a convolution that
// convNHWCOK accepts, tap by tap over the channels-last planes:
//
//	dW_t[m][c] = Σ_q dY[m][q]·xp[qoff[q] + toff[t] + c]
//
// a product whose B rows are read in place (gemmOffsF32) with dY gathered
// over the samples as A. It reports false, doing nothing, for other
// convolutions.
func cvgConvBackWeightNHWC(g *convGeom, N, C, M int, x, dy, dw []float32) bool {
	if !convNHWCOK(g, N, 1) || !gemmKernelOK {
		return false
	}
	taps := g.kSize
	xp, _, releaseX := convNHWCInput(g, N, C, x)
	defer releaseX()
	toff, qoff := convNHWCOffsets(g, N, C)
	P := len(qoff)
	dyc, releaseDy := convBuf[float32](M * P)
	defer releaseDy()
	convGatherChunk(dy, M, g.outSz, 0, N, dyc)
	pa := gemmOffsPack(false, M, P, dyc, P)
	defer pa.release()
	dwt, releaseT := convBuf[float32](taps * M * C)
	defer releaseT()
	offs := make([]int, P)
	for t, to := range toff {
		for q, o := range qoff {
			offs[q] = o + to
		}
		gemmOffsF32(false, pa, C, xp, offs, nil, 0, dwt[t*M*C:][:M*C], C)
	}
	// dwt [taps][M][C] → dw [M][C][taps].
	gemmParallel(M, func(lo, hi int) {
		for m := lo; m < hi; m++ {
			convTransposeF32(dw[m*C*taps:], taps, dwt[m*C:], M*C, taps, C)
		}
	})
	return true
}
