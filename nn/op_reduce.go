package nn

import (
	"fmt"
	"math"
)

// redKind selects the reduction of a Reduce* op.
type redKind int

const (
	redSum redKind = iota
	redMean
	redMax
	redMin
	redProd
	redL1
	redL2
	redSumSquare
	redLogSum
	redLogSumExp
	// redExpSum is the second pass of redLogSumExp: sum of exp(x - m).
	redExpSum
)

// redOp is one Reduce* node.
type redOp struct {
	kind      redKind
	keepdims  bool
	noopEmpty bool
	// axes is the axes attribute (nil when absent); axesInput says the axes
	// come from the optional second input instead.
	axes      []int
	axesInput bool
}

// redNew returns the constructor of a Reduce* op; axesInput is true for the
// opsets that take axes as the second input.
func redNew(kind redKind, axesInput bool) func(n *Node) (Op, error) {
	return func(n *Node) (Op, error) {
		if err := normMaxOutputs(n, 1); err != nil {
			return nil, err
		}
		op := &redOp{
			kind:      kind,
			keepdims:  n.AttrInt("keepdims", 1) != 0,
			axesInput: axesInput,
		}
		if axesInput {
			op.noopEmpty = n.AttrInt("noop_with_empty_axes", 0) != 0
			if n.HasAttr("axes") {
				return nil, fmt.Errorf("attribute axes is not allowed at opset %d (axes is an input)", n.Opset)
			}
		} else {
			op.axes = n.AttrInts("axes", nil)
		}
		return op, nil
	}
}

func (op *redOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("missing data input")
	}
	x := in[0]
	axes := op.axes
	if op.axesInput && len(in) > 1 && in[1] != nil {
		if in[1].DType.Storage() != StoreI64 {
			return nil, fmt.Errorf("axes input has element type %v, want int64", in[1].DType)
		}
		if in[1].Rank() > 1 {
			return nil, fmt.Errorf("axes input has shape %s, want 1-D", ShapeString(in[1].Shape))
		}
		axes = in[1].Ints()
	}
	rank := x.Rank()
	reduced := make([]bool, rank)
	if len(axes) == 0 {
		if !op.noopEmpty {
			for i := range reduced {
				reduced[i] = true
			}
		}
	} else {
		for _, a := range axes {
			ax, err := normAxis(a, rank)
			if err != nil || rank == 0 {
				return nil, fmt.Errorf("axes %v: axis %d out of range for input shape %s", axes, a, ShapeString(x.Shape))
			}
			if reduced[ax] {
				return nil, fmt.Errorf("axes %v: axis %d repeated", axes, a)
			}
			reduced[ax] = true
		}
	}
	y, err := redReduce(op.kind, x, reduced, op.keepdims)
	if err != nil {
		return nil, err
	}
	return []*Tensor{y}, nil
}

// redLayout is a reduction's iteration plan: the input's dimensions with
// size-1 axes dropped and neighbouring axes of the same kind (reduced or
// kept) merged. The input is walked in contiguous runs of the last group.
type redLayout struct {
	dims    []int
	red     []bool
	outStr  []int // output stride of each group (0 for reduced groups)
	runLen  int   // elements per run (size of the last group)
	lastRed bool  // whether the last group is reduced
	numRuns int
	outLen  int
	count   int // elements reduced into each output (may be 0)
}

func redMakeLayout(shape []int, reduced []bool) *redLayout {
	l := &redLayout{outLen: 1, count: 1}
	for i, d := range shape {
		if reduced[i] {
			l.count *= d
		} else {
			l.outLen *= d
		}
		if d == 1 {
			continue
		}
		if k := len(l.dims) - 1; k >= 0 && l.red[k] == reduced[i] {
			l.dims[k] *= d
			continue
		}
		l.dims = append(l.dims, d)
		l.red = append(l.red, reduced[i])
	}
	if len(l.dims) == 0 {
		l.dims, l.red = []int{1}, []bool{false}
	}
	g := len(l.dims)
	l.outStr = make([]int, g)
	acc := 1
	for k := g - 1; k >= 0; k-- {
		if !l.red[k] {
			l.outStr[k] = acc
			acc *= l.dims[k]
		}
	}
	l.runLen = l.dims[g-1]
	l.lastRed = l.red[g-1]
	l.numRuns = 1
	for k := 0; k < g-1; k++ {
		l.numRuns *= l.dims[k]
	}
	return l
}

