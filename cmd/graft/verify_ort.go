//go:build cgo

package main

import (
	"context"
	"fmt"

	"github.com/graftml/graft/internal/ortref"
	"github.com/graftml/graft/nn"
)

// ortRunner runs the model file in onnxruntime.
func ortRunner(path string) (verifyRunner, error) {
	if err := ortref.Init(); err != nil {
		return verifyRunner{}, fmt.Errorf("--against onnxruntime: %w", err)
	}
	s, err := ortref.Open(path, 0)
	if err != nil {
		return verifyRunner{}, err
	}
	batchable := len(s.Inputs()) > 0
	for _, in := range s.Inputs() {
		if len(in.Shape) == 0 || in.Shape[0] >= 0 {
			batchable = false
		}
	}
	version, _ := ortref.Version()
	return verifyRunner{
		label: "onnxruntime " + version,
		run: func(_ context.Context, feed map[string]*nn.Tensor) (map[string]*nn.Tensor, error) {
			return s.Run(feed)
		},
		batchable: batchable,
		close:     func() { s.Close() },
	}, nil
}
