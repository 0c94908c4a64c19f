package ortref

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

const (
	tolRel = 1e-4
	tolAbs = 1e-5
)

// loadDataSet reads input_N.pb / output_N.pb of one ONNX test-data directory,
// keyed by tensor name.
func loadDataSet(tb testing.TB, dir string) (in, out map[string]*nn.Tensor) {
	tb.Helper()
	ds, err := onnx.ReadTestDataSet(dir)
	if err != nil {
		tb.Fatal(err)
	}
	in, out = map[string]*nn.Tensor{}, map[string]*nn.Tensor{}
	for _, nt := range ds.Inputs {
		in[nt.Name] = nt.Tensor
	}
	for _, nt := range ds.Outputs {
		out[nt.Name] = nt.Tensor
	}
	return in, out
}

// compare checks got against want with the rel/abs tolerance and returns the
// largest absolute and relative errors.
func compare(got, want *nn.Tensor) (maxAbs, maxRel float64, err error) {
	d, err := nn.Compare(got, want, tolRel, tolAbs)
	if err != nil {
		return 0, 0, err
	}
	if d.Bad > 0 {
		return d.MaxAbs, d.MaxRel, fmt.Errorf("%d of %d elements beyond rel %g / abs %g (first at %d; max abs err %.3g)", d.Bad, want.Len(), tolRel, tolAbs, d.First, d.MaxAbs)
	}
	return d.MaxAbs, d.MaxRel, nil
}

// TestModelFixtures runs every testdata/models/*.onnx in onnxruntime on its
// committed inputs and compares with the PyTorch outputs, validating the
// fixtures themselves.
func TestModelFixtures(t *testing.T) {
	Require(t)
	v, _ := Version()
	t.Logf("onnxruntime %s", v)
	models, err := filepath.Glob(filepath.Join("..", "..", "testdata", "models", "*.onnx"))
	if err != nil || len(models) == 0 {
		t.Fatalf("no models in testdata/models (%v)", err)
	}
	checkFixtures(t, models)
}

// TestBenchFixtures does the same for the git-ignored benchmark models of
// testdata/bench (made by testdata/gen/export_bench_models.py), if present.
func TestBenchFixtures(t *testing.T) {
	models, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "bench", "*.onnx"))
	if len(models) == 0 {
		t.Skip("no testdata/bench/*.onnx (run testdata/gen/export_bench_models.py)")
	}
	Require(t)
	checkFixtures(t, models)
}

