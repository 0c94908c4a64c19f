package nn

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/graftml/graft/nn/internal/gemmasm"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
)

// rnnKind selects the recurrent cell.
type rnnKind int

const (
	rnnKindRNN rnnKind = iota
	rnnKindGRU
	rnnKindLSTM
)

// String returns the ONNX op type of the cell.
func (k rnnKind) String() string {
	switch k {
	case rnnKindGRU:
		return "GRU"
	case rnnKindLSTM:
		return "LSTM"
	}
	return "RNN"
}

// gates is the number of gate blocks stacked in W and R.
func (k rnnKind) gates() int {
	switch k {
	case rnnKindGRU:
		return 3
	case rnnKindLSTM:
		return 4
	}
	return 1
}

// numActs is the number of activation functions per direction.
func (k rnnKind) numActs() int {
	switch k {
	case rnnKindGRU:
		return 2
	case rnnKindLSTM:
		return 3
	}
	return 1
}

// rnnActKind enumerates the activation functions recurrent ops accept.
type rnnActKind int

const (
	rnnActSigmoid rnnActKind = iota
	rnnActTanh
	rnnActRelu
	rnnActHardSigmoid
	rnnActLeakyRelu
	rnnActThresholdedRelu
	rnnActScaledTanh
	rnnActAffine
	rnnActElu
	rnnActSoftsign
	rnnActSoftplus
)

// rnnAct is one activation function with its alpha and beta.
type rnnAct struct {
	kind        rnnActKind
	alpha, beta float64
}

// rnnActInfo describes an activation name: which of alpha and beta it reads
// and their defaults (those of the ONNX operator of the same name).
type rnnActInfo struct {
	kind              rnnActKind
	useAlpha, useBeta bool
	defAlpha, defBeta float64
}

func rnnActLookup(name string) (rnnActInfo, bool) {
	switch strings.ToLower(name) {
	case "sigmoid":
		return rnnActInfo{kind: rnnActSigmoid}, true
	case "tanh":
		return rnnActInfo{kind: rnnActTanh}, true
	case "relu":
		return rnnActInfo{kind: rnnActRelu}, true
	case "hardsigmoid":
		return rnnActInfo{kind: rnnActHardSigmoid, useAlpha: true, useBeta: true, defAlpha: 0.2, defBeta: 0.5}, true
	case "leakyrelu":
		return rnnActInfo{kind: rnnActLeakyRelu, useAlpha: true, defAlpha: 0.01}, true
	case "thresholdedrelu":
		return rnnActInfo{kind: rnnActThresholdedRelu, useAlpha: true, defAlpha: 1}, true
	case "scaledtanh":
		return rnnActInfo{kind: rnnActScaledTanh, useAlpha: true, useBeta: true, defAlpha: 1, defBeta: 1}, true
	case "affine":
		return rnnActInfo{kind: rnnActAffine, useAlpha: true, useBeta: true, defAlpha: 1, defBeta: 0}, true
	case "elu":
		return rnnActInfo{kind: rnnActElu, useAlpha: true, defAlpha: 1}, true
	case "softsign":
		return rnnActInfo{kind: rnnActSoftsign}, true
	case "softplus":
		return rnnActInfo{kind: rnnActSoftplus}, true
	}
	return rnnActInfo{}, false
}

// rnnParseActs turns the activations attribute into activation functions.
// activation_alpha and activation_beta are consumed in order by the
// functions that take the parameter; missing values take the defaults.
func rnnParseActs(names []string, alphas, betas []float32) ([]rnnAct, error) {
	acts := make([]rnnAct, len(names))
	ai, bi := 0, 0
	for i, name := range names {
		info, ok := rnnActLookup(name)
		if !ok {
			return nil, fmt.Errorf("activation %q is not one of Sigmoid, Tanh, Relu, HardSigmoid, LeakyRelu, ThresholdedRelu, ScaledTanh, Affine, Elu, Softsign, Softplus", name)
		}
		a := rnnAct{kind: info.kind, alpha: info.defAlpha, beta: info.defBeta}
		if info.useAlpha && ai < len(alphas) {
			a.alpha = float64(alphas[ai])
			ai++
		}
		if info.useBeta && bi < len(betas) {
			a.beta = float64(betas[bi])
			bi++
		}
		acts[i] = a
	}
	return acts, nil
}

