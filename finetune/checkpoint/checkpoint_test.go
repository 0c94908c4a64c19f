package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/graftml/graft/nn"
)

// sample returns a checkpoint exercising every field and storage kind.
func sample() *Checkpoint {
	w := nn.FromFloat32([]float32{1, -2.5, float32(math.Inf(1)), 0, 3e-38, 7}, 2, 3)
	half := &nn.Tensor{DType: nn.Float16, Shape: []int{2}, F32: []float32{0.5, -1}}
	return &Checkpoint{
		Epoch:      3,
		GlobalStep: 1234,
		Params: map[string]*nn.Tensor{
			"fc.weight":   w,
			"fc.bias":     nn.FromFloat32([]float32{0.1, 0.2}, 2),
			"half":        half,
			"shape_const": nn.FromInt64([]int64{-1, 1 << 40}, 2),
			"f64":         {DType: nn.Float64, Shape: []int{}, F64: []float64{math.Pi}},
			"mask":        {DType: nn.Bool, Shape: []int{3}, Bool: []bool{true, false, true}},
			"u8":          {DType: nn.Uint8, Shape: []int{1}, I64: []int64{255}},
			"empty":       {DType: nn.Float32, Shape: []int{0, 5}, F32: []float32{}},
		},
		Optimizer: Optimizer{
			Name: "adamw",
			Slots: map[string]map[string]*nn.Tensor{
				"fc.weight": {"m": nn.FromFloat32(make([]float32, 6), 2, 3), "v": nn.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)},
				"fc.bias":   {"m": nn.FromFloat32([]float32{9, 8}, 2)},
			},
			Scalars: map[string]float64{"step": 1234, "lr": 3e-4},
		},
		RNG:      RNG{Seed: -42, Counters: map[string]uint64{"augment": 7}},
		Best:     Best{Metric: "val_accuracy", Value: 0.875, Epoch: 2},
		Metadata: map[string]string{MetaClassNames: `["cat","dog"]`, MetaBaseModelSHA256: strings.Repeat("ab", 32), "empty": ""},
	}
}

