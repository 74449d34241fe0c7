package dataplane

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"vswitch/arp"
	"vswitch/dataplane/port"
	"vswitch/fdb"
	"vswitch/header"
	"vswitch/routing"
)

// The pipeline tier of the router (l3.go): a real Dataplane on in-memory
// ports with two routed networks,
//
//	A 10.1.0.0/24  gw 10.1.0.1  MTU 1500   a1: host 10.1.0.10   a2: host 10.1.0.11
//	B 10.2.0.0/24  gw 10.2.0.1  MTU 1400   b1: host 10.2.0.10   b2: host 10.2.0.11
//
// frames in, the expected frames out. Where the router's answer is fully
// determined the expected frame is built here independently (gopacket, or
// by hand) and compared byte for byte; every checksum is also recomputed
// from scratch with sum16, never taken from the code under test.

var (
	gwMACA  = header.MAC{0x02, 0x42, 0x0a, 0x01, 0x00, 0x01}
	gwMACB  = header.MAC{0x02, 0x42, 0x0a, 0x02, 0x00, 0x01}
	gwIPA   = netip.MustParseAddr("10.1.0.1")
	gwIPB   = netip.MustParseAddr("10.2.0.1")
	subnetA = netip.MustParsePrefix("10.1.0.0/24")
	subnetB = netip.MustParsePrefix("10.2.0.0/24")

	hostA1 = netip.MustParseAddr("10.1.0.10")
	hostA2 = netip.MustParseAddr("10.1.0.11")
	hostB1 = netip.MustParseAddr("10.2.0.10")
	hostB2 = netip.MustParseAddr("10.2.0.11")
	macA1  = header.MAC{0x02, 0x00, 0x0a, 0x01, 0x00, 0x0a}
	macA2  = header.MAC{0x02, 0x00, 0x0a, 0x01, 0x00, 0x0b}
	macB1  = header.MAC{0x02, 0x00, 0x0a, 0x02, 0x00, 0x0a}
	macB2  = header.MAC{0x02, 0x00, 0x0a, 0x02, 0x00, 0x0b}
)

const (
	mtuA = 1500
	mtuB = 1400
)

// routerbed is a testbed with networks A and B routed as above. Hosts a1,
// b1 and b2 are permanent neighbours and in their network's FDB; a2's host
// is in the FDB only (ARP tests learn it).
type routerbed struct {
	*testbed
	netA, netB     uint16
	a1, a2, b1, b2 *tport
	extra          []*tport // ports a bed built on this one adds
}

func newRouterbed(t *testing.T, connected bool) *routerbed {
	t.Helper()
	rb := &routerbed{testbed: newTestbed(t, 1)}
	rb.netA = rb.network("A", fdb.Config{})
	rb.netB = rb.network("B", fdb.Config{})
	rb.a1, rb.a2 = rb.port("a1", rb.netA), rb.port("a2", rb.netA)
	rb.b1, rb.b2 = rb.port("b1", rb.netB), rb.port("b2", rb.netB)
	rb.setL3(connected)
	rb.neighbours(t, []neighbour{
		{hostA1, macA1, rb.netA, rb.a1},
		{hostB1, macB1, rb.netB, rb.b1},
		{hostB2, macB2, rb.netB, rb.b2},
	})
	now := rb.clock.Now().UnixNano()
	rb.dp.FDB(rb.netA).Learn(macA2.Uint64(), rb.a2.idx, now)
	return rb
}

// neighbour is a host the router knows in advance: a permanent ARP entry
// and, behind port p (nil: none, an uplink's), an FDB entry.
type neighbour struct {
	ip  netip.Addr
	mac header.MAC
	net uint16
	p   *tport
}

func (rb *routerbed) neighbours(t *testing.T, hosts []neighbour) {
	t.Helper()
	now := rb.clock.Now().UnixNano()
	for _, h := range hosts {
		if _, err := rb.dp.ARP().SetPermanent(h.ip, h.mac, h.net); err != nil {
			t.Fatalf("SetPermanent %v: %v", h.ip, err)
		}
		if h.p != nil {
			rb.dp.FDB(h.net).Learn(h.mac.Uint64(), h.p.idx, now)
		}
	}
}

// setL3 configures both gateways and their connected routes, with A and B
// connected to each other or not.
func (rb *routerbed) setL3(connected bool) {
	a := NetL3{GatewayIP: gwIPA, GatewayMAC: gwMACA, Subnet: subnetA, MTU: mtuA}
	b := NetL3{GatewayIP: gwIPB, GatewayMAC: gwMACB, Subnet: subnetB, MTU: mtuB}
	if connected {
		a.Connected = []uint16{rb.netB}
		b.Connected = []uint16{rb.netA}
	}
	rb.dp.SetL3(map[uint16]NetL3{rb.netA: a, rb.netB: b}, routing.Build([]routing.Route{
		{Prefix: subnetA, Network: rb.netA, Kind: routing.Connected},
		{Prefix: subnetB, Network: rb.netB, Kind: routing.Connected},
	}))
}

func (rb *routerbed) all() []*tport { return append([]*tport{rb.a1, rb.a2, rb.b1, rb.b2}, rb.extra...) }

// outputs settles and returns what each port received since the last call.
func (rb *routerbed) outputs() map[*tport][][]byte {
	rb.settle()
	got := map[*tport][][]byte{}
	for _, p := range rb.all() {
		if f := p.ch.Recv(); len(f) > 0 {
			got[p] = f
		}
	}
	return got
}

// only checks that the ports in want received that many frames each and
// every other port nothing; it reports false when they did not.
func (rb *routerbed) only(t *testing.T, got map[*tport][][]byte, want map[*tport]int) bool {
	t.Helper()
	ok := true
	for _, p := range rb.all() {
		if len(got[p]) != want[p] {
			t.Errorf("port %s received %d frames, want %d", p.name, len(got[p]), want[p])
			ok = false
		}
	}
	return ok
}

// exact checks the outputs byte for byte: each port in want got exactly
// those frames, every other port nothing.
func (rb *routerbed) exact(t *testing.T, got map[*tport][][]byte, want map[*tport][][]byte) {
	t.Helper()
	for _, p := range rb.all() {
		if err := sameFrames(got[p], want[p]); err != nil {
			t.Errorf("port %s: %v", p.name, err)
		}
	}
}

// waitFrames polls p until it has received n frames (arpLoop writes on its
// own schedule, outside any batch that settle could wait for).
func waitFrames(t *testing.T, p *tport, n int, timeout time.Duration) [][]byte {
	t.Helper()
	var got [][]byte
	deadline := time.Now().Add(timeout)
	for len(got) < n {
		got = append(got, p.ch.Recv()...)
		if time.Now().After(deadline) {
			t.Fatalf("port %s: %d frames after %v, want %d", p.name, len(got), timeout, n)
		}
		time.Sleep(time.Millisecond)
	}
	return got
}

// --- frames

// pkt is an IPv4 packet in an Ethernet frame: the fields the tests vary.
type pkt struct {
	dstMAC, srcMAC header.MAC
	src, dst       netip.Addr
	ttl            uint8
	id             uint16
	tos            uint8
	df, mf         bool
	fragOff        uint16 // in 8-byte units
	options        []layers.IPv4Option
}

// fromA1 is a packet from host a1 to dst, sent to A's gateway.
func fromA1(dst netip.Addr) pkt {
	return pkt{dstMAC: gwMACA, srcMAC: macA1, src: hostA1, dst: dst, ttl: 64, id: 0x4d2e}
}

// hop is p as the router sends it on: TTL one less, new Ethernet addresses.
func (p pkt) hop(srcMAC, dstMAC header.MAC) pkt {
	p.srcMAC, p.dstMAC = srcMAC, dstMAC
	p.ttl--
	return p
}

func (p pkt) layers(proto layers.IPProtocol) (*layers.Ethernet, *layers.IPv4) {
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(p.srcMAC[:]), DstMAC: net.HardwareAddr(p.dstMAC[:]),
		EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TOS: p.tos, Id: p.id, TTL: p.ttl, Protocol: proto,
		FragOffset: p.fragOff, Options: p.options, SrcIP: netIP(p.src), DstIP: netIP(p.dst)}
	if p.df {
		ip.Flags |= layers.IPv4DontFragment
	}
	if p.mf {
		ip.Flags |= layers.IPv4MoreFragments
	}
	return eth, ip
}

// udp is p carrying UDP 40000 → 9 with payload, every checksum complete.
func (p pkt) udp(tb testing.TB, payload []byte) []byte {
	tb.Helper()
	eth, ip := p.layers(layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: 40000, DstPort: 9}
	u.SetNetworkLayerForChecksum(ip)
	return withVirtioHdr(tb, nil, eth, ip, u, gopacket.Payload(payload))
}

// tcp is p carrying a TCP segment 40000 → 80 (ACK|PSH) with payload.
func (p pkt) tcp(tb testing.TB, payload []byte) []byte {
	tb.Helper()
	eth, ip := p.layers(layers.IPProtocolTCP)
	s := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, Ack: 2000, ACK: true, PSH: true, Window: 502}
	s.SetNetworkLayerForChecksum(ip)
	return withVirtioHdr(tb, nil, eth, ip, s, gopacket.Payload(payload))
}

// icmp is p carrying an ICMP message whose checksum is computed here.
func (p pkt) icmp(tb testing.TB, typ, code uint8, rest uint32, payload []byte) []byte {
	tb.Helper()
	return p.raw(tb, layers.IPProtocolICMPv4, icmpMsg(typ, code, rest, payload))
}

