package onnx

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/graftml/graft/nn"
)

// TritonConfig is the part of a Triton Inference Server model
// configuration (config.pbtxt) that graft writes for an ONNX model served
// by Triton's onnxruntime backend.
type TritonConfig struct {
	Name     string
	Platform string
	// MaxBatchSize > 0 means Triton batches requests along a leading
	// dimension that Inputs and Outputs leave out of their Dims; 0 means
	// the dims are the full shapes.
	MaxBatchSize    int
	Inputs, Outputs []TritonTensor
	// DynamicBatching lets Triton combine requests (needs MaxBatchSize > 0).
	DynamicBatching bool
}

// TritonTensor is one input or output of a TritonConfig.
type TritonTensor struct {
	Name     string
	DataType string // TYPE_FP32, TYPE_INT64, ...
	// Dims excludes the batch dimension when MaxBatchSize > 0; -1 marks a
	// variable dimension.
	Dims []int64
	// LabelFilename names a file in the model's folder with one class name
	// per line (outputs only).
	LabelFilename string
	// ReshapeScalar is set for a value of shape [batch] in a batching
	// configuration: Triton sees dims [1] and the model a scalar per item.
	ReshapeScalar bool
}

var tritonTypes = map[nn.DType]string{
	nn.Bool: "TYPE_BOOL", nn.Uint8: "TYPE_UINT8", nn.Uint16: "TYPE_UINT16", nn.Uint32: "TYPE_UINT32",
	nn.Uint64: "TYPE_UINT64", nn.Int8: "TYPE_INT8", nn.Int16: "TYPE_INT16", nn.Int32: "TYPE_INT32",
	nn.Int64: "TYPE_INT64", nn.Float16: "TYPE_FP16", nn.Float32: "TYPE_FP32", nn.Float64: "TYPE_FP64",
	nn.BFloat16: "TYPE_BF16", nn.String: "TYPE_STRING",
}

// TritonDataType returns Triton's name for an element type.
func TritonDataType(dt nn.DType) (string, error) {
	if s, ok := tritonTypes[dt]; ok {
		return s, nil
	}
	return "", fmt.Errorf("element type %v has no Triton data type", dt)
}

// NewTritonConfig describes g (the graph of the model as written) for
// Triton's onnxruntime backend. When every input and output has a
// symbolic leading dimension, Triton batches along it: MaxBatchSize is
// maxBatch, dims leave it out and dynamic batching is on. Otherwise
// MaxBatchSize is 0 and dims are the full shapes. labels, when not empty,
// is set as the label file of the first output.
func NewTritonConfig(g *nn.Graph, name string, maxBatch int, labels string) (*TritonConfig, error) {
	if name == "" || strings.ContainsAny(name, "/\\\"\n") {
		return nil, fmt.Errorf("triton: model name %q must be non-empty without slashes or quotes", name)
	}
	batched := maxBatch > 0
	for _, vs := range [][]nn.ValueInfo{g.Inputs, g.Outputs} {
		for _, v := range vs {
			if !v.HasShape {
				return nil, fmt.Errorf("triton: %q has no declared shape", v.Name)
			}
			if len(v.Shape) == 0 || v.Shape[0].Param == "" && v.Shape[0].Value >= 0 {
				batched = false
			}
		}
	}
	c := &TritonConfig{Name: name, Platform: "onnxruntime_onnx"}
	if batched {
		c.MaxBatchSize, c.DynamicBatching = maxBatch, true
	}
	conv := func(v nn.ValueInfo) (TritonTensor, error) {
		dt, err := TritonDataType(v.DType)
		if err != nil {
			return TritonTensor{}, fmt.Errorf("triton: %q: %w", v.Name, err)
		}
		t := TritonTensor{Name: v.Name, DataType: dt, Dims: []int64{}}
		dims := v.Shape
		if batched {
			dims = dims[1:]
		}
		for _, d := range dims {
			if d.Param != "" || d.Value < 0 {
				t.Dims = append(t.Dims, -1)
			} else {
				t.Dims = append(t.Dims, int64(d.Value))
			}
		}
		if batched && len(t.Dims) == 0 {
			t.Dims, t.ReshapeScalar = []int64{1}, true
		}
		return t, nil
	}
	for _, v := range g.Inputs {
		t, err := conv(v)
		if err != nil {
			return nil, err
		}
		c.Inputs = append(c.Inputs, t)
	}
	for i, v := range g.Outputs {
		t, err := conv(v)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			t.LabelFilename = labels
		}
		c.Outputs = append(c.Outputs, t)
	}
	return c, nil
}

// Text returns the configuration in protobuf text format, as Triton reads
// config.pbtxt.
func (c *TritonConfig) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\n", strconv.Quote(c.Name))
	fmt.Fprintf(&b, "platform: %s\n", strconv.Quote(c.Platform))
	fmt.Fprintf(&b, "max_batch_size: %d\n", c.MaxBatchSize)
	list := func(field string, ts []TritonTensor) {
		fmt.Fprintf(&b, "%s [\n", field)
		for i, t := range ts {
			b.WriteString("  {\n")
			fmt.Fprintf(&b, "    name: %s\n", strconv.Quote(t.Name))
			fmt.Fprintf(&b, "    data_type: %s\n", t.DataType)
			dims := make([]string, len(t.Dims))
			for k, d := range t.Dims {
				dims[k] = strconv.FormatInt(d, 10)
			}
			fmt.Fprintf(&b, "    dims: [ %s ]\n", strings.Join(dims, ", "))
			if t.ReshapeScalar {
				b.WriteString("    reshape: { shape: [ ] }\n")
			}
			if t.LabelFilename != "" {
				fmt.Fprintf(&b, "    label_filename: %s\n", strconv.Quote(t.LabelFilename))
			}
			if i < len(ts)-1 {
				b.WriteString("  },\n")
			} else {
				b.WriteString("  }\n")
			}
		}
		b.WriteString("]\n")
	}
	list("input", c.Inputs)
	list("output", c.Outputs)
	if c.DynamicBatching {
		b.WriteString("dynamic_batching { }\n")
	}
	return b.String()
}
