package nn

import (
	"fmt"
	"math"
)

// Transpose, Concat, Split, Slice, Expand, Tile, DepthToSpace, SpaceToDepth
// and Trilu.

// shpTranspose returns x with its axes permuted by perm.
func shpTranspose(x *Tensor, perm []int) (*Tensor, error) {
	r := len(x.Shape)
	if perm == nil {
		perm = make([]int, r)
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	if len(perm) != r {
		return nil, fmt.Errorf("perm %v has %d entries for input shape %v", perm, len(perm), x.Shape)
	}
	seen := make([]bool, r)
	st := Strides(x.Shape)
	oshape := make([]int, r)
	ostr := make([]int, r)
	for i, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, fmt.Errorf("perm %v is not a permutation of the %d axes of shape %v", perm, r, x.Shape)
		}
		seen[p] = true
		oshape[i] = x.Shape[p]
		ostr[i] = st[p]
	}
	out, err := shpNew(x.DType, oshape)
	if err != nil {
		return nil, err
	}
	if shpTransposeBlocked(out, x, oshape, ostr) {
		return out, nil
	}
	shpStrided(out, x, oshape, ostr, 0)
	return out, nil
}

// shpTransposeBlocked handles transposes whose innermost output axis is
// strided in the source by swapping a 2-D tile at a time (cache friendly).
// It returns false when the plain strided copy is good enough.
func shpTransposeBlocked(out, x *Tensor, oshape, ostr []int) bool {
	// Collapse to (batch..., rows, cols) where cols is the last output axis.
	var sh, st []int
	for i, d := range oshape {
		if d == 1 {
			continue
		}
		if k := len(sh) - 1; k >= 0 && st[k] == ostr[i]*d {
			sh[k] *= d
			st[k] = ostr[i]
			continue
		}
		sh = append(sh, d)
		st = append(st, ostr[i])
	}
	r := len(sh)
	if r < 2 || st[r-1] == 1 || sh[r-1] < 8 || sh[r-2] < 8 || st[r-2] != 1 {
		return false
	}
	rows, cols := sh[r-2], sh[r-1]
	cs := st[r-1]
	batch := sh[:r-2]
	bst := st[:r-2]
	nb := NumElements(batch)
	bases := make([]int, nb)
	coord := make([]int, len(batch))
	off := 0
	for b := 0; b < nb; b++ {
		bases[b] = off
		for a := len(batch) - 1; a >= 0; a-- {
			coord[a]++
			off += bst[a]
			if coord[a] < batch[a] {
				break
			}
			off -= bst[a] * coord[a]
			coord[a] = 0
		}
	}
	switch x.DType.Storage() {
	case StoreF32:
		shpTileT(out.F32, x.F32, bases, rows, cols, cs)
	case StoreF64:
		shpTileT(out.F64, x.F64, bases, rows, cols, cs)
	case StoreI64:
		shpTileT(out.I64, x.I64, bases, rows, cols, cs)
	case StoreBool:
		shpTileT(out.Bool, x.Bool, bases, rows, cols, cs)
	}
	return true
}

// shpTileT writes dst[b][i][j] = src[bases[b] + i + j*cs] in 32x32 tiles,
// spreading the (batch, row-tile) pairs over goroutines for big inputs.
func shpTileT[T any](dst, src []T, bases []int, rows, cols, cs int) {
	const bs = 32
	rt := (rows + bs - 1) / bs
	shpParallel(len(bases)*rt, len(bases)*rows*cols, func(lo, hi int) {
		for job := lo; job < hi; job++ {
			b, i0 := job/rt, (job%rt)*bs
			base := bases[b]
			d := dst[b*rows*cols : (b+1)*rows*cols]
			i1 := min(i0+bs, rows)
			for j0 := 0; j0 < cols; j0 += bs {
				j1 := min(j0+bs, cols)
				for i := i0; i < i1; i++ {
					row := d[i*cols : i*cols+cols]
					p := base + i + j0*cs
					for j := j0; j < j1; j++ {
						row[j] = src[p]
						p += cs
					}
				}
			}
		}
	})
}

