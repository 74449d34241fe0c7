package dataplane

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"vswitch/dataplane/port"
	"vswitch/fdb"
	"vswitch/header"
	"vswitch/routing"
)

// The pipeline tier of the L2 switch: a real Dataplane with its epoll
// worker, in-memory ports, frames in, the expected frames out (byte for byte:
// L2 never modifies a frame) and the expected counters.

var (
	mcastIPv4 = header.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb} // mDNS 224.0.0.251
	mcastIPv6 = header.MAC{0x33, 0x33, 0x00, 0x00, 0x00, 0x01} // ff02::1
)

func TestUnknownUnicastFloods(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("n", fdb.Config{})
	a, b, c, d := tb.port("a", n), tb.port("b", n), tb.port("c", n), tb.port("d", n)

	// A batch of frames to a station nobody has heard from: each goes to
	// every other port of the network, in order, and never back to a.
	var frames [][]byte
	for i := range 5 {
		frames = append(frames, udpFrame(t, stationMAC(99), stationMAC(1), 60+i*100, i))
	}
	tb.send(a, frames...)
	tb.expect(map[*tport][][]byte{b: frames, c: frames, d: frames})

	if p, ok := tb.fdbPort(n, stationMAC(1)); !ok || p != a.idx {
		t.Errorf("source learned on port %d (found %v), want %d", p, ok, a.idx)
	}
	if _, ok := tb.fdbPort(n, stationMAC(99)); ok {
		t.Error("a destination was learned")
	}
	wantDrops(t, a, nil)
}

func TestBroadcastAndMulticastFlood(t *testing.T) {
	for _, tc := range []struct {
		name string
		dst  header.MAC
	}{
		{"broadcast", header.BroadcastMAC},
		{"ipv4-multicast", mcastIPv4},
		{"ipv6-multicast", mcastIPv6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t, 1)
			n := tb.network("n", fdb.Config{})
			a, b, c := tb.port("a", n), tb.port("b", n), tb.port("c", n)
			// Every station known: group addresses flood all the same.
			tb.send(b, udpFrame(t, header.BroadcastMAC, stationMAC(2), 64, 0))
			tb.send(c, udpFrame(t, header.BroadcastMAC, stationMAC(3), 64, 0))
			tb.settle()
			b.ch.Recv()
			a.ch.Recv()
			c.ch.Recv()

			f := udpFrame(t, tc.dst, stationMAC(1), 100, 1)
			tb.send(a, f)
			tb.expect(map[*tport][][]byte{b: {f}, c: {f}})
			if _, ok := tb.fdbPort(n, tc.dst); ok {
				t.Error("a group address is in the FDB")
			}
		})
	}
}

func TestLearnedUnicastToOnePort(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("n", fdb.Config{})
	a, b, c := tb.port("a", n), tb.port("b", n), tb.port("c", n)

	hello := udpFrame(t, header.BroadcastMAC, stationMAC(2), 64, 0)
	tb.send(b, hello)
	tb.expect(map[*tport][][]byte{a: {hello}, c: {hello}})

	req := udpFrame(t, stationMAC(2), stationMAC(1), 200, 1)
	tb.send(a, req)
	tb.expect(map[*tport][][]byte{b: {req}})

	// Both ends known now: the reply goes to a alone.
	resp := udpFrame(t, stationMAC(1), stationMAC(2), 1514, 2)
	tb.send(b, resp)
	tb.expect(map[*tport][][]byte{a: {resp}})

	for _, s := range []struct {
		mac  header.MAC
		port *tport
	}{{stationMAC(1), a}, {stationMAC(2), b}} {
		if p, ok := tb.fdbPort(n, s.mac); !ok || p != s.port.idx {
			t.Errorf("%s on port %d (found %v), want %s (%d)", s.mac, p, ok, s.port.name, s.port.idx)
		}
	}
	if got := tb.dp.FDB(n).Len(); got != 2 {
		t.Errorf("FDB has %d entries, want 2", got)
	}
}

