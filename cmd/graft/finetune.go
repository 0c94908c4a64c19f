package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/graftml/graft/finetune"
	"github.com/graftml/graft/finetune/data"
	"github.com/spf13/cobra"
)

type finetuneOptions struct {
	finetune.Options
	Optimizer, Augment, Classes string
	JSON, Quiet                 bool
	phase2Epochs                int
	phase2Freeze                string
	phase2LR                    float64
	config                      string
}

func newFinetuneCmd() *cobra.Command {
	o := &finetuneOptions{}
	o.Config = finetune.Config{Epochs: 10, BatchSize: 32, LR: 1e-3, Seed: 1}
	cmd := &cobra.Command{
		Use:   "finetune MODEL --data DATA [flags]",
		Short: "Fine-tune a model on your data: new head, frozen layers, training loop, verified ONNX export",
		Example: `  graft finetune model.onnx --data photos/ --epochs 10 -o tuned.onnx
  graft finetune mnist-8.onnx --data fashion-mnist:train --per-class 100 --test-data fashion-mnist:test \
      --norm raw255 --optimizer adam --lr 1e-3 --epochs 30 -o tuned.onnx`,
		Args: exactArgs(1, "one model path"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.config != "" {
				if err := applyConfig(cmd, o.config); err != nil {
					return err
				}
			}
			if o.TrainData == "" {
				return usageError{errors.New("--data is required")}
			}
			var err error
			if o.Options.Classes, err = finetune.ParseClasses(o.Classes); err != nil {
				return usageError{err}
			}
			if o.Augment != "" {
				if o.Config.Augment, err = data.ParseAugment(o.Augment); err != nil {
					return usageError{err}
				}
			}
			path, norm, err := resolveModel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			o.Model = path
			if o.Norm == "" {
				o.Norm = norm
			}
			o.Config.Optimizer.Name = o.Optimizer
			if o.phase2Epochs > 0 {
				lr := o.phase2LR
				if lr == 0 {
					lr = o.Config.LR / 10
				}
				o.Config.Phase2 = &finetune.PhaseConfig{Epochs: o.phase2Epochs, Freeze: o.phase2Freeze, LR: lr}
			}
			return runFinetune(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.TrainData, "data", "", "training data: image folder, fashion-mnist:train or idx:IMAGES,LABELS")
	f.StringVar(&o.ValData, "val-data", "", "validation data (same forms as --data)")
	f.StringVar(&o.TestData, "test-data", "", "test data evaluated after training")
	f.Float64Var(&o.ValSplit, "val-split", 0, "hold out this fraction of the training data for validation")
	f.StringVar(&o.Classes, "classes", "", "IDX classes to keep, e.g. 5-9 (relabelled 0..)")
	f.IntVar(&o.PerClass, "per-class", 0, "keep the first N training samples of each class (IDX data)")
	f.StringVar(&o.Norm, "norm", "", "input normalization: imagenet, unit, raw255, signed or MEAN/STD")
	f.IntVar(&o.NumClasses, "num-classes", 0, "replace the classifier with one of N outputs (default: the data's class count when it differs)")
	f.StringVar(&o.Cut, "cut", "", "attach a new head after this node instead of replacing the classifier")
	f.IntVar(&o.phase2Epochs, "phase2-epochs", 0, "after --epochs, train this many more epochs with --phase2-freeze and --phase2-lr")
	f.StringVar(&o.phase2Freeze, "phase2-freeze", "none", "freeze spec of the second phase")
	f.Float64Var(&o.phase2LR, "phase2-lr", 0, "learning rate of the second phase (default: --lr / 10)")
	f.StringVar(&o.Config.Freeze, "freeze", "all-but-head", "what to freeze: all-but-head, none, all, until=NODE, last=N, freeze=RE, train=RE (comma-combined)")
	f.StringVar(&o.Config.BN, "bn", "auto", "BatchNormalization in training: auto (frozen layers use running stats), frozen, train")
	f.IntVar(&o.Config.Epochs, "epochs", 10, "training epochs")
	f.IntVar(&o.Config.BatchSize, "batch-size", 32, "mini-batch size")
	f.Float64Var(&o.Config.LR, "lr", 1e-3, "learning rate")
	f.StringVar(&o.Optimizer, "optimizer", "adam", "sgd, adam or adamw")
	f.Float64Var(&o.Config.Optimizer.Momentum, "momentum", 0.9, "SGD momentum")
	f.BoolVar(&o.Config.Optimizer.Nesterov, "nesterov", false, "SGD Nesterov momentum")
	f.Float64Var(&o.Config.Optimizer.WeightDecay, "weight-decay", 0, "weight decay (decoupled for adamw)")
	f.StringVar(&o.Config.Schedule, "schedule", "constant", "learning-rate schedule: constant, step:E:G, cosine, warmup:W[+S], plateau:P:F")
	f.Float64Var(&o.Config.ClipNorm, "clip-norm", 0, "clip the global gradient norm (0: off)")
	f.Float64Var(&o.Config.LabelSmoothing, "label-smoothing", 0, "label smoothing for cross-entropy")
	f.StringVar(&o.Config.Loss, "loss", "cross-entropy", "cross-entropy, bce or mse")
	f.StringVar(&o.Augment, "augment", "", "augmentation, e.g. flip,crop:4,rrc")
	f.BoolVar(&o.Config.NoFeatureCache, "no-feature-cache", false, "run the frozen prefix every epoch instead of caching its activations")
	f.IntVar(&o.Config.EarlyStopping, "early-stopping", 0, "stop after N epochs without validation improvement and restore the best weights")
	f.Int64Var(&o.Config.Seed, "seed", 1, "random seed (shuffling, head initialization, augmentation)")
	f.StringVar(&o.Config.Checkpoint, "checkpoint", "", "write a checkpoint here after every epoch (atomic)")
	f.StringVar(&o.Config.Resume, "resume", "", "continue from a checkpoint of the same run")
	f.StringVarP(&o.Out, "out", "o", "", "write the fine-tuned model here (ONNX, verified after writing)")
	f.StringVar(&o.ReportDir, "report-dir", "", "write metrics.csv, metrics.json, curves and confusion matrix here")
	f.StringVar(&o.config, "config", "", "YAML file of settings named like the flags (flags given on the command line win)")
	f.BoolVar(&o.JSON, "json", false, "print the outcome as JSON")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "no per-epoch lines")
	return cmd
}

func runFinetune(ctx context.Context, o *finetuneOptions, w io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if !o.Quiet && !o.JSON {
		o.Config.Log = w
	}
	out, err := finetune.Run(ctx, o.Options)
	if errors.Is(err, context.Canceled) {
		if o.Config.Checkpoint != "" {
			return fmt.Errorf("interrupted; completed epochs are in %s (continue with --resume %s)", o.Config.Checkpoint, o.Config.Checkpoint)
		}
		return errors.New("interrupted (use --checkpoint to be able to resume)")
	}
	if err != nil {
		return err
	}
	if o.JSON {
		return json.NewEncoder(w).Encode(out)
	}
	fmt.Fprintf(w, "\ntrained %d epochs in %.1fs (%d trainable, %d frozen parameters)\n", len(out.History), out.TrainSeconds, out.Trainable, out.Frozen)
	if out.Test != nil {
		fmt.Fprintf(w, "test: accuracy %.4f, loss %.4f on %d samples\n", out.Test.Accuracy, out.Test.Loss, out.Test.NumSamples)
		out.Test.WriteTable(w)
	}
	if out.Out != "" {
		fmt.Fprintf(w, "wrote %s (re-imported and checked: max |diff| %.2g)\n", out.Out, out.ExportMaxDiff)
	}
	if o.ReportDir != "" {
		fmt.Fprintf(w, "reports in %s\n", o.ReportDir)
	}
	return nil
}