func shpNewTranspose(n *Node) (Op, error) {
	perm := n.AttrInts("perm", nil)
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 1 {
			return nil, fmt.Errorf("missing input")
		}
		if err := shpCheck(in[0], "data"); err != nil {
			return nil, err
		}
		out, err := shpTranspose(in[0], perm)
		if err != nil {
			return nil, err
		}
		return []*Tensor{out}, nil
	}), nil
}

func shpNewConcat(n *Node) (Op, error) {
	if n.Opset < 4 && !n.HasAttr("axis") {
		// Concat-1 defaulted to axis 1.
		return shpConcatOp(1), nil
	}
	if !n.HasAttr("axis") {
		return nil, fmt.Errorf("Concat needs the axis attribute")
	}
	return shpConcatOp(int(n.AttrInt("axis", 0))), nil
}

func shpConcatOp(axis int) Op {
	return OpFunc(func(ctx *Context, in []*Tensor) ([]*Tensor, error) {
		var xs []*Tensor
		for i, t := range in {
			if t == nil {
				continue
			}
			if err := shpCheck(t, fmt.Sprint(i)); err != nil {
				return nil, err
			}
			xs = append(xs, t)
		}
		if len(xs) == 0 {
			return nil, fmt.Errorf("Concat has no inputs")
		}
		first := xs[0]
		r := len(first.Shape)
		a, err := shpAxis(axis, r)
		if err != nil {
			return nil, fmt.Errorf("concat of shape %v: %w", first.Shape, err)
		}
		oshape := append([]int{}, first.Shape...)
		oshape[a] = 0
		for _, t := range xs {
			if t.DType != first.DType {
				return nil, fmt.Errorf("concat inputs have different types %v and %v", first.DType, t.DType)
			}
			if len(t.Shape) != r {
				return nil, fmt.Errorf("concat inputs have different ranks: shapes %v and %v", first.Shape, t.Shape)
			}
			for i, d := range t.Shape {
				if i != a && d != first.Shape[i] {
					return nil, fmt.Errorf("concat on axis %d: shapes %v and %v differ on axis %d", a, first.Shape, t.Shape, i)
				}
			}
			oshape[a] += t.Shape[a]
		}
		var out *Tensor
		if first.DType.Storage() == StoreF32 && shpSizeOK(oshape) == nil {
			out = ctx.arNew(first.DType, oshape...) // the blocks below tile it
		} else {
			var err error
			if out, err = shpNew(first.DType, oshape); err != nil {
				return nil, err
			}
		}
		outer := NumElements(oshape[:a])
		inner := NumElements(oshape[a+1:])
		orow := oshape[a] * inner
		off := 0
		for _, t := range xs {
			blk := t.Shape[a] * inner
			if blk == 0 {
				continue
			}
			for o := 0; o < outer; o++ {
				shpCopy(out, o*orow+off, t, o*blk, blk)
			}
			off += blk
		}
		return []*Tensor{out}, nil
	})
}

// shpSplitOp implements Split.
type shpSplitOp struct {
	axis       int
	split      []int // attribute (opset < 13)
	numOutputs int   // opset 18 attribute, else 0
	nOut       int
}

func shpNewSplit(n *Node) (Op, error) {
	o := &shpSplitOp{axis: int(n.AttrInt("axis", 0)), nOut: len(n.Outputs)}
	if n.Opset < 13 {
		o.split = n.AttrInts("split", nil)
	}
	if n.Opset >= 18 {
		o.numOutputs = int(n.AttrInt("num_outputs", 0))
		if n.HasAttr("num_outputs") && o.numOutputs < 1 {
			return nil, fmt.Errorf("Split: num_outputs %d must be positive", o.numOutputs)
		}
		if o.numOutputs > 0 && o.numOutputs != len(n.Outputs) {
			return nil, fmt.Errorf("Split: num_outputs %d but the node has %d outputs", o.numOutputs, len(n.Outputs))
		}
	}
	if o.split != nil && len(o.split) != o.nOut {
		return nil, fmt.Errorf("Split: split attribute %v has %d entries for %d outputs", o.split, len(o.split), o.nOut)
	}
	if o.nOut < 1 {
		return nil, fmt.Errorf("Split has no outputs")
	}
	return o, nil
}

