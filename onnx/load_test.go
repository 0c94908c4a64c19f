package onnx

import (
	"path/filepath"
	"testing"

	"github.com/graftml/graft/internal/testenv"
)

// nodeTestDirs lists the ONNX node-test folders in the shared data.
func nodeTestDirs(t testing.TB) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(testenv.SharedDir(t), "onnx-node", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no node tests found: %v", err)
	}
	return dirs
}

func TestLoadNodeTestModels(t *testing.T) {
	models, tensors, nonTensor := 0, 0, 0
	for _, dir := range nodeTestDirs(t) {
		m, err := Load(filepath.Join(dir, "model.onnx"))
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(dir), err)
			continue
		}
		models++
		for _, init := range m.GetGraph().GetInitializer() {
			if _, err := TensorFromProto(init); err != nil {
				t.Errorf("%s: initializer: %v", filepath.Base(dir), err)
			}
		}
		pbs, _ := filepath.Glob(filepath.Join(dir, "test_data_set_0", "*.pb"))
		for _, pb := range pbs {
			if _, err := ReadTensorFile(pb); err != nil {
				nonTensor++
				t.Logf("%s: %v", filepath.Base(dir), err)
				continue
			}
			tensors++
		}
	}
	t.Logf("%d models, %d tensors, %d files that are not tensors", models, tensors, nonTensor)
	if nonTensor > 4 {
		t.Errorf("%d test-data files failed to read as tensors", nonTensor)
	}
}
