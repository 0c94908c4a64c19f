package nn

import (
	"fmt"
)

// Backward pass of Resize and Upsample. For fixed scales/sizes/roi the
// forward op is linear in X: nearest mode reads one input element per
// output element, linear and cubic modes (with or without antialiasing) are
// a product of 1-D resampling tables. The gradient applies the transpose of
// each table (or scatters back through the nearest maps). The output
// geometry is recomputed from the inputs exactly as the forward op does;
// roi, scales and sizes get nil gradients.

func shgResizeGrad(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	res := make([]*Tensor, len(in))
	if !shgNeed(need, 0) || dOut[0] == nil {
		return res, nil
	}
	x, dy := in[0], dOut[0]
	if err := shgCheck(x, dy, "X"); err != nil {
		return nil, err
	}
	o, ok := n.Op.(*rsOp)
	if !ok {
		return nil, fmt.Errorf("%s node was not built by the standard registry", n.OpType)
	}
	plan, err := o.plan(x, in)
	if err != nil {
		return nil, err
	}
	oshape := make([]int, len(plan))
	for i, p := range plan {
		oshape[i] = p.out
	}
	if !SameShape(oshape, dy.Shape) {
		return nil, fmt.Errorf("gradient of shape %v, the output has shape %v", dy.Shape, oshape)
	}
	if o.mode == rsNearest {
		res[0], err = shgResizeNearestGrad(o, x, dy, plan)
	} else {
		res[0], err = shgResizeInterpGrad(o, x, dy, plan)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

func shgResizeNearestGrad(o *rsOp, x, dy *Tensor, plan []rsAxisPlan) (*Tensor, error) {
	if dy.Len() == 0 {
		return shgZeros(x), nil
	}
	maps := make([][]int, len(plan))
	for a, p := range plan {
		m := make([]int, p.out)
		for i := range m {
			if p.in == p.out && p.scale == 1 && o.coord != "tf_crop_and_resize" {
				m[i] = i
				continue
			}
			xo := o.rsOriginal(i, p)
			if o.coord == "tf_crop_and_resize" && (xo < 0 || xo > float32(p.in-1)) {
				m[i] = -1
				continue
			}
			k := o.rsNearestIndex(xo, p.scale < 1)
			m[i] = min(max(k, 0), p.in-1)
		}
		maps[a] = m
	}
	dx, _, err := shgMappedGrad(x, dy, maps)
	return dx, err
}

func shgResizeInterpGrad(o *rsOp, x, dy *Tensor, plan []rsAxisPlan) (*Tensor, error) {
	if dy.Len() == 0 {
		return shgZeros(x), nil
	}
	cur := dy
	shape := append([]int{}, dy.Shape...)
	for a, p := range plan {
		if p.in == 0 {
			continue
		}
		if p.in == p.out && p.scale == 1 && o.coord != "tf_crop_and_resize" {
			continue
		}
		tab, identity := o.rsWeights(p)
		if identity {
			continue
		}
		nshape := append([]int{}, shape...)
		nshape[a] = p.in
		next := New(x.DType, nshape...)
		outer := NumElements(shape[:a])
		inner := NumElements(shape[a+1:])
		if next.F64 != nil {
			shgResizePassT(next.F64, cur.F64, tab, outer, p.in, p.out, inner)
		} else {
			shgResizePassT(next.F32, cur.F32, tab, outer, p.in, p.out, inner)
		}
		cur, shape = next, nshape
	}
	if !SameShape(shape, x.Shape) {
		return nil, fmt.Errorf("resize gradient ended with shape %v for input shape %v", shape, x.Shape)
	}
	if cur == dy {
		cur = shpView(dy, x.Shape)
	}
	return cur, nil
}

// shgResizePassT is the transpose of rsPass: for the [outer, out, inner]
// gradient g it accumulates dst[o, idx[i,k], :] += w[i,k]·g[o, i, :] into
// the [outer, in, inner] result. Extrapolated outputs contribute nothing.
func shgResizePassT[T float32 | float64](dst, g []T, tab *rsTable, outer, in, out, inner int) {
	n := tab.n
	w := make([]T, len(tab.w))
	for i, v := range tab.w {
		w[i] = T(v)
	}
	shpParallel(outer, outer*out*inner*n, func(lo, hi int) {
		shgResizePassRows(dst, g, tab, w, lo, hi, in, out, inner)
	})
}

func shgResizePassRows[T float32 | float64](dst, g []T, tab *rsTable, w []T, lo, hi, in, out, inner int) {
	n := tab.n
	for o := lo; o < hi; o++ {
		d := dst[o*in*inner : (o+1)*in*inner]
		s := g[o*out*inner : (o+1)*out*inner]
		for i := 0; i < out; i++ {
			if tab.extrap[i] {
				continue
			}
			row := s[i*inner : (i+1)*inner]
			for k, j := range tab.idx[i*n : i*n+n] {
				wk := w[i*n+k]
				if wk == 0 {
					continue
				}
				dr := d[j*inner : (j+1)*inner]
				for q, v := range row {
					dr[q] += wk * v
				}
			}
		}
	}
}
