package nn

import (
	"runtime"

	"github.com/graftml/graft/nn/internal/gemmasm"
)

// Inverted-residual fusion at inference (MobileNet-v2-style blocks).
//
// The chain
//
//	[1×1 Conv (expand) [Relu|Clip]] → depthwise Conv [Relu|Clip] → 1×1 Conv (project)
//
// produces and consumes the largest tensors of such networks: the expanded
// channels at full resolution. Run node by node at batch 8, each of them
// (up to 38 MB for mobilenet_v2's first blocks, more than a 32 MB
// last-level cache) is written to memory by one node and read back by the
// next. Run fused, each thread takes one sample at a time and walks its
// output in bands of rows: it expands only the input rows the band needs
// (keeping the rows the next band shares), runs the depthwise kernel on
// them and projects the result straight into the block's output. The
// expanded and depthwise values live only in per-thread buffers (at most 4
// MB, pfBlockBudget; whole planes below 112×112) that stay in cache.
//
// pfBlockNodes finds such chains when the plan is built (every
// intermediate value read by its successor alone, weights constant);
// Graph.run takes the fused path in plain inference when the run-time
// shapes fit (pfBlockRun) and the nodes one by one otherwise.

// pfBlock is a fusable chain; -1 marks an absent expansion or activation.
type pfBlock struct {
	expand, expandAct, dw, dwAct, proj int
}

// head is the chain's first node, where the fused block runs.
func (b *pfBlock) head() int {
	if b.expand >= 0 {
		return b.expand
	}
	return b.dw
}

// inner lists the nodes between the head and the projection, which the
// fused block computes without producing their outputs.
func (b *pfBlock) inner() []int {
	var s []int
	for _, i := range []int{b.expandAct, b.dw, b.dwAct} {
		if i >= 0 && i != b.head() {
			s = append(s, i)
		}
	}
	return s
}

// pfBlockNodes returns, indexed by head node, the fusable chains of g (nil
// when there are none). keep holds the values that must stay visible
// (graph outputs, parameters, constants).
func (g *Graph) pfBlockNodes(live []bool, keep map[string]bool) []*pfBlock {
	readers := map[string]int{}
	producer := map[string]int{}
	for i, n := range g.Nodes {
		if !live[i] {
			continue
		}
		seen := map[string]bool{}
		for _, in := range n.Inputs {
			if in != "" && !seen[in] {
				seen[in] = true
				readers[in]++
			}
		}
		for _, o := range n.Outputs {
			if o != "" {
				producer[o] = i
			}
		}
	}
	// private returns the producer of v when only one live node reads v
	// and nothing else needs it, else -1.
	private := func(v string) int {
		if v == "" || keep[v] || readers[v] != 1 {
			return -1
		}
		if i, ok := producer[v]; ok {
			return i
		}
		return -1
	}
	constant := func(v string) bool {
		if v == "" {
			return true
		}
		if _, ok := g.Params[v]; ok {
			return true
		}
		_, ok := g.Consts[v]
		return ok
	}
	conv := func(i int) bool {
		n := g.Nodes[i]
		if n.OpType != "Conv" || n.Domain != "" || len(n.Outputs) != 1 || len(n.Inputs) < 2 || len(n.Inputs) > 3 {
			return false
		}
		if _, ok := n.Op.(*convOp); !ok {
			return false
		}
		for _, in := range n.Inputs[1:] {
			if !constant(in) {
				return false
			}
		}
		return true
	}
	// pointwise reports whether Conv node i has a 1×1 kernel and group 1
	// (its strides and pads are checked when it runs).
	pointwise := func(i int) bool {
		if !conv(i) || g.Nodes[i].Op.(*convOp).group != 1 {
			return false
		}
		w := g.Nodes[i].Inputs[1]
		var t *Tensor
		if p, ok := g.Params[w]; ok {
			t = p.Value
		} else {
			t = g.Consts[w]
		}
		return t != nil && t.Rank() == 4 && t.Shape[2] == 1 && t.Shape[3] == 1
	}
	act := func(i int) bool {
		n := g.Nodes[i]
		return (n.OpType == "Relu" || n.OpType == "Clip") && n.Domain == "" && len(n.Outputs) == 1
	}
	var blocks []*pfBlock
	isProj := map[int]bool{} // projections of chains found so far
	for j, n := range g.Nodes {
		if !live[j] || !pointwise(j) {
			continue
		}
		b := &pfBlock{expand: -1, expandAct: -1, dw: -1, dwAct: -1, proj: j}
		k := private(n.Inputs[0])
		if k >= 0 && act(k) {
			b.dwAct = k
			k = private(g.Nodes[k].Inputs[0])
		}
		if k < 0 || !conv(k) || g.Nodes[k].Op.(*convOp).group == 1 {
			continue
		}
		b.dw = k
		e := private(g.Nodes[k].Inputs[0])
		// An earlier chain's projection is not also this one's expansion
		// (dw → 1×1 → dw → 1×1, as in MobileNet-v1): it stays the end of
		// that chain, and this one starts at its depthwise Conv.
		if e >= 0 && act(e) {
			if p := private(g.Nodes[e].Inputs[0]); p >= 0 && pointwise(p) && !isProj[p] {
				b.expandAct, b.expand = e, p
			}
		} else if e >= 0 && pointwise(e) && !isProj[e] {
			b.expand = e
		}
		if blocks == nil {
			blocks = make([]*pfBlock, len(g.Nodes))
		}
		blocks[b.head()] = b
		isProj[j] = true
	}
	return blocks
}

