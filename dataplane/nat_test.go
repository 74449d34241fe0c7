package dataplane

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"vswitch/dataplane/port"
	"vswitch/fdb"
	"vswitch/header"
	"vswitch/nat"
	"vswitch/policy"
	"vswitch/routing"
)

// The pipeline tier of NAT and isolation (nat.go, policy.go): the router
// bed's networks A and B, both masquerading, plus an uplink U,
//
//	U 10.0.12.0/24  vswitchd owns 10.0.12.15 (uplinkIP)   up: its port; host x 10.0.12.11 behind it
//
// Every rewritten packet's checksums are recomputed from scratch (checkIPv4,
// checkL4, completePartial for CHECKSUM_PARTIAL frames), never taken from the
// code under test.

var (
	uplinkIP  = netip.MustParseAddr("10.0.12.15")
	uplinkMAC = header.MAC{0x02, 0x42, 0x0a, 0x00, 0x0c, 0x0f}
	hostX     = netip.MustParseAddr("10.0.12.11")
	macX      = header.MAC{0x02, 0x00, 0x0a, 0x00, 0x0c, 0x0b}
	subnetU   = netip.MustParsePrefix("10.0.12.0/24")
)

type natbed struct {
	*routerbed
	netU uint16
	up   *tport
}

// newNATBed builds A, B (not connected, masquerading) and the uplink; opts
// tunes the conntrack.
func newNATBed(t *testing.T, opts Options) *natbed {
	t.Helper()
	tb := &testbed{t: t, clock: newFakeClock()}
	opts.Workers, opts.Now = 1, tb.clock.Now
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	tb.dp = New(opts)
	if err := tb.dp.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		tb.dp.Close()
		for _, p := range tb.ports {
			p.ch.Close()
		}
	})
	nb := &natbed{routerbed: &routerbed{testbed: tb}}
	nb.netA = nb.network("A", fdb.Config{})
	nb.netB = nb.network("B", fdb.Config{})
	nb.netU = nb.network("uplink", fdb.Config{})
	nb.a1, nb.a2 = nb.port("a1", nb.netA), nb.port("a2", nb.netA)
	nb.b1, nb.b2 = nb.port("b1", nb.netB), nb.port("b2", nb.netB)
	nb.up = nb.port("up", nb.netU)
	nb.extra = []*tport{nb.up}
	nb.setNAT(NetL3{}, NetL3{})
	nb.neighbours(t, []neighbour{
		{hostA1, macA1, nb.netA, nb.a1}, {hostA2, macA2, nb.netA, nb.a2},
		{hostB1, macB1, nb.netB, nb.b1}, {hostB2, macB2, nb.netB, nb.b2},
		{hostX, macX, nb.netU, nil},
	})
	return nb
}

// setNAT configures the three networks; extraA and extraB are merged into
// A's and B's interfaces (Internal, NoICC, Connected, Masquerade off).
func (nb *natbed) setNAT(extraA, extraB NetL3) {
	a := NetL3{GatewayIP: gwIPA, GatewayMAC: gwMACA, Subnet: subnetA, MTU: mtuA, Masquerade: true,
		Internal: extraA.Internal, NoICC: extraA.NoICC, Connected: extraA.Connected}
	b := NetL3{GatewayIP: gwIPB, GatewayMAC: gwMACB, Subnet: subnetB, MTU: mtuB, Masquerade: true,
		Internal: extraB.Internal, NoICC: extraB.NoICC, Connected: extraB.Connected}
	if extraA.Internal {
		a.Masquerade = false
	}
	if extraB.Internal {
		b.Masquerade = false
	}
	u := NetL3{GatewayIP: uplinkIP, GatewayMAC: uplinkMAC, Subnet: subnetU, MTU: 1500, Uplink: true}
	nb.dp.SetL3(map[uint16]NetL3{nb.netA: a, nb.netB: b, nb.netU: u}, routing.Build([]routing.Route{
		{Prefix: subnetA, Network: nb.netA, Kind: routing.Connected},
		{Prefix: subnetB, Network: nb.netB, Kind: routing.Connected},
		{Prefix: subnetU, Network: nb.netU, Kind: routing.Connected},
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Network: nb.netU, Kind: routing.Default, Via: hostX},
	}))
}

// one sends frame in by port in and returns the single frame that came out
// of port out, failing when anything else came out anywhere.
func (nb *natbed) one(t *testing.T, in, out *tport, frame []byte) []byte {
	t.Helper()
	nb.send(in, frame)
	got := nb.outputs()
	for _, p := range nb.all() {
		want := 0
		if p == out {
			want = 1
		}
		if len(got[p]) != want {
			t.Fatalf("port %s sent %d frames, want %d (drops at %s: %v)", p.name, len(got[p]), want, in.name, in.drops())
		}
	}
	return got[out][0]
}

