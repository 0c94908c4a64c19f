package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/graftml/graft/finetune"
	"github.com/graftml/graft/finetune/plot"
	"github.com/spf13/cobra"
)

type evalOptions struct {
	finetune.EvalOptions
	Classes      string
	JSON         bool
	ConfusionCSV string
	ConfusionPNG string
}

func newEvalCmd() *cobra.Command {
	o := &evalOptions{}
	cmd := &cobra.Command{
		Use:   "eval MODEL --data DATA",
		Short: "Evaluate a classifier: loss, accuracy, top-5, per-class precision/recall/F1, confusion matrix",
		Example: `  graft eval tuned.onnx --data photos/test
  graft eval tuned.onnx --data fashion-mnist:test --classes 5-9 --json`,
		Args: exactArgs(1, "one model path"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Data == "" {
				return usageError{errors.New("--data is required")}
			}
			var err error
			if o.EvalOptions.Classes, err = finetune.ParseClasses(o.Classes); err != nil {
				return usageError{err}
			}
			path, norm, err := resolveModel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			o.Model = path
			if o.Norm == "" {
				o.Norm = norm
			}
			return runEval(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Data, "data", "", "labelled data: image folder, fashion-mnist:test or idx:IMAGES,LABELS")
	f.StringVar(&o.Classes, "classes", "", "IDX classes to keep, e.g. 5-9 (relabelled 0..)")
	f.IntVar(&o.PerClass, "per-class", 0, "use the first N samples of each class")
	f.StringVar(&o.Norm, "norm", "", "input normalization: imagenet, unit, raw255, signed or MEAN/STD")
	f.IntVar(&o.BatchSize, "batch-size", 64, "evaluation batch size")
	f.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	f.StringVar(&o.ConfusionCSV, "confusion-csv", "", "write the confusion matrix as CSV")
	f.StringVar(&o.ConfusionPNG, "confusion-png", "", "write the confusion matrix as a heat map (PNG or SVG)")
	return cmd
}

func runEval(ctx context.Context, o *evalOptions, w io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	r, err := finetune.Eval(ctx, o.EvalOptions)
	if err != nil {
		return err
	}
	if o.ConfusionCSV != "" {
		f, err := os.Create(o.ConfusionCSV)
		if err != nil {
			return err
		}
		if err := r.WriteConfusionCSV(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if o.ConfusionPNG != "" {
		if err := plot.ConfusionHeatmap(r.ConfusionMatrix, r.ClassNames, o.ConfusionPNG); err != nil {
			return err
		}
	}
	if o.JSON {
		return json.NewEncoder(w).Encode(r)
	}
	if err := r.WriteTable(w); err != nil {
		return err
	}
	fmt.Fprintln(w)
	return r.WriteConfusionTable(w)
}
