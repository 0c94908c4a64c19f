// Command suite is `make bench`: graft next to the tools it replaces, on the
// same machine, in the same run, with the same thread count, one table per
// build (pure Go, and OpenBLAS when it is installed):
//
//   - inference latency of resnet18, mobilenet_v2 and efficientnet_b0 at
//     batch 1 and 8, graft vs onnxruntime (bench/inference, both engines in
//     one process on the same inputs), and the peak RSS of each engine alone
//     (bench/inference -only, one process per engine, model and batch);
//   - fine-tuning throughput (samples/s of forward + backward + SGD momentum)
//     of resnet18 and mobilenet_v2 at batch 16, 224×224, full and
//     last-block-only, graft (graft bench --train) vs PyTorch
//     (bench/pytorch_train_step.py), one process per run, with its peak RSS;
//   - time to accuracy on the Fashion-MNIST transfer task, graft (graft
//     finetune with its feature cache) vs the PyTorch recipe
//     (bench/pytorch_finetune.py), one process per run, with its peak RSS.
//
// Missing references (no onnxruntime library, no PyTorch, no Fashion-MNIST,
// no benchmark models) appear in the table as such. The tables go to
// stdout; the same results go to bench/results.json (-json).
//
//	go run ./bench/suite [-builds pure,openblas] [-sections inference,train,transfer]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// config holds the command-line settings.
type config struct {
	models       string
	python       string
	jsonOut      string
	binDir       string
	threads      int
	infRuns      int
	infWarmup    int
	trainRuns    int
	trainRounds  int
	trainWarmup  int
	transferRuns int
	builds       []string
	sections     map[string]bool
	infModels    []string
	trainModels  []string
	markdown     bool
}

func main() {
	var c config
	var builds, sections, infModels, trainModels string
	flag.StringVar(&c.models, "models", "testdata/bench", "folder with the exported benchmark models (testdata/gen/export_bench_models.py)")
	flag.StringVar(&c.python, "python", "/usr/bin/python3", "Python interpreter with PyTorch (Debian's python3-torch)")
	flag.StringVar(&c.jsonOut, "json", "bench/results.json", "write the results as JSON here (\"-\": stdout instead of the tables, \"\": nowhere)")
	flag.StringVar(&c.binDir, "bin", "bin/bench", "where the graft and bench/inference binaries of each build go")
	flag.IntVar(&c.threads, "threads", 2, "threads of every engine (GOMAXPROCS, onnxruntime intra-op, torch.set_num_threads, OpenBLAS)")
	flag.IntVar(&c.infRuns, "inference-runs", 10, "timed inference runs (median reported)")
	flag.IntVar(&c.infWarmup, "inference-warmup", 2, "untimed inference warm-up runs")
	flag.IntVar(&c.trainRuns, "train-runs", 3, "timed training steps per process (median reported)")
	flag.IntVar(&c.trainRounds, "train-rounds", 3, "rounds of training processes, the engines alternating (median of the rounds reported)")
	flag.IntVar(&c.trainWarmup, "train-warmup", 1, "untimed training steps per process")
	flag.IntVar(&c.transferRuns, "transfer-runs", 3, "processes per side for the transfer task (median wall time reported)")
	flag.StringVar(&builds, "builds", "pure,openblas", "builds to measure: pure (pure Go) and/or openblas (-tags openblas)")
	flag.StringVar(&sections, "sections", "inference,train,transfer", "parts to run")
	flag.StringVar(&infModels, "inference-models", "resnet18,mobilenet_v2,efficientnet_b0", "models of the inference rows")
	flag.StringVar(&trainModels, "train-models", "resnet18,mobilenet_v2", "models of the fine-tuning rows (NAME_bn.onnx)")
	flag.BoolVar(&c.markdown, "markdown", false, "print the tables in Markdown (for the README) instead of aligned text")
	flag.Parse()
	c.builds = splitList(builds)
	c.infModels, c.trainModels = splitList(infModels), splitList(trainModels)
	c.sections = map[string]bool{}
	for _, s := range splitList(sections) {
		switch s {
		case "inference", "train", "transfer":
			c.sections[s] = true
		default:
			fmt.Fprintf(os.Stderr, "suite: unknown section %q (want inference, train, transfer)\n", s)
			os.Exit(2)
		}
	}
	for _, b := range c.builds {
		if b != "pure" && b != "openblas" {
			fmt.Fprintf(os.Stderr, "suite: unknown build %q (want pure, openblas)\n", b)
			os.Exit(2)
		}
	}
	if err := run(&c); err != nil {
		fmt.Fprintln(os.Stderr, "suite:", err)
		os.Exit(1)
	}
}

