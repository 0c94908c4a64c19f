package nn

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// npyMaxHeader bounds the header size ReadNPY accepts.
const npyMaxHeader = 1 << 20

// npyChunk is the number of bytes ReadNPY and WriteNPY convert at a time.
const npyChunk = 1 << 16

// npyDescr maps graft types to the NumPy type strings WriteNPY writes.
var npyDescr = map[DType]string{
	Float32: "<f4", Float64: "<f8", Float16: "<f2",
	Int8: "|i1", Int16: "<i2", Int32: "<i4", Int64: "<i8",
	Uint8: "|u1", Uint16: "<u2", Uint32: "<u4", Uint64: "<u8",
	Bool: "|b1",
}

// ReadNPY reads one array in NumPy's .npy format (versions 1.0, 2.0 and
// 3.0): little-endian float16/32/64, signed and unsigned 8- to 64-bit
// integers and bool, in C order. Fortran-ordered and big-endian arrays are
// rejected. Memory grows with the data actually read, so a header claiming
// a huge shape cannot force a huge allocation.
func ReadNPY(r io.Reader) (*Tensor, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("npy: reading magic: %w", err)
	}
	if string(pre[:6]) != npyMagic {
		return nil, errors.New("npy: not a .npy file (bad magic)")
	}
	major := pre[6]
	var hlen int
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: reading header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: reading header length: %w", err)
		}
		l := binary.LittleEndian.Uint32(b[:])
		if l > npyMaxHeader {
			return nil, fmt.Errorf("npy: header of %d bytes is too long", l)
		}
		hlen = int(l)
	default:
		return nil, fmt.Errorf("npy: format version %d.%d is not supported", major, pre[7])
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("npy: reading header: %w", err)
	}
	dt, shape, err := npyParseHeader(string(hdr))
	if err != nil {
		return nil, err
	}
	n := 1
	for _, d := range shape {
		if d != 0 && n > math.MaxInt64/8/d {
			return nil, fmt.Errorf("npy: shape %v holds too many elements", shape)
		}
		n *= d
	}
	t := &Tensor{DType: dt, Shape: shape}
	if err := npyReadData(r, t, n); err != nil {
		return nil, fmt.Errorf("npy: %s%s: %w", dt, ShapeString(shape), err)
	}
	return t, nil
}

// npyReadData reads n elements of t.DType into t, chunk by chunk.
func npyReadData(r io.Reader, t *Tensor, n int) error {
	size := t.DType.ByteSize()
	prealloc := min(n, npyChunk*16)
	switch t.DType.Storage() {
	case StoreF32:
		t.F32 = make([]float32, 0, prealloc)
	case StoreF64:
		t.F64 = make([]float64, 0, prealloc)
	case StoreI64:
		t.I64 = make([]int64, 0, prealloc)
	case StoreBool:
		t.Bool = make([]bool, 0, prealloc)
	}
	buf := make([]byte, min(n*size, npyChunk))
	le := binary.LittleEndian
	for done := 0; done < n; {
		k := min(n-done, len(buf)/size)
		b := buf[:k*size]
		if got, err := io.ReadFull(r, b); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return fmt.Errorf("data ends after %d of %d elements", done+got/size, n)
			}
			return err
		}
		switch t.DType {
		case Float32:
			for i := range k {
				t.F32 = append(t.F32, math.Float32frombits(le.Uint32(b[4*i:])))
			}
		case Float16:
			for i := range k {
				t.F32 = append(t.F32, Float16ToFloat32(le.Uint16(b[2*i:])))
			}
		case Float64:
			for i := range k {
				t.F64 = append(t.F64, math.Float64frombits(le.Uint64(b[8*i:])))
			}
		case Bool:
			for i := range k {
				t.Bool = append(t.Bool, b[i] != 0)
			}
		case Int8:
			for i := range k {
				t.I64 = append(t.I64, int64(int8(b[i])))
			}
		case Uint8:
			for i := range k {
				t.I64 = append(t.I64, int64(b[i]))
			}
		case Int16:
			for i := range k {
				t.I64 = append(t.I64, int64(int16(le.Uint16(b[2*i:]))))
			}
		case Uint16:
			for i := range k {
				t.I64 = append(t.I64, int64(le.Uint16(b[2*i:])))
			}
		case Int32:
			for i := range k {
				t.I64 = append(t.I64, int64(int32(le.Uint32(b[4*i:]))))
			}
		case Uint32:
			for i := range k {
				t.I64 = append(t.I64, int64(le.Uint32(b[4*i:])))
			}
		default: // Int64, Uint64
			for i := range k {
				t.I64 = append(t.I64, int64(le.Uint64(b[8*i:])))
			}
		}
		done += k
	}
	return nil
}

