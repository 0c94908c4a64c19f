//go:build !unix

package zoo

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"
)

// lockFile takes an exclusive lock by creating path with O_EXCL, waiting
// until it can or ctx is done. A lock file older than an hour is taken to
// be left over from a crashed process and removed. The returned func
// releases the lock.
func lockFile(ctx context.Context, path string) (func(), error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if st, err := os.Stat(path); err == nil && time.Since(st.ModTime()) > time.Hour {
			os.Remove(path)
			continue
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
