package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/convert"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

func TestConvertAll(t *testing.T) {
	out := filepath.Join(t.TempDir(), "rs.onnx")
	var buf bytes.Buffer
	cmd := newConvertCmd()
	cmd.SetOut(&buf)
	cmd.SetArgs([]string{"../../testdata/models/resnet_small.onnx", "-o", out, "--all", "--samples", "2"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	for _, want := range []string{"nodes            22 -> 16", "fold-bn          6 change(s)", "wrote " + out} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
	g, err := onnx.LoadGraph(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Nodes {
		if n.OpType == "BatchNormalization" {
			t.Errorf("%s left in the written model", n.Label())
		}
	}
}

func TestConvertJSONFP16(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.onnx")
	var buf bytes.Buffer
	o := &convertOptions{Model: "../../testdata/models/mobilenet_block.onnx", Out: out, JSON: true}
	o.FileOptions = convert.FileOptions{Options: convert.All(), Samples: 2, Seed: 3}
	o.FP16 = true
	if err := runConvert(o, &buf); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	var r convert.Report
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !r.OK || r.Tolerance != convert.TolFP16 || len(r.Errors) != 1 || r.Errors[0].MaxRel > convert.TolFP16 || r.BytesAfter >= r.BytesBefore {
		t.Errorf("report %+v", r)
	}
	if r.Errors[0].MaxAbs == 0 {
		t.Errorf("float16 weights should change the outputs a little: %+v", r.Errors)
	}
}

func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"../../testdata/models/lenet.onnx", "--all"}, true, "-o OUT is required"},
		{[]string{"../../testdata/models/lenet.onnx", "-o", filepath.Join(dir, "x.onnx")}, true, "select a transform"},
		{[]string{"../../testdata/models/lenet.onnx", "-o", filepath.Join(dir, "x.onnx"), "--all", "--samples", "0"}, true, "--samples"},
		{[]string{"../../testdata/models/lenet.onnx", "-o", filepath.Join(dir, "x.onnx"), "--fp16", "--fp16-weights"}, true, "exclude each other"},
		{[]string{"../../testdata/models/lenet.onnx", "-o", "../../testdata/../testdata/models/lenet.onnx", "--all"}, false, "is the input model"},
		{[]string{filepath.Join(dir, "missing.onnx"), "-o", filepath.Join(dir, "x.onnx"), "--all"}, false, "missing.onnx"},
		{[]string{"../../testdata/models/lenet.onnx", "-o", filepath.Join(dir, "no", "such", "x.onnx"), "--all"}, false, "x.onnx"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		cmd := newConvertCmd()
		cmd.SetOut(&buf)
		cmd.SetErr(&buf)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		cmd.SetArgs(c.args)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), c.want) || isUsage(err) != c.usage || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v (usage %v), want %q (usage %v)", c.args, err, isUsage(err), c.want, c.usage)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.onnx")); err == nil {
		t.Error("a failed conversion left its output")
	}
}

func TestConvertFP16IO(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.onnx")
	var buf bytes.Buffer
	cmd := newConvertCmd()
	cmd.SetOut(&buf)
	cmd.SetArgs([]string{"../../testdata/models/se_block.onnx", "-o", out, "--fp16-io", "--all"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	g, err := onnx.LoadGraph(out)
	if err != nil {
		t.Fatal(err)
	}
	if g.Inputs[0].DType != nn.Float16 || g.Outputs[0].DType != nn.Float16 {
		t.Errorf("input %v, output %v: want float16", g.Inputs[0].DType, g.Outputs[0].DType)
	}
	if !strings.Contains(buf.String(), "wrote") {
		t.Errorf("report:\n%s", buf.String())
	}
}