// pfBlockRun runs chain b on the values computed so far and returns the
// projection's output, or ok false when the run-time shapes or types do
// not fit the fused kernel (the nodes then run one by one).
func (g *Graph) pfBlockRun(ctx *Context, b *pfBlock, vals map[string]*Tensor) (y *Tensor, ok bool) {
	if !gemmKernelOK {
		return nil, false
	}
	nodes := g.Nodes
	in := func(i, k int) *Tensor {
		n := nodes[i]
		if k >= len(n.Inputs) || n.Inputs[k] == "" {
			return nil
		}
		return vals[n.Inputs[k]]
	}
	f32 := func(t *Tensor, shape ...int) bool {
		return t != nil && t.DType == Float32 && len(t.F32) == t.Len() && (shape == nil || SameShape(t.Shape, shape))
	}
	bias := func(i, m int) ([]float32, bool) {
		t := in(i, 2)
		if t == nil {
			return nil, true
		}
		return t.F32, f32(t, m)
	}
	// pointwise reports whether 1×1 Conv node i on an input of spatial
	// shape has stride 1 and no padding.
	pointwise := func(i int, shape []int) bool {
		geo, err := convMakeGeom(&nodes[i].Op.(*convOp).attrs, shape, []int{1, 1})
		return err == nil && convPointwise(geo)
	}
	x := in(b.head(), 0)
	if !f32(x) || x.Rank() != 4 {
		return nil, false
	}
	bg := pfBlockGeom{N: x.Shape[0], C: x.Shape[1], H: x.Shape[2], W: x.Shape[3], packs: ctx.packs}
	wd := in(b.dw, 1)
	if !f32(wd) || wd.Rank() != 4 || wd.Shape[1] != 1 {
		return nil, false
	}
	bg.Cd = wd.Shape[0]
	var we, be []float32
	if b.expand >= 0 {
		w := in(b.expand, 1)
		if !f32(w, bg.Cd, bg.C, 1, 1) {
			return nil, false
		}
		if !pointwise(b.expand, x.Shape[2:]) {
			return nil, false
		}
		we = w.F32
		if be, ok = bias(b.expand, bg.Cd); !ok {
			return nil, false
		}
		if b.expandAct >= 0 {
			if bg.actE = pfFusedAct(nodes[b.expandAct], vals); bg.actE == nil {
				return nil, false
			}
		}
	} else if bg.C != bg.Cd {
		return nil, false
	}
	if nodes[b.dw].Op.(*convOp).group != bg.Cd {
		return nil, false
	}
	dg, err := convMakeGeom(&nodes[b.dw].Op.(*convOp).attrs, x.Shape[2:], wd.Shape[2:])
	if err != nil || dg.out[1] < 1 || dg.out[2] < 1 {
		return nil, false
	}
	if b.dwAct >= 0 {
		a := pfFusedAct(nodes[b.dwAct], vals)
		if a == nil {
			return nil, false
		}
		dg.act, dg.actLo, dg.actHi = true, a.lo, a.hi
	}
	bg.dw = dg
	bd, ok := bias(b.dw, bg.Cd)
	if !ok {
		return nil, false
	}
	wp := in(b.proj, 1)
	if !f32(wp) || wp.Rank() != 4 || wp.Shape[1] != bg.Cd || wp.Shape[2] != 1 || wp.Shape[3] != 1 {
		return nil, false
	}
	bg.M = wp.Shape[0]
	if !pointwise(b.proj, dg.out[1:]) {
		return nil, false
	}
	bp, ok := bias(b.proj, bg.M)
	if !ok {
		return nil, false
	}
	y = ctx.arNew(Float32, bg.N, bg.M, dg.out[1], dg.out[2])
	pfBlockF32(&bg, x.F32, we, be, wd.F32, bd, wp.F32, bp, y.F32)
	return y, true
}

