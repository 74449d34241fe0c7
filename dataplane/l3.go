package dataplane

import (
	"net/netip"
	"time"

	"vswitch/arp"
	"vswitch/header"
	"vswitch/nat"
	"vswitch/routing"
)

// The router: each network's gateway (an IP and a MAC vswitchd owns) and
// the LPM routing between networks and the uplink. A frame reaches it when
// its destination MAC is a gateway's (or it is ARP for a gateway); see
// decide in l2.go.

const ethIPOff = header.VirtioNetHdrLen + header.EthernetLen // IPv4 header in a buffer

// minEthPayload is the payload of a minimum-size Ethernet frame (60 bytes
// without FCS): what a short packet is padded to.
const minEthPayload = 46

// arpInput handles an ARP frame on a routed network. It answers requests for
// the gateway, takes replies addressed to it, and learns senders (RFC 826
// merge); done is false when the frame must still be switched at L2.
func (w *worker) arpInput(s *snapshot, in *Port, net *Network, buf []byte, now int64) (v Verdict, done bool) {
	frame := buf[header.VirtioNetHdrLen:]
	op, smac, sip, tmac, tip, ok := arp.ParseARP(frame)
	if !ok {
		return drop(DropMalformed), true
	}
	ours := tip == net.L3.GatewayIP && sip != tip
	learns := sip.IsValid() && !sip.IsUnspecified() && net.L3.Subnet.Contains(sip)
	if w.tr != nil {
		w.traceARP(op, smac, sip, tip, ours, learns)
	}
	if learns && !w.tr.dry() {
		// Learn only addresses of the network's own subnet: a host cannot
		// claim to be the neighbour for another network's address.
		if rel := w.dp.arp.Learn(sip, smac, net.ID, now, op == arp.OpReply && ours, ours); len(rel) > 0 {
			w.sendReleased(s, net, smac, rel)
		}
	}
	switch {
	case op == arp.OpRequest && ours:
		// Answer in place: the request becomes the reply, back to the asker.
		header.VirtioNetHdr(buf).Clear()
		arp.BuildReply(frame, net.L3.GatewayMAC, net.L3.GatewayIP, smac, sip)
		return Verdict{Action: ActForward, Port: in.Index, Len: header.VirtioNetHdrLen + arp.FrameLen}, true
	case op == arp.OpReply && (ours || tmac == net.L3.GatewayMAC):
		return Verdict{Action: ActConsumed}, true
	}
	if net.L3.Uplink {
		return drop(DropNotOurs), true
	}
	return Verdict{}, false
}

