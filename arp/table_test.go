package arp

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vswitch/header"
)

var (
	ipA  = netip.MustParseAddr("10.0.0.2")
	macA = header.MAC{0x02, 0, 0, 0, 0, 0xa}
	macB = header.MAC{0x02, 0, 0, 0, 0, 0xb}
)

// t0 is an arbitrary base: now values are nanoseconds on any fixed base.
const t0 = int64(1_000_000 * time.Second)

func at(d time.Duration) int64 { return t0 + int64(d) }

// peek reads an entry without Lookup's side effect (marking stale entries used).
func peek(tb *Table, ip netip.Addr) (header.MAC, uint16, State) {
	n := (*tb.snap.Load())[ip]
	if n == nil {
		return header.MAC{}, 0, None
	}
	l := n.cur.Load()
	return l.mac, l.port, l.state
}

func TestStateString(t *testing.T) {
	want := map[State]string{None: "none", Incomplete: "incomplete", Reachable: "reachable",
		Stale: "stale", Failed: "failed", Permanent: "permanent", State(42): "State(42)"}
	for s, w := range want {
		if s.String() != w {
			t.Errorf("State(%d).String() = %q, want %q", uint8(s), s.String(), w)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := New(Config{}).Config()
	want := Config{ReachableTime: 30 * time.Second, RetransTime: time.Second, MaxProbes: 3,
		DelayProbeTime: 5 * time.Second, QueueLen: 3, FailedKeep: 15 * time.Second,
		GCTime: 60 * time.Second, MaxEntries: 1024}
	if c != want {
		t.Errorf("defaults = %+v, want %+v", c, want)
	}
	c = New(Config{QueueLen: 8, RetransTime: -1}).Config()
	if c.QueueLen != 8 || c.RetransTime != time.Second {
		t.Errorf("QueueLen 8, RetransTime -1 gave %+v", c)
	}
}

// step is one event of a state-machine case, on ipA, and what must follow.
type step struct {
	at time.Duration
	do string // resolve (queues a frame), reply, request, use (Lookup), tick, permanent
	// for reply, request, permanent (macA if zero); create for reply/request
	mac    header.MAC
	create bool

	state   State      // state of ipA after the step
	wantMAC header.MAC // if set, the entry's MAC after the step
	request bool       // resolve: Action.Request
	ready   bool       // resolve: Action.Ready
	probes  int        // tick: requests returned
	unicast bool       // tick: the requests are unicast polls
	failed  int        // tick: failures returned
	frames  int        // frames released (reply, request, permanent) or failed (tick)
}

func TestStateMachine(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	reachable := []step{
		{at: 0, do: "resolve", state: Incomplete, request: true},
		{at: 0, do: "reply", state: Reachable, frames: 1},
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"reply resolves and releases the queue", []step{
			{at: 0, do: "resolve", state: Incomplete, request: true},
			{at: 500 * ms, do: "resolve", state: Incomplete},
			{at: 999 * ms, do: "tick", state: Incomplete},
			{at: 1 * s, do: "tick", state: Incomplete, probes: 1},
			{at: 1500 * ms, do: "reply", state: Reachable, wantMAC: macA, frames: 2},
			{at: 2 * s, do: "tick", state: Reachable},
			{at: 3 * s, do: "resolve", state: Reachable, ready: true},
		}},
		{"three unanswered requests fail and release the queue", []step{
			{at: 0, do: "resolve", state: Incomplete, request: true},
			{at: 1 * s, do: "tick", state: Incomplete, probes: 1},
			{at: 1500 * ms, do: "resolve", state: Incomplete},
			{at: 1600 * ms, do: "tick", state: Incomplete},
			{at: 2 * s, do: "tick", state: Incomplete, probes: 1},
			{at: 2999 * ms, do: "tick", state: Incomplete},
			{at: 3 * s, do: "tick", state: Failed, failed: 1, frames: 2},
			{at: 4 * s, do: "use", state: Failed},
			{at: 17999 * ms, do: "tick", state: Failed},
			{at: 18 * s, do: "tick", state: None},
		}},
		{"the next frame retries a failed entry", []step{
			{at: 0, do: "resolve", state: Incomplete, request: true},
			{at: 1 * s, do: "tick", state: Incomplete, probes: 1},
			{at: 2 * s, do: "tick", state: Incomplete, probes: 1},
			{at: 3 * s, do: "tick", state: Failed, failed: 1, frames: 1},
			{at: 5 * s, do: "resolve", state: Incomplete, request: true},
			{at: 5500 * ms, do: "resolve", state: Incomplete},
			{at: 6 * s, do: "tick", state: Incomplete, probes: 1},
			{at: 6500 * ms, do: "reply", state: Reachable, frames: 2},
		}},
		{"a late answer revives a failed entry", []step{
			{at: 0, do: "resolve", state: Incomplete, request: true},
			{at: 1 * s, do: "tick", state: Incomplete, probes: 1},
			{at: 2 * s, do: "tick", state: Incomplete, probes: 1},
			{at: 3 * s, do: "tick", state: Failed, failed: 1, frames: 1},
			{at: 4 * s, do: "reply", state: Reachable, wantMAC: macA},
		}},
		{"a request from the neighbour resolves it as stale", []step{
			{at: 0, do: "resolve", state: Incomplete, request: true},
			{at: 200 * ms, do: "request", state: Stale, wantMAC: macA, frames: 1},
			{at: 1 * s, do: "tick", state: Stale},
		}},
		{"reachable goes stale, then unused stale is collected", append(reachable, []step{
			{at: 29999 * ms, do: "tick", state: Reachable},
			{at: 30 * s, do: "tick", state: Stale},
			{at: 89999 * ms, do: "tick", state: Stale},
			{at: 90 * s, do: "tick", state: None},
		}...)},
		{"a late tick dates staleness from the confirmation", append(reachable, []step{
			{at: 50 * s, do: "tick", state: Stale},
			{at: 90 * s, do: "tick", state: None},
		}...)},
		{"a reply refreshes a reachable entry", append(reachable, []step{
			{at: 20 * s, do: "reply", state: Reachable},
			{at: 49 * s, do: "tick", state: Reachable},
			{at: 50 * s, do: "tick", state: Stale},
		}...)},
		{"a stale entry in use is polled and confirmed", append(reachable, []step{
			{at: 30 * s, do: "tick", state: Stale},
			{at: 31 * s, do: "use", state: Stale},
			{at: 31 * s, do: "tick", state: Stale},
			{at: 35999 * ms, do: "tick", state: Stale},
			{at: 36 * s, do: "tick", state: Stale, probes: 1, unicast: true},
			{at: 37 * s, do: "tick", state: Stale, probes: 1, unicast: true},
			{at: 37500 * ms, do: "reply", state: Reachable},
			{at: 38 * s, do: "tick", state: Reachable},
			{at: 67 * s, do: "tick", state: Reachable},
			{at: 67500 * ms, do: "tick", state: Stale},
		}...)},
		{"an unanswered poll fails the entry", append(reachable, []step{
			{at: 30 * s, do: "tick", state: Stale},
			{at: 31 * s, do: "use", state: Stale},
			{at: 32 * s, do: "tick", state: Stale},
			{at: 37 * s, do: "tick", state: Stale, probes: 1, unicast: true},
			{at: 38 * s, do: "tick", state: Stale, probes: 1, unicast: true},
			{at: 39 * s, do: "tick", state: Stale, probes: 1, unicast: true},
			{at: 40 * s, do: "tick", state: Failed, failed: 1},
			{at: 41 * s, do: "resolve", state: Incomplete, request: true},
		}...)},
		{"a stale entry used is not collected", append(reachable, []step{
			{at: 30 * s, do: "tick", state: Stale},
			{at: 89 * s, do: "use", state: Stale},
			{at: 90 * s, do: "tick", state: Stale},
			{at: 91 * s, do: "reply", state: Reachable},
		}...)},
		{"a request with the same address keeps reachable", append(reachable, []step{
			{at: 10 * s, do: "request", state: Reachable, wantMAC: macA},
			{at: 30 * s, do: "tick", state: Stale},
		}...)},
		{"a new address from a request makes it stale", append(reachable, []step{
			{at: 10 * s, do: "request", mac: macB, state: Stale, wantMAC: macB},
		}...)},
		{"a new address from a reply updates reachable", append(reachable, []step{
			{at: 10 * s, do: "reply", mac: macB, state: Reachable, wantMAC: macB},
		}...)},
		{"an unsolicited reply makes no entry", []step{
			{at: 0, do: "reply", state: None},
			{at: 0, do: "request", state: None},
		}},
		{"a request for one of ours makes a stale entry", []step{
			{at: 0, do: "request", create: true, state: Stale, wantMAC: macA},
			{at: 59 * s, do: "tick", state: Stale},
			{at: 60 * s, do: "tick", state: None},
		}},
		{"permanent never ages nor changes", []step{
			{at: 0, do: "permanent", state: Permanent, wantMAC: macA},
			{at: 1 * s, do: "reply", mac: macB, state: Permanent, wantMAC: macA},
			{at: 2 * s, do: "request", mac: macB, state: Permanent, wantMAC: macA},
			{at: 3 * s, do: "use", state: Permanent},
			{at: 1000 * s, do: "tick", state: Permanent},
			{at: 100000 * s, do: "tick", state: Permanent},
			{at: 100001 * s, do: "resolve", state: Permanent, ready: true},
		}},
		{"permanent releases what waited", []step{
			{at: 0, do: "resolve", state: Incomplete, request: true},
			{at: 0, do: "resolve", state: Incomplete},
			{at: 1 * s, do: "permanent", state: Permanent, frames: 2},
			{at: 4 * s, do: "tick", state: Permanent},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := New(Config{})
			for i, st := range c.steps {
				now := at(st.at)
				mac := st.mac
				if mac.IsZero() {
					mac = macA
				}
				var frames int
				switch st.do {
				case "resolve":
					a := tb.Resolve(ipA, 1, []byte{byte(i)}, now)
					if a.Request != st.request || a.Ready != st.ready || a.Queued == st.ready || a.Drop != "" {
						t.Fatalf("step %d (%s at %v): Resolve = %+v, want Request %v Ready %v",
							i, st.do, st.at, a, st.request, st.ready)
					}
				case "reply", "request":
					frames = len(tb.Learn(ipA, mac, 1, now, st.do == "reply", st.create))
				case "use":
					_, _, s, ok := tb.Lookup(ipA)
					if s != st.state || ok != s.Usable() {
						t.Fatalf("step %d: Lookup = %v %v, want %v", i, s, ok, st.state)
					}
				case "permanent":
					rel, err := tb.SetPermanent(ipA, mac, 1)
					if err != nil {
						t.Fatal(err)
					}
					frames = len(rel)
				case "tick":
					probes, failed := tb.Tick(now)
					if len(probes) != st.probes || len(failed) != st.failed {
						t.Fatalf("step %d (tick at %v): %d probes %d failed, want %d and %d",
							i, st.at, len(probes), len(failed), st.probes, st.failed)
					}
					for _, p := range probes {
						if p.IP != ipA || p.Port != 1 || p.Unicast() != st.unicast {
							t.Fatalf("step %d: probe %+v, want unicast %v", i, p, st.unicast)
						}
						if st.unicast && p.Dst != macA {
							t.Fatalf("step %d: poll to %v, want %v", i, p.Dst, macA)
						}
					}
					for _, f := range failed {
						frames += len(f.Frames)
					}
				default:
					t.Fatalf("bad step %q", st.do)
				}
				if frames != st.frames {
					t.Fatalf("step %d (%s at %v): %d frames, want %d", i, st.do, st.at, frames, st.frames)
				}
				gotMAC, _, s := peek(tb, ipA)
				if s != st.state {
					t.Fatalf("step %d (%s at %v): state %v, want %v", i, st.do, st.at, s, st.state)
				}
				if !st.wantMAC.IsZero() && gotMAC != st.wantMAC {
					t.Fatalf("step %d: MAC %v, want %v", i, gotMAC, st.wantMAC)
				}
			}
		})
	}
}

func TestQueueBound(t *testing.T) {
	tb := New(Config{QueueLen: 3})
	var drops int
	for i := range 5 {
		a := tb.Resolve(ipA, 1, []byte{byte(i)}, t0)
		if !a.Queued {
			t.Fatalf("frame %d not queued: %+v", i, a)
		}
		if a.Drop != "" {
			if a.Drop != ReasonQueueFull {
				t.Fatalf("drop reason %q", a.Drop)
			}
			drops++
		}
	}
	if drops != 2 || tb.Stats().QueueFull != 2 {
		t.Fatalf("%d drops (stats %d), want 2", drops, tb.Stats().QueueFull)
	}
	if e := tb.Entries(t0); len(e) != 1 || e[0].Queued != 3 {
		t.Fatalf("entries %+v, want one with 3 queued", e)
	}
	rel := tb.Learn(ipA, macA, 1, t0, true, false)
	// The oldest were dropped: the newest three remain, in order.
	if len(rel) != 3 || rel[0][0] != 2 || rel[1][0] != 3 || rel[2][0] != 4 {
		t.Fatalf("released %v, want [[2] [3] [4]]", rel)
	}
}

func TestResolveCopiesFrame(t *testing.T) {
	tb := New(Config{})
	buf := []byte{1, 2, 3}
	tb.Resolve(ipA, 1, buf, t0)
	buf[0] = 9
	if rel := tb.Learn(ipA, macA, 1, t0, true, false); len(rel) != 1 || rel[0][0] != 1 {
		t.Fatalf("released %v: the queue must hold a copy", rel)
	}
	// nil starts a resolution with nothing queued.
	ipB := netip.MustParseAddr("10.0.0.3")
	if a := tb.Resolve(ipB, 1, nil, t0); !a.Request || a.Queued {
		t.Fatalf("Resolve(nil) = %+v", a)
	}
}

func TestInvalid(t *testing.T) {
	tb := New(Config{})
	for _, s := range []string{"0.0.0.0", "224.0.0.1", "255.255.255.255", "::ffff:10.0.0.1",
		"::", "::1", "ff02::1:ff00:1", "fe80::1", "fe80::1%eth0"} {
		ip := netip.MustParseAddr(s)
		if a := tb.Resolve(ip, 1, []byte{1}, t0); a.Drop != ReasonInvalid || a.Queued || a.Request {
			t.Errorf("Resolve(%v) = %+v", ip, a)
		}
		tb.Learn(ip, macA, 1, t0, true, true)
		if _, err := tb.SetPermanent(ip, macA, 1); err == nil {
			t.Errorf("SetPermanent(%v) accepted", ip)
		}
	}
	tb.Learn(ipA, header.MAC{}, 1, t0, true, true)
	tb.Learn(ipA, header.BroadcastMAC, 1, t0, true, true)
	tb.Learn(ipA, header.MAC{0x01, 0, 0x5e, 0, 0, 1}, 1, t0, true, true)
	if _, err := tb.SetPermanent(ipA, header.MAC{}, 1); err == nil {
		t.Error("SetPermanent with zero MAC accepted")
	}
	if tb.Len() != 0 {
		t.Fatalf("invalid input made entries: %+v", tb.Entries(t0))
	}
	if _, _, s, ok := tb.Lookup(netip.Addr{}); ok || s != None {
		t.Fatal("Lookup of the zero Addr hit")
	}
}

func TestTableFull(t *testing.T) {
	tb := New(Config{MaxEntries: 4})
	ip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}) }
	if _, err := tb.SetPermanent(ip(100), macA, 1); err != nil { // does not count
		t.Fatal(err)
	}
	for i := range 4 {
		tb.Resolve(ip(i), 1, []byte{1}, t0)
	}
	if a := tb.Resolve(ip(4), 1, []byte{1}, t0); a.Drop != ReasonTableFull || a.Queued {
		t.Fatalf("fifth entry: %+v, want %s", a, ReasonTableFull)
	}
	tb.Learn(ip(5), macB, 1, t0, false, true)
	if _, _, s := peek(tb, ip(5)); s != None {
		t.Fatalf("Learn beyond MaxEntries made a %v entry", s)
	}
	// Resolve ip(0) as stale and unused, fail the others: all reclaimable.
	tb.Learn(ip(0), macB, 1, t0, false, false)
	for _, d := range []time.Duration{1, 2, 3} {
		tb.Tick(at(d * time.Second))
	}
	if a := tb.Resolve(ip(4), 1, []byte{1}, at(4*time.Second)); !a.Request {
		t.Fatalf("after failures, Resolve = %+v", a)
	}
	if st := tb.Stats(); st.Entries != 2 || st.TableFull != 2 || st.Failures != 3 || st.Unreach != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDeleteFlushPort(t *testing.T) {
	tb := New(Config{})
	ip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 2, byte(i)}) }
	tb.SetPermanent(ip(1), macA, 1)
	tb.Learn(ip(2), macB, 1, t0, false, true)
	tb.Resolve(ip(3), 1, []byte{1}, t0)
	tb.Resolve(ip(3), 1, []byte{2}, t0)
	tb.Resolve(ip(4), 2, []byte{1}, t0)
	if n := tb.FlushPort(1); n != 3 {
		t.Fatalf("FlushPort removed %d, want 3", n)
	}
	if e := tb.Entries(t0); len(e) != 1 || e[0].IP != ip(4) {
		t.Fatalf("left %+v", e)
	}
	if tb.Delete(ip(3)) || !tb.Delete(ip(4)) || tb.Len() != 0 {
		t.Fatal("Delete")
	}
	if st := tb.Stats(); st.Flushed != 3 {
		t.Fatalf("Flushed %d, want 3", st.Flushed)
	}
}

