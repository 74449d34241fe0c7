package dataplane

import (
	"encoding/binary"
	"errors"

	"vswitch/header"
	"vswitch/nat"
)

// NAT66 and published ports over IPv6, as Docker does them with ip6tables:
// the walk of nat.go for routeIPv6, with the IPv6 conntrack (nat.Table6).
//
//	ipv6Input: to the gateway's MAC ─▶ routeIPv6 ─▶ parseFlow6 ─▶ natPre6: a known flow?
//	  (TCP, UDP, echo replies and         │ no                    yes: its target tuple
//	   errors to a gateway's own IPv6     ▼
//	   address come here too)        to one of vswitchd's IPv6 addresses and published? DNAT
//	                                      ▼
//	            route, isolation (skipped by a known flow) ─▶ leaving by the uplink from a
//	            network with --nat66? SNAT to the uplink's IPv6 address; without it the
//	            flow is still tracked (a null binding), so its answers come back in
//	                                      ▼
//	            hop limit, MTU ─▶ natCommit6: nat.Table6.Create ─▶ rewrite6
//
// Masquerade is opt-in per network (--nat66), as Docker's NAT66 is: a
// network without it keeps its addresses, routed; the outside then needs a
// route to its prefix via the uplink. Either way a flow from inside to the
// uplink is tracked, so only its answers and published ports come in
// (Docker's routed mode: nothing else reaches a container from outside).
//
// Checksums are updated incrementally: IPv6 has no header checksum, the
// addresses are in the TCP, UDP and ICMPv6 pseudo-header (ICMPv6's too,
// unlike ICMPv4's). A CHECKSUM_PARTIAL frame, every GSO TCPv6 super-frame,
// has the pseudo-header sum in its L4 field: it changes with the addresses
// only and the frame goes on whole. An ICMPv6 error about a tracked flow is
// translated with it, its quoted packet too, and its checksum computed
// afresh. Not translated: packets with extension headers (a flow that needs
// NAT and has one is dropped as ct-invalid), fragments among them: there
// is no IPv6 fragment table as fragnat.go's for IPv4, since IPv6 hosts do
// path MTU discovery and only their sender fragments; a fragment that
// needs NAT66 is dropped as ct-invalid, never leaves with a container's
// address, one that needs none (a network without --nat66) is routed as
// it is. The answers of a published flow
// whose conn was lost (a restart, a flush) get the conn back as IPv4's do
// (publishedAnswer): see answer6.

// pubKey6 is a published (address, port, protocol) a client sends to, or,
// with rev, a published target's (address, port, protocol) its answers
// come from: both kinds in one map, so the snapshot needs no second one.
type pubKey6 struct {
	ip    [16]byte
	port  uint16
	proto uint8
	rev   bool
}

// pubTarget6 is where a published port leads; for a rev key, where the
// target's answers must seem to come from: the host address (zero: the
// uplink's, the rule being bound to every address) and port.
type pubTarget6 struct {
	to   [16]byte
	port uint16
	net  uint16
}

// buildPublish6 indexes the rules that have an IPv6 target (the
// container's IPv6 address, PublishRule.To6) by the IPv6 address, port and
// protocol clients send to: the rule's HostIP when it is IPv6, else every
// IPv6 address of vswitchd but the gateways of internal networks. A rule
// bound to an IPv4 host address is IPv4 only.
func buildPublish6(rules []PublishRule, s *snapshot) map[pubKey6]pubTarget6 {
	m := map[pubKey6]pubTarget6{}
	for _, r := range rules {
		if !r.To6.IsValid() {
			continue
		}
		t := pubTarget6{to: r.To6.As16(), port: r.To.Port(), net: r.Network}
		if !r.HostIP.Is4() {
			o := pubTarget6{port: r.HostPort, net: r.Network}
			if r.HostIP.Is6() {
				o.to = r.HostIP.As16()
			}
			m[pubKey6{t.to, t.port, r.Proto, true}] = o
		}
		switch {
		case r.HostIP.Is6():
			m[pubKey6{r.HostIP.As16(), r.HostPort, r.Proto, false}] = t
		case !r.HostIP.IsValid():
			for _, n := range s.nets {
				if n != nil && n.L3.Gateway6.IsValid() && !n.L3.Internal {
					m[pubKey6{n.L3.Gateway6.As16(), r.HostPort, r.Proto, false}] = t
				}
			}
		}
	}
	return m
}

