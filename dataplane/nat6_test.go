package dataplane

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"vswitch/dataplane/port"
	"vswitch/header"
	"vswitch/nat"
	"vswitch/routing"
)

// The pipeline tier of NAT66 (nat6.go): the NAT bed with IPv6 on A (with
// --nat66), on B (without) and on the uplink,
//
//	A fd00:a::/64        gw fd00:a::1   Masquerade6   a1 fd00:a::10
//	B fd00:b::/64        gw fd00:b::1   routed        b1 fd00:b::10
//	U 2001:db8:12::/64   vswitchd 2001:db8:12::15     x 2001:db8:12::11, the default route
//
// Every checksum of a rewritten packet is recomputed here from the packet's
// bytes (check6), never taken from the code under test.

var (
	uplink6  = netip.MustParseAddr("2001:db8:12::15")
	hostX6   = netip.MustParseAddr("2001:db8:12::11")
	prefixU6 = netip.MustParsePrefix("2001:db8:12::/64")
	server6  = netip.MustParseAddr("2001:db8:99::80")
)

func newNAT6Bed(t *testing.T) *natbed {
	nb := newNATBed(t, Options{})
	a := NetL3{GatewayIP: gwIPA, GatewayMAC: gwMACA, Subnet: subnetA, MTU: mtuA, Masquerade: true,
		Gateway6: gw6A, GatewayLL: gwLLA, Prefix6: prefix6A, RALifetime: 1800, Masquerade6: true}
	b := NetL3{GatewayIP: gwIPB, GatewayMAC: gwMACB, Subnet: subnetB, MTU: mtuB, Masquerade: true,
		Gateway6: gw6B, GatewayLL: header.LinkLocalFromMAC(gwMACB), Prefix6: prefix6B, RALifetime: 1800}
	u := NetL3{GatewayIP: uplinkIP, GatewayMAC: uplinkMAC, Subnet: subnetU, MTU: 1500, Uplink: true,
		Gateway6: uplink6, GatewayLL: header.LinkLocalFromMAC(uplinkMAC), Prefix6: prefixU6}
	nb.dp.SetL3(map[uint16]NetL3{nb.netA: a, nb.netB: b, nb.netU: u}, routing.Build([]routing.Route{
		{Prefix: subnetA, Network: nb.netA, Kind: routing.Connected},
		{Prefix: subnetB, Network: nb.netB, Kind: routing.Connected},
		{Prefix: subnetU, Network: nb.netU, Kind: routing.Connected},
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Network: nb.netU, Kind: routing.Default, Via: hostX},
		{Prefix: prefix6A, Network: nb.netA, Kind: routing.Connected},
		{Prefix: prefix6B, Network: nb.netB, Kind: routing.Connected},
		{Prefix: prefixU6, Network: nb.netU, Kind: routing.Connected},
		{Prefix: netip.MustParsePrefix("::/0"), Network: nb.netU, Kind: routing.Default, Via: hostX6},
	}))
	nb.neighbours(t, []neighbour{
		{host6A1, macA1, nb.netA, nb.a1}, {host6B1, macB1, nb.netB, nb.b1}, {hostX6, macX, nb.netU, nil},
	})
	return nb
}

// pkt6 is an IPv6 packet's addressing.
type pkt6 struct {
	dstMAC, srcMAC header.MAC
	src, dst       netip.Addr
}

func (p pkt6) layers(next layers.IPProtocol) (*layers.Ethernet, *layers.IPv6) {
	return &layers.Ethernet{SrcMAC: net.HardwareAddr(p.srcMAC[:]), DstMAC: net.HardwareAddr(p.dstMAC[:]), EthernetType: layers.EthernetTypeIPv6},
		&layers.IPv6{Version: 6, NextHeader: next, HopLimit: 64, SrcIP: netIP(p.src), DstIP: netIP(p.dst)}
}

func tcp6Pkt(tb testing.TB, p pkt6, sport, dport uint16, syn, ack bool) []byte {
	eth, ip := p.layers(layers.IPProtocolTCP)
	s := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, Ack: 2000, SYN: syn, ACK: ack, Window: 502}
	s.SetNetworkLayerForChecksum(ip)
	return withVirtioHdr(tb, nil, eth, ip, s, gopacket.Payload([]byte("hello")))
}

