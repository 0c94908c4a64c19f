package onnx

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/graftml/graft/nn"
)

// The safetensors format: an 8-byte little-endian header length N, N bytes
// of JSON mapping tensor names to {"dtype", "shape", "data_offsets"} (plus an
// optional "__metadata__" map of strings), then the tensors' bytes,
// little-endian and row-major, with data_offsets [begin, end) relative to the
// start of that byte buffer.

// stMaxHeader bounds the JSON header, as the reference implementation does.
const stMaxHeader = 100 << 20

// stMetaKey is the header entry holding free-form string metadata.
const stMetaKey = "__metadata__"

var stNames = map[nn.DType]string{
	nn.Float64: "F64", nn.Float32: "F32", nn.Float16: "F16", nn.BFloat16: "BF16",
	nn.Int64: "I64", nn.Int32: "I32", nn.Int16: "I16", nn.Int8: "I8",
	nn.Uint64: "U64", nn.Uint32: "U32", nn.Uint16: "U16", nn.Uint8: "U8", nn.Bool: "BOOL",
}

// stElemSize is the size in bytes of one element of dt in a safetensors
// file.
func stElemSize(dt nn.DType) int {
	switch dt {
	case nn.Float64, nn.Int64, nn.Uint64:
		return 8
	case nn.Float32, nn.Int32, nn.Uint32:
		return 4
	case nn.Float16, nn.BFloat16, nn.Int16, nn.Uint16:
		return 2
	}
	return 1
}

func stDType(name string) (nn.DType, bool) {
	for dt, n := range stNames {
		if n == name {
			return dt, true
		}
	}
	return nn.Undefined, false
}

type stEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// EncodeSafeTensors serializes tensors (and string metadata, which may be
// nil) in the safetensors format. Tensors are laid out by decreasing element
// size, then by name, so every tensor starts at a multiple of its element
// size; the header is padded with spaces to a multiple of 8 bytes.
func EncodeSafeTensors(tensors map[string]*nn.Tensor, meta map[string]string) ([]byte, error) {
	names := make([]string, 0, len(tensors))
	for name, t := range tensors {
		if name == stMetaKey {
			return nil, fmt.Errorf("safetensors: a tensor cannot be called %q", stMetaKey)
		}
		if t == nil {
			return nil, fmt.Errorf("safetensors: tensor %q is nil", name)
		}
		if _, ok := stNames[t.DType]; !ok {
			return nil, fmt.Errorf("safetensors: tensor %q: element type %v has no safetensors dtype", name, t.DType)
		}
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := stElemSize(tensors[names[i]].DType), stElemSize(tensors[names[j]].DType)
		if a != b {
			return a > b
		}
		return names[i] < names[j]
	})
	var hdr bytes.Buffer
	hdr.WriteByte('{')
	if len(meta) > 0 {
		b, err := json.Marshal(meta) // map keys come out sorted
		if err != nil {
			return nil, fmt.Errorf("safetensors: metadata: %w", err)
		}
		hdr.WriteString(`"` + stMetaKey + `":`)
		hdr.Write(b)
	}
	var off int64
	for i, name := range names {
		t := tensors[name]
		n := int64(t.Len()) * int64(stElemSize(t.DType))
		shape := make([]int64, len(t.Shape))
		for k, d := range t.Shape {
			shape[k] = int64(d)
		}
		e, err := json.Marshal(stEntry{DType: stNames[t.DType], Shape: shape, DataOffsets: []int64{off, off + n}})
		if err != nil {
			return nil, err
		}
		k, _ := json.Marshal(name)
		if i > 0 || len(meta) > 0 {
			hdr.WriteByte(',')
		}
		hdr.Write(k)
		hdr.WriteByte(':')
		hdr.Write(e)
		off += n
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	out := make([]byte, 8, 8+int64(hdr.Len())+off)
	binary.LittleEndian.PutUint64(out, uint64(hdr.Len()))
	out = append(out, hdr.Bytes()...)
	for _, name := range names {
		out = stAppend(out, tensors[name])
	}
	return out, nil
}

