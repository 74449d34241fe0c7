package dataplane

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"vswitch/arp"
	"vswitch/header"
	"vswitch/routing"
)

// IPv6 routing between networks A and B of the routerbed (route6.go):
//
//	A fd00:a::/64  gw fd00:a::1  MTU 1500   a1: fd00:a::10
//	B fd00:b::/64  gw fd00:b::1  MTU 1400   b1: fd00:b::10   b2: fd00:b::11
//
// The expected frames are built by gopacket from the test's own values.

var (
	prefix6B = netip.MustParsePrefix("fd00:b::/64")
	gw6B     = netip.MustParseAddr("fd00:b::1")
	host6B1  = netip.MustParseAddr("fd00:b::10")
	host6B2  = netip.MustParseAddr("fd00:b::11")
)

// route6bed is the routerbed with IPv6 on both gateways and their
// connected IPv6 routes, A and B connected or not.
func route6bed(t *testing.T, connected bool) *routerbed {
	rb := newRouterbed(t, connected)
	a := NetL3{GatewayIP: gwIPA, GatewayMAC: gwMACA, Subnet: subnetA, MTU: mtuA,
		Gateway6: gw6A, GatewayLL: gwLLA, Prefix6: prefix6A, RALifetime: 1800}
	b := NetL3{GatewayIP: gwIPB, GatewayMAC: gwMACB, Subnet: subnetB, MTU: mtuB,
		Gateway6: gw6B, GatewayLL: header.LinkLocalFromMAC(gwMACB), Prefix6: prefix6B, RALifetime: 1800}
	if connected {
		a.Connected, b.Connected = []uint16{rb.netB}, []uint16{rb.netA}
	}
	rb.dp.SetL3(map[uint16]NetL3{rb.netA: a, rb.netB: b}, routing.Build([]routing.Route{
		{Prefix: subnetA, Network: rb.netA, Kind: routing.Connected},
		{Prefix: subnetB, Network: rb.netB, Kind: routing.Connected},
		{Prefix: prefix6A, Network: rb.netA, Kind: routing.Connected},
		{Prefix: prefix6B, Network: rb.netB, Kind: routing.Connected},
	}))
	return rb
}

// echo6Buf is an echo request of n payload bytes from a1 to dst through
// A's gateway, with hop limit hop.
func echo6Buf(t testing.TB, dst netip.Addr, hop uint8, n int) []byte {
	return icmp6Buf(t, macA1, gwMACA, host6A1, dst, hop, layers.ICMPv6TypeEchoRequest,
		&layers.ICMPv6Echo{Identifier: 0x66, SeqNumber: 1}, gopacket.Payload(bytes.Repeat([]byte{0xab}, n)))
}

// naBuf is host's solicited advertisement (with its link-layer address)
// to B's gateway.
func naBuf(t testing.TB, mac header.MAC, host netip.Addr) []byte {
	return icmp6Buf(t, mac, gwMACB, host, gw6B, 255, layers.ICMPv6TypeNeighborAdvertisement,
		&layers.ICMPv6NeighborAdvertisement{Flags: header.NAFlagSolicited | header.NAFlagOverride, TargetAddress: netIP(host),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: mac[:]}}})
}

// wantRouted6 is orig as B's gateway sends it to mac: MACs rewritten,
// hop limit one less, nothing else touched.
func wantRouted6(orig []byte, mac header.MAC) []byte {
	w := bytes.Clone(orig)
	eth := header.Ethernet(w[header.VirtioNetHdrLen:])
	eth.SetDst(mac)
	eth.SetSrc(gwMACB)
	ip := header.IPv6(w[ip6Off:])
	ip.SetHopLimit(ip.HopLimit() - 1)
	return w
}