// walk calls fn(inOff, outOff) for runs lo..hi-1 in order.
func (l *redLayout) walk(lo, hi int, fn func(inOff, outOff int)) {
	g := len(l.dims) - 1 // groups iterated by the odometer
	var coordBuf [8]int
	coord := coordBuf[:0]
	if g > len(coordBuf) {
		coord = make([]int, g)
	} else {
		coord = coordBuf[:g]
	}
	rem, outOff := lo, 0
	for k := g - 1; k >= 0; k-- {
		coord[k] = rem % l.dims[k]
		rem /= l.dims[k]
		outOff += coord[k] * l.outStr[k]
	}
	for r := lo; r < hi; r++ {
		fn(r*l.runLen, outOff)
		for k := g - 1; k >= 0; k-- {
			coord[k]++
			outOff += l.outStr[k]
			if coord[k] < l.dims[k] {
				break
			}
			outOff -= l.outStr[k] * l.dims[k]
			coord[k] = 0
		}
	}
}

// run walks every run, in parallel over the first group when it is kept
// (different first-group indices write disjoint outputs).
func (l *redLayout) run(fn func(inOff, outOff int)) {
	if len(l.dims) >= 2 && !l.red[0] && l.dims[0] > 1 {
		per := l.numRuns / l.dims[0]
		normParallel(l.dims[0], per*l.runLen, func(lo, hi int) {
			l.walk(lo*per, hi*per, fn)
		})
		return
	}
	l.walk(0, l.numRuns, fn)
}

// redOutShape is the shape of a reduction's result.
func redOutShape(shape []int, reduced []bool, keepdims bool) []int {
	out := make([]int, 0, len(shape))
	for i, d := range shape {
		switch {
		case !reduced[i]:
			out = append(out, d)
		case keepdims:
			out = append(out, 1)
		}
	}
	return out
}

// redReduce applies the reduction kind over the marked axes of x.
func redReduce(kind redKind, x *Tensor, reduced []bool, keepdims bool) (*Tensor, error) {
	outShape := redOutShape(x.Shape, reduced, keepdims)
	lay := redMakeLayout(x.Shape, reduced)
	switch x.DType.Storage() {
	case StoreF32, StoreF64:
		acc := redFloat(kind, x, lay)
		y := New(x.DType, outShape...)
		if y.F32 != nil {
			for i, v := range acc {
				y.F32[i] = float32(v)
			}
			y.RoundToDType()
		} else {
			copy(y.F64, acc)
		}
		return y, nil
	case StoreI64:
		switch kind {
		case redL2, redLogSum, redLogSumExp:
			// Computed in float64, truncated back to the integer type.
			f := &Tensor{DType: Float64, Shape: x.Shape, F64: make([]float64, x.Len())}
			for i := range f.F64 {
				f.F64[i] = x.Float64At(i)
			}
			acc := redFloat(kind, f, lay)
			y := New(x.DType, outShape...)
			for i, v := range acc {
				if x.DType == Uint64 && v >= 1<<63 {
					y.I64[i] = int64(uint64(v))
				} else {
					y.I64[i] = x.DType.WrapInt(int64(v))
				}
			}
			return y, nil
		}
		y := New(x.DType, outShape...)
		redInt(kind, x, lay, y.I64)
		return y, nil
	case StoreBool:
		if kind != redMax && kind != redMin {
			return nil, fmt.Errorf("input element type bool is not supported by this reduction")
		}
		xi := &Tensor{DType: Uint8, Shape: x.Shape, I64: make([]int64, x.Len())}
		for i, b := range x.Bool {
			if b {
				xi.I64[i] = 1
			}
		}
		acc := make([]int64, lay.outLen)
		redInt(kind, xi, lay, acc)
		y := New(Bool, outShape...)
		for i, v := range acc {
			y.Bool[i] = v != 0
		}
		return y, nil
	}
	return nil, fmt.Errorf("unsupported input element type %v", x.DType)
}

// redInit is the accumulator's starting value.
func redInit(kind redKind) float64 {
	switch kind {
	case redProd:
		return 1
	case redMax, redLogSumExp:
		return math.Inf(-1)
	case redMin:
		return math.Inf(1)
	}
	return 0
}

