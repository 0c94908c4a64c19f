package metrics

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/nn"
)

// refCase is one case of testdata/metrics/ref.json, written by
// testdata/gen/metrics_ref.py with scikit-learn.
type refCase struct {
	Name            string        `json:"name"`
	NumClasses      int           `json:"num_classes"`
	Probabilities   bool          `json:"probabilities"`
	Float32         bool          `json:"float32"`
	ClassNames      []string      `json:"class_names"`
	Labels          []int         `json:"labels"`
	Scores          [][]float64   `json:"scores"`
	Accuracy        float64       `json:"accuracy"`
	Top5Accuracy    *float64      `json:"top5_accuracy"`
	Loss            float64       `json:"loss"`
	PerClass        []ClassReport `json:"per_class"`
	MacroAvg        Average       `json:"macro_avg"`
	WeightedAvg     Average       `json:"weighted_avg"`
	ConfusionMatrix [][]int       `json:"confusion_matrix"`
	ReportDigits2   string        `json:"report_digits2"`
	ReportDigits4   string        `json:"report_digits4"`
}

func loadRef(t *testing.T) []refCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "metrics", "ref.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Cases []refCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) == 0 {
		t.Fatal("no cases in ref.json")
	}
	return ref.Cases
}

// scoresTensor builds the [N, C] tensor of a case; batches split it.
func scoresTensor(rc refCase, lo, hi int) *nn.Tensor {
	C := rc.NumClasses
	if rc.Float32 {
		d := make([]float32, 0, (hi-lo)*C)
		for _, row := range rc.Scores[lo:hi] {
			for _, v := range row {
				d = append(d, float32(v))
			}
		}
		return nn.FromFloat32(d, hi-lo, C)
	}
	d := make([]float64, 0, (hi-lo)*C)
	for _, row := range rc.Scores[lo:hi] {
		d = append(d, row...)
	}
	return &nn.Tensor{DType: nn.Float64, Shape: []int{hi - lo, C}, F64: d}
}

