//go:build amd64 && !purego

package gemmasm

//go:generate go run ./internal/genkernels

import "unsafe"

//go:noescape
func kernel6x16(kc int, a, b, c *float32, ldc int)

//go:noescape
func tapsF32(n, ntaps int, w *float32, offs *int, base, y *float32)

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

func xgetbv() (eax, edx uint32)

// hasAVX2FMA reports whether the CPU and OS support AVX2 and FMA3.
func hasAVX2FMA() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&fma == 0 || ecx1&osxsave == 0 || ecx1&avx == 0 {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&6 != 6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<5) != 0
}

// hasAVX512F reports whether the CPU and OS support AVX-512 Foundation
// (zmm registers and opmask state enabled in XCR0).
func hasAVX512F() bool {
	if !hasAVX2FMA() {
		return false
	}
	if xcr0, _ := xgetbv(); xcr0&0xe6 != 0xe6 {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<16) != 0
}

// OK512 reports whether the AVX-512 kernels (Kernel6x32Offs) can run. It is
// set once at start-up and never written afterwards.
var OK512 = hasAVX512F()

// OK reports whether the kernels can run on this machine (AVX2 and FMA3
// present). It is set once at start-up from the CPU features and never
// written afterwards.
var OK = hasAVX2FMA()

// Kernel6x16 computes C[6x16] += Apanel*Bpanel: a holds kc groups of 6
// values (one per row of C), b kc groups of 16 values (one per column), c
// is row-major with a row stride of ldc elements. kc must be at least 1 and
// the slices long enough; only call it when OK is true.
func Kernel6x16(kc int, a, b, c []float32, ldc int) {
	_ = a[kc*6-1]
	_ = b[kc*16-1]
	_ = c[5*ldc+15]
	kernel6x16(kc, &a[0], &b[0], &c[0], ldc)
}

// Taps computes y[i] += sum_t w[t]*base[offs[t]+i] for the largest prefix
// of y whose length is a multiple of 8, and returns that length. Every
// read must lie inside base; only call it when OK is true.
func Taps(y []float32, w []float32, offs []int, base []float32) int {
	n := len(y) &^ 7
	if n == 0 || len(w) == 0 {
		return 0
	}
	tapsF32(n, len(w), &w[0], &offs[0], &base[0], &y[0])
	return n
}

//go:noescape
func tapsS2F32(n, ntaps int, w *float32, offs *int, base, y *float32)

// TapsStride2 computes y[i] += sum_t w[t]*base[offs[t]+2*i] for the
// largest prefix of y whose length is a multiple of 8, and returns that
// length. Tap t reads base[offs[t] : offs[t]+2*n] (one element past the
// last one it uses), which must lie inside base; only call it when OK is
// true.
func TapsStride2(y []float32, w []float32, offs []int, base []float32) int {
	n := len(y) &^ 7
	if n == 0 || len(w) == 0 {
		return 0
	}
	for _, o := range offs[:len(w)] {
		_ = base[o+2*n-1]
	}
	tapsS2F32(n, len(w), &w[0], &offs[0], &base[0], &y[0])
	return n
}

//go:noescape
func packB16(kb int, src *float32, ldb int, dst *float32)

// PackB16 copies kb rows of 16 values, row p starting at src[p*ldb], into
// dst[p*16 : p*16+16]. Only call it when OK is true.
func PackB16(kb int, src []float32, ldb int, dst []float32) {
	if kb <= 0 {
		return
	}
	_ = src[(kb-1)*ldb+15]
	_ = dst[kb*16-1]
	packB16(kb, &src[0], ldb, &dst[0])
}

//go:noescape
func kernel6x16Offs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, load int)