func TestEntries(t *testing.T) {
	tb := New(Config{})
	ips := []string{"10.0.0.20", "10.0.0.3", "192.168.1.1", "10.0.0.100"}
	for i, s := range ips {
		tb.Learn(netip.MustParseAddr(s), macB, uint16(i), t0, true, true)
	}
	tb.Resolve(netip.MustParseAddr("10.0.0.4"), 7, []byte{1}, t0)
	tb.SetPermanent(netip.MustParseAddr("10.0.0.1"), macA, 9)
	es := tb.Entries(at(5 * time.Second))
	want := []string{"10.0.0.1", "10.0.0.3", "10.0.0.4", "10.0.0.20", "10.0.0.100", "192.168.1.1"}
	if len(es) != len(want) {
		t.Fatalf("%d entries", len(es))
	}
	for i, e := range es {
		if e.IP.String() != want[i] {
			t.Fatalf("entry %d is %v, want %s", i, e.IP, want[i])
		}
	}
	if e := es[0]; e.State != Permanent || e.MAC != macA || e.Port != 9 || e.Age != 0 {
		t.Errorf("permanent %+v", e)
	}
	if e := es[2]; e.State != Incomplete || !e.MAC.IsZero() || e.Port != 7 || e.Queued != 1 || e.Probes != 1 || e.Age != 5*time.Second {
		t.Errorf("incomplete %+v", e)
	}
	if e := es[1]; e.State != Reachable || e.MAC != macB || e.Updated != t0 || e.Age != 5*time.Second {
		t.Errorf("reachable %+v", e)
	}
}