// redFloat reduces a float tensor, returning the float64 results.
func redFloat(kind redKind, x *Tensor, lay *redLayout) []float64 {
	acc := make([]float64, lay.outLen)
	pass := kind
	var m []float64
	if kind == redLogSumExp {
		pass = redMax
	}
	for i := range acc {
		acc[i] = redInit(pass)
	}
	redFloatPass(pass, x, lay, acc, nil)
	if kind == redLogSumExp {
		m = acc
		acc = make([]float64, lay.outLen)
		redFloatPass(redExpSum, x, lay, acc, m)
	}
	cnt := float64(lay.count)
	switch kind {
	case redMean:
		for i := range acc {
			acc[i] /= cnt
		}
	case redL2:
		for i := range acc {
			acc[i] = math.Sqrt(acc[i])
		}
	case redLogSum:
		for i := range acc {
			acc[i] = math.Log(acc[i])
		}
	case redLogSumExp:
		for i := range acc {
			if math.IsInf(m[i], 0) {
				acc[i] = m[i]
			} else {
				acc[i] = math.Log(acc[i]) + m[i]
			}
		}
	}
	return acc
}

func redFloatPass(kind redKind, x *Tensor, lay *redLayout, acc, m []float64) {
	if x.Len() == 0 {
		return
	}
	L := lay.runLen
	if lay.lastRed && len(lay.dims) <= 2 {
		// Contiguous rows, one per output: the common last-axis (and
		// per-channel spatial) reduction.
		if x.F64 != nil {
			redRowsF(kind, x.F64, L, acc, m)
		} else {
			redRowsF(kind, x.F32, L, acc, m)
		}
		return
	}
	if x.F64 != nil {
		data := x.F64
		if lay.lastRed {
			lay.run(func(inOff, outOff int) {
				var mv float64
				if m != nil {
					mv = m[outOff]
				}
				acc[outOff] = redCombine(kind, acc[outOff], redRowF(kind, data[inOff:inOff+L], mv))
			})
		} else {
			lay.run(func(inOff, outOff int) {
				var mm []float64
				if m != nil {
					mm = m[outOff : outOff+L]
				}
				redAccumF(kind, acc[outOff:outOff+L], data[inOff:inOff+L], mm)
			})
		}
		return
	}
	data := x.F32
	if lay.lastRed {
		lay.run(func(inOff, outOff int) {
			var mv float64
			if m != nil {
				mv = m[outOff]
			}
			acc[outOff] = redCombine(kind, acc[outOff], redRowF(kind, data[inOff:inOff+L], mv))
		})
	} else {
		lay.run(func(inOff, outOff int) {
			var mm []float64
			if m != nil {
				mm = m[outOff : outOff+L]
			}
			redAccumF(kind, acc[outOff:outOff+L], data[inOff:inOff+L], mm)
		})
	}
}

// redRowsF reduces consecutive rows of length L, row o into acc[o].
func redRowsF[T float32 | float64](kind redKind, x []T, L int, acc, m []float64) {
	normParallel(len(acc), L, func(lo, hi int) {
		for o := lo; o < hi; o++ {
			var mv float64
			if m != nil {
				mv = m[o]
			}
			acc[o] = redCombine(kind, acc[o], redRowF(kind, x[o*L:(o+1)*L], mv))
		}
	})
}

// redCombine merges a partial result b into a.
func redCombine(kind redKind, a, b float64) float64 {
	switch kind {
	case redProd:
		return a * b
	case redMax:
		if b > a || b != b {
			return b
		}
		return a
	case redMin:
		if b < a || b != b {
			return b
		}
		return a
	}
	return a + b
}

// redRowF reduces one contiguous run to a partial result.
func redRowF[T float32 | float64](kind redKind, row []T, m float64) float64 {
	switch kind {
	case redSum, redMean, redLogSum:
		var s0, s1, s2, s3 float64
		i := 0
		if r32, ok := any(row).([]float32); ok {
			i, s0 = redSumVec(r32)
		}
		for ; i+4 <= len(row); i += 4 {
			s0 += float64(row[i])
			s1 += float64(row[i+1])
			s2 += float64(row[i+2])
			s3 += float64(row[i+3])
		}
		for ; i < len(row); i++ {
			s0 += float64(row[i])
		}
		return (s0 + s1) + (s2 + s3)
	case redL1:
		var s float64
		for _, v := range row {
			s += math.Abs(float64(v))
		}
		return s
	case redL2, redSumSquare:
		var s0, s1 float64
		i := 0
		if r32, ok := any(row).([]float32); ok {
			i, s0 = redSqDevVec(r32, 0)
		}
		for ; i+2 <= len(row); i += 2 {
			a, b := float64(row[i]), float64(row[i+1])
			s0 += a * a
			s1 += b * b
		}
		for ; i < len(row); i++ {
			a := float64(row[i])
			s0 += a * a
		}
		return s0 + s1
	case redProd:
		p := 1.0
		for _, v := range row {
			p *= float64(v)
		}
		return p
	case redMax:
		r := math.Inf(-1)
		for _, v := range row {
			f := float64(v)
			if f > r || f != f {
				r = f
				if f != f {
					break
				}
			}
		}
		return r
	case redMin:
		r := math.Inf(1)
		for _, v := range row {
			f := float64(v)
			if f < r || f != f {
				r = f
				if f != f {
					break
				}
			}
		}
		return r
	case redExpSum:
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		return s
	}
	return 0
}

