package dataplane

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"vswitch/header"
	"vswitch/policy"
)

// guardBed is a benchbed whose port 0 (station 1) has a guard.
func guardBed(tb testing.TB, c GuardConfig) (*benchbed, *Port) {
	tb.Helper()
	bb := newBenchbed(tb, 3)
	if err := bb.dp.SetGuard(bb.ports[0].Index, c); err != nil {
		tb.Fatal(err)
	}
	return bb, bb.dp.cfg.Load().port(bb.ports[0].Index)
}

func withIPSrc(buf []byte, a netip.Addr) []byte {
	b := a.As4()
	copy(buf[header.VirtioNetHdrLen+header.EthernetLen+12:], b[:])
	return buf
}

func guardARP(src, senderMAC header.MAC, senderIP, target netip.Addr) []byte {
	buf := rawFrame(header.BroadcastMAC, src, header.EtherTypeARP, make([]byte, 28))
	a := header.ARP(buf[header.VirtioNetHdrLen+header.EthernetLen:])
	a.SetIPv4OverEthernet()
	a.SetOp(1)
	a.SetSenderMAC(senderMAC)
	a.SetSenderIP(senderIP)
	a.SetTargetIP(target)
	return buf
}

func TestGuardPortSecurity(t *testing.T) {
	me, other := stationMAC(1), stationMAC(2)
	bb, in := guardBed(t, GuardConfig{PortSecurity: true, MAC: me, IP: stationIP(1),
		Allowed: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}})
	s := bb.dp.cfg.Load()
	now := time.Now().UnixNano()
	ipv6 := func(src header.MAC) []byte { // from its link-local address (guard6_test.go has the rest)
		p := ip6Pkt(header.LinkLocalFromMAC(me), header.LinkLocalFromMAC(other), header.ProtoUDP, make([]byte, 8))
		return rawFrame(stationMAC(2), src, header.EtherTypeIPv6, p)
	}
	cases := []struct {
		name string
		buf  []byte
		want DropReason
	}{
		{"own MAC and IP", udpFrame(t, other, me, 64, 0), DropNone},
		{"foreign source MAC", udpFrame(t, stationMAC(2), stationMAC(7), 64, 0), DropSpoof},
		{"a neighbour's IP", withIPSrc(udpFrame(t, other, me, 64, 0), stationIP(2)), DropSpoof},
		{"IP 0.0.0.0 (DHCP)", withIPSrc(udpFrame(t, other, me, 64, 0), netip.IPv4Unspecified()), DropNone},
		{"inside allowed-ips", withIPSrc(udpFrame(t, other, me, 64, 0), netip.MustParseAddr("10.9.3.4")), DropNone},
		{"outside allowed-ips", withIPSrc(udpFrame(t, other, me, 64, 0), netip.MustParseAddr("10.10.3.4")), DropSpoof},
		{"ARP of its own", guardARP(me, me, stationIP(1), stationIP(2)), DropNone},
		{"ARP probe", guardARP(me, me, netip.IPv4Unspecified(), stationIP(1)), DropNone},
		{"ARP as another station", guardARP(me, me, stationIP(3), stationIP(2)), DropSpoof},
		{"ARP with a foreign sender MAC", guardARP(me, other, stationIP(1), stationIP(2)), DropSpoof},
		{"ARP cut short", rawFrame(header.BroadcastMAC, me, header.EtherTypeARP, make([]byte, 20)), DropMalformed},
		{"IPv4 cut short", rawFrame(other, me, header.EtherTypeIPv4, make([]byte, 12)), DropMalformed},
		{"IPv6 from its MAC", ipv6(me), DropNone},
		{"IPv6 from a foreign MAC", ipv6(stationMAC(9)), DropSpoof},
	}
	for _, c := range cases {
		v := bb.w.decide(s, in, c.buf, now)
		if c.want == DropNone && v.Action == ActDrop {
			t.Errorf("%s: dropped (%v), want it through", c.name, v.Reason)
		}
		if c.want != DropNone && (v.Action != ActDrop || v.Reason != c.want) {
			t.Errorf("%s: verdict %+v, want drop (%v)", c.name, v, c.want)
		}
	}
	// A spoofed source never reaches the FDB.
	if _, ok := bb.dp.FDB(bb.net).Lookup(stationMAC(7).Uint64()); ok {
		t.Errorf("spoofed MAC %s was learned", stationMAC(7))
	}
}

