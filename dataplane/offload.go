package dataplane

import (
	"encoding/binary"

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
// in the worker's scratch buffer and copied out, because fragment takes
// buffers from the same pool.
func (w *worker) segment(s *snapshot, v Verdict, buf []byte, mtu int) bool {
	vh := header.VirtioNetHdr(buf)
	ip := header.IPv4(buf[ethIPOff:])
	hl := ip.HeaderLen()
	if ip.Protocol() != header.ProtoTCP || vh.GSOType()&^header.VirtioGSOECN != header.VirtioGSOTCPv4 {
		return false
	}
	tcp := header.TCP(ip[hl:ip.TotalLen()])
	if !tcp.Valid() {
		return false
	}
	thl := tcp.DataOffset()
	hdrs := ethIPOff + hl + thl
	payload := ip[hl+thl : ip.TotalLen()]
	mss := int(vh.GSOSize())
	if mss == 0 || hdrs+mss > len(w.scratch) {
		return false
	}
	seq, flags, id := tcp.Seq(), tcp.Flags(), ip.ID()
	src, dst := ip.Src(), ip.Dst()
	for i, off := 0, 0; off < len(payload); i, off = i+1, off+mss {
		n := min(mss, len(payload)-off)
		g := w.scratch[:hdrs+n]
		copy(g, buf[:hdrs])
		copy(g[hdrs:], payload[off:off+n])
		header.VirtioNetHdr(g).Clear()
		sip := header.IPv4(g[ethIPOff:])
		sip.SetTotalLen(uint16(hl + thl + n))
		sip.SetID(id + uint16(i))
		sip.SetChecksum(sip.ComputeChecksum())
		st := header.TCP(sip[hl:])
		st.SetSeq(seq + uint32(off))
		f := flags
		if off+n < len(payload) {
			f &^= header.TCPFlagFIN | header.TCPFlagPSH
		}
		if off > 0 {
			f &^= header.TCPFlagCWR
		}
		st.SetFlags(f)
		st.SetChecksum(st.ComputeChecksum(src, dst))
		if hl+thl+n > mtu {
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

// completeChecksum finishes a CHECKSUM_PARTIAL L4 checksum in software: the
// field holds the pseudo-header sum; the device would add the rest, over
// the L4 segment up to end (the IP packet's end, not the buffer's). The
// virtio header comes from a container, so csum_start must lie at or past
// l4 (the end of the IP header) and the field inside the packet; it reports
// false for one that does not.
func completeChecksum(buf []byte, l4, end int, proto uint8) bool {
	vh := header.VirtioNetHdr(buf)
	if vh.Flags()&header.VirtioNetHdrFNeedsCsum == 0 {
		return true
	}
	start := header.VirtioNetHdrLen + int(vh.CsumStart())
	field := start + int(vh.CsumOffset())
	if start < l4 || field+2 > end || end > len(buf) {
		return false
	}
	c := ^header.Fold(header.Checksum(buf[start:end], 0))
	if c == 0 && proto == header.ProtoUDP {
		c = 0xffff // 0 means "no checksum" in UDP (RFC 768)
	}
	binary.BigEndian.PutUint16(buf[field:], c)
	vh.SetFlags(vh.Flags() &^ header.VirtioNetHdrFNeedsCsum)
	return true
}
