//go:build !openblas

package nn

// BLASBackend names the BLAS implementation behind graft's matrix products:
// "gonum (pure Go)" by default, "OpenBLAS" when built with -tags openblas.
func BLASBackend() string { return "gonum (pure Go)" }
