//go:build !openblas

package nn

// gemmOwnKernel selects graft's packed AVX2/FMA SGEMM (when the CPU has
// it) over gonum's pure-Go one; the openblas build routes to OpenBLAS.
const gemmOwnKernel = true

// gemmSplitBLAS is off: gonum's Sgemm parallelises itself.
const gemmSplitBLAS = false

// BLASBackend names the BLAS implementation behind graft's matrix products:
// "gonum (pure Go)" by default (with graft's AVX2/FMA kernel for float32
// products on CPUs that have it), "OpenBLAS" when built with -tags openblas.
func BLASBackend() string {
	if gemmKernelOK {
		return "gonum (pure Go) + graft AVX2/FMA sgemm"
	}
	return "gonum (pure Go)"
}