func encodeT(t testing.TB, c *Checkpoint) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(&b, c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// equalCheckpoints compares two checkpoints, treating a nil map like an
// empty one and comparing float bits (NaN-safe).
func equalCheckpoints(t *testing.T, got, want *Checkpoint) {
	t.Helper()
	if got.Epoch != want.Epoch || got.GlobalStep != want.GlobalStep || got.Best != want.Best ||
		got.RNG.Seed != want.RNG.Seed || got.Optimizer.Name != want.Optimizer.Name {
		t.Errorf("scalars differ:\ngot  %+v\nwant %+v", got, want)
	}
	eqMap := func(what string, a, b any) {
		if reflect.ValueOf(a).Len() == 0 && reflect.ValueOf(b).Len() == 0 {
			return
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: got %v, want %v", what, a, b)
		}
	}
	eqMap("counters", got.RNG.Counters, want.RNG.Counters)
	eqMap("scalars", got.Optimizer.Scalars, want.Optimizer.Scalars)
	eqMap("metadata", got.Metadata, want.Metadata)
	eqT := func(what string, a, b *nn.Tensor) {
		if a == nil || b == nil || a.DType != b.DType || !sameShape(a.Shape, b.Shape) || a.Len() != b.Len() {
			t.Errorf("%s: got %+v, want %+v", what, a, b)
			return
		}
		for i := range b.F32 {
			if math.Float32bits(a.F32[i]) != math.Float32bits(b.F32[i]) {
				t.Errorf("%s[%d]: %v, want %v", what, i, a.F32[i], b.F32[i])
			}
		}
		for i := range b.F64 {
			if math.Float64bits(a.F64[i]) != math.Float64bits(b.F64[i]) {
				t.Errorf("%s[%d]: %v, want %v", what, i, a.F64[i], b.F64[i])
			}
		}
		if !reflect.DeepEqual(a.I64, b.I64) && len(b.I64) > 0 {
			t.Errorf("%s: %v, want %v", what, a.I64, b.I64)
		}
		if !reflect.DeepEqual(a.Bool, b.Bool) && len(b.Bool) > 0 {
			t.Errorf("%s: %v, want %v", what, a.Bool, b.Bool)
		}
	}
	if len(got.Params) != len(want.Params) {
		t.Errorf("%d params, want %d", len(got.Params), len(want.Params))
	}
	for k, v := range want.Params {
		eqT("param "+k, got.Params[k], v)
	}
	if len(got.Optimizer.Slots) != len(want.Optimizer.Slots) {
		t.Errorf("%d slot groups, want %d", len(got.Optimizer.Slots), len(want.Optimizer.Slots))
	}
	for p, m := range want.Optimizer.Slots {
		if len(got.Optimizer.Slots[p]) != len(m) {
			t.Errorf("slots of %q: %d, want %d", p, len(got.Optimizer.Slots[p]), len(m))
		}
		for s, v := range m {
			eqT("slot "+p+"/"+s, got.Optimizer.Slots[p][s], v)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.bin")
	want := sample()
	want.Params["nan"] = nn.FromFloat32([]float32{float32(math.NaN())}, 1)
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != FormatVersion {
		t.Errorf("version %d", got.Version)
	}
	equalCheckpoints(t, got, want)

	// Deterministic output.
	a, _ := os.ReadFile(path)
	if b := encodeT(t, want); !bytes.Equal(a, b) {
		t.Error("encoding the same checkpoint twice gave different bytes")
	}
	// Overwrite, and no temporary files remain.
	want.Epoch = 4
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	if got, _ := Load(path); got.Epoch != 4 {
		t.Errorf("overwritten epoch %d", got.Epoch)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("folder holds %d entries after Save, want 1", len(ents))
	}

	// The zero checkpoint round-trips too.
	zero := &Checkpoint{}
	got, err = Decode(bytes.NewReader(encodeT(t, zero)), int64(len(encodeT(t, zero))))
	if err != nil {
		t.Fatal(err)
	}
	equalCheckpoints(t, got, zero)
	if got.Params == nil || got.Metadata == nil || got.Optimizer.Slots == nil {
		t.Error("decoded maps must be non-nil")
	}
}

func TestTruncationEveryOffset(t *testing.T) {
	data := encodeT(t, sample())
	for n := 0; n < len(data); n++ {
		c, err := Decode(bytes.NewReader(data[:n]), int64(n))
		if err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error (%+v)", n, len(data), c)
		}
		// Also when the caller claims the full size (a short stream).
		if _, err := Decode(bytes.NewReader(data[:n]), int64(len(data))); err == nil {
			t.Fatalf("short stream of %d bytes: no error", n)
		}
	}
	// Trailing garbage.
	long := append(append([]byte{}, data...), 0)
	if _, err := Decode(bytes.NewReader(long), int64(len(long))); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("trailing byte: %v", err)
	}
	// Load of a truncated file names the file.
	path := filepath.Join(t.TempDir(), "cut.ckpt")
	os.WriteFile(path, data[:len(data)/2], 0o644)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "cut.ckpt") {
		t.Errorf("truncated file: %v", err)
	}
}

func TestCorruptionDetected(t *testing.T) {
	data := encodeT(t, sample())
	// Flip one bit in every byte in turn: always an error, never a panic.
	for i := range data {
		bad := append([]byte{}, data...)
		bad[i] ^= 0x10
		if _, err := Decode(bytes.NewReader(bad), int64(len(bad))); err == nil {
			t.Fatalf("bit flip at offset %d not detected", i)
		}
	}
	// A flipped bit in tensor data is reported as a CRC mismatch.
	idx := bytes.Index(data, []byte("PARM"))
	bad := append([]byte{}, data...)
	bad[len(bad)-40] ^= 1 // inside the last SLOT's data
	_, err := Decode(bytes.NewReader(bad), int64(len(bad)))
	if err == nil || !strings.Contains(err.Error(), "CRC") {
		t.Errorf("data corruption: %v", err)
	}
	if idx < 0 {
		t.Fatal("no PARM section")
	}
	// Wrong magic and future version.
	bad = append([]byte{}, data...)
	copy(bad, "NOTACKPT")
	if _, err := Decode(bytes.NewReader(bad), int64(len(bad))); err == nil || !strings.Contains(err.Error(), "not a graft checkpoint") {
		t.Errorf("bad magic: %v", err)
	}
}

