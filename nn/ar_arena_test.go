package nn

import (
	"fmt"
	"math/rand"
	"runtime"
	"sync"
	"testing"
)

// arTestGraph builds a small CNN-like graph that exercises every op
// taking its output from the run buffers (Conv, depthwise Conv,
// BatchNormalization, MaxPool, AveragePool, GlobalAveragePool, Gemm,
// Add/Sub/Mul/Div, Sigmoid, Clip, Concat) together with views (Reshape,
// Flatten, Identity, Slice), in-place activations, and graph outputs that
// are views of intermediate values. With outputs given, only those are
// graph outputs.
func arTestGraph(t testing.TB, hw int, outputs ...string) (*Graph, map[string]*Tensor) {
	t.Helper()
	rng := rand.New(rand.NewSource(7))
	reg := Standard()
	node := func(op string, opset int, attrs map[string]any, ins, outs []string) *Node {
		n := &Node{Name: op + "_" + outs[0], OpType: op, Opset: opset, Attrs: map[string]*Attr{}, Inputs: ins, Outputs: outs}
		for k, v := range attrs {
			switch v := v.(type) {
			case int:
				n.Attrs[k] = &Attr{Name: k, Type: AttrInt, I: int64(v)}
			case []int:
				a := &Attr{Name: k, Type: AttrInts}
				for _, x := range v {
					a.Ints = append(a.Ints, int64(x))
				}
				n.Attrs[k] = a
			}
		}
		if err := reg.Build(n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	f32 := func(scale float64, shape ...int) *Tensor {
		x := New(Float32, shape...)
		for i := range x.F32 {
			x.F32[i] = float32(rng.NormFloat64() * scale)
		}
		return x
	}
	pos := func(shape ...int) *Tensor {
		x := f32(1, shape...)
		for i, v := range x.F32 {
			x.F32[i] = 0.5 + v*v
		}
		return x
	}
	g := &Graph{
		Inputs:  []ValueInfo{{Name: "x", DType: Float32}},
		Outputs: []ValueInfo{{Name: "logits"}, {Name: "dwview"}, {Name: "mp"}, {Name: "bnid"}, {Name: "q"}, {Name: "half"}},
	}
	for _, p := range []struct {
		name string
		v    *Tensor
	}{
		{"w1", f32(0.5, 6, 3, 3, 3)}, {"b1", f32(1, 6)},
		{"scale", pos(6)}, {"bias", f32(1, 6)}, {"mean", f32(1, 6)}, {"var", pos(6)},
		{"wdw", f32(0.5, 6, 1, 3, 3)}, {"bdw", f32(1, 6)},
		{"lo", Scalar(-1)}, {"hi", Scalar(2)},
		{"wg", f32(0.3, 5, 12)}, {"bg", f32(1, 5)},
		{"c3", f32(1, 6, 1, 1)}, {"d3", pos(6, 1, 1)},
		{"shape3", FromInt64([]int64{0, 6, -1}, 3)},
		{"st", FromInt64([]int64{0}, 1)}, {"en", FromInt64([]int64{3}, 1)}, {"ax", FromInt64([]int64{1}, 1)},
	} {
		g.AddParam(&Param{Name: p.name, Value: p.v})
	}
	g.Nodes = []*Node{
		node("Conv", 11, map[string]any{"pads": []int{1, 1, 1, 1}}, []string{"x", "w1", "b1"}, []string{"c1"}),
		node("Relu", 14, nil, []string{"c1"}, []string{"r1"}), // in place
		node("BatchNormalization", 15, nil, []string{"r1", "scale", "bias", "mean", "var"}, []string{"bn"}),
		node("Identity", 14, nil, []string{"bn"}, []string{"bnid"}), // graph output aliasing bn
		node("Sigmoid", 13, nil, []string{"bn"}, []string{"s1"}),
		node("Mul", 14, nil, []string{"bn", "s1"}, []string{"m1"}), // in place into s1
		node("MaxPool", 12, map[string]any{"kernel_shape": []int{2, 2}, "strides": []int{2, 2}}, []string{"m1"}, []string{"mp"}),
		node("AveragePool", 11, map[string]any{"kernel_shape": []int{3, 3}, "pads": []int{1, 1, 1, 1}}, []string{"m1"}, []string{"ap"}),
		node("Conv", 11, map[string]any{"pads": []int{1, 1, 1, 1}, "group": 6}, []string{"ap", "wdw", "bdw"}, []string{"dw"}),
		node("Reshape", 14, nil, []string{"dw", "shape3"}, []string{"dwview"}), // graph output viewing dw
		node("Clip", 13, nil, []string{"dw", "lo", "hi"}, []string{"cl"}),      // dw has other readers
		node("Concat", 13, map[string]any{"axis": 1}, []string{"cl", "ap"}, []string{"cat"}),
		node("Sub", 14, nil, []string{"dw", "c3"}, []string{"sb"}),
		node("Div", 14, nil, []string{"sb", "d3"}, []string{"dv"}), // in place into sb
		node("Slice", 13, nil, []string{"dv", "st", "en", "ax"}, []string{"half"}),
		node("Add", 14, nil, []string{"cat", "cat"}, []string{"q"}),
		node("GlobalAveragePool", 1, nil, []string{"cat"}, []string{"gap"}),
		node("Flatten", 13, nil, []string{"gap"}, []string{"flat"}),
		node("Gemm", 13, map[string]any{"transB": 1}, []string{"flat", "wg", "bg"}, []string{"logits"}),
	}
	if outputs != nil {
		g.Outputs = nil
		for _, o := range outputs {
			g.Outputs = append(g.Outputs, ValueInfo{Name: o})
		}
	}
	return g, map[string]*Tensor{"x": f32(2, 2, 3, hw, hw)}
}

// arReference runs g without the buffer pool (an Observe hook turns it
// off), every output freshly allocated and zeroed.
func arReference(t *testing.T, g *Graph, in map[string]*Tensor) map[string]*Tensor {
	t.Helper()
	ctx := NewContext(nil)
	ctx.Observe = func(*Node, []*Tensor, []*Tensor) {}
	ref, err := g.Run(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// arSame reports the first bitwise difference between two output sets.
func arSame(want, got map[string]*Tensor) error {
	if len(want) != len(got) {
		return fmt.Errorf("%d outputs, want %d", len(got), len(want))
	}
	for name, w := range want {
		o := got[name]
		if o == nil || !SameShape(o.Shape, w.Shape) || len(o.F32) != len(w.F32) {
			return fmt.Errorf("%s: got %v, want %v", name, o, w)
		}
		for i := range w.F32 {
			a, b := w.F32[i], o.F32[i]
			if a != b && !(a != a && b != b) {
				return fmt.Errorf("%s[%d] = %v, want %v", name, i, b, a)
			}
		}
	}
	return nil
}

func arClone(m map[string]*Tensor) map[string]*Tensor {
	c := map[string]*Tensor{}
	for k, v := range m {
		c[k] = v.Clone()
	}
	return c
}

// Repeated runs reuse the buffers of earlier runs (filled with NaN when
// handed out, so an op that leaves part of its output unwritten fails) and
// must give bit-identical outputs, never touching outputs already returned.
func TestArArenaRepeatedRuns(t *testing.T) {
	g, in := arTestGraph(t, 9)
	ref := arReference(t, g, in)
	for name, r := range ref {
		for i, v := range r.F32 {
			if v != v {
				t.Fatalf("reference %s[%d] is NaN", name, i)
			}
		}
	}
	g.arPoison = true
	ctx := NewContext(nil)
	var first, firstCopy map[string]*Tensor
	for run := 0; run < 3; run++ {
		got, err := g.Run(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if err := arSame(ref, got); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if run == 0 {
			first, firstCopy = got, arClone(got)
		}
	}
	if err := arSame(firstCopy, first); err != nil {
		t.Fatalf("outputs of the first run changed by later runs: %v", err)
	}
	// The pool was used: intermediate buffers are kept between runs.
	if len(g.arIdle) != 1 || len(g.arIdle[0].free) == 0 {
		t.Fatalf("no buffers kept between runs (%d idle pools)", len(g.arIdle))
	}
	// Training-mode runs and Observe runs leave the pool alone.
	g.ReleaseBuffers()
	if len(g.arIdle) != 0 {
		t.Fatal("ReleaseBuffers kept pools")
	}
	if _, err := g.Run(&Context{Context: ctx.Context, Training: true}, in); err != nil {
		t.Fatal(err)
	}
	if len(g.arIdle) != 0 {
		t.Fatal("a training-mode Run used the pool")
	}
}

// After a warm-up run, a run allocates none of its float32 buffers again
// (only the graph outputs are new): the pool holds the same buffers.
func TestArArenaSteadyState(t *testing.T) {
	g, in := arTestGraph(t, 48, "logits", "q")
	ctx := NewContext(nil)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	if _, err := g.Run(ctx, in); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&ms)
	firstBytes := ms.TotalAlloc - before
	bufs := func() map[uintptr]bool {
		m := map[uintptr]bool{}
		for _, b := range g.arIdle[0].free {
			m[b.lo] = true
		}
		return m
	}
	if _, err := g.Run(ctx, in); err != nil {
		t.Fatal(err)
	}
	kept := bufs()
	runtime.ReadMemStats(&ms)
	before = ms.TotalAlloc
	const runs = 4
	for i := 0; i < runs; i++ {
		if _, err := g.Run(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&ms)
	perRun := (ms.TotalAlloc - before) / runs
	now := bufs()
	if len(now) != len(kept) {
		t.Errorf("pool holds %d buffers, %d after the second run", len(now), len(kept))
	}
	for lo := range now {
		if !kept[lo] {
			t.Errorf("a steady-state run allocated a new buffer")
			break
		}
	}
	// The bytes also count scratch space from sync.Pools, which the race
	// detector and garbage collections empty: logged, not checked.
	t.Logf("first run %d bytes, later runs %d bytes each, %d buffers kept", firstBytes, perRun, len(kept))
}

// Concurrent runs of one Graph (and one Context) each take their own pool.
func TestArArenaConcurrentRuns(t *testing.T) {
	g, in := arTestGraph(t, 9)
	ref := arReference(t, g, in)
	g.arPoison = true
	ctx := NewContext(nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for run := 0; run < 3; run++ {
				got, err := g.Run(ctx, in)
				if err == nil {
					err = arSame(ref, got)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// The pool's bookkeeping: a buffer comes back only when no live value
// overlaps it, and buffers backing returned outputs are forgotten.
func TestArPoolBookkeeping(t *testing.T) {
	p := &arPool{}
	ctx := &Context{ar: p}
	a := ctx.arNew(Float32, 4, 8)
	view := &Tensor{DType: Float32, Shape: []int{8}, F32: a.F32[8:16]}
	p.ref(a, 1)
	p.ref(view, 1)
	p.ref(a, -1)
	p.sweep()
	if len(p.free) != 0 {
		t.Fatal("buffer released while a view of it is live")
	}
	b := ctx.arNew(Float32, 32)
	if &b.F32[0] == &a.F32[0] {
		t.Fatal("live buffer handed out again")
	}
	p.ref(b, 1)
	p.ref(view, -1)
	p.sweep()
	if len(p.free) != 1 {
		t.Fatalf("%d free buffers, want 1", len(p.free))
	}
	c := ctx.arNew(Float32, 20) // best fit: a's buffer (32 elements)
	if &c.F32[0] != &a.F32[0] || len(c.F32) != 20 {
		t.Fatal("free buffer not reused")
	}
	if d := ctx.arNew(Float32, 100); len(d.F32) != 100 {
		t.Fatal("wrong length")
	}
	// c is temporary (never stored); b is returned to the caller.
	p.finish(map[string]*Tensor{"out": b}, false)
	if len(p.busy) != 0 || len(p.free) != 2 {
		t.Fatalf("after finish: %d busy, %d free, want 0 and 2", len(p.busy), len(p.free))
	}
	for _, f := range p.free {
		if f.lo == uintptr(0) || &f.data[0] == &b.F32[0] {
			t.Fatal("returned output kept in the pool")
		}
	}
	// A run that hands out nothing drops the unused buffers.
	p.finish(nil, false)
	if len(p.free) != 0 {
		t.Fatalf("%d unused buffers kept", len(p.free))
	}
	// Without a pool arNew is New (zeroed).
	if z := (*Context)(nil).arNew(Float32, 3); len(z.F32) != 3 || z.F32[0] != 0 {
		t.Fatal("arNew without a pool")
	}
}

// BenchmarkArRun measures a steady-state inference run of the test graph
// with and without the buffer pool (-benchmem shows the bytes per run).
func BenchmarkArRun(b *testing.B) {
	g, in := arTestGraph(b, 64, "logits")
	for _, pooled := range []bool{true, false} {
		name := "pool"
		ctx := NewContext(nil)
		if !pooled {
			name = "nopool"
			ctx.Observe = func(*Node, []*Tensor, []*Tensor) {}
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			if _, err := g.Run(ctx, in); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := g.Run(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
