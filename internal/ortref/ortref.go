// Package ortref runs ONNX models in onnxruntime, the reference graft is
// compared against in tests and benchmarks.
//
// It loads the onnxruntime shared library at run time through
// github.com/yalue/onnxruntime_go (cgo, no link-time dependency). The library
// is libonnxruntime.so.1 as shipped in the npm package onnxruntime-node; see
// LibPath for where it is looked for. Tests call Require, which skips when the
// library is absent (or fails when GRAFT_REQUIRE_ORT=1).
//
// onnxruntime keeps one process-wide environment. The package therefore has
// one piece of package-level state: a sync.Once guarding
// SetSharedLibraryPath + InitializeEnvironment, with the resulting error. The
// environment is never destroyed; it lives as long as the process.
package ortref

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/graftml/graft/nn"
	ort "github.com/yalue/onnxruntime_go"
)

// Environment variables read by this package.
const (
	// EnvLib names the shared library file directly.
	EnvLib = "GRAFT_ORT_LIB"
	// EnvDir names a directory holding the npm layout
	// (node_modules/onnxruntime-node/bin/napi-v6/<os>/<arch>/).
	EnvDir = "GRAFT_ORT_DIR"
	// EnvRequire set to "1" makes Require fail instead of skip.
	EnvRequire = "GRAFT_REQUIRE_ORT"
)

// LibPath returns the path of the onnxruntime shared library: $GRAFT_ORT_LIB
// if set, else the library inside the npm package onnxruntime-node installed
// under $GRAFT_ORT_DIR, or $HOME/.cache/graft-ort when that is unset. It
// returns an error naming the places searched when the library is absent.
func LibPath() (string, error) {
	if p := os.Getenv(EnvLib); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("onnxruntime library from $%s: %w", EnvLib, err)
		}
		return p, nil
	}
	dir := os.Getenv(EnvDir)
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("onnxruntime library: $%s and $%s unset and no home directory: %w", EnvLib, EnvDir, err)
		}
		dir = filepath.Join(home, ".cache", "graft-ort")
	}
	arch := runtime.GOARCH
	if arch == "amd64" {
		arch = "x64"
	}
	name := "libonnxruntime.so.1"
	if runtime.GOOS == "darwin" {
		name = "libonnxruntime.1.dylib"
	}
	pkgBin := filepath.Join("bin", "napi-v6", runtime.GOOS, arch, name)
	candidates := []string{
		filepath.Join(dir, "node_modules", "onnxruntime-node", pkgBin),
		filepath.Join(dir, pkgBin), // dir is the onnxruntime-node package itself
		filepath.Join(dir, name),
	}
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c, nil
		}
	}
	return "", fmt.Errorf("onnxruntime library not found (set $%s to the file, or $%s to a directory with npm's onnxruntime-node installed; searched %s)",
		EnvLib, EnvDir, strings.Join(candidates, ", "))
}

// The only package-level state: onnxruntime's process-wide environment is
// initialised once.
var (
	initOnce sync.Once
	initErr  error
)

// Init loads the shared library and initialises the onnxruntime environment.
// It does so once per process; later calls return the first call's result.
// Open calls it, so calling it directly is only needed to check availability.
func Init() error {
	initOnce.Do(func() {
		if ort.IsInitialized() {
			return
		}
		path, err := LibPath()
		if err != nil {
			initErr = err
			return
		}
		ort.SetSharedLibraryPath(path)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("onnxruntime init with %s: %w", path, err)
		}
	})
	return initErr
}

// Version returns the onnxruntime library version, initialising it if
// needed.
func Version() (string, error) {
	if err := Init(); err != nil {
		return "", err
	}
	return ort.GetVersion(), nil
}

// Require initialises onnxruntime for a test or benchmark. When the library
// is unavailable it skips tb with the reason, or fails it when the
// environment variable GRAFT_REQUIRE_ORT is "1".
func Require(tb testing.TB) {
	tb.Helper()
	if err := Init(); err != nil {
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatalf("onnxruntime required ($%s=1) but unavailable: %v", EnvRequire, err)
		}
		tb.Skipf("onnxruntime unavailable: %v", err)
	}
}