// none sends frame in by port in and checks that nothing came out and that
// in's counter for reason went up by one.
func (nb *natbed) none(t *testing.T, in *tport, frame []byte, reason DropReason) {
	t.Helper()
	before := in.stats.Drops[reason].Load()
	nb.send(in, frame)
	for p, f := range nb.outputs() {
		t.Errorf("port %s sent %d frames, want none", p.name, len(f))
	}
	if after := in.stats.Drops[reason].Load(); after != before+1 {
		t.Errorf("%s drops at %s went %d -> %d, want +1 (all drops: %v)", reason, in.name, before, after, in.drops())
	}
}

// tcpPkt is a TCP segment with the given ports and flags, checksums complete.
func tcpPkt(tb testing.TB, p pkt, sport, dport uint16, syn, ack bool, payload []byte) []byte {
	tb.Helper()
	eth, ip := p.layers(layers.IPProtocolTCP)
	s := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1000, Ack: 2000,
		SYN: syn, ACK: ack, Window: 502}
	s.SetNetworkLayerForChecksum(ip)
	return withVirtioHdr(tb, nil, eth, ip, s, gopacket.Payload(payload))
}

func udpPkt(tb testing.TB, p pkt, sport, dport uint16, payload []byte) []byte {
	tb.Helper()
	eth, ip := p.layers(layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return withVirtioHdr(tb, nil, eth, ip, u, gopacket.Payload(payload))
}

// fromX is a packet from the outside host x to dst, sent to vswitchd's
// uplink MAC.
func fromX(dst netip.Addr) pkt {
	return pkt{dstMAC: uplinkMAC, srcMAC: macX, src: hostX, dst: dst, ttl: 64, id: 0x1111}
}

func from(mac, gw header.MAC, src, dst netip.Addr) pkt {
	return pkt{dstMAC: gw, srcMAC: mac, src: src, dst: dst, ttl: 64, id: 0x2222}
}

func ports(ip header.IPv4) (uint16, uint16) {
	l4 := ip.Payload()
	return binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
}

// wantAddrs checks a forwarded packet's Ethernet and IP addresses, ports,
// TTL and every checksum (a partial one completed first, as a device would).
func wantAddrs(t *testing.T, buf []byte, srcMAC, dstMAC header.MAC, src, dst netip.Addr, sport, dport uint16) header.IPv4 {
	t.Helper()
	eth := header.Ethernet(buf[header.VirtioNetHdrLen:])
	if eth.Src() != srcMAC || eth.Dst() != dstMAC {
		t.Errorf("Ethernet %v -> %v, want %v -> %v", eth.Src(), eth.Dst(), srcMAC, dstMAC)
	}
	ip := checkIPv4(t, buf)
	if header.VirtioNetHdr(buf).Flags()&header.VirtioNetHdrFNeedsCsum != 0 {
		ip = completePartial(t, buf)
	}
	if ip.Src() != src || ip.Dst() != dst {
		t.Errorf("IP %v -> %v, want %v -> %v", ip.Src(), ip.Dst(), src, dst)
	}
	if ip.TTL() != 63 {
		t.Errorf("TTL %d, want 63", ip.TTL())
	}
	if p := ip.Protocol(); p == header.ProtoTCP || p == header.ProtoUDP {
		if s, d := ports(ip); s != sport || d != dport {
			t.Errorf("ports %d -> %d, want %d -> %d", s, d, sport, dport)
		}
		checkL4(t, ip)
	}
	return ip
}

func TestNATMasqueradeTCP(t *testing.T) {
	nb := newNATBed(t, Options{})
	syn := tcpPkt(t, from(macA1, gwMACA, hostA1, hostX), 40000, 80, true, false, nil)
	out := nb.one(t, nb.a1, nb.up, syn)
	wantAddrs(t, out, uplinkMAC, macX, uplinkIP, hostX, 40000, 80) // the source port is kept when free

	synack := tcpPkt(t, fromX(uplinkIP), 80, 40000, true, true, nil)
	back := nb.one(t, nb.up, nb.a1, synack)
	wantAddrs(t, back, gwMACA, macA1, hostX, hostA1, 80, 40000)

	es := nb.dp.Conntrack().Entries(nb.clock.Now().UnixNano())
	if len(es) != 1 {
		t.Fatalf("conntrack has %d entries, want 1", len(es))
	}
	e := es[0]
	if e.NAT&nat.SNAT == 0 || e.Orig.Src != hostA1.As4() || e.Reply.Dst != uplinkIP.As4() || e.Reply.DPort != 40000 {
		t.Errorf("entry %v / %v (nat %d): want orig from a1, reply to the uplink IP port 40000, SNAT", e.Orig, e.Reply, e.NAT)
	}
	if e.State != nat.SynRecv {
		t.Errorf("state %v after SYN and SYN+ACK, want SYN_RECV", e.State)
	}

	// A second host with the same source port to the same server gets
	// another port: two flows never share the outside tuple.
	syn2 := tcpPkt(t, from(macA2, gwMACA, hostA2, hostX), 40000, 80, true, false, nil)
	out2 := nb.one(t, nb.a2, nb.up, syn2)
	ip2 := checkIPv4(t, out2)
	s2, _ := ports(ip2)
	if s2 == 40000 || ip2.Src() != uplinkIP {
		t.Fatalf("a2's flow left as %v:%d, want the uplink IP and a port other than 40000", ip2.Src(), s2)
	}
	checkL4(t, ip2)
	back2 := nb.one(t, nb.up, nb.a2, tcpPkt(t, fromX(uplinkIP), 80, s2, true, true, nil))
	wantAddrs(t, back2, gwMACA, macA2, hostX, hostA2, 80, 40000)
}

func TestNATMasqueradePartialAndGSO(t *testing.T) {
	nb := newNATBed(t, Options{})
	p := from(macA1, gwMACA, hostA1, hostX)
	out := nb.one(t, nb.a1, nb.up, p.partialUDP(t, pattern(300, 1)))
	if header.VirtioNetHdr(out).Flags()&header.VirtioNetHdrFNeedsCsum == 0 {
		t.Fatal("the partial UDP datagram left with its checksum completed; it should stay partial for the device")
	}
	wantAddrs(t, out, uplinkMAC, macX, uplinkIP, hostX, 40000, 9)

	g := nb.one(t, nb.a1, nb.up, p.gsoTCP(t, 1448, 20))
	vh := header.VirtioNetHdr(g)
	if !vh.IsGSO() || vh.GSOSize() != 1448 {
		t.Fatalf("the GSO super-frame left as gso type %d size %d, want it whole", vh.GSOType(), vh.GSOSize())
	}
	wantAddrs(t, g, uplinkMAC, macX, uplinkIP, hostX, 40000, 80)
	if got := nb.up.stats.TxGSO.Load(); got != 1 {
		t.Errorf("uplink tx GSO counter %d, want 1", got)
	}
}

func TestNATMasqueradeUDPZeroChecksum(t *testing.T) {
	nb := newNATBed(t, Options{})
	f := udpPkt(t, from(macA1, gwMACA, hostA1, hostX), 5000, 53, []byte("query"))
	header.UDP(ipOf(f).Payload()).SetChecksum(0) // "no checksum" must stay so
	out := nb.one(t, nb.a1, nb.up, f)
	ip := checkIPv4(t, out)
	if c := header.UDP(ip.Payload()).Checksum(); c != 0 || ip.Src() != uplinkIP {
		t.Errorf("left from %v with UDP checksum %#x, want the uplink IP and 0 kept", ip.Src(), c)
	}
}

func TestNATMasqueradeICMPEcho(t *testing.T) {
	nb := newNATBed(t, Options{})
	echo := from(macA1, gwMACA, hostA1, hostX).icmp(t, header.Echo, 0, 0x00770001, []byte("ping"))
	out := nb.one(t, nb.a1, nb.up, echo)
	ip := checkIPv4(t, out)
	m := checkICMP(t, ip)
	if ip.Src() != uplinkIP || m.ID() != 0x77 {
		t.Fatalf("echo left from %v id %#x, want the uplink IP and id 0x77 kept", ip.Src(), m.ID())
	}
	// a2 with the same id: another id outside.
	out2 := nb.one(t, nb.a2, nb.up, from(macA2, gwMACA, hostA2, hostX).icmp(t, header.Echo, 0, 0x00770001, []byte("ping")))
	m2 := checkICMP(t, checkIPv4(t, out2))
	if m2.ID() == 0x77 {
		t.Fatal("two hosts' echoes left with the same id to the same host")
	}
	reply := fromX(uplinkIP).icmp(t, header.EchoReply, 0, uint32(m2.ID())<<16|1, []byte("ping"))
	back := nb.one(t, nb.up, nb.a2, reply)
	bip := checkIPv4(t, back)
	bm := checkICMP(t, bip)
	if bip.Dst() != hostA2 || bm.ID() != 0x77 {
		t.Errorf("reply reached %v with id %#x, want a2 and 0x77", bip.Dst(), bm.ID())
	}
}

// An ICMP error from outside about a masqueraded datagram reaches the
// container with the quoted packet translated back (RFC 5508 4.3).
func TestNATICMPErrorTranslated(t *testing.T) {
	nb := newNATBed(t, Options{})
	dgram := udpPkt(t, from(macA1, gwMACA, hostA1, hostX), 5353, 9999, []byte("hello"))
	out := nb.one(t, nb.a1, nb.up, dgram)
	sent := checkIPv4(t, out)
	quote := append([]byte(nil), sent[:sent.HeaderLen()+8]...)
	errFrame := fromX(uplinkIP).icmp(t, header.DestUnreachable, header.PortUnreachable, 0, quote)
	back := nb.one(t, nb.up, nb.a1, errFrame)
	ip := checkIPv4(t, back)
	checkICMP(t, ip)
	if ip.Dst() != hostA1 || ip.Src() != hostX {
		t.Fatalf("error delivered %v -> %v, want x -> a1", ip.Src(), ip.Dst())
	}
	q := header.IPv4(ip.Payload()[header.ICMPv4MinLen:])
	if q.Src() != hostA1 || q.Dst() != hostX {
		t.Errorf("quoted packet %v -> %v, want a1 -> x as a1 sent it", q.Src(), q.Dst())
	}
	if fold16(sum16(q[:q.HeaderLen()], 0)) != 0xffff {
		t.Error("the quoted IP header's checksum is wrong")
	}
	qs, qd := binary.BigEndian.Uint16(q[q.HeaderLen():]), binary.BigEndian.Uint16(q[q.HeaderLen()+2:])
	if qs != 5353 || qd != 9999 {
		t.Errorf("quoted ports %d -> %d, want 5353 -> 9999", qs, qd)
	}
	orig := checkIPv4(t, dgram)
	if got, want := header.UDP(q[q.HeaderLen():]).Checksum(), header.UDP(orig.Payload()).Checksum(); got != want {
		t.Errorf("quoted UDP checksum %#x, want %#x as a1 sent it", got, want)
	}
	// An error about nothing we sent stays with vswitchd.
	stray := fromX(uplinkIP).icmp(t, header.DestUnreachable, header.PortUnreachable, 0, quote[:len(quote)-8])
	nb.none(t, nb.up, stray, DropLocal)
}

func publishBed(t *testing.T, proto uint8) *natbed {
	nb := newNATBed(t, Options{})
	nb.dp.SetPublish([]PublishRule{{ID: 1, Network: nb.netA, Proto: proto, HostPort: 8000,
		To: netip.AddrPortFrom(hostA1, 8080)}})
	return nb
}

func TestNATPublishTCP(t *testing.T) {
	nb := publishBed(t, header.ProtoTCP)
	syn := tcpPkt(t, fromX(uplinkIP), 33000, 8000, true, false, nil)
	in := nb.one(t, nb.up, nb.a1, syn)
	wantAddrs(t, in, gwMACA, macA1, hostX, hostA1, 33000, 8080) // the client's own address is kept

	reply := tcpPkt(t, from(macA1, gwMACA, hostA1, hostX), 8080, 33000, true, true, nil)
	out := nb.one(t, nb.a1, nb.up, reply)
	wantAddrs(t, out, uplinkMAC, macX, uplinkIP, hostX, 8000, 33000)

	// The conn lost (a restart, a flush): the server's next segment still
	// leaves from the published port, and the client's comes in again.
	nb.dp.Conntrack().Flush()
	ack := tcpPkt(t, from(macA1, gwMACA, hostA1, hostX), 8080, 33000, false, true, []byte("more"))
	out = nb.one(t, nb.a1, nb.up, ack)
	wantAddrs(t, out, uplinkMAC, macX, uplinkIP, hostX, 8000, 33000)
	in = nb.one(t, nb.up, nb.a1, tcpPkt(t, fromX(uplinkIP), 33000, 8000, false, true, nil))
	wantAddrs(t, in, gwMACA, macA1, hostX, hostA1, 33000, 8080)
	// A connection the server opens from its published port is its own:
	// masqueraded, the port kept.
	out = nb.one(t, nb.a1, nb.up, tcpPkt(t, from(macA1, gwMACA, hostA1, hostX), 8080, 443, true, false, nil))
	wantAddrs(t, out, uplinkMAC, macX, uplinkIP, hostX, 8080, 443)

	// Not published: vswitchd's own address answers nothing.
	nb.none(t, nb.up, tcpPkt(t, fromX(uplinkIP), 33001, 8001, true, false, nil), DropLocal)
	// And the outside cannot reach a masquerading network directly.
	nb.none(t, nb.up, tcpPkt(t, fromX(hostA1), 33002, 8080, true, false, nil), DropIsolation)
}

// Hairpin: a2 reaches a1's published port through the uplink address and
// through its gateway; a1 sees the gateway as the client, so its answer
// comes back through vswitchd and is translated.
func TestNATPublishHairpin(t *testing.T) {
	nb := publishBed(t, header.ProtoTCP)
	for i, via := range []netip.Addr{uplinkIP, gwIPA, gwIPB} {
		sport := uint16(41000 + i)
		syn := tcpPkt(t, from(macA2, gwMACA, hostA2, via), sport, 8000, true, false, nil)
		in := nb.one(t, nb.a2, nb.a1, syn)
		wantAddrs(t, in, gwMACA, macA1, gwIPA, hostA1, sport, 8080)
		reply := tcpPkt(t, from(macA1, gwMACA, hostA1, gwIPA), 8080, sport, true, true, nil)
		out := nb.one(t, nb.a1, nb.a2, reply)
		wantAddrs(t, out, gwMACA, macA2, via, hostA2, 8000, sport)
	}
	// From another network (B, isolated from A): published ports are open to all.
	syn := tcpPkt(t, from(macB1, gwMACB, hostB1, uplinkIP), 42000, 8000, true, false, nil)
	in := nb.one(t, nb.b1, nb.a1, syn)
	wantAddrs(t, in, gwMACA, macA1, gwIPA, hostA1, 42000, 8080)
}

func TestNATPublishUDP(t *testing.T) {
	nb := publishBed(t, header.ProtoUDP)
	in := nb.one(t, nb.up, nb.a1, udpPkt(t, fromX(uplinkIP), 5000, 8000, []byte("echo me")))
	wantAddrs(t, in, gwMACA, macA1, hostX, hostA1, 5000, 8080)
	out := nb.one(t, nb.a1, nb.up, udpPkt(t, from(macA1, gwMACA, hostA1, hostX), 8080, 5000, []byte("echo me")))
	wantAddrs(t, out, uplinkMAC, macX, uplinkIP, hostX, 8000, 5000)
	// TCP to the UDP port is not published.
	nb.none(t, nb.up, tcpPkt(t, fromX(uplinkIP), 5000, 8000, true, false, nil), DropLocal)
}

func TestNATIsolationInternalICC(t *testing.T) {
	nb := newNATBed(t, Options{})
	nb.none(t, nb.a1, tcpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40000, 80, true, false, nil), DropIsolation)
	nb.setNAT(NetL3{Connected: []uint16{nb.netB}}, NetL3{Connected: []uint16{nb.netA}})
	in := nb.one(t, nb.a1, nb.b1, tcpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40000, 80, true, false, nil))
	wantAddrs(t, in, gwMACB, macB1, hostA1, hostB1, 40000, 80) // routed, not translated

	nb.setNAT(NetL3{Internal: true}, NetL3{NoICC: true})
	nb.none(t, nb.a1, tcpPkt(t, from(macA1, gwMACA, hostA1, hostX), 40001, 80, true, false, nil), DropInternalNet)
	nb.none(t, nb.b1, tcpPkt(t, from(macB1, gwMACB, hostB1, hostB2), 40002, 80, true, false, nil), DropICC)
	// icc=false: still out by the uplink, through masquerade.
	out := nb.one(t, nb.b1, nb.up, tcpPkt(t, from(macB1, gwMACB, hostB1, hostX), 40003, 80, true, false, nil))
	wantAddrs(t, out, uplinkMAC, macX, uplinkIP, hostX, 40003, 80)
}

