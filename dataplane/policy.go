package dataplane

import (
	"net/netip"
	"slices"

	"vswitch/header"
	"vswitch/nat"
	"vswitch/policy"
)

// Docker's isolation policy without iptables: which networks may reach
// which, icc=false, internal networks, and the per-network ACLs (package
// policy) on what is delivered to a network's ports. All of it is asked of
// the first packet of a flow only; the packets of a tracked flow pass.

// isolation is the rule between the network a new flow comes from and the
// one its route leads to (Docker's DOCKER-ISOLATION-STAGE-1/2 chains).
func isolation(src, dst *Network) DropReason {
	switch {
	case src.ID == dst.ID:
		return DropNone
	case dst.L3.Uplink:
		if src.L3.Internal {
			return DropInternalNet
		}
		return DropNone
	case src.L3.Uplink:
		if dst.L3.Internal {
			return DropInternalNet
		}
		if dst.L3.Masquerade {
			return DropIsolation // reachable from outside only through published ports
		}
		return DropNone
	case slices.Contains(src.L3.Connected, dst.ID):
		return DropNone
	}
	return DropIsolation
}

// admit decides a new routed flow from network src to network out. A
// published port is open to every network, as Docker's -p is, and to
// containers of its own network with icc=false; an allow rule of the
// destination network's ACL admits what isolation alone would drop
// (ARCHITECTURE.md, "Isolation").
// tr, when the packet is traced, records isolation and the ACL's rule.
func admit(src, out *Network, f *flow, p *natPlan, tr *tracer) DropReason {
	why := DropNone
	if p.published && src.L3.Internal && out.ID != src.ID {
		return DropInternalNet // an internal network has no way out, not even to a published port
	}
	if !p.published {
		why = isolation(src, out)
		if why == DropNone && out.ID == src.ID && src.L3.NoICC {
			why = DropICC // hairpin through the gateway is still container to container
		}
	}
	if tr != nil {
		tr.isolation(src, out, why, p.published)
	}
	if out.ACL == nil || f.kind == flowFragment || (why != DropNone && why != DropIsolation) {
		return why
	}
	act, rule := tr.aclDecide(out.ACL, out.ID, netip.AddrFrom4(p.target.Src), netip.AddrFrom4(p.target.Dst), f.t.Proto, aclPort(f, p.target))
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

// aclPort is the destination port an ACL matches: none for ICMP.
func aclPort(f *flow, t nat.Tuple) uint16 {
	if f.t.Proto == header.ProtoICMP {
		return 0
	}
	return t.DPort
}

// aclSwitched applies the ACL of a network to an IPv4 frame switched
// inside it. The first packet of a flow is judged and, when allowed,
// tracked, so its replies pass whatever the rules say of them. Non-first
// fragments pass: their ports are in the first one.
func (w *worker) aclSwitched(in *Port, net *Network, buf []byte, now int64) DropReason {
	ip := header.IPv4(buf[ethIPOff:])
	if !ip.Valid() {
		return DropMalformed
	}
	f := parseFlow(buf, ip)
	ct := w.dp.ct
	switch f.kind {
	case flowFragment:
		return DropNone
	case flowL4:
		if c, d, ok := ct.LookupAt(f.t, now); ok && w.track(c, d, f.flags, now) {
			if w.tr != nil {
				w.tr.add(Step{Stage: StageConntrack, Decision: "hit", Conn: c.Orig, Reply: c.Reply, CtState: c.State(), Found: true,
					Note: "a tracked flow: the ACL was passed at its start"})
			}
			return DropNone
		}
	case flowICMPErr:
		if q, _, ok := quoted(buf, &f); ok && q.Src == f.t.Dst {
			if _, _, ok := ct.LookupAt(q.Reverse(), now); ok {
				return DropNone // about a flow the ACL let through
			}
		}
	}
	act, _ := w.tr.aclDecide(net.ACL, net.ID, ip.Src(), ip.Dst(), f.t.Proto, aclPort(&f, f.t))
	if act != policy.Allow {
		return DropACL
	}
	if f.create && !ip.Dst().IsMulticast() && ip.Dst() != limitedBroadcast {
		if !w.connOK(in, now) {
			return DropConnRate
		}
		// Full table: the flow goes on untracked, and its replies meet the rules.
		w.create(f.t, nat.Rewrite{}, f.flags, now)
	}
	return DropNone
}
