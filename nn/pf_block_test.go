package nn

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"testing"
)

// pfBlockRef computes the chain of pfBlockF32 in float64 with direct
// loops: expansion (when we is not nil) and activation, depthwise
// convolution (kernel k, stride s, pads pt/pl/pb/pr) and activation,
// projection.
func pfBlockRef(N, C, H, W, Cd, M, k, s, pt, pl, pb, pr int, actE, actD *convAct, x, we, be, wd, bd, wp, bp []float32) ([]float64, int, int) {
	clamp := func(v float64, a *convAct) float64 {
		if a == nil {
			return v
		}
		return math.Min(math.Max(v, a.lo), a.hi)
	}
	at := func(b []float32, i int) float64 {
		if b == nil {
			return 0
		}
		return float64(b[i])
	}
	e := make([]float64, N*Cd*H*W)
	for n := 0; n < N; n++ {
		for m := 0; m < Cd; m++ {
			for p := 0; p < H*W; p++ {
				var v float64
				if we == nil {
					v = float64(x[(n*C+m)*H*W+p])
				} else {
					v = at(be, m)
					for c := 0; c < C; c++ {
						v += float64(we[m*C+c]) * float64(x[(n*C+c)*H*W+p])
					}
					v = clamp(v, actE)
				}
				e[(n*Cd+m)*H*W+p] = v
			}
		}
	}
	oH, oW := (H+pt+pb-k)/s+1, (W+pl+pr-k)/s+1
	d := make([]float64, N*Cd*oH*oW)
	for n := 0; n < N; n++ {
		for m := 0; m < Cd; m++ {
			for oh := 0; oh < oH; oh++ {
				for ow := 0; ow < oW; ow++ {
					v := at(bd, m)
					for kh := 0; kh < k; kh++ {
						for kw := 0; kw < k; kw++ {
							ih, iw := oh*s+kh-pt, ow*s+kw-pl
							if ih >= 0 && ih < H && iw >= 0 && iw < W {
								v += float64(wd[(m*k+kh)*k+kw]) * e[((n*Cd+m)*H+ih)*W+iw]
							}
						}
					}
					d[((n*Cd+m)*oH+oh)*oW+ow] = clamp(v, actD)
				}
			}
		}
	}
	y := make([]float64, N*M*oH*oW)
	for n := 0; n < N; n++ {
		for o := 0; o < M; o++ {
			for p := 0; p < oH*oW; p++ {
				v := at(bp, o)
				for m := 0; m < Cd; m++ {
					v += float64(wp[o*Cd+m]) * d[(n*Cd+m)*oH*oW+p]
				}
				y[(n*M+o)*oH*oW+p] = v
			}
		}
	}
	return y, oH, oW
}

