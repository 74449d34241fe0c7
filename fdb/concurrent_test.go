package fdb

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrent runs dataplane-like workers (learn the source, look up the
// destination) and lock-free readers against a control goroutine that ages,
// deletes, pins, flushes and changes the limit, while the table grows from 16
// slots and shrinks back. Each MAC may only ever be put on its own three
// ports, and a writer marks a port in the MAC's mask before putting it there;
// a reader that finds the MAC on a port not marked has read a torn or
// misplaced slot. Run it with -race.
func TestConcurrent(t *testing.T) {
	const (
		nMACs    = 6000
		workers  = 2
		readers  = 2
		window   = 2000
		perRound = 500
	)
	rounds := 300
	if testing.Short() {
		rounds = 100
	}
	macOf := func(i int) uint64 { return 0x020000000000 + uint64(i)*0x10001 }
	portOf := func(i, k int) uint16 { return uint16(i%1000 + k*1000) }
	var marks [nMACs]atomic.Uint32 // bit k: the MAC has been sent to portOf(i, k)
	mark := func(i, k int) uint16 {
		marks[i].Or(1 << k)
		return portOf(i, k)
	}
	check := func(i int, port uint16) bool {
		m := marks[i].Load()
		for k := range 3 {
			if port == portOf(i, k) && m&(1<<k) != 0 {
				return true
			}
		}
		return false
	}

	tab := New(Config{Aging: 50 * time.Millisecond})
	var now atomic.Int64
	now.Store(t0)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad atomic.Int64

	lookup := func(r *rand.Rand) {
		i := r.IntN(nMACs)
		if p, ok := tab.Lookup(macOf(i)); ok && !check(i, p) {
			if bad.Add(1) == 1 {
				t.Errorf("Lookup(%#x) = port %d, never given to it (marks %03b)", macOf(i), p, marks[i].Load())
			}
		}
	}

	// Traffic comes from a window of stations that slides as the control
	// loop goes round, so old stations age out and the table shrinks.
	var base atomic.Int64
	station := func(r *rand.Rand) int { return (int(base.Load()) + r.IntN(window)) % nMACs }

	// The control loop waits for perRound learns between rounds, so the
	// interleaving does not depend on how the scheduler shares two cores.
	var learned atomic.Int64
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for !stop.Load() {
				// A station mostly stays put and sometimes moves.
				i := station(r)
				k := 0
				if r.IntN(8) == 0 {
					k = 1 + r.IntN(2)
				}
				if res := tab.Learn(macOf(i), mark(i, k), now.Load()); res == Invalid {
					t.Errorf("Learn(%#x) = %v", macOf(i), res)
				}
				lookup(r)
				learned.Add(1)
			}
		})
	}
	for rd := range readers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(rd), 2))
			for !stop.Load() {
				lookup(r)
			}
		})
	}

	r := rand.New(rand.NewPCG(9, 9))
	var aged, peak, shrinks int
	for round := range rounds {
		for learned.Load() < int64(round*perRound) {
			runtime.Gosched()
		}
		base.Add(37)
		now.Add(int64(10 * time.Millisecond))
		for range 20 {
			i := station(r)
			switch r.IntN(4) {
			case 0:
				tab.Delete(macOf(i))
			case 1:
				if err := tab.AddStatic(macOf(i), mark(i, 2)); err != nil {
					t.Error(err)
				}
			default:
				tab.Learn(macOf(i), mark(i, 1), now.Load())
			}
		}
		if round%7 == 0 {
			tab.FlushPort(portOf(r.IntN(nMACs), r.IntN(3)))
		}
		if round%50 == 0 {
			tab.SetMACLimit(r.IntN(3) * 4)
		}
		if round%25 == 0 {
			// A long pause ages out nearly everything: the table shrinks.
			now.Add(int64(time.Second))
		}
		before := len(tab.cur.Load().keys)
		peak = max(peak, before)
		aged += tab.Age(now.Load())
		if len(tab.cur.Load().keys) < before {
			shrinks++
		}
	}
	stop.Store(true)
	wg.Wait()

	t.Logf("%d learns, %d rounds, %d aged, %d shrinks, peak %d slots, final %d entries in %d slots",
		learned.Load(), rounds, aged, shrinks, peak, tab.Len(), len(tab.cur.Load().keys))
	if peak < 1024 || shrinks == 0 {
		t.Errorf("the run never grew the table (peak %d slots) or shrank it (%d times)", peak, shrinks)
	}
	// The bookkeeping survived the races.
	dynamic := 0
	for _, e := range tab.Entries(now.Load()) {
		if !e.Static {
			dynamic++
		}
	}
	counted := 0
	for p := range uint16(3000) {
		counted += tab.PortCount(p)
	}
	if counted != dynamic {
		t.Errorf("per-port counts sum to %d, table holds %d dynamic entries", counted, dynamic)
	}
	c := &checker{t: t, tab: tab}
	c.checkInvariants(-1)
}
