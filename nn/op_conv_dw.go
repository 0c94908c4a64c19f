package nn

import "github.com/graftml/graft/nn/internal/gemmasm"

// convDepthwiseF32 is the float32 depthwise kernel built on the vectorised
// multi-tap row update gemmTaps: each output row is the weighted sum of
// unit-stride slices of the input rows (for strided convolutions every
// input row is first split into its stride phases so that each tap reads
// contiguously).
func convDepthwiseF32(g *convGeom, N, C, M, G int, x, w, b, y []float32) {
	Mg := M / G
	iD, iH, iW := g.in[0], g.in[1], g.in[2]
	oD, oH, oW := g.out[0], g.out[1], g.out[2]
	s, dw, pl := g.s[2], g.d[2], g.pb[2]
	kw := g.k[2]
	// Phase length of a strided row: element j of phase r is x[j*s+r].
	P := (iW + s - 1) / s
	taps := g.k[0] * g.k[1] * kw
	// Per kernel column: the output range where that tap is inside the row,
	// and the phase/offset it reads.
	tapLo, tapHi := make([]int, kw), make([]int, kw)
	tapOff := make([]int, kw)
	owLo, owHi := 0, oW
	for k := 0; k < kw; k++ {
		off := k*dw - pl
		tapLo[k], tapHi[k] = convValidRange(off, s, iW, oW)
		owLo, owHi = max(owLo, tapLo[k]), min(owHi, tapHi[k])
		if s == 1 {
			tapOff[k] = off
		} else {
			q := off / s
			if off < 0 && off%s != 0 {
				q--
			}
			tapOff[k] = (off-q*s)*P + q
		}
	}
	if owLo > owHi {
		owLo = owHi
	}
	rowLen := iW
	direct2 := s == 2 // stride 2: taps read the input rows directly
	if s > 1 && !direct2 {
		rowLen = s * P
	}
	gemmParallel(N*M, func(lo, hi int) {
		offs := make([]int, taps)
		wts := make([]float32, taps)
		var scratch []float32
		if s > 1 && !direct2 {
			// Pooled: cleared once, since the same positions (the ends of
			// short phases) stay unwritten for every channel.
			var release func()
			scratch, release = convBuf[float32](iD * iH * rowLen)
			defer release()
			clear(scratch)
		}
		var tmp [8]float32
		for p := lo; p < hi; p++ {
			n, m := p/M, p%M
			xc := x[(n*C+m/Mg)*g.inSize:][:g.inSize]
			wk := w[m*g.kSize:][:g.kSize]
			yc := y[p*g.outSz:][:g.outSz]
			var bv float32
			if b != nil {
				bv = b[m]
			}
			base := xc
			if s > 1 && !direct2 {
				for row := 0; row < iD*iH; row++ {
					xr := xc[row*iW : (row+1)*iW]
					ph := scratch[row*rowLen : (row+1)*rowLen]
					for r := 0; r < s; r++ {
						dst := ph[r*P : (r+1)*P]
						j := 0
						for i := r; i < iW; i += s {
							dst[j] = xr[i]
							j++
						}
					}
				}
				base = scratch
			}
			for od := 0; od < oD; od++ {
				for oh := 0; oh < oH; oh++ {
					yr := yc[(od*oH+oh)*oW:][:oW]
					pfFill(yr, bv)
					nt := 0
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
							row := id*iH + ih
							xr := xc[row*iW : (row+1)*iW]
							wrow := wk[(kd*g.k[1]+kh)*kw:][:kw]
							for k, wv := range wrow {
								// Edges where this tap is inside but another is not.
								off := k*dw - pl
								for ow := tapLo[k]; ow < min(tapHi[k], owLo); ow++ {
									yr[ow] += wv * xr[ow*s+off]
								}
								for ow := max(tapLo[k], owHi); ow < tapHi[k]; ow++ {
									yr[ow] += wv * xr[ow*s+off]
								}
								if direct2 {
									offs[nt] = row*iW + off + 2*owLo
								} else {
									offs[nt] = row*rowLen + tapOff[k] + owLo
								}
								wts[nt] = wv
								nt++
							}
						}
					}
					if nt == 0 || owLo >= owHi {
						continue
					}
					seg := yr[owLo:owHi]
					if direct2 {
						convTapsStride2(seg, wts[:nt], offs[:nt], base)
						continue
					}
					L := len(seg)
					n8 := L &^ 7
					if L >= 8 && n8 < L {
						// Tail: compute the last 8 positions on a copy.
						copy(tmp[:], seg[L-8:])
						gemmTaps(seg[:n8], wts[:nt], offs[:nt], base)
						gemmTaps(tmp[:], wts[:nt], offs[:nt], base[L-8:])
						copy(seg[n8:], tmp[8-(L-n8):])
						continue
					}
					done := gemmTaps(seg, wts[:nt], offs[:nt], base)
					for i := done; i < L; i++ {
						acc := seg[i]
						for t := 0; t < nt; t++ {
							acc += wts[t] * base[offs[t]+i]
						}
						seg[i] = acc
					}
				}
			}
			convEpilogue(g, yc)
		}
	})
}

