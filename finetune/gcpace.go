package finetune

import (
	"runtime"
	"runtime/metrics"
)

// gcPacer bounds the garbage a training loop leaves between steps. The
// trainer's buffer pool makes the live heap about one step's working set
// (activations and gradients are recycled, not garbage); with the default
// GOGC=100 the collector would still let the few allocations per step that
// are not recycled pile up until the heap doubles, so a long run's peak RSS
// would approach twice the working set. After a step, when the heap holds
// more unreclaimed objects than a quarter of the live heap (64 MiB at
// least), the pacer collects. The heap is mostly pointer-free float
// buffers, so a collection costs little (tens of milliseconds against
// steps of a second). It changes no process-wide setting.
type gcPacer struct {
	samples []metrics.Sample
}

func newGCPacer() *gcPacer {
	return &gcPacer{samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
	}}
}

// afterStep collects when the garbage since the last collection exceeds
// the budget.
func (p *gcPacer) afterStep() {
	if p == nil {
		return
	}
	metrics.Read(p.samples)
	if p.samples[0].Value.Kind() != metrics.KindUint64 || p.samples[1].Value.Kind() != metrics.KindUint64 {
		return
	}
	live, inUse := p.samples[0].Value.Uint64(), p.samples[1].Value.Uint64()
	budget := max(live/4, 64<<20)
	if inUse > live+budget {
		runtime.GC()
	}
}
