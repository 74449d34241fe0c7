package dataplane

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"

	"vswitch/header"
	"vswitch/nat"
	"vswitch/policy"
)

// NAT in the router: what iptables' nat table does for Docker, packet by
// packet, with the connection tracker of package nat.
//
//	routeIPv4 ─▶ parseFlow ─▶ natPre: a known flow?  ── yes: its conn's target tuple
//	                                │ no
//	                                ▼
//	            to one of vswitchd's addresses and published? ── DNAT (+ hairpin SNAT)
//	                                ▼
//	            route, isolation, icc, ACL ─▶ leaving by the uplink from a
//	            masquerading network? ── SNAT to the uplink address
//	                                ▼
//	            TTL and MTU checks on the packet as it came ─▶ nat.Create ─▶ rewrite
//
// Packets of a tracked flow pass isolation and ACLs without asking again:
// that is what makes ACLs stateful and lets replies of masqueraded and
// published flows in. ICMP errors about a tracked flow are translated with
// it, the quoted packet too (RFC 5508 section 4.3).

// PublishRule is one published port (`publish add`): TCP or UDP to HostIP
// (every address of vswitchd when invalid) port HostPort goes to To, on
// network Network.
type PublishRule struct {
	ID       int
	Network  uint16
	Proto    uint8
	HostIP   netip.Addr
	HostPort uint16
	To       netip.AddrPort
	// To6 is the target's IPv6 address (same port), when its network has
	// IPv6: the rule then answers on vswitchd's IPv6 addresses too (nat6.go).
	To6 netip.Addr
}

type pubKey struct {
	ip    [4]byte
	port  uint16
	proto uint8
}

type pubTarget struct {
	to  nat.Tuple // only Dst and DPort are used
	net uint16
}

// pubOrigin is where a published target's answers must seem to come from:
// the host address (none: the uplink's) and port a client sent to.
type pubOrigin struct {
	ip   [4]byte
	any  bool // published on every address: the uplink's
	port uint16
}

// buildPublishRev indexes the rules by their target, for the answers of a
// published flow whose conn was lost (a restart, a flush): without it they
// would be masqueraded from the server's own port and the client would
// reset the connection.
func buildPublishRev(rules []PublishRule) map[pubKey]pubOrigin {
	m := make(map[pubKey]pubOrigin, len(rules))
	for _, r := range rules {
		if r.HostIP.Is6() {
			continue // IPv6 only: buildPublish6 keeps its answers (nat6.go)
		}
		o := pubOrigin{any: !r.HostIP.IsValid(), port: r.HostPort}
		if !o.any {
			o.ip = r.HostIP.As4()
		}
		m[pubKey{r.To.Addr().As4(), r.To.Port(), r.Proto}] = o
	}
	return m
}

// buildPublish indexes the rules by the (address, port, protocol) a client
// sends to; a rule without a host address is bound to every local address
// but the gateways of internal networks, which must stay without a way out.
func buildPublish(rules []PublishRule, s *snapshot) map[pubKey]pubTarget {
	m := make(map[pubKey]pubTarget, len(rules))
	for _, r := range rules {
		t := pubTarget{net: r.Network}
		t.to.Dst, t.to.DPort = r.To.Addr().As4(), r.To.Port()
		if r.HostIP.IsValid() {
			if r.HostIP.Is4() { // an IPv6-bound rule is IPv6 only (nat6.go)
				m[pubKey{r.HostIP.As4(), r.HostPort, r.Proto}] = t
			}
			continue
		}
		for a, id := range s.local {
			if n := s.network(id); a.Is4() && (n == nil || !n.L3.Internal) {
				m[pubKey{a.As4(), r.HostPort, r.Proto}] = t
			}
		}
	}
	return m
}

