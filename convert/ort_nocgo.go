//go:build !cgo

package convert

import (
	"errors"

	"github.com/graftml/graft/nn"
)

var errNoCgo = errors.New("onnxruntime needs a cgo build of graft")

// ORTAvailable reports why onnxruntime cannot be used: this build has no cgo.
func ORTAvailable() error { return errNoCgo }

// ORTRunner fails: this build has no cgo.
func ORTRunner(path string, feed map[string]*nn.Tensor) (map[string]*nn.Tensor, error) {
	return nil, errNoCgo
}