// TestPfBlockMatchesReference checks the fused inverted-residual kernel
// against direct float64 loops on MobileNet-v2-like geometries: with and
// without expansion, strides 1 and 2, odd sizes, asymmetric pads, 5×5
// kernels, activations or none, bands of 1, 2, 3 and 5 rows and of the
// budget's size, and fewer samples than threads (rows split between
// threads).
func TestPfBlockMatchesReference(t *testing.T) {
	if !gemmKernelOK {
		t.Skip("no AVX2/FMA kernels on this CPU")
	}
	relu6 := &convAct{lo: 0, hi: 6}
	cases := []struct {
		N, C, H, W, Cd, M, k, s, pt, pl, pb, pr int
		expand                                  bool
		actE, actD                              *convAct
	}{
		{2, 16, 24, 24, 96, 24, 3, 2, 1, 1, 1, 1, true, relu6, relu6},
		{3, 24, 14, 14, 144, 24, 3, 1, 1, 1, 1, 1, true, relu6, relu6},
		{1, 8, 17, 13, 48, 8, 3, 1, 1, 1, 1, 1, true, relu6, relu6},
		{2, 32, 20, 20, 32, 16, 3, 1, 1, 1, 1, 1, false, nil, relu6},
		{4, 8, 15, 9, 40, 12, 3, 2, 1, 1, 1, 1, true, nil, nil},
		{2, 8, 11, 11, 24, 10, 5, 2, 2, 2, 2, 2, true, relu6, &convAct{lo: 0, hi: math.Inf(1)}},
		{1, 4, 9, 10, 12, 5, 3, 1, 0, 1, 2, 0, true, relu6, relu6},
		{5, 6, 7, 7, 36, 7, 3, 1, 1, 1, 1, 1, true, relu6, relu6},
		{2, 16, 56, 56, 96, 24, 3, 2, 1, 1, 1, 1, true, relu6, relu6},
		{2, 24, 56, 56, 144, 24, 3, 1, 1, 1, 1, 1, true, relu6, relu6},
	}
	for _, tc := range cases {
		for _, withBias := range []bool{true, false} {
			name := fmt.Sprintf("N%dC%dH%dW%dCd%dM%dk%ds%d_e%v_b%v", tc.N, tc.C, tc.H, tc.W, tc.Cd, tc.M, tc.k, tc.s, tc.expand, withBias)
			t.Run(name, func(t *testing.T) {
				r := rand.New(rand.NewSource(int64(tc.H*131 + tc.Cd)))
				rnd := func(n int, scale float64) []float32 {
					v := make([]float32, n)
					for i := range v {
						v[i] = float32(r.NormFloat64() * scale)
					}
					return v
				}
				C := tc.C
				if !tc.expand {
					C = tc.Cd
				}
				x := rnd(tc.N*C*tc.H*tc.W, 1)
				var we, be, bd, bp []float32
				if tc.expand {
					we = rnd(tc.Cd*C, 1/math.Sqrt(float64(C)))
				}
				if withBias {
					if tc.expand {
						be = rnd(tc.Cd, 1)
					}
					bd, bp = rnd(tc.Cd, 1), rnd(tc.M, 1)
				}
				wd := rnd(tc.Cd*tc.k*tc.k, 1.0/3)
				wp := rnd(tc.M*tc.Cd, 1/math.Sqrt(float64(tc.Cd)))
				want, oH, oW := pfBlockRef(tc.N, C, tc.H, tc.W, tc.Cd, tc.M, tc.k, tc.s, tc.pt, tc.pl, tc.pb, tc.pr, tc.actE, tc.actD, x, we, be, wd, bd, wp, bp)
				a := convAttrs{autoPad: "NOTSET", strides: []int{tc.s, tc.s}, pads: []int{tc.pt, tc.pl, tc.pb, tc.pr}}
				dg := convTestGeom(t, &a, []int{tc.H, tc.W}, []int{tc.k, tc.k})
				if dg.out[1] != oH || dg.out[2] != oW {
					t.Fatalf("geometry %dx%d, reference %dx%d", dg.out[1], dg.out[2], oH, oW)
				}
				if tc.actD != nil {
					dg.act, dg.actLo, dg.actHi = true, tc.actD.lo, tc.actD.hi
				}
				for _, run := range []struct{ procs, rows int }{{1, 0}, {2, 0}, {3, 0}, {1, 1}, {2, 2}, {3, 3}, {2, 5}} {
					procs := run.procs
					prev := runtime.GOMAXPROCS(procs)
					y := make([]float32, len(want))
					for i := range y {
						y[i] = float32(math.NaN())
					}
					bg := pfBlockGeom{N: tc.N, C: C, H: tc.H, W: tc.W, Cd: tc.Cd, M: tc.M, actE: tc.actE, dw: dg, rows: run.rows}
					pfBlockF32(&bg, x, we, be, wd, bd, wp, bp, y)
					runtime.GOMAXPROCS(prev)
					maxRef := 0.0
					for _, v := range want {
						maxRef = math.Max(maxRef, math.Abs(v))
					}
					for i, v := range y {
						if d := math.Abs(float64(v) - want[i]); !(d <= 1e-5*maxRef+1e-5) {
							t.Fatalf("GOMAXPROCS %d, band rows %d: y[%d] = %g, want %g (max |y| %g)", procs, run.rows, i, v, want[i], maxRef)
						}
					}
				}
			})
		}
	}
}