func TestStationMoves(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("n", fdb.Config{})
	a, b, c := tb.port("a", n), tb.port("b", n), tb.port("c", n)
	tb.send(a, udpFrame(t, header.BroadcastMAC, stationMAC(1), 64, 0))
	tb.settle()
	b.ch.Recv()
	c.ch.Recv()

	// The station reappears behind b (a migrated container): the next frame
	// for it follows it there.
	moved := udpFrame(t, header.BroadcastMAC, stationMAC(1), 64, 1)
	tb.send(b, moved)
	tb.expect(map[*tport][][]byte{a: {moved}, c: {moved}})
	f := udpFrame(t, stationMAC(1), stationMAC(3), 64, 2)
	tb.send(c, f)
	tb.expect(map[*tport][][]byte{b: {f}})
}

func TestNetworksIsolated(t *testing.T) {
	tb := newTestbed(t, 1)
	n1 := tb.network("n1", fdb.Config{})
	n2 := tb.network("n2", fdb.Config{})
	a1, b1 := tb.port("a1", n1), tb.port("b1", n1)
	a2, b2, c2 := tb.port("a2", n2), tb.port("b2", n2), tb.port("c2", n2)

	t.Run("flood", func(t *testing.T) {
		f1 := udpFrame(t, header.BroadcastMAC, stationMAC(1), 64, 1)
		f2 := udpFrame(t, stationMAC(99), stationMAC(21), 64, 2)
		tb.send(a1, f1)
		tb.send(a2, f2)
		tb.expect(map[*tport][][]byte{b1: {f1}, b2: {f2}, c2: {f2}})
	})

	t.Run("unicast", func(t *testing.T) {
		// Station 22 lives in n2 only: n1 has never heard of it and floods
		// within itself.
		hello := udpFrame(t, header.BroadcastMAC, stationMAC(22), 64, 3)
		tb.send(b2, hello)
		tb.expect(map[*tport][][]byte{a2: {hello}, c2: {hello}})
		f := udpFrame(t, stationMAC(22), stationMAC(1), 64, 4)
		tb.send(a1, f)
		tb.expect(map[*tport][][]byte{b1: {f}})
		if _, ok := tb.fdbPort(n1, stationMAC(22)); ok {
			t.Error("n1 learned a station of n2")
		}
	})

	t.Run("same MAC in both", func(t *testing.T) {
		// The same address behind b1 and c2 is two stations: each network
		// sends to its own.
		h1 := udpFrame(t, header.BroadcastMAC, stationMAC(7), 64, 5)
		h2 := udpFrame(t, header.BroadcastMAC, stationMAC(7), 64, 6)
		tb.send(b1, h1)
		tb.send(c2, h2)
		tb.expect(map[*tport][][]byte{a1: {h1}, a2: {h2}, b2: {h2}})
		f1 := udpFrame(t, stationMAC(7), stationMAC(1), 64, 7)
		f2 := udpFrame(t, stationMAC(7), stationMAC(21), 64, 8)
		tb.send(a1, f1)
		tb.send(a2, f2)
		tb.expect(map[*tport][][]byte{b1: {f1}, c2: {f2}})
		if p, _ := tb.fdbPort(n1, stationMAC(7)); p != b1.idx {
			t.Errorf("n1: station 7 on port %d, want %d", p, b1.idx)
		}
		if p, _ := tb.fdbPort(n2, stationMAC(7)); p != c2.idx {
			t.Errorf("n2: station 7 on port %d, want %d", p, c2.idx)
		}
	})
}

func TestBadSourceMACDropped(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("n", fdb.Config{})
	a, b := tb.port("a", n), tb.port("b", n)
	srcs := []header.MAC{header.BroadcastMAC, mcastIPv4, mcastIPv6, {0x03}, {}}
	for i, src := range srcs {
		tb.send(a, udpFrame(t, header.BroadcastMAC, src, 64, i))
		tb.send(a, udpFrame(t, stationMAC(2), src, 64, i))
	}
	tb.expect(nil)
	wantDrops(t, a, map[DropReason]uint64{DropBadSrcMAC: uint64(2 * len(srcs))})
	if got := tb.dp.FDB(n).Len(); got != 0 {
		t.Errorf("FDB has %d entries, want none", got)
	}

	// The port keeps forwarding good frames.
	ok := udpFrame(t, header.BroadcastMAC, stationMAC(1), 64, 99)
	tb.send(a, ok)
	tb.expect(map[*tport][][]byte{b: {ok}})
}

