package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/graftml/graft/finetune"
	"github.com/graftml/graft/finetune/checkpoint"
	"github.com/graftml/graft/finetune/data"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
)

// exportInlineLimit is the serialized size above which export stores the
// weights as external data even without --external-data (protobuf cannot
// hold more than 2 GiB).
const exportInlineLimit = 1 << 30

type exportOptions struct {
	Source, Base, Out string
	Format, Name      string
	ExternalData      bool
	MaxBatch          int
	Cut, Labels       string
	verifySamples
	JSON bool
}

func newExportCmd() *cobra.Command {
	o := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export MODEL|CHECKPOINT -o OUT [--base MODEL] [--format onnx|triton|safetensors] [flags]",
		Short: "Write a model (or a training checkpoint) for serving: ONNX, a Triton repository or safetensors, verified",
		Long: `export writes a model for serving and checks what it wrote: the written file is
read back and run on --samples inputs (seeded random within the input spec, or
items of --data) next to the in-memory graph; per-output max abs/rel errors
are printed, and nothing is put in place when an output differs beyond rtol
1e-5 / atol 1e-6.

The source is an ONNX model (re-exported, e.g. with --external-data) or a
checkpoint written by graft finetune --checkpoint, with --base naming the ONNX
model that run started from. A replaced classifier is rebuilt from the
checkpoint's graft_head.* parameters; for a run that used --cut, give the same
--cut (unless the checkpoint records it in its head_config metadata). Class
names and normalization come from the checkpoint's class_names and norm
metadata when present, else from --base.

Formats:
  onnx         OUT is the model file; weights go to OUT.data beside it with
               --external-data (or automatically above 1 GiB).
  triton       OUT is a Triton model repository: OUT/NAME/config.pbtxt,
               OUT/NAME/1/model.onnx and OUT/NAME/labels.txt (from the
               class names graft finetune records, or --labels).
  safetensors  OUT receives the parameters by name (graft import-weights
               reads them back into a model).`,
		Example: `  graft export tuned.onnx -o serve/tuned.onnx --external-data
  graft export run.ckpt --base mobilenet.onnx -o tuned.onnx --data photos/
  graft export tuned.onnx --format triton --name shoes -o model_repository/
  graft export tuned.onnx --format safetensors -o tuned.safetensors`,
		Args: exactArgs(1, "one model or checkpoint path"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Source = args[0]
			if o.Out == "" {
				return usageError{errors.New("-o is required")}
			}
			switch o.Format {
			case "onnx", "safetensors":
			case "triton":
				if o.Name == "" {
					o.Name = strings.TrimSuffix(filepath.Base(o.Source), filepath.Ext(o.Source))
				}
			default:
				return usageError{fmt.Errorf("--format %q: must be onnx, triton or safetensors", o.Format)}
			}
			if o.Samples < 1 {
				return usageError{fmt.Errorf("--samples %d: must be at least 1", o.Samples)}
			}
			return runExport(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Out, "out", "o", "", "output: model file (onnx), repository folder (triton) or .safetensors file")
	f.StringVar(&o.Base, "base", "", "the ONNX model a checkpoint's training run started from")
	f.StringVar(&o.Format, "format", "onnx", "onnx, triton or safetensors")
	f.StringVar(&o.Name, "name", "", "Triton model name (default: the source's file name)")
	f.BoolVar(&o.ExternalData, "external-data", false, "store the weights in an external data file beside the model")
	f.IntVar(&o.MaxBatch, "max-batch-size", 32, "Triton max_batch_size for models with a symbolic batch dimension")
	f.StringVar(&o.Cut, "cut", "", "for a checkpoint of a run that used --cut: the same node")
	f.StringVar(&o.Labels, "labels", "", "class names, one per line (default: the model's graft.classes metadata)")
	addVerifyFlags(f, &o.Data, &o.Norm, &o.Samples, &o.Seed)
	f.BoolVar(&o.JSON, "json", false, "print the outcome as JSON")
	return cmd
}

// exportSource is a model ready to be written: the ONNX model it comes
// from and the graph holding the weights.
type exportSource struct {
	base *onnxpb.ModelProto
	g    *nn.Graph
	meta map[string]string // metadata to add when exporting
}

// exportIsCheckpoint reports whether path starts with the checkpoint magic.
func exportIsCheckpoint(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [8]byte
	_, err = io.ReadFull(f, b[:])
	return err == nil && string(b[:]) == "GRAFTCKP"
}

// loadExportSource loads an ONNX model, or a checkpoint onto its base
// model.
func loadExportSource(o *exportOptions) (*exportSource, error) {
	if !exportIsCheckpoint(o.Source) {
		if o.Base != "" {
			return nil, usageError{fmt.Errorf("--base is for checkpoints; %s is not one", o.Source)}
		}
		base, err := onnx.Load(o.Source)
		if err != nil {
			return nil, err
		}
		g, err := onnx.Import(base, onnx.ImportOptions{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Source, err)
		}
		return &exportSource{base: base, g: g, meta: map[string]string{}}, nil
	}
	if o.Base == "" {
		return nil, usageError{fmt.Errorf("%s is a checkpoint: give --base, the ONNX model its training run started from", o.Source)}
	}
	c, err := checkpoint.Load(o.Source)
	if err != nil {
		return nil, err
	}
	base, err := onnx.Load(o.Base)
	if err != nil {
		return nil, err
	}
	g, err := onnx.Import(base, onnx.ImportOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Base, err)
	}
	// A trainer that records its head settings (checkpoint.MetaHeadConfig,
	// JSON {"cut": NODE}) and normalization ("norm") spares the flags.
	var head struct {
		Cut string `json:"cut"`
	}
	if hc := c.Metadata[checkpoint.MetaHeadConfig]; hc != "" {
		if err := json.Unmarshal([]byte(hc), &head); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %s metadata: %w", o.Source, checkpoint.MetaHeadConfig, err)
		}
		if o.Cut == "" {
			o.Cut = head.Cut
		}
	}
	const headW = "graft_head.weight"
	if w := c.Params[headW]; w != nil && g.Params[headW] == nil {
		if err := exportRebuildHead(g, w, o.Cut); err != nil {
			return nil, fmt.Errorf("checkpoint %s on %s: %w", o.Source, o.Base, err)
		}
	} else if o.Cut != "" {
		return nil, fmt.Errorf("--cut %q: the checkpoint holds no new head (graft_head.weight)", o.Cut)
	}
	missing, err := c.RestoreParams(g)
	if err != nil {
		return nil, fmt.Errorf("%w (is --base the model the run started from?)", err)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("checkpoint %s lacks parameters of %s: %s", o.Source, o.Base, strings.Join(missing, ", "))
	}
	meta := map[string]string{"graft.checkpoint_epoch": fmt.Sprint(c.Epoch)}
	if cl := c.Metadata[checkpoint.MetaClassNames]; cl != "" {
		meta["graft.classes"] = cl
	}
	if n := c.Metadata["norm"]; n != "" {
		meta["graft.norm"] = n
	}
	if sum := c.Metadata[checkpoint.MetaBaseModelSHA256]; sum != "" {
		meta["graft.base_model"] = sum
	}
	return &exportSource{base: base, g: g, meta: meta}, nil
}

