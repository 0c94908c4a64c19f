package data

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/nn"
)

func TestCSV(t *testing.T) {
	src := "a, b ,species\n1,2,setosa\n3.5,-4,virginica\n5,6e1,setosa\n"
	m, err := ReadCSV(strings.NewReader(src), CSVOptions{Label: "species"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 3 || !sameInts(m.InputShape(), []int{2}) || !sameStrings(m.Classes(), []string{"setosa", "virginica"}) {
		t.Fatalf("len %d shape %v classes %v", m.Len(), m.InputShape(), m.Classes())
	}
	x, l, _ := m.Get(1)
	closeTo(t, "row 1", x.F32, []float64{3.5, -4}, 0)
	if l != 1 {
		t.Fatalf("label %d", l)
	}
	// Numeric labels, chosen feature columns, other separator.
	m, err = ReadCSV(strings.NewReader("y;f1;f2;f3\n2;1;2;3\n0;4;5;6\n"), CSVOptions{Label: "y", Features: []string{"f3", "f1"}, Comma: ';'})
	if err != nil {
		t.Fatal(err)
	}
	x, l, _ = m.Get(0)
	closeTo(t, "features", x.F32, []float64{3, 1}, 0)
	if l != 2 || !sameStrings(m.Classes(), []string{"0", "1", "2"}) {
		t.Fatalf("label %d classes %v", l, m.Classes())
	}
	// Regression.
	m, err = ReadCSV(strings.NewReader("x,price\n1,2.5\n2,-1e3\n"), CSVOptions{Label: "price", Task: TaskRegress})
	if err != nil {
		t.Fatal(err)
	}
	if m.Classes() != nil || m.TargetDim() != 1 {
		t.Fatalf("regression classes %v dim %d", m.Classes(), m.TargetDim())
	}
	y, err := BatchTargets(m, []int{1, 0})
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "targets", y.F32, []float64{-1000, 2.5}, 0)
	// Errors name the line.
	for _, c := range []struct{ src, want string }{
		{"a,l\n1,x\n2,y\nfoo,z\n", "line 4"},
		{"a,l\n1,x\n2,3,y\n", "line 3"},
		{"a,l\n1,x\n2,\n", "line 3"},
		{"a,l\n1,x\nNaN,y\n", "line 3"},
		{"a,b\n1,2\n", "no column \"l\""},
		{"a,l\n", "dataset empty"},
	} {
		_, err := ReadCSV(strings.NewReader(c.src), CSVOptions{Label: "l"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.src, err, c.want)
		}
	}
	if _, err := ReadCSV(strings.NewReader("a,l\n1,x\n"), CSVOptions{Label: "l", Task: TaskRegress}); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("non-numeric target: %v", err)
	}
	path := filepath.Join(t.TempDir(), "d.csv")
	os.WriteFile(path, []byte("a,l\n1,x\n2,q\n"), 0o644)
	if _, err := OpenCSV(path, CSVOptions{Label: "l", Features: []string{"zz"}}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("OpenCSV error %v does not name the file", err)
	}
}

