package data

import (
	"errors"
	"fmt"
	"image"
	"strconv"
	"strings"

	"github.com/graftml/graft/nn"
)

// LoadImage decodes one PNG, JPEG or GIF file and turns it into a model
// input exactly as an image folder does: channel conversion, resize (and
// centre crop), normalization and layout from opts, with the image
// folder's defaults for zero fields (224×224, 3 channels, ResizeCrop).
// The result is one sample without the batch dimension: [C,H,W] for NCHW,
// [H,W,C] for NHWC. Errors name the file.
func LoadImage(path string, opts ImageOptions) (*nn.Tensor, error) {
	pipe, err := dataNewPipe(opts, 224, 224, 3, ResizeCrop)
	if err != nil {
		return nil, err
	}
	src, err := dataDecodeFile(path, pipe.c)
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, fmt.Errorf("data: image %s: not a PNG, JPEG or GIF image", path)
		}
		return nil, err
	}
	return pipe.run(src, nil, nil), nil
}

// LoadImages loads several files with LoadImage and stacks them into one
// batch [N,C,H,W] (or [N,H,W,C]). The first unreadable file stops it with
// an error naming that file.
func LoadImages(paths []string, opts ImageOptions) (*nn.Tensor, error) {
	if len(paths) == 0 {
		return nil, errors.New("data: no image files given")
	}
	var out *nn.Tensor
	per := 0
	for i, p := range paths {
		t, err := LoadImage(p, opts)
		if err != nil {
			return nil, err
		}
		if out == nil {
			per = len(t.F32)
			out = nn.New(nn.Float32, append([]int{len(paths)}, t.Shape...)...)
		}
		copy(out.F32[i*per:(i+1)*per], t.F32)
	}
	return out, nil
}

// ParsePreprocess reads the normalization from a model's
// "graft.preprocess" metadata value: either graft finetune's
// "size=HxW,channels=C,layout=L,norm=NAME" or a pretraining script's
// "scale=1/255,mean=M,std=S", meaning x = (p·scale − mean)/std for pixel
// bytes p (per-channel values are comma-separated:
// "mean=0.485,0.456,0.406,std=0.229,0.224,0.225" or with ';' between the
// values; scale defaults to 1/255).
func ParsePreprocess(s string) (Norm, error) {
	kv := map[string]string{}
	key := ""
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if ok {
			key = strings.ToLower(strings.TrimSpace(k))
			kv[key] = strings.TrimSpace(v)
		} else if key != "" {
			kv[key] += "," + strings.TrimSpace(part)
		}
	}
	if n, ok := kv["norm"]; ok {
		return ParseNorm(n)
	}
	_, hasScale := kv["scale"]
	_, hasMean := kv["mean"]
	_, hasStd := kv["std"]
	if !hasScale && !hasMean && !hasStd {
		return Norm{}, fmt.Errorf("data: preprocess %q has no norm, scale, mean or std", s)
	}
	scale := 1.0 / 255
	if v, ok := kv["scale"]; ok {
		num, den, isFrac := strings.Cut(v, "/")
		a, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return Norm{}, fmt.Errorf("data: preprocess %q: bad scale %q", s, v)
		}
		if isFrac {
			b, err := strconv.ParseFloat(den, 64)
			if err != nil || b == 0 {
				return Norm{}, fmt.Errorf("data: preprocess %q: bad scale %q", s, v)
			}
			a /= b
		}
		scale = a
	}
	floats := func(name string) ([]float32, error) {
		v, ok := kv[name]
		if !ok {
			return nil, nil
		}
		var out []float32
		for f := range strings.SplitSeq(strings.ReplaceAll(v, ";", ","), ",") {
			x, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
			if err != nil {
				return nil, fmt.Errorf("data: preprocess %q: bad %s %q", s, name, v)
			}
			out = append(out, float32(x))
		}
		return out, nil
	}
	n := Norm{Name: s, Scale: float32(scale * 255)}
	var err error
	if n.Mean, err = floats("mean"); err != nil {
		return Norm{}, err
	}
	if n.Std, err = floats("std"); err != nil {
		return Norm{}, err
	}
	for _, v := range n.Std {
		if v == 0 {
			return Norm{}, fmt.Errorf("data: preprocess %q has a zero std", s)
		}
	}
	return n, nil
}
