package dataplane

import (
	"bytes"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"vswitch/arp"
	"vswitch/dataplane/port"
	"vswitch/fdb"
	"vswitch/header"
	"vswitch/policy"
	"vswitch/routing"
)

// FuzzPipeline is the whole dataplane under fuzzed frames: a started
// Dataplane (two epoll workers, the ARP and aging loops, conntrack) on
// in-memory ports, with every kind of network a daemon builds,
//
//	A 10.1.0.0/24 gw 10.1.0.1 MTU 1500, masquerading, connected to B   a1 a2
//	B 10.2.0.0/24 gw 10.2.0.1 MTU 1400, ACL: default deny; TCP 80, UDP 9, ICMP allowed   b1 b2
//	C no gateway (a plain switch), MAC limit 8                          c1 c2
//	U the uplink, vswitchd owns 10.0.12.15, host x 10.0.12.11 its default route   up
//
// and TCP and UDP 8000 on the uplink published to a1:8080. Each input is a
// buffer as a device hands it over: a fuzzed virtio_net_hdr (any GSO type,
// gso_size, csum_start/offset, even none at all), then a frame, optionally
// padded past the MTU, read from one of the ports, its destination MAC
// optionally replaced by one that matters there (the gateway, a neighbour,
// broadcast, multicast, link-local, an unknown or the sender's own).
//
// What must hold for every input:
//   - no panic: a worker that recovered one counts internal-error, and that
//     counter must stay 0 (a recovered panic is a bug, not a strategy);
//   - a verdict with a reason: the frame was forwarded (something left a
//     port), or dropped under a reason other than none, or consumed where the
//     router does so without output (an ARP reply to a gateway, a packet
//     waiting for its next hop's ARP);
//   - every IPv4 packet the router sent has a sound header, and none exceeds
//     its egress network's MTU unless it is a GSO super-frame;
//   - the workers finish the frame (a hang fails the settle deadline).
//
// The FDB and conntrack start afresh for every input, so a crash reproduces
// from its input alone; the ARP table keeps what inputs taught it (its
// queued frames are how a consumed packet is recognised).
func FuzzPipeline(f *testing.F) {
	pb := newPipeBed(f)
	f.Fuzz(func(t *testing.T, vh []byte, in uint8, dst uint8, frame []byte, pad uint16) {
		p := pb.ports[int(in)%len(pb.ports)]
		buf := make([]byte, 0, header.VirtioNetHdrLen+len(frame)+int(pad))
		if len(frame) == 0 {
			buf = append(buf, vh...) // a read shorter than a virtio_net_hdr, or a bare one
		} else {
			var h [header.VirtioNetHdrLen]byte
			copy(h[:], vh)
			buf = append(append(buf, h[:]...), frame...)
			if pad > 0 {
				buf = append(buf, pattern(int(pad), len(frame))...)
			}
			if d, ok := pb.dstFor(p, dst); ok && len(frame) >= 6 {
				copy(buf[header.VirtioNetHdrLen:], d[:])
			}
		}
		if len(buf) > port.BufSize {
			return
		}
		pb.run(t, p, buf)
	})
}

// pipeBed is FuzzPipeline's dataplane. It takes a testing.TB, unlike the
// testbed of the other pipeline tests, so one bed serves a whole fuzz run.
type pipeBed struct {
	dp    *Dataplane
	clock *fakeClock
	log   *lockedBuffer
	ports []*pipePort
	gwMAC map[header.MAC]bool // the MACs vswitchd sends from
	mtu   map[uint16]int      // by network ID
}

type pipePort struct {
	name    string
	idx     uint16
	net     uint16
	ch      *port.Chan
	stats   *PortStats
	mac     header.MAC // the station behind it
	gw      header.MAC // its network's gateway (zero: none)
	peer    header.MAC // another station of its network
	routed  bool
	station bool // mac is a real station (not the uplink's far side)
}

// lockedBuffer collects the dataplane's log, where a recovered panic
// leaves its stack.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var (
	macC1 = header.MAC{0x02, 0x00, 0x0a, 0x03, 0x00, 0x0a}
	macC2 = header.MAC{0x02, 0x00, 0x0a, 0x03, 0x00, 0x0b}
)