// checkICMP6Error checks that f is an ICMPv6 error from A's gateway to a1
// of type typ, code, 32-bit field param, quoting orig (as sent) up to
// 1232 bytes, with a right checksum (recomputed by gopacket).
func checkICMP6Error(t *testing.T, f, orig []byte, typ, code uint8, param uint32) {
	t.Helper()
	p := gopacket.NewPacket(f[header.VirtioNetHdrLen:], layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	ic, _ := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if eth == nil || ip == nil || ic == nil {
		t.Fatalf("not an ICMPv6 packet: % x", f)
	}
	if !bytes.Equal(eth.SrcMAC, gwMACA[:]) || !bytes.Equal(eth.DstMAC, macA1[:]) || !ip.SrcIP.Equal(netIP(gw6A)) || !ip.DstIP.Equal(netIP(host6A1)) {
		t.Errorf("error %v %v -> %v %v: want from A's gateway to a1", eth.SrcMAC, ip.SrcIP, eth.DstMAC, ip.DstIP)
	}
	if ic.TypeCode.Type() != typ || ic.TypeCode.Code() != code {
		t.Errorf("ICMPv6 %v, want type %d code %d", ic.TypeCode, typ, code)
	}
	body := f[ip6Off+header.IPv6MinLen:]
	if got := binary.BigEndian.Uint32(body[4:8]); got != param {
		t.Errorf("ICMPv6 32-bit field %d, want %d", got, param)
	}
	quote := orig[ip6Off:]
	if len(quote) > 1232 {
		quote = quote[:1232]
	}
	if !bytes.Equal(body[8:], quote) {
		t.Errorf("quote of %d bytes, want the first %d of the packet as sent", len(body)-8, len(quote))
	}
	if len(f)-ip6Off > 1280 {
		t.Errorf("error of %d bytes: RFC 4443 wants at most 1280", len(f)-ip6Off)
	}
	re := make([]byte, len(body))
	copy(re, body)
	re[2], re[3] = 0, 0
	var pseudo []byte
	pseudo = append(pseudo, ip.SrcIP...)
	pseudo = append(pseudo, ip.DstIP...)
	pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(body)))
	pseudo = append(pseudo, 0, 0, 0, 58)
	if sum := ^fold16(sum16(append(pseudo, re...), 0)); sum != binary.BigEndian.Uint16(body[2:4]) {
		t.Errorf("ICMPv6 checksum %04x, want %04x", binary.BigEndian.Uint16(body[2:4]), sum)
	}
}

// TestRoute6Resolve: the first packet to a host of B waits while B's
// gateway solicits it; its advertisement releases the packet, routed
// (hop limit - 1, MACs rewritten), and the next packets go at once. The
// neighbour is in the table (arp show) as reachable.
func TestRoute6Resolve(t *testing.T) {
	rb := route6bed(t, true)
	p := echo6Buf(t, host6B1, 64, 8)
	rb.send(rb.a1, p)
	got := rb.outputs()
	if !rb.only(t, got, map[*tport]int{rb.b1: 1, rb.b2: 1}) {
		t.FailNow()
	}
	wantNS := icmp6Buf(t, gwMACB, header.MulticastMAC6(header.SolicitedNode(host6B1)), gw6B, header.SolicitedNode(host6B1), 255,
		layers.ICMPv6TypeNeighborSolicitation, &layers.ICMPv6NeighborSolicitation{TargetAddress: netIP(host6B1),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: gwMACB[:]}}})
	if !bytes.Equal(got[rb.b1][0], wantNS) {
		t.Fatalf("solicitation:\n got % x\nwant % x", got[rb.b1][0], wantNS)
	}
	if _, _, st, _ := rb.dp.ARP().Lookup(host6B1); st != arp.Incomplete {
		t.Fatalf("neighbour state %v, want incomplete", st)
	}
	rb.send(rb.b1, naBuf(t, macB1, host6B1))
	got = rb.outputs()
	rb.exact(t, got, map[*tport][][]byte{rb.b1: {wantRouted6(p, macB1)}})
	if mac, _, st, _ := rb.dp.ARP().Lookup(host6B1); st != arp.Reachable || mac != macB1 {
		t.Fatalf("neighbour %v %v, want reachable at %v", mac, st, macB1)
	}
	rb.send(rb.a1, p)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {wantRouted6(p, macB1)}})
	for _, tp := range rb.all() {
		wantDrops(t, tp, nil)
	}
}