// redAccumF folds a run into per-output accumulators: acc[i] op= row[i].
func redAccumF[T float32 | float64](kind redKind, acc []float64, row []T, m []float64) {
	row = row[:len(acc)]
	switch kind {
	case redSum, redMean, redLogSum:
		i := 0
		if r32, ok := any(row).([]float32); ok {
			i = redAccumVec(acc, r32)
		}
		for ; i < len(row); i++ {
			acc[i] += float64(row[i])
		}
	case redL1:
		for i, v := range row {
			acc[i] += math.Abs(float64(v))
		}
	case redL2, redSumSquare:
		for i, v := range row {
			f := float64(v)
			acc[i] += f * f
		}
	case redProd:
		for i, v := range row {
			acc[i] *= float64(v)
		}
	case redMax:
		for i, v := range row {
			f := float64(v)
			if f > acc[i] || f != f {
				acc[i] = f
			}
		}
	case redMin:
		for i, v := range row {
			f := float64(v)
			if f < acc[i] || f != f {
				acc[i] = f
			}
		}
	case redExpSum:
		m = m[:len(acc)]
		for i, v := range row {
			acc[i] += math.Exp(float64(v) - m[i])
		}
	}
}

// redIntLimits returns the smallest and largest value of an integer type
// (Uint64's largest as its bit pattern, -1).
func redIntLimits(dt DType) (int64, int64) {
	switch dt {
	case Int8:
		return math.MinInt8, math.MaxInt8
	case Int16:
		return math.MinInt16, math.MaxInt16
	case Int32:
		return math.MinInt32, math.MaxInt32
	case Uint8:
		return 0, math.MaxUint8
	case Uint16:
		return 0, math.MaxUint16
	case Uint32:
		return 0, math.MaxUint32
	case Uint64:
		return 0, -1
	}
	return math.MinInt64, math.MaxInt64
}

// redInt reduces an integer tensor into out (len lay.outLen), with integer
// wrap-around and truncating division for the mean.
func redInt(kind redKind, x *Tensor, lay *redLayout, out []int64) {
	lo, hi := redIntLimits(x.DType)
	data := x.I64
	// Unsigned 64-bit values compare as unsigned: flip the sign bit so a
	// signed comparison orders them correctly, and flip back at the end.
	flip := x.DType == Uint64 && (kind == redMax || kind == redMin)
	if flip {
		data = make([]int64, len(x.I64))
		for i, v := range x.I64 {
			data[i] = v ^ math.MinInt64
		}
		lo, hi = lo^math.MinInt64, hi^math.MinInt64
	}
	init := int64(0)
	switch kind {
	case redProd:
		init = 1
	case redMax:
		init = lo
	case redMin:
		init = hi
	}
	for i := range out {
		out[i] = init
	}
	if x.Len() > 0 {
		L := lay.runLen
		lay.run(func(inOff, outOff int) {
			row := data[inOff : inOff+L]
			if lay.lastRed {
				a := out[outOff]
				for _, v := range row {
					a = redIntStep(kind, a, v)
				}
				out[outOff] = a
				return
			}
			acc := out[outOff : outOff+L]
			for i, v := range row {
				acc[i] = redIntStep(kind, acc[i], v)
			}
		})
	}
	for i, v := range out {
		if flip {
			v ^= math.MinInt64
		}
		if kind == redMean {
			if lay.count == 0 {
				v = 0
			} else if x.DType == Uint64 {
				v = int64(uint64(v) / uint64(lay.count))
			} else {
				v /= int64(lay.count)
			}
		}
		out[i] = x.DType.WrapInt(v)
	}
}

func redIntStep(kind redKind, a, v int64) int64 {
	switch kind {
	case redProd:
		return a * v
	case redMax:
		if v > a {
			return v
		}
		return a
	case redMin:
		if v < a {
			return v
		}
		return a
	case redL1:
		if v < 0 {
			return a - v
		}
		return a + v
	case redSumSquare:
		return a + v*v
	}
	return a + v
}

