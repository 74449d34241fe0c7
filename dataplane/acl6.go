package dataplane

import (
	"net/netip"

	"vswitch/header"
	"vswitch/nat"
	"vswitch/policy"
)

// The network ACLs (package policy) for IPv6, as policy.go applies them to
// IPv4: asked of a flow's first packet only, switched inside a network
// (aclSwitched6) or routed into it (aclRouted6); the packets the IPv6
// connection tracker (nat.Table6) knows as part of an allowed flow pass
// without asking, its replies above all. One ACL holds both families'
// rules: a rule's prefixes say which packets it is for (policy.Rule).
//
// Neighbour Discovery and MLD pass every ACL: they are to IPv6 what ARP is
// to IPv4 (which never meets an ACL), and a network whose ACL denies by
// default would otherwise lose IPv6 altogether. What a port may send of
// them is port security's business (guard6.go). Non-first fragments pass,
// as IPv4's do: their first one carried the ports.

// ndOrMLD reports the ICMPv6 types that pass every ACL: MLD (RFC 2710,
// 3810: 130-132, 143) and ND (RFC 4861: 133-137).
func ndOrMLD(typ uint8) bool {
	return (typ >= 130 && typ <= 137) || typ == 143
}

// acl6Key is what a rule matches of an IPv6 packet: the upper-layer
// protocol past the extension headers and, for TCP and UDP, the
// destination port. skip is a packet no ACL judges (ND, MLD, a later
// fragment); bad a header chain cut short.
func acl6Key(ip header.IPv6) (proto uint8, dport uint16, skip, bad bool) {
	ip = ip[:ip6End(ip)]
	proto, off, later, bad := upper6(ip)
	switch {
	case bad:
		return 0, 0, false, true
	case later:
		return proto, 0, true, false
	case proto == header.ProtoICMPv6:
		if off >= len(ip) {
			return proto, 0, false, true
		}
		return proto, 0, ndOrMLD(ip[off]), false
	case (proto == header.ProtoTCP || proto == header.ProtoUDP) && off+4 <= len(ip):
		return proto, uint16(ip[off+2])<<8 | uint16(ip[off+3]), false, false
	}
	return proto, 0, false, false
}

// aclSwitched6 applies the ACL of a network to an IPv6 frame switched
// inside it: the first packet of a flow is judged and, when allowed,
// tracked, so its replies pass whatever the rules say of them.
func (w *worker) aclSwitched6(in *Port, net *Network, buf []byte, now int64) DropReason {
	ip := header.IPv6(buf[ip6Off:])
	if !ip.Valid() {
		return DropMalformed
	}
	proto, dport, skip, bad := acl6Key(ip)
	switch {
	case bad:
		return DropMalformed
	case skip:
		return DropNone
	}
	f := parseFlow6(buf, ip)
	ct := w.dp.ct6
	switch f.kind {
	case flowL4:
		if c, d, ok := ct.LookupAt(f.t, now); ok {
			if w.tr.dry() {
				ok = wouldTrack6(c, d, f.flags, f.t.Proto)
			} else {
				ok = ct.Track(c, d, f.flags, now)
			}
			if ok {
				if w.tr != nil {
					w.tr.add(Step{Stage: StageConntrack, Decision: "hit", CtState: c.State(), Found: true,
						Note: "a tracked IPv6 flow: the ACL was passed at its start"})
				}
				return DropNone
			}
		}
	case flowICMPErr:
		if q, _, ok := quoted6(buf, &f); ok && q.Src == f.t.Dst {
			if _, _, ok := ct.LookupAt(q.Reverse(), now); ok {
				return DropNone // about a flow the ACL let through
			}
		}
	}
	act, _ := w.tr.aclDecide(net.ACL, net.ID, ip.Src(), ip.Dst(), proto, dport)
	if act != policy.Allow {
		return DropACL
	}
	if f.create && !ip.Dst().IsMulticast() {
		if !w.connOK(in, now) {
			return DropConnRate
		}
		w.track6(&f, now)
	}
	return DropNone
}

// track6 creates the conn of a new IPv6 flow an ACL allowed, untranslated;
// a dry run only says it would. A full table lets the flow go on
// untracked: its replies meet the rules.
func (w *worker) track6(f *flow6, now int64) {
	if w.tr.dry() {
		w.tr.add(Step{Stage: StageConntrack, Decision: "would create", Note: "IPv6 flow " + f.t.String() + ", so its replies pass the ACL"})
		return
	}
	c, err := w.dp.ct6.Create(f.t, nat.Rewrite6{}, f.flags, now)
	if err == nil && w.tr != nil {
		w.tr.add(Step{Stage: StageConntrack, Decision: "created", CtState: c.State(), Found: true,
			Note: "IPv6 flow " + c.Orig().String() + ", so its replies pass the ACL"})
	}
}

// aclRouted6 is admit's ACL half (policy.go) for a new routed IPv6 flow
// from network src into out, given isolation's verdict why: an allow rule
// of out's ACL admits what isolation alone would drop, a deny drops it as
// acl; the rules see the packet as it will be delivered (after a
// published port's DNAT). With an ACL on either side the flow is tracked
// (natCommit6), so its replies pass. A non-first fragment, ND and MLD are
// not judged.
func (w *worker) aclRouted6(src, out *Network, ip header.IPv6, p *natPlan6, why DropReason) DropReason {
	if src.ACL != nil || out.ACL != nil {
		p.track = true
	}
	if out.ACL == nil || (why != DropNone && why != DropIsolation) {
		return why
	}
	proto, dport, skip, bad := acl6Key(ip)
	switch {
	case bad:
		return DropMalformed
	case skip:
		return why
	}
	if p.published && (proto == header.ProtoTCP || proto == header.ProtoUDP) {
		dport = p.target.DPort
	}
	act, rule := w.tr.aclDecide(out.ACL, out.ID, netip.AddrFrom16(p.target.Src), netip.AddrFrom16(p.target.Dst), proto, dport)
	switch {
	case why == DropIsolation && act == policy.Allow && rule != nil:
		return DropNone
	case why != DropNone:
		return why
	case act != policy.Allow:
		return DropACL
	}
	return DropNone
}