// frameFor makes a unique, traceable frame: the next hop, then a serial.
func frameFor(ip netip.Addr, id uint64) []byte {
	b := make([]byte, 12)
	a := ip.As4()
	copy(b, a[:])
	binary.BigEndian.PutUint64(b[4:], id)
	return b
}

// TestConservation drives the table with random operations and checks that
// every queued frame comes out exactly once — released, failed, dropped,
// flushed, or still waiting — in order, for the right address, and that
// Lookup and Entries agree.
func TestConservation(t *testing.T) {
	var totOut, totFull, totFlushed, totWaiting uint64
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		tb := New(Config{MaxEntries: 6, QueueLen: 2})
		ips := make([]netip.Addr, 10)
		for i := range ips {
			ips[i] = netip.AddrFrom4([4]byte{10, 0, 3, byte(i + 1)})
		}
		now := t0
		var id, queued, out, queueFull uint64
		seen := map[uint64]bool{}
		lastOut := map[netip.Addr]uint64{}
		take := func(frames [][]byte, ip netip.Addr) {
			for _, f := range frames {
				fid := binary.BigEndian.Uint64(f[4:])
				if netip.AddrFrom4([4]byte(f[:4])) != ip || seen[fid] || fid <= lastOut[ip] {
					t.Fatalf("seed %d: frame %d for %v out twice, late or for %v", seed, fid, f[:4], ip)
				}
				seen[fid] = true
				lastOut[ip] = fid
				out++
			}
		}
		for range 3000 {
			ip := ips[r.IntN(len(ips))]
			mac := header.MAC{0x02, 0, 0, 0, byte(r.IntN(2)), ip.As4()[3]}
			switch k := r.IntN(100); {
			case k < 40:
				id++
				a := tb.Resolve(ip, uint16(r.IntN(3)), frameFor(ip, id), now)
				if a.Queued {
					queued++
				}
				if a.Queued && a.Drop == ReasonQueueFull {
					queueFull++
				}
			case k < 55:
				take(tb.Learn(ip, mac, uint16(r.IntN(3)), now, r.IntN(2) == 0, r.IntN(2) == 0), ip)
			case k < 65:
				tb.Lookup(ip)
			case k < 90:
				now += int64(r.IntN(3000)) * int64(time.Millisecond)
				_, failed := tb.Tick(now)
				for _, f := range failed {
					take(f.Frames, f.IP)
				}
			case k < 93:
				rel, _ := tb.SetPermanent(ip, mac, 0)
				take(rel, ip)
			case k < 97:
				tb.Delete(ip)
			default:
				tb.FlushPort(uint16(r.IntN(3)))
			}
		}
		var waiting uint64
		for _, e := range tb.Entries(now) {
			waiting += uint64(e.Queued)
			if e.Queued > 2 {
				t.Fatalf("seed %d: %v has %d queued", seed, e.IP, e.Queued)
			}
			_, _, s, _ := tb.Lookup(e.IP)
			if s != e.State {
				t.Fatalf("seed %d: Lookup says %v, Entries %v", seed, s, e.State)
			}
		}
		st := tb.Stats()
		if st.QueueFull != queueFull {
			t.Fatalf("seed %d: QueueFull %d, Actions said %d", seed, st.QueueFull, queueFull)
		}
		totOut, totFull, totFlushed, totWaiting = totOut+out, totFull+queueFull, totFlushed+st.Flushed, totWaiting+waiting
		if got := out + queueFull + st.Flushed + waiting; got != queued {
			t.Fatalf("seed %d: %d queued, %d accounted for (out %d, full %d, flushed %d, waiting %d)",
				seed, queued, got, out, queueFull, st.Flushed, waiting)
		}
	}
	// Every way out must have been taken, or the test proves little.
	if totOut == 0 || totFull == 0 || totFlushed == 0 || totWaiting == 0 {
		t.Fatalf("out %d, full %d, flushed %d, waiting %d: a path never ran", totOut, totFull, totFlushed, totWaiting)
	}
	t.Logf("frames out %d, dropped full %d, flushed %d, waiting %d", totOut, totFull, totFlushed, totWaiting)
}

