package nn

import (
	"fmt"
	"math"

	"github.com/graftml/graft/nn/internal/actasm"
	"github.com/graftml/graft/nn/internal/gemmasm"
)

// ewOp selects an arithmetic kernel.
type ewOp int

const (
	ewAdd ewOp = iota
	ewSub
	ewMul
	ewDiv
	ewMax
	ewMin
)

var ewOpNames = [...]string{"Add", "Sub", "Mul", "Div", "Max", "Min"}

// ewNum is the set of storage element types arithmetic kernels work on.
// Integer tensors use int64 (or uint64 for Uint64) and are wrapped afterwards.
type ewNum interface {
	~float32 | ~float64 | ~int64 | ~uint64
}

func ewFill[T any](dst []T, v T) {
	for i := range dst {
		dst[i] = v
	}
}

// ewArith computes dst[i] = a[i*sa] op b[i*sb] for sa, sb in {0, 1}, with
// separate contiguous loops for each stride combination. Integer division
// by zero must have been excluded by the caller.
func ewArith[T ewNum](op ewOp, dst, a, b []T, sa, sb int) {
	if d, ok := any(dst).([]float32); ok && gemmasm.OK {
		k := ewArithVec(op, d, any(a).([]float32), any(b).([]float32), sa, sb)
		if k == len(dst) {
			return
		}
		dst = dst[k:]
		a, b = a[k*sa:], b[k*sb:]
	}
	n := len(dst)
	if sa == 1 {
		a = a[:n]
	}
	if sb == 1 {
		b = b[:n]
	}
	switch op {
	case ewAdd:
		switch {
		case sa == 1 && sb == 1:
			for i := range dst {
				dst[i] = a[i] + b[i]
			}
		case sa == 1:
			y := b[0]
			for i := range dst {
				dst[i] = a[i] + y
			}
		case sb == 1:
			x := a[0]
			for i := range dst {
				dst[i] = x + b[i]
			}
		default:
			ewFill(dst, a[0]+b[0])
		}
	case ewSub:
		switch {
		case sa == 1 && sb == 1:
			for i := range dst {
				dst[i] = a[i] - b[i]
			}
		case sa == 1:
			y := b[0]
			for i := range dst {
				dst[i] = a[i] - y
			}
		case sb == 1:
			x := a[0]
			for i := range dst {
				dst[i] = x - b[i]
			}
		default:
			ewFill(dst, a[0]-b[0])
		}
	case ewMul:
		switch {
		case sa == 1 && sb == 1:
			for i := range dst {
				dst[i] = a[i] * b[i]
			}
		case sa == 1:
			y := b[0]
			for i := range dst {
				dst[i] = a[i] * y
			}
		case sb == 1:
			x := a[0]
			for i := range dst {
				dst[i] = x * b[i]
			}
		default:
			ewFill(dst, a[0]*b[0])
		}
	case ewDiv:
		switch {
		case sa == 1 && sb == 1:
			for i := range dst {
				dst[i] = a[i] / b[i]
			}
		case sa == 1:
			y := b[0]
			for i := range dst {
				dst[i] = a[i] / y
			}
		case sb == 1:
			x := a[0]
			for i := range dst {
				dst[i] = x / b[i]
			}
		default:
			ewFill(dst, a[0]/b[0])
		}
	case ewMax:
		for i := range dst {
			x, y := a[i*sa], b[i*sb]
			if y > x || y != y {
				x = y
			}
			dst[i] = x
		}
	case ewMin:
		for i := range dst {
			x, y := a[i*sa], b[i*sb]
			if y < x || y != y {
				x = y
			}
			dst[i] = x
		}
	}
}

// ewRun2 runs kernel f over every contiguous run of a two-input broadcast.
func ewRun2[A, B, D any](bc *ewBcast, cost int, dst []D, a []A, b []B, f func(dst []D, a []A, b []B, sa, sb int)) {
	sa, sb := bc.inner(0), bc.inner(1)
	ewParallel(bc.n, cost, func(lo, hi int) {
		bc.runs(lo, hi, func(o int, offs []int, n int) {
			f(dst[o:o+n], a[offs[0]:], b[offs[1]:], sa, sb)
		})
	})
}