// rnnFloat is the element type the recurrent kernels compute in.
type rnnFloat interface{ ~float32 | ~float64 }

// rnnApply applies a in place to x. The switch is outside the element loops.
// Float32 sigmoid and tanh take the fast float32-accuracy kernels.
func rnnApply[T rnnFloat](a rnnAct, x []T) {
	var zero T
	if unsafe.Sizeof(zero) == 4 && (a.kind == rnnActSigmoid || a.kind == rnnActTanh) {
		// T is a float32 type: reinterpret the slice.
		x32 := unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(x))), len(x))
		if a.kind == rnnActSigmoid {
			rnnSigmoid32(x32)
		} else {
			rnnTanh32(x32)
		}
		return
	}
	switch a.kind {
	case rnnActSigmoid:
		for i, v := range x {
			x[i] = T(1 / (1 + math.Exp(-float64(v))))
		}
	case rnnActTanh:
		for i, v := range x {
			x[i] = T(math.Tanh(float64(v)))
		}
	case rnnActRelu:
		for i, v := range x {
			if v < 0 {
				x[i] = 0
			}
		}
	case rnnActHardSigmoid:
		al, be := a.alpha, a.beta
		for i, v := range x {
			x[i] = T(math.Max(0, math.Min(1, al*float64(v)+be)))
		}
	case rnnActLeakyRelu:
		al := T(a.alpha)
		for i, v := range x {
			if v < 0 {
				x[i] = al * v
			}
		}
	case rnnActThresholdedRelu:
		al := T(a.alpha)
		for i, v := range x {
			if v <= al {
				x[i] = 0
			}
		}
	case rnnActScaledTanh:
		al, be := a.alpha, a.beta
		for i, v := range x {
			x[i] = T(al * math.Tanh(be*float64(v)))
		}
	case rnnActAffine:
		al, be := T(a.alpha), T(a.beta)
		for i, v := range x {
			x[i] = al*v + be
		}
	case rnnActElu:
		al := a.alpha
		for i, v := range x {
			if v < 0 {
				x[i] = T(al * math.Expm1(float64(v)))
			}
		}
	case rnnActSoftsign:
		for i, v := range x {
			x[i] = v / (1 + T(math.Abs(float64(v))))
		}
	case rnnActSoftplus:
		for i, v := range x {
			f := float64(v)
			if f > 30 {
				x[i] = v
			} else {
				x[i] = T(math.Log1p(math.Exp(f)))
			}
		}
	}
}

// rnnClip clamps x to [-c, c].
func rnnClip[T rnnFloat](c T, x []T) {
	for i, v := range x {
		if v > c {
			x[i] = c
		} else if v < -c {
			x[i] = -c
		}
	}
}

// rnnOp is a built LSTM, GRU or RNN node.
type rnnOp struct {
	kind        rnnKind
	hidden      int // 0: taken from R at run time
	dirs        int
	reverse     bool     // direction == "reverse"
	acts        []rnnAct // numActs per direction, dirs*numActs entries
	clip        float64  // 0: no clipping
	inputForget bool
	linearReset bool
	layout      int
	nOut        int
	wantY       bool
	wantYh      bool
	wantYc      bool
}

