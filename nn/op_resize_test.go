package nn

import (
	"math"
	"testing"
)

func rsSeq(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i + 1)
	}
	return v
}

func TestResizeNearest(t *testing.T) {
	x := shpF([]int{1, 1, 2, 2}, 1, 2, 3, 4)
	up := []float64{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}
	sc := shpF([]int{4}, 1, 1, 2, 3)
	y := shpMust(t, shpTestNode("Resize", 13, 1), x, nil, sc)[0]
	shpExpect(t, "upsample nearest", y, []int{1, 1, 4, 6}, up)
	y = shpMust(t, shpTestNode("Resize", 10, 1), x, sc)[0]
	shpExpect(t, "resize-10 nearest", y, []int{1, 1, 4, 6}, up)
	y = shpMust(t, shpTestNode("Upsample", 9, 1), x, sc)[0]
	shpExpect(t, "upsample-9", y, []int{1, 1, 4, 6}, up)
	y = shpMust(t, shpTestNode("Upsample", 7, 1, &Attr{Name: "scales", Type: AttrFloats, Floats: []float32{1, 1, 2, 3}}), x)[0]
	shpExpect(t, "upsample-7", y, []int{1, 1, 4, 6}, up)
	// Integer and bool data keep their type in nearest mode.
	xi := shpI([]int{1, 1, 2, 2}, 1, 2, 3, 4)
	y = shpMust(t, shpTestNode("Resize", 13, 1), xi, nil, sc)[0]
	if y.DType != Int64 {
		t.Fatal("dtype lost")
	}
	shpExpect(t, "int nearest", y, []int{1, 1, 4, 6}, up)

	x2 := shpF([]int{1, 1, 2, 4}, rsSeq(8)...)
	y = shpMust(t, shpTestNode("Resize", 13, 1), x2, nil, shpF([]int{4}, 1, 1, 0.6, 0.6))[0]
	shpExpect(t, "downsample nearest", y, []int{1, 1, 1, 2}, []float64{1, 3})

	y = shpMust(t, shpTestNode("Resize", 13, 1), x, nil, nil, shpIv(1, 1, 7, 8))[0]
	want := []float64{}
	for r := 0; r < 7; r++ {
		a, b := 1.0, 2.0
		if r >= 4 {
			a, b = 3, 4
		}
		want = append(want, a, a, a, a, b, b, b, b)
	}
	shpExpect(t, "sizes nearest", y, []int{1, 1, 7, 8}, want)

	// Opset 18 axes + sizes.
	y = shpMust(t, shpTestNode("Resize", 18, 1, shpAInts("axes", 3, 2)), x, nil, nil, shpIv(8, 7))[0]
	shpExpect(t, "axes nearest", y, []int{1, 1, 7, 8}, want)

	// asymmetric + floor doubles every pixel.
	y = shpMust(t, shpTestNode("Resize", 13, 1, shpAStr("coordinate_transformation_mode", "asymmetric"), shpAStr("nearest_mode", "floor")), x, nil, shpF([]int{4}, 1, 1, 2, 2))[0]
	shpExpect(t, "asym floor", y, []int{1, 1, 4, 4}, []float64{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4})
}