// TestRoute6Queue: while the neighbour is unresolved at most QueueLen
// packets wait, the oldest pushed out (arp-queue-full); the three newest
// leave when it answers. A solicitation with a source link-layer option,
// to the gateway, teaches the asker's address too.
func TestRoute6Queue(t *testing.T) {
	rb := route6bed(t, true)
	var sent [][]byte
	for i := range 4 {
		p := echo6Buf(t, host6B1, 64, 8+i)
		sent = append(sent, p)
		rb.send(rb.a1, p)
	}
	got := rb.outputs()
	if len(got[rb.b1]) != 1 {
		t.Fatalf("%d solicitations to b1, want 1 (one per retransmit time)", len(got[rb.b1]))
	}
	wantDrops(t, rb.a1, map[DropReason]uint64{DropARPQueueFull: 1})
	rb.send(rb.b1, naBuf(t, macB1, host6B1))
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {wantRouted6(sent[1], macB1), wantRouted6(sent[2], macB1), wantRouted6(sent[3], macB1)}})

	// b2 asks for the gateway: it is learned (stale) and answered.
	rb.send(rb.b2, icmp6Buf(t, macB2, header.MulticastMAC6(header.SolicitedNode(gw6B)), host6B2, header.SolicitedNode(gw6B), 255,
		layers.ICMPv6TypeNeighborSolicitation, &layers.ICMPv6NeighborSolicitation{TargetAddress: netIP(gw6B),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: macB2[:]}}}))
	rb.only(t, rb.outputs(), map[*tport]int{rb.b2: 1})
	if mac, _, st, _ := rb.dp.ARP().Lookup(host6B2); st != arp.Stale || mac != macB2 {
		t.Fatalf("b2 learned as %v %v, want stale at %v", mac, st, macB2)
	}
	p := echo6Buf(t, host6B2, 64, 8)
	rb.send(rb.a1, p)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b2: {wantRouted6(p, macB2)}})
}

// TestRoute6Errors: hop limit 1 gets time exceeded, a destination without
// a route no route, a packet longer than B's MTU (1400) packet too big
// with 1400, each from A's gateway quoting the packet as sent; a smaller
// one passes. Unconnected networks drop as isolation and send nothing.
func TestRoute6Errors(t *testing.T) {
	rb := route6bed(t, true)
	rb.neighbours(t, []neighbour{{host6B1, macB1, rb.netB, rb.b1}})

	ttl := echo6Buf(t, host6B1, 1, 8)
	rb.send(rb.a1, ttl)
	got := rb.outputs()
	if rb.only(t, got, map[*tport]int{rb.a1: 1}) {
		checkICMP6Error(t, got[rb.a1][0], ttl, 3, 0, 0)
	}
	wantDrops(t, rb.a1, map[DropReason]uint64{DropTTL: 1})

	far := echo6Buf(t, netip.MustParseAddr("2001:db8::1"), 64, 8)
	rb.send(rb.a1, far)
	got = rb.outputs()
	if rb.only(t, got, map[*tport]int{rb.a1: 1}) {
		checkICMP6Error(t, got[rb.a1][0], far, 1, 0, 0)
	}
	wantDrops(t, rb.a1, map[DropReason]uint64{DropTTL: 1, DropNoRoute: 1})

	// 1448 bytes of IPv6 (ping -s 1400): too big for 1400, quoted cut at 1232.
	big := echo6Buf(t, host6B1, 64, 1400)
	rb.send(rb.a1, big)
	got = rb.outputs()
	if rb.only(t, got, map[*tport]int{rb.a1: 1}) {
		checkICMP6Error(t, got[rb.a1][0], big, 2, 0, mtuB)
	}
	wantDrops(t, rb.a1, map[DropReason]uint64{DropTTL: 1, DropNoRoute: 1, DropFragNeeded: 1})
	fits := echo6Buf(t, host6B1, 64, mtuB-header.IPv6MinLen-header.ICMPv6MinLen)
	rb.send(rb.a1, fits)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {wantRouted6(fits, macB1)}})

	// An error about an ICMPv6 error is never sent.
	rb.send(rb.a1, icmp6Buf(t, macA1, gwMACA, host6A1, host6B1, 1, 1, gopacket.Payload(make([]byte, 52))))
	rb.only(t, rb.outputs(), nil)

	iso := route6bed(t, false)
	iso.neighbours(t, []neighbour{{host6B1, macB1, iso.netB, iso.b1}})
	iso.send(iso.a1, echo6Buf(t, host6B1, 64, 8))
	iso.only(t, iso.outputs(), nil)
	wantDrops(t, iso.a1, map[DropReason]uint64{DropIsolation: 1})
}