func rnnNew(n *Node, kind rnnKind, since int) (Op, error) {
	op := &rnnOp{kind: kind, nOut: len(n.Outputs)}
	if op.nOut > 3 || (kind != rnnKindLSTM && op.nOut > 2) {
		return nil, fmt.Errorf("%s has %d outputs, more than the op defines", kind, op.nOut)
	}
	outName := func(i int) bool { return i < len(n.Outputs) && n.Outputs[i] != "" }
	op.wantY, op.wantYh, op.wantYc = outName(0), outName(1), outName(2)

	dir := n.AttrString("direction", "forward")
	switch dir {
	case "forward":
		op.dirs = 1
	case "reverse":
		op.dirs = 1
		op.reverse = true
	case "bidirectional":
		op.dirs = 2
	default:
		return nil, fmt.Errorf("direction %q must be forward, reverse or bidirectional", dir)
	}
	op.hidden = int(n.AttrInt("hidden_size", 0))
	if op.hidden < 0 || (n.HasAttr("hidden_size") && op.hidden == 0) {
		return nil, fmt.Errorf("hidden_size %d must be positive", op.hidden)
	}
	if n.HasAttr("clip") {
		c := n.AttrFloat("clip", 0)
		if !(c > 0) {
			return nil, fmt.Errorf("clip %v must be positive", c)
		}
		op.clip = float64(c)
	}
	if kind == rnnKindLSTM {
		op.inputForget = n.AttrInt("input_forget", 0) != 0
	}
	if kind == rnnKindGRU {
		op.linearReset = n.AttrInt("linear_before_reset", 0) != 0
	}
	if since >= 14 {
		op.layout = int(n.AttrInt("layout", 0))
		if op.layout != 0 && op.layout != 1 {
			return nil, fmt.Errorf("layout %d must be 0 or 1", op.layout)
		}
	}

	var names []string
	if a := n.Attr("activations"); a != nil {
		names = a.Strings
	}
	per := kind.numActs()
	if len(names) == 0 {
		switch kind {
		case rnnKindRNN:
			names = []string{"Tanh"}
		case rnnKindGRU:
			names = []string{"Sigmoid", "Tanh"}
		case rnnKindLSTM:
			names = []string{"Sigmoid", "Tanh", "Tanh"}
		}
	}
	if len(names) != per && len(names) != per*op.dirs {
		return nil, fmt.Errorf("%d activations given, %s with %d direction(s) needs %d", len(names), kind, op.dirs, per*op.dirs)
	}
	acts, err := rnnParseActs(names, n.AttrFloats("activation_alpha", nil), n.AttrFloats("activation_beta", nil))
	if err != nil {
		return nil, err
	}
	if len(acts) < per*op.dirs {
		// One set for a bidirectional layer serves both directions.
		acts = append(acts, acts...)
	}
	op.acts = acts
	return op, nil
}

// rnnShapes holds the validated sizes of one run.
type rnnShapes struct {
	seq, batch, input, hidden, dirs, gates int
}

