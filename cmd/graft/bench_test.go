package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBenchJSON(t *testing.T) {
	var buf bytes.Buffer
	opts := &benchOptions{Model: resnetModel, Batch: 2, Runs: 3, Warmup: 1, Threads: 1, JSON: true}
	if err := runBench(context.Background(), opts, &buf); err != nil {
		t.Fatal(err)
	}
	var r benchResult
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		t.Fatalf("bench --json is not JSON: %v\n%s", err, buf.String())
	}
	if r.Batch != 2 || r.Runs != 3 || r.Threads != 1 || r.MedianMS <= 0 || r.MinMS > r.MedianMS || r.MedianMS > r.MaxMS {
		t.Errorf("implausible result %+v", r)
	}
	if got, want := r.Throughput, 2/(r.MedianMS/1000); got < want*0.999 || got > want*1.001 {
		t.Errorf("throughput %v, want batch/median = %v", got, want)
	}
}

func TestBenchTable(t *testing.T) {
	var buf bytes.Buffer
	if err := runBench(context.Background(), &benchOptions{Model: resnetModel, Batch: 1, Runs: 2}, &buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Latency", "median", "Throughput", "samples/s"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestBenchSummary(t *testing.T) {
	ms := time.Millisecond
	r := benchSummary([]time.Duration{4 * ms, 1 * ms, 3 * ms, 2 * ms})
	if r.MedianMS != 2.5 || r.MinMS != 1 || r.MaxMS != 4 || r.MeanMS != 2.5 || r.P90MS != 4 {
		t.Errorf("summary of 1..4 ms = %+v, want median 2.5, min 1, max 4, mean 2.5, p90 4", r)
	}
}

func TestBenchUsage(t *testing.T) {
	cmd := newBenchCmd()
	cmd.SetArgs([]string{resnetModel, "--runs", "0"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.Execute(); err == nil || !isUsage(err) {
		t.Errorf("--runs 0: got %v, want a usage error", err)
	}
}

func TestBenchTrain(t *testing.T) {
	var buf bytes.Buffer
	opts := &benchOptions{Model: resnetModel, Batch: 4, Runs: 2, Warmup: 1, Threads: 1, JSON: true,
		Train: true, Freeze: "none", LR: 0.01}
	if err := runBench(context.Background(), opts, &buf); err != nil {
		t.Fatal(err)
	}
	var r benchResult
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		t.Fatalf("bench --train --json is not JSON: %v\n%s", err, buf.String())
	}
	if r.Mode != "train" || r.Freeze != "none" || r.Batch != 4 || r.MedianMS <= 0 {
		t.Errorf("implausible result %+v", r)
	}
	// A freeze spec naming nothing that exists is refused with its reason.
	opts.Freeze = "until=no_such_node"
	if err := runBench(context.Background(), opts, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "no_such_node") {
		t.Errorf("--freeze until=no_such_node: got %v, want an error naming the node", err)
	}
}
