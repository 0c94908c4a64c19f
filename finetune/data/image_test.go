package data

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func u8Of(img image.Image, c int) dataU8 { return dataFromImage(img, c) }

func TestResampleHand(t *testing.T) {
	// 1-D upsampling 2 -> 4: bilinear with half-pixel centres and clamping.
	src := []uint8{0, 100}
	p := dataResample(src, 2, 1, 1, 0, 0, 2, 1, 4, 1, 0, 0, 4, 1)
	closeTo(t, "up", p.pix, []float64{0, 25, 75, 100}, 1e-4)
	// Downsampling 4 -> 2 widens the triangle to radius 2: output 0 has
	// centre 1.0 and reads x=0,1,2 with weights .75,.75,.25 (normalized).
	src = []uint8{0, 70, 140, 210}
	p = dataResample(src, 4, 1, 1, 0, 0, 4, 1, 2, 1, 0, 0, 2, 1)
	w0 := (0*0.75 + 70*0.75 + 140*0.25) / 1.75
	w1 := (70*0.25 + 140*0.75 + 210*0.75) / 1.75
	closeTo(t, "down", p.pix, []float64{w0, w1}, 1e-3)
	// Same size is the identity.
	img := patternRGB(5, 4)
	u := u8Of(img, 3)
	p = dataResample(u.pix, 5, 4, 3, 0, 0, 5, 4, 5, 4, 0, 0, 5, 4)
	var want []float64
	for c := range 3 {
		for y := range 4 {
			for x := range 5 {
				want = append(want, float64((x*37+y*91+c*53)%256))
			}
		}
	}
	closeTo(t, "identity", p.pix, want, 1e-4)
}

// TestResamplePIL compares with PIL 9.4 Image.resize(BILINEAR) (values
// rounded to 8 bits by PIL, hence the tolerance of 1).
func TestResamplePIL(t *testing.T) {
	ref := map[[2]int][]float64{
		{4, 3}: {100, 132, 118, 105, 109, 114, 131, 113, 128, 113, 114, 126, 131, 152, 123, 131, 128, 138, 142, 131, 133, 131, 137, 134, 136, 133, 139, 137, 139, 128, 132, 142, 139, 147, 118, 139},
		{6, 7}: {16, 74, 139, 194, 60, 61, 107, 165, 198, 61, 94, 152, 198, 57, 65, 120, 185, 97, 33, 91, 156, 211, 77, 78, 124, 182, 87, 46, 111, 169, 215, 74, 82, 137, 202, 114, 50, 108, 173, 132, 37, 95, 69, 127, 192, 151, 56, 114, 160, 218, 123, 82, 147, 205, 141, 53, 118, 173, 181, 40, 86, 144, 209, 168, 73, 131, 177, 178, 44, 99, 164, 222, 158, 70, 135, 190, 198, 57, 103, 161, 194, 57, 90, 148, 122, 180, 213, 76, 109, 167, 213, 72, 80, 135, 200, 112, 48, 106, 171, 226, 92, 93, 139, 197, 102, 61, 126, 184, 230, 89, 97, 152, 217, 129, 65, 123, 188, 147, 52, 110, 156, 214, 119, 78, 143, 201},
	}
	u := u8Of(patternRGB(10, 7), 3)
	for sz, want := range ref {
		p := dataResample(u.pix, 10, 7, 3, 0, 0, 10, 7, sz[0], sz[1], 0, 0, sz[0], sz[1])
		closeTo(t, fmt.Sprintf("PIL %dx%d", sz[0], sz[1]), p.pix, want, 1.01)
	}
}

func TestLumaMatchesPIL(t *testing.T) {
	// PIL convert("L") of the first pattern row.
	u := u8Of(patternRGB(5, 1), 1)
	want := []uint8{43, 80, 117, 154, 191}
	for i, w := range want {
		if u.pix[i] != w {
			t.Fatalf("luma %d = %d, want %d", i, u.pix[i], w)
		}
	}
}

