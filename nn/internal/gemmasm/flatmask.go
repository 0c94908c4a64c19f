package gemmasm

import "math/bits"

// DepthwiseFlatMasks returns the lane masks of DepthwiseFlat for n wide
// positions of rows wq wide of which the first ow are kept.
func DepthwiseFlatMasks(n, ow, wq int) []uint64 {
	m := make([]uint64, (n+15)/16)
	for v := range m {
		var lanes uint64
		for i := 0; i < 16; i++ {
			if p := 16*v + i; p < n && p%wq < ow {
				lanes |= 1 << i
			}
		}
		m[v] = flatMask(lanes)
	}
	return m
}

// flatMask packs lane mask bits with the store mask of as many lanes and
// their count, as dwFlat16 reads them.
func flatMask(lanes uint64) uint64 {
	c := uint64(bits.OnesCount64(lanes))
	return lanes | (uint64(1)<<c-1)<<16 | c<<32
}
