package data

import (
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/nn"
)

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	// CSV
	csvPath := filepath.Join(dir, "t.csv")
	os.WriteFile(csvPath, []byte("f,label\n1,a\n2,b\n"), 0o644)
	tr, va, err := Open(csvPath, OpenOptions{})
	if err != nil || va != nil || tr.Len() != 2 {
		t.Fatalf("csv: %v %v %v", tr, va, err)
	}
	// NPY folder and pair.
	npyDir := filepath.Join(dir, "npy")
	os.MkdirAll(npyDir, 0o755)
	writeNPY(t, filepath.Join(npyDir, "X.npy"), nn.New(nn.Float32, 3, 2))
	writeNPY(t, filepath.Join(npyDir, "y.npy"), nn.FromInt64([]int64{0, 1, 1}, 3))
	for _, p := range []string{npyDir, filepath.Join(npyDir, "X.npy") + "," + filepath.Join(npyDir, "y.npy")} {
		tr, va, err = Open(p, OpenOptions{})
		if err != nil || va != nil || tr.Len() != 3 {
			t.Fatalf("npy %s: %v %v %v", p, tr, va, err)
		}
	}
	// IDX folder named like Fashion-MNIST.
	ip, lp := tinyIDX(t, true)
	idxDir := filepath.Join(dir, "my-fashion")
	os.MkdirAll(idxDir, 0o755)
	for src, dst := range map[string]string{ip: "train-images-idx3-ubyte.gz", lp: "train-labels-idx1-ubyte.gz"} {
		b, _ := os.ReadFile(src)
		os.WriteFile(filepath.Join(idxDir, dst), b, 0o644)
		os.WriteFile(filepath.Join(idxDir, strings.Replace(dst, "train", "t10k", 1)), b, 0o644)
	}
	tr, va, err = Open(idxDir, OpenOptions{Classes: []int{2, 1}, PerClass: 3})
	if err != nil || va == nil || tr.Len() != 6 || va.Len() != 6 {
		t.Fatalf("idx: %v %v %v", tr, va, err)
	}
	if c := tr.Classes(); len(c) != 2 || c[0] != "Pullover" || c[1] != "Trouser" {
		t.Fatalf("idx classes %v", c)
	}
	// Image folders, split and not.
	c := color.RGBA{1, 2, 3, 255}
	makeFolder(t, filepath.Join(dir, "img", "train"), map[string][]color.RGBA{"x": {c}, "y": {c}}, ".png")
	makeFolder(t, filepath.Join(dir, "img", "test"), map[string][]color.RGBA{"y": {c}}, ".png")
	tr, va, err = Open(filepath.Join(dir, "img"), OpenOptions{Image: ImageOptions{Height: 8}})
	if err != nil || va == nil || tr.Len() != 2 || va.Len() != 1 || !sameInts(tr.InputShape(), []int{3, 8, 8}) {
		t.Fatalf("image splits: %v %v %v", tr, va, err)
	}
	tr, va, err = Open(filepath.Join(dir, "img", "train"), OpenOptions{})
	if err != nil || va != nil || tr.Len() != 2 {
		t.Fatalf("image folder: %v %v %v", tr, va, err)
	}
	for _, bad := range []string{filepath.Join(dir, "nothing"), filepath.Join(npyDir, "X.npy")} {
		if _, _, err := Open(bad, OpenOptions{}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
