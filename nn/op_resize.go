package nn

import (
	"fmt"
	"math"
)

// Resize (opsets 10, 11, 13, 18, 19) and Upsample (opsets 7, 9).
//
// Nearest mode maps every output coordinate to one input coordinate per axis
// and works for every element type. Linear and cubic modes run one separable
// 1-D pass per resized axis (the N-D interpolation is the tensor product of
// the 1-D ones), with optional antialiasing when downsampling.

type rsMode int

const (
	rsNearest rsMode = iota
	rsLinear
	rsCubic
)

type rsOp struct {
	opset          int
	upsample       bool
	attrScales     []float32 // Upsample-7
	mode           rsMode
	coord          string
	nearest        string // "" means the pre-opset-11 behaviour
	cubicA         float32
	excludeOutside bool
	extrapolation  float32
	antialias      bool
	axes           []int
	keepAspect     string
}

func rsParseMode(s string) (rsMode, error) {
	switch s {
	case "nearest":
		return rsNearest, nil
	case "linear", "bilinear", "trilinear":
		return rsLinear, nil
	case "cubic", "bicubic":
		return rsCubic, nil
	}
	return 0, fmt.Errorf("unknown resize mode %q", s)
}

func rsNewUpsample(n *Node) (Op, error) {
	m, err := rsParseMode(n.AttrString("mode", "nearest"))
	if err != nil {
		return nil, err
	}
	if m == rsCubic {
		return nil, fmt.Errorf("Upsample does not support cubic mode")
	}
	o := &rsOp{opset: n.Opset, upsample: true, mode: m, coord: "asymmetric"}
	if n.Opset < 9 {
		if !n.HasAttr("scales") {
			return nil, fmt.Errorf("Upsample-7 needs the scales attribute")
		}
		o.attrScales = n.AttrFloats("scales", nil)
	}
	return o, nil
}

func rsNewResize(n *Node) (Op, error) {
	m, err := rsParseMode(n.AttrString("mode", "nearest"))
	if err != nil {
		return nil, err
	}
	o := &rsOp{opset: n.Opset, mode: m, coord: "asymmetric", cubicA: -0.75}
	if n.Opset >= 11 {
		o.coord = n.AttrString("coordinate_transformation_mode", "half_pixel")
		switch o.coord {
		case "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize":
		case "half_pixel_symmetric":
			if n.Opset < 19 {
				return nil, fmt.Errorf("coordinate_transformation_mode half_pixel_symmetric needs opset 19")
			}
		default:
			return nil, fmt.Errorf("unknown coordinate_transformation_mode %q", o.coord)
		}
		if m == rsNearest {
			o.nearest = n.AttrString("nearest_mode", "round_prefer_floor")
			switch o.nearest {
			case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil":
			default:
				return nil, fmt.Errorf("unknown nearest_mode %q", o.nearest)
			}
		}
		o.cubicA = n.AttrFloat("cubic_coeff_a", -0.75)
		o.excludeOutside = n.AttrInt("exclude_outside", 0) != 0
		o.extrapolation = n.AttrFloat("extrapolation_value", 0)
	}
	if n.Opset >= 18 {
		o.antialias = n.AttrInt("antialias", 0) != 0
		if o.antialias && m == rsNearest {
			return nil, fmt.Errorf("antialias is not defined for nearest mode")
		}
		o.axes = n.AttrInts("axes", nil)
		o.keepAspect = n.AttrString("keep_aspect_ratio_policy", "stretch")
		switch o.keepAspect {
		case "stretch", "not_larger", "not_smaller":
		default:
			return nil, fmt.Errorf("unknown keep_aspect_ratio_policy %q", o.keepAspect)
		}
	}
	return o, nil
}

// rsFloats reads a float tensor (scales, roi) as float32 values.
func rsFloats(t *Tensor, what string) ([]float32, error) {
	if err := shpCheck(t, what); err != nil {
		return nil, err
	}
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("input %s must be a float tensor, got %v", what, t.DType)
	}
	out := make([]float32, t.Len())
	for i := range out {
		out[i] = float32(t.Float64At(i))
	}
	return out, nil
}

// rsAxisPlan describes the resampling of one axis.
type rsAxisPlan struct {
	in, out          int
	scale            float32
	roiStart, roiEnd float32
}

