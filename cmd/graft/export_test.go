package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/finetune"
	"github.com/graftml/graft/finetune/checkpoint"
	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/internal/testenv"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
	"github.com/graftml/graft/onnx/onnxpb"
)

const (
	fmnistModel = "../../testdata/models/fmnist_cnn.onnx"
	fmnistData  = "../../testdata/fmnist"
)

// onnxChecker runs the official ONNX checker (full_check) on path through
// /usr/bin/python3. It skips when python3-onnx is absent, unless
// GRAFT_REQUIRE_ONNX_CHECKER=1.
func onnxChecker(t *testing.T, path string) {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import onnx").Run(); err != nil {
		if os.Getenv("GRAFT_REQUIRE_ONNX_CHECKER") == "1" {
			t.Fatalf("ONNX checker required (GRAFT_REQUIRE_ONNX_CHECKER=1) but /usr/bin/python3 cannot import onnx: %v", err)
		}
		t.Skipf("ONNX checker unavailable (/usr/bin/python3 cannot import onnx; apt-get install python3-onnx): %v", err)
	}
	out, err := exec.Command("/usr/bin/python3", "-c",
		"import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", path).CombinedOutput()
	if err != nil {
		t.Errorf("ONNX checker rejects %s: %v\n%s", path, err, out)
	}
}