// raw is p carrying payload as protocol proto, untouched.
func (p pkt) raw(tb testing.TB, proto layers.IPProtocol, payload []byte) []byte {
	tb.Helper()
	eth, ip := p.layers(proto)
	return withVirtioHdr(tb, nil, eth, ip, gopacket.Payload(payload))
}

// partialUDP is p.udp with the UDP checksum left to the device, as a TAP
// with checksum offload hands it over: NEEDS_CSUM, csum_start at UDP, the
// field holding the folded pseudo-header sum (CHECKSUM_PARTIAL).
func (p pkt) partialUDP(tb testing.TB, payload []byte) []byte {
	tb.Helper()
	b := p.udp(tb, payload)
	vh := header.VirtioNetHdr(b)
	vh.SetFlags(header.VirtioNetHdrFNeedsCsum)
	hl := header.IPv4(b[ethIPOff:]).HeaderLen()
	vh.SetCsumStart(uint16(header.EthernetLen + hl))
	vh.SetCsumOffset(6)
	u := header.UDP(ipOf(b).Payload())
	u.SetChecksum(fold16(header.PseudoHeaderSum(p.src, p.dst, header.ProtoUDP, uint16(len(u)))))
	return b
}

// gsoTCP is p carrying a TCPv4 GSO super-frame of segments×mss bytes of
// payload, CHECKSUM_PARTIAL, as a TAP with TSO hands it over.
func (p pkt) gsoTCP(tb testing.TB, mss, segments int) []byte {
	tb.Helper()
	b := p.tcp(tb, pattern(mss*segments, 3))
	vh := header.VirtioNetHdr(b)
	vh.SetFlags(header.VirtioNetHdrFNeedsCsum)
	vh.SetGSOType(header.VirtioGSOTCPv4)
	vh.SetHdrLen(header.EthernetLen + 20 + 20)
	vh.SetGSOSize(uint16(mss))
	vh.SetCsumStart(header.EthernetLen + 20)
	vh.SetCsumOffset(16)
	s := header.TCP(ipOf(b).Payload())
	s.SetChecksum(fold16(header.PseudoHeaderSum(p.src, p.dst, header.ProtoTCP, uint16(len(s)))))
	return b
}

func icmpMsg(typ, code uint8, rest uint32, payload []byte) []byte {
	m := make([]byte, 8, 8+len(payload))
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint32(m[4:8], rest)
	m = append(m, payload...)
	binary.BigEndian.PutUint16(m[2:4], ^fold16(sum16(m, 0)))
	return m
}

// pattern is n bytes that differ from offset to offset.
func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	return b
}

// icmpErrorFor is the error a router sends about the IP packet orig (from
// its header to its TotalLen): from gwMAC/gwIP to the sender at toMAC, TOS
// 0xc0 and TTL 64 as Linux sends them, quoting as much of orig as keeps the
// error within 576 bytes (RFC 1812 4.3.2.3). rest is the word after the
// checksum (the MTU, for frag-needed).
func icmpErrorFor(tb testing.TB, toMAC, gwMAC header.MAC, gwIP netip.Addr, typ, code uint8, rest uint32, orig header.IPv4) []byte {
	tb.Helper()
	quote := orig[:min(len(orig), 576-20-8)]
	p := pkt{dstMAC: toMAC, srcMAC: gwMAC, src: gwIP, dst: orig.Src(), ttl: 64, tos: 0xc0}
	return p.icmp(tb, typ, code, rest, quote)
}

// arpFrame is an ARP packet for Ethernet/IPv4 written by hand (RFC 826),
// unpadded, behind a zeroed virtio_net_hdr.
func arpFrame(ethDst header.MAC, op uint16, sha header.MAC, spa netip.Addr, tha header.MAC, tpa netip.Addr) []byte {
	b := make([]byte, header.VirtioNetHdrLen, header.VirtioNetHdrLen+42)
	b = append(b, ethDst[:]...)
	b = append(b, sha[:]...)
	b = append(b, 0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, byte(op>>8), byte(op))
	b = append(b, sha[:]...)
	b = append(b, spa.AsSlice()...)
	b = append(b, tha[:]...)
	return append(b, tpa.AsSlice()...)
}

// ipOf is the IPv4 packet of a buffer, cut at its TotalLen (Ethernet
// padding excluded).
func ipOf(buf []byte) header.IPv4 {
	ip := header.IPv4(buf[ethIPOff:])
	return ip[:ip.TotalLen()]
}

// trimIP cuts a buffer after its IPv4 packet, dropping Ethernet padding.
func trimIP(buf []byte) []byte { return buf[:ethIPOff+len(ipOf(buf))] }

// --- checksums, the slow way

// sum16 is the RFC 1071 sum of b as 16-bit big-endian words, an odd last
// byte padded with zero, added to acc.
func sum16(b []byte, acc uint32) uint32 {
	for ; len(b) >= 2; b = b[2:] {
		acc += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

func fold16(acc uint32) uint16 {
	for acc>>16 != 0 {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

// checkIPv4 verifies the IPv4 header of a buffer: well formed, within the
// frame, header checksum right. It returns the packet cut at TotalLen.
func checkIPv4(t testing.TB, buf []byte) header.IPv4 {
	t.Helper()
	if len(buf) < ethIPOff+20 {
		t.Fatalf("frame of %d bytes has no IPv4 header", len(buf))
	}
	if et := header.Ethernet(buf[header.VirtioNetHdrLen:]).Type(); et != header.EtherTypeIPv4 {
		t.Fatalf("EtherType %#04x, want IPv4", et)
	}
	ip := header.IPv4(buf[ethIPOff:])
	if !ip.Valid() {
		t.Fatalf("invalid IPv4 header % x", clip(ip))
	}
	if s := fold16(sum16(ip[:ip.HeaderLen()], 0)); s != 0xffff {
		t.Errorf("IPv4 header checksum %#04x is wrong (sum %#04x)", ip.Checksum(), s)
	}
	return ip[:ip.TotalLen()]
}

// checkICMP verifies the checksum of the ICMP message in ip, over all of it.
func checkICMP(t testing.TB, ip header.IPv4) header.ICMPv4 {
	t.Helper()
	if ip.Protocol() != header.ProtoICMP {
		t.Fatalf("protocol %d, want ICMP", ip.Protocol())
	}
	m := header.ICMPv4(ip.Payload())
	if len(m) < 8 {
		t.Fatalf("ICMP message of %d bytes", len(m))
	}
	if s := fold16(sum16(m, 0)); s != 0xffff {
		t.Errorf("ICMP checksum %#04x is wrong (sum %#04x)", m.Checksum(), s)
	}
	return m
}

// freshL4 is the TCP or UDP checksum of the complete datagram l4 carried
// from src to dst, computed from scratch with the field taken as zero; a
// UDP checksum of zero is sent as all ones (RFC 768).
func freshL4(src, dst netip.Addr, proto uint8, l4 []byte) uint16 {
	field := 16
	if proto == header.ProtoUDP {
		field = 6
	}
	sum := header.PseudoHeaderSum(src, dst, proto, uint16(len(l4)))
	sum = sum16(l4[:field], sum)
	sum = sum16(l4[field+2:], sum)
	c := ^fold16(sum)
	if c == 0 && proto == header.ProtoUDP {
		c = 0xffff
	}
	return c
}

// checkL4 compares the TCP or UDP checksum of an unfragmented packet with a
// fresh computation.
func checkL4(t testing.TB, ip header.IPv4) {
	t.Helper()
	l4 := ip.Payload()
	var got uint16
	switch ip.Protocol() {
	case header.ProtoUDP:
		got = header.UDP(l4).Checksum()
	case header.ProtoTCP:
		got = header.TCP(l4).Checksum()
	default:
		t.Fatalf("protocol %d is neither TCP nor UDP", ip.Protocol())
	}
	if want := freshL4(ip.Src(), ip.Dst(), ip.Protocol(), l4); got != want {
		t.Errorf("L4 checksum %#04x, a fresh computation gives %#04x", got, want)
	}
}

// completePartial finishes a CHECKSUM_PARTIAL buffer's L4 checksum the way
// a device does, on a copy, and returns the packet.
func completePartial(t testing.TB, buf []byte) header.IPv4 {
	t.Helper()
	b := append([]byte(nil), trimIP(buf)...)
	vh := header.VirtioNetHdr(b)
	if vh.Flags()&header.VirtioNetHdrFNeedsCsum == 0 {
		t.Fatal("the frame is not CHECKSUM_PARTIAL")
	}
	start := header.VirtioNetHdrLen + int(vh.CsumStart())
	field := start + int(vh.CsumOffset())
	binary.BigEndian.PutUint16(b[field:], ^fold16(sum16(b[start:], 0)))
	return ipOf(b)
}

// --- 1. ARP for the gateway

func TestRouterARPForGateway(t *testing.T) {
	rb := newRouterbed(t, true)

	// a2's host asks for its gateway: the answer goes back to a2 alone,
	// the request goes nowhere else, and the asker is learned (RFC 826
	// merge: it is going to talk to us).
	req := arpFrame(header.BroadcastMAC, arp.OpRequest, macA2, hostA2, header.MAC{}, gwIPA)
	rb.send(rb.a2, req)
	want := arpFrame(macA2, arp.OpReply, gwMACA, gwIPA, macA2, hostA2)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.a2: {want}})
	mac, netID, st, ok := rb.dp.ARP().Lookup(hostA2)
	if !ok || mac != macA2 || netID != rb.netA || st != arp.Stale {
		t.Errorf("asker: Lookup = %v, %d, %v, %v; want %v, %d, stale, true", mac, netID, st, ok, macA2, rb.netA)
	}

	// The same from a padded, 60-byte request: the reply is 42 bytes all
	// the same.
	padded := append(append([]byte(nil), req...), make([]byte, 18)...)
	rb.send(rb.a2, padded)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.a2: {want}})

	// A request for another host is the hosts' business: switched in A
	// (flooded to a1 unchanged), never answered by the router.
	other := arpFrame(header.BroadcastMAC, arp.OpRequest, macA2, hostA2, header.MAC{}, hostA1)
	rb.send(rb.a2, other)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.a1: {other}})

	// A sender claiming an address of B is answered but not learned: an
	// A host cannot become B's neighbour.
	spoof := netip.MustParseAddr("10.2.0.50")
	rb.send(rb.a2, arpFrame(header.BroadcastMAC, arp.OpRequest, macA2, spoof, header.MAC{}, gwIPA))
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.a2: {arpFrame(macA2, arp.OpReply, gwMACA, gwIPA, macA2, spoof)}})
	if _, _, st, _ := rb.dp.ARP().Lookup(spoof); st != arp.None {
		t.Errorf("%v learned from network A: state %v", spoof, st)
	}
	for _, p := range rb.all() {
		wantDrops(t, p, nil)
	}
}