// SetPublish replaces the published ports.
func (dp *Dataplane) SetPublish(rules []PublishRule) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := dp.cfg.Load().clone()
	s.pubRules = slices.Clone(rules)
	s.publish = buildPublish(s.pubRules, s)
	s.publishRev = buildPublishRev(s.pubRules)
	s.publish6 = buildPublish6(s.pubRules, s)
	dp.cfg.Store(s)
}

// SetACL gives network id its ACL; nil (or an ACL that allows everything)
// removes it, and the network's traffic is neither checked nor tracked.
func (dp *Dataplane) SetACL(id uint16, acl *policy.ACL) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := dp.cfg.Load().clone()
	n := s.network(id)
	if n == nil {
		return
	}
	nn := *n
	nn.ACL = nil
	if !acl.Empty() {
		nn.ACL = acl
	}
	s.nets[id] = &nn
	dp.cfg.Store(s)
}

// Conntrack is the connection table (`vswitchctl conntrack`).
func (dp *Dataplane) Conntrack() *nat.Table { return dp.ct }

// flowKind says what the conntrack can make of a packet.
type flowKind uint8

const (
	flowNone     flowKind = iota // another protocol, or an L4 header cut short
	flowL4                       // TCP, UDP, ICMP echo or echo reply: a tuple
	flowICMPErr                  // an ICMP error, about the packet it quotes
	flowFragment                 // a non-first fragment: addresses, no ports
)

// flow is what NAT needs of one IPv4 packet, parsed once.
type flow struct {
	t      nat.Tuple
	kind   flowKind
	flags  uint8 // TCP flags
	create bool  // may start a conn: TCP, UDP, echo request (never a reply or an error)
	l4     int   // offset of the L4 header in the buffer
	end    int   // offset of the end of the IP packet in the buffer
}

// l4Ports reads the ports of the TCP or UDP header at the start of l4, and
// the flags if TCP; ok is false if the header is cut short. parseFlow and
// parseFlow6 share it; it is small enough to inline on the per-packet path.
func l4Ports(proto uint8, l4 []byte) (sport, dport uint16, flags uint8, ok bool) {
	min := header.UDPLen
	if proto == header.ProtoTCP {
		min = header.TCPMinLen
	}
	if len(l4) < min {
		return 0, 0, 0, false
	}
	sport, dport = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	if proto == header.ProtoTCP {
		flags = l4[13]
	}
	return sport, dport, flags, true
}

func parseFlow(buf []byte, ip header.IPv4) (f flow) {
	f.t.Src, f.t.Dst, f.t.Proto = ip.SrcBytes(), ip.DstBytes(), ip.Protocol()
	f.l4 = ethIPOff + ip.HeaderLen()
	f.end = ethIPOff + int(ip.TotalLen())
	if ip.FragmentOffset() != 0 {
		f.kind = flowFragment
		return
	}
	l4 := buf[f.l4:f.end]
	switch f.t.Proto {
	case header.ProtoTCP, header.ProtoUDP:
		var ok bool
		if f.t.SPort, f.t.DPort, f.flags, ok = l4Ports(f.t.Proto, l4); ok {
			f.kind, f.create = flowL4, true
		}
	case header.ProtoICMP:
		if len(l4) < header.ICMPv4MinLen {
			return
		}
		switch m := header.ICMPv4(l4); {
		case m.Type() == header.Echo || m.Type() == header.EchoReply:
			// The identifier stands in both port slots, so a reply's
			// tuple is the request's reversed (gVisor and OVS do the same).
			f.t.SPort = m.ID()
			f.t.DPort = f.t.SPort
			f.kind, f.create = flowL4, m.Type() == header.Echo
		case m.IsError() && m.Type() != header.Redirect:
			f.kind = flowICMPErr
		}
	}
	return
}

