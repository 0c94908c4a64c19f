package nn

import (
	"fmt"
	"math"
)

// poolOp implements MaxPool and AveragePool.
type poolOp struct {
	name         string
	max          bool
	attrs        convAttrs
	includePad   bool
	storageOrder int
	nOut         int
	// node is the graph node, the key of what a training tape records.
	node *Node
}

func poolNew(max bool) func(n *Node) (Op, error) {
	name := "AveragePool"
	if max {
		name = "MaxPool"
	}
	return func(n *Node) (Op, error) {
		a, err := convReadAttrs(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if a.kernel == nil {
			return nil, fmt.Errorf("%s: kernel_shape attribute is required", name)
		}
		return &poolOp{
			name:         name,
			max:          max,
			attrs:        a,
			includePad:   n.AttrInt("count_include_pad", 0) != 0,
			storageOrder: int(n.AttrInt("storage_order", 0)),
			nOut:         len(n.Outputs),
			node:         n,
		}, nil
	}
}

func (p *poolOp) Run(ctx *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("%s: needs input X", p.name)
	}
	x := in[0]
	if x.Rank() < 3 {
		return nil, fmt.Errorf("%s: X %v must have rank of at least 3", p.name, ShapeString(x.Shape))
	}
	st := x.DType.Storage()
	if st != StoreF32 && st != StoreF64 && !(p.max && st == StoreI64) {
		return nil, fmt.Errorf("%s: unsupported input type %v", p.name, x.DType)
	}
	geo, err := convMakeGeom(&p.attrs, x.Shape[2:], p.attrs.kernel)
	if err != nil {
		return nil, fmt.Errorf("%s: X %v: %w", p.name, ShapeString(x.Shape), err)
	}
	planes := x.Shape[0] * x.Shape[1]
	shape := append([]int{x.Shape[0], x.Shape[1]}, geo.outShape()...)
	y := ctx.arNew(x.DType, shape...) // both kernels write every element
	if !p.max {
		if y.F32 != nil {
			poolAverage(geo, planes, p.includePad, x.F32, y.F32)
			y.RoundToDType()
		} else {
			poolAverage(geo, planes, p.includePad, x.F64, y.F64)
		}
		return []*Tensor{y}, nil
	}
	var idx []int64
	var it *Tensor
	if p.nOut > 1 {
		it = New(Int64, shape...)
		idx = it.I64
	}
	switch st {
	case StoreF32:
		if idx == nil {
			// A training tape whose backward pass will differentiate this
			// node keeps the positions of the maxima.
			var arg []uint8
			if ctx != nil && ctx.tm != nil && ctx.tm.backward && ctx.tm.poolArg != nil && x.DType == Float32 {
				arg = make([]uint8, len(y.F32))
			}
			if !poolMax3x3s2F32(geo, planes, x.F32, y.F32, arg) {
				arg = nil
				poolMaxRows(geo, planes, x.F32, y.F32)
			}
			if arg != nil {
				ctx.tm.poolArg[p.node] = &tmPoolArg{x: tmKey(x), n: x.Len(), arg: arg}
			}
			y.RoundToDType()
			break
		}
		poolMax(geo, planes, p.storageOrder, x.F32, y.F32, idx)
		y.RoundToDType()
	case StoreF64:
		poolMax(geo, planes, p.storageOrder, x.F64, y.F64, idx)
	default:
		poolMax(geo, planes, p.storageOrder, x.I64, y.I64, idx)
	}
	if p.nOut > 1 {
		return []*Tensor{y, it}, nil
	}
	return []*Tensor{y}, nil
}

// poolMax computes max pooling; idx (optional) receives flattened argmax
// positions (row-major, or column-major within a plane when storageOrder=1).
func poolMax[T float32 | float64 | int64](g *convGeom, planes, storageOrder int, x, y []T, idx []int64) {
	iD, iH, iW := g.in[0], g.in[1], g.in[2]
	oD, oH, oW := g.out[0], g.out[1], g.out[2]
	gemmParallel(planes, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xc := x[p*g.inSize:][:g.inSize]
			yc := y[p*g.outSz:][:g.outSz]
			o := 0
			for od := 0; od < oD; od++ {
				for oh := 0; oh < oH; oh++ {
					for ow := 0; ow < oW; ow++ {
						var best T
						bi := -1
						for kd := 0; kd < g.k[0]; kd++ {
							id := od*g.s[0] - g.pb[0] + kd*g.d[0]
							if id < 0 || id >= iD {
								continue
							}
							for kh := 0; kh < g.k[1]; kh++ {
								ih := oh*g.s[1] - g.pb[1] + kh*g.d[1]
								if ih < 0 || ih >= iH {
									continue
								}
								base := (id*iH + ih) * iW
								for kw := 0; kw < g.k[2]; kw++ {
									iw := ow*g.s[2] - g.pb[2] + kw*g.d[2]
									if iw < 0 || iw >= iW {
										continue
									}
									v := xc[base+iw]
									if bi < 0 || v > best || v != v && best == best {
										best, bi = v, base+iw
									}
								}
							}
						}
						if bi < 0 {
							// Window entirely in padding.
							var z T
							switch any(z).(type) {
							case float32:
								best = any(float32(math.Inf(-1))).(T)
							case float64:
								best = any(math.Inf(-1)).(T)
							}
						}
						yc[o] = best
						if idx != nil {
							k := bi
							if bi >= 0 && storageOrder == 1 {
								id, rem := bi/(iH*iW), bi%(iH*iW)
								ih, iw := rem/iW, rem%iW
								k = id + ih*iD + iw*iD*iH
							}
							idx[p*g.outSz+o] = int64(p*g.inSize + k)
						}
						o++
					}
				}
			}
		}
	})
}