// --- 2. ping the gateway

func TestRouterPingGateway(t *testing.T) {
	rb := newRouterbed(t, true)
	for _, size := range []int{56, 4} { // 4: a frame Ethernet pads to 60
		req := fromA1(gwIPA)
		req.ttl, req.df, req.id = 61, true, 0xbeef
		const id, seq = 0x1234, 7
		payload := pattern(size, 1)
		in := req.icmp(t, header.Echo, 0, id<<16|seq, payload)
		rb.send(rb.a1, in)
		got := rb.outputs()
		if !rb.only(t, got, map[*tport]int{rb.a1: 1}) {
			continue
		}
		reply := pkt{dstMAC: macA1, srcMAC: gwMACA, src: gwIPA, dst: hostA1, ttl: 64, df: true, id: 0xbeef}
		want := trimIP(reply.icmp(t, header.EchoReply, 0, id<<16|seq, payload))
		rb.exact(t, got, map[*tport][][]byte{rb.a1: {want}})

		out := got[rb.a1][0]
		ip := checkIPv4(t, out)
		m := checkICMP(t, ip)
		if ip.Src() != gwIPA || ip.Dst() != hostA1 || ip.TTL() != 64 {
			t.Errorf("reply %v → %v TTL %d, want %v → %v TTL 64", ip.Src(), ip.Dst(), ip.TTL(), gwIPA, hostA1)
		}
		if m.Type() != header.EchoReply || m.ID() != id || m.Seq() != seq || !bytes.Equal(m.Payload(), payload) {
			t.Errorf("reply type %d id %#x seq %d payload % x", m.Type(), m.ID(), m.Seq(), clip(m.Payload()))
		}
		if len(out) != ethIPOff+20+8+size {
			t.Errorf("reply buffer %d bytes, want %d (no padding)", len(out), ethIPOff+20+8+size)
		}
	}

	// What is for the gateway but is not a ping is dropped, not forwarded:
	// a UDP datagram, and a fragmented ping (not reassembled).
	rb.send(rb.a1, fromA1(gwIPA).udp(t, pattern(20, 0)))
	frag := fromA1(gwIPA)
	frag.mf = true
	rb.send(rb.a1, frag.icmp(t, header.Echo, 0, 1, pattern(64, 0)))
	rb.only(t, rb.outputs(), nil)
	wantDrops(t, rb.a1, map[DropReason]uint64{DropLocal: 2})
}

// --- 3. forwarding between connected networks

func TestRouterForward(t *testing.T) {
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			rb := newRouterbed(t, true)
			build := func(p pkt, payload []byte) []byte {
				if proto == "udp" {
					return p.udp(t, payload)
				}
				return p.tcp(t, payload)
			}
			payload := pattern(300, 5)
			p := fromA1(hostB1)
			in := build(p, payload)
			rb.send(rb.a1, in)
			got := rb.outputs()
			want := build(p.hop(gwMACB, macB1), payload)
			rb.exact(t, got, map[*tport][][]byte{rb.b1: {want}})
			if len(got[rb.b1]) == 1 {
				out := got[rb.b1][0]
				ip := checkIPv4(t, out)
				eth := header.Ethernet(out[header.VirtioNetHdrLen:])
				if ip.TTL() != 63 || eth.Src() != gwMACB || eth.Dst() != macB1 {
					t.Errorf("TTL %d, %v → %v; want 63, %v → %v", ip.TTL(), eth.Src(), eth.Dst(), gwMACB, macB1)
				}
				if !bytes.Equal(ip.Payload(), ipOf(in).Payload()) {
					t.Error("the L4 header or payload changed")
				}
				checkL4(t, ip)
			}

			// The way back, B → A: A's gateway MAC to a1, TTL 63.
			back := pkt{dstMAC: gwMACB, srcMAC: macB1, src: hostB1, dst: hostA1, ttl: 64, id: 9}
			rb.send(rb.b1, build(back, payload))
			rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.a1: {build(back.hop(gwMACA, macA1), payload)}})

			// A neighbour known to ARP but not to B's FDB: flooded in B
			// (a bridge under the router), to it at its MAC.
			h := netip.MustParseAddr("10.2.0.12")
			hm := header.MAC{0x02, 0x00, 0x0a, 0x02, 0x00, 0x0c}
			rb.dp.ARP().SetPermanent(h, hm, rb.netB)
			p = fromA1(h)
			rb.send(rb.a1, build(p, payload))
			w := build(p.hop(gwMACB, hm), payload)
			rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {w}, rb.b2: {w}})
			for _, port := range rb.all() {
				wantDrops(t, port, nil)
			}
		})
	}
}

// TestRouterTTLChecksum routes a batch of headers with varied TTL, ID, TOS
// and flags: the incrementally updated checksum must equal a fresh one
// every time (RFC 1624's corner cases included).
func TestRouterTTLChecksum(t *testing.T) {
	rb := newRouterbed(t, true)
	var want [][]byte
	for i := range 64 {
		p := fromA1(hostB1)
		p.ttl = uint8(2 + i*4)
		p.id = uint16(i * 1031)
		p.tos = uint8(i * 4)
		p.df = i%2 == 0
		payload := pattern(8+i, i)
		rb.send(rb.a1, p.udp(t, payload))
		want = append(want, p.hop(gwMACB, macB1).udp(t, payload))
	}
	// And the header whose fresh checksum is 0x0000 after the decrement
	// (RFC 1624's -0 case): the ID that makes the rest sum to 0xffff.
	p := fromA1(hostB1)
	p.id = 0
	h := ipOf(p.hop(gwMACB, macB1).udp(t, nil)).Header()
	p.id = ^fold16(sum16(h[:10], sum16(h[12:], 0)))
	f := p.hop(gwMACB, macB1).udp(t, nil)
	if c := ipOf(f).Checksum(); c != 0 {
		t.Fatalf("test setup: checksum %#04x, want 0", c)
	}
	rb.send(rb.a1, p.udp(t, nil))
	want = append(want, f)
	got := rb.outputs()
	rb.exact(t, got, map[*tport][][]byte{rb.b1: want})
	for _, f := range got[rb.b1] {
		checkIPv4(t, f)
	}
}

func TestRouterIsolation(t *testing.T) {
	payload := pattern(100, 0)
	t.Run("not connected", func(t *testing.T) {
		rb := newRouterbed(t, false)
		rb.send(rb.a1, fromA1(hostB1).udp(t, payload))
		rb.send(rb.a1, fromA1(hostB1).tcp(t, payload))
		back := pkt{dstMAC: gwMACB, srcMAC: macB1, src: hostB1, dst: hostA1, ttl: 64}
		rb.send(rb.b1, back.udp(t, payload))
		rb.only(t, rb.outputs(), nil)
		wantDrops(t, rb.a1, map[DropReason]uint64{DropIsolation: 2})
		wantDrops(t, rb.b1, map[DropReason]uint64{DropIsolation: 1})
	})
	t.Run("connected then disconnected", func(t *testing.T) {
		rb := newRouterbed(t, true)
		p := fromA1(hostB1)
		rb.send(rb.a1, p.udp(t, payload))
		rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {p.hop(gwMACB, macB1).udp(t, payload)}})
		rb.setL3(false)
		rb.send(rb.a1, p.udp(t, payload))
		rb.only(t, rb.outputs(), nil)
		wantDrops(t, rb.a1, map[DropReason]uint64{DropIsolation: 1})
	})
}

// --- 4. TTL exceeded, and when no error may be sent

