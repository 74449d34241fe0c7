package dataplane

import (
	"encoding/binary"
	"net/netip"

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
	sf, ok := parseTCPSuper(buf)
	if !ok || sf.hdrs+sf.mss > len(w.scratch) {
		return false
	}
	for i, off := 0, 0; off < len(sf.payload); i, off = i+1, off+sf.mss {
		g := sf.cut(w.scratch, i, off)
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

// tcpSuper is a TCPv4 GSO super-frame (virtio_net_hdr + Ethernet + IPv4 +
// TCP + payload) read once, so that its segments can be cut one by one:
// by the worker (segment) and by a capture, which writes what a wire would
// carry (capture.go).
type tcpSuper struct {
	buf      []byte
	hl, thl  int // IPv4 and TCP header lengths
	hdrs     int // virtio_net_hdr + Ethernet + IPv4 + TCP
	mss      int
	payload  []byte
	seq      uint32
	flags    uint8
	id       uint16
	src, dst netip.Addr
}

// parseTCPSuper reads buf as a TCPv4 GSO super-frame; false for anything
// else (another GSO type, a bad TCP header, gso_size 0).
func parseTCPSuper(buf []byte) (tcpSuper, bool) {
	vh := header.VirtioNetHdr(buf)
	if len(buf) < ethIPOff+header.IPv4MinLen || vh.GSOType()&^header.VirtioGSOECN != header.VirtioGSOTCPv4 {
		return tcpSuper{}, false
	}
	ip := header.IPv4(buf[ethIPOff:])
	if !ip.Valid() || ip.Protocol() != header.ProtoTCP {
		return tcpSuper{}, false
	}
	hl := ip.HeaderLen()
	tcp := header.TCP(ip[hl:ip.TotalLen()])
	if !tcp.Valid() {
		return tcpSuper{}, false
	}
	thl := tcp.DataOffset()
	sf := tcpSuper{buf: buf, hl: hl, thl: thl, hdrs: ethIPOff + hl + thl, mss: int(vh.GSOSize()),
		payload: ip[hl+thl : ip.TotalLen()], seq: tcp.Seq(), flags: tcp.Flags(), id: ip.ID(), src: ip.Src(), dst: ip.Dst()}
	return sf, sf.mss > 0
}

// cut builds segment i, the payload from off, into dst (which must hold
// hdrs+mss bytes) and returns it: headers copied, virtio_net_hdr cleared,
// IP length, ID and checksum, TCP sequence, flags and a full checksum set.
func (sf *tcpSuper) cut(dst []byte, i, off int) []byte {
	n := min(sf.mss, len(sf.payload)-off)
	g := dst[:sf.hdrs+n]
	copy(g, sf.buf[:sf.hdrs])
	copy(g[sf.hdrs:], sf.payload[off:off+n])
	header.VirtioNetHdr(g).Clear()
	sip := header.IPv4(g[ethIPOff:])
	sip.SetTotalLen(uint16(sf.hl + sf.thl + n))
	sip.SetID(sf.id + uint16(i))
	sip.SetChecksum(sip.ComputeChecksum())
	st := header.TCP(sip[sf.hl:])
	st.SetSeq(sf.seq + uint32(off))
	f := sf.flags
	if off+n < len(sf.payload) {
		f &^= header.TCPFlagFIN | header.TCPFlagPSH
	}
	if off > 0 {
		f &^= header.TCPFlagCWR
	}
	st.SetFlags(f)
	st.SetChecksum(st.ComputeChecksum(sf.src, sf.dst))
	return g
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
