package nat

import (
	"net/netip"
	"testing"
	"time"

	"vswitch/header"
)

func ip6(s string) [16]byte { return netip.MustParseAddr(s).As16() }

func tcp6(src [16]byte, sport uint16, dst [16]byte, dport uint16) Tuple6 {
	return Tuple6{Src: src, Dst: dst, SPort: sport, DPort: dport, Proto: header.ProtoTCP}
}
func udp6(src [16]byte, sport uint16, dst [16]byte, dport uint16) Tuple6 {
	return Tuple6{Src: src, Dst: dst, SPort: sport, DPort: dport, Proto: header.ProtoUDP}
}
func icmp6(src, dst [16]byte, id uint16) Tuple6 {
	return Tuple6{Src: src, Dst: dst, SPort: id, DPort: id, Proto: header.ProtoICMPv6}
}

var (
	client6 = ip6("fd00:17::2")
	server6 = ip6("2001:db8:5::80")
	uplink6 = ip6("2001:db8:1::10")
	masq6   = Rewrite6{SNAT: true, SrcAddr: uplink6}
)

func newTestTable6(t testing.TB, cfg Config) (*Table6, *clock) {
	t.Helper()
	clk := newClock()
	cfg.Now = clk.Now
	tb := New6(cfg)
	t.Cleanup(tb.Close)
	return tb, clk
}

func mustCreate6(t testing.TB, tb *Table6, k Tuple6, rw Rewrite6, flags uint8, now int64) Conn6 {
	t.Helper()
	c, err := tb.Create(k, rw, flags, now)
	if err != nil {
		t.Fatalf("Create(%v): %v", k, err)
	}
	return c
}

func TestTuple6String(t *testing.T) {
	for _, c := range []struct {
		t    Tuple6
		want string
	}{
		{tcp6(client6, 40000, server6, 443), "tcp [fd00:17::2]:40000 -> [2001:db8:5::80]:443"},
		{udp6(client6, 53, server6, 53), "udp [fd00:17::2]:53 -> [2001:db8:5::80]:53"},
		{icmp6(client6, server6, 7), "icmpv6 fd00:17::2 -> 2001:db8:5::80 id 7"},
	} {
		if got := c.t.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
		if r := c.t.Reverse(); r.Src != c.t.Dst || r.SPort != c.t.DPort || r.Reverse() != c.t {
			t.Errorf("Reverse of %v: %v", c.t, r)
		}
	}
}

func TestCreate6MasqueradeBothDirections(t *testing.T) {
	tb, clk := newTestTable6(t, Config{})
	k := tcp6(client6, 40000, server6, 443)
	c := mustCreate6(t, tb, k, masq6, fSYN, clk.Now())
	wantReply := tcp6(server6, 443, uplink6, 40000)
	if c.Orig() != k || c.Reply() != wantReply || c.NAT() != SNAT {
		t.Fatalf("conn %v / %v nat %d, want %v / %v SNAT", c.Orig(), c.Reply(), c.NAT(), k, wantReply)
	}
	got, d, ok := tb.Lookup(wantReply)
	if !ok || d != Reply || got.c != c.c {
		t.Fatalf("lookup reply: %v %v", ok, d)
	}
	if tgt := got.Target(Reply); tgt != tcp6(server6, 443, client6, 40000) {
		t.Fatalf("reply target %v", tgt)
	}
	got, d, _ = tb.Lookup(k)
	if tgt := got.Target(d); d != Original || tgt != tcp6(uplink6, 40000, server6, 443) {
		t.Fatalf("original target %v %v", d, tgt)
	}
	if _, _, ok := tb.Lookup(tcp6(uplink6, 40000, server6, 443)); ok {
		t.Fatal("the translated original tuple is not a key")
	}
	// A v4 tuple with the same ids would be another table's business: an
	// unknown address is a miss without touching the shared table.
	if _, _, ok := tb.Lookup(tcp6(ip6("fd00:17::3"), 40000, server6, 443)); ok {
		t.Fatal("a flow from another address found a conn")
	}
	// The state machine is the shared one.
	tb.Track(got, Reply, fSYNACK, clk.Now())
	tb.Track(got, Original, fACK, clk.Now())
	if got.State() != Established || !got.Assured() {
		t.Fatalf("state %v assured %v after the handshake", got.State(), got.Assured())
	}
	if d := got.Deadline() - clk.Now(); d != int64(DefaultTimeouts.TCPEstablished) {
		t.Fatalf("established timeout %v", time.Duration(d))
	}
}

