package nn

import (
	"fmt"
	"math"
)

// cvgPoolSetup validates a pooling backward pass and returns its geometry.
func cvgPoolSetup(n *Node, in, dOut []*Tensor, wantMax bool) (*poolOp, *convGeom, error) {
	p, ok := n.Op.(*poolOp)
	if !ok || p.max != wantMax {
		return nil, nil, fmt.Errorf("%s backward: node op is %T, not the standard pooling op", n.OpType, n.Op)
	}
	if len(in) < 1 || in[0] == nil || len(dOut) < 1 {
		return nil, nil, fmt.Errorf("%s backward: needs input X and the output gradient", p.name)
	}
	x := in[0]
	if x.Rank() < 3 {
		return nil, nil, fmt.Errorf("%s backward: X %v must have rank of at least 3", p.name, ShapeString(x.Shape))
	}
	geo, err := convMakeGeom(&p.attrs, x.Shape[2:], p.attrs.kernel)
	if err != nil {
		return nil, nil, fmt.Errorf("%s backward: X %v: %w", p.name, ShapeString(x.Shape), err)
	}
	if err := cvgCheck(p.name, x, dOut[0], append([]int{x.Shape[0], x.Shape[1]}, geo.outShape()...)); err != nil {
		return nil, nil, err
	}
	return p, geo, nil
}

// cvgMaxPool routes each output gradient to the first maximum of its
// window (the element the forward pass picked). The Indices output has no
// gradient.
func cvgMaxPool(ctx *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	if len(dOut) == 0 || dOut[0] == nil {
		return make([]*Tensor, len(in)), nil // the loss does not depend on Y
	}
	res := make([]*Tensor, len(in))
	if !need[0] {
		return res, nil
	}
	_, geo, err := cvgPoolSetup(n, in, dOut, true)
	if err != nil {
		return nil, err
	}
	x, dy := in[0], dOut[0]
	dx := tmNew(ctx, x.DType, x.Shape...)
	planes := x.Shape[0] * x.Shape[1]
	// The recorded output, when it is there, saves recomputing the maxima.
	var y *Tensor
	if len(out) > 0 && out[0] != nil && out[0].DType == x.DType && SameShape(out[0].Shape, dy.Shape) {
		y = out[0]
	}
	if arg := tmSavedPoolArg(ctx, n, x); arg != nil && len(arg) == dy.Len() && x.F32 != nil {
		cvgMaxPoolBackArg(geo, planes, arg, x.F32, dy.F32, dx.F32)
	} else if x.F32 != nil {
		cvgMaxPoolBack(geo, planes, x.F32, convData[float32](y), dy.F32, dx.F32)
		dx.RoundToDType()
	} else {
		cvgMaxPoolBack(geo, planes, x.F64, convData[float64](y), dy.F64, dx.F64)
	}
	res[0] = dx
	return res, nil
}

// cvgTapRanges returns, per output position along one axis, the kernel
// taps [lo,hi) that land inside the input [0,size).
func cvgTapRanges(n, s, pb, d, k, size int) (lo, hi []int) {
	lo, hi = make([]int, n), make([]int, n)
	for o := 0; o < n; o++ {
		l, h := k, 0
		for t := 0; t < k; t++ {
			if i := o*s - pb + t*d; i >= 0 && i < size {
				l, h = min(l, t), max(h, t+1)
			}
		}
		if l >= h {
			l, h = 0, 0
		}
		lo[o], hi[o] = l, h
	}
	return lo, hi
}

