package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/graftml/graft/convert"
	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/onnx"
)

// quantFlags are the int8 options of graft convert.
type quantFlags struct {
	Int8Dynamic  bool
	Int8Static   bool
	Data         string
	CalibSamples int
	PerTensor    bool
}

func (q quantFlags) any() bool { return q.Int8Dynamic || q.Int8Static }

// runQuantize quantizes o.Model into o.Out (after the exact passes, every
// one of them unless some are selected) and prints the report.
func runQuantize(o *convertOptions, w io.Writer) error {
	fo := convert.QuantFileOptions{Options: o.Options, Samples: o.Samples, Seed: o.Seed, NoORT: o.NoORT}
	if !fo.Options.Any() {
		fo.Options = convert.All()
	}
	fo.Mode = convert.ModeDynamic
	if o.Int8Static {
		fo.Mode = convert.ModeStatic
	}
	fo.Dynamic.PerTensor = o.PerTensor
	fo.Static = convert.StaticOptions{Samples: o.CalibSamples, Seed: o.Seed, PerTensorWeights: o.PerTensor}
	if o.Data != "" {
		ds, err := openCalibData(o.Model, o.Data)
		if err != nil {
			return err
		}
		fo.Calib = ds
	}
	r, err := convert.QuantizeFile(o.Model, o.Out, fo)
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
	ratio := 0.0
	if r.BytesBefore > 0 {
		ratio = float64(r.BytesAfter) / float64(r.BytesBefore)
	}
	fmt.Fprintf(tw, "size\t%s -> %s (%.1f%%)\n", byteSize(r.BytesBefore), byteSize(r.BytesAfter), 100*ratio)
	for _, p := range r.Passes {
		fmt.Fprintf(tw, "%s\t%d change(s)\n", p.Pass, p.Changed)
	}
	tw.Flush()
	fmt.Fprintf(w, "verification (%d batches of %s inputs; vs the float model: tolerance %g, onnxruntime vs graft on the int8 model: %g):\n",
		r.Samples, r.Inputs, r.Tolerance, r.ORTTolerance)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  output\tgraft vs float max rel\tonnxruntime vs float max rel\tonnxruntime vs graft max rel")
	for i, e := range r.Errors {
		a, b := "-", "-"
		if i < len(r.ORTErrors) {
			a = fmt.Sprintf("%.3g", r.ORTErrors[i].MaxRel)
		}
		if i < len(r.ORTvsGraft) {
			b = fmt.Sprintf("%.3g", r.ORTvsGraft[i].MaxRel)
		}
		fmt.Fprintf(tw, "  %s\t%.3g\t%s\t%s\n", e.Name, e.MaxRel, a, b)
	}
	tw.Flush()
	fmt.Fprintf(w, "same top class as the float model: %.1f%% of the verification rows\n", 100*r.ArgmaxAgreement)
	if r.ORT != "checked" {
		fmt.Fprintf(w, "onnxruntime: %s\n", r.ORT)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", r.Output)
	return nil
}

// openCalibData opens a data spec (an image folder, fashion-mnist:train or
// fashion-mnist:test, idx:IMAGES,LABELS) with the model's input size and
// recorded normalization, as graft eval does.
func openCalibData(model, spec string) (convert.Dataset, error) {
	m, err := onnx.Load(model)
	if err != nil {
		return nil, err
	}
	g, err := onnx.Import(m, onnx.ImportOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	if len(g.Inputs) != 1 || !g.Inputs[0].HasShape {
		return nil, fmt.Errorf("%s: calibration data needs a model with one input of declared shape", model)
	}
	shape := make([]int, len(g.Inputs[0].Shape))
	for i, d := range g.Inputs[0].Shape {
		shape[i] = d.Value
	}
	img, err := data.ImageOptionsFor(shape)
	if err != nil {
		return nil, fmt.Errorf("model input %q: %w", g.Inputs[0].Name, err)
	}
	meta := map[string]string{}
	for _, kv := range m.GetMetadataProps() {
		meta[kv.GetKey()] = kv.GetValue()
	}
	switch {
	case meta["graft.norm"] != "":
		img.Norm, err = data.ParseNorm(meta["graft.norm"])
	case meta["graft.preprocess"] != "":
		img.Norm, err = data.ParsePreprocess(meta["graft.preprocess"])
	default:
		img.Norm, err = data.ParseNorm("unit")
	}
	if err != nil {
		return nil, err
	}
	img.Resize = data.ResizeDirect
	switch {
	case spec == "fashion-mnist:train" || spec == "fashion-mnist:test":
		return data.OpenFashionMNIST("", spec == "fashion-mnist:train", data.IDXOptions{ImageOptions: img})
	case strings.HasPrefix(spec, "idx:"):
		imgs, labels, ok := strings.Cut(strings.TrimPrefix(spec, "idx:"), ",")
		if !ok {
			return nil, fmt.Errorf("data %q: want idx:IMAGES,LABELS", spec)
		}
		return data.OpenIDX(imgs, labels, data.IDXOptions{ImageOptions: img})
	}
	st, err := os.Stat(spec)
	if err != nil {
		return nil, fmt.Errorf("data %q: %w", spec, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("data %q: want an image folder, fashion-mnist:train|test or idx:IMAGES,LABELS", spec)
	}
	return data.OpenImageFolder(spec, data.FolderOptions{ImageOptions: img})
}