func TestGuardOffPassesForeign(t *testing.T) {
	bb, in := guardBed(t, GuardConfig{MAC: stationMAC(1), StormPPS: 1000})
	v := bb.w.decide(bb.dp.cfg.Load(), in, udpFrame(t, stationMAC(2), stationMAC(7), 64, 0), time.Now().UnixNano())
	if v.Action != ActForward {
		t.Fatalf("verdict %+v, want forward: port security is off", v)
	}
}

func TestGuardStorm(t *testing.T) {
	const pps = 1000 // burst: 100 frames
	bb, in := guardBed(t, GuardConfig{PortSecurity: true, MAC: stationMAC(1), IP: stationIP(1), StormPPS: pps})
	s := bb.dp.cfg.Load()
	now := time.Now().UnixNano()
	bcast := udpFrame(t, header.BroadcastMAC, stationMAC(1), 64, 0)
	passed := 0
	for range 1000 {
		if v := bb.w.decide(s, in, bcast, now); v.Action == ActFlood {
			passed++
		} else if v.Reason != DropStorm {
			t.Fatalf("verdict %+v, want flood or drop (storm)", v)
		}
	}
	if passed != pps/10 {
		t.Errorf("%d broadcasts passed at one instant, want the burst of %d", passed, pps/10)
	}
	// Unknown unicast spends the same bucket: empty now.
	unknown := udpFrame(t, stationMAC(99), stationMAC(1), 64, 0)
	if v := bb.w.decide(s, in, unknown, now); v.Action != ActDrop || v.Reason != DropStorm {
		t.Errorf("unknown unicast over the limit: %+v, want drop (storm)", v)
	}
	// Known unicast is not limited.
	if v := bb.w.decide(s, in, udpFrame(t, stationMAC(2), stationMAC(1), 64, 0), now); v.Action != ActForward {
		t.Errorf("known unicast: %+v, want forward", v)
	}
	// 10 ms later: 10 more tokens.
	later := now + int64(10*time.Millisecond)
	passed = 0
	for range 100 {
		if v := bb.w.decide(s, in, bcast, later); v.Action == ActFlood {
			passed++
		}
	}
	if passed != 10 {
		t.Errorf("%d broadcasts passed 10 ms later, want 10", passed)
	}
}

func TestGuardConnRate(t *testing.T) {
	bb, in := guardBed(t, GuardConfig{ConnRate: 5})
	now := time.Now().UnixNano()
	n := 0
	for range 20 {
		if connAllowed(in, now) {
			n++
		}
	}
	if n != 5 {
		t.Errorf("%d connections at once, want 5 (a second's worth)", n)
	}
	if !connAllowed(in, now+int64(200*time.Millisecond)) || connAllowed(in, now+int64(200*time.Millisecond)) {
		t.Errorf("200 ms later: want exactly one more connection")
	}
	if !connAllowed(bb.ports[1], now) || !connAllowed(nil, now) {
		t.Errorf("a port without a guard, or the router itself, must not be limited")
	}
}

// TestGuardConnRateACL: on a network whose ACL tracks flows, new flows
// beyond the port's conn-rate are dropped; a tracked flow goes on.
func TestGuardConnRateACL(t *testing.T) {
	bb, in := guardBed(t, GuardConfig{PortSecurity: true, MAC: stationMAC(1), IP: stationIP(1), ConnRate: 5})
	bb.dp.SetACL(bb.net, policy.New(policy.Allow, []policy.Rule{{ID: 1, Action: policy.Deny, Proto: 6, DPortMin: 9999, DPortMax: 9999, Hits: policy.NewHits()}}))
	s := bb.dp.cfg.Load()
	now := time.Now().UnixNano()
	flowFrom := func(sport int) []byte {
		buf := udpFrame(t, stationMAC(2), stationMAC(1), 64, 0)
		binary.BigEndian.PutUint16(buf[header.VirtioNetHdrLen+header.EthernetLen+20:], uint16(sport))
		return buf
	}
	passed, limited := 0, 0
	for i := range 50 {
		switch v := bb.w.decide(s, in, flowFrom(20000+i), now); {
		case v.Action == ActForward:
			passed++
		case v.Reason == DropConnRate:
			limited++
		default:
			t.Fatalf("flow %d: verdict %+v, want forward or drop (conn-rate)", i, v)
		}
	}
	if passed != 5 || limited != 45 {
		t.Errorf("50 new flows at once: %d passed, %d conn-rate; want 5 and 45", passed, limited)
	}
	if v := bb.w.decide(s, in, flowFrom(20000), now); v.Action != ActForward {
		t.Errorf("a packet of a tracked flow: %+v, want forward (only new flows are limited)", v)
	}
}

