package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/graftml/graft/finetune"
	"github.com/graftml/graft/onnx"
)

// inferenceJSON is what bench/inference -json prints.
type inferenceJSON struct {
	BLAS        string `json:"blas"`
	ORT         string `json:"onnxruntime"`
	ORTMissing  string `json:"onnxruntime_missing"`
	Runs        int    `json:"runs"`
	Warmup      int    `json:"warmup"`
	InferenceMS []struct {
		Model      string  `json:"model"`
		Batch      int     `json:"batch"`
		GraftMS    float64 `json:"graft_ms"`
		ORTMS      float64 `json:"onnxruntime_ms"`
		MaxAbsDiff float64 `json:"max_abs_diff"`
		Note       string  `json:"note"`
	} `json:"rows"`
}

var inferenceBatches = []int{1, 8}

// Short notes for missing references; the footer says why and how to fix.
const (
	noteNoModel  = "model missing (see below)"
	noteNoORT    = "no onnxruntime (see below)"
	noteNoTorch  = "no PyTorch (see below)"
	noteNoFMNIST = "no Fashion-MNIST (see below)"
)

// inferenceRows measures latency (graft and onnxruntime in one process per
// build) and the peak RSS of each engine alone (one process per engine,
// model and batch; onnxruntime's once, with the first build's binary).
func inferenceRows(c *config, builds []*buildResult) {
	ort := avail{missing: "not measured"}
	var present []string
	for _, m := range c.infModels {
		if _, err := os.Stat(filepath.Join(c.models, m+".onnx")); err == nil {
			present = append(present, m)
		}
	}
	batches := joinInts(inferenceBatches)
	ortRSS := map[string]float64{}
	ortRSSErr := map[string]string{}
	for bi, b := range builds {
		if b.Error != "" {
			continue
		}
		rows := map[string]*row{}
		for _, m := range c.infModels {
			for _, batch := range inferenceBatches {
				r := &row{Section: "inference", Name: fmt.Sprintf("%s b%d", m, batch), Model: m, Batch: batch, Unit: "ms", RefName: "onnxruntime"}
				rows[r.Name] = r
				b.Rows = append(b.Rows, r)
				if _, err := os.Stat(filepath.Join(c.models, m+".onnx")); err != nil {
					r.Note = noteNoModel
				}
			}
		}
		if b.InferenceError != "" {
			for _, r := range rows {
				r.Note = appendNote(r.Note, "bench/inference did not build: "+b.InferenceError)
			}
			continue
		}
		if len(present) == 0 {
			continue
		}
		if v, err := engines(c, b); err == nil {
			ort = v.ort()
		}
		args := []string{b.inference, "-models", c.models, "-names", strings.Join(present, ","), "-batches", batches,
			"-threads", strconv.Itoa(c.threads), "-runs", strconv.Itoa(c.infRuns), "-warmup", strconv.Itoa(c.infWarmup), "-json"}
		progress("%s build: inference latency, graft and onnxruntime in one process (%s)", b.Name, strings.Join(present, ", "))
		p := runProc(c, args...)
		var out inferenceJSON
		if err := p.lastJSON(&out); err != nil {
			for _, m := range present {
				for _, batch := range inferenceBatches {
					rows[fmt.Sprintf("%s b%d", m, batch)].Note = "bench/inference failed: " + err.Error()
				}
			}
			continue
		}
		b.BLAS = out.BLAS
		for _, ir := range out.InferenceMS {
			r := rows[fmt.Sprintf("%s b%d", ir.Model, ir.Batch)]
			if r == nil {
				continue
			}
			r.GraftCmd = strings.Join(args, " ")
			r.Graft, r.Reference = ir.GraftMS, ir.ORTMS
			r.Details = map[string]any{"runs": out.Runs, "warmup": out.Warmup}
			if ir.ORTMS > 0 {
				r.RefName = "onnxruntime " + out.ORT
				r.Details["max_abs_diff"] = ir.MaxAbsDiff
			} else if out.ORTMissing != "" {
				r.Note = noteNoORT
			}
			if ir.Note != "" && ir.Note != "no onnxruntime" {
				r.Note = ir.Note
			}
		}
		// Peak RSS of each engine alone.
		for _, m := range present {
			for _, batch := range inferenceBatches {
				r := rows[fmt.Sprintf("%s b%d", m, batch)]
				one := []string{"-models", c.models, "-names", m, "-batches", strconv.Itoa(batch),
					"-threads", strconv.Itoa(c.threads), "-runs", "1", "-warmup", "1", "-json"}
				progress("%s build: peak RSS of graft alone, %s", b.Name, r.Name)
				if p := runProc(c, append(append([]string{b.inference}, one...), "-only", "graft")...); p.err == nil {
					r.GraftRSSMiB = p.peakRSSMiB
				} else {
					r.Note = appendNote(r.Note, "graft RSS run: "+p.err.Error())
				}
				if bi == firstUsable(builds) && ort.ok {
					progress("peak RSS of onnxruntime alone, %s", r.Name)
					if p := runProc(c, append(append([]string{b.inference}, one...), "-only", "onnxruntime")...); p.err == nil {
						ortRSS[r.Name] = p.peakRSSMiB
					} else {
						ortRSSErr[r.Name] = "onnxruntime RSS run: " + p.err.Error()
					}
				}
				r.RefRSSMiB = ortRSS[r.Name]
				if e := ortRSSErr[r.Name]; e != "" {
					r.Note = appendNote(r.Note, e)
				}
			}
		}
	}
}

