package nat

import (
	"testing"
	"time"

	"vswitch/header"
)

func TestCreateLookupBothDirections(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	k := tcp(client, 40000, server, 443)
	c := mustCreate(t, tb, k, masq, fSYN, clk.Now())
	wantReply := tcp(server, 443, uplink, 40000)
	if c.Reply != wantReply {
		t.Fatalf("reply %v, want %v (source port kept)", c.Reply, wantReply)
	}
	if c.NAT != SNAT {
		t.Fatalf("NAT flags %d, want SNAT", c.NAT)
	}
	got, d := mustLookup(t, tb, k)
	if got != c || d != Original {
		t.Fatalf("lookup original: %p %v, want %p original", got, d, c)
	}
	got, d = mustLookup(t, tb, wantReply)
	if got != c || d != Reply {
		t.Fatalf("lookup reply: %p %v, want %p reply", got, d, c)
	}
	if tgt := c.Target(Original); tgt != tcp(uplink, 40000, server, 443) {
		t.Fatalf("target original %v", tgt)
	}
	if tgt := c.Target(Reply); tgt != tcp(server, 443, client, 40000) {
		t.Fatalf("target reply %v", tgt)
	}
	if _, _, ok := tb.Lookup(tcp(uplink, 40000, server, 443)); ok {
		t.Fatal("the translated original tuple is not a key")
	}
	if tb.Len() != 1 {
		t.Fatalf("Len %d, want 1", tb.Len())
	}
}

func TestExpiryLookupAndSweep(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	var conns []*Conn
	for i := range 100 {
		conns = append(conns, mustCreate(t, tb, udp(client, uint16(10000+i), server, 53), masq, 0, clk.Now()))
	}
	// Half get a reply (120 s), half stay unreplied (30 s).
	for _, c := range conns[:50] {
		tb.Track(c, Reply, 0, clk.Now())
	}
	clk.Advance(30 * time.Second)
	for i, c := range conns {
		_, _, ok := tb.Lookup(c.Orig)
		if ok != (i < 50) {
			t.Fatalf("conn %d: found=%v after 30 s", i, ok)
		}
		if _, _, ok := tb.Lookup(c.Reply); ok != (i < 50) {
			t.Fatalf("conn %d reply key: found=%v after 30 s", i, ok)
		}
	}
	if tb.Len() != 100 {
		t.Fatalf("Len %d before sweeping, want 100 (expired but unswept count)", tb.Len())
	}
	removed := 0
	for range SweepFraction {
		removed += tb.Sweep(clk.Now())
	}
	if removed != 50 || tb.Len() != 50 {
		t.Fatalf("one sweep pass removed %d, Len %d; want 50, 50", removed, tb.Len())
	}
	if st := tb.Stats(); st.Expired != 50 || st.Conns != 50 || st.Created != 100 {
		t.Fatalf("stats %+v", st)
	}
	// Each Sweep call makes progress on a fully expired table.
	clk.Advance(time.Hour)
	for tb.Len() > 0 {
		before := tb.Len()
		n := tb.Sweep(clk.Now())
		if tb.Len() != before-n {
			t.Fatalf("Sweep returned %d but Len went %d -> %d", n, before, tb.Len())
		}
		removed += n
	}
	if removed != 100 {
		t.Fatalf("removed %d in all", removed)
	}
}

