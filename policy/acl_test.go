package policy

import (
	"net/netip"
	"testing"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func TestDecideFirstMatchByPriority(t *testing.T) {
	a := New(Allow, []Rule{
		{ID: 1, Action: Allow, Dst: pfx("10.0.0.5/32"), Proto: 6, DPortMin: 80, DPortMax: 80, Priority: 10},
		{ID: 2, Action: Deny, Src: pfx("10.1.0.0/16"), Priority: 5},
		{ID: 3, Action: Deny, Proto: 17, Priority: 20},
		{ID: 4, Action: Allow, Proto: 17, DPortMin: 53, DPortMax: 53, Priority: 20}, // same priority: ID 3 first
	})
	cases := []struct {
		src, dst string
		proto    uint8
		dport    uint16
		want     Action
		rule     int // 0: the default
	}{
		{"10.1.2.3", "10.0.0.5", 6, 80, Deny, 2},  // priority 5 beats 10
		{"10.2.0.1", "10.0.0.5", 6, 80, Allow, 1}, // rule 1
		{"10.2.0.1", "10.0.0.5", 6, 81, Allow, 0}, // port outside the range: default
		{"10.2.0.1", "10.0.0.6", 17, 53, Deny, 3}, // ID 3 before ID 4
		{"10.2.0.1", "10.0.0.6", 1, 0, Allow, 0},
	}
	for _, c := range cases {
		act, r := a.Decide(addr(c.src), addr(c.dst), c.proto, c.dport)
		id := 0
		if r != nil {
			id = r.ID
		}
		if act != c.want || id != c.rule {
			t.Errorf("%s -> %s proto %d port %d: got %v by rule %d, want %v by rule %d", c.src, c.dst, c.proto, c.dport, act, id, c.want, c.rule)
		}
	}
	if h := a.Rules()[0].Hits.Load(); h != 1 { // rule 2 sorts first
		t.Errorf("rule 2 hits = %d, want 1", h)
	}
}

func TestDefaultDenyAndEmpty(t *testing.T) {
	if !New(0, nil).Empty() || !(*ACL)(nil).Empty() {
		t.Fatal("an ACL with no rules and default allow must be empty")
	}
	d := New(Deny, nil)
	if d.Empty() {
		t.Fatal("default deny is not empty")
	}
	if act, r := d.Decide(addr("1.1.1.1"), addr("2.2.2.2"), 6, 22); act != Deny || r != nil {
		t.Fatalf("default deny gave %v, %v", act, r)
	}
}

func TestHitsSurviveRebuild(t *testing.T) {
	r := Rule{ID: 7, Action: Deny, Proto: 1, Hits: NewHits()}
	a := New(Allow, []Rule{r})
	a.Decide(addr("1.1.1.1"), addr("2.2.2.2"), 1, 0)
	b := New(Deny, []Rule{r, {ID: 8, Action: Allow}})
	b.Decide(addr("1.1.1.1"), addr("2.2.2.2"), 1, 0)
	if got := r.Hits.Load(); got != 2 {
		t.Fatalf("hits across rebuilds = %d, want 2", got)
	}
}

// matchRef is the obvious reading of a rule, to compare Matches with.
func matchRef(r Rule, src, dst netip.Addr, proto uint8, dport uint16) bool {
	anyPort := r.DPortMax == 0
	return (r.Proto == 0 || r.Proto == proto) &&
		(anyPort || (dport >= r.DPortMin && dport <= r.DPortMax)) &&
		(!r.Src.IsValid() || r.Src.Contains(src)) && (!r.Dst.IsValid() || r.Dst.Contains(dst))
}

func FuzzMatches(f *testing.F) {
	f.Add([]byte{10, 0, 0, 1}, []byte{10, 0, 0, 2}, uint8(8), uint8(24), uint8(6), uint16(80), uint16(79), uint16(81))
	f.Fuzz(func(t *testing.T, s, d []byte, sb, db, proto uint8, dport, lo, hi uint16) {
		if len(s) < 4 || len(d) < 4 {
			return
		}
		src, dst := netip.AddrFrom4([4]byte(s[:4])), netip.AddrFrom4([4]byte(d[:4]))
		r := Rule{Action: Allow, Proto: proto % 3 * 6, DPortMin: lo, DPortMax: hi}
		if sb <= 32 {
			r.Src = netip.PrefixFrom(dst, int(sb)).Masked()
		}
		if db <= 32 {
			r.Dst = netip.PrefixFrom(src, int(db)).Masked()
		}
		if got, want := r.Matches(src, dst, proto, dport), matchRef(r, src, dst, proto, dport); got != want {
			t.Fatalf("Matches(%v) = %v, reference %v", r, got, want)
		}
	})
}

func BenchmarkDecide(b *testing.B) {
	var rules []Rule
	for i := 0; i < 16; i++ {
		rules = append(rules, Rule{ID: i, Action: Deny, Dst: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16), Priority: i})
	}
	a := New(Allow, rules)
	src, dst := addr("172.17.0.2"), addr("172.18.0.3")
	b.ReportAllocs()
	for b.Loop() {
		a.Decide(src, dst, 6, 443)
	}
}