// npyParseHeader reads the Python dict literal of a .npy header.
func npyParseHeader(h string) (DType, []int, error) {
	p := &npyParser{s: strings.TrimRight(h, " \n\x00")}
	descr, fortran, shape, err := p.dict()
	if err != nil {
		return 0, nil, fmt.Errorf("npy: header %q: %w", h, err)
	}
	if fortran {
		return 0, nil, errors.New("npy: fortran_order=True is not supported; save a C-ordered array (np.ascontiguousarray)")
	}
	dt, err := npyDTypeOf(descr)
	if err != nil {
		return 0, nil, err
	}
	return dt, shape, nil
}

// npyDTypeOf maps a NumPy type string such as "<f4" to a graft type.
func npyDTypeOf(descr string) (DType, error) {
	if len(descr) < 2 {
		return 0, fmt.Errorf("npy: dtype %q is not supported", descr)
	}
	order, kind := descr[0], descr[1:]
	var dt DType
	switch kind {
	case "f2":
		dt = Float16
	case "f4":
		dt = Float32
	case "f8":
		dt = Float64
	case "i1":
		dt = Int8
	case "i2":
		dt = Int16
	case "i4":
		dt = Int32
	case "i8":
		dt = Int64
	case "u1":
		dt = Uint8
	case "u2":
		dt = Uint16
	case "u4":
		dt = Uint32
	case "u8":
		dt = Uint64
	case "b1":
		dt = Bool
	default:
		return 0, fmt.Errorf("npy: dtype %q is not supported", descr)
	}
	switch {
	case order == '>' && dt.ByteSize() > 1:
		return 0, fmt.Errorf("npy: big-endian dtype %q is not supported; convert with arr.astype('<%s')", descr, kind)
	case order == '<', order == '|', order == '=' && dt.ByteSize() == 1, order == '>':
		return dt, nil
	}
	return 0, fmt.Errorf("npy: dtype %q has no explicit byte order", descr)
}

// npyParser parses the restricted Python literal syntax of .npy headers.
type npyParser struct {
	s   string
	pos int
}

func (p *npyParser) skip() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n') {
		p.pos++
	}
}

func (p *npyParser) eat(c byte) bool {
	p.skip()
	if p.pos < len(p.s) && p.s[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *npyParser) str() (string, error) {
	p.skip()
	if p.pos >= len(p.s) || (p.s[p.pos] != '\'' && p.s[p.pos] != '"') {
		return "", fmt.Errorf("expected a string at offset %d", p.pos)
	}
	q := p.s[p.pos]
	end := strings.IndexByte(p.s[p.pos+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.pos+1 : p.pos+1+end]
	p.pos += end + 2
	return v, nil
}

func (p *npyParser) word() string {
	p.skip()
	start := p.pos
	for p.pos < len(p.s) && (p.s[p.pos] >= 'A' && p.s[p.pos] <= 'Z' || p.s[p.pos] >= 'a' && p.s[p.pos] <= 'z' || p.s[p.pos] >= '0' && p.s[p.pos] <= '9') {
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *npyParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, errors.New("shape is not a tuple")
	}
	shape := []int{}
	for {
		if p.eat(')') {
			return shape, nil
		}
		w := strings.TrimSuffix(p.word(), "L")
		d, err := strconv.Atoi(w)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad dimension %q", w)
		}
		shape = append(shape, d)
		if !p.eat(',') {
			if !p.eat(')') {
				return nil, errors.New("unterminated shape tuple")
			}
			return shape, nil
		}
	}
}

func (p *npyParser) dict() (descr string, fortran bool, shape []int, err error) {
	if !p.eat('{') {
		return "", false, nil, errors.New("not a dict")
	}
	seen := map[string]bool{}
	for !p.eat('}') {
		key, err := p.str()
		if err != nil {
			return "", false, nil, err
		}
		if !p.eat(':') {
			return "", false, nil, fmt.Errorf("expected ':' after %q", key)
		}
		switch key {
		case "descr":
			p.skip()
			if p.pos < len(p.s) && p.s[p.pos] == '[' {
				return "", false, nil, errors.New("structured dtypes are not supported")
			}
			descr, err = p.str()
		case "fortran_order":
			switch w := p.word(); w {
			case "True":
				fortran = true
			case "False":
				fortran = false
			default:
				err = fmt.Errorf("fortran_order %q is not True or False", w)
			}
		case "shape":
			shape, err = p.tuple()
		default:
			err = fmt.Errorf("unknown key %q", key)
		}
		if err != nil {
			return "", false, nil, err
		}
		seen[key] = true
		if !p.eat(',') {
			if !p.eat('}') {
				return "", false, nil, errors.New("expected ',' or '}'")
			}
			break
		}
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return "", false, nil, fmt.Errorf("missing key %q", k)
		}
	}
	return descr, fortran, shape, nil
}

