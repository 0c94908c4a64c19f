package zoo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/graftml/graft/internal/progress"
)

// Errors reported (wrapped) by Pull, for errors.Is.
var (
	// ErrNotCached: offline mode and the model is not in the cache.
	ErrNotCached = errors.New("not in the cache")
	// ErrChecksum: the downloaded bytes do not match the manifest's
	// sha256 or size. The partial download has been deleted.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrNotFound: the server answered 404 Not Found.
	ErrNotFound = errors.New("not found on the server")
)

// DefaultTimeout is the stall timeout used when PullOptions.Timeout is 0.
const DefaultTimeout = 60 * time.Second

// PullOptions configures Pull.
type PullOptions struct {
	// Offline forbids network access: only the cache (and bundled models)
	// are used, and a missing model is an ErrNotCached error.
	Offline bool
	// Progress, when not nil, receives a progress bar of the download.
	Progress io.Writer
	// HTTPClient is used for downloads; nil means a default client.
	HTTPClient *http.Client
	// Timeout is the stall timeout: the longest wait for the server's
	// response headers or for the next bytes of the body. A slow but
	// steady download is never cut. Zero means DefaultTimeout.
	Timeout time.Duration
	// BaseURL, when set, replaces the entry's URLs by BaseURL + "/" +
	// Entry.File (for tests and private mirrors).
	BaseURL string
	// CacheDir overrides CacheDir().
	CacheDir string
	// Attempts is how many times each URL is tried when the transfer
	// fails in a way worth retrying (connection lost, stall, 5xx); each
	// retry resumes from the bytes already received. Zero means 3.
	Attempts int
	// Verify re-hashes a model found in the cache before returning it
	// (normally a cached file is trusted when its size matches, since it
	// only gets its final name after its sha256 was checked).
	Verify bool
}

func (o PullOptions) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

func (o PullOptions) attempts() int {
	if o.Attempts > 0 {
		return o.Attempts
	}
	return 3
}

// Pull returns the path of e's model file in the cache, downloading it
// first if needed: resuming a partial download left by an earlier attempt
// (with an HTTP Range request; a server that ignores the range restarts
// the file cleanly), verifying size and sha256, and moving the file into
// place atomically (write to FILE.partial, fsync, rename). On a checksum
// mismatch the partial file is deleted. Concurrent Pulls of the same model,
// from goroutines or processes, wait for each other through a lock file;
// the second finds the first's result in the cache.
func Pull(ctx context.Context, e Entry, opts PullOptions) (string, error) {
	if !validHex64(e.SHA256) || e.Size <= 0 || e.File == "" || e.File != filepath.Base(e.File) {
		return "", fmt.Errorf("zoo: %s: manifest entry lacks a valid file name, sha256 or size", e.Name)
	}
	dir := opts.CacheDir
	if dir == "" {
		var err error
		if dir, err = CacheDir(); err != nil {
			return "", err
		}
	}
	final := modelPath(dir, e)
	if ok, err := cachedOK(final, e, opts.Verify); err != nil || ok {
		return final, err
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", fmt.Errorf("zoo: cache: %w", err)
	}
	if e.Bundled {
		return final, installBundled(final, e)
	}
	if opts.Offline {
		return "", fmt.Errorf("zoo: %s is %w (%s); run `graft zoo pull %s` with network access first", e.Name, ErrNotCached, final, e.Name)
	}
	unlock, err := lockFile(ctx, final+".lock")
	if err != nil {
		return "", fmt.Errorf("zoo: %s: lock %s: %w", e.Name, final+".lock", err)
	}
	defer unlock()
	// Another goroutine or process may have finished while we waited.
	if ok, err := cachedOK(final, e, opts.Verify); err != nil || ok {
		return final, err
	}
	urls := e.URLs
	if opts.BaseURL != "" {
		urls = []string{strings.TrimRight(opts.BaseURL, "/") + "/" + e.File}
	}
	if len(urls) == 0 {
		return "", fmt.Errorf("zoo: %s: no download URL", e.Name)
	}
	var msgs []string
	for _, u := range urls {
		err := fetchURL(ctx, u, final, e, opts)
		if err == nil {
			return final, nil
		}
		if ctx.Err() != nil || len(urls) == 1 {
			return "", err
		}
		msgs = append(msgs, strings.TrimPrefix(err.Error(), "zoo: "+e.Name+": "))
	}
	return "", fmt.Errorf("zoo: %s: every download location failed: %s", e.Name, strings.Join(msgs, "; "))
}

