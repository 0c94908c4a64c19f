package nn

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// convTestNode builds an op of the given type with integer-list, integer
// and string attributes.
func convTestNode(t testing.TB, typ string, nOut int, attrs map[string]any) Op {
	t.Helper()
	n := &Node{OpType: typ, Opset: 19, Attrs: map[string]*Attr{}}
	for i := 0; i < nOut; i++ {
		n.Outputs = append(n.Outputs, fmt.Sprint("y", i))
	}
	for k, v := range attrs {
		a := &Attr{Name: k}
		switch v := v.(type) {
		case int:
			a.Type, a.I = AttrInt, int64(v)
		case float32:
			a.Type, a.F = AttrFloat, v
		case string:
			a.Type, a.S = AttrString, v
		case []int:
			a.Type = AttrInts
			for _, x := range v {
				a.Ints = append(a.Ints, int64(x))
			}
		default:
			t.Fatalf("attr %s: unsupported %T", k, v)
		}
		n.Attrs[k] = a
	}
	if err := Standard().Build(n); err != nil {
		t.Fatal(err)
	}
	return n.Op
}

func convTestRun(t testing.TB, op Op, in ...*Tensor) []*Tensor {
	t.Helper()
	out, err := op.Run(NewContext(nil), in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func convTestRand(r *rand.Rand, shape ...int) *Tensor {
	x := New(Float32, shape...)
	for i := range x.F32 {
		x.F32[i] = float32(r.NormFloat64())
	}
	return x
}

func convTestClose(t testing.TB, what string, got *Tensor, want []float64, wantShape []int, tol float64) {
	t.Helper()
	if !SameShape(got.Shape, wantShape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, wantShape)
	}
	for i, w := range want {
		g := got.Float64At(i)
		if math.Abs(g-w) > tol*(1+math.Abs(w)) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, g, w)
		}
	}
}

// convNaive is an independent direct convolution (any spatial rank) used
// as the reference: explicit pads, no auto_pad.
func convNaive(x, w, b *Tensor, group int, strides, dil, pads []int) ([]float64, []int) {
	r := x.Rank() - 2
	N, C, M := x.Shape[0], x.Shape[1], w.Shape[0]
	Cg, Mg := C/group, M/group
	in, k := x.Shape[2:], w.Shape[2:]
	out := make([]int, r)
	for i := range out {
		out[i] = (in[i]+pads[i]+pads[i+r]-(k[i]-1)*dil[i]-1)/strides[i] + 1
	}
	shape := append([]int{N, M}, out...)
	y := make([]float64, NumElements(shape))
	xs, ws := Strides(x.Shape), Strides(w.Shape)
	outIdx := make([]int, r)
	kIdx := make([]int, r)
	nOut, nK := NumElements(out), NumElements(k)
	for n := 0; n < N; n++ {
		for m := 0; m < M; m++ {
			gi := m / Mg
			for o := 0; o < nOut; o++ {
				rem := o
				for d := r - 1; d >= 0; d-- {
					outIdx[d] = rem % out[d]
					rem /= out[d]
				}
				s := 0.0
				if b != nil {
					s = float64(b.F32[m])
				}
				for c := 0; c < Cg; c++ {
					for kk := 0; kk < nK; kk++ {
						rem := kk
						for d := r - 1; d >= 0; d-- {
							kIdx[d] = rem % k[d]
							rem /= k[d]
						}
						xo := n*xs[0] + (gi*Cg+c)*xs[1]
						wo := m*ws[0] + c*ws[1]
						ok := true
						for d := 0; d < r; d++ {
							p := outIdx[d]*strides[d] - pads[d] + kIdx[d]*dil[d]
							if p < 0 || p >= in[d] {
								ok = false
								break
							}
							xo += p * xs[2+d]
							wo += kIdx[d] * ws[2+d]
						}
						if ok {
							s += float64(x.F32[xo]) * float64(w.F32[wo])
						}
					}
				}
				y[(n*M+m)*nOut+o] = s
			}
		}
	}
	return y, shape
}

