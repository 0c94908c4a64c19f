package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/graftml/graft/convert"
	"github.com/spf13/cobra"
)

type convertOptions struct {
	convert.FileOptions
	quantFlags
	Model, Out string
	All, JSON  bool
}

func newConvertCmd() *cobra.Command {
	o := &convertOptions{}
	cmd := &cobra.Command{
		Use:   "convert MODEL -o OUT [--fold-bn] [--fold-constants] [--remove-identity] [--fuse-bias] [--eliminate-dead] [--fp16 [--fp16-io] | --fp16-weights] [--opset N] [--all] [--int8-dynamic | --int8-static --data DATA [--calib-samples N]]",
		Short: "Optimize a model for serving (fold batch norms and constants, drop identities, float16 weights), verified",
		Long: `convert rewrites a model for serving and writes it as ONNX. Each transform is
selected by a flag; --all selects every exact one (all but the float16 ones). The written
file is verified: seeded random inputs run through the original model and the
written file (re-imported by graft, and in onnxruntime when it is available);
the largest error of each output, relative to the output's largest magnitude,
must stay below 1e-5 (1e-2 with --fp16), otherwise nothing is written.

--fp16 converts the whole graph to float16 (weights, constants, activations);
Cast nodes keep the inputs and outputs float32 unless --fp16-io. --fp16-weights
only stores the weights as float16, with a Cast back to float32 after each
(activations stay float32). graft computes float16 tensors in float32 with
float16 rounding, so it verifies both; onnxruntime cannot be checked with
--fp16-io (its Go binding returns no float16 outputs of dynamic shape).

--int8-dynamic stores the weights of Gemm and MatMul as int8 (symmetric, one
scale per output column, or per matrix with --per-tensor) and quantizes their
input at run time (DynamicQuantizeLinear, MatMulInteger, Cast, Mul, Add: the
form of onnxruntime's quantize_dynamic). --int8-static writes a QDQ model:
int8 weights of Conv, Gemm and MatMul (per output channel) and int32 biases
behind DequantizeLinear, and uint8 QuantizeLinear/DequantizeLinear pairs on
the activations around them, whose ranges are calibrated on --calib-samples
samples of --data (in the model's recorded normalization). Both run the exact
transforms first (every one unless some are selected). The int8 model is
verified against the float one (max rel 0.1; on --data samples when given) and
in onnxruntime against graft on the same file.

--opset N rewrites the model for ai.onnx opset N (11..21): attributes that
became inputs and back (Squeeze/Unsqueeze, Reduce*, Split, Clip, Pad, Dropout),
Resize/Upsample, BatchNormalization, Softmax axes, LayerNormalization and Gelu
decomposed below their opsets. Nodes that cannot be converted are listed and
nothing is written.`,
		Example: `  graft convert resnet.onnx -o resnet_serving.onnx --all
  graft convert model.onnx -o model_fp16.onnx --all --fp16 --json
  graft convert lenet.onnx -o lenet_int8.onnx --int8-dynamic
  graft convert cnn.onnx -o cnn_qdq.onnx --int8-static --data fashion-mnist:train --calib-samples 512
  graft convert model_opset17.onnx -o model_opset13.onnx --opset 13`,
		Args: exactArgs(1, "one model path"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, _, err := resolveModel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			o.Model = path
			if o.Out == "" {
				return usageError{errors.New("-o OUT is required")}
			}
			if o.FP16IO {
				o.FP16 = true
			}
			if o.quantFlags.any() {
				if o.Int8Dynamic && o.Int8Static {
					return usageError{errors.New("--int8-dynamic and --int8-static exclude each other")}
				}
				if o.FP16 || o.FP16Weights {
					return usageError{errors.New("int8 and float16 conversions exclude each other")}
				}
				if o.Int8Static && o.Data == "" {
					return usageError{errors.New("--int8-static needs calibration data (--data)")}
				}
				if o.Samples < 1 {
					return usageError{fmt.Errorf("--samples must be >= 1, got %d", o.Samples)}
				}
				if o.All {
					o.Options = convert.All()
				}
				return runQuantize(o, cmd.OutOrStdout())
			}
			if o.Data != "" {
				return usageError{errors.New("--data only goes with --int8-static or --int8-dynamic")}
			}
			if o.All {
				opset := o.Opset
				fp16, io, w := o.FP16, o.FP16IO, o.FP16Weights
				o.Options = convert.All()
				o.FP16, o.FP16IO, o.FP16Weights = fp16, io, w
				o.Opset = opset
			}
			if !o.Options.Any() {
				return usageError{errors.New("select a transform (--fold-bn, --fold-constants, --remove-identity, --fuse-bias, --eliminate-dead, --fp16, --fp16-weights, --all, --int8-dynamic or --int8-static)")}
			}
			if o.FP16 && o.FP16Weights {
				return usageError{errors.New("--fp16 and --fp16-weights exclude each other")}
			}
			if o.Opset != 0 && (o.Opset < convert.MinTargetOpset || o.Opset > convert.MaxTargetOpset) {
				return usageError{fmt.Errorf("--opset must be in %d..%d, got %d", convert.MinTargetOpset, convert.MaxTargetOpset, o.Opset)}
			}
			if o.Samples < 1 {
				return usageError{fmt.Errorf("--samples must be >= 1, got %d", o.Samples)}
			}
			return runConvert(o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Out, "output", "o", "", "write the converted model here")
	f.BoolVar(&o.FoldBN, "fold-bn", false, "fold BatchNormalization into the preceding Conv, ConvTranspose or Gemm")
	f.BoolVar(&o.FoldConstants, "fold-constants", false, "write constant-folded values as initializers and drop the nodes computing them")
	f.BoolVar(&o.RemoveIdentity, "remove-identity", false, "remove Identity and inference-mode Dropout nodes")
	f.BoolVar(&o.FuseBias, "fuse-bias", false, "fuse a constant per-channel Add after a Conv or Gemm into its bias")
	f.BoolVar(&o.EliminateDead, "eliminate-dead", false, "remove nodes and initializers no output depends on")
	f.BoolVar(&o.FP16, "fp16", false, "convert the graph to float16, inputs and outputs stay float32 (looser 1e-2 tolerance)")
	f.BoolVar(&o.FP16IO, "fp16-io", false, "with --fp16: float16 inputs and outputs too")
	f.BoolVar(&o.FP16Weights, "fp16-weights", false, "only store the weights as float16, cast to float32 at run time (1e-2 tolerance)")
	f.IntVar(&o.Opset, "opset", 0, "convert to this ai.onnx opset (11..21) before the other transforms")
	f.BoolVar(&o.All, "all", false, "every exact transform (all but the float16 ones)")
	f.BoolVar(&o.Int8Dynamic, "int8-dynamic", false, "int8 weights for Gemm/MatMul, activations quantized at run time")
	f.BoolVar(&o.Int8Static, "int8-static", false, "int8 QDQ model calibrated on --data")
	f.StringVar(&o.Data, "data", "", "calibration (and verification) data: image folder, fashion-mnist:train|test or idx:IMAGES,LABELS")
	f.IntVar(&o.CalibSamples, "calib-samples", 512, "calibration samples drawn from --data")
	f.BoolVar(&o.PerTensor, "per-tensor", false, "with --int8-*: one weight scale per tensor instead of per output channel")
	f.IntVar(&o.Samples, "samples", 3, "random input batches used to verify the result")
	f.Int64Var(&o.Seed, "seed", 1, "seed of the verification inputs")
	f.BoolVar(&o.NoORT, "no-ort", false, "do not verify in onnxruntime even when it is available")
	f.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	return cmd
}

// runConvert converts o.Model into o.Out and prints the report. A failed
// verification prints the report too, then returns the error.
func runConvert(o *convertOptions, w io.Writer) error {
	r, err := convert.ConvertFile(o.Model, o.Out, o.FileOptions)
	if r == nil {
		return err
	}
	if o.JSON {
		if e := json.NewEncoder(w).Encode(r); e != nil {
			return e
		}
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s -> %s\n", r.Input, r.Output)
	fmt.Fprintf(tw, "nodes\t%d -> %d\n", r.NodesBefore, r.NodesAfter)
	fmt.Fprintf(tw, "size\t%s -> %s\n", byteSize(r.BytesBefore), byteSize(r.BytesAfter))
	for _, p := range r.Passes {
		fmt.Fprintf(tw, "%s\t%d change(s)\n", p.Pass, p.Changed)
	}
	tw.Flush()
	fmt.Fprintf(w, "verification (%d samples, tolerance %g relative to the output's largest magnitude):\n", r.Samples, r.Tolerance)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  output\tgraft max abs\tmax rel\tonnxruntime max abs\tmax rel")
	for i, e := range r.Errors {
		ortAbs, ortRel := "-", "-"
		if i < len(r.ORTErrors) {
			ortAbs, ortRel = fmt.Sprintf("%.3g", r.ORTErrors[i].MaxAbs), fmt.Sprintf("%.3g", r.ORTErrors[i].MaxRel)
		}
		fmt.Fprintf(tw, "  %s\t%.3g\t%.3g\t%s\t%s\n", e.Name, e.MaxAbs, e.MaxRel, ortAbs, ortRel)
	}
	tw.Flush()
	if r.ORT != "checked" {
		fmt.Fprintf(w, "onnxruntime: %s\n", r.ORT)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", r.Output)
	return nil
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
