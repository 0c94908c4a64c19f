package nn

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/graftml/graft/nn/internal/gemmasm"
)

// gemmOffsA is the A operand of gemmOffsF32, an m×k matrix. Either it is
// packed once for any number of products (gemmOffsPack: a convolution's
// weights, shared by all samples), or its rows are read through offsets,
// A[i][p] = base[offs[i]+p], and packed block by block inside the product
// (gemmOffsRows: a convolution's implicit column matrix as the left
// operand, for the weight gradient). Packed blocks cover gemmOffsKC values
// of the inner dimension and hold the 6-row panels of gemmPackA.
type gemmOffsA struct {
	m, k, mPad int
	data       []float32 // packed (gemmOffsPack), or nil
	buf        *[]float32
	base       []float32 // rows read through offs (gemmOffsRows)
	offs       []int
}

// gemmOffsPack packs A (m×k, row-major with row stride lda; stored
// transposed, k×m with row stride lda, when trans). Call release when no
// product uses it any more.
func gemmOffsPack(trans bool, m, k int, a []float32, lda int) *gemmOffsA {
	pa := &gemmOffsA{m: m, k: k, mPad: (m + gemmMR - 1) / gemmMR * gemmMR}
	pa.buf = gemmGetBuf(pa.mPad * k)
	pa.data = *pa.buf
	// Tasks of an inner-dimension block and up to 16 row panels (96 rows,
	// whole cache lines of a transposed A), in parallel for a large A (a
	// layer's weights: 2.4M values in resnet18's last layers, packed on
	// every call).
	blocks := (k + gemmOffsKC - 1) / gemmOffsKC
	const groupRows = 16 * gemmMR
	groups := (m + groupRows - 1) / groupRows
	pack := func(lo, hi int) {
		for t := lo; t < hi; t++ {
			b, ic := t/groups, t%groups*groupRows
			pc := b * gemmOffsKC
			kb := min(gemmOffsKC, k-pc)
			gemmPackA(trans, a, lda, ic, min(groupRows, m-ic), pc, kb, 1, pa.data[pc*pa.mPad+ic*kb:])
		}
	}
	gemmParallelIf(m*k >= gemmOffsPackParallel, blocks*groups, pack)
	return pa
}

// gemmOffsPackParallel is the size of A (values) from which gemmOffsPack
// packs in parallel.
const gemmOffsPackParallel = 1 << 16

// gemmOffsRows describes A (m×k) with A[i][p] = base[offs[i]+p]; every row
// must lie inside base. Nothing is packed until a product runs.
func gemmOffsRows(m, k int, base []float32, offs []int) *gemmOffsA {
	for i, o := range offs[:m] {
		if o < 0 || o+k > len(base) {
			panic(fmt.Sprintf("gemmOffsRows: row %d reads [%d, %d) of %d elements", i, o, o+k, len(base)))
		}
	}
	return &gemmOffsA{m: m, k: k, mPad: (m + gemmMR - 1) / gemmMR * gemmMR, base: base, offs: offs}
}

// release returns the packed buffer (if any) to the pool.
func (pa *gemmOffsA) release() {
	if pa.buf != nil {
		gemmPutBuf(pa.buf)
		pa.buf, pa.data = nil, nil
	}
}

// block returns the packed panels of inner-dimension block [pc, pc+kb),
// packing them into scratch (mPad·gemmOffsKC values) when A is read
// through offsets.
func (pa *gemmOffsA) block(pc, kb int, scratch []float32) []float32 {
	if pa.data != nil {
		return pa.data[pc*pa.mPad:]
	}
	for ir := 0; ir < pa.m; ir += gemmMR {
		mr := min(gemmMR, pa.m-ir)
		panel := scratch[ir*kb : ir*kb+gemmMR*kb]
		if mr < gemmMR {
			clear(panel)
			for i := 0; i < mr; i++ {
				src := pa.base[pa.offs[ir+i]+pc:][:kb]
				for p, v := range src {
					panel[p*gemmMR+i] = v
				}
			}
			continue
		}
		r0 := pa.base[pa.offs[ir]+pc:][:kb]
		r1 := pa.base[pa.offs[ir+1]+pc:][:kb]
		r2 := pa.base[pa.offs[ir+2]+pc:][:kb]
		r3 := pa.base[pa.offs[ir+3]+pc:][:kb]
		r4 := pa.base[pa.offs[ir+4]+pc:][:kb]
		r5 := pa.base[pa.offs[ir+5]+pc:][:kb]
		for p := 0; p < kb; p++ {
			d := panel[p*gemmMR : p*gemmMR+gemmMR : p*gemmMR+gemmMR]
			d[0], d[1], d[2] = r0[p], r1[p], r2[p]
			d[3], d[4], d[5] = r3[p], r4[p], r5[p]
		}
	}
	return scratch
}

