package data

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/graftml/graft/nn"
)

// LoaderOptions configure a Loader.
type LoaderOptions struct {
	// BatchSize is the number of samples per batch; 0 means 32.
	BatchSize int
	// Shuffle draws a new sample order every epoch from (Seed, epoch).
	Shuffle bool
	// Seed determines the order and the augmentation.
	Seed uint64
	// DropLast drops the final incomplete batch of an epoch.
	DropLast bool
	// Prefetch is the number of batches loaded ahead in a background
	// goroutine; 0 means 2, a negative value loads batches synchronously in
	// the caller's goroutine.
	Prefetch int
	// Workers is the number of goroutines loading the samples of a batch;
	// 0 means GOMAXPROCS.
	Workers int
	// Augment is applied to every sample (nil: none).
	Augment *Augment
}

// Minibatch is one batch of an epoch.
type Minibatch struct {
	Epoch int // epoch number
	Index int // batch number within the epoch
	// Indices are the dataset indices of the samples.
	Indices []int
	// X is the stacked input [N, InputShape()...] (float32).
	X *nn.Tensor
	// Labels are the class indices (-1 for regression samples).
	Labels []int
	// Targets is [N, TargetDim] for regression datasets, else nil.
	Targets *nn.Tensor
}

// Loader iterates a dataset in batches, epoch by epoch. Everything it
// produces is a function of (Seed, epoch, batch): the order of epoch e is
// a permutation drawn from (Seed, e), and sample i is augmented with
// SampleRNG(Seed, e, i), so runs are reproducible and can resume at any
// epoch and batch. A Loader is safe for concurrent use.
type Loader struct {
	ds   Dataset
	opts LoaderOptions
	tdim int
}