func TestRouterTTLExceeded(t *testing.T) {
	for _, ttl := range []uint8{1, 0} {
		t.Run(fmt.Sprint("ttl", ttl), func(t *testing.T) {
			rb := newRouterbed(t, true)
			p := fromA1(hostB1)
			p.ttl = ttl
			in := p.udp(t, pattern(30, 0)) // padded to 60 by Ethernet
			rb.send(rb.a1, in)
			got := rb.outputs()
			want := icmpErrorFor(t, macA1, gwMACA, gwIPA, header.TimeExceeded, header.TTLExceeded, 0, ipOf(in))
			rb.exact(t, got, map[*tport][][]byte{rb.a1: {want}})
			wantDrops(t, rb.a1, map[DropReason]uint64{DropTTL: 1})
			if len(got[rb.a1]) != 1 {
				return
			}
			ip := checkIPv4(t, got[rb.a1][0])
			m := checkICMP(t, ip)
			if ip.Src() != gwIPA || ip.Dst() != hostA1 || m.Type() != 11 || m.Code() != 0 || m.Rest() != 0 {
				t.Errorf("%v → %v type %d code %d rest %#x", ip.Src(), ip.Dst(), m.Type(), m.Code(), m.Rest())
			}
			orig := ipOf(in)
			if q := m.Payload(); len(q) < orig.HeaderLen()+8 || !bytes.Equal(q, orig) {
				t.Errorf("quote % x, want the whole original % x", q, orig)
			}
		})
	}

	// Errors are sent about ICMP queries and first fragments.
	for _, tc := range []struct {
		name  string
		frame func(t *testing.T, p pkt) []byte
	}{
		{"echo", func(t *testing.T, p pkt) []byte { return p.icmp(t, header.Echo, 0, 1, pattern(32, 0)) }},
		{"first fragment", func(t *testing.T, p pkt) []byte { p.mf = true; return p.udp(t, pattern(600, 0)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb := newRouterbed(t, true)
			p := fromA1(hostB1)
			p.ttl = 1
			in := tc.frame(t, p)
			rb.send(rb.a1, in)
			got := rb.outputs()
			want := icmpErrorFor(t, macA1, gwMACA, gwIPA, header.TimeExceeded, header.TTLExceeded, 0, ipOf(in))
			rb.exact(t, got, map[*tport][][]byte{rb.a1: {want}})
			if len(got[rb.a1]) == 1 {
				checkICMP(t, checkIPv4(t, got[rb.a1][0]))
				if l, w := len(ipOf(got[rb.a1][0])), 28+min(len(ipOf(in)), 548); l != w {
					t.Errorf("error of %d bytes, want %d (as much quoted as fits in 576)", l, w)
				}
			}
			wantDrops(t, rb.a1, map[DropReason]uint64{DropTTL: 1})
		})
	}

	// RFC 1812 4.3.2.7: never about an ICMP error, nor a non-first fragment.
	for _, tc := range []struct {
		name  string
		frame func(t *testing.T, p pkt) []byte
	}{
		{"icmp error", func(t *testing.T, p pkt) []byte {
			q := fromA1(hostB1).udp(t, pattern(20, 0))
			return p.icmp(t, header.DestUnreachable, header.PortUnreachable, 0, ipOf(q)[:28])
		}},
		{"time exceeded", func(t *testing.T, p pkt) []byte {
			q := fromA1(hostB1).udp(t, pattern(20, 0))
			return p.icmp(t, header.TimeExceeded, 0, 0, ipOf(q)[:28])
		}},
		{"middle fragment", func(t *testing.T, p pkt) []byte {
			p.fragOff, p.mf = 185, true
			return p.raw(t, layers.IPProtocolUDP, pattern(100, 0))
		}},
		{"last fragment", func(t *testing.T, p pkt) []byte {
			p.fragOff, p.mf = 1, false
			return p.raw(t, layers.IPProtocolUDP, pattern(100, 0))
		}},
	} {
		t.Run("none about "+tc.name, func(t *testing.T) {
			rb := newRouterbed(t, true)
			p := fromA1(hostB1)
			p.ttl = 1
			rb.send(rb.a1, tc.frame(t, p))
			rb.only(t, rb.outputs(), nil)
			wantDrops(t, rb.a1, map[DropReason]uint64{DropTTL: 1})
		})
	}

	// The route comes first, as in Linux's ip_forward: TTL 1 towards no
	// route is "net unreachable", towards an isolated network a silent drop.
	t.Run("no route first", func(t *testing.T) {
		rb := newRouterbed(t, true)
		p := fromA1(netip.MustParseAddr("192.0.2.1"))
		p.ttl = 1
		in := p.udp(t, pattern(20, 0))
		rb.send(rb.a1, in)
		want := icmpErrorFor(t, macA1, gwMACA, gwIPA, header.DestUnreachable, header.NetUnreachable, 0, ipOf(in))
		rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.a1: {want}})
		wantDrops(t, rb.a1, map[DropReason]uint64{DropNoRoute: 1})
	})
	t.Run("isolation first", func(t *testing.T) {
		rb := newRouterbed(t, false)
		p := fromA1(hostB1)
		p.ttl = 1
		rb.send(rb.a1, p.udp(t, pattern(20, 0)))
		rb.only(t, rb.outputs(), nil)
		wantDrops(t, rb.a1, map[DropReason]uint64{DropIsolation: 1})
	})

	t.Run("none about a broadcast", func(t *testing.T) {
		// A broadcast frame never reaches the router: it is switched in A
		// like any other, TTL 1 or not, with no error back.
		rb := newRouterbed(t, true)
		p := fromA1(hostB1)
		p.ttl, p.dstMAC = 1, header.BroadcastMAC
		in := p.udp(t, pattern(20, 0))
		rb.send(rb.a1, in)
		rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.a2: {in}})
		wantDrops(t, rb.a1, nil)
		// The guard itself, for frames that do reach it (none today).
		for _, dst := range []header.MAC{header.BroadcastMAC, mcastIPv4} {
			p.dstMAC = dst
			if mayAnswerWithError(p.udp(t, nil)) {
				t.Errorf("mayAnswerWithError to %v = true", dst)
			}
		}
		p.dstMAC = gwMACA
		if !mayAnswerWithError(p.udp(t, nil)) {
			t.Error("mayAnswerWithError of a unicast UDP packet = false")
		}
	})
}

// --- 5. no route

func TestRouterNoRoute(t *testing.T) {
	rb := newRouterbed(t, true)
	p := fromA1(netip.MustParseAddr("192.0.2.1"))
	in := p.tcp(t, pattern(1000, 0))
	rb.send(rb.a1, in)
	got := rb.outputs()
	want := icmpErrorFor(t, macA1, gwMACA, gwIPA, header.DestUnreachable, header.NetUnreachable, 0, ipOf(in))
	rb.exact(t, got, map[*tport][][]byte{rb.a1: {want}})
	if len(got[rb.a1]) == 1 {
		m := checkICMP(t, checkIPv4(t, got[rb.a1][0]))
		if m.Type() != 3 || m.Code() != 0 {
			t.Errorf("type %d code %d, want 3/0", m.Type(), m.Code())
		}
	}
	wantDrops(t, rb.a1, map[DropReason]uint64{DropNoRoute: 1})
}

// --- 6. MTU: frag-needed and fragmentation

func TestRouterFragNeeded(t *testing.T) {
	rb := newRouterbed(t, true)
	p := fromA1(hostB1)
	p.df = true
	in := p.udp(t, pattern(1450-28, 0))
	rb.send(rb.a1, in)
	got := rb.outputs()
	want := icmpErrorFor(t, macA1, gwMACA, gwIPA, header.DestUnreachable, header.FragNeeded, mtuB, ipOf(in))
	rb.exact(t, got, map[*tport][][]byte{rb.a1: {want}})
	if len(got[rb.a1]) == 1 {
		m := checkICMP(t, checkIPv4(t, got[rb.a1][0]))
		if m.Type() != 3 || m.Code() != 4 || m[4] != 0 || m[5] != 0 || binary.BigEndian.Uint16(m[6:8]) != mtuB {
			t.Errorf("type %d code %d rest % x, want 3/4 with MTU %d in bytes 6-7", m.Type(), m.Code(), m[4:8], mtuB)
		}
	}
	wantDrops(t, rb.a1, map[DropReason]uint64{DropFragNeeded: 1})

	// The boundary: exactly the MTU passes, one byte more does not.
	fit := p.udp(t, pattern(mtuB-28, 0))
	rb.send(rb.a1, fit, p.udp(t, pattern(mtuB-27, 0)))
	got = rb.outputs()
	rb.only(t, got, map[*tport]int{rb.a1: 1, rb.b1: 1})
	if len(got[rb.b1]) == 1 {
		if !bytes.Equal(got[rb.b1][0], p.hop(gwMACB, macB1).udp(t, pattern(mtuB-28, 0))) {
			t.Error("the packet of exactly the MTU was changed beyond TTL and MACs")
		}
	}
	wantDrops(t, rb.a1, map[DropReason]uint64{DropFragNeeded: 2})
}

