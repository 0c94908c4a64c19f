package testenv

import (
	"fmt"
	"path/filepath"
	"testing"
)

// fakeTB records Skip and Fatal calls instead of stopping the test.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Skipf(format string, a ...any)  { f.skipped = fmt.Sprintf(format, a...) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...) }

func TestSharedDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GRAFT_SHARED", dir)
	t.Setenv("GRAFT_REQUIRE_SHARED", "")
	f := &fakeTB{TB: t}
	if got := SharedDir(f); got != dir || f.skipped != "" || f.failed != "" {
		t.Errorf("GRAFT_SHARED set: got %q, skipped %q, failed %q", got, f.skipped, f.failed)
	}
	t.Setenv("GRAFT_SHARED", filepath.Join(dir, "missing"))
	f = &fakeTB{TB: t}
	SharedDir(f)
	if f.skipped == "" || f.failed != "" {
		t.Errorf("missing folder: skipped %q, failed %q", f.skipped, f.failed)
	}
	t.Setenv("GRAFT_REQUIRE_SHARED", "1")
	f = &fakeTB{TB: t}
	SharedDir(f)
	if f.failed == "" {
		t.Errorf("missing folder with GRAFT_REQUIRE_SHARED=1 did not fail")
	}
	if _, ok := LookupShared(); ok {
		t.Error("LookupShared found a missing folder")
	}
	root, err := RepoRoot()
	if err != nil || filepath.Base(filepath.Dir(root)) == "" {
		t.Errorf("RepoRoot: %q %v", root, err)
	}
}