func TestResizeLinear(t *testing.T) {
	x := shpF([]int{1, 1, 2, 2}, 1, 2, 3, 4)
	sc := shpF([]int{4}, 1, 1, 2, 2)
	y := shpMust(t, shpTestNode("Resize", 13, 1, shpAStr("mode", "linear")), x, nil, sc)[0]
	shpExpect(t, "upsample linear", y, []int{1, 1, 4, 4}, []float64{
		1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4})
	y = shpMust(t, shpTestNode("Resize", 13, 1, shpAStr("mode", "linear"), shpAStr("coordinate_transformation_mode", "align_corners")), x, nil, sc)[0]
	shpExpect(t, "align corners", y, []int{1, 1, 4, 4}, []float64{
		1, 4.0 / 3, 5.0 / 3, 2, 5.0 / 3, 2, 7.0 / 3, 8.0 / 3, 7.0 / 3, 8.0 / 3, 3, 10.0 / 3, 3, 10.0 / 3, 11.0 / 3, 4})
	x2 := shpF([]int{1, 1, 2, 4}, rsSeq(8)...)
	y = shpMust(t, shpTestNode("Resize", 13, 1, shpAStr("mode", "linear")), x2, nil, shpF([]int{4}, 1, 1, 0.6, 0.6))[0]
	shpExpect(t, "downsample linear", y, []int{1, 1, 1, 2}, []float64{8.0 / 3, 13.0 / 3})
	// Upsample-9 linear (asymmetric): 1-D [1,3] x2 -> [1,2,3,3].
	y = shpMust(t, shpTestNode("Upsample", 9, 1, shpAStr("mode", "linear")), shpF([]int{1, 2}, 1, 3), shpF([]int{2}, 1, 2))[0]
	shpExpect(t, "upsample-9 linear", y, []int{1, 4}, []float64{1, 2, 3, 3})

	x4 := shpF([]int{1, 1, 4, 4}, rsSeq(16)...)
	roi := shpF([]int{8}, 0, 0, 0.4, 0.6, 1, 1, 0.6, 0.8)
	y = shpMust(t, shpTestNode("Resize", 13, 1, shpAStr("mode", "linear"), shpAStr("coordinate_transformation_mode", "tf_crop_and_resize")), x4, roi, nil, shpIv(1, 1, 3, 3))[0]
	shpExpect(t, "crop and resize", y, []int{1, 1, 3, 3}, []float64{7.6, 7.9, 8.2, 8.8, 9.1, 9.4, 10, 10.3, 10.6})
	roi = shpF([]int{8}, 0, 0, 0.4, 0.6, 1, 1, 1.2, 1.7)
	y = shpMust(t, shpTestNode("Resize", 13, 1, shpAStr("mode", "linear"), shpAStr("coordinate_transformation_mode", "tf_crop_and_resize"), shpAFloat("extrapolation_value", 10)), x4, roi, nil, shpIv(1, 1, 3, 3))[0]
	shpExpect(t, "extrapolation", y, []int{1, 1, 3, 3}, []float64{7.6, 10, 10, 12.4, 10, 10, 10, 10, 10})

	y = shpMust(t, shpTestNode("Resize", 18, 1, shpAStr("mode", "linear"), shpAInt("antialias", 1)), x4, nil, shpF([]int{4}, 1, 1, 0.6, 0.6))[0]
	shpExpect(t, "antialias", y, []int{1, 1, 2, 2}, []float64{2.875, 4.5, 9.375, 11})

	// Integer linear resize truncates like onnxruntime: [0,1,2,-3] x2.5
	// (half_pixel) is [0,.1,.5,.9,1.3,1.7,1.5,-.5,-2.5,-3] in float.
	xi := &Tensor{DType: Int8, Shape: []int{4}, I64: []int64{0, 1, 2, -3}}
	y = shpMust(t, shpTestNode("Resize", 13, 1, shpAStr("mode", "linear")), xi, nil, shpF([]int{1}, 2.5))[0]
	if y.DType != Int8 {
		t.Fatal("dtype lost")
	}
	shpExpect(t, "int8 linear", y, []int{10}, []float64{0, 0, 0, 0, 1, 1, 1, 0, -2, -3})
	xb := &Tensor{DType: Bool, Shape: []int{2}, Bool: []bool{true, false}}
	_, err := shpRunNode(t, shpTestNode("Resize", 13, 1, shpAStr("mode", "linear")), xb, nil, shpF([]int{1}, 2))
	shpWantErr(t, err, "numeric input")
	_, err = shpRunNode(t, shpTestNode("Resize", 13, 1), x, nil, shpF([]int{3}, 1, 2, 2))
	shpWantErr(t, err, "scales")
}

func TestResizeCubic(t *testing.T) {
	x4 := shpF([]int{1, 1, 4, 4}, rsSeq(16)...)
	y := shpMust(t, shpTestNode("Resize", 13, 1, shpAStr("mode", "cubic")), x4, nil, shpF([]int{4}, 1, 1, 2, 2))[0]
	shpExpect(t, "upsample cubic", y, []int{1, 1, 8, 8}, []float64{
		0.47265625, 0.76953125, 1.24609375, 1.87500000, 2.28125000, 2.91015625, 3.38671875, 3.68359375,
		1.66015625, 1.95703125, 2.43359375, 3.06250000, 3.46875000, 4.09765625, 4.57421875, 4.87109375})
	y = shpMust(t, shpTestNode("Resize", 13, 1, shpAStr("mode", "cubic")), x4, nil, shpF([]int{4}, 1, 1, 0.8, 0.8))[0]
	shpExpect(t, "downsample cubic", y, []int{1, 1, 3, 3}, []float64{
		1.47119141, 2.78125, 4.08251953, 6.71142578, 8.02148438, 9.32275391, 11.91650391, 13.2265625, 14.52783203})
}