// Kernel6x16Offs computes a 6×16 block of C from a packed A panel (as for
// Kernel6x16) and a B read in place: row p of the B panel is
// base[offs[p] : offs[p]+16]. The product is added to bias[i] for row i
// when bias is not nil, and to the old C when load is true; otherwise C is
// overwritten. It checks a, c, bias and offs but not the B rows: the caller
// must have checked that every offs[p]+16 <= len(base) (once per product,
// not per call). Only call it when OK is true.
func Kernel6x16Offs(kc int, a, base []float32, offs []int, c []float32, ldc int, bias []float32, load bool) {
	_ = a[kc*6-1]
	_ = c[5*ldc+15]
	_ = offs[kc-1]
	_ = base[0]
	var bp *float32
	if bias != nil {
		_ = bias[5]
		bp = &bias[0]
	}
	var l int
	if load {
		l = 1
	}
	kernel6x16Offs(kc, &a[0], &base[0], &offs[0], &c[0], ldc, bp, l)
}

//go:noescape
func kernel6x32Offs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32)

// Kernel modes of Kernel6x32Offs and Kernel6x32OffsRows, combined with |.
const (
	// ModeLoad adds the old C to the product (else C is overwritten).
	ModeLoad = 1
	// ModeStream overwrites C with non-temporal stores, which do not read
	// C's cache lines first: for outputs much larger than the caches. C
	// must be 64-byte aligned and ldc a multiple of 16; only
	// Kernel6x32Offs takes it. Call StoreFence before other goroutines
	// read the output.
	ModeStream = 2
	// ModeClamp clamps the result to [lo, hi] (NaN passes through).
	ModeClamp = 4
)

// Kernel6x32Offs is Kernel6x16Offs for a 6×32 block of C with AVX-512: row
// p of the B panel is base[offs[p] : offs[p]+32], unchecked as there. mode
// combines ModeLoad, ModeStream and ModeClamp (with lo and hi). Only call
// it when OK512 is true.
func Kernel6x32Offs(kc int, a, base []float32, offs []int, c []float32, ldc int, bias []float32, mode int, lo, hi float32) {
	if mode&ModeStream != 0 && (uintptr(unsafe.Pointer(&c[0]))%64 != 0 || ldc%16 != 0) {
		panic("gemmasm: Kernel6x32Offs: streaming to a C that is not 64-byte aligned")
	}
	callOffs(kernel6x32Offs, 6, 32, kc, a, base, offs, c, ldc, bias, mode, lo, hi)
}

// offsKernel is the signature of the AVX-512 offset kernels.
type offsKernel func(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32)

// callOffs checks the slices an offset kernel over rows rows and width
// columns of C reads and writes (all but the B rows, which the caller has
// checked once per product) and calls it.
func callOffs(k offsKernel, rows, width, kc int, a, base []float32, offs []int, c []float32, ldc int, bias []float32, mode int, lo, hi float32) {
	_ = a[kc*6-1]
	_ = c[(rows-1)*ldc+width-1]
	_ = offs[kc-1]
	_ = base[0]
	var bp *float32
	if bias != nil {
		_ = bias[rows-1]
		bp = &bias[0]
	}
	k(kc, &a[0], &base[0], &offs[0], &c[0], ldc, bp, mode, lo, hi)
}

// callOffsRows calls the kernel of table for rows (1 to 6) rows; name
// labels the panics.
func callOffsRows(name string, table *[6]offsKernel, width, rows, kc int, a, base []float32, offs []int, c []float32, ldc int, bias []float32, mode int, lo, hi float32) {
	if rows < 1 || rows > 6 {
		panic("gemmasm: " + name + ": rows out of [1, 6]")
	}
	if mode&ModeStream != 0 {
		panic("gemmasm: " + name + ": no streaming mode")
	}
	callOffs(table[rows-1], rows, width, kc, a, base, offs, c, ldc, bias, mode, lo, hi)
}

//go:noescape
func kernel1x32Offs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32)

//go:noescape
func kernel2x32Offs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32)

//go:noescape
func kernel3x32Offs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32)

//go:noescape
func kernel4x32Offs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32)

//go:noescape
func kernel5x32Offs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32)