// quoted parses the packet an ICMP error carries: its IP header whole and
// at least the first 8 bytes of its L4 header (RFC 792), which hold the
// ports, the UDP checksum and an echo's identifier. It returns the quoted
// packet's tuple and the offset of its IP header in buf.
func quoted(buf []byte, f *flow) (t nat.Tuple, off int, ok bool) {
	off = f.l4 + header.ICMPv4MinLen
	if off+header.IPv4MinLen > f.end {
		return t, 0, false
	}
	q := header.IPv4(buf[off:f.end])
	hl := q.HeaderLen()
	if q[0]>>4 != 4 || hl < header.IPv4MinLen || hl+8 > len(q) || q.FragmentOffset() != 0 {
		return t, 0, false
	}
	t.Src, t.Dst, t.Proto = q.SrcBytes(), q.DstBytes(), q.Protocol()
	l4 := q[hl:]
	switch t.Proto {
	case header.ProtoTCP, header.ProtoUDP:
		t.SPort, t.DPort = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	case header.ProtoICMP:
		if l4[0] != header.Echo && l4[0] != header.EchoReply {
			return t, 0, false
		}
		t.SPort = binary.BigEndian.Uint16(l4[4:6])
		t.DPort = t.SPort
	default:
		return t, 0, false
	}
	return t, off, true
}

// natPlan is what NAT decided for one routed packet.
type natPlan struct {
	target    nat.Tuple // the packet's tuple after translation (f.t when none)
	known     bool      // part of a tracked flow: isolation and ACLs were passed at its start
	published bool      // a new flow to a published port: DNAT, and hairpin SNAT from inside
	inner     int       // an ICMP error about a tracked flow: offset of the quoted IP header
	innerTo   nat.Tuple // the quoted packet's tuple after translation
	rw        nat.Rewrite
	answer    nat.Tuple // !=zero: an answer of a published flow without a conn; the flow's original tuple
	in        *Port     // the ingress port, for its conn-rate (guard.go)
}

// publishedAnswer recognises, on its way out by the uplink, a packet from a
// published target's address and port that no conn knows: the answer of a
// published flow whose conn was lost. It plans the conn the flow would have
// had, so the answer leaves from the published address and port. A TCP SYN
// alone is a new connection of the server's own, masqueraded as usual.
func (p *natPlan) publishedAnswer(s *snapshot, f *flow, out *Network) {
	if f.kind != flowL4 || f.t.Proto == header.ProtoICMP ||
		(f.t.Proto == header.ProtoTCP && f.flags&(header.TCPFlagSYN|header.TCPFlagACK) == header.TCPFlagSYN) {
		return
	}
	o, ok := s.publishRev[pubKey{f.t.Src, f.t.SPort, f.t.Proto}]
	if !ok {
		return
	}
	host := o.ip
	if o.any {
		host = out.L3.GatewayIP.As4()
	}
	p.answer = nat.Tuple{Src: f.t.Dst, Dst: host, SPort: f.t.DPort, DPort: o.port, Proto: f.t.Proto}
	p.rw = nat.Rewrite{DNAT: true, DstAddr: f.t.Src, DstPort: f.t.SPort}
}