func (o *rsOp) Run(_ *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("missing input")
	}
	x := in[0]
	if err := shpCheck(x, "X"); err != nil {
		return nil, err
	}
	plan, err := o.plan(x, in)
	if err != nil {
		return nil, err
	}
	oshape := make([]int, len(plan))
	for i, p := range plan {
		oshape[i] = p.out
	}
	if o.mode == rsNearest {
		return o.runNearest(x, plan, oshape)
	}
	return o.runInterp(x, plan, oshape)
}

// plan computes the per-axis resampling plan of one run from the input
// and the roi, scales and sizes inputs (Run and the gradient share it).
func (o *rsOp) plan(x *Tensor, in []*Tensor) ([]rsAxisPlan, error) {
	r := len(x.Shape)
	get := func(i int) *Tensor {
		if i < len(in) && in[i] != nil && in[i].Len() > 0 {
			return in[i]
		}
		return nil
	}
	var scalesT, sizesT, roiT *Tensor
	switch {
	case o.upsample && o.opset < 9:
	case o.upsample || o.opset < 11:
		scalesT = get(1)
		if scalesT == nil {
			return nil, fmt.Errorf("missing scales input")
		}
	default:
		roiT, scalesT, sizesT = get(1), get(2), get(3)
	}
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if o.axes != nil {
		axes = axes[:0]
		seen := make([]bool, r)
		for _, a := range o.axes {
			na, err := shpAxis(a, r)
			if err != nil {
				return nil, fmt.Errorf("resize axes %v for input shape %v: %w", o.axes, x.Shape, err)
			}
			if seen[na] {
				return nil, fmt.Errorf("resize axes %v repeat axis %d", o.axes, a)
			}
			seen[na] = true
			axes = append(axes, na)
		}
	}
	plan := make([]rsAxisPlan, r)
	for i, d := range x.Shape {
		plan[i] = rsAxisPlan{in: d, out: d, scale: 1, roiStart: 0, roiEnd: 1}
	}
	if roiT != nil && o.coord == "tf_crop_and_resize" {
		roi, err := rsFloats(roiT, "roi")
		if err != nil {
			return nil, err
		}
		if len(roi) != 2*len(axes) {
			return nil, fmt.Errorf("roi has %d values, want %d for input shape %v", len(roi), 2*len(axes), x.Shape)
		}
		for i, a := range axes {
			plan[a].roiStart, plan[a].roiEnd = roi[i], roi[i+len(axes)]
		}
	}
	switch {
	case sizesT != nil:
		if scalesT != nil {
			return nil, fmt.Errorf("only one of scales and sizes may be given")
		}
		sizes, err := shpIndexList(sizesT, "sizes")
		if err != nil {
			return nil, err
		}
		if len(sizes) != len(axes) {
			return nil, fmt.Errorf("sizes %v has %d values for input shape %v and %d axes", sizes, len(sizes), x.Shape, len(axes))
		}
		for i, a := range axes {
			if sizes[i] < 0 {
				return nil, fmt.Errorf("sizes %v has a negative value", sizes)
			}
			if plan[a].in == 0 {
				if sizes[i] != 0 {
					return nil, fmt.Errorf("cannot resize empty axis %d of shape %v to %d", a, x.Shape, sizes[i])
				}
				continue
			}
			plan[a].out = sizes[i]
			plan[a].scale = float32(sizes[i]) / float32(plan[a].in)
		}
		if o.keepAspect == "not_larger" || o.keepAspect == "not_smaller" {
			s := plan[axes[0]].scale
			for _, a := range axes[1:] {
				if o.keepAspect == "not_larger" {
					s = min(s, plan[a].scale)
				} else {
					s = max(s, plan[a].scale)
				}
			}
			for _, a := range axes {
				plan[a].scale = s
				plan[a].out = int(s*float32(plan[a].in) + 0.5)
			}
		}
	default:
		var scales []float32
		if o.attrScales != nil {
			scales = o.attrScales
		} else {
			if scalesT == nil {
				return nil, fmt.Errorf("one of scales and sizes must be given")
			}
			var err error
			if scales, err = rsFloats(scalesT, "scales"); err != nil {
				return nil, err
			}
		}
		if len(scales) != len(axes) {
			return nil, fmt.Errorf("scales %v has %d values for input shape %v and %d axes", scales, len(scales), x.Shape, len(axes))
		}
		for i, a := range axes {
			s := scales[i]
			if !(s > 0) || math.IsInf(float64(s), 0) {
				return nil, fmt.Errorf("scales %v must be positive", scales)
			}
			if o.upsample && s < 1 {
				return nil, fmt.Errorf("Upsample scales %v must be >= 1", scales)
			}
			plan[a].scale = s
			f := s * float32(plan[a].in)
			if o.coord == "tf_crop_and_resize" {
				f *= plan[a].roiEnd - plan[a].roiStart
			}
			if f > math.MaxInt32 {
				return nil, fmt.Errorf("resize of shape %v by %v is too large", x.Shape, scales)
			}
			plan[a].out = int(f)
		}
	}
	return plan, nil
}

