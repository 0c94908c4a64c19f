package nn

import "fmt"

// Pad, for every opset: attributes pads/value (opset 2), inputs pads and
// constant_value (opset 11), axes input (opset 18), wrap mode (opset 19).

type shpPadOp struct {
	mode      string
	attr      bool // opset < 11
	attrPads  []int
	attrValue float32
	axesInput bool // opset 18+
}

func shpNewPad(n *Node) (Op, error) {
	o := &shpPadOp{mode: n.AttrString("mode", "constant")}
	switch o.mode {
	case "constant", "reflect", "edge":
	case "wrap":
		if n.Opset < 19 {
			return nil, fmt.Errorf("Pad mode wrap needs opset 19, node has opset %d", n.Opset)
		}
	default:
		return nil, fmt.Errorf("unknown Pad mode %q", o.mode)
	}
	if n.Opset < 11 {
		o.attr = true
		name := "pads"
		if !n.HasAttr(name) && n.HasAttr("paddings") { // Pad-1
			name = "paddings"
		}
		if !n.HasAttr(name) {
			return nil, fmt.Errorf("Pad needs the pads attribute before opset 11")
		}
		o.attrPads = n.AttrInts(name, nil)
		o.attrValue = n.AttrFloat("value", 0)
	}
	o.axesInput = n.Opset >= 18
	return o, nil
}

func (o *shpPadOp) Run(_ *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("missing input")
	}
	x := in[0]
	if err := shpCheck(x, "data"); err != nil {
		return nil, err
	}
	r := len(x.Shape)
	var pads []int
	fill := New(x.DType)
	if o.attr {
		pads = o.attrPads
		shpSetFrom(fill, 0, &Tensor{DType: Float32, Shape: []int{}, F32: []float32{o.attrValue}}, 0)
	} else {
		if len(in) < 2 || in[1] == nil {
			return nil, fmt.Errorf("missing pads input")
		}
		var err error
		if pads, err = shpIndexList(in[1], "pads"); err != nil {
			return nil, err
		}
		if len(in) > 2 && in[2] != nil && in[2].Len() > 0 {
			if err := shpOneValue(in[2], "constant_value"); err != nil {
				return nil, err
			}
			shpSetFrom(fill, 0, in[2], 0)
		}
	}
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if o.axesInput && len(in) > 3 && in[3] != nil {
		list, err := shpIndexList(in[3], "axes")
		if err != nil {
			return nil, err
		}
		axes = axes[:0]
		for _, a := range list {
			na, err := shpAxis(a, r)
			if err != nil {
				return nil, fmt.Errorf("pad axes %v for shape %v: %w", list, x.Shape, err)
			}
			axes = append(axes, na)
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, fmt.Errorf("pads %v has %d entries, want %d for input shape %v and %d axes", pads, len(pads), 2*len(axes), x.Shape, len(axes))
	}
	begin := make([]int, r)
	end := make([]int, r)
	for i, a := range axes {
		begin[a] = pads[i]
		end[a] = pads[i+len(axes)]
	}
	maps := make([][]int, r)
	oshape := make([]int, r)
	for a := 0; a < r; a++ {
		dim := x.Shape[a]
		s := max(0, -begin[a])
		l := dim - s - max(0, -end[a])
		pb, pe := max(begin[a], 0), max(end[a], 0)
		if l < 0 {
			return nil, fmt.Errorf("pads %v crop more than axis %d of shape %v", pads, a, x.Shape)
		}
		if l == 0 && o.mode != "constant" && pb+pe > 0 {
			return nil, fmt.Errorf("cannot %s-pad axis %d of shape %v: it is empty", o.mode, a, x.Shape)
		}
		n := pb + l + pe
		oshape[a] = n
		m := make([]int, n)
		for i := range m {
			k := i - pb
			if k < 0 || k >= l {
				switch o.mode {
				case "constant":
					m[i] = -1
					continue
				case "edge":
					k = min(max(k, 0), l-1)
				case "wrap":
					k = ((k % l) + l) % l
				case "reflect":
					if l == 1 {
						k = 0
					} else {
						p := 2 * (l - 1)
						k = ((k % p) + p) % p
						if k >= l {
							k = p - k
						}
					}
				}
			}
			m[i] = s + k
		}
		maps[a] = m
	}
	out, err := shpNew(x.DType, oshape)
	if err != nil {
		return nil, err
	}
	if o.mode == "constant" {
		shpFillAll(out, fill, 0)
	}
	shpMapped(out, x, maps, Strides(x.Shape))
	return []*Tensor{out}, nil
}

// shpNewCenterCropPad implements CenterCropPad (opset 18): each listed axis
// is cropped or zero-padded around its centre to the requested length.
func shpNewCenterCropPad(n *Node) (Op, error) {
	attrAxes := n.AttrInts("axes", nil)
	return OpFunc(func(_ *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 2 {
			return nil, fmt.Errorf("CenterCropPad needs input_data and shape")
		}
		x := in[0]
		if err := shpCheck(x, "input_data"); err != nil {
			return nil, err
		}
		shape, err := shpIndexList(in[1], "shape")
		if err != nil {
			return nil, err
		}
		r := len(x.Shape)
		axes := attrAxes
		if axes == nil {
			axes = make([]int, r)
			for i := range axes {
				axes[i] = i
			}
		}
		if len(shape) != len(axes) {
			return nil, fmt.Errorf("shape %v has %d values for %d axes", shape, len(shape), len(axes))
		}
		maps := make([][]int, r)
		for a := 0; a < r; a++ {
			m := make([]int, x.Shape[a])
			for i := range m {
				m[i] = i
			}
			maps[a] = m
		}
		for i, ax := range axes {
			a, err := shpAxis(ax, r)
			if err != nil {
				return nil, fmt.Errorf("axes %v for input shape %v: %w", axes, x.Shape, err)
			}
			want, have := shape[i], x.Shape[a]
			if want < 0 {
				return nil, fmt.Errorf("shape %v has a negative value", shape)
			}
			m := make([]int, want)
			// Crop from (have-want)/2; pad (want-have)/2 in front, the
			// rest (the larger half) behind.
			off := (have - want) / 2
			if want > have {
				off = -((want - have) / 2)
			}
			for j := range m {
				k := j + off
				if k < 0 || k >= have {
					k = -1
				}
				m[j] = k
			}
			maps[a] = m
		}
		oshape := make([]int, r)
		for a, m := range maps {
			oshape[a] = len(m)
		}
		out, err := shpNew(x.DType, oshape)
		if err != nil {
			return nil, err
		}
		shpMapped(out, x, maps, Strides(x.Shape))
		return []*Tensor{out}, nil
	}), nil
}
