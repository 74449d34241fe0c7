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
