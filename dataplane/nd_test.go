package dataplane

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"vswitch/header"
	"vswitch/routing"
)

// IPv6 at the gateway of network A of the routerbed (nd.go): ND, echo and
// router advertisements. The expected answers are built by gopacket, not by
// the code under test, and compared byte for byte.

var (
	prefix6A = netip.MustParsePrefix("fd00:a::/64")
	gw6A     = netip.MustParseAddr("fd00:a::1")
	gwLLA    = header.LinkLocalFromMAC(gwMACA)
	host6A1  = netip.MustParseAddr("fd00:a::10")
	host6A2  = netip.MustParseAddr("fd00:a::11")
	llA1     = header.LinkLocalFromMAC(macA1)
)

// v6bed is the routerbed with IPv6 on A's gateway.
func v6bed(t *testing.T) *routerbed {
	rb := newRouterbed(t, false)
	a := NetL3{GatewayIP: gwIPA, GatewayMAC: gwMACA, Subnet: subnetA, MTU: mtuA,
		Gateway6: gw6A, GatewayLL: gwLLA, Prefix6: prefix6A, RALifetime: 1800}
	b := NetL3{GatewayIP: gwIPB, GatewayMAC: gwMACB, Subnet: subnetB, MTU: mtuB}
	rb.dp.SetL3(map[uint16]NetL3{rb.netA: a, rb.netB: b}, routing.Build([]routing.Route{
		{Prefix: subnetA, Network: rb.netA, Kind: routing.Connected},
		{Prefix: subnetB, Network: rb.netB, Kind: routing.Connected},
	}))
	return rb
}

// icmp6Buf is a dataplane buffer of an ICMPv6 message built by gopacket.
func icmp6Buf(t testing.TB, smac, dmac header.MAC, src, dst netip.Addr, hop uint8, typ uint8, body gopacket.SerializableLayer, extra ...gopacket.SerializableLayer) []byte {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(smac[:]), DstMAC: net.HardwareAddr(dmac[:]), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: hop, SrcIP: netIP(src), DstIP: netIP(dst)}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	ic.SetNetworkLayerForChecksum(ip)
	return withVirtioHdr(t, nil, append([]gopacket.SerializableLayer{eth, ip, ic, body}, extra...)...)
}

func nsBuf(t testing.TB, smac, dmac header.MAC, src, dst, target netip.Addr, hop uint8) []byte {
	var opts layers.ICMPv6Options
	if !src.IsUnspecified() {
		opts = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: smac[:]}}
	}
	return icmp6Buf(t, smac, dmac, src, dst, hop, layers.ICMPv6TypeNeighborSolicitation,
		&layers.ICMPv6NeighborSolicitation{TargetAddress: netIP(target), Options: opts})
}

func wantNA(t testing.TB, dmac header.MAC, target, dst netip.Addr, flags uint8) []byte {
	return icmp6Buf(t, gwMACA, dmac, target, dst, 255, layers.ICMPv6TypeNeighborAdvertisement,
		&layers.ICMPv6NeighborAdvertisement{Flags: flags, TargetAddress: netIP(target),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: gwMACA[:]}}})
}

func wantRA(t testing.TB, dmac header.MAC, dst netip.Addr) []byte {
	pfx := make([]byte, 30)
	pfx[0], pfx[1] = 64, 0x80                                 // on-link, not autonomous
	copy(pfx[2:], []byte{0, 1, 0x51, 0x80, 0, 0, 0x38, 0x40}) // 86400, 14400
	p := prefix6A.Addr().As16()
	copy(pfx[14:], p[:])
	return icmp6Buf(t, gwMACA, dmac, gwLLA, dst, 255, layers.ICMPv6TypeRouterAdvertisement,
		// gopacket writes the options last first: on the wire they are
		// source link-layer address, MTU, prefix information.
		&layers.ICMPv6RouterAdvertisement{HopLimit: 64, RouterLifetime: 1800, Options: layers.ICMPv6Options{
			{Type: layers.ICMPv6OptPrefixInfo, Data: pfx},
			{Type: layers.ICMPv6OptMTU, Data: []byte{0, 0, 0, 0, 0x05, 0xdc}},
			{Type: layers.ICMPv6OptSourceAddress, Data: gwMACA[:]},
		}})
}