// gemmOffsF32 computes C = A·B + bias + beta·C, where beta is 0 or 1,
// bias (nil or m values) is added to each row, A is packed (gemmOffsPack)
// and B is read in place: B[p][j] = base[offs[p]+j]. B is never
// packed, so a convolution's column matrix can be a set of shifted views of
// its zero-padded input (an implicit im2col), and a product with a short
// inner dimension skips the copy a packed GEMM makes of B.
//
// Every row must lie inside base: offs[p]+n <= len(base). With serial it runs
// on the calling goroutine, otherwise the columns are split over
// GOMAXPROCS goroutines. Only call it when gemmKernelOK.
func gemmOffsF32(serial bool, pa *gemmOffsA, n int, base []float32, offs []int, bias []float32, beta float32, c []float32, ldc int) {
	if beta != 0 && beta != 1 {
		panic("gemmOffsF32: beta must be 0 or 1")
	}
	gemmOffsRun(gemmasm.OK512, serial, pa, n, base, offs, gemmOffsOut{bias: bias, acc: beta == 1}, c, ldc)
}

// gemmOffsOut says how gemmOffsRun writes C.
type gemmOffsOut struct {
	bias []float32 // added to row i (nil: none)
	acc  bool      // add the product to C (beta 1) instead of overwriting it
	// stream writes C with non-temporal stores where it can (AVX-512, C
	// overwritten in one inner block, rows of 64-byte multiples): for an
	// output larger than the caches.
	stream bool
	clamp  bool    // clamp the result to [lo, hi] (a fused Relu or Clip)
	lo, hi float32 // the clamp's bounds
}

// gemmOffsRun is gemmOffsF32 with the output options of out and the
// micro-kernel chosen by the caller: 32 columns wide (AVX-512) when wide,
// else 16 (AVX2).
func gemmOffsRun(wide, serial bool, pa *gemmOffsA, n int, base []float32, offs []int, out gemmOffsOut, c []float32, ldc int) {
	m, k := pa.m, pa.k
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if !out.acc {
				clear(row)
			}
			var bv float32
			if out.bias != nil {
				bv = out.bias[i]
			}
			for j := range row {
				row[j] = gemmOffsClamp(row[j]+bv, &out)
			}
		}
		return
	}
	for p, o := range offs[:k] {
		if o < 0 || o+n > len(base) {
			panic(fmt.Sprintf("gemmOffsF32: row %d reads [%d, %d) of %d elements", p, o, o+n, len(base)))
		}
	}
	procs := runtime.GOMAXPROCS(0)
	if w := m * n * k / (1 << 19); w < procs {
		procs = max(w, 1)
	}
	nr := gemmNR
	if wide {
		nr = 2 * gemmNR
	}
	panels := (n + nr - 1) / nr
	out.stream = out.stream && wide && !out.acc && k <= gemmOffsKC && ldc%16 == 0
	if serial || procs == 1 || panels < 2 {
		gemmOffsBlock(wide, pa, 0, n, base, offs, &out, c, ldc)
		return
	}
	// Column chunks of whole panels, taken in turn by the threads
	// (gemmParallel). Up to gemmParallelChunks per thread even for narrow
	// products: three chunks of a 784-column product (resnet18's batched
	// 7×7 layers) left one thread idle for a third of it.
	chunks := min(procs*gemmParallelChunks, panels)
	gemmParallel(chunks, func(lo, hi int) {
		n0, n1 := lo*panels/chunks*nr, min(hi*panels/chunks*nr, n)
		gemmOffsBlock(wide, pa, n0, n1, base, offs, &out, c, ldc)
	})
}

// gemmOffsClamp applies out's clamp to v (NaN passes through).
func gemmOffsClamp(v float32, out *gemmOffsOut) float32 {
	if !out.clamp {
		return v
	}
	if v < out.lo {
		return out.lo
	}
	if v > out.hi {
		return out.hi
	}
	return v
}

// gemmOffsNC is the column block of gemmOffsBlock: the B panels of one
// block are reused from L1/L2 across all row panels of A.
const gemmOffsNC = 256

// gemmOffsShortK is the longest inner block that gemmOffsBlock walks row
// panel by row panel.
const gemmOffsShortK = 64

