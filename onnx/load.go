// Package onnx reads and writes ONNX model files and converts their tensors
// to and from graft's nn tensors.
package onnx

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// The IR versions graft reads. Older models lack opset imports; newer ones
// may use constructs graft does not know.
const (
	MinIRVersion = 3
	MaxIRVersion = 13
)

// Decode parses a serialized ModelProto and validates it: IR version, a
// graph, and every tensor in it (initializers, sparse initializers, tensor
// attributes such as Constant values, in subgraphs and functions too) must
// have a supported data type, non-negative dims and exactly as much data as
// its dims need. Models that keep tensors in external files must be read
// with Load.
func Decode(b []byte) (*onnxpb.ModelProto, error) {
	m, err := unmarshalModel(b)
	if err != nil {
		return nil, err
	}
	if err := validateModel(m, nil); err != nil {
		return nil, err
	}
	return m, nil
}

// Load reads and validates the model file at path like Decode does. Tensors
// stored as external data are read from files relative to the model's
// folder; their location must stay inside that folder (no absolute paths, no
// "..", no symlinks leading out). After loading, such a tensor holds its
// bytes in raw_data and data_location is DEFAULT; its external_data entries
// (location, offset, length) are kept as a record of where the data came
// from (ONNX readers ignore them when data_location is DEFAULT; see
// ExternalLocation and StripExternalRecords).
func Load(path string) (*onnxpb.ModelProto, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := unmarshalModel(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ext, err := newExtLoader(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer ext.close()
	if err := validateModel(m, ext); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// maxProtoSize is the largest message protobuf implementations accept.
const maxProtoSize = math.MaxInt32

// Encode serializes m. It fails if the result would exceed protobuf's 2 GiB
// limit.
func Encode(m *onnxpb.ModelProto) ([]byte, error) {
	if m == nil {
		return nil, errors.New("encode: nil model")
	}
	if n := proto.Size(m); n > maxProtoSize {
		return nil, fmt.Errorf("encode: model is %d bytes, over the 2 GiB protobuf limit", n)
	}
	return proto.Marshal(m)
}

// Save writes m to path atomically: it writes a temporary file in the same
// folder, syncs it and renames it over path, so path never holds a partly
// written model.
func Save(path string, m *onnxpb.ModelProto) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

// writeFileAtomic replaces path with data via a synced temporary file.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	mode := os.FileMode(0o644)
	if st, serr := os.Stat(path); serr == nil {
		mode = st.Mode().Perm()
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil { // make the rename durable; best effort
		d.Sync()
		d.Close()
	}
	return nil
}

// unmarshalModel parses b as a ModelProto.
func unmarshalModel(b []byte) (*onnxpb.ModelProto, error) {
	m := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %v", err)
	}
	return m, nil
}

// validateModel checks the model's header and walks all its tensors. With a
// non-nil ext, external tensor data is read in; without, it is an error.
func validateModel(m *onnxpb.ModelProto, ext *extLoader) error {
	v := m.GetIrVersion()
	switch {
	case v == 0 && m.GetGraph() == nil:
		return errors.New("not an ONNX model: no IR version and no graph")
	case v < MinIRVersion:
		return fmt.Errorf("IR version %d is older than graft supports (%d-%d)", v, MinIRVersion, MaxIRVersion)
	case v > MaxIRVersion:
		return fmt.Errorf("IR version %d is newer than graft supports (%d-%d)", v, MinIRVersion, MaxIRVersion)
	case m.GetGraph() == nil:
		return errors.New("model has no graph")
	}
	w := &walker{ext: ext}
	if err := w.graph(m.GetGraph()); err != nil {
		return err
	}
	for _, f := range m.GetFunctions() {
		if err := w.nodes(f.GetNode(), f.GetAttributeProto()); err != nil {
			return fmt.Errorf("function %q: %w", f.GetName(), err)
		}
	}
	for i, ti := range m.GetTrainingInfo() {
		for _, g := range []*onnxpb.GraphProto{ti.GetInitialization(), ti.GetAlgorithm()} {
			if err := w.graph(g); err != nil {
				return fmt.Errorf("training_info %d: %w", i, err)
			}
		}
	}
	return nil
}

// walker visits every tensor of a model, validating it and resolving
// external data.
type walker struct {
	ext *extLoader
}

func (w *walker) graph(g *onnxpb.GraphProto) error {
	if g == nil {
		return nil
	}
	for _, t := range g.GetInitializer() {
		if err := w.tensor(t); err != nil {
			return err
		}
	}
	for _, s := range g.GetSparseInitializer() {
		if err := w.sparse(s); err != nil {
			return err
		}
	}
	return w.nodes(g.GetNode(), nil)
}

// nodes visits the attributes of nodes and the extra attributes attrs (the
// defaults of a function).
func (w *walker) nodes(nodes []*onnxpb.NodeProto, attrs []*onnxpb.AttributeProto) error {
	for _, a := range attrs {
		if err := w.attr(a); err != nil {
			return fmt.Errorf("attribute %q: %w", a.GetName(), err)
		}
	}
	for i, n := range nodes {
		for _, a := range n.GetAttribute() {
			if err := w.attr(a); err != nil {
				return fmt.Errorf("%s attribute %q: %w", nodeLabel(n, i), a.GetName(), err)
			}
		}
	}
	return nil
}

// nodeLabel names a node in error messages: `node "conv1" (Conv)` or, for
// unnamed nodes, `node #3 (Conv)`.
func nodeLabel(n *onnxpb.NodeProto, i int) string {
	if n.GetName() != "" {
		return fmt.Sprintf("node %q (%s)", n.GetName(), n.GetOpType())
	}
	return fmt.Sprintf("node #%d (%s)", i, n.GetOpType())
}

func (w *walker) attr(a *onnxpb.AttributeProto) error {
	if a.GetT() != nil {
		if err := w.tensor(a.GetT()); err != nil {
			return err
		}
	}
	for _, t := range a.GetTensors() {
		if err := w.tensor(t); err != nil {
			return err
		}
	}
	if a.GetSparseTensor() != nil {
		if err := w.sparse(a.GetSparseTensor()); err != nil {
			return err
		}
	}
	for _, s := range a.GetSparseTensors() {
		if err := w.sparse(s); err != nil {
			return err
		}
	}
	if err := w.graph(a.GetG()); err != nil {
		return err
	}
	for _, g := range a.GetGraphs() {
		if err := w.graph(g); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) sparse(s *onnxpb.SparseTensorProto) error {
	for _, d := range s.GetDims() {
		if d < 0 {
			return fmt.Errorf("sparse tensor %q: negative dimension %d in dims %v", s.GetValues().GetName(), d, s.GetDims())
		}
	}
	for _, t := range []*onnxpb.TensorProto{s.GetValues(), s.GetIndices()} {
		if t == nil {
			return fmt.Errorf("sparse tensor %q: values or indices missing", s.GetValues().GetName())
		}
		if err := w.tensor(t); err != nil {
			return fmt.Errorf("sparse tensor %q: %w", s.GetValues().GetName(), err)
		}
	}
	return nil
}

func (w *walker) tensor(tp *onnxpb.TensorProto) error {
	dt, _, n, err := tensorShape(tp)
	if err != nil {
		return err
	}
	if isExternal(tp) && w.ext != nil {
		if err := w.ext.resolve(tp, n*dt.ByteSize()); err != nil {
			return err
		}
	}
	return checkTensorData(tp, dt, n)
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

// StripExternalRecords removes the external_data entries of every tensor
// of m whose data is stored inline (data_location DEFAULT), such as those
// Load keeps as a record. Tensors still marked EXTERNAL are left alone.
func StripExternalRecords(m *onnxpb.ModelProto) {
	var g func(*onnxpb.GraphProto)
	t := func(tp *onnxpb.TensorProto) {
		if tp != nil && !isExternal(tp) {
			tp.ExternalData = nil
		}
	}
	sp := func(s *onnxpb.SparseTensorProto) {
		t(s.GetValues())
		t(s.GetIndices())
	}
	nodes := func(ns []*onnxpb.NodeProto, extra []*onnxpb.AttributeProto) {
		attrs := extra
		for _, n := range ns {
			attrs = append(attrs, n.GetAttribute()...)
		}
		for _, a := range attrs {
			t(a.GetT())
			for _, x := range a.GetTensors() {
				t(x)
			}
			if a.GetSparseTensor() != nil {
				sp(a.GetSparseTensor())
			}
			for _, x := range a.GetSparseTensors() {
				sp(x)
			}
			g(a.GetG())
			for _, x := range a.GetGraphs() {
				g(x)
			}
		}
	}
	g = func(gr *onnxpb.GraphProto) {
		if gr == nil {
			return
		}
		for _, x := range gr.GetInitializer() {
			t(x)
		}
		for _, x := range gr.GetSparseInitializer() {
			sp(x)
		}
		nodes(gr.GetNode(), nil)
	}
	g(m.GetGraph())
	for _, f := range m.GetFunctions() {
		nodes(f.GetNode(), f.GetAttributeProto())
	}
	for _, ti := range m.GetTrainingInfo() {
		g(ti.GetInitialization())
		g(ti.GetAlgorithm())
	}
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
	if loc == "" {
		return nil, errors.New("external data has no location")
	}
	if filepath.IsAbs(loc) || strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, `\`) || filepath.VolumeName(loc) != "" {
		return nil, fmt.Errorf("external data location %q is an absolute path; it must be relative to the model's folder", loc)
	}
	clean := filepath.Clean(filepath.FromSlash(loc))
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("external data location %q leaves the model's folder", loc)
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
