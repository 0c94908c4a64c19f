package metrics

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
)

// WriteTable writes the report as an aligned text table with 4 decimals;
// see WriteTableDigits.
func (r *Report) WriteTable(w io.Writer) error { return r.WriteTableDigits(w, 4) }

// WriteTableDigits writes the report as an aligned text table laid out like
// scikit-learn's classification_report (per-class rows, then the accuracy,
// macro avg and weighted avg rows), followed by the loss and, when known,
// the top-5 accuracy. digits is the number of decimals (clamped to 0..10).
func (r *Report) WriteTableDigits(w io.Writer, digits int) error {
	digits = max(0, min(digits, 10))
	const lastHeading = "weighted avg"
	width := max(len(lastHeading), digits)
	for _, c := range r.PerClass {
		width = max(width, len(c.Class))
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%*s  %9s %9s %9s %9s\n\n", width, "", "precision", "recall", "f1-score", "support")
	row := func(name string, p, rc, f float64, support int) {
		fmt.Fprintf(bw, "%*s  %9.*f %9.*f %9.*f %9d\n", width, name, digits, p, digits, rc, digits, f, support)
	}
	single := func(name string, v float64, support int) {
		fmt.Fprintf(bw, "%*s  %9s %9s %9.*f %9d\n", width, name, "", "", digits, v, support)
	}
	for _, c := range r.PerClass {
		row(c.Class, c.Precision, c.Recall, c.F1, c.Support)
	}
	bw.WriteString("\n")
	single("accuracy", r.Accuracy, r.NumSamples)
	row("macro avg", r.MacroAvg.Precision, r.MacroAvg.Recall, r.MacroAvg.F1, r.MacroAvg.Support)
	row("weighted avg", r.WeightedAvg.Precision, r.WeightedAvg.Recall, r.WeightedAvg.F1, r.WeightedAvg.Support)
	if !math.IsNaN(r.Loss) || r.Top5Accuracy != nil {
		bw.WriteString("\n")
	}
	if !math.IsNaN(r.Loss) {
		fmt.Fprintf(bw, "%*s  %9s %9s %9.*f %9d\n", width, "loss", "", "", max(digits, 4), r.Loss, r.NumSamples)
	}
	if r.Top5Accuracy != nil {
		single("top-5 acc", *r.Top5Accuracy, r.NumSamples)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("metrics: writing report table: %w", err)
	}
	return nil
}

// WriteJSON writes the report as indented JSON (see Report for the keys).
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("metrics: encoding report: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("metrics: writing report JSON: %w", err)
	}
	return nil
}

// WriteConfusionTable writes the confusion matrix as an aligned text table:
// one row per true class, one column per predicted class.
func (r *Report) WriteConfusionTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "true\\pred\t")
	for _, n := range r.ClassNames {
		fmt.Fprintf(tw, "%s\t", n)
	}
	fmt.Fprint(tw, "\n")
	for i, row := range r.ConfusionMatrix {
		name := strconv.Itoa(i)
		if i < len(r.ClassNames) {
			name = r.ClassNames[i]
		}
		fmt.Fprintf(tw, "%s\t", name)
		for _, v := range row {
			fmt.Fprintf(tw, "%d\t", v)
		}
		fmt.Fprint(tw, "\n")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("metrics: writing confusion table: %w", err)
	}
	return nil
}

// WriteConfusionCSV writes the confusion matrix as CSV: a header
// "true\pred,<class names...>", then one row per true class starting with
// its name.
func (r *Report) WriteConfusionCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := append([]string{"true\\pred"}, r.ClassNames...)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("metrics: writing confusion CSV: %w", err)
	}
	rec := make([]string, 0, len(r.ClassNames)+1)
	for i, row := range r.ConfusionMatrix {
		rec = rec[:0]
		name := strconv.Itoa(i)
		if i < len(r.ClassNames) {
			name = r.ClassNames[i]
		}
		rec = append(rec, name)
		for _, v := range row {
			rec = append(rec, strconv.Itoa(v))
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("metrics: writing confusion CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("metrics: writing confusion CSV: %w", err)
	}
	return nil
}