func newPipeBed(tb testing.TB) *pipeBed {
	tb.Helper()
	pb := &pipeBed{clock: newFakeClock(), log: new(lockedBuffer), gwMAC: map[header.MAC]bool{},
		mtu: map[uint16]int{}}
	pb.dp = New(Options{Workers: 2, Now: pb.clock.Now, Logger: slog.New(slog.NewTextHandler(pb.log, nil))})
	if err := pb.dp.Start(); err != nil {
		tb.Fatalf("Start: %v", err)
	}
	tb.Cleanup(func() {
		pb.dp.Close()
		for _, p := range pb.ports {
			p.ch.Close()
		}
	})
	addNet := func(name string, fc fdb.Config) uint16 {
		id, err := pb.dp.AddNetwork(name, fc)
		if err != nil {
			tb.Fatalf("AddNetwork %s: %v", name, err)
		}
		return id
	}
	netA, netB := addNet("A", fdb.Config{}), addNet("B", fdb.Config{})
	netC, netU := addNet("C", fdb.Config{MACLimit: 8}), addNet("uplink", fdb.Config{})
	add := func(name string, netID uint16, mac, gw, peer header.MAC, routed bool) {
		ch, err := port.NewChan(true)
		if err != nil {
			tb.Fatalf("NewChan: %v", err)
		}
		idx, err := pb.dp.AddPort(name, netID, ch)
		if err != nil {
			tb.Fatalf("AddPort %s: %v", name, err)
		}
		pb.ports = append(pb.ports, &pipePort{name: name, idx: idx, net: netID, ch: ch, stats: pb.dp.PortStats(idx),
			mac: mac, gw: gw, peer: peer, routed: routed, station: name != "up"})
	}
	add("a1", netA, macA1, gwMACA, macA2, true)
	add("a2", netA, macA2, gwMACA, macA1, true)
	add("b1", netB, macB1, gwMACB, macB2, true)
	add("b2", netB, macB2, gwMACB, macB1, true)
	add("c1", netC, macC1, header.MAC{}, macC2, false)
	add("c2", netC, macC2, header.MAC{}, macC1, false)
	add("up", netU, macX, uplinkMAC, macX, true)

	a := NetL3{GatewayIP: gwIPA, GatewayMAC: gwMACA, Subnet: subnetA, MTU: mtuA, Masquerade: true, Connected: []uint16{netB}}
	b := NetL3{GatewayIP: gwIPB, GatewayMAC: gwMACB, Subnet: subnetB, MTU: mtuB, Connected: []uint16{netA}}
	u := NetL3{GatewayIP: uplinkIP, GatewayMAC: uplinkMAC, Subnet: subnetU, MTU: 1500, Uplink: true}
	pb.dp.SetL3(map[uint16]NetL3{netA: a, netB: b, netU: u}, routing.Build([]routing.Route{
		{Prefix: subnetA, Network: netA, Kind: routing.Connected},
		{Prefix: subnetB, Network: netB, Kind: routing.Connected},
		{Prefix: subnetU, Network: netU, Kind: routing.Connected},
		{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Network: netU, Kind: routing.Default, Via: hostX},
	}))
	pb.dp.SetACL(netB, policy.New(policy.Deny, []policy.Rule{
		{ID: 1, Action: policy.Allow, Proto: header.ProtoTCP, DPortMin: 80, DPortMax: 80},
		{ID: 2, Action: policy.Allow, Proto: header.ProtoUDP, DPortMin: 9, DPortMax: 9},
		{ID: 3, Action: policy.Allow, Proto: header.ProtoICMP},
	}))
	pb.dp.SetPublish([]PublishRule{
		{ID: 1, Network: netA, Proto: header.ProtoTCP, HostPort: 8000, To: netip.AddrPortFrom(hostA1, 8080)},
		{ID: 2, Network: netA, Proto: header.ProtoUDP, HostPort: 8000, To: netip.AddrPortFrom(hostA1, 8080)},
	})
	for ip, n := range map[netip.Addr]struct {
		mac header.MAC
		net uint16
	}{hostA1: {macA1, netA}, hostA2: {macA2, netA}, hostB1: {macB1, netB}, hostB2: {macB2, netB}, hostX: {macX, netU}} {
		if _, err := pb.dp.ARP().SetPermanent(ip, n.mac, n.net); err != nil {
			tb.Fatalf("SetPermanent %v: %v", ip, err)
		}
	}
	pb.gwMAC[gwMACA], pb.gwMAC[gwMACB], pb.gwMAC[uplinkMAC] = true, true, true
	pb.mtu[netA], pb.mtu[netB], pb.mtu[netU] = mtuA, mtuB, 1500
	return pb
}