// TestMixedFamilies: one ACL with IPv4 and IPv6 rules; a prefix never
// matches the other family, a rule without prefixes matches both, and
// ICMP and ICMPv6 are two protocols.
func TestMixedFamilies(t *testing.T) {
	a := New(Allow, []Rule{
		{ID: 1, Action: Deny, Src: pfx("10.0.0.0/8"), Priority: 10},
		{ID: 2, Action: Deny, Src: pfx("fd00:1::/64"), Proto: ProtoICMPv6, Priority: 10},
		{ID: 3, Action: Deny, Dst: pfx("fd00:2::80/128"), Proto: ProtoTCP, DPortMin: 80, DPortMax: 80, Priority: 10},
		{ID: 4, Action: Deny, Proto: ProtoUDP, DPortMin: 53, DPortMax: 53, Priority: 20}, // both families
		{ID: 5, Action: Deny, Proto: ProtoICMP, Priority: 30},                            // IPv4's ICMP only
		{ID: 6, Action: Allow, Src: pfx("::/0"), Priority: 40},
		{ID: 7, Action: Deny, Priority: 50},
	})
	cases := []struct {
		src, dst string
		proto    uint8
		dport    uint16
		want     Action
		rule     int
	}{
		{"10.1.2.3", "10.0.0.5", ProtoTCP, 22, Deny, 1},
		{"::ffff:10.1.2.3", "fd00:2::1", ProtoTCP, 22, Allow, 6}, // mapped: IPv6, not 10/8
		{"fd00:1::5", "fd00:1::6", ProtoICMPv6, 0, Deny, 2},
		{"fd00:1::5", "fd00:1::6", ProtoICMP, 0, Deny, 5}, // proto 1 in IPv6: not rule 2
		{"fd00:1::5", "fd00:1::6", ProtoTCP, 22, Allow, 6},
		{"fd00:9::1", "fd00:2::80", ProtoTCP, 80, Deny, 3},
		{"fd00:9::1", "fd00:2::80", ProtoTCP, 443, Allow, 6},
		{"fd00:9::1", "fd00:2::80", ProtoUDP, 53, Deny, 4},
		{"172.16.0.1", "172.16.0.2", ProtoUDP, 53, Deny, 4},
		{"172.16.0.1", "172.16.0.2", ProtoICMP, 0, Deny, 5},
		{"fd00:9::1", "fd00:9::2", ProtoICMPv6, 0, Allow, 6},
		{"172.16.0.1", "172.16.0.2", ProtoTCP, 22, Deny, 7}, // ::/0 is IPv6's "any"
	}
	for _, c := range cases {
		act, r := a.Decide(addr(c.src), addr(c.dst), c.proto, c.dport)
		id := 0
		if r != nil {
			id = r.ID
		}
		if act != c.want || id != c.rule {
			t.Errorf("%s -> %s proto %d port %d: got %v by rule %d, want %v by rule %d", c.src, c.dst, c.proto, c.dport, act, id, c.want, c.rule)
		}
	}
}

func TestRuleCheck(t *testing.T) {
	bad := []Rule{
		{Src: pfx("10.0.0.0/8"), Dst: pfx("fd00::/64")},
		{Src: pfx("fd00::/64"), Proto: ProtoICMP},
		{Dst: pfx("10.0.0.0/8"), Proto: ProtoICMPv6},
		{Proto: ProtoICMPv6, DPortMin: 1, DPortMax: 2},
		{Proto: ProtoTCP, DPortMin: 9, DPortMax: 8},
	}
	for _, r := range bad {
		if err := r.Check(); err == nil {
			t.Errorf("rule %+v: no error, but it can never match", r)
		}
	}
	good := []Rule{
		{},
		{Src: pfx("fd00::/64"), Dst: pfx("fd01::1/128"), Proto: ProtoICMPv6},
		{Src: pfx("10.0.0.0/8"), Proto: ProtoICMP},
		{Proto: ProtoICMPv6},
		{Dst: pfx("fd00::/64"), Proto: ProtoUDP, DPortMin: 53, DPortMax: 53},
	}
	for _, r := range good {
		if err := r.Check(); err != nil {
			t.Errorf("rule %+v: %v", r, err)
		}
	}
}

// BenchmarkDecide6 is a flow's first IPv6 packet through a mixed ACL that
// it meets at its last rule.
func BenchmarkDecide6(b *testing.B) {
	a := New(Deny, []Rule{
		{ID: 1, Action: Deny, Src: pfx("10.0.0.0/8")},
		{ID: 2, Action: Deny, Src: pfx("fd00:1::/64"), Proto: ProtoICMPv6},
		{ID: 3, Action: Allow, Dst: pfx("fd00:2::/64"), Proto: ProtoTCP, DPortMin: 80, DPortMax: 80},
	})
	src, dst := addr("fd00:9::1"), addr("fd00:2::80")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if act, _ := a.Decide(src, dst, ProtoTCP, 80); act != Allow {
			b.Fatal(act)
		}
	}
}