// cvgMaxPoolBack adds each dy to the first maximum of its window (tap
// order kd, kh, kw, as the forward pass picks it). With y (the forward
// output) it works row by row: taps are visited in reverse order and every
// element equal to the maximum claims the position, so the first one in
// forward order wins. Windows left unresolved (NaN, or no y) fall back to
// the comparison scan of the forward pass.
func cvgMaxPoolBack[T float32 | float64](g *convGeom, planes int, x, y, dy, dx []T) {
	iD, iH, iW := g.in[0], g.in[1], g.in[2]
	oD, oH, oW := g.out[0], g.out[1], g.out[2]
	sw := g.s[2]
	dLo, dHi := cvgTapRanges(oD, g.s[0], g.pb[0], g.d[0], g.k[0], iD)
	hLo, hHi := cvgTapRanges(oH, g.s[1], g.pb[1], g.d[1], g.k[1], iH)
	wLo, wHi := cvgTapRanges(oW, sw, g.pb[2], g.d[2], g.k[2], iW)
	if y != nil && iD == 1 && oD == 1 && g.k[0] == 1 {
		cvgMaxPoolBack2D(g, planes, hLo, hHi, wLo, wHi, dLo[0], dHi[0], x, y, dy, dx)
		return
	}
	gemmParallel(planes, func(lo, hi int) {
		idx := make([]int, oW)
		for p := lo; p < hi; p++ {
			xc := x[p*g.inSize:][:g.inSize]
			dxc := dx[p*g.inSize:][:g.inSize]
			dyc := dy[p*g.outSz:][:g.outSz]
			for od := 0; od < oD; od++ {
				for oh := 0; oh < oH; oh++ {
					r := (od*oH + oh) * oW
					dyr := dyc[r:][:oW]
					for i := range idx {
						idx[i] = -1
					}
					if y != nil {
						yr := y[p*g.outSz+r:][:oW]
						for kd := dHi[od] - 1; kd >= dLo[od]; kd-- {
							id := od*g.s[0] - g.pb[0] + kd*g.d[0]
							for kh := hHi[oh] - 1; kh >= hLo[oh]; kh-- {
								ih := oh*g.s[1] - g.pb[1] + kh*g.d[1]
								base := (id*iH + ih) * iW
								xr := xc[base:][:iW]
								for kw := g.k[2] - 1; kw >= 0; kw-- {
									off := kw*g.d[2] - g.pb[2]
									l, h := convValidRange(off, sw, iW, oW)
									iw := l*sw + off
									for ow := l; ow < h; ow++ {
										if xr[iw] == yr[ow] {
											idx[ow] = base + iw
										}
										iw += sw
									}
								}
							}
						}
					}
					for ow, bi := range idx {
						if bi < 0 {
							bi = cvgArgmax(g, xc, od, oh, ow, dLo[od], dHi[od], hLo[oh], hHi[oh], wLo[ow], wHi[ow], iH, iW)
							if bi < 0 {
								continue
							}
						}
						dxc[bi] += dyr[ow]
					}
				}
			}
		}
	})
}

// cvgMaxPoolBack2D is cvgMaxPoolBack for 2-D pooling with the recorded
// output: each window is scanned in forward order up to the first element
// equal to its maximum (the one the forward pass picked); NaN windows fall
// back to the forward comparison scan.
func cvgMaxPoolBack2D[T float32 | float64](g *convGeom, planes int, hLo, hHi, wLo, wHi []int, d0, d1 int, x, y, dy, dx []T) {
	iH, iW := g.in[1], g.in[2]
	oH, oW := g.out[1], g.out[2]
	sh, sw, dh, dw := g.s[1], g.s[2], g.d[1], g.d[2]
	gemmParallel(planes, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xc := x[p*g.inSize:][:g.inSize]
			dxc := dx[p*g.inSize:][:g.inSize]
			yc := y[p*g.outSz:][:g.outSz]
			dyc := dy[p*g.outSz:][:g.outSz]
			for oh := 0; oh < oH; oh++ {
				h0 := oh*sh - g.pb[1]
				yr := yc[oh*oW:][:oW]
				dyr := dyc[oh*oW:][:oW]
				// Full 3×3 windows with unit dilation (every interior
				// window of resnet's stem pooling): the nine positions in
				// forward order, unrolled.
				full := dh == 1 && dw == 1 && g.k[1] == 3 && g.k[2] == 3 && hLo[oh] == 0 && hHi[oh] == 3
				for ow, m := range yr {
					w0 := ow*sw - g.pb[2]
					bi := -1
					if full && wLo[ow] == 0 && wHi[ow] == 3 {
						// The first of the nine equal to the maximum, found
						// without branches (poolArg9).
						r := h0*iW + w0
						w := xc[r : r+2*iW+3]
						k := poolArg9(m, w[:3], w[iW:][:3], w[2*iW:][:3])
						if k != poolArgNone {
							dxc[r+k/3*iW+k%3] += dyr[ow]
							continue
						}
					}
				search:
					for kh := hLo[oh]; kh < hHi[oh]; kh++ {
						r := (h0+kh*dh)*iW + w0
						for kw := wLo[ow]; kw < wHi[ow]; kw++ {
							if xc[r+kw*dw] == m {
								bi = r + kw*dw
								break search
							}
						}
					}
					if bi < 0 {
						if bi = cvgArgmax(g, xc, 0, oh, ow, d0, d1, hLo[oh], hHi[oh], wLo[ow], wHi[ow], iH, iW); bi < 0 {
							continue
						}
					}
					dxc[bi] += dyr[ow]
				}
			}
		}
	})
}

