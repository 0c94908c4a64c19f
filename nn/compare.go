package nn

import (
	"fmt"
	"math"
)

// Diff summarizes how far a computed tensor is from a reference.
type Diff struct {
	// MaxAbs is the largest absolute difference.
	MaxAbs float64
	// MaxRel is the largest difference relative to the reference magnitude
	// (|got-want| / |want|, over elements with want != 0).
	MaxRel float64
	// Bad counts elements outside the tolerance given to Compare.
	Bad int
	// First is the flat index of the first element outside tolerance, or -1.
	First int
}

// Compare checks got against want element by element: an element passes
// when |got-want| <= atol + rtol*|want|; NaNs must match NaNs and
// infinities must be equal. Types and shapes must agree.
func Compare(got, want *Tensor, rtol, atol float64) (Diff, error) {
	d := Diff{First: -1}
	if got.DType != want.DType {
		return d, fmt.Errorf("element type %v, want %v", got.DType, want.DType)
	}
	if !SameShape(got.Shape, want.Shape) {
		return d, fmt.Errorf("shape %s, want %s", ShapeString(got.Shape), ShapeString(want.Shape))
	}
	n := want.Len()
	for i := 0; i < n; i++ {
		var g, w float64
		if got.DType.Storage() == StoreI64 && got.DType != Uint64 {
			diff := got.I64[i] - want.I64[i]
			if diff != 0 {
				d.Bad++
				if d.First < 0 {
					d.First = i
				}
				ad := math.Abs(float64(diff))
				d.MaxAbs = math.Max(d.MaxAbs, ad)
				if want.I64[i] != 0 {
					d.MaxRel = math.Max(d.MaxRel, ad/math.Abs(float64(want.I64[i])))
				}
			}
			continue
		}
		g, w = got.Float64At(i), want.Float64At(i)
		if math.IsNaN(w) || math.IsNaN(g) {
			if math.IsNaN(w) != math.IsNaN(g) {
				d.Bad++
				if d.First < 0 {
					d.First = i
				}
			}
			continue
		}
		if math.IsInf(w, 0) || math.IsInf(g, 0) {
			if g != w {
				d.Bad++
				d.MaxAbs = math.Inf(1)
				if d.First < 0 {
					d.First = i
				}
			}
			continue
		}
		ad := math.Abs(g - w)
		d.MaxAbs = math.Max(d.MaxAbs, ad)
		if w != 0 {
			d.MaxRel = math.Max(d.MaxRel, ad/math.Abs(w))
		}
		if ad > atol+rtol*math.Abs(w) {
			d.Bad++
			if d.First < 0 {
				d.First = i
			}
		}
	}
	return d, nil
}
