package nn

import (
	"math/rand"
	"testing"
)

// In-place activations must give exactly the results of the normal path
// (which runs when an Observe hook is set), touch only buffers nobody else
// reads, and leave graph inputs, parameters and shared values intact.
func TestPfInplaceActivations(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	reg := Standard()
	node := func(op string, opset int, attrs map[string]any, ins, outs []string) *Node {
		n := gradTestNode(t, op, opset, attrs, len(ins), len(outs))
		n.Name = op + "_" + outs[0]
		n.Inputs, n.Outputs = ins, outs
		if err := reg.Build(n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	f32 := func(shape ...int) *Tensor {
		x := New(Float32, shape...)
		for i := range x.F32 {
			x.F32[i] = float32(rng.NormFloat64() * 4)
		}
		return x
	}
	g := &Graph{
		Inputs:  []ValueInfo{{Name: "x", DType: Float32}},
		Outputs: []ValueInfo{{Name: "r"}, {Name: "h"}, {Name: "c3"}, {Name: "rc3"}, {Name: "rx"}, {Name: "cl"}, {Name: "ad"}, {Name: "sb"}, {Name: "big"}, {Name: "mb"}},
	}
	for _, p := range []struct {
		name string
		v    *Tensor
	}{{"w", f32(3, 2, 3, 3)}, {"b", f32(3)}, {"lo", Scalar(0)}, {"hi", Scalar(6)}, {"b3", f32(3, 1, 1)}, {"w5", f32(3, 2, 5, 5)}} {
		g.AddParam(&Param{Name: p.name, Value: p.v})
	}
	g.Nodes = []*Node{
		node("Conv", 11, map[string]any{"pads": []int{1, 1, 1, 1}}, []string{"x", "w", "b"}, []string{"c"}),
		node("Relu", 14, nil, []string{"c"}, []string{"r"}), // 1: in place
		node("Conv", 11, nil, []string{"x", "w", "b"}, []string{"c2"}),
		node("Sigmoid", 13, nil, []string{"c2"}, []string{"s"}), // c2 has two readers
		node("Mul", 14, nil, []string{"c2", "s"}, []string{"m"}),
		node("HardSwish", 14, nil, []string{"m"}, []string{"h"}), // 5: in place
		node("Conv", 11, nil, []string{"x", "w"}, []string{"c3"}),
		node("Relu", 14, nil, []string{"c3"}, []string{"rc3"}), // c3 is a graph output
		node("Relu", 14, nil, []string{"x"}, []string{"rx"}),   // graph input
		node("Conv", 11, nil, []string{"x", "w"}, []string{"c4"}),
		node("Clip", 13, nil, []string{"c4", "lo", "hi"}, []string{"cl"}), // 10: in place
		node("Conv", 11, map[string]any{"pads": []int{1, 1, 1, 1}}, []string{"x", "w", "b"}, []string{"c5"}),
		node("Add", 14, nil, []string{"c5", "b3"}, []string{"ad"}), // 12: into c5
		node("Conv", 11, nil, []string{"x", "w"}, []string{"c6"}),
		node("Sub", 14, nil, []string{"b3", "c6"}, []string{"sb"}), // 14: into c6 (b3 is a parameter)
		node("Conv", 11, nil, []string{"x", "w5"}, []string{"c7"}),
		node("Conv", 11, map[string]any{"pads": []int{1, 1, 1, 1}}, []string{"x", "w"}, []string{"big"}),
		node("Mul", 14, nil, []string{"c7", "big"}, []string{"mb"}), // 17: c7 is broadcast: runs normally
	}
	plan := g.buildPlan()
	// Node 4 (Mul) may overwrite s (c2 has two readers).
	want := map[int]int8{1: 1, 4: 2, 5: 1, 10: 1, 12: 1, 14: 2, 17: 1}
	for i := range g.Nodes {
		if got := plan.inplaceAt(i); got != want[i] {
			t.Errorf("node %d (%s): in place %v, want %v", i, g.Nodes[i].Label(), got, want[i])
		}
	}
	x := f32(2, 2, 5, 5)
	x0 := x.Clone()
	w0 := g.Params["w"].Value.Clone()
	ref, err := g.Run(&Context{Context: NewContext(nil).Context, Observe: func(*Node, []*Tensor, []*Tensor) {}}, map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Run(nil, map[string]*Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range ref {
		if !SameShape(r.Shape, got[name].Shape) {
			t.Fatalf("%s: shape %v, want %v", name, got[name].Shape, r.Shape)
		}
		for i := range r.F32 {
			if r.F32[i] != got[name].F32[i] {
				t.Fatalf("%s[%d] = %v, want %v", name, i, got[name].F32[i], r.F32[i])
			}
		}
	}
	for i := range x.F32 {
		if x.F32[i] != x0.F32[i] {
			t.Fatal("graph input modified")
		}
	}
	for i, v := range g.Params["w"].Value.F32 {
		if v != w0.F32[i] {
			t.Fatal("parameter modified")
		}
	}
	// c3 is returned and read by a Relu: it must not be clamped.
	neg := false
	for _, v := range got["c3"].F32 {
		neg = neg || v < 0
	}
	if !neg {
		t.Error("graph output c3 has no negative value: overwritten by its Relu reader?")
	}
}