// ewFinish wraps integer results and rounds half-precision results to their
// type, in parallel.
func ewFinish(t *Tensor) {
	switch t.DType {
	case Float16, BFloat16:
		ewParallel(len(t.F32), 4, func(lo, hi int) { ewRoundRange(t.DType, t.F32[lo:hi]) })
	case Int8, Int16, Int32, Uint8, Uint16, Uint32:
		ewParallel(len(t.I64), 1, func(lo, hi int) { ewWrapInts(t.DType, t.I64[lo:hi]) })
	}
}

// ewCheckIn verifies that in has want non-nil inputs and that every given
// input holds as many elements as its shape says (a malformed tensor would
// otherwise make a kernel goroutine panic).
func ewCheckIn(in []*Tensor, want int) error {
	if len(in) < want {
		return fmt.Errorf("expected %d inputs, got %d", want, len(in))
	}
	for i, t := range in {
		if t == nil {
			if i < want {
				return fmt.Errorf("input %d is missing", i)
			}
			continue
		}
		if err := ewCheckData(t); err != nil {
			return fmt.Errorf("input %d: %w", i, err)
		}
	}
	return nil
}

// ewCheckData verifies that t's data slice matches its shape and type.
func ewCheckData(t *Tensor) error {
	n := -1
	switch t.DType.Storage() {
	case StoreF32:
		n = len(t.F32)
	case StoreF64:
		n = len(t.F64)
	case StoreI64:
		n = len(t.I64)
	case StoreBool:
		n = len(t.Bool)
	default:
		return fmt.Errorf("unsupported element type %v", t.DType)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %s", ShapeString(t.Shape))
		}
	}
	if want := NumElements(t.Shape); n != want {
		return fmt.Errorf("%v holds %d values, its shape needs %d", t, n, want)
	}
	return nil
}

// ewHasZero reports whether an integer divisor holds a zero.
func ewHasZero(s []int64) bool {
	for _, v := range s {
		if v == 0 {
			return true
		}
	}
	return false
}

// ewArithVec computes the leading multiple of 8 elements of ewArith for
// float32 with the AVX2 kernels (add, sub, mul and div; a scalar first
// operand only for add and mul) and returns how many it computed.
func ewArithVec(op ewOp, dst, a, b []float32, sa, sb int) int {
	var vop int
	switch op {
	case ewAdd:
		vop = actasm.OpAdd
	case ewSub:
		vop = actasm.OpSub
	case ewMul:
		vop = actasm.OpMul
	case ewDiv:
		vop = actasm.OpDiv
	default:
		return 0
	}
	switch {
	case sa == 1 && sb == 1:
		return actasm.Arith(vop, dst, a, b)
	case sa == 1:
		return actasm.Arith(vop, dst, a, b[:1])
	case sb == 1 && (op == ewAdd || op == ewMul):
		return actasm.Arith(vop, dst, b, a[:1])
	}
	return 0
}

// ewArithInto computes dst = a op b where bc broadcasts (a, b) to dst's
// shape; a and b share dst's dtype. a may alias dst when it has dst's shape.
func ewArithInto(op ewOp, bc *ewBcast, dst, a, b *Tensor) error {
	switch dst.DType.Storage() {
	case StoreF32:
		ewArithRun2(bc, op, dst.F32, a.F32, b.F32)
	case StoreF64:
		ewArithRun2(bc, op, dst.F64, a.F64, b.F64)
	case StoreI64:
		if op == ewDiv && ewHasZero(b.I64) {
			return fmt.Errorf("integer division by zero (%v divisor)", b.DType)
		}
		if dst.DType == Uint64 && (op == ewDiv || op == ewMax || op == ewMin) {
			ewArithRun2(bc, op, ewU64(dst.I64), ewU64(a.I64), ewU64(b.I64))
			return nil
		}
		ewArithRun2(bc, op, dst.I64, a.I64, b.I64)
	default:
		return fmt.Errorf("%s does not support element type %v", ewOpNames[op], dst.DType)
	}
	return nil
}

