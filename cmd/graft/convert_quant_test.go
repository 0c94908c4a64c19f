package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/convert"
	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/onnx"
)

func TestConvertInt8Dynamic(t *testing.T) {
	out := filepath.Join(t.TempDir(), "q.onnx")
	var buf bytes.Buffer
	cmd := newConvertCmd()
	cmd.SetOut(&buf)
	cmd.SetArgs([]string{"../../testdata/models/lenet.onnx", "-o", out, "--int8-dynamic", "--samples", "2"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	for _, want := range []string{"int8-dynamic     3 change(s)", "(30.0%)", "same top class", "wrote " + out} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
	g, err := onnx.LoadGraph(out)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, nd := range g.Nodes {
		if nd.OpType == "MatMulInteger" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d MatMulInteger nodes, want 3", n)
	}
}

func TestConvertInt8StaticJSON(t *testing.T) {
	if _, err := os.Stat(filepath.Join(data.FashionMNISTDir, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("Fashion-MNIST not installed: %v", err)
	}
	out := filepath.Join(t.TempDir(), "q.onnx")
	var buf bytes.Buffer
	cmd := newConvertCmd()
	cmd.SetOut(&buf)
	cmd.SetArgs([]string{"../../testdata/models/fmnist_cnn.onnx", "-o", out, "--int8-static", "--data", "fashion-mnist:train", "--calib-samples", "128", "--json"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	var r convert.QuantReport
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !r.OK || r.Mode != "static" || r.Inputs != "data" || r.BytesAfter*3 > r.BytesBefore || r.ArgmaxAgreement < 0.9 {
		t.Errorf("report %+v", r)
	}
}

func TestConvertInt8Errors(t *testing.T) {
	dir := t.TempDir()
	lenet := "../../testdata/models/lenet.onnx"
	out := filepath.Join(dir, "x.onnx")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{lenet, "-o", out, "--int8-static"}, "needs calibration data"},
		{[]string{lenet, "-o", out, "--int8-static", "--int8-dynamic", "--data", "x"}, "exclude each other"},
		{[]string{lenet, "-o", out, "--int8-dynamic", "--fp16"}, "exclude each other"},
		{[]string{lenet, "-o", out, "--all", "--data", "fashion-mnist:train"}, "--data only goes with"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		cmd := newConvertCmd()
		cmd.SetOut(&buf)
		cmd.SetErr(&buf)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		cmd.SetArgs(c.args)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), c.want) || !isUsage(err) {
			t.Errorf("%v: error %v, want usage error %q", c.args, err, c.want)
		}
	}
	var buf bytes.Buffer
	cmd := newConvertCmd()
	cmd.SetOut(&buf)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs([]string{lenet, "-o", out, "--int8-static", "--data", filepath.Join(dir, "missing")})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing data: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed conversion left its output")
	}
}
