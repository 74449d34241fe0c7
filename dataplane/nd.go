package dataplane

import (
	"net/netip"
	"time"

	"vswitch/header"
)

// IPv6 at the gateway, inside one network: Neighbor Discovery (RFC 4861)
// for the gateway's two addresses (its global one on the network's /64 and
// its link-local fe80::EUI-64), echo (RFC 4443), and router advertisements,
// solicited and periodic. All of it is answered here, in the worker, with
// no kernel involved. IPv6 between containers stays switched at L2 (their
// own ND included); a packet to the gateway's MAC for another address is
// routed (route6.go), its next hop resolved by the gateway's own neighbour
// solicitations, the answers learned here.

// Router advertisement values (RFC 4861 6.2.1 and Linux's defaults).
const (
	raCurHopLimit   = 64    // what hosts should put in their packets
	raValidLife     = 86400 // prefix information: valid lifetime, s
	raPreferredLife = 14400 // preferred lifetime, s
	raInterval      = 200 * time.Second
	raLen           = header.NDRALen + header.NDOptLLAddrLen + header.NDOptMTULen + header.NDOptPrefixLen
	naLen           = header.NDNALen + header.NDOptLLAddrLen
	ip6Off          = header.VirtioNetHdrLen + header.EthernetLen // the IPv6 header in a buffer
)

var (
	allNodes   = netip.AddrFrom16([16]byte{0xff, 0x02, 15: 1})
	allRouters = netip.AddrFrom16([16]byte{0xff, 0x02, 15: 2})
)

// ipv6Input looks at an IPv6 frame on a network whose gateway has IPv6:
// ND and echo for the gateway are answered, malformed ND for it dropped;
// done is false when the frame must be switched at L2 like any other.
// It costs a frame between two containers one MAC compare.
func (w *worker) ipv6Input(s *snapshot, in *Port, net *Network, buf []byte, now int64) (v Verdict, done bool) {
	frame := buf[header.VirtioNetHdrLen:]
	dmac := header.Ethernet(frame).Dst()
	toGW := dmac == net.L3.GatewayMAC
	if !toGW && !dmac.IsMulticast() {
		return Verdict{}, false
	}
	ip := header.IPv6(frame[header.EthernetLen:])
	if !ip.Valid() || header.IPv6MinLen+int(ip.PayloadLen()) > len(ip) {
		if toGW {
			return w.nd6Drop(DropMalformed, "IPv6 header cut short or payload length past the frame"), true
		}
		return Verdict{}, false // the receivers' business
	}
	l3 := &net.L3
	ours := ip.DstIs(l3.Gateway6) || ip.DstIs(l3.GatewayLL)
	if !toGW {
		// Multicast: only the gateway's solicited-node groups and
		// all-routers concern it; the rest (MLD, the containers' own ND,
		// mDNS) is flooded.
		if !ip.DstIs(header.SolicitedNode(l3.Gateway6)) && !ip.DstIs(header.SolicitedNode(l3.GatewayLL)) && !ip.DstIs(allRouters) {
			return Verdict{}, false
		}
	} else if !ours || (ip.DstIs(l3.Gateway6) && toNAT6(ip)) {
		// Routed; to the gateway's global address only what NAT66 may
		// own (answers of masqueraded flows, published ports): routeIPv6
		// drops the rest as local.
		if w.tr != nil {
			w.traceToRouter(net)
		}
		return w.routeIPv6(s, in, net, buf, now), true
	}
	if ip.NextHeader() != header.ProtoICMPv6 {
		if toGW {
			return w.nd6Drop(DropLocal, "to the gateway's IPv6 address, not ICMPv6"), true
		}
		return Verdict{}, false
	}
	m := header.ICMPv6(ip.Payload())
	if !m.Valid() {
		return w.nd6Drop(DropMalformed, "ICMPv6 message shorter than 8 bytes"), true
	}
	switch m.Type() {
	case header.ICMPv6NeighSolicit:
		if !toGW && len(m) >= header.NDNSLen && !m.NDTargetIs(l3.Gateway6) && !m.NDTargetIs(l3.GatewayLL) {
			return Verdict{}, false // another host's address in the same group
		}
		if why := checkND(ip, m, header.NDNSLen); why != "" {
			return w.nd6Drop(DropMalformed, why), true
		}
		target := m.NDTarget()
		if target != l3.Gateway6 && target != l3.GatewayLL {
			return w.nd6Drop(DropLocal, "a neighbour solicitation to the gateway for another target"), true
		}
		dad := ip.SrcIs(netip.IPv6Unspecified())
		if dad && (!ip.DstIs(header.SolicitedNode(target)) || header.NDOption(m[header.NDNSLen:], header.NDOptSrcLLAddr) != nil) {
			return w.nd6Drop(DropMalformed, "a solicitation from :: not to the solicited-node group, or with a source link-layer option"), true
		}
		if !dad {
			w.learnND6(s, net, ip, m, now) // the asker, from its source link-layer option
		}
		return w.answerNS(s, in, net, frame, ip, target, dad), true
	case header.ICMPv6RouterSolicit:
		if !toGW && !ip.DstIs(allRouters) {
			return Verdict{}, false
		}
		if why := checkND(ip, m, header.NDRSLen); why != "" {
			return w.nd6Drop(DropMalformed, why), true
		}
		if ip.SrcIs(netip.IPv6Unspecified()) && header.NDOption(m[header.NDRSLen:], header.NDOptSrcLLAddr) != nil {
			return w.nd6Drop(DropMalformed, "a solicitation from :: with a source link-layer option"), true
		}
		return w.answerRS(s, in, net, frame, ip), true
	case header.ICMPv6NeighAdvert:
		if !toGW {
			return Verdict{}, false
		}
		if why := checkND(ip, m, header.NDNALen); why != "" {
			return w.nd6Drop(DropMalformed, why), true
		}
		// The answer to one of the gateway's solicitations (route6.go):
		// the neighbour learned, the packets that waited for it sent.
		if w.tr != nil {
			w.tr.add(Step{Stage: StageLocal, Decision: "consume", IP: m.NDTarget(), Note: "a neighbour advertisement to the gateway: its target learned"})
		}
		w.learnND6(s, net, ip, m, now)
		return Verdict{Action: ActConsumed}, true
	case header.ICMPv6EchoRequest:
		if !toGW {
			return Verdict{}, false
		}
		return w.echo6(in, net, buf, ip, m), true
	}
	if toGW {
		return w.nd6Drop(DropLocal, "ICMPv6 to the gateway that is not echo or ND"), true
	}
	return Verdict{}, false
}

