package data

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
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

func TestSelect(t *testing.T) {
	labels := []int{0, 1, 2, 3, 2, 1, 3, 3, 2, 0, 3}
	n := len(labels)
	x := nn.New(nn.Float32, n, 1)
	for i := range n {
		x.F32[i] = float32(i)
	}
	m, _ := NewMemory(x, labels, []string{"a", "b", "c", "d"})
	s, err := Select(m, []int{3, 2}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Indices, []int{2, 3, 4, 6}) || !slices.Equal(s.Classes(), []string{"d", "c"}) {
		t.Fatalf("indices %v classes %v", s.Indices, s.Classes())
	}
	want := []int{1, 0, 1, 0}
	for i, w := range want {
		xi, l, err := s.Get(i)
		if err != nil || l != w || xi.F32[0] != float32(s.Indices[i]) {
			t.Fatalf("sample %d: %v label %d, want %d (%v)", i, xi, l, w, err)
		}
		if l2, _ := LabelOf(s, i); l2 != w {
			t.Fatalf("LabelOf %d = %d", i, l2)
		}
		if _, l3, err := GetAugmented(s, i, nil, nil); l3 != w || err != nil {
			t.Fatalf("GetAugmented label %d", l3)
		}
	}
	// Views of the selection keep its labels.
	v, _ := NewSubset(s, []int{3, 0})
	if l, _ := LabelOf(v, 0); l != 0 {
		t.Fatalf("nested label %d", l)
	}
	_, lb, _ := Batch(v, []int{0, 1})
	if !slices.Equal(lb, []int{0, 1}) {
		t.Fatalf("batch labels %v", lb)
	}
	all, err := Select(m, nil, 1)
	if err != nil || !slices.Equal(all.Indices, []int{0, 1, 2, 3}) || len(all.Classes()) != 4 {
		t.Fatalf("per-class only: %v %v", all, err)
	}
	for _, c := range [][]int{{4}, {1, 1}, {}} {
		if _, err := Select(m, c, 0); err == nil {
			t.Errorf("classes %v accepted", c)
		}
	}
}

func TestStandardize(t *testing.T) {
	m, err := ReadCSV(strings.NewReader("a,b,l\n1,5,x\n3,5,y\n5,5,x\n"), CSVOptions{Label: "l"})
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := NewSubset(m, []int{0, 1})
	mean, std, err := FeatureStats(tr)
	if err != nil {
		t.Fatal(err)
	}
	// Over rows 0 and 1: a has mean 2 and std 1; b is constant (std 1).
	closeTo(t, "mean", mean, []float64{2, 5}, 1e-6)
	closeTo(t, "std", std, []float64{1, 1}, 1e-6)
	if err := m.Standardize(mean, std); err != nil {
		t.Fatal(err)
	}
	x, _, _ := m.Get(2)
	closeTo(t, "row 2", x.F32, []float64{3, 0}, 1e-6)
	if err := m.Standardize(mean[:1], std); err == nil {
		t.Fatal("short mean accepted")
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add("a,b,label\n1,2,x\n3,4,y\n", false)
	f.Add("label\n1\n", true)
	f.Add("a,label\n\"1\",2\n", false)
	f.Fuzz(func(t *testing.T, src string, regress bool) {
		task := TaskClassify
		if regress {
			task = TaskRegress
		}
		m, err := ReadCSV(strings.NewReader(src), CSVOptions{Label: "label", Task: task})
		if err != nil {
			return
		}
		for i := range m.Len() {
			if _, l, err := m.Get(i); err != nil || (!regress && (l < 0 || l >= len(m.Classes()))) {
				t.Fatalf("sample %d: label %d of %d classes, %v", i, l, len(m.Classes()), err)
			}
		}
	})
}

func TestSummary(t *testing.T) {
	m, _ := NewMemory(nn.New(nn.Float32, 3, 2), []int{0, 1, 1}, []string{"ant", "bee"})
	if got, want := Summary(m), "3 samples, input [2], 2 classes (ant 1, bee 2)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	r, _ := NewMemoryRegression(nn.New(nn.Float32, 3, 2), nn.New(nn.Float32, 3))
	if got, want := Summary(r), "3 samples, input [2], regression with 1 target(s)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
