package routing

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

// exampleRoutes is a small daemon-like table: two networks, a route to a
// third network behind a router container, and the uplink's default route.
var exampleRoutes = []Route{
	{Prefix: pfx("172.17.0.0/16"), Kind: Connected, Network: 1},
	{Prefix: pfx("10.1.0.0/16"), Kind: Connected, Network: 2},
	{Prefix: pfx("10.1.2.0/24"), Kind: Static, Via: ip("10.1.0.9")},
	{Prefix: pfx("10.1.2.128/25"), Kind: Static, Via: ip("10.1.0.10"), Port: 4},
	{Prefix: pfx("192.168.7.7/32"), Kind: Static, Port: 3},
	{Prefix: pfx("0.0.0.0/0"), Kind: Default, Via: ip("192.168.1.1"), Port: 1},
}

func TestLookupExamples(t *testing.T) {
	for _, top := range []uint8{8, 14, 20} {
		tab := build(exampleRoutes, top, top)
		for _, c := range []struct{ dst, want string }{
			{"172.17.0.2", "172.17.0.0/16"},
			{"172.17.255.255", "172.17.0.0/16"},
			{"172.18.0.1", "0.0.0.0/0"},
			{"10.1.0.1", "10.1.0.0/16"},
			{"10.1.2.1", "10.1.2.0/24"},
			{"10.1.2.127", "10.1.2.0/24"},
			{"10.1.2.128", "10.1.2.128/25"},
			{"10.1.2.255", "10.1.2.128/25"},
			{"10.1.3.0", "10.1.0.0/16"},
			{"192.168.7.7", "192.168.7.7/32"},
			{"192.168.7.6", "0.0.0.0/0"},
			{"192.168.7.8", "0.0.0.0/0"},
			{"0.0.0.0", "0.0.0.0/0"},
			{"255.255.255.255", "0.0.0.0/0"},
		} {
			r, ok := tab.Lookup(ip(c.dst))
			if !ok || r.Prefix != pfx(c.want) {
				t.Errorf("top %d: Lookup(%s) = %v, %v; want %s", top, c.dst, r, ok, c.want)
			}
		}
	}
}

func TestLookupNotFound(t *testing.T) {
	tab := Build(exampleRoutes[:2])
	for _, dst := range []netip.Addr{
		ip("10.2.0.1"),
		{}, // the zero Addr
		ip("::"),
		ip("2001:db8::1"),
		ip("::ffff:172.17.0.2"), // IPv4-mapped: IPv6 on the wire, not routed
		ip("fe80::1%eth0"),
	} {
		if r, ok := tab.Lookup(dst); ok {
			t.Errorf("Lookup(%v) = %v; want not found", dst, r)
		}
	}
	var nilTab *Table
	if _, ok := nilTab.Lookup(ip("10.1.0.1")); ok || nilTab.Len() != 0 || nilTab.Routes() != nil || nilTab.Bytes() != 0 {
		t.Error("nil *Table is not an empty table")
	}
	if _, ok := Build(nil).Lookup(ip("10.1.0.1")); ok {
		t.Error("empty table found a route")
	}
}

func TestBuildRules(t *testing.T) {
	tab := Build([]Route{
		{Prefix: pfx("10.1.2.3/16"), Kind: Static, Port: 1}, // host bits: masked
		{Prefix: pfx("2001:db8::/32"), Kind: Static, Port: 2},
		{Prefix: netip.Prefix{}, Kind: Static, Port: 3}, // invalid: left out
		{Prefix: pfx("::ffff:10.0.0.0/104"), Kind: Static, Port: 4},
		{Prefix: pfx("10.1.0.0/16"), Kind: Static, Port: 5}, // same prefix: last wins
		{Prefix: pfx("10.0.0.0/8"), Kind: Static, Port: 6},
		{Prefix: pfx("2001:db8::1/32"), Kind: Static, Port: 7},
	})
	// IPv4 first, then IPv6, each by address then length.
	want := []Route{
		{Prefix: pfx("10.0.0.0/8"), Kind: Static, Port: 6},
		{Prefix: pfx("10.1.0.0/16"), Kind: Static, Port: 5},
		{Prefix: pfx("::ffff:10.0.0.0/104"), Kind: Static, Port: 4},
		{Prefix: pfx("2001:db8::/32"), Kind: Static, Port: 7},
	}
	got := tab.Routes()
	if len(got) != len(want) {
		t.Fatalf("Routes() = %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Routes()[%d] = %v; want %v", i, got[i], want[i])
		}
	}
	if r, ok := tab.Lookup(ip("10.1.9.9")); !ok || r.Port != 5 {
		t.Errorf("Lookup(10.1.9.9) = %v, %v; want the last 10.1.0.0/16", r, ok)
	}
	if r, ok := tab.Lookup(ip("2001:db8::9")); !ok || r.Port != 7 {
		t.Errorf("Lookup(2001:db8::9) = %v, %v; want the last 2001:db8::/32", r, ok)
	}
	// The mapped prefix is IPv6: it catches the mapped address, never the
	// IPv4 one, which finds its IPv4 route.
	if r, ok := tab.Lookup(ip("::ffff:10.1.9.9")); !ok || r.Port != 4 {
		t.Errorf("Lookup(::ffff:10.1.9.9) = %v, %v; want ::ffff:10.0.0.0/104", r, ok)
	}
	if r, ok := tab.Lookup(ip("10.200.0.1")); !ok || r.Port != 6 {
		t.Errorf("Lookup(10.200.0.1) = %v, %v; want 10.0.0.0/8", r, ok)
	}
}

func TestLookupNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tab := Build(append(randRoutes(rng, 2000), randRoutes6(rng, 2000)...))
	dsts := []netip.Addr{ip("10.1.2.3"), ip("2001:db8::1"), randAddr(rng), randAddr(rng),
		randAddr6(rng), randAddr6(rng), ip("::ffff:10.1.2.3"), ip("fe80::1%eth0")}
	n := testing.AllocsPerRun(100, func() {
		for _, d := range dsts {
			tab.Lookup(d)
		}
	})
	if n != 0 {
		t.Errorf("Lookup allocates %v times per run", n)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Connected: "connected", Static: "static", Default: "default", 0: "Kind(0)", 9: "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q; want %q", uint8(k), got, want)
		}
	}
}

func TestRouteString(t *testing.T) {
	for i, want := range []string{
		"172.17.0.0/16 connected network 1",
		"10.1.0.0/16 connected network 2",
		"10.1.2.0/24 static via 10.1.0.9",
		"10.1.2.128/25 static via 10.1.0.10 port 4",
		"192.168.7.7/32 static port 3",
		"0.0.0.0/0 default via 192.168.1.1 port 1",
	} {
		if got := exampleRoutes[i].String(); got != want {
			t.Errorf("String() = %q; want %q", got, want)
		}
	}
}

// TestMatchesReference is the property test: on random route sets, with
// every size of direct level, the table and the reference agree on random
// addresses and on the edges of every prefix.
func TestMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	rounds := 150
	if testing.Short() {
		rounds = 20
	}
	for round := range rounds {
		n := rng.IntN(40)
		if round%10 == 0 {
			n = rng.IntN(600)
		}
		routes := randRoutes(rng, n)
		ref := buildRef(routes)
		dsts := edgeAddrs(routes)
		for range 200 {
			dsts = append(dsts, randAddr(rng))
		}
		for _, top := range []uint8{8, 14, 20} {
			tab := build(routes, top, top)
			if tab.Len() != len(ref) {
				t.Fatalf("round %d top %d: %d routes; reference has %d", round, top, tab.Len(), len(ref))
			}
			for _, d := range dsts {
				if !sameLookup(tab, ref, d) {
					t.Fatalf("round %d top %d: Lookup(%v): table %v, reference %v; routes %v",
						round, top, d, show(tab.Lookup(d)), show(ref.Lookup(d)), routes)
				}
			}
		}
	}
}

// TestMatchesReferenceLarge checks one table big enough for the 14-bit direct
// level Build chooses by itself, with dense nesting under it.
func TestMatchesReferenceLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("slow reference over 12000 routes")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	routes := randRoutes(rng, 12000)
	tab, ref := Build(routes), buildRef(routes)
	if tab.v4.topBits != 14 {
		t.Fatalf("topBits = %d for %d distinct IPv4 routes; want 14", tab.v4.topBits, tab.Len())
	}
	dsts := edgeAddrs(routes[:3000]) // the edges of all 12000: some 15 s of reference scans
	for range 5000 {
		dsts = append(dsts, randAddr(rng))
	}
	for _, d := range dsts {
		if !sameLookup(tab, ref, d) {
			t.Fatalf("Lookup(%v): table %v, reference %v", d, show(tab.Lookup(d)), show(ref.Lookup(d)))
		}
	}
}

