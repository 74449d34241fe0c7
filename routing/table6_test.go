package routing

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// exampleRoutes6 is a dual-stack table whose IPv6 part has the cases a
// 128-bit trie can get wrong: ::/0 and ::/128, the last address, and a /63
// with a /65 nested in it and a /64 beside them, all in the node that spans
// bit 64 (bits 62..67 for every direct level size).
var exampleRoutes6 = []Route{
	{Prefix: pfx("10.0.0.0/8"), Kind: Static, Port: 1},
	{Prefix: pfx("::/0"), Kind: Default, Via: ip("fe80::1"), Port: 2},
	{Prefix: pfx("::/128"), Kind: Static, Port: 3},
	{Prefix: pfx("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"), Kind: Static, Port: 4},
	{Prefix: pfx("2001:db8::/32"), Kind: Static, Via: ip("fd00::9")},
	{Prefix: pfx("2001:db8::1/128"), Kind: Static, Port: 5},
	{Prefix: pfx("2001:db8:0:2::/63"), Kind: Static, Port: 6},
	{Prefix: pfx("2001:db8:0:3:8000::/65"), Kind: Static, Port: 7},
	{Prefix: pfx("2001:db8:0:4::/64"), Kind: Static, Port: 8},
	{Prefix: pfx("fd00::/8"), Kind: Connected, Network: 1},
}

