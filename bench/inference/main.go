// Command inference measures graft's inference latency next to
// onnxruntime's, in the same process, on the same inputs and with the same
// thread count, and prints median latencies and their ratio.
//
//	go run [-tags openblas] ./bench/inference -models testdata/bench
//
// With -only graft or -only onnxruntime it runs one engine alone (the other
// is never loaded), so that the process's peak RSS is that engine's: make
// bench (bench/suite) runs it that way, one process per model and batch.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

type row struct {
	Model      string  `json:"model"`
	Batch      int     `json:"batch"`
	GraftMS    float64 `json:"graft_ms"`
	ORTMS      float64 `json:"onnxruntime_ms,omitempty"`
	Ratio      float64 `json:"ratio,omitempty"`
	MaxAbsDiff float64 `json:"max_abs_diff,omitempty"`
	Note       string  `json:"note,omitempty"`
}

func main() {
	dir := flag.String("models", "testdata/bench", "folder with the exported benchmark models")
	names := flag.String("names", "resnet18,mobilenet_v2,efficientnet_b0", "models to run (comma-separated)")
	batches := flag.String("batches", "1,8", "batch sizes")
	runs := flag.Int("runs", 10, "timed runs per measurement (median reported)")
	warm := flag.Int("warmup", 2, "untimed warm-up runs")
	rounds := flag.Int("rounds", 5, "alternate the engines this many times, runs/rounds timed runs each")
	threads := flag.Int("threads", 2, "threads for both runtimes (GOMAXPROCS for graft)")
	asJSON := flag.Bool("json", false, "print JSON")
	only := flag.String("only", "", "run one engine alone: graft or onnxruntime (for its peak RSS)")
	version := flag.Bool("version", false, "print graft's GEMM backend and the onnxruntime version (or why it is missing) as JSON, run nothing")
	flag.Parse()
	runtime.GOMAXPROCS(*threads)
	if *version {
		out := map[string]any{"blas": nn.BLASBackend()}
		if v, err := ortref.Version(); err != nil {
			out["onnxruntime_missing"] = err.Error()
		} else {
			out["onnxruntime"] = v
		}
		json.NewEncoder(os.Stdout).Encode(out)
		return
	}

	var rows []row
	var ortErr error
	ortVersion := ""
	switch *only {
	case "":
		ortErr = ortref.Init()
	case "graft":
		ortErr = fmt.Errorf("not run (-only graft)")
	case "onnxruntime", "ort":
		*only = "onnxruntime"
		ortErr = ortref.Init()
		if ortErr != nil {
			fmt.Fprintf(os.Stderr, "onnxruntime reference missing: %v\n", ortErr)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "-only %q: want graft or onnxruntime\n", *only)
		os.Exit(2)
	}
	if ortErr == nil {
		ortVersion, _ = ortref.Version()
	}
	for _, name := range strings.Split(*names, ",") {
		path := filepath.Join(*dir, name+".onnx")
		if _, err := os.Stat(path); err != nil {
			rows = append(rows, row{Model: name, Note: "model missing: run testdata/gen/export_bench_models.py"})
			continue
		}
		if *only == "onnxruntime" {
			rows = append(rows, measureORT(name, path, *threads, parseInts(*batches), *runs, *warm)...)
			continue
		}
		g, err := onnx.LoadGraph(path)
		if err != nil {
			rows = append(rows, row{Model: name, Note: "graft import: " + err.Error()})
			continue
		}
		rows = append(rows, measurePair(name, path, g, parseInts(*batches), *threads, *runs, *warm, *rounds, ortErr)...)
		debug.FreeOSMemory()
	}
	if *asJSON {
		out := map[string]any{"blas": nn.BLASBackend(), "threads": *threads, "runs": *runs, "warmup": *warm, "rows": rows}
		if ortVersion != "" {
			out["onnxruntime"] = ortVersion
		} else if ortErr != nil {
			out["onnxruntime_missing"] = ortErr.Error()
		}
		json.NewEncoder(os.Stdout).Encode(out)
		return
	}
	fmt.Printf("graft %s BLAS, %d threads, median of %d runs after %d warm-up\n", nn.BLASBackend(), *threads, *runs, *warm)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "MODEL\tBATCH\tGRAFT ms\tONNXRUNTIME ms\tGRAFT/ORT\tMAX |DIFF|\t")
	for _, r := range rows {
		if r.Note != "" && r.GraftMS == 0 {
			fmt.Fprintf(tw, "%s\t%d\t-\t-\t-\t%s\t\n", r.Model, r.Batch, r.Note)
			continue
		}
		ortCol, ratio := "-", r.Note
		if r.ORTMS > 0 {
			ortCol, ratio = fmt.Sprintf("%.2f", r.ORTMS), fmt.Sprintf("%.2fx", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%s\t%s\t%.2g\t\n", r.Model, r.Batch, r.GraftMS, ortCol, ratio, r.MaxAbsDiff)
	}
	tw.Flush()
	if ortErr != nil {
		fmt.Printf("onnxruntime reference missing: %v\n", ortErr)
	}
}

// ortSpinPause is how long the engines rest after an onnxruntime block
// before graft's: onnxruntime's worker threads spin for a while after
// each run and took CPU from graft's runs that followed at once.
const ortSpinPause = 200 * time.Millisecond

// blockWarm is how long every block of either engine runs untimed first
// (at least one run). The first runs after an idle spell are slow on this
// virtual machine (graft mobilenet_v2 at batch 8: 48-71 ms after a 200 ms
// sleep, 41 ms back to back; 20 ms of busy work before them removed the
// difference), and without it only graft's blocks, which follow the
// pause, started cold while onnxruntime's followed graft's runs. A single
// warm-up run was not enough at batch 1: graft's mobilenet_v2 measured
// 12 ms against 9 ms alone.
const blockWarm = 100 * time.Millisecond

// warmUp runs run untimed for at least blockWarm, and at least once.
func warmUp(run func() error) error {
	start := time.Now()
	for {
		if err := run(); err != nil {
			return err
		}
		if time.Since(start) >= blockWarm {
			return nil
		}
	}
}

// graftBlock is one block of graft: warm-up (warmUp), then n timed runs.
func graftBlock(g *nn.Graph, feed map[string]*nn.Tensor, n int) (map[string]*nn.Tensor, []float64, error) {
	if err := warmUp(func() error { _, err := g.Run(nil, feed); return err }); err != nil {
		return nil, nil, err
	}
	return timeGraft(g, feed, n)
}

// ortBlock is one block of onnxruntime: warm-up (warmUp), then n timed
// runs.
func ortBlock(sess *ortref.Session, feed map[string]*nn.Tensor, n int) ([]float64, map[string]*nn.Tensor, error) {
	if err := warmUp(func() error { _, err := sess.Run(feed); return err }); err != nil {
		return nil, nil, err
	}
	return timeORT(sess, feed, n, 0)
}

// measurePair times graft and onnxruntime (when ortErr is nil) on the
// same random inputs at each batch size, in alternating blocks: after
// warm untimed runs of each, rounds rounds of runs/rounds timed runs of
// graft then of onnxruntime, each block after blockWarm of untimed runs. A
// slow phase of a shared machine then slows both engines' medians alike
// instead of whichever ran in it. Graft's outputs are compared with
// onnxruntime's.
func measurePair(name, path string, g *nn.Graph, batches []int, threads, runs, warm, rounds int, ortErr error) []row {
	rounds = max(1, min(rounds, runs))
	var sess *ortref.Session
	if ortErr == nil {
		var err error
		if sess, err = ortref.Open(path, threads); err != nil {
			ortErr = err
		}
	}
	if sess != nil {
		defer sess.Close()
	}
	var rows []row
	for _, batch := range batches {
		r := row{Model: name, Batch: batch}
		feed, err := onnx.ZeroInputs(g, batch)
		if err != nil {
			r.Note = err.Error()
			rows = append(rows, r)
			continue
		}
		rng := rand.New(rand.NewSource(1))
		for _, t := range feed {
			for i := range t.F32 {
				t.F32[i] = float32(rng.NormFloat64())
			}
		}
		graftOut, _, err := timeGraft(g, feed, warm)
		if err != nil {
			r.Note = "graft: " + err.Error()
			rows = append(rows, r)
			continue
		}
		var ortOut map[string]*nn.Tensor
		if sess != nil {
			if _, ortOut, err = timeORT(sess, feed, 0, warm); err != nil {
				r.Note = "onnxruntime: " + err.Error()
				sess.Close()
				sess = nil
			}
		}
		var gt, ot []float64
		for k := 0; k < rounds; k++ {
			n := runs*(k+1)/rounds - runs*k/rounds
			if sess != nil {
				time.Sleep(ortSpinPause)
			}
			out, t, err := graftBlock(g, feed, n)
			if err != nil {
				r.Note = "graft: " + err.Error()
				break
			}
			gt, graftOut = append(gt, t...), out
			if sess != nil {
				t, out, err := ortBlock(sess, feed, n)
				if err != nil {
					r.Note = "onnxruntime: " + err.Error()
					sess.Close()
					sess = nil
					continue
				}
				ot = append(ot, t...)
				ortOut = out
			}
		}
		if len(gt) > 0 {
			r.GraftMS = median(gt)
		}
		if len(ot) > 0 && r.GraftMS > 0 {
			r.ORTMS = median(ot)
			r.Ratio = r.GraftMS / r.ORTMS
			for _, o := range g.Outputs {
				if d, err := nn.Compare(graftOut[o.Name], ortOut[o.Name], 0, 0); err == nil && d.MaxAbs > r.MaxAbsDiff {
					r.MaxAbsDiff = d.MaxAbs
				}
			}
		} else if ortErr != nil && r.Note == "" {
			r.Note = "no onnxruntime"
		}
		rows = append(rows, r)
	}
	return rows
}

// timeGraft runs g n times on feed and returns the last outputs and the
// latencies in ms.
func timeGraft(g *nn.Graph, feed map[string]*nn.Tensor, n int) (map[string]*nn.Tensor, []float64, error) {
	var out map[string]*nn.Tensor
	times := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		o, err := g.Run(nil, feed)
		el := time.Since(start)
		if err != nil {
			return out, times, err
		}
		out = o
		times = append(times, ms(el))
	}
	return out, times, nil
}

