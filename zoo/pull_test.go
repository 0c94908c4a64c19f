package zoo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pullPayload is the test model: 1 MiB of deterministic bytes.
var pullPayload = func() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

func pullEntry() Entry {
	sum := sha256.Sum256(pullPayload)
	return Entry{Name: "test-model", File: "test.onnx", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(pullPayload))}
}

// pullServer serves pullPayload at /test.onnx through handle (which gets
// the 1-based request number) and records the Range headers it saw.
type pullServer struct {
	*httptest.Server
	mu     sync.Mutex
	ranges []string
	n      atomic.Int32
}

func newPullServer(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request)) *pullServer {
	s := &pullServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.n.Add(1))
		s.mu.Lock()
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		s.mu.Unlock()
		if r.URL.Path != "/test.onnx" {
			http.NotFound(w, r)
			return
		}
		handle(n, w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *pullServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

// serveFull serves the payload honouring Range requests.
func serveFull(w http.ResponseWriter, r *http.Request) {
	http.ServeContent(w, r, "test.onnx", time.Time{}, bytes.NewReader(pullPayload))
}

// serveCut announces the full length, sends the first n bytes and drops
// the connection.
func serveCut(w http.ResponseWriter, n int) {
	w.Header().Set("Content-Length", fmt.Sprint(len(pullPayload)))
	w.WriteHeader(http.StatusOK)
	w.Write(pullPayload[:n])
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

func checkPulled(t *testing.T, path string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pullPayload) {
		t.Fatalf("%s: content differs from the served model", path)
	}
	if _, err := os.Stat(path + ".partial"); !os.IsNotExist(err) {
		t.Errorf("partial file left behind: %v", err)
	}
}

// cacheFiles lists the files under the model's cache folder (lock excluded).
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	ents, _ := os.ReadDir(filepath.Join(dir, "models", "test-model"))
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".lock") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestPullDownloadsVerifiesAndCaches(t *testing.T) {
	srv := newPullServer(t, func(n int, w http.ResponseWriter, r *http.Request) { serveFull(w, r) })
	dir := t.TempDir()
	var prog bytes.Buffer
	opts := PullOptions{BaseURL: srv.URL, CacheDir: dir, Progress: &prog}
	path, err := Pull(context.Background(), pullEntry(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "models", "test-model", "test.onnx"); path != want {
		t.Errorf("path %s, want %s", path, want)
	}
	checkPulled(t, path)
	if !strings.Contains(prog.String(), "pull test-model") || !strings.Contains(prog.String(), "100%") {
		t.Errorf("progress output %q", prog.String())
	}
	// A second pull, even with Verify, is served from the cache.
	opts.Verify = true
	if p2, err := Pull(context.Background(), pullEntry(), opts); err != nil || p2 != path {
		t.Fatalf("cached pull = %s, %v", p2, err)
	}
	if n := srv.n.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	// A corrupted cached file is detected by Verify and replaced.
	os.WriteFile(path, bytes.Repeat([]byte{1}, len(pullPayload)), 0o644)
	if _, err := Pull(context.Background(), pullEntry(), opts); err != nil {
		t.Fatal(err)
	}
	checkPulled(t, path)
}

func TestPullResumesAfterCutConnection(t *testing.T) {
	const cut = 300 << 10
	srv := newPullServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			serveCut(w, cut)
		}
		serveFull(w, r)
	})
	dir := t.TempDir()
	path, err := Pull(context.Background(), pullEntry(), PullOptions{BaseURL: srv.URL, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, path)
	if got := srv.seen(); len(got) != 2 || got[0] != "" || got[1] != fmt.Sprintf("bytes=%d-", cut) {
		t.Errorf("Range headers %q, want [\"\" \"bytes=%d-\"]", got, cut)
	}
}