// Kernel6x32OffsRows is Kernel6x32Offs for the first rows (1 to 6) rows of
// the A panel: only rows rows of C (and of bias) are read or written. mode
// combines ModeLoad and ModeClamp.
func Kernel6x32OffsRows(rows, kc int, a, base []float32, offs []int, c []float32, ldc int, bias []float32, mode int, lo, hi float32) {
	callOffsRows("Kernel6x32OffsRows", &[6]offsKernel{
		kernel1x32Offs, kernel2x32Offs, kernel3x32Offs, kernel4x32Offs, kernel5x32Offs, kernel6x32Offs,
	}, 32, rows, kc, a, base, offs, c, ldc, bias, mode, lo, hi)
}

//go:noescape
func dwPlaneF32(rows, ow, wq, ntaps int, w *float32, offs *int, base, y *float32, bias, lo, hi float32, act, kmask int)

// DepthwisePlane computes, for r < rows and i < ow,
// y[r*ow+i] = bias + sum_t w[t]*base[offs[t]+r*wq+i], clamped to [lo, hi]
// when act (NaN passes through). Each row's last partial vector reads up
// to 7 values past its ow (tap t reads base up to offs[t]+(rows-1)*wq+
// ⌈ow/8⌉·8, checked) and writes only the valid ones. Only call it when OK
// is true.
func DepthwisePlane(y []float32, rows, ow, wq int, w []float32, offs []int, base []float32, bias float32, act bool, lo, hi float32) {
	if rows <= 0 || ow <= 0 || len(w) == 0 {
		return
	}
	_ = y[rows*ow-1]
	need := (rows-1)*wq + (ow+7)&^7
	for _, o := range offs[:len(w)] {
		_ = base[o+need-1]
	}
	a := 0
	if act {
		a = 1
	}
	// A row's whole last vector spills 8-ow%8 values into the rows after
	// it, which are written later: allowed while they stay inside y's rows.
	kmask := 0
	if rem := ow % 8; rem != 0 {
		kmask = (8 - rem + ow - 1) / ow
	}
	dwPlaneF32(rows, ow, wq, len(w), &w[0], &offs[0], &base[0], &y[0], bias, lo, hi, a, kmask)
}

//go:noescape
func deint2F32(n int, src, even, odd *float32)

// Deinterleave2 splits src into its even and odd elements, even[i] =
// src[2i] and odd[i] = src[2i+1], for the largest i range whose length is
// a multiple of 8 and fits all three slices, and returns that length. Only
// call it when OK is true.
func Deinterleave2(src, even, odd []float32) int {
	n := min(len(src)/2, len(even), len(odd)) &^ 7
	if n == 0 {
		return 0
	}
	deint2F32(n, &src[0], &even[0], &odd[0])
	return n
}

//go:noescape
func kernelR6x32(kc int, arows *int, abase, base *float32, boffs *int, c *float32, ldc, load int)

// KernelR6x32 computes a 6×32 block of C = A·B with both operands read in
// place: A[i][p] = abase[arows[i]+p] for i < 6 and B[p][j] =
// base[boffs[p]+j] for j < 32 (p < kc). The result is added to C (row
// stride ldc) when load and overwrites it otherwise. It checks a, c and the
// tables but not the B rows, as Kernel6x16Offs. Only call it when OK512.
func KernelR6x32(kc int, arows []int, abase, base []float32, boffs []int, c []float32, ldc int, load bool) {
	for _, o := range arows[:6] {
		_ = abase[o+kc-1]
	}
	_ = boffs[kc-1]
	_ = base[0]
	_ = c[5*ldc+31]
	var l int
	if load {
		l = 1
	}
	kernelR6x32(kc, &arows[0], &abase[0], &base[0], &boffs[0], &c[0], ldc, l)
}

func sfence()

// StoreFence orders the non-temporal stores of Kernel6x32OffsStream before
// every later store: call it before handing their output to other
// goroutines.
func StoreFence() { sfence() }

