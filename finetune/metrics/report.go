package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// ClassReport holds the metrics of one class.
type ClassReport struct {
	Class     string  `json:"class"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// Support is the number of samples whose true class is this one.
	Support int `json:"support"`
}

// Average holds averaged precision, recall and F1 over the classes.
type Average struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// Support is the total number of samples.
	Support int `json:"support"`
}

// Report is the result of an evaluation. Precision, recall and F1 follow
// scikit-learn with zero_division=0: a class that is never predicted has
// precision 0, a class without samples has recall 0, and F1 is 0 when both
// are 0. Every class in [0, NumClasses) is listed and counts in the macro
// average, even one with no samples and no predictions.
//
// Loss is the mean cross-entropy; it is NaN when unknown (a report built
// from a Confusion alone) or when the model produced non-finite values.
// In JSON a non-finite Loss is written as null and null reads back as NaN.
type Report struct {
	Accuracy float64 `json:"accuracy"`
	// Top5Accuracy is set only when the model has more than 5 classes.
	Top5Accuracy    *float64      `json:"top5_accuracy,omitempty"`
	Loss            float64       `json:"loss"`
	PerClass        []ClassReport `json:"per_class"`
	MacroAvg        Average       `json:"macro_avg"`
	WeightedAvg     Average       `json:"weighted_avg"`
	ConfusionMatrix [][]int       `json:"confusion_matrix"`
	NumSamples      int           `json:"num_samples"`
	ClassNames      []string      `json:"class_names"`
}

// reportPlain has Report's fields without its methods.
type reportPlain Report

// MarshalJSON encodes the report, writing a non-finite Loss as null
// (encoding/json rejects NaN and infinities).
func (r Report) MarshalJSON() ([]byte, error) {
	aux := struct {
		reportPlain
		Loss *float64 `json:"loss"`
	}{reportPlain: reportPlain(r)}
	if !math.IsNaN(r.Loss) && !math.IsInf(r.Loss, 0) {
		l := r.Loss
		aux.Loss = &l
	}
	return json.Marshal(aux)
}

// UnmarshalJSON decodes a report; a null or missing loss becomes NaN.
func (r *Report) UnmarshalJSON(data []byte) error {
	aux := struct {
		*reportPlain
		Loss *float64 `json:"loss"`
	}{reportPlain: (*reportPlain)(r)}
	if err := json.Unmarshal(data, &aux); err != nil {
		return err
	}
	r.Loss = math.NaN()
	if aux.Loss != nil {
		r.Loss = *aux.Loss
	}
	return nil
}

// classNamesFor returns names for n classes: names itself when it has n
// entries, the decimal class indices when it is empty.
func classNamesFor(n int, names []string) ([]string, error) {
	if len(names) == 0 {
		out := make([]string, n)
		for i := range out {
			out[i] = strconv.Itoa(i)
		}
		return out, nil
	}
	if len(names) != n {
		return nil, fmt.Errorf("metrics: %d class names for %d classes", len(names), n)
	}
	return append([]string(nil), names...), nil
}

// Report computes per-class and averaged metrics from the matrix. The loss
// is unknown (NaN) and there is no top-5 accuracy. classNames may be empty
// (classes are then named "0", "1", ...) or have NumClasses entries.
func (c *Confusion) Report(classNames []string) (*Report, error) {
	names, err := classNamesFor(c.NumClasses, classNames)
	if err != nil {
		return nil, err
	}
	n := c.NumClasses
	predCount := make([]int, n)
	for _, row := range c.Counts {
		for p, v := range row {
			predCount[p] += v
		}
	}
	r := &Report{
		Loss:            math.NaN(),
		PerClass:        make([]ClassReport, n),
		ConfusionMatrix: c.Matrix(),
		ClassNames:      names,
	}
	total, correct := 0, 0
	var mP, mR, mF, wP, wR, wF float64
	for i := 0; i < n; i++ {
		tp := c.Counts[i][i]
		support := 0
		for _, v := range c.Counts[i] {
			support += v
		}
		fp := predCount[i] - tp
		fn := support - tp
		cr := ClassReport{Class: names[i], Support: support}
		if predCount[i] > 0 {
			cr.Precision = float64(tp) / float64(predCount[i])
		}
		if support > 0 {
			cr.Recall = float64(tp) / float64(support)
		}
		if d := 2*tp + fp + fn; d > 0 {
			cr.F1 = float64(2*tp) / float64(d)
		}
		r.PerClass[i] = cr
		total += support
		correct += tp
		mP += cr.Precision
		mR += cr.Recall
		mF += cr.F1
		wP += cr.Precision * float64(support)
		wR += cr.Recall * float64(support)
		wF += cr.F1 * float64(support)
	}
	r.NumSamples = total
	r.MacroAvg = Average{Precision: mP / float64(n), Recall: mR / float64(n), F1: mF / float64(n), Support: total}
	r.WeightedAvg = Average{Support: total}
	if total > 0 {
		r.Accuracy = float64(correct) / float64(total)
		t := float64(total)
		r.WeightedAvg.Precision, r.WeightedAvg.Recall, r.WeightedAvg.F1 = wP/t, wR/t, wF/t
	}
	return r, nil
}