func TestNATACLStateful(t *testing.T) {
	nb := newNATBed(t, Options{})
	nb.setNAT(NetL3{Connected: []uint16{nb.netB}}, NetL3{Connected: []uint16{nb.netA}})
	allow := policy.Rule{ID: 1, Action: policy.Allow, Proto: header.ProtoTCP, DPortMin: 80, DPortMax: 80, Priority: 10}
	acl := policy.New(policy.Deny, []policy.Rule{allow})
	nb.dp.SetACL(nb.netB, acl)

	// Routed into B: port 80 allowed, 22 denied; the reply passes although
	// B's rules say nothing of it.
	in := nb.one(t, nb.a1, nb.b1, tcpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40000, 80, true, false, nil))
	wantAddrs(t, in, gwMACB, macB1, hostA1, hostB1, 40000, 80)
	nb.none(t, nb.a1, tcpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40001, 22, true, false, nil), DropACL)
	back := nb.one(t, nb.b1, nb.a1, tcpPkt(t, from(macB1, gwMACB, hostB1, hostA1), 80, 40000, true, true, nil))
	wantAddrs(t, back, gwMACA, macA1, hostB1, hostA1, 80, 40000)

	// Switched inside B: the same rules, the same state.
	raw := func(src, dst header.MAC, sip, dip netip.Addr, sport, dport uint16, syn, ack bool) []byte {
		return tcpPkt(t, pkt{dstMAC: dst, srcMAC: src, src: sip, dst: dip, ttl: 64}, sport, dport, syn, ack, nil)
	}
	req := raw(macB2, macB1, hostB2, hostB1, 45000, 80, true, false)
	if got := nb.one(t, nb.b2, nb.b1, req); string(got) != string(req) {
		t.Error("a switched frame was changed")
	}
	nb.none(t, nb.b2, raw(macB2, macB1, hostB2, hostB1, 45001, 23, true, false), DropACL)
	nb.one(t, nb.b1, nb.b2, raw(macB1, macB2, hostB1, hostB2, 80, 45000, true, true))
	// A reply to nothing is a new flow to b2 port 45000: denied.
	nb.none(t, nb.b1, raw(macB1, macB2, hostB1, hostB2, 80, 45999, true, true), DropACL)
	if h := acl.Rules()[0].Hits.Load(); h != 2 {
		t.Errorf("allow rule hits %d, want 2 (one routed, one switched flow)", h)
	}

	// An allow rule of the destination admits what isolation would drop.
	nb.setNAT(NetL3{}, NetL3{})
	nb.none(t, nb.a1, tcpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40010, 22, true, false, nil), DropIsolation)
	in = nb.one(t, nb.a1, nb.b1, tcpPkt(t, from(macA1, gwMACA, hostA1, hostB1), 40011, 80, true, false, nil))
	wantAddrs(t, in, gwMACB, macB1, hostA1, hostB1, 40011, 80)
}