// fragments checks frames as the fragments of orig (an IP packet) sent from
// B's gateway to dst: each within mtu, at 8-byte offsets, MF on all but the last
// (unless orig had it), headers checksummed; it returns the reassembled
// payload.
func fragments(t *testing.T, frames [][]byte, orig header.IPv4, mtu int, dst header.MAC) []byte {
	t.Helper()
	var data []byte
	baseOff := int(orig.FragmentOffset()) * 8
	for i, f := range frames {
		if vh := header.VirtioNetHdr(f); !bytes.Equal(vh[:header.VirtioNetHdrLen], make([]byte, header.VirtioNetHdrLen)) {
			t.Errorf("fragment %d: virtio_net_hdr % x, want zeros", i, vh[:header.VirtioNetHdrLen])
		}
		eth := header.Ethernet(f[header.VirtioNetHdrLen:])
		if eth.Src() != gwMACB || eth.Dst() != dst {
			t.Errorf("fragment %d: %v → %v, want %v → %v", i, eth.Src(), eth.Dst(), gwMACB, dst)
		}
		ip := checkIPv4(t, f)
		if len(f) != ethIPOff+len(ip) {
			t.Errorf("fragment %d: %d bytes past its IP packet", i, len(f)-ethIPOff-len(ip))
		}
		if len(ip) > mtu {
			t.Errorf("fragment %d: %d bytes, MTU %d", i, len(ip), mtu)
		}
		if ip.Src() != orig.Src() || ip.Dst() != orig.Dst() || ip.ID() != orig.ID() || ip.Protocol() != orig.Protocol() ||
			ip.TOS() != orig.TOS() || ip.TTL() != orig.TTL()-1 || ip.DF() {
			t.Errorf("fragment %d: header % x does not match the original % x", i, ip.Header(), orig.Header())
		}
		last := i == len(frames)-1
		if wantMF := !last || orig.MF(); ip.MF() != wantMF {
			t.Errorf("fragment %d of %d: MF %v", i, len(frames), ip.MF())
		}
		if !last && len(ip.Payload())%8 != 0 {
			t.Errorf("fragment %d: %d data bytes, not a multiple of 8", i, len(ip.Payload()))
		}
		if off := int(ip.FragmentOffset()) * 8; off != baseOff+len(data) {
			t.Errorf("fragment %d at offset %d, want %d", i, off, baseOff+len(data))
		}
		data = append(data, ip.Payload()...)
	}
	return data
}

func TestRouterFragment(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int // IP total length
		mf    bool
		off   uint16
		nfrag int
	}{
		{"1450", 1450, false, 0, 2},
		{"4000", 4000, false, 0, 3},
		{"first fragment", 2000, true, 0, 2},
		{"middle fragment", 2000, true, 100, 2},
		{"last fragment", 2000, false, 100, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb := newRouterbed(t, true)
			p := fromA1(hostB1)
			p.mf, p.fragOff = tc.mf, tc.off
			var in []byte
			if tc.mf || tc.off != 0 {
				in = p.raw(t, layers.IPProtocolUDP, pattern(tc.size-20, 1))
			} else {
				in = p.udp(t, pattern(tc.size-28, 1))
			}
			rb.send(rb.a1, in)
			got := rb.outputs()
			if !rb.only(t, got, map[*tport]int{rb.b1: tc.nfrag}) {
				return
			}
			orig := ipOf(in)
			data := fragments(t, got[rb.b1], orig, mtuB, macB1)
			if !bytes.Equal(data, orig.Payload()) {
				t.Errorf("reassembled %d bytes differ from the original %d", len(data), len(orig.Payload()))
			}
			if tc.off == 0 && !tc.mf {
				// The whole datagram is back: its checksum still holds.
				checkL4(t, reassembled(orig, data))
			}
			wantDrops(t, rb.a1, nil)
		})
	}
}

// reassembled is orig's header with data as its payload: the datagram the
// receiver rebuilds.
func reassembled(orig header.IPv4, data []byte) header.IPv4 {
	ip := header.IPv4(append(append([]byte(nil), orig.Header()...), data...))
	ip.SetTotalLen(uint16(len(ip)))
	ip.SetFlagsFragOffset(0, 0)
	return ip
}

func TestRouterFragmentPartialChecksum(t *testing.T) {
	check := func(t *testing.T, in []byte) {
		t.Helper()
		rb := newRouterbed(t, true)
		rb.send(rb.a1, in)
		got := rb.outputs()
		if !rb.only(t, got, map[*tport]int{rb.b1: 2}) {
			return
		}
		orig := ipOf(in)
		data := fragments(t, got[rb.b1], orig, mtuB, macB1)
		whole := reassembled(orig, data)
		checkL4(t, whole)
		// Only the checksum field may differ from what was sent.
		sent := append([]byte(nil), orig.Payload()...)
		copy(sent[6:8], data[6:8])
		if !bytes.Equal(data, sent) {
			t.Error("fragmenting changed the datagram beyond its checksum field")
		}
	}
	t.Run("1450", func(t *testing.T) {
		check(t, fromA1(hostB1).partialUDP(t, pattern(1450-28, 2)))
	})
	t.Run("odd length", func(t *testing.T) {
		check(t, fromA1(hostB1).partialUDP(t, pattern(1451-28, 2)))
	})
	t.Run("checksum zero", func(t *testing.T) {
		// RFC 768: a computed checksum of zero is sent as all ones; zero
		// on the wire means "no checksum". The payload's first two bytes
		// are chosen so the sum comes out at zero.
		p := fromA1(hostB1)
		payload := pattern(1450-28, 2)
		payload[0], payload[1] = 0, 0
		u := header.UDP(ipOf(p.udp(t, payload)).Payload())
		rest := sum16(u[8:], sum16(u[:6], header.PseudoHeaderSum(p.src, p.dst, header.ProtoUDP, uint16(len(u)))))
		binary.BigEndian.PutUint16(payload[0:2], ^fold16(rest))
		in := p.partialUDP(t, payload)
		if c := freshL4(p.src, p.dst, header.ProtoUDP, ipOf(in).Payload()); c != 0xffff {
			t.Fatalf("test setup: the checksum computes to %#04x, not zero", c)
		}
		check(t, in)
	})
	t.Run("bytes past the IP packet", func(t *testing.T) {
		// The frame is longer than its IP packet (a sender's trailer): the
		// checksum covers the datagram only, as the kernel's after it
		// trims the skb to TotalLen (ip_rcv_core).
		in := fromA1(hostB1).partialUDP(t, pattern(1450-28, 2))
		check(t, append(in, 0xde, 0xad, 0xbe, 0xef))
	})
}

// TestRouterFragmentForgedCsumStart: a forged virtio_net_hdr (TESTING.md,
// bad input) whose checksum field lies in the IP header: NEEDS_CSUM with
// csum_start 14 and csum_offset 0, on a packet that must be fragmented. The
// header was validated when routed; completing the checksum must not
// corrupt it (it once did, and panicked on the IHL it wrote: found by
// FuzzRouter). The router may drop the frame as malformed or send sound
// fragments, never panic. target chooses what the completed "checksum"
// writes over the version/IHL byte (0: whatever the packet gives).
func TestRouterFragmentForgedCsumStart(t *testing.T) {
	for _, target := range []uint16{0, 0x4f00, 0x4100} {
		t.Run(fmt.Sprintf("%#04x", target), func(t *testing.T) {
			rw := newRouteWorker(t, true)
			in := forgedCsumFrame(t, target)
			bufs, sizes := rw.batch(in, 1)
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("the router panicked: %v", r)
					}
				}()
				rw.w.forwardBatch(rw.dp.cfg.Load(), rw.a1, bufs, sizes)
			}()
			out := rw.cb.Recv()
			if len(out) > 0 {
				// Sound fragments of the packet sent (its UDP checksum
				// field aside, which was never a checksum).
				orig := ipOf(in)
				data := fragments(t, out, orig, mtuB, macB1)
				want := append([]byte(nil), orig.Payload()...)
				if len(data) == len(want) {
					copy(want[6:8], data[6:8])
				}
				if !bytes.Equal(data, want) {
					t.Errorf("the fragments carry %d bytes that are not the packet's %d", len(data), len(want))
				}
			}
			if d := rw.a1.Stats.DropMap(); len(out) == 0 && d["malformed"] != 1 {
				t.Errorf("nothing sent and drops %v, want one malformed", d)
			}
		})
	}
}

// forgedCsumFrame is a 1450-byte UDP packet a1 → b1 without DF, marked
// NEEDS_CSUM with the checksum field on the IP header's first word. With a
// non-zero target, the UDP checksum field is set so that completing the
// "checksum" over the packet (as routed: the header sums to all ones, so
// only L4 counts) writes target.
func forgedCsumFrame(t *testing.T, target uint16) []byte {
	t.Helper()
	in := fromA1(hostB1).partialUDP(t, pattern(1450-28, 2))
	vh := header.VirtioNetHdr(in)
	vh.SetCsumStart(header.EthernetLen)
	vh.SetCsumOffset(0)
	if target != 0 {
		u := header.UDP(ipOf(in).Payload())
		u.SetChecksum(0)
		x := fold16(sum16(u, 0))
		u.SetChecksum(fold16(uint32(^target) + uint32(^x)))
		if got := ^fold16(sum16(u, 0)); got != target {
			t.Fatalf("test setup: the L4 sum completes to %#04x, want %#04x", got, target)
		}
	}
	return in
}

