package nn

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Shared helpers of the shape and data-movement ops. Every helper works for
// all four storage kinds, so the ops keep the input's dtype.

// shpAxis normalizes a possibly negative axis against rank.
func shpAxis(axis, rank int) (int, error) {
	if axis < -rank || axis >= rank || (rank == 0 && axis != 0 && axis != -1) {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += rank
	}
	return axis, nil
}

// shpCheck verifies that t is present and its data slice matches its dtype
// and shape.
func shpCheck(t *Tensor, what string) error {
	if t == nil {
		return fmt.Errorf("missing input %s", what)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("input %s has negative dimension in shape %v", what, t.Shape)
		}
	}
	n := t.Len()
	var got int
	switch t.DType.Storage() {
	case StoreF32:
		got = len(t.F32)
	case StoreF64:
		got = len(t.F64)
	case StoreI64:
		got = len(t.I64)
	case StoreBool:
		got = len(t.Bool)
	default:
		return fmt.Errorf("input %s has unsupported element type %v", what, t.DType)
	}
	if got != n {
		return fmt.Errorf("input %s: %d elements stored for shape %v", what, got, t.Shape)
	}
	return nil
}

// shpNew allocates a zero tensor, reporting unsupported dtypes and absurd
// sizes as errors instead of panicking.
func shpNew(dt DType, shape []int) (*Tensor, error) {
	if dt.Storage() == StoreNone {
		return nil, fmt.Errorf("unsupported element type %v", dt)
	}
	if err := shpSizeOK(shape); err != nil {
		return nil, err
	}
	return New(dt, shape...), nil
}

// shpSizeOK rejects negative dimensions and element counts beyond 2^35.
func shpSizeOK(shape []int) error {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in output shape %v", shape)
		}
		if d > 0 && n > math.MaxInt32*16/d {
			return fmt.Errorf("output shape %v is too large", shape)
		}
		n *= d
	}
	return nil
}

// shpView returns a tensor sharing t's data with another shape of the same
// element count.
func shpView(t *Tensor, shape []int) *Tensor {
	c := *t
	c.Shape = append([]int{}, shape...)
	return &c
}

// shpSubView returns a tensor of the given shape sharing elements
// [off, off+n) of t's data (capacity capped so appends cannot reach t).
func shpSubView(t *Tensor, off int, shape []int) *Tensor {
	n := NumElements(shape)
	c := &Tensor{DType: t.DType, Shape: append([]int{}, shape...)}
	switch t.DType.Storage() {
	case StoreF32:
		c.F32 = t.F32[off : off+n : off+n]
	case StoreF64:
		c.F64 = t.F64[off : off+n : off+n]
	case StoreI64:
		c.I64 = t.I64[off : off+n : off+n]
	case StoreBool:
		c.Bool = t.Bool[off : off+n : off+n]
	}
	return c
}

// shpContiguous reports whether reading src with strides sstride from base
// for output shape oshape is one contiguous block of the source.
func shpContiguous(oshape, sstride []int) bool {
	want := 1
	for i := len(oshape) - 1; i >= 0; i-- {
		if oshape[i] == 1 {
			continue
		}
		if sstride[i] != want {
			return false
		}
		want *= oshape[i]
	}
	return true
}

// shpIndexList reads an integer tensor (indices, axes, shape values) as ints.
func shpIndexList(t *Tensor, what string) ([]int, error) {
	if t == nil {
		return nil, fmt.Errorf("missing input %s", what)
	}
	if t.DType.Storage() != StoreI64 {
		return nil, fmt.Errorf("input %s must be an integer tensor, got %v", what, t.DType)
	}
	if err := shpCheck(t, what); err != nil {
		return nil, err
	}
	out := make([]int, len(t.I64))
	for i, v := range t.I64 {
		out[i] = int(v)
	}
	return out, nil
}