// Run computes the layer. Inputs: X, W, R, B, sequence_lens, initial_h and
// for LSTM initial_c, P.
func (op *rnnOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	get := func(i int) *Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	x, w, r := get(0), get(1), get(2)
	if x == nil || w == nil || r == nil {
		return nil, fmt.Errorf("%s needs inputs X, W and R", op.kind)
	}
	if !x.DType.IsFloat() {
		return nil, fmt.Errorf("X has element type %v, want a float type", x.DType)
	}
	named := []string{"X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"}
	for i, t := range in {
		if t == nil || i == 4 || i >= len(named) {
			continue
		}
		if t.DType != x.DType {
			return nil, fmt.Errorf("input %s has element type %v, X has %v", named[i], t.DType, x.DType)
		}
	}
	if x.Rank() != 3 {
		return nil, fmt.Errorf("X has shape %s, want rank 3", ShapeString(x.Shape))
	}
	s := rnnShapes{dirs: op.dirs, gates: op.kind.gates()}
	if op.layout == 0 {
		s.seq, s.batch = x.Shape[0], x.Shape[1]
	} else {
		s.batch, s.seq = x.Shape[0], x.Shape[1]
	}
	s.input = x.Shape[2]
	s.hidden = op.hidden
	if s.hidden == 0 {
		if r.Rank() != 3 {
			return nil, fmt.Errorf("R has shape %s, want rank 3", ShapeString(r.Shape))
		}
		s.hidden = r.Shape[2]
	}
	nd, G, H := s.dirs, s.gates, s.hidden
	if !SameShape(w.Shape, []int{nd, G * H, s.input}) {
		return nil, fmt.Errorf("W has shape %s, want %s", ShapeString(w.Shape), ShapeString([]int{nd, G * H, s.input}))
	}
	if !SameShape(r.Shape, []int{nd, G * H, H}) {
		return nil, fmt.Errorf("R has shape %s, want %s", ShapeString(r.Shape), ShapeString([]int{nd, G * H, H}))
	}
	if b := get(3); b != nil && !SameShape(b.Shape, []int{nd, 2 * G * H}) {
		return nil, fmt.Errorf("B has shape %s, want %s", ShapeString(b.Shape), ShapeString([]int{nd, 2 * G * H}))
	}
	stateShape := []int{nd, s.batch, H}
	if op.layout == 1 {
		stateShape = []int{s.batch, nd, H}
	}
	for _, i := range []int{5, 6} {
		if t := get(i); t != nil && (i == 5 || op.kind == rnnKindLSTM) && !SameShape(t.Shape, stateShape) {
			return nil, fmt.Errorf("%s has shape %s, want %s", named[i], ShapeString(t.Shape), ShapeString(stateShape))
		}
	}
	if p := get(7); p != nil && op.kind == rnnKindLSTM && !SameShape(p.Shape, []int{nd, 3 * H}) {
		return nil, fmt.Errorf("P has shape %s, want %s", ShapeString(p.Shape), ShapeString([]int{nd, 3 * H}))
	}
	lens := make([]int, s.batch)
	if sl := get(4); sl != nil {
		if !sl.DType.IsInt() || !SameShape(sl.Shape, []int{s.batch}) {
			return nil, fmt.Errorf("sequence_lens is %s, want an integer tensor of shape [%d]", sl, s.batch)
		}
		for i := range lens {
			v := sl.Int64At(i)
			if v < 0 || v > int64(s.seq) {
				return nil, fmt.Errorf("sequence_lens[%d] = %d is outside [0, %d]", i, v, s.seq)
			}
			lens[i] = int(v)
		}
	} else {
		for i := range lens {
			lens[i] = s.seq
		}
	}

	yShape := []int{s.seq, nd, s.batch, H}
	if op.layout == 1 {
		yShape = []int{s.batch, s.seq, nd, H}
	}
	var y, yh, yc *Tensor
	if op.wantY {
		y = New(x.DType, yShape...)
	}
	if op.wantYh {
		yh = New(x.DType, stateShape...)
	}
	if op.wantYc && op.kind == rnnKindLSTM {
		yc = New(x.DType, stateShape...)
	}
	data := func(t *Tensor) []float32 {
		if t == nil {
			return nil
		}
		return t.F32
	}
	data64 := func(t *Tensor) []float64 {
		if t == nil {
			return nil
		}
		return t.F64
	}
	var err error
	if x.DType.Storage() == StoreF32 {
		io := rnnIO[float32]{
			x: data(x), w: data(w), r: data(r), b: data(get(3)),
			h0: data(get(5)), y: data(y), yh: data(yh),
		}
		if op.kind == rnnKindLSTM {
			io.c0, io.p, io.yc = data(get(6)), data(get(7)), data(yc)
		}
		err = rnnRun(op, s, lens, io, rnnGemm32)
	} else {
		io := rnnIO[float64]{
			x: data64(x), w: data64(w), r: data64(r), b: data64(get(3)),
			h0: data64(get(5)), y: data64(y), yh: data64(yh),
		}
		if op.kind == rnnKindLSTM {
			io.c0, io.p, io.yc = data64(get(6)), data64(get(7)), data64(yc)
		}
		err = rnnRun(op, s, lens, io, rnnGemm64)
	}
	if err != nil {
		return nil, err
	}
	outs := make([]*Tensor, op.nOut)
	for i, t := range []*Tensor{y, yh, yc} {
		if i < op.nOut && t != nil {
			t.RoundToDType()
			outs[i] = t
		}
	}
	return outs, nil
}

// rnnIO holds the flat data of a run's inputs and outputs (nil when absent).
type rnnIO[T rnnFloat] struct {
	x, w, r, b, h0, c0, p []T
	y, yh, yc             []T
}