// routeIPv4 forwards an IPv4 packet sent to a gateway MAC (RFC 1812 5.2),
// with NAT and the isolation policy on the way (nat.go, policy.go).
func (w *worker) routeIPv4(s *snapshot, in *Port, net *Network, buf []byte, now int64) Verdict {
	frame := buf[header.VirtioNetHdrLen:]
	ip := header.IPv4(frame[header.EthernetLen:])
	if !ip.Valid() || !ip.ChecksumValid() {
		return drop(DropMalformed)
	}
	// Bytes after the packet beyond a minimum frame's padding (junk a
	// sender added) stay here, as Linux trims them on input (ip_rcv_core):
	// they would reach the next network, past its MTU where the header
	// says the packet fits. Padding up to 60 bytes goes on as it came.
	trim := 0
	if end := ethIPOff + max(int(ip.TotalLen()), minEthPayload); end < len(buf) {
		buf, trim = buf[:end], end
	}
	f := parseFlow(buf, ip)
	p := w.natPre(s, in, &f, buf, now)
	if w.tr != nil {
		w.traceConntrack(&f, &p, now)
	}
	dst := netip.AddrFrom4(p.target.Dst)
	if _, ok := s.local[dst]; ok && !p.known && !p.published {
		v := w.localInput(in, net, buf)
		if w.tr != nil {
			w.traceLocal(v)
		}
		return v
	}
	if dst.IsMulticast() || dst == limitedBroadcast {
		return drop(DropNotRoutable)
	}
	r, ok := s.routes.Lookup(dst)
	var out *Network
	if ok {
		out = s.network(r.Network)
	}
	if w.tr != nil {
		w.traceRoute(r, ok, out)
	}
	if out == nil {
		w.icmpError(in, net, buf, header.DestUnreachable, header.NetUnreachable, 0)
		return drop(DropNoRoute)
	}
	if r.Kind == routing.Connected && isBroadcastOf(r.Prefix, dst) {
		return drop(DropNotRoutable) // a directed broadcast (RFC 1812 5.3.5.2: off by default)
	}
	if !p.known {
		if why := admit(net, out, &f, &p, w.tr); why != DropNone {
			return drop(why)
		}
		if out.L3.Uplink && net.L3.Masquerade && !p.rw.SNAT {
			if p.publishedAnswer(s, &f, out); p.answer == (nat.Tuple{}) {
				p.rw.SNAT, p.rw.SrcAddr = true, out.L3.GatewayIP.As4()
			}
		}
	}
	// After the route, as Linux's ip_forward does: an unroutable packet
	// gets "net unreachable" whatever its TTL. The errors quote the packet
	// as its sender sent it, so they come before any rewrite.
	if ip.TTL() <= 1 {
		w.icmpError(in, net, buf, header.TimeExceeded, header.TTLExceeded, 0)
		return drop(DropTTL)
	}
	if v, tooBig := w.checkMTU(in, net, out, buf, ip); tooBig {
		return v
	}
	if why := w.natCommit(&p, &f, net, out, now); why != DropNone {
		return drop(why)
	}
	if p.target != f.t {
		if w.tr != nil {
			w.traceNAT(&f, &p)
		}
		if ip.MF() && f.kind == flowL4 && (p.target.Src != f.t.Src || p.target.Dst != f.t.Dst) && !w.tr.dry() {
			w.dp.frags.remember(fragKeyOf(&f, ip), p.target, now) // for the datagram's other fragments
		}
		rewrite(buf, &f, &p)
	}
	nh := dst
	if r.Via.IsValid() {
		nh = r.Via
	}
	ip.DecTTL()
	header.Ethernet(frame).SetSrc(out.L3.GatewayMAC)
	v := w.toNextHop(s, out, r.Port, nh, buf, now)
	if trim > 0 && v.Len == 0 {
		v.Len = trim
	}
	return v
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// isBroadcastOf reports the broadcast address of subnet p (none for /31, /32).
func isBroadcastOf(p netip.Prefix, a netip.Addr) bool {
	return p.Bits() < 31 && a == routing.LastAddr(p)
}

// checkMTU compares the packet with the next hop's MTU. A GSO super-frame
// is judged by the segments it will be cut into (gso_size plus headers), not
// its own length. Too big with DF set: "fragmentation needed" carrying the
// MTU (RFC 1191). Too big without DF: fragmented later, in emit.
func (w *worker) checkMTU(in *Port, net, out *Network, buf []byte, ip header.IPv4) (Verdict, bool) {
	mtu := out.L3.MTU
	if mtu == 0 || int(ip.TotalLen()) <= mtu {
		return Verdict{}, false
	}
	vh := header.VirtioNetHdr(buf)
	if vh.IsGSO() {
		if segmentLen(vh, ip) <= mtu {
			return Verdict{}, false
		}
		if !ip.DF() {
			return Verdict{}, false // segmented, then fragmented, in emit
		}
	} else if !ip.DF() {
		return Verdict{}, false
	}
	w.icmpError(in, net, buf, header.DestUnreachable, header.FragNeeded, uint16(mtu))
	return drop(DropFragNeeded), true
}

// toNextHop sends a routed packet to its next hop on network out: at once
// when the neighbour is known, else after ARP (the packet waits in a small
// queue meanwhile).
func (w *worker) toNextHop(s *snapshot, out *Network, forced uint16, nh netip.Addr, buf []byte, now int64) Verdict {
	var mac header.MAC
	var st arp.State
	var ok bool
	if w.tr == nil { // spelled out, not a wrapper: this runs per routed packet
		mac, _, st, ok = w.dp.arp.Lookup(nh)
	} else {
		mac, _, st, ok = w.traceNeighbour(nh, now)
	}
	if ok && st.Usable() {
		return w.emit(s, out, forced, mac, buf)
	}
	if w.tr.dry() {
		if nh.Is6() {
			return w.wouldResolve6(nh, now) // trace6.go
		}
		return w.wouldResolve(nh, now) // neither queued nor asked
	}
	act := w.dp.arp.Resolve(nh, out.ID, buf, now)
	if act.Ready {
		return w.emit(s, out, forced, act.MAC, buf)
	}
	if act.Request && nh.Is6() {
		w.sendNS(s, out, nh) // route6.go
	} else if act.Request {
		w.sendARPRequest(s, out, nh)
	}
	switch act.Drop {
	case "":
	case arp.ReasonQueueFull:
		return drop(DropARPQueueFull)
	case arp.ReasonTableFull:
		return drop(DropARPTableFull)
	default:
		return drop(DropNotRoutable) // a next hop that is no unicast address
	}
	return Verdict{Action: ActConsumed}
}

// emit addresses the frame to mac and picks the egress: the forced port of
// a --port route, the uplink's port, or the port the FDB knows for mac
// (flooding in out when it does not, as a bridge under a router would). A
// packet larger than out's MTU is fragmented here (RFC 1812 5.2.6); checkMTU
// already sent DF packets back.
func (w *worker) emit(s *snapshot, out *Network, forced uint16, mac header.MAC, buf []byte) Verdict {
	header.Ethernet(buf[header.VirtioNetHdrLen:]).SetDst(mac)
	v := flood(out.ID)
	switch {
	case forced != 0:
		v = Verdict{Action: ActForward, Port: forced}
	case out.L3.Uplink && len(out.Ports) > 0:
		v = Verdict{Action: ActForward, Port: out.Ports[0]}
	default:
		if p, ok := out.FDB.Lookup(mac.Uint64()); ok {
			v = Verdict{Action: ActForward, Port: p}
		}
	}
	if eth := header.Ethernet(buf[header.VirtioNetHdrLen:]); eth.Type() == header.EtherTypeIPv6 {
		eth.SetSrc(out.L3.GatewayMAC) // routeIPv6 left the sender's while the packet could wait
		if w.tr != nil {
			w.traceEmit(out, forced, mac, v, false)
		}
		return v // routeIPv6 sent the too-big ones back: a router never fragments IPv6
	}
	ip := header.IPv4(buf[ethIPOff:])
	mtu := out.L3.MTU
	if w.tr != nil {
		w.traceEmit(out, forced, mac, v, mtu != 0 && int(ip.TotalLen()) > mtu)
	}
	if mtu == 0 || int(ip.TotalLen()) <= mtu {
		return v
	}
	vh := header.VirtioNetHdr(buf)
	switch {
	case !vh.IsGSO():
		if !w.fragment(s, v, buf, mtu) {
			return drop(DropMalformed)
		}
	case segmentLen(vh, ip) > mtu: // DF clear: checkMTU answered the DF ones
		if !w.segment(s, v, buf, mtu) {
			return drop(DropGSOTooBig)
		}
	default:
		return v // the segments fit: the egress cuts the super-frame itself
	}
	return Verdict{Action: ActConsumed}
}

// sendReleased sends the frames that waited for a neighbour now resolved.
func (w *worker) sendReleased(s *snapshot, net *Network, mac header.MAC, frames [][]byte) {
	for _, f := range frames {
		v := w.emit(s, net, 0, mac, f)
		w.apply(s, nil, f, v)
	}
}

// fragment cuts the IPv4 packet in buf into fragments that fit mtu (RFC 791
// 3.2) and queues them for the verdict's egress. A partial L4 checksum is
// completed first: fragments cannot carry the offsets that finish it.
func (w *worker) fragment(s *snapshot, v Verdict, buf []byte, mtu int) bool {
	frame := buf[header.VirtioNetHdrLen:]
	ip := header.IPv4(frame[header.EthernetLen:])
	hl := ip.HeaderLen()
	if !completeChecksum(buf, ethIPOff+hl, ethIPOff+int(ip.TotalLen()), ip.Protocol()) {
		return false // a virtio header pointing into the IP header: forged
	}
	payload := ip.Payload()
	maxData := min(mtu-hl, genBufSize-ethIPOff-hl) &^ 7
	if maxData < 8 {
		return true // an MTU below any fragment (RFC 791 asks 68 of every link): nothing fits
	}
	baseOff := int(ip.FragmentOffset()) * 8
	lastMF := ip.MF()
	for off := 0; off < len(payload); off += maxData {
		n := min(maxData, len(payload)-off)
		g := w.genBuf()
		if g == nil {
			return true
		}
		header.VirtioNetHdr(g).Clear()
		copy(g[header.VirtioNetHdrLen:], frame[:header.EthernetLen+hl])
		copy(g[ethIPOff+hl:], payload[off:off+n])
		fip := header.IPv4(g[ethIPOff:])
		fip.SetTotalLen(uint16(hl + n))
		var flags uint8
		if off+n < len(payload) || lastMF {
			flags = header.IPv4FlagMF
		}
		fip.SetFlagsFragOffset(flags, uint16((baseOff+off)/8))
		if baseOff+off > 0 {
			dropUncopiedOptions(fip[header.IPv4MinLen:hl])
		}
		fip.SetChecksum(fip.ComputeChecksum())
		w.apply(s, nil, g[:ethIPOff+hl+n], v)
	}
	return true
}

// dropUncopiedOptions turns the options a non-first fragment must not carry
// (those without the "copied" flag, RFC 791 3.1: Record Route, Timestamp)
// into NOPs, keeping the header length, as Linux's ip_options_fragment does.
func dropUncopiedOptions(opts []byte) {
	for i := 0; i < len(opts); {
		switch t := opts[i]; {
		case t == 0: // end of options
			return
		case t == 1: // NOP
			i++
		default:
			if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
				return // malformed: leave the rest alone
			}
			l := int(opts[i+1])
			if t&0x80 == 0 {
				for j := i; j < i+l; j++ {
					opts[j] = 1
				}
			}
			i += l
		}
	}
}

