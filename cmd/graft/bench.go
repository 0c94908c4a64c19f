package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/graftml/graft/finetune"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/spf13/cobra"
)

type benchOptions struct {
	Model   string
	Inputs  []string
	Batch   int
	Runs    int
	Warmup  int
	Threads int
	JSON    bool
	// Train measures a training step (forward, loss, backward, SGD with
	// momentum) instead of inference.
	Train  bool
	Freeze string
	LR     float64
	// CPUProfile, when set, receives a pprof CPU profile of the timed runs.
	CPUProfile string
	// Trace, when set, receives a runtime execution trace of the timed
	// runs (go tool trace): where threads wait, not only where they work.
	Trace string
}

// benchResult is what graft bench reports; times are in milliseconds.
type benchResult struct {
	Model      string  `json:"model"`
	Mode       string  `json:"mode"`
	Freeze     string  `json:"freeze,omitempty"`
	Batch      int     `json:"batch"`
	Threads    int     `json:"threads"`
	BLAS       string  `json:"blas"`
	Runs       int     `json:"runs"`
	Warmup     int     `json:"warmup"`
	LoadMS     float64 `json:"load_ms"`
	MedianMS   float64 `json:"median_ms"`
	MinMS      float64 `json:"min_ms"`
	MaxMS      float64 `json:"max_ms"`
	MeanMS     float64 `json:"mean_ms"`
	P90MS      float64 `json:"p90_ms"`
	Throughput float64 `json:"samples_per_s"`
	PeakRSSMiB float64 `json:"peak_rss_mib,omitempty"`
	// CPUMS is the process CPU time (user+system, all threads) per timed
	// run: steadier than latency on a busy machine.
	CPUMS float64 `json:"cpu_ms_per_run,omitempty"`
}