func TestUnknownSectionSkippedAndFutureVersion(t *testing.T) {
	data := encodeT(t, sample())
	// Insert a valid unknown section before END!.
	end := len(data) - ckptSectionOverhead
	var w bytes.Buffer
	cw := &ckptWriter{w: &w, table: castagnoli()}
	cw.begin("XTRA", 5)
	cw.write([]byte("hello"))
	cw.end()
	withExtra := append(append(append([]byte{}, data[:end]...), w.Bytes()...), data[end:]...)
	got, err := Decode(bytes.NewReader(withExtra), int64(len(withExtra)))
	if err != nil {
		t.Fatal(err)
	}
	equalCheckpoints(t, got, sample())

	// Version 2 with a correct header CRC is refused clearly.
	v2 := append([]byte{}, data...)
	binary.LittleEndian.PutUint32(v2[8:], 2)
	binary.LittleEndian.PutUint32(v2[12:], crcOf(v2[:12]))
	if _, err := Decode(bytes.NewReader(v2), int64(len(v2))); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("future version: %v", err)
	}
}

func crcOf(b []byte) uint32 {
	var w bytes.Buffer
	cw := &ckptWriter{w: &w, table: castagnoli()}
	cw.write(b)
	return cw.crc
}

// failingWriter fails after n bytes.
type failingWriter struct {
	w io.Writer
	n int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k, _ := f.w.Write(p[:f.n])
		f.n = 0
		return k, errors.New("disk full (simulated)")
	}
	f.n -= len(p)
	return f.w.Write(p)
}

func TestAtomicSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt")
	old := sample()
	if err := Save(path, old); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	next := sample()
	next.Epoch = 99
	next.Params["big"] = nn.FromFloat32(make([]float32, 1<<20), 1<<20) // 4 MiB: several flushes
	for _, limit := range []int{0, 10, 100, 1 << 20, 3 << 20} {
		err := saveWith(path, next, func(w io.Writer) io.Writer { return &failingWriter{w: w, n: limit} })
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("failing writer after %d bytes: err %v", limit, err)
		}
		after, _ := os.ReadFile(path)
		if !bytes.Equal(before, after) {
			t.Fatalf("failed save (limit %d) modified the existing file", limit)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 {
			t.Fatalf("failed save left %d entries in the folder", len(ents))
		}
	}
	// An unencodable checkpoint fails before touching anything.
	bad := sample()
	bad.Params["broken"] = &nn.Tensor{DType: nn.Float32, Shape: []int{3}, F32: []float32{1}}
	if err := Save(path, bad); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("invalid tensor: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("invalid save modified the existing file")
	}
	// Folder is a file / does not exist.
	file := filepath.Join(dir, "plainfile")
	os.WriteFile(file, []byte("x"), 0o644)
	if err := Save(filepath.Join(file, "ckpt"), old); err == nil {
		t.Error("Save below a regular file succeeded")
	}
	if err := Save(filepath.Join(dir, "nope", "ckpt"), old); err == nil {
		t.Error("Save into a missing folder succeeded")
	}
	// Load errors.
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
	if _, err := Load(dir); err == nil {
		t.Error("Load of a folder succeeded")
	}
}

func TestEncodeRejects(t *testing.T) {
	cases := map[string]*nn.Tensor{
		"nil":     nil,
		"dtype":   {DType: nn.String, Shape: []int{1}},
		"short":   {DType: nn.Float32, Shape: []int{2, 2}, F32: []float32{1, 2, 3}},
		"negdim":  {DType: nn.Float32, Shape: []int{-1}, F32: nil},
		"storage": {DType: nn.Int64, Shape: []int{1}, F32: []float32{1}},
	}
	for name, tt := range cases {
		c := &Checkpoint{Params: map[string]*nn.Tensor{name: tt}}
		if err := Encode(io.Discard, c); err == nil {
			t.Errorf("%s: Encode succeeded", name)
		}
		c = &Checkpoint{Optimizer: Optimizer{Slots: map[string]map[string]*nn.Tensor{"p": {name: tt}}}}
		if err := Encode(io.Discard, c); err == nil {
			t.Errorf("slot %s: Encode succeeded", name)
		}
	}
	if err := Encode(io.Discard, nil); err == nil {
		t.Error("Encode(nil) succeeded")
	}
}

