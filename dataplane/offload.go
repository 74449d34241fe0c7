package dataplane

import (
	"vswitch/dataplane/gso"
	"vswitch/header"
)

// Offloads: what a GSO super-frame or a CHECKSUM_PARTIAL frame needs when
// it cannot leave as it came (ARCHITECTURE.md, Speed 1 and 5). Frames pass
// whole wherever the egress takes them; this file is the exception path:
// segmenting a TCP super-frame whose segments would not fit the next hop,
// and finishing a partial checksum before the frame is cut into fragments.

// segmentLen is the IP length of each segment of a GSO super-frame.
func segmentLen(vh header.VirtioNetHdr, ip header.IPv4) int {
	l4 := ip.HeaderLen()
	switch ip.Protocol() {
	case header.ProtoTCP:
		if t := header.TCP(ip[l4:]); t.Valid() {
			l4 += t.DataOffset()
		}
	case header.ProtoUDP:
		l4 += header.UDPLen
	}
	return l4 + int(vh.GSOSize())
}

// segment cuts a TCP GSO super-frame into the segments of gso_size its
// sender asked for, as the kernel would before a device without TSO, and
// then fragments each one that is still too big for mtu: the packets on the
// wire are exactly those a kernel router would send. Only for a DF-clear
// super-frame whose segments exceed the next hop's MTU (a sender without
// PMTU discovery); every other GSO frame leaves whole. Each segment is built
// in the worker's scratch buffer (package gso, shared with the capture and
// the AF_XDP and VXLAN ports) and copied out, because fragment takes
// buffers from the same pool.
func (w *worker) segment(s *snapshot, v Verdict, buf []byte, mtu int) bool {
	sf, ok := gso.Parse(buf)
	if !ok || header.VirtioNetHdrLen+sf.MaxSegmentLen() > len(w.scratch) {
		return false
	}
	for k := 0; k < sf.Segments(); k++ {
		g := sf.CutBuf(w.scratch, k)
		if len(g)-ethIPOff > mtu {
			if !w.fragment(s, v, g, mtu) {
				return false
			}
			continue
		}
		out := w.genBuf()
		if out == nil {
			return false
		}
		w.apply(s, nil, out[:copy(out, g)], v)
	}
	return true
}

// completeChecksum finishes a CHECKSUM_PARTIAL L4 checksum in software
// (gso.Checksum): over the L4 segment from csum_start up to end, the IP
// packet's end. csum_start must lie at or past l4; false when it does not.
func completeChecksum(buf []byte, l4, end int, proto uint8) bool {
	return gso.Checksum(buf, l4, end, proto)
}