// poolAverage computes average pooling.
func poolAverage[T float32 | float64](g *convGeom, planes int, includePad bool, x, y []T) {
	iD, iH, iW := g.in[0], g.in[1], g.in[2]
	oD, oH, oW := g.out[0], g.out[1], g.out[2]
	// lim returns the bounds positions must lie in to count.
	loD, hiD, loH, hiH, loW, hiW := 0, iD, 0, iH, 0, iW
	if includePad {
		loD, hiD = -g.pb[0], iD+g.pe[0]
		loH, hiH = -g.pb[1], iH+g.pe[1]
		loW, hiW = -g.pb[2], iW+g.pe[2]
	}
	gemmParallel(planes, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xc := x[p*g.inSize:][:g.inSize]
			yc := y[p*g.outSz:][:g.outSz]
			o := 0
			for od := 0; od < oD; od++ {
				for oh := 0; oh < oH; oh++ {
					for ow := 0; ow < oW; ow++ {
						var sum T
						cnt := 0
						for kd := 0; kd < g.k[0]; kd++ {
							id := od*g.s[0] - g.pb[0] + kd*g.d[0]
							if id < loD || id >= hiD {
								continue
							}
							for kh := 0; kh < g.k[1]; kh++ {
								ih := oh*g.s[1] - g.pb[1] + kh*g.d[1]
								if ih < loH || ih >= hiH {
									continue
								}
								for kw := 0; kw < g.k[2]; kw++ {
									iw := ow*g.s[2] - g.pb[2] + kw*g.d[2]
									if iw < loW || iw >= hiW {
										continue
									}
									cnt++
									if id >= 0 && id < iD && ih >= 0 && ih < iH && iw >= 0 && iw < iW {
										sum += xc[(id*iH+ih)*iW+iw]
									}
								}
							}
						}
						if cnt > 0 {
							yc[o] = sum / T(cnt)
						} else {
							yc[o] = 0
						}
						o++
					}
				}
			}
		}
	})
}

// poolGlobal implements GlobalAveragePool (max=false) and GlobalMaxPool.
func poolGlobal(max bool) OpFunc {
	name := "GlobalAveragePool"
	if max {
		name = "GlobalMaxPool"
	}
	return func(ctx *Context, in []*Tensor) ([]*Tensor, error) {
		if len(in) < 1 || in[0] == nil {
			return nil, fmt.Errorf("%s: needs input X", name)
		}
		x := in[0]
		if x.Rank() < 2 {
			return nil, fmt.Errorf("%s: X %v must have rank of at least 2", name, ShapeString(x.Shape))
		}
		shape := []int{x.Shape[0], x.Shape[1]}
		for range x.Shape[2:] {
			shape = append(shape, 1)
		}
		planes := x.Shape[0] * x.Shape[1]
		size := NumElements(x.Shape[2:])
		var y *Tensor
		if size > 0 {
			y = ctx.arNew(x.DType, shape...) // one value per plane
		} else {
			y = New(x.DType, shape...)
		}
		switch x.DType.Storage() {
		case StoreF32:
			poolGlobalRun(max, planes, size, x.F32, y.F32)
			y.RoundToDType()
		case StoreF64:
			poolGlobalRun(max, planes, size, x.F64, y.F64)
		default:
			return nil, fmt.Errorf("%s: unsupported input type %v", name, x.DType)
		}
		return []*Tensor{y}, nil
	}
}

func poolGlobalRun[T float32 | float64](max bool, planes, size int, x, y []T) {
	if size == 0 {
		return
	}
	gemmParallel(planes, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xs := x[p*size : (p+1)*size]
			if max {
				m := xs[0]
				for _, v := range xs[1:] {
					if v > m || v != v {
						m = v
					}
				}
				y[p] = m
			} else {
				var s float64
				for _, v := range xs {
					s += float64(v)
				}
				y[p] = T(s / float64(size))
			}
		}
	})
}