// ewArithRun2 runs an arithmetic kernel over a two-input broadcast, first
// widening short innermost runs where possible.
func ewArithRun2[T ewNum](bc *ewBcast, op ewOp, dst, a, b []T) {
	if nb, buf := ewWiden(bc, 1, b); nb != nil {
		bc, b = nb, buf
	} else if nb, buf := ewWiden(bc, 0, a); nb != nil {
		bc, a = nb, buf
	}
	ewRun2(bc, 1, dst, a, b, func(d, x, y []T, sa, sb int) { ewArith(op, d, x, y, sa, sb) })
}

// ewArithRun computes a op b with broadcasting.
func ewArithRun(op ewOp, a, b *Tensor) (*Tensor, error) { return arArithRun(nil, op, a, b) }

// arArithRun is ewArithRun with the output from ctx's run buffers.
func arArithRun(ctx *Context, op ewOp, a, b *Tensor) (*Tensor, error) {
	if a.DType != b.DType {
		return nil, fmt.Errorf("input element types differ: %v and %v", a, b)
	}
	bc, err := ewNewBcast(a.Shape, b.Shape)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ewOpNames[op], err)
	}
	if a.DType.Storage() == StoreBool || a.DType.Storage() == StoreNone {
		return nil, fmt.Errorf("%s does not support element type %v", ewOpNames[op], a.DType)
	}
	if bc.n == 0 {
		return New(a.DType, bc.out...), nil
	}
	out := ctx.arNew(a.DType, bc.out...) // ewArithInto writes every element
	if err := ewArithInto(op, bc, out, a, b); err != nil {
		return nil, err
	}
	ewFinish(out)
	return out, nil
}

// ewBroadcastCopy copies src broadcast to dst's shape.
func ewBroadcastCopy(dst, src *Tensor) error {
	bc, err := ewNewBcast(dst.Shape, src.Shape)
	if err != nil {
		return err
	}
	if !SameShape(bc.out, dst.Shape) {
		return fmt.Errorf("cannot broadcast %s to %s", ShapeString(src.Shape), ShapeString(dst.Shape))
	}
	if bc.n == 0 {
		return nil
	}
	switch dst.DType.Storage() {
	case StoreF32:
		ewRun2(bc, 1, dst.F32, dst.F32, src.F32, ewCopyKernel[float32])
	case StoreF64:
		ewRun2(bc, 1, dst.F64, dst.F64, src.F64, ewCopyKernel[float64])
	case StoreI64:
		ewRun2(bc, 1, dst.I64, dst.I64, src.I64, ewCopyKernel[int64])
	case StoreBool:
		ewRun2(bc, 1, dst.Bool, dst.Bool, src.Bool, ewCopyKernel[bool])
	}
	return nil
}

func ewCopyKernel[T any](dst, _, b []T, _, sb int) {
	if sb == 1 {
		copy(dst, b[:len(dst)])
		return
	}
	ewFill(dst, b[0])
}

