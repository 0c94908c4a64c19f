package zoo

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graftml/graft/internal/testenv"
)

// TestManifestSelfCheck checks every entry of the embedded manifest.
func TestManifestSelfCheck(t *testing.T) {
	entries := List()
	if len(entries) < 10 {
		t.Fatalf("manifest has %d entries, want at least 10", len(entries))
	}
	for _, e := range entries {
		t.Run(e.Name, func(t *testing.T) {
			if !validHex64(e.SHA256) {
				t.Errorf("sha256 %q is not 64 lower-case hex digits", e.SHA256)
			}
			if e.Size <= 0 {
				t.Errorf("size %d", e.Size)
			}
			if e.File == "" || e.File != filepath.Base(e.File) || !strings.HasSuffix(e.File, ".onnx") {
				t.Errorf("file %q", e.File)
			}
			if e.Title == "" || e.Task == "" || e.License == "" || e.Source == "" {
				t.Errorf("missing title, task, license or source: %+v", e)
			}
			if e.Opset < 1 {
				t.Errorf("opset %d", e.Opset)
			}
			if len(e.Inputs) == 0 || len(e.Outputs) == 0 {
				t.Errorf("inputs/outputs not described")
			}
			p := e.Preprocess
			if p.Width <= 0 || p.Height <= 0 || (p.Layout != "NCHW" && p.Layout != "NHWC") ||
				(p.Color != "RGB" && p.Color != "BGR" && p.Color != "GRAY") || p.Scale <= 0 ||
				len(p.Mean) == 0 || len(p.Mean) != len(p.Std) {
				t.Errorf("incomplete preprocessing: %+v", p)
			}
			for _, s := range p.Std {
				if s <= 0 {
					t.Errorf("std %v", p.Std)
				}
			}
			if !p.Documented && p.Notes == "" {
				t.Errorf("undocumented preprocessing needs a note")
			}
			in := e.Inputs[0].Shape
			if len(in) == 4 {
				h, w, c := in[2], in[3], in[1]
				if p.Layout == "NHWC" {
					h, w, c = in[1], in[2], in[3]
				}
				if h != p.Height || w != p.Width {
					t.Errorf("input shape %v does not match preprocessing %dx%d", in, p.Width, p.Height)
				}
				if (p.Color == "GRAY") != (c == 1) || (len(p.Mean) != 1 && len(p.Mean) != c) {
					t.Errorf("input shape %v does not match colour %s / mean %v", in, p.Color, p.Mean)
				}
			}
			if classes := e.Classes(); classes != nil && e.Task == "image-classification" {
				out := e.Outputs[0].Shape
				if len(out) < 2 || out[1] != len(classes) {
					t.Errorf("output shape %v but %d class names", out, len(classes))
				}
			}
			if e.Bundled {
				if len(e.URLs) != 0 {
					t.Errorf("bundled entry has URLs")
				}
				data, ok := bundledData(e.File)
				if !ok {
					t.Fatalf("bundled file %s not embedded", e.File)
				}
				sum := sha256.Sum256(data)
				if hex.EncodeToString(sum[:]) != e.SHA256 || int64(len(data)) != e.Size {
					t.Errorf("embedded bytes do not match the manifest sha256/size")
				}
				return
			}
			if len(e.URLs) == 0 {
				t.Errorf("no URL")
			}
			for _, u := range e.URLs {
				pu, err := url.Parse(u)
				if err != nil || pu.Scheme != "https" || pu.Host == "" || !strings.HasSuffix(pu.Path, "/"+e.File) {
					t.Errorf("bad URL %q (want https, ending in /%s)", u, e.File)
				}
			}
		})
	}
}

// TestBundledMatchesTestdata checks that the embedded fmnist-cnn copy is
// the repository's testdata/models/fmnist_cnn.onnx.
func TestBundledMatchesTestdata(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(root, "testdata", "models", "fmnist_cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := Lookup("fmnist-cnn")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(want)
	if hex.EncodeToString(sum[:]) != e.SHA256 || int64(len(want)) != e.Size {
		t.Fatalf("testdata/models/fmnist_cnn.onnx changed: update zoo/bundled/fmnist_cnn.onnx and the manifest entry")
	}
}

func TestImageNetLabels(t *testing.T) {
	l := ImageNetLabels()
	if len(l) != 1000 {
		t.Fatalf("%d labels, want 1000", len(l))
	}
	for i, want := range map[int]string{0: "tench", 1: "goldfish", 207: "golden retriever", 281: "tabby", 999: "toilet tissue"} {
		if l[i] != want {
			t.Errorf("label %d = %q, want %q", i, l[i], want)
		}
	}
}

func TestLookup(t *testing.T) {
	e, err := Lookup("zoo:ResNet18-v1-7")
	if err != nil || e.Name != "resnet18-v1-7" {
		t.Fatalf("Lookup = %v, %v", e.Name, err)
	}
	_, err = Lookup("resnet18")
	if !errors.Is(err, ErrUnknownModel) || !strings.Contains(err.Error(), "did you mean resnet18-v1-7") {
		t.Errorf("close-name error = %v", err)
	}
	if e, err := Lookup("ultraface"); err != nil || e.Name != "version-RFB-320" {
		t.Errorf("alias lookup = %v, %v", e.Name, err)
	}
	_, err = Lookup("resnt18")
	if err == nil || !strings.Contains(err.Error(), "did you mean resnet18-v1-7") {
		t.Errorf("misspelling error = %v", err)
	}
	_, err = Lookup("mobilenetv2-12")
	if err == nil || !strings.Contains(err.Error(), "mobilenetv2-7") {
		t.Errorf("typo error = %v", err)
	}
	_, err = Lookup("qqqqqqqqqqqq")
	if err == nil || !strings.Contains(err.Error(), "known models:") || !strings.Contains(err.Error(), "fmnist-cnn") {
		t.Errorf("unknown error = %v", err)
	}
}

func TestListIsACopy(t *testing.T) {
	a := List()
	a[0].URLs = append(a[0].URLs, "x")
	a[0].Name = "changed"
	if b := List(); b[0].Name == "changed" || len(b[0].URLs) != len(List()[0].URLs) {
		t.Fatal("List shares state with the manifest")
	}
}

func TestCacheDirPrecedence(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("GRAFT_CACHE", filepath.Join(tmp, "g"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(tmp, "x"))
	t.Setenv("HOME", filepath.Join(tmp, "h"))
	check := func(want string) {
		t.Helper()
		got, err := CacheDir()
		if err != nil || got != want {
			t.Fatalf("CacheDir = %q, %v; want %q", got, err, want)
		}
	}
	check(filepath.Join(tmp, "g"))
	t.Setenv("GRAFT_CACHE", "")
	check(filepath.Join(tmp, "x", "graft"))
	t.Setenv("XDG_CACHE_HOME", "")
	check(filepath.Join(tmp, "h", ".cache", "graft"))
}

func TestParseManifestRejects(t *testing.T) {
	for _, bad := range []string{
		`{"version": 2, "models": []}`,
		`{"version": 1, "models": [{"name": "a"}, {"name": "a"}]}`,
		`{"version": 1, "models": [{"name": "a", "typo": 1}]}`,
	} {
		if _, err := parseManifest([]byte(bad)); err == nil {
			t.Errorf("parseManifest(%s) succeeded", bad)
		}
	}
}
