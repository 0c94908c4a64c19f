package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeIDX writes an unsigned-byte IDX file, gzipped when the name ends in
// .gz.
func writeIDX(t *testing.T, path string, dims []int, data []uint8) {
	t.Helper()
	var b bytes.Buffer
	b.Write([]byte{0, 0, 8, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	out := b.Bytes()
	if strings.HasSuffix(path, ".gz") {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(out)
		w.Close()
		out = z.Bytes()
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tinyIDX writes 12 2x3 images with labels 0,1,2,0,1,2,...; image k has all
// pixels equal to 10*k.
func tinyIDX(t *testing.T, gz bool) (string, string) {
	dir := t.TempDir()
	ext := ""
	if gz {
		ext = ".gz"
	}
	var pix, lab []uint8
	for k := range 12 {
		for range 6 {
			pix = append(pix, uint8(10*k))
		}
		lab = append(lab, uint8(k%3))
	}
	ip, lp := filepath.Join(dir, "img"+ext), filepath.Join(dir, "lab"+ext)
	writeIDX(t, ip, []int{12, 2, 3}, pix)
	writeIDX(t, lp, []int{12}, lab)
	return ip, lp
}

func TestIDXSynthetic(t *testing.T) {
	for _, gz := range []bool{false, true} {
		ip, lp := tinyIDX(t, gz)
		d, err := OpenIDX(ip, lp, IDXOptions{ImageOptions: ImageOptions{Norm: NormRaw255()}})
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != 12 || !sameInts(d.InputShape(), []int{1, 2, 3}) || !sameStrings(d.Classes(), []string{"0", "1", "2"}) {
			t.Fatalf("len %d shape %v classes %v", d.Len(), d.InputShape(), d.Classes())
		}
		x, l, err := d.Get(4)
		if err != nil || l != 1 {
			t.Fatal(l, err)
		}
		closeTo(t, "idx pixels", x.F32, []float64{40, 40, 40, 40, 40, 40}, 0)
	}
	// Class selection {2, 0} relabelled 0, 1 with 2 per class.
	ip, lp := tinyIDX(t, true)
	d, err := OpenIDX(ip, lp, IDXOptions{ClassNames: []string{"x", "y", "z"}, Classes: []int{2, 0}, PerClass: 2,
		ImageOptions: ImageOptions{Channels: 3, Height: 4, Width: 6, Layout: NHWC, Norm: NormRaw255()}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 4 || !sameStrings(d.Classes(), []string{"z", "x"}) {
		t.Fatalf("len %d classes %v", d.Len(), d.Classes())
	}
	wantFile := []int{0, 2, 3, 5}
	wantLab := []int{1, 0, 1, 0}
	for i := range 4 {
		x, l, err := d.Get(i)
		if err != nil {
			t.Fatal(err)
		}
		if d.FileIndex(i) != wantFile[i] || l != wantLab[i] {
			t.Fatalf("sample %d: file %d label %d", i, d.FileIndex(i), l)
		}
		if !sameInts(x.Shape, []int{4, 6, 3}) {
			t.Fatalf("shape %v", x.Shape)
		}
		want := make([]float64, 72)
		for k := range want {
			want[k] = float64(10 * wantFile[i])
		}
		closeTo(t, "upsampled constant", x.F32, want, 1e-3)
	}
	for _, o := range []IDXOptions{{Classes: []int{7}}, {Classes: []int{1, 1}}, {ClassNames: []string{"a"}}, {PerClass: -1}} {
		if _, err := OpenIDX(ip, lp, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	// Corrupt files.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte{1, 2, 3, 4, 5}, 0o644)
	if _, err := OpenIDX(bad, lp, IDXOptions{}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad magic: %v", err)
	}
	trunc := filepath.Join(dir, "trunc")
	writeIDX(t, trunc, []int{1000, 28, 28}, make([]uint8, 100))
	if _, err := OpenIDX(trunc, lp, IDXOptions{}); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated: %v", err)
	}
	if _, err := OpenIDX(ip, ip, IDXOptions{}); err == nil {
		t.Error("images as labels accepted")
	}
}

// fashionDir returns the Fashion-MNIST folder or skips (fails under
// GRAFT_REQUIRE_SHARED=1, as CI installs dataset-fashion-mnist).
func fashionDir(t *testing.T) string {
	if _, err := os.Stat(filepath.Join(FashionMNISTDir, "train-labels-idx1-ubyte.gz")); err != nil {
		msg := "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): " + err.Error()
		if os.Getenv("GRAFT_REQUIRE_SHARED") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return FashionMNISTDir
}

func TestFashionMNIST(t *testing.T) {
	dir := fashionDir(t)
	tr, err := OpenFashionMNIST(dir, true, IDXOptions{ImageOptions: ImageOptions{Norm: NormRaw255()}})
	if err != nil {
		t.Fatal(err)
	}
	te, err := OpenFashionMNIST(dir, false, IDXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 60000 || te.Len() != 10000 {
		t.Fatalf("%d train, %d test images", tr.Len(), te.Len())
	}
	x, l, err := tr.Get(0)
	if err != nil {
		t.Fatal(err)
	}
	if l != 9 || tr.Classes()[l] != "Ankle boot" {
		t.Fatalf("first label %d (%s)", l, tr.Classes()[l])
	}
	if !sameInts(x.Shape, []int{1, 28, 28}) {
		t.Fatalf("shape %v", x.Shape)
	}
	// Reference values from numpy on the raw file: the sum of image 0 and
	// row 14, columns 10..15.
	var sum float64
	for _, v := range x.F32 {
		sum += float64(v)
	}
	if sum != 76247 {
		t.Fatalf("pixel sum %v, want 76247", sum)
	}
	closeTo(t, "row 14", x.F32[14*28+10:14*28+16], []float64{0, 0, 237, 226, 217, 223}, 0)
	counts, err := ClassCounts(tr)
	if err != nil {
		t.Fatal(err)
	}
	for c, n := range counts {
		if n != 6000 {
			t.Fatalf("class %d has %d samples", c, n)
		}
	}
	// Classes 5..9 as 0..4, 50 per class.
	sel, err := OpenFashionMNIST(dir, true, IDXOptions{Classes: []int{5, 6, 7, 8, 9}, PerClass: 50,
		ImageOptions: ImageOptions{Height: 32, Channels: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if sel.Len() != 250 || !sameStrings(sel.Classes(), []string{"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}) {
		t.Fatalf("len %d classes %v", sel.Len(), sel.Classes())
	}
	// First samples in file order: 0 (9), 6 (7), 8 (5), 9 (5), 11 (9).
	for i, want := range [][2]int{{0, 4}, {6, 2}, {8, 0}, {9, 0}, {11, 4}} {
		l, _ := sel.Label(i)
		if sel.FileIndex(i) != want[0] || l != want[1] {
			t.Fatalf("sample %d: file %d label %d, want %v", i, sel.FileIndex(i), l, want)
		}
	}
	x, _, err = sel.Get(0)
	if err != nil || !sameInts(x.Shape, []int{3, 32, 32}) {
		t.Fatalf("%v %v", x, err)
	}
	counts, _ = ClassCounts(sel)
	for c, n := range counts {
		if n != 50 {
			t.Fatalf("class %d has %d samples", c, n)
		}
	}
}

func FuzzDecodeImage(f *testing.F) {
	var b bytes.Buffer
	png.Encode(&b, patternRGB(3, 2))
	f.Add(b.Bytes())
	b.Reset()
	gif.Encode(&b, patternRGB(4, 4), nil)
	f.Add(b.Bytes())
	b.Reset()
	jpeg.Encode(&b, patternRGB(9, 5), nil)
	f.Add(b.Bytes())
	pipe, err := dataNewPipe(ImageOptions{Height: 5, Width: 7}, 0, 0, 3, ResizeCrop)
	if err != nil {
		f.Fatal(err)
	}
	aug := &Augment{RRC: true, Flip: true, CropPad: 2}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range []int{1, 3} {
			u, err := dataDecode(data, c)
			if err != nil {
				return
			}
			if len(u.pix) != u.w*u.h*c {
				t.Fatalf("%dx%dx%d image with %d bytes", u.w, u.h, c, len(u.pix))
			}
			x := pipe.run(u, aug, SampleRNG(1, 2, len(data)))
			if !sameInts(x.Shape, []int{3, 5, 7}) {
				t.Fatalf("shape %v", x.Shape)
			}
			for _, v := range x.F32 {
				if v != v || v < -0.01 || v > 1.01 {
					t.Fatalf("value %v", v)
				}
			}
		}
	})
}

// With a per-class quota only the images up to the last selected one are
// read: a file cut after them still opens (and gives the right pixels),
// while reading everything reports the truncation.
func TestIDXReadsOnlyTheNeededPrefix(t *testing.T) {
	_, lp := tinyIDX(t, true)
	var pix []uint8
	for k := range 6 { // images 0..5 of the 12 the header announces
		for range 6 {
			pix = append(pix, uint8(10*k))
		}
	}
	ip := filepath.Join(t.TempDir(), "cut.gz")
	writeIDX(t, ip, []int{12, 2, 3}, pix)
	// Classes 2 and 0, two each: files 0, 2, 3, 5 (labels cycle 0,1,2).
	d, err := OpenIDX(ip, lp, IDXOptions{Classes: []int{2, 0}, PerClass: 2, ImageOptions: ImageOptions{Norm: NormRaw255()}})
	if err != nil {
		t.Fatalf("quota within the first 6 images: %v", err)
	}
	x, l, err := d.Get(3)
	if err != nil || l != 0 || d.FileIndex(3) != 5 {
		t.Fatalf("sample 3: label %d file %d err %v, want label 0 from file 5", l, d.FileIndex(3), err)
	}
	closeTo(t, "pixels of file 5", x.F32, []float64{50, 50, 50, 50, 50, 50}, 0)
	if _, err := OpenIDX(ip, lp, IDXOptions{}); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("reading all of a cut file: %v, want a truncation error", err)
	}
	// A class that cannot fill its quota needs every item.
	if got := dataIDXPrefix([]uint8{0, 1, 2, 0, 1, 2}, []int{0, 1}, 3); got != -1 {
		t.Errorf("prefix for a short class = %d, want -1", got)
	}
	if got := dataIDXPrefix([]uint8{0, 1, 2, 0, 1, 2}, nil, 2); got != 6 {
		t.Errorf("prefix for all classes, 2 each = %d, want 6", got)
	}
	if got := dataIDXPrefix([]uint8{0, 1, 2, 0, 1, 2}, []int{1}, 1); got != 2 {
		t.Errorf("prefix for class 1, 1 each = %d, want 2", got)
	}
}
