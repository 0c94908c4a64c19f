//go:build openblas

package nn

/*
#cgo LDFLAGS: -lopenblas
*/
import "C"

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/netlib/blas/netlib"
)

// gemmOwnKernel is off: OpenBLAS does every float32 product.
const gemmOwnKernel = false

// Selecting the BLAS backend once at start-up: with the openblas build tag
// every blas32/blas64 call graft makes is served by OpenBLAS via cgo.
func init() {
	blas32.Use(netlib.Implementation{})
	blas64.Use(netlib.Implementation{})
}

// BLASBackend names the BLAS implementation behind graft's matrix products:
// "gonum (pure Go)" by default, "OpenBLAS" when built with -tags openblas.
func BLASBackend() string { return "OpenBLAS" }
