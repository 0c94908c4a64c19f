//go:build unix

package main

import (
	"runtime"
	"syscall"
)

// peakRSSMiB returns the process's peak resident set size in MiB (0 when
// the system does not report it).
func peakRSSMiB() float64 {
	ru, ok := rusage()
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return float64(ru.Maxrss) / (1 << 20) // bytes
	}
	return float64(ru.Maxrss) / 1024 // KiB
}

// cpuSeconds returns the user+system CPU time the process has used.
func cpuSeconds() float64 {
	ru, ok := rusage()
	if !ok {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func rusage() (syscall.Rusage, bool) {
	var ru syscall.Rusage
	err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru, err == nil
}