// TestRoute6GSO: a TCPv6 super-frame whose segments fit B's MTU is routed
// whole, virtio header untouched and counted as GSO on the egress; one
// whose segments do not fit gets packet too big.
func TestRoute6GSO(t *testing.T) {
	rb := route6bed(t, true)
	rb.neighbours(t, []neighbour{{host6B1, macB1, rb.netB, rb.b1}})
	fit := gsoTCP6Frame(t, mtuB-header.IPv6MinLen-32, 4)
	rb.send(rb.a1, fit)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {wantRouted6(fit, macB1)}})
	if n := rb.b1.stats.TxGSO.Load(); n != 1 {
		t.Errorf("b1 sent %d GSO super-frames, want 1", n)
	}
	over := gsoTCP6Frame(t, mtuB, 2)
	rb.send(rb.a1, over)
	got := rb.outputs()
	if rb.only(t, got, map[*tport]int{rb.a1: 1}) {
		checkICMP6Error(t, got[rb.a1][0], over, 2, 0, mtuB)
	}
	wantDrops(t, rb.a1, map[DropReason]uint64{DropFragNeeded: 1})
}

// gsoTCP6Frame is a TCPv6 super-frame from a1 to b1 of segments segments
// of mss bytes, TCP timestamps on (32-byte TCP header), partial checksum.
func gsoTCP6Frame(tb testing.TB, mss, segments int) []byte {
	tb.Helper()
	vh := header.VirtioNetHdr(make([]byte, header.VirtioNetHdrLen))
	vh.SetFlags(header.VirtioNetHdrFNeedsCsum)
	vh.SetGSOType(header.VirtioGSOTCPv6)
	vh.SetHdrLen(header.EthernetLen + header.IPv6MinLen + 32)
	vh.SetGSOSize(uint16(mss))
	vh.SetCsumStart(header.EthernetLen + header.IPv6MinLen)
	vh.SetCsumOffset(16)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(macA1[:]), DstMAC: net.HardwareAddr(gwMACA[:]), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64, SrcIP: netIP(host6A1), DstIP: netIP(host6B1)}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 1, Ack: 1, ACK: true, Window: 502,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)}}}
	tcp.SetNetworkLayerForChecksum(ip)
	return withVirtioHdr(tb, vh, eth, ip, tcp, gopacket.Payload(bytes.Repeat([]byte{7}, mss*segments)))
}

// BenchmarkRoute6Forward: one IPv6 packet from A to a resolved host of B
// through routeIPv6 (the frame refilled each time, as a read would).
func BenchmarkRoute6Forward(b *testing.B) {
	rw := newRouteWorker(b, false)
	s := rw.dp.cfg.Load()
	na, nb := rw.a1.Net, rw.b1.Net
	la, lb := s.nets[na].L3, s.nets[nb].L3
	la.Gateway6, la.GatewayLL, la.Prefix6 = gw6A, gwLLA, prefix6A
	lb.Gateway6, lb.GatewayLL, lb.Prefix6 = gw6B, header.LinkLocalFromMAC(gwMACB), prefix6B
	rw.dp.SetL3(map[uint16]NetL3{na: la, nb: lb}, routing.Build([]routing.Route{
		{Prefix: subnetA, Network: na, Kind: routing.Connected},
		{Prefix: subnetB, Network: nb, Kind: routing.Connected},
		{Prefix: prefix6A, Network: na, Kind: routing.Connected},
		{Prefix: prefix6B, Network: nb, Kind: routing.Connected},
	}))
	rw.dp.ARP().SetPermanent(host6B1, macB1, nb)
	s = rw.dp.cfg.Load()
	in, net := s.port(rw.a1.Index), s.nets[na]
	frame := echo6Buf(b, host6B1, 64, 64-header.EthernetLen-header.IPv6MinLen-8)
	buf := make([]byte, len(frame))
	now := rw.clock.Now().UnixNano()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(buf, frame)
		if v := rw.w.routeIPv6(s, in, net, buf, now); v.Action != ActForward {
			b.Fatalf("verdict %+v", v)
		}
	}
}

