package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/spf13/cobra"
)

type runOptions struct {
	Model     string
	Inputs    []string
	OutputDir string
	Format    string
	TestData  string
	RTol      float64
	ATol      float64
	JSON      bool
}

func newRunCmd() *cobra.Command {
	opts := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run MODEL (--input NAME=FILE ... --output-dir DIR | --test-data DIR)",
		Short: "Run a model on tensors from .npy/.pb files, or check it against ONNX test data",
		Example: `  graft run model.onnx --input input=x.npy --output-dir out/
  graft run model.onnx --test-data model/test_data_set_0`,
		Args: exactArgs(1, "one model path"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, _, err := resolveModel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			opts.Model = path
			if (opts.TestData == "") == (len(opts.Inputs) == 0) {
				return usageError{errors.New("give either --input NAME=FILE (with --output-dir) or --test-data DIR")}
			}
			if opts.Format != "npy" && opts.Format != "pb" {
				return usageError{fmt.Errorf("--format %q: must be npy or pb", opts.Format)}
			}
			return runRun(cmd.Context(), opts, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts.Inputs, "input", "i", nil, "input tensor as NAME=FILE (.npy or ONNX TensorProto .pb); NAME may be omitted for a single-input model")
	f.StringVarP(&opts.OutputDir, "output-dir", "o", "", "folder for the outputs (default: print a summary only)")
	f.StringVar(&opts.Format, "format", "npy", "output file format: npy or pb")
	f.StringVar(&opts.TestData, "test-data", "", "ONNX test data: a test_data_set_N folder, or a folder holding several")
	f.Float64Var(&opts.RTol, "rtol", 1e-4, "relative tolerance for --test-data")
	f.Float64Var(&opts.ATol, "atol", 1e-5, "absolute tolerance for --test-data")
	f.BoolVar(&opts.JSON, "json", false, "print results as JSON")
	return cmd
}

func runRun(ctx context.Context, opts *runOptions, w io.Writer) error {
	g, err := onnx.LoadGraph(opts.Model)
	if err != nil {
		return err
	}
	if opts.TestData != "" {
		return runTestData(ctx, g, opts, w)
	}
	feed, err := readInputs(g, opts.Inputs)
	if err != nil {
		return err
	}
	out, err := g.Run(nn.NewContext(ctx), feed)
	if err != nil {
		return err
	}
	type outInfo struct {
		Name  string `json:"name"`
		DType string `json:"dtype"`
		Shape []int  `json:"shape"`
		File  string `json:"file,omitempty"`
	}
	var infos []outInfo
	if opts.OutputDir != "" {
		if err := os.MkdirAll(opts.OutputDir, 0o755); err != nil {
			return err
		}
	}
	for _, o := range g.Outputs {
		t := out[o.Name]
		info := outInfo{Name: o.Name, DType: t.DType.String(), Shape: t.Shape}
		if opts.OutputDir != "" {
			info.File = filepath.Join(opts.OutputDir, sanitizeFileName(o.Name)+"."+opts.Format)
			if err := writeTensor(info.File, o.Name, t); err != nil {
				return fmt.Errorf("output %q: %w", o.Name, err)
			}
		}
		infos = append(infos, info)
	}
	if opts.JSON {
		return json.NewEncoder(w).Encode(infos)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OUTPUT\tTYPE\tSHAPE\tFILE")
	for _, i := range infos {
		file := i.File
		if file == "" {
			file = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", i.Name, i.DType, nn.ShapeString(i.Shape), file)
	}
	return tw.Flush()
}

// readInputs parses NAME=FILE arguments and checks them against the model.
func readInputs(g *nn.Graph, args []string) (map[string]*nn.Tensor, error) {
	feed := map[string]*nn.Tensor{}
	for _, a := range args {
		name, file, ok := strings.Cut(a, "=")
		if !ok {
			if len(g.Inputs) != 1 {
				return nil, usageError{fmt.Errorf("--input %q: the model has %d inputs, so write NAME=FILE", a, len(g.Inputs))}
			}
			name, file = g.Inputs[0].Name, a
		}
		t, err := readTensor(file)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", name, err)
		}
		feed[name] = t
	}
	if err := g.CheckInputs(feed); err != nil {
		return nil, err
	}
	return feed, nil
}

func readTensor(path string) (*nn.Tensor, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		t, err := nn.ReadNPY(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return t, nil
	case ".pb":
		return onnx.ReadTensorFile(path)
	}
	return nil, fmt.Errorf("%s: unknown tensor file type (want .npy or .pb)", path)
}

func writeTensor(path, name string, t *nn.Tensor) error {
	if strings.HasSuffix(path, ".pb") {
		return onnx.WriteTensorFile(path, name, t)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".graft-*.npy")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := nn.WriteNPY(tmp, t); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// sanitizeFileName maps an ONNX value name to a safe file name.
func sanitizeFileName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" {
		s = "output"
	}
	return s
}

type outputCheck struct {
	Set    string  `json:"set"`
	Output string  `json:"output"`
	MaxAbs float64 `json:"max_abs"`
	MaxRel float64 `json:"max_rel"`
	Bad    int     `json:"mismatched"`
	Error  string  `json:"error,omitempty"`
}

func runTestData(ctx context.Context, g *nn.Graph, opts *runOptions, w io.Writer) error {
	sets, err := onnx.TestDataSets(opts.TestData)
	if err != nil {
		return err
	}
	var checks []outputCheck
	failed := 0
	for _, dir := range sets {
		ds, err := onnx.ReadTestDataSet(dir)
		if err != nil {
			return err
		}
		feed, err := onnx.FeedFromTestData(g, ds.Inputs)
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		out, err := g.Run(nn.NewContext(ctx), feed)
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		for i, want := range ds.Outputs {
			if i >= len(g.Outputs) {
				break
			}
			name := g.Outputs[i].Name
			c := outputCheck{Set: filepath.Base(dir), Output: name}
			d, err := nn.Compare(out[name], want.Tensor, opts.RTol, opts.ATol)
			if err != nil {
				c.Error = err.Error()
				failed++
			} else {
				c.MaxAbs, c.MaxRel, c.Bad = d.MaxAbs, d.MaxRel, d.Bad
				if d.Bad > 0 {
					failed++
				}
			}
			checks = append(checks, c)
		}
	}
	if opts.JSON {
		if err := json.NewEncoder(w).Encode(checks); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SET\tOUTPUT\tMAX ABS ERR\tMAX REL ERR\tRESULT")
		for _, c := range checks {
			res := "ok"
			switch {
			case c.Error != "":
				res = "FAIL: " + c.Error
			case c.Bad > 0:
				res = fmt.Sprintf("FAIL: %d element(s) beyond rtol %g / atol %g", c.Bad, opts.RTol, opts.ATol)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.3g\t%.3g\t%s\n", c.Set, c.Output, c.MaxAbs, c.MaxRel, res)
		}
		tw.Flush()
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d output(s) differ from the test data", failed, len(checks))
	}
	return nil
}