func TestHugeLengthsNoAllocation(t *testing.T) {
	// A header claiming an enormous META section must fail fast.
	var b bytes.Buffer
	cw := &ckptWriter{w: &b, table: castagnoli()}
	var hdr [16]byte
	copy(hdr[:], ckptMagic)
	binary.LittleEndian.PutUint32(hdr[8:], 1)
	binary.LittleEndian.PutUint32(hdr[12:], crcOf(hdr[:12]))
	b.Write(hdr[:])
	cw.begin(tagMeta, 1<<62)
	data := b.Bytes()
	if _, err := Decode(bytes.NewReader(data), int64(len(data))); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("huge section: %v", err)
	}
	// A tensor whose shape claims far more data than its section holds.
	c := &Checkpoint{Params: map[string]*nn.Tensor{"w": nn.FromFloat32([]float32{1, 2}, 2)}}
	good := encodeT(t, c)
	i := bytes.Index(good, []byte("PARM"))
	// Rewrite the head: name "w", float32, rank 2, dims 2^40 x 2^40.
	var head ckptBuf
	head.str("w")
	head.uvarint(uint64(nn.Float32))
	head.uvarint(2)
	head.uvarint(1 << 40)
	head.uvarint(1 << 40)
	var sec bytes.Buffer
	sw := &ckptWriter{w: &sec, table: castagnoli()}
	sw.begin(tagParm, uint64(4+len(head.b)+8))
	var hl [4]byte
	binary.LittleEndian.PutUint32(hl[:], uint32(len(head.b)))
	sw.write(hl[:])
	sw.write(head.b)
	sw.write(make([]byte, 8))
	sw.end()
	endOfParm := i + ckptSectionOverhead + int(binary.LittleEndian.Uint64(good[i+4:]))
	bad := append(append(append([]byte{}, good[:i]...), sec.Bytes()...), good[endOfParm:]...)
	if _, err := Decode(bytes.NewReader(bad), int64(len(bad))); err == nil || !strings.Contains(err.Error(), "needs") {
		t.Errorf("oversized shape: %v", err)
	}
}

func TestRNGStream(t *testing.T) {
	r := RNG{Seed: 7}
	a := r.Stream("shuffle", 3).Perm(20)
	b := r.Stream("shuffle", 3).Perm(20)
	if !reflect.DeepEqual(a, b) {
		t.Error("same stream differs")
	}
	if reflect.DeepEqual(a, r.Stream("shuffle", 4).Perm(20)) {
		t.Error("different index gives the same permutation")
	}
	if reflect.DeepEqual(a, r.Stream("dropout", 3).Perm(20)) {
		t.Error("different name gives the same permutation")
	}
	if reflect.DeepEqual(a, RNG{Seed: 8}.Stream("shuffle", 3).Perm(20)) {
		t.Error("different seed gives the same permutation")
	}
}

func TestRestoreParams(t *testing.T) {
	g := &nn.Graph{}
	g.AddParam(&nn.Param{Name: "fc.weight", Value: nn.FromFloat32(make([]float32, 6), 2, 3)})
	g.AddParam(&nn.Param{Name: "fc.bias", Value: nn.FromFloat32(make([]float32, 2), 2)})
	g.AddParam(&nn.Param{Name: "extra", Value: nn.FromInt64([]int64{1}, 1)})
	held := g.Params["fc.weight"].Value
	src := sample()
	c := &Checkpoint{Params: map[string]*nn.Tensor{"fc.weight": src.Params["fc.weight"], "fc.bias": src.Params["fc.bias"]}}
	missing, err := c.RestoreParams(g)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(missing, []string{"extra"}) {
		t.Errorf("missing %v", missing)
	}
	if held.F32[1] != -2.5 || g.Params["fc.bias"].Value.F32[1] != 0.2 {
		t.Errorf("values not restored in place: %v", held.F32)
	}
	// Round trip through ParamsFromGraph.
	p := ParamsFromGraph(g)
	if len(p) != 3 || p["fc.weight"] == held || p["fc.weight"].F32[1] != -2.5 {
		t.Errorf("ParamsFromGraph: %v", p)
	}
	// Mismatches change nothing.
	c.Params["fc.bias"] = nn.FromFloat32([]float32{5, 5, 5}, 3)
	c.Params["fc.weight"] = nn.FromFloat32([]float32{9, 9, 9, 9, 9, 9}, 2, 3)
	if _, err := c.RestoreParams(g); err == nil {
		t.Error("shape mismatch accepted")
	}
	if held.F32[0] == 9 {
		t.Error("failed restore modified the graph")
	}
	c.Params = map[string]*nn.Tensor{"nope": nn.FromFloat32([]float32{1}, 1)}
	if _, err := c.RestoreParams(g); err == nil {
		t.Error("unknown parameter accepted")
	}
}

