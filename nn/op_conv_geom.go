package nn

import (
	"fmt"
)

// convAttrs are the spatial attributes shared by Conv, ConvTranspose and
// the pooling ops, as read at import.
type convAttrs struct {
	autoPad   string
	kernel    []int // kernel_shape attribute (nil when absent)
	strides   []int
	dilations []int
	pads      []int
	ceilMode  bool
}

func convReadAttrs(n *Node) (convAttrs, error) {
	a := convAttrs{
		autoPad:   n.AttrString("auto_pad", "NOTSET"),
		kernel:    n.AttrInts("kernel_shape", nil),
		strides:   n.AttrInts("strides", nil),
		dilations: n.AttrInts("dilations", nil),
		pads:      n.AttrInts("pads", nil),
		ceilMode:  n.AttrInt("ceil_mode", 0) != 0,
	}
	switch a.autoPad {
	case "", "NOTSET":
		a.autoPad = "NOTSET"
	case "SAME_UPPER", "SAME_LOWER", "VALID":
	default:
		return a, fmt.Errorf("unknown auto_pad %q", a.autoPad)
	}
	for _, v := range a.strides {
		if v < 1 {
			return a, fmt.Errorf("strides %v must be positive", a.strides)
		}
	}
	for _, v := range a.dilations {
		if v < 1 {
			return a, fmt.Errorf("dilations %v must be positive", a.dilations)
		}
	}
	for _, v := range a.kernel {
		if v < 1 {
			return a, fmt.Errorf("kernel_shape %v must be positive", a.kernel)
		}
	}
	for _, v := range a.pads {
		if v < 0 {
			return a, fmt.Errorf("pads %v must not be negative", a.pads)
		}
	}
	return a, nil
}

// convGeom is the geometry of one sliding-window op, normalised to three
// spatial dimensions (leading unit dimensions added for 1-D and 2-D).
type convGeom struct {
	rank                 int // original number of spatial dims
	in, k, s, d, pb, pe  [3]int
	out                  [3]int
	inSize, kSize, outSz int
	// act, when set, clamps every output to [actLo, actHi] as soon as it
	// is computed (a Relu or Clip fused into the convolution at inference).
	act          bool
	actLo, actHi float64
	// packs, when set (plain inference), keeps the packed weights.
	packs *packCache
}

// convEpilogue applies g's fused activation, if any, to outputs s.
func convEpilogue[T float32 | float64](g *convGeom, s []T) {
	if !g.act {
		return
	}
	if f, ok := any(s).([]float32); ok {
		pfClampF32(f, f, float32(g.actLo), float32(g.actHi))
		return
	}
	lo, hi := T(g.actLo), T(g.actHi)
	for i, v := range s {
		s[i] = min(max(v, lo), hi)
	}
}

// convMakeGeom computes output sizes and effective pads for a forward
// window op (Conv, pooling) over the spatial shape in with kernel k.
func convMakeGeom(a *convAttrs, in, k []int) (*convGeom, error) {
	r := len(in)
	if r < 1 || r > 3 {
		return nil, fmt.Errorf("%d spatial dimensions (supported: 1 to 3)", r)
	}
	if len(k) != r {
		return nil, fmt.Errorf("kernel shape %v does not match %d spatial dimensions", k, r)
	}
	if a.strides != nil && len(a.strides) != r {
		return nil, fmt.Errorf("strides %v do not match %d spatial dimensions", a.strides, r)
	}
	if a.dilations != nil && len(a.dilations) != r {
		return nil, fmt.Errorf("dilations %v do not match %d spatial dimensions", a.dilations, r)
	}
	if a.pads != nil && len(a.pads) != 2*r {
		return nil, fmt.Errorf("pads %v do not match %d spatial dimensions", a.pads, r)
	}
	g := &convGeom{rank: r}
	off := 3 - r
	for i := 0; i < 3; i++ {
		g.in[i], g.k[i], g.s[i], g.d[i], g.out[i] = 1, 1, 1, 1, 1
	}
	for i := 0; i < r; i++ {
		j := off + i
		g.in[j], g.k[j] = in[i], k[i]
		if a.strides != nil {
			g.s[j] = a.strides[i]
		}
		if a.dilations != nil {
			g.d[j] = a.dilations[i]
		}
		ek := (g.k[j]-1)*g.d[j] + 1
		switch a.autoPad {
		case "NOTSET":
			if a.pads != nil {
				g.pb[j], g.pe[j] = a.pads[i], a.pads[i+r]
			}
			span := g.in[j] + g.pb[j] + g.pe[j] - ek
			if span < 0 {
				return nil, fmt.Errorf("input %v with pads %v is smaller than the dilated kernel %v", in, a.pads, k)
			}
			if a.ceilMode {
				o := (span+g.s[j]-1)/g.s[j] + 1
				// The last window must start inside the input or the begin padding.
				if (o-1)*g.s[j] >= g.in[j]+g.pb[j] {
					o--
				}
				g.out[j] = o
			} else {
				g.out[j] = span/g.s[j] + 1
			}
		case "VALID":
			span := g.in[j] - ek
			if span < 0 {
				return nil, fmt.Errorf("input %v is smaller than the dilated kernel %v", in, k)
			}
			if a.ceilMode {
				g.out[j] = (span+g.s[j]-1)/g.s[j] + 1
			} else {
				g.out[j] = span/g.s[j] + 1
			}
		default: // SAME_UPPER, SAME_LOWER
			o := (g.in[j] + g.s[j] - 1) / g.s[j]
			total := (o-1)*g.s[j] + ek - g.in[j]
			if total < 0 {
				total = 0
			}
			if a.autoPad == "SAME_UPPER" {
				g.pb[j] = total / 2
			} else {
				g.pb[j] = total - total/2
			}
			g.pe[j] = total - g.pb[j]
			g.out[j] = o
		}
	}
	g.sizes()
	return g, nil
}