func approx(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

func TestAgainstSklearn(t *testing.T) {
	for _, rc := range loadRef(t) {
		t.Run(rc.Name, func(t *testing.T) {
			acc, err := NewAccumulator(rc.NumClasses, Options{Probabilities: rc.Probabilities})
			if err != nil {
				t.Fatal(err)
			}
			// Uneven batches, to exercise accumulation.
			N := len(rc.Labels)
			for lo := 0; lo < N; {
				hi := min(N, lo+7+lo%5)
				if err := acc.AddBatch(scoresTensor(rc, lo, hi), rc.Labels[lo:hi]); err != nil {
					t.Fatal(err)
				}
				lo = hi
			}
			r, err := acc.Report(rc.ClassNames)
			if err != nil {
				t.Fatal(err)
			}
			const tol = 1e-12
			lossTol := 1e-10
			if rc.Probabilities {
				// sklearn renormalises float32-rounded rows; we add 1e-12.
				lossTol = 1e-6
			}
			if !approx(r.Accuracy, rc.Accuracy, tol) {
				t.Errorf("accuracy %v, sklearn %v", r.Accuracy, rc.Accuracy)
			}
			if !approx(r.Loss, rc.Loss, lossTol) {
				t.Errorf("loss %.15g, sklearn %.15g", r.Loss, rc.Loss)
			}
			switch {
			case rc.Top5Accuracy == nil && r.Top5Accuracy != nil:
				t.Errorf("top-5 accuracy %v for %d classes", *r.Top5Accuracy, rc.NumClasses)
			case rc.Top5Accuracy != nil && r.Top5Accuracy == nil:
				t.Errorf("no top-5 accuracy, sklearn %v", *rc.Top5Accuracy)
			case rc.Top5Accuracy != nil && !approx(*r.Top5Accuracy, *rc.Top5Accuracy, tol):
				t.Errorf("top-5 accuracy %v, sklearn %v", *r.Top5Accuracy, *rc.Top5Accuracy)
			}
			if r.NumSamples != N {
				t.Errorf("num_samples %d, want %d", r.NumSamples, N)
			}
			for i, want := range rc.PerClass {
				got := r.PerClass[i]
				if got.Class != want.Class || got.Support != want.Support ||
					!approx(got.Precision, want.Precision, tol) || !approx(got.Recall, want.Recall, tol) ||
					!approx(got.F1, want.F1, tol) {
					t.Errorf("class %d: got %+v, sklearn %+v", i, got, want)
				}
			}
			for _, a := range []struct {
				name      string
				got, want Average
			}{{"macro", r.MacroAvg, rc.MacroAvg}, {"weighted", r.WeightedAvg, rc.WeightedAvg}} {
				if !approx(a.got.Precision, a.want.Precision, tol) || !approx(a.got.Recall, a.want.Recall, tol) ||
					!approx(a.got.F1, a.want.F1, tol) || a.got.Support != N {
					t.Errorf("%s avg: got %+v, sklearn %+v", a.name, a.got, a.want)
				}
			}
			for i := range rc.ConfusionMatrix {
				for j := range rc.ConfusionMatrix[i] {
					if r.ConfusionMatrix[i][j] != rc.ConfusionMatrix[i][j] {
						t.Fatalf("confusion matrix\n%v\nsklearn\n%v", r.ConfusionMatrix, rc.ConfusionMatrix)
					}
				}
			}
			// The text table starts with exactly sklearn's classification_report.
			for _, d := range []struct {
				digits int
				want   string
			}{{2, rc.ReportDigits2}, {4, rc.ReportDigits4}} {
				var b bytes.Buffer
				if err := r.WriteTableDigits(&b, d.digits); err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(b.String(), d.want) {
					t.Errorf("table with %d digits:\n%s\nsklearn:\n%s", d.digits, b.String(), d.want)
				}
				if !strings.Contains(b.String(), "loss") {
					t.Errorf("table without loss line:\n%s", b.String())
				}
			}
		})
	}
}

func TestConfusionEdgeCases(t *testing.T) {
	if _, err := NewConfusion(0); err == nil {
		t.Error("NewConfusion(0) succeeded")
	}
	c, err := NewConfusion(3)
	if err != nil {
		t.Fatal(err)
	}
	// No samples: everything 0, nothing NaN.
	r, err := c.Report(nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Accuracy != 0 || r.NumSamples != 0 || r.MacroAvg.F1 != 0 || r.WeightedAvg.Precision != 0 {
		t.Errorf("empty report: %+v", r)
	}
	if !math.IsNaN(r.Loss) {
		t.Errorf("confusion-only report has loss %v", r.Loss)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Errorf("marshal empty report: %v", err)
	}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil || strings.Contains(b.String(), "NaN") {
		t.Errorf("table of empty report (%v):\n%s", err, b.String())
	}
	for _, bad := range [][2]int{{-1, 0}, {0, 3}, {3, 0}, {0, -2}} {
		if err := c.Add(bad[0], bad[1]); err == nil {
			t.Errorf("Add(%d, %d) succeeded", bad[0], bad[1])
		}
	}
	// Hand-checked: class 2 never predicted, class 1 predicted but absent.
	for _, p := range [][2]int{{0, 0}, {0, 0}, {0, 1}, {2, 0}} {
		if err := c.Add(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	r, err = c.Report([]string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	want := []ClassReport{
		{"a", 2.0 / 3, 2.0 / 3, 2.0 / 3, 3},
		{"b", 0, 0, 0, 0},
		{"c", 0, 0, 0, 1},
	}
	for i, w := range want {
		if g := r.PerClass[i]; g.Class != w.Class || g.Support != w.Support ||
			!approx(g.Precision, w.Precision, 1e-15) || !approx(g.Recall, w.Recall, 1e-15) || !approx(g.F1, w.F1, 1e-15) {
			t.Errorf("class %d: %+v, want %+v", i, g, w)
		}
	}
	if r.Accuracy != 0.5 {
		t.Errorf("accuracy %v, want 0.5", r.Accuracy)
	}
	if _, err := c.Report([]string{"a"}); err == nil {
		t.Error("Report with 1 name for 3 classes succeeded")
	}
}

func TestAccumulatorErrorsAndEdges(t *testing.T) {
	a, err := NewAccumulator(3, Options{})
	if err != nil {
		t.Fatal(err)
	}
	good := nn.FromFloat32([]float32{1, 2, 3, 3, 2, 1}, 2, 3)
	cases := []struct {
		name   string
		scores *nn.Tensor
		labels []int
	}{
		{"nil", nil, []int{0}},
		{"rank1", nn.FromFloat32([]float32{1, 2, 3}, 3), []int{0}},
		{"classes", nn.FromFloat32([]float32{1, 2, 3, 4}, 1, 4), []int{0}},
		{"labels", good, []int{0}},
		{"labelrange", good, []int{0, 3}},
		{"negative", good, []int{-1, 0}},
		{"int", nn.FromInt64([]int64{1, 2, 3}, 1, 3), []int{0}},
		{"trailing", nn.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 1, 3, 2), []int{0}},
		{"short", &nn.Tensor{DType: nn.Float32, Shape: []int{2, 3}, F32: []float32{1}}, []int{0, 1}},
	}
	for _, c := range cases {
		if err := a.AddBatch(c.scores, c.labels); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if a.NumSamples() != 0 || a.Confusion().Total() != 0 {
		t.Fatalf("failed batches recorded samples")
	}
	// No samples.
	r, err := a.Report(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(r.Loss) || r.Top5Accuracy != nil || r.Accuracy != 0 {
		t.Errorf("empty accumulator report %+v", r)
	}
	// [N, C, 1, 1] is accepted. Hand-checked loss: row 0 logits (1,2,3),
	// label 2: log(e^1+e^2+e^3) - 3 = 0.40760596444437...
	t4 := nn.FromFloat32([]float32{1, 2, 3, 3, 2, 1}, 2, 3, 1, 1)
	if err := a.AddBatch(t4, []int{2, 1}); err != nil {
		t.Fatal(err)
	}
	l0 := math.Log(math.Exp(1)+math.Exp(2)+math.Exp(3)) - 3
	l1 := math.Log(math.Exp(1)+math.Exp(2)+math.Exp(3)) - 2
	if !approx(a.Loss(), (l0+l1)/2, 1e-12) {
		t.Errorf("loss %v, want %v", a.Loss(), (l0+l1)/2)
	}
	if a.Accuracy() != 0.5 {
		t.Errorf("accuracy %v", a.Accuracy())
	}
	// Numerical stability: huge logits.
	b, _ := NewAccumulator(2, Options{})
	if err := b.AddBatch(nn.FromFloat32([]float32{1000, 0, -1000, 1000}, 2, 2), []int{1, 1}); err != nil {
		t.Fatal(err)
	}
	if !approx(b.Loss(), 500, 1e-12) {
		t.Errorf("stable loss %v, want 500", b.Loss())
	}
	// Probabilities with a zero entry stay finite.
	p, _ := NewAccumulator(2, Options{Probabilities: true})
	if err := p.AddBatch(nn.FromFloat32([]float32{1, 0}, 1, 2), []int{1}); err != nil {
		t.Fatal(err)
	}
	if !approx(p.Loss(), -math.Log(1e-12), 1e-12) {
		t.Errorf("prob loss %v", p.Loss())
	}
	// NaN logits: loss NaN, JSON still encodes (loss null) and decodes.
	n, _ := NewAccumulator(3, Options{})
	nan := float32(math.NaN())
	if err := n.AddBatch(nn.FromFloat32([]float32{nan, 1, 2}, 1, 3), []int{0}); err != nil {
		t.Fatal(err)
	}
	rn, _ := n.Report(nil)
	if rn.ConfusionMatrix[0][2] != 1 {
		t.Errorf("NaN row predicted %v", rn.ConfusionMatrix)
	}
	js, err := json.Marshal(rn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"loss":null`) {
		t.Errorf("NaN loss JSON: %s", js)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil || !math.IsNaN(back.Loss) {
		t.Errorf("decode: %v, loss %v", err, back.Loss)
	}
}

func TestTop5Ties(t *testing.T) {
	// 7 classes, all scores equal: the true class ranks by index, so
	// labels 0..4 are hits and 5, 6 are not; arg-max is class 0.
	a, _ := NewAccumulator(7, Options{})
	scores := make([]float32, 7*7)
	labels := []int{0, 1, 2, 3, 4, 5, 6}
	if err := a.AddBatch(nn.FromFloat32(scores, 7, 7), labels); err != nil {
		t.Fatal(err)
	}
	if got := a.Top5Accuracy(); !approx(got, 5.0/7, 1e-15) {
		t.Errorf("top-5 with ties %v, want 5/7", got)
	}
	if a.Accuracy() != 1.0/7 {
		t.Errorf("accuracy %v, want 1/7", a.Accuracy())
	}
}

func TestMergeAndJSONRoundTrip(t *testing.T) {
	rc := loadRef(t)[0]
	whole, _ := NewAccumulator(rc.NumClasses, Options{})
	if err := whole.AddBatch(scoresTensor(rc, 0, len(rc.Labels)), rc.Labels); err != nil {
		t.Fatal(err)
	}
	h := len(rc.Labels) / 2
	p1, _ := NewAccumulator(rc.NumClasses, Options{})
	p2, _ := NewAccumulator(rc.NumClasses, Options{})
	if err := p1.AddBatch(scoresTensor(rc, 0, h), rc.Labels[:h]); err != nil {
		t.Fatal(err)
	}
	if err := p2.AddBatch(scoresTensor(rc, h, len(rc.Labels)), rc.Labels[h:]); err != nil {
		t.Fatal(err)
	}
	if err := p1.Merge(p2); err != nil {
		t.Fatal(err)
	}
	rw, _ := whole.Report(rc.ClassNames)
	rm, _ := p1.Report(rc.ClassNames)
	if !approx(rw.Loss, rm.Loss, 1e-12) || rw.Accuracy != rm.Accuracy || *rw.Top5Accuracy != *rm.Top5Accuracy {
		t.Errorf("merged report differs: %+v vs %+v", rm, rw)
	}
	other, _ := NewAccumulator(rc.NumClasses+1, Options{})
	if err := p1.Merge(other); err == nil {
		t.Error("merge with different class count succeeded")
	}

	var jb bytes.Buffer
	if err := rw.WriteJSON(&jb); err != nil {
		t.Fatal(err)
	}
	js := jb.Bytes()
	var generic map[string]any
	if err := json.Unmarshal(js, &generic); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"accuracy", "top5_accuracy", "loss", "per_class", "macro_avg", "weighted_avg",
		"confusion_matrix", "num_samples", "class_names"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, js)
		}
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.Loss != rw.Loss || back.Accuracy != rw.Accuracy || *back.Top5Accuracy != *rw.Top5Accuracy ||
		len(back.PerClass) != len(rw.PerClass) || back.PerClass[3] != rw.PerClass[3] {
		t.Errorf("JSON round trip: %+v vs %+v", back, rw)
	}

	// Without top-5 the key is omitted.
	r3, _ := NewAccumulator(3, Options{})
	rep3, _ := r3.Report(nil)
	js3, _ := json.Marshal(rep3)
	if strings.Contains(string(js3), "top5") {
		t.Errorf("top5 present for 3 classes: %s", js3)
	}
}

func TestConfusionRenderings(t *testing.T) {
	c, _ := NewConfusion(3)
	for _, p := range [][2]int{{0, 0}, {0, 1}, {1, 1}, {2, 2}, {2, 2}, {2, 0}} {
		_ = c.Add(p[0], p[1])
	}
	r, err := c.Report([]string{"cat", "dog, big", "bird"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteConfusionCSV(&b); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"true\\pred", "cat", "dog, big", "bird"},
		{"cat", "1", "1", "0"},
		{"dog, big", "0", "1", "0"},
		{"bird", "1", "0", "2"},
	}
	if len(recs) != len(want) {
		t.Fatalf("CSV records %v", recs)
	}
	for i := range want {
		if strings.Join(recs[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("CSV row %d: %q, want %q", i, recs[i], want[i])
		}
	}
	b.Reset()
	if err := r.WriteConfusionTable(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("table:\n%s", b.String())
	}
	for i, l := range lines {
		if len(l) != len(lines[0]) {
			t.Errorf("line %d not aligned:\n%s", i, b.String())
		}
	}
	if f := strings.Fields(lines[3]); strings.Join(f, " ") != "bird 1 0 2" {
		t.Errorf("last row %q", lines[3])
	}
}