// rsOriginal maps an output coordinate to the input coordinate system.
func (o *rsOp) rsOriginal(xr int, p rsAxisPlan) float32 {
	x := float32(xr)
	lo, li := float32(p.out), float32(p.in)
	switch o.coord {
	case "asymmetric":
		return x / p.scale
	case "pytorch_half_pixel":
		if p.out > 1 {
			return (x+0.5)/p.scale - 0.5
		}
		return 0
	case "tf_half_pixel_for_nn":
		return (x + 0.5) / p.scale
	case "align_corners":
		if p.out == 1 {
			return 0
		}
		return x * (li - 1) / (lo - 1)
	case "tf_crop_and_resize":
		if p.out > 1 {
			return p.roiStart*(li-1) + x*(p.roiEnd-p.roiStart)*(li-1)/(lo-1)
		}
		return 0.5 * (p.roiStart + p.roiEnd) * (li - 1)
	case "half_pixel_symmetric":
		adj := lo / (p.scale * li)
		off := li / 2 * (1 - adj)
		return off + (x+0.5)/p.scale - 0.5
	}
	return (x+0.5)/p.scale - 0.5 // half_pixel
}

func (o *rsOp) rsNearestIndex(xo float32, down bool) int {
	switch o.nearest {
	case "":
		if down {
			return int(math.Ceil(float64(xo)))
		}
		return int(xo)
	case "round_prefer_ceil":
		return int(math.Round(float64(xo)))
	case "floor":
		return int(math.Floor(float64(xo)))
	case "ceil":
		return int(math.Ceil(float64(xo)))
	}
	f := math.Floor(float64(xo))
	if float64(xo) == f+0.5 {
		return int(f)
	}
	return int(math.Round(float64(xo)))
}

func (o *rsOp) runNearest(x *Tensor, plan []rsAxisPlan, oshape []int) ([]*Tensor, error) {
	out, err := shpNew(x.DType, oshape)
	if err != nil {
		return nil, err
	}
	if out.Len() == 0 {
		return []*Tensor{out}, nil
	}
	maps := make([][]int, len(plan))
	extrap := false
	for a, p := range plan {
		m := make([]int, p.out)
		for i := range m {
			if p.in == p.out && p.scale == 1 && o.coord != "tf_crop_and_resize" {
				m[i] = i
				continue
			}
			xo := o.rsOriginal(i, p)
			if o.coord == "tf_crop_and_resize" && (xo < 0 || xo > float32(p.in-1)) {
				m[i] = -1
				extrap = true
				continue
			}
			k := o.rsNearestIndex(xo, p.scale < 1)
			m[i] = min(max(k, 0), p.in-1)
		}
		maps[a] = m
	}
	if extrap {
		shpFillAll(out, &Tensor{DType: Float32, Shape: []int{}, F32: []float32{o.extrapolation}}, 0)
	}
	shpMapped(out, x, maps, Strides(x.Shape))
	return []*Tensor{out}, nil
}

// rsTable holds the 1-D resampling weights of one axis: output i reads
// input indices idx[i*n : i*n+n] with weights w[...]; extrap[i] marks
// outputs that take the extrapolation value.
type rsTable struct {
	n      int
	idx    []int
	w      []float64
	extrap []bool
	any    bool
}