// flow6 is what NAT needs of one IPv6 packet, parsed once.
type flow6 struct {
	t      nat.Tuple6
	kind   flowKind
	flags  uint8 // TCP flags
	create bool  // may start a conn: TCP, UDP, echo request
	l4     int   // offset of the L4 header in the buffer
	end    int   // end of the IPv6 packet in the buffer
}

// parseFlow6 reads the tuple of the IPv6 packet in buf (ipv6Input checked
// the payload length fits). A packet whose next header is none of TCP, UDP
// and ICMPv6 (extension headers too) is flowNone: not tracked.
func parseFlow6(buf []byte, ip header.IPv6) (f flow6) {
	f.t.Src, f.t.Dst, f.t.Proto = [16]byte(ip[8:24]), [16]byte(ip[24:40]), ip.NextHeader()
	f.l4 = ip6Off + header.IPv6MinLen
	f.end = f.l4 + int(ip.PayloadLen())
	if f.end > len(buf) {
		f.end = f.l4
		return
	}
	l4 := buf[f.l4:f.end]
	switch f.t.Proto {
	case header.ProtoTCP, header.ProtoUDP:
		var ok bool
		if f.t.SPort, f.t.DPort, f.flags, ok = l4Ports(f.t.Proto, l4); ok {
			f.kind, f.create = flowL4, true
		}
	case header.ProtoICMPv6:
		if len(l4) < header.ICMPv6MinLen {
			return
		}
		switch typ := l4[0]; {
		case typ == header.ICMPv6EchoRequest || typ == header.ICMPv6EchoReply:
			f.t.SPort = binary.BigEndian.Uint16(l4[4:6])
			f.t.DPort = f.t.SPort
			f.kind, f.create = flowL4, typ == header.ICMPv6EchoRequest
		case typ >= icmp6DstUnreach && typ <= icmp6ParamProblem:
			f.kind = flowICMPErr
		}
	}
	return
}

// icmp6ParamProblem is the last ICMPv6 error type NAT translates (RFC 4443
// 3.4); destination unreachable, packet too big and time exceeded precede it.
const icmp6ParamProblem = 4

// quoted6 parses the packet an ICMPv6 error carries: its fixed header and
// at least 8 bytes of its L4 header (the ports, UDP's checksum, an echo's
// identifier). It returns the quoted packet's tuple and the offset of its
// IPv6 header in buf.
func quoted6(buf []byte, f *flow6) (t nat.Tuple6, off int, ok bool) {
	off = f.l4 + header.ICMPv6MinLen
	if off+header.IPv6MinLen+8 > f.end {
		return t, 0, false
	}
	q := header.IPv6(buf[off:f.end])
	if q[0]>>4 != 6 {
		return t, 0, false
	}
	t.Src, t.Dst, t.Proto = [16]byte(q[8:24]), [16]byte(q[24:40]), q.NextHeader()
	l4 := q[header.IPv6MinLen:]
	switch t.Proto {
	case header.ProtoTCP, header.ProtoUDP:
		t.SPort, t.DPort = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	case header.ProtoICMPv6:
		if l4[0] != header.ICMPv6EchoRequest && l4[0] != header.ICMPv6EchoReply {
			return t, 0, false
		}
		t.SPort = binary.BigEndian.Uint16(l4[4:6])
		t.DPort = t.SPort
	default:
		return t, 0, false
	}
	return t, off, true
}

// natPlan6 is what NAT decided for one routed IPv6 packet.
type natPlan6 struct {
	target    nat.Tuple6 // the packet's tuple after translation (f.t when none)
	known     bool       // part of a tracked flow: isolation was passed at its start
	published bool       // a new flow to a published port: DNAT
	track     bool       // a new flow to commit even without NAT (it leaves by the uplink)
	inner     int        // an ICMPv6 error about a tracked flow: offset of the quoted header
	innerTo   nat.Tuple6 // the quoted packet's tuple after translation
	rw        nat.Rewrite6
	in        *Port
	// answerOf: a published target's packet no conn knows (answer6); the
	// origin its rule gives, used if the packet leaves by the uplink.
	answerOf  pubTarget6
	mayAnswer bool
	answer    nat.Tuple6 // !=zero: the lost published flow's original tuple
}