func newBenchCmd() *cobra.Command {
	opts := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench MODEL [--batch N] [--runs R] [--warmup W] [--threads T] [--train] [--json]",
		Short: "Measure inference (or training-step) latency and throughput of a model",
		Long: `bench loads the model once, runs inference --warmup times untimed, then
--runs timed times, and reports the median (and min, mean, p90, max) latency
per run and the throughput in samples per second (batch / median). Model
loading is timed separately and excluded. Inputs are random (floats) or zero
(integers, booleans) tensors of the declared shapes, with the batch dimension
set to --batch; give --input NAME=FILE for inputs with other free dimensions.

With --train, each run is one training step instead: forward in training
mode, cross-entropy on random labels against the model's classifier head,
backward to the trainable parameters and an SGD step with momentum 0.9 (the
PyTorch fine-tuning step). --freeze chooses what trains, as in graft
finetune: none (default, full fine-tuning), all-but-head, last=N, until=NODE,
train=REGEX and so on; BatchNormalization in the trained part uses batch
statistics.`,
		Example: `  graft bench model.onnx --batch 8 --runs 50 --threads 4
  graft bench model.onnx --input tokens=ids.npy --json
  graft bench resnet18.onnx --train --batch 16
  graft bench resnet18.onnx --train --batch 16 --freeze all,train=layer4`,
		Args: exactArgs(1, "one model path"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Model = args[0]
			if opts.Batch < 1 || opts.Runs < 1 || opts.Warmup < 0 || opts.Threads < 0 {
				return usageError{errors.New("--batch and --runs must be positive, --warmup and --threads not negative")}
			}
			return runBench(cmd.Context(), opts, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.IntVarP(&opts.Batch, "batch", "b", 1, "batch size of the generated inputs")
	f.IntVarP(&opts.Runs, "runs", "r", 20, "timed runs")
	f.IntVarP(&opts.Warmup, "warmup", "w", 3, "untimed warm-up runs")
	f.IntVarP(&opts.Threads, "threads", "t", 0, "threads (GOMAXPROCS); 0 keeps the default (all CPUs)")
	f.StringArrayVarP(&opts.Inputs, "input", "i", nil, "use this tensor (NAME=FILE, .npy or .pb) instead of generated data")
	f.BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	f.BoolVar(&opts.Train, "train", false, "measure a training step (forward, backward, SGD momentum) instead of inference")
	f.StringVar(&opts.Freeze, "freeze", "none", "with --train: what stays frozen (see graft finetune --freeze)")
	f.Float64Var(&opts.LR, "lr", 0.001, "with --train: SGD learning rate")
	f.StringVar(&opts.CPUProfile, "cpuprofile", "", "write a CPU profile of the timed runs to this file (go tool pprof)")
	f.StringVar(&opts.Trace, "trace", "", "write an execution trace of the timed runs to this file (go tool trace)")
	return cmd
}

func runBench(ctx context.Context, opts *benchOptions, w io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Threads > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(opts.Threads))
	}
	start := time.Now()
	g, err := onnx.LoadGraph(opts.Model)
	if err != nil {
		return err
	}
	load := time.Since(start)
	feed, err := benchInputs(g, opts)
	if err != nil {
		return err
	}
	run, err := benchRunner(ctx, g, feed, opts)
	if err != nil {
		return err
	}
	for i := 0; i < opts.Warmup; i++ {
		if err := run(); err != nil {
			return err
		}
	}
	if opts.CPUProfile != "" {
		f, err := os.Create(opts.CPUProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if opts.Trace != "" {
		f, err := os.Create(opts.Trace)
		if err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		defer trace.Stop()
	}
	cpu0 := cpuSeconds()
	times := make([]time.Duration, opts.Runs)
	for i := range times {
		t0 := time.Now()
		if err := run(); err != nil {
			return err
		}
		times[i] = time.Since(t0)
	}
	cpu := cpuSeconds() - cpu0
	r := benchSummary(times)
	r.CPUMS = cpu * 1000 / float64(opts.Runs)
	r.Model, r.Batch, r.Runs, r.Warmup = opts.Model, opts.Batch, opts.Runs, opts.Warmup
	r.Mode = "inference"
	if opts.Train {
		r.Mode, r.Freeze = "train", opts.Freeze
	}
	r.Threads, r.BLAS = runtime.GOMAXPROCS(0), nn.BLASBackend()
	r.LoadMS = ms(load)
	r.Throughput = float64(opts.Batch) / (r.MedianMS / 1000)
	r.PeakRSSMiB = peakRSSMiB()
	if opts.JSON {
		return json.NewEncoder(w).Encode(r)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Model\t%s\n", r.Model)
	fmt.Fprintf(tw, "Mode\t%s\n", r.Mode)
	if opts.Train {
		fmt.Fprintf(tw, "Freeze\t%s\n", r.Freeze)
	}
	fmt.Fprintf(tw, "Batch\t%d\n", r.Batch)
	fmt.Fprintf(tw, "Threads\t%d (%s BLAS)\n", r.Threads, r.BLAS)
	fmt.Fprintf(tw, "Load\t%.2f ms (not included below)\n", r.LoadMS)
	fmt.Fprintf(tw, "Runs\t%d timed after %d warm-up\n", r.Runs, r.Warmup)
	fmt.Fprintf(tw, "Latency\tmedian %.3f ms, min %.3f, mean %.3f, p90 %.3f, max %.3f\n", r.MedianMS, r.MinMS, r.MeanMS, r.P90MS, r.MaxMS)
	fmt.Fprintf(tw, "Throughput\t%.2f samples/s\n", r.Throughput)
	if r.CPUMS > 0 {
		fmt.Fprintf(tw, "CPU time\t%.1f ms per run (all threads)\n", r.CPUMS)
	}
	if r.PeakRSSMiB > 0 {
		fmt.Fprintf(tw, "Peak RSS\t%.0f MiB (whole process, load included)\n", r.PeakRSSMiB)
	}
	return tw.Flush()
}

// benchRunner returns the function one timed run calls: inference, or
// with --train one training step of a finetune.Trainer.
func benchRunner(ctx context.Context, g *nn.Graph, feed map[string]*nn.Tensor, opts *benchOptions) (func() error, error) {
	if !opts.Train {
		nctx := nn.NewContext(ctx)
		return func() error {
			_, err := g.Run(nctx, feed)
			return err
		}, nil
	}
	if len(feed) != 1 {
		return nil, fmt.Errorf("--train needs a model with one input, this one has %d", len(feed))
	}
	h, err := finetune.FindHead(g)
	if err != nil {
		return nil, fmt.Errorf("--train: %w", err)
	}
	tr, err := finetune.NewTrainer(g, h, finetune.Config{
		Epochs: 1, BatchSize: opts.Batch, LR: opts.LR, Freeze: opts.Freeze, Seed: 1,
		Optimizer: finetune.OptimizerConfig{Name: "sgd", Momentum: 0.9},
	})
	if err != nil {
		return nil, fmt.Errorf("--train: %w", err)
	}
	var x *nn.Tensor
	for _, t := range feed {
		x = t
	}
	rng := rand.New(rand.NewSource(2))
	labels := make([]int, x.Shape[0])
	for i := range labels {
		labels[i] = rng.Intn(h.Classes)
	}
	return func() error {
		_, err := tr.TrainStep(ctx, x, labels, opts.LR)
		return err
	}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchSummary computes the latency statistics of the timed runs; the
// throughput still has to be scaled by the batch size.
func benchSummary(times []time.Duration) benchResult {
	s := append([]time.Duration(nil), times...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	p90 := s[(9*n+9)/10-1]
	return benchResult{MedianMS: ms(med), MinMS: ms(s[0]), MaxMS: ms(s[n-1]), MeanMS: ms(sum) / float64(n), P90MS: ms(p90)}
}

// benchInputs builds the input tensors: the files given with --input, and
// generated tensors of the declared shapes for the others.
func benchInputs(g *nn.Graph, opts *benchOptions) (map[string]*nn.Tensor, error) {
	feed := map[string]*nn.Tensor{}
	for _, a := range opts.Inputs {
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
	rng := rand.New(rand.NewSource(1))
	for _, in := range g.Inputs {
		if feed[in.Name] != nil {
			continue
		}
		if !in.HasShape {
			return nil, usageError{fmt.Errorf("input %q has no declared shape: give it with --input %s=FILE", in.Name, in.Name)}
		}
		shape := make([]int, len(in.Shape))
		for i, d := range in.Shape {
			switch {
			case i == 0 && (d.Param != "" || d.Value < 0 || (g.FixedBatch > 0 && d.Value == g.FixedBatch)):
				shape[i] = opts.Batch
			case d.Param != "" || d.Value < 0:
				return nil, usageError{fmt.Errorf("input %q %s: dimension %d is free; give the input with --input %s=FILE", in.Name, in.ShapeString(), i, in.Name)}
			default:
				shape[i] = d.Value
			}
		}
		dt := in.DType
		if dt == nn.Undefined {
			dt = nn.Float32
		}
		t := nn.New(dt, shape...)
		for i := range t.F32 {
			t.F32[i] = float32(rng.NormFloat64())
		}
		t.RoundToDType()
		for i := range t.F64 {
			t.F64[i] = rng.NormFloat64()
		}
		feed[in.Name] = t
	}
	if err := g.CheckInputs(feed); err != nil {
		return nil, err
	}
	return feed, nil
}
