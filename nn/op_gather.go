package nn

import (
	"fmt"
)

// Gather, GatherElements, ScatterND and ScatterElements.

func shpNewGather(n *Node) (Op, error) {
	axis := int(n.AttrInt("axis", 0))
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 2 {
			return nil, fmt.Errorf("Gather needs data and indices")
		}
		x := in[0]
		if err := shpCheck(x, "data"); err != nil {
			return nil, err
		}
		idx, err := shpIndexList(in[1], "indices")
		if err != nil {
			return nil, err
		}
		a, err := shpAxis(axis, len(x.Shape))
		if err != nil || len(x.Shape) == 0 {
			return nil, fmt.Errorf("gather axis %d is out of range for data shape %v", axis, x.Shape)
		}
		dim := x.Shape[a]
		for i, v := range idx {
			if v < -dim || v >= dim {
				return nil, fmt.Errorf("gather index %d is out of range for axis %d of data shape %v", v, a, x.Shape)
			}
			if v < 0 {
				idx[i] = v + dim
			}
		}
		oshape := append(append(append([]int{}, x.Shape[:a]...), in[1].Shape...), x.Shape[a+1:]...)
		out, err := shpNew(x.DType, oshape)
		if err != nil {
			return nil, err
		}
		outer := NumElements(x.Shape[:a])
		inner := NumElements(x.Shape[a+1:])
		switch x.DType.Storage() {
		case StoreF32:
			shpGatherK(out.F32, x.F32, idx, outer, dim, inner)
		case StoreF64:
			shpGatherK(out.F64, x.F64, idx, outer, dim, inner)
		case StoreI64:
			shpGatherK(out.I64, x.I64, idx, outer, dim, inner)
		case StoreBool:
			shpGatherK(out.Bool, x.Bool, idx, outer, dim, inner)
		}
		return []*Tensor{out}, nil
	}), nil
}

func shpGatherK[T any](dst, src []T, idx []int, outer, dim, inner int) {
	if inner == 0 {
		return
	}
	p := 0
	for o := 0; o < outer; o++ {
		s := src[o*dim*inner:]
		if inner == 1 {
			for _, k := range idx {
				dst[p] = s[k]
				p++
			}
			continue
		}
		for _, k := range idx {
			copy(dst[p:p+inner], s[k*inner:k*inner+inner])
			p += inner
		}
	}
}

// shpElemIndex maps every element of an indices tensor of shape ishape,
// used on axis of data shape dshape, to a flat data offset.
func shpElemIndex(dshape, ishape []int, idx []int, axis int, what string) ([]int, error) {
	if len(ishape) != len(dshape) {
		return nil, fmt.Errorf("%s shape %v and data shape %v have different ranks", what, ishape, dshape)
	}
	dst := Strides(dshape)
	dim := dshape[axis]
	r := len(ishape)
	coord := make([]int, r)
	off := make([]int, len(idx))
	for i, v := range idx {
		if v < -dim || v >= dim {
			return nil, fmt.Errorf("%s value %d is out of range for axis %d of data shape %v", what, v, axis, dshape)
		}
		if v < 0 {
			v += dim
		}
		o := 0
		for a := 0; a < r; a++ {
			c := coord[a]
			if a == axis {
				c = v
			} else if c >= dshape[a] {
				return nil, fmt.Errorf("%s shape %v exceeds data shape %v on axis %d", what, ishape, dshape, a)
			}
			o += c * dst[a]
		}
		off[i] = o
		for a := r - 1; a >= 0; a-- {
			coord[a]++
			if coord[a] < ishape[a] {
				break
			}
			coord[a] = 0
		}
	}
	return off, nil
}

func shpNewGatherElements(n *Node) (Op, error) {
	axis := int(n.AttrInt("axis", 0))
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 2 {
			return nil, fmt.Errorf("GatherElements needs data and indices")
		}
		x := in[0]
		if err := shpCheck(x, "data"); err != nil {
			return nil, err
		}
		idx, err := shpIndexList(in[1], "indices")
		if err != nil {
			return nil, err
		}
		a, err := shpAxis(axis, len(x.Shape))
		if err != nil || len(x.Shape) == 0 {
			return nil, fmt.Errorf("axis %d is out of range for data shape %v", axis, x.Shape)
		}
		off, err := shpElemIndex(x.Shape, in[1].Shape, idx, a, "indices")
		if err != nil {
			return nil, err
		}
		out, err := shpNew(x.DType, in[1].Shape)
		if err != nil {
			return nil, err
		}
		switch x.DType.Storage() {
		case StoreF32:
			shpTakeK(out.F32, x.F32, off)
		case StoreF64:
			shpTakeK(out.F64, x.F64, off)
		case StoreI64:
			shpTakeK(out.I64, x.I64, off)
		case StoreBool:
			shpTakeK(out.Bool, x.Bool, off)
		}
		return []*Tensor{out}, nil
	}), nil
}