// convDepthwiseFlatF32 handles 1-D and 2-D depthwise convolutions with a
// single vectorised pass per channel: the zero-padded input is split into
// its stride phases (one plane per (row phase, column phase), each Wq wide)
// so that output (oh, ow) of a "wide" output plane of width Wq is
// sum_t w[t] * buf[off[t] + oh*Wq + ow] — a 1-D multi-tap update over the
// whole plane. The columns ow >= oW of the wide plane are discarded.
func convDepthwiseFlatF32(g *convGeom, N, C, M, G int, x, w, b, y []float32) {
	Mg := M / G
	d := newDWFlat(g, g.out[1])
	gemmParallel(N*M, func(lo, hi int) {
		buf, release := convBuf[float32](d.bufLen)
		defer release()
		d.prepare(buf)
		for p := lo; p < hi; p++ {
			n, m := p/M, p%M
			xc := x[(n*C+m/Mg)*g.inSize:][:g.inSize]
			var bv float32
			if b != nil {
				bv = b[m]
			}
			d.band(buf, xc, 0, g.in[1], 0, g.out[1], w[m*g.kSize:][:g.kSize], bv, y[p*g.outSz:][:g.outSz])
		}
	})
}

// dwFlat is the whole-plane depthwise kernel's layout for bands of at most
// rowsCap output rows of one channel (rowsCap = oH: whole planes).
type dwFlat struct {
	iH, iW, oW     int
	sH, sW, pt, pl int
	kH, dH         int
	Wq, plane      int   // width and size of each phase plane
	offs           []int // tap t reads the planes from offs[t] on
	bufLen         int   // scratch length band needs
	// masks selects the kept columns of the wide positions for
	// gemmasm.DepthwiseFlat (AVX-512 CPUs; nil elsewhere).
	masks  []uint64
	act    bool
	lo, hi float32
}

// dwFlatMaxWidth is the output width from which band keeps to the
// row-by-row AVX2 kernel, whose four vectors per row are as fast as the
// AVX-512 flat kernel on wide rows (BenchmarkPfBlockMobileNet, 112×112).
const dwFlatMaxWidth = 64

