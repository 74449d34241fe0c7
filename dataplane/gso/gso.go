package gso

import (
	"encoding/binary"
	"net/netip"

	"vswitch/header"
)

// ipOff is where the IP header starts in a dataplane buffer:
// virtio_net_hdr, then an untagged Ethernet header.
const ipOff = header.VirtioNetHdrLen + header.EthernetLen

// TCP is a TCP GSO super-frame (virtio_net_hdr + Ethernet + IPv4 or IPv6 +
// TCP + payload) read once, so that its segments can be cut one by one.
type TCP struct {
	buf      []byte
	v6       bool
	hl, thl  int // IP and TCP header lengths
	hdrs     int // Ethernet + IP + TCP: what every segment repeats
	mss      int
	payload  []byte
	seq      uint32
	flags    uint8
	id       uint16
	src, dst netip.Addr
}

// Parse reads buf (virtio_net_hdr + frame) as a TCPv4 or TCPv6 GSO
// super-frame; false for anything else: another GSO type, a header that
// does not fit or does not agree with the GSO type, IPv6 extension headers
// (the TCP header must follow the fixed header), gso_size 0.
func Parse(buf []byte) (TCP, bool) {
	if len(buf) < ipOff+header.IPv4MinLen {
		return TCP{}, false
	}
	vh := header.VirtioNetHdr(buf)
	eth := header.Ethernet(buf[header.VirtioNetHdrLen:])
	var sf TCP
	var l4 []byte
	switch vh.GSOType() &^ header.VirtioGSOECN {
	case header.VirtioGSOTCPv4:
		ip := header.IPv4(buf[ipOff:])
		if eth.Type() != header.EtherTypeIPv4 || !ip.Valid() || ip.Protocol() != header.ProtoTCP {
			return TCP{}, false
		}
		sf.hl, sf.id, sf.src, sf.dst = ip.HeaderLen(), ip.ID(), ip.Src(), ip.Dst()
		l4 = ip[sf.hl:ip.TotalLen()]
	case header.VirtioGSOTCPv6:
		ip := header.IPv6(buf[ipOff:])
		if eth.Type() != header.EtherTypeIPv6 || !ip.Valid() || ip.NextHeader() != header.ProtoTCP ||
			header.IPv6MinLen+int(ip.PayloadLen()) > len(ip) {
			return TCP{}, false
		}
		sf.v6, sf.hl, sf.src, sf.dst = true, header.IPv6MinLen, ip.Src(), ip.Dst()
		l4 = ip.Payload()
	default:
		return TCP{}, false
	}
	tcp := header.TCP(l4)
	if !tcp.Valid() {
		return TCP{}, false
	}
	sf.buf, sf.thl = buf, tcp.DataOffset()
	sf.hdrs = header.EthernetLen + sf.hl + sf.thl
	sf.mss = int(vh.GSOSize())
	sf.payload = l4[sf.thl:]
	sf.seq, sf.flags = tcp.Seq(), tcp.Flags()
	return sf, sf.mss > 0
}

// HeaderLen is the length of the headers every segment carries: Ethernet,
// IP and TCP (options included).
func (sf *TCP) HeaderLen() int { return sf.hdrs }

// TCPOffset is where the TCP header starts in a segment (an Ethernet
// frame): csum_start for a device that completes a partial checksum.
func (sf *TCP) TCPOffset() int { return header.EthernetLen + sf.hl }

// MSS is the payload of every segment but the last (gso_size).
func (sf *TCP) MSS() int { return sf.mss }

// Segments is how many segments the super-frame becomes.
func (sf *TCP) Segments() int { return (len(sf.payload) + sf.mss - 1) / sf.mss }

// MaxSegmentLen is the Ethernet length of the largest segment, what a
// buffer given to Cut must hold.
func (sf *TCP) MaxSegmentLen() int { return sf.hdrs + min(sf.mss, len(sf.payload)) }