func shpTakeK[T any](dst, src []T, off []int) {
	for i, o := range off {
		dst[i] = src[o]
	}
}

// shpReduction is a scatter reduction mode.
type shpReduction int

const (
	shpRedNone shpReduction = iota
	shpRedAdd
	shpRedMul
	shpRedMax
	shpRedMin
)

func shpParseReduction(n *Node) (shpReduction, error) {
	switch s := n.AttrString("reduction", "none"); s {
	case "none":
		return shpRedNone, nil
	case "add":
		return shpRedAdd, nil
	case "mul":
		return shpRedMul, nil
	case "max":
		return shpRedMax, nil
	case "min":
		return shpRedMin, nil
	default:
		return 0, fmt.Errorf("unknown reduction %q", s)
	}
}

// shpScatter writes updates[i] into out[off[i]] with the reduction.
func shpScatter(out, upd *Tensor, off []int, inner int, red shpReduction) {
	switch out.DType.Storage() {
	case StoreF32:
		shpScatterNum(out.F32, upd.F32, off, inner, red)
		out.RoundToDType()
	case StoreF64:
		shpScatterNum(out.F64, upd.F64, off, inner, red)
	case StoreI64:
		if out.DType == Uint64 && (red == shpRedMax || red == shpRedMin) {
			shpScatterU64(out.I64, upd.I64, off, inner, red)
		} else {
			shpScatterNum(out.I64, upd.I64, off, inner, red)
		}
		for i, v := range out.I64 {
			out.I64[i] = out.DType.WrapInt(v)
		}
	case StoreBool:
		d, u := out.Bool, upd.Bool
		for i, o := range off {
			for j := 0; j < inner; j++ {
				v := u[i*inner+j]
				switch red {
				case shpRedNone:
					d[o+j] = v
				case shpRedAdd, shpRedMax:
					d[o+j] = d[o+j] || v
				case shpRedMul, shpRedMin:
					d[o+j] = d[o+j] && v
				}
			}
		}
	}
}

func shpScatterNum[T float32 | float64 | int64](d, u []T, off []int, inner int, red shpReduction) {
	for i, o := range off {
		dd := d[o : o+inner]
		uu := u[i*inner : i*inner+inner]
		switch red {
		case shpRedNone:
			copy(dd, uu)
		case shpRedAdd:
			for j, v := range uu {
				dd[j] += v
			}
		case shpRedMul:
			for j, v := range uu {
				dd[j] *= v
			}
		case shpRedMax:
			for j, v := range uu {
				dd[j] = max(dd[j], v)
			}
		case shpRedMin:
			for j, v := range uu {
				dd[j] = min(dd[j], v)
			}
		}
	}
}

func shpScatterU64(d, u []int64, off []int, inner int, red shpReduction) {
	for i, o := range off {
		for j := 0; j < inner; j++ {
			a, b := uint64(d[o+j]), uint64(u[i*inner+j])
			if (red == shpRedMax && b > a) || (red == shpRedMin && b < a) {
				d[o+j] = int64(b)
			}
		}
	}
}

func shpNewScatterND(n *Node) (Op, error) {
	red, err := shpParseReduction(n)
	if err != nil {
		return nil, err
	}
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 3 {
			return nil, fmt.Errorf("ScatterND needs data, indices and updates")
		}
		x, upd := in[0], in[2]
		if err := shpCheck(x, "data"); err != nil {
			return nil, err
		}
		if err := shpCheck(upd, "updates"); err != nil {
			return nil, err
		}
		if upd.DType != x.DType {
			return nil, fmt.Errorf("updates type %v differs from data type %v", upd.DType, x.DType)
		}
		idx, err := shpIndexList(in[1], "indices")
		if err != nil {
			return nil, err
		}
		ish := in[1].Shape
		if len(ish) == 0 {
			return nil, fmt.Errorf("indices must have rank >= 1")
		}
		k := ish[len(ish)-1]
		if k > len(x.Shape) {
			return nil, fmt.Errorf("indices last dimension %d exceeds data rank %d", k, len(x.Shape))
		}
		want := append(append([]int{}, ish[:len(ish)-1]...), x.Shape[k:]...)
		if !SameShape(want, upd.Shape) {
			return nil, fmt.Errorf("updates shape %v should be %v for data %v and indices %v", upd.Shape, want, x.Shape, ish)
		}
		inner := NumElements(x.Shape[k:])
		st := Strides(x.Shape)
		cnt := NumElements(ish[:len(ish)-1])
		off := make([]int, cnt)
		for i := 0; i < cnt; i++ {
			o := 0
			for j := 0; j < k; j++ {
				v := idx[i*k+j]
				d := x.Shape[j]
				if v < -d || v >= d {
					return nil, fmt.Errorf("index %d is out of range for axis %d of data shape %v", v, j, x.Shape)
				}
				if v < 0 {
					v += d
				}
				o += v * st[j]
			}
			off[i] = o
		}
		out := x.Clone()
		if inner > 0 {
			shpScatter(out, upd, off, inner, red)
		}
		return []*Tensor{out}, nil
	}), nil
}

