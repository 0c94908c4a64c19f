package data

import (
	"bufio"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/graftml/graft/nn"
)

// FolderOptions configure OpenImageFolder and OpenImageSplits.
type FolderOptions struct {
	ImageOptions
	// LabelsFile names a text file with one class name per line. If every
	// class folder's name is in it, its line order defines the class
	// indices (it may list more classes than there are folders, e.g. the
	// model's full label set). Otherwise it must have exactly one line per
	// class folder and renames the sorted folders in order.
	LabelsFile string
	// Cache keeps decoded images in memory after their first use, downscaled
	// so their shorter side is at most the resize size (size/CropFraction).
	// Without it images are decoded from disk on every access.
	Cache bool
}

// dataImageExt reports whether an (lower-case) extension is one an image
// folder reads.
func dataImageExt(ext string) bool {
	switch ext {
	case ".png", ".jpg", ".jpeg", ".gif":
		return true
	}
	return false
}

// ImageFolder is a classification dataset of image files laid out as
// ROOT/<class>/**/*.{png,jpg,jpeg,gif}. Images are decoded on demand.
type ImageFolder struct {
	root    string
	files   []string
	labels  []int
	classes []string
	pipe    *dataPipe
	cache   *dataCache
	// dirIndex maps a class folder name to its label.
	dirIndex map[string]int
}

// dataCache holds decoded images of an ImageFolder.
type dataCache struct {
	mu    sync.Mutex
	imgs  []dataU8
	have  []bool
	short int
}

// OpenImageFolder opens ROOT/<class>/... as a dataset. Class names are the
// sorted folder names (or come from opts.LabelsFile). It fails when a
// class folder holds no images, when there are no images at all, or when
// root holds train/ and val/ (or test/) splits (use OpenImageSplits).
func OpenImageFolder(root string, opts FolderOptions) (*ImageFolder, error) {
	if train, val := dataSplitDirs(root); train != "" && val != "" {
		return nil, fmt.Errorf("data: %s holds %s and %s splits: use OpenImageSplits or open one split folder", root, filepath.Base(train), filepath.Base(val))
	}
	return dataOpenFolder(root, opts, nil)
}

// OpenImageSplits opens an image folder that may be split: if root holds
// train/ and val/ (or test/ when there is no val/), it returns both splits
// with the training split's class list; otherwise it returns the whole
// folder as train and a nil val (use Split to make one).
func OpenImageSplits(root string, opts FolderOptions) (train, val *ImageFolder, err error) {
	td, vd := dataSplitDirs(root)
	if td == "" || vd == "" {
		train, err = dataOpenFolder(root, opts, nil)
		return train, nil, err
	}
	train, err = dataOpenFolder(td, opts, nil)
	if err != nil {
		return nil, nil, err
	}
	val, err = dataOpenFolder(vd, opts, train)
	if err != nil {
		return nil, nil, err
	}
	return train, val, nil
}

// dataSplitDirs returns root/train and root/val (or root/test) when they
// are folders.
func dataSplitDirs(root string) (train, val string) {
	isDir := func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && st.IsDir()
	}
	if t := filepath.Join(root, "train"); isDir(t) {
		train = t
	}
	for _, v := range []string{"val", "valid", "validation", "test"} {
		if p := filepath.Join(root, v); isDir(p) {
			val = p
			break
		}
	}
	return train, val
}

// dataOpenFolder scans root; ref, when given, fixes the class list and the
// folder-to-class mapping (for a validation split).
func dataOpenFolder(root string, opts FolderOptions, ref *ImageFolder) (*ImageFolder, error) {
	var classes []string
	if ref != nil {
		classes = ref.classes
	}
	pipe, err := dataNewPipe(opts.ImageOptions, 224, 224, 3, ResizeCrop)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("data: image folder: %w", err)
	}
	var dirs []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if st, err := os.Stat(filepath.Join(root, e.Name())); err == nil && st.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	slices.Sort(dirs)
	if len(dirs) == 0 {
		return nil, fmt.Errorf("data: dataset empty: no class folders under %s (want %s/<class>/*.png|jpg|gif)", root, root)
	}
	index := map[string]int{}
	switch {
	case ref != nil:
		for d, i := range ref.dirIndex {
			index[d] = i
		}
	case opts.LabelsFile != "":
		names, err := ReadLabels(opts.LabelsFile)
		if err != nil {
			return nil, err
		}
		for i, c := range names {
			if _, dup := index[c]; !dup {
				index[c] = i
			}
		}
		all := true
		for _, d := range dirs {
			if _, ok := index[d]; !ok {
				all = false
			}
		}
		if !all {
			if len(names) != len(dirs) {
				return nil, fmt.Errorf("data: labels file %s has %d names and does not list every one of the %d class folders of %s", opts.LabelsFile, len(names), len(dirs), root)
			}
			clear(index)
			for i, d := range dirs {
				index[d] = i
			}
		}
		classes = names
	default:
		classes = dirs
		for i, d := range dirs {
			index[d] = i
		}
	}
	f := &ImageFolder{root: root, classes: slices.Clone(classes), pipe: pipe, dirIndex: index}
	for _, d := range dirs {
		label, ok := index[d]
		if !ok {
			return nil, fmt.Errorf("data: class folder %s is not one of the training classes", filepath.Join(root, d))
		}
		n := 0
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(e.Name(), ".") && p != filepath.Join(root, d) {
				if e.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if e.IsDir() || !dataImageExt(strings.ToLower(filepath.Ext(p))) {
				return nil
			}
			f.files = append(f.files, p)
			f.labels = append(f.labels, label)
			n++
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("data: image folder: %w", err)
		}
		if n == 0 {
			return nil, fmt.Errorf("data: class folder %s has no images (.png, .jpg, .jpeg, .gif)", filepath.Join(root, d))
		}
	}
	if len(f.files) == 0 {
		return nil, fmt.Errorf("data: dataset empty: no images under %s", root)
	}
	if opts.Cache {
		short := int(float64(max(pipe.h, pipe.w)) / pipe.cropFrac)
		f.cache = &dataCache{imgs: make([]dataU8, len(f.files)), have: make([]bool, len(f.files)), short: short}
	}
	return f, nil
}

