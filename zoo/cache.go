package zoo

import (
	"errors"
	"os"
	"path/filepath"
)

// CacheDir returns graft's cache directory: $GRAFT_CACHE if set, else
// $XDG_CACHE_HOME/graft if XDG_CACHE_HOME is set, else ~/.cache/graft. The
// directory is not created.
func CacheDir() (string, error) {
	if d := os.Getenv("GRAFT_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "graft"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", errors.New("zoo: no cache directory: set GRAFT_CACHE (HOME is not set)")
	}
	return filepath.Join(home, ".cache", "graft"), nil
}

// modelPath is where the verified file of e lives under the cache dir.
func modelPath(dir string, e Entry) string {
	return filepath.Join(dir, "models", e.Name, e.File)
}

// Cached returns the path e would have in the cache directory dir ("" for
// CacheDir()) and whether a file of the right size is there. It never
// downloads or writes.
func Cached(e Entry, dir string) (string, bool) {
	if dir == "" {
		var err error
		if dir, err = CacheDir(); err != nil {
			return "", false
		}
	}
	p := modelPath(dir, e)
	ok, _ := cachedOK(p, e, false)
	return p, ok
}
