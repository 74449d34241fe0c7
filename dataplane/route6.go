package dataplane

import (
	"net/netip"

	"vswitch/header"
	"vswitch/routing"
)

// IPv6 routing between networks (RFC 8200 3, RFC 4443): a packet sent to
// a gateway's MAC for an address that is not the gateway's own comes here
// from ipv6Input (nd.go). The walk is routeIPv4's, with IPv6's rules:
//
//	LPM (s.routes, the IPv6 trie) ─ none ─▶ unreachable "no route", no-route
//	isolation / network connect   ─ no ──▶ isolation (nothing sent, as IPv4)
//	hop limit ≤ 1                 ─────▶ time exceeded, ttl
//	longer than the next hop's MTU ────▶ packet too big with that MTU,
//	  (a GSO super-frame: its segments)   frag-needed; never fragmented
//	hop limit - 1, source MAC the egress gateway's
//	next hop by the neighbour table (toNextHop), resolved by neighbour
//	solicitation from the egress gateway, the packet queued meanwhile
//
// There is no header checksum to update (IPv6 has none, and the hop limit
// is not in the pseudo-header), so a GSO super-frame and a partial L4
// checksum pass untouched: the egress device, or the port that cannot take
// GSO (VXLAN, AF_XDP, through package gso, which cuts TCPv6), segments it.
// The ICMPv6 errors share IPv4's rate limit and quote as much of the packet
// as fits in 1280 bytes (RFC 4443 2.4 c).
//
// NAT66 and published ports (nat6.go) are in this walk where routeIPv4
// has natPre and natCommit; the IPv6 ACL is not yet.

// ICMPv6 error messages (RFC 4443 3) and their codes.
const (
	icmp6DstUnreach   = 1
	icmp6PacketTooBig = 2
	icmp6TimeExceeded = 3

	icmp6NoRoute     = 0 // destination unreachable: no route to destination
	icmp6AddrUnreach = 3 // destination unreachable: address unreachable (ND failed)
	icmp6HopLimit    = 0 // time exceeded: hop limit exceeded in transit

	// icmp6ErrMax is the most an ICMPv6 error may be: the minimum IPv6 MTU.
	icmp6ErrMax   = 1280
	icmp6QuoteMax = icmp6ErrMax - header.IPv6MinLen - header.ICMPv6MinLen
)