// shpSetFrom stores element j of src into element i of dst, converting
// between storages (numbers cast, ints wrapped to dst's type).
func shpSetFrom(dst *Tensor, i int, src *Tensor, j int) {
	switch dst.DType.Storage() {
	case StoreF32:
		dst.F32[i] = float32(src.Float64At(j))
	case StoreF64:
		dst.F64[i] = src.Float64At(j)
	case StoreI64:
		var v int64
		if src.DType.Storage() == StoreI64 {
			v = src.I64[j]
		} else {
			f := src.Float64At(j)
			if dst.DType == Uint64 && f >= 1<<63 {
				v = int64(uint64(f))
			} else {
				v = int64(f)
			}
		}
		dst.I64[i] = dst.DType.WrapInt(v)
	case StoreBool:
		dst.Bool[i] = src.Float64At(j) != 0
	}
}

// shpFillAll sets every element of t to element j of v.
func shpFillAll(t *Tensor, v *Tensor, j int) {
	if t.Len() == 0 {
		return
	}
	shpSetFrom(t, 0, v, j)
	switch t.DType.Storage() {
	case StoreF32:
		shpFillK(t.F32, t.F32[0])
	case StoreF64:
		shpFillK(t.F64, t.F64[0])
	case StoreI64:
		shpFillK(t.I64, t.I64[0])
	case StoreBool:
		shpFillK(t.Bool, t.Bool[0])
	}
}

func shpFillK[T any](d []T, v T) {
	for i := range d {
		d[i] = v
	}
}

// shpCopy copies n elements from src[so:] into dst[do:] (same storage).
func shpCopy(dst *Tensor, do int, src *Tensor, so, n int) {
	switch dst.DType.Storage() {
	case StoreF32:
		copy(dst.F32[do:do+n], src.F32[so:so+n])
	case StoreF64:
		copy(dst.F64[do:do+n], src.F64[so:so+n])
	case StoreI64:
		copy(dst.I64[do:do+n], src.I64[so:so+n])
	case StoreBool:
		copy(dst.Bool[do:do+n], src.Bool[so:so+n])
	}
}

// shpStrided fills dst (contiguous, shape oshape) with
// src[base + sum_i c_i*sstride[i]] for every output coordinate c. Strides may
// be zero (broadcast) or negative (reversed slices).
func shpStrided(dst, src *Tensor, oshape, sstride []int, base int) {
	if NumElements(oshape) == 0 {
		return
	}
	// Drop size-1 axes and merge axes that are contiguous in the source.
	var sh, st []int
	for i, d := range oshape {
		if d == 1 {
			continue
		}
		if k := len(sh) - 1; k >= 0 && st[k] == sstride[i]*d {
			sh[k] *= d
			st[k] = sstride[i]
			continue
		}
		sh = append(sh, d)
		st = append(st, sstride[i])
	}
	switch dst.DType.Storage() {
	case StoreF32:
		shpStridedK(dst.F32, src.F32, sh, st, base)
	case StoreF64:
		shpStridedK(dst.F64, src.F64, sh, st, base)
	case StoreI64:
		shpStridedK(dst.I64, src.I64, sh, st, base)
	case StoreBool:
		shpStridedK(dst.Bool, src.Bool, sh, st, base)
	}
}

func shpStridedK[T any](dst, src []T, sh, st []int, base int) {
	r := len(sh)
	if r == 0 {
		dst[0] = src[base]
		return
	}
	n := sh[r-1]
	rows := len(dst) / n
	shpParallel(rows, len(dst), func(lo, hi int) {
		shpStridedRows(dst, src, sh, st, base, lo, hi)
	})
}

