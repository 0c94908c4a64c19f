package convert

import (
	"fmt"

	"github.com/graftml/graft/nn"
)

// Options selects the passes Apply runs.
type Options struct {
	FoldConstants  bool
	RemoveIdentity bool
	FoldBN         bool
	FuseBias       bool
	EliminateDead  bool
	// FP16 converts the graph to float16 (ToFloat16), keeping float32
	// inputs and outputs unless FP16IO is set too.
	FP16   bool
	FP16IO bool
	// FP16Weights only stores float32 weights as float16
	// (WeightsToFloat16); it is ignored with FP16.
	FP16Weights bool
	// Opset, when not 0, converts the graph to that ai.onnx opset
	// (ConvertOpset) before the other passes.
	Opset int
}

// All selects every exact (lossless up to float rounding) pass.
func All() Options {
	return Options{FoldConstants: true, RemoveIdentity: true, FoldBN: true, FuseBias: true, EliminateDead: true}
}

// Exact reports whether the selected passes only reorder float arithmetic
// (no float16 rounding).
func (o Options) Exact() bool { return !o.FP16 && !o.FP16Weights }

// Any reports whether a pass is selected.
func (o Options) Any() bool {
	return o.FoldConstants || o.RemoveIdentity || o.FoldBN || o.FuseBias || o.EliminateDead || o.FP16 || o.FP16Weights ||
		o.Opset != 0
}

// Apply runs the selected passes on g in a fixed order: opset, constants,
// identities, batch norms, bias additions, dead nodes, float16.
func Apply(g *nn.Graph, o Options) ([]Stats, error) {
	type pass struct {
		on bool
		f  func(*nn.Graph) (Stats, error)
	}
	passes := []pass{
		{o.Opset != 0, func(g *nn.Graph) (Stats, error) { return ConvertOpset(g, o.Opset) }},
		{o.FoldConstants, FoldConstants},
		{o.RemoveIdentity, RemoveIdentity},
		{o.FoldBN, FoldBatchNorm},
		{o.FuseBias, FuseBias},
		{o.EliminateDead, EliminateDead},
		{o.FP16Weights && !o.FP16, WeightsToFloat16},
		{o.FP16, func(g *nn.Graph) (Stats, error) { return ToFloat16(g, o.FP16IO) }},
	}
	var out []Stats
	for _, p := range passes {
		if !p.on {
			continue
		}
		st, err := p.f(g)
		if err != nil {
			return out, fmt.Errorf("%s: %w", st.Pass, err)
		}
		if err := g.SortNodes(); err != nil {
			return out, fmt.Errorf("%s: %w", st.Pass, err)
		}
		out = append(out, st)
	}
	return out, nil
}