func TestGuardConfigErrors(t *testing.T) {
	for _, c := range []GuardConfig{
		{PortSecurity: true},
		{PortSecurity: true, MAC: header.BroadcastMAC},
		{PortSecurity: true, MAC: stationMAC(1), Allowed: []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")}},
		{StormPPS: -1},
	} {
		if _, err := compileGuard(c); err == nil {
			t.Errorf("compileGuard(%+v): no error", c)
		}
	}
	if g, err := compileGuard(GuardConfig{}); g != nil || err != nil {
		t.Errorf("empty config: %v, %v; want no guard", g, err)
	}
	g, _ := compileGuard(GuardConfig{PortSecurity: true, MAC: stationMAC(1), Allowed: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	if !g.srcOK(binary.BigEndian.Uint32([]byte{8, 8, 8, 8})) {
		t.Errorf("0.0.0.0/0 must allow any source")
	}
}

// BenchmarkGuardDecide is BenchmarkDecide on a port with port security and
// a storm limit: the guard's cost per frame.
func BenchmarkGuardDecide(b *testing.B) {
	bb, in := guardBed(b, GuardConfig{PortSecurity: true, MAC: stationMAC(1), IP: stationIP(1),
		Allowed: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}, StormPPS: 1000})
	s := bb.dp.cfg.Load()
	buf := udpFrame(b, stationMAC(2), stationMAC(1), 64, 0)
	now := time.Now().UnixNano()
	if v := bb.w.decide(s, in, buf, now); v.Action != ActForward {
		b.Fatalf("verdict %+v, want forward", v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var v Verdict
	for i := 0; i < b.N; i++ {
		v = bb.w.decide(s, in, buf, now)
	}
	sinkVerdict = v
	if a := testing.AllocsPerRun(100, func() { sinkVerdict = bb.w.decide(s, in, buf, now) }); a != 0 {
		b.Fatalf("%v allocs per frame, want 0", a)
	}
}

// BenchmarkGuardBucket is the storm and conn-rate token bucket alone.
func BenchmarkGuardBucket(b *testing.B) {
	var bk bucket
	bk.init(1e9, 1e9)
	b.ReportAllocs()
	now := time.Now().UnixNano()
	for i := 0; i < b.N; i++ {
		bk.allow(now + int64(i))
	}
}

// TestGuardConnRateMasquerade: through masquerade (natCommit), a port's new
// flows beyond its conn-rate are dropped; another port is not affected.
func TestGuardConnRateMasquerade(t *testing.T) {
	nb := newNATBed(t, Options{})
	if err := nb.dp.SetGuard(nb.b1.idx, GuardConfig{PortSecurity: true, MAC: macB1, IP: hostB1, ConnRate: 3}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		nb.one(t, nb.b1, nb.up, tcpPkt(t, from(macB1, gwMACB, hostB1, hostX), uint16(41000+i), 80, true, false, nil))
	}
	nb.none(t, nb.b1, tcpPkt(t, from(macB1, gwMACB, hostB1, hostX), 41003, 80, true, false, nil), DropConnRate)
	// The flows it has go on; another port's new flow too.
	nb.one(t, nb.b1, nb.up, tcpPkt(t, from(macB1, gwMACB, hostB1, hostX), 41000, 80, false, true, nil))
	nb.one(t, nb.b2, nb.up, tcpPkt(t, from(macB2, gwMACB, hostB2, hostX), 42000, 80, true, false, nil))
	// A second later the bucket has refilled.
	nb.clock.Advance(time.Second)
	nb.one(t, nb.b1, nb.up, tcpPkt(t, from(macB1, gwMACB, hostB1, hostX), 41004, 80, true, false, nil))
}