// cachedOK reports whether final holds e's verified model.
func cachedOK(final string, e Entry, verify bool) (bool, error) {
	st, err := os.Stat(final)
	if err != nil || !st.Mode().IsRegular() || st.Size() != e.Size {
		return false, nil
	}
	if !verify {
		return true, nil
	}
	sum, err := fileSHA256(final)
	if err != nil {
		return false, fmt.Errorf("zoo: %s: %w", e.Name, err)
	}
	return sum == e.SHA256, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// installBundled writes the embedded bytes of a bundled entry to final.
func installBundled(final string, e Entry) error {
	data, ok := bundledData(e.File)
	if !ok {
		return fmt.Errorf("zoo: %s: bundled file %s is not embedded", e.Name, e.File)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != e.SHA256 || int64(len(data)) != e.Size {
		return fmt.Errorf("zoo: %s: embedded file: %w (sha256 %s, want %s)", e.Name, ErrChecksum, got, e.SHA256)
	}
	tmp, err := os.CreateTemp(filepath.Dir(final), e.File+".*.tmp")
	if err != nil {
		return fmt.Errorf("zoo: cache: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("zoo: cache: %w", err)
	}
	syncDir(filepath.Dir(final))
	return nil
}

// retryable marks transfer errors worth another attempt.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

var errStalled = errors.New("stalled")

// fetchURL downloads u into final, retrying transient failures.
func fetchURL(ctx context.Context, u, final string, e Entry, opts PullOptions) error {
	var err error
	for attempt := 1; attempt <= opts.attempts(); attempt++ {
		if attempt > 1 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("zoo: %s: %w", e.Name, ctx.Err())
			case <-time.After(time.Duration(attempt-1) * 200 * time.Millisecond):
			}
		}
		err = fetchOnce(ctx, u, final, e, opts)
		var r retryable
		if err == nil || !errors.As(err, &r) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// fetchOnce makes one request for u, appending to FILE.partial when the
// server honours the Range request, and installs the file when complete.
func fetchOnce(ctx context.Context, u, final string, e Entry, opts PullOptions) error {
	part := final + ".partial"
	var off int64
	if st, err := os.Stat(part); err == nil {
		off = st.Size()
	}
	if off > e.Size {
		os.Remove(part)
		off = 0
	}
	if off == e.Size {
		return finish(part, final, e, nil)
	}

	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(opts.timeout(), func() { cancel(errStalled) })
	defer stall.Stop()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("zoo: %s: %w", e.Name, err)
	}
	req.Header.Set("User-Agent", "graft-zoo")
	if off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	client := opts.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(context.Cause(reqCtx), errStalled) {
			return retryable{fmt.Errorf("zoo: %s: %s: no response within %v", e.Name, u, opts.timeout())}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("zoo: %s: %w", e.Name, ctx.Err())
		}
		return retryable{fmt.Errorf("zoo: %s: cannot reach %s (no network? models already in the cache work with --offline): %w", e.Name, u, err)}
	}
	defer resp.Body.Close()

	var f *os.File
	switch {
	case resp.StatusCode == http.StatusPartialContent && off > 0:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != off {
			os.Remove(part)
			return retryable{fmt.Errorf("zoo: %s: %s answered range %q to a request from byte %d; restarting", e.Name, u, resp.Header.Get("Content-Range"), off)}
		}
		f, err = os.OpenFile(part, os.O_RDWR|os.O_APPEND, 0o644)
	case resp.StatusCode == http.StatusOK:
		off = 0 // the server ignored the range (or none was asked): start over
		f, err = os.OpenFile(part, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && off > 0:
		os.Remove(part)
		return retryable{fmt.Errorf("zoo: %s: %s rejected resuming at byte %d; restarting", e.Name, u, off)}
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("zoo: %s: %s: %w (HTTP 404)", e.Name, u, ErrNotFound)
	default:
		err := fmt.Errorf("zoo: %s: %s: HTTP %s", e.Name, u, resp.Status)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return retryable{err}
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("zoo: cache: %w", err)
	}
	defer f.Close()
	if resp.ContentLength >= 0 && off+resp.ContentLength != e.Size {
		f.Close()
		os.Remove(part)
		return fmt.Errorf("zoo: %s: %s: %w: server sends %d bytes, manifest says %d", e.Name, u, ErrChecksum, off+resp.ContentLength, e.Size)
	}

	h := sha256.New()
	if off > 0 {
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, off)); err != nil {
			return fmt.Errorf("zoo: cache: %w", err)
		}
	}
	var bar *progress.Bar
	if opts.Progress != nil {
		bar = progress.New(opts.Progress, int(e.Size), "pull "+e.Name)
		if off > 0 {
			bar.Add(int(off), "resumed")
		}
	}
	got := off
	buf := make([]byte, 256<<10)
	var rerr error
	for got <= e.Size {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			stall.Reset(opts.timeout())
			if _, werr := f.Write(buf[:n]); werr != nil {
				bar.Done()
				return fmt.Errorf("zoo: cache: %w", werr)
			}
			h.Write(buf[:n])
			got += int64(n)
			bar.Add(n, fmt.Sprintf("%s/%s", mb(got), mb(e.Size)))
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
	}
	bar.Done()
	if got > e.Size {
		f.Close()
		os.Remove(part)
		return fmt.Errorf("zoo: %s: %s: %w: more than the %d bytes of the manifest", e.Name, u, ErrChecksum, e.Size)
	}
	if rerr != nil || got < e.Size {
		why := "connection closed early"
		if errors.Is(context.Cause(reqCtx), errStalled) {
			why = fmt.Sprintf("no data for %v", opts.timeout())
		} else if ctx.Err() != nil {
			return fmt.Errorf("zoo: %s: %w (partial download kept for resuming)", e.Name, ctx.Err())
		} else if rerr != nil {
			why = rerr.Error()
		}
		return retryable{fmt.Errorf("zoo: %s: %s: %s after %d of %d bytes (partial download kept; pull again to resume)", e.Name, u, why, got, e.Size)}
	}
	return finish(part, final, e, f, h.Sum(nil)...)
}