// argOp is ArgMax or ArgMin.
type argOp struct {
	max      bool
	axis     int
	keepdims bool
	last     bool
}

func argNew(max bool) func(n *Node) (Op, error) {
	return func(n *Node) (Op, error) {
		if err := normMaxOutputs(n, 1); err != nil {
			return nil, err
		}
		return &argOp{
			max:      max,
			axis:     int(n.AttrInt("axis", 0)),
			keepdims: n.AttrInt("keepdims", 1) != 0,
			last:     n.AttrInt("select_last_index", 0) != 0,
		}, nil
	}
}

func (op *argOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("missing data input")
	}
	x := in[0]
	rank := x.Rank()
	if rank == 0 {
		return nil, fmt.Errorf("input is a scalar; ArgMax/ArgMin need rank >= 1")
	}
	axis, err := normAxis(op.axis, rank)
	if err != nil {
		return nil, fmt.Errorf("input shape %s: %w", ShapeString(x.Shape), err)
	}
	reduced := make([]bool, rank)
	reduced[axis] = true
	y := New(Int64, redOutShape(x.Shape, reduced, op.keepdims)...)
	D := x.Shape[axis]
	if D == 0 {
		if y.Len() == 0 {
			return []*Tensor{y}, nil
		}
		return nil, fmt.Errorf("input shape %s: cannot take the arg max/min over an empty axis %d", ShapeString(x.Shape), axis)
	}
	outer := NumElements(x.Shape[:axis])
	inner := NumElements(x.Shape[axis+1:])
	switch x.DType.Storage() {
	case StoreF32:
		argRun(x.F32, y.I64, outer, D, inner, op.max, op.last)
	case StoreF64:
		argRun(x.F64, y.I64, outer, D, inner, op.max, op.last)
	case StoreI64:
		data := x.I64
		if x.DType == Uint64 {
			data = make([]int64, len(x.I64))
			for i, v := range x.I64 {
				data[i] = v ^ math.MinInt64
			}
		}
		argRun(data, y.I64, outer, D, inner, op.max, op.last)
	case StoreBool:
		data := make([]int64, len(x.Bool))
		for i, b := range x.Bool {
			if b {
				data[i] = 1
			}
		}
		argRun(data, y.I64, outer, D, inner, op.max, op.last)
	default:
		return nil, fmt.Errorf("unsupported input element type %v", x.DType)
	}
	return []*Tensor{y}, nil
}

func argRun[T float32 | float64 | int64](x []T, out []int64, outer, D, inner int, max, last bool) {
	normParallel(outer, D*inner, func(lo, hi int) {
		if inner == 1 {
			for o := lo; o < hi; o++ {
				out[o] = int64(argRow(x[o*D:(o+1)*D], max, last))
			}
			return
		}
		best := make([]T, inner)
		for o := lo; o < hi; o++ {
			base := x[o*D*inner : (o+1)*D*inner]
			idx := out[o*inner : (o+1)*inner]
			copy(best, base[:inner])
			for i := range idx {
				idx[i] = 0
			}
			for j := 1; j < D; j++ {
				argCols(base[j*inner:(j+1)*inner], best, idx, int64(j), max, last)
			}
		}
	})
}

// argRow returns the position of the first (or last) maximum (or minimum)
// of a non-empty row.
func argRow[T float32 | float64 | int64](row []T, max, last bool) int {
	best, bi := row[0], 0
	switch {
	case max && !last:
		for j, v := range row {
			if v > best {
				best, bi = v, j
			}
		}
	case max && last:
		for j, v := range row {
			if v >= best {
				best, bi = v, j
			}
		}
	case !max && !last:
		for j, v := range row {
			if v < best {
				best, bi = v, j
			}
		}
	default:
		for j, v := range row {
			if v <= best {
				best, bi = v, j
			}
		}
	}
	return bi
}

// argCols updates per-column bests with row j.
func argCols[T float32 | float64 | int64](row, best []T, idx []int64, j int64, max, last bool) {
	best = best[:len(row)]
	idx = idx[:len(row)]
	switch {
	case max && !last:
		for i, v := range row {
			if v > best[i] {
				best[i], idx[i] = v, j
			}
		}
	case max && last:
		for i, v := range row {
			if v >= best[i] {
				best[i], idx[i] = v, j
			}
		}
	case !max && !last:
		for i, v := range row {
			if v < best[i] {
				best[i], idx[i] = v, j
			}
		}
	default:
		for i, v := range row {
			if v <= best[i] {
				best[i], idx[i] = v, j
			}
		}
	}
}