func (g *convGeom) sizes() {
	g.inSize = g.in[0] * g.in[1] * g.in[2]
	g.kSize = g.k[0] * g.k[1] * g.k[2]
	g.outSz = g.out[0] * g.out[1] * g.out[2]
}

// outShape returns the original-rank spatial output shape.
func (g *convGeom) outShape() []int {
	return append([]int{}, g.out[3-g.rank:]...)
}

// convIm2col fills col ([C*kSize, outSz]) from x ([C, inSize]) for channels
// [c0,c1). Positions in the padding read as zero.
func convIm2col[T float32 | float64](g *convGeom, x []T, col []T, c0, c1 int) {
	convIm2colLd(g, x, col, g.outSz, c0, c1)
}

// convIm2colLd is convIm2col writing row r of the column matrix at
// col[r*ld:], so that several samples' columns can sit side by side in one
// matrix of row length ld.
func convIm2colLd[T float32 | float64](g *convGeom, x []T, col []T, ld, c0, c1 int) {
	if convIm2colSmallOK(g) {
		convIm2colSmall(g, x, col, ld, c0, c1)
		return
	}
	convIm2colGeneral(g, x, col, ld, c0, c1)
}

// convIm2colGeneral is convIm2colLd for every geometry.
func convIm2colGeneral[T float32 | float64](g *convGeom, x []T, col []T, ld, c0, c1 int) {
	oD, oH, oW := g.out[0], g.out[1], g.out[2]
	iD, iH, iW := g.in[0], g.in[1], g.in[2]
	for c := c0; c < c1; c++ {
		xc := x[c*g.inSize : (c+1)*g.inSize]
		r := c * g.kSize
		for kd := 0; kd < g.k[0]; kd++ {
			for kh := 0; kh < g.k[1]; kh++ {
				for kw := 0; kw < g.k[2]; kw++ {
					row := col[r*ld : r*ld+g.outSz]
					r++
					// Valid ow range: 0 <= ow*sw - pl + kw*dw < iW.
					wOff := kw*g.d[2] - g.pb[2]
					owLo, owHi := convValidRange(wOff, g.s[2], iW, oW)
					p := 0
					for od := 0; od < oD; od++ {
						id := od*g.s[0] - g.pb[0] + kd*g.d[0]
						for oh := 0; oh < oH; oh++ {
							ih := oh*g.s[1] - g.pb[1] + kh*g.d[1]
							seg := row[p : p+oW]
							p += oW
							if id < 0 || id >= iD || ih < 0 || ih >= iH || owLo >= owHi {
								clear(seg)
								continue
							}
							xr := xc[(id*iH+ih)*iW:]
							clear(seg[:owLo])
							clear(seg[owHi:])
							if g.s[2] == 1 {
								copy(seg[owLo:owHi], xr[owLo+wOff:owHi+wOff])
							} else {
								sw := g.s[2]
								iw := owLo*sw + wOff
								for ow := owLo; ow < owHi; ow++ {
									seg[ow] = xr[iw]
									iw += sw
								}
							}
						}
					}
				}
			}
		}
	}
}

