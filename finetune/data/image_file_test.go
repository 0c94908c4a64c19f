package data

import (
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadImageMatchesFolder checks that LoadImage gives exactly what an
// image folder gives for the same file and options.
func TestLoadImageMatchesFolder(t *testing.T) {
	root := t.TempDir()
	for _, ext := range []string{".png", ".jpg", ".gif"} {
		writeImage(t, filepath.Join(root, "a", "img"+ext), patternRGB(40, 30))
	}
	opts := []ImageOptions{
		{},
		{Height: 16, Width: 16, Channels: 1, Norm: NormRaw255()},
		{Height: 12, Width: 20, Channels: 3, Layout: NHWC, Norm: NormImageNet(), Resize: ResizeDirect},
		{Height: 8, Channels: 3, Norm: NormSigned(), CropFraction: 0.5},
	}
	for k, o := range opts {
		f, err := OpenImageFolder(root, FolderOptions{ImageOptions: o})
		if err != nil {
			t.Fatal(err)
		}
		for i := range f.Len() {
			want, _, err := f.Get(i)
			if err != nil {
				t.Fatal(err)
			}
			got, err := LoadImage(f.Path(i), o)
			if err != nil {
				t.Fatal(err)
			}
			if !sameInts(got.Shape, want.Shape) {
				t.Fatalf("options %d, %s: shape %v, folder gives %v", k, f.Path(i), got.Shape, want.Shape)
			}
			for j := range got.F32 {
				if got.F32[j] != want.F32[j] {
					t.Fatalf("options %d, %s: element %d = %v, folder gives %v", k, f.Path(i), j, got.F32[j], want.F32[j])
				}
			}
		}
	}
}

// TestLoadImageValues checks hand-computed values of a solid image.
func TestLoadImageValues(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "red.png")
	writeImage(t, p, solidRGB(10, 6, color.RGBA{255, 51, 0, 255}))
	x, err := LoadImage(p, ImageOptions{Height: 4, Width: 5, Resize: ResizeDirect})
	if err != nil {
		t.Fatal(err)
	}
	if !sameInts(x.Shape, []int{3, 4, 5}) {
		t.Fatalf("shape %v, want [3 4 5]", x.Shape)
	}
	want := make([]float64, 60)
	for i := range 20 {
		want[i], want[20+i], want[40+i] = 1, 0.2, 0
	}
	closeTo(t, "unit RGB", x.F32, want, 1e-6)

	// Gray: luma of (255,51,0) = (299*255+587*51+500)/1000 = 106 (rounded);
	// raw255 keeps it; NHWC of one channel is [H,W,1].
	x, err = LoadImage(p, ImageOptions{Height: 2, Width: 3, Channels: 1, Layout: NHWC, Norm: NormRaw255(), Resize: ResizeDirect})
	if err != nil {
		t.Fatal(err)
	}
	if !sameInts(x.Shape, []int{2, 3, 1}) {
		t.Fatalf("shape %v, want [2 3 1]", x.Shape)
	}
	closeTo(t, "raw255 gray", x.F32, []float64{106, 106, 106, 106, 106, 106}, 1e-4)

	b, err := LoadImages([]string{p, p}, ImageOptions{Height: 4, Width: 5, Resize: ResizeDirect})
	if err != nil {
		t.Fatal(err)
	}
	if !sameInts(b.Shape, []int{2, 3, 4, 5}) || b.F32[60] != 1 || math.Abs(float64(b.F32[60+20])-0.2) > 1e-6 {
		t.Fatalf("batch shape %v, values %v %v", b.Shape, b.F32[60], b.F32[80])
	}
}

func TestLoadImageErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.png")
	writeImage(t, good, patternRGB(8, 8))
	text := filepath.Join(dir, "notes.png")
	os.WriteFile(text, []byte("just some text, not pixels"), 0o644)
	trunc := filepath.Join(dir, "trunc.png")
	writeImage(t, trunc, patternRGB(64, 64))
	if err := truncateFile(trunc, 100); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		opts ImageOptions
		want string
	}{
		{filepath.Join(dir, "missing.png"), ImageOptions{}, "missing.png: open"},
		{text, ImageOptions{}, "notes.png: not a PNG, JPEG or GIF image"},
		{trunc, ImageOptions{}, "trunc.png"},
		{dir, ImageOptions{}, dir},
		{good, ImageOptions{Channels: 2}, "2 channels not supported"},
		{good, ImageOptions{Channels: 3, Norm: Norm{Mean: []float32{0, 0}}}, "2 values for 3 channels"},
	}
	for _, c := range cases {
		_, err := LoadImage(c.path, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadImage(%s): error %v, want it to contain %q", c.path, err, c.want)
		}
	}
	if _, err := LoadImages([]string{good, text, good}, ImageOptions{}); err == nil || !strings.Contains(err.Error(), "notes.png") {
		t.Errorf("LoadImages: error %v, want it to name notes.png", err)
	}
	if _, err := LoadImages(nil, ImageOptions{}); err == nil {
		t.Error("LoadImages(nil): no error")
	}
}

func TestParsePreprocess(t *testing.T) {
	cases := []struct {
		in        string
		scale     float32
		mean, std []float32
	}{
		{"scale=1/255,mean=0.5,std=0.5", 1, []float32{0.5}, []float32{0.5}},
		{"size=28x28,channels=1,layout=NCHW,norm=raw255", 255, nil, nil},
		{"size=224x224,channels=3,layout=NCHW,norm=imagenet", 1, []float32{0.485, 0.456, 0.406}, []float32{0.229, 0.224, 0.225}},
		{"scale=1,mean=127.5,std=127.5", 255, []float32{127.5}, []float32{127.5}},
		{"mean=0.485,0.456,0.406,std=0.229,0.224,0.225", 1, []float32{0.485, 0.456, 0.406}, []float32{0.229, 0.224, 0.225}},
		{"scale=1/255,mean=0.485;0.456;0.406,std=0.229;0.224;0.225", 1, []float32{0.485, 0.456, 0.406}, []float32{0.229, 0.224, 0.225}},
	}
	same := func(a, b []float32) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 1e-6 {
				return false
			}
		}
		return true
	}
	for _, c := range cases {
		n, err := ParsePreprocess(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if math.Abs(float64(n.Scale-c.scale)) > 1e-4 || !same(n.Mean, c.mean) || !same(n.Std, c.std) {
			t.Errorf("%q: scale %v mean %v std %v, want %v %v %v", c.in, n.Scale, n.Mean, n.Std, c.scale, c.mean, c.std)
		}
	}
	for _, bad := range []string{"size=28x28", "scale=x", "scale=1/0", "mean=a", "std=0", "norm=fancy"} {
		if _, err := ParsePreprocess(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
