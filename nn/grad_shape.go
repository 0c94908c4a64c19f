package nn

import (
	"fmt"
	"math"
)

// Backward passes of the shape and data-movement ops (op_shape*.go,
// op_pad.go, op_gather.go, op_resize.go). Every forward op here is linear in
// its data input(s), so each gradient is the adjoint of the data movement:
// views for reshapes, the inverse permutation for transposes, scatter-adds
// for gathers, sums over broadcast, tiled, mirrored or replicated positions.
// Integer inputs (shapes, indices, axes, repeats, pads) and float inputs
// that only steer the geometry (Resize scales and roi) get nil gradients.

// shapeGrads holds the backward passes of the shape and data-movement ops.
func shapeGrads() map[string]GradFunc {
	m := map[string]GradFunc{
		"Identity":        shgViewGrad,
		"Flatten":         shgViewGrad,
		"Reshape":         shgViewGrad,
		"Squeeze":         shgViewGrad,
		"Unsqueeze":       shgViewGrad,
		"Transpose":       shgTransposeGrad,
		"Concat":          shgConcatGrad,
		"Split":           shgSplitGrad,
		"Slice":           shgSliceGrad,
		"Gather":          shgGatherGrad,
		"GatherElements":  shgGatherElementsGrad,
		"GatherND":        shgGatherNDGrad,
		"ScatterND":       shgScatterNDGrad,
		"ScatterElements": shgScatterElementsGrad,
		"Scatter":         shgScatterElementsGrad,
		"Expand":          shgExpandGrad,
		"Tile":            shgTileGrad,
		"Pad":             shgPadGrad,
		"CenterCropPad":   shgCenterCropPadGrad,
		"DepthToSpace":    shgDepthToSpaceGrad,
		"SpaceToDepth":    shgSpaceToDepthGrad,
		"Trilu":           shgTriluGrad,
		"Resize":          shgResizeGrad,
		"Upsample":        shgResizeGrad,
		// Integer-valued results: nothing flows back to the input.
		"Shape":           shgNoGrad,
		"Size":            shgNoGrad,
		"ConstantOfShape": shgNoGrad,
	}
	for typ, f := range m {
		m[typ] = shgFloatOnly(f)
	}
	return m
}

// shgFloatOnly wraps a gradient so that integer and bool inputs (shape
// computations moved by the same ops) never ask for a gradient: they get
// nil, and the wrapped function only runs when a float input needs one.
func shgFloatOnly(f GradFunc) GradFunc {
	return func(ctx *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
		var nd []bool
		anyF := false
		for i, x := range in {
			if !shgNeed(need, i) {
				continue
			}
			if x == nil || x.DType.Storage() == StoreI64 || x.DType.Storage() == StoreBool {
				if nd == nil {
					nd = append([]bool{}, need...)
				}
				nd[i] = false
				continue
			}
			anyF = true
		}
		if !anyF {
			return make([]*Tensor, len(in)), nil
		}
		if nd != nil {
			need = nd
		}
		return f(ctx, n, in, out, dOut, need)
	}
}

// shgNeed reports whether input i needs a gradient.
func shgNeed(need []bool, i int) bool { return i < len(need) && need[i] }

// shgIn returns input i or nil.
func shgIn(in []*Tensor, i int) *Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}

// shgCheck verifies that x is a float tensor and that its incoming gradient
// g has the same storage and holds a full set of values.
func shgCheck(x, g *Tensor, what string) error {
	if x == nil {
		return fmt.Errorf("missing forward input %s", what)
	}
	st := x.DType.Storage()
	if st != StoreF32 && st != StoreF64 {
		return fmt.Errorf("input %s has type %v: only float inputs have gradients", what, x.DType)
	}
	if g == nil {
		return nil
	}
	if g.DType.Storage() != st {
		return fmt.Errorf("gradient of type %v for input %s of type %v", g.DType, what, x.DType)
	}
	if err := shpCheck(g, "gradient"); err != nil {
		return err
	}
	return nil
}

// shgZeros returns a zero gradient shaped like x.
func shgZeros(x *Tensor) *Tensor { return New(x.DType, x.Shape...) }

// shgAddBlock adds src[so:so+n] into dst[do:do+n] (float storages).
func shgAddBlock(dst *Tensor, do int, src *Tensor, so, n int) {
	if dst.F64 != nil {
		d, s := dst.F64[do:do+n], src.F64[so:so+n]
		for i, v := range s {
			d[i] += v
		}
		return
	}
	d, s := dst.F32[do:do+n], src.F32[so:so+n]
	for i, v := range s {
		d[i] += v
	}
}