//go:noescape
func packA6(kb int, src *float32, lda int, dst *float32)

// PackA6 packs 6 rows of A (row i is src[i*lda:]) into dst as groups of
// 6, dst[p*6+i] = src[i*lda+p], for the largest p range whose length is a
// multiple of 8 and less than kb, and returns that length. Each group is
// stored 8 wide, so the packing writes 2 values past the range, which the
// caller's packing of the remaining columns overwrites: nothing past the
// panel's 6·kb values is written. Only call it when OK is true.
func PackA6(kb int, src []float32, lda int, dst []float32) int {
	n := (kb - 1) &^ 7
	if n == 0 {
		return 0
	}
	_ = src[5*lda+n-1]
	_ = dst[n*6+1]
	packA6(n, &src[0], lda, &dst[0])
	return n
}

//go:noescape
func kernel1x16zOffs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32)

//go:noescape
func kernel2x16zOffs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32)

//go:noescape
func kernel3x16zOffs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32)

//go:noescape
func kernel4x16zOffs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32)

//go:noescape
func kernel5x16zOffs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32)

//go:noescape
func kernel6x16zOffs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32)

// Kernel16OffsRows is Kernel6x32OffsRows for 16 columns (AVX-512, one zmm
// register per row): rows (1 to 6) rows of C, B rows base[offs[p] :
// offs[p]+16], unchecked as there. mode combines ModeLoad and ModeClamp.
// Only call it when OK512.
func Kernel16OffsRows(rows, kc int, a, base []float32, offs []int, c []float32, ldc int, bias []float32, mode int, lo, hi float32) {
	callOffsRows("Kernel16OffsRows", &[6]offsKernel{
		kernel1x16zOffs, kernel2x16zOffs, kernel3x16zOffs, kernel4x16zOffs, kernel5x16zOffs, kernel6x16zOffs,
	}, 16, rows, kc, a, base, offs, c, ldc, bias, mode, lo, hi)
}

// Kernel16OffsMasked is Kernel16OffsRows for the first cols (1 to 15)
// columns only: it reads B rows base[offs[p] : offs[p]+cols] and C (with
// ModeLoad) and writes C through an opmask, touching no other column, so
// neither B's rows nor C need padding. mode combines ModeLoad and ModeClamp.
// Only call it when OK512.
func Kernel16OffsMasked(rows, cols, kc int, a, base []float32, offs []int, c []float32, ldc int, bias []float32, mode int, lo, hi float32) {
	if rows < 1 || rows > 6 || cols < 1 || cols > 15 {
		panic("gemmasm: Kernel16OffsMasked: rows out of [1, 6] or cols out of [1, 15]")
	}
	if mode&ModeStream != 0 {
		panic("gemmasm: Kernel16OffsMasked: no streaming mode")
	}
	_ = a[kc*6-1]
	_ = c[(rows-1)*ldc+cols-1]
	_ = offs[kc-1]
	for _, o := range offs[:kc] {
		_ = base[o+cols-1]
	}
	var bp *float32
	if bias != nil {
		_ = bias[rows-1]
		bp = &bias[0]
	}
	k := [6]func(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32, kmask int){
		kernel1x16mOffs, kernel2x16mOffs, kernel3x16mOffs, kernel4x16mOffs, kernel5x16mOffs, kernel6x16mOffs,
	}[rows-1]
	k(kc, &a[0], &base[0], &offs[0], &c[0], ldc, bp, mode, lo, hi, 1<<cols-1)
}

//go:noescape
func kernel1x16mOffs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32, kmask int)

//go:noescape
func kernel2x16mOffs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32, kmask int)

//go:noescape
func kernel3x16mOffs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32, kmask int)

//go:noescape
func kernel4x16mOffs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32, kmask int)

//go:noescape
func kernel5x16mOffs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32, kmask int)

//go:noescape
func kernel6x16mOffs(kc int, a, base *float32, offs *int, c *float32, ldc int, bias *float32, mode int, lo, hi float32, kmask int)