// gemmOffsKC is the inner-dimension block of gemmOffsBlock.
const gemmOffsKC = 256

// gemmOffsMC is the row block of gemmOffsBlock (a multiple of 6): its
// packed A block (MC×KC, 240 KB) stays in L2 while the column blocks
// stream past it.
const gemmOffsMC = 240

// gemmOffsBlock computes C[:, n0:n1] as out says, serially, in panels of
// 32 columns when wide and of 16 otherwise (and for the last 16 or fewer).
func gemmOffsBlock(wide bool, pa *gemmOffsA, n0, n1 int, base []float32, offs []int, out *gemmOffsOut, c []float32, ldc int) {
	m, k := pa.m, pa.k
	if out.stream {
		defer gemmasm.StoreFence()
	}
	var scratch []float32
	if pa.data == nil {
		p := gemmGetBuf(pa.mPad * gemmOffsKC)
		defer gemmPutBuf(p)
		scratch = *p
	}
	var tmp [gemmMR * gemmNR]float32
	// A ragged last panel (fewer than 16 columns) is copied into a padded
	// panel first, so no row is read past its n values.
	var edge []float32
	var edgeOffs []int
	if !wide && (n1-n0)%gemmNR != 0 {
		p := gemmGetBuf(min(k, gemmOffsKC) * gemmNR)
		defer gemmPutBuf(p)
		edge = *p
		edgeOffs = make([]int, min(k, gemmOffsKC))
		for i := range edgeOffs {
			edgeOffs[i] = i * gemmNR
		}
	}
	for pc := 0; pc < k; pc += gemmOffsKC {
		kb := min(gemmOffsKC, k-pc)
		abuf := pa.block(pc, kb, scratch)
		po := offs[pc : pc+kb]
		// The bias goes in with the first inner block, the clamp with the
		// last; streaming needs the single block to overwrite C.
		mode := 0
		if out.acc || pc > 0 {
			mode |= gemmasm.ModeLoad
		}
		last := pc+kb == k
		if last && out.clamp {
			mode |= gemmasm.ModeClamp
		}
		var bs []float32
		if pc == 0 {
			bs = out.bias
		}
		ep := gemmOffsEdge{bias: bs, load: mode&gemmasm.ModeLoad != 0, clamp: last && out.clamp, lo: out.lo, hi: out.hi}
		for ic := 0; ic < m; ic += gemmOffsMC {
			icEnd := min(ic+gemmOffsMC, m)
			for jc := n0; jc < n1; jc += gemmOffsNC {
				nb := min(gemmOffsNC, n1-jc)
				jr0 := 0
				if wide && kb <= gemmOffsShortK {
					// A short inner dimension makes each call brief: walk
					// C row panel by row panel, so consecutive calls write
					// consecutive lines of the same rows (sequential
					// streams the prefetchers follow) rather than a new
					// set of rows each time.
					jr0 = nb / (2 * gemmNR) * (2 * gemmNR)
					for ir := ic; ir < icEnd; ir += gemmMR {
						mr := min(gemmMR, icEnd-ir)
						ap := abuf[ir*kb : (ir+gemmMR)*kb]
						var pb []float32
						if bs != nil {
							pb = bs[ir : ir+mr]
						}
						for jr := 0; jr < jr0; jr += 2 * gemmNR {
							co := ir*ldc + jc + jr
							if mr == gemmMR {
								ct := c[co : co+(gemmMR-1)*ldc+2*gemmNR]
								md := mode
								if out.stream && uintptr(unsafe.Pointer(&ct[0]))%64 == 0 {
									md |= gemmasm.ModeStream
								}
								gemmasm.Kernel6x32Offs(kb, ap, base[jc+jr:], po, ct, ldc, pb, md, out.lo, out.hi)
								continue
							}
							gemmasm.Kernel6x32OffsRows(mr, kb, ap, base[jc+jr:], po, c[co:co+(mr-1)*ldc+2*gemmNR], ldc, pb, mode, out.lo, out.hi)
						}
					}
				}
				for jr := jr0; jr < nb; {
					bb := base[jc+jr:]
					if wide && nb-jr >= 2*gemmNR {
						for ir := ic; ir < icEnd; ir += gemmMR {
							mr := min(gemmMR, icEnd-ir)
							ap := abuf[ir*kb : (ir+gemmMR)*kb]
							co := ir*ldc + jc + jr
							var pb []float32
							if bs != nil {
								pb = bs[ir : ir+mr]
							}
							if mr == gemmMR {
								ct := c[co : co+(gemmMR-1)*ldc+2*gemmNR]
								md := mode
								if out.stream && uintptr(unsafe.Pointer(&ct[0]))%64 == 0 {
									md |= gemmasm.ModeStream
								}
								gemmasm.Kernel6x32Offs(kb, ap, bb, po, ct, ldc, pb, md, out.lo, out.hi)
								continue
							}
							gemmasm.Kernel6x32OffsRows(mr, kb, ap, bb, po, c[co:co+(mr-1)*ldc+2*gemmNR], ldc, pb, mode, out.lo, out.hi)
						}
						jr += 2 * gemmNR
						continue
					}
					nr := min(gemmNR, nb-jr)
					bo := po
					if wide && nr < gemmNR {
						// AVX-512: the masked kernel reads and writes only
						// the nr valid columns.
						for ir := ic; ir < icEnd; ir += gemmMR {
							mr := min(gemmMR, icEnd-ir)
							var pb []float32
							if bs != nil {
								pb = bs[ir : ir+mr]
							}
							co := ir*ldc + jc + jr
							gemmasm.Kernel16OffsMasked(mr, nr, kb, abuf[ir*kb:(ir+gemmMR)*kb], bb, po, c[co:co+(mr-1)*ldc+nr], ldc, pb, mode, out.lo, out.hi)
						}
						jr += nr
						continue
					}
					if nr < gemmNR {
						for p, o := range po {
							d := edge[p*gemmNR : (p+1)*gemmNR]
							copy(d, base[o+jc+jr:o+jc+jr+nr])
							clear(d[nr:])
						}
						bb, bo = edge, edgeOffs[:kb]
					}
					for ir := ic; ir < icEnd; ir += gemmMR {
						mr := min(gemmMR, icEnd-ir)
						ap := abuf[ir*kb : (ir+gemmMR)*kb]
						co := ir*ldc + jc + jr
						if wide {
							// AVX-512 (nr is 16 here): the 16-column kernel
							// takes ragged rows, bias, load and clamp.
							var pb []float32
							if bs != nil {
								pb = bs[ir : ir+mr]
							}
							gemmasm.Kernel16OffsRows(mr, kb, ap, bb, bo, c[co:co+(mr-1)*ldc+gemmNR], ldc, pb, mode, out.lo, out.hi)
							continue
						}
						if mr == gemmMR && nr == gemmNR && !ep.clamp {
							var pb []float32
							if bs != nil {
								pb = bs[ir : ir+gemmMR]
							}
							gemmasm.Kernel6x16Offs(kb, ap, bb, bo, c[co:co+(gemmMR-1)*ldc+gemmNR], ldc, pb, ep.load)
							continue
						}
						gemmOffsEdgeRows(kb, ap, bb, bo, &tmp, c[co:], ldc, mr, nr, ir, &ep)
					}
					jr += gemmNR
				}
			}
		}
	}
}

