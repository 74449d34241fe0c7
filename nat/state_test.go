package nat

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestTupleReverseString(t *testing.T) {
	k := tcp(ip(10, 0, 0, 1), 1234, ip(10, 0, 0, 2), 80)
	r := k.Reverse()
	if r != tcp(ip(10, 0, 0, 2), 80, ip(10, 0, 0, 1), 1234) {
		t.Fatalf("reverse %v", r)
	}
	if r.Reverse() != k {
		t.Fatal("reverse is not an involution")
	}
	if s := k.String(); s != "tcp 10.0.0.1:1234 -> 10.0.0.2:80" {
		t.Fatalf("String %q", s)
	}
	if s := udp(ip(1, 2, 3, 4), 53, ip(5, 6, 7, 8), 9).String(); s != "udp 1.2.3.4:53 -> 5.6.7.8:9" {
		t.Fatalf("String %q", s)
	}
	e := icmp(ip(10, 0, 0, 1), ip(10, 0, 0, 2), 77)
	if e.Reverse() != icmp(ip(10, 0, 0, 2), ip(10, 0, 0, 1), 77) {
		t.Fatalf("icmp reverse %v", e.Reverse())
	}
	if s := e.String(); s != "icmp 10.0.0.1 -> 10.0.0.2 id 77" {
		t.Fatalf("String %q", s)
	}
}

func TestTargetWithDNATAndSNAT(t *testing.T) {
	// Hairpin: a container reaches a published port on the uplink address;
	// DNAT to the container behind it, SNAT to the gateway.
	tb, clk := newTestTable(t, Config{})
	c1, gw, c2 := ip(172, 17, 0, 2), ip(172, 17, 0, 1), ip(172, 17, 0, 3)
	k := tcp(c1, 5555, uplink, 8080)
	c := mustCreate(t, tb, k, Rewrite{SNAT: true, SrcAddr: gw, DNAT: true, DstAddr: c2, DstPort: 80}, fSYN, clk.Now())
	if c.NAT != SNAT|DNAT {
		t.Fatalf("NAT %d", c.NAT)
	}
	if c.Reply != tcp(c2, 80, gw, 5555) {
		t.Fatalf("reply %v", c.Reply)
	}
	if got := c.Target(Original); got != tcp(gw, 5555, c2, 80) {
		t.Fatalf("target original %v", got)
	}
	if got := c.Target(Reply); got != tcp(uplink, 8080, c1, 5555) {
		t.Fatalf("target reply %v", got)
	}
	// Published port without SNAT keeps the client's address.
	out := ip(203, 0, 113, 9)
	k2 := tcp(out, 6000, uplink, 8080)
	c = mustCreate(t, tb, k2, Rewrite{DNAT: true, DstAddr: c2, DstPort: 80}, fSYN, clk.Now())
	if c.Reply != tcp(c2, 80, out, 6000) || c.NAT != DNAT {
		t.Fatalf("reply %v nat %d", c.Reply, c.NAT)
	}
	// ICMP ignores DstPort.
	e := icmp(out, uplink, 9)
	c = mustCreate(t, tb, e, Rewrite{DNAT: true, DstAddr: c2, DstPort: 80}, 0, clk.Now())
	if c.Reply != icmp(c2, out, 9) {
		t.Fatalf("icmp reply %v", c.Reply)
	}
}

func TestStateStrings(t *testing.T) {
	want := map[State]string{SynSent: "SYN_SENT", SynRecv: "SYN_RECV", Established: "ESTABLISHED",
		FinWait: "FIN_WAIT", CloseWait: "CLOSE_WAIT", LastAck: "LAST_ACK", TimeWait: "TIME_WAIT",
		Close: "CLOSE", Unreplied: "UNREPLIED", Assured: "ASSURED"}
	for s, n := range want {
		if s.String() != n {
			t.Errorf("%d: %q, want %q", s, s.String(), n)
		}
	}
}

type step struct {
	d     Dir
	flags uint8
	want  State
}

