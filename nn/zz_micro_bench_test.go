package nn

import (
	"testing"

	"github.com/graftml/graft/nn/internal/gemmasm"
)

func BenchmarkZZMicro(b *testing.B) {
	kc := 128
	a := make([]float32, 6*kc)
	bb := make([]float32, 32*kc+64)
	c := make([]float32, 6*32)
	offs := make([]int, kc)
	for _, mis := range []int{0, 3} {
		for p := range offs {
			offs[p] = p*32 + mis
		}
		b.Run("16/mis"+string(rune('0'+mis)), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				gemmasm.Kernel6x16Offs(kc, a, bb, offs, c, 32, nil, true)
			}
			b.ReportMetric(float64(2*6*16*kc)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run("32/mis"+string(rune('0'+mis)), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				gemmasm.Kernel6x32Offs(kc, a, bb, offs, c, 32, nil, true)
			}
			b.ReportMetric(float64(2*6*32*kc)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