// stAppend appends t's elements in little-endian safetensors encoding.
func stAppend(b []byte, t *nn.Tensor) []byte {
	n := t.Len()
	switch t.DType {
	case nn.Float32:
		for _, v := range t.F32[:n] {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	case nn.Float16:
		for _, v := range t.F32[:n] {
			b = binary.LittleEndian.AppendUint16(b, nn.Float32ToFloat16(v))
		}
	case nn.BFloat16:
		for _, v := range t.F32[:n] {
			b = binary.LittleEndian.AppendUint16(b, nn.Float32ToBFloat16(v))
		}
	case nn.Float64:
		for _, v := range t.F64[:n] {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	case nn.Bool:
		for _, v := range t.Bool[:n] {
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		}
	default: // integers
		size := stElemSize(t.DType)
		for _, v := range t.I64[:n] {
			u := uint64(v)
			for k := 0; k < size; k++ {
				b = append(b, byte(u>>(8*k)))
			}
		}
	}
	return b
}

// DecodeSafeTensors parses a safetensors file held in b. It checks the
// header's size, every dtype, shape and offset range, and that the tensors
// cover the data buffer exactly without overlapping; it never panics on a
// malformed file.
func DecodeSafeTensors(b []byte) (map[string]*nn.Tensor, map[string]string, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("safetensors: %d bytes is too short for the header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > stMaxHeader {
		return nil, nil, fmt.Errorf("safetensors: header of %d bytes exceeds the 100 MB limit", n)
	}
	if n > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("safetensors: header of %d bytes runs past the end of the file (%d bytes)", n, len(b))
	}
	hdr := b[8 : 8+n]
	buf := b[8+n:]
	if !bytes.HasPrefix(bytes.TrimLeft(hdr, " \t\r\n"), []byte("{")) {
		return nil, nil, errors.New("safetensors: the header is not a JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, nil, fmt.Errorf("safetensors: header: %w", err)
	}
	var meta map[string]string
	if m, ok := raw[stMetaKey]; ok {
		if err := json.Unmarshal(m, &meta); err != nil {
			return nil, nil, fmt.Errorf("safetensors: %s must map strings to strings: %w", stMetaKey, err)
		}
		delete(raw, stMetaKey)
	}
	type span struct {
		name       string
		begin, end int64
	}
	var spans []span
	out := make(map[string]*nn.Tensor, len(raw))
	for name, r := range raw {
		var e stEntry
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		dt, ok := stDType(e.DType)
		if !ok {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: dtype %q is not supported", name, e.DType)
		}
		if len(e.DataOffsets) != 2 {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: data_offsets must hold two numbers, got %v", name, e.DataOffsets)
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin < 0 || end < begin || end > int64(len(buf)) {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d) outside the %d-byte data buffer", name, begin, end, len(buf))
		}
		count := int64(1)
		shape := make([]int, len(e.Shape))
		for k, d := range e.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", name, e.Shape)
			}
			if d > 0 && count > (end-begin+1)/d+1 {
				return nil, nil, fmt.Errorf("safetensors: tensor %q: shape %v does not fit its %d bytes", name, e.Shape, end-begin)
			}
			count *= d
			shape[k] = int(d)
		}
		if count > end-begin || count*int64(stElemSize(dt)) != end-begin {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %s%v needs %d bytes, data_offsets give %d",
				name, e.DType, e.Shape, count*int64(stElemSize(dt)), end-begin)
		}
		t := nn.New(dt, shape...)
		stDecode(t, buf[begin:end])
		out[name] = t
		spans = append(spans, span{name, begin, end})
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].end < spans[j].end
	})
	var pos int64
	for _, s := range spans {
		if s.begin != pos {
			if s.begin < pos {
				return nil, nil, fmt.Errorf("safetensors: tensor %q overlaps the tensor before it (offset %d < %d)", s.name, s.begin, pos)
			}
			return nil, nil, fmt.Errorf("safetensors: %d unused bytes before tensor %q (offset %d)", s.begin-pos, s.name, pos)
		}
		pos = s.end
	}
	if pos != int64(len(buf)) {
		return nil, nil, fmt.Errorf("safetensors: %d bytes after the last tensor are not described by the header", int64(len(buf))-pos)
	}
	return out, meta, nil
}

