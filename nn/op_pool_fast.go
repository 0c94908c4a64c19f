package nn

import (
	"math"

	"github.com/graftml/graft/nn/internal/gemmasm"
)

// poolMax3x3s2F32 is max pooling with a 3×3 window and stride 2 (the
// ResNet stem's), float32, 2-D, no dilation: each output takes the maximum
// of its (up to) nine inputs in registers, instead of updating the output
// row once per tap. It reports false, doing nothing, for other geometries.
// Like the general kernel it uses the builtin max (NaN propagates).
//
// With arg (one per output), it also records which element of each window
// the backward pass routes the gradient to, as poolArgMax3x3s2 encodes it.
func poolMax3x3s2F32(g *convGeom, planes int, x, y []float32, arg []uint8) bool {
	if g.in[0] != 1 || g.k != [3]int{1, 3, 3} || g.s != [3]int{1, 2, 2} || g.d != [3]int{1, 1, 1} {
		return false
	}
	iH, iW := g.in[1], g.in[2]
	oH, oW := g.out[1], g.out[2]
	pt, pl := g.pb[1], g.pb[2]
	// Interior columns: all three taps 2ow-pl+{0,1,2} inside the row.
	owLo := (pl + 1) / 2
	owHi := 0
	if iW-3+pl >= 0 {
		owHi = min(oW, (iW-3+pl)/2+1)
	}
	if owHi < owLo {
		owHi = owLo
	}
	negInf := float32(math.Inf(-1))
	gemmParallel(planes, func(lo, hi int) {
		var rows [3][]float32
		var rkh [3]int // the window row of rows[r]
		for p := lo; p < hi; p++ {
			xc := x[p*g.inSize:][:g.inSize]
			yc := y[p*g.outSz:][:g.outSz]
			for oh := 0; oh < oH; oh++ {
				nr := 0
				for kh := 0; kh < 3; kh++ {
					if ih := 2*oh - pt + kh; ih >= 0 && ih < iH {
						rows[nr], rkh[nr] = xc[ih*iW:(ih+1)*iW], kh
						nr++
					}
				}
				yr := yc[oh*oW : (oh+1)*oW]
				var ar []uint8
				if arg != nil {
					ar = arg[p*g.outSz+oh*oW:][:oW]
				}
				edge := func(ow int) {
					m := negInf
					for r := 0; r < nr; r++ {
						for kw := 0; kw < 3; kw++ {
							if iw := 2*ow - pl + kw; iw >= 0 && iw < iW {
								m = max(m, rows[r][iw])
							}
						}
					}
					yr[ow] = m
					if ar == nil {
						return
					}
					ar[ow] = poolArgNone
					for r := nr - 1; r >= 0; r-- {
						for kw := 2; kw >= 0; kw-- {
							if iw := 2*ow - pl + kw; iw >= 0 && iw < iW && rows[r][iw] == m {
								ar[ow] = uint8(rkh[r]*3 + kw)
							}
						}
					}
				}
				for ow := 0; ow < min(owLo, oW); ow++ {
					edge(ow)
				}
				switch nr {
				case 3:
					r0, r1, r2 := rows[0], rows[1], rows[2]
					ow0 := owLo
					if gemmasm.OK512 && owHi > owLo {
						// AVX-512: 16 windows at a time.
						b := 2*owLo - pl
						var as []uint8
						if ar != nil {
							as = ar[owLo:owHi]
						}
						ow0 += gemmasm.MaxPool3x3s2(yr[owLo:owHi], as, r0[b:], r1[b:], r2[b:])
					}
					if ar != nil {
						for ow := ow0; ow < owHi; ow++ {
							b := 2*ow - pl
							a0, a1, a2 := r0[b:b+3], r1[b:b+3], r2[b:b+3]
							m := max(a0[0], a0[1], a0[2], a1[0], a1[1], a1[2], a2[0], a2[1], a2[2])
							yr[ow] = m
							ar[ow] = uint8(poolArg9(m, a0, a1, a2))
						}
						break
					}
					for ow := ow0; ow < owHi; ow++ {
						b := 2*ow - pl
						a0, a1, a2 := r0[b:b+3], r1[b:b+3], r2[b:b+3]
						m := max(a0[0], a0[1], a0[2], a1[0], a1[1], a1[2], a2[0], a2[1], a2[2])
						yr[ow] = m
					}
				case 2:
					r0, r1 := rows[0], rows[1]
					if ar != nil {
						for ow := owLo; ow < owHi; ow++ {
							b := 2*ow - pl
							a0, a1 := r0[b:b+3], r1[b:b+3]
							m := max(a0[0], a0[1], a0[2], a1[0], a1[1], a1[2])
							yr[ow] = m
							k := poolArgNone
							if c := poolArg3(m, a1); c < 3 {
								k = rkh[1]*3 + c
							}
							if c := poolArg3(m, a0); c < 3 {
								k = rkh[0]*3 + c
							}
							ar[ow] = uint8(k)
						}
						break
					}
					for ow := owLo; ow < owHi; ow++ {
						b := 2*ow - pl
						a0, a1 := r0[b:b+3], r1[b:b+3]
						yr[ow] = max(a0[0], a0[1], a0[2], a1[0], a1[1], a1[2])
					}
				default:
					for ow := owLo; ow < owHi; ow++ {
						edge(ow)
					}
				}
				for ow := max(owHi, owLo); ow < oW; ow++ {
					edge(ow)
				}
			}
		}
	})
	return true
}

// poolArgNone is the recorded window position of a 3×3 max-pooling window
// whose maximum no element equals (a NaN): the backward pass scans it.
const poolArgNone = 255

// poolArg9 returns the window position kh·3+kw of the first element of a
// full 3×3 window (rows a0, a1, a2 in order, then columns) equal to m,
// poolArgNone when none is.
func poolArg9[T float32 | float64](m T, a0, a1, a2 []T) int {
	k := poolArgNone
	if c := poolArg3(m, a2); c < 3 {
		k = 6 + c
	}
	if c := poolArg3(m, a1); c < 3 {
		k = 3 + c
	}
	if c := poolArg3(m, a0); c < 3 {
		k = c
	}
	return k
}

// poolArg3 returns the index of the first of a[0:3] equal to m, 3 when
// none is. Its conditional assignments, last to first, compile to
// conditional moves: where the maximum of random data lies defeats a
// branch predictor. (The pooling loops combine three rows the same way.)
func poolArg3[T float32 | float64](m T, a []T) int {
	a = a[:3]
	k := 3
	if a[2] == m {
		k = 2
	}
	if a[1] == m {
		k = 1
	}
	if a[0] == m {
		k = 0
	}
	return k
}