func TestNATPortsExhausted(t *testing.T) {
	nb := newNATBed(t, Options{NATPortMin: 50000, NATPortMax: 50001})
	// Four hosts, one source port, one server: the first keeps its port,
	// the next two get the two ports of the range, the fourth none.
	seen := map[uint16]bool{}
	for _, h := range []struct {
		mac, gw header.MAC
		ip      netip.Addr
		p       *tport
	}{{macA1, gwMACA, hostA1, nb.a1}, {macA2, gwMACA, hostA2, nb.a2}, {macB1, gwMACB, hostB1, nb.b1}} {
		out := nb.one(t, h.p, nb.up, tcpPkt(t, from(h.mac, h.gw, h.ip, hostX), 40000, 80, true, false, nil))
		s, _ := ports(checkIPv4(t, out))
		if seen[s] || (s != 40000 && (s < 50000 || s > 50001)) {
			t.Fatalf("outside port %d: taken twice, or outside the range", s)
		}
		seen[s] = true
	}
	nb.none(t, nb.b2, tcpPkt(t, from(macB2, gwMACB, hostB2, hostX), 40000, 80, true, false, nil), DropNATPorts)
	// Another server port is another outside tuple: the port is kept.
	out := nb.one(t, nb.b2, nb.up, tcpPkt(t, from(macB2, gwMACB, hostB2, hostX), 40000, 81, true, false, nil))
	if s, _ := ports(checkIPv4(t, out)); s != 40000 {
		t.Errorf("b2 to port 81 left from port %d, want its own 40000", s)
	}
}

