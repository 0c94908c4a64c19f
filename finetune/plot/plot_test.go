package plot

import (
	"bytes"
	"encoding/xml"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleHistory() []EpochRecord {
	h := make([]EpochRecord, 8)
	for i := range h {
		e := float64(i + 1)
		h[i] = EpochRecord{Epoch: i + 1, TrainLoss: 2 / e, TrainAcc: 1 - 0.5/e, ValLoss: 2.2/e + 0.01*e,
			ValAcc: 0.95 - 0.5/e, LR: 0.01 * math.Pow(0.9, e), Seconds: 12.5 + e}
	}
	return h
}

func checkPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("%s: size %dx%d, want %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
}

func checkSVG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: invalid XML: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", path, root)
	}
}

func TestCurves(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "run_")
	h := sampleHistory()
	h[3].ValLoss = math.NaN() // a gap must not break drawing
	if err := Curves(h, prefix); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"loss", "accuracy"} {
		checkPNG(t, prefix+name+".png", 576, 384)
		checkSVG(t, prefix+name+".svg")
	}
	if os.Getenv("GRAFT_KEEP_PLOTS") != "" {
		_ = Curves(h, os.Getenv("GRAFT_KEEP_PLOTS"))
	}
	// One epoch, no validation.
	one := []EpochRecord{{Epoch: 1, TrainLoss: 1, TrainAcc: 0.5, ValLoss: math.NaN(), ValAcc: math.NaN()}}
	if err := Curves(one, filepath.Join(dir, "one_")); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, filepath.Join(dir, "one_loss.png"), 576, 384)
	if err := Curves(nil, prefix); err == nil {
		t.Error("Curves(nil) succeeded")
	}
	if err := Curves(h, filepath.Join(dir, "missing", "x_")); err == nil {
		t.Error("Curves into a missing folder succeeded")
	}
}

func TestConfusionHeatmap(t *testing.T) {
	dir := t.TempDir()
	conf := [][]int{{50, 2, 0, 1}, {3, 40, 5, 0}, {0, 7, 33, 2}, {0, 0, 1, 0}}
	names := []string{"cat", "dog", "bird", "fish"}
	png := filepath.Join(dir, "conf.png")
	if err := ConfusionHeatmap(conf, names, png); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, png, 480, 480) // 5 x 5 inches at 96 dpi
	svg := filepath.Join(dir, "conf.svg")
	if err := ConfusionHeatmap(conf, nil, svg); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, svg)
	data, _ := os.ReadFile(svg)
	if !strings.Contains(string(data), ">33<") && !strings.Contains(string(data), "33") {
		t.Errorf("SVG lacks the cell count 33")
	}
	if dst := os.Getenv("GRAFT_KEEP_PLOTS"); dst != "" {
		_ = ConfusionHeatmap(conf, names, dst+"confusion.png")
		big := make([][]int, 12)
		for i := range big {
			big[i] = make([]int, 12)
			for j := range big[i] {
				big[i][j] = (i*7 + j*3) % 5
			}
			big[i][i] = 30
		}
		_ = ConfusionHeatmap(big, nil, dst+"confusion12.png")
	}
	// All zeros and a single class work.
	if err := ConfusionHeatmap([][]int{{0, 0}, {0, 0}}, nil, filepath.Join(dir, "z.png")); err != nil {
		t.Error(err)
	}
	if err := ConfusionHeatmap([][]int{{3}}, []string{"only"}, filepath.Join(dir, "one.svg")); err != nil {
		t.Error(err)
	}
	// Many classes: no labels, larger figure.
	big := make([][]int, 100)
	for i := range big {
		big[i] = make([]int, 100)
		big[i][i] = i
	}
	if err := ConfusionHeatmap(big, nil, filepath.Join(dir, "big.png")); err != nil {
		t.Error(err)
	}
	for _, bad := range []struct {
		conf  [][]int
		names []string
		path  string
	}{
		{nil, nil, filepath.Join(dir, "a.png")},
		{[][]int{{1, 2}, {3}}, nil, filepath.Join(dir, "b.png")},
		{[][]int{{1, -2}, {3, 4}}, nil, filepath.Join(dir, "c.png")},
		{conf, []string{"a"}, filepath.Join(dir, "d.png")},
		{conf, names, filepath.Join(dir, "e.bmp")},
	} {
		if err := ConfusionHeatmap(bad.conf, bad.names, bad.path); err == nil {
			t.Errorf("ConfusionHeatmap(%v, %v, %s) succeeded", bad.conf, bad.names, bad.path)
		}
	}
}

func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func sameHistory(a, b []EpochRecord) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Epoch != y.Epoch {
			return false
		}
		fx, fy := x.floats(), y.floats()
		for j := range fx {
			if !sameFloat(*fx[j], *fy[j]) {
				return false
			}
		}
	}
	return true
}

func TestCSVRoundTrip(t *testing.T) {
	h := sampleHistory()
	h[2].ValAcc = math.NaN()
	h[5].LR = 1e-300
	var b bytes.Buffer
	if err := WriteCSV(&b, h); err != nil {
		t.Fatal(err)
	}
	if first := strings.SplitN(b.String(), "\n", 2)[0]; first != "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds" {
		t.Errorf("header %q", first)
	}
	back, err := ReadCSV(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !sameHistory(h, back) {
		t.Errorf("CSV round trip:\n%+v\n%+v", h, back)
	}
	// Reordered and partial columns.
	back, err = ReadCSV(strings.NewReader("val_accuracy,epoch,extra\n0.5,3,x\n,4,y\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 2 || back[0].Epoch != 3 || back[0].ValAcc != 0.5 || !math.IsNaN(back[0].TrainLoss) ||
		!math.IsNaN(back[1].ValAcc) {
		t.Errorf("partial CSV: %+v", back)
	}
	for _, bad := range []string{"", "train_loss\n1\n", "epoch,lr\nx,1\n", "epoch,lr\n1,zz\n", "epoch,lr\n1\n"} {
		if _, err := ReadCSV(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadCSV(%q) succeeded", bad)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	h := sampleHistory()
	h[0].ValLoss = math.NaN()
	h[1].TrainLoss = math.Inf(1) // diverged: written as null, read as NaN
	var b bytes.Buffer
	if err := WriteJSON(&b, h); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"val_loss": null`) || !strings.Contains(b.String(), `"train_accuracy"`) {
		t.Errorf("JSON:\n%s", b.String())
	}
	back, err := ReadJSON(&b)
	if err != nil {
		t.Fatal(err)
	}
	h[1].TrainLoss = math.NaN()
	if !sameHistory(h, back) {
		t.Errorf("JSON round trip:\n%+v\n%+v", h, back)
	}
	b.Reset()
	if err := WriteJSON(&b, nil); err != nil || strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("empty history JSON %q (%v)", b.String(), err)
	}
	if _, err := ReadJSON(strings.NewReader("{")); err == nil {
		t.Error("ReadJSON of bad input succeeded")
	}
}
