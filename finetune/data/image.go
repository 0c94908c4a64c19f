package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/gif"  // GIF decoder
	_ "image/jpeg" // JPEG decoder
	_ "image/png"  // PNG decoder
	"os"
)

// dataMaxPixels bounds the size of an image DecodeImage accepts.
const dataMaxPixels = 1 << 27

// dataDecodeFile reads and decodes an image file to 8-bit pixels with c
// channels (1 or 3).
func dataDecodeFile(path string, c int) (dataU8, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return dataU8{}, fmt.Errorf("data: image %s: %w", path, err)
	}
	u, err := dataDecode(b, c)
	if err != nil {
		return dataU8{}, fmt.Errorf("data: image %s: %w", path, err)
	}
	return u, nil
}

// dataDecode decodes PNG, JPEG or GIF bytes (the first frame of a GIF).
func dataDecode(b []byte, c int) (dataU8, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return dataU8{}, err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > dataMaxPixels {
		return dataU8{}, fmt.Errorf("image size %dx%d not supported", cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return dataU8{}, err
	}
	return dataFromImage(img, c), nil
}

// dataFromImage converts a decoded image to 8-bit pixels with c channels
// (1 or 3). Alpha is dropped (colours are taken unpremultiplied, as PIL's
// convert("RGB") does).
func dataFromImage(img image.Image, c int) dataU8 {
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	out := dataU8{w: w, h: h, c: c, pix: make([]uint8, w*h*c)}
	put := func(i int, R, G, B uint8) {
		if c == 3 {
			out.pix[3*i], out.pix[3*i+1], out.pix[3*i+2] = R, G, B
		} else {
			out.pix[i] = dataLuma(R, G, B)
		}
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			if c == 1 {
				copy(out.pix[y*w:], row)
				continue
			}
			for x, v := range row {
				i := y*w + x
				out.pix[3*i], out.pix[3*i+1], out.pix[3*i+2] = v, v, v
			}
		}
	case *image.YCbCr:
		// Chroma subsampling as shifts of x and y.
		sx, sy := 0, 0
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio422:
			sx = 1
		case image.YCbCrSubsampleRatio420:
			sx, sy = 1, 1
		case image.YCbCrSubsampleRatio440:
			sy = 1
		case image.YCbCrSubsampleRatio411:
			sx = 2
		case image.YCbCrSubsampleRatio410:
			sx, sy = 2, 1
		}
		for y := range h {
			ay := y + r.Min.Y
			yrow := m.Y[(ay-m.Rect.Min.Y)*m.YStride:]
			crow := (ay>>sy - m.Rect.Min.Y>>sy) * m.CStride
			for x := range w {
				ax := x + r.Min.X
				yv := yrow[ax-m.Rect.Min.X]
				i := y*w + x
				if c == 1 {
					out.pix[i] = yv
					continue
				}
				ci := crow + ax>>sx - m.Rect.Min.X>>sx
				R, G, B := color.YCbCrToRGB(yv, m.Cb[ci], m.Cr[ci])
				out.pix[3*i], out.pix[3*i+1], out.pix[3*i+2] = R, G, B
			}
		}
	case *image.RGBA:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				put(y*w+x, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.NRGBA:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				put(y*w+x, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.Paletted:
		pal := make([][3]uint8, len(m.Palette))
		for k, col := range m.Palette {
			n := color.NRGBAModel.Convert(col).(color.NRGBA)
			pal[k] = [3]uint8{n.R, n.G, n.B}
		}
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				var p [3]uint8
				if int(v) < len(pal) {
					p = pal[v]
				}
				put(y*w+x, p[0], p[1], p[2])
			}
		}
	default:
		for y := range h {
			for x := range w {
				n := color.NRGBAModel.Convert(img.At(x+r.Min.X, y+r.Min.Y)).(color.NRGBA)
				put(y*w+x, n.R, n.G, n.B)
			}
		}
	}
	return out
}