//go:noescape
func dwFlat16(nvec, ntaps int, w *float32, offs *int, base, y *float32, masks *uint64, last uint64, bias, lo, hi float32, act int)

// DepthwiseFlat computes a depthwise plane over its "wide" positions with
// AVX-512: for every p < n (n = rows·wq) whose column p mod wq is below
// ow, in order,
//
//	y[k] = bias + Σ_t w[t]·base[offs[t]+p], clamped to [lo, hi] when act
//
// (NaN passes through), k counting those positions. masks (from
// DepthwiseFlatMasks for wq and ow, at least ⌈n/16⌉ entries) selects them
// sixteen positions at a time, so rows of any width fill whole vectors.
// Tap t reads base up to offs[t]+⌈n/16⌉·16 (checked). Only call it when
// OK512.
func DepthwiseFlat(y []float32, n, ow, wq int, w []float32, offs []int, base []float32, masks []uint64, bias float32, act bool, lo, hi float32) {
	if n <= 0 || ow <= 0 || len(w) == 0 {
		return
	}
	nvec := (n + 15) / 16
	rows := n / wq
	_ = y[rows*ow-1]
	_ = masks[nvec-1]
	for _, o := range offs[:len(w)] {
		_ = base[o+nvec*16-1]
	}
	// The last vector also drops the positions from n on.
	v := nvec - 1
	keep := uint64(1)<<(n-16*v) - 1
	last := flatMask(masks[v] & 0xffff & keep)
	a := 0
	if act {
		a = 1
	}
	dwFlat16(nvec, len(w), &w[0], &offs[0], &base[0], &y[0], &masks[0], last, bias, lo, hi, a)
}

//go:noescape
func transpose8F32(n int, src *float32, lds int, dst *float32, ldd int)

// Transpose8 writes the transpose of 8 rows of src (row i is src[i*lds:])
// to dst, dst[c*ldd+i] = src[i*lds+c], for the largest column range
// [0, n) with n a multiple of 8 and at most cols, and returns n. Only call
// it when OK is true.
func Transpose8(cols int, src []float32, lds int, dst []float32, ldd int) int {
	n := cols &^ 7
	if n == 0 {
		return 0
	}
	_ = src[7*lds+n-1]
	_ = dst[(n-1)*ldd+7]
	transpose8F32(n, &src[0], lds, &dst[0], ldd)
	return n
}

//go:noescape
func transpose16F32(n int, src *float32, lds int, dst *float32, ldd int)

// Transpose16 is Transpose8 for 16 rows (dst[c*ldd+i] for i < 16).
func Transpose16(cols int, src []float32, lds int, dst []float32, ldd int) int {
	n := cols &^ 7
	if n == 0 {
		return 0
	}
	_ = src[15*lds+n-1]
	_ = dst[(n-1)*ldd+15]
	transpose16F32(n, &src[0], lds, &dst[0], ldd)
	return n
}

//go:noescape
func maxPool3x3s2F32(n int, r0, r1, r2, y *float32, arg *uint8)

// MaxPool3x3s2 computes 3×3 stride-2 max pooling over three input rows
// for the largest multiple of 16 outputs, at most len(y), whose windows
// lie inside all three rows, and returns that count: y[j] is the maximum
// of r_i[2j+c] for i, c in 0..2 (NaN when any is NaN), and when arg is not
// nil arg[j] = i·3+c of the first of them equal to y[j] (255 when none
// is). Only call it when OK512 is true.
func MaxPool3x3s2(y []float32, arg []uint8, r0, r1, r2 []float32) int {
	w := min(len(r0), len(r1), len(r2))
	n := min(len(y), (w-2)/2) &^ 15
	if n <= 0 {
		return 0
	}
	var a *uint8
	if arg != nil {
		_ = arg[n-1]
		a = &arg[0]
	}
	maxPool3x3s2F32(n, &r0[0], &r1[0], &r2[0], &y[0], a)
	return n
}
