package nat

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const million = 1 << 20

// benchTuple i is a distinct masqueraded flow: 1024 servers, and per server
// a source port that keeps every reply tuple distinct, so filling the
// table measures insertion, not port search.
func benchTuple(i int) Tuple {
	return udp(ip(10, byte(i>>16), byte(i>>8), byte(i)), uint16(1024+i>>10), ip(100, 64, byte(i>>8&3), byte(i)), 53)
}

var big struct {
	once      sync.Once
	t         *Table
	keys      []Tuple // the original and the reply key of every conn
	bytesConn float64
	fill      time.Duration
}

// bigTable is one table of 1M conns shared by the benchmarks (filled once,
// about a second).
func bigTable(b *testing.B) (*Table, []Tuple) {
	big.once.Do(func() {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		// A day's timeout, so -count=N runs never see the shared conns
		// expire under the real clock.
		t := New(Config{Max: 2 * million, Timeouts: Timeouts{UDPUnreplied: 24 * time.Hour}})
		now := time.Now().UnixNano()
		start := time.Now()
		for i := range million {
			if _, err := t.Create(benchTuple(i), masq, 0, now); err != nil {
				panic(err)
			}
		}
		big.fill = time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		big.bytesConn = float64(m1.HeapAlloc-m0.HeapAlloc) / million
		keys := make([]Tuple, 0, 2*million)
		for i := range million {
			c, _, _ := t.LookupAt(benchTuple(i), now)
			keys = append(keys, c.Orig, c.Reply)
		}
		// Shuffle so consecutive lookups hit unrelated shards and cache lines.
		x := uint64(1)
		for i := len(keys) - 1; i > 0; i-- {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			j := int(x % uint64(i+1))
			keys[i], keys[j] = keys[j], keys[i]
		}
		big.t, big.keys = t, keys
	})
	if big.t.Len() != million {
		b.Fatalf("shared table has %d conns", big.t.Len())
	}
	return big.t, big.keys
}

func BenchmarkLookup1M(b *testing.B) {
	t, keys := bigTable(b)
	b.ReportMetric(big.bytesConn, "B/entry")
	b.ReportAllocs()
	b.ResetTimer()
	miss := 0
	for i := 0; i < b.N; i++ {
		if _, _, ok := t.Lookup(keys[i&(len(keys)-1)]); !ok {
			miss++
		}
	}
	b.StopTimer()
	if miss != 0 {
		b.Fatalf("%d misses", miss)
	}
	b.ReportMetric(big.bytesConn, "B/entry")
}

// BenchmarkLookupAt1M is the lookup without the clock read (the caller
// passes its batch's time).
func BenchmarkLookupAt1M(b *testing.B) {
	t, keys := bigTable(b)
	now := time.Now().UnixNano()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, ok := t.LookupAt(keys[i&(len(keys)-1)], now); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkLookupMiss1M(b *testing.B) {
	t, _ := bigTable(b)
	now := time.Now().UnixNano()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := benchTuple(i)
		k.Proto = 6
		if _, _, ok := t.LookupAt(k, now); ok {
			b.Fatal("hit")
		}
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	t, keys := bigTable(b)
	var seq atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1) * 7919)
		for pb.Next() {
			if _, _, ok := t.Lookup(keys[i&(len(keys)-1)]); !ok {
				b.Error("miss")
				return
			}
			i++
		}
	})
}

// BenchmarkCreate1M: one op is one Create into a table growing to 1M conns
// (a fresh table is swapped in, off the clock, each time it fills).
func BenchmarkCreate1M(b *testing.B) {
	var t *Table
	now := time.Now().UnixNano()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i & (million - 1)
		if j == 0 {
			b.StopTimer()
			t = New(Config{Max: million})
			b.StartTimer()
		}
		if _, err := t.Create(benchTuple(j), masq, 0, now); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if big.fill > 0 {
		b.ReportMetric(float64(big.fill.Nanoseconds())/million, "ns/conn-fill-1M")
	}
}

// BenchmarkCreateSearch: creates that must search for a port (every flow
// from source port 40000 to one server), the masquerade worst case short
// of exhaustion.
func BenchmarkCreateSearch(b *testing.B) {
	t := New(Config{Max: million})
	now := time.Now().UnixNano()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % 30000
		if j == 0 {
			b.StopTimer()
			t.Flush()
			now += int64(2 * SlotQuarantine)
			b.StartTimer()
		}
		if _, err := t.Create(udp(ip(10, 0, byte(j>>8), byte(j)), 40000, server, 53), masq, 0, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTrack(b *testing.B) {
	t := New(Config{})
	now := time.Now().UnixNano()
	c, _ := t.Create(tcp(client, 1, server, 80), masq, fACK, now)
	t.Track(c, Reply, fACK, now)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now += 1000 // 1 µs between packets: most refreshes skip the store
		t.Track(c, Dir(i&1), fPSHACK, now)
	}
	if c.State() != Established {
		b.Fatal(c.State())
	}
}

// BenchmarkTrackParallel: two workers on the two directions of one flow,
// the sharing the deadline slack is for.
func BenchmarkTrackParallel(b *testing.B) {
	t := New(Config{})
	base := time.Now().UnixNano()
	c, _ := t.Create(tcp(client, 1, server, 80), masq, fACK, base)
	var seq atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		d := Dir(seq.Add(1) & 1)
		now := base
		for pb.Next() {
			now += 1000
			t.Track(c, d, fPSHACK, now)
		}
	})
}

func BenchmarkSweep1M(b *testing.B) {
	t, _ := bigTable(b)
	now := time.Now().UnixNano() // nothing expired: the steady-state scan cost
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n := t.Sweep(now); n != 0 {
			b.Fatalf("swept %d live conns", n)
		}
	}
}

// hotTable is a table of 1024 masqueraded conns and their reply tuples.
func hotTable(b *testing.B) (*Table, []Tuple, int64) {
	t := New(Config{})
	now := time.Now().UnixNano()
	keys := make([]Tuple, 1024)
	for i := range keys {
		c, err := t.Create(benchTuple(i), masq, 0, now)
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = c.Reply
	}
	return t, keys, now
}

// BenchmarkLookupHot: 1024 conns, all in cache: the cost of the code path
// itself, without the cache misses of a random walk over 1M conns.
func BenchmarkLookupHot(b *testing.B) {
	t, keys, now := hotTable(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, ok := t.LookupAt(keys[i&1023], now); !ok {
			b.Fatal("miss")
		}
	}
}

// BenchmarkLookupHotParallel: both workers look up the same 1024 in-cache
// flows, the case where a read lock's shared counter would bounce between
// the cores.
func BenchmarkLookupHotParallel(b *testing.B) {
	t, keys, now := hotTable(b)
	var seq atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1) * 331)
		for pb.Next() {
			if _, _, ok := t.LookupAt(keys[i&1023], now); !ok {
				b.Error("miss")
				return
			}
			i++
		}
	})
}