func TestConvHandChecked(t *testing.T) {
	// 1x1x3x3 input, 2x2 kernel of ones, bias 1: sums of 2x2 blocks + 1.
	x := FromFloat32([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3)
	w := FromFloat32([]float32{1, 1, 1, 1}, 1, 1, 2, 2)
	b := FromFloat32([]float32{1}, 1)
	y := convTestRun(t, convTestNode(t, "Conv", 1, nil), x, w, b)[0]
	convTestClose(t, "conv", y, []float64{13, 17, 25, 29}, []int{1, 1, 2, 2}, 1e-6)
	// SAME_UPPER with stride 2 on a 3x3 input: out 2x2, total pad 1 at the end.
	y = convTestRun(t, convTestNode(t, "Conv", 1, map[string]any{"auto_pad": "SAME_UPPER", "strides": []int{2, 2}}), x, w)[0]
	convTestClose(t, "conv same_upper", y, []float64{12, 9, 15, 9}, []int{1, 1, 2, 2}, 1e-6)
	y = convTestRun(t, convTestNode(t, "Conv", 1, map[string]any{"auto_pad": "SAME_LOWER", "strides": []int{2, 2}}), x, w)[0]
	convTestClose(t, "conv same_lower", y, []float64{1, 5, 11, 28}, []int{1, 1, 2, 2}, 1e-6)
}

func TestConvRandomAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	cases := []struct {
		x, w       []int
		group      int
		s, d, pads []int
	}{
		{[]int{2, 4, 9, 8}, []int{6, 2, 3, 3}, 2, []int{1, 2}, []int{2, 1}, []int{1, 0, 2, 1}},
		{[]int{1, 3, 7, 7}, []int{5, 3, 1, 1}, 1, []int{1, 1}, []int{1, 1}, []int{0, 0, 0, 0}},
		{[]int{2, 3, 7, 7}, []int{5, 3, 1, 1}, 1, []int{2, 2}, []int{1, 1}, []int{1, 1, 1, 1}},
		{[]int{1, 6, 10, 11}, []int{6, 1, 3, 3}, 6, []int{1, 1}, []int{1, 1}, []int{1, 1, 1, 1}},  // depthwise
		{[]int{2, 4, 10, 11}, []int{8, 1, 3, 2}, 4, []int{2, 3}, []int{2, 1}, []int{2, 1, 0, 3}},  // depthwise x2
		{[]int{1, 8, 13, 12}, []int{16, 1, 5, 5}, 8, []int{2, 2}, []int{1, 1}, []int{2, 2, 2, 2}}, // depthwise, stride 2
		{[]int{3, 4, 17}, []int{6, 2, 4}, 2, []int{3}, []int{2}, []int{3, 1}},
		{[]int{1, 4, 11, 12}, []int{4, 1, 3, 3}, 4, []int{2, 2}, []int{1, 1}, []int{1, 1, 1, 1}}, // depthwise s2, pad 1
		{[]int{1, 4, 12, 11}, []int{4, 1, 3, 3}, 4, []int{2, 2}, []int{1, 1}, []int{0, 0, 1, 1}}, // depthwise s2, pad 0
		{[]int{1, 2, 9, 9}, []int{2, 1, 3, 3}, 2, []int{2, 2}, []int{1, 1}, []int{1, 1, 0, 0}},   // depthwise s2, odd
		{[]int{1, 3, 9, 40}, []int{3, 1, 3, 3}, 3, []int{2, 2}, []int{1, 1}, []int{1, 1, 1, 1}},  // depthwise s2, wide rows
		{[]int{2, 2, 7, 53}, []int{4, 1, 3, 5}, 2, []int{2, 2}, []int{1, 2}, []int{0, 3, 1, 0}},  // depthwise s2, dilated, x2
		{[]int{2, 5, 40}, []int{10, 1, 3}, 5, []int{2}, []int{3}, []int{4, 1}},                   // depthwise 1-D
		{[]int{1, 3, 33, 35}, []int{3, 1, 7, 5}, 3, []int{3, 2}, []int{1, 2}, []int{3, 0, 1, 4}}, // depthwise, wide
		{[]int{1, 2, 5, 6, 7}, []int{4, 2, 2, 3, 2}, 1, []int{1, 2, 1}, []int{2, 1, 2}, []int{1, 0, 1, 0, 1, 1}},
		{[]int{1, 2, 4, 5, 40}, []int{2, 1, 2, 2, 3}, 2, []int{1, 2, 3}, []int{1, 1, 2}, []int{0, 1, 2, 1, 0, 1}}, // 3-D depthwise, stride 3
		{[]int{2, 4, 5, 6, 7}, []int{4, 1, 3, 3, 3}, 4, []int{1, 1, 2}, []int{1, 1, 1}, []int{1, 1, 1, 1, 1, 1}},
		{[]int{1, 16, 14, 14}, []int{32, 16, 3, 3}, 1, []int{1, 1}, []int{1, 1}, []int{1, 1, 1, 1}},
	}
	for i, c := range cases {
		x, w := convTestRand(r, c.x...), convTestRand(r, c.w...)
		b := convTestRand(r, c.w[0])
		op := convTestNode(t, "Conv", 1, map[string]any{"group": c.group, "strides": c.s, "dilations": c.d, "pads": c.pads})
		for _, bias := range []*Tensor{nil, b} {
			got := convTestRun(t, op, x, w, bias)[0]
			want, shape := convNaive(x, w, bias, c.group, c.s, c.d, c.pads)
			convTestClose(t, fmt.Sprintf("case %d bias=%v", i, bias != nil), got, want, shape, 1e-4)
		}
		// float64 gives the same.
		x64, w64 := convTestTo64(x), convTestTo64(w)
		got := convTestRun(t, op, x64, w64)[0]
		want, shape := convNaive(x, w, nil, c.group, c.s, c.d, c.pads)
		convTestClose(t, fmt.Sprintf("case %d float64", i), got, want, shape, 1e-9)
	}
}