func TestRuntDropped(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("n", fdb.Config{})
	a, b := tb.port("a", n), tb.port("b", n)
	full := rawFrame(header.BroadcastMAC, stationMAC(1), header.EtherTypeIPv4, nil)
	var rxBytes uint64
	for l := 0; l < header.EthernetLen; l++ {
		tb.send(a, full[:header.VirtioNetHdrLen+l])
		rxBytes += uint64(l)
	}
	tb.expect(nil)
	wantDrops(t, a, map[DropReason]uint64{DropMalformed: header.EthernetLen})
	if got, want := a.stats.RxPackets.Load(), uint64(header.EthernetLen); got != want {
		t.Errorf("rx packets %d, want %d", got, want)
	}
	if got := a.stats.RxBytes.Load(); got != rxBytes {
		t.Errorf("rx bytes %d, want %d", got, rxBytes)
	}

	// A bare 14-byte header is the shortest frame L2 forwards.
	tb.send(a, full)
	tb.expect(map[*tport][][]byte{b: {full}})
	wantDrops(t, a, map[DropReason]uint64{DropMalformed: header.EthernetLen})
}

func TestMACLimit(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("n", fdb.Config{MACLimit: 2})
	a, b := tb.port("a", n), tb.port("b", n)

	f1 := udpFrame(t, header.BroadcastMAC, stationMAC(1), 64, 1)
	f2 := udpFrame(t, header.BroadcastMAC, stationMAC(2), 64, 2)
	f3 := udpFrame(t, header.BroadcastMAC, stationMAC(3), 64, 3)
	tb.send(a, f1, f2, f3)
	tb.expect(map[*tport][][]byte{b: {f1, f2}})
	wantDrops(t, a, map[DropReason]uint64{DropMACLimit: 1})
	if got := tb.dp.FDB(n).PortCount(a.idx); got != 2 {
		t.Errorf("port a has %d MACs, want 2", got)
	}
	if _, ok := tb.fdbPort(n, stationMAC(3)); ok {
		t.Error("the third MAC was learned")
	}

	// Known stations keep talking; the limit is per port, so b learns its
	// own; a frame for the refused station floods.
	again := udpFrame(t, header.BroadcastMAC, stationMAC(1), 80, 4)
	tb.send(a, again)
	g1 := udpFrame(t, stationMAC(3), stationMAC(11), 64, 5)
	g2 := udpFrame(t, stationMAC(1), stationMAC(12), 64, 6)
	tb.send(b, g1, g2)
	tb.expect(map[*tport][][]byte{a: {g1, g2}, b: {again}})
	wantDrops(t, a, map[DropReason]uint64{DropMACLimit: 1})
	wantDrops(t, b, nil)
}

func TestSamePortDropped(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("n", fdb.Config{})
	a, b := tb.port("a", n), tb.port("b", n)
	// Two stations behind a (a port to another bridge): a frame between them
	// must not come back out of a, nor go to b.
	h1 := udpFrame(t, header.BroadcastMAC, stationMAC(1), 64, 1)
	h2 := udpFrame(t, header.BroadcastMAC, stationMAC(2), 64, 2)
	tb.send(a, h1, h2)
	tb.expect(map[*tport][][]byte{b: {h1, h2}})
	tb.send(a, udpFrame(t, stationMAC(2), stationMAC(1), 64, 3))
	tb.expect(nil)
	wantDrops(t, a, map[DropReason]uint64{DropSamePort: 1})
}

func TestNoDestination(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("alone", fdb.Config{})
	a := tb.port("a", n)
	tb.send(a, udpFrame(t, header.BroadcastMAC, stationMAC(1), 64, 0))
	tb.expect(nil)
	wantDrops(t, a, map[DropReason]uint64{DropNoDest: 1})
}

