package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/zoo"
	"github.com/spf13/cobra"
)

func TestZooList(t *testing.T) {
	var out bytes.Buffer
	if err := runZooList(&zooListOptions{}, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"NAME", "TASK", "SIZE", "OPSET", "LICENSE", "resnet18-v1-7", "46.8 MB", "fmnist-cnn", "(bundled)", "version-RFB-320", "face-detection"} {
		if !strings.Contains(s, want) {
			t.Errorf("list output lacks %q:\n%s", want, s)
		}
	}
	out.Reset()
	if err := runZooList(&zooListOptions{JSON: true}, &out); err != nil {
		t.Fatal(err)
	}
	var entries []zoo.Entry
	if err := json.Unmarshal(out.Bytes(), &entries); err != nil || len(entries) != len(zoo.List()) {
		t.Fatalf("--json: %d entries, %v", len(entries), err)
	}
}

func TestZooInfo(t *testing.T) {
	t.Setenv("GRAFT_CACHE", t.TempDir())
	var out bytes.Buffer
	if err := runZooInfo(&zooInfoOptions{Name: "resnet18-v1-7"}, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"4e8f8653e7a2222b3904cc3fe8e304cd8b339ce1d05fd24688162f86fb6df52c", "46820737 bytes",
		"https://github.com/onnx/models/raw/main/validated/vision/classification/resnet/model/resnet18-v1-7.onnx",
		"data float32 [N,3,224,224]", "resize short side to 256, center crop 224x224, RGB, NCHW",
		"imagenet (1000 classes: tench, goldfish, great white shark, …)", "Apache-2.0", "Cached", "graft zoo pull resnet18-v1-7",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("info output lacks %q:\n%s", want, s)
		}
	}
	out.Reset()
	if err := runZooInfo(&zooInfoOptions{Name: "efficientnet-lite4-11", JSON: true}, &out); err != nil {
		t.Fatal(err)
	}
	var got zooInfoJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Name != "efficientnet-lite4-11" || got.Preprocess.Layout != "NHWC" || got.Cached {
		t.Fatalf("--json: %+v, %v", got, err)
	}
	if err := runZooInfo(&zooInfoOptions{Name: "resnet"}, &out); !errors.Is(err, zoo.ErrUnknownModel) {
		t.Fatalf("unknown model error = %v", err)
	}
}

func TestZooPull(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GRAFT_CACHE", dir)
	var out, errw bytes.Buffer
	if err := runZooPull(context.Background(), &zooPullOptions{Name: "fmnist-cnn", Offline: true}, &out, &errw); err != nil {
		t.Fatal(err)
	}
	path := strings.TrimSpace(out.String())
	if path != filepath.Join(dir, "models", "fmnist-cnn", "fmnist_cnn.onnx") {
		t.Fatalf("printed path %q", path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	err := runZooPull(context.Background(), &zooPullOptions{Name: "mnist-8", Offline: true}, &out, &errw)
	if !errors.Is(err, zoo.ErrNotCached) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("offline miss error = %v", err)
	}
	// info now reports the bundled model as cached.
	out.Reset()
	if err := runZooInfo(&zooInfoOptions{Name: "fmnist-cnn"}, &out); err != nil || !strings.Contains(out.String(), path) {
		t.Fatalf("info after pull: %v\n%s", err, out.String())
	}
}

// zooRoot returns the root command with the zoo command (added here until
// root.go registers it).
func zooRoot(out, errw *bytes.Buffer) *cobra.Command {
	root := newRootCmd(out, errw)
	if c, _, err := root.Find([]string{"zoo"}); err != nil || c == root {
		root.AddCommand(newZooCmd())
	}
	return root
}

func TestZooCommandLine(t *testing.T) {
	t.Setenv("GRAFT_CACHE", t.TempDir())
	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"zoo", "list"}, false, "resnet50-v1-7"},
		{[]string{"zoo", "info", "squeezenet1.1-7", "--json"}, false, `"sha256": "1eeff551a67ae8d565ca33b572fc4b66e3ef357b0eb2863bb9ff47a918cc4088"`},
		{[]string{"zoo", "pull", "fmnist-cnn", "--offline"}, false, "fmnist_cnn.onnx"},
		{[]string{"zoo", "pull"}, true, ""},
		{[]string{"zoo", "info", "a", "b"}, true, ""},
		{[]string{"zoo", "list", "--bogus"}, true, ""},
		{[]string{"zoo", "frobnicate"}, true, ""},
	} {
		var out, errw bytes.Buffer
		root := zooRoot(&out, &errw)
		root.SetArgs(tc.args)
		err := root.Execute()
		if tc.usage {
			if err == nil || !isUsage(err) {
				t.Errorf("%v: error %v, want a usage error", tc.args, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v: output lacks %q:\n%s", tc.args, tc.want, out.String())
		}
	}
}