// IOInfo describes one model input or output as onnxruntime sees it.
type IOInfo struct {
	Name  string
	DType nn.DType
	// Shape holds the declared dimensions; -1 marks a dynamic one. It is nil
	// when the rank is unknown.
	Shape []int64
	// Tensor is false for sequence, map or optional values, which Run does
	// not support.
	Tensor bool
}

// Options configure a Session.
type Options struct {
	// Threads is the intra-op thread count; 0 means onnxruntime's default
	// (one per physical core).
	Threads int
	// NoOptimize disables onnxruntime's graph optimisations (fusions,
	// constant folding, layout changes).
	NoOptimize bool
}

// Session is an onnxruntime inference session over one model. Run may be
// called from several goroutines at once.
type Session struct {
	path    string
	sess    *ort.DynamicAdvancedSession
	inputs  []IOInfo
	outputs []IOInfo
}

// Open creates a session for the model file with the given intra-op thread
// count (0: onnxruntime's default) and full graph optimisation.
func Open(modelPath string, threads int) (*Session, error) {
	return OpenOptions(modelPath, Options{Threads: threads})
}

// OpenOptions creates a session for the model file with explicit options.
func OpenOptions(modelPath string, o Options) (*Session, error) {
	if err := Init(); err != nil {
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnxruntime session options: %w", err)
	}
	defer opts.Destroy()
	if o.Threads > 0 {
		if err := opts.SetIntraOpNumThreads(o.Threads); err != nil {
			return nil, fmt.Errorf("onnxruntime intra-op threads %d: %w", o.Threads, err)
		}
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("onnxruntime inter-op threads: %w", err)
	}
	if o.NoOptimize {
		if err := opts.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll); err != nil {
			return nil, fmt.Errorf("onnxruntime optimisation level: %w", err)
		}
	}
	ins, outs, err := ioInfo(modelPath)
	if err != nil {
		return nil, fmt.Errorf("onnxruntime: %s: %w", modelPath, err)
	}
	s := &Session{path: modelPath, inputs: convertInfo(ins), outputs: convertInfo(outs)}
	sess, err := ort.NewDynamicAdvancedSession(modelPath, names(s.inputs), names(s.outputs), opts)
	if err != nil {
		return nil, fmt.Errorf("onnxruntime: %s: %w", modelPath, err)
	}
	s.sess = sess
	return s, nil
}

// ioInfo reads the model's input and output descriptions through a
// temporary, unoptimised session.
func ioInfo(modelPath string) ([]ort.InputOutputInfo, []ort.InputOutputInfo, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, nil, err
	}
	defer opts.Destroy()
	if err := opts.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll); err != nil {
		return nil, nil, err
	}
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return nil, nil, err
	}
	return ort.GetInputOutputInfoWithOptions(modelPath, opts)
}

func convertInfo(in []ort.InputOutputInfo) []IOInfo {
	out := make([]IOInfo, len(in))
	for i, v := range in {
		out[i] = IOInfo{Name: v.Name, Tensor: v.OrtValueType == ort.ONNXTypeTensor}
		if out[i].Tensor {
			// onnxruntime's element type numbers are ONNX's DataType numbers.
			out[i].DType = nn.DType(v.DataType)
			if v.Dimensions != nil {
				out[i].Shape = append([]int64{}, v.Dimensions...)
			}
		}
	}
	return out
}

func names(v []IOInfo) []string {
	out := make([]string, len(v))
	for i := range v {
		out[i] = v[i].Name
	}
	return out
}

// Inputs describes the model inputs, in model order.
func (s *Session) Inputs() []IOInfo { return s.inputs }

// Outputs describes the model outputs, in model order.
func (s *Session) Outputs() []IOInfo { return s.outputs }

// Close releases the session. The Session must not be used afterwards.
func (s *Session) Close() error {
	if s.sess == nil {
		return nil
	}
	err := s.sess.Destroy()
	s.sess = nil
	return err
}