func TestNATTableFull(t *testing.T) {
	nb := newNATBed(t, Options{ConntrackMax: 2})
	for _, sport := range []uint16{40000, 40001} {
		nb.one(t, nb.a1, nb.up, udpPkt(t, from(macA1, gwMACA, hostA1, hostX), sport, 53, []byte("q")))
		nb.one(t, nb.up, nb.a1, udpPkt(t, fromX(uplinkIP), 53, sport, []byte("a"))) // replied: assured, not evicted
	}
	nb.none(t, nb.a1, udpPkt(t, from(macA1, gwMACA, hostA1, hostX), 40002, 53, []byte("q")), DropConntrackFull)
	// The flows already tracked go on.
	nb.one(t, nb.a1, nb.up, udpPkt(t, from(macA1, gwMACA, hostA1, hostX), 40000, 53, []byte("q2")))
	nb.one(t, nb.up, nb.a1, udpPkt(t, fromX(uplinkIP), 53, 40001, []byte("a2")))
}

// newMasqWorker is newRouteWorker with B made the uplink (its gateway
// address playing vswitchd's uplink address, b1 its port and b1's host the
// outside) and A masquerading to it.
func newMasqWorker(tb testing.TB) *routeWorker {
	rw := newRouteWorker(tb, false)
	na, nb := rw.a1.Net, rw.b1.Net
	rw.dp.SetL3(map[uint16]NetL3{
		na: {GatewayIP: gwIPA, GatewayMAC: gwMACA, Subnet: subnetA, MTU: mtuA, Masquerade: true},
		nb: {GatewayIP: gwIPB, GatewayMAC: gwMACB, Subnet: subnetB, MTU: mtuB, Uplink: true},
	}, nil)
	s := rw.dp.cfg.Load()
	rw.a1, rw.b1 = s.port(rw.a1.Index), s.port(rw.b1.Index)
	return rw
}

