package onnx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/internal/testenv"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// FuzzDecode feeds arbitrary bytes to Decode and converts every tensor of
// the models it accepts; nothing may panic. The corpus holds the node-test
// models when the shared folder is present.
func FuzzDecode(f *testing.F) {
	if dir, ok := testenv.LookupShared(); ok {
		models, _ := filepath.Glob(filepath.Join(dir, "onnx-node", "*", "model.onnx"))
		for _, p := range models {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte{})
	f.Add([]byte("\x08\x08"))                   // ir_version 8, no graph
	f.Add([]byte("\x08\x0e:\x00"))              // ir_version 14, empty graph
	f.Add([]byte("\x08\x08:\x04*\x02\x08\xff")) // truncated initializer
	seed, _ := proto.Marshal(testModel([]*onnxpb.TensorProto{
		floatTensor("w", 1, 2),
		{Name: "h", DataType: int32(onnxpb.TensorProto_FLOAT16), Dims: []int64{2}, RawData: []byte{0, 0x3c, 0, 0xc0}},
		{Name: "i", DataType: int32(onnxpb.TensorProto_INT8), Dims: []int64{1, 2}, Int32Data: []int32{-1, 300}},
	}))
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		for _, tp := range m.GetGraph().GetInitializer() {
			if _, err := TensorFromProto(tp); err != nil {
				t.Fatalf("Decode accepted tensor %q that TensorFromProto rejects: %v", tp.GetName(), err)
			}
		}
		for _, n := range m.GetGraph().GetNode() {
			for _, a := range n.GetAttribute() {
				if a.GetT() != nil {
					if _, err := TensorFromProto(a.GetT()); err != nil {
						t.Fatalf("Decode accepted attribute tensor that TensorFromProto rejects: %v", err)
					}
				}
			}
		}
		if _, err := Encode(m); err != nil {
			t.Fatalf("Encode of a decoded model: %v", err)
		}
	})
}

// FuzzImport decodes arbitrary bytes and imports the models Decode accepts
// (building every op and folding constants); nothing may panic. Its seed
// corpus (the node-test models and the PyTorch exports) runs in the normal
// test command.
func FuzzImport(f *testing.F) {
	if dir, ok := testenv.LookupShared(); ok {
		models, _ := filepath.Glob(filepath.Join(dir, "onnx-node", "*", "model.onnx"))
		for _, p := range models {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	models, _ := filepath.Glob(filepath.Join("..", "testdata", "models", "*.onnx"))
	for _, p := range models {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		g, err := Import(m, ImportOptions{})
		if err != nil {
			return
		}
		// Small models are also run on zero inputs: errors are fine,
		// panics are not (the executor turns op panics into errors, which
		// this test treats as bugs).
		if len(b) < 4096 {
			if feed, err := ZeroInputs(g, 1); err == nil && smallFeed(feed) {
				if _, err := g.Run(nil, feed); err != nil && strings.Contains(err.Error(), "internal error") {
					t.Fatal(err)
				}
			}
		}
	})
}

func smallFeed(feed map[string]*nn.Tensor) bool {
	n := 0
	for _, t := range feed {
		n += t.Len()
	}
	return n < 1<<16
}
