package routing

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// FuzzLookup compares Table and the reference on route sets and addresses
// read from the fuzzer's bytes:
//
//	byte 0        direct level: 20 bits if the value is 0 mod 8 (its 4 MiB
//	              array slows the fuzzer), else 8 bits if even, 14 if odd
//	byte 1        number of routes n (mod 65)
//	n × 5 bytes   route: IPv4 address, prefix length (33 and up mean the
//	              IPv4-mapped IPv6 prefix of length mod 129, which IPv4
//	              addresses must not match)
//	rest          lookup addresses, 4 bytes each
//
// Besides those addresses, the edges of every prefix are looked up.
func FuzzLookup(f *testing.F) {
	f.Add([]byte{2, 3,
		10, 1, 0, 0, 16,
		10, 1, 2, 0, 24,
		0, 0, 0, 0, 0,
		10, 1, 2, 3, 10, 1, 3, 3, 11, 0, 0, 1})
	f.Add([]byte{3, 4,
		255, 255, 255, 255, 32,
		0, 0, 0, 0, 32,
		128, 0, 0, 0, 1,
		10, 0, 0, 7, 40,
		255, 255, 255, 254})
	f.Add([]byte{8, 5,
		10, 0, 0, 0, 8,
		10, 0, 0, 0, 8,
		10, 1, 0, 0, 21,
		10, 1, 7, 255, 26,
		10, 1, 7, 255, 27,
		10, 1, 7, 200})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		top := []uint8{8, 14}[data[0]%2]
		if data[0]%8 == 0 {
			top = 20
		}
		n := int(data[1] % 65)
		data = data[2:]
		var routes []Route
		for i := 0; i < n && len(data) >= 5; i++ {
			a := netip.AddrFrom4([4]byte(data[:4]))
			var p netip.Prefix
			if l := int(data[4]); l <= 32 {
				p = netip.PrefixFrom(a, l)
			} else {
				p = netip.PrefixFrom(netip.AddrFrom16(a.As16()), l%129)
			}
			routes = append(routes, Route{Prefix: p, Kind: Static, Port: uint16(i + 1)})
			data = data[5:]
		}
		dsts := edgeAddrs(routes)
		for ; len(data) >= 4; data = data[4:] {
			dsts = append(dsts, addrFrom(binary.BigEndian.Uint32(data)))
		}
		tab, ref := build(routes, top, top), buildRef(routes)
		for _, d := range dsts {
			if !sameLookup(tab, ref, d) {
				t.Fatalf("top %d: Lookup(%v): table %v, reference %v; routes %v",
					top, d, show(tab.Lookup(d)), show(ref.Lookup(d)), routes)
			}
		}
	})
}

// FuzzLookup6 is FuzzLookup for IPv6 and mixed tables:
//
//	byte 0        IPv6 direct level, as FuzzLookup's (the IPv4 one is 8 bits)
//	byte 1        number of routes n (mod 65)
//	n × 17 bytes  route: IPv6 address, prefix length (up to 128; above, an
//	              IPv4 route: the address's first 4 bytes, length mod 33)
//	rest          lookup addresses, 16 bytes each, looked up as they are and
//	              as the IPv4 address of their last 4 bytes
//
// Besides those addresses, the edges of every prefix are looked up.
func FuzzLookup6(f *testing.F) {
	a := func(s string) []byte { b := netip.MustParseAddr(s).As16(); return b[:] }
	route := func(s string, l byte) []byte { return append(a(s), l) }
	seed := func(top, n byte, parts ...[]byte) []byte {
		out := []byte{top, n}
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	f.Add(seed(2, 4,
		route("2001:db8::", 32), route("2001:db8:0:2::", 63), route("2001:db8:0:3:8000::", 65), route("::", 0),
		a("2001:db8:0:3::1"), a("2001:db8:0:3:8000::1"), a("2001:db9::1")))
	f.Add(seed(3, 3,
		route("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128), route("::", 128),
		append([]byte{10, 0, 0, 0, 11: 0, 15: 0}, 206), // 10.0.0.0/8: 206 mod 33
		a("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), a("::ffff:10.1.2.3")))
	f.Add(seed(8, 3,
		route("2001:db8::", 64), route("2001:db8::", 64), route("2001:db8::1", 128),
		a("2001:db8::1"), a("2001:db8::2")))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		top := []uint8{8, 14}[data[0]%2]
		if data[0]%8 == 0 {
			top = 20
		}
		n := int(data[1] % 65)
		data = data[2:]
		var routes []Route
		for i := 0; i < n && len(data) >= 17; i++ {
			var p netip.Prefix
			if l := int(data[16]); l <= 128 {
				p = netip.PrefixFrom(netip.AddrFrom16([16]byte(data[:16])), l)
			} else {
				p = netip.PrefixFrom(netip.AddrFrom4([4]byte(data[:4])), l%33)
			}
			routes = append(routes, Route{Prefix: p, Kind: Static, Port: uint16(i + 1)})
			data = data[17:]
		}
		dsts := edgeAddrs(routes)
		for ; len(data) >= 16; data = data[16:] {
			dsts = append(dsts, netip.AddrFrom16([16]byte(data[:16])), netip.AddrFrom4([4]byte(data[12:16])))
		}
		tab, ref := build(routes, 8, top), buildRef(routes)
		for _, d := range dsts {
			if !sameLookup(tab, ref, d) {
				t.Fatalf("top %d: Lookup(%v): table %v, reference %v; routes %v",
					top, d, show(tab.Lookup(d)), show(ref.Lookup(d)), routes)
			}
		}
	})
}