func TestCreateReturnsExisting(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	k := tcp(client, 3000, server, 80)
	c := mustCreate(t, tb, k, masq, fSYN, clk.Now())
	again := mustCreate(t, tb, k, masq, fSYN, clk.Now())
	if again != c || tb.Len() != 1 {
		t.Fatalf("duplicate Create: %p vs %p, Len %d", again, c, tb.Len())
	}
	// The other worker saw the SYN+ACK miss and calls Create with the
	// reply tuple: it gets the same conn, and DirOf says Reply.
	got, err := tb.Create(c.Reply, Rewrite{}, fSYNACK|0, clk.Now())
	if err != ErrInvalid {
		t.Fatalf("SYN+ACK Create: %v %v, want ErrInvalid first (flags checked first)", got, err)
	}
	got = mustCreate(t, tb, c.Reply, Rewrite{}, fACK, clk.Now())
	if got != c {
		t.Fatal("Create with the reply tuple made a new conn")
	}
	if d, ok := got.DirOf(c.Reply); !ok || d != Reply {
		t.Fatalf("DirOf %v %v", d, ok)
	}
	if st := tb.Stats(); st.Created != 1 {
		t.Fatalf("created %d", st.Created)
	}
	// An expired conn with the same tuple is replaced.
	clk.Advance(DefaultTimeouts.TCPSynSent)
	n := mustCreate(t, tb, k, masq, fSYN, clk.Now())
	if tb.Len() != 1 {
		t.Fatalf("Len %d after replacing an expired conn", tb.Len())
	}
	if got, _ := mustLookup(t, tb, k); got != n {
		t.Fatal("lookup finds the old conn")
	}
}

func TestCreateInvalid(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	for _, f := range []uint8{fRST, fRST | fACK, fSYNACK, fSYN | fRST, fSYN | fFIN, 0, fFIN, header.TCPFlagPSH} {
		if _, err := tb.Create(tcp(client, 1, server, 2), Rewrite{}, f, clk.Now()); err != ErrInvalid {
			t.Errorf("flags %#x: %v, want ErrInvalid", f, err)
		}
	}
	if _, err := tb.Create(Tuple{Src: client, Dst: server, Proto: 47}, Rewrite{}, 0, clk.Now()); err != ErrInvalid {
		t.Errorf("GRE: %v", err)
	}
	if tb.Len() != 0 || tb.Stats().Invalid != 9 {
		t.Fatalf("Len %d stats %+v", tb.Len(), tb.Stats())
	}
}

func TestSNATKeepsPortWhenFreeRemapsWhenTaken(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	a := mustCreate(t, tb, tcp(client, 40000, server, 443), masq, fSYN, clk.Now())
	if a.Reply.DPort != 40000 {
		t.Fatalf("port not kept: %v", a.Reply)
	}
	// A second container uses the same source port to the same server.
	other := ip(172, 17, 0, 3)
	b := mustCreate(t, tb, tcp(other, 40000, server, 443), masq, fSYN, clk.Now())
	if b.Reply.DPort == 40000 || b.Reply.Dst != uplink {
		t.Fatalf("clashing flow got %v", b.Reply)
	}
	if b.Reply.DPort < 1024 {
		t.Fatalf("remapped port %d outside 1024..65535", b.Reply.DPort)
	}
	if got, d := mustLookup(t, tb, b.Reply); got != b || d != Reply {
		t.Fatal("remapped reply not found")
	}
	if b.Target(Original).SPort != b.Reply.DPort {
		t.Fatalf("target %v does not carry the remapped port", b.Target(Original))
	}
	// To another server the same port is free again.
	c := mustCreate(t, tb, tcp(other, 40000, ip(1, 1, 1, 1), 443), masq, fSYN, clk.Now())
	if c.Reply.DPort != 40000 {
		t.Fatalf("port not kept towards another server: %v", c.Reply)
	}
	// An un-NATed flow whose reply equals a masqueraded one's clashes.
	if _, err := tb.Create(tcp(uplink, 40000, server, 443), Rewrite{}, fSYN, clk.Now()); err != ErrClash {
		t.Fatalf("clash: %v", err)
	}
	if tb.Stats().Clashes != 1 {
		t.Fatalf("clash counter %d", tb.Stats().Clashes)
	}
	// ...and a masqueraded flow never takes an un-NATed flow's reply tuple.
	host := mustCreate(t, tb, tcp(uplink, 50000, server, 443), Rewrite{}, fSYN, clk.Now())
	d := mustCreate(t, tb, tcp(other, 50000, server, 443), masq, fSYN, clk.Now())
	if d.Reply == host.Reply {
		t.Fatal("masquerade took the reply tuple of an un-NATed flow")
	}
}