func TestCenterCrop(t *testing.T) {
	// 8x6 image, crop 3x3 with CropFraction 0.5: the shorter side resizes
	// to int(3/0.5) = 6 (no change), then offsets round((8-3)/2) = 2 (half
	// to even) and round((6-3)/2) = 2.
	img := patternRGB(8, 6)
	pipe, err := dataNewPipe(ImageOptions{Height: 3, CropFraction: 0.5, Channels: 3}, 224, 224, 3, ResizeCrop)
	if err != nil {
		t.Fatal(err)
	}
	x := pipe.run(u8Of(img, 3), nil, nil)
	if got := x.Shape; len(got) != 3 || got[0] != 3 || got[1] != 3 || got[2] != 3 {
		t.Fatalf("shape %v", got)
	}
	var want []float64
	for c := range 3 {
		for y := 2; y < 5; y++ {
			for xx := 2; xx < 5; xx++ {
				want = append(want, float64((xx*37+y*91+c*53)%256)/255)
			}
		}
	}
	closeTo(t, "crop", x.F32, want, 1e-5)
}

func TestCropResizeShape(t *testing.T) {
	// A 300x200 image with the default eval transform to 224: resize to
	// 384x256 (int(256*300/200)), crop 224x224.
	pipe, err := dataNewPipe(ImageOptions{}, 224, 224, 3, ResizeCrop)
	if err != nil {
		t.Fatal(err)
	}
	x := pipe.run(u8Of(solidRGB(300, 200, color.RGBA{255, 0, 51, 255}), 3), nil, nil)
	if x.Shape[0] != 3 || x.Shape[1] != 224 || x.Shape[2] != 224 {
		t.Fatalf("shape %v", x.Shape)
	}
	closeTo(t, "solid R", x.F32[:1], []float64{1}, 1e-5)
	closeTo(t, "solid B", x.F32[2*224*224:2*224*224+1], []float64{0.2}, 1e-5)
}

func TestNormalization(t *testing.T) {
	img := solidRGB(4, 4, color.RGBA{255, 128, 0, 255})
	cases := []struct {
		norm Norm
		want [3]float64
	}{
		{NormImageNet(), [3]float64{(1 - 0.485) / 0.229, (128.0/255 - 0.456) / 0.224, (0 - 0.406) / 0.225}},
		{NormUnit(), [3]float64{1, 128.0 / 255, 0}},
		{NormRaw255(), [3]float64{255, 128, 0}},
		{NormSigned(), [3]float64{1, (128.0/255 - 0.5) / 0.5, -1}},
		{Norm{}, [3]float64{1, 128.0 / 255, 0}},
	}
	for _, c := range cases {
		pipe, err := dataNewPipe(ImageOptions{Height: 2, Norm: c.norm, Resize: ResizeDirect}, 0, 0, 3, ResizeCrop)
		if err != nil {
			t.Fatal(err)
		}
		x := pipe.run(u8Of(img, 3), nil, nil)
		var want []float64
		for ch := range 3 {
			for range 4 {
				want = append(want, c.want[ch])
			}
		}
		closeTo(t, c.norm.String(), x.F32, want, 1e-4)
	}
	n, err := ParseNorm("0.5,0.25,0/0.5,0.5,2")
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := dataNewPipe(ImageOptions{Height: 1, Norm: n}, 0, 0, 3, ResizeDirect)
	if err != nil {
		t.Fatal(err)
	}
	x := pipe.run(u8Of(solidRGB(1, 1, color.RGBA{255, 255, 255, 255}), 3), nil, nil)
	closeTo(t, "custom", x.F32, []float64{1, 1.5, 0.5}, 1e-5)
	for _, bad := range []string{"bogus", "1,2/0", "a/b"} {
		if _, err := ParseNorm(bad); err == nil {
			t.Errorf("ParseNorm(%q) accepted", bad)
		}
	}
	if _, err := dataNewPipe(ImageOptions{Norm: Norm{Mean: []float32{1, 2}}}, 4, 4, 3, ResizeDirect); err == nil {
		t.Error("2 means for 3 channels accepted")
	}
}

