//go:build linux

package main

import (
	"os"
	"syscall"
)

// peakRSSMiB returns the child's peak resident set size (ru_maxrss, KiB on
// Linux) in MiB.
func peakRSSMiB(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024
	}
	return 0
}
