package onnx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx/onnxpb"
)

// forEachTensor calls fn on every dense tensor of m: initializers, the
// values and indices of sparse tensors, tensor attributes of nodes (such as
// Constant values) and function defaults, in all graphs and subgraphs.
func forEachTensor(m *onnxpb.ModelProto, fn func(*onnxpb.TensorProto)) {
	var graph func(*onnxpb.GraphProto)
	t := func(tp *onnxpb.TensorProto) {
		if tp != nil {
			fn(tp)
		}
	}
	sparse := func(s *onnxpb.SparseTensorProto) {
		t(s.GetValues())
		t(s.GetIndices())
	}
	attrs := func(as []*onnxpb.AttributeProto) {
		for _, a := range as {
			t(a.GetT())
			for _, x := range a.GetTensors() {
				t(x)
			}
			if a.GetSparseTensor() != nil {
				sparse(a.GetSparseTensor())
			}
			for _, x := range a.GetSparseTensors() {
				sparse(x)
			}
			graph(a.GetG())
			for _, x := range a.GetGraphs() {
				graph(x)
			}
		}
	}
	graph = func(g *onnxpb.GraphProto) {
		if g == nil {
			return
		}
		for _, x := range g.GetInitializer() {
			t(x)
		}
		for _, x := range g.GetSparseInitializer() {
			sparse(x)
		}
		for _, n := range g.GetNode() {
			attrs(n.GetAttribute())
		}
	}
	graph(m.GetGraph())
	for _, f := range m.GetFunctions() {
		attrs(f.GetAttributeProto())
		for _, n := range f.GetNode() {
			attrs(n.GetAttribute())
		}
	}
	for _, ti := range m.GetTrainingInfo() {
		graph(ti.GetInitialization())
		graph(ti.GetAlgorithm())
	}
}

// StripExternalRecords removes the external_data entries of every tensor
// of m whose data is stored inline (data_location DEFAULT), such as the
// records Load keeps. Tensors still marked EXTERNAL are left alone.
func StripExternalRecords(m *onnxpb.ModelProto) {
	forEachTensor(m, func(tp *onnxpb.TensorProto) {
		if !isExternal(tp) {
			tp.ExternalData = nil
		}
	})
}

