package nn

import "fmt"

// BroadcastShapes returns the numpy-style broadcast of the given shapes.
func BroadcastShapes(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		if len(s) > rank {
			rank = len(s)
		}
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			switch {
			case d == out[off+i]:
			case out[off+i] == 1:
				out[off+i] = d
			case d == 1:
			default:
				return nil, fmt.Errorf("shapes %v cannot be broadcast together", shapesString(shapes))
			}
		}
	}
	return out, nil
}

func shapesString(shapes [][]int) string {
	s := ""
	for i, sh := range shapes {
		if i > 0 {
			s += " and "
		}
		s += ShapeString(sh)
	}
	return s
}

// BroadcastStrides returns the element strides that read a tensor of shape
// `shape` as if it had the broadcast shape `out`: 0 along broadcast axes.
func BroadcastStrides(shape, out []int) []int {
	st := make([]int, len(out))
	off := len(out) - len(shape)
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 {
			st[off+i] = acc
		}
		acc *= shape[i]
	}
	return st
}

// BroadcastIndex fills idx[k] with, for every flat position of `out`, the
// flat index into a tensor of shape `shape` broadcast to `out`.
func BroadcastIndex(shape, out []int) []int {
	n := NumElements(out)
	idx := make([]int, n)
	if SameShape(shape, out) {
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	st := BroadcastStrides(shape, out)
	rank := len(out)
	coord := make([]int, rank)
	off := 0
	for i := 0; i < n; i++ {
		idx[i] = off
		for d := rank - 1; d >= 0; d-- {
			coord[d]++
			off += st[d]
			if coord[d] < out[d] {
				break
			}
			off -= st[d] * coord[d]
			coord[d] = 0
		}
	}
	return idx
}
