package routing

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// benchLengths approximates the prefix lengths of the IPv4 Internet table
// (about 60% /24, most of the rest /16 to /23), in parts per thousand, plus a
// little of everything longer for a data centre's own routes.
var benchLengths = []struct{ bits, weight int }{
	{8, 1}, {10, 1}, {12, 1}, {14, 2}, {16, 15}, {17, 10}, {18, 15}, {19, 30},
	{20, 40}, {21, 50}, {22, 120}, {23, 100}, {24, 600}, {26, 5}, {28, 5}, {30, 3}, {32, 2},
}

// benchRoutes returns n distinct random routes; lengths follows benchLengths
// when bits is 0 and is fixed to bits otherwise.
func benchRoutes(n, bits int) []Route {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(bits)))
	seen := make(map[uint64]struct{}, n)
	rs := make([]Route, 0, n)
	for len(rs) < n {
		l := bits
		if l == 0 {
			w := rng.IntN(1000)
			for _, x := range benchLengths {
				if w -= x.weight; w < 0 {
					l = x.bits
					break
				}
			}
		}
		p := netip.PrefixFrom(addrFrom(rng.Uint32()), l).Masked()
		k := uint64(addrBits(p.Addr()))<<8 | uint64(l)
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		rs = append(rs, Route{Prefix: p, Kind: Static, Via: addrFrom(rng.Uint32()), Port: uint16(len(rs))})
	}
	return rs
}

var routes1M = sync.OnceValue(func() []Route { return benchRoutes(1<<20, 0) })

// benchLengths6 approximates the prefix lengths of the IPv6 Internet table
// (about half /48, most of the rest /29 to /47), plus /56, /64 and /128 for
// a data centre's own routes.
var benchLengths6 = []struct{ bits, weight int }{
	{29, 30}, {32, 120}, {33, 20}, {36, 30}, {40, 50}, {44, 60}, {46, 30}, {47, 30},
	{48, 500}, {56, 40}, {64, 60}, {128, 30},
}

// benchRoutes6 is benchRoutes for IPv6: n distinct random routes in
// 2000::/3, the global unicast space.
func benchRoutes6(n, bits int) []Route {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(bits)+6))
	seen := make(map[netip.Prefix]struct{}, n)
	rs := make([]Route, 0, n)
	for len(rs) < n {
		l := bits
		if l == 0 {
			w := rng.IntN(1000)
			for _, x := range benchLengths6 {
				if w -= x.weight; w < 0 {
					l = x.bits
					break
				}
			}
		}
		p := netip.PrefixFrom(randGlobal6(rng), l).Masked()
		if _, dup := seen[p]; dup {
			continue
		}
		seen[p] = struct{}{}
		rs = append(rs, Route{Prefix: p, Kind: Static, Via: randGlobal6(rng), Port: uint16(len(rs))})
	}
	return rs
}

// randGlobal6 is uniform over 2000::/3.
func randGlobal6(rng *rand.Rand) netip.Addr {
	return addrFrom6(1<<61|rng.Uint64()>>3, rng.Uint64())
}

func randAddr4(rng *rand.Rand) netip.Addr { return addrFrom(rng.Uint32()) }

var routes6_1M = sync.OnceValue(func() []Route { return benchRoutes6(1<<20, 0) })

func BenchmarkLookup10(b *testing.B)  { benchLookup(b, benchRoutes(10, 0), randAddr4) }
func BenchmarkLookup10k(b *testing.B) { benchLookup(b, benchRoutes(10_000, 0), randAddr4) }
func BenchmarkLookup1M(b *testing.B)  { benchLookup(b, routes1M(), randAddr4) }

func BenchmarkLookup6_10(b *testing.B)  { benchLookup(b, benchRoutes6(10, 0), randGlobal6) }
func BenchmarkLookup6_10k(b *testing.B) { benchLookup(b, benchRoutes6(10_000, 0), randGlobal6) }
func BenchmarkLookup6_1M(b *testing.B)  { benchLookup(b, routes6_1M(), randGlobal6) }