// finetuneFMNIST fine-tunes fmnist_cnn for 2 epochs on testdata/fmnist and
// returns the written model and the last checkpoint.
func finetuneFMNIST(t *testing.T, dir string) (model, ckpt string) {
	t.Helper()
	model, ckpt = filepath.Join(dir, "tuned.onnx"), filepath.Join(dir, "run.ckpt")
	cfg := finetune.Config{Epochs: 2, BatchSize: 32, LR: 1e-3, Seed: 1, Freeze: "none", Checkpoint: ckpt}
	cfg.Optimizer.Name = "adam"
	if _, err := finetune.Run(context.Background(), finetune.Options{Model: fmnistModel, TrainData: fmnistData, Out: model, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	return model, ckpt
}

func exportT(t *testing.T, o *exportOptions) string {
	t.Helper()
	if o.Format == "" {
		o.Format = "onnx"
	}
	if o.Samples == 0 {
		o.Samples = 4
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 32
	}
	var buf bytes.Buffer
	if err := runExport(context.Background(), o, &buf); err != nil {
		t.Fatalf("export %+v: %v\n%s", o, err, buf.String())
	}
	return buf.String()
}

func verifyT(t *testing.T, o *verifyOptions) *verifyReport {
	t.Helper()
	o.JSON = true
	if o.Samples == 0 {
		o.Samples = 8
	}
	if o.RTol == 0 {
		o.RTol, o.ATol = verifyRTol, verifyATol
	}
	var buf bytes.Buffer
	err := runVerify(context.Background(), o, &buf)
	var r verifyReport
	if jerr := json.Unmarshal(buf.Bytes(), &r); jerr != nil {
		t.Fatalf("verify %+v: %v; output is not JSON: %v\n%s", o, err, jerr, buf.String())
	}
	if err != nil {
		t.Fatalf("verify %+v: %v", o, err)
	}
	return &r
}

// ortRelError compares the model in onnxruntime and graft and returns the
// largest |graft-ort| relative to the largest |ort| of each output.
func ortRelError(t *testing.T, path string, dataSpec string) float64 {
	t.Helper()
	ortref.Require(t)
	r := verifyT(t, &verifyOptions{A: path, Against: "onnxruntime", Data: dataSpec, Samples: 16, RTol: 1e-4, ATol: 1e-5})
	g, err := onnx.LoadGraph(path)
	if err != nil {
		t.Fatal(err)
	}
	feeds, _, err := verifyFeeds(g, verifyModelMeta(path), verifySamples{Data: dataSpec, Samples: 16, Seed: 1}, true)
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Run(nil, feeds[0])
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for _, d := range r.Outputs {
		scale := 0.0
		o := out[d.Output]
		for i := 0; i < o.Len(); i++ {
			scale = max(scale, abs(o.Float64At(i)))
		}
		t.Logf("%s %s vs onnxruntime: max abs %.3g, max elementwise rel %.3g, max abs / max |output| %.3g", filepath.Base(path), d.Output, d.MaxAbs, d.MaxRel, d.MaxAbs/scale)
		worst = max(worst, d.MaxAbs/scale)
	}
	return worst
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestExportFinetunedFMNIST fine-tunes fmnist_cnn, then exports the model
// and the checkpoint in every format and checks the results with graft,
// the ONNX checker and onnxruntime.
func TestExportFinetunedFMNIST(t *testing.T) {
	dir := t.TempDir()
	tuned, ckpt := finetuneFMNIST(t, dir)

	ext := filepath.Join(dir, "serve", "ext.onnx")
	out := exportT(t, &exportOptions{Source: tuned, Out: ext, ExternalData: true, verifySamples: verifySamples{Data: fmnistData, Samples: 8}})
	if !strings.Contains(out, "logits") || !strings.Contains(out, " ok") {
		t.Errorf("export output lacks the verification table:\n%s", out)
	}
	if st, err := os.Stat(ext + ".data"); err != nil || st.Size() < 100000 {
		t.Fatalf("external data file: %v", err)
	}
	if st, _ := os.Stat(ext); st.Size() > 20000 {
		t.Errorf("model file holds %d bytes: weights not external", st.Size())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "serve", ".graft-*")); len(left) > 0 {
		t.Errorf("staging left behind: %v", left)
	}

	fromCkpt := filepath.Join(dir, "ckpt.onnx")
	exportT(t, &exportOptions{Source: ckpt, Base: fmnistModel, Out: fromCkpt})
	if r := verifyT(t, &verifyOptions{A: fromCkpt, B: tuned}); !r.OK || r.Outputs[0].MaxAbs != 0 {
		t.Errorf("checkpoint export differs from the fine-tuned model: %+v", r.Outputs)
	}
	if r := verifyT(t, &verifyOptions{A: ext, B: tuned, Data: fmnistData}); !r.OK || r.Outputs[0].MaxAbs != 0 {
		t.Errorf("external-data export differs from the fine-tuned model: %+v", r.Outputs)
	}

	repo := filepath.Join(dir, "repo")
	exportT(t, &exportOptions{Source: tuned, Out: repo, Format: "triton", Name: "fmnist"})
	labels, err := os.ReadFile(filepath.Join(repo, "fmnist", "labels.txt"))
	if err != nil || string(labels) != "Sandal\nShirt\nSneaker\nBag\nAnkle boot\n" {
		t.Errorf("labels.txt: %v %q", err, labels)
	}
	cfg, err := os.ReadFile(filepath.Join(repo, "fmnist", "config.pbtxt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`name: "fmnist"`, `platform: "onnxruntime_onnx"`, "max_batch_size: 32", `name: "input"`,
		"dims: [ 1, 28, 28 ]", `name: "logits"`, "dims: [ 5 ]", `label_filename: "labels.txt"`, "dynamic_batching { }"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config.pbtxt lacks %q:\n%s", want, cfg)
		}
	}
	tritonModel := filepath.Join(repo, "fmnist", "1", "model.onnx")

	st := filepath.Join(dir, "tuned.safetensors")
	exportT(t, &exportOptions{Source: tuned, Out: st, Format: "safetensors"})
	back := filepath.Join(dir, "back.onnx")
	var buf bytes.Buffer
	if err := runImportWeights(context.Background(), &importWeightsOptions{Model: fmnistModel, Weights: st, Out: back, Strict: true, verifySamples: verifySamples{Samples: 4, Seed: 1}}, &buf); err != nil {
		t.Fatalf("import-weights: %v\n%s", err, buf.String())
	}
	if r := verifyT(t, &verifyOptions{A: back, B: tuned}); !r.OK || r.Outputs[0].MaxAbs != 0 {
		t.Errorf("safetensors round trip differs from the fine-tuned model: %+v", r.Outputs)
	}

	for _, p := range []string{tuned, ext, fromCkpt, tritonModel, back} {
		t.Run("checker/"+filepath.Base(p), func(t *testing.T) { onnxChecker(t, p) })
	}
	t.Run("onnxruntime", func(t *testing.T) {
		for _, p := range []string{ext, fromCkpt, tritonModel} {
			for _, spec := range []string{"", fmnistData} {
				if rel := ortRelError(t, p, spec); rel >= 1e-5 {
					t.Errorf("%s: graft vs onnxruntime relative error %.3g, want < 1e-5", p, rel)
				}
			}
		}
	})
}

// TestExportVerificationFails exports a graph whose in-memory float16
// weight is not representable in float16: the written model differs, so
// export must fail and leave nothing behind.
func TestExportVerificationFails(t *testing.T) {
	f32 := int64(onnxpb.TensorProto_FLOAT)
	m := &onnxpb.ModelProto{
		IrVersion:   8,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: "", Version: 13}},
		Graph: &onnxpb.GraphProto{
			Name: "half",
			Node: []*onnxpb.NodeProto{
				{Name: "cast", OpType: "Cast", Input: []string{"w"}, Output: []string{"w32"},
					Attribute: []*onnxpb.AttributeProto{{Name: "to", Type: onnxpb.AttributeProto_INT, I: f32}}},
				{Name: "add", OpType: "Add", Input: []string{"x", "w32"}, Output: []string{"y"}},
			},
			Initializer: []*onnxpb.TensorProto{onnx.TensorToProto("w", func() *nn.Tensor {
				w := nn.New(nn.Float16, 4)
				for i := range w.F32 {
					w.F32[i] = 1
				}
				return w
			}())},
			Input:  []*onnxpb.ValueInfoProto{vinfo("x", []int64{-1, 4})},
			Output: []*onnxpb.ValueInfoProto{vinfo("y", []int64{-1, 4})},
		},
	}
	g, err := onnx.Import(m, onnx.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// An unrounded float16 value: the file can only hold 0.0999755859375.
	for i := range g.Params["w"].Value.F32 {
		g.Params["w"].Value.F32[i] = 0.1
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "half.onnx")
	out, err := writeVerifiedONNX(context.Background(), &exportSource{base: m, g: g, meta: map[string]string{}}, path, false, verifySamples{Samples: 4, Seed: 1}, nil)
	if err == nil || !strings.Contains(err.Error(), "verification failed, nothing written") || !strings.Contains(err.Error(), `output "y" differs`) {
		t.Fatalf("error %v, want a verification failure", err)
	}
	if out == nil || out.Verify == nil || out.Verify.OK || out.Verify.Outputs[0].MaxAbs < 2e-5 {
		t.Errorf("report %+v", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files left after a failed export: %v", entries)
	}
}

func vinfo(name string, dims []int64) *onnxpb.ValueInfoProto {
	sh := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		if d < 0 {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
		} else {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}
		}
		sh.Dim = append(sh.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(onnxpb.TensorProto_FLOAT), Shape: sh}}}}
}

