package nn

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// quantOps lists the quantization ops: QuantizeLinear, DequantizeLinear,
// DynamicQuantizeLinear, ConvInteger, QLinearMatMul and QLinearConv
// (MatMulInteger is with the matrix products in convOps).
func quantOps() []OpDef {
	var out []OpDef
	// Opsets where the semantics changed: 10 per-tensor only; 13 axis
	// (per-axis); 19 float16/bfloat16 scales (float8 types, which graft
	// does not hold, and saturate); 21 blocked quantization, output_dtype on
	// QuantizeLinear, 16-bit types; 23 scale type independent of x,
	// precision on QuantizeLinear, output_dtype on DequantizeLinear.
	for _, v := range []int{10, 13, 19, 21, 23} {
		v := v
		out = append(out,
			OpDef{Type: "QuantizeLinear", Since: v, New: func(n *Node) (Op, error) { return qntNewLinear(n, true, v) }},
			OpDef{Type: "DequantizeLinear", Since: v, New: func(n *Node) (Op, error) { return qntNewLinear(n, false, v) },
				WeightInputs: []int{0}},
		)
	}
	out = append(out,
		OpDef{Type: "DynamicQuantizeLinear", Since: 11, New: func(*Node) (Op, error) { return OpFunc(qntDynamic), nil }},
		OpDef{Type: "ConvInteger", Since: 10, New: qntNewConvInteger, WeightInputs: []int{1}},
		OpDef{Type: "QLinearMatMul", Since: 10, New: func(*Node) (Op, error) { return OpFunc(qntQLinearMatMul), nil }, WeightInputs: []int{3}},
		OpDef{Type: "QLinearConv", Since: 10, New: qntNewQLinearConv, WeightInputs: []int{3, 8}},
	)
	return out
}

// qntLinear implements QuantizeLinear (quantize) and DequantizeLinear.
type qntLinear struct {
	quantize  bool
	opset     int
	axis      int
	blockSize int
	// outType is the output_dtype attribute (0 when absent).
	outType DType
	// precision is QuantizeLinear's precision attribute (0 when absent).
	precision DType
}

func qntNewLinear(n *Node, quantize bool, opset int) (Op, error) {
	name := "DequantizeLinear"
	if quantize {
		name = "QuantizeLinear"
	}
	q := &qntLinear{quantize: quantize, opset: opset, axis: 1}
	if opset >= 13 {
		q.axis = int(n.AttrInt("axis", 1))
	}
	if opset >= 21 {
		q.blockSize = int(n.AttrInt("block_size", 0))
		if q.blockSize < 0 {
			return nil, fmt.Errorf("%s: block_size %d must not be negative", name, q.blockSize)
		}
	}
	if (quantize && opset >= 21) || (!quantize && opset >= 23) {
		q.outType = DType(n.AttrInt("output_dtype", 0))
	}
	if quantize && opset >= 23 {
		q.precision = DType(n.AttrInt("precision", 0))
	}
	if q.outType != Undefined {
		ok := q.outType == Float32 || q.outType == Float16 || q.outType == BFloat16
		if quantize {
			ok = qntIntType(q.outType)
		}
		if !ok {
			return nil, fmt.Errorf("%s: output_dtype %v is not supported", name, q.outType)
		}
	}
	switch q.precision {
	case Undefined, Float32, Float16, BFloat16:
	default:
		return nil, fmt.Errorf("%s: precision %v is not supported", name, q.precision)
	}
	return q, nil
}

// qntIntType reports whether graft quantizes to dt.
func qntIntType(dt DType) bool {
	switch dt {
	case Uint8, Int8, Uint16, Int16:
		return true
	}
	return false
}

// qntRange returns the saturation bounds of a quantized type.
func qntRange(dt DType) (lo, hi float64) {
	switch dt {
	case Uint8:
		return 0, 255
	case Int8:
		return -128, 127
	case Uint16:
		return 0, 65535
	case Int16:
		return -32768, 32767
	}
	return math.MinInt32, math.MaxInt32
}

// qntGrid describes how a scale tensor maps onto x viewed as
// [outer, dim, inner] around the quantization axis.
type qntGrid struct {
	outer, dim, inner int
	// mode 0: per-tensor, 1: per-axis, 2: blocked.
	mode  int
	block int
	sdim  int // scale length along the axis (blocked)
}