func TestTCPStateMachine(t *testing.T) {
	O, R := Original, Reply
	cases := []struct {
		name  string
		first uint8
		start State
		steps []step
	}{
		{"handshake and active close by client", fSYN, SynSent, []step{
			{O, fSYN, SynSent}, // retransmission
			{R, fSYNACK, SynRecv},
			{O, fACK, Established},
			{O, fPSHACK, Established},
			{R, fPSHACK, Established},
			{O, fFINACK, FinWait},
			{R, fACK, CloseWait},
			{R, fPSHACK, CloseWait}, // server still sends: half-closed
			{R, fFINACK, LastAck},
			{O, fACK, TimeWait},
		}},
		{"server closes first, client answers with FIN+ACK at once", fSYN, SynSent, []step{
			{R, fSYNACK, SynRecv},
			{O, fACK, Established},
			{R, fFINACK, FinWait},
			{O, fFINACK, LastAck},
			{O, fACK, LastAck}, // the second FIN's sender does not complete it
			{R, fACK, TimeWait},
		}},
		{"reset closes", fSYN, SynSent, []step{
			{R, fSYNACK, SynRecv},
			{O, fACK, Established},
			{R, fRST | fACK, Close},
			{O, fACK, Close},
		}},
		{"reset of an unanswered SYN", fSYN, SynSent, []step{
			{R, fRST | fACK, Close},
		}},
		{"ACK in the reply direction does not establish", fSYN, SynSent, []step{
			{R, fSYNACK, SynRecv},
			{R, fACK, SynRecv},
			{O, fACK, Established},
		}},
		{"loose pick-up of a running connection", fPSHACK, Established, []step{
			{R, fACK, Established},
			{R, fFINACK, FinWait},
			{R, fFINACK, FinWait}, // retransmitted FIN
			{O, fFINACK, LastAck},
			{R, fACK, TimeWait},
		}},
		{"loose pick-up by a FIN", fFINACK, FinWait, nil},
		{"SYN inside an established connection is ignored", fSYN, SynSent, []step{
			{R, fSYNACK, SynRecv},
			{O, fACK, Established},
			{O, fSYN, Established},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb, clk := newTestTable(t, Config{})
			c := mustCreate(t, tb, tcp(client, 1000, server, 80), Rewrite{}, tc.first, clk.Now())
			if c.State() != tc.start {
				t.Fatalf("first packet: %v, want %v", c.State(), tc.start)
			}
			for i, s := range tc.steps {
				clk.Advance(time.Second)
				if !tb.Track(c, s.d, s.flags, clk.Now()) {
					t.Fatalf("step %d: Track returned false", i)
				}
				if c.State() != s.want {
					t.Fatalf("step %d (%v flags %#x): %v, want %v", i, s.d, s.flags, c.State(), s.want)
				}
			}
		})
	}
}

func TestTCPTimeoutsFollowState(t *testing.T) {
	to := DefaultTimeouts
	tb, clk := newTestTable(t, Config{})
	c := mustCreate(t, tb, tcp(client, 1000, server, 80), Rewrite{}, fSYN, clk.Now())
	check := func(want time.Duration) {
		t.Helper()
		if got := time.Duration(c.Deadline() - clk.Now()); got != want {
			t.Fatalf("%v: remaining %v, want %v", c.State(), got, want)
		}
	}
	check(to.TCPSynSent)
	for _, s := range []struct {
		d     Dir
		flags uint8
		want  time.Duration
	}{
		{Reply, fSYNACK, to.TCPSynRecv},
		{Original, fACK, to.TCPEstablished},
		{Original, fFINACK, to.TCPFinWait},
		{Reply, fACK, to.TCPCloseWait},
		{Reply, fFINACK, to.TCPLastAck},
		{Original, fACK, to.TCPTimeWait},
	} {
		clk.Advance(time.Second)
		tb.Track(c, s.d, s.flags, clk.Now())
		check(s.want)
	}
	// TIME_WAIT lasts two minutes, then the conn is gone.
	clk.Advance(to.TCPTimeWait - time.Nanosecond)
	if _, _, ok := tb.Lookup(c.Orig); !ok {
		t.Fatal("conn gone before its TIME_WAIT timeout")
	}
	clk.Advance(time.Nanosecond)
	if _, _, ok := tb.Lookup(c.Orig); ok {
		t.Fatal("conn still found after its TIME_WAIT timeout")
	}

	// A reset leaves 10 s.
	c = mustCreate(t, tb, tcp(client, 1001, server, 80), Rewrite{}, fACK, clk.Now())
	check(to.TCPEstablished)
	tb.Track(c, Reply, fRST, clk.Now())
	check(to.TCPClose)
}