// TestExportCheckpointHeads exports checkpoints of runs that replaced the
// classifier and that cut the network (--cut), from lenet.
func TestExportCheckpointHeads(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, cut string
		classes   int
	}{{"replace", "", 0}, {"cut", "/MaxPool_1", 5}} {
		t.Run(c.name, func(t *testing.T) {
			tuned, ckpt := filepath.Join(dir, c.name+".onnx"), filepath.Join(dir, c.name+".ckpt")
			cfg := finetune.Config{Epochs: 1, BatchSize: 32, LR: 1e-2, Seed: 2, Checkpoint: ckpt}
			if _, err := finetune.Run(context.Background(), finetune.Options{Model: "../../testdata/models/lenet.onnx", TrainData: fmnistData,
				Cut: c.cut, NumClasses: c.classes, Out: tuned, Config: cfg}); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, c.name+"-ckpt.onnx")
			exportT(t, &exportOptions{Source: ckpt, Base: "../../testdata/models/lenet.onnx", Cut: c.cut, Out: out})
			if r := verifyT(t, &verifyOptions{A: out, B: tuned}); !r.OK || r.Outputs[0].MaxAbs != 0 {
				t.Errorf("checkpoint export differs from the fine-tuned model: %+v", r.Outputs)
			}
			if c.cut != "" {
				// The trainer records the head settings in the checkpoint,
				// so the export needs no --cut.
				var buf bytes.Buffer
				if err := runExport(context.Background(), &exportOptions{Source: ckpt, Base: "../../testdata/models/lenet.onnx", Out: out, Format: "onnx", verifySamples: verifySamples{Samples: 1}}, &buf); err != nil {
					t.Errorf("export of a --cut checkpoint that records its head: %v", err)
				}
				ck0, err := checkpoint.Load(ckpt)
				if err != nil {
					t.Fatal(err)
				}
				if ck0.Metadata[checkpoint.MetaHeadConfig] != `{"cut":"/MaxPool_1"}` || ck0.Metadata[checkpoint.MetaClassNames] == "" {
					t.Errorf("checkpoint metadata written by the trainer: %v", ck0.Metadata)
				}
				// Without that record the head does not fit: a clear error.
				delete(ck0.Metadata, checkpoint.MetaHeadConfig)
				if err := checkpoint.Save(ckpt, ck0); err != nil {
					t.Fatal(err)
				}
				err = runExport(context.Background(), &exportOptions{Source: ckpt, Base: "../../testdata/models/lenet.onnx", Out: out, Format: "onnx", verifySamples: verifySamples{Samples: 1}}, &buf)
				if err == nil || !strings.Contains(err.Error(), "--cut") {
					t.Errorf("export of a --cut checkpoint without --cut: %v", err)
				}
				// Head settings, class names and normalization recorded in
				// the checkpoint's metadata replace the flags.
				ck, err := checkpoint.Load(ckpt)
				if err != nil {
					t.Fatal(err)
				}
				ck.Metadata[checkpoint.MetaHeadConfig] = `{"cut":"/MaxPool_1"}`
				ck.Metadata[checkpoint.MetaClassNames] = `["a","b","c","d","e"]`
				ck.Metadata["norm"] = "signed"
				if err := checkpoint.Save(ckpt, ck); err != nil {
					t.Fatal(err)
				}
				exportT(t, &exportOptions{Source: ckpt, Base: "../../testdata/models/lenet.onnx", Out: out})
				meta := verifyModelMeta(out)
				if meta["graft.classes"] != `["a","b","c","d","e"]` || meta["graft.norm"] != "signed" || meta["graft.checkpoint_epoch"] != "1" {
					t.Errorf("metadata from the checkpoint: %v", meta)
				}
			}
		})
	}
}

