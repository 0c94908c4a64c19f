package nn

import (
	"runtime"
	"sync"
)

// rnnPackedB is a column range of Rᵀ (H×G·H) packed once per run into the
// 16-column panels of the package's 6×16 float32 micro-kernel, so the time
// loop multiplies the hidden state by R without repacking R at every step.
type rnnPackedB struct {
	k      int       // inner dimension (hidden size)
	n      int       // number of columns (gate rows of R)
	panels []float32 // ceil(n/16) panels of k groups of 16 values
}

// rnnUsePacked reports whether float32 step products can use the packed
// micro-kernel.
func rnnUsePacked() bool { return gemmOwnKernel && gemmKernelOK }

// rnnPackedSize is the number of floats rnnPackR needs for n columns.
func rnnPackedSize(n, k int) int { return (n + gemmNR - 1) / gemmNR * gemmNR * k }

// rnnPackR packs rows row0..row0+n of r (each k long, i.e. columns of Rᵀ)
// into dst.
func rnnPackR(r []float32, row0, n, k int, dst []float32) rnnPackedB {
	np := (n + gemmNR - 1) / gemmNR
	dst = dst[:np*gemmNR*k]
	for q := 0; q < np; q++ {
		panel := dst[q*gemmNR*k : (q+1)*gemmNR*k]
		nr := min(gemmNR, n-q*gemmNR)
		if nr < gemmNR {
			clear(panel)
		}
		for j := 0; j < nr; j++ {
			src := r[(row0+q*gemmNR+j)*k : (row0+q*gemmNR+j+1)*k]
			for p, v := range src {
				panel[p*gemmNR+j] = v
			}
		}
	}
	return rnnPackedB{k: k, n: n, panels: dst}
}

// rnnPackA packs the m×k row-major a into 6-row panels (missing rows zero).
func rnnPackA(a []float32, m, k int, dst []float32) {
	for r0 := 0; r0 < m; r0 += gemmMR {
		panel := dst[r0*k : r0*k+gemmMR*k]
		mr := min(gemmMR, m-r0)
		if mr < gemmMR {
			clear(panel)
		}
		for i := 0; i < mr; i++ {
			src := a[(r0+i)*k : (r0+i+1)*k]
			for p, v := range src {
				panel[p*gemmMR+i] = v
			}
		}
	}
}

// rnnPackedASize is the number of floats rnnPackA needs.
func rnnPackedASize(m, k int) int { return (m + gemmMR - 1) / gemmMR * gemmMR * k }

// mul computes c = a·B for the m rows packed in ap (by rnnPackA), writing
// columns 0..n of each c row (row stride ldc). Large products split the
// column panels over goroutines unless serial is set.
func (b *rnnPackedB) mul(ap []float32, m int, c []float32, ldc int, serial bool) {
	np := (b.n + gemmNR - 1) / gemmNR
	procs := runtime.GOMAXPROCS(0)
	if serial {
		procs = 1
	}
	if w := m * b.n * b.k / rnnPackedParMACs; w < procs {
		procs = max(w, 1)
	}
	procs = min(procs, np)
	if procs <= 1 {
		b.mulPanels(ap, m, c, ldc, 0, np)
		return
	}
	var wg sync.WaitGroup
	chunk := (np + procs - 1) / procs
	for q0 := 0; q0 < np; q0 += chunk {
		wg.Add(1)
		go func(q0, q1 int) {
			defer wg.Done()
			b.mulPanels(ap, m, c, ldc, q0, q1)
		}(q0, min(q0+chunk, np))
	}
	wg.Wait()
}

// rnnPackedParMACs is the work per goroutine of a packed step product.
const rnnPackedParMACs = 1 << 20

func (b *rnnPackedB) mulPanels(ap []float32, m int, c []float32, ldc int, q0, q1 int) {
	k := b.k
	var tmp [gemmMR * gemmNR]float32
	for q := q0; q < q1; q++ {
		bp := b.panels[q*gemmNR*k : (q+1)*gemmNR*k]
		col := q * gemmNR
		nr := min(gemmNR, b.n-col)
		for r0 := 0; r0 < m; r0 += gemmMR {
			a := ap[r0*k : r0*k+gemmMR*k]
			mr := min(gemmMR, m-r0)
			clear(tmp[:])
			gemmMicro(k, a, bp, tmp[:], gemmNR)
			for i := 0; i < mr; i++ {
				copy(c[(r0+i)*ldc+col:(r0+i)*ldc+col+nr], tmp[i*gemmNR:i*gemmNR+nr])
			}
		}
	}
}
