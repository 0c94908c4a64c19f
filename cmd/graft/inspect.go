package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/graftml/graft/onnx"
	"github.com/spf13/cobra"
)

type inspectOptions struct {
	Model    string
	JSON     bool
	NoLayers bool
}

func newInspectCmd() *cobra.Command {
	opts := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect MODEL",
		Short: "Describe an ONNX model: inputs, outputs, layers, parameters, FLOPs, unsupported ops",
		Example: `  graft inspect testdata/models/lenet.onnx
  graft inspect model.onnx --json`,
		Args: exactArgs(1, "one model path"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, _, err := resolveModel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			opts.Model = path
			return runInspect(opts, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&opts.NoLayers, "no-layers", false, "omit the per-layer table")
	return cmd
}

func runInspect(opts *inspectOptions, w io.Writer) error {
	r, err := onnx.Inspect(opts.Model)
	if err != nil {
		return err
	}
	if opts.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "Model     %s\n", r.Path)
	prod := strings.TrimSpace(r.Producer + " " + r.ProducerVersion)
	if prod == "" {
		prod = "(not recorded)"
	}
	fmt.Fprintf(w, "Producer  %s\n", prod)
	fmt.Fprintf(w, "IR        %d\n", r.IRVersion)
	fmt.Fprintf(w, "Opsets    %s\n", onnx.OpsetString(r.Opsets))
	if len(r.Metadata) > 0 {
		keys := make([]string, 0, len(r.Metadata))
		for k := range r.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "Metadata  %s = %s\n", k, r.Metadata[k])
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INPUT\tTYPE\tSHAPE")
	for _, v := range r.Inputs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, v.DType, v.Shape)
	}
	fmt.Fprintln(tw, "\t\t")
	fmt.Fprintln(tw, "OUTPUT\tTYPE\tSHAPE")
	for _, v := range r.Outputs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, v.DType, v.Shape)
	}
	tw.Flush()
	if !opts.NoLayers {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "#\tLAYER\tOP\tOUTPUT SHAPE (batch 1)\tPARAMS\tFLOPS\t")
		for i, l := range r.Layers {
			shape := l.Shape
			if shape == "" {
				shape = "-"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t\n", i, truncate(l.Name, 40), l.Op, shape, count(l.Params), count(l.FLOPs))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Layers      %d\n", len(r.Layers))
	fmt.Fprintf(w, "Parameters  %s in %d tensors\n", count(r.Params), r.ParamTensors)
	if r.ShapeError == "" {
		fmt.Fprintf(w, "FLOPs       %s at batch 1\n", count(r.FLOPs))
	} else {
		fmt.Fprintf(w, "FLOPs       unknown: %s\n", r.ShapeError)
	}
	if len(r.Unsupported) == 0 {
		fmt.Fprintln(w, "Supported   yes: every op runs in graft")
	} else {
		fmt.Fprintf(w, "Supported   no: %d unsupported op type(s)\n", len(r.Unsupported))
		for _, u := range r.Unsupported {
			fmt.Fprintf(w, "  %s (opset %d) ×%d, e.g. %s\n", u.OpType, u.Opset, u.Count, strings.Join(u.Nodes, ", "))
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// count formats an integer with SI suffixes (1.2K, 3.4M, 5.6G).
func count(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