// routeIPv6 forwards an IPv6 packet sent to network net's gateway MAC for
// another address. ipv6Input checked the header and that the payload
// length fits the frame.
func (w *worker) routeIPv6(s *snapshot, in *Port, net *Network, buf []byte, now int64) Verdict {
	ip := header.IPv6(buf[ip6Off:])
	// Bytes past the packet (beyond a minimum frame's padding) stay here,
	// as IPv4's do: the next network's MTU is judged by the header.
	trim := 0
	if end := ip6Off + max(header.IPv6MinLen+int(ip.PayloadLen()), minEthPayload); end < len(buf) {
		buf, trim = buf[:end], end
	}
	dst, src := ip.Dst(), ip.Src()
	if dst.IsMulticast() || dst.IsLinkLocalUnicast() || dst.IsUnspecified() || dst.IsLoopback() || dst.Is4In6() {
		return w.route6Drop(DropNotRoutable, "a multicast, link-local, loopback or unspecified destination: never routed")
	}
	if src.IsLinkLocalUnicast() || src.IsMulticast() || src.IsUnspecified() || src.IsLoopback() {
		// RFC 4291 2.5.6: a router must not forward a packet with a
		// link-local source to another link.
		return w.route6Drop(DropNotRoutable, "a link-local, multicast, loopback or unspecified source: not forwarded off its link")
	}
	// NAT66 (nat6.go): the flow's conn, or a published port's DNAT,
	// before the route, which it may change.
	f := parseFlow6(buf, ip)
	p := w.natPre6(s, in, &f, buf, now)
	if p.known || p.published {
		dst = netip.AddrFrom16(p.target.Dst)
	} else if ip.DstIs(net.L3.Gateway6) {
		return w.route6Drop(DropLocal, "to the gateway's IPv6 address, and no tracked flow or published port owns it")
	}
	r, ok := s.routes.Lookup(dst)
	var out *Network
	if ok {
		out = s.network(r.Network)
	}
	if w.tr != nil {
		w.traceRoute(r, ok, out)
	}
	if out == nil || !out.L3.Gateway6.IsValid() {
		w.icmp6Error(in, net, buf, icmp6DstUnreach, icmp6NoRoute, 0)
		return drop(DropNoRoute)
	}
	if netip.AddrFrom16(p.target.Dst) == out.L3.Gateway6 {
		// Another network's gateway address: vswitchd's own, answered as
		// the IPv4 ones are (localInput), whatever the isolation.
		if m := header.ICMPv6(ip.Payload()); ip.NextHeader() == header.ProtoICMPv6 && m.Valid() && m.Type() == header.ICMPv6EchoRequest {
			return w.echo6(in, net, buf, ip, m)
		}
		return w.route6Drop(DropLocal, "to a gateway's IPv6 address, not an echo request")
	}
	// The network-pair decision of admit (policy.go), for a new flow: a
	// tracked one passed it at its start, a published port is open to
	// every network but from an internal one.
	if !p.known {
		why := DropNone
		switch {
		case p.published:
			if net.L3.Internal && out.ID != net.ID {
				why = DropInternalNet
			}
		default:
			if why = isolation(net, out); why == DropNone && out.ID == net.ID && net.L3.NoICC {
				why = DropICC
			}
		}
		if w.tr != nil {
			w.tr.isolation(net, out, why, p.published)
		}
		if why = w.aclRouted6(net, out, ip, &p, why); why != DropNone {
			return drop(why) // isolation, or the ACL of out (acl6.go)
		}
		p.masquerade6(net, out)
	}
	// After the route, as Linux's ip6_forward: an unroutable packet gets
	// "no route" whatever its hop limit; the errors quote the packet as
	// its sender sent it.
	if ip.HopLimit() <= 1 {
		w.icmp6Error(in, net, buf, icmp6TimeExceeded, icmp6HopLimit, 0)
		return drop(DropTTL)
	}
	if mtu := out.L3.MTU; mtu > 0 && header.IPv6MinLen+int(ip.PayloadLen()) > mtu {
		vh := header.VirtioNetHdr(buf)
		if !vh.IsGSO() || segmentLen6(vh, ip) > mtu {
			if w.tr != nil {
				w.tr.add(Step{Stage: StageMTU, Decision: "drop", Reason: DropFragNeeded, Net: out.ID,
					Note: "longer than the next hop's MTU: IPv6 is never fragmented by a router, packet too big sent"})
			}
			w.icmp6Error(in, net, buf, icmp6PacketTooBig, 0, uint32(mtu))
			return drop(DropFragNeeded)
		}
	}
	// NAT66's commit: after every check that can still drop the packet,
	// before the rewrite.
	if why := w.natCommit6(&p, &f, now); why != DropNone {
		return drop(why)
	}
	if p.target != f.t {
		rewrite6(buf, &f, &p)
	}
	nh := dst
	if r.Via.IsValid() {
		nh = r.Via
	}
	// The source MAC becomes the egress gateway's in emit: a packet that
	// waits for its next hop keeps its sender's, which "address
	// unreachable" goes back to if the next hop never answers.
	ip.SetHopLimit(ip.HopLimit() - 1)
	v := w.toNextHop(s, out, r.Port, nh, buf, now)
	if trim > 0 && v.Len == 0 {
		v.Len = trim
	}
	return v
}

// route6Drop is a routing drop with, in a trace, why.
func (w *worker) route6Drop(r DropReason, note string) Verdict {
	if w.tr != nil {
		w.tr.add(Step{Stage: dropStage(r), Decision: "drop", Reason: r, Note: note})
	}
	return drop(r)
}

// segmentLen6 is the IPv6 length of each segment of a GSO super-frame:
// the fixed header, the L4 header and gso_size.
func segmentLen6(vh header.VirtioNetHdr, ip header.IPv6) int {
	l := header.IPv6MinLen
	switch ip.NextHeader() {
	case header.ProtoTCP:
		if t := header.TCP(ip.Payload()); t.Valid() {
			l += t.DataOffset()
		}
	case header.ProtoUDP:
		l += header.UDPLen
	}
	return l + int(vh.GSOSize())
}