func TestExportErrors(t *testing.T) {
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "x.ckpt")
	os.WriteFile(ckpt, []byte("GRAFTCKP-not-really"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", resnetModel}, 2, "-o is required"},
		{[]string{"export", resnetModel, "-o", filepath.Join(dir, "a.onnx"), "--format", "tflite"}, 2, `--format "tflite"`},
		{[]string{"export", ckpt, "-o", filepath.Join(dir, "a.onnx")}, 2, "give --base"},
		{[]string{"export", resnetModel, "--base", resnetModel, "-o", filepath.Join(dir, "a.onnx")}, 2, "--base is for checkpoints"},
		{[]string{"export", ckpt, "--base", resnetModel, "-o", filepath.Join(dir, "a.onnx")}, 1, "checkpoint"},
		{[]string{"export", resnetModel, "-o", filepath.Join(dir, "a.onnx"), "--data", "/nonexistent"}, 1, "/nonexistent"},
		{[]string{"verify", resnetModel}, 2, "second model"},
		{[]string{"verify", resnetModel, resnetModel, "--against", "onnxruntime"}, 2, "either two models"},
		{[]string{"verify", resnetModel, "--against", "tvm"}, 2, "only onnxruntime"},
		{[]string{"verify", resnetModel, fmnistModel}, 1, "differ"},
		{[]string{"import-weights", resnetModel, "w.safetensors"}, 2, "-o is required"},
	} {
		stderr := captureStderr(t, func() {
			if code := run(c.args); code != c.code {
				t.Errorf("%v: exit %d, want %d", c.args, code, c.code)
			}
		})
		if !strings.Contains(stderr, c.want) || strings.Contains(stderr, "goroutine") {
			t.Errorf("%v: stderr %q lacks %q", c.args, stderr, c.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("failed exports left files: %v", entries)
	}
}

// TestExportSharedModels re-exports the Model Zoo models of ../shared with
// external data and runs the written files in onnxruntime.
func TestExportSharedModels(t *testing.T) {
	shared := filepath.Join(testenv.SharedDir(t), "models")
	dir := t.TempDir()
	for _, name := range []string{"mnist-8", "super-resolution-10", "version-RFB-320", "silero_vad_openvino_16k", "gtcrn_simple"} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, name+".onnx")
			exportT(t, &exportOptions{Source: filepath.Join(shared, name+".onnx"), Out: out, ExternalData: true, verifySamples: verifySamples{Samples: 2, Seed: 1}})
			if _, err := os.Stat(out + ".data"); err != nil {
				t.Fatal(err)
			}
			if _, err := ortref.LibPath(); err == nil || os.Getenv(ortref.EnvRequire) == "1" {
				r := verifyT(t, &verifyOptions{A: out, Against: "onnxruntime", Samples: 2, RTol: 1e-4, ATol: 1e-4})
				for _, d := range r.Outputs {
					t.Logf("%-24s %-16s graft vs onnxruntime: max abs %.3g (%d run(s))", name, d.Output, d.MaxAbs, r.Runs)
				}
			}
		})
	}
}

func TestExportJSON(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.onnx")
	var buf bytes.Buffer
	o := &exportOptions{Source: resnetModel, Out: out, Format: "onnx", JSON: true, verifySamples: verifySamples{Samples: 3, Seed: 2}}
	if err := runExport(context.Background(), o, &buf); err != nil {
		t.Fatal(err)
	}
	var r exportOutcome
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	if r.Format != "onnx" || len(r.Files) != 1 || r.Files[0] != out || r.Verify == nil || !r.Verify.OK ||
		r.Verify.Samples != 3 || len(r.Verify.Outputs) != 1 || nn.ShapeString(r.Verify.Outputs[0].Shape) != "[3,10]" {
		t.Errorf("export --json: %s", buf.String())
	}
}