// exportRebuildHead recreates the classifier a fine-tuning run added, with the
// class count of the checkpoint's weight w; the values come from the
// checkpoint afterwards.
func exportRebuildHead(g *nn.Graph, w *nn.Tensor, cut string) error {
	if cut != "" {
		if len(w.Shape) != 2 {
			return fmt.Errorf("graft_head.weight has shape %s, want [classes, features]", nn.ShapeString(w.Shape))
		}
		_, err := finetune.CutHead(g, cut, w.Shape[0], 0, nn.Standard())
		return err
	}
	h, err := finetune.FindHead(g)
	if err != nil {
		return err
	}
	n := 0
	switch {
	case len(w.Shape) == 0:
	case h.Node.OpType == "Conv" || h.Node.OpType == "Gemm" && h.Node.AttrInt("transB", 0) != 0:
		n = w.Shape[0]
	default:
		n = w.Shape[len(w.Shape)-1]
	}
	if err := finetune.ReplaceHead(g, h, n, 0); err != nil {
		return err
	}
	if !nn.SameShape(g.Params["graft_head.weight"].Value.Shape, w.Shape) {
		return fmt.Errorf("the checkpoint's graft_head.weight %s does not fit the classifier %s of the base model (was the run made with --cut?)",
			nn.ShapeString(w.Shape), h.Node.Label())
	}
	return nil
}