func (o *rsOp) rsWeights(p rsAxisPlan) (*rsTable, bool) {
	s := float32(1)
	if o.antialias && p.scale < 1 {
		s = p.scale
	}
	var start int
	if o.mode == rsLinear {
		start = int(math.Floor(-1/float64(s))) + 1
	} else {
		start = int(math.Floor(-2/float64(s))) + 1
	}
	n := 2 - 2*start
	t := &rsTable{n: n, idx: make([]int, p.out*n), w: make([]float64, p.out*n), extrap: make([]bool, p.out)}
	identity := p.in == p.out
	a := float64(o.cubicA)
	kernel := func(d float64) float64 {
		d = math.Abs(d)
		if o.mode == rsLinear {
			return max(0, 1-d)
		}
		switch {
		case d <= 1:
			return ((a+2)*d-(a+3))*d*d + 1
		case d < 2:
			return ((a*d-5*a)*d+8*a)*d - 4*a
		}
		return 0
	}
	for i := 0; i < p.out; i++ {
		xo := float64(o.rsOriginal(i, p))
		if o.coord == "tf_crop_and_resize" && (xo < 0 || xo > float64(p.in-1)) {
			t.extrap[i] = true
			t.any = true
			identity = false
			continue
		}
		if o.mode == rsLinear && !o.antialias {
			// Clamp like onnxruntime; equivalent to edge padding.
			xo = min(max(xo, 0), float64(p.in-1))
		}
		xi := int(math.Ceil(xo)) - 1
		sum := 0.0
		for k := 0; k < n; k++ {
			j := xi + start + k
			w := kernel((float64(j) - xo) * float64(s))
			if j < 0 || j >= p.in {
				if o.excludeOutside {
					w = 0
				}
				j = min(max(j, 0), p.in-1)
			}
			t.idx[i*n+k] = j
			t.w[i*n+k] = w
			sum += w
		}
		if sum != 0 {
			for k := 0; k < n; k++ {
				t.w[i*n+k] /= sum
			}
		}
		if identity {
			for k := 0; k < n; k++ {
				if t.w[i*n+k] != 0 && (t.idx[i*n+k] != i || t.w[i*n+k] != 1) {
					identity = false
				}
			}
		}
	}
	return t, identity
}

func (o *rsOp) runInterp(x *Tensor, plan []rsAxisPlan, oshape []int) ([]*Tensor, error) {
	st := x.DType.Storage()
	if st == StoreI64 {
		// Integer images: interpolate in float32 and truncate toward zero
		// like onnxruntime, saturating to the type's range.
		xf := New(Float32, x.Shape...)
		for i := range xf.F32 {
			xf.F32[i] = float32(x.Float64At(i))
		}
		res, err := o.runInterp(xf, plan, oshape)
		if err != nil {
			return nil, err
		}
		out := New(x.DType, res[0].Shape...)
		lo, hi := rsIntRange(x.DType)
		for i, v := range res[0].F32 {
			f := math.Trunc(float64(v))
			switch {
			case f <= lo:
				out.I64[i] = int64(lo)
			case f >= hi:
				if x.DType == Uint64 {
					out.I64[i] = -1 // all ones: the largest uint64
				} else {
					out.I64[i] = int64(hi)
				}
			default:
				if x.DType == Uint64 && f >= 1<<63 {
					out.I64[i] = int64(uint64(f))
				} else {
					out.I64[i] = int64(f)
				}
			}
		}
		return []*Tensor{out}, nil
	}
	if st != StoreF32 && st != StoreF64 {
		return nil, fmt.Errorf("linear and cubic resize need a numeric input, got %v", x.DType)
	}
	if NumElements(oshape) == 0 {
		out, err := shpNew(x.DType, oshape)
		if err != nil {
			return nil, err
		}
		return []*Tensor{out}, nil
	}
	if err := shpSizeOK(oshape); err != nil {
		return nil, err
	}
	type pass struct {
		axis int
		tab  *rsTable
	}
	var passes []pass
	for a, p := range plan {
		if p.in == 0 {
			continue
		}
		if p.in == p.out && p.scale == 1 && o.coord != "tf_crop_and_resize" {
			continue // unscaled axes are left alone, as onnxruntime does
		}
		if tab, identity := o.rsWeights(p); !identity {
			passes = append(passes, pass{a, tab})
		}
	}
	// The passes commute; run them in the cheaper of the two orders (the
	// innermost axis, with no contiguous rows to vectorize over, costs more).
	cost := func(order []pass) float64 {
		shape := append([]int{}, x.Shape...)
		c := 0.0
		for _, ps := range order {
			shape[ps.axis] = plan[ps.axis].out
			f := float64(NumElements(shape) * ps.tab.n)
			if ps.axis == len(shape)-1 {
				f *= 3
			}
			c += f
		}
		return c
	}
	rev := make([]pass, len(passes))
	for i, ps := range passes {
		rev[len(passes)-1-i] = ps
	}
	if cost(rev) < cost(passes) {
		passes = rev
	}
	cur := x
	shape := append([]int{}, x.Shape...)
	for _, ps := range passes {
		a, p, tab := ps.axis, plan[ps.axis], ps.tab
		nshape := append([]int{}, shape...)
		nshape[a] = p.out
		next := New(x.DType, nshape...)
		outer := NumElements(shape[:a])
		inner := NumElements(shape[a+1:])
		ev := float64(o.extrapolation)
		if st == StoreF32 {
			rsPass(next.F32, cur.F32, tab, outer, p.in, p.out, inner, float32(ev))
		} else {
			rsPass(next.F64, cur.F64, tab, outer, p.in, p.out, inner, ev)
		}
		cur, shape = next, nshape
	}
	if cur == x {
		cur = x.Clone()
	}
	cur.RoundToDType()
	return []*Tensor{cur}, nil
}