// shpStridedRows fills output rows [lo, hi) (rows of the innermost axis).
func shpStridedRows[T any](dst, src []T, sh, st []int, base, lo, hi int) {
	r := len(sh)
	n := sh[r-1]
	s := st[r-1]
	coord := make([]int, r)
	off := base
	rem := lo
	for a := r - 2; a >= 0; a-- {
		coord[a] = rem % sh[a]
		rem /= sh[a]
		off += coord[a] * st[a]
	}
	for row := lo; row < hi; row++ {
		d := dst[row*n : row*n+n]
		switch s {
		case 1:
			copy(d, src[off:off+n])
		case 0:
			v := src[off]
			for i := range d {
				d[i] = v
			}
		default:
			p := off
			for i := range d {
				d[i] = src[p]
				p += s
			}
		}
		for a := r - 2; a >= 0; a-- {
			coord[a]++
			off += st[a]
			if coord[a] < sh[a] {
				break
			}
			off -= st[a] * coord[a]
			coord[a] = 0
		}
	}
}

// shpParallel splits rows into GOMAXPROCS chunks when the job (elems
// elements) is large enough to pay for goroutines.
func shpParallel(rows, elems int, fn func(lo, hi int)) {
	procs := runtime.GOMAXPROCS(0)
	if elems < 1<<16 || procs < 2 || rows < 2 {
		fn(0, rows)
		return
	}
	chunks := min(procs*2, rows, elems>>15)
	if chunks < 2 {
		fn(0, rows)
		return
	}
	var wg sync.WaitGroup
	for c := 0; c < chunks; c++ {
		lo, hi := rows*c/chunks, rows*(c+1)/chunks
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// shpMapped fills dst (contiguous, shape given by the lengths of maps) with
// src[sum_a maps[a][c_a]*sstride[a]]; a negative map entry on any axis leaves
// the element untouched (callers pre-fill dst with a pad value).
func shpMapped(dst, src *Tensor, maps [][]int, sstride []int) {
	oshape := make([]int, len(maps))
	for i, m := range maps {
		oshape[i] = len(m)
	}
	if NumElements(oshape) == 0 {
		return
	}
	switch dst.DType.Storage() {
	case StoreF32:
		shpMappedK(dst.F32, src.F32, maps, sstride)
	case StoreF64:
		shpMappedK(dst.F64, src.F64, maps, sstride)
	case StoreI64:
		shpMappedK(dst.I64, src.I64, maps, sstride)
	case StoreBool:
		shpMappedK(dst.Bool, src.Bool, maps, sstride)
	}
}

func shpMappedK[T any](dst, src []T, maps [][]int, st []int) {
	r := len(maps)
	if r == 0 {
		dst[0] = src[0]
		return
	}
	n := len(maps[r-1])
	shpParallel(len(dst)/n, len(dst), func(lo, hi int) {
		shpMappedRows(dst, src, maps, st, lo, hi)
	})
}

func shpMappedRows[T any](dst, src []T, maps [][]int, st []int, lo, hi int) {
	r := len(maps)
	last := maps[r-1]
	ls := st[r-1]
	n := len(last)
	coord := make([]int, r)
	rem := lo
	for a := r - 2; a >= 0; a-- {
		coord[a] = rem % len(maps[a])
		rem /= len(maps[a])
	}
	for row := lo; row < hi; row++ {
		off, skip := 0, false
		for a := 0; a < r-1; a++ {
			m := maps[a][coord[a]]
			if m < 0 {
				skip = true
				break
			}
			off += m * st[a]
		}
		if !skip {
			d := dst[row*n : row*n+n]
			for i, m := range last {
				if m >= 0 {
					d[i] = src[off+m*ls]
				}
			}
		}
		for a := r - 2; a >= 0; a-- {
			coord[a]++
			if coord[a] < len(maps[a]) {
				break
			}
			coord[a] = 0
		}
	}
}

// shpScalarOf returns element 0 of t as a one-element tensor for fills,
// checking that t has exactly one element.
func shpOneValue(t *Tensor, what string) error {
	if err := shpCheck(t, what); err != nil {
		return err
	}
	if t.Len() != 1 {
		return fmt.Errorf("input %s must hold one value, got shape %v", what, t.Shape)
	}
	return nil
}
