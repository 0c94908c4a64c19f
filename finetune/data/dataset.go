package data

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/graftml/graft/nn"
)

// Dataset is a random-access collection of labelled samples.
//
// Get returns one sample's input tensor without a batch dimension (for
// images [C,H,W] or [H,W,C] float32, for tables [F]) and its class index in
// Classes(). Regression datasets return label -1 and implement Regressor.
// Implementations must be safe for concurrent Get calls: the Loader reads
// samples from several goroutines.
type Dataset interface {
	// Len returns the number of samples.
	Len() int
	// Get returns sample i's input (a new tensor the caller may keep or
	// modify) and its class index.
	Get(i int) (x *nn.Tensor, label int, err error)
	// Classes returns the class names, indexed by label (nil for regression).
	Classes() []string
	// InputShape returns the shape of one sample's input, without the batch
	// dimension.
	InputShape() []int
}

// Labeler is implemented by datasets that know a sample's label without
// loading its input (image folders, IDX, in-memory data). Split and
// ClassCounts use it to avoid decoding every image.
type Labeler interface {
	Label(i int) (int, error)
}

// Regressor is implemented by datasets with float targets.
type Regressor interface {
	// Target returns sample i's target values (length TargetDim()).
	Target(i int) ([]float32, error)
	// TargetDim returns the number of target values per sample.
	TargetDim() int
}

// AugmentGetter is implemented by datasets that apply augmentation
// themselves, before their own tensor conversion (image folders and IDX
// crop and flip the decoded image, so random-resized crops see the full
// original image). rng is the sample's own generator.
type AugmentGetter interface {
	GetAugmented(i int, aug *Augment, rng *rand.Rand) (x *nn.Tensor, label int, err error)
}

// Subset is a view of some samples of a parent dataset: sample i of the
// view is sample Indices[i] of Parent. The optional interfaces of the
// parent (Labeler, Regressor, AugmentGetter) are used through the view by
// LabelOf, TargetOf, TargetDim, GetAugmented and the Loader.
type Subset struct {
	Parent  Dataset
	Indices []int
	// LabelMap, when set, relabels samples: the view's label is
	// LabelMap[parent label] (negative parent labels are kept).
	LabelMap []int
	// ClassNames, when set, replaces the parent's class names.
	ClassNames []string
}

// NewSubset returns a view of the given samples of ds; the indices are
// checked and copied.
func NewSubset(ds Dataset, indices []int) (*Subset, error) {
	n := ds.Len()
	for _, j := range indices {
		if j < 0 || j >= n {
			return nil, fmt.Errorf("data: subset index %d out of range [0,%d)", j, n)
		}
	}
	return &Subset{Parent: ds, Indices: slices.Clone(indices)}, nil
}

// Select returns a view of the samples of ds whose class is in classes,
// relabelled 0..len(classes)-1 in the given order (with those class
// names); perClass > 0 keeps only the first perClass samples of each class
// in dataset order (a deterministic few-shot subset). classes nil keeps
// every class with its label.
func Select(ds Dataset, classes []int, perClass int) (*Subset, error) {
	names := ds.Classes()
	if len(names) == 0 {
		return nil, errors.New("data: Select needs a classification dataset")
	}
	if perClass < 0 {
		return nil, fmt.Errorf("data: %d samples per class", perClass)
	}
	v := &Subset{Parent: ds}
	remap := make([]int, len(names))
	if classes == nil {
		for k := range remap {
			remap[k] = k
		}
	} else {
		for k := range remap {
			remap[k] = -1
		}
		v.LabelMap = remap
		v.ClassNames = []string{}
		for k, c := range classes {
			if c < 0 || c >= len(names) {
				return nil, fmt.Errorf("data: selected class %d is not in 0..%d", c, len(names)-1)
			}
			if remap[c] >= 0 {
				return nil, fmt.Errorf("data: class %d selected twice", c)
			}
			remap[c] = k
			v.ClassNames = append(v.ClassNames, names[c])
		}
	}
	count := make([]int, len(names))
	for i := range ds.Len() {
		l, err := LabelOf(ds, i)
		if err != nil {
			return nil, err
		}
		if l < 0 || l >= len(names) || remap[l] < 0 || (perClass > 0 && count[l] >= perClass) {
			continue
		}
		count[l]++
		v.Indices = append(v.Indices, i)
	}
	if len(v.Indices) == 0 {
		return nil, errors.New("data: dataset empty: no samples of the selected classes")
	}
	return v, nil
}

// Len returns the number of samples in the view.
func (s *Subset) Len() int { return len(s.Indices) }

// Get returns sample Indices[i] of the parent.
func (s *Subset) Get(i int) (*nn.Tensor, int, error) {
	if i < 0 || i >= len(s.Indices) {
		return nil, 0, fmt.Errorf("data: sample %d out of range [0,%d)", i, len(s.Indices))
	}
	x, l, err := s.Parent.Get(s.Indices[i])
	return x, s.mapLabel(l), err
}