// natPre finds the flow a routed packet belongs to, or the published port
// it is for. It changes nothing: the packet may still be dropped, and the
// ICMP errors about it must quote it as it came.
func (w *worker) natPre(s *snapshot, in *Port, f *flow, buf []byte, now int64) (p natPlan) {
	p.target, p.in = f.t, in
	ct := w.dp.ct
	switch f.kind {
	case flowL4:
		// Track is false for a SYN on a conn in TIME_WAIT: a new
		// connection on the same tuple, decided afresh below.
		c, d, ok := ct.LookupAt(f.t, now)
		if ok && w.tr != nil {
			ok = w.track(c, d, f.flags, now) // a dry run predicts, moves nothing
		} else if ok {
			ok = ct.Track(c, d, f.flags, now)
		}
		if ok {
			p.known = true
			p.target = c.Target(d)
			return
		}
		if f.t.Proto == header.ProtoICMP {
			return
		}
		pub, ok := s.publish[pubKey{f.t.Dst, f.t.DPort, f.t.Proto}]
		if !ok {
			return
		}
		p.published = true
		p.rw.DNAT, p.rw.DstAddr, p.rw.DstPort = true, pub.to.Dst, pub.to.DPort
		p.target.Dst, p.target.DPort = pub.to.Dst, pub.to.DPort
		if src := s.network(in.Net); src != nil && !src.L3.Uplink {
			// Hairpin: from inside, the answer must come back through
			// vswitchd, not straight over L2 from the server to its
			// neighbour, so the server sees its own gateway as the client
			// (Docker's userland proxy shows it the same address).
			if n := s.network(pub.net); n != nil && n.L3.GatewayIP.IsValid() {
				p.rw.SNAT, p.rw.SrcAddr = true, n.L3.GatewayIP.As4()
			}
		}
	case flowFragment:
		if src, dst, ok := w.dp.frags.lookup(fragKeyOf(f, header.IPv4(buf[ethIPOff:])), now); ok {
			p.known = true
			p.target.Src, p.target.Dst = src, dst
		}
	case flowICMPErr:
		q, off, ok := quoted(buf, f)
		if !ok || q.Src != f.t.Dst {
			return // not about a packet this host sent: routed as it is
		}
		c, d, ok := ct.LookupAt(q.Reverse(), now)
		if !ok {
			return
		}
		t := c.Target(d)
		// The outer header changes as a packet of the flow travelling
		// the same way would, addresses only (nf_nat_icmp_reply_translation).
		if c.NAT&nat.SNAT != 0 {
			if d == nat.Original {
				p.target.Src = t.Src
			} else {
				p.target.Dst = t.Dst
			}
		}
		if c.NAT&nat.DNAT != 0 {
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

// natCommit creates the conn of a new flow when the plan needs one: NAT,
// or an ACL on either side (replies must find their flow). It returns the
// tuple to rewrite the packet to, or a reason to drop it.
func (w *worker) natCommit(p *natPlan, f *flow, from, out *Network, now int64) DropReason {
	nated := p.rw.SNAT || p.rw.DNAT
	if p.known || !(nated || from.ACL != nil || out.ACL != nil) {
		return DropNone
	}
	switch {
	case f.kind == flowFragment && p.rw.SNAT && !p.rw.DNAT:
		// The ports are in the first fragment: the others only need the
		// new source address, and the first one's rewrite already made
		// the L4 checksum right for the whole datagram.
		p.target.Src = p.rw.SrcAddr
		return DropNone
	case p.answer != nat.Tuple{}:
		c, err := w.create(p.answer, p.rw, f.flags, now)
		if err != nil {
			return DropCTInvalid
		}
		p.target = c.Target(dirOf(c, f.t, nat.Reply))
		return DropNone
	case !f.create:
		if nated {
			return DropCTInvalid // a private address must not leave untranslated
		}
		return DropNone
	}
	if !w.connOK(p.in, now) {
		return DropConnRate
	}
	c, err := w.create(f.t, p.rw, f.flags, now)
	switch {
	case err == nil:
		p.target = c.Target(dirOf(c, f.t, nat.Original))
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

// dirOf is the direction of tuple t in c: Create may return a conn that
// another worker committed a moment before from the flow's other side.
func dirOf(c *nat.Conn, t nat.Tuple, want nat.Dir) nat.Dir {
	if d, ok := c.DirOf(t); ok {
		return d
	}
	return want
}

// rewrite translates the packet in buf from f.t to p.target (and, for an
// ICMP error, its quoted packet to p.innerTo), updating every checksum
// incrementally (RFC 1624). A CHECKSUM_PARTIAL frame (every GSO frame) has
// the pseudo-header sum in its L4 field, which changes with the addresses
// only (ARCHITECTURE.md, Speed 5).
func rewrite(buf []byte, f *flow, p *natPlan) {
	partial := header.VirtioNetHdr(buf).Flags()&header.VirtioNetHdrFNeedsCsum != 0
	translate(header.IPv4(buf[ethIPOff:]), buf[f.l4:f.end], p.target, f.kind == flowL4, partial)
	if f.kind == flowICMPErr && p.inner > 0 {
		q := header.IPv4(buf[p.inner:f.end])
		translate(q, q[q.HeaderLen():], p.innerTo, true, false)
		m := header.ICMPv4(buf[f.l4:f.end])
		m.SetChecksum(m.ComputeChecksum())
		vh := header.VirtioNetHdr(buf)
		vh.SetFlags(vh.Flags() &^ header.VirtioNetHdrFNeedsCsum) // complete now
	}
}

// translate gives the IPv4 packet ip (L4 header l4) the addresses of to
// and, with ports, its ports or echo identifier, each checksum updated for
// the change. It serves a forwarded packet (ports false for a non-first
// fragment or an ICMP error, whose ICMP checksum leaves the addresses out)
// and the packet an ICMP error quotes, whose L4 header may be cut after 8
// bytes: a TCP checksum not there is not updated (the error's own checksum
// is computed afresh anyway).
func translate(ip header.IPv4, l4 []byte, to nat.Tuple, ports, partial bool) {
	proto := ip.Protocol()
	var sum []byte // the L4 checksum field, when it covers the pseudo-header and is there
	if ports {
		switch {
		case proto == header.ProtoTCP && len(l4) >= 18:
			sum = l4[16:18]
		case proto == header.ProtoUDP:
			if sum = l4[6:8]; !partial && sum[0]|sum[1] == 0 {
				sum = nil // no checksum (RFC 768): leave it so
			}
		}
	}
	addr4(ip[12:16], to.Src, ip, sum, partial, proto)
	addr4(ip[16:20], to.Dst, ip, sum, partial, proto)
	if !ports {
		return
	}
	switch proto {
	case header.ProtoTCP, header.ProtoUDP:
		port16(l4[0:2], to.SPort, sum, partial, proto)
		port16(l4[2:4], to.DPort, sum, partial, proto)
	case header.ProtoICMP:
		// No pseudo-header: the addresses are not in the ICMP checksum,
		// the identifier is.
		port16(l4[4:6], to.SPort, l4[2:4], partial, header.ProtoICMP)
	}
}

// addr4 writes an address field of ip and updates the header checksum and
// sum (a pseudo-header sum, as is, when partial) for it.
func addr4(field []byte, new [4]byte, ip header.IPv4, sum []byte, partial bool, proto uint8) {
	old := [4]byte(field)
	if old == new {
		return
	}
	ip.SetChecksum(header.UpdateChecksum32(ip.Checksum(), old, new))
	if sum != nil {
		c := binary.BigEndian.Uint16(sum)
		if partial {
			c = header.UpdatePartialChecksum32(c, old, new)
		} else {
			c = mangle0(proto, header.UpdateChecksum32(c, old, new))
		}
		binary.BigEndian.PutUint16(sum, c)
	}
	copy(field, new[:])
}

// port16 writes a port (or an echo identifier) and updates sum for it,
// unless the field is partial: the device adds the ports itself then.
func port16(field []byte, new uint16, sum []byte, partial bool, proto uint8) {
	old := binary.BigEndian.Uint16(field)
	if old == new {
		return
	}
	binary.BigEndian.PutUint16(field, new)
	if sum != nil && !partial {
		binary.BigEndian.PutUint16(sum, mangle0(proto, header.UpdateChecksum16(binary.BigEndian.Uint16(sum), old, new)))
	}
}

// mangle0: an updated UDP checksum of 0 is sent as 0xffff, since 0 means
// "none" (RFC 768; the kernel's CSUM_MANGLED_0).
func mangle0(proto uint8, c uint16) uint16 {
	if c == 0 && proto == header.ProtoUDP {
		return 0xffff
	}
	return c
}