// BenchmarkRouteMasquerade is BenchmarkRouteForward through masquerade: a
// conntrack lookup, the source address rewritten, checksums updated.
func BenchmarkRouteMasquerade(b *testing.B) { benchRoute(b, newMasqWorker(b)) }

// TestNATFastPathAllocs: the packets of a tracked flow, both ways, allocate
// nothing.
func TestNATFastPathAllocs(t *testing.T) {
	rw := newMasqWorker(t)
	s := rw.dp.cfg.Load()
	out := routedFrame(t)
	back := pkt{dstMAC: gwMACB, srcMAC: macB1, src: hostB1, dst: gwIPB, ttl: 64}.udp(t, pattern(64-header.EthernetLen-28, 0))
	// routedFrame is UDP 40000 -> 9; the answer comes 9 -> 40000.
	u := header.UDP(ipOf(back).Payload())
	u.SetSrcPort(9)
	u.SetDstPort(40000)
	u.SetChecksum(u.ComputeChecksum(hostB1, gwIPB))
	for _, tc := range []struct {
		name string
		in   *Port
		f    []byte
		dst  *port.Chan
	}{{"out", rw.a1, out, rw.cb}, {"back", rw.b1, back, rw.ca}} {
		run := func() {
			bufs, sizes := rw.batch(tc.f, benchBatch)
			rw.w.forwardBatch(s, tc.in, bufs, sizes)
		}
		run()
		before := tc.dst.Written.Load()
		if a := testing.AllocsPerRun(20, run); a != 0 {
			t.Errorf("%s: %v allocs per %d-frame batch", tc.name, a, benchBatch)
		}
		if got, want := tc.dst.Written.Load()-before, uint64(21*benchBatch); got != want {
			t.Errorf("%s: %d frames delivered, want %d (drops %v %v)", tc.name, got, want, rw.a1.Stats.DropMap(), rw.b1.Stats.DropMap())
		}
	}
}