func TestLookupExamples6(t *testing.T) {
	for _, top := range []uint8{8, 14, 20} {
		tab := build(exampleRoutes6, 8, top)
		for _, c := range []struct{ dst, want string }{
			{"::", "::/128"},
			{"::1", "::/0"},
			{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
			{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "::/0"},
			{"2001:db8::", "2001:db8::/32"},
			{"2001:db8::1", "2001:db8::1/128"},
			{"2001:db8::2", "2001:db8::/32"},
			{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::/32"},
			{"2001:db9::", "::/0"},
			{"2001:db8:0:1:ffff:ffff:ffff:ffff", "2001:db8::/32"},
			{"2001:db8:0:2::", "2001:db8:0:2::/63"},
			{"2001:db8:0:3::1", "2001:db8:0:2::/63"},
			{"2001:db8:0:3:7fff:ffff:ffff:ffff", "2001:db8:0:2::/63"},
			{"2001:db8:0:3:8000::", "2001:db8:0:3:8000::/65"},
			{"2001:db8:0:3:ffff:ffff:ffff:ffff", "2001:db8:0:3:8000::/65"},
			{"2001:db8:0:4::", "2001:db8:0:4::/64"},
			{"2001:db8:0:4:ffff:ffff:ffff:ffff", "2001:db8:0:4::/64"},
			{"2001:db8:0:5::", "2001:db8::/32"},
			{"fd00::5", "fd00::/8"},
			{"fe80::1", "::/0"},
			// IPv4-mapped is IPv6: the IPv6 default, never 10.0.0.0/8.
			{"::ffff:10.1.2.3", "::/0"},
			{"10.1.2.3", "10.0.0.0/8"},
		} {
			r, ok := tab.Lookup(ip(c.dst))
			if !ok || r.Prefix != pfx(c.want) {
				t.Errorf("top %d: Lookup(%s) = %v, %v; want %s", top, c.dst, r, ok, c.want)
			}
		}
		for _, dst := range []string{"11.0.0.1", "fe80::1%eth0", "2001:db8::1%eth0"} {
			if r, ok := tab.Lookup(ip(dst)); ok {
				t.Errorf("top %d: Lookup(%s) = %v; want not found", top, dst, r)
			}
		}
	}
	// Without an IPv6 default, a mapped address finds nothing even though
	// an IPv4 route covers the address it maps.
	tab := Build(exampleRoutes6[4:])
	if r, ok := tab.Lookup(ip("::ffff:10.1.2.3")); ok {
		t.Errorf("Lookup(::ffff:10.1.2.3) = %v; want not found", r)
	}
	// IPv4 alone: IPv6 addresses find nothing, and the table has no IPv6 trie.
	tab = Build(exampleRoutes6[:1])
	if r, ok := tab.Lookup(ip("2001:db8::1")); ok || tab.v6.direct != nil {
		t.Errorf("IPv4-only table: Lookup(2001:db8::1) = %v, %v; IPv6 direct level %d entries", r, ok, len(tab.v6.direct))
	}
}

// TestMatchesReference6 is the property test for IPv6 and mixed tables:
// random IPv6 prefixes of every length 0..128, crowded around bit 64, with
// IPv4 routes among them, every direct level size for each family.
func TestMatchesReference6(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	rounds := 150
	if testing.Short() {
		rounds = 20
	}
	lengths := make(map[int]bool)
	for round := range rounds {
		n := rng.IntN(40)
		if round%10 == 0 {
			n = rng.IntN(600)
		}
		routes := randRoutes6(rng, n)
		if round%2 == 0 {
			routes = append(routes, randRoutes(rng, n/2)...)
			rng.Shuffle(len(routes), func(i, j int) { routes[i], routes[j] = routes[j], routes[i] })
		}
		for _, r := range routes {
			if r.Prefix.Addr().Is6() {
				lengths[r.Prefix.Bits()] = true
			}
		}
		ref := buildRef(routes)
		dsts := edgeAddrs(routes)
		for range 200 {
			dsts = append(dsts, randAddr6(rng))
		}
		for range 50 {
			dsts = append(dsts, randAddr(rng))
		}
		for _, top4 := range []uint8{8, 20} {
			for _, top6 := range []uint8{8, 14, 20} {
				tab := build(routes, top4, top6)
				if tab.Len() != len(ref) {
					t.Fatalf("round %d top %d/%d: %d routes; reference has %d", round, top4, top6, tab.Len(), len(ref))
				}
				// countNodes is exact: the node arrays were allocated once.
				if len(tab.v4.nodes) != cap(tab.v4.nodes) || len(tab.v6.nodes) != cap(tab.v6.nodes) {
					t.Fatalf("round %d top %d/%d: nodes %d of %d (IPv4), %d of %d (IPv6) allocated",
						round, top4, top6, len(tab.v4.nodes), cap(tab.v4.nodes), len(tab.v6.nodes), cap(tab.v6.nodes))
				}
				for _, d := range dsts {
					if !sameLookup(tab, ref, d) {
						t.Fatalf("round %d top %d/%d: Lookup(%v): table %v, reference %v; routes %v",
							round, top4, top6, d, show(tab.Lookup(d)), show(ref.Lookup(d)), routes)
					}
				}
			}
		}
	}
	if !testing.Short() && len(lengths) != 129 {
		t.Errorf("the random routes had %d of the 129 IPv6 prefix lengths", len(lengths))
	}
}

// TestMatchesReferenceLarge6 checks an IPv6 table big enough for the 14-bit
// direct level Build chooses by itself.
func TestMatchesReferenceLarge6(t *testing.T) {
	if testing.Short() {
		t.Skip("slow reference over 12000 routes")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	routes := randRoutes6(rng, 12000)
	tab, ref := Build(routes), buildRef(routes)
	if tab.v6.topBits != 14 {
		t.Fatalf("IPv6 topBits = %d for %d distinct routes; want 14", tab.v6.topBits, tab.Len())
	}
	dsts := edgeAddrs(routes[:3000]) // the edges of all 12000: some 15 s of reference scans
	for range 5000 {
		dsts = append(dsts, randAddr6(rng))
	}
	for _, d := range dsts {
		if !sameLookup(tab, ref, d) {
			t.Fatalf("Lookup(%v): table %v, reference %v", d, show(tab.Lookup(d)), show(ref.Lookup(d)))
		}
	}
}

// randRoutes6 is randRoutes for IPv6: fresh prefixes of any length 0..128,
// nested ones, repeats, host bits left set, IPv4-mapped prefixes and the
// edge cases, each route with its own Port.
func randRoutes6(rng *rand.Rand, n int) []Route {
	rs := make([]Route, 0, n)
	for i := range n {
		var p netip.Prefix
		switch x := rng.IntN(20); {
		case x < 7 || len(rs) == 0:
			p = netip.PrefixFrom(randAddr6(rng), rng.IntN(129)).Masked()
		case x < 14:
			parent := rs[rng.IntN(len(rs))].Prefix
			p = netip.PrefixFrom(addrIn(rng, parent), parent.Bits()+rng.IntN(129-parent.Bits())).Masked()
		case x < 16:
			p = rs[rng.IntN(len(rs))].Prefix
		case x < 18:
			p = netip.PrefixFrom(randAddr6(rng), rng.IntN(129)) // unmasked
		default:
			p = []netip.Prefix{pfx("::/0"), pfx("::/128"), pfx("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"),
				pfx("8000::/1"), pfx("2001:db8::/63"), pfx("2001:db8::/64"), pfx("2001:db8:0:1:8000::/65"),
				pfx("::ffff:0:0/96"), pfx("::ffff:10.0.0.0/104")}[rng.IntN(9)]
		}
		rs = append(rs, Route{Prefix: p, Kind: Static, Via: randAddr6(rng), Port: uint16(i + 1)})
	}
	return rs
}

// randAddr6 is uniform over IPv6 a quarter of the time; otherwise it lands
// in 2001:db8::/32, in 2001:db8::/60 (so that prefixes meet around bit 64)
// or among the IPv4-mapped addresses.
func randAddr6(rng *rand.Rand) netip.Addr {
	hi, lo := rng.Uint64(), rng.Uint64()
	switch rng.IntN(4) {
	case 0:
		hi = 0x20010db8<<32 | hi&(1<<32-1)
	case 1:
		hi = 0x20010db8<<32 | hi&0xf
	case 2:
		hi, lo = 0, 0xffff<<32|lo&(1<<32-1)
	}
	return addrFrom6(hi, lo)
}

func addrFrom6(hi, lo uint64) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}

func addrBits6(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// addrIn6 is a random address inside the IPv6 prefix p.
func addrIn6(rng *rand.Rand, p netip.Prefix) netip.Addr {
	hi, lo := addrBits6(p.Masked().Addr())
	host := uint(128 - p.Bits())
	if host >= 64 {
		hi |= rng.Uint64() & (1<<(host-64) - 1)
		lo = rng.Uint64()
	} else {
		lo |= rng.Uint64() & (1<<host - 1)
	}
	return addrFrom6(hi, lo)
}

func TestLastAddr6(t *testing.T) {
	for p, want := range map[string]string{
		"::/0":                   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		"2001:db8::/32":          "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
		"2001:db8::/63":          "2001:db8:0:1:ffff:ffff:ffff:ffff",
		"2001:db8::/64":          "2001:db8::ffff:ffff:ffff:ffff",
		"2001:db8::/65":          "2001:db8::7fff:ffff:ffff:ffff",
		"2001:db8::5/128":        "2001:db8::5",
		"2001:db8:1:2:3::77/112": "2001:db8:1:2:3::ffff", // host bits ignored
	} {
		if got := LastAddr(pfx(p)); got != ip(want) {
			t.Errorf("LastAddr(%s) = %s, want %s", p, got, want)
		}
	}
}