// shgTake returns a tensor of the given shape and x's dtype holding
// src[off[i]*inner : off[i]*inner+inner] in order; off is in elements.
func shgTake(src *Tensor, off []int, inner int, shape []int) *Tensor {
	out := New(src.DType, shape...)
	for i, o := range off {
		shpCopy(out, i*inner, src, o, inner)
	}
	return out
}

// shgNoGrad is the gradient of ops whose outputs do not vary with their
// inputs (integer shapes and sizes).
func shgNoGrad(_ *Context, _ *Node, in, _, _ []*Tensor, _ []bool) ([]*Tensor, error) {
	return make([]*Tensor, len(in)), nil
}

// shgViewGrad: Identity, Flatten, Reshape, Squeeze, Unsqueeze keep the
// element order, so the gradient is dY viewed with the input's shape.
func shgViewGrad(_ *Context, _ *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := shgCheck(x, dy, "data"); err != nil {
		return nil, err
	}
	if dy.Len() != x.Len() {
		return nil, fmt.Errorf("gradient of shape %v does not match input shape %v", dy.Shape, x.Shape)
	}
	res[0] = shpView(dy, x.Shape)
	return res, nil
}

// shgPermInverse returns the inverse of a permutation.
func shgPermInverse(perm []int) ([]int, error) {
	inv := make([]int, len(perm))
	for i := range inv {
		inv[i] = -1
	}
	for i, p := range perm {
		if p < 0 || p >= len(perm) || inv[p] >= 0 {
			return nil, fmt.Errorf("perm %v is not a permutation", perm)
		}
		inv[p] = i
	}
	return inv, nil
}

func shgTransposeGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := shgCheck(x, dy, "data"); err != nil {
		return nil, err
	}
	r := len(x.Shape)
	perm := n.AttrInts("perm", nil)
	if perm == nil {
		perm = make([]int, r)
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	if len(perm) != r || len(dy.Shape) != r {
		return nil, fmt.Errorf("perm %v does not fit input shape %v and gradient shape %v", perm, x.Shape, dy.Shape)
	}
	inv, err := shgPermInverse(perm)
	if err != nil {
		return nil, err
	}
	dx, err := shpTranspose(dy, inv)
	if err != nil {
		return nil, err
	}
	if !SameShape(dx.Shape, x.Shape) {
		return nil, fmt.Errorf("gradient shape %v does not match input shape %v", dy.Shape, x.Shape)
	}
	res[0] = dx
	return res, nil
}

func shgConcatGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	dy := dOut[0]
	if dy == nil {
		return res, nil
	}
	axis := int(n.AttrInt("axis", 0))
	if n.Opset < 4 && !n.HasAttr("axis") {
		axis = 1
	}
	var first *Tensor
	for _, t := range in {
		if t != nil {
			first = t
			break
		}
	}
	if first == nil {
		return res, nil
	}
	if err := shgCheck(first, dy, "0"); err != nil {
		return nil, err
	}
	r := len(first.Shape)
	a, err := shpAxis(axis, r)
	if err != nil {
		return nil, err
	}
	if len(dy.Shape) != r {
		return nil, fmt.Errorf("gradient shape %v does not match the concat inputs of rank %d", dy.Shape, r)
	}
	inner := NumElements(dy.Shape[a+1:])
	outer := NumElements(dy.Shape[:a])
	orow := dy.Shape[a] * inner
	off := 0
	for i, t := range in {
		if t == nil {
			continue
		}
		if len(t.Shape) != r {
			return nil, fmt.Errorf("concat input %d has shape %v, rank %d expected", i, t.Shape, r)
		}
		blk := t.Shape[a] * inner
		if off+blk > orow {
			return nil, fmt.Errorf("concat inputs exceed gradient shape %v on axis %d", dy.Shape, a)
		}
		if shgNeed(need, i) {
			if err := shgCheck(t, dy, fmt.Sprint(i)); err != nil {
				return nil, err
			}
			dx := shgZeros(t)
			if blk > 0 {
				for o := 0; o < outer; o++ {
					shpCopy(dx, o*blk, dy, o*orow+off, blk)
				}
			}
			res[i] = dx
		}
		off += blk
	}
	return res, nil
}

// shgSplitSizes recomputes the part sizes of a Split node along axis a.
func shgSplitSizes(n *Node, x *Tensor, in []*Tensor, a int) ([]int, error) {
	nOut := len(n.Outputs)
	dim := x.Shape[a]
	var split []int
	if n.Opset < 13 {
		split = n.AttrInts("split", nil)
	}
	if t := shgIn(in, 1); t != nil && t.Len() > 0 {
		var err error
		if split, err = shpIndexList(t, "split"); err != nil {
			return nil, err
		}
	}
	if split == nil {
		chunk := (dim + nOut - 1) / nOut
		split = make([]int, nOut)
		rest := dim
		for i := range split {
			split[i] = min(chunk, rest)
			rest -= split[i]
		}
	}
	sum := 0
	for _, s := range split {
		if s < 0 {
			return nil, fmt.Errorf("split %v has a negative size", split)
		}
		sum += s
	}
	if sum != dim || len(split) != nOut {
		return nil, fmt.Errorf("split %v does not divide axis %d of shape %v into %d parts", split, a, x.Shape, nOut)
	}
	return split, nil
}

func shgSplitGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) {
		return res, nil
	}
	x := in[0]
	if err := shgCheck(x, nil, "input"); err != nil {
		return nil, err
	}
	a, err := shpAxis(int(n.AttrInt("axis", 0)), len(x.Shape))
	if err != nil {
		return nil, err
	}
	split, err := shgSplitSizes(n, x, in, a)
	if err != nil {
		return nil, err
	}
	outer := NumElements(x.Shape[:a])
	inner := NumElements(x.Shape[a+1:])
	row := x.Shape[a] * inner
	dx := shgZeros(x)
	off := 0
	for k, s := range split {
		blk := s * inner
		if k < len(dOut) && dOut[k] != nil && blk > 0 {
			g := dOut[k]
			if err := shgCheck(x, g, "input"); err != nil {
				return nil, err
			}
			if g.Len() != outer*blk {
				return nil, fmt.Errorf("gradient of output %d has shape %v, want %d elements", k, g.Shape, outer*blk)
			}
			for o := 0; o < outer; o++ {
				shpCopy(dx, o*row+off, g, o*blk, blk)
			}
		}
		off += blk
	}
	res[0] = dx
	return res, nil
}

// shgIdentityMaps returns maps[a][i] = i for every axis of shape.
func shgIdentityMaps(shape []int) [][]int {
	maps := make([][]int, len(shape))
	for a, d := range shape {
		m := make([]int, d)
		for i := range m {
			m[i] = i
		}
		maps[a] = m
	}
	return maps
}

// shgMappedAdd is the adjoint of shpMapped: every element of dy (whose
// shape is given by the lengths of maps) at coordinate c is added to
// dx[sum_a maps[a][c_a]*st[a]], unless a map entry is negative. It returns
// the sum of the skipped elements (the gradient of a pad value).
func shgMappedAdd(dx, dy *Tensor, maps [][]int, st []int) float64 {
	if dx.DType.Storage() == StoreF64 {
		return shgMappedAddK(dx.F64, dy.F64, maps, st)
	}
	return shgMappedAddK(dx.F32, dy.F32, maps, st)
}