// checkND is RFC 4861's validation of a received ND message (6.1.1, 6.1.2,
// 7.1.1, 7.1.2) shared by every type: it says what is wrong, or "".
func checkND(ip header.IPv6, m header.ICMPv6, fixed int) string {
	switch {
	case ip.HopLimit() != header.NDHopLimit:
		return "ND with a hop limit other than 255: it crossed a router"
	case m.Code() != 0:
		return "ND with an ICMPv6 code other than 0"
	case len(m) < fixed:
		return "ND message shorter than its fixed part"
	case !m.ChecksumValid(ip.Src(), ip.Dst()):
		return "ICMPv6 checksum wrong"
	case !header.NDOptionsValid(m[fixed:]):
		return "ND option of length 0 or cut short"
	case fixed == header.NDNSLen && m.NDTarget().IsMulticast():
		return "ND target is a multicast address"
	}
	return ""
}

// nd6Drop is a drop of the IPv6 gateway with, in a trace, why.
func (w *worker) nd6Drop(r DropReason, note string) Verdict {
	if w.tr != nil {
		w.tr.add(Step{Stage: dropStage(r), Decision: "drop", Reason: r, Note: note})
	}
	return drop(r)
}

// answerNS sends the neighbour advertisement for the gateway's address
// target back out of the port the solicitation came in by (RFC 4861
// 7.2.4): router flag set, solicited unless it answers a DAD probe (then
// to all-nodes), override set, with the target link-layer option.
func (w *worker) answerNS(s *snapshot, in *Port, net *Network, frame []byte, ip header.IPv6, target netip.Addr, dad bool) Verdict {
	dmac, dip, flags := header.Ethernet(frame).Src(), ip.Src(), uint8(header.NAFlagRouter|header.NAFlagSolicited|header.NAFlagOverride)
	if dad {
		dmac, dip, flags = header.MulticastMAC6(allNodes), allNodes, header.NAFlagRouter|header.NAFlagOverride
	}
	if w.tr != nil {
		w.tr.add(Step{Stage: StageLocal, Decision: "neighbour-advert", IP: target, MAC: net.L3.GatewayMAC,
			Note: "a neighbour solicitation for the gateway: advertisement (router flag) sent back"})
	}
	g := w.genBuf()
	if g == nil {
		return Verdict{Action: ActConsumed}
	}
	n := buildNA(g, net.L3.GatewayMAC, dmac, target, dip, flags)
	w.apply(s, nil, g[:n], Verdict{Action: ActForward, Port: in.Index})
	return Verdict{Action: ActConsumed}
}

