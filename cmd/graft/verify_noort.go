//go:build !cgo

package main

import "errors"

// ortRunner is unavailable without cgo: onnxruntime is loaded through it.
func ortRunner(path string) (verifyRunner, error) {
	return verifyRunner{}, errors.New("--against onnxruntime: this graft was built without cgo (CGO_ENABLED=0), so it cannot load onnxruntime")
}
