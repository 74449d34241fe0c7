package nat

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

func testKey(a, p int) (Tuple, pkey) {
	k := udp(ip(10, 0, 0, byte(a)), uint16(p), server, 53)
	pk, _ := pack(k)
	return k, pk
}

// TestIndexMatchesMap drives a shard index and a Go map (the slow
// reference) with the same random puts and deletes on a small key space
// (long clusters, many backward shifts, grows and shrinks) and compares
// every key.
func TestIndexMatchesMap(t *testing.T) {
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 1))
		hseed := rng.Uint64()
		var x index
		x.init()
		ref := map[Tuple]uint32{}
		for op := range 20000 {
			k, pk := testKey(rng.IntN(40), rng.IntN(20))
			h := pk.hash(hseed)
			if rng.IntN(3) == 0 || (op > 10000 && rng.IntN(2) == 0) {
				v := ref[k]
				if rng.IntN(8) == 0 {
					v++ // a stale value must not delete
				} else {
					delete(ref, k)
				}
				x.delLocked(pk, h, v, hseed)
			} else {
				v := rng.Uint32() & valMask
				ref[k] = v
				x.putLocked(pk, h, v, hseed)
			}
			if x.n != len(ref) {
				t.Fatalf("seed %d op %d: index holds %d, map %d", seed, op, x.n, len(ref))
			}
			if op%97 == 0 {
				for a := range 40 {
					for p := range 20 {
						k, pk := testKey(a, p)
						v, ok := x.get(pk, pk.hash(hseed))
						rv, rok := ref[k]
						if ok != rok || v != rv {
							t.Fatalf("seed %d op %d: %v: index %d %v, map %d %v", seed, op, k, v, ok, rv, rok)
						}
					}
				}
			}
		}
		if size := x.tab.Load().size(); size > 4*indexMin && len(ref) == 0 {
			t.Fatalf("index kept %d entries of memory when empty", size)
		}
	}
}

// TestIndexReadersNeverMissStableKeys: while a writer inserts and deletes
// other keys (shifting clusters and resizing), lock-free readers must find
// every key that stays in the index, with its value, every time.
func TestIndexReadersNeverMissStableKeys(t *testing.T) {
	const hseed = 12345
	var x index
	x.init()
	for p := range 64 {
		_, pk := testKey(0, p)
		x.putLocked(pk, pk.hash(hseed), uint32(p), hseed)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 2)
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if i%256 == 0 {
					runtime.Gosched() // let the writer run on this 2-core machine
				}
				p := (i*7 + g) % 64
				_, pk := testKey(0, p)
				if v, ok := x.get(pk, pk.hash(hseed)); !ok || v != uint32(p) {
					errs <- "a stable key was missed or had a wrong value"
					return
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50000 {
		_, pk := testKey(1+rng.IntN(3), rng.IntN(40))
		h := pk.hash(hseed)
		if rng.IntN(2) == 0 {
			x.putLocked(pk, h, 7, hseed)
		} else {
			x.delLocked(pk, h, 7, hseed)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case e := <-errs:
		t.Fatal(e)
	default:
	}
}

func TestPackRejectsOtherProtocols(t *testing.T) {
	if _, ok := pack(Tuple{Proto: 47}); ok {
		t.Fatal("GRE packed")
	}
	tb, _ := newTestTable(t, Config{})
	if _, _, ok := tb.Lookup(Tuple{Proto: 47}); ok {
		t.Fatal("lookup of a zero GRE tuple hit")
	}
	if _, _, ok := tb.Lookup(Tuple{}); ok {
		t.Fatal("lookup of the zero tuple hit")
	}
}
