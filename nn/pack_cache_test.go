package nn

import (
	"math/rand"
	"slices"
	"sync"
	"testing"
)

// packTestGraph is x → Conv(w) → y and x → Conv(w·s) → z, w a parameter
// and s a graph input: y's weights can be cached, z's cannot.
func packTestGraph(t *testing.T, rng *rand.Rand) *Graph {
	t.Helper()
	g := &Graph{
		Inputs:  []ValueInfo{{Name: "x", DType: Float32}, {Name: "s", DType: Float32}},
		Outputs: []ValueInfo{{Name: "y"}, {Name: "z"}},
	}
	w := New(Float32, 16, 8, 3, 3)
	for i := range w.F32 {
		w.F32[i] = float32(rng.NormFloat64())
	}
	g.AddParam(&Param{Name: "w", Value: w})
	pads := map[string]any{"pads": []int{1, 1, 1, 1}}
	g.Nodes = []*Node{
		graphTestNode(t, "Conv", 11, pads, []string{"x", "w"}, []string{"y"}),
		graphTestNode(t, "Mul", 14, nil, []string{"w", "s"}, []string{"ws"}),
		graphTestNode(t, "Conv", 11, pads, []string{"x", "ws"}, []string{"z"}),
	}
	return g
}

// packTestRef runs g node by node (an Observe hook turns plain inference,
// and with it the cache, off).
func packTestRef(t *testing.T, g *Graph, feeds map[string]*Tensor) map[string]*Tensor {
	t.Helper()
	ctx := NewContext(nil)
	ctx.Observe = func(*Node, []*Tensor, []*Tensor) {}
	out, err := g.Run(ctx, feeds)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Plain inference keeps the packed weights of parameters between runs and
// gives the node-by-node results bit for bit; weights computed by a node
// are packed afresh every run; ReleaseBuffers, Invalidate and ForwardTrain
// drop the cache, so a run after the parameters changed in place reads
// the new values; concurrent runs share it.
func TestPackCache(t *testing.T) {
	if !gemmKernelOK {
		t.Skip("no offset kernels on this CPU: nothing is packed")
	}
	rng := rand.New(rand.NewSource(30))
	g := packTestGraph(t, rng)
	x := New(Float32, 2, 8, 16, 16)
	for i := range x.F32 {
		x.F32[i] = float32(rng.NormFloat64())
	}
	s := New(Float32, 1)
	check := func(what string, sv float32) {
		t.Helper()
		s.F32[0] = sv
		feeds := map[string]*Tensor{"x": x, "s": s}
		want := packTestRef(t, g, feeds)
		for round := 0; round < 2; round++ {
			got, err := g.Run(nil, feeds)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range []string{"y", "z"} {
				if !slices.Equal(got[o].F32, want[o].F32) {
					t.Fatalf("%s, run %d: %s differs from the node-by-node run", what, round, o)
				}
			}
		}
	}
	check("first", 1)
	if g.packs == nil || len(g.packs.packs) != 1 {
		t.Fatalf("after runs: %v cached packings, want 1 (w's, not w·s's)", g.packs)
	}
	check("weights computed by a node change", 3)
	w := g.Params["w"].Value.F32
	for i := range w {
		w[i] *= -0.5
	}
	g.ReleaseBuffers()
	check("after changing w and ReleaseBuffers", 3)
	for i := range w {
		w[i] *= 2
	}
	g.Invalidate()
	check("after changing w and Invalidate", 3)
	if _, err := g.ForwardTrain(nil, map[string]*Tensor{"x": x, "s": s}, []string{"y"}, []string{"w"}); err != nil {
		t.Fatal(err)
	}
	if g.packs != nil {
		t.Fatal("ForwardTrain kept the packed weights")
	}
	for i := range w {
		w[i] += 0.25
	}
	check("after ForwardTrain and changing w", 2)
	feeds := map[string]*Tensor{"x": x, "s": s}
	want := packTestRef(t, g, feeds)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for k := 0; k < 4; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := g.Run(nil, feeds)
			if err != nil {
				errs <- err.Error()
				return
			}
			if !slices.Equal(got["y"].F32, want["y"].F32) {
				errs <- "concurrent run: y differs"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
