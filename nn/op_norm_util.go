package nn

import (
	"fmt"
	"runtime"
	"sync"
)

// normAxis resolves a possibly negative axis against rank.
func normAxis(axis, rank int) (int, error) {
	if axis < -rank || axis >= rank || (rank == 0 && axis != 0 && axis != -1) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += rank
	}
	return axis, nil
}

// normParallelMin is the number of elements below which kernels stay on one
// goroutine.
const normParallelMin = 1 << 15

// normParallel runs fn over [0,n) split into chunks, in parallel when the
// total work (n*costPer elements) is large enough to pay for goroutines.
func normParallel(n, costPer int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || n*costPer < normParallelMin {
		fn(0, n)
		return
	}
	// Do not make chunks smaller than the threshold allows.
	if maxW := n * costPer / (normParallelMin / 4); maxW < workers {
		workers = maxW
		if workers < 1 {
			workers = 1
		}
	}
	if workers == 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := lo + chunk
		if hi > n {
			hi = n
		}
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	wg.Wait()
}

// normFloatVec returns the elements of a float tensor as float64 (small
// per-channel parameter vectors).
func normFloatVec(t *Tensor, what string) ([]float64, error) {
	if t == nil {
		return nil, fmt.Errorf("%s is missing", what)
	}
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("%s has element type %v, want a float type", what, t.DType)
	}
	out := make([]float64, t.Len())
	switch t.DType.Storage() {
	case StoreF32:
		for i, v := range t.F32 {
			out[i] = float64(v)
		}
	case StoreF64:
		copy(out, t.F64)
	}
	return out, nil
}

// normCheckFloat reports an error unless t holds a float type.
func normCheckFloat(t *Tensor, what string) error {
	if t == nil {
		return fmt.Errorf("%s is missing", what)
	}
	if !t.DType.IsFloat() {
		return fmt.Errorf("%s has element type %v, want float16, bfloat16, float32 or float64", what, t.DType)
	}
	return nil
}

// normNewLike returns a zero tensor with t's dtype and the given shape.
func normNewLike(t *Tensor, shape []int) *Tensor {
	return New(t.DType, shape...)
}

// normMaxOutputs rejects a node naming more outputs than the op has.
func normMaxOutputs(n *Node, max int) error {
	if len(n.Outputs) > max {
		return fmt.Errorf("%d outputs, %s has %d", len(n.Outputs), n.OpType, max)
	}
	return nil
}