// newDWFlat returns the layout of 2-D (or 1-D) depthwise geometry g for
// bands of at most rowsCap output rows.
func newDWFlat(g *convGeom, rowsCap int) *dwFlat {
	d := &dwFlat{
		iH: g.in[1], iW: g.in[2], oW: g.out[2],
		sH: g.s[1], sW: g.s[2], pt: g.pb[1], pl: g.pb[2],
		kH: g.k[1], dH: g.d[1], act: g.act,
	}
	kW, dW := g.k[2], g.d[2]
	// A band of rowsCap output rows reads hb padded rows; whole planes
	// also keep room for every input row.
	hb := (rowsCap-1)*d.sH + (d.kH-1)*d.dH + 1
	if rowsCap == g.out[1] {
		hb = max(hb, d.iH+d.pt)
	}
	Wp := max(d.iW+d.pl, (d.oW-1)*d.sW+(kW-1)*dW+1)
	Hq := (hb + d.sH - 1) / d.sH
	d.Wq = (Wp + d.sW - 1) / d.sW
	d.plane = Hq * d.Wq
	d.offs = make([]int, d.kH*kW)
	maxOff := 0
	for kh := 0; kh < d.kH; kh++ {
		qh, rh := kh*d.dH/d.sH, kh*d.dH%d.sH
		for kw := 0; kw < kW; kw++ {
			qw, rw := kw*dW/d.sW, kw*dW%d.sW
			o := (rh*d.sW+rw)*d.plane + qh*d.Wq + qw
			d.offs[kh*kW+kw] = o
			maxOff = max(maxOff, o)
		}
	}
	// Output row oh reads the planes from oh·Wq on; the last vector may
	// read up to 16 values past the planes' wide rows.
	d.bufLen = max(d.sH*d.sW*d.plane, maxOff+rowsCap*d.Wq+16)
	if gemmasm.OK512 && d.oW < dwFlatMaxWidth {
		d.masks = gemmasm.DepthwiseFlatMasks(rowsCap*d.Wq, d.oW, d.Wq)
	}
	if g.act {
		d.lo, d.hi = float32(g.actLo), float32(g.actHi)
	}
	return d
}

// prepare zeroes what band never writes in a fresh scratch buffer buf
// (contents undefined, length bufLen): the slack after the phase planes,
// which only the discarded wrap-around columns read, and for stride 1 the
// padding columns of the single plane.
func (d *dwFlat) prepare(buf []float32) {
	clear(buf[d.sH*d.sW*d.plane:])
	if d.sH == 1 && d.sW == 1 {
		clear(buf[:d.plane])
	}
}

// band computes output rows [r0, r1) of one channel, bias bv and taps w,
// into y (dense rows of oW). src holds input rows [row0, row0+rows) of the
// channel (rows of iW); every input row the band reads must be among them
// (rows outside the image are padding).
func (d *dwFlat) band(buf, src []float32, row0, rows, r0, r1 int, w []float32, bv float32, y []float32) {
	iW, Wq, plane := d.iW, d.Wq, d.plane
	// Padded row j of the band is input row j + r0·sH - pt, local row
	// j - pt of src with pt shifted as below.
	pt := d.pt + row0 - r0*d.sH
	hb := (r1-r0-1)*d.sH + (d.kH-1)*d.dH + 1
	Hq := (hb + d.sH - 1) / d.sH
	if d.sH == 1 && d.sW == 1 {
		// The padding columns stay zero (prepare); rows outside src are
		// padding rows of the image.
		for j := 0; j < hb; j++ {
			ih := j - pt
			if ih < 0 || ih >= rows {
				clear(buf[j*Wq : (j+1)*Wq])
				continue
			}
			copy(buf[j*Wq+d.pl:j*Wq+d.pl+iW], src[ih*iW:(ih+1)*iW])
		}
	}
	for rh := 0; rh < d.sH && (d.sH > 1 || d.sW > 1); rh++ {
		if d.sW == 2 && d.pl <= 1 {
			convSplit2(buf, rh, d.sH, pt, d.pl, plane, Hq, Wq, rows, iW, src)
			continue
		}
		for rw := 0; rw < d.sW; rw++ {
			ph := buf[(rh*d.sW+rw)*plane : (rh*d.sW+rw+1)*plane]
			for j := 0; j < Hq; j++ {
				dst := ph[j*Wq : (j+1)*Wq]
				ih := j*d.sH + rh - pt
				if ih < 0 || ih >= rows {
					clear(dst)
					continue
				}
				xr := src[ih*iW : (ih+1)*iW]
				if d.sW == 1 {
					// dst[k] = xr[k - pl]
					lo := min(d.pl, Wq)
					clear(dst[:lo])
					hi := min(Wq, iW+d.pl)
					copy(dst[lo:hi], xr[lo-d.pl:hi-d.pl])
					clear(dst[hi:])
					continue
				}
				// dst[k] = xr[k*sW + rw - pl] where that is inside the row.
				kLo, kHi := convValidRange(rw-d.pl, d.sW, iW, Wq)
				clear(dst[:kLo])
				iw := kLo*d.sW + rw - d.pl
				for k := kLo; k < kHi; k++ {
					dst[k] = xr[iw]
					iw += d.sW
				}
				clear(dst[kHi:])
			}
		}
	}
	// Bias, taps and activation in one pass, straight into y: on AVX-512
	// CPUs over the wide positions, sixteen at a time whatever the row
	// width (rows of 7 or 14 fill whole vectors).
	if d.masks != nil {
		gemmasm.DepthwiseFlat(y, (r1-r0)*Wq, d.oW, Wq, w[:len(d.offs)], d.offs, buf, d.masks, bv, d.act, d.lo, d.hi)
		return
	}
	gemmasm.DepthwisePlane(y, r1-r0, d.oW, Wq, w[:len(d.offs)], d.offs, buf, bv, d.act, d.lo, d.hi)
}

