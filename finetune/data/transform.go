package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/graftml/graft/nn"
)

// Layout is the dimension order of image tensors.
type Layout int

const (
	// NCHW is channels first: a sample is [C,H,W] (PyTorch-exported models).
	NCHW Layout = iota
	// NHWC is channels last: a sample is [H,W,C] (TensorFlow-exported models).
	NHWC
)

// String returns "NCHW" or "NHWC".
func (l Layout) String() string {
	if l == NHWC {
		return "NHWC"
	}
	return "NCHW"
}

// ParseLayout parses "NCHW"/"nchw"/"chw" or "NHWC"/"nhwc"/"hwc".
func ParseLayout(s string) (Layout, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "nchw", "chw", "":
		return NCHW, nil
	case "nhwc", "hwc":
		return NHWC, nil
	}
	return 0, fmt.Errorf("data: unknown layout %q (want NCHW or NHWC)", s)
}

// Norm maps 8-bit pixel values p to model inputs:
//
//	x = (p/255·Scale − Mean[c]) / Std[c]
//
// Scale 0 means 1. Mean and Std hold one value per channel or one value for
// all channels; empty Mean means 0 and empty Std means 1. The zero Norm
// gives values in [0,1].
type Norm struct {
	Name  string
	Scale float32
	Mean  []float32
	Std   []float32
}

// NormImageNet is torchvision's ImageNet normalization: [0,1] values with
// mean 0.485,0.456,0.406 and std 0.229,0.224,0.225.
func NormImageNet() Norm {
	return Norm{Name: "imagenet", Scale: 1, Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225}}
}

// NormUnit gives values in [0,1] (the same as the zero Norm).
func NormUnit() Norm { return Norm{Name: "unit", Scale: 1} }

// NormRaw255 gives unnormalized values in [0,255] (e.g. mnist-8 from the
// ONNX model zoo).
func NormRaw255() Norm { return Norm{Name: "raw255", Scale: 255} }

// NormSigned gives values in [-1,1] (mean 0.5, std 0.5; Inception-style and
// many TensorFlow models).
func NormSigned() Norm {
	return Norm{Name: "signed", Scale: 1, Mean: []float32{0.5}, Std: []float32{0.5}}
}

// ParseNorm parses a normalization: a preset name ("imagenet", "unit",
// "raw255", "signed") or "MEAN/STD" with comma-separated per-channel values
// for [0,1] inputs, e.g. "0.5,0.5,0.5/0.25,0.25,0.25".
func ParseNorm(s string) (Norm, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "imagenet":
		return NormImageNet(), nil
	case "unit", "", "none", "0-1":
		return NormUnit(), nil
	case "raw255", "raw", "255":
		return NormRaw255(), nil
	case "signed", "inception", "-1-1":
		return NormSigned(), nil
	}
	ms, ss, ok := strings.Cut(s, "/")
	if !ok {
		return Norm{}, fmt.Errorf("data: unknown normalization %q (want imagenet, unit, raw255, signed or MEAN/STD)", s)
	}
	mean, err := dataParseFloats(ms)
	if err != nil {
		return Norm{}, fmt.Errorf("data: normalization %q mean: %w", s, err)
	}
	std, err := dataParseFloats(ss)
	if err != nil {
		return Norm{}, fmt.Errorf("data: normalization %q std: %w", s, err)
	}
	for _, v := range std {
		if v == 0 {
			return Norm{}, fmt.Errorf("data: normalization %q has a zero std", s)
		}
	}
	return Norm{Name: s, Scale: 1, Mean: mean, Std: std}, nil
}

// dataParseFloats parses comma-separated float32 values.
func dataParseFloats(s string) ([]float32, error) {
	var out []float32
	for f := range strings.SplitSeq(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
		if err != nil {
			return nil, err
		}
		out = append(out, float32(v))
	}
	return out, nil
}

// String returns the preset name or a MEAN/STD description.
func (n Norm) String() string {
	if n.Name != "" {
		return n.Name
	}
	return fmt.Sprintf("scale=%g mean=%v std=%v", n.Scale, n.Mean, n.Std)
}

// ResizeMode selects how images are brought to the model's input size.
type ResizeMode int

const (
	// ResizeDefault is ResizeCrop for image folders and ResizeDirect for
	// IDX data.
	ResizeDefault ResizeMode = iota
	// ResizeCrop resizes the shorter side to size/CropFraction (keeping the
	// aspect ratio) and then takes the centre crop (torchvision's eval
	// transform: Resize(256) + CenterCrop(224)).
	ResizeCrop
	// ResizeDirect stretches the whole image to the input size.
	ResizeDirect
)

