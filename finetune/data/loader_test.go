package data

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graftml/graft/nn"
)

// seqData is a dataset of n samples [2,3,3] whose values encode the index;
// label = index % 3. Get sleeps delay and fails for index failAt.
type seqData struct {
	n      int
	delay  time.Duration
	failAt int
	gets   atomic.Int64
}

func (s *seqData) Len() int          { return s.n }
func (s *seqData) Classes() []string { return []string{"a", "b", "c"} }
func (s *seqData) InputShape() []int { return []int{2, 3, 3} }
func (s *seqData) Get(i int) (*nn.Tensor, int, error) {
	s.gets.Add(1)
	time.Sleep(s.delay)
	if i == s.failAt {
		return nil, 0, fmt.Errorf("sample %d is broken", i)
	}
	x := nn.New(nn.Float32, 2, 3, 3)
	for k := range x.F32 {
		x.F32[k] = float32(i*100 + k)
	}
	return x, i % 3, nil
}

func collect(t *testing.T, l *Loader, epoch int) []*Minibatch {
	t.Helper()
	var out []*Minibatch
	for mb, err := range l.Epoch(context.Background(), epoch) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, mb)
	}
	return out
}

func sameBatches(a, b []*Minibatch) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !slices.Equal(a[i].Indices, b[i].Indices) || !slices.Equal(a[i].Labels, b[i].Labels) ||
			!slices.Equal(a[i].X.F32, b[i].X.F32) || !slices.Equal(a[i].X.Shape, b[i].X.Shape) {
			return false
		}
	}
	return true
}