// sendARPRequest asks network out who has nh, from its gateway.
func (w *worker) sendARPRequest(s *snapshot, out *Network, nh netip.Addr) {
	g := w.genBuf()
	if g == nil {
		return
	}
	header.VirtioNetHdr(g).Clear()
	f := arp.BuildRequest(g[header.VirtioNetHdrLen:], out.L3.GatewayMAC, out.L3.GatewayIP, nh)
	w.apply(s, nil, g[:header.VirtioNetHdrLen+len(f)], flood(out.ID))
}

// arpLoop drives the neighbour table's timers: retransmitted requests, and
// frames that waited for a neighbour who never answered (host unreachable
// back to their senders).
func (dp *Dataplane) arpLoop() {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	var limit rateLimit
	var lastRA int64
	buf := make([]byte, 2048)
	for {
		select {
		case <-dp.stop:
			return
		case <-t.C:
		}
		now := dp.opts.Now().UnixNano()
		dp.raTick(now, &lastRA) // IPv6 gateways' periodic advertisements (nd.go)
		probes, failed := dp.arp.Tick(now)
		s := dp.cfg.Load()
		for _, p := range probes {
			n := s.network(p.Port)
			if n == nil {
				continue
			}
			header.VirtioNetHdr(buf).Clear()
			if p.IP.Is6() {
				dp.probe6(s, n, p.IP, p.Dst, buf) // a neighbour solicitation (route6.go)
				continue
			}
			var f []byte
			if p.Unicast() {
				f = arp.BuildRequestTo(buf[header.VirtioNetHdrLen:], n.L3.GatewayMAC, n.L3.GatewayIP, p.Dst, p.IP)
			} else {
				f = arp.BuildRequest(buf[header.VirtioNetHdrLen:], n.L3.GatewayMAC, n.L3.GatewayIP, p.IP)
			}
			dp.sendOnNetwork(s, n, buf[:header.VirtioNetHdrLen+len(f)], p.Dst)
		}
		for _, f := range failed {
			for _, fr := range f.Frames {
				dp.drops[DropARPFailed].Add(1)
				dp.unreachable(s, fr, &limit, now)
			}
		}
	}
}