// Cut builds segment k (payload from k*MSS on) as an Ethernet frame into
// dst, which must hold MaxSegmentLen bytes, and returns it. The IP total
// length (IPv4) or payload length (IPv6), the IPv4 ID (the super-frame's
// plus k) and header checksum, the TCP sequence number and flags are set
// as the kernel's tcp_gso_segment sets them: FIN and PSH only on the last
// segment, CWR only on the first. With partial the TCP checksum field gets
// the pseudo-header sum, for a device to complete from the TCP header on
// (CHECKSUM_PARTIAL); otherwise the full checksum.
func (sf *TCP) Cut(dst []byte, k int, partial bool) []byte {
	off := k * sf.mss
	n := min(sf.mss, len(sf.payload)-off)
	g := dst[:sf.hdrs+n]
	copy(g, sf.buf[header.VirtioNetHdrLen:header.VirtioNetHdrLen+sf.hdrs])
	copy(g[sf.hdrs:], sf.payload[off:off+n])
	ipb := g[header.EthernetLen:]
	if sf.v6 {
		binary.BigEndian.PutUint16(ipb[4:6], uint16(sf.thl+n))
	} else {
		ip := header.IPv4(ipb)
		ip.SetTotalLen(uint16(sf.hl + sf.thl + n))
		ip.SetID(sf.id + uint16(k))
		ip.SetChecksum(ip.ComputeChecksum())
	}
	t := header.TCP(ipb[sf.hl:])
	t.SetSeq(sf.seq + uint32(off))
	f := sf.flags
	if off+n < len(sf.payload) {
		f &^= header.TCPFlagFIN | header.TCPFlagPSH
	}
	if k > 0 {
		f &^= header.TCPFlagCWR
	}
	t.SetFlags(f)
	if partial {
		t.SetChecksum(header.Fold(header.PseudoHeaderSum(sf.src, sf.dst, header.ProtoTCP, uint16(sf.thl+n))))
	} else {
		t.SetChecksum(t.ComputeChecksum(sf.src, sf.dst))
	}
	return g
}

// CutBuf is Cut for a dataplane buffer: a cleared virtio_net_hdr (a plain,
// complete frame) and then segment k with its full checksum. dst must hold
// VirtioNetHdrLen + MaxSegmentLen bytes.
func (sf *TCP) CutBuf(dst []byte, k int) []byte {
	header.VirtioNetHdr(dst).Clear()
	g := sf.Cut(dst[header.VirtioNetHdrLen:], k, false)
	return dst[:header.VirtioNetHdrLen+len(g)]
}

// Checksum completes a CHECKSUM_PARTIAL L4 checksum (virtio_net_hdr flag
// NEEDS_CSUM) in place, as a device would: the field at csum_start +
// csum_offset holds the pseudo-header sum, the rest is summed over
// [csum_start, end), end being the IP packet's end (not the buffer's, which
// may carry Ethernet padding). The virtio header comes from a container, so
// csum_start must lie at or past l4 (the end of the IP header) and the
// field inside the packet; false for one that does not. A frame without
// the flag is left alone (true). proto UDP turns a computed 0 into 0xffff.
func Checksum(buf []byte, l4, end int, proto uint8) bool {
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

// FrameChecksum is Checksum for a whole dataplane buffer: it finds the L4
// start and the packet's end from the IPv4 or IPv6 header (IPv6 extension
// headers are allowed: csum_start says where L4 begins). false for a frame
// marked NEEDS_CSUM that is neither, or whose offsets are out of bounds.
func FrameChecksum(buf []byte) bool {
	if len(buf) < header.VirtioNetHdrLen || header.VirtioNetHdr(buf).Flags()&header.VirtioNetHdrFNeedsCsum == 0 {
		return true
	}
	if len(buf) < ipOff+header.IPv4MinLen {
		return false
	}
	switch header.Ethernet(buf[header.VirtioNetHdrLen:]).Type() {
	case header.EtherTypeIPv4:
		ip := header.IPv4(buf[ipOff:])
		if !ip.Valid() {
			return false
		}
		return Checksum(buf, ipOff+ip.HeaderLen(), ipOff+int(ip.TotalLen()), ip.Protocol())
	case header.EtherTypeIPv6:
		ip := header.IPv6(buf[ipOff:])
		if !ip.Valid() || header.IPv6MinLen+int(ip.PayloadLen()) > len(ip) {
			return false
		}
		return Checksum(buf, ipOff+header.IPv6MinLen, ipOff+header.IPv6MinLen+int(ip.PayloadLen()), ip.NextHeader())
	}
	return false
}