// ReadLabels reads a labels file: one class name per line, surrounding
// spaces trimmed, trailing empty lines ignored.
func ReadLabels(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: labels file: %w", err)
	}
	defer fh.Close()
	var names []string
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		names = append(names, strings.TrimSpace(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("data: labels file %s: %w", path, err)
	}
	for len(names) > 0 && names[len(names)-1] == "" {
		names = names[:len(names)-1]
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("data: labels file %s is empty", path)
	}
	return names, nil
}

// Root returns the folder the dataset was read from.
func (f *ImageFolder) Root() string { return f.root }

// Len returns the number of images.
func (f *ImageFolder) Len() int { return len(f.files) }

// Classes returns the class names.
func (f *ImageFolder) Classes() []string { return f.classes }

// InputShape returns [C,H,W] or [H,W,C].
func (f *ImageFolder) InputShape() []int { return f.pipe.shape() }

// Layout returns the sample layout.
func (f *ImageFolder) Layout() Layout { return f.pipe.layout }

// Path returns the file of sample i.
func (f *ImageFolder) Path(i int) string { return f.files[i] }

// Label returns sample i's class without decoding the image.
func (f *ImageFolder) Label(i int) (int, error) {
	if i < 0 || i >= len(f.files) {
		return 0, fmt.Errorf("data: sample %d out of range [0,%d)", i, len(f.files))
	}
	return f.labels[i], nil
}

// Get decodes image i and transforms it (resize/crop, channels, Norm,
// layout).
func (f *ImageFolder) Get(i int) (*nn.Tensor, int, error) {
	return f.GetAugmented(i, nil, nil)
}

// GetAugmented is Get with augmentation aug drawn from rng.
func (f *ImageFolder) GetAugmented(i int, aug *Augment, rng *rand.Rand) (*nn.Tensor, int, error) {
	if i < 0 || i >= len(f.files) {
		return nil, 0, fmt.Errorf("data: sample %d out of range [0,%d)", i, len(f.files))
	}
	src, err := f.load(i)
	if err != nil {
		return nil, 0, err
	}
	return f.pipe.run(src, aug, rng), f.labels[i], nil
}

// load returns the decoded image i, from the cache when enabled.
func (f *ImageFolder) load(i int) (dataU8, error) {
	c := f.cache
	if c != nil {
		c.mu.Lock()
		if c.have[i] {
			u := c.imgs[i]
			c.mu.Unlock()
			return u, nil
		}
		c.mu.Unlock()
	}
	u, err := dataDecodeFile(f.files[i], f.pipe.c)
	if err != nil {
		return dataU8{}, err
	}
	if c != nil {
		u = dataShrink(u, c.short)
		c.mu.Lock()
		c.imgs[i], c.have[i] = u, true
		c.mu.Unlock()
	}
	return u, nil
}

// dataShrink downscales u so its shorter side is at most short, rounding
// to 8 bits.
func dataShrink(u dataU8, short int) dataU8 {
	s := min(u.w, u.h)
	if s <= short {
		return u
	}
	w := max(int(float64(u.w)*float64(short)/float64(s)+0.5), 1)
	h := max(int(float64(u.h)*float64(short)/float64(s)+0.5), 1)
	p := dataResample(u.pix, u.w, u.h, u.c, 0, 0, float64(u.w), float64(u.h), w, h, 0, 0, w, h)
	out := dataU8{w: w, h: h, c: u.c, pix: make([]uint8, w*h*u.c)}
	plane := w * h
	for ci := range u.c {
		for k := range plane {
			v := p.pix[ci*plane+k] + 0.5
			out.pix[k*u.c+ci] = uint8(min(max(v, 0), 255))
		}
	}
	return out
}
