package checkpoint

import (
	"fmt"
	"sort"

	"github.com/graftml/graft/nn"
)

// ParamsFromGraph returns deep copies of the values of g's parameters,
// keyed by name, ready for Checkpoint.Params.
func ParamsFromGraph(g *nn.Graph) map[string]*nn.Tensor {
	out := make(map[string]*nn.Tensor, len(g.Params))
	for name, p := range g.Params {
		if p != nil && p.Value != nil {
			out[name] = p.Value.Clone()
		}
	}
	return out
}

// RestoreParams copies the parameter values of c into g's parameters, in
// place (tensors the graph already references see the new values). Every
// checkpoint parameter must exist in g with the same dtype and shape;
// nothing is changed when one does not. It returns the sorted names of g's
// parameters that the checkpoint does not hold (e.g. constants a trainer
// chose not to save); the caller decides whether that is an error.
func (c *Checkpoint) RestoreParams(g *nn.Graph) (missing []string, err error) {
	for _, name := range sortedKeys(c.Params) {
		src := c.Params[name]
		p := g.Params[name]
		if p == nil || p.Value == nil {
			return nil, fmt.Errorf("checkpoint: parameter %q is not in the graph", name)
		}
		if err := checkTensor(src); err != nil {
			return nil, fmt.Errorf("checkpoint: parameter %q: %w", name, err)
		}
		dst := p.Value
		if dst.DType != src.DType || !sameShape(dst.Shape, src.Shape) {
			return nil, fmt.Errorf("checkpoint: parameter %q is %v %v in the checkpoint, %v %v in the graph",
				name, src.DType, src.Shape, dst.DType, dst.Shape)
		}
		if err := checkTensor(dst); err != nil {
			return nil, fmt.Errorf("checkpoint: graph parameter %q: %w", name, err)
		}
	}
	for _, name := range sortedKeys(c.Params) {
		src, dst := c.Params[name], g.Params[name].Value
		copy(dst.F32, src.F32)
		copy(dst.F64, src.F64)
		copy(dst.I64, src.I64)
		copy(dst.Bool, src.Bool)
	}
	// The values changed in place: Run must not reuse weights it packed.
	g.ReleaseBuffers()
	for name := range g.Params {
		if _, ok := c.Params[name]; !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	return missing, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// SlotsFromFlat wraps optimizer state kept as flat float32 slices (param
// name -> slot name -> values, as finetune's optimizers report it) as
// rank-1 float32 tensors for Optimizer.Slots. The slices are not copied.
// Store the optimizer's step count in Optimizer.Scalars["step"].
func SlotsFromFlat(s map[string]map[string][]float32) map[string]map[string]*nn.Tensor {
	out := make(map[string]map[string]*nn.Tensor, len(s))
	for p, slots := range s {
		m := make(map[string]*nn.Tensor, len(slots))
		for name, v := range slots {
			m[name] = nn.FromFloat32(v, len(v))
		}
		out[p] = m
	}
	return out
}

// FlatSlots returns the slot values as flat float32 slices (the tensors'
// data, not copied; shapes are dropped), the inverse of SlotsFromFlat. A
// slot that is not float32 is an error.
func (o Optimizer) FlatSlots() (map[string]map[string][]float32, error) {
	out := make(map[string]map[string][]float32, len(o.Slots))
	for _, p := range sortedKeys(o.Slots) {
		m := make(map[string][]float32, len(o.Slots[p]))
		for _, name := range sortedKeys(o.Slots[p]) {
			t := o.Slots[p][name]
			if t == nil || t.DType != nn.Float32 {
				return nil, fmt.Errorf("checkpoint: optimizer slot %q of %q is not a float32 tensor", name, p)
			}
			m[name] = t.F32
		}
		out[p] = m
	}
	return out, nil
}
