package dataplane

import (
	"errors"
	"fmt"
	"net/netip"

	"vswitch/arp"
	"vswitch/header"
)

// The IPv6 side of trace's frames: a dry run can send an ICMPv6 echo
// request or a neighbour solicitation into a network, and a trace shows
// an IPv6 frame's addresses and ICMPv6 type. A routed IPv6 packet's steps
// (route6.go) are the IPv4 stages' (route, isolation, ttl, mtu,
// neighbour, egress, icmp) with IPv6's reasons in their notes.

// buildFrame6 is BuildFrame for IPv6: an echo request (hop limit 64) to
// Dst, or with spec.NS a neighbour solicitation for Dst sent, as a host
// sends it, to Dst's solicited-node group with hop limit 255 and the
// source link-layer option.
func buildFrame6(spec TraceSpec) ([]byte, error) {
	if !spec.Src.Is6() || !spec.Dst.Is6() || spec.Src.Is4In6() || spec.Dst.Is4In6() {
		return nil, errors.New("trace needs both addresses IPv4 or both IPv6")
	}
	var mlen int
	switch {
	case spec.NS:
		mlen = header.NDNSLen + header.NDOptLLAddrLen
	case spec.Proto == header.ProtoICMPv6:
		mlen = header.ICMPv6MinLen + 4
	default:
		return nil, fmt.Errorf("protocol %d: an IPv6 trace builds an ICMPv6 echo or a neighbour solicitation", spec.Proto)
	}
	f := make([]byte, header.EthernetLen+header.IPv6MinLen+mlen)
	eth := header.Ethernet(f)
	eth.SetSrc(spec.SrcMAC)
	eth.SetDst(spec.DstMAC)
	eth.SetType(header.EtherTypeIPv6)
	ip := header.IPv6(f[header.EthernetLen:])
	dst, hop := spec.Dst, uint8(64)
	if spec.NS {
		dst, hop = header.SolicitedNode(spec.Dst), header.NDHopLimit
	}
	ip.Init(uint16(mlen), header.ProtoICMPv6, hop)
	ip.SetSrc(spec.Src)
	ip.SetDst(dst)
	m := header.ICMPv6(ip[header.IPv6MinLen:])
	if spec.NS {
		m.SetType(header.ICMPv6NeighSolicit)
		t := spec.Dst.As16()
		copy(m[8:24], t[:])
		header.PutNDLLAddr(m[header.NDNSLen:], header.NDOptSrcLLAddr, spec.SrcMAC)
	} else {
		m.SetType(header.ICMPv6EchoRequest)
		m[4], m[5] = byte(spec.SPort>>8), byte(spec.SPort)
		m[7] = 1 // sequence 1
		copy(m[header.ICMPv6MinLen:], "tRcE")
	}
	m.SetChecksum(m.ComputeChecksum(spec.Src, dst))
	return f, nil
}

// frameInfo6 fills what a trace shows of an IPv6 frame: addresses, the
// upper-layer protocol, hop limit (in TTL), the TCP or UDP ports and the
// ICMPv6 type (echo: its identifier).
func frameInfo6(frame []byte, fi *FrameInfo) {
	ip := header.IPv6(frame[header.EthernetLen:])
	if !ip.Valid() {
		return
	}
	fi.Src, fi.Dst, fi.Proto, fi.TTL = ip.Src(), ip.Dst(), ip.NextHeader(), ip.HopLimit()
	// The upper-layer header past any extension headers (guard6.go's
	// walk): an RA behind a destination options header shows as one.
	proto, off, later, bad := upper6(ip[:ip6End(ip)])
	if bad || later {
		return
	}
	fi.Proto = proto
	l4 := ip[off:ip6End(ip)]
	switch {
	case (proto == header.ProtoTCP || proto == header.ProtoUDP) && len(l4) >= 4:
		fi.SPort, fi.DPort = header.UDP(l4).SrcPort(), header.UDP(l4).DstPort()
	case proto == header.ProtoICMPv6 && len(l4) >= header.ICMPv6MinLen:
		m := header.ICMPv6(l4)
		fi.ICMPType = m.Type()
		if m.Type() == header.ICMPv6EchoRequest || m.Type() == header.ICMPv6EchoReply {
			fi.SPort = uint16(m[4])<<8 | uint16(m[5])
			fi.DPort = fi.SPort
		}
	}
}

// traceICMP6 is traceICMP for the router's ICMPv6 errors (route6.go).
func (w *worker) traceICMP6(typ, code uint8, sent bool) {
	st := Step{Stage: StageICMP, ICMPType: typ, ICMPCode: code, Decision: "sent"}
	switch {
	case w.tr.dry() && sent:
		st.Decision = "would-send"
	case !sent:
		st.Decision, st.Note = "not-sent", "not about this packet (RFC 4443 2.4 e) or over the rate limit"
	}
	w.tr.add(st)
}

// wouldResolve6 is wouldResolve for an IPv6 next hop: queued while a
// neighbour solicitation would go out, or dropped when the entry's queue
// is full or the next hop is no address the table takes.
func (w *worker) wouldResolve6(nh netip.Addr, now int64) Verdict {
	if nh.IsMulticast() || nh.IsLinkLocalUnicast() || nh.IsUnspecified() || nh.IsLoopback() {
		return drop(DropNotRoutable)
	}
	for _, e := range w.dp.arp.Entries(now) {
		if e.IP == nh && e.State == arp.Incomplete && e.Queued >= w.dp.arp.Config().QueueLen {
			return drop(DropARPQueueFull)
		}
	}
	return Verdict{Action: ActConsumed}
}