func udp6Pkt(tb testing.TB, p pkt6, sport, dport uint16) []byte {
	eth, ip := p.layers(layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return withVirtioHdr(tb, nil, eth, ip, u, gopacket.Payload([]byte("query")))
}

func echo6Pkt(tb testing.TB, p pkt6, typ uint8, id uint16) []byte {
	return icmp6Buf(tb, p.srcMAC, p.dstMAC, p.src, p.dst, 64, typ, &layers.ICMPv6Echo{Identifier: id, SeqNumber: 1},
		gopacket.Payload([]byte("ping")))
}

// l4sum6 is the full checksum of the L4 segment l4 (its checksum field at
// off zeroed) over the IPv6 pseudo-header.
func l4sum6(src, dst [16]byte, proto uint8, l4 []byte, off int) uint16 {
	re := bytes.Clone(l4)
	re[off], re[off+1] = 0, 0
	var ph []byte
	ph = append(ph, src[:]...)
	ph = append(ph, dst[:]...)
	ph = binary.BigEndian.AppendUint32(ph, uint32(len(l4)))
	ph = append(ph, 0, 0, 0, proto)
	return ^fold16(sum16(re, sum16(ph, 0)))
}

// check6 checks a routed IPv6 packet: its MACs, addresses, ports (echo id
// in both), hop limit 63, and its L4 checksum, complete or, for a
// CHECKSUM_PARTIAL frame, the pseudo-header sum the device completes.
func check6(t *testing.T, buf []byte, srcMAC, dstMAC header.MAC, src, dst netip.Addr, sport, dport uint16) {
	t.Helper()
	eth := header.Ethernet(buf[header.VirtioNetHdrLen:])
	if eth.Src() != srcMAC || eth.Dst() != dstMAC {
		t.Errorf("Ethernet %v -> %v, want %v -> %v", eth.Src(), eth.Dst(), srcMAC, dstMAC)
	}
	ip := header.IPv6(buf[ip6Off:])
	if ip.Src() != src || ip.Dst() != dst || ip.HopLimit() != 63 {
		t.Errorf("IPv6 %v -> %v hop %d, want %v -> %v hop 63", ip.Src(), ip.Dst(), ip.HopLimit(), src, dst)
	}
	l4 := ip.Payload()
	s16, d16 := src.As16(), dst.As16()
	var off int
	switch ip.NextHeader() {
	case header.ProtoTCP:
		off = 16
	case header.ProtoUDP:
		off = 6
	case header.ProtoICMPv6:
		off = 2
		if id := binary.BigEndian.Uint16(l4[4:6]); id != sport {
			t.Errorf("echo id %d, want %d", id, sport)
		}
	}
	if p := ip.NextHeader(); p != header.ProtoICMPv6 {
		if s, d := binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4]); s != sport || d != dport {
			t.Errorf("ports %d -> %d, want %d -> %d", s, d, sport, dport)
		}
	}
	got := binary.BigEndian.Uint16(l4[off:])
	if header.VirtioNetHdr(buf).Flags()&header.VirtioNetHdrFNeedsCsum != 0 {
		want := header.Fold(header.PseudoHeaderSum(src, dst, ip.NextHeader(), uint16(len(l4))))
		if got != want {
			t.Errorf("partial L4 field %04x, want the pseudo-header sum %04x", got, want)
		}
		return
	}
	if want := l4sum6(s16, d16, ip.NextHeader(), l4, off); got != want {
		t.Errorf("L4 checksum %04x, want %04x", got, want)
	}
}

