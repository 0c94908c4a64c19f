package nn

import "sync"

// packCache keeps, between plain inference runs of a Graph, the packed GEMM
// panels (gemmOffsPack) of operands that are the graph's own parameters or
// constants: a convolution's weights are then packed once instead of on
// every run (13% of the CPU time of mobilenet_v2 at batch 1). Only whole
// float32 parameter or constant tensors the graph held when the cache was
// made are cached; weights computed by nodes are packed on every run as
// before. Graph.ReleaseBuffers drops the cache, and Forward and
// ForwardTrain do so before training; code that changes parameter values
// in place must call ReleaseBuffers before the next Run.
type packCache struct {
	mu       sync.Mutex
	consts   map[*float32]int // first element → length of a parameter or constant
	packs    map[packKey]*gemmOffsA
	prepares map[prepKey][]float32
}

// prepKey identifies one rearrangement of an operand (prepared).
type prepKey struct {
	data *float32
	kind int
}

// Kinds of prepared operands.
const (
	packNHWC = iota // convNHWCWeights
)

// packKey identifies one packing of an operand.
type packKey struct {
	data      *float32
	m, k, lda int
	trans     bool
}

// newPackCache returns a cache for the float32 parameters and constants of g.
func newPackCache(g *Graph) *packCache {
	c := &packCache{consts: map[*float32]int{}, packs: map[packKey]*gemmOffsA{}, prepares: map[prepKey][]float32{}}
	add := func(t *Tensor) {
		if t != nil && t.DType == Float32 && len(t.F32) > 0 {
			c.consts[&t.F32[0]] = len(t.F32)
		}
	}
	for _, p := range g.Params {
		add(p.Value)
	}
	for _, t := range g.Consts {
		add(t)
	}
	return c
}

// pack returns a (the m×k matrix of gemmOffsPack) packed, and the function
// to call once the product no longer needs it: the packing cached in c when
// a is a whole parameter or constant of the graph (c may be nil), a fresh
// one released by that function otherwise.
func (c *packCache) pack(trans bool, m, k int, a []float32, lda int) (*gemmOffsA, func()) {
	build := func() *gemmOffsA { return gemmOffsPack(trans, m, k, a, lda) }
	if c != nil && len(a) > 0 {
		key := packKey{data: &a[0], m: m, k: k, lda: lda, trans: trans}
		if pa, ok := packCached(c, c.packs, key, a, build, (*gemmOffsA).release); ok {
			return pa, func() {}
		}
	}
	pa := build()
	return pa, pa.release
}

// prepared returns a rearranged into n values by build (of kind kind), and
// the function to call once done with it: the copy cached in c when a is a
// whole parameter or constant of the graph (c may be nil), a fresh one
// returned to the buffer pool by that function otherwise.
func (c *packCache) prepared(kind int, a []float32, n int, build func(dst []float32)) ([]float32, func()) {
	if c != nil && len(a) > 0 {
		fresh := func() []float32 {
			d := make([]float32, n)
			build(d)
			return d
		}
		if d, ok := packCached(c, c.prepares, prepKey{data: &a[0], kind: kind}, a, fresh, nil); ok {
			return d, func() {}
		}
	}
	d, release := convBuf[float32](n)
	build(d)
	return d, release
}

// packCached returns m[key], building and storing it first, when a is a
// whole parameter or constant of c's graph; ok is false otherwise. Two runs
// may build the same entry at once: the first stored wins, and drop (when
// not nil) frees the other.
func packCached[K comparable, V any](c *packCache, m map[K]V, key K, a []float32, build func() V, drop func(V)) (v V, ok bool) {
	c.mu.Lock()
	n, isConst := c.consts[&a[0]]
	v, found := m[key]
	c.mu.Unlock()
	if !isConst || n != len(a) {
		return v, false
	}
	if found {
		return v, true
	}
	v = build()
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, found := m[key]; found {
		if drop != nil {
			drop(v)
		}
		return old, true
	}
	m[key] = v
	return v, true
}