// ParseResize parses "crop" or "direct" (also "stretch").
func ParseResize(s string) (ResizeMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "default":
		return ResizeDefault, nil
	case "crop", "center", "centre":
		return ResizeCrop, nil
	case "direct", "stretch", "resize":
		return ResizeDirect, nil
	}
	return 0, fmt.Errorf("data: unknown resize mode %q (want crop or direct)", s)
}

// ImageOptions describe how images become model inputs.
type ImageOptions struct {
	// Height and Width of the model input; 0 means 224 for image folders
	// and the native size for IDX data. Setting only one sets both.
	Height, Width int
	// Channels of the model input, 1 (gray) or 3 (RGB); 0 means 3 for image
	// folders and 1 for IDX data. Gray images are replicated to RGB; RGB is
	// converted to gray with ITU-R 601 luma (0.299R + 0.587G + 0.114B).
	// Alpha is dropped.
	Channels int
	// Layout of a sample: NCHW gives [C,H,W], NHWC gives [H,W,C].
	Layout Layout
	// Norm maps pixels to values; the zero value gives [0,1].
	Norm Norm
	// Resize selects centre crop or direct resize.
	Resize ResizeMode
	// CropFraction for ResizeCrop; 0 means 0.875 (224 of 256).
	CropFraction float64
}

// ImageOptionsFor returns options matching a model input shape [N,C,H,W]
// or [N,H,W,C] (or without the batch dimension): size, channels and layout;
// the caller sets Norm and Resize. A channel dimension is one of size 1 or
// 3; when both ends qualify, NCHW is chosen.
func ImageOptionsFor(shape []int) (ImageOptions, error) {
	s := shape
	if len(s) == 4 {
		s = s[1:]
	}
	if len(s) != 3 {
		return ImageOptions{}, fmt.Errorf("data: input shape %v is not an image shape (want [N,C,H,W] or [N,H,W,C])", shape)
	}
	isC := func(d int) bool { return d == 1 || d == 3 }
	var o ImageOptions
	switch {
	case isC(s[0]):
		o = ImageOptions{Channels: s[0], Height: s[1], Width: s[2], Layout: NCHW}
	case isC(s[2]):
		o = ImageOptions{Channels: s[2], Height: s[0], Width: s[1], Layout: NHWC}
	default:
		return ImageOptions{}, fmt.Errorf("data: input shape %v has no channel dimension of size 1 or 3", shape)
	}
	if o.Height <= 0 || o.Width <= 0 {
		return ImageOptions{}, fmt.Errorf("data: input shape %v has a dynamic spatial size; set Height and Width", shape)
	}
	return o, nil
}

// dataPipe is the resolved image-to-tensor pipeline.
type dataPipe struct {
	h, w, c  int
	layout   Layout
	mode     ResizeMode
	cropFrac float64
	mul, add [3]float32 // x = p·mul[c] + add[c] for p in 0..255
}

// dataNewPipe resolves options with the given defaults (defH/defW 0 mean
// the native size, filled in later by the caller).
func dataNewPipe(o ImageOptions, defH, defW, defC int, defMode ResizeMode) (*dataPipe, error) {
	p := &dataPipe{h: o.Height, w: o.Width, c: o.Channels, layout: o.Layout, mode: o.Resize, cropFrac: o.CropFraction}
	if p.h == 0 {
		p.h = p.w
	}
	if p.w == 0 {
		p.w = p.h
	}
	if p.h == 0 {
		p.h, p.w = defH, defW
	}
	if p.h < 0 || p.w < 0 || p.h > 1<<14 || p.w > 1<<14 {
		return nil, fmt.Errorf("data: input size %dx%d out of range", p.h, p.w)
	}
	if p.c == 0 {
		p.c = defC
	}
	if p.c != 1 && p.c != 3 {
		return nil, fmt.Errorf("data: %d channels not supported (want 1 or 3)", p.c)
	}
	if p.layout != NCHW && p.layout != NHWC {
		return nil, fmt.Errorf("data: unknown layout %d", p.layout)
	}
	if p.mode == ResizeDefault {
		p.mode = defMode
	}
	if p.mode != ResizeCrop && p.mode != ResizeDirect {
		return nil, fmt.Errorf("data: unknown resize mode %d", p.mode)
	}
	if p.cropFrac == 0 {
		p.cropFrac = 0.875
	}
	if !(p.cropFrac > 0 && p.cropFrac <= 1) {
		return nil, fmt.Errorf("data: crop fraction %v is not in (0,1]", p.cropFrac)
	}
	n := o.Norm
	scale := n.Scale
	if scale == 0 {
		scale = 1
	}
	pick := func(v []float32, c int, def float32, what string) (float32, error) {
		switch len(v) {
		case 0:
			return def, nil
		case 1:
			return v[0], nil
		}
		if len(v) != p.c {
			return 0, fmt.Errorf("data: normalization %s has %d values for %d channels", what, len(v), p.c)
		}
		return v[c], nil
	}
	for c := range p.c {
		m, err := pick(n.Mean, c, 0, "mean")
		if err != nil {
			return nil, err
		}
		s, err := pick(n.Std, c, 1, "std")
		if err != nil {
			return nil, err
		}
		if s == 0 || math.IsNaN(float64(s)) {
			return nil, fmt.Errorf("data: normalization std %v for channel %d", s, c)
		}
		p.mul[c] = scale / 255 / s
		p.add[c] = -m / s
	}
	return p, nil
}