func TestNAT66MasqueradeTCP(t *testing.T) {
	nb := newNAT6Bed(t)
	syn := tcp6Pkt(t, pkt6{gwMACA, macA1, host6A1, server6}, 40000, 80, true, false)
	out := nb.one(t, nb.a1, nb.up, syn)
	check6(t, out, uplinkMAC, macX, uplink6, server6, 40000, 80) // the uplink's address, the port kept

	synack := tcp6Pkt(t, pkt6{uplinkMAC, macX, server6, uplink6}, 80, 40000, true, true)
	back := nb.one(t, nb.up, nb.a1, synack)
	check6(t, back, gwMACA, macA1, server6, host6A1, 80, 40000)

	es := nb.dp.Conntrack6().Entries(nb.clock.Now().UnixNano())
	if len(es) != 1 || es[0].Reply.Dst != uplink6.As16() || es[0].Orig.Src != host6A1.As16() || es[0].State.String() != "SYN_RECV" {
		t.Fatalf("IPv6 conntrack %+v", es)
	}
	if nb.dp.Conntrack().Len() != 0 {
		t.Fatalf("the IPv4 table has %d conns", nb.dp.Conntrack().Len())
	}
	// TCP to the uplink's address that no flow and no rule owns is the
	// host's own: dropped as local.
	nb.none(t, nb.up, tcp6Pkt(t, pkt6{uplinkMAC, macX, server6, uplink6}, 80, 40001, false, true), DropLocal)
}

func TestNAT66OffKeepsAddressAndTracks(t *testing.T) {
	nb := newNAT6Bed(t)
	out := nb.one(t, nb.b1, nb.up, udp6Pkt(t, pkt6{gwMACB, macB1, host6B1, server6}, 5353, 53))
	check6(t, out, uplinkMAC, macX, host6B1, server6, 5353, 53)
	back := nb.one(t, nb.up, nb.b1, udp6Pkt(t, pkt6{uplinkMAC, macX, server6, host6B1}, 53, 5353))
	check6(t, back, gwMACB, macB1, server6, host6B1, 53, 5353)
	// The outside cannot open a flow to a container itself: only answers
	// (and published ports) come in.
	nb.none(t, nb.up, udp6Pkt(t, pkt6{uplinkMAC, macX, server6, host6B1}, 53, 5354), DropIsolation)
}

func TestNAT66PublishedKeepsClient(t *testing.T) {
	nb := newNAT6Bed(t)
	nb.dp.SetPublish([]PublishRule{{ID: 1, Network: nb.netA, Proto: header.ProtoTCP, HostPort: 8080,
		To: netip.AddrPortFrom(hostA1, 80), To6: host6A1}})
	client := netip.MustParseAddr("2001:db8:77::5")
	in := nb.one(t, nb.up, nb.a1, tcp6Pkt(t, pkt6{uplinkMAC, macX, client, uplink6}, 51000, 8080, true, false))
	check6(t, in, gwMACA, macA1, client, host6A1, 51000, 80) // the client's own address
	out := nb.one(t, nb.a1, nb.up, tcp6Pkt(t, pkt6{gwMACA, macA1, host6A1, client}, 80, 51000, true, true))
	check6(t, out, uplinkMAC, macX, uplink6, client, 8080, 51000)
	// The IPv4 side of the rule is untouched: to the uplink's IPv4 address.
	in4 := nb.one(t, nb.up, nb.a1, tcpPkt(t, fromX(uplinkIP), 51000, 8080, true, false, nil))
	wantAddrs(t, in4, gwMACA, macA1, hostX, hostA1, 51000, 80)
}