func TestICMPIdRemapChangesBothFields(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	a := mustCreate(t, tb, icmp(client, server, 7), masq, 0, clk.Now())
	b := mustCreate(t, tb, icmp(ip(172, 17, 0, 3), server, 7), masq, 0, clk.Now())
	if a.Reply.SPort != 7 {
		t.Fatalf("id not kept: %v", a.Reply)
	}
	if b.Reply.SPort == 7 || b.Reply.SPort != b.Reply.DPort {
		t.Fatalf("remapped echo reply tuple %v: id must differ and sit in both fields", b.Reply)
	}
	tgt := b.Target(Original)
	if tgt.SPort != tgt.DPort || tgt.SPort != b.Reply.SPort {
		t.Fatalf("target %v", tgt)
	}
}

func TestPortsExhausted(t *testing.T) {
	tb, clk := newTestTable(t, Config{PortMin: 60000, PortMax: 60003})
	var conns []*Conn
	// Every client uses source port 5000, outside the range: the first
	// keeps it, the next four take the range's four ports.
	for i := range 5 {
		k := udp(ip(172, 17, 0, byte(2+i)), 5000, server, 53)
		conns = append(conns, mustCreate(t, tb, k, masq, 0, clk.Now()))
	}
	seen := map[uint16]bool{}
	for _, c := range conns {
		seen[c.Reply.DPort] = true
	}
	for p := uint16(60000); p <= 60003; p++ {
		if !seen[p] {
			t.Fatalf("port %d not handed out: %v", p, seen)
		}
	}
	_, err := tb.Create(udp(ip(172, 17, 0, 99), 5000, server, 53), masq, 0, clk.Now())
	if err != ErrPortsExhausted {
		t.Fatalf("sixth flow: %v, want ErrPortsExhausted", err)
	}
	if tb.Stats().PortsExhausted != 1 {
		t.Fatal("exhaustion not counted")
	}
	// Another destination still works.
	mustCreate(t, tb, udp(ip(172, 17, 0, 99), 5000, ip(8, 8, 8, 8), 53), masq, 0, clk.Now())
	// Keep all but the second alive; after it expires its port is free.
	clk.Advance(20 * time.Second)
	for i, c := range conns {
		if i != 1 {
			tb.Track(c, Original, 0, clk.Now())
		}
	}
	clk.Advance(10 * time.Second)
	c := mustCreate(t, tb, udp(ip(172, 17, 0, 99), 5000, server, 53), masq, 0, clk.Now())
	if c.Reply.DPort != conns[1].Reply.DPort {
		t.Fatalf("got port %d, want the expired conn's %d", c.Reply.DPort, conns[1].Reply.DPort)
	}
}

func TestPortsExhaustedInRange(t *testing.T) {
	// With sources inside the range, exactly four flows fit.
	tb, clk := newTestTable(t, Config{PortMin: 60000, PortMax: 60003})
	var conns []*Conn
	for i := range 4 {
		k := tcp(ip(172, 17, 0, byte(2+i)), 60000, server, 80)
		conns = append(conns, mustCreate(t, tb, k, masq, fSYN, clk.Now()))
	}
	if _, err := tb.Create(tcp(ip(172, 17, 0, 9), 60000, server, 80), masq, fSYN, clk.Now()); err != ErrPortsExhausted {
		t.Fatalf("fifth flow: %v", err)
	}
	tb.Delete(conns[2])
	c := mustCreate(t, tb, tcp(ip(172, 17, 0, 9), 60000, server, 80), masq, fSYN, clk.Now())
	if c.Reply.DPort != conns[2].Reply.DPort {
		t.Fatalf("got %d, want the deleted conn's port %d", c.Reply.DPort, conns[2].Reply.DPort)
	}
}

