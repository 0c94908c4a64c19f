package nn

import "fmt"

// ewBitOp selects a bitwise operation on integer tensors.
type ewBitOp int

const (
	ewBitAnd ewBitOp = iota
	ewBitOr
	ewBitXor
	ewShiftLeft
	ewShiftRight
)

var ewBitNames = [...]string{"BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitShift", "BitShift"}

// ewBitRun computes a bitwise op with broadcasting. Shifts are logical
// (BitShift is defined on unsigned types); counts of 64 or more give 0.
func ewBitRun(op ewBitOp, a, b *Tensor) (*Tensor, error) {
	name := ewBitNames[op]
	if a.DType != b.DType {
		return nil, fmt.Errorf("%s: input element types differ: %v and %v", name, a, b)
	}
	if !a.DType.IsInt() {
		return nil, fmt.Errorf("%s needs integer inputs, got %v", name, a.DType)
	}
	bc, err := ewNewBcast(a.Shape, b.Shape)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := New(a.DType, bc.out...)
	if bc.n == 0 {
		return out, nil
	}
	ewRun2(bc, 1, ewU64(out.I64), ewU64(a.I64), ewU64(b.I64), func(d, x, y []uint64, sa, sb int) {
		switch op {
		case ewBitAnd:
			for i := range d {
				d[i] = x[i*sa] & y[i*sb]
			}
		case ewBitOr:
			for i := range d {
				d[i] = x[i*sa] | y[i*sb]
			}
		case ewBitXor:
			for i := range d {
				d[i] = x[i*sa] ^ y[i*sb]
			}
		case ewShiftLeft:
			for i := range d {
				d[i] = x[i*sa] << y[i*sb]
			}
		case ewShiftRight:
			for i := range d {
				d[i] = x[i*sa] >> y[i*sb]
			}
		}
	})
	ewFinish(out)
	return out, nil
}

// ewBitNot computes BitwiseNot.
func ewBitNot(x *Tensor) (*Tensor, error) {
	if !x.DType.IsInt() {
		return nil, fmt.Errorf("BitwiseNot needs an integer input, got %v", x.DType)
	}
	out := New(x.DType, x.Shape...)
	for i, v := range x.I64 {
		out.I64[i] = ^v
	}
	ewFinish(out)
	return out, nil
}

func ewNewBitShift(n *Node) (Op, error) {
	var op ewBitOp
	switch d := n.AttrString("direction", ""); d {
	case "LEFT":
		op = ewShiftLeft
	case "RIGHT":
		op = ewShiftRight
	default:
		return nil, fmt.Errorf("BitShift: direction must be LEFT or RIGHT, got %q", d)
	}
	return ewNewBinary(func(a, b *Tensor) (*Tensor, error) { return ewBitRun(op, a, b) })(n)
}

func ewNewBitwise(op ewBitOp) func(n *Node) (Op, error) {
	return ewNewBinary(func(a, b *Tensor) (*Tensor, error) { return ewBitRun(op, a, b) })
}
