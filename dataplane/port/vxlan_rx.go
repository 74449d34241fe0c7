package port

import (
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/fdb"
	"vswitch/header"
)

// ReadBatch receives up to len(bufs) datagrams with one recvmmsg and turns
// each into a dataplane buffer in place: the VXLAN header lands in the
// bytes of the virtio_net_hdr (2 to 9), the inner frame after it, and the
// header is zeroed once checked.
func (p *VXLAN) ReadBatch(bufs [][]byte, sizes []int) (int, error) {
	n := min(len(bufs), maxBatch)
	const hdrAt = header.VirtioNetHdrLen - header.VXLANLen
	for i := 0; i < n; i++ {
		b := bufs[i]
		iov := p.riovs[2*i : 2*i+2]
		iov[0].Base = &b[hdrAt]
		iov[0].SetLen(header.VXLANLen)
		iov[1].Base = &b[header.VirtioNetHdrLen]
		iov[1].SetLen(len(b) - header.VirtioNetHdrLen)
		p.rmsgs[i].Hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&p.rnames[i])), Namelen: unix.SizeofSockaddrInet6,
			Iov: &iov[0], Iovlen: 2}
		p.rmsgs[i].Len = 0
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&p.rmsgs[0])),
		uintptr(n), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		if e == unix.EAGAIN || e == unix.EINTR {
			return 0, nil
		}
		return 0, fmt.Errorf("recvmmsg vxlan %s: %w", p.local, e)
	}
	set := p.vteps.Load()
	now := p.now()
	got := 0
	for i := 0; i < int(r); i++ {
		b := bufs[i]
		l := int(p.rmsgs[i].Len)
		why := -1
		var slot uint16
		switch h := header.VXLAN(b[hdrAt:header.VirtioNetHdrLen]); {
		case p.rmsgs[i].Hdr.Flags&unix.MSG_TRUNC != 0:
			why = VXLANDropTruncated
		case l < header.VXLANLen+header.EthernetLen:
			why = VXLANDropShort
		case !h.HasVNI():
			why = VXLANDropNoIFlag
		case h.VNI() != p.vni:
			why = VXLANDropUnknownVNI
		default:
			var ok bool
			if slot, ok = set.byAddr[p.sender(i)]; !ok {
				why = VXLANDropUnknownVTEP
			}
		}
		if why < 0 {
			src := header.Ethernet(b[header.VirtioNetHdrLen:]).Src()
			// A multicast or zero source is not learned (Invalid) and the
			// dataplane drops it as bad-src-mac.
			if p.macs.Learn(src.Uint64(), slot, now) == fdb.LimitExceeded {
				why = VXLANDropMACLimit
			}
		}
		if why >= 0 {
			p.drops[why].Add(1)
			continue
		}
		header.VirtioNetHdr(b).Clear()
		if markPartial(b, l-header.VXLANLen) {
			p.RxPartial.Add(1)
			if l-header.VXLANLen > p.innerMTU+header.EthernetLen && markGSO(b, p.innerMTU) {
				p.RxGSO.Add(1)
			}
		}
		if got != i {
			bufs[got], bufs[i] = bufs[i], bufs[got]
		}
		sizes[got] = header.VirtioNetHdrLen + l - header.VXLANLen
		got++
	}
	return got, nil
}

// sender is the source address of received message i.
func (p *VXLAN) sender(i int) netip.Addr {
	if p.v6 {
		return netip.AddrFrom16(p.rnames[i].Addr)
	}
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&p.rnames[i]))
	return netip.AddrFrom4(sa.Addr)
}