func (g *qntGrid) index(o, d, i int) int {
	switch g.mode {
	case 1:
		return d
	case 2:
		return (o*g.sdim+d/g.block)*g.inner + i
	}
	return 0
}

// qntMakeGrid checks the scale shape against x and the attributes.
func (q *qntLinear) grid(op string, x, scale *Tensor) (qntGrid, error) {
	g := qntGrid{outer: 1, dim: x.Len(), inner: 1}
	if scale.Len() == 1 && scale.Rank() <= 1 && q.blockSize == 0 {
		return g, nil
	}
	if q.opset < 13 {
		return g, fmt.Errorf("%s: scale %v must be a scalar at opset %d (per-axis needs opset 13)", op, ShapeString(scale.Shape), q.opset)
	}
	r := x.Rank()
	axis := q.axis
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis >= r {
		return g, fmt.Errorf("%s: axis %d out of range for input %v", op, q.axis, ShapeString(x.Shape))
	}
	g.outer = NumElements(x.Shape[:axis])
	g.dim = x.Shape[axis]
	g.inner = NumElements(x.Shape[axis+1:])
	if q.blockSize == 0 {
		if scale.Rank() != 1 || scale.Shape[0] != g.dim {
			return g, fmt.Errorf("%s: per-axis scale %v must have the %d elements of input %v along axis %d", op, ShapeString(scale.Shape), g.dim, ShapeString(x.Shape), axis)
		}
		g.mode = 1
		return g, nil
	}
	if scale.Rank() != r {
		return g, fmt.Errorf("%s: blocked scale %v must have the rank of input %v", op, ShapeString(scale.Shape), ShapeString(x.Shape))
	}
	for i := range x.Shape {
		if i != axis && scale.Shape[i] != x.Shape[i] {
			return g, fmt.Errorf("%s: blocked scale %v does not fit input %v (axis %d)", op, ShapeString(scale.Shape), ShapeString(x.Shape), axis)
		}
	}
	sd := scale.Shape[axis]
	if sd == 0 || (g.dim+q.blockSize-1)/q.blockSize != sd {
		return g, fmt.Errorf("%s: blocked scale %v: %d blocks of %d along axis %d do not cover input %v", op, ShapeString(scale.Shape), sd, q.blockSize, axis, ShapeString(x.Shape))
	}
	g.mode, g.block, g.sdim = 2, q.blockSize, sd
	return g, nil
}

