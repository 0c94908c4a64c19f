package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/graftml/graft/nn"
)

// Memory is an in-memory dataset of float32 samples, for tables (CSV) and
// arrays (NPY). For classification each sample has a label; for regression
// a label of -1 and TargetDim float targets.
type Memory struct {
	x       []float32
	shape   []int // per-sample shape
	labels  []int
	targets []float32
	tdim    int
	classes []string
	layout  Layout
}

// NewMemory returns a classification dataset over x [N,...] (any numeric
// dtype, converted to float32) with labels in 0..len(classes)-1.
func NewMemory(x *nn.Tensor, labels []int, classes []string) (*Memory, error) {
	m, err := dataNewMemory(x)
	if err != nil {
		return nil, err
	}
	if len(labels) != x.Shape[0] {
		return nil, fmt.Errorf("data: %d labels for %d samples", len(labels), x.Shape[0])
	}
	for i, l := range labels {
		if l < 0 || l >= len(classes) {
			return nil, fmt.Errorf("data: sample %d has label %d outside the %d classes", i, l, len(classes))
		}
	}
	m.labels, m.classes = slices.Clone(labels), slices.Clone(classes)
	return m, nil
}

// NewMemoryRegression returns a regression dataset over x [N,...] with
// targets y [N] or [N,K].
func NewMemoryRegression(x, y *nn.Tensor) (*Memory, error) {
	m, err := dataNewMemory(x)
	if err != nil {
		return nil, err
	}
	if y.Rank() < 1 || y.Rank() > 2 || y.Shape[0] != x.Shape[0] {
		return nil, fmt.Errorf("data: targets of shape %v for %d samples (want [N] or [N,K])", y.Shape, x.Shape[0])
	}
	m.tdim = 1
	if y.Rank() == 2 {
		m.tdim = y.Shape[1]
	}
	m.targets = make([]float32, y.Len())
	for i := range m.targets {
		m.targets[i] = float32(y.Float64At(i))
	}
	m.labels = make([]int, x.Shape[0])
	for i := range m.labels {
		m.labels[i] = -1
	}
	return m, nil
}

func dataNewMemory(x *nn.Tensor) (*Memory, error) {
	if x.Rank() < 1 {
		return nil, errors.New("data: sample array must have a leading sample dimension")
	}
	if x.Shape[0] == 0 {
		return nil, errors.New("data: dataset empty: 0 samples")
	}
	m := &Memory{shape: slices.Clone(x.Shape[1:])}
	if x.DType == nn.Float32 {
		m.x = x.F32
	} else {
		m.x = make([]float32, x.Len())
		for i := range m.x {
			m.x[i] = float32(x.Float64At(i))
		}
	}
	return m, nil
}

// SetLayout tells augmentation whether image samples are [C,H,W] (NCHW,
// the default) or [H,W,C].
func (m *Memory) SetLayout(l Layout) { m.layout = l }

// Layout returns the sample layout used by augmentation.
func (m *Memory) Layout() Layout { return m.layout }

// Len returns the number of samples.
func (m *Memory) Len() int { return len(m.labels) }

// Classes returns the class names (nil for regression).
func (m *Memory) Classes() []string { return m.classes }

// InputShape returns the per-sample shape.
func (m *Memory) InputShape() []int { return slices.Clone(m.shape) }

// Label returns sample i's label (-1 for regression).
func (m *Memory) Label(i int) (int, error) {
	if i < 0 || i >= len(m.labels) {
		return 0, fmt.Errorf("data: sample %d out of range [0,%d)", i, len(m.labels))
	}
	return m.labels[i], nil
}

// Get returns a copy of sample i and its label.
func (m *Memory) Get(i int) (*nn.Tensor, int, error) {
	if i < 0 || i >= len(m.labels) {
		return nil, 0, fmt.Errorf("data: sample %d out of range [0,%d)", i, len(m.labels))
	}
	n := nn.NumElements(m.shape)
	return nn.FromFloat32(slices.Clone(m.x[i*n:(i+1)*n]), m.shape...), m.labels[i], nil
}

// TargetDim returns the number of regression targets (0 for
// classification).
func (m *Memory) TargetDim() int { return m.tdim }

// Target returns sample i's regression targets.
func (m *Memory) Target(i int) ([]float32, error) {
	if m.tdim == 0 {
		return nil, errors.New("data: dataset has no regression targets")
	}
	if i < 0 || i >= len(m.labels) {
		return nil, fmt.Errorf("data: sample %d out of range [0,%d)", i, len(m.labels))
	}
	return slices.Clone(m.targets[i*m.tdim : (i+1)*m.tdim]), nil
}

