package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sort"
	"unsafe"

	"github.com/graftml/graft/nn"
)

// Format constants.
const (
	ckptMagic      = "GRAFTCKP"
	ckptHeaderSize = 16
	// ckptSectionOverhead is the tag, length and CRC around a payload.
	ckptSectionOverhead = 4 + 8 + 4
	// ckptMaxRank bounds the rank of a stored tensor.
	ckptMaxRank = 64
	// ckptMaxHead bounds the head of a tensor section (names and dims).
	ckptMaxHead = 1 << 20
	// ckptChunk is the size of the buffer tensor data is converted through.
	ckptChunk = 1 << 16
)

// Section tags.
const (
	tagMeta = "META"
	tagParm = "PARM"
	tagSlot = "SLOT"
	tagEnd  = "END!"
)

// castagnoli returns the CRC-32C table (cached by hash/crc32).
func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// ---------------------------------------------------------------------------
// Encoding

// ckptBuf builds small payloads.
type ckptBuf struct{ b []byte }

func (e *ckptBuf) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *ckptBuf) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *ckptBuf) u64(v uint64)     { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *ckptBuf) f64(v float64)    { e.u64(math.Float64bits(v)) }
func (e *ckptBuf) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// sortedKeys returns the keys of m in increasing order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ckptWriter writes sections, tracking the first error.
type ckptWriter struct {
	// raw enables writing tensor memory directly (little-endian hosts).
	raw   bool
	w     io.Writer
	table *crc32.Table
	crc   uint32
	err   error
	chunk []byte
}

func (w *ckptWriter) write(p []byte) {
	if w.err != nil {
		return
	}
	w.crc = crc32.Update(w.crc, w.table, p)
	_, w.err = w.w.Write(p)
}

func (w *ckptWriter) begin(tag string, n uint64) {
	w.crc = 0
	var h [12]byte
	copy(h[:4], tag)
	binary.LittleEndian.PutUint64(h[4:], n)
	w.write(h[:])
}

func (w *ckptWriter) end() {
	if w.err != nil {
		return
	}
	var c [4]byte
	binary.LittleEndian.PutUint32(c[:], w.crc)
	_, w.err = w.w.Write(c[:])
}

// ckptLittleEndian reports whether the host stores numbers little-endian.
func ckptLittleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// ckptRawBytes returns the memory of t's float32, float64 or int64 data as
// bytes on a little-endian host, where it equals the file encoding, and
// nil otherwise (big-endian host, bool or empty tensor).
func ckptRawBytes(t *nn.Tensor) []byte {
	if !ckptLittleEndian() {
		return nil
	}
	switch {
	case len(t.F32) > 0:
		return unsafe.Slice((*byte)(unsafe.Pointer(&t.F32[0])), 4*len(t.F32))
	case len(t.F64) > 0:
		return unsafe.Slice((*byte)(unsafe.Pointer(&t.F64[0])), 8*len(t.F64))
	case len(t.I64) > 0:
		return unsafe.Slice((*byte)(unsafe.Pointer(&t.I64[0])), 8*len(t.I64))
	}
	return nil
}

// ckptElemSize is the stored size of one element of dtype dt.
func ckptElemSize(dt nn.DType) int {
	switch dt.Storage() {
	case nn.StoreF32:
		return 4
	case nn.StoreF64, nn.StoreI64:
		return 8
	case nn.StoreBool:
		return 1
	}
	return 0
}

// checkTensor reports whether t can be stored.
func checkTensor(t *nn.Tensor) error {
	if t == nil {
		return errors.New("nil tensor")
	}
	if !t.DType.Supported() || ckptElemSize(t.DType) == 0 {
		return fmt.Errorf("unsupported dtype %v", t.DType)
	}
	if len(t.Shape) > ckptMaxRank {
		return fmt.Errorf("rank %d above %d", len(t.Shape), ckptMaxRank)
	}
	n := 1
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
		n *= d
	}
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
	}
	if have != n {
		return fmt.Errorf("shape %v needs %d %v values, tensor has %d", t.Shape, n, t.DType, have)
	}
	return nil
}