// benchLookup looks up uniformly random addresses ("random": in the small
// tables most miss, often at the direct level; at 1M the few short prefixes
// catch many) and random addresses inside random routes ("covered": every
// lookup walks down to its route's leaf).
func benchLookup(b *testing.B, routes []Route, randAddr func(*rand.Rand) netip.Addr) {
	tab := Build(routes)
	rng := rand.New(rand.NewPCG(9, 9))
	const k = 1 << 16
	random, covered := make([]netip.Addr, k), make([]netip.Addr, k)
	for i := range k {
		random[i] = randAddr(rng)
		covered[i] = addrIn(rng, routes[rng.IntN(len(routes))].Prefix)
	}
	for _, c := range []struct {
		name  string
		addrs []netip.Addr
	}{{"random", random}, {"covered", covered}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			hits, i := 0, 0
			for b.Loop() {
				if _, ok := tab.Lookup(c.addrs[i&(k-1)]); ok {
					hits++
				}
				i++
			}
			b.ReportMetric(float64(hits)/float64(i), "hit/op")
			reportMem(b, tab)
		})
	}
}

func reportMem(b *testing.B, tab *Table) {
	b.ReportMetric(float64(tab.Bytes())/float64(tab.Len()), "B/route")
	b.ReportMetric(float64(tab.trieBytes())/float64(tab.Len()), "trie-B/route")
}

// BenchmarkBuild1M builds an Internet-sized table from scratch, what a
// change to a 1M-route Set costs.
func BenchmarkBuild1M(b *testing.B) { benchBuild(b, routes1M()) }

// BenchmarkBuild1MHosts is the memory worst case: 1M random /32s, each
// needing nodes of its own below the direct level.
func BenchmarkBuild1MHosts(b *testing.B) { benchBuild(b, benchRoutes(1<<20, 32)) }

// BenchmarkBuild6_1M builds a 1M-route IPv6 table with the Internet's mix of
// lengths (today's IPv6 table is about 200k routes).
func BenchmarkBuild6_1M(b *testing.B) { benchBuild(b, routes6_1M()) }

// BenchmarkBuild6_1MHosts is IPv6's memory worst case: 1M random /128s,
// each a chain of nodes down to bit 128 once it parts from its neighbours.
func BenchmarkBuild6_1MHosts(b *testing.B) { benchBuild(b, benchRoutes6(1<<20, 128)) }

// BenchmarkBuild1MDual is a dual-stack Internet table: 1M IPv4 and 1M IPv6
// routes in one Table.
func BenchmarkBuild1MDual(b *testing.B) {
	benchBuild(b, append(append([]Route(nil), routes1M()...), routes6_1M()...))
}

// benchBuild builds at most maxBuilds tables whatever b.N is, and reports the
// time and allocations per build itself (ReportMetric replaces the
// framework's figures): the quick bench run uses -benchtime=2000x, which
// would otherwise build 2000 1M-route tables, a quarter of an hour.
func benchBuild(b *testing.B, routes []Route) {
	const maxBuilds = 3
	b.ReportAllocs()
	n := min(b.N, maxBuilds)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	start := time.Now()
	var tab *Table
	for range n {
		tab = Build(routes)
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&m1)
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/op")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(n), "B/op")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(n), "allocs/op")
	b.ReportMetric(float64(n), "builds")
	reportMem(b, tab)
}

func BenchmarkSetChange10(b *testing.B)  { benchSetChange(b, 10) }
func BenchmarkSetChange10k(b *testing.B) { benchSetChange(b, 10_000) }

// benchSetChange measures one control-plane change: add or delete a route,
// then build the snapshot the dataplane will swap in.
func benchSetChange(b *testing.B, n int) {
	var s Set
	for _, r := range benchRoutes(n, 0) {
		if err := s.Add(r); err != nil {
			b.Fatal(err)
		}
	}
	extra := Route{Prefix: pfx("198.51.100.0/24"), Kind: Static, Port: 1}
	s.Del(extra.Prefix) // in case benchRoutes drew it
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		var err error
		if i&1 == 0 {
			err = s.Add(extra)
		} else {
			err = s.Del(extra.Prefix)
		}
		if err != nil {
			b.Fatal(err)
		}
		s.Table()
		i++
	}
}
