package nn

// Sample-batched convolution. The per-sample formulation (one GEMM per
// sample: W[M,K]·col[K,HW]) is efficient when HW is large, but deep layers
// of image networks have small spatial sizes (7×7, 14×14) and, in the
// backward pass, dW = Σ_n dY_n·col_nᵀ then accumulates a large [M,K] block
// once per sample with an inner dimension of only HW. Here a chunk of nb
// samples is laid side by side in one column matrix col[K, nb·HW] (row
// stride nb·HW), so every product is a single GEMM with nb times the
// inner or outer dimension:
//
//	forward   Ỹ[M, nb·HW] = W·col            (then scattered to y[n][m])
//	dW       dW[M, K]    += dỸ·colᵀ           (dỸ gathered from dy[n][m])
//	dX       col          = Wᵀ·dỸ             (then col2im per sample)
//
// The GEMMs parallelize internally (gemmF32 splits large products over
// GOMAXPROCS), im2col, col2im and the gathers over samples × channels.
// Only ungrouped convolutions (group = 1) take this path.

import "github.com/graftml/graft/nn/internal/gemmasm"

// convBatchBudget bounds the column matrix of one chunk, in elements
// (8M floats: 32 MB).
const convBatchBudget = 8 << 20

// convBatchSize returns how many samples one chunk holds: as many as fit
// in convBatchBudget, at least one.
func convBatchSize(K, outSz, N int) int {
	nb := convBatchBudget / max(K*outSz, 1)
	return min(max(nb, 1), N)
}

// convBatchedPays reports whether the batched formulation is worth its
// extra gather and scatter: only when per-sample products are narrow. On
// resnet18's shapes at batch 16 (BenchmarkConvBatched, both BLAS
// backends) per-sample products win from 14×14 up, and the batched ones
// win for dW at 7×7.
func convBatchedPays(g *convGeom, N int) bool {
	return N > 1 && g.outSz <= 64
}

// convGatherChunk copies samples [n0, n0+nb) of a [N][R][S] tensor into
// dst laid out as [R][nb·S] (row r holds the nb samples' rows side by side).
func convGatherChunk[T float32 | float64](src []T, R, S, n0, nb int, dst []T) {
	ld := nb * S
	gemmParallel(nb*R, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			j, r := t/R, t%R
			copy(dst[r*ld+j*S:][:S], src[((n0+j)*R+r)*S:][:S])
		}
	})
}

// convScatterChunk is the inverse of convGatherChunk, adding bias[r] when
// bias is not nil.
func convScatterChunk[T float32 | float64](src []T, R, S, n0, nb int, bias []T, dst []T) {
	ld := nb * S
	gemmParallel(nb*R, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			j, r := t/R, t%R
			d := dst[((n0+j)*R+r)*S:][:S]
			s := src[r*ld+j*S:][:S]
			if bias == nil {
				copy(d, s)
				continue
			}
			bv := bias[r]
			for i, v := range s {
				d[i] = v + bv
			}
		}
	})
}

// convPointwise reports whether g is a 1×1, stride 1, unpadded
// convolution: a plain product with the input as the column matrix.
func convPointwise(g *convGeom) bool {
	return g.kSize == 1 && g.inSize == g.outSz &&
		g.s == [3]int{1, 1, 1} && g.pb == [3]int{} && g.pe == [3]int{}
}

// convChunkCols fills col [K, nb·outSz] with the column matrix of samples
// [n0, n0+nb) of x (group 1).
func convChunkCols[T float32 | float64](g *convGeom, C, n0, nb int, x, col []T) {
	if convPointwise(g) {
		convGatherChunk(x, C, g.inSize, n0, nb, col)
		return
	}
	ld := nb * g.outSz
	// Tasks are blocks of 16 channels of one sample.
	const cb = 16
	blocks := (C + cb - 1) / cb
	gemmParallel(nb*blocks, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			j, c := t/blocks, (t%blocks)*cb
			xs := x[(n0+j)*C*g.inSize:][:C*g.inSize]
			convIm2colLd(g, xs, col[j*g.outSz:], ld, c, min(c+cb, C))
		}
	})
}