// shape returns a sample's shape.
func (p *dataPipe) shape() []int {
	if p.layout == NHWC {
		return []int{p.h, p.w, p.c}
	}
	return []int{p.c, p.h, p.w}
}

// dataU8 is an 8-bit interleaved image (H×W×C, C = 1 or 3).
type dataU8 struct {
	w, h, c int
	pix     []uint8
}

// dataPlanar is a float image [C][H][W] with values in 0..255 units.
type dataPlanar struct {
	w, h, c int
	pix     []float32
}

// run turns a source image into a sample tensor, applying aug (may be nil)
// with rng.
func (p *dataPipe) run(src dataU8, aug *Augment, rng *rand.Rand) *nn.Tensor {
	if src.c != p.c {
		src = dataConvertChannels(src, p.c)
	}
	var img dataPlanar
	if aug.Enabled() && aug.RRC {
		x0, y0, bw, bh := aug.rrcBox(src.w, src.h, rng)
		img = dataResample(src.pix, src.w, src.h, src.c, float64(x0), float64(y0), float64(bw), float64(bh), p.w, p.h, 0, 0, p.w, p.h)
	} else {
		img = p.evalGeometry(src.pix, src.w, src.h, src.c)
	}
	if aug.Enabled() {
		img = aug.applyPlanar(img, rng)
	}
	return p.finish(img)
}

// evalGeometry applies the deterministic resize (and centre crop).
func (p *dataPipe) evalGeometry(pix []uint8, w, h, c int) dataPlanar {
	if p.mode == ResizeDirect || (w == p.w && h == p.h) {
		return dataResample(pix, w, h, c, 0, 0, float64(w), float64(h), p.w, p.h, 0, 0, p.w, p.h)
	}
	// Resize the shorter side to size/cropFrac (torchvision: int(size /
	// 0.875) for the crop side), keep the aspect ratio, then centre crop.
	ch, cw := p.h, p.w
	short := int(float64(max(ch, cw)) / p.cropFrac)
	var rw, rh int
	if w <= h {
		rw, rh = short, int(float64(short)*float64(h)/float64(w))
	} else {
		rh, rw = short, int(float64(short)*float64(w)/float64(h))
	}
	rw, rh = max(rw, cw), max(rh, ch)
	offX := int(math.RoundToEven(float64(rw-cw) / 2))
	offY := int(math.RoundToEven(float64(rh-ch) / 2))
	return dataResample(pix, w, h, c, 0, 0, float64(w), float64(h), rw, rh, offX, offY, cw, ch)
}

// finish normalizes a planar image into a tensor of the pipeline's layout.
func (p *dataPipe) finish(img dataPlanar) *nn.Tensor {
	t := nn.New(nn.Float32, p.shape()...)
	hw := img.h * img.w
	if p.layout == NCHW {
		for c := range img.c {
			m, a := p.mul[c], p.add[c]
			src := img.pix[c*hw : (c+1)*hw]
			dst := t.F32[c*hw : (c+1)*hw]
			for i, v := range src {
				dst[i] = v*m + a
			}
		}
		return t
	}
	C := img.c
	for c := range C {
		m, a := p.mul[c], p.add[c]
		src := img.pix[c*hw : (c+1)*hw]
		for i, v := range src {
			t.F32[i*C+c] = v*m + a
		}
	}
	return t
}

// dataConvertChannels converts between 1 and 3 channels (gray replicated;
// RGB to ITU-R 601 luma).
func dataConvertChannels(src dataU8, c int) dataU8 {
	out := dataU8{w: src.w, h: src.h, c: c, pix: make([]uint8, src.w*src.h*c)}
	n := src.w * src.h
	switch {
	case src.c == 1 && c == 3:
		for i := range n {
			v := src.pix[i]
			out.pix[3*i], out.pix[3*i+1], out.pix[3*i+2] = v, v, v
		}
	case src.c == 3 && c == 1:
		for i := range n {
			out.pix[i] = dataLuma(src.pix[3*i], src.pix[3*i+1], src.pix[3*i+2])
		}
	default:
		copy(out.pix, src.pix)
	}
	return out
}