func TestPullResumesAcrossCalls(t *testing.T) {
	const cut = 100 << 10
	srv := newPullServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			serveCut(w, cut)
		}
		serveFull(w, r)
	})
	dir := t.TempDir()
	opts := PullOptions{BaseURL: srv.URL, CacheDir: dir, Attempts: 1}
	_, err := Pull(context.Background(), pullEntry(), opts)
	if err == nil || !strings.Contains(err.Error(), "pull again to resume") {
		t.Fatalf("first pull error = %v", err)
	}
	part := filepath.Join(dir, "models", "test-model", "test.onnx.partial")
	if st, err := os.Stat(part); err != nil || st.Size() != cut {
		t.Fatalf("partial file after the cut: %v, %v", st, err)
	}
	path, err := Pull(context.Background(), pullEntry(), opts)
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, path)
	if got := srv.seen(); got[1] != fmt.Sprintf("bytes=%d-", cut) {
		t.Errorf("second request Range %q", got[1])
	}
}

func TestPullRangeIgnoredRestarts(t *testing.T) {
	srv := newPullServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Write(pullPayload) // 200, full body, whatever the Range header says
	})
	dir := t.TempDir()
	part := filepath.Join(dir, "models", "test-model", "test.onnx.partial")
	os.MkdirAll(filepath.Dir(part), 0o755)
	os.WriteFile(part, bytes.Repeat([]byte("junk"), 1000), 0o644) // not a prefix of the model
	path, err := Pull(context.Background(), pullEntry(), PullOptions{BaseURL: srv.URL, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, path)
	if got := srv.seen(); len(got) != 1 || got[0] != "bytes=4000-" {
		t.Errorf("Range headers %q", got)
	}
}

func TestPullWrongContentRangeRestarts(t *testing.T) {
	srv := newPullServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			// 206 but for the wrong range: must not be appended.
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(pullPayload)-1, len(pullPayload)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(pullPayload)
			return
		}
		serveFull(w, r)
	})
	dir := t.TempDir()
	part := filepath.Join(dir, "models", "test-model", "test.onnx.partial")
	os.MkdirAll(filepath.Dir(part), 0o755)
	os.WriteFile(part, pullPayload[:5000], 0o644)
	path, err := Pull(context.Background(), pullEntry(), PullOptions{BaseURL: srv.URL, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, path)
}

func TestPullChecksumMismatchLeavesNothing(t *testing.T) {
	srv := newPullServer(t, func(n int, w http.ResponseWriter, r *http.Request) { serveFull(w, r) })
	dir := t.TempDir()
	e := pullEntry()
	e.SHA256 = strings.Repeat("ab", 32)
	_, err := Pull(context.Background(), e, PullOptions{BaseURL: srv.URL, CacheDir: dir})
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "download deleted") {
		t.Fatalf("error = %v, want a checksum mismatch", err)
	}
	if files := cacheFiles(t, dir); len(files) != 0 {
		t.Errorf("files left in the cache: %v", files)
	}
	if srv.n.Load() != 1 {
		t.Errorf("a checksum mismatch was retried: %d requests", srv.n.Load())
	}

	// A size mismatch announced by Content-Length is caught before the body.
	e = pullEntry()
	e.Size++
	_, err = Pull(context.Background(), e, PullOptions{BaseURL: srv.URL, CacheDir: dir})
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("size mismatch error = %v", err)
	}
	if files := cacheFiles(t, dir); len(files) != 0 {
		t.Errorf("files left in the cache: %v", files)
	}
}