func TestLayoutAndChannels(t *testing.T) {
	img := patternRGB(3, 2)
	chw, _ := dataNewPipe(ImageOptions{Height: 2, Width: 3, Layout: NCHW}, 0, 0, 3, ResizeDirect)
	hwc, _ := dataNewPipe(ImageOptions{Height: 2, Width: 3, Layout: NHWC}, 0, 0, 3, ResizeDirect)
	a := chw.run(u8Of(img, 3), nil, nil)
	b := hwc.run(u8Of(img, 3), nil, nil)
	if !sameInts(b.Shape, []int{2, 3, 3}) || !sameInts(a.Shape, []int{3, 2, 3}) {
		t.Fatalf("shapes %v %v", a.Shape, b.Shape)
	}
	for c := range 3 {
		for y := range 2 {
			for x := range 3 {
				va, vb := a.F32[(c*2+y)*3+x], b.F32[(y*3+x)*3+c]
				want := float32((x*37+y*91+c*53)%256) / 255
				if va != vb || math.Abs(float64(va-want)) > 1e-6 {
					t.Fatalf("c%d y%d x%d: NCHW %v NHWC %v want %v", c, y, x, va, vb, want)
				}
			}
		}
	}
	// Gray -> RGB replicates; RGB -> gray is luma.
	g := image.NewGray(image.Rect(0, 0, 2, 1))
	g.Pix[0], g.Pix[1] = 10, 200
	p3, _ := dataNewPipe(ImageOptions{Norm: NormRaw255()}, 1, 2, 3, ResizeDirect)
	x := p3.run(u8Of(g, 1), nil, nil)
	closeTo(t, "gray->rgb", x.F32, []float64{10, 200, 10, 200, 10, 200}, 0)
	x = p3.run(u8Of(g, 3), nil, nil)
	closeTo(t, "gray->rgb (decode)", x.F32, []float64{10, 200, 10, 200, 10, 200}, 0)
	p1, _ := dataNewPipe(ImageOptions{Norm: NormRaw255()}, 1, 1, 1, ResizeDirect)
	x = p1.run(u8Of(solidRGB(1, 1, color.RGBA{255, 0, 0, 255}), 3), nil, nil)
	closeTo(t, "rgb->gray", x.F32, []float64{76}, 0)
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestImageOptionsFor(t *testing.T) {
	o, err := ImageOptionsFor([]int{1, 3, 224, 224})
	if err != nil || o.Layout != NCHW || o.Channels != 3 || o.Height != 224 {
		t.Fatalf("%+v %v", o, err)
	}
	o, err = ImageOptionsFor([]int{-1, 299, 299, 3})
	if err != nil || o.Layout != NHWC || o.Channels != 3 || o.Width != 299 {
		t.Fatalf("%+v %v", o, err)
	}
	o, err = ImageOptionsFor([]int{1, 1, 28, 28})
	if err != nil || o.Channels != 1 || o.Height != 28 {
		t.Fatalf("%+v %v", o, err)
	}
	for _, bad := range [][]int{{1, 1000}, {1, 5, 5, 5}, {1, 3, -1, -1}} {
		if _, err := ImageOptionsFor(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// makeFolder builds ROOT/<class>/<n>.<ext> images.
func makeFolder(t *testing.T, root string, classes map[string][]color.RGBA, ext string) {
	t.Helper()
	for cls, cols := range classes {
		for i, c := range cols {
			var img image.Image = solidRGB(12, 8, c)
			if ext == ".gif" {
				p := image.NewPaletted(image.Rect(0, 0, 12, 8), color.Palette{color.RGBA{0, 0, 0, 255}, c})
				for k := range p.Pix {
					p.Pix[k] = 1
				}
				img = p
			}
			writeImage(t, filepath.Join(root, cls, string(rune('a'+i))+ext), img)
		}
	}
}

func TestImageFolder(t *testing.T) {
	for _, ext := range []string{".png", ".jpg", ".gif"} {
		t.Run(ext, func(t *testing.T) {
			root := t.TempDir()
			red, blue := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}
			makeFolder(t, root, map[string][]color.RGBA{"zebra": {red, red}, "ant": {blue}}, ext)
			f, err := OpenImageFolder(root, FolderOptions{ImageOptions: ImageOptions{Height: 4, Norm: NormUnit()}})
			if err != nil {
				t.Fatal(err)
			}
			if f.Len() != 3 || !sameStrings(f.Classes(), []string{"ant", "zebra"}) {
				t.Fatalf("len %d classes %v", f.Len(), f.Classes())
			}
			if !sameInts(f.InputShape(), []int{3, 4, 4}) {
				t.Fatalf("shape %v", f.InputShape())
			}
			tol := 1e-5
			if ext == ".jpg" {
				tol = 0.03
			}
			for i := range f.Len() {
				x, label, err := f.Get(i)
				if err != nil {
					t.Fatal(err)
				}
				want := []float64{0, 0, 1} // ant is blue
				if label == 1 {
					want = []float64{1, 0, 0}
				}
				if filepath.Base(filepath.Dir(f.Path(i))) != f.Classes()[label] {
					t.Fatalf("sample %d (%s) has label %d", i, f.Path(i), label)
				}
				for c := range 3 {
					closeTo(t, "pixel", x.F32[c*16:c*16+1], want[c:c+1], tol)
				}
			}
			x, labels, err := Batch(f, []int{2, 0})
			if err != nil {
				t.Fatal(err)
			}
			if !sameInts(x.Shape, []int{2, 3, 4, 4}) || labels[0] != 1 || labels[1] != 0 {
				t.Fatalf("batch %v %v", x.Shape, labels)
			}
		})
	}
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestImageFolderErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := OpenImageFolder(root, FolderOptions{}); err == nil || !strings.Contains(err.Error(), "dataset empty") {
		t.Fatalf("empty root: %v", err)
	}
	os.MkdirAll(filepath.Join(root, "cat"), 0o755)
	os.MkdirAll(filepath.Join(root, "dog"), 0o755)
	writeImage(t, filepath.Join(root, "cat", "a.png"), solidRGB(3, 3, color.RGBA{1, 2, 3, 255}))
	os.WriteFile(filepath.Join(root, "dog", "notes.txt"), []byte("x"), 0o644)
	if _, err := OpenImageFolder(root, FolderOptions{}); err == nil || !strings.Contains(err.Error(), "dog") || !strings.Contains(err.Error(), "no images") {
		t.Fatalf("empty class: %v", err)
	}
	bad := filepath.Join(root, "dog", "broken.jpg")
	os.WriteFile(bad, []byte("not a jpeg"), 0o644)
	f, err := OpenImageFolder(root, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var gotErr error
	for i := range f.Len() {
		if _, _, err := f.Get(i); err != nil {
			gotErr = err
		}
	}
	if gotErr == nil || !strings.Contains(gotErr.Error(), bad) {
		t.Fatalf("bad image error %v does not name %s", gotErr, bad)
	}
	if _, _, err := f.Get(5); err == nil {
		t.Fatal("out of range Get accepted")
	}
}

func TestImageSplitsAndLabels(t *testing.T) {
	root := t.TempDir()
	c := color.RGBA{9, 9, 9, 255}
	makeFolder(t, filepath.Join(root, "train"), map[string][]color.RGBA{"b": {c, c}, "a": {c}, "c": {c}}, ".png")
	makeFolder(t, filepath.Join(root, "val"), map[string][]color.RGBA{"c": {c}}, ".png")
	if _, err := OpenImageFolder(root, FolderOptions{}); err == nil {
		t.Fatal("split root opened as one folder")
	}
	tr, va, err := OpenImageSplits(root, FolderOptions{ImageOptions: ImageOptions{Height: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 4 || va.Len() != 1 || !sameStrings(va.Classes(), []string{"a", "b", "c"}) {
		t.Fatalf("train %d val %d classes %v", tr.Len(), va.Len(), va.Classes())
	}
	if l, _ := va.Label(0); l != 2 {
		t.Fatalf("val label %d, want 2 (c)", l)
	}
	// Not split: whole folder, nil val.
	tr2, va2, err := OpenImageSplits(filepath.Join(root, "train"), FolderOptions{})
	if err != nil || va2 != nil || tr2.Len() != 4 {
		t.Fatalf("unsplit: %v %v", va2, err)
	}
	// Labels file listing all folders (plus one more): its order wins.
	lf := filepath.Join(root, "labels.txt")
	os.WriteFile(lf, []byte("c\nx\nb\na\n\n"), 0o644)
	f, err := OpenImageFolder(filepath.Join(root, "train"), FolderOptions{LabelsFile: lf})
	if err != nil {
		t.Fatal(err)
	}
	if !sameStrings(f.Classes(), []string{"c", "x", "b", "a"}) {
		t.Fatalf("classes %v", f.Classes())
	}
	for i := range f.Len() {
		l, _ := f.Label(i)
		if f.Classes()[l] != filepath.Base(filepath.Dir(f.Path(i))) {
			t.Fatalf("%s has label %d", f.Path(i), l)
		}
	}
	// Labels file renaming the sorted folders.
	os.WriteFile(lf, []byte("Apple\nBanana\nCherry\n"), 0o644)
	f, err = OpenImageFolder(filepath.Join(root, "train"), FolderOptions{LabelsFile: lf})
	if err != nil {
		t.Fatal(err)
	}
	if !sameStrings(f.Classes(), []string{"Apple", "Banana", "Cherry"}) {
		t.Fatalf("classes %v", f.Classes())
	}
	if l, _ := f.Label(0); l != 0 {
		t.Fatalf("label %d", l)
	}
	os.WriteFile(lf, []byte("Apple\nBanana\n"), 0o644)
	if _, err := OpenImageFolder(filepath.Join(root, "train"), FolderOptions{LabelsFile: lf}); err == nil {
		t.Fatal("labels file with too few names accepted")
	}
}

func TestImageFolderCache(t *testing.T) {
	root := t.TempDir()
	writeImage(t, filepath.Join(root, "a", "big.png"), patternRGB(600, 400))
	opts := FolderOptions{ImageOptions: ImageOptions{Height: 32}}
	plain, err := OpenImageFolder(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Cache = true
	cached, err := OpenImageFolder(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := plain.Get(0)
	for range 2 {
		b, _, err := cached.Get(0)
		if err != nil {
			t.Fatal(err)
		}
		var want []float64
		for _, v := range a.F32 {
			want = append(want, float64(v))
		}
		closeTo(t, "cached", b.F32, want, 1.0/255+1e-4)
	}
	if u := cached.cache.imgs[0]; min(u.w, u.h) != 36 {
		t.Fatalf("cached image %dx%d, want shorter side int(32/0.875)=36", u.w, u.h)
	}
}

// TestYCbCrFastPath checks the YCbCr conversion against image.At for every
// subsampling ratio and an odd sub-rectangle.
func TestYCbCrFastPath(t *testing.T) {
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410} {
		full := image.NewYCbCr(image.Rect(0, 0, 13, 9), ratio)
		for i := range full.Y {
			full.Y[i] = uint8(i * 7)
		}
		for i := range full.Cb {
			full.Cb[i], full.Cr[i] = uint8(i*13+5), uint8(i*29+100)
		}
		img := full.SubImage(image.Rect(3, 1, 12, 8)).(*image.YCbCr)
		u := dataFromImage(img, 3)
		g := dataFromImage(img, 1)
		for y := range 7 {
			for x := range 9 {
				c := img.YCbCrAt(x+3, y+1)
				R, G, B := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				i := y*9 + x
				if u.pix[3*i] != R || u.pix[3*i+1] != G || u.pix[3*i+2] != B || g.pix[i] != c.Y {
					t.Fatalf("%v at %d,%d: got %v want %v %v %v", ratio, x, y, u.pix[3*i:3*i+3], R, G, B)
				}
			}
		}
	}
}

// TestEvalTransformPIL follows torchvision's Resize(8) + CenterCrop(7) on a
// 30x20 image, with the reference from PIL 9.4: im.resize((12, 8),
// BILINEAR).crop((2, 0, 9, 7)) (offsets round(2.5) = 2, round(0.5) = 0).
func TestEvalTransformPIL(t *testing.T) {
	want := []float64{120, 109, 138, 117, 116, 142, 115, 129, 120, 115, 134, 120, 123, 134, 108, 127, 122, 113, 131, 122, 120, 122, 111, 124, 122, 116, 128, 123, 136, 119, 114, 126, 120, 118, 131, 138, 136, 120, 111, 129, 120, 115, 128, 140, 134, 123, 108, 127, 122, 125, 124, 118, 123, 127, 122, 128, 144, 130, 119, 116, 129, 119, 123, 130, 142, 134, 116, 119, 131, 117, 133, 130, 143, 133, 116, 119, 130, 141, 130, 133, 145, 129, 118, 116, 125, 144, 130, 133, 144, 130, 119, 132, 123, 141, 132, 130, 142, 134, 138, 136, 107, 119, 132, 108, 130, 133, 142, 126, 113, 123, 125, 117, 127, 136, 140, 126, 116, 118, 128, 140, 127, 137, 139, 129, 115, 119, 126, 138, 130, 132, 142, 129, 113, 129, 126, 139, 129, 133, 142, 126, 137, 126, 129, 141, 127, 136, 140}
	root := t.TempDir()
	writeImage(t, filepath.Join(root, "c", "p.png"), patternRGB(30, 20))
	f, err := OpenImageFolder(root, FolderOptions{ImageOptions: ImageOptions{Height: 7, Norm: NormRaw255()}})
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := f.Get(0)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "eval transform", x.F32, want, 1.01)
}