// mapLabel applies LabelMap.
func (s *Subset) mapLabel(l int) int {
	if s.LabelMap != nil && l >= 0 && l < len(s.LabelMap) {
		return s.LabelMap[l]
	}
	return l
}

// Classes returns ClassNames or the parent's class names.
func (s *Subset) Classes() []string {
	if s.ClassNames != nil {
		return s.ClassNames
	}
	return s.Parent.Classes()
}

// InputShape returns the parent's input shape.
func (s *Subset) InputShape() []int { return s.Parent.InputShape() }

// dataResolve follows Subset views down to the underlying dataset and
// index; views lists the views passed, outermost first.
func dataResolve(ds Dataset, i int) (base Dataset, j int, views []*Subset, err error) {
	for {
		s, ok := ds.(*Subset)
		if !ok {
			if i < 0 || i >= ds.Len() {
				return nil, 0, nil, fmt.Errorf("data: sample %d out of range [0,%d)", i, ds.Len())
			}
			return ds, i, views, nil
		}
		if i < 0 || i >= len(s.Indices) {
			return nil, 0, nil, fmt.Errorf("data: sample %d out of range [0,%d)", i, len(s.Indices))
		}
		views = append(views, s)
		ds, i = s.Parent, s.Indices[i]
	}
}

// dataMapLabel applies the label maps of views (outermost first) to a
// label of their base dataset.
func dataMapLabel(views []*Subset, l int) int {
	for k := len(views) - 1; k >= 0; k-- {
		l = views[k].mapLabel(l)
	}
	return l
}

// LabelOf returns sample i's label, without loading its input when the
// dataset (below any Subset views) implements Labeler.
func LabelOf(ds Dataset, i int) (int, error) {
	b, j, views, err := dataResolve(ds, i)
	if err != nil {
		return 0, err
	}
	var label int
	if l, ok := b.(Labeler); ok {
		label, err = l.Label(j)
	} else {
		_, label, err = b.Get(j)
	}
	return dataMapLabel(views, label), err
}

// TargetOf returns sample i's regression target; ok is false when the
// dataset has no targets.
func TargetOf(ds Dataset, i int) (target []float32, ok bool, err error) {
	b, j, _, err := dataResolve(ds, i)
	if err != nil {
		return nil, false, err
	}
	r, ok := b.(Regressor)
	if !ok {
		return nil, false, nil
	}
	t, err := r.Target(j)
	return t, true, err
}

// TargetDim returns the number of regression targets per sample, or 0 when
// the dataset (below any Subset views) is not a Regressor.
func TargetDim(ds Dataset) int {
	for {
		s, ok := ds.(*Subset)
		if !ok {
			break
		}
		ds = s.Parent
	}
	if r, ok := ds.(Regressor); ok {
		return r.TargetDim()
	}
	return 0
}

// GetAugmented returns sample i with augmentation aug applied using rng: by
// the dataset itself when it implements AugmentGetter, else on its tensor
// (see Augment.ApplyTensor; layout is taken from the dataset when it
// reports one, NCHW otherwise). A nil or empty aug is plain Get.
func GetAugmented(ds Dataset, i int, aug *Augment, rng *rand.Rand) (*nn.Tensor, int, error) {
	b, j, views, err := dataResolve(ds, i)
	if err != nil {
		return nil, 0, err
	}
	var x *nn.Tensor
	var label int
	if a, ok := b.(AugmentGetter); ok && aug.Enabled() {
		x, label, err = a.GetAugmented(j, aug, rng)
	} else {
		x, label, err = b.Get(j)
		if err == nil && aug.Enabled() {
			layout := NCHW
			if l, ok := b.(interface{ Layout() Layout }); ok {
				layout = l.Layout()
			}
			x, err = aug.ApplyTensor(x, layout, rng)
		}
	}
	if err != nil {
		return nil, 0, err
	}
	return x, dataMapLabel(views, label), nil
}

// Batch loads the samples idx of ds and stacks them into one float32
// tensor [len(idx), InputShape()...], with their labels.
func Batch(ds Dataset, idx []int) (*nn.Tensor, []int, error) {
	shape := ds.InputShape()
	per := nn.NumElements(shape)
	x := nn.New(nn.Float32, append([]int{len(idx)}, shape...)...)
	labels := make([]int, len(idx))
	for k, i := range idx {
		s, label, err := ds.Get(i)
		if err != nil {
			return nil, nil, err
		}
		if err := dataPut(x.F32[k*per:(k+1)*per], s, shape, i); err != nil {
			return nil, nil, err
		}
		labels[k] = label
	}
	return x, labels, nil
}

// BatchTargets stacks the regression targets of samples idx into a float32
// tensor [len(idx), TargetDim(ds)].
func BatchTargets(ds Dataset, idx []int) (*nn.Tensor, error) {
	d := TargetDim(ds)
	if d == 0 {
		return nil, errors.New("data: dataset has no regression targets")
	}
	y := nn.New(nn.Float32, len(idx), d)
	for k, i := range idx {
		t, _, err := TargetOf(ds, i)
		if err != nil {
			return nil, err
		}
		if len(t) != d {
			return nil, fmt.Errorf("data: sample %d has %d targets, want %d", i, len(t), d)
		}
		copy(y.F32[k*d:], t)
	}
	return y, nil
}

