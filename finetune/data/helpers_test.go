package data

import (
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// writeImage writes img to path in the format chosen by the extension.
func writeImage(t testing.TB, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	switch filepath.Ext(path) {
	case ".png":
		err = png.Encode(f, img)
	case ".jpg", ".jpeg":
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: 95})
	case ".gif":
		err = gif.Encode(f, img, nil)
	default:
		t.Fatalf("unknown extension %s", path)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// solidRGB returns a w×h image of one colour.
func solidRGB(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// patternRGB is (x*37 + y*91 + c*53) mod 256, the pattern of the PIL
// reference values.
func patternRGB(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := func(c int) uint8 { return uint8((x*37 + y*91 + c*53) % 256) }
			img.SetRGBA(x, y, color.RGBA{v(0), v(1), v(2), 255})
		}
	}
	return img
}

// closeTo fails unless got and want differ by at most tol everywhere.
func closeTo(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > tol {
			t.Fatalf("%s: element %d = %v, want %v (tol %v)\n got %v\nwant %v", what, i, got[i], want[i], tol, got, want)
		}
	}
}

// truncateFile cuts a file to n bytes.
func truncateFile(path string, n int64) error { return os.Truncate(path, n) }