// l4Sound reports whether an unfragmented, complete TCP or UDP packet has
// a right L4 checksum (a UDP checksum of 0, "none", counts as right), and
// whether the question applies at all.
func l4Sound(buf []byte) (sound, applies bool) {
	if len(buf) < ethIPOff || header.Ethernet(buf[header.VirtioNetHdrLen:]).Type() != header.EtherTypeIPv4 ||
		header.VirtioNetHdr(buf).Flags()&header.VirtioNetHdrFNeedsCsum != 0 {
		return false, false
	}
	ip := header.IPv4(buf[ethIPOff:])
	if !ip.Valid() || ip.IsFragment() {
		return false, false
	}
	l4 := ip.Payload()
	switch ip.Protocol() {
	case header.ProtoTCP:
		if len(l4) < header.TCPMinLen {
			return false, false
		}
		return header.TCP(l4).Checksum() == freshL4(ip.Src(), ip.Dst(), header.ProtoTCP, l4), true
	case header.ProtoUDP:
		if len(l4) < header.UDPLen {
			return false, false
		}
		c := header.UDP(l4).Checksum()
		return c == 0 || c == freshL4(ip.Src(), ip.Dst(), header.ProtoUDP, l4), true
	case header.ProtoICMP:
		return len(l4) >= header.ICMPv4MinLen && fold16(sum16(l4, 0)) == 0xffff, true
	}
	return false, false
}

// FuzzNAT feeds arbitrary IPv4 packets, from the masquerading network or
// from the uplink, through a router with a masqueraded flow already tracked
// and two published ports. Nothing may panic; every IPv4 packet sent has a
// sound header; and NAT keeps checksums right: a TCP, UDP or ICMP packet
// that came in with a right checksum leaves with one.
func FuzzNAT(f *testing.F) {
	seed := func(buf []byte, fromUplink bool) {
		f.Add(buf[:header.VirtioNetHdrLen], fromUplink, buf[ethIPOff:])
	}
	toX := from(macA1, gwMACA, hostA1, hostB1)
	seed(udpPkt(f, toX, 40000, 9, []byte("out")), false)
	seed(tcpPkt(f, toX, 41000, 80, true, false, nil), false)
	seed(toX.icmp(f, header.Echo, 0, 0x00050001, []byte("ping")), false)
	seed(toX.partialUDP(f, pattern(200, 1)), false)
	seed(toX.gsoTCP(f, 1000, 3), false)
	back := pkt{dstMAC: gwMACB, srcMAC: macB1, src: hostB1, dst: gwIPB, ttl: 64}
	seed(udpPkt(f, back, 9, 40000, []byte("in")), true)
	seed(tcpPkt(f, back, 33000, 8000, true, false, nil), true)
	seed(udpPkt(f, back, 33000, 8000, []byte("pub")), true)
	q := checkIPv4(f, udpPkt(f, toX, 40000, 9, []byte("out")))
	seed(back.icmp(f, header.DestUnreachable, header.PortUnreachable, 0, q[:q.HeaderLen()+8]), true)

	rw := newMasqWorker(f)
	rw.dp.SetPublish([]PublishRule{
		{ID: 1, Network: rw.a1.Net, Proto: header.ProtoTCP, HostPort: 8000, To: netip.AddrPortFrom(hostA1, 8080)},
		{ID: 2, Network: rw.a1.Net, Proto: header.ProtoUDP, HostPort: 8000, To: netip.AddrPortFrom(hostA1, 8080)},
	})
	s := rw.dp.cfg.Load()
	f.Fuzz(func(t *testing.T, vh []byte, fromUplink bool, payload []byte) {
		in, gw, src := rw.a1, gwMACA, macA1
		if fromUplink {
			in, gw, src = rw.b1, gwMACB, macB1
		}
		n := ethIPOff + len(payload)
		if n > port.BufSize {
			return
		}
		// The tracked flow, afresh for every input.
		rw.dp.ct.Flush()
		bufs, sizes := rw.batch(udpPkt(t, toX, 40000, 9, []byte("out")), 1)
		rw.w.forwardBatch(s, rw.a1, bufs, sizes)
		rw.ca.Recv()
		rw.cb.Recv()

		buf := rw.w.bufs[0][:n]
		clear(buf[:header.VirtioNetHdrLen])
		copy(buf[:header.VirtioNetHdrLen], vh)
		eth := header.Ethernet(buf[header.VirtioNetHdrLen:])
		eth.SetDst(gw)
		eth.SetSrc(src)
		eth.SetType(header.EtherTypeIPv4)
		copy(buf[ethIPOff:], payload)
		wasSound, applies := l4Sound(buf)
		rw.w.icmpLimit = rateLimit{}
		rw.w.sizes[0] = n
		rw.w.forwardBatch(s, in, rw.w.bufs[:1], rw.w.sizes[:1])
		for _, c := range []*port.Chan{rw.ca, rw.cb} {
			for _, fr := range c.Recv() {
				if len(fr) < ethIPOff || header.Ethernet(fr[header.VirtioNetHdrLen:]).Type() != header.EtherTypeIPv4 {
					continue
				}
				ip := header.IPv4(fr[ethIPOff:])
				if !ip.Valid() || !ip.ChecksumValid() {
					t.Fatalf("sent an IPv4 packet with a bad header: % x", clip(fr))
				}
				if sound, ok := l4Sound(fr); ok && applies && wasSound && !sound && ip.Protocol() == header.IPv4(buf[ethIPOff:]).Protocol() {
					t.Fatalf("a packet with a right checksum left with a wrong one:\n in % x\nout % x", clip(buf), clip(fr))
				}
			}
		}
	})
}