// dataPut copies sample tensor s (sample index i) into dst, checking its
// shape against the dataset's input shape.
func dataPut(dst []float32, s *nn.Tensor, shape []int, i int) error {
	if !nn.SameShape(s.Shape, shape) {
		return fmt.Errorf("data: sample %d has shape %v, dataset input shape is %v", i, s.Shape, shape)
	}
	switch s.DType.Storage() {
	case nn.StoreF32:
		copy(dst, s.F32)
	default:
		for j := range dst {
			dst[j] = float32(s.Float64At(j))
		}
	}
	return nil
}

// ClassCounts returns the number of samples of each class.
func ClassCounts(ds Dataset) ([]int, error) {
	counts := make([]int, len(ds.Classes()))
	for i := range ds.Len() {
		l, err := LabelOf(ds, i)
		if err != nil {
			return nil, err
		}
		if l < 0 || l >= len(counts) {
			return nil, fmt.Errorf("data: sample %d has label %d outside the %d classes", i, l, len(counts))
		}
		counts[l]++
	}
	return counts, nil
}

// Split divides ds into a training and a validation view. For
// classification data the split is stratified: each class contributes
// round(valFraction × its count) samples, chosen at random with seed, to
// the validation view. Regression data (no classes) is split at random.
// Both views list their samples in ascending dataset order.
func Split(ds Dataset, valFraction float64, seed uint64) (train, val *Subset, err error) {
	if !(valFraction > 0 && valFraction < 1) {
		return nil, nil, fmt.Errorf("data: validation fraction %v is not in (0,1)", valFraction)
	}
	n := ds.Len()
	var groups [][]int
	if nc := len(ds.Classes()); nc > 0 {
		groups = make([][]int, nc)
		for i := range n {
			l, err := LabelOf(ds, i)
			if err != nil {
				return nil, nil, err
			}
			if l < 0 || l >= nc {
				return nil, nil, fmt.Errorf("data: sample %d has label %d outside the %d classes", i, l, nc)
			}
			groups[l] = append(groups[l], i)
		}
	} else {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		groups = [][]int{all}
	}
	isVal := make([]bool, n)
	for g, idx := range groups {
		r := dataRNG(seed, uint64(g), 0x5e11)
		r.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		k := int(float64(len(idx))*valFraction + 0.5)
		for _, i := range idx[:k] {
			isVal[i] = true
		}
	}
	train, val = &Subset{Parent: ds}, &Subset{Parent: ds}
	for i, v := range isVal {
		if v {
			val.Indices = append(val.Indices, i)
		} else {
			train.Indices = append(train.Indices, i)
		}
	}
	if len(train.Indices) == 0 || len(val.Indices) == 0 {
		return nil, nil, fmt.Errorf("data: splitting %d samples with validation fraction %v leaves an empty part", n, valFraction)
	}
	return train, val, nil
}

// dataMix is the SplitMix64 finaliser, used to derive independent seeds.
func dataMix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// dataRNG returns a generator determined by seed and the two stream values
// (e.g. epoch and sample index), independent of call order and goroutines.
func dataRNG(seed, a, b uint64) *rand.Rand {
	h := dataMix(seed ^ dataMix(a^dataMix(b)))
	return rand.New(rand.NewPCG(h, dataMix(h^0x6a09e667f3bcc908)))
}

// SampleRNG returns the generator the Loader uses to augment dataset
// sample index in the given epoch: it depends only on (seed, epoch,
// index), so augmented samples are reproducible whatever the goroutine
// timing or batch order.
func SampleRNG(seed uint64, epoch, index int) *rand.Rand {
	return dataRNG(seed, uint64(epoch)+1, uint64(index)+1<<40)
}

// Summary describes a dataset in one line for logs, e.g. "120 samples,
// input [3,224,224], 3 classes (ant 40, bee 50, wasp 30)". Class counts are
// given for up to 20 classes.
func Summary(ds Dataset) string {
	s := fmt.Sprintf("%d samples, input %s", ds.Len(), nn.ShapeString(ds.InputShape()))
	classes := ds.Classes()
	if len(classes) == 0 {
		if d := TargetDim(ds); d > 0 {
			s += fmt.Sprintf(", regression with %d target(s)", d)
		}
		return s
	}
	s += fmt.Sprintf(", %d classes", len(classes))
	if len(classes) > 20 {
		return s
	}
	counts, err := ClassCounts(ds)
	if err != nil {
		return s
	}
	parts := make([]string, len(classes))
	for i, c := range classes {
		parts[i] = fmt.Sprintf("%s %d", c, counts[i])
	}
	return s + " (" + strings.Join(parts, ", ") + ")"
}