// versionJSON is what bench/inference -version prints.
type versionJSON struct {
	BLAS       string `json:"blas"`
	ORT        string `json:"onnxruntime"`
	ORTMissing string `json:"onnxruntime_missing"`
}

func (v versionJSON) ort() avail {
	if v.ORT != "" {
		return avail{ok: true, what: "onnxruntime " + v.ORT + " (onnxruntime_go, npm onnxruntime-node library)"}
	}
	return avail{missing: v.ORTMissing}
}

// engines asks a build's bench/inference for its GEMM backend and the
// onnxruntime version.
func engines(c *config, b *buildResult) (versionJSON, error) {
	var v versionJSON
	if b.Error != "" || b.InferenceError != "" {
		return v, fmt.Errorf("bench/inference not built")
	}
	err := runProc(c, b.inference, "-version").lastJSON(&v)
	return v, err
}

func firstUsable(builds []*buildResult) int {
	for i, b := range builds {
		if b.Error == "" && b.InferenceError == "" {
			return i
		}
	}
	return -1
}

// lastBlock holds graft --freeze specs equivalent to
// bench/pytorch_train_step.py's "last" mode: the parameters of the last
// block(s) and the classifier train (ONNX initializer names are the torch
// parameter names), everything else is frozen with BatchNormalization on
// running statistics.
var lastBlock = map[string]string{
	"resnet18":        `all,train=^(layer4|fc)\.`,
	"mobilenet_v2":    `all,train=^(features\.1[78]|classifier)\.`,
	"efficientnet_b0": `all,train=^(features\.[78]|classifier)\.`,
}

