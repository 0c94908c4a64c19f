// Package plot records and draws the progress of a training run: the
// per-epoch history (EpochRecord) as CSV or JSON, loss and accuracy curves,
// and confusion-matrix heat maps, as PNG or SVG files.
package plot

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// EpochRecord is one line of the training history. It has the same fields
// as finetune.EpochRecord, so a conversion plot.EpochRecord(rec) works. Values that are not
// known (e.g. the validation metrics of a run without a validation set) are
// NaN; they are written as an empty CSV field and as JSON null, and read
// back as NaN.
type EpochRecord struct {
	// Epoch counts from 1.
	Epoch     int     `json:"epoch" csv:"epoch"`
	TrainLoss float64 `json:"train_loss" csv:"train_loss"`
	TrainAcc  float64 `json:"train_accuracy" csv:"train_accuracy"`
	ValLoss   float64 `json:"val_loss" csv:"val_loss"`
	ValAcc    float64 `json:"val_accuracy" csv:"val_accuracy"`
	// LR is the learning rate at the end of the epoch.
	LR float64 `json:"lr" csv:"lr"`
	// Seconds is the wall-clock duration of the epoch (training plus
	// validation).
	Seconds float64 `json:"seconds" csv:"seconds"`
}

// csvColumns returns the CSV header names, in file order; they match the
// csv tags of EpochRecord.
func csvColumns() [7]string {
	return [7]string{"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"}
}

// floats returns pointers to the float fields, in csvColumns order after
// "epoch".
func (r *EpochRecord) floats() [6]*float64 {
	return [6]*float64{&r.TrainLoss, &r.TrainAcc, &r.ValLoss, &r.ValAcc, &r.LR, &r.Seconds}
}

// jsonFloat is a float64 whose non-finite values are JSON null.
type jsonFloat float64

// MarshalJSON writes null for NaN and infinities.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads null as NaN.
func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = jsonFloat(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}

// epochJSON is the JSON form of EpochRecord.
type epochJSON struct {
	Epoch     int       `json:"epoch"`
	TrainLoss jsonFloat `json:"train_loss"`
	TrainAcc  jsonFloat `json:"train_accuracy"`
	ValLoss   jsonFloat `json:"val_loss"`
	ValAcc    jsonFloat `json:"val_accuracy"`
	LR        jsonFloat `json:"lr"`
	Seconds   jsonFloat `json:"seconds"`
}

// MarshalJSON encodes the record, writing non-finite values as null.
func (r EpochRecord) MarshalJSON() ([]byte, error) {
	return json.Marshal(epochJSON{r.Epoch, jsonFloat(r.TrainLoss), jsonFloat(r.TrainAcc),
		jsonFloat(r.ValLoss), jsonFloat(r.ValAcc), jsonFloat(r.LR), jsonFloat(r.Seconds)})
}

// UnmarshalJSON decodes a record; null and missing values become NaN.
func (r *EpochRecord) UnmarshalJSON(b []byte) error {
	nan := jsonFloat(math.NaN())
	e := epochJSON{TrainLoss: nan, TrainAcc: nan, ValLoss: nan, ValAcc: nan, LR: nan, Seconds: nan}
	if err := json.Unmarshal(b, &e); err != nil {
		return err
	}
	*r = EpochRecord{e.Epoch, float64(e.TrainLoss), float64(e.TrainAcc), float64(e.ValLoss),
		float64(e.ValAcc), float64(e.LR), float64(e.Seconds)}
	return nil
}

// WriteJSON writes history as an indented JSON array (metrics.json).
func WriteJSON(w io.Writer, history []EpochRecord) error {
	if history == nil {
		history = []EpochRecord{}
	}
	b, err := json.MarshalIndent(history, "", "  ")
	if err != nil {
		return fmt.Errorf("plot: encoding history: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("plot: writing history JSON: %w", err)
	}
	return nil
}

// ReadJSON reads a history written by WriteJSON.
func ReadJSON(r io.Reader) ([]EpochRecord, error) {
	var h []EpochRecord
	if err := json.NewDecoder(r).Decode(&h); err != nil {
		return nil, fmt.Errorf("plot: reading history JSON: %w", err)
	}
	return h, nil
}

// formatCSVFloat writes v with the shortest exact representation, and NaN
// as an empty field.
func formatCSVFloat(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// WriteCSV writes history as CSV (metrics.csv) with the header
// epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds. Unknown (NaN)
// values are empty fields; numbers use the shortest representation that
// reads back exactly.
func WriteCSV(w io.Writer, history []EpochRecord) error {
	cols := csvColumns()
	cw := csv.NewWriter(w)
	if err := cw.Write(cols[:]); err != nil {
		return fmt.Errorf("plot: writing history CSV: %w", err)
	}
	rec := make([]string, len(cols))
	for i := range history {
		rec[0] = strconv.Itoa(history[i].Epoch)
		for j, p := range history[i].floats() {
			rec[j+1] = formatCSVFloat(*p)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("plot: writing history CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("plot: writing history CSV: %w", err)
	}
	return nil
}

// ReadCSV reads a history written by WriteCSV. Columns are matched by
// header name, so their order may differ and unknown columns are ignored;
// the epoch column is required, a missing value column reads as NaN.
func ReadCSV(r io.Reader) ([]EpochRecord, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("plot: reading history CSV: empty input")
		}
		return nil, fmt.Errorf("plot: reading history CSV header: %w", err)
	}
	cols := csvColumns()
	idx := make([]int, len(cols)) // column of each field, -1 if absent
	for i := range idx {
		idx[i] = -1
		for j, h := range header {
			if h == cols[i] {
				idx[i] = j
			}
		}
	}
	if idx[0] < 0 {
		return nil, fmt.Errorf("plot: history CSV header %q has no epoch column", header)
	}
	var out []EpochRecord
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("plot: reading history CSV: %w", err)
		}
		var e EpochRecord
		if e.Epoch, err = strconv.Atoi(rec[idx[0]]); err != nil {
			return nil, fmt.Errorf("plot: history CSV line %d: epoch %q: %w", line, rec[idx[0]], err)
		}
		for j, p := range e.floats() {
			*p = math.NaN()
			c := idx[j+1]
			if c < 0 || rec[c] == "" {
				continue
			}
			if *p, err = strconv.ParseFloat(rec[c], 64); err != nil {
				return nil, fmt.Errorf("plot: history CSV line %d: %s %q: %w", line, cols[j+1], rec[c], err)
			}
		}
		out = append(out, e)
	}
}