// convSplit2 fills the two column-phase planes of row phase rh for a
// column stride of 2 and a left pad of 0 or 1 in one pass over each row.
func convSplit2(buf []float32, rh, sH, pt, pl, plane, Hq, Wq, iH, iW int, xc []float32) {
	// Column k of phase rw reads input column 2k + rw - pl.
	ev := buf[(rh*2)*plane : (rh*2+1)*plane]
	od := buf[(rh*2+1)*plane : (rh*2+2)*plane]
	if pl == 1 {
		// Phase 0 reads odd-shifted columns: input 2k-1; phase 1 reads 2k.
		ev, od = od, ev
	}
	for j := 0; j < Hq; j++ {
		e := ev[j*Wq : (j+1)*Wq]
		o := od[j*Wq : (j+1)*Wq]
		ih := j*sH + rh - pt
		if ih < 0 || ih >= iH {
			clear(e)
			clear(o)
			continue
		}
		xr := xc[ih*iW : (ih+1)*iW]
		// With pl == 0: e[k] = xr[2k], o[k] = xr[2k+1].
		// With pl == 1: phase 1 (now e) reads xr[2k], phase 0 (now o) reads
		// xr[2k-1] = xr[2(k-1)+1], i.e. o shifted right by one.
		oo := o
		if pl == 1 {
			o[0] = 0
			oo = o[1:]
		}
		pairs := min(iW/2, len(e), len(oo))
		x2 := xr[:2*pairs]
		e2, o2 := e[:pairs], oo[:pairs]
		for k := gemmasm.Deinterleave2(x2, e2, o2); k < pairs; k++ {
			e2[k] = x2[2*k]
			o2[k] = x2[2*k+1]
		}
		ne, no := pairs, pairs
		if iW%2 == 1 && pairs < len(e) {
			e[pairs] = xr[iW-1]
			ne++
		}
		clear(e[ne:])
		clear(oo[no:])
	}
}

// convTapsStride2 computes seg[i] += sum_t w[t]*base[offs[t]+2*i], with
// the vector kernel where its reads stay inside base and scalar code for
// the rest.
func convTapsStride2(seg, w []float32, offs []int, base []float32) {
	maxOff := 0
	for _, o := range offs {
		maxOff = max(maxOff, o)
	}
	n := len(seg) &^ 7
	for n > 0 && maxOff+2*n > len(base) {
		n -= 8
	}
	done := 0
	if n > 0 {
		done = gemmTapsStride2(seg[:n], w, offs, base)
	}
	for i := done; i < len(seg); i++ {
		acc := seg[i]
		for t, o := range offs {
			acc += w[t] * base[o+2*i]
		}
		seg[i] = acc
	}
}