// cvgMaxPoolBackArg adds each dy to the element of its 2-D window that the
// forward pass recorded in arg (window row·3 + column, poolMax3x3s2F32);
// windows recorded as poolArgNone fall back to the forward comparison scan
// of x.
func cvgMaxPoolBackArg(g *convGeom, planes int, arg []uint8, x, dy, dx []float32) {
	iH, iW := g.in[1], g.in[2]
	oH, oW := g.out[1], g.out[2]
	var off [9]int
	for k := range off {
		off[k] = k/3*iW + k%3
	}
	// Tap ranges of the windows, for the NaN ones that fall back to the scan.
	hLo, hHi := cvgTapRanges(oH, g.s[1], g.pb[1], g.d[1], g.k[1], iH)
	wLo, wHi := cvgTapRanges(oW, g.s[2], g.pb[2], g.d[2], g.k[2], iW)
	gemmParallel(planes, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			dxc := dx[p*g.inSize:][:g.inSize]
			for oh := 0; oh < oH; oh++ {
				h0 := oh*g.s[1] - g.pb[1]
				r := p*g.outSz + oh*oW
				ar, dyr := arg[r:][:oW], dy[r:][:oW]
				for ow, k := range ar {
					if k < 9 {
						dxc[h0*iW+ow*g.s[2]-g.pb[2]+off[k]] += dyr[ow]
						continue
					}
					if bi := cvgArgmax(g, x[p*g.inSize:][:g.inSize], 0, oh, ow, 0, 1, hLo[oh], hHi[oh], wLo[ow], wHi[ow], iH, iW); bi >= 0 {
						dxc[bi] += dyr[ow]
					}
				}
			}
		}
	})
}

// cvgArgmax returns the plane offset of the window element the forward
// pass picks (first strictly greater, NaN wins), -1 for an empty window.
func cvgArgmax[T float32 | float64](g *convGeom, xc []T, od, oh, ow, d0, d1, h0, h1, w0, w1, iH, iW int) int {
	var best T
	bi := -1
	for kd := d0; kd < d1; kd++ {
		id := od*g.s[0] - g.pb[0] + kd*g.d[0]
		for kh := h0; kh < h1; kh++ {
			ih := oh*g.s[1] - g.pb[1] + kh*g.d[1]
			base := (id*iH+ih)*iW + ow*g.s[2] - g.pb[2]
			for kw := w0; kw < w1; kw++ {
				v := xc[base+kw*g.d[2]]
				if bi < 0 || v > best || v != v && best == best {
					best, bi = v, base+kw*g.d[2]
				}
			}
		}
	}
	return bi
}

// cvgAvgPool spreads each output gradient evenly over the input elements
// of its window, dividing by the count the forward pass used
// (count_include_pad decides whether padding counts).
func cvgAvgPool(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	if len(dOut) == 0 || dOut[0] == nil {
		return make([]*Tensor, len(in)), nil // the loss does not depend on Y
	}
	res := make([]*Tensor, len(in))
	if !need[0] {
		return res, nil
	}
	p, geo, err := cvgPoolSetup(n, in, dOut, false)
	if err != nil {
		return nil, err
	}
	x, dy := in[0], dOut[0]
	dx := New(x.DType, x.Shape...)
	planes := x.Shape[0] * x.Shape[1]
	if x.F32 != nil {
		cvgAvgPoolBack(geo, planes, p.includePad, dy.F32, dx.F32)
		dx.RoundToDType()
	} else {
		cvgAvgPoolBack(geo, planes, p.includePad, dy.F64, dx.F64)
	}
	res[0] = dx
	return res, nil
}