func TestPullNotFound(t *testing.T) {
	srv := newPullServer(t, func(n int, w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	dir := t.TempDir()
	_, err := Pull(context.Background(), pullEntry(), PullOptions{BaseURL: srv.URL, CacheDir: dir})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("error = %v", err)
	}
	if srv.n.Load() != 1 {
		t.Errorf("404 was retried: %d requests", srv.n.Load())
	}
	if files := cacheFiles(t, dir); len(files) != 0 {
		t.Errorf("files left in the cache: %v", files)
	}
}

func TestPullServerErrorRetried(t *testing.T) {
	srv := newPullServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		serveFull(w, r)
	})
	path, err := Pull(context.Background(), pullEntry(), PullOptions{BaseURL: srv.URL, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	checkPulled(t, path)
}

func TestPullSlowServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	wait := func(r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	t.Run("headers", func(t *testing.T) {
		srv := newPullServer(t, func(n int, w http.ResponseWriter, r *http.Request) { wait(r) })
		start := time.Now()
		_, err := Pull(context.Background(), pullEntry(), PullOptions{BaseURL: srv.URL, CacheDir: t.TempDir(), Timeout: 100 * time.Millisecond, Attempts: 1})
		if err == nil || !strings.Contains(err.Error(), "no response within 100ms") {
			t.Fatalf("error = %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("timeout took %v", d)
		}
	})
	t.Run("body", func(t *testing.T) {
		srv := newPullServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(pullPayload)))
			w.Write(pullPayload[:1000])
			w.(http.Flusher).Flush()
			wait(r)
		})
		dir := t.TempDir()
		_, err := Pull(context.Background(), pullEntry(), PullOptions{BaseURL: srv.URL, CacheDir: dir, Timeout: 100 * time.Millisecond, Attempts: 2})
		if err == nil || !strings.Contains(err.Error(), "no data for 100ms") {
			t.Fatalf("error = %v", err)
		}
		if srv.n.Load() != 2 {
			t.Errorf("%d requests, want 2 (one retry)", srv.n.Load())
		}
		if got := srv.seen(); got[1] != "bytes=1000-" {
			t.Errorf("retry Range %q", got[1])
		}
		if files := cacheFiles(t, dir); len(files) != 1 || files[0] != "test.onnx.partial" {
			t.Errorf("cache files %v, want the partial download only", files)
		}
	})
	t.Run("slow but steady", func(t *testing.T) {
		srv := newPullServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(pullPayload)))
			for i := 0; i < len(pullPayload); i += 128 << 10 {
				time.Sleep(40 * time.Millisecond)
				w.Write(pullPayload[i:min(i+128<<10, len(pullPayload))])
				w.(http.Flusher).Flush()
			}
		})
		path, err := Pull(context.Background(), pullEntry(), PullOptions{BaseURL: srv.URL, CacheDir: t.TempDir(), Timeout: 200 * time.Millisecond, Attempts: 1})
		if err != nil {
			t.Fatalf("steady download cut: %v", err)
		}
		checkPulled(t, path)
	})
}

func TestPullNoNetwork(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more
	_, err = Pull(context.Background(), pullEntry(), PullOptions{BaseURL: "http://" + addr, CacheDir: t.TempDir(), Attempts: 1})
	if err == nil || !strings.Contains(err.Error(), "cannot reach") || !strings.Contains(err.Error(), "--offline") {
		t.Fatalf("error = %v", err)
	}
}

func TestPullOffline(t *testing.T) {
	srv := newPullServer(t, func(n int, w http.ResponseWriter, r *http.Request) { serveFull(w, r) })
	dir := t.TempDir()
	_, err := Pull(context.Background(), pullEntry(), PullOptions{BaseURL: srv.URL, CacheDir: dir, Offline: true})
	if !errors.Is(err, ErrNotCached) || !strings.Contains(err.Error(), "graft zoo pull test-model") {
		t.Fatalf("offline miss error = %v", err)
	}
	if srv.n.Load() != 0 {
		t.Fatal("offline pull used the network")
	}
	if _, err := Pull(context.Background(), pullEntry(), PullOptions{BaseURL: srv.URL, CacheDir: dir}); err != nil {
		t.Fatal(err)
	}
	path, err := Pull(context.Background(), pullEntry(), PullOptions{BaseURL: srv.URL, CacheDir: dir, Offline: true})
	if err != nil {
		t.Fatalf("offline hit: %v", err)
	}
	checkPulled(t, path)
	if srv.n.Load() != 1 {
		t.Errorf("%d requests, want 1", srv.n.Load())
	}
}

func TestPullBundledOffline(t *testing.T) {
	e, err := Lookup("fmnist-cnn")
	if err != nil {
		t.Fatal(err)
	}
	path, err := Pull(context.Background(), e, PullOptions{CacheDir: t.TempDir(), Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := fileSHA256(path)
	if err != nil || sum != e.SHA256 {
		t.Fatalf("bundled file sha256 %s, %v", sum, err)
	}
}

// slowFullServer serves the payload in chunks with pauses, counting the
// complete transfers, so concurrent pulls overlap.
func slowFullServer(t *testing.T, full *atomic.Int32) *pullServer {
	return newPullServer(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(pullPayload)))
		for i := 0; i < len(pullPayload); i += 64 << 10 {
			time.Sleep(5 * time.Millisecond)
			if _, err := w.Write(pullPayload[i:min(i+64<<10, len(pullPayload))]); err != nil {
				return
			}
		}
		full.Add(1)
	})
}