func TestND6NeighbourSolicitation(t *testing.T) {
	rb := v6bed(t)
	const rso = header.NAFlagRouter | header.NAFlagSolicited | header.NAFlagOverride
	for _, tc := range []struct {
		name       string
		src, dst   netip.Addr
		dmac       header.MAC
		target     netip.Addr
		wantDst    netip.Addr
		wantDstMAC header.MAC
		flags      uint8
	}{
		{"multicast for the global", host6A1, header.SolicitedNode(gw6A), header.MulticastMAC6(header.SolicitedNode(gw6A)), gw6A, host6A1, macA1, rso},
		{"multicast for the link-local", llA1, header.SolicitedNode(gwLLA), header.MulticastMAC6(header.SolicitedNode(gwLLA)), gwLLA, llA1, macA1, rso},
		{"unicast probe", llA1, gwLLA, gwMACA, gwLLA, llA1, macA1, rso},
		{"DAD", netip.IPv6Unspecified(), header.SolicitedNode(gw6A), header.MulticastMAC6(header.SolicitedNode(gw6A)), gw6A, allNodes, header.MulticastMAC6(allNodes),
			header.NAFlagRouter | header.NAFlagOverride},
	} {
		rb.send(rb.a1, nsBuf(t, macA1, tc.dmac, tc.src, tc.dst, tc.target, 255))
		got := rb.outputs()
		if !rb.only(t, got, map[*tport]int{rb.a1: 1}) {
			t.Errorf("%s: not answered", tc.name)
			continue
		}
		want := wantNA(t, tc.wantDstMAC, tc.target, tc.wantDst, tc.flags)
		if !bytes.Equal(got[rb.a1][0], want) {
			t.Errorf("%s:\n got % x\nwant % x", tc.name, got[rb.a1][0], want)
		}
	}
	wantDrops(t, rb.a1, nil)

	// Another host's solicitation in a group of the gateway's (same low 24
	// bits) is switched, as is any NS between containers.
	other := netip.MustParseAddr("fd00:a::2:0:1") // low 24 bits of gw6A
	rb.send(rb.a1, nsBuf(t, macA1, header.MulticastMAC6(header.SolicitedNode(other)), host6A1, header.SolicitedNode(other), other, 255))
	rb.send(rb.a1, nsBuf(t, macA1, header.MulticastMAC6(header.SolicitedNode(host6A2)), host6A1, header.SolicitedNode(host6A2), host6A2, 255))
	rb.only(t, rb.outputs(), map[*tport]int{rb.a2: 2})
	wantDrops(t, rb.a1, nil)
}

func TestND6Malformed(t *testing.T) {
	rb := v6bed(t)
	sn := header.SolicitedNode(gw6A)
	snMAC := header.MulticastMAC6(sn)
	good := func() []byte { return nsBuf(t, macA1, snMAC, host6A1, sn, gw6A, 255) }
	fix := func(b []byte) []byte { // a right checksum again after an edit
		ip := header.IPv6(b[ip6Off:])
		m := header.ICMPv6(ip.Payload())
		m.SetChecksum(m.ComputeChecksum(ip.Src(), ip.Dst()))
		return b
	}
	icmpOff := ip6Off + header.IPv6MinLen
	cases := map[string][]byte{
		"hop limit 64":        nsBuf(t, macA1, snMAC, host6A1, sn, gw6A, 64),
		"bad checksum":        func() []byte { b := good(); b[icmpOff+2] ^= 0xff; return b }(),
		"code 1":              func() []byte { b := good(); b[icmpOff+1] = 1; return fix(b) }(),
		"zero-length option":  func() []byte { b := good(); b[icmpOff+header.NDNSLen+1] = 0; return fix(b) }(),
		"option past the end": func() []byte { b := good(); b[icmpOff+header.NDNSLen+1] = 2; return fix(b) }(),
		"short NS": func() []byte {
			b := good()[:icmpOff+16]
			header.IPv6(b[ip6Off:]).SetPayloadLen(16)
			return fix(b)
		}(),
		"DAD with a source option": func() []byte {
			b := nsBuf(t, macA1, snMAC, netip.IPv6Unspecified(), sn, gw6A, 255)
			b = append(b, header.NDOptSrcLLAddr, 1, 2, 0, 0, 0, 0, 0x0a)
			header.IPv6(b[ip6Off:]).SetPayloadLen(header.NDNSLen + 8)
			return fix(b)
		}(),
		"RS hop limit 1": icmp6Buf(t, macA1, header.MulticastMAC6(allRouters), llA1, allRouters, 1, layers.ICMPv6TypeRouterSolicitation, &layers.ICMPv6RouterSolicitation{}),
	}
	for name, b := range cases {
		rb.send(rb.a1, b)
		if got := rb.outputs(); len(got) != 0 {
			t.Errorf("%s: answered or switched: %v", name, got)
		}
	}
	wantDrops(t, rb.a1, map[DropReason]uint64{DropMalformed: uint64(len(cases))})
}

