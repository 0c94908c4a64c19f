// Package zoo is graft's catalogue of pretrained ONNX models: a manifest
// embedded in the binary (manifest.json) naming each model's download
// locations, SHA-256, size, opset, input/output spec, preprocessing,
// labels and license, plus a downloader that keeps verified copies in a
// local cache.
//
// Models are referred to as "zoo:NAME" on the command line; Resolve turns
// such a reference into a local file path, downloading the model on first
// use. Other references pass through unchanged.
//
// # Sources of the manifest values
//
// The ONNX Model Zoo (github.com/onnx/models) stores its .onnx files with
// Git LFS; each entry's sha256 and size come from the LFS pointer file of
// that model in the repository or, where no pointer was available, from the
// repository's ONNX_HUB_MANIFEST.json. The Source field of every entry says
// which. Downloads are always verified against the sha256, so a wrong value
// can never yield a silently different model: it fails with a checksum
// error.
//
// # The bundled entry
//
// "fmnist-cnn" is graft's own small Fashion-MNIST classifier
// (testdata/models/fmnist_cnn.onnx). A byte-identical copy is embedded in
// the package (bundled/fmnist_cnn.onnx, checked by the tests against the
// testdata file), so it resolves without network access and without a
// source checkout: Pull writes the embedded bytes into the cache like any
// other download.
//
// # Cache layout
//
// The cache directory (see CacheDir) holds models/NAME/FILE for every
// verified model, and while a download runs models/NAME/FILE.partial (bytes
// received so far, kept for resuming) and models/NAME/FILE.lock (a lock
// file serialising downloads of the same model across goroutines and
// processes). A file only ever appears under its final name after its
// sha256 matched, by an atomic rename.
package zoo

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

//go:embed manifest.json
var manifestJSON []byte

//go:embed imagenet_labels.txt
var imagenetLabels string

//go:embed bundled/fmnist_cnn.onnx
var bundledFMNIST []byte

// bundled maps the File of bundled entries to their embedded bytes.
func bundledData(file string) ([]byte, bool) {
	switch file {
	case "fmnist_cnn.onnx":
		return bundledFMNIST, true
	}
	return nil, false
}

// Entry describes one model of the zoo.
type Entry struct {
	// Name is the identifier used on the command line (zoo:NAME).
	Name string `json:"name"`
	// Aliases are other names Lookup accepts.
	Aliases []string `json:"aliases,omitempty"`
	// Title is a one-line human description.
	Title string `json:"title"`
	// Task is what the model does, e.g. "image-classification".
	Task string `json:"task"`
	// File is the file name in the cache (and at the download locations).
	File string `json:"file"`
	// URLs are the download locations, tried in order. Empty for bundled
	// entries.
	URLs []string `json:"urls,omitempty"`
	// Bundled entries are embedded in graft and need no network.
	Bundled bool `json:"bundled,omitempty"`
	// SHA256 is the lower-case hex digest of the file.
	SHA256 string `json:"sha256"`
	// Size is the file size in bytes.
	Size int64 `json:"size"`
	// Opset is the default-domain (ai.onnx) opset the model imports.
	Opset int `json:"opset"`
	// License is the license of the model weights as published.
	License string `json:"license"`
	// Source says where SHA256 and Size were taken from.
	Source string `json:"source"`
	// Inputs and Outputs describe the graph's tensors. A negative dimension
	// is dynamic (usually the batch); an empty Name means unrecorded.
	Inputs  []TensorSpec `json:"inputs"`
	Outputs []TensorSpec `json:"outputs"`
	// Preprocess says how to turn an image into the input tensor.
	Preprocess Preprocess `json:"preprocess"`
	// Labels names the class list: "imagenet", "digits", "fmnist5",
	// "face" (see Classes).
	Labels string `json:"labels,omitempty"`
}