// convForwardBatched computes an ungrouped convolution in chunks of nb
// samples.
func convForwardBatched[T float32 | float64](g *convGeom, N, C, M, nb int, x, w, b, y []T) {
	K := C * g.kSize
	col, releaseCol := convBuf[T](K * nb * g.outSz)
	defer releaseCol()
	out, releaseOut := convBuf[T](M * nb * g.outSz)
	defer releaseOut()
	// float32 on AVX2 CPUs: graft's kernel reads the column matrix in
	// place (gemmOffsF32), with the weights packed once for all chunks.
	var pw *gemmOffsA
	var offs []int
	if wf, ok := any(w).([]float32); ok && gemmKernelOK {
		var release func()
		pw, release = g.packs.pack(false, M, K, wf, K)
		defer release()
		offs = make([]int, K)
	}
	for n0 := 0; n0 < N; n0 += nb {
		cnb := min(nb, N-n0)
		ld := cnb * g.outSz
		convChunkCols(g, C, n0, cnb, x, col)
		if pw != nil {
			for p := range offs {
				offs[p] = p * ld
			}
			gemmOffsF32(false, pw, ld, any(col).([]float32), offs, nil, 0, any(out).([]float32), ld)
		} else {
			convGemm(false, false, M, ld, K, w, K, col, ld, 0, out, ld)
		}
		convScatterChunk(out, M, g.outSz, n0, cnb, b, y)
		convEpilogue(g, y[n0*M*g.outSz:(n0+cnb)*M*g.outSz])
	}
}

// cvgConvBackBatched computes dx (if non-nil; it is overwritten) and dw (if
// non-nil; overwritten) of an ungrouped convolution in chunks of nb
// samples.
func cvgConvBackBatched[T float32 | float64](g *convGeom, N, C, M, nb int, x, w, dy, dx, dw []T) {
	K := C * g.kSize
	// col has one row of zeros after its K rows (rowsW's ragged last panel).
	col, releaseCol := convBuf[T]((K + 1) * nb * g.outSz)
	defer releaseCol()
	dyc, releaseDy := convBuf[T](M * nb * g.outSz)
	defer releaseDy()
	// float32 on AVX-512 CPUs: dWᵀ = col·dỸᵀ on KernelR6x32, which reads
	// col's rows in place, with dỸ transposed (rowsW), instead of a BLAS
	// product: accumulated over the chunks in acc, stored once.
	var rowsW struct {
		on         bool
		acc, dyT   []float32
		aoffs      []int
		relA, relT func()
	}
	if _, ok := any(x).([]float32); ok && dw != nil && gemmasm.OK512 {
		rowsW.on = true
		rowsW.acc, rowsW.relA = convBuf[float32](K * M)
		defer rowsW.relA()
		rowsW.dyT, rowsW.relT = convBuf[float32](nb*g.outSz*M + 2*gemmNR)
		defer rowsW.relT()
		clear(rowsW.dyT[nb*g.outSz*M:])
		rowsW.aoffs = make([]int, K)
	}
	pointwise := convPointwise(g)
	if dx != nil && !pointwise {
		clear(dx)
	}
	// float32 on AVX2 CPUs: dx's product runs on graft's kernel, with Wᵀ
	// packed once for all chunks and dỸ read in place.
	var pwT *gemmOffsA
	var offs []int
	if wf, ok := any(w).([]float32); ok && dx != nil && gemmKernelOK {
		pwT = gemmOffsPack(true, K, M, wf, K)
		defer pwT.release()
		offs = make([]int, M)
	}
	for n0 := 0; n0 < N; n0 += nb {
		cnb := min(nb, N-n0)
		ld := cnb * g.outSz
		convGatherChunk(dy, M, g.outSz, n0, cnb, dyc)
		if dw != nil && rowsW.on {
			convChunkCols(g, C, n0, cnb, x, col)
			cf := any(col).([]float32)
			clear(cf[K*ld : (K+1)*ld])
			gemmParallel((M+15)/16, func(lo, hi int) {
				m0, m1 := lo*16, min(hi*16, M)
				convTransposeF32(rowsW.dyT[m0:], M, any(dyc).([]float32)[m0*ld:], ld, m1-m0, ld)
			})
			for r := range rowsW.aoffs {
				rowsW.aoffs[r] = r * ld
			}
			cvgWeightRows(K, M, ld, 1, cf, func(int) int { return 0 }, rowsW.aoffs, K*ld, rowsW.dyT, rowsW.acc, n0 == 0)
		} else if dw != nil {
			convChunkCols(g, C, n0, cnb, x, col)
			var beta T
			if n0 > 0 {
				beta = 1
			}
			// dW[M,K] (+)= dỸ[M,ld]·colᵀ
			convGemm(false, true, M, K, ld, dyc, ld, col, ld, beta, dw, K)
		}
		if dx != nil {
			// col[K,ld] = Wᵀ·dỸ
			if pwT != nil {
				for p := range offs {
					offs[p] = p * ld
				}
				gemmOffsF32(false, pwT, ld, any(dyc).([]float32), offs, nil, 0, any(col).([]float32), ld)
			} else {
				convGemm(true, false, K, ld, M, w, K, dyc, ld, 0, col, ld)
			}
			if pointwise {
				convScatterChunk(col, C, g.inSize, n0, cnb, nil, dx)
				continue
			}
			gemmParallel(cnb*C, func(lo, hi int) {
				for t := lo; t < hi; t++ {
					j, c := t/C, t%C
					dxs := dx[(n0+j)*C*g.inSize:][:C*g.inSize]
					cvgCol2imLd(g, col[j*g.outSz:], ld, dxs, c, c+1)
				}
			})
		}
	}
	if rowsW.on {
		cvgWeightStore(K, M, rowsW.acc, any(dw).([]float32))
	}
}

