package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/graftml/graft/nn"
)

// Augment describes random training-time augmentation. The zero value (and
// a nil *Augment) does nothing. Random choices come from a generator the
// Loader derives from (seed, epoch, sample index), so the augmented samples
// do not depend on goroutine timing. The draws happen in a fixed order:
// random resized crop, flip, padded crop.
type Augment struct {
	// RRC replaces the resize/centre crop with a random resized crop: a box
	// of RRCScale × the image area with an aspect ratio in RRCRatio
	// (log-uniform) is resized to the input size (torchvision's
	// RandomResizedCrop). Zero ranges mean scale [0.08,1] and ratio
	// [3/4,4/3].
	RRC      bool
	RRCScale [2]float64
	RRCRatio [2]float64
	// Flip mirrors the image horizontally with probability 1/2.
	Flip bool
	// CropPad > 0 pads the (resized) image by CropPad zero (black) pixels on
	// each side and crops a random window of the original size back
	// (torchvision's RandomCrop(size, padding=CropPad)).
	CropPad int
}

// ParseAugment parses a comma-separated augmentation list: "flip",
// "crop:P" (padded random crop, P pixels), "rrc" or "rrc:MIN-MAX" (random
// resized crop with area scale range, e.g. "rrc:0.2-1"). "" and "none"
// return nil.
func ParseAugment(s string) (*Augment, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "none") {
		return nil, nil
	}
	a := &Augment{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(strings.ToLower(item))
		name, arg, hasArg := strings.Cut(item, ":")
		switch name {
		case "flip", "hflip":
			if hasArg {
				return nil, fmt.Errorf("data: augmentation %q takes no argument", item)
			}
			a.Flip = true
		case "crop":
			p := 4
			if hasArg {
				v, err := strconv.Atoi(arg)
				if err != nil || v < 1 || v > 1024 {
					return nil, fmt.Errorf("data: augmentation %q: padding must be an integer in 1..1024", item)
				}
				p = v
			}
			a.CropPad = p
		case "rrc":
			a.RRC = true
			if hasArg {
				lo, hi, ok := strings.Cut(arg, "-")
				l, err1 := strconv.ParseFloat(lo, 64)
				h, err2 := strconv.ParseFloat(hi, 64)
				if !ok || err1 != nil || err2 != nil || !(l > 0 && l <= h && h <= 1) {
					return nil, fmt.Errorf("data: augmentation %q: want rrc:MIN-MAX with 0 < MIN <= MAX <= 1", item)
				}
				a.RRCScale = [2]float64{l, h}
			}
		case "":
		default:
			return nil, fmt.Errorf("data: unknown augmentation %q (want flip, crop:P, rrc or rrc:MIN-MAX)", item)
		}
	}
	return a, nil
}

// Enabled reports whether a does anything.
func (a *Augment) Enabled() bool {
	return a != nil && (a.RRC || a.Flip || a.CropPad > 0)
}

// String formats a in ParseAugment's syntax ("none" when disabled).
func (a *Augment) String() string {
	if !a.Enabled() {
		return "none"
	}
	var parts []string
	if a.RRC {
		lo, hi := a.scale()
		if lo == 0.08 && hi == 1 {
			parts = append(parts, "rrc")
		} else {
			parts = append(parts, fmt.Sprintf("rrc:%g-%g", lo, hi))
		}
	}
	if a.Flip {
		parts = append(parts, "flip")
	}
	if a.CropPad > 0 {
		parts = append(parts, fmt.Sprintf("crop:%d", a.CropPad))
	}
	return strings.Join(parts, ",")
}

func (a *Augment) scale() (float64, float64) {
	if a.RRCScale == [2]float64{} {
		return 0.08, 1
	}
	return a.RRCScale[0], a.RRCScale[1]
}

func (a *Augment) ratio() (float64, float64) {
	if a.RRCRatio == [2]float64{} {
		return 3.0 / 4, 4.0 / 3
	}
	return a.RRCRatio[0], a.RRCRatio[1]
}

