package dataplane

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"vswitch/header"
)

// Port security for IPv6 (guard6.go). The frames are made by hand, byte by
// byte as RFC 4861 and RFC 8200 lay them out, so that extension headers,
// fragments and broken options can be made too; the guard reads no
// checksum.

var (
	g6Own     = netip.MustParseAddr("fd00:a::10")
	g6Victim  = netip.MustParseAddr("fd00:a::11")
	g6Allowed = netip.MustParsePrefix("fd00:99::/64")
	g6AllNode = netip.MustParseAddr("ff02::1")
)

// ip6Pkt is an IPv6 header (hop limit 255) and payload, next header next.
func ip6Pkt(src, dst netip.Addr, next uint8, payload []byte) []byte {
	p := make([]byte, header.IPv6MinLen+len(payload))
	header.IPv6(p).Init(uint16(len(payload)), next, 255)
	header.IPv6(p).SetSrc(src)
	header.IPv6(p).SetDst(dst)
	copy(p[header.IPv6MinLen:], payload)
	return p
}

// ndMsg is an ICMPv6 message of type typ: its fixed part of fixed bytes
// (the target, when target is valid, at 8) and then opts.
func ndMsg(typ uint8, fixed int, target netip.Addr, opts ...[]byte) []byte {
	m := make([]byte, fixed)
	m[0] = typ
	if target.IsValid() {
		t := target.As16()
		copy(m[8:24], t[:])
	}
	for _, o := range opts {
		m = append(m, o...)
	}
	return m
}

// llOpt is a source (1) or target (2) link-layer address option.
func llOpt(typ uint8, m header.MAC) []byte {
	o := make([]byte, header.NDOptLLAddrLen)
	header.PutNDLLAddr(o, typ, m)
	return o
}