// convBackAuto computes the convolution gradients dx and dw (each nil when
// not needed, zeroed otherwise): sample-batched for ungrouped
// convolutions with narrow outputs; otherwise, for ungrouped float32 ones,
// dx on AVX2 CPUs (stride 1, and phase by phase for strided ones) and dw
// on AVX-512 CPUs as implicit GEMMs (conv_implicit.go); what remains tap by tap for ungrouped
// stride-1 convolutions (conv_taps.go), per sample with im2col otherwise.
func convBackAuto[T float32 | float64](g *convGeom, N, C, M, G int, x, w, dy, dx, dw []T) {
	if wf, ok := any(w).([]float32); ok && dx != nil && G == 1 && cvgConvBackDataNHWC(g, N, C, M, wf, any(dy).([]float32), any(dx).([]float32)) {
		if dw == nil {
			return
		}
		dx = nil
	}
	if xf, ok := any(x).([]float32); ok && dw != nil && G == 1 && cvgConvBackWeightNHWC(g, N, C, M, xf, any(dy).([]float32), any(dw).([]float32)) {
		if dx == nil {
			return
		}
		dw = nil
	}
	if G == 1 && convBatchedPays(g, N) {
		cvgConvBackBatched(g, N, C, M, convBatchSize(max(C*g.kSize, M), g.outSz, N), x, w, dy, dx, dw)
		return
	}
	if wf, ok := any(w).([]float32); ok && dx != nil && cvgConvBackDataImplicitOK(g, N, G) {
		cvgConvBackDataImplicitF32(g, N, C, M, wf, any(dy).([]float32), any(dx).([]float32))
		if dw == nil {
			return
		}
		dx = nil
	}
	if wf, ok := any(w).([]float32); ok && dx != nil && cvgConvBackDataStridedOK(g, N, G) {
		cvgConvBackDataStridedF32(g, N, C, M, wf, any(dy).([]float32), any(dx).([]float32))
		if dw == nil {
			return
		}
		dx = nil
	}
	if xf, ok := any(x).([]float32); ok && dw != nil && cvgConvBackWeightImplicitOK(g, N, G) {
		cvgConvBackWeightImplicitF32(g, N, C, M, xf, any(dy).([]float32), any(dw).([]float32))
		if dx == nil {
			return
		}
		dw = nil
	}
	if convTapsBackOK(g, N, C, G) {
		cvgConvBackTaps(g, N, C, M, x, w, dy, dx, dw)
		return
	}
	cvgConvBack(g, N, C, M, G, x, w, dy, dx, dw)
}