func TestND6RouterSolicitation(t *testing.T) {
	rb := v6bed(t)
	rb.send(rb.a1, icmp6Buf(t, macA1, header.MulticastMAC6(allRouters), llA1, allRouters, 255, layers.ICMPv6TypeRouterSolicitation,
		&layers.ICMPv6RouterSolicitation{Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: macA1[:]}}}))
	got := rb.outputs()
	if rb.only(t, got, map[*tport]int{rb.a1: 1}) {
		if want := wantRA(t, macA1, llA1); !bytes.Equal(got[rb.a1][0], want) {
			t.Errorf("RA:\n got % x\nwant % x", got[rb.a1][0], want)
		}
	}
	// From :: (before the host has an address): to all-nodes.
	rb.send(rb.a1, icmp6Buf(t, macA1, header.MulticastMAC6(allRouters), netip.IPv6Unspecified(), allRouters, 255,
		layers.ICMPv6TypeRouterSolicitation, &layers.ICMPv6RouterSolicitation{}))
	got = rb.outputs()
	if rb.only(t, got, map[*tport]int{rb.a1: 1}) {
		if want := wantRA(t, header.MulticastMAC6(allNodes), allNodes); !bytes.Equal(got[rb.a1][0], want) {
			t.Errorf("RA to all-nodes:\n got % x\nwant % x", got[rb.a1][0], want)
		}
	}
	wantDrops(t, rb.a1, nil)

	// The periodic one goes to every port of the network, from the
	// control plane.
	rb.dp.SendRouterAdvert(rb.netA)
	got = rb.outputs()
	if rb.only(t, got, map[*tport]int{rb.a1: 1, rb.a2: 1}) {
		want := wantRA(t, header.MulticastMAC6(allNodes), allNodes)
		if !bytes.Equal(got[rb.a1][0], want) || !bytes.Equal(got[rb.a2][0], want) {
			t.Errorf("unsolicited RA:\n got % x\nwant % x", got[rb.a1][0], want)
		}
	}
	rb.dp.SendRouterAdvert(rb.netB) // no IPv6 there: nothing
	rb.only(t, rb.outputs(), nil)
	// The gateway's announcement at creation and restart: a gratuitous
	// ARP and, with IPv6, an advertisement.
	rb.dp.SendGratuitous(rb.netA)
	got = rb.outputs()
	if rb.only(t, got, map[*tport]int{rb.a1: 2, rb.a2: 2}) && !bytes.Equal(got[rb.a1][1], wantRA(t, header.MulticastMAC6(allNodes), allNodes)) {
		t.Errorf("SendGratuitous: second frame % x, want the RA", got[rb.a1][1])
	}
	rb.dp.SendGratuitous(rb.netB)
	rb.only(t, rb.outputs(), map[*tport]int{rb.b1: 1, rb.b2: 1})
}