// ExternalLocation returns the external_data entries "location", "offset"
// and "length" of tp. For a tensor read by Load they record where its data
// came from. Missing offset is 0; missing length is -1.
func ExternalLocation(tp *onnxpb.TensorProto) (location string, offset, length int64, ok bool) {
	length = -1
	for _, kv := range tp.GetExternalData() {
		switch kv.GetKey() {
		case "location":
			location, ok = kv.GetValue(), true
		case "offset":
			offset, _ = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, _ = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
	}
	return location, offset, length, ok
}

// extLoader reads external tensor data from files inside one folder.
type extLoader struct {
	dir     string // the model's folder as given
	realDir string // dir with symlinks resolved
	files   map[string]*extFile
}

type extFile struct {
	f    *os.File
	size int64
}

func newExtLoader(dir string) (*extLoader, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	return &extLoader{dir: dir, realDir: real, files: map[string]*extFile{}}, nil
}

func (e *extLoader) close() {
	for _, f := range e.files {
		f.f.Close()
	}
}

// open returns the file named by an external_data location, after checking
// that it stays inside the model's folder.
func (e *extLoader) open(loc string) (*extFile, error) {
	clean, err := extCleanLocation(loc)
	if err != nil {
		return nil, err
	}
	if f, ok := e.files[clean]; ok {
		return f, nil
	}
	real, err := filepath.EvalSymlinks(filepath.Join(e.dir, clean))
	if err != nil {
		return nil, fmt.Errorf("external data location %q: %w", loc, err)
	}
	rel, err := filepath.Rel(e.realDir, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("external data location %q resolves to %q, outside the model's folder", loc, real)
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, fmt.Errorf("external data location %q: %w", loc, err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = errors.New("not a regular file")
		}
		return nil, fmt.Errorf("external data location %q: %w", loc, err)
	}
	ef := &extFile{f: f, size: st.Size()}
	e.files[clean] = ef
	return ef, nil
}

// resolve reads the external data of tp (which must be want bytes long)
// into raw_data and marks the tensor as stored inline.
func (e *extLoader) resolve(tp *onnxpb.TensorProto, want int) error {
	name := tp.GetName()
	var loc string
	var off, length int64 = 0, -1
	for _, kv := range tp.GetExternalData() {
		var err error
		switch kv.GetKey() {
		case "location":
			loc = kv.GetValue()
		case "offset":
			off, err = strconv.ParseInt(kv.GetValue(), 10, 64)
			if err == nil && off < 0 {
				err = errors.New("negative")
			}
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
			if err == nil && length < 0 {
				err = errors.New("negative")
			}
		}
		if err != nil {
			return fmt.Errorf("tensor %q: external data %s %q: %v", name, kv.GetKey(), kv.GetValue(), err)
		}
	}
	if len(tp.GetRawData()) > 0 {
		return fmt.Errorf("tensor %q: marked as external data but also holds raw_data", name)
	}
	f, err := e.open(loc)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", name, err)
	}
	if off > f.size {
		return fmt.Errorf("tensor %q: external data offset %d is beyond the end of %q (%d bytes)", name, off, loc, f.size)
	}
	if length < 0 {
		length = f.size - off
	}
	if length > f.size-off {
		return fmt.Errorf("tensor %q: external data [%d, %d+%d) is beyond the end of %q (%d bytes)", name, off, off, length, loc, f.size)
	}
	if length != int64(want) {
		return fmt.Errorf("tensor %q: external data holds %d bytes, but %s%s needs %d",
			name, length, nn.DType(tp.GetDataType()), dimsString(tp.GetDims()), want)
	}
	buf := make([]byte, length)
	if _, err := f.f.ReadAt(buf, off); err != nil && !(errors.Is(err, io.EOF) && length == 0) {
		return fmt.Errorf("tensor %q: reading external data from %q: %w", name, loc, err)
	}
	tp.RawData = buf
	tp.DataLocation = onnxpb.TensorProto_DEFAULT
	return nil
}

// ExternalOptions controls which tensors SaveExternal moves out of the
// model file and where.
type ExternalOptions struct {
	// Location is the data file, relative to the model's folder, that
	// receives the moved tensors. Empty means the model file's name plus
	// ".data".
	Location string
	// Threshold is the raw_data size in bytes from which a tensor is moved
	// out; 0 means 1024. Tensors holding their values in typed fields (not
	// raw_data) always stay inline.
	Threshold int
	// KeepLocations sends every tensor that carries a location record from
	// Load back to the file named there, whatever its size.
	KeepLocations bool
}

// extSlot is one tensor placed in an external data file.
type extSlot struct {
	tp           *onnxpb.TensorProto
	offset, size int64
}

// extAlign is the offset alignment of large tensors in data files, so that
// readers can map them into memory.
const extAlign = 4096

