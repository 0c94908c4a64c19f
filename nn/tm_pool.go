package nn

import "sync"

// BufferPool recycles the float32 buffers of training steps: the
// activations a ForwardTrain tape releases once the backward pass no
// longer needs them, and the gradients the backward pass consumes, become
// the activations and gradients of the next ops and the next step instead
// of garbage. Set it as Context.Buffers; one pool may serve many steps (a
// trainer keeps one). It keeps at most as many buffers of each length as
// were once handed out at the same time, so it holds no more than one
// step's working set. It is safe for concurrent use.
type BufferPool struct {
	mu   sync.Mutex
	free map[int][][]float32
	out  map[int]int // buffers of each length handed out and not yet back
	peak map[int]int // highest out seen per length
}

// NewBufferPool returns an empty pool.
func NewBufferPool() *BufferPool {
	return &BufferPool{free: map[int][][]float32{}, out: map[int]int{}, peak: map[int]int{}}
}

// Put gives back float32 tensors the caller will no longer read or write
// (for example parameter gradients after the optimizer step). Tensors of
// other types, nil tensors and tensors sharing data with another tensor
// still in use must not be passed (the first two are ignored).
func (p *BufferPool) Put(ts ...*Tensor) {
	if p == nil {
		return
	}
	for _, t := range ts {
		if t != nil && t.DType == Float32 && len(t.F32) > 0 {
			p.put(t.F32)
		}
	}
}

// get returns a buffer of n elements, zeroed when zero is set.
func (p *BufferPool) get(n int, zero bool) []float32 {
	p.mu.Lock()
	l := p.free[n]
	var b []float32
	if k := len(l); k > 0 {
		b = l[k-1]
		l[k-1] = nil
		p.free[n] = l[:k-1]
	}
	p.out[n]++
	if p.out[n] > p.peak[n] {
		p.peak[n] = p.out[n]
	}
	p.mu.Unlock()
	if b == nil {
		return make([]float32, n)
	}
	if zero {
		clear(b)
	}
	return b
}

// put takes back a buffer nobody uses any more.
func (p *BufferPool) put(b []float32) {
	n := len(b)
	if n == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.out[n] > 0 {
		p.out[n]--
	}
	if len(p.free[n]) < p.peak[n] {
		p.free[n] = append(p.free[n], b)
	}
}

// tmNew returns a zero-filled tensor like New, taking float32 storage from
// ctx's buffer pool when there is one.
func tmNew(ctx *Context, dt DType, shape ...int) *Tensor {
	return tmAlloc(ctx, dt, shape, true)
}

// tmNewDirty is tmNew for callers that write every element: a recycled
// buffer is not cleared first.
func tmNewDirty(ctx *Context, dt DType, shape ...int) *Tensor {
	return tmAlloc(ctx, dt, shape, false)
}

func tmAlloc(ctx *Context, dt DType, shape []int, zero bool) *Tensor {
	if ctx == nil || ctx.Buffers == nil || dt != Float32 {
		return New(dt, shape...)
	}
	n := NumElements(shape)
	if n == 0 {
		return New(dt, shape...)
	}
	return &Tensor{DType: dt, Shape: append([]int{}, shape...), F32: ctx.Buffers.get(n, zero)}
}

// tmOwnedOut reports whether the backward pass running under ctx may
// overwrite its output gradient j (the tape knows nobody else reads it).
func tmOwnedOut(ctx *Context, j int) bool {
	return ctx != nil && ctx.tm != nil && j < len(ctx.tm.owned) && ctx.tm.owned[j]
}
