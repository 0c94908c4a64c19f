// Package testenv locates test material shared outside the repository.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// SharedDir returns the folder of shared third-party test data: $GRAFT_SHARED
// if set, else <repo root>/../shared, where the repo root is the nearest
// folder above the working directory holding go.mod. If the folder is
// missing the test is skipped, or fails when GRAFT_REQUIRE_SHARED=1.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, why := sharedDir()
	if why != "" {
		if os.Getenv("GRAFT_REQUIRE_SHARED") == "1" {
			t.Fatalf("../shared not found: %s (GRAFT_REQUIRE_SHARED=1)", why)
		}
		t.Skipf("../shared not found: %s (set GRAFT_SHARED to its path)", why)
	}
	return dir
}

// sharedDir finds the shared folder, or explains why it is not there.
func sharedDir() (dir, why string) {
	if env := os.Getenv("GRAFT_SHARED"); env != "" {
		if st, err := os.Stat(env); err != nil || !st.IsDir() {
			return "", "GRAFT_SHARED=" + env + " is not a folder"
		}
		return env, ""
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err.Error()
	}
	dir = filepath.Join(filepath.Dir(root), "shared")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", dir + " does not exist"
	}
	return dir, ""
}

// RepoRoot returns the nearest folder at or above the working directory
// that holds go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// LookupShared returns the shared folder like SharedDir, but reports its
// absence instead of skipping, for tests that only use it when present
// (such as fuzz corpora).
func LookupShared() (string, bool) {
	dir, why := sharedDir()
	return dir, why == ""
}