func shgMappedAddK[T float32 | float64](dx, dy []T, maps [][]int, st []int) float64 {
	r := len(maps)
	if len(dy) == 0 {
		return 0
	}
	if r == 0 {
		dx[0] += dy[0]
		return 0
	}
	last := maps[r-1]
	ls := st[r-1]
	n := len(last)
	rows := len(dy) / n
	var neg []int // positions of the last axis that read the pad value
	for i, m := range last {
		if m < 0 {
			neg = append(neg, i)
		}
	}
	// Offset in dx of the row each dy row adds into, -1 for rows that
	// read the pad value; and the sum of every skipped element.
	offs := make([]int, rows)
	coord := make([]int, r)
	skipped := 0.0
	for row := 0; row < rows; row++ {
		off := 0
		for a := 0; a < r-1; a++ {
			m := maps[a][coord[a]]
			if m < 0 {
				off = -1
				break
			}
			off += m * st[a]
		}
		offs[row] = off
		d := dy[row*n : row*n+n]
		if off < 0 {
			for _, v := range d {
				skipped += float64(v)
			}
		} else {
			for _, i := range neg {
				skipped += float64(d[i])
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
	if len(dx) == 0 {
		return skipped
	}
	// Runs of consecutive input positions on the last axis (the interior
	// of a pad, a tile, a slice with step 1) are added as blocks.
	var segs [][3]int // dy position, dx position, length
	for i := 0; i < n; {
		if last[i] < 0 {
			i++
			continue
		}
		j := i + 1
		for j < n && last[j] == last[j-1]+1 {
			j++
		}
		segs = append(segs, [3]int{i, last[i], j - i})
		i = j
	}
	blocks := ls == 1 && 2*len(segs) <= n
	addRow := func(off int, d []T) {
		if blocks {
			for _, sg := range segs {
				o := dx[off+sg[1] : off+sg[1]+sg[2]]
				for i, v := range d[sg[0] : sg[0]+sg[2]] {
					o[i] += v
				}
			}
			return
		}
		for i, m := range last {
			if m >= 0 {
				dx[off+m*ls] += d[i]
			}
		}
	}
	rowLen := len(dx)
	if r >= 2 {
		rowLen = st[r-2]
	}
	targets := len(dx) / rowLen
	if targets < 2 || len(dy) < 1<<16 {
		for row, off := range offs {
			if off >= 0 {
				addRow(off, dy[row*n:row*n+n])
			}
		}
		return skipped
	}
	// Several dy rows may add into one dx row (tiles, mirrors, repeats):
	// group the dy rows by the dx row they hit, then let each goroutine own
	// a range of dx rows.
	start := make([]int, targets+1)
	for _, off := range offs {
		if off >= 0 {
			start[off/rowLen+1]++
		}
	}
	for t := 0; t < targets; t++ {
		start[t+1] += start[t]
	}
	list := make([]int, start[targets])
	fill := append([]int{}, start[:targets]...)
	for row, off := range offs {
		if off >= 0 {
			t := off / rowLen
			list[fill[t]] = row
			fill[t]++
		}
	}
	shpParallel(targets, len(dy), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			for _, row := range list[start[t]:start[t+1]] {
				addRow(offs[row], dy[row*n:row*n+n])
			}
		}
	})
	return skipped
}

// shgSliceMaps recomputes the geometry of a Slice node: maps[a][i] is the
// input coordinate read by output coordinate i on axis a.
func shgSliceMaps(n *Node, x *Tensor, in []*Tensor) ([][]int, error) {
	var starts, ends, axes, steps []int64
	if n.Opset < 10 {
		for _, v := range n.AttrInts("starts", nil) {
			starts = append(starts, int64(v))
		}
		for _, v := range n.AttrInts("ends", nil) {
			ends = append(ends, int64(v))
		}
		for _, v := range n.AttrInts("axes", nil) {
			axes = append(axes, int64(v))
		}
	} else {
		if shgIn(in, 1) == nil || shgIn(in, 2) == nil {
			return nil, fmt.Errorf("Slice needs starts and ends inputs")
		}
		var err error
		if starts, err = shpSliceInt64(in[1], "starts"); err != nil {
			return nil, err
		}
		if ends, err = shpSliceInt64(in[2], "ends"); err != nil {
			return nil, err
		}
		if t := shgIn(in, 3); t != nil {
			if axes, err = shpSliceInt64(t, "axes"); err != nil {
				return nil, err
			}
		}
		if t := shgIn(in, 4); t != nil {
			if steps, err = shpSliceInt64(t, "steps"); err != nil {
				return nil, err
			}
		}
	}
	if len(starts) != len(ends) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return nil, fmt.Errorf("starts %v, ends %v, axes %v and steps %v have different lengths", starts, ends, axes, steps)
	}
	r := len(x.Shape)
	maps := shgIdentityMaps(x.Shape)
	for i := range starts {
		ax := i
		if axes != nil {
			if axes[i] < int64(-r) || axes[i] >= int64(r) {
				return nil, fmt.Errorf("slice axis %d is out of range for shape %v", axes[i], x.Shape)
			}
			ax = int(axes[i])
			if ax < 0 {
				ax += r
			}
		} else if i >= r {
			return nil, fmt.Errorf("%d starts for input of rank %d", len(starts), r)
		}
		step := int64(1)
		if steps != nil {
			step = steps[i]
		}
		if step == 0 {
			return nil, fmt.Errorf("slice step is 0 on axis %d", ax)
		}
		dim := int64(x.Shape[ax])
		s, e := starts[i], ends[i]
		if s < 0 {
			s += dim
		}
		if e < 0 && e != math.MinInt64 {
			e += dim
		} else if e == math.MinInt64 {
			e = -1
		}
		var cnt int64
		if step > 0 {
			s = min(max(s, 0), dim)
			e = min(max(e, 0), dim)
			if e > s {
				cnt = (e - s + step - 1) / step
			}
		} else {
			s = min(max(s, 0), dim-1)
			e = min(max(e, -1), dim-1)
			if s > e {
				cnt = (s - e + (-step) - 1) / (-step)
			}
		}
		m := make([]int, cnt)
		for j := range m {
			m[j] = int(s + int64(j)*step)
		}
		maps[ax] = m
	}
	return maps, nil
}

// shgMapsShape returns the lengths of maps.
func shgMapsShape(maps [][]int) []int {
	s := make([]int, len(maps))
	for i, m := range maps {
		s[i] = len(m)
	}
	return s
}

// shgMappedGrad scatters dy back through maps into a zero gradient of x,
// checking that dy has the mapped shape.
func shgMappedGrad(x, dy *Tensor, maps [][]int) (*Tensor, float64, error) {
	if want := shgMapsShape(maps); NumElements(want) != dy.Len() {
		return nil, 0, fmt.Errorf("gradient of shape %v, want %v for input shape %v", dy.Shape, want, x.Shape)
	}
	dx := shgZeros(x)
	skipped := shgMappedAdd(dx, dy, maps, Strides(x.Shape))
	return dx, skipped, nil
}

func shgSliceGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := shgCheck(x, dy, "data"); err != nil {
		return nil, err
	}
	maps, err := shgSliceMaps(n, x, in)
	if err != nil {
		return nil, err
	}
	if res[0], _, err = shgMappedGrad(x, dy, maps); err != nil {
		return nil, err
	}
	return res, nil
}

func shgGatherGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := shgCheck(x, dy, "data"); err != nil {
		return nil, err
	}
	idxT := shgIn(in, 1)
	idx, err := shpIndexList(idxT, "indices")
	if err != nil {
		return nil, err
	}
	axis := int(n.AttrInt("axis", 0))
	a, err := shpAxis(axis, len(x.Shape))
	if err != nil || len(x.Shape) == 0 {
		return nil, fmt.Errorf("gather axis %d is out of range for data shape %v", axis, x.Shape)
	}
	dim := x.Shape[a]
	outer := NumElements(x.Shape[:a])
	inner := NumElements(x.Shape[a+1:])
	if dy.Len() != outer*len(idx)*inner {
		return nil, fmt.Errorf("gradient of shape %v does not match data %v and indices %v", dy.Shape, x.Shape, idxT.Shape)
	}
	for i, v := range idx {
		if v < -dim || v >= dim {
			return nil, fmt.Errorf("gather index %d is out of range for axis %d of data shape %v", v, a, x.Shape)
		}
		if v < 0 {
			idx[i] = v + dim
		}
	}
	dx := shgZeros(x)
	if inner > 0 {
		p := 0
		for o := 0; o < outer; o++ {
			base := o * dim * inner
			for _, k := range idx {
				shgAddBlock(dx, base+k*inner, dy, p, inner)
				p += inner
			}
		}
	}
	res[0] = dx
	return res, nil
}

// shgScatterAddOff adds dy[i] into dx[off[i]].
func shgScatterAddOff(dx, dy *Tensor, off []int) {
	if dx.F64 != nil {
		for i, o := range off {
			dx.F64[o] += dy.F64[i]
		}
		return
	}
	for i, o := range off {
		dx.F32[o] += dy.F32[i]
	}
}

func shgGatherElementsGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := shgCheck(x, dy, "data"); err != nil {
		return nil, err
	}
	idxT := shgIn(in, 1)
	idx, err := shpIndexList(idxT, "indices")
	if err != nil {
		return nil, err
	}
	axis := int(n.AttrInt("axis", 0))
	a, err := shpAxis(axis, len(x.Shape))
	if err != nil || len(x.Shape) == 0 {
		return nil, fmt.Errorf("axis %d is out of range for data shape %v", axis, x.Shape)
	}
	off, err := shpElemIndex(x.Shape, idxT.Shape, idx, a, "indices")
	if err != nil {
		return nil, err
	}
	if dy.Len() != len(off) {
		return nil, fmt.Errorf("gradient of shape %v does not match indices shape %v", dy.Shape, idxT.Shape)
	}
	dx := shgZeros(x)
	shgScatterAddOff(dx, dy, off)
	res[0] = dx
	return res, nil
}

// shgNDOffsets computes the flat data offsets of the index tuples of a
// GatherND/ScatterND indices tensor (batch_dims bd); inner is the size of
// each addressed slice.
func shgNDOffsets(dshape []int, idxT *Tensor, bd int) (off []int, inner int, err error) {
	idx, err := shpIndexList(idxT, "indices")
	if err != nil {
		return nil, 0, err
	}
	ish := idxT.Shape
	r, q := len(dshape), len(ish)
	if q < 1 || bd >= q || bd >= r {
		return nil, 0, fmt.Errorf("batch_dims %d is invalid for data shape %v and indices shape %v", bd, dshape, ish)
	}
	k := ish[q-1]
	if k < 1 || bd+k > r {
		return nil, 0, fmt.Errorf("indices last dimension %d is invalid for data shape %v with batch_dims %d", k, dshape, bd)
	}
	inner = NumElements(dshape[bd+k:])
	nb := NumElements(dshape[:bd])
	batchStride := NumElements(dshape[bd:])
	perBatch := NumElements(ish[bd : q-1])
	st := Strides(dshape)
	off = make([]int, nb*perBatch)
	for b := 0; b < nb; b++ {
		for t := 0; t < perBatch; t++ {
			tuple := idx[(b*perBatch+t)*k : (b*perBatch+t+1)*k]
			o := b * batchStride
			for j, v := range tuple {
				d := dshape[bd+j]
				if v < -d || v >= d {
					return nil, 0, fmt.Errorf("index %d is out of range for axis %d of data shape %v", v, bd+j, dshape)
				}
				if v < 0 {
					v += d
				}
				o += v * st[bd+j]
			}
			off[b*perBatch+t] = o
		}
	}
	return off, inner, nil
}

func shgGatherNDGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := shgCheck(x, dy, "data"); err != nil {
		return nil, err
	}
	off, inner, err := shgNDOffsets(x.Shape, shgIn(in, 1), int(n.AttrInt("batch_dims", 0)))
	if err != nil {
		return nil, err
	}
	if dy.Len() != len(off)*inner {
		return nil, fmt.Errorf("gradient of shape %v does not match data %v and indices %v", dy.Shape, x.Shape, in[1].Shape)
	}
	dx := shgZeros(x)
	if inner > 0 {
		for i, o := range off {
			shgAddBlock(dx, o, dy, i*inner, inner)
		}
	}
	res[0] = dx
	return res, nil
}

// shgScatterGrad is the backward pass of a scatter that writes (reduction
// none) or adds (reduction add) blocks of inner update elements at the data
// offsets off. With reduction none and repeated offsets, the last update
// wins, so the earlier ones get zero gradient.
func shgScatterGrad(n *Node, in, dOut []*Tensor, need []bool, off []int, inner int) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	x, upd, dy := in[0], shgIn(in, 2), dOut[0]
	if err := shgCheck(x, dy, "data"); err != nil {
		return nil, err
	}
	if upd == nil || upd.Len() != len(off)*inner {
		return nil, fmt.Errorf("updates do not match %d index tuples of %d elements", len(off), inner)
	}
	if !SameShape(dy.Shape, x.Shape) {
		return nil, fmt.Errorf("gradient of shape %v does not match data shape %v", dy.Shape, x.Shape)
	}
	red, err := shpParseReduction(n)
	if err != nil {
		return nil, err
	}
	switch red {
	case shpRedNone:
		written := make([]bool, len(off))
		if inner > 0 {
			seen := make(map[int]bool, len(off))
			for i := len(off) - 1; i >= 0; i-- {
				if !seen[off[i]] {
					seen[off[i]] = true
					written[i] = true
				}
			}
		}
		if shgNeed(need, 0) {
			dx := dy.Clone()
			for _, o := range off {
				if dx.F64 != nil {
					clear(dx.F64[o : o+inner])
				} else {
					clear(dx.F32[o : o+inner])
				}
			}
			res[0] = dx
		}
		if shgNeed(need, 2) {
			if err := shgCheck(upd, dy, "updates"); err != nil {
				return nil, err
			}
			du := New(upd.DType, upd.Shape...)
			for i, o := range off {
				if written[i] {
					shpCopy(du, i*inner, dy, o, inner)
				}
			}
			res[2] = du
		}
	case shpRedAdd:
		if shgNeed(need, 0) {
			res[0] = dy
		}
		if shgNeed(need, 2) {
			if err := shgCheck(upd, dy, "updates"); err != nil {
				return nil, err
			}
			res[2] = shgTake(dy, off, inner, upd.Shape)
		}
	default:
		return nil, fmt.Errorf("no gradient for reduction %q", n.AttrString("reduction", "none"))
	}
	return res, nil
}

func shgScatterNDGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	if dOut[0] == nil || !(shgNeed(need, 0) || shgNeed(need, 2)) {
		return make([]*Tensor, len(in)), nil
	}
	off, inner, err := shgNDOffsets(in[0].Shape, shgIn(in, 1), 0)
	if err != nil {
		return nil, err
	}
	return shgScatterGrad(n, in, dOut, need, off, inner)
}

func shgScatterElementsGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	if dOut[0] == nil || !(shgNeed(need, 0) || shgNeed(need, 2)) {
		return make([]*Tensor, len(in)), nil
	}
	x, idxT := in[0], shgIn(in, 1)
	idx, err := shpIndexList(idxT, "indices")
	if err != nil {
		return nil, err
	}
	axis := int(n.AttrInt("axis", 0))
	a, err := shpAxis(axis, len(x.Shape))
	if err != nil || len(x.Shape) == 0 {
		return nil, fmt.Errorf("axis %d is out of range for data shape %v", axis, x.Shape)
	}
	off, err := shpElemIndex(x.Shape, idxT.Shape, idx, a, "indices")
	if err != nil {
		return nil, err
	}
	return shgScatterGrad(n, in, dOut, need, off, 1)
}

func shgExpandGrad(_ *Context, _ *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := shgCheck(x, dy, "input"); err != nil {
		return nil, err
	}
	if bs, err := BroadcastShapes(x.Shape, dy.Shape); err != nil || !SameShape(bs, dy.Shape) {
		return nil, fmt.Errorf("gradient of shape %v is not a broadcast of input shape %v", dy.Shape, x.Shape)
	}
	res[0] = SumToShape(dy, x.Shape)
	return res, nil
}

