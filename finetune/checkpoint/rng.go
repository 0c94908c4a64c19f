package checkpoint

import (
	"hash/fnv"
	"math/rand/v2"
)

// RNG is the random-number state of a training run: a seed plus named
// counters. It stores no generator internals; instead every random stream
// is derived deterministically from (Seed, stream name, index), so a
// resumed run draws exactly the numbers the uninterrupted run would have.
//
// How a trainer should use it:
//
//   - Pick Seed once at the start of a run (from the user's --seed or the
//     clock) and keep it in every checkpoint.
//   - Get each epoch's shuffle order from Stream("shuffle", epoch), and
//     per-step randomness (dropout masks, augmentation) from
//     Stream("dropout", globalStep), Stream("augment", globalStep), ...
//     Epoch and GlobalStep are in the checkpoint, so nothing else needs
//     saving when checkpoints are taken at epoch ends (or step ends).
//   - For a stream not keyed by epoch or step, keep the next unused index
//     in Counters[name], call Stream(name, Counters[name]) and increment
//     the counter; the checkpoint carries it over.
//
// Never share one generator across streams: that couples them and makes
// resumption inexact when the number of draws of one stream changes.
type RNG struct {
	// Seed is the run's base seed.
	Seed int64
	// Counters holds the next index of streams that are not keyed by
	// epoch or global step.
	Counters map[string]uint64
}

// Stream returns a new generator for the named stream and index (e.g. the
// epoch or the global step). The same (Seed, name, index) always yields
// the same sequence; different names or indices yield independent ones.
func (r RNG) Stream(name string, index uint64) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	s1 := rngMix(uint64(r.Seed) ^ rngMix(h.Sum64()))
	s2 := rngMix(index ^ 0x6a09e667f3bcc909 ^ h.Sum64())
	return rand.New(rand.NewPCG(s1, s2))
}

// rngMix is the SplitMix64 finaliser, spreading similar inputs apart.
func rngMix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
