package nn

import (
	"fmt"
	"math"
)

// Identity, Flatten, Reshape, Squeeze, Unsqueeze, Shape, Size, Constant,
// ConstantOfShape and Range.

func shpNewIdentity(n *Node) (Op, error) {
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 1 || in[0] == nil {
			return nil, fmt.Errorf("missing input")
		}
		return []*Tensor{in[0]}, nil
	}), nil
}

func shpNewFlatten(n *Node) (Op, error) {
	axis := int(n.AttrInt("axis", 1))
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 1 {
			return nil, fmt.Errorf("missing input")
		}
		x := in[0]
		if err := shpCheck(x, "input"); err != nil {
			return nil, err
		}
		r := len(x.Shape)
		a := axis
		if a < 0 {
			a += r
		}
		if a < 0 || a > r {
			return nil, fmt.Errorf("axis %d is out of range for input shape %v", axis, x.Shape)
		}
		return []*Tensor{shpView(x, []int{NumElements(x.Shape[:a]), NumElements(x.Shape[a:])})}, nil
	}), nil
}

// shpReshapeOp implements Reshape for every opset.
type shpReshapeOp struct {
	attrShape []int // opset 1..4
	allowZero bool
	relax     bool
}

func shpNewReshape1(n *Node) (Op, error) {
	if !n.HasAttr("shape") {
		return nil, fmt.Errorf("Reshape-1 needs the shape attribute")
	}
	return &shpReshapeOp{attrShape: n.AttrInts("shape", nil), relax: n.RelaxBatch}, nil
}

func shpNewReshape(n *Node) (Op, error) {
	return &shpReshapeOp{allowZero: n.AttrInt("allowzero", 0) != 0, relax: n.RelaxBatch}, nil
}

func (o *shpReshapeOp) Run(_ *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("missing input")
	}
	x := in[0]
	if err := shpCheck(x, "data"); err != nil {
		return nil, err
	}
	target := o.attrShape
	if target == nil {
		if len(in) < 2 {
			return nil, fmt.Errorf("missing shape input")
		}
		var err error
		if target, err = shpIndexList(in[1], "shape"); err != nil {
			return nil, err
		}
		if len(in[1].Shape) != 1 {
			return nil, fmt.Errorf("shape input must be 1-D, got shape %v", in[1].Shape)
		}
	}
	shape, err := shpReshapeShape(x.Shape, target, o.allowZero, o.relax)
	if err != nil {
		return nil, err
	}
	return []*Tensor{shpView(x, shape)}, nil
}

// shpReshapeShape resolves 0 and -1 entries of a Reshape target against the
// input shape. With relax, a leading 1 becomes the input's leading dimension
// N when that is what makes the element counts agree (fixed-batch models
// run with a larger batch).
func shpReshapeShape(in, target []int, allowZero, relax bool) ([]int, error) {
	total := NumElements(in)
	shape := make([]int, len(target))
	neg := -1
	for i, d := range target {
		switch {
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("target shape %v copies dimension %d, but the input shape %v has rank %d", target, i, in, len(in))
			}
			shape[i] = in[i]
		case d == -1:
			if neg >= 0 {
				return nil, fmt.Errorf("target shape %v has more than one -1", target)
			}
			neg = i
			shape[i] = 1
		case d < -1:
			return nil, fmt.Errorf("target shape %v has invalid dimension %d", target, d)
		default:
			shape[i] = d
		}
	}
	if neg >= 0 && allowZero {
		for _, d := range target {
			if d == 0 {
				return nil, fmt.Errorf("target shape %v has both 0 and -1 with allowzero=1", target)
			}
		}
	}
	resolve := func(shape []int) bool {
		known := NumElements(shape)
		if neg < 0 {
			return known == total
		}
		if known == 0 || total%known != 0 {
			return false
		}
		shape[neg] = total / known
		return true
	}
	if relax && len(shape) > 0 && len(in) > 0 && target[0] == 1 && in[0] > 1 && neg != 0 {
		alt := append([]int{}, shape...)
		alt[0] = in[0]
		if resolve(alt) {
			return alt, nil
		}
	}
	if !resolve(shape) {
		return nil, fmt.Errorf("cannot reshape input of shape %v (%d elements) to %v", in, total, target)
	}
	return shape, nil
}

// shpSqueezeOp implements Squeeze; axes come from the attribute (opset < 13)
// or the optional second input.
type shpSqueezeOp struct {
	attrAxes  []int
	fromInput bool
}