// TestRouterFragmentOptions: RFC 791 3.1, options without the copied flag
// (Record Route here) go in the first fragment only; Linux overwrites them
// with NOPs in the others (ip_options_fragment).
func TestRouterFragmentOptions(t *testing.T) {
	rb := newRouterbed(t, true)
	p := fromA1(hostB1)
	p.options = []layers.IPv4Option{
		{OptionType: 7, OptionLength: 11, OptionData: []byte{4, 0, 0, 0, 0, 0, 0, 0, 0}},
		{OptionType: 0, OptionLength: 1},
	}
	in := p.udp(t, pattern(3000, 0))
	if hl := ipOf(in).HeaderLen(); hl != 32 {
		t.Fatalf("test setup: header of %d bytes", hl)
	}
	rb.send(rb.a1, in)
	got := rb.outputs()
	if !rb.only(t, got, map[*tport]int{rb.b1: 3}) {
		return
	}
	data := fragments(t, got[rb.b1], ipOf(in), mtuB, macB1)
	if !bytes.Equal(data, ipOf(in).Payload()) {
		t.Error("reassembled payload differs")
	}
	for i, f := range got[rb.b1][1:] {
		opts := header.IPv4(f[ethIPOff:]).Options()
		for j := 0; j < len(opts); {
			typ := opts[j]
			if typ == 0 { // end of list
				break
			}
			if typ == 1 {
				j++
				continue
			}
			if typ&0x80 == 0 {
				t.Errorf("fragment %d carries option %d, which is not to be copied", i+1, typ)
			}
			if j+1 >= len(opts) || opts[j+1] < 2 {
				break
			}
			j += int(opts[j+1])
		}
	}
}

// --- 7. GSO super-frames against the MTU

func TestRouterGSO(t *testing.T) {
	p := fromA1(hostB1)
	p.df = true
	t.Run("segments fit", func(t *testing.T) {
		for _, mss := range []int{1348, mtuB - 40} {
			rb := newRouterbed(t, true)
			in := p.gsoTCP(t, mss, 10)
			rb.send(rb.a1, in)
			got := rb.outputs()
			want := p.hop(gwMACB, macB1).gsoTCP(t, mss, 10)
			rb.exact(t, got, map[*tport][][]byte{rb.b1: {want}})
			if len(got[rb.b1]) != 1 {
				continue
			}
			out := got[rb.b1][0]
			if !bytes.Equal(out[:header.VirtioNetHdrLen], in[:header.VirtioNetHdrLen]) {
				t.Errorf("virtio_net_hdr % x, was % x", out[:header.VirtioNetHdrLen], in[:header.VirtioNetHdrLen])
			}
			checkIPv4(t, out)
			checkL4(t, completePartial(t, out))
			if g := rb.b1.stats.TxGSO.Load(); g != 1 {
				t.Errorf("b1 sent %d GSO frames, want 1", g)
			}
		}
	})
	t.Run("segments too big", func(t *testing.T) {
		for _, mss := range []int{1448, mtuB - 39} {
			rb := newRouterbed(t, true)
			in := p.gsoTCP(t, mss, 10)
			rb.send(rb.a1, in)
			got := rb.outputs()
			want := icmpErrorFor(t, macA1, gwMACA, gwIPA, header.DestUnreachable, header.FragNeeded, mtuB, ipOf(in))
			rb.exact(t, got, map[*tport][][]byte{rb.a1: {want}})
			if len(got[rb.a1]) == 1 {
				m := checkICMP(t, checkIPv4(t, got[rb.a1][0]))
				if m.MTU() != mtuB {
					t.Errorf("MTU %d, want %d", m.MTU(), mtuB)
				}
			}
			wantDrops(t, rb.a1, map[DropReason]uint64{DropFragNeeded: 1})
		}
	})
	// DF clear, segments of 1448 over MTU 1400: cut into its 10 segments of
	// gso_size, as the sender's kernel would for a device without TSO, then
	// each fragmented in two; reassembled, the segments carry the stream
	// with valid checksums and consecutive sequence numbers.
	t.Run("too big without DF", func(t *testing.T) {
		rb := newRouterbed(t, true)
		q := p
		q.df = false
		in := q.gsoTCP(t, 1448, 10)
		rb.send(rb.a1, in)
		got := rb.outputs()
		if !rb.only(t, got, map[*tport]int{rb.b1: 20}) {
			return
		}
		wantDrops(t, rb.a1, nil)
		orig := ipOf(in)
		origTCP := header.TCP(orig.Payload())
		byID := map[uint16][][]byte{}
		var ids []uint16
		for _, f := range got[rb.b1] {
			ip := checkIPv4(t, f)
			if int(ip.TotalLen()) > mtuB {
				t.Fatalf("fragment of %d bytes over MTU %d", ip.TotalLen(), mtuB)
			}
			if header.VirtioNetHdr(f).IsGSO() {
				t.Fatal("a segment still marked GSO")
			}
			if _, ok := byID[ip.ID()]; !ok {
				ids = append(ids, ip.ID())
			}
			byID[ip.ID()] = append(byID[ip.ID()], f)
		}
		if len(ids) != 10 {
			t.Fatalf("%d segments (IP IDs), want 10", len(ids))
		}
		var stream []byte
		for i, id := range ids {
			// The segment as it left the router, before fragmenting: the
			// first fragment's header, unfragmented, TTL as fragments expects.
			pre := reassembled(ipOf(byID[id][0]), nil)
			pre.SetTTL(pre.TTL() + 1)
			data := fragments(t, byID[id], pre, mtuB, macB1)
			seg := reassembled(ipOf(byID[id][0]), data)
			checkL4(t, seg)
			st := header.TCP(seg.Payload())
			if want := origTCP.Seq() + uint32(i*1448); st.Seq() != want {
				t.Errorf("segment %d seq %d, want %d", i, st.Seq(), want)
			}
			if seg.TTL() != orig.TTL()-1 {
				t.Errorf("segment %d TTL %d, want %d", i, seg.TTL(), orig.TTL()-1)
			}
			stream = append(stream, st.Payload()...)
		}
		if !bytes.Equal(stream, origTCP.Payload()) {
			t.Error("the segments' payloads do not rebuild the super-frame's")
		}
	})
}

// --- 8. next hop resolution

func TestRouterARPResolve(t *testing.T) {
	h := netip.MustParseAddr("10.2.0.99")
	hm := header.MAC{0x02, 0x00, 0x0a, 0x02, 0x00, 0x63}
	request := arpFrame(header.BroadcastMAC, arp.OpRequest, gwMACB, gwIPB, header.MAC{}, h)
	reply := arpFrame(gwMACB, arp.OpReply, hm, h, gwMACB, gwIPB)

	t.Run("answered", func(t *testing.T) {
		rb := newRouterbed(t, true)
		p := fromA1(h)
		in := p.udp(t, pattern(200, 0))
		rb.send(rb.a1, in)
		rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {request}, rb.b2: {request}})
		if _, _, st, _ := rb.dp.ARP().Lookup(h); st != arp.Incomplete {
			t.Errorf("state %v, want incomplete", st)
		}

		// The host answers from b2: the frame that waited goes to it
		// there, at its MAC; the reply itself goes nowhere.
		rb.send(rb.b2, reply)
		rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b2: {p.hop(gwMACB, hm).udp(t, pattern(200, 0))}})
		if mac, _, st, ok := rb.dp.ARP().Lookup(h); !ok || mac != hm || st != arp.Reachable {
			t.Errorf("Lookup = %v, %v, %v; want %v, reachable", mac, st, ok, hm)
		}
		// From now on straight through.
		rb.send(rb.a1, in)
		rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b2: {p.hop(gwMACB, hm).udp(t, pattern(200, 0))}})
		for _, port := range rb.all() {
			wantDrops(t, port, nil)
		}
	})

	t.Run("answered, too big for B", func(t *testing.T) {
		// What waited is fragmented when it is released.
		rb := newRouterbed(t, true)
		in := fromA1(h).udp(t, pattern(3000, 0))
		rb.send(rb.a1, in)
		rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {request}, rb.b2: {request}})
		rb.send(rb.b2, reply)
		got := rb.outputs()
		if rb.only(t, got, map[*tport]int{rb.b2: 3}) {
			data := fragments(t, got[rb.b2], ipOf(in), mtuB, hm)
			checkL4(t, reassembled(ipOf(in), data))
		}
	})

	t.Run("queue full", func(t *testing.T) {
		// Five frames wait for three places: the two oldest are dropped,
		// as the kernel does; one request only.
		rb := newRouterbed(t, true)
		p := fromA1(h)
		var want [][]byte
		for i := range 5 {
			rb.send(rb.a1, p.udp(t, pattern(100, i)))
			if i >= 2 {
				want = append(want, p.hop(gwMACB, hm).udp(t, pattern(100, i)))
			}
		}
		rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {request}, rb.b2: {request}})
		rb.send(rb.b2, reply)
		rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b2: want})
		wantDrops(t, rb.a1, map[DropReason]uint64{DropARPQueueFull: 2})
	})

	t.Run("no answer", func(t *testing.T) {
		rb := newRouterbed(t, true)
		p := fromA1(h)
		in := p.udp(t, pattern(200, 0))
		rb.send(rb.a1, in)
		rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {request}, rb.b2: {request}})
		// Retransmissions, one per RetransTime of the fake clock (the
		// timer ticks in real time and reads the clock).
		for range arp.DefaultMaxProbes - 1 {
			rb.clock.Advance(arp.DefaultRetransTime)
			for _, port := range []*tport{rb.b1, rb.b2} {
				if f := waitFrames(t, port, 1, 3*time.Second); !bytes.Equal(f[0], request) || len(f) != 1 {
					t.Errorf("port %s: %d frames, first % x; want the request", port.name, len(f), clip(f[0]))
				}
			}
		}
		rb.clock.Advance(arp.DefaultRetransTime)
		got := waitFrames(t, rb.a1, 1, 3*time.Second)
		// The error quotes the packet as it waited: TTL already one less.
		want := icmpErrorFor(t, macA1, gwMACA, gwIPA, header.DestUnreachable, header.HostUnreachable, 0,
			ipOf(p.hop(gwMACB, hm).udp(t, pattern(200, 0))))
		if err := sameFrames(got, [][]byte{want}); err != nil {
			t.Errorf("a1: %v", err)
		}
		m := checkICMP(t, checkIPv4(t, got[0]))
		if m.Type() != 3 || m.Code() != 1 {
			t.Errorf("type %d code %d, want 3/1", m.Type(), m.Code())
		}
		if n := rb.dp.Drops()["arp-failed"]; n != 1 {
			t.Errorf("arp-failed drops %d, want 1", n)
		}
		if _, _, st, _ := rb.dp.ARP().Lookup(h); st != arp.Failed {
			t.Errorf("state %v, want failed", st)
		}
		time.Sleep(50 * time.Millisecond)
		for _, port := range rb.all() {
			if f := port.ch.Recv(); len(f) > 0 {
				t.Errorf("port %s: %d more frames", port.name, len(f))
			}
		}
	})
}

