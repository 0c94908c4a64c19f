package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

// TestImportWeightsRoundTrip scales every float parameter of lenet, writes
// them as safetensors, imports them into the original model and checks the
// written model's parameters and outputs.
func TestImportWeightsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	g, err := onnx.LoadGraph(lenetModel)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*nn.Tensor{}
	for name, p := range onnx.GraphParams(g) {
		c := p.Clone()
		for i := range c.F32 {
			c.F32[i] *= 0.5
		}
		want[name] = c
	}
	st := filepath.Join(dir, "half.safetensors")
	if err := onnx.SaveSafeTensors(st, want, map[string]string{"graft.classes": `["a"]`}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "half.onnx")
	var buf bytes.Buffer
	if err := runImportWeights(context.Background(), &importWeightsOptions{Model: lenetModel, Weights: st, Out: out, Strict: true, verifySamples: verifySamples{Samples: 4, Seed: 1}}, &buf); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !strings.Contains(buf.String(), "loaded 10 tensor(s)") || !strings.Contains(buf.String(), " ok") {
		t.Errorf("output:\n%s", buf.String())
	}
	g2, err := onnx.LoadGraph(out)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		if d, err := nn.Compare(g2.Params[name].Value, w, 0, 0); err != nil || d.Bad > 0 {
			t.Errorf("%s: %v %+v", name, err, d)
		}
	}
	if meta := verifyModelMeta(out); meta["graft.weights"] != "half.safetensors" || meta["graft.classes"] != `["a"]` {
		t.Errorf("metadata %v", meta)
	}
	onnxChecker(t, out)
}

func TestImportWeightsErrors(t *testing.T) {
	dir := t.TempDir()
	g, err := onnx.LoadGraph(lenetModel)
	if err != nil {
		t.Fatal(err)
	}
	first := g.ParamNames[0]
	write := func(name string, ts map[string]*nn.Tensor) string {
		p := filepath.Join(dir, name)
		if err := onnx.SaveSafeTensors(p, ts, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.safetensors", map[string]*nn.Tensor{"classifier.weight": nn.New(nn.Float32, 2), first: nn.New(nn.Float32, 3, 3)})
	partial := write("partial.safetensors", map[string]*nn.Tensor{first: g.Params[first].Value})
	out := filepath.Join(dir, "out.onnx")
	for _, c := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"import-weights", lenetModel, bad, "-o", out}, 1, []string{"1 name(s) not in the model: classifier.weight", first + ": [3,3] in the weights, " + nn.ShapeString(g.Params[first].Value.Shape) + " in the model"}},
		{[]string{"import-weights", lenetModel, partial, "-o", out, "--strict"}, 1, []string{"9 model parameter(s) missing from the weights"}},
		{[]string{"import-weights", lenetModel, filepath.Join(dir, "none.safetensors"), "-o", out}, 1, []string{"none.safetensors"}},
		{[]string{"import-weights", lenetModel, lenetModel, "-o", out}, 1, []string{"safetensors:"}},
	} {
		stderr := captureStderr(t, func() {
			if code := run(c.args); code != c.code {
				t.Errorf("%v: exit %d, want %d", c.args, code, c.code)
			}
		})
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr %q lacks %q", c.args, stderr, w)
			}
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed import wrote the model")
	}
	// Without --strict, a partial file loads and the rest keeps its values.
	var buf bytes.Buffer
	if err := runImportWeights(context.Background(), &importWeightsOptions{Model: lenetModel, Weights: partial, Out: out, verifySamples: verifySamples{Samples: 1}}, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "9 parameter(s) kept their values") {
		t.Errorf("output:\n%s", buf.String())
	}
}

// TestImportWeightsHandBuiltF16 imports a safetensors file built by hand
// from the format description, holding a float16 tensor for a float32
// parameter (as a half-precision PyTorch save would).
func TestImportWeightsHandBuiltF16(t *testing.T) {
	dir := t.TempDir()
	g, err := onnx.LoadGraph(lenetModel)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for _, n := range g.ParamNames {
		if len(g.Params[n].Value.Shape) == 1 && g.Params[n].Value.Shape[0] == 10 {
			name = n // the last layer's bias, [10]
		}
	}
	if name == "" {
		t.Fatal("lenet has no [10] bias")
	}
	header := `{"__metadata__":{"format":"pt"},"` + name + `":{"dtype":"F16","shape":[10],"data_offsets":[0,20]}}`
	for len(header)%8 != 0 {
		header += " "
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	for i := 0; i < 10; i++ {
		b = binary.LittleEndian.AppendUint16(b, 0x3c00+uint16(i)<<10) // 1, 2, 4, ... 512
	}
	p := filepath.Join(dir, "bias.safetensors")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.onnx")
	var buf bytes.Buffer
	if err := runImportWeights(context.Background(), &importWeightsOptions{Model: lenetModel, Weights: p, Out: out, verifySamples: verifySamples{Samples: 2}}, &buf); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !strings.Contains(buf.String(), "converted between float types: "+name) {
		t.Errorf("output:\n%s", buf.String())
	}
	g2, err := onnx.LoadGraph(out)
	if err != nil {
		t.Fatal(err)
	}
	v := g2.Params[name].Value
	for i := 0; i < 10; i++ {
		if v.DType != nn.Float32 || v.F32[i] != float32(int(1)<<i) {
			t.Fatalf("%s = %v, want 1, 2, 4, ..., 512 as float32", name, v)
		}
	}
}
