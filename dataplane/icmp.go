package dataplane

import (
	"net/netip"
	"time"

	"vswitch/header"
)

// The router's own ICMP: echo replies for vswitchd's addresses and the
// errors a router sends (RFC 1812 4.3), rate-limited.

// localInput answers pings to vswitchd's own addresses (gateways, uplink).
func (w *worker) localInput(in *Port, net *Network, buf []byte) Verdict {
	frame := buf[header.VirtioNetHdrLen:]
	ip := header.IPv4(frame[header.EthernetLen:])
	if ip.Protocol() != header.ProtoICMP || ip.IsFragment() {
		return drop(DropLocal)
	}
	icmp := header.ICMPv4(ip.Payload())
	if !icmp.Valid() || icmp.Type() != header.Echo {
		return drop(DropLocal)
	}
	if header.Fold(header.Checksum(icmp, 0)) != 0xffff {
		return drop(DropMalformed) // as Linux drops it: the reply would carry the damage back
	}
	// The request becomes the reply in place (RFC 792): swap addresses,
	// type 0, checksums updated incrementally.
	eth := header.Ethernet(frame)
	eth.SetDst(eth.Src())
	eth.SetSrc(net.L3.GatewayMAC)
	src, dst := ip.Src(), ip.Dst()
	ip.SetSrc(dst)
	ip.SetDst(src)
	ip.SetTTL(64)
	ip.SetChecksum(ip.ComputeChecksum())
	icmp.SetChecksum(header.UpdateChecksum16(icmp.Checksum(), uint16(header.Echo)<<8|uint16(icmp.Code()), uint16(header.EchoReply)<<8|uint16(icmp.Code())))
	icmp.SetType(header.EchoReply)
	header.VirtioNetHdr(buf).Clear()
	return Verdict{Action: ActForward, Port: in.Index, Len: ethIPOff + int(ip.TotalLen())}
}

// icmpError sends an ICMP error about the packet in buf back out of the port
// it came in by, from the gateway of its network, unless RFC 1812 4.3.2.7
// forbids one (about an ICMP error, a non-first fragment, a broadcast or
// multicast, or an invalid source) or the rate limit says no.
func (w *worker) icmpError(in *Port, net *Network, buf []byte, typ, code uint8, mtu uint16) {
	if !mayAnswerWithError(buf) || !w.icmpLimit.allow(w.dp.opts.Now().UnixNano()) {
		if w.tr != nil {
			w.traceICMP(typ, code, false)
		}
		return
	}
	if w.tr != nil {
		w.traceICMP(typ, code, true) // in a dry run it goes to the trace worker's queues, never written
	}
	g := w.genBuf()
	if g == nil {
		return
	}
	n := buildICMPError(g, buf, net.L3.GatewayMAC, net.L3.GatewayIP, typ, code, mtu)
	w.out.add(in.Index, w.id, g[:n], n-header.VirtioNetHdrLen, false)
}

func mayAnswerWithError(buf []byte) bool {
	frame := buf[header.VirtioNetHdrLen:]
	eth := header.Ethernet(frame)
	ip := header.IPv4(frame[header.EthernetLen:])
	src := ip.Src()
	if eth.Dst().IsMulticast() || ip.FragmentOffset() != 0 ||
		src.IsUnspecified() || src.IsMulticast() || src.IsLoopback() || src == limitedBroadcast {
		return false
	}
	if ip.Protocol() == header.ProtoICMP {
		if m := header.ICMPv4(ip[ip.HeaderLen():]); !m.Valid() || m.IsError() {
			return false
		}
	}
	return true
}

// icmpQuoteMax keeps an error within 576 bytes, the size every host must
// accept (RFC 1812 4.3.2.3: as much of the original as fits).
const icmpQuoteMax = 576 - header.IPv4MinLen - header.ICMPv4MinLen

// buildICMPError writes into g a whole buffer (virtio_net_hdr, Ethernet,
// IPv4, ICMP) reporting on the packet in orig, addressed back to its sender,
// and returns its length.
func buildICMPError(g, orig []byte, srcMAC header.MAC, srcIP netip.Addr, typ, code uint8, mtu uint16) int {
	of := orig[header.VirtioNetHdrLen:]
	oip := header.IPv4(of[header.EthernetLen:])
	quote := min(int(oip.TotalLen()), len(oip), icmpQuoteMax)
	header.VirtioNetHdr(g).Clear()
	eth := header.Ethernet(g[header.VirtioNetHdrLen:])
	eth.SetDst(header.Ethernet(of).Src())
	eth.SetSrc(srcMAC)
	eth.SetType(header.EtherTypeIPv4)
	ip := header.IPv4(g[ethIPOff:])
	total := header.IPv4MinLen + header.ICMPv4MinLen + quote
	clear(ip[:header.IPv4MinLen])
	ip.SetHeaderLen(header.IPv4MinLen)
	ip.SetTOS(0xc0) // internetwork control, as Linux sends its errors
	ip.SetTotalLen(uint16(total))
	ip.SetTTL(64)
	ip.SetProtocol(header.ProtoICMP)
	ip.SetSrc(srcIP)
	ip.SetDst(oip.Src())
	ip.SetChecksum(ip.ComputeChecksum())
	m := header.ICMPv4(ip[header.IPv4MinLen:total])
	m.SetType(typ)
	m.SetCode(code)
	m.SetRest(0)
	if typ == header.DestUnreachable && code == header.FragNeeded {
		m.SetMTU(mtu)
	}
	copy(m[header.ICMPv4MinLen:], oip[:quote])
	m.SetChecksum(m.ComputeChecksum())
	return ethIPOff + total
}

// rateLimit is a token bucket for ICMP errors: a burst for traceroute's
// probes, then a steady rate (Linux: icmp_msgs_burst 50, per_sec 1000).
type rateLimit struct {
	tokens float64
	last   int64
}

const (
	icmpBurst  = 50
	icmpPerSec = 1000
)

func (r *rateLimit) allow(now int64) bool {
	if r.last == 0 {
		r.tokens = icmpBurst
	} else {
		r.tokens = min(icmpBurst, r.tokens+float64(now-r.last)*icmpPerSec/float64(time.Second))
	}
	r.last = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}
