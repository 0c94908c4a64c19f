package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/graftml/graft/finetune/data"
)

// proc is the outcome of one child process.
type proc struct {
	stdout, stderr string
	wall           time.Duration
	peakRSSMiB     float64 // ru_maxrss of the child (0 where unknown)
	err            error
}

// runProc runs one benchmark process with every thread knob set to the
// suite's thread count, and measures its wall time and peak RSS.
func runProc(c *config, args ...string) proc {
	cmd := exec.Command(args[0], args[1:]...)
	n := strconv.Itoa(c.threads)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+n, "OMP_NUM_THREADS="+n, "OPENBLAS_NUM_THREADS="+n, "MKL_NUM_THREADS="+n)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	p := proc{stdout: out.String(), stderr: errb.String(), wall: time.Since(t0)}
	if cmd.ProcessState != nil {
		p.peakRSSMiB = peakRSSMiB(cmd.ProcessState)
	}
	if err != nil {
		msg := lastLine(p.stderr)
		if msg == "" {
			msg = lastLine(p.stdout)
		}
		p.err = fmt.Errorf("%s: %v", filepath.Base(args[0]), err)
		if msg != "" {
			p.err = fmt.Errorf("%w: %s", p.err, msg)
		}
	}
	return p
}

// lastJSON decodes the last line of stdout that is a JSON object.
func (p proc) lastJSON(v any) error {
	if p.err != nil {
		return p.err
	}
	lines := strings.Split(strings.TrimSpace(p.stdout), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "{") {
			return json.Unmarshal([]byte(l), v)
		}
	}
	return fmt.Errorf("no JSON line in the output: %q", lastLine(p.stdout))
}

// avail says whether a reference (or input) is there, and what it is.
type avail struct {
	ok      bool
	what    string // version or location when ok
	missing string // why not, with the fix
}

func (a avail) describe() string {
	if a.ok {
		return a.what
	}
	return "missing: " + a.missing
}

// checkTorch looks for PyTorch and torchvision in c.python.
func checkTorch(c *config) avail {
	p := runProc(c, c.python, "-c", "import torch, torchvision; print(torch.__version__)")
	if p.err != nil {
		return avail{missing: fmt.Sprintf("torch and torchvision not importable by %s (apt-get install python3-torch python3-torchvision): %v", c.python, p.err)}
	}
	return avail{ok: true, what: "PyTorch " + strings.TrimSpace(p.stdout)}
}

// checkModels checks the benchmark models; when some are missing and the
// folder is the default one, it exports them with PyTorch.
func checkModels(c *config, torch avail) avail {
	missing := missingModels(c)
	if len(missing) == 0 {
		return avail{ok: true, what: c.models}
	}
	isDefault := filepath.Clean(c.models) == filepath.Join("testdata", "bench")
	if torch.ok && isDefault {
		progress("benchmark models missing (%s): exporting them with PyTorch (random weights)", strings.Join(missing, ", "))
		for _, extra := range [][]string{nil, {"--keep-bn"}} {
			args := append([]string{c.python, filepath.Join("testdata", "gen", "export_bench_models.py")}, extra...)
			if p := runProc(c, args...); p.err != nil {
				return avail{missing: fmt.Sprintf("exporting the benchmark models failed (python3-onnx installed?): %v", p.err)}
			}
		}
		if missing = missingModels(c); len(missing) == 0 {
			return avail{ok: true, what: c.models + " (exported now)"}
		}
	}
	why := fmt.Sprintf("%s in %s; export them with /usr/bin/python3 testdata/gen/export_bench_models.py [--keep-bn]", strings.Join(missing, ", "), c.models)
	if !torch.ok {
		why += " (needs PyTorch: apt-get install python3-torch python3-torchvision python3-onnx)"
	}
	return avail{missing: why}
}

func missingModels(c *config) []string {
	var missing []string
	want := map[string]bool{}
	if c.sections["inference"] {
		for _, m := range c.infModels {
			want[m+".onnx"] = true
		}
	}
	if c.sections["train"] {
		for _, m := range c.trainModels {
			want[m+"_bn.onnx"] = true
		}
	}
	for _, m := range append(append([]string{}, c.infModels...), c.trainModels...) {
		for _, f := range []string{m + ".onnx", m + "_bn.onnx"} {
			if !want[f] {
				continue
			}
			delete(want, f)
			if _, err := os.Stat(filepath.Join(c.models, f)); err != nil {
				missing = append(missing, f)
			}
		}
	}
	return missing
}

// checkFMNIST checks for Debian's dataset-fashion-mnist.
func checkFMNIST(c *config) avail {
	for _, f := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		p := filepath.Join(data.FashionMNISTDir, f)
		_, err := os.Stat(p)
		if err != nil {
			_, err = os.Stat(p + ".gz")
		}
		if err != nil {
			return avail{missing: fmt.Sprintf("Fashion-MNIST not in %s (apt-get install dataset-fashion-mnist)", data.FashionMNISTDir)}
		}
	}
	return avail{ok: true, what: data.FashionMNISTDir}
}