// WriteNPY writes t in NumPy's .npy format (version 1.0, or 2.0 when the
// header needs it), C order, little-endian. Bfloat16 tensors have no NumPy
// type and are rejected.
func WriteNPY(w io.Writer, t *Tensor) error {
	descr, ok := npyDescr[t.DType]
	if !ok {
		return fmt.Errorf("npy: %s tensors have no .npy type", t.DType)
	}
	n := t.Len()
	var have int
	switch t.DType.Storage() {
	case StoreF32:
		have = len(t.F32)
	case StoreF64:
		have = len(t.F64)
	case StoreI64:
		have = len(t.I64)
	case StoreBool:
		have = len(t.Bool)
	}
	if have < n {
		return fmt.Errorf("npy: %s holds %d elements, shape needs %d", t, have, n)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr)
	for i, d := range t.Shape {
		if i > 0 {
			sb.WriteString(" ")
		}
		fmt.Fprintf(&sb, "%d,", d)
	}
	if len(t.Shape) > 1 {
		s := strings.TrimSuffix(sb.String(), ",")
		sb.Reset()
		sb.WriteString(s)
	}
	sb.WriteString("), }")
	hdr := sb.String()
	version, lenBytes := byte(1), 2
	if len(hdr)+1+10 > math.MaxUint16 {
		version, lenBytes = 2, 4
	}
	pre := 8 + lenBytes
	total := (pre + len(hdr) + 1 + 63) / 64 * 64
	hdr += strings.Repeat(" ", total-pre-len(hdr)-1) + "\n"
	var head bytes.Buffer
	head.WriteString(npyMagic)
	head.WriteByte(version)
	head.WriteByte(0)
	if lenBytes == 2 {
		binary.Write(&head, binary.LittleEndian, uint16(len(hdr)))
	} else {
		binary.Write(&head, binary.LittleEndian, uint32(len(hdr)))
	}
	head.WriteString(hdr)
	if _, err := w.Write(head.Bytes()); err != nil {
		return err
	}
	size := t.DType.ByteSize()
	buf := make([]byte, min(n*size, npyChunk))
	le := binary.LittleEndian
	for done := 0; done < n; {
		k := min(n-done, len(buf)/size)
		b := buf[:k*size]
		switch t.DType {
		case Float32:
			for i, v := range t.F32[done : done+k] {
				le.PutUint32(b[4*i:], math.Float32bits(v))
			}
		case Float16:
			for i, v := range t.F32[done : done+k] {
				le.PutUint16(b[2*i:], Float32ToFloat16(v))
			}
		case Float64:
			for i, v := range t.F64[done : done+k] {
				le.PutUint64(b[8*i:], math.Float64bits(v))
			}
		case Bool:
			for i, v := range t.Bool[done : done+k] {
				b[i] = 0
				if v {
					b[i] = 1
				}
			}
		default:
			src := t.I64[done : done+k]
			switch size {
			case 1:
				for i, v := range src {
					b[i] = byte(v)
				}
			case 2:
				for i, v := range src {
					le.PutUint16(b[2*i:], uint16(v))
				}
			case 4:
				for i, v := range src {
					le.PutUint32(b[4*i:], uint32(v))
				}
			default:
				for i, v := range src {
					le.PutUint64(b[8*i:], uint64(v))
				}
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		done += k
	}
	return nil
}