// TestConcurrentLookup runs lock-free readers against a writer that changes
// every entry's state and address; under -race it checks the publication,
// and each reader checks it never pairs a usable state with a MAC that entry
// never had (such as the zero MAC of a failed entry).
func TestConcurrentLookup(t *testing.T) {
	tb := New(Config{MaxEntries: 32})
	ips := make([]netip.Addr, 48)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 0, 4, byte(i + 1)})
	}
	macFor := func(ip netip.Addr, gen int) header.MAC {
		return header.MAC{0x02, 0, 0, 0, byte(gen), ip.As4()[3]}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var hits atomic.Int64
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				for _, ip := range ips {
					mac, _, s, ok := tb.Lookup(ip)
					if ok != s.Usable() {
						t.Errorf("%v: ok %v with state %v", ip, ok, s)
					}
					if ok && (mac[0] != 0x02 || mac[5] != ip.As4()[3]) {
						t.Errorf("%v: usable (%v) with MAC %v", ip, s, mac)
						return
					}
					if ok {
						hits.Add(1)
					}
				}
			}
		})
	}
	r := rand.New(rand.NewPCG(1, 2))
	now := t0
	for i := range 20000 {
		ip := ips[r.IntN(len(ips))]
		switch r.IntN(10) {
		case 0, 1, 2:
			tb.Resolve(ip, 1, []byte{1}, now)
		case 3, 4, 5:
			tb.Learn(ip, macFor(ip, i), 1, now, r.IntN(2) == 0, true)
		case 6, 7:
			now += int64(r.IntN(2000)) * int64(time.Millisecond)
			tb.Tick(now)
		case 8:
			tb.Delete(ip)
		default:
			if r.IntN(10) == 0 {
				tb.SetPermanent(ip, macFor(ip, i), 2)
			} else {
				tb.FlushPort(2)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	if hits.Load() == 0 {
		t.Fatal("readers never hit a usable entry")
	}
}

func TestLookupAllocs(t *testing.T) {
	tb := New(Config{})
	tb.Learn(ipA, macA, 1, t0, true, true)
	miss := netip.MustParseAddr("10.9.9.9")
	if n := testing.AllocsPerRun(100, func() {
		tb.Lookup(ipA)
		tb.Lookup(miss)
	}); n != 0 {
		t.Fatalf("Lookup allocates %v times", n)
	}
}

// TestIPv6Neighbour: a global IPv6 next hop goes through the same states as
// an IPv4 one (the dataplane asks by neighbour solicitation), in the same
// index, with the same bounded queue.
func TestIPv6Neighbour(t *testing.T) {
	tb := New(Config{QueueLen: 2})
	ip6 := netip.MustParseAddr("fd00:b::10")
	if a := tb.Resolve(ip6, 2, []byte{1}, t0); !a.Request || !a.Queued || a.Drop != "" {
		t.Fatalf("first Resolve = %+v", a)
	}
	tb.Resolve(ip6, 2, []byte{2}, t0)
	if a := tb.Resolve(ip6, 2, []byte{3}, t0); a.Drop != ReasonQueueFull || a.Request {
		t.Fatalf("third Resolve = %+v: want the oldest pushed out, no second request", a)
	}
	probes, _ := tb.Tick(t0 + int64(DefaultRetransTime))
	if len(probes) != 1 || probes[0].IP != ip6 || probes[0].Unicast() {
		t.Fatalf("probes %+v: want one multicast solicitation for %v", probes, ip6)
	}
	rel := tb.Learn(ip6, macA, 2, t0+1, true, false)
	if len(rel) != 2 || rel[0][0] != 2 || rel[1][0] != 3 {
		t.Fatalf("released %v: want the two newest frames", rel)
	}
	if mac, port, st, ok := tb.Lookup(ip6); !ok || mac != macA || port != 2 || st != Reachable {
		t.Fatalf("Lookup = %v %d %v %v", mac, port, st, ok)
	}
	if _, err := tb.SetPermanent(netip.MustParseAddr("2001:db8::1"), macA, 1); err != nil {
		t.Fatal(err)
	}
	if e := tb.Entries(t0); len(e) != 2 || !e[0].IP.Is6() {
		t.Fatalf("entries %+v", e)
	}
}
