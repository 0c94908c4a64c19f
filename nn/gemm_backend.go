//go:build !openblas

package nn

// gemmOwnKernel selects graft's packed AVX2/FMA SGEMM (when the CPU has
// it) over gonum's pure-Go one; the openblas build routes to OpenBLAS.
const gemmOwnKernel = true

// gemmSplitBLAS is off: gonum's Sgemm parallelises itself.
const gemmSplitBLAS = false

// BLASBackend names the BLAS implementation behind graft's matrix products:
// "gonum (pure Go)" by default, with graft's own AVX2/FMA (and, where the
// CPU has it, AVX-512) kernels for float32 products and convolutions on
// CPUs that have them; "OpenBLAS" when built with -tags openblas.
func BLASBackend() string {
	return "gonum (pure Go)" + gemmOwnKernels()
}