// dstFor is the destination MAC selector of an input: 0 keeps the frame's
// own.
func (pb *pipeBed) dstFor(p *pipePort, sel uint8) (header.MAC, bool) {
	switch sel % 8 {
	case 1:
		if p.gw.IsZero() {
			return header.MAC{}, false
		}
		return p.gw, true
	case 2:
		return p.peer, true
	case 3:
		return header.BroadcastMAC, true
	case 4:
		return header.MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, true
	case 5:
		return header.MAC{0x01, 0x80, 0xc2, 0x00, 0x00, 0x00}, true
	case 6:
		return header.MAC{0x02, 0x99, 0x00, 0x00, 0x00, 0x01}, true
	case 7:
		return p.mac, true
	}
	return header.MAC{}, false
}

// reset puts the FDB and the conntrack back as the bed starts: each
// station learned behind its port, no flow.
func (pb *pipeBed) reset() {
	now := pb.clock.Now().UnixNano()
	pb.dp.Conntrack().Flush()
	for _, p := range pb.ports {
		pb.dp.FDB(p.net).FlushPort(p.idx)
	}
	for _, p := range pb.ports {
		if p.station {
			pb.dp.FDB(p.net).Learn(p.mac.Uint64(), p.idx, now)
		}
	}
}

// tally is what the dataplane has counted, summed over its ports.
type tally struct {
	dropped  uint64 // under a reason other than none and internal-error
	none     uint64 // a drop verdict without a reason
	internal uint64 // panics the workers recovered
	queued   int    // frames waiting for ARP
}

func (pb *pipeBed) tally() tally {
	var c tally
	for _, p := range pb.ports {
		for r := DropReason(1); r < NumDropReasons; r++ {
			if r != DropInternal {
				c.dropped += p.stats.Drops[r].Load()
			}
		}
		c.none += p.stats.Drops[DropNone].Load()
		c.internal += p.stats.Drops[DropInternal].Load()
	}
	for r := DropReason(1); r < NumDropReasons; r++ {
		c.dropped += pb.dp.drops[r].Load()
	}
	for _, e := range pb.dp.ARP().Entries(pb.clock.Now().UnixNano()) {
		c.queued += e.Queued
	}
	return c
}

// run sends buf in by p, waits for the workers to finish it, and checks
// the outcome.
func (pb *pipeBed) run(t *testing.T, p *pipePort, buf []byte) {
	pb.reset()
	before := pb.tally()
	rx := p.stats.RxPackets.Load()
	p.ch.Send(buf)
	pb.settle(t, p, rx+1)
	after := pb.tally()

	if after.internal != before.internal {
		t.Fatalf("a worker recovered a panic on this frame (in by %s):\n% x\nlog:\n%s", p.name, clip(buf), pb.log.String())
	}
	if after.none != before.none {
		t.Fatalf("dropped with reason none (in by %s): % x", p.name, clip(buf))
	}
	sent := 0
	for _, q := range pb.ports {
		for _, fr := range q.ch.Recv() {
			sent++
			pb.checkSent(t, p, q, buf, fr)
		}
	}
	switch {
	case sent > 0, after.dropped > before.dropped, after.queued > before.queued:
	case arpReplyTo(p, buf):
	default:
		t.Fatalf("no verdict: nothing left a port and nothing was counted (in by %s): % x", p.name, clip(buf))
	}
}