func checkFixtures(t *testing.T, models []string) {
	for _, path := range models {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		t.Run(name, func(t *testing.T) {
			s, err := Open(path, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			sets, _ := filepath.Glob(filepath.Join(strings.TrimSuffix(path, ".onnx"), "test_data_set_*"))
			if len(sets) == 0 {
				t.Fatal("no test_data_set_* directories")
			}
			for _, dir := range sets {
				in, want := loadDataSet(t, dir)
				got, err := s.Run(in)
				if err != nil {
					t.Fatalf("%s: %v", filepath.Base(dir), err)
				}
				for _, oname := range SortedNames(want) {
					g, ok := got[oname]
					if !ok {
						t.Fatalf("%s: output %q missing", filepath.Base(dir), oname)
					}
					maxAbs, maxRel, err := compare(g, want[oname])
					if err != nil {
						t.Errorf("%s: output %q: %v", filepath.Base(dir), oname, err)
					}
					t.Logf("%s %s %v: max abs err %.3g, max rel err %.3g", filepath.Base(dir), oname, g.Shape, maxAbs, maxRel)
				}
			}
		})
	}
}

// TestDTypes passes tensors of every supported element type through a model
// of Identity nodes and checks a scalar (rank-0) output.
func TestDTypes(t *testing.T) {
	Require(t)
	s, err := Open(filepath.Join("..", "..", "testdata", "ortref", "dtypes.onnx"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := map[string]*nn.Tensor{}
	for _, info := range s.Inputs() {
		shape := make([]int, len(info.Shape))
		for i, d := range info.Shape {
			shape[i] = int(d)
			if d < 0 {
				shape[i] = 2
			}
		}
		x := nn.New(info.DType, shape...)
		for i := 0; i < x.Len(); i++ {
			switch info.DType.Storage() {
			case nn.StoreF32:
				x.F32[i] = float32(i) - 1.5
			case nn.StoreF64:
				x.F64[i] = float64(i) / 3
			case nn.StoreI64:
				v := int64(i*37) - 3
				if info.DType == nn.Uint64 {
					v = -1 - int64(i) // large unsigned values
				}
				x.I64[i] = info.DType.WrapInt(v)
			case nn.StoreBool:
				x.Bool[i] = i%3 == 1
			}
		}
		in[info.Name] = x
	}
	out, err := s.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, info := range s.Outputs() {
		names = append(names, info.Name)
	}
	sort.Strings(names)
	for _, name := range names {
		got := out[name]
		if got == nil {
			t.Fatalf("output %q missing", name)
		}
		if name == "sum" {
			var want float32
			for _, v := range in["float32"].F32 {
				want += v
			}
			if len(got.Shape) != 0 || len(got.F32) != 1 || got.F32[0] != want {
				t.Errorf("sum: got shape %v data %v, want scalar %v", got.Shape, got.F32, want)
			}
			continue
		}
		src := in[strings.TrimPrefix(name, "out_")]
		if _, _, err := compare(got, src); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	t.Logf("checked outputs %v", names)
}

func TestRunErrors(t *testing.T) {
	Require(t)
	s, err := Open(filepath.Join("..", "..", "testdata", "models", "se_block.onnx"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Run(map[string]*nn.Tensor{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing input: err %v", err)
	}
	if _, err := s.Run(map[string]*nn.Tensor{"input": nn.New(nn.Float64, 1, 16, 8, 8)}); err == nil || !strings.Contains(err.Error(), "float64") {
		t.Errorf("wrong dtype: err %v", err)
	}
	if _, err := s.Run(map[string]*nn.Tensor{"input": nn.New(nn.Float32, 1, 3, 8, 8)}); err == nil {
		t.Error("wrong shape: no error")
	}
	if _, err := s.Run(map[string]*nn.Tensor{"bogus": nn.New(nn.Float32, 1)}); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown input: err %v", err)
	}
	if _, err := Open("does-not-exist.onnx", 1); err == nil {
		t.Error("Open of a missing file: no error")
	}
}

func TestLibPath(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("library file name differs on " + runtime.GOOS)
	}
	dir := t.TempDir()
	t.Setenv(EnvLib, "")
	t.Setenv(EnvDir, dir)
	if _, err := LibPath(); err == nil || !strings.Contains(err.Error(), EnvLib) {
		t.Errorf("empty dir: err %v", err)
	}
	lib := filepath.Join(dir, "libonnxruntime.so.1")
	if err := os.WriteFile(lib, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := LibPath(); err != nil || p != lib {
		t.Errorf("dir with library: %q, %v", p, err)
	}
	t.Setenv(EnvLib, filepath.Join(dir, "missing.so"))
	if _, err := LibPath(); err == nil {
		t.Error("missing $GRAFT_ORT_LIB file: no error")
	}
}

// BenchmarkORT times onnxruntime on the first test input (batch 3 for the
// small models, batch 1 for the benchmark models) of every model, with
// onnxruntime's default thread count.
func BenchmarkORT(b *testing.B) {
	Require(b)
	small, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "models", "*.onnx"))
	big, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "bench", "*.onnx"))
	for _, path := range append(small, big...) {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		b.Run(name, func(b *testing.B) {
			s, err := Open(path, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			in, _ := loadDataSet(b, filepath.Join(strings.TrimSuffix(path, ".onnx"), "test_data_set_0"))
			if _, err := s.Run(in); err != nil { // warm-up
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Run(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
