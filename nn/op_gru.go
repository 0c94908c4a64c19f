package nn

// rnnLoopGRU is the GRU time loop. Gate blocks are ordered z, r, h as in
// ONNX.
//
//	zt = f(Xt·Wzᵀ + Ht-1·Rzᵀ + Wbz + Rbz)
//	rt = f(Xt·Wrᵀ + Ht-1·Rrᵀ + Wbr + Rbr)
//	ht = g(Xt·Whᵀ + (rt⊙Ht-1)·Rhᵀ + Rbh + Wbh)          linear_before_reset = 0
//	ht = g(Xt·Whᵀ + rt⊙(Ht-1·Rhᵀ + Rbh) + Wbh)          linear_before_reset = 1
//	Ht = (1 - zt)⊙ht + zt⊙Ht-1
//
// With linear_before_reset, rbh is Rbh (nil without B); otherwise every
// bias is already folded into the input projection.
func rnnLoopGRU[T rnnFloat](st *rnnDirState[T], rs rnnRows, rbh []T) {
	H := st.s.hidden
	GH := 3 * H
	fa, ga := st.acts[0], st.acts[1]
	clip := st.clip
	lbr := st.op.linearReset
	rh := st.tmp // r⊙Ht-1 for linear_before_reset = 0
	for k := 0; k < st.maxL; k++ {
		if lbr {
			st.stepGemm(rs, GH, st.h, 0, st.gate, GH)
		} else {
			st.stepGemm(rs, 2*H, st.h, 0, st.gate, GH)
		}
		// Update and reset gates.
		for b := rs.b0; b < rs.b1; b++ {
			if k >= st.lens[b] {
				continue
			}
			t := st.timeOf(k, b)
			g := st.gate[b*GH : b*GH+2*H]
			xo := st.xrow(t, b)
			xw := st.xw[xo : xo+2*H]
			for i := range g {
				g[i] += xw[i]
			}
			if clip > 0 {
				rnnClip(clip, g)
			}
			rnnApply(fa, g)
			if !lbr {
				r := g[H : 2*H]
				h := st.h[b*H : (b+1)*H]
				dst := rh[b*H : (b+1)*H]
				for i := range dst {
					dst[i] = r[i] * h[i]
				}
			}
		}
		if !lbr {
			st.stepGemm(rs, H, rh, 2*H, st.gate[2*H:], GH)
		}
		// Candidate and new state.
		for b := rs.b0; b < rs.b1; b++ {
			if k >= st.lens[b] {
				continue
			}
			t := st.timeOf(k, b)
			g := st.gate[b*GH : (b+1)*GH]
			z, r, hh := g[0:H], g[H:2*H], g[2*H:3*H]
			xo := st.xrow(t, b) + 2*H
			xw := st.xw[xo : xo+H]
			if lbr {
				if rbh != nil {
					for i := range hh {
						hh[i] = xw[i] + r[i]*(hh[i]+rbh[i])
					}
				} else {
					for i := range hh {
						hh[i] = xw[i] + r[i]*hh[i]
					}
				}
			} else {
				for i := range hh {
					hh[i] += xw[i]
				}
			}
			if clip > 0 {
				rnnClip(clip, hh)
			}
			rnnApply(ga, hh)
			h := st.h[b*H : (b+1)*H]
			for i := range h {
				h[i] = (1-z[i])*hh[i] + z[i]*h[i]
			}
			if st.io.y != nil {
				o := st.yoff(t, b)
				copy(st.io.y[o:o+H], h)
			}
		}
	}
}