// measureORT times onnxruntime alone on random inputs of the shapes the
// session declares, the dynamic first dimension set to each batch size.
func measureORT(name, path string, threads int, batches []int, runs, warm int) []row {
	sess, err := ortref.Open(path, threads)
	if err != nil {
		return []row{{Model: name, Note: "onnxruntime: " + err.Error()}}
	}
	defer sess.Close()
	var rows []row
	for _, b := range batches {
		r := row{Model: name, Batch: b}
		feed := map[string]*nn.Tensor{}
		rng := rand.New(rand.NewSource(1))
		for _, in := range sess.Inputs() {
			if in.DType != nn.Float32 || in.Shape == nil {
				r.Note = fmt.Sprintf("input %q: only float32 inputs of known rank are generated", in.Name)
				break
			}
			shape := make([]int, len(in.Shape))
			for i, d := range in.Shape {
				shape[i] = int(d)
				if d < 0 {
					shape[i] = 1
					if i == 0 {
						shape[i] = b
					}
				}
			}
			t := nn.New(nn.Float32, shape...)
			for i := range t.F32 {
				t.F32[i] = float32(rng.NormFloat64())
			}
			feed[in.Name] = t
		}
		if r.Note != "" {
			rows = append(rows, r)
			continue
		}
		times, _, err := timeORT(sess, feed, runs, warm)
		if err != nil {
			r.Note = "onnxruntime: " + err.Error()
		}
		r.ORTMS = median(times)
		rows = append(rows, r)
	}
	return rows
}

// timeORT runs the session warm+runs times on feed and returns the timed
// runs' latencies in ms and the last outputs; on an error it returns what
// it timed before it.
func timeORT(sess *ortref.Session, feed map[string]*nn.Tensor, runs, warm int) ([]float64, map[string]*nn.Tensor, error) {
	times := make([]float64, 0, runs)
	var last map[string]*nn.Tensor
	for i := 0; i < warm+runs; i++ {
		start := time.Now()
		out, err := sess.Run(feed)
		el := time.Since(start)
		if err != nil {
			return times, last, err
		}
		last = out
		if i >= warm {
			times = append(times, ms(el))
		}
	}
	return times, last, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(v []float64) float64 {
	s := append([]float64{}, v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func parseInts(s string) []int {
	var out []int
	for _, p := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(p), &n); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}
