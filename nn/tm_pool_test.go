package nn

import "testing"

// TestTmBufferPool: buffers come back for reuse, recycled ones are cleared
// on request, and the pool keeps no more buffers of a length than were
// out at once.
func TestTmBufferPool(t *testing.T) {
	p := NewBufferPool()
	ctx := &Context{Buffers: p}
	a := tmNew(ctx, Float32, 2, 3)
	b := tmNew(ctx, Float32, 6)
	a.F32[0], b.F32[0] = 1, 2
	p.Put(a, b)
	c := tmNewDirty(ctx, Float32, 3, 2)
	if &c.F32[0] != &b.F32[0] && &c.F32[0] != &a.F32[0] {
		t.Fatal("a returned buffer was not reused")
	}
	d := tmNew(ctx, Float32, 6)
	if d.F32[0] != 0 {
		t.Fatal("tmNew returned a dirty buffer")
	}
	p.Put(c, d)
	// Only two buffers of 6 elements were ever out at once.
	p.Put(New(Float32, 6), New(Float32, 6), nil, New(Float64, 6))
	if n := len(p.free[6]); n != 2 {
		t.Fatalf("pool keeps %d buffers of length 6, want 2", n)
	}
	// Other types and a nil context allocate normally.
	if x := tmNew(ctx, Float64, 4); len(x.F64) != 4 {
		t.Fatal("float64 allocation")
	}
	if x := tmNew(nil, Float32, 4); len(x.F32) != 4 {
		t.Fatal("allocation without a context")
	}
	var nilPool *BufferPool
	nilPool.Put(New(Float32, 1))
}