// rnnGemmFunc computes c = a·op(b) + beta·c for row-major a (m×k) and b
// (n×k when transB, else k×n).
type rnnGemmFunc[T rnnFloat] func(transB bool, m, n, k int, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

func rnnGemm32(transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				row[j] *= beta
			}
		}
		return
	}
	if m >= rnnPackedRows {
		// The package's GEMM (packed AVX2 kernel or the blas32 backend).
		gemmF32(false, transB, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// A few rows (batch 1 recurrences): dot products of contiguous rows,
	// where packing would cost as much as the product. Large ones split the
	// columns over goroutines.
	procs := min(runtime.GOMAXPROCS(0), m*n*k/rnnPackedParMACs, n/rnnSerialCols)
	if procs <= 1 {
		rnnSgemmCols(transB, m, 0, n, k, a, lda, b, ldb, beta, c, ldc)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + procs - 1) / procs
	for j0 := 0; j0 < n; j0 += chunk {
		wg.Add(1)
		go func(j0, j1 int) {
			defer wg.Done()
			rnnSgemmCols(transB, m, j0, j1, k, a, lda, b, ldb, beta, c, ldc)
		}(j0, min(j0+chunk, n))
	}
	wg.Wait()
}

// rnnSgemmCols computes columns j0..j1 of rnnGemm32's product on gonum's
// serial path (blocks below its parallel threshold), which neither starts
// goroutines nor allocates.
func rnnSgemmCols(transB bool, m, j0, j1, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	tb := blas.NoTrans
	if transB {
		tb = blas.Trans
	}
	impl := blas32.Implementation()
	for i := 0; i < m; i += rnnSerialRows {
		mc := min(rnnSerialRows, m-i)
		for j := j0; j < j1; j += rnnSerialCols {
			nc := min(rnnSerialCols, j1-j)
			impl.Sgemm(blas.NoTrans, tb, mc, nc, k, 1, a[i*lda:], lda, b[rnnColOff(transB, j, ldb):], ldb, beta, c[i*ldc+j:], ldc)
		}
	}
}

// rnnColOff is the offset in b of output column j.
func rnnColOff(transB bool, j, ldb int) int {
	if transB {
		return j * ldb
	}
	return j
}

// Float32 GEMMs with at least rnnPackedRows rows go to gemmF32, smaller
// ones to dot products in blocks of rnnSerialRows×rnnSerialCols (gonum goes
// parallel from 4 blocks of 64×64). Float64 GEMMs of at least
// rnnParallelMACs multiply-adds take gonum's parallel path.
const (
	rnnPackedRows   = 4
	rnnParallelMACs = 1 << 21
	rnnSerialRows   = 64
	rnnSerialCols   = 192
)

func rnnGemm64(transB bool, m, n, k int, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				row[j] *= beta
			}
		}
		return
	}
	tb := blas.NoTrans
	if transB {
		tb = blas.Trans
	}
	impl := blas64.Implementation()
	if m*n*k >= rnnParallelMACs {
		impl.Dgemm(blas.NoTrans, tb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
		return
	}
	for i := 0; i < m; i += rnnSerialRows {
		mc := min(rnnSerialRows, m-i)
		for j := 0; j < n; j += rnnSerialCols {
			nc := min(rnnSerialCols, n-j)
			impl.Dgemm(blas.NoTrans, tb, mc, nc, k, 1, a[i*lda:], lda, b[rnnColOff(transB, j, ldb):], ldb, beta, c[i*ldc+j:], ldc)
		}
	}
}

// rnnF32 reinterprets a slice of a float32 type as []float32; callers
// check that T is 4 bytes wide (a float32 type).
func rnnF32[T rnnFloat](x []T) []float32 {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(x))), len(x))
}

// Layers of at least rnnChunkMACs multiply-adds per direction split the
// batch into row ranges of at least rnnChunkRows rows run in parallel.
const (
	rnnChunkMACs = 1 << 22
	rnnChunkRows = 4
)

// rnnGoroutineMACs is the work per direction from which the two
// directions of a bidirectional layer run in parallel.
const rnnGoroutineMACs = 1 << 15