// qntParallel runs f over [0,n) in chunks, in parallel for large n.
func qntParallel(n int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 1<<15 || workers < 2 {
		f(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// qntRoundTo rounds v to the precision of dt (float16, bfloat16).
func qntRoundTo(v float32, dt DType) float32 {
	switch dt {
	case Float16:
		return Float16ToFloat32(Float32ToFloat16(v))
	case BFloat16:
		return BFloat16ToFloat32(Float32ToBFloat16(v))
	}
	return v
}

// Run implements Op.
func (q *qntLinear) Run(_ *Context, in []*Tensor) ([]*Tensor, error) {
	op := "DequantizeLinear"
	if q.quantize {
		op = "QuantizeLinear"
	}
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("%s: needs inputs x and scale", op)
	}
	x, scale := in[0], in[1]
	var zp *Tensor
	if len(in) > 2 {
		zp = in[2]
	}
	if scale.DType.Storage() != StoreF32 {
		return nil, fmt.Errorf("%s: scale type %v (want float32, float16 or bfloat16)", op, scale.DType)
	}
	if zp != nil && !SameShape(zp.Shape, scale.Shape) && !(zp.Len() == 1 && scale.Len() == 1) {
		return nil, fmt.Errorf("%s: zero point %v and scale %v differ in shape", op, ShapeString(zp.Shape), ShapeString(scale.Shape))
	}
	g, err := q.grid(op, x, scale)
	if err != nil {
		return nil, err
	}
	if q.quantize {
		return q.quantizeRun(x, scale, zp, g)
	}
	return q.dequantizeRun(x, scale, zp, g)
}

func (q *qntLinear) quantizeRun(x, scale, zp *Tensor, g qntGrid) ([]*Tensor, error) {
	if x.DType.Storage() != StoreF32 && x.DType != Int32 && x.DType != Float64 {
		return nil, fmt.Errorf("QuantizeLinear: input type %v (want float32, float16, bfloat16 or int32)", x.DType)
	}
	out := Uint8
	if q.outType != Undefined {
		out = q.outType
	}
	if zp != nil {
		if q.outType != Undefined && zp.DType != q.outType {
			return nil, fmt.Errorf("QuantizeLinear: output_dtype %v differs from the zero point type %v", q.outType, zp.DType)
		}
		out = zp.DType
	}
	if !qntIntType(out) {
		return nil, fmt.Errorf("QuantizeLinear: quantized type %v is not supported (uint8, int8, uint16, int16)", out)
	}
	// The division runs in the scale's precision (or the precision attribute).
	prec := scale.DType
	if q.precision != Undefined {
		prec = q.precision
	}
	lo, hi := qntRange(out)
	y := New(out, x.Shape...)
	s := scale.F32
	var z []int64
	if zp != nil {
		z = zp.I64
	}
	if g.mode == 0 && x.F32 != nil && prec == Float32 {
		// Per-tensor float32: one flat loop.
		sv := s[0]
		var zv float64
		if z != nil {
			zv = float64(z[0])
		}
		qntParallel(len(x.F32), func(a, b int) {
			for i, xv := range x.F32[a:b] {
				r := math.RoundToEven(float64(xv/sv)) + zv
				if r != r {
					r = 0
				}
				y.I64[a+i] = int64(min(max(r, lo), hi))
			}
		})
		return []*Tensor{y}, nil
	}
	inner, dim := g.inner, g.dim
	qntParallel(g.outer*dim, func(a, b int) {
		for od := a; od < b; od++ {
			o, d := od/dim, od%dim
			base := od * inner
			for i := 0; i < inner; i++ {
				si := g.index(o, d, i)
				var xv float32
				switch {
				case x.F32 != nil:
					xv = x.F32[base+i]
				case x.F64 != nil:
					xv = float32(x.F64[base+i])
				default:
					xv = float32(x.I64[base+i])
				}
				v := qntRoundTo(xv/s[si], prec)
				r := math.RoundToEven(float64(v))
				if z != nil {
					r += float64(z[si])
				}
				if r != r {
					r = 0
				}
				y.I64[base+i] = int64(min(max(r, lo), hi))
			}
		}
	})
	return []*Tensor{y}, nil
}

func (q *qntLinear) dequantizeRun(x, scale, zp *Tensor, g qntGrid) ([]*Tensor, error) {
	switch x.DType {
	case Uint8, Int8, Uint16, Int16, Int32:
	default:
		return nil, fmt.Errorf("DequantizeLinear: input type %v (want int8, uint8, int16, uint16 or int32)", x.DType)
	}
	if zp != nil && zp.DType != x.DType {
		return nil, fmt.Errorf("DequantizeLinear: zero point type %v differs from the input type %v", zp.DType, x.DType)
	}
	out := scale.DType
	if q.outType != Undefined {
		out = q.outType
	}
	y := New(out, x.Shape...)
	s := scale.F32
	var z []int64
	if zp != nil {
		z = zp.I64
	}
	if g.mode == 0 {
		// Per-tensor: one flat loop.
		sv := s[0]
		var zv int64
		if z != nil {
			zv = z[0]
		}
		qntParallel(len(x.I64), func(a, b int) {
			ys := y.F32[a:b]
			for i, v := range x.I64[a:b] {
				ys[i] = float32(v-zv) * sv
			}
		})
		y.RoundToDType()
		return []*Tensor{y}, nil
	}
	inner, dim := g.inner, g.dim
	qntParallel(g.outer*dim, func(a, b int) {
		for od := a; od < b; od++ {
			o, d := od/dim, od%dim
			base := od * inner
			if g.mode != 2 {
				si := g.index(o, d, 0)
				var zv int64
				if z != nil {
					zv = z[si]
				}
				sv := s[si]
				xs, ys := x.I64[base:base+inner], y.F32[base:base+inner]
				for i, v := range xs {
					ys[i] = float32(v-zv) * sv
				}
				continue
			}
			for i := 0; i < inner; i++ {
				si := g.index(o, d, i)
				var zv int64
				if z != nil {
					zv = z[si]
				}
				y.F32[base+i] = float32(x.I64[base+i]-zv) * s[si]
			}
		}
	})
	y.RoundToDType()
	return []*Tensor{y}, nil
}

// qntDynamic implements DynamicQuantizeLinear: uint8 quantization of a
// float32 tensor with a scale and zero point computed from its range
// (widened to include 0).
func qntDynamic(_ *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("DynamicQuantizeLinear: needs input x")
	}
	x := in[0]
	if x.DType != Float32 {
		return nil, fmt.Errorf("DynamicQuantizeLinear: input type %v (want float32)", x.DType)
	}
	var lo, hi float32
	for _, v := range x.F32 {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	scale := (hi - lo) / 255
	if scale == 0 {
		// An all-zero input: onnxruntime reports scale 1 (zero point 0).
		scale = 1
	}
	var zp float64
	y := New(Uint8, x.Shape...)
	{
		zf := float64(0 - lo/scale)
		zp = math.RoundToEven(min(max(zf, 0), 255))
		qntParallel(len(x.F32), func(a, b int) {
			for i := a; i < b; i++ {
				r := math.RoundToEven(float64(x.F32[i]/scale)) + zp
				if r != r {
					r = 0
				}
				y.I64[i] = int64(min(max(r, 0), 255))
			}
		})
	}
	return []*Tensor{y, {DType: Float32, Shape: []int{}, F32: []float32{scale}},
		{DType: Uint8, Shape: []int{}, I64: []int64{int64(zp)}}}, nil
}

// qntConvInteger implements ConvInteger: the convolution of (x - x_zero)
// and (w - w_zero) accumulated exactly, as int32. It runs the float64
// convolution (every partial sum is an integer below 2⁵³).
type qntConvInteger struct {
	conv Op
}

func qntNewConvInteger(n *Node) (Op, error) {
	c, err := convNew(n)
	if err != nil {
		return nil, fmt.Errorf("ConvInteger: %w", err)
	}
	return &qntConvInteger{conv: c}, nil
}

// Run implements Op.
func (c *qntConvInteger) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("ConvInteger: needs inputs x and w")
	}
	x, w := in[0], in[1]
	for _, t := range []*Tensor{x, w} {
		if t.DType != Uint8 && t.DType != Int8 {
			return nil, fmt.Errorf("ConvInteger: input type %v (want uint8 or int8)", t.DType)
		}
	}
	if w.Rank() < 1 {
		return nil, fmt.Errorf("ConvInteger: weight %v has no output-channel dimension", ShapeString(w.Shape))
	}
	var xz, wz *Tensor
	if len(in) > 2 {
		xz = in[2]
	}
	if len(in) > 3 {
		wz = in[3]
	}
	if xz != nil && xz.Len() != 1 {
		return nil, fmt.Errorf("ConvInteger: x_zero_point %v must be a scalar", ShapeString(xz.Shape))
	}
	m := w.Shape[0]
	if wz != nil && wz.Len() != 1 && wz.Len() != m {
		return nil, fmt.Errorf("ConvInteger: w_zero_point %v must be a scalar or have %d elements", ShapeString(wz.Shape), m)
	}
	xf := New(Float64, x.Shape...)
	var xzv int64
	if xz != nil {
		xzv = xz.I64[0]
	}
	for i, v := range x.I64 {
		xf.F64[i] = float64(v - xzv)
	}
	wf := New(Float64, w.Shape...)
	per := 0
	if m > 0 {
		per = w.Len() / m
	}
	for i, v := range w.I64 {
		var z int64
		if wz != nil {
			if wz.Len() == 1 {
				z = wz.I64[0]
			} else {
				z = wz.I64[i/per]
			}
		}
		wf.F64[i] = float64(v - z)
	}
	out, err := c.conv.Run(ctx, []*Tensor{xf, wf})
	if err != nil {
		return nil, fmt.Errorf("ConvInteger: %w", err)
	}
	y := New(Int32, out[0].Shape...)
	for i, v := range out[0].F64 {
		y.I64[i] = Int32.WrapInt(int64(math.Round(v)))
	}
	return []*Tensor{y}, nil
}