// tensorSection writes a PARM or SLOT section holding t under names.
func (w *ckptWriter) tensorSection(tag string, names []string, t *nn.Tensor) {
	var head ckptBuf
	for _, s := range names {
		head.str(s)
	}
	head.uvarint(uint64(t.DType))
	head.uvarint(uint64(len(t.Shape)))
	for _, d := range t.Shape {
		head.uvarint(uint64(d))
	}
	n := t.Len()
	size := ckptElemSize(t.DType)
	w.begin(tag, uint64(4+len(head.b))+uint64(n)*uint64(size))
	var hl [4]byte
	binary.LittleEndian.PutUint32(hl[:], uint32(len(head.b)))
	w.write(hl[:])
	w.write(head.b)
	if raw := ckptRawBytes(t); w.raw && raw != nil {
		// Little-endian host: the storage already is the file encoding.
		for lo := 0; lo < len(raw) && w.err == nil; lo += 1 << 22 {
			w.write(raw[lo:min(len(raw), lo+1<<22)])
		}
		w.end()
		return
	}
	per := ckptChunk / size
	for lo := 0; lo < n && w.err == nil; lo += per {
		hi := min(n, lo+per)
		b := w.chunk[:(hi-lo)*size]
		switch t.DType.Storage() {
		case nn.StoreF32:
			for i, v := range t.F32[lo:hi] {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
		case nn.StoreF64:
			for i, v := range t.F64[lo:hi] {
				binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
			}
		case nn.StoreI64:
			for i, v := range t.I64[lo:hi] {
				binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
			}
		case nn.StoreBool:
			for i, v := range t.Bool[lo:hi] {
				b[i] = 0
				if v {
					b[i] = 1
				}
			}
		}
		w.write(b)
	}
	w.end()
}

// Encode writes c in the checkpoint format to w (Save adds atomic file
// replacement on top). It checks every tensor first and writes nothing
// when one cannot be stored.
func Encode(w io.Writer, c *Checkpoint) error { return encode(w, c, ckptLittleEndian()) }

// encode is Encode; raw selects the direct-memory path for tensor data
// (valid only on little-endian hosts; tests turn it off to cover the
// portable path).
func encode(w io.Writer, c *Checkpoint, raw bool) error {
	if c == nil {
		return errors.New("checkpoint: nil checkpoint")
	}
	for _, name := range sortedKeys(c.Params) {
		if err := checkTensor(c.Params[name]); err != nil {
			return fmt.Errorf("checkpoint: parameter %q: %w", name, err)
		}
	}
	nSlots := 0
	for _, p := range sortedKeys(c.Optimizer.Slots) {
		for _, s := range sortedKeys(c.Optimizer.Slots[p]) {
			if err := checkTensor(c.Optimizer.Slots[p][s]); err != nil {
				return fmt.Errorf("checkpoint: optimizer slot %q of %q: %w", s, p, err)
			}
			nSlots++
		}
	}

	cw := &ckptWriter{w: w, raw: raw, table: castagnoli(), chunk: make([]byte, ckptChunk)}
	var hdr [ckptHeaderSize]byte
	copy(hdr[:8], ckptMagic)
	binary.LittleEndian.PutUint32(hdr[8:], FormatVersion)
	binary.LittleEndian.PutUint32(hdr[12:], crc32.Checksum(hdr[:12], cw.table))
	if _, err := w.Write(hdr[:]); err != nil {
		return fmt.Errorf("checkpoint: writing header: %w", err)
	}

	var m ckptBuf
	m.varint(int64(c.Epoch))
	m.varint(c.GlobalStep)
	m.u64(uint64(c.RNG.Seed))
	m.uvarint(uint64(len(c.RNG.Counters)))
	for _, k := range sortedKeys(c.RNG.Counters) {
		m.str(k)
		m.uvarint(c.RNG.Counters[k])
	}
	m.str(c.Best.Metric)
	m.f64(c.Best.Value)
	m.varint(int64(c.Best.Epoch))
	m.str(c.Optimizer.Name)
	m.uvarint(uint64(len(c.Optimizer.Scalars)))
	for _, k := range sortedKeys(c.Optimizer.Scalars) {
		m.str(k)
		m.f64(c.Optimizer.Scalars[k])
	}
	m.uvarint(uint64(len(c.Metadata)))
	for _, k := range sortedKeys(c.Metadata) {
		m.str(k)
		m.str(c.Metadata[k])
	}
	m.uvarint(uint64(len(c.Params)))
	m.uvarint(uint64(nSlots))
	cw.begin(tagMeta, uint64(len(m.b)))
	cw.write(m.b)
	cw.end()

	for _, name := range sortedKeys(c.Params) {
		cw.tensorSection(tagParm, []string{name}, c.Params[name])
	}
	for _, p := range sortedKeys(c.Optimizer.Slots) {
		for _, s := range sortedKeys(c.Optimizer.Slots[p]) {
			cw.tensorSection(tagSlot, []string{p, s}, c.Optimizer.Slots[p][s])
		}
	}
	cw.begin(tagEnd, 0)
	cw.end()
	if cw.err != nil {
		return fmt.Errorf("checkpoint: writing: %w", cw.err)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Decoding

// ckptReader reads sections, never past the declared input size.
type ckptReader struct {
	// raw enables reading straight into tensor memory (little-endian hosts).
	raw    bool
	r      io.Reader
	table  *crc32.Table
	off    int64 // bytes consumed
	size   int64 // total input size
	crc    uint32
	tag    [4]byte
	secOff int64 // offset of the current section
}

// errf returns a decoding error naming the current section and offset.
func (r *ckptReader) errf(format string, args ...any) error {
	return fmt.Errorf("checkpoint: section %q at offset %d: %s", r.tag[:], r.secOff, fmt.Sprintf(format, args...))
}

// read fills p, updating the CRC; running out of input is "truncated".
func (r *ckptReader) read(p []byte) error {
	if int64(len(p)) > r.size-r.off {
		return r.errf("truncated: need %d bytes at offset %d, file has %d", len(p), r.off, r.size)
	}
	n, err := io.ReadFull(r.r, p)
	r.off += int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return r.errf("truncated at offset %d", r.off)
		}
		return r.errf("reading: %v", err)
	}
	r.crc = crc32.Update(r.crc, r.table, p)
	return nil
}

// begin reads a section's tag and length; the length must fit in the
// remaining input.
func (r *ckptReader) begin() (uint64, error) {
	r.secOff = r.off
	r.tag = [4]byte{'?', '?', '?', '?'}
	r.crc = 0
	var h [12]byte
	if err := r.read(h[:]); err != nil {
		return 0, fmt.Errorf("checkpoint: truncated: section header at offset %d: missing END! section (%d of %d bytes)", r.secOff, r.off, r.size)
	}
	copy(r.tag[:], h[:4])
	n := binary.LittleEndian.Uint64(h[4:])
	if rem := r.size - r.off - 4; rem < 0 || n > uint64(rem) {
		return 0, r.errf("payload length %d exceeds the %d bytes left (truncated or corrupt)", n, max(rem, 0))
	}
	return n, nil
}

// end reads and checks the section CRC.
func (r *ckptReader) end() error {
	want := r.crc
	var c [4]byte
	if err := r.read(c[:]); err != nil {
		return err
	}
	if got := binary.LittleEndian.Uint32(c[:]); got != want {
		return r.errf("CRC mismatch (stored %08x, computed %08x): file is corrupt", got, want)
	}
	return nil
}

// ckptDec decodes a payload held in memory.
type ckptDec struct {
	b   []byte
	err error
}

func (d *ckptDec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *ckptDec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *ckptDec) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *ckptDec) u64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("payload too short")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *ckptDec) f64() float64 { return math.Float64frombits(d.u64()) }