// natPre6 finds the flow a routed IPv6 packet belongs to, or the published
// port it is for. It changes nothing in the packet.
func (w *worker) natPre6(s *snapshot, in *Port, f *flow6, buf []byte, now int64) (p natPlan6) {
	p.target, p.in = f.t, in
	ct := w.dp.ct6
	switch f.kind {
	case flowL4:
		c, d, ok := ct.LookupAt(f.t, now)
		if ok {
			if w.tr.dry() {
				ok = wouldTrack6(c, d, f.flags, f.t.Proto)
			} else {
				ok = ct.Track(c, d, f.flags, now)
			}
		}
		if ok {
			p.known = true
			p.target = c.Target(d)
			if w.tr != nil {
				w.tr.add(Step{Stage: StageConntrack, Decision: "hit", CtState: c.State(), Found: true,
					Conn6: c.Orig(), Reply6: c.Reply()})
			}
			return
		}
		if f.t.Proto == header.ProtoICMPv6 {
			return
		}
		pub, ok := s.publish6[pubKey6{f.t.Dst, f.t.DPort, f.t.Proto, false}]
		if !ok {
			// A SYN alone is a new connection of the server's own.
			if f.t.Proto != header.ProtoTCP || f.flags&(header.TCPFlagSYN|header.TCPFlagACK) != header.TCPFlagSYN {
				p.answerOf, p.mayAnswer = s.publish6[pubKey6{f.t.Src, f.t.SPort, f.t.Proto, true}]
			}
			return
		}
		p.published = true
		p.rw.DNAT, p.rw.DstAddr, p.rw.DstPort = true, pub.to, pub.port
		p.target.Dst, p.target.DPort = pub.to, pub.port
		if src := s.network(in.Net); src != nil && !src.L3.Uplink {
			// Hairpin, as IPv4's: the answer must come back through
			// vswitchd, so the server sees its own gateway as the client.
			if n := s.network(pub.net); n != nil && n.L3.Gateway6.IsValid() {
				p.rw.SNAT, p.rw.SrcAddr = true, n.L3.Gateway6.As16()
			}
		}
	case flowICMPErr:
		q, off, ok := quoted6(buf, f)
		if !ok || q.Src != f.t.Dst {
			return // not about a packet this host sent: routed as it is
		}
		c, d, ok := ct.LookupAt(q.Reverse(), now)
		if !ok {
			return
		}
		t := c.Target(d)
		// The outer addresses change as a packet of the flow travelling
		// the same way would (nf_nat_icmp_reply_translation).
		if c.NAT()&nat.SNAT != 0 {
			if d == nat.Original {
				p.target.Src = t.Src
			} else {
				p.target.Dst = t.Dst
			}
		}
		if c.NAT()&nat.DNAT != 0 {
			if d == nat.Original {
				p.target.Dst = t.Dst
			} else {
				p.target.Src = t.Src
			}
		}
		p.known, p.inner, p.innerTo = true, off, t.Reverse()
	}
	return
}

// answer6 is IPv4's publishedAnswer for IPv6: a packet from a published
// target's address and port that no conn knows, leaving by the uplink, is
// the answer of a published flow whose conn was lost (a restart, a flush).
// It plans the conn the flow had (the client to the host address and port,
// DNAT to the target) so the answer leaves from the published address and
// port; without it the client would get it from the container's address
// and reset the connection.
func (p *natPlan6) answer6(out *Network) bool {
	host := p.answerOf.to
	if host == ([16]byte{}) {
		if !out.L3.Gateway6.IsValid() {
			return false
		}
		host = out.L3.Gateway6.As16()
	}
	t := p.target // no conn, no DNAT: the packet's own tuple
	p.answer = nat.Tuple6{Src: t.Dst, Dst: host, SPort: t.DPort, DPort: p.answerOf.port, Proto: t.Proto}
	p.rw = nat.Rewrite6{DNAT: true, DstAddr: t.Src, DstPort: t.SPort}
	return true
}

// wouldTrack6 is a dry run's Track: false only for a SYN that reopens a
// finished TCP conn.
func wouldTrack6(c nat.Conn6, d nat.Dir, flags, proto uint8) bool {
	if proto == header.ProtoTCP && d == nat.Original &&
		flags&(header.TCPFlagSYN|header.TCPFlagACK|header.TCPFlagRST) == header.TCPFlagSYN {
		st := c.State()
		return st != nat.TimeWait && st != nat.Close
	}
	return true
}

