package main

import (
	"context"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/graftml/graft/zoo"
)

// resolveModel turns a model argument into a file path: `zoo:NAME` pulls
// (or finds in the cache) a zoo model; other paths pass through. For zoo
// models it also returns the entry's normalization in the syntax of
// --norm, which becomes the default of commands that read images.
func resolveModel(ctx context.Context, ref string) (path, norm string, err error) {
	if !strings.HasPrefix(ref, "zoo:") {
		return ref, "", nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	path, e, err := zoo.ResolveContext(ctx, ref, zoo.PullOptions{Progress: os.Stderr, Offline: os.Getenv("GRAFT_OFFLINE") == "1"})
	if err != nil {
		return "", "", err
	}
	if e != nil {
		norm = zooNorm(e.Preprocess)
	}
	return path, norm, nil
}

// zooNorm expresses a zoo entry's preprocessing as a --norm value when it
// can: scale 1/255 with mean/std, or raw 0..255 values.
func zooNorm(p zoo.Preprocess) string {
	join := func(v []float64) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = strconv.FormatFloat(x, 'g', -1, 64)
		}
		return strings.Join(s, ",")
	}
	switch {
	case math.Abs(p.Scale-1.0/255) < 1e-9 && len(p.Mean) > 0 && len(p.Std) > 0:
		return join(p.Mean) + "/" + join(p.Std)
	case math.Abs(p.Scale-1.0/255) < 1e-9:
		return "unit"
	case p.Scale == 1 && allEqual(p.Mean, 0) && allEqual(p.Std, 1):
		return "raw255"
	}
	return ""
}

func allEqual(v []float64, x float64) bool {
	for _, y := range v {
		if y != x {
			return false
		}
	}
	return true
}