// results is the JSON document: the run's context and one table per build.
type results struct {
	Date       string            `json:"date"`
	Host       host              `json:"host"`
	Threads    int               `json:"threads"`
	References map[string]string `json:"references"`
	Builds     []*buildResult    `json:"builds"`
	Seconds    float64           `json:"seconds"`
}

type host struct {
	CPUs        int     `json:"cpus"`
	CPU         string  `json:"cpu,omitempty"`
	GoVersion   string  `json:"go"`
	LoadAverage float64 `json:"load_average_1min,omitempty"`
	// LoadAverageEnd is the 1-minute load average when the suite ended (it
	// includes the suite's own processes).
	LoadAverageEnd float64 `json:"load_average_1min_end,omitempty"`
}

// buildResult is one table: a graft build and its rows.
type buildResult struct {
	Name  string `json:"name"`
	Tags  string `json:"tags"`
	BLAS  string `json:"blas,omitempty"`
	Error string `json:"error,omitempty"`
	// InferenceError is set when bench/inference did not build.
	InferenceError string `json:"inference_error,omitempty"`
	Rows           []*row `json:"rows"`

	graft, inference string // binaries
}

// row is one comparison: graft and its reference measured in the same run.
type row struct {
	Section string `json:"section"` // inference, train, transfer
	Name    string `json:"name"`
	Model   string `json:"model"`
	Batch   int    `json:"batch,omitempty"`
	Mode    string `json:"mode,omitempty"`
	// Unit of Graft and Reference: "ms" (lower is better), "samples/s"
	// (higher is better) or "s" (lower is better).
	Unit      string  `json:"unit"`
	Graft     float64 `json:"graft,omitempty"`
	Reference float64 `json:"reference,omitempty"`
	RefName   string  `json:"reference_name"`
	// Speedup is how many times faster graft is: reference time over graft
	// time, or graft throughput over reference throughput (> 1: graft is
	// faster).
	Speedup     float64 `json:"speedup,omitempty"`
	GraftRSSMiB float64 `json:"graft_peak_rss_mib,omitempty"`
	RefRSSMiB   float64 `json:"reference_peak_rss_mib,omitempty"`
	// Target is issue 6's bars for this row, as the table shows them;
	// Targets has them one by one.
	Target    string         `json:"target,omitempty"`
	TargetMet *bool          `json:"target_met,omitempty"`
	Targets   []target       `json:"targets,omitempty"`
	Details   map[string]any `json:"details,omitempty"`
	Note      string         `json:"note,omitempty"`
	GraftCmd  string         `json:"graft_command,omitempty"`
	RefCmd    string         `json:"reference_command,omitempty"`
}