// poolLRN implements LRN (local response normalisation across channels).
type poolLRN struct {
	alpha, beta, bias float64
	size              int
}

func poolLRNNew(n *Node) (Op, error) {
	size := int(n.AttrInt("size", 0))
	if size < 1 {
		return nil, fmt.Errorf("LRN: size attribute %d must be positive", size)
	}
	return &poolLRN{
		alpha: float64(n.AttrFloat("alpha", 1e-4)),
		beta:  float64(n.AttrFloat("beta", 0.75)),
		bias:  float64(n.AttrFloat("bias", 1)),
		size:  size,
	}, nil
}

func (l *poolLRN) Run(_ *Context, in []*Tensor) ([]*Tensor, error) {
	if len(in) < 1 || in[0] == nil {
		return nil, fmt.Errorf("LRN: needs input X")
	}
	x := in[0]
	if x.Rank() < 2 {
		return nil, fmt.Errorf("LRN: X %v must have rank of at least 2", ShapeString(x.Shape))
	}
	N, C := x.Shape[0], x.Shape[1]
	S := NumElements(x.Shape[2:])
	y := New(x.DType, x.Shape...)
	switch x.DType.Storage() {
	case StoreF32:
		poolLRNRun(l, N, C, S, x.F32, y.F32)
		y.RoundToDType()
	case StoreF64:
		poolLRNRun(l, N, C, S, x.F64, y.F64)
	default:
		return nil, fmt.Errorf("LRN: unsupported input type %v", x.DType)
	}
	return []*Tensor{y}, nil
}

func poolLRNRun[T float32 | float64](l *poolLRN, N, C, S int, x, y []T) {
	before := (l.size - 1) / 2
	after := l.size - 1 - before
	scale := l.alpha / float64(l.size)
	gemmParallel(N*C, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			n, c := p/C, p%C
			c0, c1 := c-before, c+after
			if c0 < 0 {
				c0 = 0
			}
			if c1 > C-1 {
				c1 = C - 1
			}
			base := n * C * S
			for s := 0; s < S; s++ {
				var sq float64
				for cc := c0; cc <= c1; cc++ {
					v := float64(x[base+cc*S+s])
					sq += v * v
				}
				i := base + c*S + s
				y[i] = T(float64(x[i]) / math.Pow(l.bias+scale*sq, l.beta))
			}
		}
	})
}

// poolMaxRows is max pooling without indices, computed row-wise: each
// output row is the running maximum of strided slices of the input rows
// its windows cover, so the inner loop has no bounds tests.
func poolMaxRows[T float32 | float64](g *convGeom, planes int, x, y []T) {
	iD, iH, iW := g.in[0], g.in[1], g.in[2]
	oD, oH, oW := g.out[0], g.out[1], g.out[2]
	s := g.s[2]
	kw := g.k[2]
	tapLo, tapHi, tapOff := make([]int, kw), make([]int, kw), make([]int, kw)
	for k := 0; k < kw; k++ {
		tapOff[k] = k*g.d[2] - g.pb[2]
		tapLo[k], tapHi[k] = convValidRange(tapOff[k], s, iW, oW)
	}
	var negInf T
	switch any(negInf).(type) {
	case float32:
		negInf = any(float32(math.Inf(-1))).(T)
	case float64:
		negInf = any(math.Inf(-1)).(T)
	}
	gemmParallel(planes, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xc := x[p*g.inSize:][:g.inSize]
			yc := y[p*g.outSz:][:g.outSz]
			for od := 0; od < oD; od++ {
				for oh := 0; oh < oH; oh++ {
					yr := yc[(od*oH+oh)*oW:][:oW]
					for i := range yr {
						yr[i] = negInf
					}
					for kd := 0; kd < g.k[0]; kd++ {
						id := od*g.s[0] - g.pb[0] + kd*g.d[0]
						if id < 0 || id >= iD {
							continue
						}
						for kh := 0; kh < g.k[1]; kh++ {
							ih := oh*g.s[1] - g.pb[1] + kh*g.d[1]
							if ih < 0 || ih >= iH {
								continue
							}
							xr := xc[(id*iH+ih)*iW:][:iW]
							for k := 0; k < kw; k++ {
								l, h := tapLo[k], tapHi[k]
								if l >= h {
									continue
								}
								ys := yr[l:h]
								if s == 1 {
									xs := xr[l+tapOff[k] : h+tapOff[k]]
									for i, v := range xs {
										ys[i] = max(ys[i], v)
									}
									continue
								}
								xs := xr[l*s+tapOff[k] : (h-1)*s+tapOff[k]+1]
								for i := range ys {
									ys[i] = max(ys[i], xs[i*s])
								}
							}
						}
					}
				}
			}
		}
	})
}