// cvgTapCount returns the number of kernel taps of output position o along
// one axis that land inside [lo,hi) (the counting range of the average).
func cvgTapCount(o, s, pb, d, k, lo, hi int) int {
	c := 0
	for t := 0; t < k; t++ {
		i := o*s - pb + t*d
		if i >= lo && i < hi {
			c++
		}
	}
	return c
}

func cvgAvgPoolBack[T float32 | float64](g *convGeom, planes int, includePad bool, dy, dx []T) {
	iD, iH, iW := g.in[0], g.in[1], g.in[2]
	oD, oH, oW := g.out[0], g.out[1], g.out[2]
	var lo, hi [3]int
	for j := 0; j < 3; j++ {
		lo[j], hi[j] = 0, g.in[j]
		if includePad {
			lo[j], hi[j] = -g.pb[j], g.in[j]+g.pe[j]
		}
	}
	// Per-axis counts, so the count of a window is a product.
	var cnt [3][]int
	for j := 0; j < 3; j++ {
		cnt[j] = make([]int, g.out[j])
		for o := range cnt[j] {
			cnt[j][o] = cvgTapCount(o, g.s[j], g.pb[j], g.d[j], g.k[j], lo[j], hi[j])
		}
	}
	gemmParallel(planes, func(plo, phi int) {
		for p := plo; p < phi; p++ {
			dxc := dx[p*g.inSize:][:g.inSize]
			dyc := dy[p*g.outSz:][:g.outSz]
			o := 0
			for od := 0; od < oD; od++ {
				for oh := 0; oh < oH; oh++ {
					for ow := 0; ow < oW; ow++ {
						c := cnt[0][od] * cnt[1][oh] * cnt[2][ow]
						if c == 0 {
							o++
							continue
						}
						v := dyc[o] / T(c)
						o++
						for kd := 0; kd < g.k[0]; kd++ {
							id := od*g.s[0] - g.pb[0] + kd*g.d[0]
							if id < 0 || id >= iD {
								continue
							}
							for kh := 0; kh < g.k[1]; kh++ {
								ih := oh*g.s[1] - g.pb[1] + kh*g.d[1]
								if ih < 0 || ih >= iH {
									continue
								}
								row := dxc[(id*iH+ih)*iW:][:iW]
								for kw := 0; kw < g.k[2]; kw++ {
									iw := ow*g.s[2] - g.pb[2] + kw*g.d[2]
									if iw < 0 || iw >= iW {
										continue
									}
									row[iw] += v
								}
							}
						}
					}
				}
			}
		}
	})
}

// cvgGlobalPool returns the backward pass of GlobalAveragePool (dy/size
// everywhere) or GlobalMaxPool (dy to the first maximum of each plane).
func cvgGlobalPool(isMax bool) GradFunc {
	name := "GlobalAveragePool"
	if isMax {
		name = "GlobalMaxPool"
	}
	return func(ctx *Context, _ *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
		if len(dOut) == 0 || dOut[0] == nil {
			return make([]*Tensor, len(in)), nil // the loss does not depend on Y
		}
		res := make([]*Tensor, len(in))
		if !need[0] {
			return res, nil
		}
		if len(in) < 1 || in[0] == nil || len(dOut) < 1 {
			return nil, fmt.Errorf("%s backward: needs input X and the output gradient", name)
		}
		x := in[0]
		if x.Rank() < 2 {
			return nil, fmt.Errorf("%s backward: X %v must have rank of at least 2", name, ShapeString(x.Shape))
		}
		shape := []int{x.Shape[0], x.Shape[1]}
		for range x.Shape[2:] {
			shape = append(shape, 1)
		}
		if err := cvgCheck(name, x, dOut[0], shape); err != nil {
			return nil, err
		}
		planes := x.Shape[0] * x.Shape[1]
		size := NumElements(x.Shape[2:])
		dx := tmNew(ctx, x.DType, x.Shape...)
		if x.F32 != nil {
			cvgGlobalBack(isMax, planes, size, x.F32, dOut[0].F32, dx.F32)
			dx.RoundToDType()
		} else {
			cvgGlobalBack(isMax, planes, size, x.F64, dOut[0].F64, dx.F64)
		}
		res[0] = dx
		return res, nil
	}
}