// TensorSpec describes one graph input or output.
type TensorSpec struct {
	Name  string `json:"name,omitempty"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

// Preprocess describes the expected image preprocessing. A pixel value p
// in 0..255 of channel c becomes (p*Scale - Mean[c]) / Std[c]; Mean and Std
// with one element apply to every channel.
type Preprocess struct {
	// Width and Height of the network input in pixels.
	Width  int `json:"width"`
	Height int `json:"height"`
	// Resize, when > 0, scales the image so its shorter side is Resize
	// pixels (keeping the aspect ratio) before a Crop to Width x Height.
	// Zero means a plain resize to Width x Height.
	Resize int    `json:"resize,omitempty"`
	Crop   string `json:"crop,omitempty"`
	// Layout is "NCHW" or "NHWC".
	Layout string `json:"layout"`
	// Color is the channel order: "RGB", "BGR" or "GRAY".
	Color string    `json:"color"`
	Scale float64   `json:"scale"`
	Mean  []float64 `json:"mean"`
	Std   []float64 `json:"std"`
	// Documented is false when the upstream model card gives no
	// preprocessing and the values are a best guess (see Notes).
	Documented bool   `json:"documented"`
	Notes      string `json:"notes,omitempty"`
}

type zooManifest struct {
	Version int     `json:"version"`
	Models  []Entry `json:"models"`
}

var loadManifest = sync.OnceValues(func() ([]Entry, error) {
	return parseManifest(manifestJSON)
})

func parseManifest(data []byte) ([]Entry, error) {
	var m zooManifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("zoo: embedded manifest: %w", err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("zoo: embedded manifest: unsupported version %d", m.Version)
	}
	seen := map[string]bool{}
	for _, e := range m.Models {
		if e.Name == "" || seen[e.Name] {
			return nil, fmt.Errorf("zoo: embedded manifest: empty or duplicate model name %q", e.Name)
		}
		seen[e.Name] = true
	}
	return m.Models, nil
}

// List returns every model of the zoo, sorted by name. The slice is a copy
// the caller may modify.
func List() []Entry {
	entries, err := loadManifest()
	if err != nil {
		// The manifest is embedded and checked by the tests; a broken one
		// is a build defect, not a runtime condition.
		panic(err)
	}
	out := make([]Entry, len(entries))
	for i, e := range entries {
		out[i] = e.clone()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (e Entry) clone() Entry {
	e.URLs = append([]string(nil), e.URLs...)
	e.Aliases = append([]string(nil), e.Aliases...)
	e.Inputs = cloneSpecs(e.Inputs)
	e.Outputs = cloneSpecs(e.Outputs)
	e.Preprocess.Mean = append([]float64(nil), e.Preprocess.Mean...)
	e.Preprocess.Std = append([]float64(nil), e.Preprocess.Std...)
	return e
}

func cloneSpecs(s []TensorSpec) []TensorSpec {
	out := make([]TensorSpec, len(s))
	for i, t := range s {
		t.Shape = append([]int(nil), t.Shape...)
		out[i] = t
	}
	return out
}

// ErrUnknownModel is returned (wrapped) by Lookup for a name not in the zoo.
var ErrUnknownModel = errors.New("unknown model")

// Lookup returns the entry called name (case-insensitive; a "zoo:" prefix
// is accepted). For an unknown name the error lists the closest names.
func Lookup(name string) (Entry, error) {
	name = strings.TrimPrefix(strings.TrimSpace(name), "zoo:")
	all := List()
	for _, e := range all {
		if strings.EqualFold(e.Name, name) {
			return e, nil
		}
		for _, a := range e.Aliases {
			if strings.EqualFold(a, name) {
				return e, nil
			}
		}
	}
	names := make([]string, len(all))
	for i, e := range all {
		names[i] = e.Name
	}
	if close := closeNames(name, names); len(close) > 0 {
		return Entry{}, fmt.Errorf("zoo: %w %q; did you mean %s? (graft zoo list shows all)", ErrUnknownModel, name, strings.Join(close, ", "))
	}
	return Entry{}, fmt.Errorf("zoo: %w %q; known models: %s", ErrUnknownModel, name, strings.Join(names, ", "))
}

// closeNames returns up to three names similar to q: those containing it
// (or contained in it) first, then those within an edit distance of a third
// of the longer length.
func closeNames(q string, names []string) []string {
	q = strings.ToLower(q)
	if q == "" {
		return nil
	}
	type cand struct {
		name string
		dist int
	}
	var cands []cand
	for _, n := range names {
		ln := strings.ToLower(n)
		d := editDistance(q, ln)
		limit := max(len(q), len(ln)) / 3
		// A misspelt family name ("resnt18") is close to a prefix of the
		// full name ("resnet18-v1-7").
		for k := max(len(q)-2, 1); k <= min(len(q)+2, len(ln)); k++ {
			if pd := editDistance(q, ln[:k]); pd < d && pd <= max(len(q)/3, 1) {
				d, limit = pd, max(limit, pd)
			}
		}
		switch {
		case strings.Contains(ln, q) || strings.Contains(q, ln):
			d = 0
		case d > limit:
			continue
		}
		cands = append(cands, cand{n, d})
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].dist < cands[j].dist })
	var out []string
	for i := 0; i < len(cands) && i < 3; i++ {
		out = append(out, cands[i].name)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Classes returns the class names of the entry's outputs in output order,
// or nil when the entry has no label list.
func (e Entry) Classes() []string {
	switch e.Labels {
	case "imagenet":
		return ImageNetLabels()
	case "digits":
		return []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
	case "fmnist5":
		return []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"}
	case "face":
		return []string{"background", "face"}
	}
	return nil
}

// ImageNetLabels returns the 1000 ILSVRC-2012 class names in the usual
// index order (0 = tench ... 999 = toilet tissue). The list is embedded
// (imagenet_labels.txt, one name a line).
func ImageNetLabels() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(imagenetLabels))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	return out
}