func TestCustomTimeouts(t *testing.T) {
	tb, clk := newTestTable(t, Config{Timeouts: Timeouts{TCPEstablished: time.Hour, UDPUnreplied: 5 * time.Second}})
	c := mustCreate(t, tb, tcp(client, 1, server, 2), Rewrite{}, fACK, clk.Now())
	if got := time.Duration(c.Deadline() - clk.Now()); got != time.Hour {
		t.Fatalf("established %v, want the configured 1h", got)
	}
	u := mustCreate(t, tb, udp(client, 1, server, 2), Rewrite{}, 0, clk.Now())
	if got := time.Duration(u.Deadline() - clk.Now()); got != 5*time.Second {
		t.Fatalf("udp unreplied %v", got)
	}
	tb.Track(u, Reply, 0, clk.Now())
	if got := time.Duration(u.Deadline() - clk.Now()); got != DefaultTimeouts.UDPAssured {
		t.Fatalf("udp assured %v, want the default", got)
	}
}

func TestUDPUnrepliedToAssured(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	k := udp(client, 5353, server, 53)
	c := mustCreate(t, tb, k, masq, 0, clk.Now())
	if c.State() != Unreplied || c.Assured() {
		t.Fatalf("first packet: %v assured=%v", c.State(), c.Assured())
	}
	if got := time.Duration(c.Deadline() - clk.Now()); got != 30*time.Second {
		t.Fatalf("unreplied timeout %v", got)
	}
	clk.Advance(10 * time.Second)
	tb.Track(c, Original, 0, clk.Now()) // still one-way
	if c.State() != Unreplied {
		t.Fatalf("after a second original packet: %v", c.State())
	}
	if got := time.Duration(c.Deadline() - clk.Now()); got != 30*time.Second {
		t.Fatalf("one-way refresh %v", got)
	}
	clk.Advance(time.Second)
	rc, d := mustLookup(t, tb, c.Reply)
	tb.Track(rc, d, 0, clk.Now())
	if c.State() != Assured || !c.Assured() {
		t.Fatalf("after the reply: %v assured=%v", c.State(), c.Assured())
	}
	if got := time.Duration(c.Deadline() - clk.Now()); got != 120*time.Second {
		t.Fatalf("assured timeout %v", got)
	}
	clk.Advance(120 * time.Second)
	if _, _, ok := tb.Lookup(k); ok {
		t.Fatal("assured UDP conn outlived 120 s of silence")
	}
}

func TestICMPEcho(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	c := mustCreate(t, tb, icmp(client, server, 42), masq, 0, clk.Now())
	if c.Reply != icmp(server, uplink, 42) {
		t.Fatalf("reply %v", c.Reply)
	}
	if got := time.Duration(c.Deadline() - clk.Now()); got != 30*time.Second {
		t.Fatalf("icmp timeout %v", got)
	}
	rc, d := mustLookup(t, tb, icmp(server, uplink, 42))
	if rc != c || d != Reply {
		t.Fatal("echo reply did not find the conn")
	}
	tb.Track(rc, d, 0, clk.Now())
	if c.State() != Assured {
		t.Fatalf("state %v", c.State())
	}
}

func TestRefreshSkipsSmallMoves(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	c := mustCreate(t, tb, udp(client, 1, server, 2), Rewrite{}, 0, clk.Now())
	d0 := c.Deadline()
	clk.Advance(500 * time.Millisecond)
	tb.Track(c, Original, 0, clk.Now())
	if c.Deadline() != d0 {
		t.Fatal("a deadline move of 0.5 s was written")
	}
	clk.Advance(600 * time.Millisecond)
	tb.Track(c, Original, 0, clk.Now())
	if c.Deadline() != clk.Now()+int64(30*time.Second) {
		t.Fatal("a deadline move of 1.1 s was not written")
	}
}

