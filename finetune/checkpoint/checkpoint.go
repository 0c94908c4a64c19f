// Package checkpoint saves and restores the state of a training run so it
// can be resumed: parameter values, optimizer state, epoch and step
// counters, random-number state, the best metric so far and free-form
// metadata.
//
// # File format (version 1)
//
// All integers are little-endian. A file is a 16-byte header followed by
// sections:
//
//	header:  "GRAFTCKP" | uint32 version | uint32 CRC-32C of the previous 12 bytes
//	section: [4]byte tag | uint64 payload length | payload | uint32 CRC-32C of tag, length and payload
//
// The sections are, in order: one "META" (counters, RNG, best metric,
// optimizer name and scalars, metadata, and the number of tensor sections
// that follow), one "PARM" per parameter, one "SLOT" per optimizer slot,
// and a final "END!" with an empty payload; nothing may follow it. A PARM
// payload is uint32 head length | head (uvarint-prefixed name, dtype,
// rank, dims) | raw data; a SLOT head has the parameter name and the slot
// name. Raw data is the tensor's storage in little-endian order: float32
// for float32/float16/bfloat16 tensors (graft keeps half-precision values
// as rounded float32, so this is lossless), float64, int64 for every
// integer type, one byte (0 or 1) per bool. Sections are written in sorted
// name order, so equal checkpoints give identical files.
//
// Decoding checks every length against the bytes that remain before
// allocating, verifies every CRC, and reports a truncated or corrupt file
// as an error naming the section and offset; it never panics. Readers skip
// sections with unknown tags (they are still CRC-checked), so later
// versions can add sections; a file with a newer version number is
// rejected.
package checkpoint

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/graftml/graft/nn"
)

// FormatVersion is the version Save writes and the newest Load reads.
const FormatVersion = 1

// Well-known Metadata keys.
const (
	// MetaClassNames holds the class names as a JSON array of strings.
	MetaClassNames = "class_names"
	// MetaHeadConfig holds the classification head configuration (JSON).
	MetaHeadConfig = "head_config"
	// MetaBaseModelSHA256 holds the hex SHA-256 of the ONNX model that
	// training started from, to refuse resuming onto a different model.
	MetaBaseModelSHA256 = "base_model_sha256"
)

// Checkpoint is the resumable state of a training run.
type Checkpoint struct {
	// Version is the format version of a loaded file; Save ignores it and
	// writes FormatVersion.
	Version int
	// Epoch is the number of completed epochs: training resumes with the
	// epoch numbered Epoch+1 (counting from 1).
	Epoch int
	// GlobalStep is the number of optimizer steps taken so far.
	GlobalStep int64
	// Params maps a parameter name to its value.
	Params map[string]*nn.Tensor
	// Optimizer is the optimizer's state.
	Optimizer Optimizer
	// RNG is the random-number state; see RNG for how to use it.
	RNG RNG
	// Best records the best validation metric so far.
	Best Best
	// Metadata holds free-form strings, e.g. under MetaClassNames,
	// MetaHeadConfig and MetaBaseModelSHA256.
	Metadata map[string]string
}

// Optimizer is the state of an optimizer.
type Optimizer struct {
	// Name identifies the optimizer ("sgd", "adamw", ...), so a trainer
	// can refuse state written by a different one.
	Name string
	// Slots maps a parameter name to its named state tensors, e.g.
	// "momentum" for SGD or "m" and "v" for Adam.
	Slots map[string]map[string]*nn.Tensor
	// Scalars holds scalar state, e.g. "step" (Adam's bias-correction step
	// count) or "lr" (the current learning rate).
	Scalars map[string]float64
}

// Best records the best value of the metric used to select a model.
type Best struct {
	// Metric names the metric, e.g. "val_accuracy" or "val_loss".
	Metric string
	// Value is the best value seen.
	Value float64
	// Epoch is the epoch (counting from 1) that reached Value; 0 means
	// none yet.
	Epoch int
}

// Save writes c to path atomically: it writes a temporary file in the same
// folder, syncs it to disk, renames it over path and syncs the folder. If
// anything fails, an existing file at path is left untouched and the
// temporary file is removed.
func Save(path string, c *Checkpoint) error { return saveWith(path, c, nil) }

// saveWith is Save; wrap, when not nil, wraps the file writer (tests use
// it to inject write failures).
func saveWith(path string, c *Checkpoint, wrap func(io.Writer) io.Writer) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("checkpoint: saving %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("checkpoint: saving %s: %w", path, err)
	}
	var w io.Writer = f
	if wrap != nil {
		w = wrap(f)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := Encode(bw, c); err != nil {
		return fmt.Errorf("checkpoint: saving %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("checkpoint: saving %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("checkpoint: saving %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("checkpoint: saving %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("checkpoint: saving %s: %w", path, err)
	}
	// The file is in place; a failing directory sync only weakens
	// durability across a crash, so it is reported but nothing is undone.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("checkpoint: saved %s but syncing its folder failed: %w", path, err)
	}
	return nil
}

// syncDir flushes the directory entry changes of dir to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Load reads a checkpoint written by Save.
func Load(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("checkpoint: %s is not a regular file", path)
	}
	c, err := Decode(bufio.NewReaderSize(f, 1<<20), st.Size())
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return c, nil
}