func TestFullTable(t *testing.T) {
	tb, clk := newTestTable(t, Config{Max: 64})
	var conns []*Conn
	for i := range 64 {
		c := mustCreate(t, tb, tcp(client, uint16(1000+i), server, 80), masq, fSYN, clk.Now())
		tb.Track(c, Reply, fSYNACK, clk.Now())
		tb.Track(c, Original, fACK, clk.Now()) // assured: never evicted
		conns = append(conns, c)
	}
	_, err := tb.Create(tcp(client, 9999, server, 80), masq, fSYN, clk.Now())
	if err != ErrFull {
		t.Fatalf("65th conn: %v, want ErrFull", err)
	}
	if tb.Stats().Full != 1 || tb.Len() != 64 {
		t.Fatalf("stats %+v len %d", tb.Stats(), tb.Len())
	}
	// Established flows keep working.
	clk.Advance(time.Minute)
	for _, c := range conns {
		got, d := mustLookup(t, tb, c.Reply)
		if got != c || d != Reply {
			t.Fatal("lookup broken in a full table")
		}
		if !tb.Track(got, d, fPSHACK, clk.Now()) || got.State() != Established {
			t.Fatal("track broken in a full table")
		}
		if got.Deadline() != clk.Now()+int64(DefaultTimeouts.TCPEstablished) {
			t.Fatal("deadline not refreshed in a full table")
		}
	}
	// One flow is reset: a closing conn may be evicted for a new one.
	tb.Track(conns[10], Reply, fRST, clk.Now())
	n, err := tb.Create(tcp(client, 9999, server, 80), masq, fSYN, clk.Now())
	if err != nil {
		t.Fatalf("create after a reset in a full table: %v", err)
	}
	if _, _, ok := tb.Lookup(conns[10].Orig); ok {
		t.Fatal("the reset conn was not the one evicted")
	}
	if got, _ := mustLookup(t, tb, n.Orig); got != n {
		t.Fatal("new conn not found")
	}
	if tb.Stats().EarlyDrops != 1 {
		t.Fatalf("early drops %d", tb.Stats().EarlyDrops)
	}
}

func TestFullTableEvictsExpiredThenNonAssured(t *testing.T) {
	tb, clk := newTestTable(t, Config{Max: 32})
	for i := range 32 {
		mustCreate(t, tb, udp(client, uint16(1000+i), server, 53), masq, 0, clk.Now())
	}
	// All expired: a new conn reclaims them without waiting for a sweep.
	clk.Advance(31 * time.Second)
	mustCreate(t, tb, udp(client, 5000, server, 53), masq, 0, clk.Now())
	if tb.Stats().EarlyDrops != 0 || tb.Stats().Expired == 0 {
		t.Fatalf("stats %+v: want expired removals, no early drop", tb.Stats())
	}
	tb.Flush()

	// Non-assured (unanswered) conns are dropped early, assured ones kept.
	var assured []*Conn
	for i := range 32 {
		c := mustCreate(t, tb, udp(client, uint16(1000+i), server, 53), masq, 0, clk.Now())
		if i%2 == 0 {
			tb.Track(c, Reply, 0, clk.Now())
			assured = append(assured, c)
		}
	}
	for i := range 16 {
		mustCreate(t, tb, udp(client, uint16(2000+i), server, 53), masq, 0, clk.Now())
	}
	if tb.Len() != 32 || tb.Stats().EarlyDrops != 16 {
		t.Fatalf("len %d early drops %d", tb.Len(), tb.Stats().EarlyDrops)
	}
	for _, c := range assured {
		if _, _, ok := tb.Lookup(c.Orig); !ok {
			t.Fatal("an assured conn was evicted")
		}
	}
}