func TestND6Echo(t *testing.T) {
	rb := v6bed(t)
	payload := pattern(56, 3)
	for _, dst := range []netip.Addr{gw6A, gwLLA} {
		src := host6A1
		if dst == gwLLA {
			src = llA1
		}
		rb.send(rb.a1, icmp6Buf(t, macA1, gwMACA, src, dst, 64, layers.ICMPv6TypeEchoRequest,
			&layers.ICMPv6Echo{Identifier: 0x77, SeqNumber: 3}, gopacket.Payload(payload)))
		got := rb.outputs()
		if !rb.only(t, got, map[*tport]int{rb.a1: 1}) {
			continue
		}
		want := icmp6Buf(t, gwMACA, macA1, dst, src, 64, layers.ICMPv6TypeEchoReply,
			&layers.ICMPv6Echo{Identifier: 0x77, SeqNumber: 3}, gopacket.Payload(payload))
		if !bytes.Equal(got[rb.a1][0], want) {
			t.Errorf("echo reply from %v:\n got % x\nwant % x", dst, got[rb.a1][0], want)
		}
	}
	wantDrops(t, rb.a1, nil)

	// To the gateway's MAC but another address without a route: routed
	// (route6.go), "no route" sent back; UDP to the gateway: not handled;
	// a bad checksum: malformed.
	rb.send(rb.a1, icmp6Buf(t, macA1, gwMACA, host6A1, netip.MustParseAddr("fd00:b::10"), 64, layers.ICMPv6TypeEchoRequest,
		&layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}))
	udp := &layers.UDP{SrcPort: 1000, DstPort: 53}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: 64, SrcIP: netIP(host6A1), DstIP: netIP(gw6A)}
	udp.SetNetworkLayerForChecksum(ip)
	rb.send(rb.a1, withVirtioHdr(t, nil, &layers.Ethernet{SrcMAC: net.HardwareAddr(macA1[:]), DstMAC: net.HardwareAddr(gwMACA[:]),
		EthernetType: layers.EthernetTypeIPv6}, ip, udp, gopacket.Payload([]byte("q"))))
	bad := icmp6Buf(t, macA1, gwMACA, host6A1, gw6A, 64, layers.ICMPv6TypeEchoRequest, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
	bad[len(bad)-1] ^= 1
	rb.send(rb.a1, bad)
	rb.only(t, rb.outputs(), map[*tport]int{rb.a1: 1})
	wantDrops(t, rb.a1, map[DropReason]uint64{DropNoRoute: 1, DropLocal: 1, DropMalformed: 1})

	// Between two containers: switched at L2, untouched.
	between := icmp6Buf(t, macA1, macA2, host6A1, host6A2, 64, layers.ICMPv6TypeEchoRequest, &layers.ICMPv6Echo{Identifier: 2, SeqNumber: 1})
	rb.send(rb.a1, between)
	got := rb.outputs()
	if rb.only(t, got, map[*tport]int{rb.a2: 1}) && !bytes.Equal(got[rb.a2][0], between) {
		t.Error("a frame between containers was changed")
	}
}

// TestND6Trace: a dry run shows the gateway's answers and why a packet to
// a link-local address of another link is dropped.
func TestND6Trace(t *testing.T) {
	rb := v6bed(t)
	for _, tc := range []struct {
		buf      []byte
		decision string
		verdict  Action
	}{
		{nsBuf(t, macA1, header.MulticastMAC6(header.SolicitedNode(gw6A)), host6A1, header.SolicitedNode(gw6A), gw6A, 255), "neighbour-advert", ActConsumed},
		{icmp6Buf(t, macA1, gwMACA, host6A1, gw6A, 64, layers.ICMPv6TypeEchoRequest, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}), "echo-reply", ActForward},
		{icmp6Buf(t, macA1, gwMACA, host6A1, netip.MustParseAddr("fe80::99"), 64, layers.ICMPv6TypeEchoRequest, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}), "drop", ActDrop},
	} {
		pt, err := rb.dp.Trace(rb.a1.idx, tc.buf[header.VirtioNetHdrLen:])
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, st := range pt.StepList() {
			if st.Decision == tc.decision && st.Note != "" {
				found = true
			}
		}
		if !found || pt.Verdict.Action != tc.verdict {
			t.Errorf("trace: verdict %v, steps %+v; want a %q step with a note", pt.Verdict, pt.StepList(), tc.decision)
		}
	}
	rb.only(t, rb.outputs(), nil) // a dry run sends nothing
	wantDrops(t, rb.a1, nil)
}

// The ND and echo paths allocate nothing.
func BenchmarkND6Solicitation(b *testing.B) {
	benchND6(b, nsBuf(b, macA1, header.MulticastMAC6(header.SolicitedNode(gw6A)), host6A1, header.SolicitedNode(gw6A), gw6A, 255))
}