// TestAging moves the injected clock past the aging time and lets the
// dataplane's own aging loop (a real one-second ticker reading the fake
// clock) expire the entries: unicast to the forgotten station floods again.
func TestAging(t *testing.T) {
	const aging = 30 * time.Second
	tb := newTestbed(t, 1)
	n := tb.network("n", fdb.Config{Aging: aging})
	a, b, c := tb.port("a", n), tb.port("b", n), tb.port("c", n)

	hello := udpFrame(t, header.BroadcastMAC, stationMAC(2), 64, 0)
	tb.send(b, hello)
	tb.expect(map[*tport][][]byte{a: {hello}, c: {hello}})
	f := udpFrame(t, stationMAC(2), stationMAC(1), 64, 1)
	tb.send(a, f)
	tb.expect(map[*tport][][]byte{b: {f}})

	// Station 1 keeps talking halfway through; station 2 falls silent.
	tb.clock.Advance(aging / 2)
	tb.send(a, f)
	tb.expect(map[*tport][][]byte{b: {f}})
	tb.clock.Advance(aging/2 + time.Second)

	deadline := time.Now().Add(5 * time.Second)
	for {
		_, ok := tb.fdbPort(n, stationMAC(2))
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the aging loop did not expire station 2")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p, ok := tb.fdbPort(n, stationMAC(1)); !ok || p != a.idx {
		t.Errorf("station 1, refreshed %v ago, was aged out", aging/2+time.Second)
	}
	tb.send(a, f)
	tb.expect(map[*tport][][]byte{b: {f}, c: {f}})

	// Age itself, driven by the same clock, finds station 1 once it is
	// silent (unless the loop got there first).
	tb.clock.Advance(aging + time.Second)
	tb.dp.FDB(n).Age(tb.clock.Now().UnixNano())
	if got := tb.dp.FDB(n).Len(); got != 0 {
		t.Errorf("FDB has %d entries after everyone fell silent, want 0", got)
	}
}

func TestCounters(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("n", fdb.Config{})
	a, b, c := tb.port("a", n), tb.port("b", n), tb.port("c", n)

	hello := udpFrame(t, header.BroadcastMAC, stationMAC(2), 100, 0)
	tb.send(b, hello)
	tb.settle()
	u1 := udpFrame(t, stationMAC(2), stationMAC(1), 60, 1)
	u2 := udpFrame(t, stationMAC(2), stationMAC(1), 200, 2)
	u3 := udpFrame(t, stationMAC(2), stationMAC(1), 1514, 3)
	runt := rawFrame(stationMAC(2), stationMAC(1), 0, nil)[:header.VirtioNetHdrLen+10]
	bc := udpFrame(t, header.BroadcastMAC, stationMAC(1), 80, 4)
	tb.send(a, u1, u2, runt, u3, bc)
	tb.expect(map[*tport][][]byte{a: {hello}, b: {u1, u2, u3, bc}, c: {hello, bc}})

	type counts struct{ rxP, rxB, txP, txB uint64 }
	for _, tc := range []struct {
		p    *tport
		want counts
	}{
		{a, counts{5, 60 + 200 + 10 + 1514 + 80, 1, 100}},
		{b, counts{1, 100, 4, 60 + 200 + 1514 + 80}},
		{c, counts{0, 0, 2, 100 + 80}},
	} {
		s := tc.p.stats
		got := counts{s.RxPackets.Load(), s.RxBytes.Load(), s.TxPackets.Load(), s.TxBytes.Load()}
		if got != tc.want {
			t.Errorf("port %s: rx %d/%dB tx %d/%dB, want rx %d/%dB tx %d/%dB", tc.p.name,
				got.rxP, got.rxB, got.txP, got.txB, tc.want.rxP, tc.want.rxB, tc.want.txP, tc.want.txB)
		}
		if s.RxGSO.Load() != 0 || s.TxGSO.Load() != 0 {
			t.Errorf("port %s: GSO counted for plain frames", tc.p.name)
		}
	}
	wantDrops(t, a, map[DropReason]uint64{DropMalformed: 1})
	wantDrops(t, b, nil)
	wantDrops(t, c, nil)
	if got := a.stats.DropMap(); len(got) != 1 || got["malformed"] != 1 {
		t.Errorf("DropMap %v, want map[malformed:1]", got)
	}
}

