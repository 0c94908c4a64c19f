package onnx_test

import (
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// arenaModels lists the repository's test models and, when present, the
// git-ignored benchmark models of testdata/bench.
func arenaModels(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "models", "*.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mobilenet_v2", "resnet18", "efficientnet_b0"} {
		p := filepath.Join("..", "testdata", "bench", name+".onnx")
		if _, err := os.Stat(p); err == nil && !testing.Short() {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	return paths
}

// arenaReference runs g with an Observe hook, which turns the inference
// buffer pool off: every value is freshly allocated.
func arenaReference(t *testing.T, g *nn.Graph, feed map[string]*nn.Tensor) map[string]*nn.Tensor {
	t.Helper()
	ctx := nn.NewContext(nil)
	ctx.Observe = func(*nn.Node, []*nn.Tensor, []*nn.Tensor) {}
	ref, err := g.Run(ctx, feed)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range ref {
		ref[name] = r.Clone()
	}
	return ref
}

// arenaClose fails unless got's float outputs are within 1e-5 of want's
// (relative to the largest |want| of each output) and its integer outputs
// equal. Plain inference fuses some chains of nodes (an expansion, depthwise
// and projection convolution run as one, see nn/pf_block.go), which sums in
// a different order than the node-by-node reference; a buffer handed out
// twice or left unwritten (poisoned with NaN) is far outside this bound.
func arenaClose(t *testing.T, what string, want, got map[string]*nn.Tensor) {
	t.Helper()
	for name, w := range want {
		o := got[name]
		if o == nil || !nn.SameShape(o.Shape, w.Shape) || len(o.F32) != len(w.F32) || len(o.I64) != len(w.I64) {
			t.Fatalf("%s: output %q is %v, want %v", what, name, o, w)
		}
		scale := 0.0
		for _, v := range w.F32 {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		for i := range w.F32 {
			a, b := float64(w.F32[i]), float64(o.F32[i])
			if a != a && b != b {
				continue
			}
			if !(math.Abs(a-b) <= 1e-5*scale) {
				t.Fatalf("%s: output %q[%d] = %v, want %v (to 1e-5 of %g)", what, name, i, b, a, scale)
			}
		}
		for i := range w.I64 {
			if w.I64[i] != o.I64[i] {
				t.Fatalf("%s: output %q[%d] = %v, want %v", what, name, i, o.I64[i], w.I64[i])
			}
		}
	}
}

// cloneOutputs returns deep copies of outs.
func cloneOutputs(outs map[string]*nn.Tensor) map[string]*nn.Tensor {
	c := make(map[string]*nn.Tensor, len(outs))
	for name, t := range outs {
		c[name] = t.Clone()
	}
	return c
}

// arenaSame fails unless got equals want bit for bit.
func arenaSame(t *testing.T, what string, want, got map[string]*nn.Tensor) {
	t.Helper()
	for name, w := range want {
		o := got[name]
		if o == nil || !nn.SameShape(o.Shape, w.Shape) || len(o.F32) != len(w.F32) || len(o.I64) != len(w.I64) {
			t.Fatalf("%s: output %q is %v, want %v", what, name, o, w)
		}
		for i := range w.F32 {
			a, b := w.F32[i], o.F32[i]
			if a != b && !(a != a && b != b) {
				t.Fatalf("%s: output %q[%d] = %v, want %v (bit-identical)", what, name, i, b, a)
			}
		}
		for i := range w.I64 {
			if w.I64[i] != o.I64[i] {
				t.Fatalf("%s: output %q[%d] = %v, want %v", what, name, i, o.I64[i], w.I64[i])
			}
		}
	}
}

// TestArenaRepeatedRuns runs every model three times on one Context: the
// later runs reuse the buffers of the earlier ones (poisoned with NaN when
// handed out, so an op that leaves part of its output unwritten shows up)
// and must give outputs bit-identical to the first run's and close to a
// run without the buffer pool (arenaClose), without changing the outputs
// an earlier run returned.
func TestArenaRepeatedRuns(t *testing.T) {
	t.Setenv("GRAFT_ARENA_POISON", "1")
	for _, path := range arenaModels(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		t.Run(name, func(t *testing.T) {
			g, err := onnx.LoadGraph(path)
			if err != nil {
				t.Fatal(err)
			}
			batch := 2
			if g.FixedBatch > 0 {
				batch = g.FixedBatch
			}
			feed := randomInputs(t, g, batch, 1, 5)
			ref := arenaReference(t, g, feed)
			ctx := nn.NewContext(nil)
			var first, firstRun map[string]*nn.Tensor
			for run := 0; run < 3; run++ {
				got, err := g.Run(ctx, feed)
				if err != nil {
					t.Fatal(err)
				}
				if run == 0 {
					arenaClose(t, "run 1", ref, got)
					first, firstRun = cloneOutputs(got), got
					continue
				}
				arenaSame(t, "run "+string(rune('1'+run)), first, got)
			}
			arenaSame(t, "first run's outputs after two more runs", first, firstRun)
		})
	}
}

// TestArenaConcurrentRuns runs one Graph from several goroutines at once
// (meant for -race): each run takes its own buffer pool.
func TestArenaConcurrentRuns(t *testing.T) {
	t.Setenv("GRAFT_ARENA_POISON", "1")
	for _, name := range []string{"mobilenet_block", "resnet_small", "se_block"} {
		t.Run(name, func(t *testing.T) {
			g, err := onnx.LoadGraph(filepath.Join("..", "testdata", "models", name+".onnx"))
			if err != nil {
				t.Fatal(err)
			}
			feed := randomInputs(t, g, 2, 1, 9)
			ref := arenaReference(t, g, feed)
			var wg sync.WaitGroup
			results := make([][]map[string]*nn.Tensor, 3)
			errs := make([]error, 3)
			for w := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := nn.NewContext(nil)
					for run := 0; run < 3; run++ {
						got, err := g.Run(ctx, feed)
						if err != nil {
							errs[w] = err
							return
						}
						results[w] = append(results[w], got)
					}
				}()
			}
			wg.Wait()
			for w, rs := range results {
				if errs[w] != nil {
					t.Fatal(errs[w])
				}
				for _, got := range rs {
					arenaClose(t, "concurrent run", ref, got)
					arenaSame(t, "concurrent run", results[0][0], got)
				}
			}
		})
	}
}