func BenchmarkND6Echo(b *testing.B) {
	benchND6(b, icmp6Buf(b, macA1, gwMACA, host6A1, gw6A, 64, layers.ICMPv6TypeEchoRequest,
		&layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1}, gopacket.Payload(pattern(56, 0))))
}

func benchND6(b *testing.B, frame []byte) {
	rw := newRouteWorker(b, false)
	s := rw.dp.cfg.Load()
	l3 := s.nets[rw.a1.Net].L3
	l3.Gateway6, l3.GatewayLL, l3.Prefix6, l3.RALifetime = gw6A, gwLLA, prefix6A, 1800
	rw.dp.SetL3(map[uint16]NetL3{rw.a1.Net: l3}, nil)
	s = rw.dp.cfg.Load()
	rw.a1 = s.port(rw.a1.Index)
	run := func() {
		bufs, sizes := rw.batch(frame, benchBatch)
		rw.w.forwardBatch(s, rw.a1, bufs, sizes)
	}
	run()
	before := rw.ca.Written.Load()
	if before != benchBatch {
		b.Fatalf("warm-up: %d answers, want %d (drops %v)", before, benchBatch, rw.a1.Stats.DropMap())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	b.StopTimer()
	if got := rw.ca.Written.Load() - before; got != uint64(b.N)*benchBatch {
		b.Fatalf("%d answers, want %d", got, uint64(b.N)*benchBatch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/frame")
}

func TestND6Allocs(t *testing.T) {
	res := testing.Benchmark(BenchmarkND6Solicitation)
	if res.N > 0 && res.AllocsPerOp() != 0 {
		t.Errorf("ND: %d allocs per batch", res.AllocsPerOp())
	}
	res = testing.Benchmark(BenchmarkND6Echo)
	if res.N > 0 && res.AllocsPerOp() != 0 {
		t.Errorf("echo: %d allocs per batch", res.AllocsPerOp())
	}
}

// TestND6TraceBuildFrame: trace's own IPv6 frames are what the gateway
// answers: an echo request and a neighbour solicitation, checksums right.
func TestND6TraceBuildFrame(t *testing.T) {
	rb := v6bed(t)
	for _, tc := range []struct {
		spec    TraceSpec
		verdict Action
	}{
		{TraceSpec{SrcMAC: macA1, DstMAC: gwMACA, Src: host6A1, Dst: gw6A, Proto: header.ProtoICMPv6, SPort: 9}, ActForward},
		{TraceSpec{SrcMAC: macA1, DstMAC: header.MulticastMAC6(header.SolicitedNode(gwLLA)), Src: llA1, Dst: gwLLA, NS: true}, ActConsumed},
	} {
		f, err := BuildFrame(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		ip := header.IPv6(f[header.EthernetLen:])
		if m := header.ICMPv6(ip.Payload()); !m.ChecksumValid(ip.Src(), ip.Dst()) {
			t.Errorf("%+v: ICMPv6 checksum wrong", tc.spec)
		}
		pt, err := rb.dp.Trace(rb.a1.idx, f)
		if err != nil {
			t.Fatal(err)
		}
		if pt.Verdict.Action != tc.verdict || pt.Before.Src != tc.spec.Src {
			t.Errorf("%+v: verdict %+v, frame %+v", tc.spec, pt.Verdict, pt.Before)
		}
	}
	if _, err := BuildFrame(TraceSpec{Src: hostA1, Dst: gw6A, Proto: header.ProtoICMPv6}); err == nil {
		t.Error("mixed families accepted")
	}
}

// FuzzND6 feeds arbitrary IPv6 frames, to the gateway's MAC and to its
// solicited-node group, through the pipeline of a network with IPv6 routed
// to a second one (route6.go): no panic (forwardBatch would count it as
// internal-error), every answer or error the gateway makes carries a valid
// ICMPv6 checksum and fits in 1280 bytes, and nothing routed to B is longer
// than B's MTU or leaves with the hop limit it came with.
func FuzzND6(f *testing.F) {
	f.Add(nsBuf(f, macA1, header.MulticastMAC6(header.SolicitedNode(gw6A)), host6A1, header.SolicitedNode(gw6A), gw6A, 255)[ip6Off:], false)
	f.Add(icmp6Buf(f, macA1, gwMACA, host6A1, gw6A, 64, layers.ICMPv6TypeEchoRequest, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})[ip6Off:], true)
	f.Add(icmp6Buf(f, macA1, header.MulticastMAC6(allRouters), llA1, allRouters, 255, layers.ICMPv6TypeRouterSolicitation, &layers.ICMPv6RouterSolicitation{})[ip6Off:], false)
	f.Add(echo6Buf(f, host6B1, 64, 8)[ip6Off:], true)
	f.Add(echo6Buf(f, host6B1, 1, 8)[ip6Off:], true)
	f.Add(echo6Buf(f, host6B1, 64, 1400)[ip6Off:], true)
	f.Add(echo6Buf(f, netip.MustParseAddr("fd00:b::99"), 64, 8)[ip6Off:], true)
	rw := newRouteWorker(f, true)
	na, nb := rw.a1.Net, rw.b1.Net
	l3 := rw.dp.cfg.Load().nets[na].L3
	l3.Gateway6, l3.GatewayLL, l3.Prefix6, l3.RALifetime = gw6A, gwLLA, prefix6A, 1800
	lb := rw.dp.cfg.Load().nets[nb].L3
	lb.Gateway6, lb.GatewayLL, lb.Prefix6, lb.RALifetime = gw6B, header.LinkLocalFromMAC(gwMACB), prefix6B, 1800
	rw.dp.SetL3(map[uint16]NetL3{na: l3, nb: lb}, routing.Build([]routing.Route{
		{Prefix: subnetA, Network: na, Kind: routing.Connected},
		{Prefix: subnetB, Network: nb, Kind: routing.Connected},
		{Prefix: prefix6A, Network: na, Kind: routing.Connected},
		{Prefix: prefix6B, Network: nb, Kind: routing.Connected},
	}))
	rw.dp.ARP().SetPermanent(host6B1, macB1, nb)
	s := rw.dp.cfg.Load()
	a1 := s.port(rw.a1.Index)
	f.Fuzz(func(t *testing.T, ip []byte, toGW bool) {
		dmac := header.MulticastMAC6(header.SolicitedNode(gw6A))
		if toGW {
			dmac = gwMACA
		}
		frame := rawFrame(dmac, macA1, header.EtherTypeIPv6, ip)
		bufs, sizes := rw.batch(frame, 1)
		rw.w.forwardBatch(s, a1, bufs, sizes)
		if n := a1.Stats.Drops[DropInternal].Load(); n != 0 {
			t.Fatalf("internal-error: a panic on % x", ip)
		}
		for _, out := range rw.ca.Recv() {
			oip := header.IPv6(out[ip6Off:])
			if oip.Valid() && !oip.SrcIs(gw6A) && !oip.SrcIs(gwLLA) && !oip.SrcIs(gw6B) {
				continue // routed back into A (a hairpin through the gateway), not an answer
			}
			if m := header.ICMPv6(oip.Payload()); !oip.Valid() || !m.Valid() || !m.ChecksumValid(oip.Src(), oip.Dst()) {
				t.Fatalf("answer with a bad checksum: % x", out)
			}
			if len(oip) > icmp6ErrMax && header.ICMPv6(oip.Payload()).Type() < 128 {
				t.Fatalf("an ICMPv6 error of %d bytes", len(oip))
			}
		}
		for _, out := range rw.cb.Recv() {
			oip := header.IPv6(out[ip6Off:])
			if len(ip) < header.IPv6MinLen || !oip.Valid() {
				t.Fatalf("routed a frame that is not IPv6: % x", out)
			}
			if m := header.ICMPv6(oip.Payload()); oip.NextHeader() == header.ProtoICMPv6 && m.Valid() && m.Type() == header.ICMPv6NeighSolicit {
				continue // the gateway resolving a next hop
			}
			if header.IPv6MinLen+int(oip.PayloadLen()) > mtuB || oip.HopLimit() != header.IPv6(ip).HopLimit()-1 {
				t.Fatalf("routed to B: %d bytes (MTU %d), hop limit %d from %d", header.IPv6MinLen+int(oip.PayloadLen()), mtuB, oip.HopLimit(), header.IPv6(ip).HopLimit())
			}
		}
	})
}
