package nn

// cvgDepthwiseFlatBack is the float32 backward pass of 1-D and 2-D
// depthwise convolutions on vector kernels. Like the forward kernel it
// works on the stride-phase planes of the zero-padded input (plane
// (rh, rw) holds xpad[j*sH+rh][k*sW+rw] at j*Wq+k), where output (oh, ow)
// of tap t reads element offs[t] + oh*Wq + ow. With dy laid out "wide"
// (rows of Wq, zero beyond oW):
//
//	dW[t]  = Σ_i wide[i]·xbuf[offs[t]+i]           (dot products)
//	dxbuf[j] += Σ_t W[t]·wide[j-offs[t]]           (multi-tap updates)
//
// and dx is read back from the phase planes of dxbuf. Tasks are input
// channels, so dW and dx need no reduction. It reports false (doing
// nothing) when the vector kernels or the shape do not qualify.
func cvgDepthwiseFlatBack(g *convGeom, N, C, M, G int, x, w, dy, dx, dw []float32) bool {
	if !cvgDotsOK || g.in[0] != 1 || g.k[0] != 1 || g.out[0] != 1 {
		return false
	}
	Mg := M / G
	iH, iW := g.in[1], g.in[2]
	oH, oW := g.out[1], g.out[2]
	sH, sW, dH, dW := g.s[1], g.s[2], g.d[1], g.d[2]
	pt, pl := g.pb[1], g.pb[2]
	kH, kW := g.k[1], g.k[2]
	Hp := max(iH+pt, (oH-1)*sH+(kH-1)*dH+1)
	Wp := max(iW+pl, (oW-1)*sW+(kW-1)*dW+1)
	Hq, Wq := (Hp+sH-1)/sH, (Wp+sW-1)/sW
	plane := Hq * Wq
	taps := kH * kW
	offs := make([]int, taps)
	maxOff := 0
	for kh := 0; kh < kH; kh++ {
		qh, rh := kh*dH/sH, kh*dH%sH
		for kw := 0; kw < kW; kw++ {
			qw, rw := kw*dW/sW, kw*dW%sW
			o := (rh*sW+rw)*plane + qh*Wq + qw
			offs[kh*kW+kw] = o
			maxOff = max(maxOff, o)
		}
	}
	// dx runs per phase plane with only the taps reading that plane (the
	// others would multiply zeros): plane P gets
	// Σ_{t in P} W[t]·wide[r - q_t] with q_t = offs[t] - P·plane.
	type phase struct {
		plane int
		taps  []int
		rev   []int
	}
	var phases []phase
	for P := 0; P < sH*sW; P++ {
		var ph phase
		ph.plane = P
		for t, o := range offs {
			if o/plane == P {
				ph.taps = append(ph.taps, t)
				ph.rev = append(ph.rev, maxOff-(o-P*plane))
			}
		}
		if len(ph.taps) > 0 {
			phases = append(phases, ph)
		}
	}
	nWide := (oH*Wq + 7) &^ 7
	bufLen := (max(sH*sW*plane, maxOff+nWide) + 7) &^ 7
	padLen := maxOff + bufLen
	gemmParallel(C, func(lo, hi int) {
		xbuf := make([]float32, bufLen)
		dxbuf := make([]float32, bufLen)
		dyPad := make([]float32, padLen)
		wide := dyPad[maxOff : maxOff+nWide]
		part := make([]float32, taps)
		wts := make([]float32, taps)
		acc := make([]float64, taps*Mg)
		for c := lo; c < hi; c++ {
			clear(acc)
			for n := 0; n < N; n++ {
				xc := x[(n*C+c)*g.inSize:][:g.inSize]
				if dw != nil {
					cvgPhaseSplit(xbuf, xc, sH, sW, pt, pl, Hq, Wq, iH, iW, false)
				}
				if dx != nil {
					clear(dxbuf)
				}
				for j := 0; j < Mg; j++ {
					m := c*Mg + j
					dyc := dy[(n*M+m)*g.outSz:][:g.outSz]
					for oh := 0; oh < oH; oh++ {
						row := wide[oh*Wq : (oh+1)*Wq]
						copy(row, dyc[oh*oW:(oh+1)*oW])
						clear(row[oW:])
					}
					clear(wide[oH*Wq:])
					if dw != nil {
						clear(part)
						done := cvgDots(wide, xbuf, offs, part)
						for t, o := range offs {
							s := float64(part[t])
							for i := done; i < nWide; i++ {
								s += float64(wide[i]) * float64(xbuf[o+i])
							}
							acc[j*taps+t] += s
						}
					}
					if dx != nil {
						wk := w[m*taps:][:taps]
						for _, ph := range phases {
							wp := wts[:len(ph.taps)]
							for i, t := range ph.taps {
								wp[i] = wk[t]
							}
							y := dxbuf[ph.plane*plane : (ph.plane+1)*plane]
							done := gemmTaps(y, wp, ph.rev, dyPad)
							for i := done; i < plane; i++ {
								s := y[i]
								for k, o := range ph.rev {
									s += wp[k] * dyPad[o+i]
								}
								y[i] = s
							}
						}
					}
				}
				if dx != nil {
					cvgPhaseSplit(dxbuf, dx[(n*C+c)*g.inSize:][:g.inSize], sH, sW, pt, pl, Hq, Wq, iH, iW, true)
				}
			}
			if dw != nil {
				for i, v := range acc {
					dw[c*Mg*taps+i] = float32(v)
				}
			}
		}
	})
	return true
}

