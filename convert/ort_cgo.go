//go:build cgo

package convert

import (
	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/nn"
)

// ORTAvailable reports why onnxruntime cannot be used, or nil.
func ORTAvailable() error { return ortref.Init() }

// ORTRunner runs the model file in onnxruntime (a Runner).
func ORTRunner(path string, feed map[string]*nn.Tensor) (map[string]*nn.Tensor, error) {
	s, err := ortref.Open(path, 0)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.Run(feed)
}