// TestResizeLargeParallel checks the parallel paths against a direct
// bilinear / nearest formula.
func TestResizeLargeParallel(t *testing.T) {
	const C, H, W = 3, 100, 120
	x := New(Float32, 1, C, H, W)
	for i := range x.F32 {
		x.F32[i] = float32((i*7919)%1000) / 100
	}
	y := shpMust(t, shpTestNode("Resize", 13, 1, shpAStr("mode", "linear")), x, nil, shpF([]int{4}, 1, 1, 2, 2))[0]
	if !SameShape(y.Shape, []int{1, C, 2 * H, 2 * W}) {
		t.Fatalf("shape %v", y.Shape)
	}
	src := func(c, h, w int) float64 { return float64(x.F32[(c*H+h)*W+w]) }
	coord := func(o, n int) (int, int, float64) {
		v := (float64(o)+0.5)/2 - 0.5
		v = max(0, min(v, float64(n-1)))
		i0 := int(v)
		return i0, min(i0+1, n-1), v - float64(i0)
	}
	for c := 0; c < C; c++ {
		for h := 0; h < 2*H; h++ {
			h0, h1, fh := coord(h, H)
			for w := 0; w < 2*W; w++ {
				w0, w1, fw := coord(w, W)
				want := (1-fh)*((1-fw)*src(c, h0, w0)+fw*src(c, h0, w1)) + fh*((1-fw)*src(c, h1, w0)+fw*src(c, h1, w1))
				got := float64(y.F32[(c*2*H+h)*2*W+w])
				if d := got - want; d > 1e-4 || d < -1e-4 {
					t.Fatalf("linear at %d,%d,%d: %v want %v", c, h, w, got, want)
				}
			}
		}
	}
	y = shpMust(t, shpTestNode("Resize", 13, 1, shpAStr("coordinate_transformation_mode", "asymmetric"), shpAStr("nearest_mode", "floor")), x, nil, shpF([]int{4}, 1, 1, 2, 3))[0]
	for c := 0; c < C; c++ {
		for h := 0; h < 2*H; h++ {
			for w := 0; w < 3*W; w++ {
				if y.F32[(c*2*H+h)*3*W+w] != x.F32[(c*H+h/2)*W+w/3] {
					t.Fatalf("nearest at %d,%d,%d", c, h, w)
				}
			}
		}
	}
}

func TestShapeLargeParallel(t *testing.T) {
	const A, B, C = 64, 50, 40
	x := New(Float64, A, B, C)
	for i := range x.F64 {
		x.F64[i] = float64(i)
	}
	for _, perm := range [][]int{{2, 0, 1}, {1, 0, 2}, {0, 2, 1}, {2, 1, 0}} {
		y := shpMust(t, shpTestNode("Transpose", 13, 1, shpAInts("perm", int64(perm[0]), int64(perm[1]), int64(perm[2]))), x)[0]
		st := Strides(x.Shape)
		os := []int{x.Shape[perm[0]], x.Shape[perm[1]], x.Shape[perm[2]]}
		for i := 0; i < os[0]; i++ {
			for j := 0; j < os[1]; j++ {
				for k := 0; k < os[2]; k++ {
					want := x.F64[i*st[perm[0]]+j*st[perm[1]]+k*st[perm[2]]]
					if y.F64[(i*os[1]+j)*os[2]+k] != want {
						t.Fatalf("perm %v wrong at %d,%d,%d", perm, i, j, k)
					}
				}
			}
		}
	}
	// Reversed slice with step -3 on every axis.
	y := shpMust(t, shpTestNode("Slice", 13, 1), x, shpIv(-1, -1, -1), shpIv(math.MinInt64, math.MinInt64, math.MinInt64), shpIv(0, 1, 2), shpIv(-3, -3, -3))[0]
	if !SameShape(y.Shape, []int{22, 17, 14}) {
		t.Fatalf("slice shape %v", y.Shape)
	}
	for i := 0; i < 22; i++ {
		for j := 0; j < 17; j++ {
			for k := 0; k < 14; k++ {
				want := float64(((A-1-3*i)*B+(B-1-3*j))*C + (C - 1 - 3*k))
				if y.F64[(i*17+j)*14+k] != want {
					t.Fatalf("slice wrong at %d,%d,%d", i, j, k)
				}
			}
		}
	}
}

func TestResizeCoordinateModes(t *testing.T) {
	x := shpF([]int{4}, 0, 10, 20, 30)
	// tf_half_pixel_for_nn: x_orig = (o+0.5)/2, clamped to [0,3].
	y := shpMust(t, shpTestNode("Resize", 13, 1, shpAStr("mode", "linear"), shpAStr("coordinate_transformation_mode", "tf_half_pixel_for_nn")), x, nil, shpF([]int{1}, 2))[0]
	shpExpect(t, "tf_half_pixel_for_nn", y, []int{8}, []float64{2.5, 7.5, 12.5, 17.5, 22.5, 27.5, 30, 30})
	// pytorch_half_pixel with one output element reads x_orig = 0.
	y = shpMust(t, shpTestNode("Resize", 13, 1, shpAStr("mode", "linear"), shpAStr("coordinate_transformation_mode", "pytorch_half_pixel")), x, nil, nil, shpIv(1))[0]
	shpExpect(t, "pytorch_half_pixel", y, []int{1}, []float64{0})
	// half_pixel_symmetric, scale 1.7: 6 outputs, offset 2*(1-6/6.8).
	y = shpMust(t, shpTestNode("Resize", 19, 1, shpAStr("mode", "linear"), shpAStr("coordinate_transformation_mode", "half_pixel_symmetric")), x, nil, shpF([]int{1}, 1.7))[0]
	want := make([]float64, 6)
	off := 2 * (1 - 6/6.8)
	for o := range want {
		v := off + (float64(o)+0.5)/1.7 - 0.5
		want[o] = 10 * max(0, min(v, 3))
	}
	shpExpect(t, "half_pixel_symmetric", y, []int{6}, want)
}