func writeNPY(t *testing.T, path string, x *nn.Tensor) {
	t.Helper()
	var b bytes.Buffer
	if err := nn.WriteNPY(&b, x); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNPY(t *testing.T) {
	dir := t.TempDir()
	xp, yp, fp := filepath.Join(dir, "X.npy"), filepath.Join(dir, "y.npy"), filepath.Join(dir, "yf.npy")
	xs := make([]float32, 4*2*3)
	for i := range xs {
		xs[i] = float32(i)
	}
	writeNPY(t, xp, nn.FromFloat32(xs, 4, 2, 3))
	yi := nn.New(nn.Int32, 4)
	copy(yi.I64, []int64{1, 0, 3, 1})
	writeNPY(t, yp, yi)
	writeNPY(t, fp, nn.FromFloat32([]float32{0.5, 1, 1.5, 2}, 4))
	m, err := OpenNPY(xp, yp, NPYOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 4 || !sameInts(m.InputShape(), []int{2, 3}) || len(m.Classes()) != 4 {
		t.Fatalf("len %d shape %v classes %v", m.Len(), m.InputShape(), m.Classes())
	}
	x, l, _ := m.Get(2)
	if l != 3 || x.F32[0] != 12 {
		t.Fatalf("sample 2: %v label %d", x.F32, l)
	}
	r, err := OpenNPY(xp, fp, NPYOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.TargetDim() != 1 || r.Classes() != nil {
		t.Fatalf("float labels did not regress")
	}
	tg, _ := r.Target(2)
	if tg[0] != 1.5 {
		t.Fatalf("target %v", tg)
	}
	if _, err := OpenNPY(xp, fp, NPYOptions{Task: TaskClassify}); err == nil {
		t.Error("fractional class labels accepted")
	}
	writeNPY(t, yp, nn.FromInt64([]int64{1, 2}, 2))
	if _, err := OpenNPY(xp, yp, NPYOptions{}); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, err := OpenNPY(xp, filepath.Join(dir, "missing.npy"), NPYOptions{}); err == nil {
		t.Error("missing file accepted")
	}
}

func TestSplit(t *testing.T) {
	// 3 classes of 10, 20 and 3 samples.
	var labels []int
	for c, n := range []int{10, 20, 3} {
		for range n {
			labels = append(labels, c)
		}
	}
	n := len(labels)
	m, err := NewMemory(nn.New(nn.Float32, n, 1), labels, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	tr, va, err := Split(m, 0.2, 7)
	if err != nil {
		t.Fatal(err)
	}
	cv, _ := ClassCounts(va)
	ct, _ := ClassCounts(tr)
	// round(0.2*10)=2, round(0.2*20)=4, round(0.2*3)=1.
	if !sameInts(cv, []int{2, 4, 1}) || !sameInts(ct, []int{8, 16, 2}) {
		t.Fatalf("val counts %v train counts %v", cv, ct)
	}
	seen := map[int]bool{}
	for _, i := range append(append([]int{}, tr.Indices...), va.Indices...) {
		if seen[i] {
			t.Fatalf("index %d in both parts", i)
		}
		seen[i] = true
	}
	if len(seen) != n {
		t.Fatalf("%d of %d samples covered", len(seen), n)
	}
	tr2, va2, _ := Split(m, 0.2, 7)
	if !sameInts(va.Indices, va2.Indices) || !sameInts(tr.Indices, tr2.Indices) {
		t.Fatal("same seed gave another split")
	}
	_, va3, _ := Split(m, 0.2, 8)
	if sameInts(va.Indices, va3.Indices) {
		t.Fatal("another seed gave the same split")
	}
	// Views of views keep labels.
	x, l, err := va.Get(0)
	if err != nil || x.Shape[0] != 1 || l != labels[va.Indices[0]] {
		t.Fatalf("view get: %v %d %v", x, l, err)
	}
	sub, err := NewSubset(va, []int{len(va.Indices) - 1})
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := LabelOf(sub, 0); l != 2 {
		t.Fatalf("nested view label %d", l)
	}
	if _, err := NewSubset(m, []int{n}); err == nil {
		t.Error("out-of-range subset accepted")
	}
	for _, f := range []float64{0, 1, -0.5} {
		if _, _, err := Split(m, f, 1); err == nil {
			t.Errorf("fraction %v accepted", f)
		}
	}
	// Regression: random split by count.
	r, _ := NewMemoryRegression(nn.New(nn.Float32, 10, 2), nn.New(nn.Float32, 10))
	tr, va, err = Split(r, 0.3, 1)
	if err != nil || len(va.Indices) != 3 || len(tr.Indices) != 7 {
		t.Fatalf("regression split %v %v %v", tr, va, err)
	}
	if TargetDim(va) != 1 {
		t.Fatal("view lost targets")
	}
}