// unreachable sends "host unreachable" to the sender of a frame that could
// not be delivered, through the network its source address lives on.
func (dp *Dataplane) unreachable(s *snapshot, fr []byte, limit *rateLimit, now int64) {
	if len(fr) >= ip6Off && header.Ethernet(fr[header.VirtioNetHdrLen:]).Type() == header.EtherTypeIPv6 {
		dp.unreachable6(s, fr, limit, now) // route6.go
		return
	}
	if len(fr) < ethIPOff+header.IPv4MinLen || !mayAnswerWithError(fr) || !limit.allow(now) {
		return
	}
	src := header.IPv4(fr[ethIPOff:]).Src()
	r, ok := s.routes.Lookup(src)
	if !ok {
		return
	}
	n := s.network(r.Network)
	if n == nil {
		return
	}
	// The frame's Ethernet source is now the egress gateway's: the sender's
	// MAC comes from the neighbour table.
	mac, _, st, ok := dp.arp.Lookup(src)
	if !ok || !st.Usable() {
		return
	}
	g := make([]byte, ethIPOff+header.IPv4MinLen+header.ICMPv4MinLen+icmpQuoteMax)
	header.Ethernet(fr[header.VirtioNetHdrLen:]).SetSrc(mac)
	l := buildICMPError(g, fr, n.L3.GatewayMAC, n.L3.GatewayIP, header.DestUnreachable, header.HostUnreachable, 0)
	dp.sendOnNetwork(s, n, g[:l], mac)
}