// NewLoader returns a loader over ds.
func NewLoader(ds Dataset, opts LoaderOptions) (*Loader, error) {
	if opts.BatchSize == 0 {
		opts.BatchSize = 32
	}
	if opts.BatchSize < 0 {
		return nil, fmt.Errorf("data: batch size %d", opts.BatchSize)
	}
	if opts.Prefetch == 0 {
		opts.Prefetch = 2
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if ds.Len() == 0 {
		return nil, errors.New("data: dataset empty: 0 samples")
	}
	l := &Loader{ds: ds, opts: opts, tdim: TargetDim(ds)}
	if l.NumBatches() == 0 {
		return nil, fmt.Errorf("data: %d samples make no full batch of %d (DropLast)", ds.Len(), opts.BatchSize)
	}
	return l, nil
}

// Dataset returns the loader's dataset.
func (l *Loader) Dataset() Dataset { return l.ds }

// Options returns the loader's options with defaults filled in.
func (l *Loader) Options() LoaderOptions { return l.opts }

// NumBatches returns the number of batches per epoch.
func (l *Loader) NumBatches() int {
	n, b := l.ds.Len(), l.opts.BatchSize
	if l.opts.DropLast {
		return n / b
	}
	return (n + b - 1) / b
}

// Order returns the sample order of an epoch: 0..N-1, or its permutation
// drawn from (Seed, epoch) when shuffling.
func (l *Loader) Order(epoch int) []int {
	order := make([]int, l.ds.Len())
	for i := range order {
		order[i] = i
	}
	if l.opts.Shuffle {
		r := dataRNG(l.opts.Seed, uint64(epoch), 0x5ff1e)
		// Fisher-Yates, written out so the order does not depend on the
		// standard library's Shuffle.
		for i := len(order) - 1; i > 0; i-- {
			j := int(r.Uint64N(uint64(i + 1)))
			order[i], order[j] = order[j], order[i]
		}
	}
	return order
}

// LoadBatch loads batch b of an epoch synchronously (its samples in
// parallel).
func (l *Loader) LoadBatch(ctx context.Context, epoch, b int) (*Minibatch, error) {
	return l.load(ctx, epoch, b, l.Order(epoch))
}

// load loads batch b of an epoch given the epoch's order.
func (l *Loader) load(ctx context.Context, epoch, b int, order []int) (*Minibatch, error) {
	if b < 0 || b >= l.NumBatches() {
		return nil, fmt.Errorf("data: batch %d out of range [0,%d)", b, l.NumBatches())
	}
	bs := l.opts.BatchSize
	idx := order[b*bs : min((b+1)*bs, len(order))]
	shape := l.ds.InputShape()
	per := nn.NumElements(shape)
	mb := &Minibatch{Epoch: epoch, Index: b, Indices: append([]int{}, idx...), Labels: make([]int, len(idx))}
	mb.X = nn.New(nn.Float32, append([]int{len(idx)}, shape...)...)
	if l.tdim > 0 {
		mb.Targets = nn.New(nn.Float32, len(idx), l.tdim)
	}
	var (
		next     atomic.Int64
		errOnce  sync.Once
		firstErr error
		failed   atomic.Bool
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		failed.Store(true)
	}
	work := func() {
		defer wg.Done()
		for {
			k := int(next.Add(1) - 1)
			if k >= len(idx) || failed.Load() {
				return
			}
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			i := idx[k]
			var rng *rand.Rand
			if l.opts.Augment.Enabled() {
				rng = SampleRNG(l.opts.Seed, epoch, i)
			}
			x, label, err := GetAugmented(l.ds, i, l.opts.Augment, rng)
			if err == nil {
				err = dataPut(mb.X.F32[k*per:(k+1)*per], x, shape, i)
			}
			if err == nil && l.tdim > 0 {
				var t []float32
				t, _, err = TargetOf(l.ds, i)
				if err == nil && len(t) != l.tdim {
					err = fmt.Errorf("data: sample %d has %d targets, want %d", i, len(t), l.tdim)
				}
				if err == nil {
					copy(mb.Targets.F32[k*l.tdim:], t)
				}
			}
			if err != nil {
				fail(err)
				return
			}
			mb.Labels[k] = label
		}
	}
	nw := min(l.opts.Workers, len(idx))
	wg.Add(nw)
	for range nw - 1 {
		go work()
	}
	work()
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return mb, nil
}

// Epoch returns the batches of an epoch:
//
//	for mb, err := range loader.Epoch(ctx, epoch) {
//		if err != nil { return err }
//		...
//	}
//
// Unless Prefetch is negative, batches are loaded ahead by a background
// goroutine into a buffer of Prefetch batches, in parallel with the loop
// body. The first loading error (or the context's error) is yielded once
// and ends the epoch; breaking out of the loop stops the goroutine.
func (l *Loader) Epoch(ctx context.Context, epoch int) iter.Seq2[*Minibatch, error] {
	return l.EpochFrom(ctx, epoch, 0)
}

// EpochFrom is Epoch starting at batch start (to resume an interrupted
// epoch: the batches are the same as those of a full run).
func (l *Loader) EpochFrom(ctx context.Context, epoch, start int) iter.Seq2[*Minibatch, error] {
	return func(yield func(*Minibatch, error) bool) {
		nb := l.NumBatches()
		if start < 0 || start > nb {
			yield(nil, fmt.Errorf("data: start batch %d out of range [0,%d]", start, nb))
			return
		}
		order := l.Order(epoch)
		if l.opts.Prefetch < 0 {
			for b := start; b < nb; b++ {
				mb, err := l.load(ctx, epoch, b, order)
				if !yield(mb, err) || err != nil {
					return
				}
			}
			return
		}
		type result struct {
			mb  *Minibatch
			err error
		}
		cctx, cancel := context.WithCancel(ctx)
		ch := make(chan result, l.opts.Prefetch)
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer close(ch)
			for b := start; b < nb; b++ {
				mb, err := l.load(cctx, epoch, b, order)
				if err != nil && cctx.Err() != nil && ctx.Err() == nil {
					return // stopped by the consumer
				}
				select {
				case ch <- result{mb, err}:
				case <-cctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
		defer func() {
			cancel()
			<-done
		}()
		for {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			var r result
			var ok bool
			select {
			case r, ok = <-ch:
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			}
			if !ok {
				return
			}
			if !yield(r.mb, r.err) || r.err != nil {
				return
			}
		}
	}
}
