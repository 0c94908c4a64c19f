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
