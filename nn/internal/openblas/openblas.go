//go:build openblas

package openblas

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int num_threads);
*/
import "C"

// SingleThreaded makes every OpenBLAS call run on the calling thread only:
// graft splits large products over goroutines itself, and idle OpenBLAS
// worker threads spin and would compete with graft's goroutines.
func SingleThreaded() { C.openblas_set_num_threads(1) }
