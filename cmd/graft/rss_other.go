//go:build !unix

package main

// peakRSSMiB is not available on this system.
func peakRSSMiB() float64 { return 0 }

// cpuSeconds is not available on this system.
func cpuSeconds() float64 { return 0 }