// masquerade6 plans the source translation of a new flow leaving network
// from by the uplink out: to the uplink's IPv6 address with --nat66, else
// none, but the flow is tracked all the same so its answers get in.
func (p *natPlan6) masquerade6(from, out *Network) {
	if p.known || !out.L3.Uplink || from.L3.Uplink {
		return
	}
	p.track = true
	if p.mayAnswer && !p.rw.SNAT && p.answer6(out) {
		return
	}
	if from.L3.Masquerade6 && !p.rw.SNAT && out.L3.Gateway6.IsValid() {
		p.rw.SNAT, p.rw.SrcAddr = true, out.L3.Gateway6.As16()
	}
}

// natCommit6 creates the conn of a new flow that needs one and sets the
// tuple to rewrite the packet to, or says why it is dropped.
func (w *worker) natCommit6(p *natPlan6, f *flow6, now int64) DropReason {
	nated := p.rw.SNAT || p.rw.DNAT
	if p.known || !(nated || p.track) {
		return DropNone
	}
	if p.answer != (nat.Tuple6{}) {
		return w.commitAnswer6(p, f, now)
	}
	if !f.create {
		if nated {
			return DropCTInvalid // a translated address must not leave untranslated
		}
		return DropNone // an answer-less packet (an error, a reply) passes untracked
	}
	if !w.connOK(p.in, now) {
		return DropConnRate
	}
	if w.tr.dry() {
		// A dry run commits nothing: the target is the first choice the
		// table would make (ports kept).
		if p.rw.DNAT {
			p.target.Dst = p.rw.DstAddr
			if p.rw.DstPort != 0 {
				p.target.DPort = p.rw.DstPort
			}
		}
		if p.rw.SNAT {
			p.target.Src = p.rw.SrcAddr
		}
		w.tr.add(Step{Stage: StageConntrack, Decision: "would-create", Conn6: f.t, Reply6: p.target.Reverse()})
		return DropNone
	}
	c, err := w.dp.ct6.Create(f.t, p.rw, f.flags, now)
	switch {
	case err == nil:
		d, ok := c.DirOf(f.t)
		if !ok {
			d = nat.Original
		}
		p.target = c.Target(d)
		if w.tr != nil {
			w.tr.add(Step{Stage: StageConntrack, Decision: "created", CtState: c.State(), Found: true,
				Conn6: c.Orig(), Reply6: c.Reply()})
		}
		return DropNone
	case errors.Is(err, nat.ErrFull):
		return DropConntrackFull
	case errors.Is(err, nat.ErrPortsExhausted):
		return DropNATPorts
	case nated:
		return DropCTInvalid
	}
	return DropNone // a flow that needs no NAT goes on untracked
}

// commitAnswer6 puts a lost published flow's conn back (answer6) and the
// packet on its reply side; a dry run only says it would.
func (w *worker) commitAnswer6(p *natPlan6, f *flow6, now int64) DropReason {
	if w.tr.dry() {
		p.target.Src, p.target.SPort = p.answer.Dst, p.answer.DPort
		w.tr.add(Step{Stage: StageConntrack, Decision: "would-create", Conn6: p.answer, Reply6: f.t,
			Note: "an answer of a published flow whose conn was lost: put back on it"})
		return DropNone
	}
	c, err := w.dp.ct6.Create(p.answer, p.rw, f.flags, now)
	if err != nil {
		return DropCTInvalid // never out with the container's address
	}
	d, ok := c.DirOf(f.t)
	if !ok {
		d = nat.Reply
	}
	p.target = c.Target(d)
	if w.tr != nil {
		w.tr.add(Step{Stage: StageConntrack, Decision: "created", CtState: c.State(), Found: true,
			Conn6: c.Orig(), Reply6: c.Reply(), Note: "an answer of a published flow whose conn was lost: put back on it"})
	}
	return DropNone
}