// qntRequantize writes saturate(round(acc * mult[c]) + zero) into a new
// tensor of the zero point's type; the multiplier index of element i is
// (i / inner) % len(mult) (per output channel), or 0 for one multiplier.
func qntRequantize(op string, acc *Tensor, mult []float32, inner int, zp *Tensor) (*Tensor, error) {
	dt := Uint8
	var z int64
	if zp != nil {
		if zp.Len() != 1 {
			return nil, fmt.Errorf("%s: y_zero_point %v must be a scalar", op, ShapeString(zp.Shape))
		}
		dt, z = zp.DType, zp.I64[0]
	}
	if dt != Uint8 && dt != Int8 {
		return nil, fmt.Errorf("%s: output type %v (want uint8 or int8)", op, dt)
	}
	lo, hi := qntRange(dt)
	y := New(dt, acc.Shape...)
	nm := len(mult)
	for i, a := range acc.I64 {
		m := mult[0]
		if nm > 1 {
			m = mult[(i/inner)%nm]
		}
		r := math.RoundToEven(float64(float32(a)*m)) + float64(z)
		y.I64[i] = int64(min(max(r, lo), hi))
	}
	return y, nil
}

// qntScales reads a float scale tensor of 1 or n elements.
func qntScales(op, name string, t *Tensor, n int) ([]float32, error) {
	if t == nil || t.DType.Storage() != StoreF32 {
		return nil, fmt.Errorf("%s: %s must be a float tensor", op, name)
	}
	if t.Len() != 1 && t.Len() != n {
		return nil, fmt.Errorf("%s: %s %v must be a scalar or have %d elements", op, name, ShapeString(t.Shape), n)
	}
	return t.F32, nil
}