func (d *ckptDec) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("string length %d exceeds the %d bytes left", n, len(d.b))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads a number of entries; each takes at least one byte, which
// bounds it by the bytes left.
func (d *ckptDec) count(what string) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.fail("%s count %d exceeds the %d bytes left", what, n, len(d.b))
		return 0
	}
	return int(n)
}

// int reads a varint that must fit in an int.
func (d *ckptDec) int(what string) int {
	v := d.varint()
	if v < math.MinInt || v > math.MaxInt {
		d.fail("%s %d out of range", what, v)
		return 0
	}
	return int(v)
}

// Decode reads a checkpoint of size bytes from r. Every length in the
// input is checked against size before anything is allocated, so a
// corrupt input cannot cause a huge allocation; Load passes the file size.
func Decode(r io.Reader, size int64) (*Checkpoint, error) {
	return decode(r, size, ckptLittleEndian())
}

// decode is Decode; raw is as for encode.
func decode(r io.Reader, size int64, raw bool) (*Checkpoint, error) {
	cr := &ckptReader{r: r, raw: raw, table: castagnoli(), size: size, tag: [4]byte{'h', 'd', 'r', ' '}}
	var hdr [ckptHeaderSize]byte
	if err := cr.read(hdr[:]); err != nil {
		return nil, fmt.Errorf("checkpoint: truncated header (%d bytes, need %d)", size, ckptHeaderSize)
	}
	if string(hdr[:8]) != ckptMagic {
		return nil, fmt.Errorf("checkpoint: not a graft checkpoint (magic %q)", hdr[:8])
	}
	if got, want := binary.LittleEndian.Uint32(hdr[12:]), crc32.Checksum(hdr[:12], cr.table); got != want {
		return nil, fmt.Errorf("checkpoint: header CRC mismatch (stored %08x, computed %08x): file is corrupt", got, want)
	}
	version := binary.LittleEndian.Uint32(hdr[8:])
	if version == 0 || version > FormatVersion {
		return nil, fmt.Errorf("checkpoint: format version %d not supported (this build reads 1 to %d)", version, FormatVersion)
	}
	c := &Checkpoint{
		Version:  int(version),
		Params:   map[string]*nn.Tensor{},
		Metadata: map[string]string{},
		RNG:      RNG{Counters: map[string]uint64{}},
		Optimizer: Optimizer{
			Slots:   map[string]map[string]*nn.Tensor{},
			Scalars: map[string]float64{},
		},
	}
	var wantParams, wantSlots uint64
	gotParams, gotSlots := 0, 0
	seenMeta := false
	for {
		n, err := cr.begin()
		if err != nil {
			return nil, err
		}
		tag := string(cr.tag[:])
		switch tag {
		case tagMeta:
			if seenMeta {
				return nil, cr.errf("duplicate META section")
			}
			seenMeta = true
			buf := make([]byte, n)
			if err := cr.read(buf); err != nil {
				return nil, err
			}
			if err := cr.end(); err != nil {
				return nil, err
			}
			if wantParams, wantSlots, err = decodeMeta(buf, c); err != nil {
				return nil, cr.errf("%v", err)
			}
		case tagParm, tagSlot:
			if !seenMeta {
				return nil, cr.errf("tensor section before META")
			}
			names := 1
			if tag == tagSlot {
				names = 2
			}
			nm, t, err := cr.tensor(n, names)
			if err != nil {
				return nil, err
			}
			if err := cr.end(); err != nil {
				return nil, err
			}
			if tag == tagParm {
				if _, dup := c.Params[nm[0]]; dup {
					return nil, cr.errf("duplicate parameter %q", nm[0])
				}
				c.Params[nm[0]] = t
				gotParams++
			} else {
				slots := c.Optimizer.Slots[nm[0]]
				if slots == nil {
					slots = map[string]*nn.Tensor{}
					c.Optimizer.Slots[nm[0]] = slots
				}
				if _, dup := slots[nm[1]]; dup {
					return nil, cr.errf("duplicate optimizer slot %q of %q", nm[1], nm[0])
				}
				slots[nm[1]] = t
				gotSlots++
			}
		case tagEnd:
			if n != 0 {
				return nil, cr.errf("END! section with a %d-byte payload", n)
			}
			if err := cr.end(); err != nil {
				return nil, err
			}
			if !seenMeta {
				return nil, cr.errf("no META section")
			}
			if uint64(gotParams) != wantParams || uint64(gotSlots) != wantSlots {
				return nil, cr.errf("file has %d parameters and %d optimizer slots, META announces %d and %d",
					gotParams, gotSlots, wantParams, wantSlots)
			}
			if cr.off != size {
				return nil, fmt.Errorf("checkpoint: %d bytes of trailing data after END! at offset %d", size-cr.off, cr.off)
			}
			return c, nil
		default:
			// A section from a later minor revision: check and skip it.
			if err := cr.skip(n); err != nil {
				return nil, err
			}
			if err := cr.end(); err != nil {
				return nil, err
			}
		}
	}
}

