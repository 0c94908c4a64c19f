package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/onnx"
)

func TestConvertOpsetFlag(t *testing.T) {
	out := filepath.Join(t.TempDir(), "te13.onnx")
	var buf bytes.Buffer
	cmd := newConvertCmd()
	cmd.SetOut(&buf)
	cmd.SetArgs([]string{"../../testdata/models/transformer_encoder_opset17.onnx", "-o", out, "--opset", "13", "--all", "--samples", "2"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	for _, want := range []string{"opset-13", "fold-constants", "wrote " + out} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, buf.String())
		}
	}
	m, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if v := m.GetOpsetImport()[0].GetVersion(); v != 13 {
		t.Errorf("written opset %d", v)
	}
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "LayerNormalization" {
			t.Errorf("LayerNormalization %q left at opset 13", n.GetName())
		}
	}
}

func TestConvertOpsetFlagRange(t *testing.T) {
	cmd := newConvertCmd()
	var buf bytes.Buffer
	cmd.SetOut(&buf)
	cmd.SetErr(&buf)
	cmd.SetArgs([]string{"../../testdata/models/lenet.onnx", "-o", filepath.Join(t.TempDir(), "x.onnx"), "--opset", "9"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--opset must be in 11..21") {
		t.Errorf("error %v", err)
	}
}