// markPartial finds an inner TCP or UDP checksum left partial and marks
// the buffer CHECKSUM_PARTIAL (NEEDS_CSUM, csum_start, csum_offset), as a
// TAP or AF_PACKET would hand such a frame over; n is the frame's length.
//
// Why: a sender's kernel may leave the inner checksum to "the device"
// (CHECKSUM_PARTIAL: the field holds only the pseudo-header sum). On a real
// NIC the device fills it in; over a veth the skb keeps that state into the
// receiving namespace, where Linux's own vxlan trusts it, but a UDP socket
// hands over the bytes without it. Such a field equals the folded
// pseudo-header sum, which is cheap to compute (no pass over the payload).
// Marking the frame NEEDS_CSUM then makes its egress (the container's
// kernel behind a TAP, or gso.FrameChecksum) complete it, and that gives
// the right checksum even in the 1 in 65536 case where a complete checksum
// happens to equal the pseudo-header sum: completing sums the segment with
// the field as it stands, which is what the checksum is. A frame with any
// other value is left alone, so a corrupted one still fails its check.
func markPartial(b []byte, n int) bool {
	const ipAt = header.VirtioNetHdrLen + header.EthernetLen
	if n < header.EthernetLen+header.IPv4MinLen {
		return false
	}
	var src, dst netip.Addr
	var proto uint8
	var l4, end int // in b
	switch header.Ethernet(b[header.VirtioNetHdrLen:]).Type() {
	case header.EtherTypeIPv4:
		ip := header.IPv4(b[ipAt : header.VirtioNetHdrLen+n])
		if !ip.Valid() || ip.IsFragment() {
			return false
		}
		src, dst, proto = ip.Src(), ip.Dst(), ip.Protocol()
		l4, end = ipAt+ip.HeaderLen(), ipAt+int(ip.TotalLen())
	case header.EtherTypeIPv6:
		ip := header.IPv6(b[ipAt : header.VirtioNetHdrLen+n])
		if !ip.Valid() || header.IPv6MinLen+int(ip.PayloadLen()) > len(ip) {
			return false
		}
		src, dst, proto = ip.Src(), ip.Dst(), ip.NextHeader()
		l4, end = ipAt+header.IPv6MinLen, ipAt+header.IPv6MinLen+int(ip.PayloadLen())
	default:
		return false
	}
	off := 0
	switch proto {
	case header.ProtoTCP:
		off = 16
		if end-l4 < header.TCPMinLen {
			return false
		}
	case header.ProtoUDP:
		off = 6
		if end-l4 < header.UDPLen {
			return false
		}
	default:
		return false
	}
	field := uint16(b[l4+off])<<8 | uint16(b[l4+off+1])
	if field == 0 || field != header.Fold(header.PseudoHeaderSum(src, dst, proto, uint16(end-l4))) {
		return false
	}
	vh := header.VirtioNetHdr(b)
	vh.SetFlags(header.VirtioNetHdrFNeedsCsum)
	vh.SetCsumStart(uint16(l4 - header.VirtioNetHdrLen))
	vh.SetCsumOffset(uint16(off))
	return true
}

// markGSO makes a TCP frame longer than the inner MTU, marked partial
// already, a GSO super-frame of segments that fit mtu.
//
// Why: a Linux VTEP hands its vxlan device TCP super-frames, and over a
// veth such a super-frame travels encapsulated whole (SKB_GSO_UDP_TUNNEL);
// a UDP socket receives it as one datagram of up to 64 KB rather than the
// segments a wire would carry. Its gso_size is lost on the way, so the
// segments are cut to the MTU, the size a NIC would have sent. The TCP
// checksum of such a frame is the pseudo-header sum over its whole length,
// as markPartial found it.
func markGSO(b []byte, mtu int) bool {
	const ipAt = header.VirtioNetHdrLen + header.EthernetLen
	vh := header.VirtioNetHdr(b)
	if vh.CsumOffset() != 16 { // not TCP
		return false
	}
	l4 := header.VirtioNetHdrLen + int(vh.CsumStart())
	t := header.TCP(b[l4:])
	if !t.Valid() {
		return false
	}
	typ := uint8(header.VirtioGSOTCPv4)
	if header.Ethernet(b[header.VirtioNetHdrLen:]).Type() == header.EtherTypeIPv6 {
		typ = header.VirtioGSOTCPv6
	}
	if t.Flags()&header.TCPFlagCWR != 0 {
		typ |= header.VirtioGSOECN
	}
	hdrs := l4 - ipAt + t.DataOffset() // IP + TCP
	if mtu <= hdrs {
		return false
	}
	vh.SetGSOType(typ)
	vh.SetGSOSize(uint16(mtu - hdrs))
	vh.SetHdrLen(uint16(l4 - header.VirtioNetHdrLen + t.DataOffset()))
	return true
}
