//go:build amd64 && !purego

package actasm

//go:noescape
func clampAVX2(d, x *float32, n int, lo, hi float32)

//go:noescape
func sigmoidAVX2(d, x *float32, n int) int

// Clamp sets d[i] = min(max(x[i], lo), hi) (NaN passes through) for the
// longest prefix of d whose length is a multiple of 8, and returns that
// length. len(x) must be at least len(d).
func Clamp(d, x []float32, lo, hi float32) int {
	n := len(d) &^ 7
	if n == 0 {
		return 0
	}
	x = x[:n]
	clampAVX2(&d[0], &x[0], n, lo, hi)
	return n
}

// Sigmoid sets d[i] = 1/(1+e^-x[i]) for a prefix of d whose length is a
// multiple of 8, stopping before the first block of eight holding a NaN or
// an |x| > 87, and returns the prefix length. len(x) must be at least
// len(d).
func Sigmoid(d, x []float32) int {
	n := len(d) &^ 7
	if n == 0 {
		return 0
	}
	x = x[:n]
	return sigmoidAVX2(&d[0], &x[0], n)
}

//go:noescape
func arithVVAVX2(op int, d, a, b *float32, n int)

//go:noescape
func arithVSAVX2(op int, d, a *float32, s float32, n int)

// Arithmetic operations of Arith.
const (
	OpAdd = iota
	OpSub
	OpMul
	OpDiv
)

// Arith sets d[i] = a[i] op b[i] for the longest prefix of d whose length
// is a multiple of 8, and returns that length; with len(b) == 1, b[0] is
// the second operand of every element. len(a), and len(b) unless 1, must be
// at least len(d). a or b may be d itself.
func Arith(op int, d, a, b []float32) int {
	n := len(d) &^ 7
	if n == 0 {
		return 0
	}
	a = a[:n]
	if len(b) == 1 {
		arithVSAVX2(op, &d[0], &a[0], b[0], n)
		return n
	}
	b = b[:n]
	arithVVAVX2(op, &d[0], &a[0], &b[0], n)
	return n
}