func (o *shpSplitOp) Run(_ *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("missing input")
	}
	x := in[0]
	if err := shpCheck(x, "input"); err != nil {
		return nil, err
	}
	a, err := shpAxis(o.axis, len(x.Shape))
	if err != nil {
		return nil, fmt.Errorf("split of shape %v: %w", x.Shape, err)
	}
	dim := x.Shape[a]
	split := o.split
	if len(in) > 1 && in[1] != nil && in[1].Len() > 0 {
		if split, err = shpIndexList(in[1], "split"); err != nil {
			return nil, err
		}
	}
	if split == nil {
		k := o.nOut
		chunk := (dim + k - 1) / k
		split = make([]int, k)
		rest := dim
		for i := range split {
			split[i] = min(chunk, rest)
			rest -= split[i]
		}
	}
	if len(split) != o.nOut {
		return nil, fmt.Errorf("split %v has %d entries for %d outputs", split, len(split), o.nOut)
	}
	sum := 0
	for _, s := range split {
		if s < 0 {
			return nil, fmt.Errorf("split %v has a negative size", split)
		}
		sum += s
	}
	if sum != dim {
		return nil, fmt.Errorf("split %v sums to %d, but axis %d of shape %v is %d", split, sum, a, x.Shape, dim)
	}
	outer := NumElements(x.Shape[:a])
	inner := NumElements(x.Shape[a+1:])
	row := dim * inner
	outs := make([]*Tensor, len(split))
	off := 0
	for i, s := range split {
		shape := append([]int{}, x.Shape...)
		shape[a] = s
		blk := s * inner
		if outer == 1 {
			// Splitting the outermost non-unit axis: each part is a
			// contiguous block of the input, shared without copying.
			outs[i] = shpSubView(x, off, shape)
			off += blk
			continue
		}
		t, err := shpNew(x.DType, shape)
		if err != nil {
			return nil, err
		}
		if blk > 0 {
			for j := 0; j < outer; j++ {
				shpCopy(t, j*blk, x, j*row+off, blk)
			}
		}
		off += blk
		outs[i] = t
	}
	return outs, nil
}

// shpSliceOp implements Slice.
type shpSliceOp struct {
	attr               bool // opset 1: starts/ends/axes attributes
	starts, ends, axes []int
}

func shpNewSlice1(n *Node) (Op, error) {
	o := &shpSliceOp{attr: true, starts: n.AttrInts("starts", nil), ends: n.AttrInts("ends", nil), axes: n.AttrInts("axes", nil)}
	if o.starts == nil || o.ends == nil {
		return nil, fmt.Errorf("Slice-1 needs starts and ends attributes")
	}
	return o, nil
}

func shpNewSlice10(n *Node) (Op, error) { return &shpSliceOp{}, nil }

// shpSliceInt64 reads an index tensor keeping int64 so that INT64_MAX and
// INT64_MIN sentinels survive.
func shpSliceInt64(t *Tensor, what string) ([]int64, error) {
	if t.DType.Storage() != StoreI64 {
		return nil, fmt.Errorf("input %s must be an integer tensor, got %v", what, t.DType)
	}
	if err := shpCheck(t, what); err != nil {
		return nil, err
	}
	return t.I64, nil
}