// icmp6Error sends an ICMPv6 error about the packet in buf back out of the
// port it came in by, from the IPv6 gateway of its network, unless RFC 4443
// 2.4 (e) forbids one or the rate limit (IPv4's, shared) says no.
func (w *worker) icmp6Error(in *Port, net *Network, buf []byte, typ, code uint8, param uint32) {
	if !mayAnswerWithError6(buf) || !w.icmpLimit.allow(w.dp.opts.Now().UnixNano()) {
		if w.tr != nil {
			w.traceICMP6(typ, code, false)
		}
		return
	}
	if w.tr != nil {
		w.traceICMP6(typ, code, true) // a dry run's goes to the trace worker's queues, never written
	}
	g := w.genBuf()
	if g == nil {
		return
	}
	n := buildICMP6Error(g, buf, net.L3.GatewayMAC, net.L3.Gateway6, typ, code, param)
	w.out.add(in.Index, w.id, g[:n], n-header.VirtioNetHdrLen, false)
}

// mayAnswerWithError6 is RFC 4443 2.4 (e): no error about an ICMPv6
// error, nor about a packet to a multicast group (link or address) or
// from an address that names no single host. The ICMPv6 header is looked
// for past the extension headers (upper6, guard6.go), so an error behind a
// destination options or fragment header is an error all the same; a chain
// that cannot be read, or a later fragment of ICMPv6 (its type is in the
// first one), gets no error either: when in doubt, stay silent.
func mayAnswerWithError6(buf []byte) bool {
	frame := buf[header.VirtioNetHdrLen:]
	ip := header.IPv6(frame[header.EthernetLen:])
	src := ip.Src()
	if header.Ethernet(frame).Dst().IsMulticast() || ip.Dst().IsMulticast() ||
		src.IsUnspecified() || src.IsMulticast() || src.IsLoopback() {
		return false
	}
	pkt := ip[:ip6End(ip)]
	proto, off, later, bad := upper6(pkt)
	switch {
	case bad:
		return false
	case proto != header.ProtoICMPv6:
		return true
	case later:
		return false
	}
	if m := header.ICMPv6(pkt[off:]); !m.Valid() || m.Type() < 128 {
		return false // an error (types 0-127), or too short to tell
	}
	return true
}

// buildICMP6Error writes into g a whole buffer (virtio_net_hdr, Ethernet,
// IPv6, ICMPv6) reporting on the packet in orig back to its sender: type,
// code, the 32-bit field (the MTU of packet too big) and as much of the
// packet as fits in 1280 bytes. It returns the length.
func buildICMP6Error(g, orig []byte, srcMAC header.MAC, src netip.Addr, typ, code uint8, param uint32) int {
	of := orig[header.VirtioNetHdrLen:]
	oip := header.IPv6(of[header.EthernetLen:])
	quote := min(header.IPv6MinLen+int(oip.PayloadLen()), len(oip), icmp6QuoteMax)
	n := header.ICMPv6MinLen + quote
	header.VirtioNetHdr(g).Clear()
	eth := header.Ethernet(g[header.VirtioNetHdrLen:])
	eth.SetDst(header.Ethernet(of).Src())
	eth.SetSrc(srcMAC)
	eth.SetType(header.EtherTypeIPv6)
	ip := header.IPv6(g[ip6Off:])
	ip.Init(uint16(n), header.ProtoICMPv6, 64)
	ip.SetSrc(src)
	ip.SetDst(oip.Src())
	m := header.ICMPv6(ip[header.IPv6MinLen : header.IPv6MinLen+n])
	m.SetType(typ)
	m.SetCode(code)
	m.SetChecksum(0)
	putU32(m[4:8], param)
	copy(m[header.ICMPv6MinLen:], oip[:quote])
	m.SetChecksum(m.ComputeChecksum(src, oip.Src()))
	return ip6Off + header.IPv6MinLen + n
}

// sendNS asks network out for next hop nh with a neighbour solicitation
// from its gateway (RFC 4861 7.2.2): to nh's solicited-node group, or, for
// a poll of a known entry, to nh at dmac.
func (w *worker) sendNS(s *snapshot, out *Network, nh netip.Addr) {
	g := w.genBuf()
	if g == nil {
		return
	}
	n := buildNS(g, &out.L3, nh, header.MAC{})
	w.apply(s, nil, g[:n], flood(out.ID))
}

