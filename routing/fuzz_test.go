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
//	n × 5 bytes   route: IPv4 address, prefix length (mod 33, 33 and up
//	              mean an IPv6 route, which must be ignored)
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
