//go:build !unix

package main

// peakRSSMiB is not available on this system.
func peakRSSMiB() float64 { return 0 }
