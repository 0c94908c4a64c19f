package nn

import (
	"runtime"
	"sync"
	"unsafe"
)

// ewBcast describes how k input tensors are read when broadcast to a common
// output shape. Adjacent dimensions that broadcast the same way for every
// input are merged, so the common cases (same shape, scalar operand, row or
// channel broadcast) become a few long contiguous runs.
type ewBcast struct {
	out     []int   // broadcast output shape
	n       int     // number of output elements
	dims    []int   // collapsed output dimensions (at least one)
	strides [][]int // per input, element strides over dims (0 where broadcast)
}

// ewNewBcast plans the broadcast of shapes (numpy multidirectional rules).
func ewNewBcast(shapes ...[]int) (*ewBcast, error) {
	out, err := BroadcastShapes(shapes...)
	if err != nil {
		return nil, err
	}
	k := len(shapes)
	rank := len(out)
	bc := &ewBcast{out: out, n: NumElements(out)}
	var pats [][]bool // per collapsed dim: per input, broadcast along it
	for d := 0; d < rank; d++ {
		if out[d] == 1 {
			continue
		}
		pat := make([]bool, k)
		for i, s := range shapes {
			off := rank - len(s)
			pat[i] = d < off || s[d-off] == 1
		}
		if last := len(pats) - 1; last >= 0 && ewSamePattern(pats[last], pat) {
			bc.dims[last] *= out[d]
			continue
		}
		pats = append(pats, pat)
		bc.dims = append(bc.dims, out[d])
	}
	if len(bc.dims) == 0 {
		bc.dims = []int{1}
		pats = [][]bool{make([]bool, k)}
		for i := range pats[0] {
			pats[0][i] = true
		}
	}
	bc.strides = make([][]int, k)
	for i := range shapes {
		st := make([]int, len(bc.dims))
		acc := 1
		for j := len(bc.dims) - 1; j >= 0; j-- {
			if !pats[j][i] {
				st[j] = acc
				acc *= bc.dims[j]
			}
		}
		bc.strides[i] = st
	}
	return bc, nil
}