// convIm2colSmallOK reports whether convIm2colSmall handles g: 2-D,
// stride 1, no dilation, narrow outputs (at most 16 wide), where the
// general version spends its time on bounds and tiny copies.
func convIm2colSmallOK(g *convGeom) bool {
	return g.in[0] == 1 && g.k[0] == 1 && g.s == [3]int{1, 1, 1} && g.d == [3]int{1, 1, 1} &&
		g.out[2] <= 16 && (g.in[1]+g.pb[1]+g.pe[1])*(g.in[2]+g.pb[2]+g.pe[2]) <= 1024
}

// convIm2colSmall is convIm2colLd for convIm2colSmallOK geometries: each
// channel is zero-padded once into a small plane, from which every row of
// the column matrix is gathered without bounds checks per position.
func convIm2colSmall[T float32 | float64](g *convGeom, x []T, col []T, ld, c0, c1 int) {
	iH, iW := g.in[1], g.in[2]
	oH, oW := g.out[1], g.out[2]
	kH, kW := g.k[1], g.k[2]
	Wp := iW + g.pb[2] + g.pe[2]
	Hp := iH + g.pb[1] + g.pe[1]
	var pad [1024]T
	p := pad[:Hp*Wp]
	clear(p)
	for c := c0; c < c1; c++ {
		xc := x[c*g.inSize : (c+1)*g.inSize]
		for ih := 0; ih < iH; ih++ {
			copy(p[(ih+g.pb[1])*Wp+g.pb[2]:][:iW], xc[ih*iW:][:iW])
		}
		r := c * g.kSize
		for kh := 0; kh < kH; kh++ {
			for kw := 0; kw < kW; kw++ {
				row := col[r*ld : r*ld+oH*oW]
				r++
				for oh := 0; oh < oH; oh++ {
					src := p[(oh+kh)*Wp+kw:][:oW]
					dst := row[oh*oW:][:oW]
					for i, v := range src {
						dst[i] = v
					}
				}
			}
		}
	}
}

// convValidRange returns the range [lo,hi) of output positions o in [0,n)
// with 0 <= o*s + off < size.
func convValidRange(off, s, size, n int) (int, int) {
	lo := 0
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	hi := 0
	if size-off > 0 {
		hi = (size - off + s - 1) / s
	}
	if hi > n {
		hi = n
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// convCol2im adds col ([C*kSize, inSize], laid out over the *input* grid of
// a transposed conv) into y ([C, outSz]) for channels [c0,c1). Here g.in is
// the transposed conv's input grid and g.out its output grid.
func convCol2im[T float32 | float64](g *convGeom, col []T, y []T, c0, c1 int) {
	iD, iH, iW := g.in[0], g.in[1], g.in[2]
	oD, oH, oW := g.out[0], g.out[1], g.out[2]
	for c := c0; c < c1; c++ {
		yc := y[c*g.outSz : (c+1)*g.outSz]
		r := c * g.kSize
		for kd := 0; kd < g.k[0]; kd++ {
			for kh := 0; kh < g.k[1]; kh++ {
				for kw := 0; kw < g.k[2]; kw++ {
					row := col[r*g.inSize : (r+1)*g.inSize]
					r++
					wOff := kw*g.d[2] - g.pb[2]
					iwLo, iwHi := convValidRange(wOff, g.s[2], oW, iW)
					p := 0
					for id := 0; id < iD; id++ {
						od := id*g.s[0] - g.pb[0] + kd*g.d[0]
						for ih := 0; ih < iH; ih++ {
							oh := ih*g.s[1] - g.pb[1] + kh*g.d[1]
							seg := row[p : p+iW]
							p += iW
							if od < 0 || od >= oD || oh < 0 || oh >= oH {
								continue
							}
							yr := yc[(od*oH+oh)*oW:]
							sw := g.s[2]
							ow := iwLo*sw + wOff
							for iw := iwLo; iw < iwHi; iw++ {
								yr[ow] += seg[iw]
								ow += sw
							}
						}
					}
				}
			}
		}
	}
}