// Task selects classification or regression for CSV and NPY data.
type Task int

const (
	// TaskAuto: NPY integer labels classify, float labels regress; CSV
	// classifies.
	TaskAuto Task = iota
	// TaskClassify treats labels as classes.
	TaskClassify
	// TaskRegress treats labels as float targets.
	TaskRegress
)

// CSVOptions configure OpenCSV.
type CSVOptions struct {
	// Label is the header name of the label (or target) column; required.
	Label string
	// Features lists the feature columns; nil means every other column.
	Features []string
	// Task: classification (default) or regression.
	Task Task
	// Comma is the field separator; 0 means ','.
	Comma rune
}

// OpenCSV reads a CSV file with a header row: numeric feature columns and
// a label column. For classification, labels that are all non-negative
// integers are class indices (classes "0".."max"); otherwise they are class
// names, mapped to indices in sorted order. For regression the label column
// holds float targets. Errors name the line and column.
func OpenCSV(path string, opts CSVOptions) (*Memory, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: CSV: %w", err)
	}
	defer fh.Close()
	m, err := ReadCSV(fh, opts)
	if err != nil {
		return nil, fmt.Errorf("data: CSV %s: %w", path, err)
	}
	return m, nil
}

// ReadCSV is OpenCSV on a reader.
func ReadCSV(r io.Reader, opts CSVOptions) (*Memory, error) {
	if opts.Label == "" {
		return nil, errors.New("no label column given")
	}
	cr := csv.NewReader(r)
	if opts.Comma != 0 {
		cr.Comma = opts.Comma
	}
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	head = slices.Clone(head)
	col := map[string]int{}
	for i, h := range head {
		h = strings.TrimSpace(h)
		head[i] = h
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("column %q appears twice in the header", h)
		}
		col[h] = i
	}
	lc, ok := col[opts.Label]
	if !ok {
		return nil, fmt.Errorf("no column %q in header %v", opts.Label, head)
	}
	var feat []int
	if opts.Features != nil {
		for _, f := range opts.Features {
			c, ok := col[f]
			if !ok {
				return nil, fmt.Errorf("no feature column %q in header %v", f, head)
			}
			feat = append(feat, c)
		}
	} else {
		for i := range head {
			if i != lc {
				feat = append(feat, i)
			}
		}
	}
	if len(feat) == 0 {
		return nil, errors.New("no feature columns")
	}
	var xs []float32
	var raw []string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err // csv errors carry the line number
		}
		line, _ := cr.FieldPos(0)
		for _, c := range feat {
			s := strings.TrimSpace(rec[c])
			v, err := strconv.ParseFloat(s, 32)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("line %d, column %q: %q is not a finite number", line, head[c], s)
			}
			xs = append(xs, float32(v))
		}
		l := strings.TrimSpace(rec[lc])
		if l == "" {
			return nil, fmt.Errorf("line %d, column %q: empty label", line, head[lc])
		}
		if opts.Task == TaskRegress {
			if v, err := strconv.ParseFloat(l, 64); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("line %d, column %q: target %q is not a finite number", line, head[lc], l)
			}
		}
		raw = append(raw, l)
	}
	n := len(raw)
	if n == 0 {
		return nil, errors.New("dataset empty: no data rows")
	}
	x := nn.FromFloat32(xs, n, len(feat))
	if opts.Task == TaskRegress {
		y := make([]float32, n)
		for i, s := range raw {
			v, _ := strconv.ParseFloat(s, 64)
			y[i] = float32(v)
		}
		return NewMemoryRegression(x, nn.FromFloat32(y, n))
	}
	labels, classes := dataLabelsFromStrings(raw)
	return NewMemory(x, labels, classes)
}

// dataLabelsFromStrings maps label strings to indices: all non-negative
// integers are used as they are, else sorted unique names.
func dataLabelsFromStrings(raw []string) ([]int, []string) {
	labels := make([]int, len(raw))
	numeric := true
	top := 0
	for i, s := range raw {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 1<<20 {
			numeric = false
			break
		}
		labels[i] = v
		top = max(top, v)
	}
	if numeric {
		classes := make([]string, top+1)
		for k := range classes {
			classes[k] = strconv.Itoa(k)
		}
		return labels, classes
	}
	classes := slices.Clone(raw)
	slices.Sort(classes)
	classes = slices.Compact(classes)
	for i, s := range raw {
		labels[i], _ = slices.BinarySearch(classes, s)
	}
	return labels, classes
}

