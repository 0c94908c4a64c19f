package nn

import (
	"runtime"
	"sync"

	"github.com/graftml/graft/nn/internal/gemmasm"
)

// Blocking of the packed SGEMM: a KC×NC block of B (packed in 16-column
// panels) stays in L3/L2, an MC×KC block of A (6-row panels) in L2, and the
// 6×16 micro-kernel streams one panel of each.
const (
	gemmMR = 6
	gemmNR = 16
	gemmKC = 256
	gemmMC = 120
	gemmNC = 2048
)

// gemmPackedF32 computes C = alpha*op(A)*op(B) + beta*C with the AVX2
// micro-kernel, splitting the output over GOMAXPROCS goroutines.
func gemmPackedF32(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if beta != 1 {
		gemmScaleF32(m, n, beta, c, ldc)
	}
	if alpha == 0 {
		return
	}
	procs := runtime.GOMAXPROCS(0)
	// Not worth a goroutine below ~1 MFLOP of work per worker.
	if w := m * n * k / (1 << 19); w < procs {
		procs = max(w, 1)
	}
	if procs == 1 {
		gemmPackedBlock(transA, transB, 0, m, 0, n, k, alpha, a, lda, b, ldb, c, ldc)
		return
	}
	var wg sync.WaitGroup
	if n >= m {
		// Split columns in multiples of the panel width.
		chunk := (n + procs - 1) / procs
		chunk = (chunk + gemmNR - 1) / gemmNR * gemmNR
		for n0 := 0; n0 < n; n0 += chunk {
			n1 := min(n0+chunk, n)
			wg.Add(1)
			go func(n0, n1 int) {
				defer wg.Done()
				gemmPackedBlock(transA, transB, 0, m, n0, n1, k, alpha, a, lda, b, ldb, c, ldc)
			}(n0, n1)
		}
	} else {
		chunk := (m + procs - 1) / procs
		chunk = (chunk + gemmMR - 1) / gemmMR * gemmMR
		for m0 := 0; m0 < m; m0 += chunk {
			m1 := min(m0+chunk, m)
			wg.Add(1)
			go func(m0, m1 int) {
				defer wg.Done()
				gemmPackedBlock(transA, transB, m0, m1, 0, n, k, alpha, a, lda, b, ldb, c, ldc)
			}(m0, m1)
		}
	}
	wg.Wait()
}

// gemmPackedBlock computes C[m0:m1, n0:n1] += alpha*op(A)*op(B) serially.
func gemmPackedBlock(transA, transB bool, m0, m1, n0, n1, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	abufP := gemmGetBuf(gemmMC*gemmKC + 2)
	bbufP := gemmGetBuf(gemmKC * (gemmNC + gemmNR))
	defer gemmPutBuf(abufP)
	defer gemmPutBuf(bbufP)
	abuf, bbuf := *abufP, *bbufP
	var tmp [gemmMR * gemmNR]float32
	for jc := n0; jc < n1; jc += gemmNC {
		nb := min(gemmNC, n1-jc)
		for pc := 0; pc < k; pc += gemmKC {
			kb := min(gemmKC, k-pc)
			gemmPackB(transB, b, ldb, pc, kb, jc, nb, bbuf)
			for ic := m0; ic < m1; ic += gemmMC {
				mb := min(gemmMC, m1-ic)
				gemmPackA(transA, a, lda, ic, mb, pc, kb, alpha, abuf)
				for jr := 0; jr < nb; jr += gemmNR {
					nr := min(gemmNR, nb-jr)
					bp := bbuf[jr*kb : (jr+gemmNR)*kb]
					for ir := 0; ir < mb; ir += gemmMR {
						mr := min(gemmMR, mb-ir)
						ap := abuf[ir*kb : (ir+gemmMR)*kb]
						co := (ic+ir)*ldc + jc + jr
						if mr == gemmMR && nr == gemmNR {
							gemmMicro(kb, ap, bp, c[co:co+(gemmMR-1)*ldc+gemmNR], ldc)
							continue
						}
						clear(tmp[:])
						gemmMicro(kb, ap, bp, tmp[:], gemmNR)
						for i := 0; i < mr; i++ {
							row := c[co+i*ldc : co+i*ldc+nr]
							t := tmp[i*gemmNR : i*gemmNR+nr]
							for j := range row {
								row[j] += t[j]
							}
						}
					}
				}
			}
		}
	}
}