// extHdr is an 8-byte extension header (hop-by-hop, destination options
// or fragment) whose next header is next.
func extHdr(next uint8, fragOff uint16) []byte {
	h := make([]byte, 8)
	h[0] = next
	binary.BigEndian.PutUint16(h[2:], fragOff<<3)
	if fragOff == 0 {
		h[3] |= 1 // more fragments: this is the first of several
	}
	return h
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func g6Guard(t testing.TB, ip6 netip.Addr) *guard {
	t.Helper()
	g, err := compileGuard(GuardConfig{PortSecurity: true, MAC: stationMAC(1), IP: stationIP(1), IP6: ip6,
		Allowed: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16"), g6Allowed}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGuard6Rules(t *testing.T) {
	me, other := stationMAC(1), stationMAC(2)
	ll := header.LinkLocalFromMAC(me)
	llOther := header.LinkLocalFromMAC(other)
	solOwn := header.SolicitedNode(g6Own)
	echo := ndMsg(header.ICMPv6EchoRequest, 8, netip.Addr{})
	icmp := func(src, dst netip.Addr, m []byte) []byte { return ip6Pkt(src, dst, header.ProtoICMPv6, m) }
	ns := func(target netip.Addr, opts ...[]byte) []byte {
		return ndMsg(header.ICMPv6NeighSolicit, header.NDNSLen, target, opts...)
	}
	na := func(target netip.Addr, opts ...[]byte) []byte {
		m := ndMsg(header.ICMPv6NeighAdvert, header.NDNALen, target, opts...)
		m[4] = header.NAFlagOverride
		return m
	}
	ra := ndMsg(header.ICMPv6RouterAdvert, header.NDRALen, netip.Addr{}, llOpt(header.NDOptSrcLLAddr, me))
	redirect := ndMsg(icmp6Redirect, 40, g6Victim)
	nine := []byte{}
	for range 9 {
		nine = append(nine, extHdr(ip6DstOpts, 0)[:8]...)
	}
	for i := 0; i < len(nine); i += 8 {
		nine[i+2], nine[i+3] = 0, 0
	}
	nine[len(nine)-8] = header.ProtoICMPv6
	mldReport := cat([]byte{header.ProtoICMPv6, 0, 5, 2, 0, 0, 1, 0}, ndMsg(143, 8, netip.Addr{}))
	cases := []struct {
		name string
		ip6  netip.Addr // the port's --ip6; invalid: none
		pkt  []byte
		want DropReason
	}{
		{"echo from its address", g6Own, icmp(g6Own, g6Victim, echo), DropNone},
		{"echo from its link-local address", g6Own, icmp(ll, llOther, echo), DropNone},
		{"echo from inside allowed-ips", g6Own, icmp(netip.MustParseAddr("fd00:99::5"), g6Victim, echo), DropNone},
		{"echo from a neighbour's address", g6Own, icmp(g6Victim, g6Own, echo), DropSpoof},
		{"echo from a neighbour's link-local", g6Own, icmp(llOther, ll, echo), DropSpoof},
		{"echo from :: to a unicast address", g6Own, icmp(netip.IPv6Unspecified(), g6Victim, echo), DropSpoof},
		{"echo from a multicast source", g6Own, icmp(g6AllNode, g6Victim, echo), DropSpoof},
		{"TCP from its address", g6Own, ip6Pkt(g6Own, g6Victim, header.ProtoTCP, make([]byte, 20)), DropNone},
		{"no --ip6: link-local passes", netip.Addr{}, icmp(ll, llOther, echo), DropNone},
		{"no --ip6: a global source does not", netip.Addr{}, icmp(g6Own, g6Victim, echo), DropSpoof},
		{"DAD for its address", g6Own, icmp(netip.IPv6Unspecified(), solOwn, ns(g6Own)), DropNone},
		{"DAD for a neighbour's address", g6Own, icmp(netip.IPv6Unspecified(), header.SolicitedNode(g6Victim), ns(g6Victim)), DropSpoof},
		{"NS with its MAC", g6Own, icmp(g6Own, header.SolicitedNode(g6Victim), ns(g6Victim, llOpt(header.NDOptSrcLLAddr, me))), DropNone},
		{"NS with another MAC", g6Own, icmp(g6Own, header.SolicitedNode(g6Victim), ns(g6Victim, llOpt(header.NDOptSrcLLAddr, other))), DropSpoof},
		{"NS with its MAC, then another", g6Own, icmp(g6Own, header.SolicitedNode(g6Victim),
			ns(g6Victim, llOpt(header.NDOptSrcLLAddr, me), llOpt(header.NDOptSrcLLAddr, other))), DropSpoof},
		{"NA for its address", g6Own, icmp(g6Own, g6AllNode, na(g6Own, llOpt(header.NDOptTgtLLAddr, me))), DropNone},
		{"NA for its link-local address", g6Own, icmp(ll, llOther, na(ll)), DropNone},
		{"NA for a neighbour's address", g6Own, icmp(g6Own, g6AllNode, na(g6Victim, llOpt(header.NDOptTgtLLAddr, me))), DropSpoof},
		{"NA for the gateway", g6Own, icmp(ll, g6AllNode, na(netip.MustParseAddr("fd00:a::1"))), DropSpoof},
		{"NA for its address with another MAC", g6Own, icmp(g6Own, g6AllNode, na(g6Own, llOpt(header.NDOptTgtLLAddr, other))), DropSpoof},
		{"NA with an option of length 0", g6Own, icmp(g6Own, g6AllNode, na(g6Own, []byte{2, 0, 0, 0, 0, 0, 0, 0})), DropMalformed},
		{"NA cut short", g6Own, icmp(g6Own, g6AllNode, na(g6Own)[:20]), DropMalformed},
		{"RS with its MAC", g6Own, icmp(ll, allRouters, ndMsg(header.ICMPv6RouterSolicit, 8, netip.Addr{}, llOpt(header.NDOptSrcLLAddr, me))), DropNone},
		{"RS with another MAC", g6Own, icmp(ll, allRouters, ndMsg(header.ICMPv6RouterSolicit, 8, netip.Addr{}, llOpt(header.NDOptSrcLLAddr, other))), DropSpoof},
		{"router advertisement", g6Own, icmp(ll, g6AllNode, ra), DropRAGuard},
		{"router advertisement from another address", g6Own, icmp(llOther, g6AllNode, ra), DropSpoof},
		{"redirect", g6Own, icmp(ll, llOther, redirect), DropRAGuard},
		{"RA behind destination options", g6Own, ip6Pkt(ll, g6AllNode, ip6DstOpts, cat(extHdr(header.ProtoICMPv6, 0), ra)), DropRAGuard},
		{"RA behind hop-by-hop and a first fragment", g6Own, ip6Pkt(ll, g6AllNode, ip6HopByHop,
			cat(extHdr(ip6Fragment, 0)[:8], extHdr(header.ProtoICMPv6, 0), ra)), DropRAGuard},
		{"a later fragment", g6Own, ip6Pkt(ll, g6AllNode, ip6Fragment, cat(extHdr(header.ProtoICMPv6, 3), make([]byte, 16))), DropNone},
		{"first fragment without the ICMPv6 header", g6Own, ip6Pkt(ll, g6AllNode, ip6Fragment, cat(extHdr(header.ProtoICMPv6, 0), ra[:4])), DropMalformed},
		{"extension header cut short", g6Own, ip6Pkt(ll, g6AllNode, ip6DstOpts, []byte{header.ProtoICMPv6}), DropMalformed},
		{"nine extension headers", g6Own, ip6Pkt(ll, g6AllNode, ip6DstOpts, cat(nine, ra)), DropMalformed},
		{"MLD report from ::", g6Own, ip6Pkt(netip.IPv6Unspecified(), netip.MustParseAddr("ff02::16"), ip6HopByHop, mldReport), DropNone},
		{"IPv6 header cut short", g6Own, icmp(g6Own, g6Victim, echo)[:30], DropMalformed},
	}
	for _, c := range cases {
		g := g6Guard(t, c.ip6)
		why, note := g.check6(c.pkt)
		if why != c.want {
			t.Errorf("%s: %v (%s), want %v", c.name, why, note, c.want)
		}
		if why != DropNone && note == "" {
			t.Errorf("%s: dropped without a note for trace", c.name)
		}
		// The same through decide, with the frame's own MAC.
		bb, in := guardBed(t, GuardConfig{PortSecurity: true, MAC: me, IP: stationIP(1), IP6: c.ip6, Allowed: []netip.Prefix{g6Allowed}})
		v := bb.w.decide(bb.dp.cfg.Load(), in, rawFrame(other, me, header.EtherTypeIPv6, c.pkt), time.Now().UnixNano())
		if (c.want == DropNone) != (v.Action != ActDrop) || (c.want != DropNone && v.Reason != c.want) {
			t.Errorf("%s: decide gave %+v, want %v", c.name, v, c.want)
		}
	}
}

// TestGuard6Off: without port security a router advertisement is switched
// like any frame (a port that is a router, an attached bridge).
func TestGuard6Off(t *testing.T) {
	bb, in := guardBed(t, GuardConfig{MAC: stationMAC(1), StormPPS: 1000})
	ra := ndMsg(header.ICMPv6RouterAdvert, header.NDRALen, netip.Addr{})
	buf := rawFrame(stationMAC(2), stationMAC(1), header.EtherTypeIPv6,
		ip6Pkt(header.LinkLocalFromMAC(stationMAC(1)), g6AllNode, header.ProtoICMPv6, ra))
	if v := bb.w.decide(bb.dp.cfg.Load(), in, buf, time.Now().UnixNano()); v.Action == ActDrop {
		t.Fatalf("verdict %+v, want it switched: port security is off", v)
	}
}

func TestGuard6Config(t *testing.T) {
	for _, c := range []GuardConfig{
		{PortSecurity: true, MAC: stationMAC(1), IP6: netip.MustParseAddr("10.0.0.1")},
		{PortSecurity: true, MAC: stationMAC(1), IP6: netip.MustParseAddr("ff02::1")},
		{PortSecurity: true, MAC: stationMAC(1), IP6: netip.IPv6Unspecified()},
	} {
		if _, err := compileGuard(c); err == nil {
			t.Errorf("IP6 %s accepted, want an error", c.IP6)
		}
	}
	// Prefix lengths at the word edges.
	for _, c := range []struct {
		p    string
		in   string
		want bool
	}{
		{"fd00::/0", "2001:db8::1", true},
		{"fd00:1:2:3::/63", "fd00:1:2:2::9", true},
		{"fd00:1:2:3::/64", "fd00:1:2:4::9", false},
		{"fd00:1:2:3:4::/65", "fd00:1:2:3:7fff::1", true},
		{"fd00:1:2:3:4::/65", "fd00:1:2:3:8000::1", false},
		{"fd00::5/128", "fd00::5", true},
		{"fd00::5/128", "fd00::4", false},
	} {
		g, err := compileGuard(GuardConfig{PortSecurity: true, MAC: stationMAC(1), Allowed: []netip.Prefix{netip.MustParsePrefix(c.p)}})
		if err != nil {
			t.Fatal(err)
		}
		if got := g.ownAddr6(addr6of(netip.MustParseAddr(c.in))); got != c.want {
			t.Errorf("%s in %s: %v, want %v", c.in, c.p, got, c.want)
		}
	}
}

// TestGuard6Trace: trace shows the guard's drop, its reason and why.
func TestGuard6Trace(t *testing.T) {
	me := stationMAC(1)
	bb, in := guardBed(t, GuardConfig{PortSecurity: true, MAC: me, IP6: g6Own})
	ra := ndMsg(header.ICMPv6RouterAdvert, header.NDRALen, netip.Addr{})
	frame := rawFrame(header.MulticastMAC6(g6AllNode), me, header.EtherTypeIPv6,
		ip6Pkt(header.LinkLocalFromMAC(me), g6AllNode, header.ProtoICMPv6, ra))[header.VirtioNetHdrLen:]
	pt, err := bb.dp.Trace(in.Index, frame)
	if err != nil {
		t.Fatal(err)
	}
	if pt.Verdict.Action != ActDrop || pt.Verdict.Reason != DropRAGuard {
		t.Fatalf("verdict %+v, want drop (ra-guard)", pt.Verdict)
	}
	var found bool
	for _, st := range pt.StepList() {
		if st.Stage == StageGuard && st.Decision == "drop" && st.Reason == DropRAGuard && strings.Contains(st.Note, "router advertisement") {
			found = true
		}
	}
	if !found {
		t.Errorf("no guard step dropping the RA with a note: %+v", pt.StepList())
	}
	if n := bb.dp.PortStats(in.Index).Drops[DropRAGuard].Load(); n != 0 {
		t.Errorf("a dry run counted %d drops", n)
	}
}

// BenchmarkGuard6Decide is BenchmarkGuardDecide for an IPv6 UDP frame
// and, in the sub-benchmark, a neighbour advertisement the guard reads to
// its options.
func BenchmarkGuard6Decide(b *testing.B) {
	me := stationMAC(1)
	udp := ip6Pkt(g6Own, g6Victim, header.ProtoUDP, make([]byte, 30))
	na := ndMsg(header.ICMPv6NeighAdvert, header.NDNALen, g6Own, llOpt(header.NDOptTgtLLAddr, me))
	for _, c := range []struct {
		name string
		pkt  []byte
	}{{"udp", udp}, {"na", ip6Pkt(g6Own, g6AllNode, header.ProtoICMPv6, na)}} {
		b.Run(c.name, func(b *testing.B) {
			bb, in := guardBed(b, GuardConfig{PortSecurity: true, MAC: me, IP: stationIP(1), IP6: g6Own,
				Allowed: []netip.Prefix{g6Allowed}, StormPPS: 1000})
			s := bb.dp.cfg.Load()
			buf := rawFrame(stationMAC(2), me, header.EtherTypeIPv6, c.pkt)
			now := time.Now().UnixNano()
			if v := bb.w.decide(s, in, buf, now); v.Action == ActDrop {
				b.Fatalf("verdict %+v, want it through", v)
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
		})
	}
}

// BenchmarkGuard6Check is the IPv6 check alone on a neighbour
// advertisement: the longest walk an ordinary packet makes.
func BenchmarkGuard6Check(b *testing.B) {
	g := g6Guard(b, g6Own)
	pkt := ip6Pkt(g6Own, g6AllNode, header.ProtoICMPv6, ndMsg(header.ICMPv6NeighAdvert, header.NDNALen, g6Own, llOpt(header.NDOptTgtLLAddr, stationMAC(1))))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if why, _ := g.check6(pkt); why != DropNone {
			b.Fatal(why)
		}
	}
}

// TestLiveFilter6: a live trace's filter follows IPv6 frames by address,
// upper-layer protocol (past extension headers) and port.
func TestLiveFilter6(t *testing.T) {
	ll := header.LinkLocalFromMAC(stationMAC(1))
	ra := ndMsg(header.ICMPv6RouterAdvert, header.NDRALen, netip.Addr{})
	raBuf := rawFrame(header.MulticastMAC6(g6AllNode), stationMAC(1), header.EtherTypeIPv6,
		ip6Pkt(ll, g6AllNode, ip6DstOpts, cat(extHdr(header.ProtoICMPv6, 0), ra)))
	udp := make([]byte, 8)
	binary.BigEndian.PutUint16(udp[0:], 4000)
	binary.BigEndian.PutUint16(udp[2:], 53)
	udpBuf := rawFrame(stationMAC(2), stationMAC(1), header.EtherTypeIPv6, ip6Pkt(g6Own, g6Victim, header.ProtoUDP, udp))
	fr, fu := frameInfoOf(raBuf), frameInfoOf(udpBuf)
	if fr.Proto != header.ProtoICMPv6 || fr.ICMPType != header.ICMPv6RouterAdvert {
		t.Errorf("RA behind destination options: proto %d type %d", fr.Proto, fr.ICMPType)
	}
	if fu.SPort != 4000 || fu.DPort != 53 {
		t.Errorf("UDP ports %d -> %d, want 4000 -> 53", fu.SPort, fu.DPort)
	}
	for _, c := range []struct {
		f    LiveFilter
		fi   FrameInfo
		want bool
	}{
		{LiveFilter{Src: ll}, fr, true},
		{LiveFilter{Dst: ll}, fr, true}, // either direction
		{LiveFilter{Proto: header.ProtoICMPv6}, fr, true},
		{LiveFilter{Proto: header.ProtoICMPv6}, fu, false},
		{LiveFilter{Src: g6Own, DPort: 53}, fu, true},
		{LiveFilter{Src: g6Victim, DPort: 53}, fu, false}, // the reverse has 53 as its source port
		{LiveFilter{Src: stationIP(1)}, fu, false},
	} {
		if got := c.f.match(c.fi); got != c.want {
			t.Errorf("filter %+v on %v -> %v: %v, want %v", c.f, c.fi.Src, c.fi.Dst, got, c.want)
		}
	}
}

// FuzzGuard6 feeds arbitrary IPv6 packets to the guard, the ACL key and
// the trace's frame reader: none may panic, and the note says why whenever
// the guard drops.
func FuzzGuard6(f *testing.F) {
	me := stationMAC(1)
	ll := header.LinkLocalFromMAC(me)
	f.Add(ip6Pkt(ll, g6AllNode, ip6DstOpts, cat(extHdr(header.ProtoICMPv6, 0), ndMsg(header.ICMPv6RouterAdvert, header.NDRALen, netip.Addr{}))))
	f.Add(ip6Pkt(g6Own, g6AllNode, header.ProtoICMPv6, ndMsg(header.ICMPv6NeighAdvert, header.NDNALen, g6Own, llOpt(header.NDOptTgtLLAddr, me))))
	f.Add(ip6Pkt(g6Own, g6Victim, ip6Fragment, cat(extHdr(header.ProtoUDP, 2), make([]byte, 8))))
	f.Add(ip6Pkt(netip.IPv6Unspecified(), header.SolicitedNode(g6Own), header.ProtoICMPv6, ndMsg(header.ICMPv6NeighSolicit, header.NDNSLen, g6Own)))
	g := g6Guard(f, g6Own)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		why, note := g.check6(pkt)
		if why != DropNone && note == "" {
			t.Fatalf("dropped (%v) without a note", why)
		}
		if len(pkt) >= header.IPv6MinLen {
			acl6Key(header.IPv6(pkt))
		}
		frameInfoOf(rawFrame(stationMAC(2), me, header.EtherTypeIPv6, pkt))
	})
}