// rewrite6 translates the IPv6 packet in buf from f.t to p.target (and, for
// an ICMPv6 error, its quoted packet to p.innerTo), every checksum updated
// incrementally; an error's own checksum is computed afresh.
func rewrite6(buf []byte, f *flow6, p *natPlan6) {
	vh := header.VirtioNetHdr(buf)
	partial := vh.Flags()&header.VirtioNetHdrFNeedsCsum != 0
	ip := header.IPv6(buf[ip6Off:])
	translate6(ip, buf[f.l4:f.end], p.target, f.kind == flowL4, partial)
	if f.kind == flowICMPErr && p.inner > 0 {
		q := header.IPv6(buf[p.inner:f.end])
		translate6(q, q[header.IPv6MinLen:], p.innerTo, true, false)
		m := header.ICMPv6(buf[f.l4:f.end])
		m.SetChecksum(0)
		m.SetChecksum(m.ComputeChecksum(ip.Src(), ip.Dst()))
		vh.SetFlags(vh.Flags() &^ header.VirtioNetHdrFNeedsCsum) // complete now
	}
}

// translate6 gives the IPv6 packet ip (L4 header l4) the addresses of to
// and, with ports, its ports or echo identifier. Its protocol's checksum
// covers the addresses through the pseudo-header; without ports (an ICMPv6
// error, whose checksum rewrite6 recomputes) only the addresses change. A
// quoted packet's L4 header may be cut after 8 bytes: a TCP checksum that
// is not there is not updated.
func translate6(ip header.IPv6, l4 []byte, to nat.Tuple6, ports, partial bool) {
	proto := ip.NextHeader()
	var sum []byte
	if ports {
		switch {
		case proto == header.ProtoTCP && len(l4) >= 18:
			sum = l4[16:18]
		case proto == header.ProtoUDP && len(l4) >= header.UDPLen:
			if sum = l4[6:8]; !partial && sum[0]|sum[1] == 0 {
				sum = nil // no checksum: invalid in IPv6 (RFC 8200 8.1), left as it came
			}
		case proto == header.ProtoICMPv6 && len(l4) >= header.ICMPv6MinLen:
			sum = l4[2:4]
		}
	}
	addr16(ip[8:24], &to.Src, sum, partial, proto)
	addr16(ip[24:40], &to.Dst, sum, partial, proto)
	if !ports {
		return
	}
	switch proto {
	case header.ProtoTCP, header.ProtoUDP:
		port16(l4[0:2], to.SPort, sum, partial, proto)
		port16(l4[2:4], to.DPort, sum, partial, proto)
	case header.ProtoICMPv6:
		port16(l4[4:6], to.SPort, sum, partial, proto)
	}
}

// addr16 writes an IPv6 address field and updates sum (a pseudo-header
// sum, as is, when partial) for it: RFC 1624 over its eight 16-bit words.
func addr16(field []byte, new *[16]byte, sum []byte, partial bool, proto uint8) {
	old := [16]byte(field)
	if old == *new {
		return
	}
	if sum != nil {
		var d uint32
		for i := 0; i < 16; i += 2 {
			d += uint32(^binary.BigEndian.Uint16(old[i:])) + uint32(binary.BigEndian.Uint16(new[i:]))
		}
		c := binary.BigEndian.Uint16(sum)
		if partial {
			c = header.Fold(uint32(c) + d)
		} else {
			c = mangle0(proto, ^header.Fold(uint32(^c)+d))
		}
		binary.BigEndian.PutUint16(sum, c)
	}
	copy(field, new[:])
}

// Conntrack6 is the IPv6 connection table (`vswitchctl conntrack`).
func (dp *Dataplane) Conntrack6() *nat.Table6 { return dp.ct6 }

// toNAT6 says whether a packet to a gateway's global IPv6 address may
// belong to NAT66 (ipv6Input sends it to routeIPv6): TCP, UDP, an echo
// reply or an ICMPv6 error. Echo requests and ND stay the gateway's.
func toNAT6(ip header.IPv6) bool {
	switch ip.NextHeader() {
	case header.ProtoTCP, header.ProtoUDP:
		return true
	case header.ProtoICMPv6:
		m := header.ICMPv6(ip.Payload())
		return m.Valid() && (m.Type() == header.ICMPv6EchoReply || m.Type() < 128)
	}
	return false
}

// solicitedNodeMAC is a solicited-node group's MAC (33:33:ff:xx:xx:xx): an
// uplink with IPv6 takes those frames, ipv6Input keeps the ones for its
// own addresses (neighbour solicitations from the outside router).
func solicitedNodeMAC(m header.MAC) bool {
	return m[0] == 0x33 && m[1] == 0x33 && m[2] == 0xff
}