// gemmPackA packs alpha*op(A)[ic:ic+mb, pc:pc+kb] into 6-row panels:
// panel p holds kb groups of 6 values; missing rows are zero.
func gemmPackA(trans bool, a []float32, lda, ic, mb, pc, kb int, alpha float32, dst []float32) {
	for ir := 0; ir < mb; ir += gemmMR {
		mr := min(gemmMR, mb-ir)
		panel := dst[ir*kb:]
		if mr == gemmMR {
			row := ic + ir
			if !trans {
				// Eight columns at a time by the vector transpose (alpha 1),
				// which leaves the last columns to the loop below and
				// writes nothing past the panel.
				p0 := 0
				if alpha == 1 && gemmKernelOK {
					p0 = gemmasm.PackA6(kb, a[row*lda+pc:], lda, panel[:gemmMR*kb])
				}
				r0 := a[row*lda+pc:][:kb]
				r1 := a[(row+1)*lda+pc:][:kb]
				r2 := a[(row+2)*lda+pc:][:kb]
				r3 := a[(row+3)*lda+pc:][:kb]
				r4 := a[(row+4)*lda+pc:][:kb]
				r5 := a[(row+5)*lda+pc:][:kb]
				for p := p0; p < kb; p++ {
					d := panel[p*gemmMR : p*gemmMR+gemmMR]
					d[0], d[1], d[2] = alpha*r0[p], alpha*r1[p], alpha*r2[p]
					d[3], d[4], d[5] = alpha*r3[p], alpha*r4[p], alpha*r5[p]
				}
			} else {
				for p := 0; p < kb; p++ {
					src := a[(pc+p)*lda+row:][:gemmMR]
					d := panel[p*gemmMR : p*gemmMR+gemmMR]
					d[0], d[1], d[2] = alpha*src[0], alpha*src[1], alpha*src[2]
					d[3], d[4], d[5] = alpha*src[3], alpha*src[4], alpha*src[5]
				}
			}
			continue
		}
		panel = panel[:gemmMR*kb]
		clear(panel)
		for i := 0; i < mr; i++ {
			row := ic + ir + i
			if !trans {
				src := a[row*lda+pc : row*lda+pc+kb]
				for p, v := range src {
					panel[p*gemmMR+i] = alpha * v
				}
			} else {
				o := pc*lda + row
				for p := 0; p < kb; p++ {
					panel[p*gemmMR+i] = alpha * a[o]
					o += lda
				}
			}
		}
	}
}

// gemmPackB packs op(B)[pc:pc+kb, jc:jc+nb] into 16-column panels: panel q
// holds kb groups of 16 values; missing columns are zero.
func gemmPackB(trans bool, b []float32, ldb, pc, kb, jc, nb int, dst []float32) {
	for jr := 0; jr < nb; jr += gemmNR {
		nr := min(gemmNR, nb-jr)
		panel := dst[jr*kb : jr*kb+gemmNR*kb]
		if !trans {
			if nr == gemmNR {
				// Whole panels: fixed-size array copies, which compile to
				// vector moves (a copy call per 64 bytes cost more than
				// the move itself).
				if gemmKernelOK {
					gemmasm.PackB16(kb, b[pc*ldb+jc+jr:], ldb, panel)
					continue
				}
				for p := 0; p < kb; p++ {
					o := (pc+p)*ldb + jc + jr
					*(*[gemmNR]float32)(panel[p*gemmNR:]) = *(*[gemmNR]float32)(b[o:])
				}
				continue
			}
			for p := 0; p < kb; p++ {
				src := b[(pc+p)*ldb+jc+jr : (pc+p)*ldb+jc+jr+nr]
				d := panel[p*gemmNR : p*gemmNR+gemmNR]
				copy(d, src)
				clear(d[nr:])
			}
		} else {
			if nr < gemmNR {
				clear(panel)
			}
			for j := 0; j < nr; j++ {
				src := b[(jc+jr+j)*ldb+pc : (jc+jr+j)*ldb+pc+kb]
				for p, v := range src {
					panel[p*gemmNR+j] = v
				}
			}
		}
	}
}
