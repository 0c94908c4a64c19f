//go:build openblas

package nn

import (
	"github.com/graftml/graft/nn/internal/openblas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

// gemmOwnKernel is off: OpenBLAS does every float32 product.
const gemmOwnKernel = false

// gemmSplitBLAS makes gemmF32 split large products over GOMAXPROCS
// goroutines itself, each calling single-threaded OpenBLAS: OpenBLAS's own
// threads spin while idle and would compete with graft's goroutines.
const gemmSplitBLAS = true

// Selecting the BLAS backend once at start-up: with the openblas build tag
// every blas32/blas64 call graft makes is served by OpenBLAS via cgo, with
// OpenBLAS's internal threading turned off (graft parallelises itself).
func init() {
	openblas.SingleThreaded()
	blas32.Use(netlib.Implementation{})
	blas64.Use(netlib.Implementation{})
}

// BLASBackend names the BLAS implementation behind graft's matrix products:
// "gonum (pure Go)" by default, "OpenBLAS" when built with -tags openblas.
// On CPUs with AVX2/FMA, convolutions run on graft's own kernels in both
// builds, which the name then says.
func BLASBackend() string { return "OpenBLAS" + gemmOwnKernels() }