// stDecode fills t from little-endian bytes (len(b) matches t exactly).
func stDecode(t *nn.Tensor, b []byte) {
	switch t.DType {
	case nn.Float32:
		for i := range t.F32 {
			t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case nn.Float16:
		for i := range t.F32 {
			t.F32[i] = nn.Float16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case nn.BFloat16:
		for i := range t.F32 {
			t.F32[i] = nn.BFloat16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case nn.Float64:
		for i := range t.F64 {
			t.F64[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case nn.Bool:
		for i := range t.Bool {
			t.Bool[i] = b[i] != 0
		}
	case nn.Int8:
		for i := range t.I64 {
			t.I64[i] = int64(int8(b[i]))
		}
	case nn.Uint8:
		for i := range t.I64 {
			t.I64[i] = int64(b[i])
		}
	case nn.Int16:
		for i := range t.I64 {
			t.I64[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		}
	case nn.Uint16:
		for i := range t.I64 {
			t.I64[i] = int64(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case nn.Int32:
		for i := range t.I64 {
			t.I64[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case nn.Uint32:
		for i := range t.I64 {
			t.I64[i] = int64(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case nn.Int64, nn.Uint64:
		for i := range t.I64 {
			t.I64[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	}
}

// SaveSafeTensors writes tensors and metadata to path atomically.
func SaveSafeTensors(path string, tensors map[string]*nn.Tensor, meta map[string]string) error {
	b, err := EncodeSafeTensors(tensors, meta)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

// LoadSafeTensors reads a safetensors file.
func LoadSafeTensors(path string) (map[string]*nn.Tensor, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	t, m, err := DecodeSafeTensors(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, m, nil
}

// GraphParams returns g's parameters (initializers and Constant-node
// weights) by name. The tensors are g's own, not copies.
func GraphParams(g *nn.Graph) map[string]*nn.Tensor {
	out := make(map[string]*nn.Tensor, len(g.Params))
	for _, name := range g.ParamNames {
		if p := g.Params[name]; p != nil && p.Value != nil {
			out[name] = p.Value
		}
	}
	return out
}

// SetParamsResult says what SetParams did.
type SetParamsResult struct {
	// Loaded names the parameters that received a value, sorted.
	Loaded []string
	// Missing names the graph's parameters the tensors did not cover,
	// sorted; they keep their values.
	Missing []string
	// Converted names the parameters whose values were converted between
	// floating-point types (e.g. F16 in the file, float32 in the model).
	Converted []string
}

// SetParams copies tensors into g's parameters by name. Every tensor must
// name a parameter of g with the same shape, and the same element type
// (floating-point values convert between float types); otherwise nothing is
// changed and the error lists every name that does not match and every shape
// that differs. With strict, every parameter of g must also be given.
func SetParams(g *nn.Graph, tensors map[string]*nn.Tensor, strict bool) (*SetParamsResult, error) {
	res := &SetParamsResult{}
	var unknown, mismatch []string
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		src := tensors[name]
		p := g.Params[name]
		if p == nil || p.Value == nil {
			unknown = append(unknown, name)
			continue
		}
		dst := p.Value
		switch {
		case !nn.SameShape(src.Shape, dst.Shape):
			mismatch = append(mismatch, fmt.Sprintf("%s: %s in the weights, %s in the model", name, nn.ShapeString(src.Shape), nn.ShapeString(dst.Shape)))
		case src.DType != dst.DType && !(src.DType.IsFloat() && dst.DType.IsFloat()):
			mismatch = append(mismatch, fmt.Sprintf("%s: %v in the weights, %v in the model", name, src.DType, dst.DType))
		}
	}
	for _, name := range g.ParamNames {
		if _, ok := tensors[name]; !ok {
			res.Missing = append(res.Missing, name)
		}
	}
	sort.Strings(res.Missing)
	var problems []string
	if len(unknown) > 0 {
		problems = append(problems, fmt.Sprintf("%d name(s) not in the model: %s", len(unknown), stList(unknown)))
	}
	if len(mismatch) > 0 {
		problems = append(problems, fmt.Sprintf("%d tensor(s) differ: %s", len(mismatch), stList(mismatch)))
	}
	if strict && len(res.Missing) > 0 {
		problems = append(problems, fmt.Sprintf("%d model parameter(s) missing from the weights: %s", len(res.Missing), stList(res.Missing)))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	for _, name := range names {
		src, dst := tensors[name], g.Params[name].Value
		if src.DType == dst.DType {
			copy(dst.F32, src.F32)
			copy(dst.F64, src.F64)
			copy(dst.I64, src.I64)
			copy(dst.Bool, src.Bool)
		} else {
			res.Converted = append(res.Converted, name)
			for i := 0; i < dst.Len(); i++ {
				v := src.Float64At(i)
				if dst.DType == nn.Float64 {
					dst.F64[i] = v
				} else {
					dst.F32[i] = float32(v)
				}
			}
			dst.RoundToDType()
		}
		res.Loaded = append(res.Loaded, name)
	}
	g.Invalidate()
	return res, nil
}

// stList shortens long name lists for error messages.
func stList(s []string) string {
	const max = 20
	if len(s) <= max {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:max], ", ") + fmt.Sprintf(", ... (%d more)", len(s)-max)
}