func TestNAT66EchoAndError(t *testing.T) {
	nb := newNAT6Bed(t)
	out := nb.one(t, nb.a1, nb.up, echo6Pkt(t, pkt6{gwMACA, macA1, host6A1, server6}, header.ICMPv6EchoRequest, 0x66))
	check6(t, out, uplinkMAC, macX, uplink6, server6, 0x66, 0x66)
	back := nb.one(t, nb.up, nb.a1, echo6Pkt(t, pkt6{uplinkMAC, macX, server6, uplink6}, header.ICMPv6EchoReply, 0x66))
	check6(t, back, gwMACA, macA1, server6, host6A1, 0x66, 0x66)

	// A UDP flow out, then the router x says its destination is
	// unreachable, quoting the translated packet: a1 gets the error with
	// the packet it sent quoted.
	sent := nb.one(t, nb.a1, nb.up, udp6Pkt(t, pkt6{gwMACA, macA1, host6A1, server6}, 7000, 53))
	quote := bytes.Clone(sent[ip6Off:])
	errFrame := icmp6Buf(t, macX, uplinkMAC, hostX6, uplink6, 64, 1, gopacket.Payload(append(make([]byte, 4), quote...)))
	got := nb.one(t, nb.up, nb.a1, errFrame)
	ip := header.IPv6(got[ip6Off:])
	if ip.Src() != hostX6 || ip.Dst() != host6A1 {
		t.Fatalf("error %v -> %v, want %v -> %v", ip.Src(), ip.Dst(), hostX6, host6A1)
	}
	m := header.ICMPv6(ip.Payload())
	if !m.ChecksumValid(ip.Src(), ip.Dst()) {
		t.Error("ICMPv6 error checksum wrong after translation")
	}
	q := header.IPv6(m[8:])
	if q.Src() != host6A1 || q.Dst() != server6 {
		t.Errorf("quoted %v -> %v, want %v -> %v", q.Src(), q.Dst(), host6A1, server6)
	}
	ql4 := q.Payload()
	if s := binary.BigEndian.Uint16(ql4[0:2]); s != 7000 {
		t.Errorf("quoted source port %d", s)
	}
	if got, want := binary.BigEndian.Uint16(ql4[6:8]), l4sum6(host6A1.As16(), server6.As16(), header.ProtoUDP, ql4, 6); got != want {
		t.Errorf("quoted UDP checksum %04x, want %04x", got, want)
	}
}

// TestNAT66GSO: a TCPv6 super-frame (CHECKSUM_PARTIAL) is translated
// whole: the pseudo-header sum follows the new source, the frame leaves
// as one super-frame.
func TestNAT66GSO(t *testing.T) {
	nb := newNAT6Bed(t)
	f := gsoTCP6Frame(t, 1400, 4)
	ip := header.IPv6(f[ip6Off:])
	ip.SetDst(server6)
	l4 := ip.Payload()
	binary.BigEndian.PutUint16(l4[16:18], header.Fold(header.PseudoHeaderSum(host6A1, server6, header.ProtoTCP, uint16(len(l4)))))
	out := nb.one(t, nb.a1, nb.up, f)
	check6(t, out, uplinkMAC, macX, uplink6, server6, 40000, 5201)
	if !header.VirtioNetHdr(out).IsGSO() || len(out) != len(f) {
		t.Errorf("GSO %v, %d bytes (sent %d): want the super-frame whole", header.VirtioNetHdr(out).IsGSO(), len(out), len(f))
	}
}

// TestNAT66ExtensionHeaderDropped: a packet that needs NAT66 but whose
// ports are behind an extension header is dropped, never sent with the
// container's address.
func TestNAT66ExtensionHeaderDropped(t *testing.T) {
	nb := newNAT6Bed(t)
	eth, ip := pkt6{gwMACA, macA1, host6A1, server6}.layers(layers.IPProtocolIPv6Destination)
	opts := &layers.IPv6Destination{}
	opts.NextHeader = layers.IPProtocolUDP
	opts.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
	u := &layers.UDP{SrcPort: 1, DstPort: 53}
	u.SetNetworkLayerForChecksum(ip)
	nb.none(t, nb.a1, withVirtioHdr(t, nil, eth, ip, opts, u, gopacket.Payload([]byte("x"))), DropCTInvalid)
}

// newNAT66Worker is a routeWorker (not running: the caller drives it)
// with A masquerading IPv6 and B standing in for the uplink, host x
// (hostX6) its IPv6 default route, a1's host and x resolved.
func newNAT66Worker(tb testing.TB) *routeWorker {
	rw := newRouteWorker(tb, false)
	s := rw.dp.cfg.Load()
	na, nb := rw.a1.Net, rw.b1.Net
	la, lb := s.nets[na].L3, s.nets[nb].L3
	la.Gateway6, la.GatewayLL, la.Prefix6, la.Masquerade6 = gw6A, gwLLA, prefix6A, true
	la.Connected, lb.Connected = nil, nil
	lb.Gateway6, lb.GatewayLL, lb.Prefix6, lb.Uplink = uplink6, header.LinkLocalFromMAC(gwMACB), prefixU6, true
	rw.dp.SetL3(map[uint16]NetL3{na: la, nb: lb}, routing.Build([]routing.Route{
		{Prefix: subnetA, Network: na, Kind: routing.Connected},
		{Prefix: prefix6A, Network: na, Kind: routing.Connected},
		{Prefix: prefixU6, Network: nb, Kind: routing.Connected},
		{Prefix: netip.MustParsePrefix("::/0"), Network: nb, Kind: routing.Default, Via: hostX6},
	}))
	rw.dp.ARP().SetPermanent(hostX6, macX, nb)
	rw.dp.ARP().SetPermanent(host6A1, macA1, na)
	s = rw.dp.cfg.Load()
	rw.a1, rw.b1 = s.port(rw.a1.Index), s.port(rw.b1.Index)
	return rw
}

