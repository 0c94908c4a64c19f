package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/graftml/graft/onnx"
	"github.com/spf13/cobra"
)

type importWeightsOptions struct {
	Model, Weights, Out string
	Strict, External    bool
	verifySamples
	JSON bool
}

func newImportWeightsCmd() *cobra.Command {
	o := &importWeightsOptions{}
	cmd := &cobra.Command{
		Use:   "import-weights MODEL WEIGHTS.safetensors -o OUT.onnx [--strict] [flags]",
		Short: "Load parameters from a safetensors file into a model by name and write it, verified",
		Long: `import-weights copies the tensors of a safetensors file into the model's
parameters (initializers and Constant weights) with the same names. Every
tensor must name a parameter and have its shape; floating-point values
convert between float types. Parameters the file does not hold keep their
values (an error with --strict). The result is exported like graft export
does: re-imported and compared with the in-memory model before it is put in
place.`,
		Example: `  graft import-weights model.onnx tuned.safetensors -o tuned.onnx --strict`,
		Args:    exactArgs(2, "a model path and a .safetensors path"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Model, o.Weights = args[0], args[1]
			if o.Out == "" {
				return usageError{errors.New("-o is required")}
			}
			if o.Samples < 1 {
				return usageError{fmt.Errorf("--samples %d: must be at least 1", o.Samples)}
			}
			return runImportWeights(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Out, "out", "o", "", "write the model here (ONNX)")
	f.BoolVar(&o.Strict, "strict", false, "every model parameter must be in the weights file")
	f.BoolVar(&o.External, "external-data", false, "store the weights in an external data file beside the model")
	addVerifyFlags(f, &o.Data, &o.Norm, &o.Samples, &o.Seed)
	f.BoolVar(&o.JSON, "json", false, "print the outcome as JSON")
	return cmd
}

func runImportWeights(ctx context.Context, o *importWeightsOptions, w io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	src, err := loadExportSource(&exportOptions{Source: o.Model})
	if err != nil {
		return err
	}
	tensors, meta, err := onnx.LoadSafeTensors(o.Weights)
	if err != nil {
		return err
	}
	res, err := onnx.SetParams(src.g, tensors, o.Strict)
	if err != nil {
		return fmt.Errorf("%s into %s: %w", o.Weights, o.Model, err)
	}
	src.meta["graft.weights"] = filepath.Base(o.Weights)
	if c := meta["graft.classes"]; c != "" {
		src.meta["graft.classes"] = c
	}
	out, err := writeVerifiedONNX(ctx, src, o.Out, o.External, o.verifySamples, nil)
	if out != nil && out.Verify != nil && !o.JSON {
		out.Verify.writeTable(w)
	}
	if err != nil {
		return err
	}
	if o.JSON {
		return json.NewEncoder(w).Encode(struct {
			*exportOutcome
			Loaded    []string `json:"loaded"`
			Kept      []string `json:"kept"`
			Converted []string `json:"converted"`
		}{out, res.Loaded, res.Missing, res.Converted})
	}
	fmt.Fprintf(w, "loaded %d tensor(s) from %s", len(res.Loaded), o.Weights)
	if len(res.Missing) > 0 {
		fmt.Fprintf(w, "; %d parameter(s) kept their values: %s", len(res.Missing), strings.Join(res.Missing, ", "))
	}
	if len(res.Converted) > 0 {
		fmt.Fprintf(w, "; converted between float types: %s", strings.Join(res.Converted, ", "))
	}
	fmt.Fprintf(w, "\nwrote %s\n", strings.Join(out.Files, ", "))
	return nil
}