// settle waits until p has read its frame and every worker has gone once
// more round its loop, so the frame's writes are done (testbed.settle).
func (pb *pipeBed) settle(t *testing.T, p *pipePort, rx uint64) {
	deadline := time.Now().Add(5 * time.Second)
	for p.stats.RxPackets.Load() < rx {
		if time.Now().After(deadline) {
			t.Fatalf("port %s never read its frame: a worker is stuck\nlog:\n%s", p.name, pb.log.String())
		}
		runtime.Gosched()
	}
	for _, w := range pb.dp.workers {
		e := w.epoch.Load()
		w.kick()
		for w.epoch.Load() == e {
			if time.Now().After(deadline) {
				t.Fatalf("worker %d is stuck", w.id)
			}
			runtime.Gosched()
		}
	}
}

// arpReplyTo reports an ARP reply on a routed network: the router may
// take it without a word (l3.go arpInput).
func arpReplyTo(p *pipePort, buf []byte) bool {
	if !p.routed || len(buf) < header.VirtioNetHdrLen+header.EthernetLen {
		return false
	}
	frame := buf[header.VirtioNetHdrLen:]
	if header.Ethernet(frame).Type() != header.EtherTypeARP {
		return false
	}
	op, _, _, _, _, ok := arp.ParseARP(frame)
	return ok && op == arp.OpReply
}

// checkSent checks one frame that left port out after buf came in by in.
func (pb *pipeBed) checkSent(t *testing.T, in, out *pipePort, buf, fr []byte) {
	if len(fr) < header.VirtioNetHdrLen+header.EthernetLen {
		t.Fatalf("port %s sent a %d-byte buffer (in by %s: % x)", out.name, len(fr), in.name, clip(buf))
	}
	eth := header.Ethernet(fr[header.VirtioNetHdrLen:])
	inSrc := header.MAC{}
	if len(buf) >= header.VirtioNetHdrLen+header.EthernetLen {
		inSrc = header.Ethernet(buf[header.VirtioNetHdrLen:]).Src()
	}
	// Only what the router made or rewrote: a frame switched at L2 is the
	// hosts' business, and a sender may forge a gateway's MAC.
	if eth.Type() != header.EtherTypeIPv4 || !pb.gwMAC[eth.Src()] || pb.gwMAC[inSrc] {
		return
	}
	ip := header.IPv4(eth.Payload())
	if !ip.Valid() || !ip.ChecksumValid() {
		t.Fatalf("port %s: the router sent an IPv4 packet with a bad header: % x\n(in by %s: % x)", out.name, clip(fr), in.name, clip(buf))
	}
	// Bytes past the packet: at most the padding of a minimum-size
	// Ethernet frame (46 bytes of payload); more is trailing garbage that
	// would reach the next network, past its MTU too.
	if l := len(eth.Payload()); l > int(ip.TotalLen()) && l > minEthPayload {
		t.Fatalf("port %s: the router sent %d bytes behind a %d-byte IPv4 packet (in by %s: % x)", out.name, l, ip.TotalLen(), in.name, clip(buf))
	}
	if mtu := pb.mtu[out.net]; !header.VirtioNetHdr(fr).IsGSO() && int(ip.TotalLen()) > mtu {
		t.Fatalf("port %s: the router sent %d bytes over MTU %d (in by %s: % x)", out.name, ip.TotalLen(), mtu, in.name, clip(buf))
	}
}

// A routed packet with bytes after it beyond a minimum frame's padding
// leaves without them (found by FuzzPipeline: 200 bytes of junk went on to
// the next network, the frame past its MTU with a header that fits).
func TestRouterTrimsTrailingBytes(t *testing.T) {
	rb := newRouterbed(t, true)
	p := fromA1(hostB1)
	in := append(p.udp(t, pattern(40, 0)), pattern(2000, 9)...)
	rb.send(rb.a1, in)
	want := p.hop(gwMACB, macB1).udp(t, pattern(40, 0))
	rb.exact(t, rb.outputs(), map[*tport][][]byte{rb.b1: {want}})
	for _, q := range rb.all() {
		wantDrops(t, q, nil)
	}
}