// rnnRun runs every direction, the two of a bidirectional layer in parallel.
func rnnRun[T rnnFloat](op *rnnOp, s rnnShapes, lens []int, io rnnIO[T], gemm rnnGemmFunc[T]) error {
	if s.dirs == 1 {
		rnnDirection(op, s, lens, io, gemm, 0, op.reverse)
		return nil
	}
	work := s.seq * s.batch * s.gates * s.hidden * (s.input + s.hidden)
	if work < rnnGoroutineMACs {
		rnnDirection(op, s, lens, io, gemm, 0, false)
		rnnDirection(op, s, lens, io, gemm, 1, true)
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rnnDirection(op, s, lens, io, gemm, 1, true)
	}()
	rnnDirection(op, s, lens, io, gemm, 0, false)
	wg.Wait()
	return nil
}

// rnnDirState is the per-direction working memory and geometry shared by
// the cell kernels.
type rnnDirState[T rnnFloat] struct {
	s    rnnShapes
	op   *rnnOp
	d    int
	lens []int
	rev  bool
	xw   []T          // [seq*batch, G*H]: X·Wᵀ + biases, rows in X's order
	gate []T          // [batch, G*H]: H·Rᵀ of the current step
	h, c []T          // [batch, H] state
	tmp  []T          // [batch, H] scratch (GRU: r⊙Ht-1)
	rt   []T          // Rᵀ [H, G*H], or nil to use R directly
	pk   []rnnPackedB // float32: R packed for the micro-kernel, by column range
	taps []int        // float32 batch 1: row offsets of Rᵀ for gemmasm.Taps
	io   rnnIO[T]
	w, r []T // this direction's W and R
	acts []rnnAct
	clip T
	gemm rnnGemmFunc[T]
	maxL int
}

// rnnRows is the range of batch rows one time loop handles, with its
// scratch for packing the step's left operand.
type rnnRows struct {
	b0, b1 int
	apk    []float32 // float32 packed path only
	serial bool      // no goroutines inside the step products
}

// stepGemm computes c = a·R[col0:col0+n]ᵀ over the rows of rs, for the
// gate rows col0..col0+n of this direction's R; a holds [batch, H] and c
// [batch, ldc].
func (st *rnnDirState[T]) stepGemm(rs rnnRows, n int, a []T, col0 int, c []T, ldc int) {
	H := st.s.hidden
	m := rs.b1 - rs.b0
	a = a[rs.b0*H:]
	c = c[rs.b0*ldc:]
	if st.pk != nil {
		pk := &st.pk[0]
		if col0 != 0 {
			pk = &st.pk[1]
		}
		rnnPackA(rnnF32(a), m, H, rs.apk)
		pk.mul(rs.apk, m, rnnF32(c), ldc, rs.serial)
		return
	}
	if st.taps != nil {
		GH := st.s.gates * H
		rt := rnnF32(st.rt)[col0:]
		for r := 0; r < m; r++ {
			y := rnnF32(c[r*ldc : r*ldc+n])
			w := rnnF32(a[r*H : (r+1)*H])
			clear(y)
			for i := gemmasm.Taps(y, w, st.taps, rt); i < n; i++ {
				var sum float32
				for t, v := range w {
					sum += v * rt[t*GH+i]
				}
				y[i] = sum
			}
		}
		return
	}
	if st.rt != nil {
		st.gemm(false, m, n, H, a, H, st.rt[col0:], st.s.gates*H, 0, c, ldc)
		return
	}
	st.gemm(true, m, n, H, a, H, st.r[col0*H:], H, 0, c, ldc)
}

// xrow returns the offset of time t, batch b in xw.
func (st *rnnDirState[T]) xrow(t, b int) int {
	if st.op.layout == 0 {
		return (t*st.s.batch + b) * st.s.gates * st.s.hidden
	}
	return (b*st.s.seq + t) * st.s.gates * st.s.hidden
}

// yoff returns the offset of time t, batch b in Y for this direction.
func (st *rnnDirState[T]) yoff(t, b int) int {
	if st.op.layout == 0 {
		return ((t*st.s.dirs+st.d)*st.s.batch + b) * st.s.hidden
	}
	return ((b*st.s.seq+t)*st.s.dirs + st.d) * st.s.hidden
}

// stateOff returns the offset of batch b of this direction in initial_h,
// Y_h and the like.
func (st *rnnDirState[T]) stateOff(b int) int {
	if st.op.layout == 0 {
		return (st.d*st.s.batch + b) * st.s.hidden
	}
	return (b*st.s.dirs + st.d) * st.s.hidden
}