// TestGSOForwarded checks that a TSO super-frame crosses the switch whole,
// its virtio_net_hdr (flags, gso_type, gso_size, csum_start/offset) and
// partial checksum untouched, and is counted as GSO on both sides.
func TestGSOForwarded(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("n", fdb.Config{})
	a, b, c := tb.port("a", n), tb.port("b", n), tb.port("c", n)
	hello := udpFrame(t, header.BroadcastMAC, stationMAC(2), 64, 0)
	tb.send(b, hello)
	tb.settle()
	a.ch.Recv()
	c.ch.Recv()

	super := gsoTCPFrame(t, stationMAC(2), stationMAC(1), 45)
	if len(super) > port.BufSize {
		t.Fatalf("test frame of %d bytes exceeds BufSize", len(super))
	}
	ecn := gsoTCPFrame(t, stationMAC(99), stationMAC(1), 10)
	header.VirtioNetHdr(ecn).SetGSOType(header.VirtioGSOTCPv4 | header.VirtioGSOECN)
	tb.send(a, super, ecn)
	tb.expect(map[*tport][][]byte{b: {super, ecn}, c: {ecn}})

	want := []byte{1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0} // NEEDS_CSUM, TCPv4, 54, 1448, 34, 16
	if !bytes.Equal(super[:header.VirtioNetHdrLen], want) {
		t.Fatalf("test frame's virtio_net_hdr % x, want % x", super[:header.VirtioNetHdrLen], want)
	}
	for _, tc := range []struct {
		name           string
		got, wantCount uint64
	}{
		{"a rx gso", a.stats.RxGSO.Load(), 2},
		{"b tx gso", b.stats.TxGSO.Load(), 2},
		{"c tx gso", c.stats.TxGSO.Load(), 1},
		{"a rx bytes", a.stats.RxBytes.Load(), frameLen(super) + frameLen(ecn)},
		{"b tx bytes", b.stats.TxBytes.Load(), frameLen(super) + frameLen(ecn)},
		{"c tx bytes", c.stats.TxBytes.Load(), frameLen(hello) + frameLen(ecn)},
	} {
		if tc.got != tc.wantCount {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.wantCount)
		}
	}
}

