// Package onnx reads and writes ONNX model files and converts their tensors
// to and from graft's nn tensors.
package onnx

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

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
