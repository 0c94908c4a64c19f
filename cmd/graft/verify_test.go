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

	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/internal/testenv"
	"github.com/graftml/graft/nn"
	"github.com/graftml/graft/onnx"
)

func TestVerifyTable(t *testing.T) {
	var buf bytes.Buffer
	o := &verifyOptions{A: resnetModel, B: resnetModel, Samples: 3, Seed: 1, RTol: verifyRTol, ATol: verifyATol}
	if err := runVerify(context.Background(), o, &buf); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	for _, want := range []string{"3 random sample(s) (seed 1)", "OUTPUT", "MAX ABS ERR", "[3,10]", " ok"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("verify table lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestVerifyDetectsChange changes one weight of lenet and expects verify
// to report the difference, in the table and in JSON.
func TestVerifyDetectsChange(t *testing.T) {
	dir := t.TempDir()
	a := "../../testdata/models/lenet.onnx"
	m, err := onnx.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	g, err := onnx.Import(m, onnx.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Params[g.ParamNames[len(g.ParamNames)-1]].Value // last bias
	h.F32[0] += 0.01
	m2, err := onnx.Export(m, g, onnx.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(dir, "changed.onnx")
	if err := onnx.Save(b, m2); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = runVerify(context.Background(), &verifyOptions{A: a, B: b, Samples: 2, Seed: 1, RTol: verifyRTol, ATol: verifyATol}, &buf)
	if err == nil || !strings.Contains(err.Error(), "differs") || !strings.Contains(buf.String(), "FAIL: 2 element(s)") {
		t.Errorf("error %v, output:\n%s", err, buf.String())
	}
	buf.Reset()
	runVerify(context.Background(), &verifyOptions{A: a, B: b, Samples: 2, Seed: 1, RTol: verifyRTol, ATol: verifyATol, JSON: true}, &buf)
	var r verifyReport
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	if r.OK || len(r.Outputs) != 1 || r.Outputs[0].Mismatched != 2 || r.Outputs[0].MaxAbs < 0.0099 || r.Outputs[0].MaxAbs > 0.0101 {
		t.Errorf("report %+v", r)
	}
	// A tolerance above the change accepts it.
	if err := runVerify(context.Background(), &verifyOptions{A: a, B: b, Samples: 2, Seed: 1, RTol: 0, ATol: 0.02}, &buf); err != nil {
		t.Errorf("--atol 0.02: %v", err)
	}
}

// TestVerifyFeeds checks the generated inputs: batched when the model
// takes any batch, token ids below the embedding size, fixed shapes kept.
func TestVerifyFeeds(t *testing.T) {
	g, err := onnx.LoadGraph("../../testdata/models/lstm_classifier.onnx")
	if err != nil {
		t.Fatal(err)
	}
	bounds := verifyIndexBounds(g)
	if len(bounds) != 1 {
		t.Fatalf("index bounds %v, want the embedding size of the token input", bounds)
	}
	feeds, what, err := verifyFeeds(g, nil, verifySamples{Samples: 5, Seed: 3}, true)
	if err != nil {
		t.Fatal(err)
	}
	x := feeds[0][g.Inputs[0].Name]
	if len(feeds) != 1 || x.Shape[0] != 5 || x.DType != nn.Int64 || !strings.Contains(what, "5 random") {
		t.Fatalf("feeds %v (%s)", x, what)
	}
	for _, v := range x.I64 {
		if v < 0 || v >= bounds[g.Inputs[0].Name] {
			t.Fatalf("token id %d outside [0,%d)", v, bounds[g.Inputs[0].Name])
		}
	}
	if _, err := g.Run(nil, feeds[0]); err != nil {
		t.Fatal(err)
	}
	// Not batchable: one run per sample at the declared batch.
	feeds, _, err = verifyFeeds(g, nil, verifySamples{Samples: 3, Seed: 3}, false)
	if err != nil || len(feeds) != 3 || feeds[2][g.Inputs[0].Name].Shape[0] != 1 {
		t.Fatalf("unbatched feeds: %v %d", err, len(feeds))
	}
	// Same seed, same inputs.
	again, _, _ := verifyFeeds(g, nil, verifySamples{Samples: 3, Seed: 3}, false)
	if d, _ := nn.Compare(again[1][g.Inputs[0].Name], feeds[1][g.Inputs[0].Name], 0, 0); d.Bad > 0 {
		t.Error("inputs are not reproducible")
	}
	// Data: fmnist images normalized as recorded.
	gf, err := onnx.LoadGraph(fmnistModel)
	if err != nil {
		t.Fatal(err)
	}
	feeds, what, err = verifyFeeds(gf, verifyModelMeta(fmnistModel), verifySamples{Data: fmnistData, Samples: 6}, true)
	if err != nil {
		t.Fatal(err)
	}
	if x := feeds[0]["input"]; x == nil || nn.ShapeString(x.Shape) != "[6,1,28,28]" || !strings.Contains(what, "6 sample(s) of") {
		t.Errorf("data feeds %v (%s)", x, what)
	}
}

func TestVerifyAgainstORT(t *testing.T) {
	ortref.Require(t)
	models := []string{resnetModel, "../../testdata/models/lstm_classifier.onnx", "../../testdata/models/transformer_encoder.onnx"}
	if shared, ok := testenv.LookupShared(); ok {
		// Fixed batch 1: one onnxruntime run per sample.
		models = append(models, filepath.Join(shared, "models", "mnist-8.onnx"))
	}
	for _, p := range models {
		r := verifyT(t, &verifyOptions{A: p, Against: "onnxruntime", Samples: 4, RTol: 1e-4, ATol: 1e-5})
		for _, d := range r.Outputs {
			t.Logf("%-28s %-10s graft vs onnxruntime: max abs %.3g, max rel %.3g (%d run(s))", filepath.Base(p), d.Output, d.MaxAbs, d.MaxRel, r.Runs)
		}
		if !r.OK || !strings.HasPrefix(r.B, "onnxruntime ") {
			t.Errorf("%s: %+v", p, r)
		}
	}
}

// TestVerifyWithoutORT runs graft verify --against onnxruntime in a child
// process whose onnxruntime library path leads nowhere.
func TestVerifyWithoutORT(t *testing.T) {
	if os.Getenv("GRAFT_VERIFY_CHILD") == "1" {
		os.Exit(run([]string{"verify", resnetModel, "--against", "onnxruntime"}))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestVerifyWithoutORT$")
	cmd.Env = append(os.Environ(), "GRAFT_VERIFY_CHILD=1", "GRAFT_ORT_LIB=/nonexistent/libonnxruntime.so.1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 {
		t.Fatalf("child: %v, want exit 1\n%s", err, stderr.String())
	}
	msg := stderr.String()
	if !strings.Contains(msg, "--against onnxruntime") || !strings.Contains(msg, "GRAFT_ORT_LIB") || strings.Contains(msg, "goroutine") {
		t.Errorf("message when onnxruntime is absent: %q", msg)
	}
}
