package onnx

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/graftml/graft/nn"
)

// BenchmarkBenchModels times inference of the models exported by
// testdata/gen/export_bench_models.py (skipped when they are absent):
//
//	go test ./onnx -run '^$' -bench BenchModels -cpu 2
func BenchmarkBenchModels(b *testing.B) {
	for _, name := range []string{"resnet18", "mobilenet_v2", "efficientnet_b0"} {
		path := filepath.Join("..", "testdata", "bench", name+".onnx")
		if _, err := os.Stat(path); err != nil {
			b.Skipf("%s missing: run testdata/gen/export_bench_models.py", path)
		}
		g, err := LoadGraph(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range []int{1, 8} {
			x := nn.New(nn.Float32, batch, 3, 224, 224)
			r := rand.New(rand.NewSource(1))
			for i := range x.F32 {
				x.F32[i] = float32(r.NormFloat64())
			}
			in := map[string]*nn.Tensor{g.Inputs[0].Name: x}
			b.Run(name+"/b"+string(rune('0'+batch)), func(b *testing.B) {
				ctx := nn.NewContext(nil)
				if _, err := g.Run(ctx, in); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := g.Run(ctx, in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