// BenchmarkNAT66Reply: an answer of a masqueraded TCPv6 flow through
// routeIPv6 (network B stands in for the uplink): conntrack lookup, track,
// translation back to the container, checksum update.
func BenchmarkNAT66Reply(b *testing.B) {
	rw := newNAT66Worker(b)
	s := rw.dp.cfg.Load()
	now := rw.clock.Now().UnixNano()
	syn := tcp6Pkt(b, pkt6{gwMACA, macA1, host6A1, server6}, 40000, 80, true, false)
	if v := rw.w.routeIPv6(s, rw.a1, s.nets[rw.a1.Net], syn, now); v.Action != ActForward {
		b.Fatalf("SYN verdict %+v", v)
	}
	in, net := rw.b1, s.nets[rw.b1.Net]
	frame := tcp6Pkt(b, pkt6{gwMACB, macX, server6, uplink6}, 80, 40000, false, true)
	buf := make([]byte, len(frame))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(buf, frame)
		if v := rw.w.routeIPv6(s, in, net, buf, now); v.Action != ActForward || v.Port != rw.a1.Index {
			b.Fatalf("verdict %+v", v)
		}
	}
	b.StopTimer()
	if header.IPv6(buf[ip6Off:]).Dst() != host6A1 {
		b.Fatal("not translated back to the container")
	}
}

// l4Sound6 says whether the TCP, UDP or ICMPv6 checksum of the IPv6 packet
// in buf is right (for a CHECKSUM_PARTIAL frame: the pseudo-header sum the
// device completes); applies is false for other packets.
func l4Sound6(buf []byte) (sound, applies bool) {
	if len(buf) < ip6Off+header.IPv6MinLen {
		return false, false
	}
	ip := header.IPv6(buf[ip6Off:])
	if !ip.Valid() || header.IPv6MinLen+int(ip.PayloadLen()) > len(ip) {
		return false, false
	}
	l4 := ip.Payload()
	var off int
	switch ip.NextHeader() {
	case header.ProtoTCP:
		off = 16
	case header.ProtoUDP:
		off = 6
	case header.ProtoICMPv6:
		off = 2
	default:
		return false, false
	}
	if len(l4) < off+2 {
		return false, false
	}
	got := binary.BigEndian.Uint16(l4[off:])
	if header.VirtioNetHdr(buf).Flags()&header.VirtioNetHdrFNeedsCsum != 0 {
		return got == header.Fold(header.PseudoHeaderSum(ip.Src(), ip.Dst(), ip.NextHeader(), uint16(len(l4)))), true
	}
	return got == l4sum6(ip.Src().As16(), ip.Dst().As16(), ip.NextHeader(), l4, off), true
}

