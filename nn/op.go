package nn

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
)

// Op is the implementation of one node. It is built once per node by its
// registry constructor (which reads and validates the attributes) and then
// run any number of times.
//
// Run receives the node's inputs in order, with nil for absent optional
// inputs, and returns one tensor per node output (trailing optional outputs
// may be nil when the node does not name them). Run must not modify its
// inputs: they may be parameters or values other nodes still read.
type Op interface {
	Run(ctx *Context, in []*Tensor) ([]*Tensor, error)
}

// Context carries per-run state to ops.
type Context struct {
	context.Context
	// Training selects training behaviour (batch statistics in
	// BatchNormalization, active Dropout).
	Training bool
	// Rand is the random source of ops such as Dropout; nil means seed 0.
	Rand *rand.Rand
	// Observe, when set, is called after every node runs with its inputs
	// and outputs (inspection, shape recording, debugging).
	Observe func(n *Node, in, out []*Tensor)

	// ar is the buffer pool of the current Graph.Run (nil elsewhere); see
	// arNew.
	ar *arPool
	// Buffers, when set, recycles the float32 buffers of training steps
	// (see BufferPool and Graph.ForwardTrain).
	Buffers *BufferPool
	// tm is the state of the ForwardTrain tape being run or differentiated.
	tm *tmStep
	// packs is the packed-weight cache of the current plain Graph.Run (nil
	// elsewhere).
	packs *packCache
}

// NewContext returns an inference context.
func NewContext(ctx context.Context) *Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return &Context{Context: ctx}
}

// RNG returns the context's random source, creating a seeded one if needed.
func (c *Context) RNG() *rand.Rand {
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewSource(0))
	}
	return c.Rand
}

// TrainingNode reports whether node n runs in training mode: the context
// is in training mode and the node is not frozen. BatchNormalization uses
// batch statistics (and updates its running statistics) only then.
func (c *Context) TrainingNode(n *Node) bool { return c.Training && !n.Frozen }

// OpFunc adapts a function to the Op interface.
type OpFunc func(ctx *Context, in []*Tensor) ([]*Tensor, error)

// Run calls f.
func (f OpFunc) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) { return f(ctx, in) }

// OpDef registers an implementation of one op type for a range of opsets.
type OpDef struct {
	// Type is the ONNX op type, e.g. "Conv".
	Type string
	// Domain is the operator-set domain; "" is the default ai.onnx domain.
	Domain string
	// Since is the first opset this definition handles. When several
	// definitions exist for one type, a node uses the one with the highest
	// Since not above the node's opset.
	Since int
	// New builds the op for a node, validating its attributes.
	New func(n *Node) (Op, error)
	// WeightInputs lists the input positions that hold learned weights
	// (Conv's W and B, Gemm's B and C, ...). A Constant node feeding one of
	// them becomes a parameter.
	WeightInputs []int
}

// GradFunc computes the input gradients of one node; the arguments and
// result are those of Differentiable.Backward, plus the node (for its
// attributes). Gradients live in grad_*.go files, one per op family, keyed
// by op type, so forward and backward can be written separately.
type GradFunc func(ctx *Context, n *Node, in, out, dOut []*Tensor, need []bool) ([]*Tensor, error)

// Registry maps (domain, op type, opset) to an implementation.
type Registry struct {
	defs  map[string][]OpDef
	grads map[string]GradFunc
}

// NewRegistry returns a registry holding defs.
func NewRegistry(defs ...[]OpDef) *Registry {
	r := &Registry{defs: map[string][]OpDef{}, grads: map[string]GradFunc{}}
	for _, list := range defs {
		for _, d := range list {
			r.Register(d)
		}
	}
	return r
}

func regKey(domain, typ string) string {
	if domain == "ai.onnx" {
		domain = ""
	}
	return domain + "::" + typ
}

// Register adds a definition.
func (r *Registry) Register(d OpDef) {
	k := regKey(d.Domain, d.Type)
	list := append(r.defs[k], d)
	sort.Slice(list, func(i, j int) bool { return list[i].Since < list[j].Since })
	r.defs[k] = list
}

// Lookup finds the definition for an op type at an opset version.
func (r *Registry) Lookup(domain, typ string, opset int) (*OpDef, bool) {
	list := r.defs[regKey(domain, typ)]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].Since <= opset {
			return &list[i], true
		}
	}
	return nil, false
}

// RegisterGrad sets the gradient of an op type (default domain).
func (r *Registry) RegisterGrad(opType string, f GradFunc) { r.grads[opType] = f }

// HasGrad reports whether the op type has a backward pass.
func (r *Registry) HasGrad(opType string) bool { return r.grads[opType] != nil }

// Has reports whether any opset of the op type is registered.
func (r *Registry) Has(domain, typ string) bool { return len(r.defs[regKey(domain, typ)]) > 0 }

// Defs returns every definition, sorted by domain, type and opset.
func (r *Registry) Defs() []OpDef {
	var out []OpDef
	for _, list := range r.defs {
		out = append(out, list...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Domain != out[j].Domain {
			return out[i].Domain < out[j].Domain
		}
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Since < out[j].Since
	})
	return out
}

// Build sets n.Op from the registry.
func (r *Registry) Build(n *Node) error {
	d, ok := r.Lookup(n.Domain, n.OpType, n.Opset)
	if !ok {
		return fmt.Errorf("node %s: unsupported op %s at opset %d", n.Label(), n.OpType, n.Opset)
	}
	op, err := d.New(n)
	if err != nil {
		return fmt.Errorf("node %s: %w", n.Label(), err)
	}
	n.Op = op
	if n.Domain == "" {
		n.Grad = r.grads[n.OpType]
	}
	return nil
}

// Standard returns a registry of every op graft implements. It builds a new
// registry on each call; callers may add their own definitions to it.
func Standard() *Registry {
	r := NewRegistry(standardDefs()...)
	for _, gs := range standardGrads() {
		for typ, f := range gs {
			r.RegisterGrad(typ, f)
		}
	}
	return r
}
