package nn

// rnnLoopLSTM is the LSTM time loop. Gate blocks are ordered i, o, f, c as
// in ONNX; p holds the peepholes Pi, Po, Pf (nil when absent).
//
//	it = f(Xt·Wiᵀ + Ht-1·Riᵀ + Pi⊙Ct-1 + Wbi + Rbi)
//	ft = f(Xt·Wfᵀ + Ht-1·Rfᵀ + Pf⊙Ct-1 + Wbf + Rbf)   (1 - it with input_forget)
//	ct = g(Xt·Wcᵀ + Ht-1·Rcᵀ + Wbc + Rbc)
//	Ct = ft⊙Ct-1 + it⊙ct
//	ot = f(Xt·Woᵀ + Ht-1·Roᵀ + Po⊙Ct + Wbo + Rbo)
//	Ht = ot⊙h(Ct)
//
// clip bounds the gate pre-activations, not Ct.
func rnnLoopLSTM[T rnnFloat](st *rnnDirState[T], rs rnnRows, p []T) {
	H := st.s.hidden
	GH := 4 * H
	fa, ga, ha := st.acts[0], st.acts[1], st.acts[2]
	var pi, po, pf []T
	if p != nil {
		pi, po, pf = p[0:H], p[H:2*H], p[2*H:3*H]
	}
	clip := st.clip
	inputForget := st.op.inputForget
	for k := 0; k < st.maxL; k++ {
		st.stepGemm(rs, GH, st.h, 0, st.gate, GH)
		for b := rs.b0; b < rs.b1; b++ {
			if k >= st.lens[b] {
				continue
			}
			t := st.timeOf(k, b)
			g := st.gate[b*GH : (b+1)*GH]
			xo := st.xrow(t, b)
			xw := st.xw[xo : xo+GH]
			for i := range g {
				g[i] += xw[i]
			}
			gi, gO, gf, gc := g[0:H], g[H:2*H], g[2*H:3*H], g[3*H:4*H]
			c := st.c[b*H : (b+1)*H]
			if pi != nil {
				for i := range gi {
					gi[i] += pi[i] * c[i]
				}
				if !inputForget {
					for i := range gf {
						gf[i] += pf[i] * c[i]
					}
				}
			}
			if clip > 0 {
				rnnClip(clip, gi)
				rnnClip(clip, gc)
				if !inputForget {
					rnnClip(clip, gf)
				}
			}
			rnnApply(fa, gi)
			if inputForget {
				for i := range gf {
					gf[i] = 1 - gi[i]
				}
			} else {
				rnnApply(fa, gf)
			}
			rnnApply(ga, gc)
			for i := range c {
				c[i] = gf[i]*c[i] + gi[i]*gc[i]
			}
			if po != nil {
				for i := range gO {
					gO[i] += po[i] * c[i]
				}
			}
			if clip > 0 {
				rnnClip(clip, gO)
			}
			rnnApply(fa, gO)
			copy(gc, c)
			rnnApply(ha, gc)
			h := st.h[b*H : (b+1)*H]
			for i := range h {
				h[i] = gO[i] * gc[i]
			}
			if st.io.y != nil {
				o := st.yoff(t, b)
				copy(st.io.y[o:o+H], h)
			}
		}
	}
}
