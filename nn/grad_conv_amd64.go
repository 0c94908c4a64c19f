//go:build amd64 && !purego

package nn

// cvgDotsOK reports whether cvgDots has a vector kernel on this CPU.
var cvgDotsOK = gemmKernelOK

//go:noescape
func cvgDotsAVX2(a *float32, n int, base *float32, offs *int, nt int, out *float32)

// cvgDots adds Σ_i a[i]·base[offs[t]+i] to out[t] for every tap t, over
// the prefix of a whose length is a multiple of 8, and returns that length
// (0 when there is no vector kernel). base must hold offs[t]+len(a)
// elements for every t.
func cvgDots(a []float32, base []float32, offs []int, out []float32) int {
	n := len(a) &^ 7
	if !gemmKernelOK || n == 0 || len(offs) == 0 {
		return 0
	}
	out = out[:len(offs)]
	for _, o := range offs {
		if o < 0 || o+n > len(base) {
			panic("cvgDots: tap offset out of range")
		}
	}
	cvgDotsAVX2(&a[0], n, &base[0], &offs[0], len(offs), &out[0])
	return n
}
