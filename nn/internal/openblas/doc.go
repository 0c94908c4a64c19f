// Package openblas links graft to the system OpenBLAS (libopenblas) when
// built with -tags openblas, and turns OpenBLAS's own threading off; without
// the tag it is empty. It is separate from package nn so that nn itself
// needs no cgo (a cgo package cannot hold Go assembly, which nn uses).
package openblas