// timeOf returns the time index processed at step k for batch b.
func (st *rnnDirState[T]) timeOf(k, b int) int {
	if st.rev {
		return st.lens[b] - 1 - k
	}
	return k
}

// rnnDirection computes one direction: the input projection for all steps
// in one GEMM, then the time loop, then the final states.
func rnnDirection[T rnnFloat](op *rnnOp, s rnnShapes, lens []int, io rnnIO[T], gemm rnnGemmFunc[T], d int, rev bool) {
	G, H, B := s.gates, s.hidden, s.batch
	GH := G * H
	// One allocation holds all working memory: the input projection, the
	// step's recurrent products, the states and the bias sum.
	maxL := 0
	for _, l := range lens {
		maxL = max(maxL, l)
	}
	// When the step products take the packed GEMM, keep Rᵀ (H×G·H) so that
	// each step packs contiguous rows instead of transposing R again.
	var zero T
	// (With one row the kernel idles 5 of its 6 rows: dot products win.)
	usePK := unsafe.Sizeof(zero) == 4 && maxL > 1 && B >= 2 && rnnUsePacked()
	// Float32 batch-1 loops: Rᵀ with the AVX2 multi-tap row kernel.
	useTaps := unsafe.Sizeof(zero) == 4 && maxL > 1 && B == 1 && gemmasm.OK
	useRT := !usePK && (B >= rnnPackedRows || useTaps) && maxL > 1
	size := s.seq*B*GH + B*GH + 3*B*H + GH
	if useRT {
		size += GH * H
	}
	gruSplit := op.kind == rnnKindGRU && !op.linearReset // R·h in two column ranges
	if usePK {
		if gruSplit {
			size += rnnPackedSize(2*H, H) + rnnPackedSize(H, H)
		} else {
			size += rnnPackedSize(GH, H)
		}
	}
	// Batch rows are independent over the whole sequence: large layers run
	// the time loop on row ranges in parallel (the directions of a
	// bidirectional layer already take one goroutine each).
	chunks := 1
	if s.seq*B*GH*(s.input+H) >= rnnChunkMACs {
		chunks = max(1, min(runtime.GOMAXPROCS(0)/s.dirs, B/rnnChunkRows))
	}
	rows := make([]rnnRows, chunks)
	for i := range rows {
		rows[i] = rnnRows{b0: i * B / chunks, b1: (i + 1) * B / chunks, serial: chunks > 1}
		if usePK {
			size += rnnPackedASize(rows[i].b1-rows[i].b0, H)
		}
	}
	ws := make([]T, size)
	carve := func(n int) []T {
		p := ws[:n:n]
		ws = ws[n:]
		return p
	}
	st := &rnnDirState[T]{
		s: s, op: op, d: d, lens: lens, rev: rev, io: io, gemm: gemm,
		w:    io.w[d*GH*s.input : (d+1)*GH*s.input],
		r:    io.r[d*GH*H : (d+1)*GH*H],
		acts: op.acts[d*op.kind.numActs() : (d+1)*op.kind.numActs()],
		xw:   carve(s.seq * B * GH),
		gate: carve(B * GH),
		h:    carve(B * H),
		c:    carve(B * H),
		tmp:  carve(B * H),
	}
	bias := carve(GH)
	if op.clip > 0 {
		st.clip = T(op.clip)
	}
	st.maxL = maxL

	// X·Wᵀ for every time step and batch entry at once.
	gemm(true, s.seq*B, GH, s.input, io.x, s.input, st.w, s.input, 0, st.xw, GH)

	if usePK {
		// Float32 with the micro-kernel: pack R once for the whole loop.
		r32 := rnnF32(st.r)
		if gruSplit {
			st.pk = []rnnPackedB{
				rnnPackR(r32, 0, 2*H, H, rnnF32(carve(rnnPackedSize(2*H, H)))),
				rnnPackR(r32, 2*H, H, H, rnnF32(carve(rnnPackedSize(H, H)))),
			}
		} else {
			st.pk = []rnnPackedB{rnnPackR(r32, 0, GH, H, rnnF32(carve(rnnPackedSize(GH, H))))}
		}
		for i := range rows {
			rows[i].apk = rnnF32(carve(rnnPackedASize(rows[i].b1-rows[i].b0, H)))
		}
	}
	if useRT {
		st.rt = carve(GH * H)
		for j := 0; j < GH; j++ {
			row := st.r[j*H : (j+1)*H]
			for kk, v := range row {
				st.rt[kk*GH+j] = v
			}
		}
	}
	if useTaps {
		st.taps = make([]int, H)
		for t := range st.taps {
			st.taps[t] = t * GH
		}
	}

	// Fold the biases into the projection. GRU with linear_before_reset
	// keeps Rbh apart: it is scaled by the reset gate.
	var rbh []T
	if io.b != nil {
		wb := io.b[d*2*GH : d*2*GH+GH]
		rb := io.b[d*2*GH+GH : (d+1)*2*GH]
		for i := range bias {
			bias[i] = wb[i] + rb[i]
		}
		if op.kind == rnnKindGRU && op.linearReset {
			copy(bias[2*H:], wb[2*H:])
			rbh = rb[2*H : 3*H]
		}
		for row := 0; row < s.seq*B; row++ {
			dst := st.xw[row*GH : (row+1)*GH]
			for i, v := range bias {
				dst[i] += v
			}
		}
	}

	if io.h0 != nil {
		for b := 0; b < B; b++ {
			copy(st.h[b*H:(b+1)*H], io.h0[st.stateOff(b):st.stateOff(b)+H])
		}
	}

	var p []T
	if op.kind == rnnKindLSTM {
		if io.c0 != nil {
			for b := 0; b < B; b++ {
				copy(st.c[b*H:(b+1)*H], io.c0[st.stateOff(b):st.stateOff(b)+H])
			}
		}
		if io.p != nil {
			p = io.p[d*3*H : (d+1)*3*H]
		}
	}
	loop := func(rs rnnRows) {
		switch op.kind {
		case rnnKindRNN:
			rnnLoopRNN(st, rs)
		case rnnKindGRU:
			rnnLoopGRU(st, rs, rbh)
		case rnnKindLSTM:
			rnnLoopLSTM(st, rs, p)
		}
	}
	if len(rows) == 1 {
		loop(rows[0])
	} else {
		var wg sync.WaitGroup
		for _, rs := range rows[1:] {
			wg.Add(1)
			go func(rs rnnRows) {
				defer wg.Done()
				loop(rs)
			}(rs)
		}
		loop(rows[0])
		wg.Wait()
	}

	for b := 0; b < B; b++ {
		off := st.stateOff(b)
		if io.yh != nil {
			if lens[b] > 0 {
				copy(io.yh[off:off+H], st.h[b*H:(b+1)*H])
			}
		}
		if io.yc != nil {
			if lens[b] > 0 {
				copy(io.yc[off:off+H], st.c[b*H:(b+1)*H])
			}
		}
	}
}

// rnnLoopRNN is the time loop of the simple RNN: Ht = f(Xt·Wᵀ + Ht-1·Rᵀ + Wb + Rb).
func rnnLoopRNN[T rnnFloat](st *rnnDirState[T], rs rnnRows) {
	H := st.s.hidden
	f := st.acts[0]
	for k := 0; k < st.maxL; k++ {
		st.stepGemm(rs, H, st.h, 0, st.gate, H)
		for b := rs.b0; b < rs.b1; b++ {
			if k >= st.lens[b] {
				continue
			}
			t := st.timeOf(k, b)
			g := st.gate[b*H : (b+1)*H]
			xw := st.xw[st.xrow(t, b):]
			xw = xw[:H]
			for i := range g {
				g[i] += xw[i]
			}
			if st.clip > 0 {
				rnnClip(st.clip, g)
			}
			rnnApply(f, g)
			copy(st.h[b*H:(b+1)*H], g)
			if st.io.y != nil {
				o := st.yoff(t, b)
				copy(st.io.y[o:o+H], g)
			}
		}
	}
}