func shpNewSqueeze1(n *Node) (Op, error) {
	return &shpSqueezeOp{attrAxes: n.AttrInts("axes", nil)}, nil
}

func shpNewSqueeze13(n *Node) (Op, error) { return &shpSqueezeOp{fromInput: true}, nil }

func (o *shpSqueezeOp) Run(_ *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("missing input")
	}
	x := in[0]
	if err := shpCheck(x, "data"); err != nil {
		return nil, err
	}
	axes := o.attrAxes
	if o.fromInput && len(in) > 1 && in[1] != nil && in[1].Len() > 0 {
		var err error
		if axes, err = shpIndexList(in[1], "axes"); err != nil {
			return nil, err
		}
	}
	r := len(x.Shape)
	drop := make([]bool, r)
	if axes == nil {
		for i, d := range x.Shape {
			drop[i] = d == 1
		}
	}
	for _, a := range axes {
		na, err := shpAxis(a, r)
		if err != nil {
			return nil, err
		}
		if x.Shape[na] != 1 {
			return nil, fmt.Errorf("cannot squeeze axis %d of shape %v: dimension is %d, not 1", a, x.Shape, x.Shape[na])
		}
		drop[na] = true
	}
	shape := make([]int, 0, r)
	for i, d := range x.Shape {
		if !drop[i] {
			shape = append(shape, d)
		}
	}
	return []*Tensor{shpView(x, shape)}, nil
}

// shpUnsqueezeOp implements Unsqueeze.
type shpUnsqueezeOp struct {
	attrAxes  []int
	fromInput bool
}

func shpNewUnsqueeze1(n *Node) (Op, error) {
	if !n.HasAttr("axes") {
		return nil, fmt.Errorf("Unsqueeze needs the axes attribute before opset 13")
	}
	return &shpUnsqueezeOp{attrAxes: n.AttrInts("axes", nil)}, nil
}

func shpNewUnsqueeze13(n *Node) (Op, error) { return &shpUnsqueezeOp{fromInput: true}, nil }

func (o *shpUnsqueezeOp) Run(_ *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("missing input")
	}
	x := in[0]
	if err := shpCheck(x, "data"); err != nil {
		return nil, err
	}
	axes := o.attrAxes
	if o.fromInput {
		if len(in) < 2 || in[1] == nil {
			return nil, fmt.Errorf("missing axes input")
		}
		var err error
		if axes, err = shpIndexList(in[1], "axes"); err != nil {
			return nil, err
		}
	}
	r := len(x.Shape) + len(axes)
	ins := make([]bool, r)
	for _, a := range axes {
		na, err := shpAxis(a, r)
		if err != nil {
			return nil, fmt.Errorf("unsqueeze axes %v for input shape %v: %w", axes, x.Shape, err)
		}
		if ins[na] {
			return nil, fmt.Errorf("unsqueeze axes %v repeat axis %d", axes, a)
		}
		ins[na] = true
	}
	shape := make([]int, r)
	j := 0
	for i := range shape {
		if ins[i] {
			shape[i] = 1
		} else {
			shape[i] = x.Shape[j]
			j++
		}
	}
	return []*Tensor{shpView(x, shape)}, nil
}

func shpNewShape(n *Node) (Op, error) {
	start := int(n.AttrInt("start", 0))
	end := n.AttrInt("end", math.MaxInt64)
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 1 || in[0] == nil {
			return nil, fmt.Errorf("missing input")
		}
		r := len(in[0].Shape)
		s, e := start, r
		if end != math.MaxInt64 {
			e = int(end)
		}
		if s < 0 {
			s += r
		}
		if e < 0 {
			e += r
		}
		s = min(max(s, 0), r)
		e = min(max(e, 0), r)
		if e < s {
			e = s
		}
		out := New(Int64, e-s)
		for i := s; i < e; i++ {
			out.I64[i-s] = int64(in[0].Shape[i])
		}
		return []*Tensor{out}, nil
	}), nil
}

func shpNewSize(n *Node) (Op, error) {
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 1 || in[0] == nil {
			return nil, fmt.Errorf("missing input")
		}
		return []*Tensor{{DType: Int64, Shape: []int{}, I64: []int64{int64(in[0].Len())}}}, nil
	}), nil
}