func (o *shpSliceOp) Run(_ *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("missing input")
	}
	x := in[0]
	if err := shpCheck(x, "data"); err != nil {
		return nil, err
	}
	var starts, ends, axes, steps []int64
	if o.attr {
		for _, v := range o.starts {
			starts = append(starts, int64(v))
		}
		for _, v := range o.ends {
			ends = append(ends, int64(v))
		}
		for _, v := range o.axes {
			axes = append(axes, int64(v))
		}
	} else {
		if len(in) < 3 || in[1] == nil || in[2] == nil {
			return nil, fmt.Errorf("Slice needs starts and ends inputs")
		}
		var err error
		if starts, err = shpSliceInt64(in[1], "starts"); err != nil {
			return nil, err
		}
		if ends, err = shpSliceInt64(in[2], "ends"); err != nil {
			return nil, err
		}
		if len(in) > 3 && in[3] != nil {
			if axes, err = shpSliceInt64(in[3], "axes"); err != nil {
				return nil, err
			}
		}
		if len(in) > 4 && in[4] != nil {
			if steps, err = shpSliceInt64(in[4], "steps"); err != nil {
				return nil, err
			}
		}
	}
	if len(starts) != len(ends) {
		return nil, fmt.Errorf("starts %v and ends %v have different lengths", starts, ends)
	}
	if axes != nil && len(axes) != len(starts) {
		return nil, fmt.Errorf("axes %v and starts %v have different lengths", axes, starts)
	}
	if steps != nil && len(steps) != len(starts) {
		return nil, fmt.Errorf("steps %v and starts %v have different lengths", steps, starts)
	}
	r := len(x.Shape)
	oshape := append([]int{}, x.Shape...)
	st := Strides(x.Shape)
	ostr := append([]int{}, st...)
	base := 0
	seen := make([]bool, r)
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
		if seen[ax] {
			return nil, fmt.Errorf("slice axes %v repeat axis %d", axes, ax)
		}
		seen[ax] = true
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
		oshape[ax] = int(cnt)
		if cnt > 0 {
			base += int(s) * st[ax]
		}
		ostr[ax] = st[ax] * int(step)
	}
	if shpContiguous(oshape, ostr) {
		// A contiguous block (e.g. a slice of the leading axis): share it.
		return []*Tensor{shpSubView(x, base, oshape)}, nil
	}
	out, err := shpNew(x.DType, oshape)
	if err != nil {
		return nil, err
	}
	shpStrided(out, x, oshape, ostr, base)
	return []*Tensor{out}, nil
}

// shpExpand broadcasts x to the bidirectional broadcast of its shape and shape.
func shpExpand(x *Tensor, shape []int) (*Tensor, error) {
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("expand shape %v has a negative dimension", shape)
		}
	}
	oshape, err := BroadcastShapes(x.Shape, shape)
	if err != nil {
		return nil, fmt.Errorf("cannot expand input of shape %v to %v: %w", x.Shape, shape, err)
	}
	if SameShape(oshape, x.Shape) {
		return x, nil // nothing to broadcast; ops never modify their inputs
	}
	out, err := shpNew(x.DType, oshape)
	if err != nil {
		return nil, err
	}
	shpStrided(out, x, oshape, BroadcastStrides(x.Shape, oshape), 0)
	return out, nil
}

func shpNewExpand(n *Node) (Op, error) {
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 2 {
			return nil, fmt.Errorf("Expand needs input and shape")
		}
		if err := shpCheck(in[0], "input"); err != nil {
			return nil, err
		}
		shape, err := shpIndexList(in[1], "shape")
		if err != nil {
			return nil, err
		}
		out, err := shpExpand(in[0], shape)
		if err != nil {
			return nil, err
		}
		return []*Tensor{out}, nil
	}), nil
}

func shpNewTile(n *Node) (Op, error) {
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 2 {
			return nil, fmt.Errorf("Tile needs input and repeats")
		}
		x := in[0]
		if err := shpCheck(x, "input"); err != nil {
			return nil, err
		}
		reps, err := shpIndexList(in[1], "repeats")
		if err != nil {
			return nil, err
		}
		r := len(x.Shape)
		if len(reps) != r {
			return nil, fmt.Errorf("repeats %v has %d entries for input shape %v", reps, len(reps), x.Shape)
		}
		st := Strides(x.Shape)
		// View the output as [r0, d0, r1, d1, ...] reading the input with
		// stride 0 along the repeat axes.
		vshape := make([]int, 2*r)
		vstr := make([]int, 2*r)
		oshape := make([]int, r)
		for i, rep := range reps {
			if rep < 0 {
				return nil, fmt.Errorf("repeats %v has a negative entry", reps)
			}
			vshape[2*i] = rep
			vshape[2*i+1] = x.Shape[i]
			vstr[2*i+1] = st[i]
			oshape[i] = rep * x.Shape[i]
		}
		out, err := shpNew(x.DType, oshape)
		if err != nil {
			return nil, err
		}
		shpStrided(out, x, vshape, vstr, 0)
		return []*Tensor{out}, nil
	}), nil
}