// dataLuma is ITU-R 601 luma, rounded.
func dataLuma(r, g, b uint8) uint8 {
	return uint8((299*uint32(r) + 587*uint32(g) + 114*uint32(b) + 500) / 1000)
}

// dataWeights are the taps of a 1-D resampling: output j reads count[j]
// inputs from start[j] with weights w[j*taps:].
type dataWeights struct {
	start, count []int
	w            []float32
	taps         int
}

// dataComputeWeights computes bilinear (triangle filter) weights mapping
// the input interval [in0, in0+inLen) of an axis of inSize pixels onto
// outSize outputs, for outputs off..off+cnt-1. When shrinking, the filter
// widens by the scale factor (antialiasing, as PIL's bilinear resize);
// when enlarging it is plain bilinear interpolation with half-pixel
// centres.
func dataComputeWeights(inSize int, in0, inLen float64, outSize, off, cnt int) dataWeights {
	scale := inLen / float64(outSize)
	fs := max(scale, 1)
	support := fs
	taps := int(math.Ceil(support))*2 + 1
	wt := dataWeights{start: make([]int, cnt), count: make([]int, cnt), w: make([]float32, cnt*taps), taps: taps}
	for j := range cnt {
		center := in0 + (float64(j+off)+0.5)*scale
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), inSize)
		if hi-lo > taps {
			hi = lo + taps
		}
		if hi <= lo { // degenerate: nearest valid pixel
			lo = min(max(int(center), 0), inSize-1)
			hi = lo + 1
		}
		ws := wt.w[j*taps : j*taps+taps]
		var sum float64
		for x := lo; x < hi; x++ {
			t := math.Abs((float64(x) + 0.5 - center) / fs)
			v := 0.0
			if t < 1 {
				v = 1 - t
			}
			ws[x-lo] = float32(v)
			sum += v
		}
		if sum == 0 {
			ws[0], sum = 1, 1
		}
		for k := range hi - lo {
			ws[k] = float32(float64(ws[k]) / sum)
		}
		wt.start[j], wt.count[j] = lo, hi-lo
	}
	return wt
}

// dataPixel is the element type of a resampling source.
type dataPixel interface{ ~uint8 | ~float32 }

// dataResample resizes the box (x0,y0,bw,bh) of an interleaved w×h×c image
// to rw×rh and returns the window (offX,offY,cw,ch) of the result as a
// planar image.
func dataResample[T dataPixel](pix []T, w, h, c int, x0, y0, bw, bh float64, rw, rh, offX, offY, cw, ch int) dataPlanar {
	wx := dataComputeWeights(w, x0, bw, rw, offX, cw)
	wy := dataComputeWeights(h, y0, bh, rh, offY, ch)
	rowLo, rowHi := h, 0
	for j := range ch {
		rowLo = min(rowLo, wy.start[j])
		rowHi = max(rowHi, wy.start[j]+wy.count[j])
	}
	// Horizontal pass over the rows the vertical pass reads: tmp is
	// [rows][cw][c].
	rows := max(rowHi-rowLo, 0)
	tmp := make([]float32, rows*cw*c)
	for y := rowLo; y < rowHi; y++ {
		src := pix[y*w*c : (y+1)*w*c]
		dst := tmp[(y-rowLo)*cw*c : (y-rowLo+1)*cw*c]
		for j := range cw {
			ws := wx.w[j*wx.taps : j*wx.taps+wx.count[j]]
			s0 := wx.start[j] * c
			if c == 3 {
				var a, b, d float32
				for k, wv := range ws {
					o := s0 + 3*k
					a += wv * float32(src[o])
					b += wv * float32(src[o+1])
					d += wv * float32(src[o+2])
				}
				dst[3*j], dst[3*j+1], dst[3*j+2] = a, b, d
				continue
			}
			for ci := range c {
				var a float32
				for k, wv := range ws {
					a += wv * float32(src[s0+k*c+ci])
				}
				dst[j*c+ci] = a
			}
		}
	}
	// Vertical pass into planar output.
	out := dataPlanar{w: cw, h: ch, c: c, pix: make([]float32, c*cw*ch)}
	plane := cw * ch
	acc := make([]float32, cw*c)
	for i := range ch {
		clear(acc)
		ws := wy.w[i*wy.taps : i*wy.taps+wy.count[i]]
		for k, wv := range ws {
			row := tmp[(wy.start[i]+k-rowLo)*cw*c : (wy.start[i]+k-rowLo+1)*cw*c]
			for q, v := range row {
				acc[q] += wv * v
			}
		}
		for j := range cw {
			for ci := range c {
				out.pix[ci*plane+i*cw+j] = acc[j*c+ci]
			}
		}
	}
	return out
}
