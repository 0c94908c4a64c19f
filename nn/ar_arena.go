package nn

import (
	"math"
	"os"
	"sync"
	"unsafe"
)

// The inference buffer arena. Graph.Run (plain inference: no training, no
// Observe hook) lends each run a pool of float32 buffers owned by the
// Graph; ops that overwrite every element of their output take its storage
// from the pool through Context.arNew instead of allocating (and zeroing)
// a fresh slice. The executor counts, for every buffer handed out in the
// run, the live values whose data lies inside it (views such as Reshape or
// Slice outputs, activations written in place and the buffer's own tensor
// all count); when the count drops to zero after a node has run, the
// buffer goes back to the pool and a later node may receive it. At the end
// of the run, buffers that back a returned graph output are forgotten (the
// caller owns them); the others stay in the pool for the next run, except
// those the run did not use at all, which are dropped so that the pool
// never holds more than one run needs. Concurrent runs of one Graph each
// take their own pool.
//
// An op may use arNew only when it writes every element of the tensor.
// Setting the environment variable GRAFT_ARENA_POISON (tests, debugging)
// fills handed-out buffers with NaN, so an op that leaves elements
// unwritten shows up as NaN in the outputs.

// arPool is the set of buffers one run allocates from. Graph.Run owns it
// for the duration of the run; the mutex only guards against ops that
// would allocate from several goroutines.
type arPool struct {
	mu   sync.Mutex
	free []*arBuf // idle, may be handed out
	busy []*arBuf // handed out in the current run
	// poison fills every handed-out buffer with NaN (tests: an op that
	// does not overwrite its whole output then shows up as NaN).
	poison bool
}

// arBuf is one pooled buffer.
type arBuf struct {
	data   []float32 // full capacity
	lo, hi uintptr   // address range of data
	refs   int       // live values overlapping data (busy buffers)
	used   bool      // handed out during the current run
}

// arMaxWaste bounds the reuse of a larger buffer for a smaller request: a
// free buffer of capacity c serves a request of n elements only when
// c <= arMaxWaste*n.
const arMaxWaste = 2

// arNew returns a tensor of the given type and shape whose storage, for
// float32-backed types, comes from the run's buffer pool and is NOT
// zeroed: the caller must overwrite every element. Without a run pool (no
// Graph.Run, training, an Observe hook) it takes a recycled buffer from
// the training step's BufferPool when there is one (tmNewDirty), else it
// is New.
func (c *Context) arNew(dt DType, shape ...int) *Tensor {
	if c == nil || c.ar == nil || dt.Storage() != StoreF32 {
		// Training steps recycle through their own pool (tmNewDirty), or
		// allocate.
		return tmNewDirty(c, dt, shape...)
	}
	n := NumElements(shape)
	if n == 0 {
		return New(dt, shape...)
	}
	return &Tensor{DType: dt, Shape: append([]int{}, shape...), F32: c.ar.get(n)}
}

// get hands out a buffer of at least n elements (best fit among the free
// ones, else a new one) and returns its first n elements.
func (p *arPool) get(n int) []float32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	best := -1
	for i, b := range p.free {
		c := len(b.data)
		if c >= n && c <= arMaxWaste*n && (best < 0 || c < len(p.free[best].data)) {
			best = i
			if c == n {
				break
			}
		}
	}
	var b *arBuf
	if best >= 0 {
		b = p.free[best]
		last := len(p.free) - 1
		p.free[best] = p.free[last]
		p.free[last] = nil
		p.free = p.free[:last]
	} else {
		d := make([]float32, n)
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(d)))
		b = &arBuf{data: d, lo: lo, hi: lo + uintptr(n)*4}
	}
	b.refs = 0
	b.used = true
	p.busy = append(p.busy, b)
	d := b.data[:n:n]
	if p.poison {
		nan := float32(math.NaN())
		for i := range d {
			d[i] = nan
		}
	}
	return d
}

// find returns the busy buffer holding t's float32 data, or nil.
func (p *arPool) find(t *Tensor) *arBuf {
	if t == nil || cap(t.F32) == 0 || len(p.busy) == 0 {
		return nil
	}
	a := uintptr(unsafe.Pointer(unsafe.SliceData(t.F32)))
	for _, b := range p.busy {
		if a >= b.lo && a < b.hi {
			return b
		}
	}
	return nil
}

// ref adds d to the count of live values overlapping t's buffer, if t's
// data lies in a buffer handed out in this run.
func (p *arPool) ref(t *Tensor, d int) {
	p.mu.Lock()
	if b := p.find(t); b != nil {
		b.refs += d
	}
	p.mu.Unlock()
}

// sweep returns the busy buffers no live value overlaps to the free list.
func (p *arPool) sweep() {
	p.mu.Lock()
	k := 0
	for _, b := range p.busy {
		if b.refs <= 0 {
			p.free = append(p.free, b)
			continue
		}
		p.busy[k] = b
		k++
	}
	clear(p.busy[k:])
	p.busy = p.busy[:k]
	p.mu.Unlock()
}

// finish ends a run: buffers overlapping a tensor of out (handed to the
// caller) are forgotten, the other busy ones become free, and free buffers
// the run did not use are dropped. After a failed run every busy buffer is
// forgotten.
func (p *arPool) finish(out map[string]*Tensor, failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !failed {
		// refs now marks the buffers the caller receives.
		for _, b := range p.busy {
			b.refs = 0
		}
		for _, t := range out {
			if b := p.find(t); b != nil {
				b.refs = 1
			}
		}
		for _, b := range p.busy {
			if b.refs == 0 {
				p.free = append(p.free, b)
			}
		}
	}
	clear(p.busy)
	p.busy = p.busy[:0]
	k := 0
	for _, b := range p.free {
		if b.used {
			b.used = false
			p.free[k] = b
			k++
		}
	}
	clear(p.free[k:])
	p.free = p.free[:k]
}

// arAcquire takes an idle pool of g (or a new one) for one run.
func (g *Graph) arAcquire() *arPool {
	g.arMu.Lock()
	defer g.arMu.Unlock()
	if n := len(g.arIdle); n > 0 {
		p := g.arIdle[n-1]
		g.arIdle[n-1] = nil
		g.arIdle = g.arIdle[:n-1]
		return p
	}
	return &arPool{poison: g.arPoison || os.Getenv("GRAFT_ARENA_POISON") != ""}
}

// arRelease gives a pool back to g after a run.
func (g *Graph) arRelease(p *arPool) {
	g.arMu.Lock()
	g.arIdle = append(g.arIdle, p)
	g.arMu.Unlock()
}

// ReleaseBuffers drops the buffers Run keeps between runs for reuse (the
// memory of the intermediate values of one run per concurrent caller) and
// the weights it keeps packed for its matrix products. The next Run
// allocates and packs them again. Forward and ForwardTrain call it; call it
// after changing the values of parameters or constants in place, so that
// the next Run reads the new values.
func (g *Graph) ReleaseBuffers() {
	g.arMu.Lock()
	g.arIdle = nil
	g.packs = nil
	g.arMu.Unlock()
}

// packCache returns the packed-weight cache of plain inference runs,
// making it on first use.
func (g *Graph) packCache() *packCache {
	g.arMu.Lock()
	defer g.arMu.Unlock()
	if g.packs == nil {
		g.packs = newPackCache(g)
	}
	return g.packs
}

// arPlan returns g's execution plan, building it on first use.
func (g *Graph) arPlan() *plan {
	g.arMu.Lock()
	defer g.arMu.Unlock()
	if g.plan == nil {
		g.plan = g.buildPlan()
	}
	return g.plan
}