// FuzzNAT66 feeds arbitrary IPv6 packets, from the --nat66 network or
// from the uplink, through a router with a masqueraded flow already tracked
// and a port published over IPv6. Nothing may panic; a TCP, UDP or ICMPv6
// packet that came in with a right checksum leaves with one; nothing the
// --nat66 network sends leaves by the uplink with a container's address.
func FuzzNAT66(f *testing.F) {
	seed := func(buf []byte, fromUplink bool) {
		f.Add(buf[:header.VirtioNetHdrLen], fromUplink, buf[ip6Off:])
	}
	out := pkt6{gwMACA, macA1, host6A1, server6}
	back := pkt6{gwMACB, macX, server6, uplink6}
	seed(udp6Pkt(f, out, 7000, 53), false)
	seed(tcp6Pkt(f, out, 41000, 80, true, false), false)
	seed(echo6Pkt(f, out, header.ICMPv6EchoRequest, 9), false)
	seed(udp6Pkt(f, back, 53, 7000), true)
	seed(tcp6Pkt(f, back, 51000, 8080, true, false), true)
	seed(echo6Pkt(f, back, header.ICMPv6EchoReply, 9), true)
	q := udp6Pkt(f, pkt6{gwMACB, macX, uplink6, server6}, 7000, 53)[ip6Off:]
	seed(icmp6Buf(f, macX, gwMACB, hostX6, uplink6, 64, 1, gopacket.Payload(append(make([]byte, 4), q...))), true)
	g := gsoTCP6Frame(f, 1000, 3)
	header.IPv6(g[ip6Off:]).SetDst(server6)
	seed(g, false)

	rw := newNAT66Worker(f)
	rw.dp.SetPublish([]PublishRule{{ID: 1, Network: rw.a1.Net, Proto: header.ProtoTCP, HostPort: 8080,
		To: netip.AddrPortFrom(hostA1, 80), To6: host6A1}})
	s := rw.dp.cfg.Load()
	f.Fuzz(func(t *testing.T, vh []byte, fromUplink bool, payload []byte) {
		in, gw, src := rw.a1, gwMACA, macA1
		if fromUplink {
			in, gw, src = rw.b1, gwMACB, macX
		}
		n := ip6Off + len(payload)
		if n > port.BufSize {
			return
		}
		rw.dp.ct6.Flush()
		bufs, sizes := rw.batch(udp6Pkt(t, out, 7000, 53), 1)
		rw.w.forwardBatch(s, rw.a1, bufs, sizes)
		rw.ca.Recv()
		rw.cb.Recv()

		buf := rw.w.bufs[0][:n]
		clear(buf[:header.VirtioNetHdrLen])
		copy(buf[:header.VirtioNetHdrLen], vh)
		eth := header.Ethernet(buf[header.VirtioNetHdrLen:])
		eth.SetDst(gw)
		eth.SetSrc(src)
		eth.SetType(header.EtherTypeIPv6)
		copy(buf[ip6Off:], payload)
		wasSound, applies := l4Sound6(buf)
		proto := uint8(0)
		if len(payload) > 6 {
			proto = payload[6]
		}
		rw.w.icmpLimit = rateLimit{}
		rw.w.sizes[0] = n
		rw.w.forwardBatch(s, in, rw.w.bufs[:1], rw.w.sizes[:1])
		for _, c := range []*port.Chan{rw.ca, rw.cb} {
			for _, fr := range c.Recv() {
				if len(fr) < ip6Off+header.IPv6MinLen || header.Ethernet(fr[header.VirtioNetHdrLen:]).Type() != header.EtherTypeIPv6 {
					continue
				}
				ip := header.IPv6(fr[ip6Off:])
				if !fromUplink && c == rw.cb && prefix6A.Contains(ip.Src()) {
					t.Fatalf("a packet left by the uplink with the container's address: % x", clip(fr))
				}
				if sound, ok := l4Sound6(fr); ok && applies && wasSound && !sound && ip.NextHeader() == proto {
					t.Fatalf("a packet with a right checksum left with a wrong one:\n in % x\nout % x", clip(buf), clip(fr))
				}
			}
		}
	})
}