// Run runs the model on inputs keyed by input name and returns every output
// keyed by output name. Every model input must be given, with the element
// type the model declares (there is no implicit conversion). Float32 input
// data is handed to onnxruntime without copying; it is only read.
//
// Limitations (of onnxruntime_go v1.27.0): float16/bfloat16 outputs need a
// fully static shape in the model, and scalar outputs a declared rank of 0.
func (s *Session) Run(inputs map[string]*nn.Tensor) (map[string]*nn.Tensor, error) {
	if s.sess == nil {
		return nil, errors.New("ortref: Run on a closed session")
	}
	for name := range inputs {
		if !hasName(s.inputs, name) {
			return nil, fmt.Errorf("ortref: %s has no input %q (inputs: %s)", s.path, name, strings.Join(names(s.inputs), ", "))
		}
	}
	in := make([]ort.Value, len(s.inputs))
	out := make([]ort.Value, len(s.outputs))
	defer func() {
		for _, v := range in {
			if v != nil {
				v.Destroy()
			}
		}
		for _, v := range out {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, info := range s.inputs {
		t, ok := inputs[info.Name]
		if !ok || t == nil {
			return nil, fmt.Errorf("ortref: %s: input %q missing", s.path, info.Name)
		}
		if info.Tensor && t.DType != info.DType {
			return nil, fmt.Errorf("ortref: %s: input %q is %v, model wants %v", s.path, info.Name, t.DType, info.DType)
		}
		v, err := toValue(t)
		if err != nil {
			return nil, fmt.Errorf("ortref: %s: input %q: %w", s.path, info.Name, err)
		}
		in[i] = v
	}
	for i, info := range s.outputs {
		v, err := preallocate(info)
		if err != nil {
			return nil, fmt.Errorf("ortref: %s: output %q: %w", s.path, info.Name, err)
		}
		out[i] = v
	}
	if err := s.sess.Run(in, out); err != nil {
		return nil, fmt.Errorf("ortref: %s: %w", s.path, err)
	}
	res := make(map[string]*nn.Tensor, len(out))
	for i, v := range out {
		t, err := fromValue(v, s.outputs[i].DType)
		if err != nil {
			return nil, fmt.Errorf("ortref: %s: output %q: %w", s.path, s.outputs[i].Name, err)
		}
		res[s.outputs[i].Name] = t
	}
	return res, nil
}

func hasName(v []IOInfo, name string) bool {
	for i := range v {
		if v[i].Name == name {
			return true
		}
	}
	return false
}

// SortedNames returns the keys of a tensor map in sorted order.
func SortedNames(m map[string]*nn.Tensor) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func ortShape(shape []int) ort.Shape {
	s := make(ort.Shape, len(shape))
	for i, d := range shape {
		s[i] = int64(d)
	}
	return s
}

func newValue[T ort.TensorData](shape []int, data []T) (ort.Value, error) {
	if len(shape) == 0 {
		return ort.NewScalar(data[0])
	}
	return ort.NewTensor(ortShape(shape), data)
}

func convertInts[T int8 | uint8 | int16 | uint16 | int32 | uint32 | uint64](src []int64) []T {
	out := make([]T, len(src))
	for i, v := range src {
		out[i] = T(v)
	}
	return out
}

// toValue converts a graft tensor into an onnxruntime value of the same
// element type.
func toValue(t *nn.Tensor) (ort.Value, error) {
	n := t.Len()
	var have int
	switch t.DType.Storage() {
	case nn.StoreF32:
		have = len(t.F32)
	case nn.StoreF64:
		have = len(t.F64)
	case nn.StoreI64:
		have = len(t.I64)
	case nn.StoreBool:
		have = len(t.Bool)
	default:
		return nil, fmt.Errorf("unsupported dtype %v", t.DType)
	}
	if have != n {
		return nil, fmt.Errorf("%v tensor of shape %v holds %d values, want %d", t.DType, t.Shape, have, n)
	}
	switch t.DType {
	case nn.Float32:
		return newValue(t.Shape, t.F32)
	case nn.Float64:
		return newValue(t.Shape, t.F64)
	case nn.Int64:
		return newValue(t.Shape, t.I64)
	case nn.Int32:
		return newValue(t.Shape, convertInts[int32](t.I64))
	case nn.Int16:
		return newValue(t.Shape, convertInts[int16](t.I64))
	case nn.Int8:
		return newValue(t.Shape, convertInts[int8](t.I64))
	case nn.Uint8:
		return newValue(t.Shape, convertInts[uint8](t.I64))
	case nn.Uint16:
		return newValue(t.Shape, convertInts[uint16](t.I64))
	case nn.Uint32:
		return newValue(t.Shape, convertInts[uint32](t.I64))
	case nn.Uint64:
		return newValue(t.Shape, convertInts[uint64](t.I64))
	case nn.Bool:
		return newValue(t.Shape, t.Bool)
	case nn.Float16, nn.BFloat16:
		if n == 0 || len(t.Shape) == 0 {
			return nil, fmt.Errorf("%v tensors of shape %v are not supported by onnxruntime_go", t.DType, t.Shape)
		}
		conv := nn.Float32ToFloat16
		if t.DType == nn.BFloat16 {
			conv = nn.Float32ToBFloat16
		}
		b := make([]byte, 2*n)
		for i, f := range t.F32 {
			h := conv(f)
			b[2*i], b[2*i+1] = byte(h), byte(h>>8)
		}
		return ort.NewCustomDataTensor(ortShape(t.Shape), b, ort.TensorElementDataType(t.DType))
	}
	return nil, fmt.Errorf("unsupported dtype %v", t.DType)
}

func emptyScalar(dt nn.DType) (ort.Value, error) {
	switch dt {
	case nn.Float32:
		return ort.NewEmptyScalar[float32]()
	case nn.Float64:
		return ort.NewEmptyScalar[float64]()
	case nn.Int64:
		return ort.NewEmptyScalar[int64]()
	case nn.Int32:
		return ort.NewEmptyScalar[int32]()
	case nn.Int16:
		return ort.NewEmptyScalar[int16]()
	case nn.Int8:
		return ort.NewEmptyScalar[int8]()
	case nn.Uint8:
		return ort.NewEmptyScalar[uint8]()
	case nn.Uint16:
		return ort.NewEmptyScalar[uint16]()
	case nn.Uint32:
		return ort.NewEmptyScalar[uint32]()
	case nn.Uint64:
		return ort.NewEmptyScalar[uint64]()
	case nn.Bool:
		return ort.NewEmptyScalar[bool]()
	}
	return nil, fmt.Errorf("scalar output of type %v is not supported", dt)
}

// preallocate returns the output value to hand to onnxruntime, or nil to let
// onnxruntime allocate it. onnxruntime_go cannot wrap scalars or half floats
// that onnxruntime allocated, so those are allocated here when the declared
// shape allows.
func preallocate(info IOInfo) (ort.Value, error) {
	if !info.Tensor {
		return nil, errors.New("non-tensor outputs are not supported")
	}
	if info.Shape != nil && len(info.Shape) == 0 {
		return emptyScalar(info.DType)
	}
	if info.DType != nn.Float16 && info.DType != nn.BFloat16 {
		return nil, nil
	}
	n := int64(1)
	for _, d := range info.Shape {
		if d < 0 {
			return nil, fmt.Errorf("%v output with dynamic shape %v is not supported by onnxruntime_go", info.DType, info.Shape)
		}
		n *= d
	}
	if info.Shape == nil || n == 0 {
		return nil, fmt.Errorf("%v output of shape %v is not supported by onnxruntime_go", info.DType, info.Shape)
	}
	return ort.NewCustomDataTensor(ort.Shape(info.Shape), make([]byte, 2*n), ort.TensorElementDataType(info.DType))
}

func intsFrom[T int8 | uint8 | int16 | uint16 | int32 | uint32](dt nn.DType, shape ort.Shape, data []T) *nn.Tensor {
	t := &nn.Tensor{DType: dt, Shape: goShape(shape), I64: make([]int64, len(data))}
	for i, v := range data {
		t.I64[i] = int64(v)
	}
	return t
}

func goShape(s ort.Shape) []int {
	out := make([]int, len(s))
	for i, d := range s {
		out[i] = int(d)
	}
	return out
}

// fromValue converts an onnxruntime output into a graft tensor. Data that
// onnxruntime_go already copied into Go memory is used without another copy.
func fromValue(v ort.Value, want nn.DType) (*nn.Tensor, error) {
	switch x := v.(type) {
	case *ort.Tensor[float32]:
		return &nn.Tensor{DType: nn.Float32, Shape: goShape(x.GetShape()), F32: x.GetData()}, nil
	case *ort.Tensor[float64]:
		return &nn.Tensor{DType: nn.Float64, Shape: goShape(x.GetShape()), F64: x.GetData()}, nil
	case *ort.Tensor[int64]:
		return &nn.Tensor{DType: nn.Int64, Shape: goShape(x.GetShape()), I64: x.GetData()}, nil
	case *ort.Tensor[uint64]:
		d := x.GetData()
		t := &nn.Tensor{DType: nn.Uint64, Shape: goShape(x.GetShape()), I64: make([]int64, len(d))}
		for i, u := range d {
			t.I64[i] = int64(u)
		}
		return t, nil
	case *ort.Tensor[int32]:
		return intsFrom(nn.Int32, x.GetShape(), x.GetData()), nil
	case *ort.Tensor[uint32]:
		return intsFrom(nn.Uint32, x.GetShape(), x.GetData()), nil
	case *ort.Tensor[int16]:
		return intsFrom(nn.Int16, x.GetShape(), x.GetData()), nil
	case *ort.Tensor[uint16]:
		return intsFrom(nn.Uint16, x.GetShape(), x.GetData()), nil
	case *ort.Tensor[int8]:
		return intsFrom(nn.Int8, x.GetShape(), x.GetData()), nil
	case *ort.Tensor[uint8]:
		return intsFrom(nn.Uint8, x.GetShape(), x.GetData()), nil
	case *ort.Tensor[bool]:
		return &nn.Tensor{DType: nn.Bool, Shape: goShape(x.GetShape()), Bool: x.GetData()}, nil
	case *ort.Scalar[float32]:
		return &nn.Tensor{DType: nn.Float32, Shape: []int{}, F32: []float32{x.GetData()}}, nil
	case *ort.Scalar[float64]:
		return &nn.Tensor{DType: nn.Float64, Shape: []int{}, F64: []float64{x.GetData()}}, nil
	case *ort.Scalar[int64]:
		return &nn.Tensor{DType: nn.Int64, Shape: []int{}, I64: []int64{x.GetData()}}, nil
	case *ort.Scalar[uint64]:
		return &nn.Tensor{DType: nn.Uint64, Shape: []int{}, I64: []int64{int64(x.GetData())}}, nil
	case *ort.Scalar[int32]:
		return &nn.Tensor{DType: nn.Int32, Shape: []int{}, I64: []int64{int64(x.GetData())}}, nil
	case *ort.Scalar[uint32]:
		return &nn.Tensor{DType: nn.Uint32, Shape: []int{}, I64: []int64{int64(x.GetData())}}, nil
	case *ort.Scalar[int16]:
		return &nn.Tensor{DType: nn.Int16, Shape: []int{}, I64: []int64{int64(x.GetData())}}, nil
	case *ort.Scalar[uint16]:
		return &nn.Tensor{DType: nn.Uint16, Shape: []int{}, I64: []int64{int64(x.GetData())}}, nil
	case *ort.Scalar[int8]:
		return &nn.Tensor{DType: nn.Int8, Shape: []int{}, I64: []int64{int64(x.GetData())}}, nil
	case *ort.Scalar[uint8]:
		return &nn.Tensor{DType: nn.Uint8, Shape: []int{}, I64: []int64{int64(x.GetData())}}, nil
	case *ort.Scalar[bool]:
		return &nn.Tensor{DType: nn.Bool, Shape: []int{}, Bool: []bool{x.GetData()}}, nil
	case *ort.CustomDataTensor:
		dt := nn.DType(ort.TensorElementDataType(x.DataType()))
		if dt != nn.Float16 && dt != nn.BFloat16 {
			return nil, fmt.Errorf("unsupported output type %v", dt)
		}
		conv := nn.Float16ToFloat32
		if dt == nn.BFloat16 {
			conv = nn.BFloat16ToFloat32
		}
		b := x.GetData()
		t := &nn.Tensor{DType: dt, Shape: goShape(x.GetShape()), F32: make([]float32, len(b)/2)}
		for i := range t.F32 {
			t.F32[i] = conv(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
		return t, nil
	}
	return nil, fmt.Errorf("unsupported onnxruntime output %T (model declares %v)", v, want)
}