// TestRemovePortUnderTraffic removes a port while two others keep sending to
// it: no panic, nothing written to it once RemovePort has returned, its FDB
// entries gone, and the frames for its station flooded to the rest.
func TestRemovePortUnderTraffic(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("n", fdb.Config{})
	a, b, c := tb.port("a", n), tb.port("b", n), tb.port("c", n)
	tb.send(c, udpFrame(t, header.BroadcastMAC, stationMAC(3), 64, 0))
	tb.send(a, udpFrame(t, header.BroadcastMAC, stationMAC(1), 64, 0))
	tb.send(b, udpFrame(t, header.BroadcastMAC, stationMAC(2), 64, 0))
	tb.settle()

	toC := [][]byte{
		udpFrame(t, stationMAC(3), stationMAC(1), 64, 1),
		udpFrame(t, header.BroadcastMAC, stationMAC(1), 64, 2),
	}
	fromB := udpFrame(t, stationMAC(3), stationMAC(2), 64, 3)
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			for tb.backlog() > 256 { // let the worker keep up
				time.Sleep(50 * time.Microsecond)
			}
			tb.send(a, toC[i%2])
			tb.send(b, fromB)
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()

	// Traffic is reaching c before it goes.
	deadline := time.Now().Add(5 * time.Second)
	for c.ch.Written.Load() < 200 {
		if time.Now().After(deadline) {
			t.Fatal("no traffic reached port c")
		}
		time.Sleep(time.Millisecond)
	}
	if err := tb.dp.RemovePort(c.idx); err != nil {
		t.Fatalf("RemovePort: %v", err)
	}
	written := c.ch.Written.Load()
	// While RemovePort runs, a frame may still meet the FDB entry with the
	// port already gone (port-gone); once it has returned, none may.
	gone := a.drops()[DropNoPort] + b.drops()[DropNoPort]
	if _, ok := tb.fdbPort(n, stationMAC(3)); ok {
		t.Error("the removed port's station is still in the FDB")
	}
	if got := tb.dp.FDB(n).PortCount(c.idx); got != 0 {
		t.Errorf("the removed port still counts %d MACs", got)
	}
	if tb.dp.PortStats(c.idx) != nil {
		t.Error("PortStats still finds the removed port")
	}
	if err := tb.dp.RemovePort(c.idx); err == nil {
		t.Error("removing the port twice succeeded")
	}

	// Let traffic run a while longer with c gone, then stop and check.
	aBefore := a.ch.Written.Load()
	deadline = time.Now().Add(5 * time.Second)
	for a.ch.Written.Load() < aBefore+200 {
		if time.Now().After(deadline) {
			t.Fatal("traffic stopped after RemovePort")
		}
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	tb.settle()
	if got := c.ch.Written.Load(); got != written {
		t.Errorf("%d frames written to port c after RemovePort returned", got-written)
	}
	// With c gone, b's frames for station 3 are unknown unicast: they reach a.
	var fromBAtA int
	for _, f := range a.ch.Recv() {
		if bytes.Equal(f, fromB) {
			fromBAtA++
		}
	}
	if fromBAtA == 0 {
		t.Error("frames for the removed port's station were not flooded to the remaining ports")
	}
	if d := a.drops()[DropNoPort] + b.drops()[DropNoPort] - gone; d != 0 {
		t.Errorf("%d frames dropped as port-gone after RemovePort returned: the FDB still pointed at the removed port", d)
	}
}

// TestTwoWorkers runs the pipeline on two workers, ports spread over both,
// every port sending to every other at once: writes to one egress come from
// both workers concurrently (run it with -race). Every frame arrives once.
func TestTwoWorkers(t *testing.T) {
	tb := newTestbed(t, 2)
	n := tb.network("n", fdb.Config{})
	const nports, perPair = 4, 50
	ps := make([]*tport, nports)
	for i := range ps {
		ps[i] = tb.port(string(rune('a'+i)), n)
	}
	for i, p := range ps {
		tb.send(p, udpFrame(t, header.BroadcastMAC, stationMAC(i+1), 64, 0))
	}
	tb.settle()
	workers := map[int]bool{}
	txBefore := make([]uint64, nports)
	for i, p := range ps {
		workers[tb.dp.cfg.Load().port(p.idx).worker] = true
		if got := len(p.ch.Recv()); got != nports-1 {
			t.Fatalf("port %s received %d of the other ports' broadcasts, want %d", p.name, got, nports-1)
		}
		txBefore[i] = p.stats.TxPackets.Load()
	}
	if len(workers) != 2 {
		t.Fatalf("ports use workers %v, want both", workers)
	}

	frames := make([][][]byte, nports) // by sender
	for i := range ps {
		for k := range perPair {
			for j := range ps {
				if j != i {
					frames[i] = append(frames[i], udpFrame(t, stationMAC(j+1), stationMAC(i+1), 64+j, k))
				}
			}
		}
	}
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, f := range frames[i] {
				tb.send(p, f)
			}
		}()
	}
	wg.Wait()
	tb.settle()
	for j, p := range ps {
		got := p.ch.Recv()
		if len(got) != perPair*(nports-1) {
			t.Errorf("port %s received %d frames, want %d", p.name, len(got), perPair*(nports-1))
		}
		for _, f := range got {
			if eth := header.Ethernet(f[header.VirtioNetHdrLen:]); eth.Dst() != stationMAC(j+1) || len(f) != header.VirtioNetHdrLen+64+j {
				t.Errorf("port %s received a frame for %s", p.name, eth.Dst())
				break
			}
		}
		if tx := p.stats.TxPackets.Load() - txBefore[j]; tx != perPair*(nports-1) {
			t.Errorf("port %s: tx packets %d, want %d", p.name, tx, perPair*(nports-1))
		}
	}
}

