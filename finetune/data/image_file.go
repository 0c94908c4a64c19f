package data

import (
	"errors"
	"fmt"
	"image"

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