// An internal network's gateway publishes nothing, and its containers reach
// no published port of another network: it has no way out.
func TestNATInternalPublishesNothing(t *testing.T) {
	nb := newNATBed(t, Options{})
	nb.setNAT(NetL3{Internal: true}, NetL3{})
	nb.dp.SetPublish([]PublishRule{{ID: 1, Network: nb.netB, Proto: header.ProtoTCP, HostPort: 8000,
		To: netip.AddrPortFrom(hostB1, 8080)}})
	nb.none(t, nb.a1, tcpPkt(t, from(macA1, gwMACA, hostA1, gwIPA), 40000, 8000, true, false, nil), DropLocal)
	nb.none(t, nb.a1, tcpPkt(t, from(macA1, gwMACA, hostA1, gwIPB), 40001, 8000, true, false, nil), DropInternalNet)
	// B's own gateway still publishes.
	in := nb.one(t, nb.b2, nb.b1, tcpPkt(t, from(macB2, gwMACB, hostB2, gwIPB), 40002, 8000, true, false, nil))
	wantAddrs(t, in, gwMACB, macB1, gwIPB, hostB1, 40002, 8080)
}

// splitIP cuts an unfragmented IPv4 packet in buf into two fragments at
// byte off of its payload (a multiple of 8).
func splitIP(t *testing.T, buf []byte, off int) (first, second []byte) {
	t.Helper()
	ip := checkIPv4(t, buf)
	hl := ip.HeaderLen()
	pl := ip.Payload()
	mk := func(data []byte, fragOff int, mf bool) []byte {
		b := append([]byte(nil), buf[:ethIPOff+hl]...)
		b = append(b, data...)
		fip := header.IPv4(b[ethIPOff:])
		fip.SetTotalLen(uint16(hl + len(data)))
		var fl uint8
		if mf {
			fl = header.IPv4FlagMF
		}
		fip.SetFlagsFragOffset(fl, uint16(fragOff/8))
		fip.SetChecksum(fip.ComputeChecksum())
		return b
	}
	return mk(pl[:off], 0, true), mk(pl[off:], off, false)
}

// A fragmented datagram to a published port: both fragments reach the
// target, and the datagram they make has a right checksum.
func TestNATFragmentsFollowTheirFirst(t *testing.T) {
	nb := publishBed(t, header.ProtoUDP)
	whole := udpPkt(t, fromX(uplinkIP), 5000, 8000, pattern(2000, 7))
	f1, f2 := splitIP(t, whole, 1480)
	o1 := nb.one(t, nb.up, nb.a1, f1)
	o2 := nb.one(t, nb.up, nb.a1, f2)
	ip1, ip2 := checkIPv4(t, o1), checkIPv4(t, o2)
	for _, ip := range []header.IPv4{ip1, ip2} {
		if ip.Src() != hostX || ip.Dst() != hostA1 {
			t.Fatalf("fragment %v -> %v, want x -> a1", ip.Src(), ip.Dst())
		}
	}
	data := append(append([]byte(nil), ip1.Payload()...), ip2.Payload()...)
	r := reassembled(ip1, data)
	if s, d := ports(r); s != 5000 || d != 8080 {
		t.Errorf("reassembled ports %d -> %d, want 5000 -> 8080", s, d)
	}
	checkL4(t, r)
	// A lone non-first fragment for vswitchd's address reaches nobody.
	_, g2 := splitIP(t, udpPkt(t, fromX(uplinkIP), 5001, 8000, pattern(2000, 8)), 1480)
	header.IPv4(g2[ethIPOff:]).SetID(0x9999)
	ipg := header.IPv4(g2[ethIPOff:])
	ipg.SetChecksum(ipg.ComputeChecksum())
	nb.none(t, nb.up, g2, DropLocal)
}