// answerRS sends a router advertisement to the soliciting host (RFC 4861
// 6.2.6 allows unicast), or to all-nodes when it asked from ::. The
// answers share the worker's ICMP rate limit.
func (w *worker) answerRS(s *snapshot, in *Port, net *Network, frame []byte, ip header.IPv6) Verdict {
	sent := w.tr.dry() || w.icmpLimit.allow(w.dp.opts.Now().UnixNano())
	if w.tr != nil {
		note := "a router solicitation: advertisement sent back"
		if !sent {
			note = "a router solicitation: over the ICMP rate limit, not answered"
		}
		w.tr.add(Step{Stage: StageLocal, Decision: "router-advert", IP: net.L3.GatewayLL, MAC: net.L3.GatewayMAC, Note: note})
	}
	if !sent {
		return Verdict{Action: ActConsumed}
	}
	dmac, dip := header.Ethernet(frame).Src(), ip.Src()
	if dip.IsUnspecified() {
		dmac, dip = header.MulticastMAC6(allNodes), allNodes
	}
	g := w.genBuf()
	if g == nil {
		return Verdict{Action: ActConsumed}
	}
	n := buildRA(g, &net.L3, dmac, dip)
	w.apply(s, nil, g[:n], Verdict{Action: ActForward, Port: in.Index})
	return Verdict{Action: ActConsumed}
}

// echo6 answers an echo request to a gateway address in place (RFC 4443
// 4.2): addresses swapped, hop limit 64, type 129; the checksum is updated
// for the type alone, since swapping the addresses leaves the
// pseudo-header's sum as it was.
func (w *worker) echo6(in *Port, net *Network, buf []byte, ip header.IPv6, m header.ICMPv6) Verdict {
	if m.Code() != 0 || !m.ChecksumValid(ip.Src(), ip.Dst()) {
		return w.nd6Drop(DropMalformed, "echo request with a bad ICMPv6 checksum or code")
	}
	if ip.SrcIs(netip.IPv6Unspecified()) || ip.Src().IsMulticast() {
		return w.nd6Drop(DropLocal, "echo request from :: or a multicast source")
	}
	eth := header.Ethernet(buf[header.VirtioNetHdrLen:])
	eth.SetDst(eth.Src())
	eth.SetSrc(net.L3.GatewayMAC)
	var src, dst [16]byte
	copy(src[:], ip[8:24])
	copy(dst[:], ip[24:40])
	copy(ip[8:24], dst[:])
	copy(ip[24:40], src[:])
	ip.SetHopLimit(64)
	m.SetChecksum(header.UpdateChecksum16(m.Checksum(), uint16(header.ICMPv6EchoRequest)<<8, uint16(header.ICMPv6EchoReply)<<8))
	m.SetType(header.ICMPv6EchoReply)
	header.VirtioNetHdr(buf).Clear()
	if w.tr != nil {
		w.tr.add(Step{Stage: StageLocal, Decision: "echo-reply", Note: "an IPv6 ping to the gateway: answered in place"})
	}
	return Verdict{Action: ActForward, Port: in.Index, Len: ip6Off + header.IPv6MinLen + int(ip.PayloadLen())}
}

