package nn

import (
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// gemmF32 computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(A) is m×k and op(B) is k×n. It goes through blas32, so the
// backend selected at start-up (gonum or OpenBLAS) does the work.
func gemmF32(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		gemmScaleF32(m, n, beta, c, ldc)
		return
	}
	if gemmOwnKernel && gemmKernelOK && m*n*k >= 4096 {
		gemmPackedF32(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if gemmSplitBLAS && m*n*k >= 1<<20 && runtime.GOMAXPROCS(0) > 1 {
		gemmSplitF32(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemmBLAS32(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func gemmBLAS32(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	blas32.Implementation().Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmSplitF32 cuts C into GOMAXPROCS column (or row) blocks and runs one
// BLAS call per block concurrently.
func gemmSplitF32(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	procs := runtime.GOMAXPROCS(0)
	if n >= m {
		chunk := (n + procs - 1) / procs
		chunk = (chunk + 15) &^ 15
		gemmParallel((n+chunk-1)/chunk, func(lo, hi int) {
			for q := lo; q < hi; q++ {
				n0 := q * chunk
				n1 := min(n0+chunk, n)
				bo := n0
				if transB {
					bo = n0 * ldb
				}
				gemmBLAS32(transA, transB, m, n1-n0, k, alpha, a, lda, b[bo:], ldb, beta, c[n0:], ldc)
			}
		})
		return
	}
	chunk := (m + procs - 1) / procs
	gemmParallel((m+chunk-1)/chunk, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			m0 := q * chunk
			m1 := min(m0+chunk, m)
			ao := m0 * lda
			if transA {
				ao = m0
			}
			gemmBLAS32(transA, transB, m1-m0, n, k, alpha, a[ao:], lda, b, ldb, beta, c[m0*ldc:], ldc)
		}
	})
}

// gemmF64 is gemmF32 for float64.
func gemmF64(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				if beta == 0 {
					row[j] = 0
				} else {
					row[j] *= beta
				}
			}
		}
		return
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	blas64.Implementation().Dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func gemmScaleF32(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			if beta == 0 {
				row[j] = 0
			} else {
				row[j] *= beta
			}
		}
	}
}

// gemmParallel runs fn over [0,n) on up to GOMAXPROCS goroutines; small n
// runs inline. The range is cut into contiguous chunks, up to
// gemmParallelChunks per goroutine, which the goroutines take in turn as
// they finish the last: a thread slowed down by the rest of the machine
// (a busy sibling hyperthread, a noisy neighbour on a shared host) then
// does less of the work instead of holding every other thread up. fn may
// thus be called several times per goroutine, never twice for one index.
func gemmParallel(n int, fn func(lo, hi int)) {
	procs := runtime.GOMAXPROCS(0)
	if procs > n {
		procs = n
	}
	if procs <= 1 {
		fn(0, n)
		return
	}
	chunks := min(n, procs*gemmParallelChunks)
	if n <= procs*gemmParallelItems {
		// Few items (samples, blocks of rows): one per chunk, so the
		// threads finish at most one item apart.
		chunks = n
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func() {
		for {
			c := int(next.Add(1)) - 1
			if c >= chunks {
				return
			}
			// Chunk c is [c·n/chunks, (c+1)·n/chunks): sizes differ by at
			// most one.
			fn(c*n/chunks, (c+1)*n/chunks)
		}
	}
	wg.Add(procs - 1)
	for w := 1; w < procs; w++ {
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}

// gemmParallelChunks is how many chunks per goroutine gemmParallel makes
// at most, unless there are at most gemmParallelItems items per goroutine:
// then every item is a chunk.
const (
	gemmParallelChunks = 4
	gemmParallelItems  = 16
)

// gemmScratch hands out reusable float32 buffers (im2col and friends),
// one pool per size class: a request takes a buffer at least as large as
// it needs, so scratch of many sizes (a network's layers) is reused
// across calls instead of reallocated, and zeroed by the runtime on the
// calling thread, whenever a smaller buffer came out of a shared pool.
var gemmScratch [gemmScratchClasses]sync.Pool

// gemmScratchClasses covers buffers up to 2^40 values in classes four per
// octave (a buffer is at most 19% larger than requested).
const gemmScratchClasses = 4 * 40

// gemmScratchClass returns the size class of n values and its capacity.
func gemmScratchClass(n int) (int, int) {
	if n <= 1024 {
		return 0, 1024
	}
	e := bits.Len(uint(n - 1)) // 2^(e-1) < n <= 2^e
	lo := 1 << (e - 1)
	q := lo / 4
	k := (n - lo + q - 1) / q // 1..4
	return 4*(e-11) + k, lo + k*q
}

// gemmGetBuf returns a buffer of length n from the pool (contents undefined).
func gemmGetBuf(n int) *[]float32 {
	c, size := gemmScratchClass(n)
	p, _ := gemmScratch[c].Get().(*[]float32)
	if p == nil {
		b := make([]float32, size)
		p = &b
	}
	*p = (*p)[:n]
	return p
}

// gemmPutBuf returns a buffer from gemmGetBuf to its pool.
func gemmPutBuf(p *[]float32) {
	c, size := gemmScratchClass(cap(*p))
	if size != cap(*p) {
		// Not one of ours (or resized): file it under the class it fills.
		c--
	}
	if c >= 0 {
		gemmScratch[c].Put(p)
	}
}
