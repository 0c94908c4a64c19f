package nn

import (
	"fmt"
	"math/rand"
	"sync"
)

// normDropoutOp is Dropout. Before opset 12 the ratio is an attribute and
// only Context.Training turns dropout on; from opset 12 ratio and
// training_mode are optional inputs. A seed attribute gives the op its own
// random source, otherwise the context's is used.
type normDropoutOp struct {
	ratio      float64
	isTest     bool // opset 6 is_test attribute: never drop
	ratioInput bool // opset 12+: ratio and training_mode are inputs
	boolMask   bool // opset 10+: mask is bool (before: same type as data)
	want       []bool

	mu  sync.Mutex
	rng *rand.Rand // from the seed attribute, or nil
}

func normDropoutNew(n *Node) (Op, error) {
	op := &normDropoutOp{
		ratio:      float64(n.AttrFloat("ratio", 0.5)),
		ratioInput: n.Opset >= 12,
		boolMask:   n.Opset >= 10,
		want:       normWanted(n),
		isTest:     n.Opset < 7 && n.AttrInt("is_test", 0) != 0,
	}
	if op.ratioInput && n.HasAttr("ratio") {
		return nil, fmt.Errorf("attribute ratio is not allowed at opset %d (ratio is an input)", n.Opset)
	}
	if op.ratio < 0 || op.ratio > 1 {
		return nil, fmt.Errorf("ratio %g is outside [0, 1]", op.ratio)
	}
	if len(n.Outputs) > 2 {
		return nil, fmt.Errorf("%d outputs, Dropout has at most 2", len(n.Outputs))
	}
	if n.HasAttr("seed") {
		op.rng = rand.New(rand.NewSource(n.AttrInt("seed", 0)))
	}
	return op, nil
}

func (op *normDropoutOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("missing data input")
	}
	x := in[0]
	ratio := op.ratio
	training := ctx.Training
	if op.ratioInput {
		if len(in) > 1 && in[1] != nil {
			r := in[1]
			if r.Len() != 1 || !r.DType.IsFloat() {
				return nil, fmt.Errorf("ratio input %s, want a float scalar", r)
			}
			ratio = r.Float64At(0)
			if ratio < 0 || ratio > 1 {
				return nil, fmt.Errorf("ratio %g is outside [0, 1]", ratio)
			}
		}
		if len(in) > 2 && in[2] != nil {
			t := in[2]
			if t.Len() != 1 || t.DType != Bool {
				return nil, fmt.Errorf("training_mode input %s, want a bool scalar", t)
			}
			training = training || t.Bool[0]
		}
	}
	wantMask := normWant(op.want, 1)
	if !training || ratio == 0 || op.isTest {
		outs := []*Tensor{x}
		if len(op.want) > 1 {
			outs = append(outs, nil)
		}
		if wantMask {
			outs[1] = op.mask(x, nil)
		}
		return outs, nil
	}
	if !x.DType.IsFloat() {
		return nil, fmt.Errorf("input %s: dropout in training needs a float type", x)
	}
	keep := make([]bool, x.Len())
	op.draw(ctx, keep, ratio)
	y := New(x.DType, x.Shape...)
	scale := 0.0
	if ratio < 1 {
		scale = 1 / (1 - ratio)
	}
	if x.F64 != nil {
		for i, k := range keep {
			if k {
				y.F64[i] = x.F64[i] * scale
			}
		}
	} else {
		s := float32(scale)
		for i, k := range keep {
			if k {
				y.F32[i] = x.F32[i] * s
			}
		}
		y.RoundToDType()
	}
	outs := []*Tensor{y}
	if len(op.want) > 1 {
		outs = append(outs, nil)
	}
	if wantMask {
		outs[1] = op.mask(x, keep)
	}
	return outs, nil
}

// draw fills keep with independent draws that are true with probability
// 1-ratio.
func (op *normDropoutOp) draw(ctx *Context, keep []bool, ratio float64) {
	rng := op.rng
	if rng != nil {
		op.mu.Lock()
		defer op.mu.Unlock()
	} else {
		rng = ctx.RNG()
	}
	// Two 32-bit uniform draws per 64-bit random value; an element is kept
	// when its draw is at or above ratio * 2^32.
	thr := uint64(ratio * (1 << 32))
	i := 0
	for ; i+2 <= len(keep); i += 2 {
		u := rng.Uint64()
		keep[i] = u&0xffffffff >= thr
		keep[i+1] = u>>32 >= thr
	}
	if i < len(keep) {
		keep[i] = rng.Uint64()&0xffffffff >= thr
	}
}

// mask builds the mask output: bool from opset 10, the data's type before.
// keep == nil means everything is kept.
func (op *normDropoutOp) mask(x *Tensor, keep []bool) *Tensor {
	dt := x.DType
	if op.boolMask || dt.Storage() == StoreBool {
		dt = Bool
	}
	m := New(dt, x.Shape...)
	for i := 0; i < m.Len(); i++ {
		if keep != nil && !keep[i] {
			continue
		}
		switch {
		case m.Bool != nil:
			m.Bool[i] = true
		case m.F32 != nil:
			m.F32[i] = 1
		case m.F64 != nil:
			m.F64[i] = 1
		case m.I64 != nil:
			m.I64[i] = 1
		}
	}
	return m
}