func TestCreate6PublishedKeepsClient(t *testing.T) {
	tb, clk := newTestTable6(t, Config{})
	cli := ip6("2001:db8:99::5")
	ctr := ip6("fd00:17::9")
	k := tcp6(cli, 51000, uplink6, 8080)
	c := mustCreate6(t, tb, k, Rewrite6{DNAT: true, DstAddr: ctr, DstPort: 80}, fSYN, clk.Now())
	if c.NAT() != DNAT || c.Target(Original) != tcp6(cli, 51000, ctr, 80) {
		t.Fatalf("nat %d target %v", c.NAT(), c.Target(Original))
	}
	r, d, ok := tb.Lookup(tcp6(ctr, 80, cli, 51000))
	if !ok || d != Reply || r.Target(Reply) != tcp6(uplink6, 8080, cli, 51000) {
		t.Fatalf("answer: %v %v %v", ok, d, r.Target(Reply))
	}
}

func TestCreate6ICMPAndUDPTimeouts(t *testing.T) {
	tb, clk := newTestTable6(t, Config{})
	e := mustCreate6(t, tb, icmp6(client6, server6, 7), masq6, 0, clk.Now())
	if e.Reply() != icmp6(server6, uplink6, 7) || e.State() != Unreplied {
		t.Fatalf("echo conn reply %v state %v", e.Reply(), e.State())
	}
	if d := e.Deadline() - clk.Now(); d != int64(DefaultTimeouts.ICMP) {
		t.Fatalf("icmpv6 timeout %v", time.Duration(d))
	}
	u := mustCreate6(t, tb, udp6(client6, 5353, server6, 53), masq6, 0, clk.Now())
	if d := u.Deadline() - clk.Now(); d != int64(DefaultTimeouts.UDPUnreplied) {
		t.Fatalf("udp unreplied timeout %v", time.Duration(d))
	}
	r, d, _ := tb.Lookup(u.Reply())
	tb.Track(r, d, 0, clk.Now())
	if u.State() != Assured || u.Deadline()-clk.Now() != int64(DefaultTimeouts.UDPAssured) {
		t.Fatalf("udp after reply: %v %v", u.State(), time.Duration(u.Deadline()-clk.Now()))
	}
	clk.Advance(DefaultTimeouts.ICMP)
	if _, _, ok := tb.Lookup(e.Orig()); ok {
		t.Fatal("echo conn alive after its timeout")
	}
}

