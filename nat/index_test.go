package nat

import (
	"math/rand/v2"
	"testing"
)

// TestIndexMatchesMap drives the open-addressing index and a Go map with
// the same random puts and deletes on a small key space (long clusters,
// many backward shifts, grows and shrinks) and compares every key.
func TestIndexMatchesMap(t *testing.T) {
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 1))
		hseed := rng.Uint64()
		x := newIndex()
		ref := map[Tuple]uint32{}
		key := func() Tuple {
			return udp(ip(10, 0, 0, byte(rng.IntN(40))), uint16(rng.IntN(20)), server, 53)
		}
		for op := range 20000 {
			k := key()
			h := k.hash(hseed)
			if rng.IntN(3) == 0 || (op > 10000 && rng.IntN(2) == 0) {
				v := ref[k]
				if rng.IntN(8) == 0 {
					v++ // a stale value must not delete
				} else {
					delete(ref, k)
				}
				x.del(k, h, v, hseed)
			} else {
				v := rng.Uint32()
				ref[k] = v
				x.put(k, h, v, hseed)
			}
			if x.n != len(ref) {
				t.Fatalf("seed %d op %d: index holds %d, map %d", seed, op, x.n, len(ref))
			}
			if op%97 == 0 {
				for a := range 40 {
					for p := range 20 {
						k := udp(ip(10, 0, 0, byte(a)), uint16(p), server, 53)
						v, ok := x.get(k, k.hash(hseed))
						rv, rok := ref[k]
						if ok != rok || v != rv {
							t.Fatalf("seed %d op %d: %v: index %d %v, map %d %v", seed, op, k, v, ok, rv, rok)
						}
					}
				}
			}
		}
		if len(x.e) > 4*indexMin && len(ref) == 0 {
			t.Fatalf("index kept %d entries of memory when empty", len(x.e))
		}
	}
}
