package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/graftml/graft/nn"
)

// IDXOptions configure OpenIDX.
type IDXOptions struct {
	// ImageOptions default to the native image size, 1 channel, direct
	// resize and [0,1] values.
	ImageOptions
	// ClassNames name the file's labels 0..K-1; default "0", "1", ...
	ClassNames []string
	// Classes keeps only samples of these labels (of the file), relabelled
	// 0..len(Classes)-1 in the given order, e.g. {5,6,7,8,9}.
	Classes []int
	// PerClass > 0 keeps only the first PerClass samples (in file order) of
	// each kept class.
	PerClass int
}

// IDX is an in-memory dataset read from IDX files (MNIST, Fashion-MNIST):
// 8-bit images [N,rows,cols] and 8-bit labels [N].
type IDX struct {
	rows, cols int
	pix        []uint8 // all images of the file
	keep       []int   // file sample of each dataset sample
	labels     []int   // dataset label of each dataset sample
	classes    []string
	pipe       *dataPipe
}

// FashionMNISTClasses returns the Fashion-MNIST class names in label order.
func FashionMNISTClasses() []string {
	return []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
}

// FashionMNISTDir is where Debian's dataset-fashion-mnist package installs
// the Fashion-MNIST files.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// OpenFashionMNIST opens the training (train=true, 60000 images) or test
// (10000 images) split of Fashion-MNIST in dir ("" means FashionMNISTDir),
// with the Fashion-MNIST class names unless opts.ClassNames is set.
func OpenFashionMNIST(dir string, train bool, opts IDXOptions) (*IDX, error) {
	if dir == "" {
		dir = FashionMNISTDir
	}
	prefix := "t10k"
	if train {
		prefix = "train"
	}
	find := func(kind string) string {
		base := filepath.Join(dir, prefix+"-"+kind)
		for _, p := range []string{base + ".gz", base} {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		return base + ".gz"
	}
	if opts.ClassNames == nil {
		opts.ClassNames = FashionMNISTClasses()
	}
	return OpenIDX(find("images-idx3-ubyte"), find("labels-idx1-ubyte"), opts)
}

// OpenIDX reads an IDX image file and label file (gzip-compressed or raw,
// detected from the content) into memory. With a per-class quota, images
// are read only up to the last one selected.
func OpenIDX(imagesPath, labelsPath string, opts IDXOptions) (*IDX, error) {
	// Labels first: with a class selection and a per-class quota, only the
	// images up to the last selected one need to be decompressed.
	ldims, lab, err := dataReadIDX(labelsPath, -1)
	if err != nil {
		return nil, err
	}
	if len(ldims) != 1 {
		return nil, fmt.Errorf("data: IDX labels %s have shape %v, want [N]", labelsPath, ldims)
	}
	need := -1 // all
	if opts.PerClass > 0 {
		need = dataIDXPrefix(lab, opts.Classes, opts.PerClass)
	}
	dims, pix, err := dataReadIDX(imagesPath, need)
	if err != nil {
		return nil, err
	}
	if len(dims) != 3 {
		return nil, fmt.Errorf("data: IDX images %s have shape %v, want [N,rows,cols]", imagesPath, dims)
	}
	if ldims[0] != dims[0] {
		return nil, fmt.Errorf("data: IDX files %s and %s hold %d images and %d labels", imagesPath, labelsPath, dims[0], ldims[0])
	}
	rows, cols := dims[1], dims[2]
	pipe, err := dataNewPipe(opts.ImageOptions, rows, cols, 1, ResizeDirect)
	if err != nil {
		return nil, err
	}
	maxLabel := 0
	for _, l := range lab {
		maxLabel = max(maxLabel, int(l))
	}
	names := opts.ClassNames
	if names == nil {
		for k := range maxLabel + 1 {
			names = append(names, strconv.Itoa(k))
		}
	}
	if maxLabel >= len(names) {
		return nil, fmt.Errorf("data: IDX labels %s hold label %d but only %d class names are given", labelsPath, maxLabel, len(names))
	}
	// Map file labels to dataset labels.
	remap := make([]int, 256)
	for i := range remap {
		remap[i] = i
	}
	classes := slices.Clone(names)
	if opts.Classes != nil {
		for i := range remap {
			remap[i] = -1
		}
		classes = nil
		for k, c := range opts.Classes {
			if c < 0 || c >= len(names) {
				return nil, fmt.Errorf("data: selected class %d is not in 0..%d", c, len(names)-1)
			}
			if remap[c] >= 0 {
				return nil, fmt.Errorf("data: class %d selected twice", c)
			}
			remap[c] = k
			classes = append(classes, names[c])
		}
	}
	if opts.PerClass < 0 {
		return nil, fmt.Errorf("data: PerClass %d is negative", opts.PerClass)
	}
	d := &IDX{rows: rows, cols: cols, pix: pix, classes: classes, pipe: pipe}
	count := make([]int, len(classes))
	for i, l := range lab {
		k := remap[l]
		if k < 0 {
			continue
		}
		if opts.PerClass > 0 && count[k] >= opts.PerClass {
			continue
		}
		count[k]++
		d.keep = append(d.keep, i)
		d.labels = append(d.labels, k)
	}
	if len(d.keep) == 0 {
		return nil, fmt.Errorf("data: dataset empty: no samples of the selected classes in %s", labelsPath)
	}
	return d, nil
}

// dataIDXPrefix returns how many leading items hold the first perClass
// samples of every selected class (all classes when classes is nil), or -1
// when some class falls short and every item has to be read.
func dataIDXPrefix(lab []uint8, classes []int, perClass int) int {
	want := map[uint8]int{}
	if classes == nil {
		for _, l := range lab {
			want[l] = perClass
		}
	} else {
		for _, c := range classes {
			if c >= 0 && c < 256 {
				want[uint8(c)] = perClass
			}
		}
	}
	left := len(want)
	for i, l := range lab {
		n, ok := want[l]
		if !ok || n == 0 {
			continue
		}
		want[l] = n - 1
		if n == 1 {
			left--
			if left == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// dataReadIDX reads an IDX file of unsigned bytes: its dimensions and the
// data of its first items (all when items < 0; dimensions are those of
// the whole file).
func dataReadIDX(path string, items int) ([]int, []uint8, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: IDX: %w", err)
	}
	defer fh.Close()
	br := bufio.NewReader(fh)
	var r io.Reader = br
	if m, err := br.Peek(2); err == nil && m[0] == 0x1f && m[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("data: IDX %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, nil, fmt.Errorf("data: IDX %s: reading header: %w", path, err)
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		return nil, nil, fmt.Errorf("data: %s is not an IDX file (bad magic)", path)
	}
	if hdr[2] != 0x08 {
		return nil, nil, fmt.Errorf("data: IDX %s: element type 0x%02x not supported (want unsigned byte 0x08)", path, hdr[2])
	}
	nd := int(hdr[3])
	if nd < 1 || nd > 4 {
		return nil, nil, fmt.Errorf("data: IDX %s: %d dimensions not supported", path, nd)
	}
	dims := make([]int, nd)
	total := 1
	for k := range dims {
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, nil, fmt.Errorf("data: IDX %s: reading dimensions: %w", path, err)
		}
		dims[k] = int(binary.BigEndian.Uint32(b[:]))
		if dims[k] > 1<<31 || (dims[k] > 0 && total > (1<<34)/dims[k]) {
			return nil, nil, fmt.Errorf("data: IDX %s: dimensions too large", path)
		}
		total *= dims[k]
	}
	if items >= 0 && items < dims[0] {
		total = total / dims[0] * items
	}
	// Read through a limit so a lying header cannot force a huge allocation.
	data, err := io.ReadAll(io.LimitReader(r, int64(total)))
	if err != nil {
		return nil, nil, fmt.Errorf("data: IDX %s: %w", path, err)
	}
	if len(data) != total {
		return nil, nil, fmt.Errorf("data: IDX %s: truncated: %d of %d data bytes", path, len(data), total)
	}
	return dims, data, nil
}

// Len returns the number of (selected) samples.
func (d *IDX) Len() int { return len(d.keep) }

// Classes returns the (selected) class names.
func (d *IDX) Classes() []string { return d.classes }

// InputShape returns [C,H,W] or [H,W,C].
func (d *IDX) InputShape() []int { return d.pipe.shape() }

// Layout returns the sample layout.
func (d *IDX) Layout() Layout { return d.pipe.layout }

// FileIndex returns the position in the IDX file of sample i.
func (d *IDX) FileIndex(i int) int { return d.keep[i] }

// Label returns sample i's class.
func (d *IDX) Label(i int) (int, error) {
	if i < 0 || i >= len(d.keep) {
		return 0, fmt.Errorf("data: sample %d out of range [0,%d)", i, len(d.keep))
	}
	return d.labels[i], nil
}

// Get returns sample i transformed to the model input.
func (d *IDX) Get(i int) (*nn.Tensor, int, error) { return d.GetAugmented(i, nil, nil) }

// GetAugmented is Get with augmentation aug drawn from rng.
func (d *IDX) GetAugmented(i int, aug *Augment, rng *rand.Rand) (*nn.Tensor, int, error) {
	if i < 0 || i >= len(d.keep) {
		return nil, 0, fmt.Errorf("data: sample %d out of range [0,%d)", i, len(d.keep))
	}
	n := d.rows * d.cols
	j := d.keep[i]
	src := dataU8{w: d.cols, h: d.rows, c: 1, pix: d.pix[j*n : (j+1)*n]}
	return d.pipe.run(src, aug, rng), d.labels[i], nil
}
