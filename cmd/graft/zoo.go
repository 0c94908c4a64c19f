package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/graftml/graft/zoo"
	"github.com/spf13/cobra"
)

type zooListOptions struct {
	JSON bool
}

type zooInfoOptions struct {
	Name string
	JSON bool
}

type zooPullOptions struct {
	Name    string
	Offline bool
	Verify  bool
	// pull is the base of the zoo.PullOptions (tests set CacheDir and
	// BaseURL here).
	pull zoo.PullOptions
}

func newZooCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "zoo",
		Short: "List, describe and download pretrained models (use them as zoo:NAME)",
		Long: `zoo manages graft's catalogue of pretrained ONNX models. Every command that
takes a model path also accepts zoo:NAME, which downloads the model into the
cache on first use (verified by SHA-256; interrupted downloads resume).

The cache is $GRAFT_CACHE, else $XDG_CACHE_HOME/graft, else ~/.cache/graft.
Set GRAFT_OFFLINE=1 (or pass --offline to zoo pull) to use only the cache.`,
		Example: `  graft zoo list
  graft zoo info resnet18-v1-7
  graft zoo pull mobilenetv2-7
  graft predict zoo:resnet18-v1-7 cat.jpg --norm imagenet`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("%s: unknown subcommand %q (list, info, pull)", cmd.CommandPath(), args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}

	lo := &zooListOptions{}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the models of the zoo",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runZooList(lo, cmd.OutOrStdout())
		},
	}
	list.Flags().BoolVar(&lo.JSON, "json", false, "print the entries as JSON")

	io_ := &zooInfoOptions{}
	info := &cobra.Command{
		Use:   "info NAME",
		Short: "Show everything the zoo knows about a model",
		Args:  exactArgs(1, "one model name (see graft zoo list)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			io_.Name = args[0]
			return runZooInfo(io_, cmd.OutOrStdout())
		},
	}
	info.Flags().BoolVar(&io_.JSON, "json", false, "print the entry as JSON")

	po := &zooPullOptions{}
	pull := &cobra.Command{
		Use:   "pull NAME [--offline]",
		Short: "Download a model into the cache (verified, resumable) and print its path",
		Args:  exactArgs(1, "one model name (see graft zoo list)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			po.Name = args[0]
			return runZooPull(cmd.Context(), po, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	pull.Flags().BoolVar(&po.Offline, "offline", false, "use only the cache; fail if the model is not there")
	pull.Flags().BoolVar(&po.Verify, "verify", false, "re-hash a cached model before trusting it")

	cmd.AddCommand(list, info, pull)
	return cmd
}

func runZooList(o *zooListOptions, w io.Writer) error {
	entries := zoo.List()
	if o.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTASK\tSIZE\tOPSET\tLICENSE")
	for _, e := range entries {
		size := humanBytes(e.Size)
		if e.Bundled {
			size += " (bundled)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", e.Name, e.Task, size, e.Opset, shortLicense(e.License))
	}
	return tw.Flush()
}

// shortLicense keeps the table narrow: the first word-ish part of a long
// license description (info shows it whole).
func shortLicense(l string) string {
	if len(l) <= 20 {
		return l
	}
	if i := strings.IndexAny(l, " ("); i > 0 {
		return l[:i] + "…"
	}
	return l[:19] + "…"
}

// zooInfoJSON is the --json form of zoo info: the entry plus its cache state.
type zooInfoJSON struct {
	zoo.Entry
	CachePath string `json:"cache_path,omitempty"`
	Cached    bool   `json:"cached"`
}

func runZooInfo(o *zooInfoOptions, w io.Writer) error {
	e, err := zoo.Lookup(o.Name)
	if err != nil {
		return err
	}
	path, cached := zoo.Cached(e, "")
	if o.JSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(zooInfoJSON{Entry: e, CachePath: path, Cached: cached})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("Name", e.Name)
	if len(e.Aliases) > 0 {
		row("Aliases", strings.Join(e.Aliases, ", "))
	}
	row("Title", e.Title)
	row("Task", e.Task)
	row("File", e.File)
	row("Size", fmt.Sprintf("%d bytes (%s)", e.Size, humanBytes(e.Size)))
	row("SHA-256", e.SHA256)
	row("Opset", fmt.Sprint(e.Opset))
	row("License", e.License)
	row("Source", e.Source)
	if e.Bundled {
		row("URLs", "(bundled with graft: no download)")
	}
	for i, u := range e.URLs {
		k := ""
		if i == 0 {
			k = "URLs"
		}
		row(k, u)
	}
	for i, t := range e.Inputs {
		row(plural("Input", i), tensorSpecString(t))
	}
	for i, t := range e.Outputs {
		row(plural("Output", i), tensorSpecString(t))
	}
	row("Preprocess", preprocessString(e.Preprocess))
	if e.Preprocess.Notes != "" {
		row("", e.Preprocess.Notes)
	}
	if c := e.Classes(); c != nil {
		row("Labels", fmt.Sprintf("%s (%d classes: %s)", e.Labels, len(c), previewList(c, 3)))
	}
	if cached {
		row("Cached", path)
	} else {
		row("Cached", "no (graft zoo pull "+e.Name+")")
	}
	return tw.Flush()
}

func plural(word string, i int) string {
	if i == 0 {
		return word + "s"
	}
	return ""
}

func previewList(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + ", …"
}

func tensorSpecString(t zoo.TensorSpec) string {
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		if d < 0 {
			dims[i] = "N"
		} else {
			dims[i] = fmt.Sprint(d)
		}
	}
	name := t.Name
	if name == "" {
		name = "(unnamed)"
	}
	return fmt.Sprintf("%s %s [%s]", name, t.DType, strings.Join(dims, ","))
}

func preprocessString(p zoo.Preprocess) string {
	var parts []string
	if p.Resize > 0 {
		parts = append(parts, fmt.Sprintf("resize short side to %d, %s crop %dx%d", p.Resize, p.Crop, p.Width, p.Height))
	} else {
		parts = append(parts, fmt.Sprintf("resize to %dx%d", p.Width, p.Height))
	}
	parts = append(parts, p.Color, p.Layout)
	scale := fmt.Sprintf("%g", p.Scale)
	if p.Scale > 0 && p.Scale < 1 {
		scale = fmt.Sprintf("1/%g", 1/p.Scale)
	}
	parts = append(parts, fmt.Sprintf("(x*%s - mean %v) / std %v", scale, p.Mean, p.Std))
	s := strings.Join(parts, ", ")
	if !p.Documented {
		s += " [not documented upstream]"
	}
	return s
}

func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

func runZooPull(ctx context.Context, o *zooPullOptions, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	e, err := zoo.Lookup(o.Name)
	if err != nil {
		return err
	}
	opts := o.pull
	opts.Offline = opts.Offline || o.Offline
	opts.Verify = opts.Verify || o.Verify
	if opts.Progress == nil {
		opts.Progress = stderr
	}
	path, err := zoo.Pull(ctx, e, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, path)
	return nil
}