// buildNS writes a neighbour solicitation for target from the gateway of
// l3 (its global address, on the target's prefix, with the source
// link-layer option) into g and returns the buffer's length. A zero dmac
// sends it to the target's solicited-node group; otherwise unicast to the
// target at dmac (a poll, RFC 4861 7.3.3).
func buildNS(g []byte, l3 *NetL3, target netip.Addr, dmac header.MAC) int {
	dst := target
	if dmac.IsZero() {
		dst = header.SolicitedNode(target)
		dmac = header.MulticastMAC6(dst)
	}
	const l = header.NDNSLen + header.NDOptLLAddrLen
	ip := ip6Frame(g, l3.GatewayMAC, dmac, l3.Gateway6, dst, l)
	m := header.ICMPv6(ip[header.IPv6MinLen : header.IPv6MinLen+l])
	clear(m[:header.NDNSLen])
	m.SetType(header.ICMPv6NeighSolicit)
	t := target.As16()
	copy(m[8:24], t[:])
	header.PutNDLLAddr(m[header.NDNSLen:], header.NDOptSrcLLAddr, l3.GatewayMAC)
	m.SetChecksum(m.ComputeChecksum(l3.Gateway6, dst))
	return ip6Off + header.IPv6MinLen + l
}

// learnND6 learns a neighbour from ND traffic to the gateway of net (RFC
// 4861 7.2.3, 7.2.5): the target of an advertisement, or the source of a
// solicitation with a source link-layer option, when the address is on the
// network's prefix (a host cannot claim another network's addresses). A
// solicited advertisement confirms reachability; a solicitation makes a
// stale entry, created (the host will talk to the gateway). The frames that
// waited for the address leave now.
func (w *worker) learnND6(s *snapshot, net *Network, ip header.IPv6, m header.ICMPv6, now int64) {
	var a netip.Addr
	var opt []byte
	solicited, create := false, false
	switch m.Type() {
	case header.ICMPv6NeighAdvert:
		a, opt = m.NDTarget(), header.NDOption(m[header.NDNALen:], header.NDOptTgtLLAddr)
		solicited = m[4]&header.NAFlagSolicited != 0 && !ip.Dst().IsMulticast()
	case header.ICMPv6NeighSolicit:
		a, opt, create = ip.Src(), header.NDOption(m[header.NDNSLen:], header.NDOptSrcLLAddr), true
	default:
		return
	}
	if len(opt) < header.NDOptLLAddrLen || !net.L3.Prefix6.Contains(a) || w.tr.dry() {
		return
	}
	mac := header.MAC(opt[2:8])
	if rel := w.dp.arp.Learn(a, mac, net.ID, now, solicited, create); len(rel) > 0 {
		w.sendReleased(s, net, mac, rel)
	}
}

// probe6 sends the neighbour solicitation of a Tick probe for an IPv6
// address on network n (arpLoop): multicast while resolving, unicast to the
// known MAC when polling a stale entry.
func (dp *Dataplane) probe6(s *snapshot, n *Network, ip netip.Addr, dst header.MAC, buf []byte) {
	if !n.L3.Gateway6.IsValid() {
		return
	}
	var dmac header.MAC
	if !dst.IsBroadcast() {
		dmac = dst
	}
	l := buildNS(buf, &n.L3, ip, dmac)
	dp.sendOnNetwork(s, n, buf[:l], header.Ethernet(buf[header.VirtioNetHdrLen:]).Dst())
}

// unreachable6 sends "address unreachable" to the sender of an IPv6
// packet whose next hop never answered a solicitation, through the network
// its source lives on.
func (dp *Dataplane) unreachable6(s *snapshot, fr []byte, limit *rateLimit, now int64) {
	if len(fr) < ip6Off+header.IPv6MinLen || !mayAnswerWithError6(fr) || !limit.allow(now) {
		return
	}
	src := header.IPv6(fr[ip6Off:]).Src()
	r, ok := s.routes.Lookup(src)
	if !ok || r.Kind != routing.Connected {
		return
	}
	n := s.network(r.Network)
	if n == nil || !n.L3.Gateway6.IsValid() {
		return
	}
	// The frame still has its sender's MAC as source (emit sets the
	// gateway's): the error goes back to it.
	g := make([]byte, ip6Off+icmp6ErrMax)
	l := buildICMP6Error(g, fr, n.L3.GatewayMAC, n.L3.Gateway6, icmp6DstUnreach, icmp6AddrUnreach, 0)
	dp.sendOnNetwork(s, n, g[:l], header.Ethernet(fr[header.VirtioNetHdrLen:]).Src())
}