// cvgPhaseSplit copies the plane x ([iH, iW]) into its zero-padded stride
// phase planes in buf (see cvgDepthwiseFlatBack), or, when back is set,
// copies the phase planes in buf back into x (padding positions dropped).
// Input row ih lands in row (ih+pt)/sH of the planes of row phase
// (ih+pt)%sH; input column iw in column (iw+pl)/sW of column phase
// (iw+pl)%sW.
func cvgPhaseSplit(buf, x []float32, sH, sW, pt, pl, Hq, Wq, iH, iW int, back bool) {
	plane := Hq * Wq
	if !back {
		clear(buf[:sH*sW*plane])
	}
	if sH == 1 && sW == 1 {
		for ih := 0; ih < iH; ih++ {
			row := buf[(ih+pt)*Wq+pl:][:iW]
			xr := x[ih*iW:][:iW]
			if back {
				copy(xr, row)
			} else {
				copy(row, xr)
			}
		}
		return
	}
	// Column phases do not depend on the row: input column r+i·sW goes to
	// column phase (r+pl)%sW at offset (r+pl)/sW+i.
	var colPh, colOff, colCnt [8]int
	nr := min(sW, iW)
	if nr > len(colPh) {
		cvgPhaseSplitSlow(buf, x, sH, sW, pt, pl, Hq, Wq, iH, iW, back)
		return
	}
	for r := 0; r < nr; r++ {
		b := r + pl
		colPh[r], colOff[r], colCnt[r] = b%sW, b/sW, (iW-r+sW-1)/sW
	}
	rh, j := pt%sH, pt/sH
	for ih := 0; ih < iH; ih++ {
		xr := x[ih*iW : (ih+1)*iW]
		for r := 0; r < nr; r++ {
			ph := rh*sW + colPh[r]
			dst := buf[ph*plane+j*Wq+colOff[r]:][:colCnt[r]]
			src := xr[r:]
			if back {
				for i, v := range dst {
					src[i*sW] = v
				}
			} else {
				for i := range dst {
					dst[i] = src[i*sW]
				}
			}
		}
		if rh++; rh == sH {
			rh, j = 0, j+1
		}
	}
}

// cvgPhaseSplitSlow is cvgPhaseSplit for any stride (the phase split
// above handles strides up to 8 along the row).
func cvgPhaseSplitSlow(buf, x []float32, sH, sW, pt, pl, Hq, Wq, iH, iW int, back bool) {
	plane := Hq * Wq
	for ih := 0; ih < iH; ih++ {
		a := ih + pt
		rh, j := a%sH, a/sH
		xr := x[ih*iW : (ih+1)*iW]
		for r := 0; r < sW && r < iW; r++ {
			b := r + pl
			ph := rh*sW + b%sW
			row := buf[ph*plane+j*Wq : ph*plane+(j+1)*Wq]
			cnt := (iW - r + sW - 1) / sW
			dst := row[b/sW:][:cnt]
			src := xr[r:]
			if back {
				for i, v := range dst {
					src[i*sW] = v
				}
			} else {
				for i := range dst {
					dst[i] = src[i*sW]
				}
			}
		}
	}
}