// exportOutcome is what export wrote.
type exportOutcome struct {
	Format string        `json:"format"`
	Files  []string      `json:"files"`
	Verify *verifyReport `json:"verify"`
}

func runExport(ctx context.Context, o *exportOptions, w io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	src, err := loadExportSource(o)
	if err != nil {
		return err
	}
	if o.Labels != "" {
		names, err := data.ReadLabels(o.Labels)
		if err != nil {
			return err
		}
		src.meta["graft.classes"] = exportJSON(names)
	}
	var out *exportOutcome
	switch o.Format {
	case "safetensors":
		out, err = exportSafeTensors(ctx, o, src)
	case "triton":
		out, err = exportTriton(ctx, o, src)
	default:
		out, err = writeVerifiedONNX(ctx, src, o.Out, o.ExternalData, o.verifySamples, nil)
	}
	if out != nil {
		out.Format = o.Format
		switch {
		case o.JSON:
			// Printed on failure too: the comparison says what differed.
			if jerr := json.NewEncoder(w).Encode(out); jerr != nil && err == nil {
				err = jerr
			}
		case out.Verify != nil:
			out.Verify.writeTable(w)
		}
	}
	if err != nil || o.JSON {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", strings.Join(out.Files, ", "))
	return nil
}

// writeVerifiedONNX exports src to path through a staging folder beside
// it, re-imports the written file, compares it with src.g and only then
// moves it (and its external data) into place. before, when set, runs
// after a successful check and before the move (Triton writes its
// configuration there).
func writeVerifiedONNX(ctx context.Context, src *exportSource, path string, external bool, s verifySamples, before func(written *nn.Graph, m *onnxpb.ModelProto) ([]string, error)) (*exportOutcome, error) {
	m, err := onnx.Export(src.base, src.g, onnx.ExportOptions{Metadata: src.meta})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	onnx.StripExternalRecords(m)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(dir, ".graft-export-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	staged := filepath.Join(stage, filepath.Base(path))
	if external || proto.Size(m) > exportInlineLimit {
		err = onnx.SaveExternal(staged, m, onnx.ExternalOptions{})
	} else {
		err = onnx.Save(staged, m)
	}
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	g2, err := onnx.LoadGraph(staged)
	if err != nil {
		return nil, fmt.Errorf("the written model does not load back: %w", err)
	}
	meta := map[string]string{}
	for _, kv := range m.GetMetadataProps() {
		meta[kv.GetKey()] = kv.GetValue()
	}
	r, err := verifyCompare(ctx, g2, meta, verifyGraphRunner("in-memory graph", src.g), verifyGraphRunner("written "+filepath.Base(path), g2), s, verifyRTol, verifyATol)
	if err != nil {
		return nil, fmt.Errorf("verification: %w", err)
	}
	out := &exportOutcome{Verify: r}
	if f := r.failure(); f != "" {
		return out, fmt.Errorf("verification failed, nothing written: %s", f)
	}
	if before != nil {
		files, err := before(g2, m)
		if err != nil {
			return out, err
		}
		out.Files = append(out.Files, files...)
	}
	// Data files first, then the model that refers to them.
	entries, err := os.ReadDir(stage)
	if err != nil {
		return out, err
	}
	model := filepath.Base(path)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() != model && entries[j].Name() == model })
	for _, e := range entries {
		dst := filepath.Join(dir, e.Name())
		if err := os.Rename(filepath.Join(stage, e.Name()), dst); err != nil {
			return out, err
		}
		out.Files = append(out.Files, dst)
	}
	return out, nil
}