// --- 9. ICMP rate limit

func TestRouterICMPRateLimit(t *testing.T) {
	rb := newRouterbed(t, true)
	p := fromA1(hostB1)
	p.ttl = 1
	send := func(n int) {
		for i := range n {
			p.id = uint16(i)
			rb.send(rb.a1, p.udp(t, pattern(20, i)))
		}
	}
	// The clock stands still: the burst, then nothing (Linux:
	// icmp_msgs_burst 50).
	send(200)
	got := rb.outputs()
	rb.only(t, got, map[*tport]int{rb.a1: 50})
	for _, f := range got[rb.a1] {
		checkICMP(t, checkIPv4(t, f))
	}
	// 20 ms later: 20 more tokens at 1000 per second.
	rb.clock.Advance(20 * time.Millisecond)
	send(30)
	rb.only(t, rb.outputs(), map[*tport]int{rb.a1: 20})
	wantDrops(t, rb.a1, map[DropReason]uint64{DropTTL: 230})
}

// --- 10. what is not routed

func TestRouterMalformed(t *testing.T) {
	rb := newRouterbed(t, true)
	good := fromA1(hostB1).udp(t, pattern(100, 0))
	mutate := func(f func(ip header.IPv4), fix bool) []byte {
		b := append([]byte(nil), good...)
		ip := header.IPv4(b[ethIPOff:])
		f(ip)
		if fix {
			ip.SetChecksum(0)
			ip.SetChecksum(^fold16(sum16(ip[:20], 0)))
		}
		return b
	}
	bad := [][]byte{
		mutate(func(ip header.IPv4) { ip[10] ^= 0x40 }, false),                                // header checksum
		mutate(func(ip header.IPv4) { ip[0] = 0x44 }, true),                                   // IHL 4
		mutate(func(ip header.IPv4) { ip[0] = 0x40 }, true),                                   // IHL 0
		mutate(func(ip header.IPv4) { ip[0] = 0x4f; ip.SetTotalLen(40) }, true)[:ethIPOff+40], // IHL 15: header past the packet
		mutate(func(ip header.IPv4) { ip.SetTotalLen(uint16(len(ip) + 1)) }, true),            // longer than the frame
		mutate(func(ip header.IPv4) { ip.SetTotalLen(19) }, true),                             // shorter than its header
		mutate(func(ip header.IPv4) { ip[0] = 0x65 }, true),                                   // version 6
		good[:ethIPOff+19], // a header cut short
		good[:ethIPOff],    // no header at all
	}
	rb.send(rb.a1, bad...)
	rb.only(t, rb.outputs(), nil)
	wantDrops(t, rb.a1, map[DropReason]uint64{DropMalformed: uint64(len(bad))})

	// A bad ARP frame (hardware type 6) on a routed network, and a runt.
	a := arpFrame(header.BroadcastMAC, arp.OpRequest, macA1, hostA1, header.MAC{}, gwIPA)
	a[ethIPOff+1] = 6
	rb.send(rb.a1, a, arpFrame(header.BroadcastMAC, arp.OpRequest, macA1, hostA1, header.MAC{}, gwIPA)[:ethIPOff+27])
	rb.only(t, rb.outputs(), nil)
	wantDrops(t, rb.a1, map[DropReason]uint64{DropMalformed: uint64(len(bad)) + 2})

	// The port keeps routing.
	rb.send(rb.a1, good)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {fromA1(hostB1).hop(gwMACB, macB1).udp(t, pattern(100, 0))}})
}

func ipv6Frame(tb testing.TB, dst, src header.MAC) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(src[:]), DstMAC: net.HardwareAddr(dst[:]), EthernetType: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: 64,
		SrcIP: net.ParseIP("fd00::a"), DstIP: net.ParseIP("fd00::b")}
	u := &layers.UDP{SrcPort: 1, DstPort: 2}
	u.SetNetworkLayerForChecksum(ip)
	return withVirtioHdr(tb, nil, eth, ip, u, gopacket.Payload(pattern(40, 0)))
}

func TestRouterNotRoutable(t *testing.T) {
	rb := newRouterbed(t, true)
	var frames [][]byte
	for _, dst := range []string{"224.0.0.5", "239.1.2.3", "255.255.255.255", "10.2.0.255", "10.1.0.255"} {
		frames = append(frames, fromA1(netip.MustParseAddr(dst)).udp(t, pattern(20, 0)))
	}
	frames = append(frames, ipv6Frame(t, gwMACA, macA1))
	vlan := append([]byte(nil), fromA1(hostB1).udp(t, pattern(20, 0))...)
	binary.BigEndian.PutUint16(vlan[header.VirtioNetHdrLen+12:], header.EtherTypeVLAN)
	frames = append(frames, vlan)
	rb.send(rb.a1, frames...)
	rb.only(t, rb.outputs(), nil)
	wantDrops(t, rb.a1, map[DropReason]uint64{DropNotRoutable: uint64(len(frames))})

	// Between hosts of a network, IPv6 (and IPv4) is switched: unchanged,
	// to the host's port only.
	v6 := ipv6Frame(t, macA2, macA1)
	v4 := pkt{dstMAC: macA2, srcMAC: macA1, src: hostA1, dst: hostA2, ttl: 64}.udp(t, pattern(20, 0))
	rb.send(rb.a1, v6, v4)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.a2: {v6, v4}})
	mc := ipv6Frame(t, mcastIPv6, macA1)
	rb.send(rb.a1, mc)
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.a2: {mc}})
	wantDrops(t, rb.a1, map[DropReason]uint64{DropNotRoutable: uint64(len(frames))})
}

// --- 11. fuzzing, benchmark, allocations

// routeWorker is a router that is never started: networks A and B on
// Chan ports a1 and b1, b1's host a permanent neighbour in B's FDB, and a
// worker whose forwardBatch the caller runs itself (as bench_test.go).
type routeWorker struct {
	dp     *Dataplane
	w      *worker
	clock  *fakeClock
	a1, b1 *Port
	ca, cb *port.Chan
}

func newRouteWorker(tb testing.TB, keep bool) *routeWorker {
	tb.Helper()
	rw := &routeWorker{clock: newFakeClock()}
	rw.dp = New(Options{Workers: 1, Batch: benchBatch, Now: rw.clock.Now})
	w, err := newWorker(rw.dp, 0)
	if err != nil {
		tb.Fatalf("newWorker: %v", err)
	}
	rw.w = w
	tb.Cleanup(func() {
		w.close()
		rw.ca.Close()
		rw.cb.Close()
	})
	na, _ := rw.dp.AddNetwork("A", fdb.Config{})
	nb, _ := rw.dp.AddNetwork("B", fdb.Config{})
	if rw.ca, err = port.NewChan(keep); err != nil {
		tb.Fatal(err)
	}
	if rw.cb, err = port.NewChan(keep); err != nil {
		tb.Fatal(err)
	}
	ia, err := rw.dp.AddPort("a1", na, rw.ca)
	if err != nil {
		tb.Fatal(err)
	}
	ib, err := rw.dp.AddPort("b1", nb, rw.cb)
	if err != nil {
		tb.Fatal(err)
	}
	rw.dp.SetL3(map[uint16]NetL3{
		na: {GatewayIP: gwIPA, GatewayMAC: gwMACA, Subnet: subnetA, MTU: mtuA, Connected: []uint16{nb}},
		nb: {GatewayIP: gwIPB, GatewayMAC: gwMACB, Subnet: subnetB, MTU: mtuB, Connected: []uint16{na}},
	}, routing.Build([]routing.Route{
		{Prefix: subnetA, Network: na, Kind: routing.Connected},
		{Prefix: subnetB, Network: nb, Kind: routing.Connected},
	}))
	rw.dp.ARP().SetPermanent(hostA1, macA1, na)
	rw.dp.ARP().SetPermanent(hostB1, macB1, nb)
	now := rw.clock.Now().UnixNano()
	rw.dp.FDB(na).Learn(macA1.Uint64(), ia, now)
	rw.dp.FDB(nb).Learn(macB1.Uint64(), ib, now)
	s := rw.dp.cfg.Load()
	rw.a1, rw.b1 = s.port(ia), s.port(ib)
	return rw
}

// batch fills the first n of the worker's receive buffers with frame, as
// ReadBatch would; the router rewrites them, so each batch needs a refill.
func (rw *routeWorker) batch(frame []byte, n int) ([][]byte, []int) {
	bufs, sizes := rw.w.bufs[:n], rw.w.sizes[:n]
	for i := range bufs {
		sizes[i] = copy(bufs[i], frame)
	}
	return bufs, sizes
}