// pfBlockGeom describes a fused chain: N samples of C×H×W in, an
// expansion to Cd channels (when expand weights are given) with activation
// actE (nil: none), the depthwise geometry dw (with its activation) and a
// projection to M channels.
type pfBlockGeom struct {
	N, C, H, W int
	Cd, M      int
	actE       *convAct
	dw         *convGeom
	// rows, when positive, sets the band height in output rows instead
	// of the budget (tests use it to run many bands on small inputs).
	rows int
	// packs keeps the packed weights between runs (nil: pack every run).
	packs *packCache
}

// pfBlockBudget bounds, in values, a thread's expanded rows and depthwise
// band together (4 MB: a share of the last-level cache). Bands sized for
// L2 (96K values, 384 KB) measured slower on mobilenet_v2 at batch 8:
// their narrow products spend more in ragged tails and per-call overheads
// than the locality saves.
const pfBlockBudget = 1 << 20

// pfBlockF32 computes y = project(dw(expand(x))) for geometry bg: we and be
// (nil: no expansion, x has Cd channels) are the expansion's weights
// [Cd][C] and bias, wd and bd the depthwise weights [Cd][taps] and bias, wp
// and bp the projection's [M][Cd] and bias (biases may be nil).
func pfBlockF32(bg *pfBlockGeom, x, we, be, wd, bd, wp, bp, y []float32) {
	dg := bg.dw
	N, C, H, W, Cd, M := bg.N, bg.C, bg.H, bg.W, bg.Cd, bg.M
	oH, oW := dg.out[1], dg.out[2]
	s, pt, reach := dg.s[1], dg.pb[1], (dg.k[1]-1)*dg.d[1]+1
	HW, oHW := H*W, oH*oW
	expand := we != nil
	// Band rows: the whole plane if it fits the budget with the expanded
	// rows it reads, else the most that fit (at least one), preferring a
	// count whose band width is a multiple of the 32-column kernel (no
	// ragged tail per band).
	R, aligned := 1, 0
	for r := 1; r <= oH; r++ {
		eRows := 0
		if expand {
			eRows = min((r-1)*s+reach, H)
		}
		if r > 1 && Cd*(eRows*W+r*oW) > pfBlockBudget {
			break
		}
		R = r
		if r*oW%32 == 0 {
			aligned = r
		}
	}
	if aligned > 0 && 2*aligned >= R && R < oH {
		R = aligned
	}
	// Fewer samples than threads: bands small enough that every thread
	// gets a part of a sample (each part expands the rows it shares with
	// the previous one again). A whole 7×7 plane in one band left the
	// other thread idle: mobilenet_v2 at batch 1 used 58% of 2 threads.
	if procs := runtime.GOMAXPROCS(0); N < procs {
		per := (procs + N - 1) / N
		R = min(R, max(1, (oH+per-1)/per))
	}
	if bg.rows > 0 {
		R = min(bg.rows, oH)
	}
	eCap := min((R-1)*s+reach, H)
	eS, dS := eCap*W, R*oW
	d := newDWFlat(dg, R)
	wide := gemmasm.OK512
	var paE *gemmOffsA
	var offsE []int
	outE := gemmOffsOut{bias: be}
	if expand {
		var release func()
		paE, release = bg.packs.pack(false, Cd, C, we, C)
		defer release()
		offsE = make([]int, C)
		for c := range offsE {
			offsE[c] = c * HW
		}
		if a := bg.actE; a != nil {
			// The AVX-512 kernels clamp as they store; the AVX2 path
			// clamps the new rows after the product (its kernels would
			// take their slow edge path for it).
			outE.clamp, outE.lo, outE.hi = wide, float32(a.lo), float32(a.hi)
		}
	}
	clampE := gemmOffsOut{clamp: true, lo: outE.lo, hi: outE.hi}
	paP, releaseP := bg.packs.pack(false, M, Cd, wp, Cd)
	defer releaseP()
	offsP := make([]int, Cd)
	for m := range offsP {
		offsP[m] = m * dS
	}
	outP := gemmOffsOut{bias: bp}
	// One task per sample; with fewer samples than threads each sample's
	// rows are split, the parts recomputing the expanded rows they share.
	parts := 1
	if procs := runtime.GOMAXPROCS(0); N < procs {
		parts = min((procs+N-1)/N, (oH+R-1)/R)
	}
	gemmParallel(N*parts, func(lo, hi int) {
		var eBuf []float32
		if expand {
			var release func()
			eBuf, release = convBuf[float32](Cd * eS)
			defer release()
		}
		dBuf, releaseD := convBuf[float32](Cd * dS)
		defer releaseD()
		buf, release := convBuf[float32](d.bufLen)
		defer release()
		d.prepare(buf)
		for t := lo; t < hi; t++ {
			n, part := t/parts, t%parts
			t0, t1 := part*oH/parts, (part+1)*oH/parts
			xs := x[n*C*HW:][:C*HW]
			ea, eb := 0, 0 // expanded rows [ea, eb) are in eBuf
			for r0 := t0; r0 < t1; r0 += R {
				r1 := min(r0+R, t1)
				a := max(r0*s-pt, 0)
				b := min((r1-1)*s-pt+reach, H)
				if expand {
					switch {
					case r0 == t0 || a >= eb:
						ea, eb = a, a
					case a > ea:
						// Keep the rows this band shares with the last.
						for m := 0; m < Cd; m++ {
							e := eBuf[m*eS:]
							copy(e[:(eb-a)*W], e[(a-ea)*W:(eb-ea)*W])
						}
						ea = a
					}
					if b > eb {
						gemmOffsRun(wide, true, paE, (b-eb)*W, xs[eb*W:], offsE, outE, eBuf[(eb-ea)*W:], eS)
						if bg.actE != nil && !wide {
							for m := 0; m < Cd; m++ {
								row := eBuf[m*eS+(eb-ea)*W : m*eS+(b-ea)*W]
								for i, v := range row {
									row[i] = gemmOffsClamp(v, &clampE)
								}
							}
						}
						eb = b
					}
				}
				for m := 0; m < Cd; m++ {
					var bv float32
					if bd != nil {
						bv = bd[m]
					}
					var src []float32
					row0, rows := 0, H
					if expand {
						src, row0, rows = eBuf[m*eS:][:(eb-ea)*W], ea, eb-ea
					} else {
						src = xs[m*HW:][:HW]
					}
					d.band(buf, src, row0, rows, r0, r1, wd[m*dg.kSize:][:dg.kSize], bv, dBuf[m*dS:][:(r1-r0)*oW])
				}
				gemmOffsRun(wide, true, paP, (r1-r0)*oW, dBuf, offsP, outP, y[n*M*oHW+r0*oW:], oHW)
			}
		}
	})
}