func TestSynInTimeWaitReopens(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	k := tcp(client, 2000, server, 80)
	old := mustCreate(t, tb, k, masq, fSYN, clk.Now())
	for _, s := range []step{{Reply, fSYNACK, 0}, {Original, fACK, 0}, {Original, fFINACK, 0},
		{Reply, fFINACK, 0}, {Original, fACK, 0}} {
		tb.Track(old, s.d, s.flags, clk.Now())
	}
	if old.State() != TimeWait {
		t.Fatalf("state %v, want TIME_WAIT", old.State())
	}
	clk.Advance(time.Second)
	c, d := mustLookup(t, tb, k)
	if tb.Track(c, d, fACK, clk.Now()) != true {
		t.Fatal("an ACK in TIME_WAIT must not reopen")
	}
	if tb.Track(c, Reply, fSYN, clk.Now()) != true {
		t.Fatal("a SYN in the reply direction must not reopen")
	}
	if tb.Track(c, d, fSYN, clk.Now()) {
		t.Fatal("Track accepted a new SYN on a TIME_WAIT conn")
	}
	if c.State() != TimeWait {
		t.Fatalf("the refused SYN changed the state to %v", c.State())
	}
	n := mustCreate(t, tb, k, masq, fSYN, clk.Now())
	if n.State() != SynSent {
		t.Fatalf("reopened conn in %v", n.State())
	}
	if got, _ := mustLookup(t, tb, k); got != n {
		t.Fatal("lookup does not find the new conn")
	}
	if tb.Len() != 1 {
		t.Fatalf("Len %d after reopening, want 1", tb.Len())
	}
	if n.Reply != old.Reply {
		t.Fatalf("reopened conn got %v, want the freed %v", n.Reply, old.Reply)
	}
	// Create with a non-SYN on a TIME_WAIT conn returns it unchanged.
	tb.Track(n, Reply, fRST, clk.Now())
	if got := mustCreate(t, tb, k, masq, fACK, clk.Now()); got != n || n.State() != Close {
		t.Fatalf("Create with ACK on a CLOSE conn: %p state %v", got, n.State())
	}
}

func TestNextPure(t *testing.T) {
	// UDP: an original packet on an assured conn keeps it assured.
	w, _ := next(17, uint32(Unreplied), Reply, 0)
	w2, _ := next(17, w, Original, 0)
	if State(w2&wState) != Assured || w2&wAssured == 0 {
		t.Fatalf("udp assured lost: %#x", w2)
	}
	// TCP SYN_RECV with a reply is not yet assured; established is.
	w, _ = next(6, uint32(SynSent), Reply, fSYNACK)
	if w&wAssured != 0 {
		t.Fatal("assured before the handshake completed")
	}
	w, _ = next(6, w, Original, fACK)
	if w&wAssured == 0 {
		t.Fatal("not assured after the handshake")
	}
	if earlyDroppable(6, w) {
		t.Fatal("an assured established conn is early-droppable")
	}
	w, _ = next(6, w, Reply, fRST)
	if !earlyDroppable(6, w) {
		t.Fatal("a reset conn is not early-droppable")
	}
}

// TestConcurrentTrackKeepsDeadlineOfState: one worker forwards data (each
// packet would extend the deadline by days) while the other forwards a
// reset. Whatever the interleaving, the conn must end with CLOSE's 10 s,
// never ESTABLISHED's 5 days: a refresh computed from the old state may
// not overwrite the state change's deadline.
func TestConcurrentTrackKeepsDeadlineOfState(t *testing.T) {
	tb, clk := newTestTable(t, Config{})
	for trial := range 300 {
		c := mustCreate(t, tb, tcp(client, uint16(trial), server, 80), Rewrite{}, fACK, clk.Now())
		tb.Track(c, Reply, fACK, clk.Now())
		base := clk.Now()
		var wg sync.WaitGroup
		var progress atomic.Int64
		const n = 4000
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range n {
				progress.Store(int64(i))
				tb.Track(c, Original, fPSHACK, base+int64(i)*int64(2*time.Second))
			}
		}()
		go func() {
			defer wg.Done()
			// Reset while the data worker is mid-stream, so the two overlap.
			for progress.Load() < int64(trial%50)*10 {
			}
			tb.Track(c, Reply, fRST, base+progress.Load()*int64(2*time.Second))
		}()
		wg.Wait()
		if c.State() != Close {
			t.Fatalf("trial %d: state %v", trial, c.State())
		}
		if left := time.Duration(c.Deadline() - base); left > n*2*time.Second+DefaultTimeouts.TCPClose {
			t.Fatalf("trial %d: a CLOSE conn got %v", trial, left)
		}
	}
}