func TestCreate6PortSearchExhaustionClash(t *testing.T) {
	tb, clk := newTestTable6(t, Config{PortMin: 60000, PortMax: 60003})
	now := clk.Now()
	// The host itself holds 60000 to the server (a null binding).
	mustCreate6(t, tb, udp6(uplink6, 60000, server6, 53), Rewrite6{}, 0, now)
	a := mustCreate6(t, tb, udp6(client6, 60000, server6, 53), masq6, 0, now)
	if a.Reply().DPort == 60000 || a.Reply().DPort < 60000 || a.Reply().DPort > 60003 {
		t.Fatalf("remapped port %d, want another in 60000-60003", a.Reply().DPort)
	}
	for i := range 3 {
		if _, err := tb.Create(udp6(ip6("fd00:17::20"), uint16(60000+i), server6, 53), Rewrite6{SNAT: true, SrcAddr: uplink6}, 0, now); i < 2 && err != nil {
			t.Fatalf("create %d: %v", i, err)
		} else if i == 2 && err != ErrPortsExhausted {
			t.Fatalf("create into a used-up range: %v, want ErrPortsExhausted", err)
		}
	}
	// An un-NATed flow whose reply tuple a masqueraded one answers on.
	if _, err := tb.Create(udp6(uplink6, a.Reply().DPort, server6, 53), Rewrite6{}, 0, now); err != ErrClash {
		t.Fatalf("clashing null binding: %v", err)
	}
	if _, err := tb.Create(tcp6(client6, 1, server6, 80), masq6, fSYNACK, now); err != ErrInvalid {
		t.Fatalf("SYN+ACK: %v", err)
	}
	if _, err := tb.Create(Tuple6{Src: client6, Dst: server6, Proto: 132}, Rewrite6{}, 0, now); err != ErrInvalid {
		t.Fatalf("SCTP: %v", err)
	}
	st := tb.Stats()
	if st.PortsExhausted != 1 || st.Clashes != 1 || st.Invalid != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTable6FullEvictsThenRefuses(t *testing.T) {
	tb, clk := newTestTable6(t, Config{Max: 4})
	now := clk.Now()
	var cs []Conn6
	for i := range 4 {
		cs = append(cs, mustCreate6(t, tb, udp6(client6, uint16(2000+i), server6, 53), masq6, 0, now))
	}
	// One unreplied conn may be evicted for a new flow.
	for _, c := range cs[1:] {
		r, d, _ := tb.Lookup(c.Reply())
		tb.Track(r, d, 0, now)
	}
	mustCreate6(t, tb, udp6(client6, 3000, server6, 53), masq6, 0, now)
	if _, _, ok := tb.Lookup(cs[0].Orig()); ok {
		t.Fatal("the unreplied conn survived early drop")
	}
	r, d, _ := tb.Lookup(udp6(server6, 53, uplink6, 3000))
	tb.Track(r, d, 0, now)
	if _, err := tb.Create(udp6(client6, 3001, server6, 53), masq6, 0, now); err != ErrFull {
		t.Fatalf("create into a table of assured conns: %v, want ErrFull", err)
	}
	if st := tb.Stats(); st.EarlyDrops != 1 || st.Full != 1 || tb.Len() != 4 {
		t.Fatalf("stats %+v len %d", st, tb.Len())
	}
}

// TestTable6AddressIDsLiveWithConns: an address's id lives exactly as long
// as some conn names it, and is not reused within the quarantine.
func TestTable6AddressIDsLiveWithConns(t *testing.T) {
	tb, clk := newTestTable6(t, Config{})
	now := clk.Now()
	a := mustCreate6(t, tb, udp6(client6, 1000, server6, 53), masq6, 0, now)
	mustCreate6(t, tb, udp6(client6, 1001, server6, 53), masq6, 0, now)
	if n := tb.ids.live(); n != 3 { // client, server, uplink
		t.Fatalf("%d live ids, want 3", n)
	}
	oldClient, _ := tb.ids.lookup(&client6)
	// A failed Create leaves no id behind.
	if _, err := tb.Create(tcp6(ip6("fd00:17::77"), 1, ip6("2001:db8::77"), 80), masq6, fRST, now); err != ErrInvalid {
		t.Fatal(err)
	}
	if n := tb.ids.live(); n != 3 {
		t.Fatalf("%d live ids after a refused create, want 3", n)
	}
	tb.Delete(a)
	if n := tb.ids.live(); n != 3 {
		t.Fatalf("%d live ids with one conn left, want 3", n)
	}
	clk.Advance(time.Hour)
	for range SweepFraction {
		tb.Sweep(clk.Now())
	}
	if tb.Len() != 0 || tb.ids.live() != 0 {
		t.Fatalf("after expiry: %d conns, %d ids", tb.Len(), tb.ids.live())
	}
	// Released now (table time): a new address within a second gets a
	// fresh id, not the client's old one.
	c := mustCreate6(t, tb, udp6(ip6("fd00:17::44"), 1000, server6, 53), masq6, 0, clk.Now())
	if id, _ := tb.ids.lookup(&[16]byte{0xfd, 0, 0, 0x17, 15: 0x44}); id == oldClient {
		t.Fatal("an id was reused inside its quarantine")
	}
	if c.Orig().Src != ip6("fd00:17::44") {
		t.Fatalf("orig %v", c.Orig())
	}
	tb.Flush()
	if tb.Len() != 0 || tb.ids.live() != 0 {
		t.Fatalf("after flush: %d conns, %d ids", tb.Len(), tb.ids.live())
	}
}

func TestTable6Entries(t *testing.T) {
	tb, clk := newTestTable6(t, Config{})
	k := tcp6(client6, 40000, server6, 443)
	mustCreate6(t, tb, k, masq6, fSYN, clk.Now())
	es := tb.Entries(clk.Now())
	if len(es) != 1 || es[0].Orig != k || es[0].Reply != tcp6(server6, 443, uplink6, 40000) ||
		es[0].State != SynSent || es[0].NAT != SNAT || es[0].Timeout != DefaultTimeouts.TCPSynSent {
		t.Fatalf("entries %+v", es)
	}
}

func TestLookup6NoAllocs(t *testing.T) {
	tb, clk := newTestTable6(t, Config{})
	c := mustCreate6(t, tb, udp6(client6, 1000, server6, 53), masq6, 0, clk.Now())
	r := c.Reply()
	n := testing.AllocsPerRun(100, func() {
		got, d, ok := tb.LookupAt(r, clk.Now())
		if !ok {
			t.Fatal("miss")
		}
		tb.Track(got, d, 0, clk.Now())
		_ = got.Target(d)
	})
	if n != 0 {
		t.Fatalf("%v allocs per lookup+track+target", n)
	}
}