func sameLookup(tab *Table, ref refTable, d netip.Addr) bool {
	r1, ok1 := tab.Lookup(d)
	r2, ok2 := ref.Lookup(d)
	return ok1 == ok2 && (!ok1 || *r1 == *r2)
}

func show(r *Route, ok bool) string {
	if !ok {
		return "not found"
	}
	return r.String()
}

// randRoutes draws n routes built to collide: fresh prefixes of any length
// (/0 and /32 included) in a few crowded regions, prefixes nested in earlier
// ones, repeats of earlier prefixes, host bits left set and a few IPv6
// prefixes. Each route has its own Port so a wrong pick is visible.
func randRoutes(rng *rand.Rand, n int) []Route {
	rs := make([]Route, 0, n)
	for i := range n {
		var p netip.Prefix
		switch x := rng.IntN(20); {
		case x < 7 || len(rs) == 0:
			p = netip.PrefixFrom(randAddr(rng), rng.IntN(33)).Masked()
		case x < 14:
			parent := rs[rng.IntN(len(rs))].Prefix
			if !parent.Addr().Is4() {
				parent = pfx("0.0.0.0/0")
			}
			p = netip.PrefixFrom(addrIn(rng, parent), parent.Bits()+rng.IntN(33-parent.Bits())).Masked()
		case x < 16:
			p = rs[rng.IntN(len(rs))].Prefix
		case x < 18:
			p = netip.PrefixFrom(randAddr(rng), rng.IntN(33)) // unmasked
		case x < 19:
			p = []netip.Prefix{pfx("0.0.0.0/0"), pfx("0.0.0.0/32"), pfx("255.255.255.255/32"), pfx("128.0.0.0/1")}[rng.IntN(4)]
		default:
			p = pfx("2001:db8::/32")
		}
		rs = append(rs, Route{Prefix: p, Kind: Static, Via: randAddr(rng), Port: uint16(i + 1)})
	}
	return rs
}

// randAddr is uniform over IPv4 half the time and otherwise lands in
// 10.0.0.0/8 or 10.1.0.0/16, so that random prefixes overlap.
func randAddr(rng *rand.Rand) netip.Addr {
	a := rng.Uint32()
	switch rng.IntN(4) {
	case 0:
		a = 10<<24 | a&0xffffff
	case 1:
		a = 10<<24 | 1<<16 | a&0xffff
	}
	return addrFrom(a)
}

// addrIn is a random address inside p, of either family.
func addrIn(rng *rand.Rand, p netip.Prefix) netip.Addr {
	if !p.Addr().Is4() {
		return addrIn6(rng, p)
	}
	base := addrBits(p.Masked().Addr())
	host := uint32(uint64(1)<<(32-p.Bits()) - 1)
	return addrFrom(base | rng.Uint32()&host)
}

// edgeAddrs returns, for each prefix, its first and last address and their
// neighbours outside it; for an IPv4 prefix also the IPv4-mapped forms of
// its first and last address, which must not match it; plus the edges of
// both address spaces and a few odd addresses.
func edgeAddrs(routes []Route) []netip.Addr {
	out := []netip.Addr{ip("0.0.0.0"), ip("255.255.255.255"), ip("::"), ip("::ffff:10.1.0.1"), {},
		ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), ip("::ffff:0.0.0.0"), ip("fe80::1%eth0")}
	for _, r := range routes {
		p := r.Prefix
		switch {
		case !p.IsValid():
		case p.Addr().Is4():
			first := addrBits(p.Masked().Addr())
			last := first | uint32(uint64(1)<<(32-p.Bits())-1)
			out = append(out, addrFrom(first), addrFrom(last), addrFrom(first-1), addrFrom(last+1),
				netip.AddrFrom16(addrFrom(first).As16()), netip.AddrFrom16(addrFrom(last).As16()))
		default:
			// Prev and Next give the zero Addr past the ends of the space.
			first, last := p.Masked().Addr(), LastAddr(p)
			out = append(out, first, last, first.Prev(), last.Next())
		}
	}
	return out
}

func addrBits(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addrFrom(a uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

// TestRouteSize holds Route to one cache line, the figure Bytes and doc.go use.
func TestRouteSize(t *testing.T) {
	if n := unsafe.Sizeof(Route{}); n != 64 {
		t.Errorf("Route is %d bytes; want 64", n)
	}
}