// TestRoute6NoAnswer: a next hop that never answers is solicited
// MaxProbes times (the retransmits from the timer are solicitations too);
// then its packet's sender gets address unreachable from its own gateway,
// quoting the packet as it waited (hop limit already one less), counted as
// arp-failed.
func TestRoute6NoAnswer(t *testing.T) {
	rb := route6bed(t, true)
	p := echo6Buf(t, host6B1, 64, 8)
	rb.send(rb.a1, p)
	got := rb.outputs()
	if !rb.only(t, got, map[*tport]int{rb.b1: 1, rb.b2: 1}) {
		t.FailNow()
	}
	ns := got[rb.b1][0]
	for range arp.DefaultMaxProbes - 1 {
		rb.clock.Advance(arp.DefaultRetransTime)
		for _, port := range []*tport{rb.b1, rb.b2} {
			if f := waitNoRA(t, port, 1, 3*time.Second); len(f) != 1 || !bytes.Equal(f[0], ns) {
				t.Errorf("port %s: %d frames; want the solicitation again", port.name, len(f))
			}
		}
	}
	rb.clock.Advance(arp.DefaultRetransTime)
	f := waitNoRA(t, rb.a1, 1, 3*time.Second)
	waited := bytes.Clone(p)
	header.IPv6(waited[ip6Off:]).SetHopLimit(63)
	checkICMP6Error(t, f[0], waited, 1, 3, 0)
	if n := rb.dp.Drops()["arp-failed"]; n != 1 {
		t.Errorf("arp-failed drops %d, want 1", n)
	}
	if _, _, st, _ := rb.dp.ARP().Lookup(host6B1); st != arp.Failed {
		t.Errorf("state %v, want failed", st)
	}
}

// TestRoute6Trace: a dry run of a routed IPv6 ping shows the route (B's
// /64), isolation, the neighbour and the egress port, and changes
// nothing: no solicitation, no entry.
func TestRoute6Trace(t *testing.T) {
	rb := route6bed(t, true)
	f, err := BuildFrame(TraceSpec{SrcMAC: macA1, DstMAC: gwMACA, Src: host6A1, Dst: host6B1, Proto: header.ProtoICMPv6, SPort: 7})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := rb.dp.Trace(rb.a1.idx, f)
	if err != nil {
		t.Fatal(err)
	}
	stages := map[Stage]Step{}
	for _, st := range pt.StepList() {
		stages[st.Stage] = st
	}
	if st := stages[StageRoute]; st.Decision != "hit" || st.Route.Prefix != prefix6B {
		t.Errorf("route step %+v, want a hit on %v", st, prefix6B)
	}
	if st := stages[StageIsolation]; st.Decision != "pass" {
		t.Errorf("isolation step %+v, want pass", st)
	}
	if st := stages[StageNeighbour]; st.Decision != "unresolved" || st.IP != host6B1 {
		t.Errorf("neighbour step %+v, want unresolved for %v", st, host6B1)
	}
	if pt.Verdict.Action != ActConsumed {
		t.Errorf("verdict %+v, want consumed (it would wait for the neighbour)", pt.Verdict)
	}
	rb.only(t, rb.outputs(), nil)
	if _, _, st, _ := rb.dp.ARP().Lookup(host6B1); st != arp.None {
		t.Errorf("a dry run made a neighbour entry (%v)", st)
	}

	rb.neighbours(t, []neighbour{{host6B1, macB1, rb.netB, rb.b1}})
	pt, _ = rb.dp.Trace(rb.a1.idx, f)
	last := pt.StepList()[pt.N-1]
	if pt.Verdict.Action != ActForward || pt.Verdict.Port != rb.b1.idx || last.Stage != StageEgress || pt.After.TTL != 63 {
		t.Errorf("resolved: verdict %+v, last step %+v, hop limit after %d; want forward to b1, hop limit 63", pt.Verdict, last, pt.After.TTL)
	}
	rb.only(t, rb.outputs(), nil)
}