// sendOnNetwork writes one frame to the port behind dst on network n, or to
// all of n's ports when dst is broadcast or unknown. Control-path only.
func (dp *Dataplane) sendOnNetwork(s *snapshot, n *Network, frame []byte, dst header.MAC) {
	if !dst.IsMulticast() {
		if p, ok := n.FDB.Lookup(dst.Uint64()); ok && !n.L3.Uplink {
			if pp := s.port(p); pp != nil {
				dp.write(pp, frame)
				return
			}
		}
	}
	for _, idx := range n.Ports {
		if pp := s.port(idx); pp != nil {
			dp.write(pp, frame)
		}
	}
}

func (dp *Dataplane) write(p *Port, frame []byte) {
	if sent, _ := p.IO.WriteBatch([][]byte{frame}); sent == 1 {
		p.Stats.TxPackets.Add(1)
		p.Stats.TxBytes.Add(uint64(len(frame) - header.VirtioNetHdrLen))
	} else {
		p.Stats.Drops[DropTxError].Add(1)
	}
}

// SendGratuitous announces network id's gateway with a gratuitous ARP, so
// hosts that cached an older MAC for the address update it, and on a
// network with IPv6 with an unsolicited router advertisement (nd.go).
func (dp *Dataplane) SendGratuitous(id uint16) {
	s := dp.cfg.Load()
	n := s.network(id)
	if n == nil || !n.L3.GatewayIP.IsValid() {
		return
	}
	buf := make([]byte, header.VirtioNetHdrLen+arp.FrameLen)
	arp.BuildGratuitous(buf[header.VirtioNetHdrLen:], n.L3.GatewayMAC, n.L3.GatewayIP)
	dp.sendOnNetwork(s, n, buf, header.BroadcastMAC)
	dp.SendRouterAdvert(id)
}