// FuzzLoad decodes arbitrary bytes: it must return an error or a
// checkpoint that re-encodes, never panic or allocate without bound.
func FuzzLoad(f *testing.F) {
	f.Add(encodeT(f, sample()))
	f.Add(encodeT(f, &Checkpoint{}))
	f.Add(encodeT(f, &Checkpoint{Params: map[string]*nn.Tensor{"x": nn.FromFloat32([]float32{1}, 1)}}))
	f.Add([]byte(ckptMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := Encode(&b, c); err != nil {
			t.Fatalf("decoded checkpoint does not re-encode: %v", err)
		}
		c2, err := Decode(bytes.NewReader(b.Bytes()), int64(b.Len()))
		if err != nil {
			t.Fatalf("re-encoded checkpoint does not decode: %v", err)
		}
		equalCheckpoints(t, c2, c)
	})
}

func TestFlatSlots(t *testing.T) {
	flat := map[string]map[string][]float32{"w": {"m": {1, 2, 3}, "v": {4, 5, 6}}, "b": {"momentum": {7}}}
	path := filepath.Join(t.TempDir(), "c")
	c := &Checkpoint{Optimizer: Optimizer{Name: "adam", Slots: SlotsFromFlat(flat), Scalars: map[string]float64{"step": 10}}}
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	back, err := got.Optimizer.FlatSlots()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, flat) || got.Optimizer.Scalars["step"] != 10 {
		t.Errorf("flat slots %v, step %v", back, got.Optimizer.Scalars["step"])
	}
	c.Optimizer.Slots["w"]["m"] = nn.FromInt64([]int64{1}, 1)
	if _, err := c.Optimizer.FlatSlots(); err == nil {
		t.Error("int64 slot accepted")
	}
}

// BenchmarkSaveLoad saves and loads a checkpoint of 25M float32 values
// (100 MB) plus one Adam slot pair of the same size.
func BenchmarkSaveLoad(b *testing.B) {
	n := 25 << 20 / 4 * 4
	w := nn.FromFloat32(make([]float32, n), n)
	c := &Checkpoint{
		Params:    map[string]*nn.Tensor{"w": w},
		Optimizer: Optimizer{Slots: map[string]map[string]*nn.Tensor{"w": {"m": w, "v": w}}},
	}
	path := filepath.Join(b.TempDir(), "big")
	b.SetBytes(int64(3 * 4 * n))
	for b.Loop() {
		if err := Save(path, c); err != nil {
			b.Fatal(err)
		}
		if _, err := Load(path); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPortablePathMatchesRaw(t *testing.T) {
	c := sample()
	c.Params["big"] = nn.FromFloat32(make([]float32, 50000), 50000) // several chunks
	for i := range c.Params["big"].F32 {
		c.Params["big"].F32[i] = float32(i) * 0.25
	}
	var fast, slow bytes.Buffer
	if err := encode(&fast, c, ckptLittleEndian()); err != nil {
		t.Fatal(err)
	}
	if err := encode(&slow, c, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fast.Bytes(), slow.Bytes()) {
		t.Fatal("portable and direct-memory encodings differ")
	}
	for _, raw := range []bool{false, ckptLittleEndian()} {
		got, err := decode(bytes.NewReader(slow.Bytes()), int64(slow.Len()), raw)
		if err != nil {
			t.Fatal(err)
		}
		equalCheckpoints(t, got, c)
	}
	// The portable decoder also sees truncation inside tensor data.
	data := slow.Bytes()
	for _, n := range []int{len(data) / 2, len(data) - 20} {
		if _, err := decode(bytes.NewReader(data[:n]), int64(len(data)), false); err == nil {
			t.Errorf("portable decode of %d bytes succeeded", n)
		}
	}
}