// TestRemovePortRelearnRace: a worker that loaded the previous snapshot may
// still be in serve() for the port being removed, reading frames its device
// had queued (unwatch stops epoll, not a ReadBatch loop already running).
// RemovePort must forget the port's MACs after that worker is done (after
// quiesceLocked), or the frames it is still reading learn their sources on
// the removed index again: a stale entry until aging, under which unicast to
// the station is dropped as port-gone instead of flooded, and once the index
// is reused, sent to whichever port got it. A port whose ReadBatch blocks
// until released holds the worker at exactly that point.
func TestRemovePortRelearnRace(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("n", fdb.Config{})
	a, b := tb.port("a", n), tb.port("b", n)
	hp, err := newHeldPort(udpFrame(t, header.BroadcastMAC, stationMAC(3), 64, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer hp.Close()
	c, err := tb.dp.AddPort("c", n, hp)
	if err != nil {
		t.Fatal(err)
	}
	released := false
	defer func() {
		if !released { // never leave the worker blocked: Close would wait for it
			close(hp.release)
		}
	}()
	hp.ready()
	select {
	case <-hp.entered: // the worker is inside c's ReadBatch
	case <-time.After(5 * time.Second):
		t.Fatal("the worker never read port c")
	}
	removed := make(chan error, 1)
	go func() { removed <- tb.dp.RemovePort(c) }()
	for deadline := time.Now().Add(5 * time.Second); tb.dp.PortStats(c) != nil; {
		if time.Now().After(deadline) {
			t.Fatal("RemovePort did not publish the snapshot without port c")
		}
		time.Sleep(100 * time.Microsecond)
	}
	close(hp.release) // the worker reads one last frame from c
	released = true
	if err := <-removed; err != nil {
		t.Fatalf("RemovePort: %v", err)
	}
	a.ch.Recv() // that frame's flood, written before RemovePort returned
	b.ch.Recv()
	if p, ok := tb.fdbPort(n, stationMAC(3)); ok {
		t.Errorf("station 3 is in the FDB on port %d, which RemovePort removed", p)
	}
	f := udpFrame(t, stationMAC(3), stationMAC(1), 64, 1)
	tb.send(a, f)
	tb.expect(map[*tport][][]byte{b: {f}})
	wantDrops(t, a, nil)
}

// heldPort is a Port whose first ReadBatch signals entered, waits for
// release, then returns frame; later reads find nothing.
type heldPort struct {
	efd      int
	frame    []byte
	entered  chan struct{}
	release  chan struct{}
	readOnce sync.Once
}

var _ port.Port = (*heldPort)(nil)

func newHeldPort(frame []byte) (*heldPort, error) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &heldPort{efd: efd, frame: frame, entered: make(chan struct{}), release: make(chan struct{})}, nil
}

// ready makes the port readable.
func (h *heldPort) ready() {
	one := [8]byte{1}
	unix.Write(h.efd, one[:])
}

func (h *heldPort) Fd() int { return h.efd }

func (h *heldPort) ReadBatch(bufs [][]byte, sizes []int) (int, error) {
	n := 0
	h.readOnce.Do(func() {
		close(h.entered)
		<-h.release
		sizes[0] = copy(bufs[0], h.frame)
		n = 1
		var b [8]byte
		unix.Read(h.efd, b[:])
	})
	return n, nil
}

func (h *heldPort) WriteBatch(bufs [][]byte) (int, error) { return len(bufs), nil }
func (h *heldPort) Close() error                          { return unix.Close(h.efd) }

// TestShortBufferDropped: a port that hands over a buffer shorter than the
// virtio_net_hdr (port.Chan does, for any Send) must get a counted drop, not
// a worker panic that takes vswitchd down. TAP and AFPacket skip such reads
// themselves, so only Chan (tests, trace) can produce one today.
func TestShortBufferDropped(t *testing.T) {
	dp := New(Options{Workers: 1})
	w, err := newWorker(dp, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	n, _ := dp.AddNetwork("n", fdb.Config{})
	ch, _ := port.NewChan(true)
	defer ch.Close()
	idx, _ := dp.AddPort("a", n, ch)
	s := dp.cfg.Load()
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("forwardBatch panicked on a 5-byte buffer: %v", r)
			}
		}()
		w.forwardBatch(s, s.port(idx), [][]byte{make([]byte, 5)}, []int{5})
	}()
	if got := s.port(idx).Stats.Drops[DropMalformed].Load(); got != 1 {
		t.Errorf("malformed drops %d, want 1", got)
	}
}

// A switched frame longer than the network's MTU is dropped as too-big (a
// bridge does not fragment); one that fits, and a GSO super-frame of any
// size, pass.
func TestL2DropsFramesOverTheMTU(t *testing.T) {
	tb := newTestbed(t, 1)
	n := tb.network("lan", fdb.Config{})
	a, b := tb.port("a", n), tb.port("b", n)
	tb.dp.SetL3(map[uint16]NetL3{n: {MTU: 1400}}, routing.Build(nil))
	ma, mb := stationMAC(1), stationMAC(2)
	tb.dp.FDB(n).Learn(mb.Uint64(), b.idx, tb.clock.Now().UnixNano())
	fits := udpFrame(t, mb, ma, 1400+header.EthernetLen, 1)
	over := udpFrame(t, mb, ma, 1401+header.EthernetLen+4, 2)
	gso := gsoTCPFrame(t, mb, ma, 10)
	tb.send(a, fits, over, gso)
	tb.settle()
	tb.expect(map[*tport][][]byte{b: {fits, gso}})
	if got := a.stats.Drops[DropTooBig].Load(); got != 1 {
		t.Fatalf("too-big drops on a: %d, want 1", got)
	}
}