// trainJSON is the JSON line of graft bench --train and of
// bench/pytorch_train_step.py.
type trainJSON struct {
	BLAS            string  `json:"blas"`
	Torch           string  `json:"torch"`
	MedianMS        float64 `json:"median_ms"`
	SamplesPerS     float64 `json:"samples_per_s"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
	CPUMS           float64 `json:"cpu_ms_per_run"`
	CPUMSPerStep    float64 `json:"cpu_ms_per_step"`
	TrainableParams int64   `json:"trainable_params"`
	Params          int64   `json:"params"`
}

const trainBatch = 16

// trainRows measures fine-tuning throughput: per model and mode,
// c.trainRounds rounds of one PyTorch process then one graft process per
// build, each with its own peak RSS.
func trainRows(c *config, builds []*buildResult, torch avail) {
	for _, m := range c.trainModels {
		path := filepath.Join(c.models, m+"_bn.onnx")
		_, statErr := os.Stat(path)
		for _, mode := range []string{"full", "last"} {
			name := fmt.Sprintf("%s %s b%d", m, mode, trainBatch)
			spec := "none"
			if mode == "last" {
				spec = lastBlock[m]
			}
			base := row{Section: "train", Name: name, Model: m, Batch: trainBatch, Mode: mode, Unit: "samples/s", RefName: "PyTorch",
				Details: map[string]any{"freeze": spec, "runs": c.trainRuns, "warmup": c.trainWarmup}}
			if statErr != nil {
				base.Note = noteNoModel
			} else if spec == "" {
				base.Note = "no last-block freeze spec for " + m
			}
			var graftParams int64
			if base.Note == "" {
				n, err := trainableParams(path, spec)
				if err != nil {
					base.Note = err.Error()
				}
				graftParams = n
				base.Details["graft_trainable_params"] = n
			}
			// The engines alternate in rounds (PyTorch, then each build),
			// one process each per round, so that a slow phase of a shared
			// machine slows all of them alike; each engine's result is the
			// median over its rounds, its peak RSS the largest.
			refNote := ""
			var refRuns []float64
			var ref trainJSON
			graftRuns := make([][]float64, len(builds))
			graftLast := make([]trainJSON, len(builds))
			graftRSS := make([]float64, len(builds))
			graftErr := make([]string, len(builds))
			refArgs := []string{c.python, filepath.Join("bench", "pytorch_train_step.py"), m, mode, "--batch", strconv.Itoa(trainBatch),
				"--runs", strconv.Itoa(c.trainRuns), "--warmup", strconv.Itoa(c.trainWarmup), "--threads", strconv.Itoa(c.threads)}
			if !torch.ok {
				refNote = noteNoTorch
			} else {
				base.RefCmd = strings.Join(refArgs, " ")
			}
			graftArgs := func(b *buildResult) []string {
				return []string{b.graft, "bench", path, "--train", "--batch", strconv.Itoa(trainBatch), "--freeze", spec,
					"--runs", strconv.Itoa(c.trainRuns), "--warmup", strconv.Itoa(c.trainWarmup), "--threads", strconv.Itoa(c.threads), "--json"}
			}
			for round := 1; round <= c.trainRounds && base.Note == ""; round++ {
				if torch.ok && refNote == "" {
					progress("PyTorch: training step %s (round %d of %d)", name, round, c.trainRounds)
					p := runProc(c, refArgs...)
					var rj trainJSON
					if err := p.lastJSON(&rj); err != nil {
						refNote = "PyTorch run failed: " + err.Error()
					} else {
						ref = rj
						refRuns = append(refRuns, rj.SamplesPerS)
						base.RefRSSMiB = max(base.RefRSSMiB, p.peakRSSMiB)
					}
				}
				for i, b := range builds {
					if b.Error != "" || graftErr[i] != "" {
						continue
					}
					progress("%s build: graft training step %s (round %d of %d)", b.Name, name, round, c.trainRounds)
					p := runProc(c, graftArgs(b)...)
					var g trainJSON
					if err := p.lastJSON(&g); err != nil {
						graftErr[i] = "graft bench failed: " + err.Error()
						continue
					}
					graftLast[i] = g
					graftRuns[i] = append(graftRuns[i], g.SamplesPerS)
					graftRSS[i] = max(graftRSS[i], p.peakRSSMiB)
				}
			}
			if len(refRuns) > 0 {
				base.Reference = median(refRuns)
				base.RefName = "PyTorch " + ref.Torch
				base.Details["reference_median_ms"] = ref.MedianMS
				base.Details["reference_cpu_ms_per_step"] = ref.CPUMSPerStep
				base.Details["reference_trainable_params"] = ref.TrainableParams
				base.Details["reference_rounds"] = refRuns
			}
			for i, b := range builds {
				if b.Error != "" {
					continue
				}
				r := base
				r.Details = copyMap(base.Details)
				b.Rows = append(b.Rows, &r)
				r.Note = appendNote(r.Note, refNote)
				if base.Note != "" {
					continue
				}
				r.GraftCmd = strings.Join(graftArgs(b), " ")
				if graftErr[i] != "" || len(graftRuns[i]) == 0 {
					r.Note = appendNote(r.Note, graftErr[i])
					continue
				}
				g := graftLast[i]
				if b.BLAS == "" {
					b.BLAS = g.BLAS
				}
				r.Graft = median(graftRuns[i])
				r.GraftRSSMiB = graftRSS[i]
				r.Details["graft_median_ms"] = g.MedianMS
				r.Details["graft_rounds"] = graftRuns[i]
				if g.CPUMS > 0 {
					r.Details["graft_cpu_ms_per_step"] = g.CPUMS
				}
				note := fmt.Sprintf("trainable params %s", millions(graftParams))
				if ref.TrainableParams > 0 {
					if ref.TrainableParams == graftParams {
						note += " (= PyTorch)"
					} else {
						note += fmt.Sprintf(" vs PyTorch %s: MISMATCH (models exported before BN parameters were made distinct? re-run testdata/gen/export_bench_models.py --keep-bn)", millions(ref.TrainableParams))
					}
				}
				r.Note = appendNote(note, r.Note)
			}
		}
	}
}

// trainableParams counts the parameters graft bench --train --freeze spec
// trains: the same head detection and freeze parsing.
func trainableParams(path, spec string) (int64, error) {
	g, err := onnx.LoadGraph(path)
	if err != nil {
		return 0, err
	}
	h, err := finetune.FindHead(g)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	f, err := finetune.ParseFreeze(g, h, spec)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	var n int64
	for _, name := range f.TrainableNames() {
		n += int64(g.Params[name].Value.Len())
	}
	return n, nil
}

// finetuneJSON is the part of graft finetune --json the suite reads.
type finetuneJSON struct {
	Test struct {
		Accuracy   float64 `json:"accuracy"`
		NumSamples int     `json:"num_samples"`
	} `json:"test"`
	TrainSeconds float64 `json:"TrainSeconds"`
	Trainable    int64   `json:"Trainable"`
}

// pytorchFinetuneJSON is the last line of bench/pytorch_finetune.py.
type pytorchFinetuneJSON struct {
	Framework    string  `json:"framework"`
	TestAccuracy float64 `json:"test_accuracy"`
	TestImages   int     `json:"test_images"`
	TrainSeconds float64 `json:"train_seconds"`
}

const fmnistModel = "testdata/models/fmnist_cnn.onnx"

// transferRows runs the Fashion-MNIST transfer task: c.transferRuns
// processes per side, alternating, median wall time to the final accuracy.
func transferRows(c *config, builds []*buildResult, torch avail, fmnist avail) {
	type side struct {
		walls, trains []float64
		rss           float64
		accs          []float64
		err           string
		cmd           string
		name          string
	}
	ref := &side{name: "PyTorch"}
	graft := map[*buildResult]*side{}
	for _, b := range builds {
		if b.Error == "" {
			graft[b] = &side{}
		}
	}
	switch {
	case !fmnist.ok:
		ref.err = noteNoFMNIST
	case !torch.ok:
		ref.err = noteNoTorch
	}
	for i := 0; i < c.transferRuns && fmnist.ok; i++ {
		if torch.ok && ref.err == "" {
			args := []string{c.python, filepath.Join("bench", "pytorch_finetune.py")}
			ref.cmd = strings.Join(args, " ")
			progress("PyTorch: Fashion-MNIST transfer, run %d of %d", i+1, c.transferRuns)
			p := runProc(c, args...)
			var out pytorchFinetuneJSON
			if err := p.lastJSON(&out); err != nil {
				ref.err = "PyTorch run failed: " + err.Error()
			} else {
				ref.name = "PyTorch " + strings.TrimPrefix(out.Framework, "pytorch ")
				ref.walls = append(ref.walls, p.wall.Seconds())
				ref.trains = append(ref.trains, out.TrainSeconds)
				ref.accs = append(ref.accs, out.TestAccuracy)
				ref.rss = max(ref.rss, p.peakRSSMiB)
			}
		}
		for _, b := range builds {
			s := graft[b]
			if s == nil || s.err != "" {
				continue
			}
			args := []string{b.graft, "finetune", fmnistModel, "--data", "fashion-mnist:train", "--test-data", "fashion-mnist:test",
				"--classes", "5-9", "--per-class", "50", "--num-classes", "5", "--freeze", "all-but-head",
				"--optimizer", "adam", "--lr", "1e-3", "--batch-size", "32", "--epochs", "30", "--seed", "0", "--json"}
			s.cmd = strings.Join(args, " ")
			progress("%s build: graft Fashion-MNIST transfer, run %d of %d", b.Name, i+1, c.transferRuns)
			p := runProc(c, args...)
			var out finetuneJSON
			if err := decodeWhole(p, &out); err != nil {
				s.err = "graft finetune failed: " + err.Error()
				continue
			}
			s.walls = append(s.walls, p.wall.Seconds())
			s.trains = append(s.trains, out.TrainSeconds)
			s.accs = append(s.accs, out.Test.Accuracy)
			s.rss = max(s.rss, p.peakRSSMiB)
		}
	}
	for _, b := range builds {
		s := graft[b]
		if s == nil {
			continue
		}
		for _, mode := range []string{"train-loop", "end-to-end"} {
			r := &row{Section: "transfer", Name: "fmnist_cnn head-only " + mode, Model: "fmnist_cnn", Mode: mode, Unit: "s", RefName: ref.name,
				GraftCmd: s.cmd, RefCmd: ref.cmd, Details: map[string]any{"runs": c.transferRuns}}
			b.Rows = append(b.Rows, r)
			pick := func(x *side) []float64 {
				if mode == "train-loop" {
					return x.trains
				}
				return x.walls
			}
			if !fmnist.ok {
				r.Note = noteNoFMNIST
				continue
			}
			if len(s.walls) > 0 {
				r.Graft = median(pick(s))
				r.Details["graft_accuracy"] = median(s.accs)
			}
			if len(ref.walls) > 0 {
				r.Reference = median(pick(ref))
				r.Details["reference_accuracy"] = median(ref.accs)
			}
			if mode == "end-to-end" {
				r.GraftRSSMiB, r.RefRSSMiB = s.rss, ref.rss
			}
			var notes []string
			if len(s.accs) > 0 {
				a := fmt.Sprintf("accuracy %.4f", median(s.accs))
				if len(ref.accs) > 0 {
					a += fmt.Sprintf(" (PyTorch %.4f)", median(ref.accs))
				}
				if spread(s.accs) > 0 || spread(ref.accs) > 0 {
					a += " varies across runs"
				}
				notes = append(notes, a)
			}
			if mode == "train-loop" {
				notes = append(notes, "graft: feature cache + 30 epochs; PyTorch: 30 epochs, trunk forward every step")
			} else {
				notes = append(notes, "whole process: load, data, train, test on 5000")
			}
			r.Note = strings.Join(append(notes, s.err, ref.err), "; ")
			r.Note = strings.Trim(strings.ReplaceAll(r.Note, "; ; ", "; "), "; ")
		}
	}
}

// decodeWhole decodes stdout as one JSON document (graft finetune --json
// prints it over several lines).
func decodeWhole(p proc, v any) error {
	if p.err != nil {
		return p.err
	}
	s := p.stdout
	if i := strings.Index(s, "{"); i >= 0 {
		s = s[i:]
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("reading the JSON output: %w", err)
	}
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64{}, v...)
	sort.Float64s(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func spread(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return hi - lo
}

func millions(n int64) string {
	if n >= 1e6 {
		return fmt.Sprintf("%.3fM (%d)", float64(n)/1e6, n)
	}
	return strconv.FormatInt(n, 10)
}

func appendNote(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