// finish checks the complete partial file and renames it to final. f is
// the open partial file (nil to open it), sum its sha256 when already
// computed.
func finish(part, final string, e Entry, f *os.File, sum ...byte) error {
	if f == nil {
		var err error
		if f, err = os.OpenFile(part, os.O_RDWR, 0); err != nil {
			return fmt.Errorf("zoo: cache: %w", err)
		}
		defer f.Close()
	}
	if sum == nil {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, e.Size)); err != nil {
			return fmt.Errorf("zoo: cache: %w", err)
		}
		sum = h.Sum(nil)
	}
	if got := hex.EncodeToString(sum); got != e.SHA256 {
		f.Close()
		os.Remove(part)
		return fmt.Errorf("zoo: %s: %w: got sha256 %s, want %s (download deleted)", e.Name, ErrChecksum, got, e.SHA256)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("zoo: cache: %w", err)
	}
	// Close before renaming (an open file cannot be renamed on Windows);
	// the callers' deferred Close then does nothing harmful.
	if err := f.Close(); err != nil {
		return fmt.Errorf("zoo: cache: %w", err)
	}
	if err := os.Rename(part, final); err != nil {
		return fmt.Errorf("zoo: cache: %w", err)
	}
	syncDir(filepath.Dir(final))
	return nil
}

// syncDir makes a rename in dir durable (best effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// contentRangeStart parses the first byte of "bytes START-END/TOTAL".
func contentRangeStart(v string) (int64, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return 0, false
	}
	start, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(start), 10, 64)
	return n, err == nil
}

func mb(n int64) string { return fmt.Sprintf("%.1fMB", float64(n)/1e6) }

func validHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Resolve turns a model reference into a local path: "zoo:NAME" is looked
// up and pulled into the cache if needed (progress on stderr; offline when
// GRAFT_OFFLINE=1), and its entry returned; any other reference is a path
// returned unchanged with a nil entry.
func Resolve(ref string) (path string, entry *Entry, err error) {
	return ResolveContext(context.Background(), ref, PullOptions{
		Progress: os.Stderr,
		Offline:  os.Getenv("GRAFT_OFFLINE") == "1",
	})
}

// ResolveContext is Resolve with a context and explicit pull options.
func ResolveContext(ctx context.Context, ref string, opts PullOptions) (string, *Entry, error) {
	name, ok := strings.CutPrefix(ref, "zoo:")
	if !ok {
		return ref, nil, nil
	}
	e, err := Lookup(name)
	if err != nil {
		return "", nil, err
	}
	p, err := Pull(ctx, e, opts)
	if err != nil {
		return "", nil, err
	}
	return p, &e, nil
}