func run(c *config) error {
	start := time.Now()
	res := &results{
		Date:       start.UTC().Format("2006-01-02 15:04 MST"),
		Host:       host{CPUs: runtime.NumCPU(), CPU: cpuModel(), GoVersion: runtime.Version(), LoadAverage: loadAverage()},
		Threads:    c.threads,
		References: map[string]string{},
	}
	if err := os.MkdirAll(c.binDir, 0o755); err != nil {
		return err
	}
	progress("building graft and bench/inference for the %s build(s) into %s", strings.Join(c.builds, ", "), c.binDir)
	for _, name := range c.builds {
		res.Builds = append(res.Builds, buildBinaries(c, name))
	}

	torch := checkTorch(c)
	res.References["pytorch"] = torch.describe()
	models := checkModels(c, torch)
	res.References["bench_models"] = models.describe()
	fmnist := checkFMNIST(c)
	res.References["fashion_mnist"] = fmnist.describe()

	for _, b := range res.Builds {
		if v, err := engines(c, b); err == nil {
			b.BLAS = v.BLAS
			if _, done := res.References["onnxruntime"]; !done {
				res.References["onnxruntime"] = v.ort().describe()
			}
		}
	}
	if _, done := res.References["onnxruntime"]; !done {
		res.References["onnxruntime"] = "not checked: no build of bench/inference ran (it needs cgo)"
	}
	if c.sections["inference"] {
		inferenceRows(c, res.Builds)
	}
	if c.sections["train"] {
		trainRows(c, res.Builds, torch)
	}
	if c.sections["transfer"] {
		transferRows(c, res.Builds, torch, fmnist)
	}
	speedups(res)
	for _, b := range res.Builds {
		for _, r := range b.Rows {
			judge(b, r)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.Host.LoadAverageEnd = loadAverage()

	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil {
		return err
	}
	if c.jsonOut == "-" {
		_, err := os.Stdout.Write(js.Bytes())
		return err
	}
	printTables(os.Stdout, res, c.markdown)
	if c.jsonOut != "" {
		if err := os.WriteFile(c.jsonOut, js.Bytes(), 0o644); err != nil {
			return fmt.Errorf("writing the JSON results: %w", err)
		}
		fmt.Printf("\n(JSON: %s)\n", c.jsonOut)
	}
	return nil
}

// buildBinaries builds graft and bench/inference with the build's tags.
// When graft does not build (OpenBLAS not installed) the whole table reports
// why; when only bench/inference does not (it needs cgo for onnxruntime_go),
// the inference rows do.
func buildBinaries(c *config, name string) *buildResult {
	b := &buildResult{Name: "pure Go", Tags: ""}
	if name == "openblas" {
		b.Name, b.Tags = "OpenBLAS", "openblas"
	}
	build := func(pkg, bin string) (string, error) {
		out := filepath.Join(c.binDir, bin+"-"+name)
		args := []string{"build", "-o", out}
		if b.Tags != "" {
			args = append(args, "-tags", b.Tags)
		}
		cmd := exec.Command(goTool(), append(args, pkg)...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go %s failed: %s", strings.Join(cmd.Args[1:], " "), firstLines(string(msg), 3))
		}
		return out, nil
	}
	var err error
	if b.graft, err = build("./cmd/graft", "graft"); err != nil {
		b.Error = err.Error()
		if name == "openblas" {
			b.Error = "OpenBLAS build failed (it needs cgo and libopenblas-dev: apt-get install libopenblas-dev): " + b.Error
		}
		return b
	}
	if b.inference, err = build("./bench/inference", "inference"); err != nil {
		b.InferenceError = err.Error()
	}
	return b
}

// goTool returns the go command that runs this program, or "go" from PATH.
func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// target is one of issue 6's bars applied to a row.
type target struct {
	Bar string `json:"bar"`
	Met bool   `json:"met"`
}

// judge fills in the row's target (the bars of issue 6) and whether it holds.
func judge(b *buildResult, r *row) {
	var targets []string
	met := true
	check := func(desc string, ok bool) {
		word := "ok"
		if !ok {
			word = "MISS"
			met = false
		}
		targets = append(targets, desc+" "+word)
		r.Targets = append(r.Targets, target{Bar: desc, Met: ok})
	}
	if r.Graft > 0 && r.Reference > 0 {
		switch {
		case r.Section == "inference" && r.Batch == 8 && b.Tags == "openblas" && (r.Model == "resnet18" || r.Model == "mobilenet_v2"):
			check("lat<=1.5x", r.Graft <= 1.5*r.Reference)
		case r.Section == "train" && r.Mode == "full":
			check(">=1x", r.Graft >= r.Reference)
		case r.Section == "transfer" && r.Mode == "end-to-end":
			acc, _ := r.Details["graft_accuracy"].(float64)
			refAcc, _ := r.Details["reference_accuracy"].(float64)
			check(">=3x", r.Speedup >= 3 && acc >= refAcc-0.005)
		}
	}
	if (r.Section == "train" || (r.Section == "transfer" && r.Mode == "end-to-end")) && r.GraftRSSMiB > 0 && r.RefRSSMiB > 0 {
		check("rss<=ref", r.GraftRSSMiB <= r.RefRSSMiB)
	}
	if len(targets) > 0 {
		r.Target = strings.Join(targets, ", ")
		r.TargetMet = &met
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// progress prints what the suite is doing to stderr, so that stdout holds
// only the tables.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscan(string(b), &l)
	return l
}