// TestNAT66PublishBoundHost: a rule bound to an IPv6 host address answers
// there only, never over IPv4; a rule bound to an IPv4 one stays IPv4 only;
// a rule without one answers on both (TestNAT66PublishedKeepsClient).
func TestNAT66PublishBoundHost(t *testing.T) {
	nb := newNAT6Bed(t)
	nb.dp.SetPublish([]PublishRule{
		{ID: 1, Network: nb.netA, Proto: header.ProtoTCP, HostIP: uplink6, HostPort: 8080,
			To: netip.AddrPortFrom(hostA1, 80), To6: host6A1},
		{ID: 2, Network: nb.netA, Proto: header.ProtoTCP, HostIP: uplinkIP, HostPort: 8081,
			To: netip.AddrPortFrom(hostA1, 81), To6: host6A1},
	})
	client := netip.MustParseAddr("2001:db8:77::5")
	in := nb.one(t, nb.up, nb.a1, tcp6Pkt(t, pkt6{uplinkMAC, macX, client, uplink6}, 51000, 8080, true, false))
	check6(t, in, gwMACA, macA1, client, host6A1, 51000, 80)
	out := nb.one(t, nb.a1, nb.up, tcp6Pkt(t, pkt6{gwMACA, macA1, host6A1, client}, 80, 51000, true, true))
	check6(t, out, uplinkMAC, macX, uplink6, client, 8080, 51000)
	// Not on another IPv6 address of vswitchd, not over IPv4.
	nb.none(t, nb.up, tcp6Pkt(t, pkt6{uplinkMAC, macX, client, gw6B}, 51001, 8080, true, false), DropLocal)
	nb.none(t, nb.up, tcpPkt(t, fromX(uplinkIP), 51002, 8080, true, false, nil), DropLocal)
	// The IPv4-bound rule: IPv4 yes, IPv6 no.
	in4 := nb.one(t, nb.up, nb.a1, tcpPkt(t, fromX(uplinkIP), 51003, 8081, true, false, nil))
	wantAddrs(t, in4, gwMACA, macA1, hostX, hostA1, 51003, 81)
	nb.none(t, nb.up, tcp6Pkt(t, pkt6{uplinkMAC, macX, client, uplink6}, 51004, 8081, true, false), DropLocal)
}

// TestNAT66PublishedAnswerAfterFlush: the conn of a published IPv6 flow
// lost (a restart, a flush), the server's next segment still leaves from
// the published address and port, the client's next one comes in again;
// a connection the server opens from that port is its own.
func TestNAT66PublishedAnswerAfterFlush(t *testing.T) {
	for _, bound := range []bool{false, true} {
		nb := newNAT6Bed(t)
		r := PublishRule{ID: 1, Network: nb.netB, Proto: header.ProtoTCP, HostPort: 8080,
			To: netip.AddrPortFrom(hostB1, 80), To6: host6B1}
		if bound {
			r.HostIP = uplink6
		}
		nb.dp.SetPublish([]PublishRule{r})
		client := netip.MustParseAddr("2001:db8:77::5")
		nb.one(t, nb.up, nb.b1, tcp6Pkt(t, pkt6{uplinkMAC, macX, client, uplink6}, 51000, 8080, true, false))
		nb.one(t, nb.b1, nb.up, tcp6Pkt(t, pkt6{gwMACB, macB1, host6B1, client}, 80, 51000, true, true))

		nb.dp.Conntrack6().Flush()
		out := nb.one(t, nb.b1, nb.up, tcp6Pkt(t, pkt6{gwMACB, macB1, host6B1, client}, 80, 51000, false, true))
		check6(t, out, uplinkMAC, macX, uplink6, client, 8080, 51000) // not from fd00:b::10 port 80
		in := nb.one(t, nb.up, nb.b1, tcp6Pkt(t, pkt6{uplinkMAC, macX, client, uplink6}, 51000, 8080, false, true))
		check6(t, in, gwMACB, macB1, client, host6B1, 51000, 80)
		es := nb.dp.Conntrack6().Entries(nb.clock.Now().UnixNano())
		if len(es) != 1 || es[0].Orig.Src != client.As16() || es[0].Orig.Dst != uplink6.As16() || es[0].Orig.DPort != 8080 {
			t.Errorf("bound %v: the conn put back is %+v, want the client's to [%s]:8080", bound, es, uplink6)
		}
		// The server's own connection from port 80 (a SYN alone) is not
		// an answer: B is routed, it leaves with its own address.
		out = nb.one(t, nb.b1, nb.up, tcp6Pkt(t, pkt6{gwMACB, macB1, host6B1, server6}, 80, 443, true, false))
		check6(t, out, uplinkMAC, macX, host6B1, server6, 80, 443)
	}
}