// qntQLinearMatMul implements QLinearMatMul: the integer product of the
// zero-point-shifted operands, requantized with a_scale*b_scale/y_scale.
func qntQLinearMatMul(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	const op = "QLinearMatMul"
	if len(in) < 8 || in[0] == nil || in[3] == nil {
		return nil, fmt.Errorf("%s: needs 8 inputs (a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point)", op)
	}
	acc, err := gemmMatMulInteger(ctx, []*Tensor{in[0], in[3], in[2], in[5]})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	y := acc[0]
	n := 1
	if in[3].Rank() >= 2 {
		n = in[3].Shape[in[3].Rank()-1]
	}
	as, err := qntScales(op, "a_scale", in[1], 1)
	if err != nil {
		return nil, err
	}
	bs, err := qntScales(op, "b_scale", in[4], n)
	if err != nil {
		return nil, err
	}
	ys, err := qntScales(op, "y_scale", in[6], 1)
	if err != nil {
		return nil, err
	}
	mult := make([]float32, len(bs))
	for j, b := range bs {
		mult[j] = as[0] * b / ys[0]
	}
	out, err := qntRequantize(op, y, mult, 1, in[7])
	if err != nil {
		return nil, err
	}
	return []*Tensor{out}, nil
}

// qntQLinearConv implements QLinearConv: ConvInteger plus the int32 bias,
// requantized per output channel with x_scale*w_scale/y_scale.
type qntQLinearConv struct {
	conv *qntConvInteger
}

func qntNewQLinearConv(n *Node) (Op, error) {
	c, err := convNew(n)
	if err != nil {
		return nil, fmt.Errorf("QLinearConv: %w", err)
	}
	return &qntQLinearConv{conv: &qntConvInteger{conv: c}}, nil
}

// Run implements Op.
func (q *qntQLinearConv) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	const op = "QLinearConv"
	if len(in) < 8 || in[0] == nil || in[3] == nil {
		return nil, fmt.Errorf("%s: needs inputs x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point", op)
	}
	acc, err := q.conv.Run(ctx, []*Tensor{in[0], in[3], in[2], in[5]})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	y := acc[0]
	m := in[3].Shape[0]
	inner := 1
	if y.Rank() > 2 {
		inner = NumElements(y.Shape[2:])
	}
	if len(in) > 8 && in[8] != nil {
		b := in[8]
		if b.DType != Int32 || b.Len() != m {
			return nil, fmt.Errorf("%s: bias %v must be int32 with %d elements", op, b, m)
		}
		for i := range y.I64 {
			y.I64[i] = Int32.WrapInt(y.I64[i] + b.I64[(i/inner)%m])
		}
	}
	xs, err := qntScales(op, "x_scale", in[1], 1)
	if err != nil {
		return nil, err
	}
	ws, err := qntScales(op, "w_scale", in[4], m)
	if err != nil {
		return nil, err
	}
	ys, err := qntScales(op, "y_scale", in[6], 1)
	if err != nil {
		return nil, err
	}
	mult := make([]float32, len(ws))
	for j, w := range ws {
		mult[j] = xs[0] * w / ys[0]
	}
	out, err := qntRequantize(op, y, mult, inner, in[7])
	if err != nil {
		return nil, err
	}
	return []*Tensor{out}, nil
}