func shpNewScatterElements(n *Node) (Op, error) {
	red, err := shpParseReduction(n)
	if err != nil {
		return nil, err
	}
	axis := int(n.AttrInt("axis", 0))
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 3 {
			return nil, fmt.Errorf("ScatterElements needs data, indices and updates")
		}
		x, upd := in[0], in[2]
		if err := shpCheck(x, "data"); err != nil {
			return nil, err
		}
		if err := shpCheck(upd, "updates"); err != nil {
			return nil, err
		}
		if upd.DType != x.DType {
			return nil, fmt.Errorf("updates type %v differs from data type %v", upd.DType, x.DType)
		}
		idx, err := shpIndexList(in[1], "indices")
		if err != nil {
			return nil, err
		}
		if !SameShape(in[1].Shape, upd.Shape) {
			return nil, fmt.Errorf("indices shape %v and updates shape %v differ", in[1].Shape, upd.Shape)
		}
		a, err := shpAxis(axis, len(x.Shape))
		if err != nil || len(x.Shape) == 0 {
			return nil, fmt.Errorf("axis %d is out of range for data shape %v", axis, x.Shape)
		}
		off, err := shpElemIndex(x.Shape, in[1].Shape, idx, a, "indices")
		if err != nil {
			return nil, err
		}
		out := x.Clone()
		shpScatter(out, upd, off, 1, red)
		return []*Tensor{out}, nil
	}), nil
}

func shpNewGatherND(n *Node) (Op, error) {
	bd := int(n.AttrInt("batch_dims", 0))
	if bd < 0 {
		return nil, fmt.Errorf("GatherND: batch_dims %d must be >= 0", bd)
	}
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 2 {
			return nil, fmt.Errorf("GatherND needs data and indices")
		}
		x := in[0]
		if err := shpCheck(x, "data"); err != nil {
			return nil, err
		}
		idx, err := shpIndexList(in[1], "indices")
		if err != nil {
			return nil, err
		}
		ish := in[1].Shape
		r, q := len(x.Shape), len(ish)
		if q < 1 || bd >= q || bd >= r {
			return nil, fmt.Errorf("batch_dims %d is invalid for data shape %v and indices shape %v", bd, x.Shape, ish)
		}
		for i := 0; i < bd; i++ {
			if x.Shape[i] != ish[i] {
				return nil, fmt.Errorf("data shape %v and indices shape %v differ in batch dimension %d", x.Shape, ish, i)
			}
		}
		k := ish[q-1]
		if k < 1 || bd+k > r {
			return nil, fmt.Errorf("indices last dimension %d is invalid for data shape %v with batch_dims %d", k, x.Shape, bd)
		}
		oshape := append(append([]int{}, ish[:q-1]...), x.Shape[bd+k:]...)
		out, err := shpNew(x.DType, oshape)
		if err != nil {
			return nil, err
		}
		inner := NumElements(x.Shape[bd+k:])
		nb := NumElements(x.Shape[:bd])
		batchStride := NumElements(x.Shape[bd:])
		perBatch := NumElements(ish[bd : q-1])
		st := Strides(x.Shape)
		p := 0
		for b := 0; b < nb; b++ {
			for t := 0; t < perBatch; t++ {
				tuple := idx[(b*perBatch+t)*k : (b*perBatch+t+1)*k]
				off := b * batchStride
				for j, v := range tuple {
					d := x.Shape[bd+j]
					if v < -d || v >= d {
						return nil, fmt.Errorf("index %d is out of range for axis %d of data shape %v", v, bd+j, x.Shape)
					}
					if v < 0 {
						v += d
					}
					off += v * st[bd+j]
				}
				if inner > 0 {
					shpCopy(out, p, x, off, inner)
				}
				p += inner
			}
		}
		return []*Tensor{out}, nil
	}), nil
}