// SaveExternal writes m to path like Save, but stores the raw data of large
// tensors in separate files next to it (ONNX external data), which models
// beyond protobuf's 2 GiB limit need. Offsets of tensors of 64 KiB or more
// are aligned to 4096 bytes. Files are written to temporary names, synced
// and renamed into place, data files first. m is modified during the call
// and restored before it returns, so it must not be used concurrently.
func SaveExternal(path string, m *onnxpb.ModelProto, opt ExternalOptions) (err error) {
	if m == nil {
		return errors.New("save: nil model")
	}
	if opt.Location == "" {
		opt.Location = filepath.Base(path) + ".data"
	}
	if opt.Threshold <= 0 {
		opt.Threshold = 1024
	}
	defLoc, err := extCleanLocation(opt.Location)
	if err != nil {
		return err
	}
	if defLoc == filepath.Base(path) {
		return fmt.Errorf("save: external data location %q is the model file itself", opt.Location)
	}
	// Decide where each tensor goes.
	var order []string
	plan := map[string][]*extSlot{}
	forEachTensor(m, func(tp *onnxpb.TensorProto) {
		if err != nil {
			return
		}
		if isExternal(tp) {
			err = fmt.Errorf("save: tensor %q refers to external data that was never loaded", tp.GetName())
			return
		}
		if len(tp.GetRawData()) == 0 {
			return
		}
		loc := ""
		if rec, _, _, ok := ExternalLocation(tp); ok && opt.KeepLocations {
			if c, cerr := extCleanLocation(rec); cerr == nil && c != filepath.Base(path) {
				loc = c
			}
		}
		if loc == "" && len(tp.GetRawData()) >= opt.Threshold {
			loc = defLoc
		}
		if loc == "" {
			return
		}
		if _, ok := plan[loc]; !ok {
			order = append(order, loc)
		}
		plan[loc] = append(plan[loc], &extSlot{tp: tp})
	})
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	var temps []string // data files written, in the order of order
	defer func() {
		if err != nil {
			for _, t := range temps {
				os.Remove(t)
			}
		}
	}()
	for _, loc := range order {
		tmp, werr := extWriteData(filepath.Join(dir, loc), plan[loc])
		if werr != nil {
			return fmt.Errorf("save: external data file %q: %w", loc, werr)
		}
		temps = append(temps, tmp)
	}
	// Point the tensors at their files while encoding, then restore them.
	type saved struct {
		raw []byte
		ext []*onnxpb.StringStringEntryProto
	}
	var restore []func()
	defer func() {
		for _, r := range restore {
			r()
		}
	}()
	for _, loc := range order {
		for _, s := range plan[loc] {
			tp, old := s.tp, saved{s.tp.RawData, s.tp.ExternalData}
			restore = append(restore, func() {
				tp.RawData, tp.ExternalData, tp.DataLocation = old.raw, old.ext, onnxpb.TensorProto_DEFAULT
			})
			tp.RawData = nil
			tp.DataLocation = onnxpb.TensorProto_EXTERNAL
			tp.ExternalData = []*onnxpb.StringStringEntryProto{
				{Key: "location", Value: filepath.ToSlash(loc)},
				{Key: "offset", Value: strconv.FormatInt(s.offset, 10)},
				{Key: "length", Value: strconv.FormatInt(s.size, 10)},
			}
		}
	}
	b, err := Encode(m)
	if err != nil {
		return err
	}
	for i, loc := range order {
		if err = os.Rename(temps[i], filepath.Join(dir, loc)); err != nil {
			return err
		}
	}
	temps = nil
	return writeFileAtomic(path, b)
}

// extCleanLocation checks that an external data location is a relative
// path inside the model's folder and returns it cleaned.
func extCleanLocation(loc string) (string, error) {
	if loc == "" {
		return "", errors.New("external data has no location")
	}
	if filepath.IsAbs(loc) || strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, `\`) || filepath.VolumeName(loc) != "" {
		return "", fmt.Errorf("external data location %q is an absolute path; it must be relative to the model's folder", loc)
	}
	clean := filepath.Clean(filepath.FromSlash(loc))
	if clean == "." {
		return "", fmt.Errorf("external data location %q names the model's folder, not a file", loc)
	}
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("external data location %q leaves the model's folder", loc)
	}
	return clean, nil
}

// extWriteData writes the raw data of slots to a synced temporary file next
// to path, filling in their offsets and sizes, and returns the file's name.
func extWriteData(path string, slots []*extSlot) (tmp string, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	var off int64
	var pad [extAlign]byte
	for _, s := range slots {
		raw := s.tp.GetRawData()
		if len(raw) >= 64<<10 && off%extAlign != 0 {
			n := extAlign - off%extAlign
			if _, err = f.Write(pad[:n]); err != nil {
				return "", err
			}
			off += n
		}
		if _, err = f.Write(raw); err != nil {
			return "", err
		}
		s.offset, s.size = off, int64(len(raw))
		off += int64(len(raw))
	}
	if err = f.Chmod(0o644); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}