// NPYOptions configure OpenNPY.
type NPYOptions struct {
	// Task: TaskAuto classifies integer/bool labels and regresses float
	// labels.
	Task Task
	// ClassNames name the classes; default "0".."max".
	ClassNames []string
	// Layout of image samples, for augmentation.
	Layout Layout
}

// OpenNPY reads inputs X [N,...] and labels y [N] (or regression targets
// [N] / [N,K]) from two .npy files.
func OpenNPY(xPath, yPath string, opts NPYOptions) (*Memory, error) {
	read := func(p string) (*nn.Tensor, error) {
		fh, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("data: NPY: %w", err)
		}
		defer fh.Close()
		t, err := nn.ReadNPY(fh)
		if err != nil {
			return nil, fmt.Errorf("data: NPY %s: %w", p, err)
		}
		return t, nil
	}
	x, err := read(xPath)
	if err != nil {
		return nil, err
	}
	y, err := read(yPath)
	if err != nil {
		return nil, err
	}
	if x.Rank() < 1 || y.Rank() < 1 || x.Shape[0] != y.Shape[0] {
		return nil, fmt.Errorf("data: NPY %s has shape %v and %s has shape %v: want matching first dimensions", xPath, x.Shape, yPath, y.Shape)
	}
	task := opts.Task
	if task == TaskAuto {
		task = TaskClassify
		if y.DType.IsFloat() {
			task = TaskRegress
		}
	}
	var m *Memory
	if task == TaskRegress {
		m, err = NewMemoryRegression(x, y)
	} else {
		if y.Rank() != 1 {
			return nil, fmt.Errorf("data: NPY labels %s have shape %v, want [N]", yPath, y.Shape)
		}
		labels := make([]int, y.Len())
		top := 0
		for i := range labels {
			v := y.Float64At(i)
			if v != math.Trunc(v) || v < 0 || v > 1<<20 {
				return nil, fmt.Errorf("data: NPY labels %s: sample %d has label %v, not a class index", yPath, i, v)
			}
			labels[i] = int(v)
			top = max(top, labels[i])
		}
		classes := opts.ClassNames
		if classes == nil {
			for k := range top + 1 {
				classes = append(classes, strconv.Itoa(k))
			}
		}
		m, err = NewMemory(x, labels, classes)
	}
	if err != nil {
		return nil, fmt.Errorf("data: NPY %s: %w", xPath, err)
	}
	m.layout = opts.Layout
	return m, nil
}

// FeatureStats returns the per-element mean and standard deviation of the
// inputs of ds (e.g. the training view of a table), loading every sample.
// A zero standard deviation is reported as 1 so the stats can be passed to
// Standardize directly.
func FeatureStats(ds Dataset) (mean, std []float32, err error) {
	n := ds.Len()
	if n == 0 {
		return nil, nil, errors.New("data: dataset empty: 0 samples")
	}
	f := nn.NumElements(ds.InputShape())
	sum := make([]float64, f)
	sq := make([]float64, f)
	for i := range n {
		x, _, err := ds.Get(i)
		if err != nil {
			return nil, nil, err
		}
		if x.Len() != f {
			return nil, nil, fmt.Errorf("data: sample %d has shape %v, dataset input shape is %v", i, x.Shape, ds.InputShape())
		}
		for k := range f {
			v := x.Float64At(k)
			sum[k] += v
			sq[k] += v * v
		}
	}
	mean, std = make([]float32, f), make([]float32, f)
	for k := range f {
		m := sum[k] / float64(n)
		v := max(sq[k]/float64(n)-m*m, 0)
		mean[k] = float32(m)
		std[k] = float32(math.Sqrt(v))
		if std[k] == 0 {
			std[k] = 1
		}
	}
	return mean, std, nil
}

// Standardize replaces every input x of m, element-wise, by (x−mean)/std
// (e.g. with FeatureStats of the training view, so validation samples use
// the training statistics).
func (m *Memory) Standardize(mean, std []float32) error {
	f := nn.NumElements(m.shape)
	if len(mean) != f || len(std) != f {
		return fmt.Errorf("data: %d means and %d stds for %d input values", len(mean), len(std), f)
	}
	for k, s := range std {
		if s == 0 {
			return fmt.Errorf("data: std of input %d is zero", k)
		}
	}
	for i := 0; i+f <= len(m.x); i += f {
		row := m.x[i : i+f]
		for k := range row {
			row[k] = (row[k] - mean[k]) / std[k]
		}
	}
	return nil
}