// gemmOffsEdge is what gemmOffsEdgeRows adds and applies when it writes a
// block: the bias of the first inner block, the old C when load, the clamp
// of the last inner block.
type gemmOffsEdge struct {
	bias        []float32
	load, clamp bool
	lo, hi      float32
}

// gemmOffsEdgeRows computes the top-left mr×nr corner of a 6×16 block
// through tmp and writes it to c as ep says (bias of row row0+i).
func gemmOffsEdgeRows(kb int, ap, bb []float32, bo []int, tmp *[gemmMR * gemmNR]float32, c []float32, ldc, mr, nr, row0 int, ep *gemmOffsEdge) {
	gemmasm.Kernel6x16Offs(kb, ap, bb, bo, tmp[:], gemmNR, nil, false)
	gemmOffsEdgeStore(tmp, c, ldc, mr, nr, row0, ep)
}

// gemmOffsEdgeStore writes the top-left mr×nr corner of the 6×16 product
// in tmp to c as ep says (bias of row row0+i).
func gemmOffsEdgeStore(tmp *[gemmMR * gemmNR]float32, c []float32, ldc, mr, nr, row0 int, ep *gemmOffsEdge) {
	out := gemmOffsOut{clamp: ep.clamp, lo: ep.lo, hi: ep.hi}
	for i := 0; i < mr; i++ {
		row := c[i*ldc : i*ldc+nr]
		t := tmp[i*gemmNR : i*gemmNR+nr]
		var bv float32
		if ep.bias != nil {
			bv = ep.bias[row0+i]
		}
		for j := range row {
			v := t[j] + bv
			if ep.load {
				v += row[j]
			}
			row[j] = gemmOffsClamp(v, &out)
		}
	}
}