func convTestTo64(x *Tensor) *Tensor {
	y := New(Float64, x.Shape...)
	for i, v := range x.F32 {
		y.F64[i] = float64(v)
	}
	return y
}

// convTransposeNaive scatters every input element through the kernel.
func convTransposeNaive(x, w, b *Tensor, group int, strides, dil, pads, outShape []int) []float64 {
	r := x.Rank() - 2
	N, C := x.Shape[0], x.Shape[1]
	Mg := w.Shape[1]
	M := Mg * group
	Cg := C / group
	in, k := x.Shape[2:], w.Shape[2:]
	nOut := NumElements(outShape)
	y := make([]float64, N*M*nOut)
	if b != nil {
		for n := 0; n < N; n++ {
			for m := 0; m < M; m++ {
				for o := 0; o < nOut; o++ {
					y[(n*M+m)*nOut+o] = float64(b.F32[m])
				}
			}
		}
	}
	xs, ws, os := Strides(x.Shape), Strides(w.Shape), Strides(outShape)
	iIdx, kIdx := make([]int, r), make([]int, r)
	for n := 0; n < N; n++ {
		for c := 0; c < C; c++ {
			gi := c / Cg
			for ii := 0; ii < NumElements(in); ii++ {
				rem := ii
				for d := r - 1; d >= 0; d-- {
					iIdx[d] = rem % in[d]
					rem /= in[d]
				}
				xo := n*xs[0] + c*xs[1]
				for d := 0; d < r; d++ {
					xo += iIdx[d] * xs[2+d]
				}
				for m := 0; m < Mg; m++ {
					for kk := 0; kk < NumElements(k); kk++ {
						rem := kk
						for d := r - 1; d >= 0; d-- {
							kIdx[d] = rem % k[d]
							rem /= k[d]
						}
						wo := c*ws[0] + m*ws[1]
						oo := 0
						ok := true
						for d := 0; d < r; d++ {
							p := iIdx[d]*strides[d] - pads[d] + kIdx[d]*dil[d]
							if p < 0 || p >= outShape[d] {
								ok = false
								break
							}
							oo += p * os[d]
							wo += kIdx[d] * ws[2+d]
						}
						if ok {
							y[(n*M+gi*Mg+m)*nOut+oo] += float64(x.F32[xo]) * float64(w.F32[wo])
						}
					}
				}
			}
		}
	}
	return y
}

func TestConvTransposeRandomAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	cases := []struct {
		x, w             []int
		group            int
		s, d, pads, opad []int
	}{
		{[]int{1, 2, 3, 3}, []int{2, 3, 3, 3}, 1, []int{1, 1}, []int{1, 1}, []int{0, 0, 0, 0}, []int{0, 0}},
		{[]int{2, 4, 5, 4}, []int{4, 3, 3, 2}, 2, []int{2, 3}, []int{1, 2}, []int{1, 0, 0, 1}, []int{1, 2}},
		{[]int{1, 3, 6}, []int{3, 2, 4}, 1, []int{3}, []int{2}, []int{2, 1}, []int{1}},
		{[]int{1, 2, 3, 4, 3}, []int{2, 2, 2, 2, 2}, 2, []int{2, 1, 2}, []int{1, 1, 1}, []int{0, 1, 0, 0, 1, 0}, []int{0, 0, 1}},
	}
	for i, c := range cases {
		x, w := convTestRand(r, c.x...), convTestRand(r, c.w...)
		M := c.w[1] * c.group
		b := convTestRand(r, M)
		rank := len(c.x) - 2
		out := []int{c.x[0], M}
		for d := 0; d < rank; d++ {
			out = append(out, c.s[d]*(c.x[2+d]-1)+c.opad[d]+(c.w[2+d]-1)*c.d[d]+1-c.pads[d]-c.pads[d+rank])
		}
		op := convTestNode(t, "ConvTranspose", 1, map[string]any{"group": c.group, "strides": c.s, "dilations": c.d,
			"pads": c.pads, "output_padding": c.opad})
		got := convTestRun(t, op, x, w, b)[0]
		want := convTransposeNaive(x, w, b, c.group, c.s, c.d, c.pads, out[2:])
		convTestClose(t, fmt.Sprintf("case %d", i), got, want, out, 1e-4)
		// output_shape instead of pads (NOTSET: extra padding goes first).
		op = convTestNode(t, "ConvTranspose", 1, map[string]any{"group": c.group, "strides": c.s, "dilations": c.d,
			"output_shape": out[2:], "output_padding": c.opad})
		got = convTestRun(t, op, x, w, b)[0]
		var pads []int
		for d := 0; d < rank; d++ {
			total := c.pads[d] + c.pads[d+rank]
			pads = append(pads, total-total/2)
		}
		want = convTransposeNaive(x, w, b, c.group, c.s, c.d, append(pads, make([]int, rank)...), out[2:])
		convTestClose(t, fmt.Sprintf("case %d output_shape", i), got, want, out, 1e-4)
	}
}

func TestConvTransposeHandChecked(t *testing.T) {
	// Stride 2 with a 2x2 kernel: every input element writes its own 2x2
	// block x[i,j]*w; output_padding adds a zero row and column.
	x := FromFloat32([]float32{1, 2, 3, 4}, 1, 1, 2, 2)
	w := FromFloat32([]float32{1, 2, 3, 4}, 1, 1, 2, 2)
	op := convTestNode(t, "ConvTranspose", 1, map[string]any{"strides": []int{2, 2}, "output_padding": []int{1, 1}})
	y := convTestRun(t, op, x, w)[0]
	want := []float64{
		1, 2, 2, 4, 0,
		3, 4, 6, 8, 0,
		3, 6, 4, 8, 0,
		9, 12, 12, 16, 0,
		0, 0, 0, 0, 0,
	}
	convTestClose(t, "convtranspose", y, want, []int{1, 1, 5, 5}, 1e-6)
}

func TestConvErrors(t *testing.T) {
	op := convTestNode(t, "Conv", 1, map[string]any{"group": 2})
	x := New(Float32, 1, 3, 4, 4)
	w := New(Float32, 4, 1, 3, 3)
	if _, err := op.Run(NewContext(nil), []*Tensor{x, w}); err == nil {
		t.Fatal("Conv accepted C=3 with group 2")
	}
	op = convTestNode(t, "Conv", 1, nil)
	if _, err := op.Run(NewContext(nil), []*Tensor{New(Float32, 1, 1, 2, 2), New(Float32, 1, 1, 3, 3)}); err == nil {
		t.Fatal("Conv accepted a kernel larger than the input")
	}
	if _, err := op.Run(NewContext(nil), []*Tensor{New(Int64, 1, 1, 2, 2), New(Int64, 1, 1, 1, 1)}); err == nil {
		t.Fatal("Conv accepted int64")
	}
}

