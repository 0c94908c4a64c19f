package nn

import (
	"fmt"
	"testing"
)

// TestNormFamilyNoPanic feeds every op of the family odd inputs (missing,
// scalar, empty, integer, mismatched) and requires an error or a result,
// never a panic.
func TestNormFamilyNoPanic(t *testing.T) {
	tensors := []*Tensor{
		nil,
		Scalar(2),
		New(Float32, 0),
		New(Float32, 2, 0, 3),
		New(Float32, 0, 3),
		normF32([]int{2, 3}, 1, 2, 3, 4, 5, 6),
		normF32([]int{1, 2, 2, 2}, 1, 2, 3, 4, 5, 6, 7, 8),
		normI64([]int{3}, 1, 2, 3),
		normI64([]int{1}, 5),
		normI64([]int{}, -1),
		{DType: Bool, Shape: []int{2}, Bool: []bool{true, false}},
		{DType: Float16, Shape: []int{2}, F32: []float32{1, 2}},
		{DType: Float64, Shape: []int{2, 1}, F64: []float64{1, 2}},
	}
	attrSets := [][]*Attr{
		nil,
		{normAI("axis", 5)},
		{normAI("axis", -1), normAI("keepdims", 0)},
		{normAInts("axes", 0, 7)},
		{normAI("num_groups", 2)},
		{normAI("training_mode", 1)},
	}
	ctxs := []*Context{NewContext(nil), {Context: NewContext(nil).Context, Training: true}}
	seen := map[string]bool{}
	for _, d := range normOps() {
		key := fmt.Sprintf("%s/%d", d.Type, d.Since)
		if seen[key] {
			continue
		}
		seen[key] = true
		for _, attrs := range attrSets {
			for _, nIn := range []int{1, 2, 3, 5} {
				for _, first := range tensors {
					for _, rest := range tensors[:7] {
						in := []*Tensor{first}
						for k := 1; k < nIn; k++ {
							in = append(in, rest)
						}
						for _, ctx := range ctxs {
							for _, nOut := range []int{1, 3} {
								func() {
									defer func() {
										if r := recover(); r != nil {
											t.Fatalf("%s opset %d attrs %d inputs %v outputs %d: panic %v", d.Type, d.Since, len(attrs), in, nOut, r)
										}
									}()
									n := &Node{OpType: d.Type, Opset: d.Since, Attrs: map[string]*Attr{}}
									for i := range in {
										n.Inputs = append(n.Inputs, fmt.Sprint("i", i))
									}
									for i := 0; i < nOut; i++ {
										n.Outputs = append(n.Outputs, fmt.Sprint("o", i))
									}
									for _, a := range attrs {
										n.Attrs[a.Name] = a
									}
									op, err := d.New(n)
									if err != nil {
										return
									}
									outs, err := op.Run(ctx, in)
									if err == nil && len(outs) != nOut {
										t.Fatalf("%s opset %d: %d outputs for %d", d.Type, d.Since, len(outs), nOut)
									}
								}()
							}
						}
					}
				}
			}
		}
	}
}