func TestLoaderOrder(t *testing.T) {
	ds := &seqData{n: 10, failAt: -1}
	l, err := NewLoader(ds, LoaderOptions{BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	bs := collect(t, l, 0)
	if l.NumBatches() != 3 || len(bs) != 3 || bs[2].X.Shape[0] != 2 {
		t.Fatalf("%d batches", len(bs))
	}
	if !slices.Equal(bs[1].Indices, []int{4, 5, 6, 7}) || !slices.Equal(bs[1].Labels, []int{1, 2, 0, 1}) {
		t.Fatalf("batch 1: %v %v", bs[1].Indices, bs[1].Labels)
	}
	if bs[1].X.F32[18] != 500 { // sample 5, element 0
		t.Fatalf("batch 1 sample 1 starts with %v", bs[1].X.F32[18])
	}
	l, _ = NewLoader(ds, LoaderOptions{BatchSize: 4, DropLast: true, Shuffle: true, Seed: 3})
	if l.NumBatches() != 2 || len(collect(t, l, 0)) != 2 {
		t.Fatal("DropLast")
	}
	if _, err := NewLoader(ds, LoaderOptions{BatchSize: 11, DropLast: true}); err == nil {
		t.Error("no full batch accepted")
	}
}

func TestLoaderDeterminism(t *testing.T) {
	ds := &seqData{n: 23, failAt: -1}
	aug := &Augment{Flip: true, CropPad: 1}
	mk := func(seed uint64, workers, prefetch int) *Loader {
		l, err := NewLoader(ds, LoaderOptions{BatchSize: 5, Shuffle: true, Seed: seed, Workers: workers, Prefetch: prefetch, Augment: aug})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a := collect(t, mk(42, 1, -1), 3)
	b := collect(t, mk(42, 8, 3), 3)
	if !sameBatches(a, b) {
		t.Fatal("same seed and epoch gave different batches (workers/prefetch changed)")
	}
	// Every sample once.
	var all []int
	for _, mb := range a {
		all = append(all, mb.Indices...)
	}
	slices.Sort(all)
	for i, v := range all {
		if v != i {
			t.Fatalf("epoch covers %v", all)
		}
	}
	c := collect(t, mk(42, 8, 0), 4)
	if slices.Equal(a[0].Indices, c[0].Indices) && slices.Equal(a[1].Indices, c[1].Indices) {
		t.Fatal("epochs 3 and 4 have the same order")
	}
	d := collect(t, mk(43, 8, 0), 3)
	if sameBatches(a, d) {
		t.Fatal("seeds 42 and 43 gave the same batches")
	}
	// Resume: batches 2.. of a fresh loader equal those of the full epoch.
	l := mk(42, 4, 2)
	var tail []*Minibatch
	for mb, err := range l.EpochFrom(context.Background(), 3, 2) {
		if err != nil {
			t.Fatal(err)
		}
		tail = append(tail, mb)
	}
	if !sameBatches(a[2:], tail) || tail[0].Index != 2 {
		t.Fatal("resumed epoch differs")
	}
	mb, err := l.LoadBatch(context.Background(), 3, 4)
	if err != nil || !sameBatches(a[4:], []*Minibatch{mb}) {
		t.Fatal("LoadBatch differs", err)
	}
	// Augmentation really changed something.
	plain, _ := NewLoader(ds, LoaderOptions{BatchSize: 5, Shuffle: true, Seed: 42})
	p := collect(t, plain, 3)
	if sameBatches(a, p) {
		t.Fatal("augmentation had no effect")
	}
}

func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	for range 200 {
		if runtime.NumGoroutine() <= base {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("%d goroutines, started with %d", runtime.NumGoroutine(), base)
}

func TestLoaderCancel(t *testing.T) {
	base := runtime.NumGoroutine()
	ds := &seqData{n: 400, delay: 2 * time.Millisecond, failAt: -1}
	l, _ := NewLoader(ds, LoaderOptions{BatchSize: 4, Workers: 2, Prefetch: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got int
	var gotErr error
	start := time.Now()
	for mb, err := range l.Epoch(ctx, 0) {
		if err != nil {
			gotErr = err
			continue
		}
		got++
		if mb.Index == 1 {
			cancel()
		}
	}
	if !errors.Is(gotErr, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", gotErr)
	}
	if got > 4 || time.Since(start) > 5*time.Second {
		t.Fatalf("%d batches after cancel", got)
	}
	loaded := ds.gets.Load()
	time.Sleep(20 * time.Millisecond)
	if ds.gets.Load() != loaded || loaded > 40 {
		t.Fatalf("loading went on after the epoch ended (%d then %d samples)", loaded, ds.gets.Load())
	}
	waitGoroutines(t, base)
	// Breaking out of the loop stops the prefetcher too.
	ds.gets.Store(0)
	for range l.Epoch(context.Background(), 1) {
		break
	}
	loaded = ds.gets.Load()
	time.Sleep(20 * time.Millisecond)
	if ds.gets.Load() != loaded || loaded > 40 {
		t.Fatalf("loading went on after break (%d then %d samples)", loaded, ds.gets.Load())
	}
	waitGoroutines(t, base)
}

func TestLoaderError(t *testing.T) {
	base := runtime.NumGoroutine()
	for _, prefetch := range []int{-1, 2} {
		ds := &seqData{n: 30, failAt: 13}
		l, _ := NewLoader(ds, LoaderOptions{BatchSize: 4, Prefetch: prefetch})
		var errs []error
		n := 0
		for _, err := range l.Epoch(context.Background(), 0) {
			if err != nil {
				errs = append(errs, err)
			} else {
				n++
			}
		}
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), "sample 13 is broken") || n != 3 {
			t.Fatalf("prefetch %d: %d batches, errors %v", prefetch, n, errs)
		}
	}
	waitGoroutines(t, base)
	// A bad image in a folder: the error names the file.
	root := t.TempDir()
	writeImage(t, filepath.Join(root, "a", "ok.png"), solidRGB(4, 4, color.RGBA{1, 1, 1, 255}))
	writeImage(t, filepath.Join(root, "a", "ok2.png"), solidRGB(4, 4, color.RGBA{1, 1, 1, 255}))
	bad := filepath.Join(root, "b", "bad.png")
	writeImage(t, bad, solidRGB(4, 4, color.RGBA{1, 1, 1, 255}))
	if err := truncateFile(bad, 20); err != nil {
		t.Fatal(err)
	}
	f, err := OpenImageFolder(root, FolderOptions{ImageOptions: ImageOptions{Height: 4}})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := NewLoader(f, LoaderOptions{BatchSize: 8})
	for _, err := range l.Epoch(context.Background(), 0) {
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Fatalf("error %v does not name %s", err, bad)
		}
	}
}

func TestLoaderTargets(t *testing.T) {
	x := nn.New(nn.Float32, 5, 2)
	y := nn.FromFloat32([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 5, 2)
	r, err := NewMemoryRegression(x, y)
	if err != nil {
		t.Fatal(err)
	}
	tr, _, _ := Split(r, 0.2, 1)
	l, _ := NewLoader(tr, LoaderOptions{BatchSize: 3})
	bs := collect(t, l, 0)
	mb := bs[0]
	if mb.Targets == nil || !slices.Equal(mb.Targets.Shape, []int{3, 2}) {
		t.Fatalf("targets %v", mb.Targets)
	}
	for k, i := range mb.Indices {
		j := tr.Indices[i]
		if mb.Targets.F32[2*k] != float32(2*j) || mb.Labels[k] != -1 {
			t.Fatalf("sample %d: target %v label %d", j, mb.Targets.F32[2*k:2*k+2], mb.Labels[k])
		}
	}
}