// rrcBox picks a random-resized-crop box (x, y, width, height) in a w×h
// image like torchvision: up to 10 tries of random area and log-uniform
// aspect ratio, then a centre crop with the ratio clamped.
func (a *Augment) rrcBox(w, h int, rng *rand.Rand) (x0, y0, bw, bh int) {
	area := float64(w * h)
	slo, shi := a.scale()
	rlo, rhi := a.ratio()
	llo, lhi := math.Log(rlo), math.Log(rhi)
	for range 10 {
		target := area * (slo + (shi-slo)*rng.Float64())
		ar := math.Exp(llo + (lhi-llo)*rng.Float64())
		cw := int(math.RoundToEven(math.Sqrt(target * ar)))
		ch := int(math.RoundToEven(math.Sqrt(target / ar)))
		if cw > 0 && cw <= w && ch > 0 && ch <= h {
			y0 = rng.IntN(h - ch + 1)
			x0 = rng.IntN(w - cw + 1)
			return x0, y0, cw, ch
		}
	}
	in := float64(w) / float64(h)
	switch {
	case in < rlo:
		bw, bh = w, int(math.RoundToEven(float64(w)/rlo))
	case in > rhi:
		bh, bw = h, int(math.RoundToEven(float64(h)*rhi))
	default:
		bw, bh = w, h
	}
	bw, bh = max(min(bw, w), 1), max(min(bh, h), 1)
	return (w - bw) / 2, (h - bh) / 2, bw, bh
}

// applyPlanar applies flip and padded crop (the RRC geometry is done by
// the caller) to a planar image; it may modify img in place.
func (a *Augment) applyPlanar(img dataPlanar, rng *rand.Rand) dataPlanar {
	if a.Flip && rng.IntN(2) == 1 {
		for c := range img.c {
			for y := range img.h {
				row := img.pix[(c*img.h+y)*img.w : (c*img.h+y+1)*img.w]
				for i, j := 0, len(row)-1; i < j; i, j = i+1, j-1 {
					row[i], row[j] = row[j], row[i]
				}
			}
		}
	}
	if p := a.CropPad; p > 0 {
		dy := rng.IntN(2*p+1) - p
		dx := rng.IntN(2*p+1) - p
		if dx != 0 || dy != 0 {
			out := dataPlanar{w: img.w, h: img.h, c: img.c, pix: make([]float32, len(img.pix))}
			for c := range img.c {
				for y := range img.h {
					sy := y + dy
					if sy < 0 || sy >= img.h {
						continue
					}
					dst := out.pix[(c*img.h+y)*img.w : (c*img.h+y+1)*img.w]
					src := img.pix[(c*img.h+sy)*img.w : (c*img.h+sy+1)*img.w]
					for x := range dst {
						if sx := x + dx; sx >= 0 && sx < img.w {
							dst[x] = src[sx]
						}
					}
				}
			}
			img = out
		}
	}
	return img
}

// ApplyTensor augments an image tensor x ([C,H,W] for NCHW, [H,W,C] for
// NHWC, any channel count) that is already normalized: padding uses the
// value 0, and a random resized crop resamples the tensor itself (so it
// cannot see beyond the tensor's own extent). x is not modified. Datasets
// that decode images (image folders, IDX) instead augment before
// normalization via AugmentGetter.
func (a *Augment) ApplyTensor(x *nn.Tensor, layout Layout, rng *rand.Rand) (*nn.Tensor, error) {
	if !a.Enabled() {
		return x, nil
	}
	if x.Rank() != 3 {
		return nil, fmt.Errorf("data: augmentation needs image samples of rank 3, got %v", x.Shape)
	}
	var c, h, w int
	if layout == NHWC {
		h, w, c = x.Shape[0], x.Shape[1], x.Shape[2]
	} else {
		c, h, w = x.Shape[0], x.Shape[1], x.Shape[2]
	}
	if h == 0 || w == 0 || c == 0 {
		return x.Clone(), nil
	}
	// Interleaved copy for resampling, planar image for the rest.
	n := c * h * w
	inter := make([]float32, n)
	for i := range n {
		v := float32(x.Float64At(i))
		if layout == NHWC {
			inter[i] = v
		} else {
			ci, rest := i/(h*w), i%(h*w)
			inter[rest*c+ci] = v
		}
	}
	var img dataPlanar
	if a.RRC {
		x0, y0, bw, bh := a.rrcBox(w, h, rng)
		img = dataResample(inter, w, h, c, float64(x0), float64(y0), float64(bw), float64(bh), w, h, 0, 0, w, h)
	} else {
		img = dataPlanar{w: w, h: h, c: c, pix: make([]float32, n)}
		for i, v := range inter {
			rest, ci := i/c, i%c
			img.pix[ci*h*w+rest] = v
		}
	}
	img = a.applyPlanar(img, rng)
	out := nn.New(nn.Float32, x.Shape...)
	if layout == NHWC {
		for ci := range c {
			for r := range h * w {
				out.F32[r*c+ci] = img.pix[ci*h*w+r]
			}
		}
	} else {
		copy(out.F32, img.pix)
	}
	return out, nil
}
