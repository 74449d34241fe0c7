package arp

import (
	"net/netip"
	"testing"

	"vswitch/header"
)

// benchTable holds n reachable neighbours, 10.0.x.y.
func benchTable(b *testing.B, n int) (*Table, []netip.Addr) {
	tb := New(Config{MaxEntries: n})
	ips := make([]netip.Addr, n)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		tb.Learn(ips[i], header.MAC{0x02, 0, 0, 0, byte(i >> 8), byte(i)}, 1, t0, true, true)
	}
	return tb, ips
}

func BenchmarkLookup(b *testing.B) {
	tb, ips := benchTable(b, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, _, ok := tb.Lookup(ips[i&1023]); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	tb, ips := benchTable(b, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			tb.Lookup(ips[i&1023])
		}
	})
}

func BenchmarkBuildRequest(b *testing.B) {
	buf := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		BuildRequest(buf, gwMAC, gwIP, c1IP)
	}
}

func BenchmarkParseARP(b *testing.B) {
	f := BuildReply(nil, gwMAC, gwIP, c1MAC, c1IP)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, _, _, ok := ParseARP(f); !ok {
			b.Fatal("not parsed")
		}
	}
}

// BenchmarkResolveQueued is the slow path at its busiest: a next hop that
// does not answer while frames keep coming (copy into a full queue).
func BenchmarkResolveQueued(b *testing.B) {
	tb := New(Config{})
	frame := make([]byte, 1500)
	b.ReportAllocs()
	for b.Loop() {
		tb.Resolve(ipA, 1, frame, t0)
	}
}