func ewSamePattern(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// inner returns input i's stride along the innermost run: 1 or 0.
func (bc *ewBcast) inner(i int) int { return bc.strides[i][len(bc.dims)-1] }

// runs calls fn for every contiguous run of output positions in [lo, hi):
// o is the first output position, offs[i] the matching element of input i
// and n the run length. Along a run input i advances by bc.inner(i).
func (bc *ewBcast) runs(lo, hi int, fn func(o int, offs []int, n int)) {
	if lo >= hi {
		return
	}
	k := len(bc.strides)
	nd := len(bc.dims)
	innerLen := bc.dims[nd-1]
	coord := make([]int, nd) // coord[nd-1] unused
	base := make([]int, k)
	offs := make([]int, k)
	q, r := lo/innerLen, lo%innerLen
	for d := nd - 2; d >= 0; d-- {
		coord[d] = q % bc.dims[d]
		q /= bc.dims[d]
		for i := 0; i < k; i++ {
			base[i] += coord[d] * bc.strides[i][d]
		}
	}
	o := lo
	for o < hi {
		n := innerLen - r
		if n > hi-o {
			n = hi - o
		}
		for i := 0; i < k; i++ {
			offs[i] = base[i] + r*bc.strides[i][nd-1]
		}
		fn(o, offs, n)
		o += n
		r = 0
		for d := nd - 2; d >= 0; d-- {
			coord[d]++
			for i := 0; i < k; i++ {
				base[i] += bc.strides[i][d]
			}
			if coord[d] < bc.dims[d] {
				break
			}
			for i := 0; i < k; i++ {
				base[i] -= coord[d] * bc.strides[i][d]
			}
			coord[d] = 0
		}
	}
}

// ewParallelMin is the amount of work (elements times cost) below which an
// elementwise kernel runs on the calling goroutine.
const ewParallelMin = 1 << 16

// ewParallel calls fn over [0, n) split into contiguous chunks, one per
// available CPU when n*cost is large enough to pay for the goroutines.
func ewParallel(n, cost int, fn func(lo, hi int)) {
	procs := runtime.GOMAXPROCS(0)
	if procs <= 1 || n*cost < ewParallelMin || n < 2*procs {
		fn(0, n)
		return
	}
	chunks := procs
	if max := n * cost / (ewParallelMin / 4); chunks > max {
		chunks = max
	}
	step := (n + chunks - 1) / chunks
	step = (step + 15) &^ 15
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += step {
		hi := lo + step
		if hi > n {
			hi = n
		}
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	wg.Wait()
}

// ewU64 views integer storage as unsigned 64-bit values (for Uint64 tensors,
// whose I64 slice holds the bit patterns).
func ewU64(s []int64) []uint64 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// ewWrapInts wraps every value of s to the range of the integer type dt.
func ewWrapInts(dt DType, s []int64) {
	switch dt {
	case Int8:
		for i, v := range s {
			s[i] = int64(int8(v))
		}
	case Int16:
		for i, v := range s {
			s[i] = int64(int16(v))
		}
	case Int32:
		for i, v := range s {
			s[i] = int64(int32(v))
		}
	case Uint8:
		for i, v := range s {
			s[i] = int64(uint8(v))
		}
	case Uint16:
		for i, v := range s {
			s[i] = int64(uint16(v))
		}
	case Uint32:
		for i, v := range s {
			s[i] = int64(uint32(v))
		}
	}
}

// ewRoundRange rounds s to the precision of the half-precision type dt.
func ewRoundRange(dt DType, s []float32) {
	switch dt {
	case Float16:
		for i, v := range s {
			s[i] = Float16ToFloat32(Float32ToFloat16(v))
		}
	case BFloat16:
		for i, v := range s {
			s[i] = BFloat16ToFloat32(Float32ToBFloat16(v))
		}
	}
}

// ewWidenMax bounds the size of the tiled copy ewWiden makes.
const ewWidenMax = 1 << 16

// ewWiden speeds up broadcasts whose innermost run is short because input k
// repeats a short row along the next dimension (e.g. [N,3] * [3], or an
// anchor tensor [1,3,1,1,2] against [1,3,80,80,2]). It splits that
// dimension of R rows into R/T groups of T rows, merges each group with the
// inner dimension, and tiles input k's rows T times to match, so the kernels
// see runs of T*inner elements. It returns (nil, nil) when the pattern does
// not apply or the copy would be large.
func ewWiden[T any](bc *ewBcast, k int, data []T) (*ewBcast, []T) {
	nd := len(bc.dims)
	if nd < 2 || len(bc.strides) != 2 {
		return nil, nil
	}
	inner, rows := bc.dims[nd-1], bc.dims[nd-2]
	if inner >= 32 {
		return nil, nil
	}
	o := 1 - k
	sk, so := bc.strides[k], bc.strides[o]
	if sk[nd-1] != 1 || sk[nd-2] != 0 || so[nd-1] != 1 || so[nd-2] != inner {
		return nil, nil
	}
	// group size: the largest divisor of rows with groups of <= 1024 elements
	g := 1024 / inner
	if g > rows {
		g = rows
	}
	for rows%g != 0 {
		g--
	}
	nrows := len(data) / inner
	if g < 4 || len(data)%inner != 0 || nrows*g*inner > ewWidenMax {
		return nil, nil
	}
	w := g * inner
	buf := make([]T, nrows*w)
	for j := 0; j < nrows; j++ {
		src := data[j*inner : (j+1)*inner]
		dst := buf[j*w : (j+1)*w]
		for r := 0; r < g; r++ {
			copy(dst[r*inner:], src)
		}
	}
	nb := &ewBcast{out: bc.out, n: bc.n, dims: make([]int, nd), strides: make([][]int, 2)}
	copy(nb.dims, bc.dims[:nd-2])
	nb.dims[nd-2] = rows / g
	nb.dims[nd-1] = w
	nb.strides[o] = append(append([]int{}, so[:nd-2]...), w, 1)
	nk := make([]int, nd)
	for d := 0; d < nd-2; d++ {
		nk[d] = sk[d] * g
	}
	nk[nd-2], nk[nd-1] = 0, 1
	nb.strides[k] = nk
	return nb, buf
}