// ewVariadic folds op over any number of inputs with broadcasting
// (Sum, Max, Min, Mean).
func ewVariadic(name string, op ewOp, mean bool, in []*Tensor) (*Tensor, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%s needs at least one input", name)
	}
	shapes := make([][]int, len(in))
	for i, t := range in {
		if t == nil {
			return nil, fmt.Errorf("%s: input %d is missing", name, i)
		}
		if err := ewCheckData(t); err != nil {
			return nil, fmt.Errorf("%s: input %d: %w", name, i, err)
		}
		if t.DType != in[0].DType {
			return nil, fmt.Errorf("%s: input element types differ: %v and %v", name, in[0], t)
		}
		shapes[i] = t.Shape
	}
	dt := in[0].DType
	if s := dt.Storage(); s == StoreBool || s == StoreNone {
		return nil, fmt.Errorf("%s does not support element type %v", name, dt)
	}
	if mean && !dt.IsFloat() {
		return nil, fmt.Errorf("%s does not support element type %v", name, dt)
	}
	outShape, err := BroadcastShapes(shapes...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := New(dt, outShape...)
	if out.Len() == 0 {
		return out, nil
	}
	start := 1
	if len(in) == 1 {
		if err := ewBroadcastCopy(out, in[0]); err != nil {
			return nil, err
		}
	} else {
		bc, _ := ewNewBcast(in[0].Shape, in[1].Shape)
		if SameShape(bc.out, outShape) {
			if err := ewArithInto(op, bc, out, in[0], in[1]); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			start = 2
		} else if err := ewBroadcastCopy(out, in[0]); err != nil {
			return nil, err
		}
	}
	for _, t := range in[start:] {
		bc, _ := ewNewBcast(outShape, t.Shape)
		if err := ewArithInto(op, bc, out, out, t); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if mean && len(in) > 1 {
		k := float64(len(in))
		switch dt.Storage() {
		case StoreF32:
			kf := float32(k)
			for i := range out.F32 {
				out.F32[i] /= kf
			}
		case StoreF64:
			for i := range out.F64 {
				out.F64[i] /= k
			}
		}
	}
	ewFinish(out)
	return out, nil
}

// ewCmpOp selects a comparison.
type ewCmpOp int

const (
	ewEq ewCmpOp = iota
	ewLt
	ewGt
	ewLe
	ewGe
)

var ewCmpNames = [...]string{"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"}

func ewCompare[T ewNum](op ewCmpOp, dst []bool, a, b []T, sa, sb int) {
	switch op {
	case ewEq:
		for i := range dst {
			dst[i] = a[i*sa] == b[i*sb]
		}
	case ewLt:
		for i := range dst {
			dst[i] = a[i*sa] < b[i*sb]
		}
	case ewGt:
		for i := range dst {
			dst[i] = a[i*sa] > b[i*sb]
		}
	case ewLe:
		for i := range dst {
			dst[i] = a[i*sa] <= b[i*sb]
		}
	case ewGe:
		for i := range dst {
			dst[i] = a[i*sa] >= b[i*sb]
		}
	}
}

func ewCompareRun(op ewCmpOp, a, b *Tensor) (*Tensor, error) {
	name := ewCmpNames[op]
	if a.DType != b.DType {
		return nil, fmt.Errorf("%s: input element types differ: %v and %v", name, a, b)
	}
	bc, err := ewNewBcast(a.Shape, b.Shape)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := New(Bool, bc.out...)
	if bc.n == 0 {
		return out, nil
	}
	switch a.DType.Storage() {
	case StoreF32:
		ewRun2(bc, 1, out.Bool, a.F32, b.F32, func(d []bool, x, y []float32, sa, sb int) { ewCompare(op, d, x, y, sa, sb) })
	case StoreF64:
		ewRun2(bc, 1, out.Bool, a.F64, b.F64, func(d []bool, x, y []float64, sa, sb int) { ewCompare(op, d, x, y, sa, sb) })
	case StoreI64:
		if a.DType == Uint64 {
			ewRun2(bc, 1, out.Bool, ewU64(a.I64), ewU64(b.I64), func(d []bool, x, y []uint64, sa, sb int) { ewCompare(op, d, x, y, sa, sb) })
		} else {
			ewRun2(bc, 1, out.Bool, a.I64, b.I64, func(d []bool, x, y []int64, sa, sb int) { ewCompare(op, d, x, y, sa, sb) })
		}
	case StoreBool:
		if op != ewEq {
			return nil, fmt.Errorf("%s does not support element type bool", name)
		}
		ewRun2(bc, 1, out.Bool, a.Bool, b.Bool, func(d []bool, x, y []bool, sa, sb int) {
			for i := range d {
				d[i] = x[i*sa] == y[i*sb]
			}
		})
	default:
		return nil, fmt.Errorf("%s does not support element type %v", name, a.DType)
	}
	return out, nil
}

// ewLogicOp selects a boolean operation.
type ewLogicOp int

const (
	ewAnd ewLogicOp = iota
	ewOr
	ewXor
)

var ewLogicNames = [...]string{"And", "Or", "Xor"}

func ewLogicRun(op ewLogicOp, a, b *Tensor) (*Tensor, error) {
	name := ewLogicNames[op]
	if a.DType != Bool || b.DType != Bool {
		return nil, fmt.Errorf("%s needs bool inputs, got %v and %v", name, a, b)
	}
	bc, err := ewNewBcast(a.Shape, b.Shape)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := New(Bool, bc.out...)
	if bc.n == 0 {
		return out, nil
	}
	ewRun2(bc, 1, out.Bool, a.Bool, b.Bool, func(d, x, y []bool, sa, sb int) {
		switch op {
		case ewAnd:
			for i := range d {
				d[i] = x[i*sa] && y[i*sb]
			}
		case ewOr:
			for i := range d {
				d[i] = x[i*sa] || y[i*sb]
			}
		case ewXor:
			for i := range d {
				d[i] = x[i*sa] != y[i*sb]
			}
		}
	})
	return out, nil
}

// ewWhereRun selects x where cond is true, else y, broadcasting all three.
func ewWhereRun(c, x, y *Tensor) (*Tensor, error) {
	if c.DType != Bool {
		return nil, fmt.Errorf("Where: condition must be bool, got %v", c)
	}
	if x.DType != y.DType {
		return nil, fmt.Errorf("Where: X and Y element types differ: %v and %v", x, y)
	}
	bc, err := ewNewBcast(c.Shape, x.Shape, y.Shape)
	if err != nil {
		return nil, fmt.Errorf("Where: %w", err)
	}
	out := New(x.DType, bc.out...)
	if bc.n == 0 {
		return out, nil
	}
	switch x.DType.Storage() {
	case StoreF32:
		ewWhereKernel(bc, out.F32, c.Bool, x.F32, y.F32)
	case StoreF64:
		ewWhereKernel(bc, out.F64, c.Bool, x.F64, y.F64)
	case StoreI64:
		ewWhereKernel(bc, out.I64, c.Bool, x.I64, y.I64)
	case StoreBool:
		ewWhereKernel(bc, out.Bool, c.Bool, x.Bool, y.Bool)
	default:
		return nil, fmt.Errorf("Where does not support element type %v", x.DType)
	}
	return out, nil
}

func ewWhereKernel[T any](bc *ewBcast, dst []T, c []bool, x, y []T) {
	sc, sx, sy := bc.inner(0), bc.inner(1), bc.inner(2)
	ewParallel(bc.n, 1, func(lo, hi int) {
		bc.runs(lo, hi, func(o int, offs []int, n int) {
			d := dst[o : o+n]
			cc, xx, yy := c[offs[0]:], x[offs[1]:], y[offs[2]:]
			for i := range d {
				if cc[i*sc] {
					d[i] = xx[i*sx]
				} else {
					d[i] = yy[i*sy]
				}
			}
		})
	})
}

// ewIntPow returns x**y in wrapping 64-bit integer arithmetic; negative
// exponents give the truncated real result (0 unless |x| == 1).
func ewIntPow(x, y int64) int64 {
	if y < 0 {
		switch x {
		case 1:
			return 1
		case -1:
			if y&1 == 0 {
				return 1
			}
			return -1
		}
		return 0
	}
	r := int64(1)
	for y > 0 {
		if y&1 == 1 {
			r *= x
		}
		x *= x
		y >>= 1
	}
	return r
}

// ewPowRun computes Pow: the result has the base's type; the exponent may
// be any numeric type.
func ewPowRun(a, b *Tensor) (*Tensor, error) {
	if s := a.DType.Storage(); s == StoreBool || s == StoreNone {
		return nil, fmt.Errorf("Pow does not support base type %v", a.DType)
	}
	if s := b.DType.Storage(); s == StoreBool || s == StoreNone {
		return nil, fmt.Errorf("Pow does not support exponent type %v", b.DType)
	}
	bc, err := ewNewBcast(a.Shape, b.Shape)
	if err != nil {
		return nil, fmt.Errorf("Pow: %w", err)
	}
	out := New(a.DType, bc.out...)
	if bc.n == 0 {
		return out, nil
	}
	// Fast paths for float32 with a constant exponent (x*x in norms, GELU).
	if a.DType == Float32 && b.Len() == 1 {
		e := b.Float64At(0)
		var f func(d, x []float32)
		switch e {
		case 1:
			f = func(d, x []float32) { copy(d, x) }
		case 2:
			f = func(d, x []float32) {
				for i, v := range x {
					d[i] = v * v
				}
			}
		case 3:
			f = func(d, x []float32) {
				for i, v := range x {
					d[i] = v * v * v
				}
			}
		case 0.5:
			f = func(d, x []float32) {
				for i, v := range x {
					d[i] = float32(math.Sqrt(float64(v)))
				}
			}
		}
		if f != nil {
			ewParallel(bc.n, 2, func(lo, hi int) { f(out.F32[lo:hi], a.F32[lo:hi]) })
			return out, nil
		}
	}
	// General path: exponent read as float64 or int64.
	var ef []float64
	var ei []int64
	if b.DType.IsInt() && a.DType.IsInt() {
		ei = b.I64
	} else if b.DType == Float64 {
		ef = b.F64
	} else {
		ef = make([]float64, b.Len())
		for i := range ef {
			ef[i] = b.Float64At(i)
		}
	}
	switch a.DType.Storage() {
	case StoreF32:
		ewRun2(bc, 8, out.F32, a.F32, ef, func(d, x []float32, y []float64, sa, sb int) {
			for i := range d {
				d[i] = float32(math.Pow(float64(x[i*sa]), y[i*sb]))
			}
		})
	case StoreF64:
		ewRun2(bc, 8, out.F64, a.F64, ef, func(d, x []float64, y []float64, sa, sb int) {
			for i := range d {
				d[i] = math.Pow(x[i*sa], y[i*sb])
			}
		})
	case StoreI64:
		if ei != nil {
			ewRun2(bc, 2, out.I64, a.I64, ei, func(d, x, y []int64, sa, sb int) {
				for i := range d {
					d[i] = ewIntPow(x[i*sa], y[i*sb])
				}
			})
		} else {
			uns := a.DType == Uint64
			ewRun2(bc, 8, out.I64, a.I64, ef, func(d, x []int64, y []float64, sa, sb int) {
				for i := range d {
					v := float64(x[i*sa])
					if uns {
						v = float64(uint64(x[i*sa]))
					}
					d[i] = ewFloatToInt(math.Pow(v, y[i*sb]), uns)
				}
			})
		}
	}
	ewFinish(out)
	return out, nil
}

// ewFloatToInt converts with truncation toward zero to a 64-bit integer
// (unsigned when asked); see ewFloatToIntType for out-of-range values.
func ewFloatToInt(v float64, unsigned bool) int64 {
	if unsigned {
		return ewFloatToIntType(v, Uint64)
	}
	return ewFloatToIntType(v, Int64)
}

// ewModRun computes Mod: with fmod the result takes the dividend's sign (C
// fmod), otherwise the divisor's (Python %).
func ewModRun(a, b *Tensor, fmod bool) (*Tensor, error) {
	if a.DType != b.DType {
		return nil, fmt.Errorf("Mod: input element types differ: %v and %v", a, b)
	}
	bc, err := ewNewBcast(a.Shape, b.Shape)
	if err != nil {
		return nil, fmt.Errorf("Mod: %w", err)
	}
	out := New(a.DType, bc.out...)
	if bc.n == 0 {
		return out, nil
	}
	fm := func(x, y float64) float64 {
		r := math.Mod(x, y)
		if !fmod && r != 0 && (r < 0) != (y < 0) {
			r += y
		}
		return r
	}
	switch a.DType.Storage() {
	case StoreF32:
		ewRun2(bc, 4, out.F32, a.F32, b.F32, func(d, x, y []float32, sa, sb int) {
			for i := range d {
				d[i] = float32(fm(float64(x[i*sa]), float64(y[i*sb])))
			}
		})
	case StoreF64:
		ewRun2(bc, 4, out.F64, a.F64, b.F64, func(d, x, y []float64, sa, sb int) {
			for i := range d {
				d[i] = fm(x[i*sa], y[i*sb])
			}
		})
	case StoreI64:
		if ewHasZero(b.I64) {
			return nil, fmt.Errorf("Mod: integer division by zero")
		}
		if a.DType == Uint64 {
			ewRun2(bc, 2, ewU64(out.I64), ewU64(a.I64), ewU64(b.I64), func(d, x, y []uint64, sa, sb int) {
				for i := range d {
					d[i] = x[i*sa] % y[i*sb]
				}
			})
			break
		}
		ewRun2(bc, 2, out.I64, a.I64, b.I64, func(d, x, y []int64, sa, sb int) {
			for i := range d {
				yv := y[i*sb]
				r := x[i*sa] % yv
				if !fmod && r != 0 && (r < 0) != (yv < 0) {
					r += yv
				}
				d[i] = r
			}
		})
	default:
		return nil, fmt.Errorf("Mod does not support element type %v", a.DType)
	}
	ewFinish(out)
	return out, nil
}

// ewPReluRun computes PRelu: slope broadcasts unidirectionally to X.
func ewPReluRun(x, slope *Tensor) (*Tensor, error) {
	if x.DType != slope.DType {
		return nil, fmt.Errorf("PRelu: X and slope element types differ: %v and %v", x, slope)
	}
	bc, err := ewNewBcast(x.Shape, slope.Shape)
	if err != nil || !SameShape(bc.out, x.Shape) {
		return nil, fmt.Errorf("PRelu: slope shape %s does not broadcast to X shape %s", ShapeString(slope.Shape), ShapeString(x.Shape))
	}
	out := New(x.DType, bc.out...)
	if bc.n == 0 {
		return out, nil
	}
	switch x.DType.Storage() {
	case StoreF32:
		ewRun2(bc, 1, out.F32, x.F32, slope.F32, ewPReluKernel[float32])
	case StoreF64:
		ewRun2(bc, 1, out.F64, x.F64, slope.F64, ewPReluKernel[float64])
	case StoreI64:
		ewRun2(bc, 1, out.I64, x.I64, slope.I64, ewPReluKernel[int64])
	default:
		return nil, fmt.Errorf("PRelu does not support element type %v", x.DType)
	}
	ewFinish(out)
	return out, nil
}

func ewPReluKernel[T ewNum](d, x, s []T, _, ss int) {
	x = x[:len(d)]
	if ss == 0 {
		sv := s[0]
		for i, v := range x {
			if v < 0 {
				v *= sv
			}
			d[i] = v
		}
		return
	}
	s = s[:len(d)]
	for i, v := range x {
		if v < 0 {
			v *= s[i]
		}
		d[i] = v
	}
}

// ewNotRun computes logical Not.
func ewNotRun(x *Tensor) (*Tensor, error) {
	if x.DType != Bool {
		return nil, fmt.Errorf("Not needs a bool input, got %v", x)
	}
	out := New(Bool, x.Shape...)
	for i, v := range x.Bool {
		out.Bool[i] = !v
	}
	return out, nil
}