// exportTriton writes a Triton model repository entry.
func exportTriton(ctx context.Context, o *exportOptions, src *exportSource) (*exportOutcome, error) {
	if o.Name == "" || strings.ContainsAny(o.Name, `/\"`) || o.Name == "." || o.Name == ".." {
		return nil, usageError{fmt.Errorf("--name %q is not a valid model name", o.Name)}
	}
	modelDir := filepath.Join(o.Out, o.Name)
	path := filepath.Join(modelDir, "1", "model.onnx")
	return writeVerifiedONNX(ctx, src, path, o.ExternalData, o.verifySamples, func(g *nn.Graph, m *onnxpb.ModelProto) ([]string, error) {
		var files []string
		labels := ""
		for _, kv := range m.GetMetadataProps() {
			if kv.GetKey() != "graft.classes" {
				continue
			}
			var names []string
			if err := json.Unmarshal([]byte(kv.GetValue()), &names); err != nil {
				return nil, fmt.Errorf("graft.classes metadata: %w", err)
			}
			if h, err := finetune.FindHead(g); err == nil && h.Classes != len(names) {
				return nil, fmt.Errorf("graft.classes lists %d names, the model predicts %d classes", len(names), h.Classes)
			}
			var b bytes.Buffer
			for _, n := range names {
				b.WriteString(n + "\n")
			}
			labels = "labels.txt"
			p := filepath.Join(modelDir, labels)
			if err := exportWriteFile(p, b.Bytes()); err != nil {
				return nil, err
			}
			files = append(files, p)
		}
		c, err := onnx.NewTritonConfig(g, o.Name, o.MaxBatch, labels)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(modelDir, "config.pbtxt")
		if err := exportWriteFile(p, []byte(c.Text())); err != nil {
			return nil, err
		}
		return append(files, p), nil
	})
}

// exportSafeTensors writes the parameters as safetensors, then checks the
// file by loading it into a freshly loaded copy of the model whose
// parameters were zeroed, and comparing that with the in-memory graph.
func exportSafeTensors(ctx context.Context, o *exportOptions, src *exportSource) (*exportOutcome, error) {
	meta := map[string]string{"format": "graft", "graft.source": filepath.Base(o.Source), "graft.params": fmt.Sprint(len(src.g.Params))}
	for k, v := range src.meta {
		meta[k] = v
	}
	for _, kv := range src.base.GetMetadataProps() {
		if kv.GetKey() == "graft.classes" && meta["graft.classes"] == "" {
			meta["graft.classes"] = kv.GetValue()
		}
	}
	dir := filepath.Dir(o.Out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(dir, ".graft-export-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)
	staged := filepath.Join(stage, filepath.Base(o.Out))
	if err := onnx.SaveSafeTensors(staged, onnx.GraphParams(src.g), meta); err != nil {
		return nil, err
	}
	tensors, _, err := onnx.LoadSafeTensors(staged)
	if err != nil {
		return nil, fmt.Errorf("the written file does not load back: %w", err)
	}
	fresh, err := loadExportSource(o)
	if err != nil {
		return nil, err
	}
	for _, p := range fresh.g.Params {
		t := p.Value
		clear(t.F32)
		clear(t.F64)
		clear(t.I64)
		clear(t.Bool)
	}
	if _, err := onnx.SetParams(fresh.g, tensors, true); err != nil {
		return nil, fmt.Errorf("the written file does not fit the model: %w", err)
	}
	r, err := verifyCompare(ctx, src.g, src.meta, verifyGraphRunner("in-memory graph", src.g), verifyGraphRunner("model + written "+filepath.Base(o.Out), fresh.g), o.verifySamples, verifyRTol, verifyATol)
	if err != nil {
		return nil, fmt.Errorf("verification: %w", err)
	}
	out := &exportOutcome{Verify: r}
	if f := r.failure(); f != "" {
		return out, fmt.Errorf("verification failed, nothing written: %s", f)
	}
	if err := os.Rename(staged, o.Out); err != nil {
		return out, err
	}
	out.Files = []string{o.Out}
	return out, nil
}

// exportWriteFile replaces path with b through a temporary file.
func exportWriteFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func exportJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