// rsPass resamples the middle axis of a [outer, in, inner] array to
// [outer, out, inner] with the weights of tab.
func rsPass[T float32 | float64](dst, src []T, tab *rsTable, outer, in, out, inner int, ev T) {
	w := make([]T, len(tab.w))
	for i, v := range tab.w {
		w[i] = T(v)
	}
	shpParallel(outer*out, outer*out*inner*tab.n, func(lo, hi int) {
		if inner == 1 {
			rsPassLast(dst, src, tab, w, in, out, ev, lo, hi)
		} else {
			rsPassRows(dst, src, tab, w, in, out, inner, ev, lo, hi)
		}
	})
}

// rsPassLast handles the innermost axis: output elements [lo, hi) of the
// flattened [outer*out] array.
func rsPassLast[T float32 | float64](dst, src []T, tab *rsTable, w []T, in, out int, ev T, lo, hi int) {
	n := tab.n
	o, i := lo/out, lo%out
	s := src[o*in : (o+1)*in]
	for r := lo; r < hi; r++ {
		switch {
		case tab.extrap[i]:
			dst[r] = ev
		case n == 2:
			j := tab.idx[2*i : 2*i+2]
			ww := w[2*i : 2*i+2]
			dst[r] = ww[0]*s[j[0]] + ww[1]*s[j[1]]
		default:
			var acc T
			for k, j := range tab.idx[i*n : i*n+n] {
				acc += w[i*n+k] * s[j]
			}
			dst[r] = acc
		}
		i++
		if i == out && r+1 < hi {
			i = 0
			o++
			s = src[o*in : (o+1)*in]
		}
	}
}

// rsPassRows computes output rows [lo, hi) of the flattened [outer*out]
// rows, each of inner contiguous elements.
func rsPassRows[T float32 | float64](dst, src []T, tab *rsTable, w []T, in, out, inner int, ev T, lo, hi int) {
	n := tab.n
	for r := lo; r < hi; r++ {
		o, i := r/out, r%out
		s := src[o*in*inner : (o+1)*in*inner]
		row := dst[r*inner : (r+1)*inner]
		if tab.extrap[i] {
			for j := range row {
				row[j] = ev
			}
			continue
		}
		first := true
		for k, j := range tab.idx[i*n : i*n+n] {
			wk := w[i*n+k]
			if wk == 0 {
				continue
			}
			sr := s[j*inner : (j+1)*inner]
			sr = sr[:len(row)]
			if first {
				for q, v := range sr {
					row[q] = wk * v
				}
				first = false
			} else {
				for q, v := range sr {
					row[q] += wk * v
				}
			}
		}
		if first {
			clear(row)
		}
	}
}

// rsIntRange returns the value range of an integer type as float64 bounds.
func rsIntRange(dt DType) (lo, hi float64) {
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
		return 0, math.MaxUint64
	}
	return math.MinInt64, math.MaxInt64
}