func benchConv(b *testing.B, x, w []int, attrs map[string]any) {
	r := rand.New(rand.NewSource(1))
	xt, wt := convTestRand(r, x...), convTestRand(r, w...)
	bias := convTestRand(r, w[0])
	op := convTestNode(b, "Conv", 1, attrs)
	in := []*Tensor{xt, wt, bias}
	y := convTestRun(b, op, in...)[0]
	flops := 2 * float64(y.Len()) * float64(NumElements(w[1:]))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := op.Run(NewContext(nil), in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// ResNet-18 layer shapes.
func BenchmarkConvResNetStem7x7(b *testing.B) {
	benchConv(b, []int{1, 3, 224, 224}, []int{64, 3, 7, 7}, map[string]any{"strides": []int{2, 2}, "pads": []int{3, 3, 3, 3}})
}

func BenchmarkConv3x3x64(b *testing.B) {
	benchConv(b, []int{1, 64, 56, 56}, []int{64, 64, 3, 3}, map[string]any{"pads": []int{1, 1, 1, 1}})
}

func BenchmarkConv3x3x256(b *testing.B) {
	benchConv(b, []int{1, 256, 14, 14}, []int{256, 256, 3, 3}, map[string]any{"pads": []int{1, 1, 1, 1}})
}

// MobileNet-v2 shapes.
func BenchmarkConvPointwise1x1(b *testing.B) {
	benchConv(b, []int{1, 32, 112, 112}, []int{16, 32, 1, 1}, nil)
}

func BenchmarkConvDepthwise3x3(b *testing.B) {
	benchConv(b, []int{1, 96, 112, 112}, []int{96, 1, 3, 3}, map[string]any{"group": 96, "strides": []int{2, 2}, "pads": []int{1, 1, 1, 1}})
}

func BenchmarkConvDepthwise3x3s1(b *testing.B) {
	benchConv(b, []int{1, 144, 56, 56}, []int{144, 1, 3, 3}, map[string]any{"group": 144, "pads": []int{1, 1, 1, 1}})
}

func BenchmarkConvBatch8x3x3x64(b *testing.B) {
	benchConv(b, []int{8, 64, 28, 28}, []int{64, 64, 3, 3}, map[string]any{"pads": []int{1, 1, 1, 1}})
}

// MobileNet-v2's stride-1 depthwise layers at batch 8.
func BenchmarkConvDepthwiseMobileNet(b *testing.B) {
	for _, sh := range [][2]int{{144, 56}, {192, 28}, {576, 14}, {960, 7}} {
		b.Run(fmt.Sprintf("C%dH%d", sh[0], sh[1]), func(b *testing.B) {
			benchConv(b, []int{8, sh[0], sh[1], sh[1]}, []int{sh[0], 1, 3, 3}, map[string]any{"group": sh[0], "pads": []int{1, 1, 1, 1}})
		})
	}
}

// MobileNet-v2's stride-2 depthwise layers at batch 8, both float32 kernels.
func BenchmarkConvDepthwiseS2Kernels(b *testing.B) {
	for _, sh := range [][2]int{{96, 112}, {144, 56}, {192, 28}, {576, 14}} {
		a := convAttrs{autoPad: "NOTSET", strides: []int{2, 2}, pads: []int{1, 1, 1, 1}}
		g := convTestGeom(b, &a, []int{sh[1], sh[1]}, []int{3, 3})
		C, N := sh[0], 8
		x := make([]float32, N*C*g.inSize)
		w := make([]float32, C*9)
		bias := make([]float32, C)
		y := make([]float32, N*C*g.outSz)
		for _, k := range []struct {
			name string
			fn   func(g *convGeom, N, C, M, G int, x, w, b, y []float32)
		}{{"flat", convDepthwiseFlatF32}, {"rows", convDepthwiseF32}} {
			b.Run(fmt.Sprintf("C%dH%d/%s", sh[0], sh[1], k.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					k.fn(g, N, C, C, C, x, w, bias, y)
				}
				b.ReportMetric(float64(2*9*len(y))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// MobileNet-v2's widest pointwise layers at batch 8 (the 96-channel
// output, 38 MB, is written with non-temporal stores on AVX-512 CPUs).
func BenchmarkConvPointwiseMobileNet(b *testing.B) {
	for _, sh := range [][3]int{{16, 96, 112}, {32, 16, 112}, {24, 144, 56}, {144, 24, 56}} {
		b.Run(fmt.Sprintf("C%dM%dH%d", sh[0], sh[1], sh[2]), func(b *testing.B) {
			benchConv(b, []int{8, sh[0], sh[2], sh[2]}, []int{sh[1], sh[0], 1, 1}, nil)
		})
	}
}

// convTestGeom is convMakeGeom for tests and benchmarks: it stops tb on an
// invalid geometry.
func convTestGeom(tb testing.TB, a *convAttrs, in, k []int) *convGeom {
	tb.Helper()
	g, err := convMakeGeom(a, in, k)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}