func shpNewDepthToSpace(n *Node) (Op, error) {
	bs := int(n.AttrInt("blocksize", 0))
	if bs < 1 {
		return nil, fmt.Errorf("DepthToSpace: blocksize %d must be positive", bs)
	}
	mode := n.AttrString("mode", "DCR")
	if mode != "DCR" && mode != "CRD" {
		return nil, fmt.Errorf("DepthToSpace: unknown mode %q", mode)
	}
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 1 {
			return nil, fmt.Errorf("missing input")
		}
		x := in[0]
		if err := shpCheck(x, "input"); err != nil {
			return nil, err
		}
		if len(x.Shape) != 4 || x.Shape[1]%(bs*bs) != 0 {
			return nil, fmt.Errorf("DepthToSpace needs a 4-D input with channels divisible by %d, got shape %v", bs*bs, x.Shape)
		}
		b, c, h, w := x.Shape[0], x.Shape[1]/(bs*bs), x.Shape[2], x.Shape[3]
		var v *Tensor
		var perm []int
		if mode == "DCR" {
			v = shpView(x, []int{b, bs, bs, c, h, w})
			perm = []int{0, 3, 4, 1, 5, 2}
		} else {
			v = shpView(x, []int{b, c, bs, bs, h, w})
			perm = []int{0, 1, 4, 2, 5, 3}
		}
		t, err := shpTranspose(v, perm)
		if err != nil {
			return nil, err
		}
		return []*Tensor{shpView(t, []int{b, c, h * bs, w * bs})}, nil
	}), nil
}

func shpNewSpaceToDepth(n *Node) (Op, error) {
	bs := int(n.AttrInt("blocksize", 0))
	if bs < 1 {
		return nil, fmt.Errorf("SpaceToDepth: blocksize %d must be positive", bs)
	}
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 1 {
			return nil, fmt.Errorf("missing input")
		}
		x := in[0]
		if err := shpCheck(x, "input"); err != nil {
			return nil, err
		}
		if len(x.Shape) != 4 || x.Shape[2]%bs != 0 || x.Shape[3]%bs != 0 {
			return nil, fmt.Errorf("SpaceToDepth needs a 4-D input with height and width divisible by %d, got shape %v", bs, x.Shape)
		}
		b, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2]/bs, x.Shape[3]/bs
		v := shpView(x, []int{b, c, h, bs, w, bs})
		t, err := shpTranspose(v, []int{0, 3, 5, 1, 2, 4})
		if err != nil {
			return nil, err
		}
		return []*Tensor{shpView(t, []int{b, c * bs * bs, h, w})}, nil
	}), nil
}

func shpNewTrilu(n *Node) (Op, error) {
	upper := n.AttrInt("upper", 1) != 0
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 1 {
			return nil, fmt.Errorf("missing input")
		}
		x := in[0]
		if err := shpCheck(x, "input"); err != nil {
			return nil, err
		}
		if len(x.Shape) < 2 {
			return nil, fmt.Errorf("Trilu needs an input of rank >= 2, got shape %v", x.Shape)
		}
		k := 0
		if len(in) > 1 && in[1] != nil {
			if err := shpOneValue(in[1], "k"); err != nil {
				return nil, err
			}
			k = int(in[1].Int64At(0))
		}
		out := x.Clone()
		r := len(x.Shape)
		rows, cols := x.Shape[r-2], x.Shape[r-1]
		zero := New(x.DType)
		for m := 0; m < out.Len(); m += rows * cols {
			for i := 0; i < rows; i++ {
				for j := 0; j < cols; j++ {
					keep := j-i >= k
					if !upper {
						keep = j-i <= k
					}
					if !keep {
						shpSetFrom(out, m+i*cols+j, zero, 0)
					}
				}
			}
		}
		return []*Tensor{out}, nil
	}), nil
}