// TestNAT66FragmentsDropped: IPv6 fragments are not translated (no
// reassembly, no fragment table for IPv6): a fragment from a --nat66
// network that would leave by the uplink is dropped as ct-invalid, never
// sent with the container's address, first fragment or later one; a
// fragment from a network without NAT66 leaves as it is (it needs no
// translation).
func TestNAT66FragmentsDropped(t *testing.T) {
	nb := newNAT6Bed(t)
	for _, offset := range []uint16{0, 185} {
		for _, from := range []struct {
			port    *tport
			mac, gw header.MAC
			src     netip.Addr
			dropped bool
		}{
			{nb.a1, macA1, gwMACA, host6A1, true},
			{nb.b1, macB1, gwMACB, host6B1, false},
		} {
			eth, ip := pkt6{from.gw, from.mac, from.src, server6}.layers(layers.IPProtocolIPv6Fragment)
			more := byte(0)
			if offset == 0 {
				more = 1
			}
			// The fragment header (RFC 8200 4.5): UDP next, id 7.
			fr := []byte{header.ProtoUDP, 0, byte(offset >> 5), byte(offset<<3) | more, 0, 0, 0, 7}
			frame := withVirtioHdr(t, nil, eth, ip, gopacket.Payload(append(fr, bytes.Repeat([]byte{1}, 64)...)))
			if from.dropped {
				nb.none(t, from.port, frame, DropCTInvalid)
				continue
			}
			out := nb.one(t, from.port, nb.up, frame)
			if got := header.IPv6(out[ip6Off:]).Src(); got != from.src {
				t.Errorf("offset %d: a fragment from the routed network left from %v, want %v", offset, got, from.src)
			}
		}
	}
	// From the outside, a fragment to the uplink's address is no flow's
	// (local-unhandled), one to a routed container is not let in.
	for _, c := range []struct {
		dst netip.Addr
		why DropReason
	}{{uplink6, DropLocal}, {host6B1, DropIsolation}} {
		eth, ip := pkt6{uplinkMAC, macX, server6, c.dst}.layers(layers.IPProtocolIPv6Fragment)
		fr := []byte{header.ProtoUDP, 0, 0, 1, 0, 0, 0, 8}
		nb.none(t, nb.up, withVirtioHdr(t, nil, eth, ip, gopacket.Payload(append(fr, make([]byte, 64)...))), c.why)
	}
	if n := nb.dp.Conntrack6().Len(); n != 0 {
		t.Errorf("%d IPv6 conns made by fragments", n)
	}
}

// TestNAT66TraceConnFields: a trace of an IPv6 flow carries its conn as
// tuples (Step.Conn6, Reply6), not only as a note: the dry run of a new
// masqueraded flow shows the conn it would create, answered on the
// uplink's address; once the flow exists, the hit shows the same conn.
func TestNAT66TraceConnFields(t *testing.T) {
	nb := newNAT6Bed(t)
	syn := tcp6Pkt(t, pkt6{gwMACA, macA1, host6A1, server6}, 40000, 80, true, false)
	orig := nat.Tuple6{Src: host6A1.As16(), Dst: server6.As16(), SPort: 40000, DPort: 80, Proto: header.ProtoTCP}
	reply := nat.Tuple6{Src: server6.As16(), Dst: uplink6.As16(), SPort: 80, DPort: 40000, Proto: header.ProtoTCP}
	ctStep := func() Step {
		t.Helper()
		pt, err := nb.dp.Trace(nb.a1.idx, bytes.Clone(syn[header.VirtioNetHdrLen:]))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range pt.StepList() {
			if st.Stage == StageConntrack {
				return st
			}
		}
		t.Fatalf("no conntrack step in %v", pt.StepList())
		return Step{}
	}
	if st := ctStep(); st.Decision != "would-create" || st.Conn6 != orig || st.Reply6 != reply || st.Conn != (nat.Tuple{}) {
		t.Errorf("dry run: %s %v reply %v (IPv4 %v); want would-create %v reply %v", st.Decision, st.Conn6, st.Reply6, st.Conn, orig, reply)
	}
	if nb.dp.Conntrack6().Len() != 0 {
		t.Fatal("a dry run made a conn")
	}
	nb.one(t, nb.a1, nb.up, syn)
	if st := ctStep(); st.Decision != "hit" || !st.Found || st.Conn6 != orig || st.Reply6 != reply {
		t.Errorf("tracked: %s %v reply %v; want hit %v reply %v", st.Decision, st.Conn6, st.Reply6, orig, reply)
	}
}