// buildNA writes a whole buffer (virtio_net_hdr, Ethernet, IPv6, the
// advertisement with its target link-layer option) into g and returns its
// length.
func buildNA(g []byte, gwMAC, dmac header.MAC, target, dip netip.Addr, flags uint8) int {
	ip := ip6Frame(g, gwMAC, dmac, target, dip, naLen)
	m := header.ICMPv6(ip[header.IPv6MinLen : header.IPv6MinLen+naLen])
	clear(m[:header.NDNALen])
	m.SetType(header.ICMPv6NeighAdvert)
	m[4] = flags
	t := target.As16()
	copy(m[8:24], t[:])
	header.PutNDLLAddr(m[header.NDNALen:], header.NDOptTgtLLAddr, gwMAC)
	m.SetChecksum(m.ComputeChecksum(target, dip))
	return ip6Off + header.IPv6MinLen + naLen
}

// buildRA writes a router advertisement of the network's gateway into g,
// from its link-local address (RFC 4861 4.2): M and O off (addresses are
// assigned, there is no DHCPv6), the source link-layer option, the MTU and
// the /64 on-link with autonomous configuration off. A router lifetime of
// 0 says the gateway is no default router (internal networks).
func buildRA(g []byte, l3 *NetL3, dmac header.MAC, dip netip.Addr) int {
	ip := ip6Frame(g, l3.GatewayMAC, dmac, l3.GatewayLL, dip, raLen)
	m := header.ICMPv6(ip[header.IPv6MinLen : header.IPv6MinLen+raLen])
	clear(m)
	m.SetType(header.ICMPv6RouterAdvert)
	m[4] = raCurHopLimit
	m[5] = 0 // M, O
	m[6], m[7] = byte(l3.RALifetime>>8), byte(l3.RALifetime)
	o := m[header.NDRALen:]
	o = o[header.PutNDLLAddr(o, header.NDOptSrcLLAddr, l3.GatewayMAC):]
	o[0], o[1] = header.NDOptMTU, 1
	putU32(o[4:8], uint32(l3.MTU))
	o = o[header.NDOptMTULen:]
	o[0], o[1], o[2], o[3] = header.NDOptPrefix, 4, byte(l3.Prefix6.Bits()), 0x80 // L set, A clear
	putU32(o[4:8], raValidLife)
	putU32(o[8:12], raPreferredLife)
	p := l3.Prefix6.Addr().As16()
	copy(o[16:32], p[:])
	m.SetChecksum(m.ComputeChecksum(l3.GatewayLL, dip))
	return ip6Off + header.IPv6MinLen + raLen
}

// ip6Frame writes the virtio_net_hdr, Ethernet and IPv6 headers of an ND
// message of n bytes (hop limit 255) into g and returns the IPv6 view.
func ip6Frame(g []byte, smac, dmac header.MAC, src, dst netip.Addr, n int) header.IPv6 {
	header.VirtioNetHdr(g).Clear()
	eth := header.Ethernet(g[header.VirtioNetHdrLen:])
	eth.SetDst(dmac)
	eth.SetSrc(smac)
	eth.SetType(header.EtherTypeIPv6)
	ip := header.IPv6(g[ip6Off:])
	ip.Init(uint16(n), header.ProtoICMPv6, header.NDHopLimit)
	ip.SetSrc(src)
	ip.SetDst(dst)
	return ip
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// SendRouterAdvert sends network id's unsolicited router advertisement to
// all-nodes, written to every port of the network (not through a worker).
// The control plane calls it when a network is made or restored, and
// raTick every raInterval.
func (dp *Dataplane) SendRouterAdvert(id uint16) {
	s := dp.cfg.Load()
	n := s.network(id)
	if n == nil || !n.L3.Gateway6.IsValid() || n.L3.Uplink {
		return
	}
	buf := make([]byte, ip6Off+header.IPv6MinLen+raLen)
	buildRA(buf, &n.L3, header.MulticastMAC6(allNodes), allNodes)
	dp.sendOnNetwork(s, n, buf, header.MulticastMAC6(allNodes))
}

// raTick sends every IPv6 network's periodic advertisement when raInterval
// has passed since the last (RFC 4861 6.2.4). It runs in arpLoop, off the
// fast path.
func (dp *Dataplane) raTick(now int64, last *int64) {
	if *last != 0 && now-*last < int64(raInterval) {
		return
	}
	*last = now
	for _, n := range dp.cfg.Load().nets {
		if n != nil && n.L3.Gateway6.IsValid() {
			dp.SendRouterAdvert(n.ID)
		}
	}
}