// TestPfBlockGraph runs a graph of three inverted-residual chains (a
// stride-2 one with a Relu, a residual stride-1 one with Clip inputs, one
// without expansion) and a chain that must not fuse (its depthwise output
// is also a graph output) through Graph.Run, and checks which chains the
// plan fuses and the outputs against the float64 reference of each chain.
func TestPfBlockGraph(t *testing.T) {
	if !gemmKernelOK {
		t.Skip("no AVX2/FMA kernels on this CPU")
	}
	rng := rand.New(rand.NewSource(5))
	node := pfTestNodes(t)
	f32 := func(scale float64, shape ...int) *Tensor {
		x := New(Float32, shape...)
		for i := range x.F32 {
			x.F32[i] = float32(rng.NormFloat64() * scale)
		}
		return x
	}
	const N, C, H, Cd, M = 3, 8, 30, 48, 16
	g := &Graph{
		Inputs:  []ValueInfo{{Name: "x", DType: Float32}},
		Outputs: []ValueInfo{{Name: "y3"}, {Name: "d4"}, {Name: "y4"}},
	}
	params := map[string]*Tensor{
		"we1": f32(0.3, Cd, C, 1, 1), "be1": f32(1, Cd), "wd1": f32(0.3, Cd, 1, 3, 3), "bd1": f32(1, Cd), "wp1": f32(0.15, M, Cd, 1, 1), "bp1": f32(1, M),
		"we2": f32(0.25, Cd, M, 1, 1), "be2": f32(1, Cd), "wd2": f32(0.3, Cd, 1, 3, 3), "bd2": f32(1, Cd), "wp2": f32(0.15, M, Cd, 1, 1),
		"wd3": f32(0.3, M, 1, 3, 3), "bd3": f32(1, M), "wp3": f32(0.25, M, M, 1, 1), "bp3": f32(1, M),
		"wd4": f32(0.3, M, 1, 3, 3), "wp4": f32(0.25, M, M, 1, 1),
		"lo": Scalar(0), "hi": Scalar(6),
	}
	for name, v := range params {
		g.AddParam(&Param{Name: name, Value: v})
	}

	dw := func(group int, stride int) map[string]any {
		return map[string]any{"pads": []int{1, 1, 1, 1}, "group": group, "strides": []int{stride, stride}}
	}
	g.Nodes = []*Node{
		node("Conv", nil, []string{"x", "we1", "be1"}, []string{"e1"}), // 0: head of chain 1
		node("Relu", nil, []string{"e1"}, []string{"e1r"}),
		node("Conv", dw(Cd, 2), []string{"e1r", "wd1", "bd1"}, []string{"d1"}),
		node("Clip", nil, []string{"d1", "lo", "hi"}, []string{"d1c"}),
		node("Conv", nil, []string{"d1c", "wp1", "bp1"}, []string{"y1"}),
		node("Conv", nil, []string{"y1", "we2", "be2"}, []string{"e2"}), // 5: head of chain 2
		node("Clip", nil, []string{"e2", "lo", "hi"}, []string{"e2c"}),
		node("Conv", dw(Cd, 1), []string{"e2c", "wd2", "bd2"}, []string{"d2"}),
		node("Clip", nil, []string{"d2", "lo", "hi"}, []string{"d2c"}),
		node("Conv", nil, []string{"d2c", "wp2"}, []string{"p2"}),
		node("Add", nil, []string{"y1", "p2"}, []string{"y2"}),
		node("Conv", dw(M, 1), []string{"y2", "wd3", "bd3"}, []string{"d3"}), // 11: head of chain 3
		node("Relu", nil, []string{"d3"}, []string{"d3r"}),
		node("Conv", nil, []string{"d3r", "wp3", "bp3"}, []string{"y3"}),
		node("Conv", dw(M, 1), []string{"y3", "wd4"}, []string{"d4"}), // d4 is a graph output
		node("Conv", nil, []string{"d4", "wp4"}, []string{"y4"}),
	}

	pl := g.buildPlan()
	heads := map[int]pfBlock{
		0:  {expand: 0, expandAct: 1, dw: 2, dwAct: 3, proj: 4},
		5:  {expand: 5, expandAct: 6, dw: 7, dwAct: 8, proj: 9},
		11: {expand: -1, expandAct: -1, dw: 11, dwAct: 12, proj: 13},
	}
	for i := range g.Nodes {
		var got *pfBlock
		if pl.blocks != nil {
			got = pl.blocks[i]
		}
		want, ok := heads[i]
		if ok != (got != nil) || ok && *got != want {
			t.Errorf("node %d: fused chain %+v, want %+v (present %v)", i, got, want, ok)
		}
	}
	x := f32(1, N, C, H, H)
	out, err := g.Run(nil, map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	p := func(name string) []float32 { return params[name].F32 }
	to32 := func(v []float64) []float32 {
		r := make([]float32, len(v))
		for i := range v {
			r[i] = float32(v[i])
		}
		return r
	}
	relu, six := &convAct{lo: 0, hi: math.Inf(1)}, &convAct{lo: 0, hi: 6}
	y1, h1, _ := pfBlockRef(N, C, H, H, Cd, M, 3, 2, 1, 1, 1, 1, relu, six, x.F32, p("we1"), p("be1"), p("wd1"), p("bd1"), p("wp1"), p("bp1"))
	p2, _, _ := pfBlockRef(N, M, h1, h1, Cd, M, 3, 1, 1, 1, 1, 1, six, six, to32(y1), p("we2"), p("be2"), p("wd2"), p("bd2"), p("wp2"), nil)
	for i := range p2 {
		p2[i] += y1[i]
	}
	y3, _, _ := pfBlockRef(N, M, h1, h1, M, M, 3, 1, 1, 1, 1, 1, nil, relu, to32(p2), nil, nil, p("wd3"), p("bd3"), p("wp3"), p("bp3"))
	got := out["y3"].F32
	if len(got) != len(y3) {
		t.Fatalf("y3 has %d values, want %d", len(got), len(y3))
	}
	scale := 0.0
	for _, v := range y3 {
		scale = math.Max(scale, math.Abs(v))
	}
	for i, v := range got {
		if d := math.Abs(float64(v) - y3[i]); !(d <= 1e-5*scale) {
			t.Fatalf("y3[%d] = %v, want %v (to 1e-5 of %g)", i, v, y3[i], scale)
		}
	}
	// The unfused chain's outputs match the node-by-node run.
	ref, err := g.Run(&Context{Context: NewContext(nil).Context, Observe: func(*Node, []*Tensor, []*Tensor) {}}, map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"d4", "y4"} {
		for i, v := range ref[name].F32 {
			if d := math.Abs(float64(v - out[name].F32[i])); !(d <= 1e-5*scale) {
				t.Fatalf("%s[%d] = %v, node by node %v", name, i, out[name].F32[i], v)
			}
		}
	}
}

// TestPfBlockSkipsWideExpansion: a 3×3 Conv before the depthwise one is not
// an expansion; the chain starts at the depthwise Conv.
func TestPfBlockSkipsWideExpansion(t *testing.T) {
	node := pfTestNodes(t)
	g := &Graph{Inputs: []ValueInfo{{Name: "x", DType: Float32}}, Outputs: []ValueInfo{{Name: "y"}}}
	for name, shape := range map[string][]int{"ws": {8, 3, 3, 3}, "wd": {8, 1, 3, 3}, "wp": {4, 8, 1, 1}} {
		g.AddParam(&Param{Name: name, Value: New(Float32, shape...)})
	}
	pads := []int{1, 1, 1, 1}
	g.Nodes = []*Node{
		node("Conv", map[string]any{"pads": pads, "strides": []int{2, 2}}, []string{"x", "ws"}, []string{"s"}),
		node("Relu", nil, []string{"s"}, []string{"sr"}),
		node("Conv", map[string]any{"pads": pads, "group": 8}, []string{"sr", "wd"}, []string{"d"}),
		node("Relu", nil, []string{"d"}, []string{"dr"}),
		node("Conv", nil, []string{"dr", "wp"}, []string{"y"}),
	}
	pl := g.buildPlan()
	if pl.blocks == nil || pl.blocks[2] == nil || pl.blocks[0] != nil {
		t.Fatalf("blocks %v: want one chain headed by node 2", pl.blocks)
	}
	if b := *pl.blocks[2]; b != (pfBlock{expand: -1, expandAct: -1, dw: 2, dwAct: 3, proj: 4}) {
		t.Fatalf("chain %+v", b)
	}
}

// BenchmarkPfBlockMobileNet times MobileNet-v2's inverted-residual chains
// at batch 8, fused (pfBlockF32) and node by node (the three convolutions
// with their activations fused, as Graph.Run runs them otherwise).
func BenchmarkPfBlockMobileNet(b *testing.B) {
	if !gemmKernelOK {
		b.Skip("no AVX2/FMA kernels on this CPU")
	}
	const N = 8
	relu6 := &convAct{lo: 0, hi: 6}
	for _, sh := range []struct{ C, H, Cd, M, s int }{
		{32, 112, 32, 16, 1}, {16, 112, 96, 24, 2}, {24, 56, 144, 24, 1}, {24, 56, 144, 32, 2},
		{32, 28, 192, 32, 1}, {32, 28, 192, 64, 2}, {64, 14, 384, 64, 1}, {96, 14, 576, 96, 1},
		{96, 14, 576, 160, 2}, {160, 7, 960, 160, 1},
	} {
		expand := sh.C != sh.Cd
		a := convAttrs{autoPad: "NOTSET", strides: []int{sh.s, sh.s}, pads: []int{1, 1, 1, 1}}
		dg := convTestGeom(b, &a, []int{sh.H, sh.H}, []int{3, 3})
		dg.act, dg.actLo, dg.actHi = true, 0, 6
		pw := func(h int, act bool) *convGeom {
			g := convTestGeom(b, &convAttrs{autoPad: "NOTSET"}, []int{h, h}, []int{1, 1})
			g.act, g.actLo, g.actHi = act, 0, 6
			return g
		}
		x := make([]float32, N*sh.C*sh.H*sh.H)
		we, be := make([]float32, sh.Cd*sh.C), make([]float32, sh.Cd)
		wd, bd := make([]float32, sh.Cd*9), make([]float32, sh.Cd)
		wp, bp := make([]float32, sh.M*sh.Cd), make([]float32, sh.M)
		y := make([]float32, N*sh.M*dg.outSz)
		flops := float64(2 * N * (sh.Cd*sh.C*sh.H*sh.H*btoi(expand) + sh.Cd*9*dg.outSz + sh.M*sh.Cd*dg.outSz))
		name := fmt.Sprintf("C%dH%dCd%dM%ds%d", sh.C, sh.H, sh.Cd, sh.M, sh.s)
		b.Run(name+"/fused", func(b *testing.B) {
			bg := pfBlockGeom{N: N, C: sh.C, H: sh.H, W: sh.H, Cd: sh.Cd, M: sh.M, actE: relu6, dw: dg}
			wE := we
			if !expand {
				wE = nil
			}
			for i := 0; i < b.N; i++ {
				pfBlockF32(&bg, x, wE, be, wd, bd, wp, bp, y)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(name+"/nodes", func(b *testing.B) {
			e := x
			if expand {
				e = make([]float32, N*sh.Cd*sh.H*sh.H)
			}
			d := make([]float32, N*sh.Cd*dg.outSz)
			ge, gp := pw(sh.H, true), pw(dg.out[1], false)
			for i := 0; i < b.N; i++ {
				if expand {
					convForward(ge, N, sh.C, sh.Cd, 1, x, we, be, e)
				}
				convForward(dg, N, sh.Cd, sh.Cd, sh.Cd, e, wd, bd, d)
				convForward(gp, N, sh.Cd, sh.M, 1, d, wp, bp, y)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestPfBlockChainedDepthwise: in dw → 1×1 → dw → 1×1 (MobileNet-v1
// style) the first 1×1 Conv ends the first chain and is not the second's
// expansion; both chains fuse and match the node-by-node run.
func TestPfBlockChainedDepthwise(t *testing.T) {
	if !gemmKernelOK {
		t.Skip("no AVX2/FMA kernels on this CPU")
	}
	rng := rand.New(rand.NewSource(8))
	node := pfTestNodes(t)
	g := &Graph{Inputs: []ValueInfo{{Name: "x", DType: Float32}}, Outputs: []ValueInfo{{Name: "y"}}}
	for name, shape := range map[string][]int{"wd1": {8, 1, 3, 3}, "wp1": {16, 8, 1, 1}, "wd2": {16, 1, 3, 3}, "wp2": {4, 16, 1, 1}} {
		v := New(Float32, shape...)
		for i := range v.F32 {
			v.F32[i] = float32(rng.NormFloat64() * 0.3)
		}
		g.AddParam(&Param{Name: name, Value: v})
	}
	dw := func(c int) map[string]any { return map[string]any{"pads": []int{1, 1, 1, 1}, "group": c} }
	g.Nodes = []*Node{
		node("Conv", dw(8), []string{"x", "wd1"}, []string{"d1"}),
		node("Relu", nil, []string{"d1"}, []string{"d1r"}),
		node("Conv", nil, []string{"d1r", "wp1"}, []string{"p1"}),
		node("Conv", dw(16), []string{"p1", "wd2"}, []string{"d2"}),
		node("Relu", nil, []string{"d2"}, []string{"d2r"}),
		node("Conv", nil, []string{"d2r", "wp2"}, []string{"y"}),
	}
	pl := g.buildPlan()
	if pl.blocks == nil || pl.blocks[0] == nil || pl.blocks[3] == nil || pl.blocks[2] != nil {
		t.Fatalf("blocks %v: want chains headed by nodes 0 and 3", pl.blocks)
	}
	if b := *pl.blocks[3]; b.expand != -1 || b.dw != 3 || b.proj != 5 {
		t.Fatalf("second chain %+v", b)
	}
	x := New(Float32, 2, 8, 12, 12)
	for i := range x.F32 {
		x.F32[i] = float32(rng.NormFloat64())
	}
	got, err := g.Run(nil, map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := g.Run(&Context{Context: NewContext(nil).Context, Observe: func(*Node, []*Tensor, []*Tensor) {}}, map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range ref["y"].F32 {
		if d := math.Abs(float64(v - got["y"].F32[i])); !(d <= 1e-5*(1+math.Abs(float64(v)))) {
			t.Fatalf("y[%d] = %v, node by node %v", i, got["y"].F32[i], v)
		}
	}
}

// pfTestNodes returns a constructor of built opset-13 nodes for the plan
// tests: node(op, attrs, inputs, outputs).
func pfTestNodes(t *testing.T) func(op string, attrs map[string]any, ins, outs []string) *Node {
	reg := Standard()
	return func(op string, attrs map[string]any, ins, outs []string) *Node {
		n := gradTestNode(t, op, 13, attrs, len(ins), len(outs))
		n.Name = op + "_" + outs[0]
		n.Inputs, n.Outputs = ins, outs
		if err := reg.Build(n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}