func TestFlushAndEntries(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	a := mustCreate(t, tb, tcp(client, 1, server, 80), masq, fSYN, clk.Now())
	mustCreate(t, tb, udp(client, 2, server, 53), Rewrite{}, 0, clk.Now())
	e := mustCreate(t, tb, icmp(client, server, 3), masq, 0, clk.Now())
	tb.Track(e, Reply, 0, clk.Now())
	clk.Advance(10 * time.Second)
	es := tb.Entries(clk.Now())
	if len(es) != 3 {
		t.Fatalf("%d entries", len(es))
	}
	byProto := map[uint8]Entry{}
	for _, x := range es {
		byProto[x.Orig.Proto] = x
	}
	if x := byProto[6]; x.Orig != a.Orig || x.Reply != a.Reply || x.State != SynSent || x.NAT != SNAT ||
		x.Timeout != 2*time.Minute-10*time.Second {
		t.Fatalf("tcp entry %+v", x)
	}
	if x := byProto[17]; x.State != Unreplied || x.NAT != 0 || x.Timeout != 20*time.Second {
		t.Fatalf("udp entry %+v", x)
	}
	if x := byProto[1]; x.State != Assured || x.Timeout != 20*time.Second {
		t.Fatalf("icmp entry %+v", x)
	}
	clk.Advance(20 * time.Second) // UDP and ICMP expire
	if es := tb.Entries(clk.Now()); len(es) != 1 {
		t.Fatalf("%d entries after expiry, want 1", len(es))
	}
	tb.Flush()
	if tb.Len() != 0 || len(tb.Entries(clk.Now())) != 0 {
		t.Fatal("Flush left conns")
	}
	if _, _, ok := tb.Lookup(a.Orig); ok {
		t.Fatal("lookup after Flush")
	}
	if _, _, ok := tb.Lookup(a.Reply); ok {
		t.Fatal("reply lookup after Flush")
	}
	// The table works after a flush.
	mustCreate(t, tb, tcp(client, 1, server, 80), masq, fSYN, clk.Now())
	if tb.Len() != 1 {
		t.Fatal("create after flush")
	}
}

func TestDelete(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	c := mustCreate(t, tb, tcp(client, 1, server, 80), masq, fSYN, clk.Now())
	tb.Delete(c)
	tb.Delete(c) // twice is harmless
	if tb.Len() != 0 {
		t.Fatalf("Len %d", tb.Len())
	}
	if _, _, ok := tb.Lookup(c.Orig); ok {
		t.Fatal("found after Delete")
	}
	if tb.Track(c, Original, fACK, clk.Now()); c.State() != SynSent {
		t.Fatal("Track changed a deleted conn")
	}
}

func TestSlotQuarantine(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	a := mustCreate(t, tb, udp(client, 1, server, 53), Rewrite{}, 0, clk.Now())
	tb.Delete(a)
	b := mustCreate(t, tb, udp(client, 2, server, 53), Rewrite{}, 0, clk.Now())
	if a == b {
		t.Fatal("a released slot was reused at once")
	}
	// A worker still holding a for its packet cannot touch b.
	tb.Track(a, Reply, 0, clk.Now())
	if b.State() != Unreplied {
		t.Fatal("a stale *Conn changed another flow")
	}
	clk.Advance(SlotQuarantine)
	c := mustCreate(t, tb, udp(client, 3, server, 53), Rewrite{}, 0, clk.Now())
	if c != a {
		t.Fatal("the slot was not reused after its quarantine")
	}
	if c.Orig != udp(client, 3, server, 53) || c.State() != Unreplied {
		t.Fatalf("reused slot %v %v", c.Orig, c.State())
	}
}

func TestSweepInterval(t *testing.T) {
	if d := nextSweepInterval(sweepBase, 1000, 600, 10, 100); d != sweepMin {
		t.Errorf("mostly expired: %v", d)
	}
	if d := nextSweepInterval(sweepBase, 1000, 0, 95, 100); d != sweepMin {
		t.Errorf("nearly full: %v", d)
	}
	d := sweepBase
	for range 10 {
		d = nextSweepInterval(d, 1000, 0, 10, 100)
	}
	if d != sweepMax {
		t.Errorf("idle backs off to %v, want %v", d, sweepMax)
	}
	if d := nextSweepInterval(sweepMax, 1000, 10, 10, 100); d != sweepBase {
		t.Errorf("some expired: %v", d)
	}
}

func TestStartSweeps(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	for i := range 1000 {
		mustCreate(t, tb, udp(client, uint16(i), server, 53), Rewrite{}, 0, clk.Now())
	}
	clk.Advance(time.Minute)
	tb.Start()
	tb.Start()
	deadline := time.Now().Add(10 * time.Second)
	for tb.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	tb.Close()
	tb.Close()
	if tb.Len() != 0 {
		t.Fatalf("the sweeper left %d expired conns in 10 s", tb.Len())
	}
}
