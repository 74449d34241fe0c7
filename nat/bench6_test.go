package nat

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// benchTuple6 i is a distinct masqueraded IPv6 flow, as benchTuple: 1024
// servers, a source port per server that keeps the reply tuples distinct.
func benchTuple6(i int) Tuple6 {
	return udp6([16]byte{0xfd, 0, 0, 0x17, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)}, uint16(1024+i>>10),
		[16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8 & 3), 15: byte(i)}, 53)
}

var big6 struct {
	once      sync.Once
	t         *Table6
	keys      []Tuple6
	bytesConn float64
}

// bigTable6 is one IPv6 table of 1M conns (a million client addresses,
// 1024 servers) shared by the benchmarks.
func bigTable6(b *testing.B) (*Table6, []Tuple6) {
	big6.once.Do(func() {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		t := New6(Config{Max: 2 * million, Timeouts: Timeouts{UDPUnreplied: 24 * time.Hour}})
		now := time.Now().UnixNano()
		for i := range million {
			if _, err := t.Create(benchTuple6(i), masq6, 0, now); err != nil {
				panic(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		big6.bytesConn = float64(m1.HeapAlloc-m0.HeapAlloc) / million
		keys := make([]Tuple6, 0, 2*million)
		for i := range million {
			c, _, _ := t.LookupAt(benchTuple6(i), now)
			keys = append(keys, c.Orig(), c.Reply())
		}
		x := uint64(1)
		for i := len(keys) - 1; i > 0; i-- {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			j := int(x % uint64(i+1))
			keys[i], keys[j] = keys[j], keys[i]
		}
		big6.t, big6.keys = t, keys
	})
	return big6.t, big6.keys
}

// BenchmarkLookup6At1M: an IPv6 lookup in a table of 1M conns, the two
// address ids and the conn (B/entry: heap per conn, ids included).
func BenchmarkLookup6At1M(b *testing.B) {
	t, keys := bigTable6(b)
	now := time.Now().UnixNano()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, ok := t.LookupAt(keys[i&(len(keys)-1)], now); !ok {
			b.Fatal("miss")
		}
	}
	b.StopTimer()
	b.ReportMetric(big6.bytesConn, "B/entry")
}

// BenchmarkLookup6Hot: 1024 in-cache IPv6 conns, lookup and the target
// tuple (what the dataplane does per packet).
func BenchmarkLookup6Hot(b *testing.B) {
	t := New6(Config{})
	now := time.Now().UnixNano()
	keys := make([]Tuple6, 1024)
	for i := range keys {
		c, err := t.Create(benchTuple6(i), masq6, 0, now)
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = c.Reply()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, d, ok := t.LookupAt(keys[i&1023], now)
		if !ok {
			b.Fatal("miss")
		}
		_ = c.Target(d)
	}
}

// BenchmarkCreate6: one op is one Create into an IPv6 table growing to 256k
// conns (each with a new client address: the id interning's worst case).
func BenchmarkCreate6(b *testing.B) {
	const n = 1 << 18
	var t *Table6
	now := time.Now().UnixNano()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i & (n - 1)
		if j == 0 {
			b.StopTimer()
			t = New6(Config{Max: n})
			b.StartTimer()
		}
		if _, err := t.Create(benchTuple6(j), masq6, 0, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTrack6(b *testing.B) {
	t := New6(Config{})
	now := time.Now().UnixNano()
	c, _ := t.Create(tcp6(client6, 1, server6, 80), masq6, fACK, now)
	t.Track(c, Reply, fACK, now)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now += 1000
		t.Track(c, Dir(i&1), fPSHACK, now)
	}
}
