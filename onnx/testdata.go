package onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/graftml/graft/nn"
	"google.golang.org/protobuf/proto"
)

// NamedTensor is a tensor with the name stored alongside it in a file.
type NamedTensor struct {
	Name   string
	Tensor *nn.Tensor
}

// ReadNamedTensor reads a serialized ONNX TensorProto (.pb, the format of
// ONNX's test data) and returns it with its stored name.
func ReadNamedTensor(path string) (NamedTensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return NamedTensor{}, err
	}
	tp, err := DecodeTensor(b)
	if err != nil {
		return NamedTensor{}, fmt.Errorf("%s: %w", path, err)
	}
	t, err := TensorFromProto(tp)
	if err != nil {
		return NamedTensor{}, fmt.Errorf("%s: %w", path, err)
	}
	return NamedTensor{Name: tp.GetName(), Tensor: t}, nil
}

// WriteTensorFile writes t as a serialized ONNX TensorProto named name.
func WriteTensorFile(path, name string, t *nn.Tensor) error {
	b, err := proto.Marshal(TensorToProto(name, t))
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

// TestDataSet is one test_data_set_N folder: inputs and expected outputs in
// the order of their file numbers.
type TestDataSet struct {
	Dir     string
	Inputs  []NamedTensor
	Outputs []NamedTensor
}

// ReadTestDataSet reads input_N.pb and output_N.pb files of a folder.
func ReadTestDataSet(dir string) (*TestDataSet, error) {
	ds := &TestDataSet{Dir: dir}
	for _, kind := range []string{"input", "output"} {
		files, err := filepath.Glob(filepath.Join(dir, kind+"_*.pb"))
		if err != nil {
			return nil, err
		}
		sort.Slice(files, func(i, j int) bool { return fileIndex(files[i]) < fileIndex(files[j]) })
		for _, f := range files {
			nt, err := ReadNamedTensor(f)
			if err != nil {
				return nil, err
			}
			if kind == "input" {
				ds.Inputs = append(ds.Inputs, nt)
			} else {
				ds.Outputs = append(ds.Outputs, nt)
			}
		}
	}
	if len(ds.Inputs) == 0 && len(ds.Outputs) == 0 {
		return nil, fmt.Errorf("%s: no input_N.pb or output_N.pb files", dir)
	}
	return ds, nil
}

func fileIndex(path string) int {
	base := strings.TrimSuffix(filepath.Base(path), ".pb")
	i := strings.LastIndexByte(base, '_')
	n, err := strconv.Atoi(base[i+1:])
	if err != nil {
		return 1 << 30
	}
	return n
}

// TestDataSets returns the test_data_set_N folders under dir, or dir itself
// when it is one.
func TestDataSets(dir string) ([]string, error) {
	sets, err := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if err != nil {
		return nil, err
	}
	if len(sets) == 0 {
		if m, _ := filepath.Glob(filepath.Join(dir, "input_*.pb")); len(m) > 0 {
			return []string{dir}, nil
		}
		return nil, fmt.Errorf("%s: no test_data_set_N folders and no input_N.pb files", dir)
	}
	sort.Slice(sets, func(i, j int) bool { return fileIndex(sets[i]) < fileIndex(sets[j]) })
	return sets, nil
}

// FeedFromTestData matches test inputs to the graph's inputs: by stored
// name when every name matches, else by position. A tensor whose element
// count matches but whose shape differs only by leading 1s is reshaped (some
// Model Zoo test data drops the batch axis).
func FeedFromTestData(g *nn.Graph, inputs []NamedTensor) (map[string]*nn.Tensor, error) {
	if len(inputs) != len(g.Inputs) {
		return nil, fmt.Errorf("test data has %d input(s), the model has %d", len(inputs), len(g.Inputs))
	}
	byName := true
	declared := map[string]nn.ValueInfo{}
	for _, in := range g.Inputs {
		declared[in.Name] = in
	}
	for _, in := range inputs {
		if _, ok := declared[in.Name]; !ok {
			byName = false
		}
	}
	feed := map[string]*nn.Tensor{}
	for i, in := range inputs {
		vi := g.Inputs[i]
		if byName {
			vi = declared[in.Name]
		}
		t := in.Tensor
		if vi.HasShape && len(vi.Shape) != len(t.Shape) && len(vi.Shape) > len(t.Shape) {
			shape := make([]int, len(vi.Shape))
			extra := len(vi.Shape) - len(t.Shape)
			for j := range shape {
				if j < extra {
					shape[j] = 1
				} else {
					shape[j] = t.Shape[j-extra]
				}
			}
			t = t.Reshaped(shape...)
		}
		feed[vi.Name] = t
	}
	return feed, nil
}
