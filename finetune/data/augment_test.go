package data

import (
	"image"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/graftml/graft/nn"
)

func TestParseAugment(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Augment
		str  string
	}{
		{"flip,crop:4,rrc", Augment{Flip: true, CropPad: 4, RRC: true}, "rrc,flip,crop:4"},
		{" Flip , crop ", Augment{Flip: true, CropPad: 4}, "flip,crop:4"},
		{"rrc:0.2-1", Augment{RRC: true, RRCScale: [2]float64{0.2, 1}}, "rrc:0.2-1"},
	} {
		a, err := ParseAugment(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if *a != c.want || a.String() != c.str {
			t.Errorf("%q: %+v %q", c.in, *a, a.String())
		}
		b, err := ParseAugment(a.String())
		if err != nil || *b != *a {
			t.Errorf("round trip of %q: %+v %v", a.String(), b, err)
		}
	}
	for _, s := range []string{"", "none"} {
		if a, err := ParseAugment(s); a != nil || err != nil || a.Enabled() || a.String() != "none" {
			t.Errorf("%q: %v %v", s, a, err)
		}
	}
	for _, s := range []string{"blur", "crop:x", "crop:0", "rrc:0.5", "rrc:0.9-0.1", "flip:2"} {
		if _, err := ParseAugment(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// planarPattern is a c×h×w planar image with value 1000c + 10y + x + 1.
func planarPattern(c, h, w int) dataPlanar {
	p := dataPlanar{c: c, h: h, w: w, pix: make([]float32, c*h*w)}
	for ci := range c {
		for y := range h {
			for x := range w {
				p.pix[(ci*h+y)*w+x] = float32(1000*ci + 10*y + x + 1)
			}
		}
	}
	return p
}

func TestFlipAndCropPad(t *testing.T) {
	a := &Augment{Flip: true}
	flipped, kept := 0, 0
	for i := range 64 {
		src := planarPattern(2, 3, 4)
		out := a.applyPlanar(planarPattern(2, 3, 4), SampleRNG(1, 0, i))
		mirror := true
		for ci := range 2 {
			for y := range 3 {
				for x := range 4 {
					if out.pix[(ci*3+y)*4+x] != src.pix[(ci*3+y)*4+3-x] {
						mirror = false
					}
				}
			}
		}
		switch {
		case mirror:
			flipped++
		case slices.Equal(out.pix, src.pix):
			kept++
		default:
			t.Fatalf("flip gave neither the image nor its mirror: %v", out.pix)
		}
	}
	if flipped < 16 || kept < 16 {
		t.Fatalf("%d flipped, %d kept of 64", flipped, kept)
	}
	// Padded crop: a shift by (dx,dy) in [-P,P] with zeros coming in.
	a = &Augment{CropPad: 2}
	shifts := map[[2]int]bool{}
	for i := range 200 {
		src := planarPattern(1, 5, 6)
		out := a.applyPlanar(planarPattern(1, 5, 6), SampleRNG(2, 1, i))
		found := false
		for dy := -2; dy <= 2 && !found; dy++ {
			for dx := -2; dx <= 2 && !found; dx++ {
				ok := true
				for y := range 5 {
					for x := range 6 {
						var want float32
						if sy, sx := y+dy, x+dx; sy >= 0 && sy < 5 && sx >= 0 && sx < 6 {
							want = src.pix[sy*6+sx]
						}
						if out.pix[y*6+x] != want {
							ok = false
						}
					}
				}
				if ok {
					found = true
					shifts[[2]int{dx, dy}] = true
				}
			}
		}
		if !found {
			t.Fatalf("crop result is no shift: %v", out.pix)
		}
	}
	if len(shifts) != 25 {
		t.Fatalf("%d of 25 shifts seen", len(shifts))
	}
}

func TestRRCBox(t *testing.T) {
	a := &Augment{RRC: true}
	var areaSum float64
	n := 2000
	for i := range n {
		x, y, w, h := a.rrcBox(200, 100, SampleRNG(5, 0, i))
		if x < 0 || y < 0 || w < 1 || h < 1 || x+w > 200 || y+h > 100 {
			t.Fatalf("box %d,%d %dx%d outside 200x100", x, y, w, h)
		}
		frac := float64(w*h) / 20000
		r := float64(w) / float64(h)
		if frac < 0.07 || frac > 1 || (frac < 0.99 && (r < 0.74 || r > 1.35)) {
			t.Fatalf("box %dx%d: area fraction %v ratio %v", w, h, frac, r)
		}
		areaSum += frac
	}
	// Mean area fraction: successful draws are uniform in [0.08,1]; the
	// large ones that do not fit fall back, so the mean is somewhat lower.
	if m := areaSum / float64(n); m < 0.2 || m > 0.6 {
		t.Fatalf("mean area fraction %v", m)
	}
	// A very wide image always falls back to a centre crop of ratio 4/3.
	x, y, w, h := a.rrcBox(1000, 10, SampleRNG(5, 0, 1))
	if w != 13 || h != 10 || x != (1000-13)/2 || y != 0 {
		t.Fatalf("fallback box %d,%d %dx%d", x, y, w, h)
	}
}

func TestAugmentDeterminism(t *testing.T) {
	root := t.TempDir()
	writeImage(t, filepath.Join(root, "a", "p.png"), patternRGB(40, 30))
	writeImage(t, filepath.Join(root, "b", "q.jpg"), patternRGB(30, 40))
	f, err := OpenImageFolder(root, FolderOptions{ImageOptions: ImageOptions{Height: 16, Norm: NormImageNet()}})
	if err != nil {
		t.Fatal(err)
	}
	aug, _ := ParseAugment("rrc,flip,crop:2")
	for i := range 2 {
		x1, _, err := GetAugmented(f, i, aug, SampleRNG(9, 2, i))
		if err != nil {
			t.Fatal(err)
		}
		x2, _, _ := GetAugmented(f, i, aug, SampleRNG(9, 2, i))
		x3, _, _ := GetAugmented(f, i, aug, SampleRNG(9, 3, i))
		if !slices.Equal(x1.Shape, []int{3, 16, 16}) || !slices.Equal(x1.F32, x2.F32) {
			t.Fatal("same (seed, epoch, index) gave different samples")
		}
		if slices.Equal(x1.F32, x3.F32) {
			t.Fatal("another epoch gave the same sample")
		}
	}
	// Through a view the parent's augmentation path is used.
	v, _ := NewSubset(f, []int{1})
	a, _, _ := GetAugmented(v, 0, aug, SampleRNG(9, 2, 7))
	b, _, _ := GetAugmented(f, 1, aug, SampleRNG(9, 2, 7))
	if !slices.Equal(a.F32, b.F32) {
		t.Fatal("view augments differently")
	}
}

func TestApplyTensorLayouts(t *testing.T) {
	const c, h, w = 2, 5, 7
	chw := nn.New(nn.Float32, c, h, w)
	hwc := nn.New(nn.Float32, h, w, c)
	for ci := range c {
		for y := range h {
			for x := range w {
				v := float32(math.Sin(float64(ci*100 + y*10 + x)))
				chw.F32[(ci*h+y)*w+x] = v
				hwc.F32[(y*w+x)*c+ci] = v
			}
		}
	}
	orig := slices.Clone(chw.F32)
	aug := &Augment{RRC: true, Flip: true, CropPad: 1}
	for i := range 20 {
		a, err := aug.ApplyTensor(chw, NCHW, SampleRNG(3, 0, i))
		if err != nil {
			t.Fatal(err)
		}
		b, err := aug.ApplyTensor(hwc, NHWC, SampleRNG(3, 0, i))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Shape, chw.Shape) || !slices.Equal(b.Shape, hwc.Shape) {
			t.Fatalf("shapes %v %v", a.Shape, b.Shape)
		}
		for ci := range c {
			for y := range h {
				for x := range w {
					if a.F32[(ci*h+y)*w+x] != b.F32[(y*w+x)*c+ci] {
						t.Fatalf("layouts disagree at %d,%d,%d", ci, y, x)
					}
				}
			}
		}
	}
	if !slices.Equal(orig, chw.F32) {
		t.Fatal("ApplyTensor modified its input")
	}
	if _, err := aug.ApplyTensor(nn.New(nn.Float32, 4), NCHW, SampleRNG(0, 0, 0)); err == nil {
		t.Fatal("rank-1 sample accepted")
	}
	// A Memory dataset gets augmented through ApplyTensor in the Loader.
	m, _ := NewMemory(nn.FromFloat32(slices.Clone(chw.F32), 1, c, h, w), []int{0}, []string{"x"})
	x, _, err := GetAugmented(m, 0, &Augment{Flip: true}, SampleRNG(1, 1, 1))
	if err != nil || !slices.Equal(x.Shape, []int{c, h, w}) {
		t.Fatal(x, err)
	}
}

func TestImageFolderAugmentShapes(t *testing.T) {
	root := t.TempDir()
	pal := image.NewPaletted(image.Rect(0, 0, 50, 20), color.Palette{color.RGBA{0, 0, 0, 255}, color.RGBA{200, 100, 0, 255}})
	for k := range pal.Pix {
		pal.Pix[k] = 1
	}
	writeImage(t, filepath.Join(root, "a", "p.gif"), pal)
	f, err := OpenImageFolder(root, FolderOptions{ImageOptions: ImageOptions{Height: 8, Width: 12, Layout: NHWC, Norm: NormRaw255()}})
	if err != nil {
		t.Fatal(err)
	}
	aug := &Augment{RRC: true, Flip: true}
	for i := range 10 {
		x, _, err := f.GetAugmented(0, aug, SampleRNG(0, i, 0))
		if err != nil || !slices.Equal(x.Shape, []int{8, 12, 3}) {
			t.Fatal(x, err)
		}
		// A solid image stays solid under RRC and flip.
		for k := 0; k < len(x.F32); k += 3 {
			if math.Abs(float64(x.F32[k]-200)) > 0.01 || math.Abs(float64(x.F32[k+1]-100)) > 0.01 {
				t.Fatalf("pixel %d = %v", k/3, x.F32[k:k+3])
			}
		}
	}
}