// skip reads and discards n payload bytes, updating the CRC.
func (r *ckptReader) skip(n uint64) error {
	var buf [4096]byte
	for n > 0 {
		k := min(n, uint64(len(buf)))
		if err := r.read(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// decodeMeta fills c from a META payload and returns the announced number
// of parameter and slot sections.
func decodeMeta(b []byte, c *Checkpoint) (params, slots uint64, err error) {
	d := &ckptDec{b: b}
	c.Epoch = d.int("epoch")
	c.GlobalStep = d.varint()
	c.RNG.Seed = int64(d.u64())
	for i, n := 0, d.count("RNG counter"); i < n && d.err == nil; i++ {
		k := d.str()
		v := d.uvarint()
		if _, dup := c.RNG.Counters[k]; dup && d.err == nil {
			d.fail("duplicate RNG counter %q", k)
		}
		c.RNG.Counters[k] = v
	}
	c.Best.Metric = d.str()
	c.Best.Value = d.f64()
	c.Best.Epoch = d.int("best epoch")
	c.Optimizer.Name = d.str()
	for i, n := 0, d.count("optimizer scalar"); i < n && d.err == nil; i++ {
		k := d.str()
		v := d.f64()
		if _, dup := c.Optimizer.Scalars[k]; dup && d.err == nil {
			d.fail("duplicate optimizer scalar %q", k)
		}
		c.Optimizer.Scalars[k] = v
	}
	for i, n := 0, d.count("metadata"); i < n && d.err == nil; i++ {
		k := d.str()
		v := d.str()
		if _, dup := c.Metadata[k]; dup && d.err == nil {
			d.fail("duplicate metadata key %q", k)
		}
		c.Metadata[k] = v
	}
	params = d.uvarint()
	slots = d.uvarint()
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d unexpected bytes at the end", len(d.b))
	}
	if d.err != nil {
		return 0, 0, fmt.Errorf("META: %w", d.err)
	}
	return params, slots, nil
}

// tensor reads the payload of a PARM (names=1) or SLOT (names=2) section
// of n bytes.
func (r *ckptReader) tensor(n uint64, names int) ([]string, *nn.Tensor, error) {
	if n < 4 {
		return nil, nil, r.errf("payload of %d bytes too short", n)
	}
	var hl [4]byte
	if err := r.read(hl[:]); err != nil {
		return nil, nil, err
	}
	headLen := uint64(binary.LittleEndian.Uint32(hl[:]))
	if headLen > n-4 || headLen > ckptMaxHead {
		return nil, nil, r.errf("tensor head length %d invalid for a %d-byte payload", headLen, n)
	}
	head := make([]byte, headLen)
	if err := r.read(head); err != nil {
		return nil, nil, err
	}
	d := &ckptDec{b: head}
	nm := make([]string, names)
	for i := range nm {
		nm[i] = d.str()
	}
	dtv := d.uvarint()
	rank := d.uvarint()
	if d.err == nil && rank > ckptMaxRank {
		d.fail("rank %d above %d", rank, ckptMaxRank)
	}
	dataLen := n - 4 - headLen
	shape := make([]int, 0, min(rank, ckptMaxRank))
	elems := uint64(1)
	for i := uint64(0); i < rank && d.err == nil; i++ {
		dim := d.uvarint()
		if d.err != nil {
			break
		}
		if dim > 1<<40 {
			d.fail("dimension %d too large", dim)
			break
		}
		shape = append(shape, int(dim))
		// Saturate instead of overflowing; the product is checked
		// against the data length below.
		if elems != 0 && dim > (1<<62)/elems {
			elems = 1 << 62
		} else {
			elems *= dim
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d unexpected bytes in tensor head", len(d.b))
	}
	dt := nn.DType(dtv)
	if d.err == nil && (dtv > math.MaxInt32 || !dt.Supported() || ckptElemSize(dt) == 0) {
		d.fail("unsupported dtype %d", dtv)
	}
	if d.err != nil {
		return nil, nil, r.errf("tensor head: %v", d.err)
	}
	size := uint64(ckptElemSize(dt))
	if elems > dataLen || elems*size != dataLen {
		return nil, nil, r.errf("tensor %q: shape %v of %v needs %d data bytes, section has %d", nm, shape, dt, elems*size, dataLen)
	}
	t := &nn.Tensor{DType: dt, Shape: shape}
	count := int(elems)
	var buf [ckptChunk]byte
	per := ckptChunk / int(size)
	switch dt.Storage() {
	case nn.StoreF32:
		t.F32 = make([]float32, count)
	case nn.StoreF64:
		t.F64 = make([]float64, count)
	case nn.StoreI64:
		t.I64 = make([]int64, count)
	case nn.StoreBool:
		t.Bool = make([]bool, count)
	}
	if raw := ckptRawBytes(t); r.raw && raw != nil {
		for lo := 0; lo < len(raw); lo += 1 << 22 {
			if err := r.read(raw[lo:min(len(raw), lo+1<<22)]); err != nil {
				return nil, nil, err
			}
		}
		return nm, t, nil
	}
	for lo := 0; lo < count; lo += per {
		hi := min(count, lo+per)
		b := buf[:(hi-lo)*int(size)]
		if err := r.read(b); err != nil {
			return nil, nil, err
		}
		switch dt.Storage() {
		case nn.StoreF32:
			for i := range t.F32[lo:hi] {
				t.F32[lo+i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		case nn.StoreF64:
			for i := range t.F64[lo:hi] {
				t.F64[lo+i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
			}
		case nn.StoreI64:
			for i := range t.I64[lo:hi] {
				t.I64[lo+i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
			}
		case nn.StoreBool:
			for i, v := range b {
				if v > 1 {
					return nil, nil, r.errf("tensor %q: bool byte %d", nm, v)
				}
				t.Bool[lo+i] = v == 1
			}
		}
	}
	return nm, t, nil
}