func cvgGlobalBack[T float32 | float64](isMax bool, planes, size int, x, dy, dx []T) {
	if size == 0 {
		return
	}
	gemmParallel(planes, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			dxs := dx[p*size : (p+1)*size]
			if !isMax {
				v := T(float64(dy[p]) / float64(size))
				for i := range dxs {
					dxs[i] = v
				}
				continue
			}
			// Same selection as the forward pass: strictly greater, or NaN.
			xs := x[p*size : (p+1)*size]
			m, bi := xs[0], 0
			for i, v := range xs[1:] {
				if v > m || v != v {
					m, bi = v, i+1
				}
			}
			dxs[bi] = dy[p]
		}
	})
}

// cvgLRN: y_c = x_c·D_c^-β with D_c = bias + α/size·Σ_{j∈win(c)} x_j², so
// dx_j = dy_j·D_j^-β − 2αβ/size·x_j·Σ_{c: j∈win(c)} dy_c·x_c·D_c^(-β-1).
func cvgLRN(_ *Context, n *Node, in, _, dOut []*Tensor, need []bool) ([]*Tensor, error) {
	if len(dOut) == 0 || dOut[0] == nil {
		return make([]*Tensor, len(in)), nil // the loss does not depend on Y
	}
	res := make([]*Tensor, len(in))
	if !need[0] {
		return res, nil
	}
	l, ok := n.Op.(*poolLRN)
	if !ok {
		return nil, fmt.Errorf("LRN backward: node op is %T, not the standard LRN", n.Op)
	}
	if len(in) < 1 || in[0] == nil || len(dOut) < 1 {
		return nil, fmt.Errorf("LRN backward: needs input X and the output gradient")
	}
	x := in[0]
	if x.Rank() < 2 {
		return nil, fmt.Errorf("LRN backward: X %v must have rank of at least 2", ShapeString(x.Shape))
	}
	if err := cvgCheck("LRN", x, dOut[0], x.Shape); err != nil {
		return nil, err
	}
	N, C := x.Shape[0], x.Shape[1]
	S := NumElements(x.Shape[2:])
	dx := New(x.DType, x.Shape...)
	if x.F32 != nil {
		cvgLRNBack(l, N, C, S, x.F32, dOut[0].F32, dx.F32)
		dx.RoundToDType()
	} else {
		cvgLRNBack(l, N, C, S, x.F64, dOut[0].F64, dx.F64)
	}
	res[0] = dx
	return res, nil
}

func cvgLRNBack[T float32 | float64](l *poolLRN, N, C, S int, x, dy, dx []T) {
	before := (l.size - 1) / 2
	after := l.size - 1 - before
	scale := l.alpha / float64(l.size)
	gemmParallel(N, func(lo, hi int) {
		// Per sample: D_c^-β and q_c = dy_c·x_c·D_c^(-β-1), one
		// spatial position at a time across channels.
		pw := make([]float64, C) // D_c^-β
		q := make([]float64, C)
		for n := lo; n < hi; n++ {
			base := n * C * S
			for s := 0; s < S; s++ {
				for c := 0; c < C; c++ {
					c0, c1 := max(c-before, 0), min(c+after, C-1)
					var sq float64
					for cc := c0; cc <= c1; cc++ {
						v := float64(x[base+cc*S+s])
						sq += v * v
					}
					dc := l.bias + scale*sq
					pw[c] = math.Pow(dc, -l.beta)
					i := base + c*S + s
					q[c] = float64(dy[i]) * float64(x[i]) * pw[c] / dc
				}
				for j := 0; j < C; j++ {
					// Channels c whose window holds j: c-before <= j <= c+after.
					c0, c1 := max(j-after, 0), min(j+before, C-1)
					var sum float64
					for c := c0; c <= c1; c++ {
						sum += q[c]
					}
					i := base + j*S + s
					dx[i] = T(float64(dy[i])*pw[j] - 2*scale*l.beta*float64(x[i])*sum)
				}
			}
		}
	})
}
