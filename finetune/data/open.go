package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// OpenOptions configure Open.
type OpenOptions struct {
	// Image configures image folders and IDX data (IDX keeps its own
	// defaults for zero fields: native size, 1 channel, direct resize).
	Image ImageOptions
	// LabelsFile names the classes of an image folder (see FolderOptions).
	LabelsFile string
	// Cache keeps decoded images of an image folder in memory.
	Cache bool
	// ClassNames name IDX or NPY classes. For IDX data in a folder whose
	// name contains "fashion" the default is FashionMNISTClasses().
	ClassNames []string
	// Label is the CSV label column; "" means "label".
	Label string
	// Task selects classification or regression for CSV and NPY data.
	Task Task
	// Classes and PerClass select classes and the first K samples per class
	// of both splits (see Select).
	Classes  []int
	PerClass int
}

// Open opens the dataset at path, detecting its format:
//
//   - a .csv file: OpenCSV (val nil);
//   - "X.npy,y.npy", or a folder holding X.npy and y.npy: OpenNPY (val nil);
//   - a folder holding train-images-idx3-ubyte[.gz] and
//     train-labels-idx1-ubyte[.gz]: IDX, with t10k-* files (when present) as
//     val;
//   - a folder with train/ and val/ (or test/) subfolders: both image splits;
//   - any other folder: an image folder (val nil).
//
// When val is nil the caller may make one with Split.
func Open(path string, opts OpenOptions) (train, val Dataset, err error) {
	train, val, err = dataOpen(path, opts)
	if err != nil {
		return nil, nil, err
	}
	if opts.Classes != nil || opts.PerClass > 0 {
		if train, err = Select(train, opts.Classes, opts.PerClass); err != nil {
			return nil, nil, err
		}
		if val != nil {
			if val, err = Select(val, opts.Classes, opts.PerClass); err != nil {
				return nil, nil, fmt.Errorf("validation split: %w", err)
			}
		}
	}
	return train, val, nil
}

func dataOpen(path string, opts OpenOptions) (Dataset, Dataset, error) {
	if xp, yp, ok := strings.Cut(path, ","); ok {
		m, err := OpenNPY(strings.TrimSpace(xp), strings.TrimSpace(yp), NPYOptions{Task: opts.Task, ClassNames: opts.ClassNames, Layout: opts.Image.Layout})
		if err != nil {
			return nil, nil, err
		}
		return m, nil, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	if !st.IsDir() {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv", ".tsv":
			label := opts.Label
			if label == "" {
				label = "label"
			}
			co := CSVOptions{Label: label, Task: opts.Task}
			if strings.EqualFold(filepath.Ext(path), ".tsv") {
				co.Comma = '\t'
			}
			m, err := OpenCSV(path, co)
			if err != nil {
				return nil, nil, err
			}
			return m, nil, nil
		}
		return nil, nil, fmt.Errorf("data: %s: unknown data file type (want a folder, .csv, or X.npy,y.npy)", path)
	}
	exists := func(names ...string) string {
		for _, n := range names {
			if p := filepath.Join(path, n); dataIsFile(p) {
				return p
			}
		}
		return ""
	}
	if x, y := exists("X.npy", "x.npy"), exists("y.npy", "Y.npy"); x != "" && y != "" {
		m, err := OpenNPY(x, y, NPYOptions{Task: opts.Task, ClassNames: opts.ClassNames, Layout: opts.Image.Layout})
		if err != nil {
			return nil, nil, err
		}
		return m, nil, nil
	}
	ti := exists("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte", "train-images.idx3-ubyte")
	tl := exists("train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte", "train-labels.idx1-ubyte")
	if ti != "" && tl != "" {
		iopts := IDXOptions{ImageOptions: opts.Image, ClassNames: opts.ClassNames}
		if iopts.ClassNames == nil && strings.Contains(strings.ToLower(filepath.Base(filepath.Clean(path))), "fashion") {
			iopts.ClassNames = FashionMNISTClasses()
		}
		tr, err := OpenIDX(ti, tl, iopts)
		if err != nil {
			return nil, nil, err
		}
		vi := exists("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte")
		vl := exists("t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte")
		if vi == "" || vl == "" {
			return tr, nil, nil
		}
		va, err := OpenIDX(vi, vl, iopts)
		if err != nil {
			return nil, nil, err
		}
		return tr, va, nil
	}
	fo := FolderOptions{ImageOptions: opts.Image, LabelsFile: opts.LabelsFile, Cache: opts.Cache}
	tr, va, err := OpenImageSplits(path, fo)
	if err != nil {
		return nil, nil, err
	}
	if va == nil {
		return tr, nil, nil
	}
	return tr, va, nil
}

func dataIsFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