// routedFrame is a 64-byte UDP frame from a1's host to b1's host, through
// A's gateway.
func routedFrame(tb testing.TB) []byte {
	return fromA1(hostB1).udp(tb, pattern(64-header.EthernetLen-28, 0))
}

func BenchmarkRouteForward(b *testing.B) { benchRoute(b, newRouteWorker(b, false)) }

// benchRoute runs batches of routedFrame from a1 through rw's worker, the
// first batch outside the timing (it warms the egress queues and, through
// NAT, creates the conn).
func benchRoute(b *testing.B, rw *routeWorker) {
	s := rw.dp.cfg.Load()
	frame := routedFrame(b)
	bufs, sizes := rw.batch(frame, benchBatch)
	rw.w.forwardBatch(s, rw.a1, bufs, sizes) // warm up the egress queues
	before := rw.cb.Written.Load()
	if before != benchBatch {
		b.Fatalf("warm-up batch: %d frames to b1, want %d (drops %v)", before, benchBatch, rw.a1.Stats.DropMap())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bufs, sizes := rw.batch(frame, benchBatch)
		rw.w.forwardBatch(s, rw.a1, bufs, sizes)
	}
	b.StopTimer()
	if got, want := rw.cb.Written.Load()-before, uint64(b.N)*benchBatch; got != want {
		b.Fatalf("%d frames to b1, want %d", got, want)
	}
	if d := rw.a1.Stats.DropMap(); len(d) > 0 {
		b.Fatalf("drops: %v", d)
	}
	frames := float64(b.N) * benchBatch
	ns := float64(b.Elapsed().Nanoseconds())
	b.ReportMetric(ns/frames, "ns/frame")
	b.ReportMetric(frames/ns*1e3, "Mpps")
	b.SetBytes(int64(benchBatch * (len(frame) - header.VirtioNetHdrLen)))
}

// TestRouterFastPathAllocs keeps BenchmarkRouteForward's promise in the
// ordinary test run: routing a known neighbour's frames, and fragmenting,
// allocate nothing.
func TestRouterFastPathAllocs(t *testing.T) {
	rw := newRouteWorker(t, false)
	s := rw.dp.cfg.Load()
	big := fromA1(hostB1).udp(t, pattern(1450-28, 0))
	for _, tc := range []struct {
		name   string
		frame  []byte
		copies uint64
	}{
		{"routed", routedFrame(t), 1},
		{"fragmented", big, 2},
	} {
		run := func() {
			bufs, sizes := rw.batch(tc.frame, benchBatch)
			rw.w.forwardBatch(s, rw.a1, bufs, sizes)
		}
		run()
		before := rw.cb.Written.Load()
		const runs = 20
		if a := testing.AllocsPerRun(runs, run); a != 0 {
			t.Errorf("%s: %v allocs per %d-frame batch", tc.name, a, benchBatch)
		}
		if got, want := rw.cb.Written.Load()-before, (runs+1)*benchBatch*tc.copies; got != want {
			t.Errorf("%s: %d frames to b1, want %d", tc.name, got, want)
		}
	}
	if d := rw.a1.Stats.DropMap(); len(d) > 0 {
		t.Errorf("drops: %v", d)
	}
}

// FuzzRouter feeds arbitrary IPv4 (or other) packets behind an arbitrary
// virtio_net_hdr to a gateway MAC, through forwardBatch, then runs the
// neighbour timers as arpLoop does until the frames that waited for an
// unresolved next hop fail. Nothing may panic, and whatever IPv4 the router
// sends has a sound header (length within the frame, checksum right), fits
// the egress MTU unless GSO, and an ICMP error it makes has a right checksum.
//
// The packet is payload followed by pad bytes of a pattern, so that large
// packets (fragmentation, GSO) stay small inputs the fuzzer can minimise.
// The neighbour table and rate limits start afresh for every input, so an
// input does the same thing however often it runs.
func FuzzRouter(f *testing.F) {
	seed := func(buf []byte, fromB bool) {
		const keep = 64 // bytes of the packet in the input; the rest is pad
		pkt := buf[ethIPOff:]
		n := min(len(pkt), keep)
		f.Add(buf[:header.VirtioNetHdrLen], fromB, header.Ethernet(buf[header.VirtioNetHdrLen:]).Type(),
			uint16(len(pkt)-n), pkt[:n])
	}
	seed(fromA1(hostB1).udp(f, pattern(100, 0)), false)
	ttl1 := fromA1(hostB1)
	ttl1.ttl = 1
	seed(ttl1.tcp(f, pattern(40, 0)), false)
	seed(fromA1(hostB1).udp(f, pattern(3000, 0)), false)
	seed(fromA1(hostB1).partialUDP(f, pattern(1500, 0)), false)
	df := fromA1(hostB1)
	df.df = true
	seed(df.gsoTCP(f, 1448, 3), false)
	seed(df.gsoTCP(f, 1348, 3), false)
	seed(fromA1(netip.MustParseAddr("10.2.0.77")).udp(f, pattern(10, 0)), false)
	seed(fromA1(netip.MustParseAddr("10.2.0.77")).udp(f, pattern(2000, 0)), false)
	seed(fromA1(netip.MustParseAddr("192.0.2.1")).udp(f, pattern(10, 0)), false)
	seed(fromA1(gwIPA).icmp(f, header.Echo, 0, 1, pattern(56, 0)), false)
	seed(arpFrame(header.BroadcastMAC, arp.OpRequest, macA1, hostA1, header.MAC{}, gwIPA), false)
	seed(arpFrame(gwMACB, arp.OpReply, macB2, netip.MustParseAddr("10.2.0.77"), gwMACB, gwIPB), true)
	seed(ipv6Frame(f, gwMACA, macA1), false)
	seed(pkt{dstMAC: gwMACB, srcMAC: macB1, src: hostB1, dst: hostA1, ttl: 64}.udp(f, pattern(1480, 0)), true)

	rw := newRouteWorker(f, true)
	gateways := map[netip.Addr]bool{gwIPA: true, gwIPB: true}
	f.Fuzz(func(t *testing.T, vh []byte, fromB bool, etype uint16, pad uint16, payload []byte) {
		in, gw, src := rw.a1, gwMACA, macA1
		if fromB {
			in, gw, src = rw.b1, gwMACB, macB1
		}
		n := ethIPOff + len(payload) + int(pad)
		if n > port.BufSize {
			return
		}
		buf := rw.w.bufs[0][:n]
		clear(buf[:header.VirtioNetHdrLen])
		copy(buf[:header.VirtioNetHdrLen], vh)
		eth := header.Ethernet(buf[header.VirtioNetHdrLen:])
		eth.SetDst(gw)
		eth.SetSrc(src)
		eth.SetType(etype)
		copy(buf[ethIPOff:], payload)
		copy(buf[ethIPOff+len(payload):], pattern(int(pad), len(payload)))
		spoofed := len(payload) >= 16 && gateways[netip.AddrFrom4([4]byte(payload[12:16]))]

		rw.dp.arp = arp.New(arp.Config{})
		rw.dp.arp.SetPermanent(hostA1, macA1, rw.a1.Net)
		rw.dp.arp.SetPermanent(hostB1, macB1, rw.b1.Net)
		rw.w.icmpLimit = rateLimit{}
		var limit rateLimit

		s := rw.dp.cfg.Load()
		rw.w.sizes[0] = n
		rw.w.forwardBatch(s, in, rw.w.bufs[:1], rw.w.sizes[:1])
		// arpLoop's work, until frames that waited for a neighbour fail.
		for range arp.DefaultMaxProbes + 1 {
			rw.clock.Advance(arp.DefaultRetransTime)
			now := rw.clock.Now().UnixNano()
			_, failed := rw.dp.arp.Tick(now)
			for _, fl := range failed {
				for _, fr := range fl.Frames {
					rw.dp.unreachable(s, fr, &limit, now)
				}
			}
		}

		for _, out := range []struct {
			c   *port.Chan
			net uint16
			mtu int
		}{{rw.ca, rw.a1.Net, mtuA}, {rw.cb, rw.b1.Net, mtuB}} {
			for _, fr := range out.c.Recv() {
				if len(fr) < ethIPOff {
					t.Fatalf("a frame of %d bytes", len(fr))
				}
				if header.Ethernet(fr[header.VirtioNetHdrLen:]).Type() != header.EtherTypeIPv4 {
					continue
				}
				ip := header.IPv4(fr[ethIPOff:])
				if !ip.Valid() || !ip.ChecksumValid() {
					t.Fatalf("sent an IPv4 packet with a bad header: % x", clip(fr))
				}
				if out.net != in.Net && !header.VirtioNetHdr(fr).IsGSO() && int(ip.TotalLen()) > out.mtu {
					t.Fatalf("sent %d bytes over MTU %d", ip.TotalLen(), out.mtu)
				}
				if ip.Protocol() == header.ProtoICMP && gateways[ip.Src()] && !spoofed && ip.FragmentOffset() == 0 && !ip.MF() {
					m := header.ICMPv4(ip.Payload())
					if m.Valid() && m.IsError() && fold16(sum16(m, 0)) != 0xffff {
						t.Fatalf("ICMP error with a bad checksum: % x", clip(fr))
					}
				}
			}
		}
	})
}