func shgTileGrad(_ *Context, _ *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := shgCheck(x, dy, "input"); err != nil {
		return nil, err
	}
	reps, err := shpIndexList(shgIn(in, 1), "repeats")
	if err != nil {
		return nil, err
	}
	if len(reps) != len(x.Shape) {
		return nil, fmt.Errorf("repeats %v has %d entries for input shape %v", reps, len(reps), x.Shape)
	}
	maps := make([][]int, len(reps))
	for a, rep := range reps {
		d := x.Shape[a]
		if rep < 0 {
			return nil, fmt.Errorf("repeats %v has a negative entry", reps)
		}
		m := make([]int, rep*d)
		for i := range m {
			m[i] = i % d
		}
		maps[a] = m
	}
	if res[0], _, err = shgMappedGrad(x, dy, maps); err != nil {
		return nil, err
	}
	return res, nil
}

// shgPadMaps recomputes the geometry of a Pad node like the forward op:
// maps[a][i] is the input coordinate output coordinate i reads on axis a,
// or -1 for the constant value.
func shgPadMaps(n *Node, x *Tensor, in []*Tensor) ([][]int, error) {
	mode := n.AttrString("mode", "constant")
	r := len(x.Shape)
	var pads []int
	if n.Opset < 11 {
		name := "pads"
		if !n.HasAttr(name) && n.HasAttr("paddings") {
			name = "paddings"
		}
		pads = n.AttrInts(name, nil)
	} else {
		var err error
		if pads, err = shpIndexList(shgIn(in, 1), "pads"); err != nil {
			return nil, err
		}
	}
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if t := shgIn(in, 3); n.Opset >= 18 && t != nil {
		list, err := shpIndexList(t, "axes")
		if err != nil {
			return nil, err
		}
		axes = axes[:0]
		for _, a := range list {
			na, err := shpAxis(a, r)
			if err != nil {
				return nil, fmt.Errorf("pad axes %v for shape %v: %w", list, x.Shape, err)
			}
			axes = append(axes, na)
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, fmt.Errorf("pads %v has %d entries, want %d for input shape %v", pads, len(pads), 2*len(axes), x.Shape)
	}
	begin := make([]int, r)
	end := make([]int, r)
	for i, a := range axes {
		begin[a] = pads[i]
		end[a] = pads[i+len(axes)]
	}
	maps := make([][]int, r)
	for a := 0; a < r; a++ {
		dim := x.Shape[a]
		s := max(0, -begin[a])
		l := dim - s - max(0, -end[a])
		pb, pe := max(begin[a], 0), max(end[a], 0)
		if l < 0 || (l == 0 && mode != "constant" && pb+pe > 0) {
			return nil, fmt.Errorf("pads %v do not fit axis %d of shape %v in mode %s", pads, a, x.Shape, mode)
		}
		m := make([]int, pb+l+pe)
		for i := range m {
			k := i - pb
			if k < 0 || k >= l {
				switch mode {
				case "constant":
					m[i] = -1
					continue
				case "edge":
					k = min(max(k, 0), l-1)
				case "wrap":
					k = ((k % l) + l) % l
				case "reflect":
					if l == 1 {
						k = 0
					} else {
						p := 2 * (l - 1)
						k = ((k % p) + p) % p
						if k >= l {
							k = p - k
						}
					}
				default:
					return nil, fmt.Errorf("unknown Pad mode %q", mode)
				}
			}
			m[i] = s + k
		}
		maps[a] = m
	}
	return maps, nil
}

// shgPadGrad: constant mode crops dY (and sums the padded positions into
// the gradient of constant_value); reflect, edge and wrap add every
// mirrored, replicated or wrapped position back to its source.
func shgPadGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	cv := shgIn(in, 2)
	needCV := n.Opset >= 11 && cv != nil && cv.Len() > 0 && shgNeed(need, 2)
	dy := dOut[0]
	if dy == nil || !(shgNeed(need, 0) || needCV) {
		return res, nil
	}
	x := in[0]
	if err := shgCheck(x, dy, "data"); err != nil {
		return nil, err
	}
	maps, err := shgPadMaps(n, x, in)
	if err != nil {
		return nil, err
	}
	dx, skipped, err := shgMappedGrad(x, dy, maps)
	if err != nil {
		return nil, err
	}
	if shgNeed(need, 0) {
		res[0] = dx
	}
	if needCV {
		if err := shgCheck(cv, dy, "constant_value"); err != nil {
			return nil, err
		}
		g := New(cv.DType, cv.Shape...)
		if n.AttrString("mode", "constant") == "constant" {
			if g.F64 != nil {
				g.F64[0] = skipped
			} else {
				g.F32[0] = float32(skipped)
			}
		}
		res[2] = g
	}
	return res, nil
}

func shgCenterCropPadGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := shgCheck(x, dy, "input_data"); err != nil {
		return nil, err
	}
	shape, err := shpIndexList(shgIn(in, 1), "shape")
	if err != nil {
		return nil, err
	}
	r := len(x.Shape)
	axes := n.AttrInts("axes", nil)
	if axes == nil {
		axes = make([]int, r)
		for i := range axes {
			axes[i] = i
		}
	}
	if len(shape) != len(axes) {
		return nil, fmt.Errorf("shape %v has %d values for %d axes", shape, len(shape), len(axes))
	}
	maps := shgIdentityMaps(x.Shape)
	for i, ax := range axes {
		a, err := shpAxis(ax, r)
		if err != nil {
			return nil, err
		}
		want, have := shape[i], x.Shape[a]
		if want < 0 {
			return nil, fmt.Errorf("shape %v has a negative value", shape)
		}
		off := (have - want) / 2
		if want > have {
			off = -((want - have) / 2)
		}
		m := make([]int, want)
		for j := range m {
			k := j + off
			if k < 0 || k >= have {
				k = -1
			}
			m[j] = k
		}
		maps[a] = m
	}
	if res[0], _, err = shgMappedGrad(x, dy, maps); err != nil {
		return nil, err
	}
	return res, nil
}

// shgBlockGrad transposes dY viewed as vshape with the inverse of perm and
// views the result with the input's shape (DepthToSpace, SpaceToDepth).
func shgBlockGrad(x, dy *Tensor, vshape, perm []int) (*Tensor, error) {
	if NumElements(vshape) != dy.Len() || x.Len() != dy.Len() {
		return nil, fmt.Errorf("gradient of shape %v does not match input shape %v", dy.Shape, x.Shape)
	}
	inv, err := shgPermInverse(perm)
	if err != nil {
		return nil, err
	}
	t, err := shpTranspose(shpView(dy, vshape), inv)
	if err != nil {
		return nil, err
	}
	return shpView(t, x.Shape), nil
}

func shgDepthToSpaceGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := shgCheck(x, dy, "input"); err != nil {
		return nil, err
	}
	bs := int(n.AttrInt("blocksize", 0))
	if bs < 1 || len(x.Shape) != 4 || x.Shape[1]%(bs*bs) != 0 {
		return nil, fmt.Errorf("DepthToSpace blocksize %d does not fit input shape %v", bs, x.Shape)
	}
	b, c, h, w := x.Shape[0], x.Shape[1]/(bs*bs), x.Shape[2], x.Shape[3]
	// The forward op transposes x viewed as [b, bs, bs, c, h, w] (DCR) or
	// [b, c, bs, bs, h, w] (CRD) to [b, c, h, bs, w, bs].
	perm := []int{0, 3, 4, 1, 5, 2}
	if n.AttrString("mode", "DCR") == "CRD" {
		perm = []int{0, 1, 4, 2, 5, 3}
	}
	dx, err := shgBlockGrad(x, dy, []int{b, c, h, bs, w, bs}, perm)
	if err != nil {
		return nil, err
	}
	res[0] = dx
	return res, nil
}

func shgSpaceToDepthGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := shgCheck(x, dy, "input"); err != nil {
		return nil, err
	}
	bs := int(n.AttrInt("blocksize", 0))
	if bs < 1 || len(x.Shape) != 4 || x.Shape[2]%bs != 0 || x.Shape[3]%bs != 0 {
		return nil, fmt.Errorf("SpaceToDepth blocksize %d does not fit input shape %v", bs, x.Shape)
	}
	b, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2]/bs, x.Shape[3]/bs
	// The forward op transposes x viewed as [b, c, h, bs, w, bs] to
	// [b, bs, bs, c, h, w].
	dx, err := shgBlockGrad(x, dy, []int{b, bs, bs, c, h, w}, []int{0, 3, 5, 1, 2, 4})
	if err != nil {
		return nil, err
	}
	res[0] = dx
	return res, nil
}

// shgTriluGrad: Trilu keeps a triangle and zeroes the rest; its gradient is
// the same mask applied to dY.
func shgTriluGrad(ctx *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := shgCheck(x, dy, "input"); err != nil {
		return nil, err
	}
	if !SameShape(x.Shape, dy.Shape) {
		return nil, fmt.Errorf("gradient of shape %v does not match input shape %v", dy.Shape, x.Shape)
	}
	args := []*Tensor{dy}
	if k := shgIn(in, 1); k != nil {
		args = append(args, k)
	}
	out, err := n.Op.Run(ctx, args)
	if err != nil {
		return nil, err
	}
	res[0] = out[0]
	return res, nil
}