func TestPullConcurrentGoroutines(t *testing.T) {
	var full atomic.Int32
	srv := slowFullServer(t, &full)
	dir := t.TempDir()
	const n = 8
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = Pull(context.Background(), pullEntry(), PullOptions{BaseURL: srv.URL, CacheDir: dir})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("pull %d: %v", i, errs[i])
		}
		if paths[i] != paths[0] {
			t.Fatalf("pull %d returned %s, pull 0 %s", i, paths[i], paths[0])
		}
	}
	checkPulled(t, paths[0])
	if got := full.Load(); got != 1 {
		t.Errorf("model downloaded %d times, want once", got)
	}
}

// TestPullConcurrentProcesses runs Pull in two child processes (this test
// binary, see TestPullHelperProcess) and one goroutine at once.
func TestPullConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	var full atomic.Int32
	srv := slowFullServer(t, &full)
	dir := t.TempDir()
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPullHelperProcess$")
		cmd.Env = append(os.Environ(), "GRAFT_ZOO_HELPER_URL="+srv.URL, "GRAFT_ZOO_HELPER_DIR="+dir)
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	path, err := Pull(context.Background(), pullEntry(), PullOptions{BaseURL: srv.URL, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i])
		}
		if !strings.Contains(outs[i].String(), "PULLED "+path) {
			t.Fatalf("child %d output:\n%s", i, outs[i])
		}
	}
	checkPulled(t, path)
	if got := full.Load(); got != 1 {
		t.Errorf("model downloaded %d times, want once", got)
	}
}

// TestPullHelperProcess is the child of TestPullConcurrentProcesses.
func TestPullHelperProcess(t *testing.T) {
	u, dir := os.Getenv("GRAFT_ZOO_HELPER_URL"), os.Getenv("GRAFT_ZOO_HELPER_DIR")
	if u == "" {
		t.Skip("helper process only")
	}
	path, err := Pull(context.Background(), pullEntry(), PullOptions{BaseURL: u, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("PULLED " + path)
}

func TestPullContextCancelWhileWaitingForLock(t *testing.T) {
	dir := t.TempDir()
	final := modelPath(dir, pullEntry())
	os.MkdirAll(filepath.Dir(final), 0o755)
	unlock, err := lockFile(context.Background(), final+".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = Pull(ctx, pullEntry(), PullOptions{BaseURL: "http://127.0.0.1:1", CacheDir: dir})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v", err)
	}
}

func TestResolve(t *testing.T) {
	p, e, err := ResolveContext(context.Background(), "models/x.onnx", PullOptions{})
	if err != nil || p != "models/x.onnx" || e != nil {
		t.Fatalf("passthrough = %q, %v, %v", p, e, err)
	}
	dir := t.TempDir()
	t.Setenv("GRAFT_CACHE", dir)
	t.Setenv("GRAFT_OFFLINE", "1")
	p, e, err = Resolve("zoo:fmnist-cnn")
	if err != nil || e == nil || e.Name != "fmnist-cnn" || p != filepath.Join(dir, "models", "fmnist-cnn", "fmnist_cnn.onnx") {
		t.Fatalf("Resolve(zoo:fmnist-cnn) = %q, %v, %v", p, e, err)
	}
	if _, _, err := Resolve("zoo:resnet18-v1-7"); !errors.Is(err, ErrNotCached) {
		t.Fatalf("offline Resolve of an uncached model: %v", err)
	}
	if _, _, err := Resolve("zoo:fmnist"); !errors.Is(err, ErrUnknownModel) || !strings.Contains(err.Error(), "fmnist-cnn") {
		t.Fatalf("Resolve(zoo:fmnist) error = %v", err)
	}
}