func shpNewConstant(n *Node) (Op, error) {
	var val *Tensor
	count := 0
	for name, a := range n.Attrs {
		switch name {
		case "value":
			if a.T == nil {
				return nil, fmt.Errorf("Constant: value attribute holds no tensor")
			}
			val = a.T
		case "value_float":
			val = &Tensor{DType: Float32, Shape: []int{}, F32: []float32{a.F}}
		case "value_floats":
			val = FromFloat32(append([]float32{}, a.Floats...), len(a.Floats))
		case "value_int":
			val = &Tensor{DType: Int64, Shape: []int{}, I64: []int64{a.I}}
		case "value_ints":
			val = FromInt64(append([]int64{}, a.Ints...), len(a.Ints))
		case "sparse_value":
			return nil, fmt.Errorf("Constant with a sparse_value attribute is not supported")
		case "value_string", "value_strings":
			return nil, fmt.Errorf("Constant with a string value (%s) is not supported: graft has no string tensors", name)
		default:
			continue
		}
		count++
	}
	if count == 0 {
		return nil, fmt.Errorf("Constant has no value attribute")
	}
	if count > 1 {
		return nil, fmt.Errorf("Constant has %d value attributes; exactly one is allowed", count)
	}
	if err := shpCheck(val, "value"); err != nil {
		return nil, fmt.Errorf("Constant: %w", err)
	}
	return OpFunc(func(_ *Context, _ []*Tensor) ([]*Tensor, error) {
		return []*Tensor{val}, nil
	}), nil
}

func shpNewConstantOfShape(n *Node) (Op, error) {
	val := &Tensor{DType: Float32, Shape: []int{1}, F32: []float32{0}}
	if a := n.Attr("value"); a != nil {
		if a.T == nil {
			return nil, fmt.Errorf("ConstantOfShape: value attribute holds no tensor")
		}
		if err := shpCheck(a.T, "value"); err != nil {
			return nil, fmt.Errorf("ConstantOfShape: %w", err)
		}
		if a.T.Len() != 1 {
			return nil, fmt.Errorf("ConstantOfShape: value must hold one element, got shape %v", a.T.Shape)
		}
		val = a.T
	}
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 1 {
			return nil, fmt.Errorf("missing shape input")
		}
		shape, err := shpIndexList(in[0], "shape")
		if err != nil {
			return nil, err
		}
		for _, d := range shape {
			if d < 0 {
				return nil, fmt.Errorf("shape %v has a negative dimension", shape)
			}
		}
		out, err := shpNew(val.DType, shape)
		if err != nil {
			return nil, err
		}
		shpFillAll(out, val, 0)
		return []*Tensor{out}, nil
	}), nil
}

func shpNewRange(n *Node) (Op, error) {
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 3 {
			return nil, fmt.Errorf("Range needs start, limit and delta inputs")
		}
		names := []string{"start", "limit", "delta"}
		for i := 0; i < 3; i++ {
			if err := shpOneValue(in[i], names[i]); err != nil {
				return nil, err
			}
			if in[i].DType != in[0].DType {
				return nil, fmt.Errorf("Range inputs have different types %v and %v", in[0].DType, in[i].DType)
			}
		}
		dt := in[0].DType
		switch dt.Storage() {
		case StoreI64:
			start, limit, delta := in[0].I64[0], in[1].I64[0], in[2].I64[0]
			if delta == 0 {
				return nil, fmt.Errorf("Range delta is zero")
			}
			cnt := int64(0)
			if (delta > 0 && limit > start) || (delta < 0 && limit < start) {
				d := limit - start
				cnt = d / delta
				if d%delta != 0 {
					cnt++
				}
			}
			out, err := shpNew(dt, []int{int(cnt)})
			if err != nil {
				return nil, err
			}
			for i := range out.I64 {
				out.I64[i] = dt.WrapInt(start + int64(i)*delta)
			}
			return []*Tensor{out}, nil
		case StoreF32, StoreF64:
			start, limit, delta := in[0].Float64At(0), in[1].Float64At(0), in[2].Float64At(0)
			if delta == 0 {
				return nil, fmt.Errorf("Range delta is zero")
			}
			c := math.Ceil((limit - start) / delta)
			if c < 0 || math.IsNaN(c) {
				c = 0
			}
			if c > math.MaxInt32 {
				return nil, fmt.Errorf("Range(%v, %v, %v) is too long", start, limit, delta)
			}
			out, _ := shpNew(dt, []int{int(c)})
			if dt.Storage() == StoreF32 {
				s, d := float32(start), float32(delta)
				for i := range out.F32 {
					out.F32[i] = s + float32(i)*d
				}
				out.RoundToDType()
			} else {
				for i := range out.F64 {
					out.F64[i] = start + float64(i)*delta
				}
			}
			return []*Tensor{out}, nil
		}
		return nil, fmt.Errorf("Range does not support %v", dt)
	}), nil
}