// waitNoRA is waitFrames leaving out the gateways' periodic router
// advertisements, which the timer sends at its first tick.
func waitNoRA(t *testing.T, p *tport, n int, timeout time.Duration) [][]byte {
	t.Helper()
	var got [][]byte
	deadline := time.Now().Add(timeout)
	for len(got) < n {
		for _, f := range p.ch.Recv() {
			if len(f) > ip6Off+header.IPv6MinLen {
				ip := header.IPv6(f[ip6Off:])
				if m := header.ICMPv6(ip.Payload()); ip.NextHeader() == header.ProtoICMPv6 && m.Type() == header.ICMPv6RouterAdvert {
					continue
				}
			}
			got = append(got, f)
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s: %d frames after %v, want %d", p.name, len(got), timeout, n)
		}
		time.Sleep(time.Millisecond)
	}
	return got
}

// TestMayAnswerWithError6: RFC 4443 2.4 (e) looks for the ICMPv6 header
// past the extension headers: an error behind a destination options or a
// fragment header is still an error and gets none; a later fragment of
// ICMPv6 or a chain cut short gets none either; anything else does.
func TestMayAnswerWithError6(t *testing.T) {
	src, dst := netip.MustParseAddr("fd00:a::10"), netip.MustParseAddr("fd00:b::10")
	// frame builds virtio_net_hdr, Ethernet and IPv6 (next header first)
	// around the chain of headers rest.
	frame := func(first uint8, rest ...byte) []byte {
		b := make([]byte, ip6Off+header.IPv6MinLen, ip6Off+header.IPv6MinLen+len(rest))
		eth := header.Ethernet(b[header.VirtioNetHdrLen:])
		eth.SetDst(gwMACA)
		eth.SetSrc(macA1)
		eth.SetType(header.EtherTypeIPv6)
		ip := header.IPv6(b[ip6Off:])
		ip.Init(uint16(len(rest)), first, 64)
		ip.SetSrc(src)
		ip.SetDst(dst)
		return append(b, rest...)
	}
	icmp := func(typ uint8) []byte { return []byte{typ, 0, 0, 0, 0, 0, 0, 0} }
	dstOpts := func(next uint8) []byte { return []byte{next, 0, 1, 4, 0, 0, 0, 0} } // 8 bytes, PadN
	frag := func(next uint8, offset uint16) []byte {
		return []byte{next, 0, byte(offset >> 5), byte(offset << 3), 0, 0, 0, 1}
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	const unreach, echoReq = 1, header.ICMPv6EchoRequest
	for _, c := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"echo request", frame(header.ProtoICMPv6, icmp(echoReq)...), true},
		{"an error", frame(header.ProtoICMPv6, icmp(unreach)...), false},
		{"an error behind destination options", frame(ip6DstOpts, cat(dstOpts(header.ProtoICMPv6), icmp(unreach))...), false},
		{"an error behind hop-by-hop and a first fragment", frame(ip6HopByHop, cat(dstOpts(ip6Fragment), frag(header.ProtoICMPv6, 0), icmp(unreach))...), false},
		{"echo behind destination options", frame(ip6DstOpts, cat(dstOpts(header.ProtoICMPv6), icmp(echoReq))...), true},
		{"UDP behind a first fragment", frame(ip6Fragment, cat(frag(header.ProtoUDP, 0), make([]byte, 8))...), true},
		{"a later fragment of ICMPv6", frame(ip6Fragment, cat(frag(header.ProtoICMPv6, 100), make([]byte, 8))...), false},
		{"a later fragment of UDP", frame(ip6Fragment, cat(frag(header.ProtoUDP, 100), make([]byte, 8))...), true},
		{"a chain cut short", frame(ip6DstOpts, dstOpts(ip6DstOpts)[:8]...), false},
		{"ICMPv6 cut short behind options", frame(ip6DstOpts, cat(dstOpts(header.ProtoICMPv6), []byte{unreach})...), false},
	} {
		if got := mayAnswerWithError6(c.frame); got != c.want {
			t.Errorf("%s: may answer %v, want %v", c.name, got, c.want)
		}
	}
}
