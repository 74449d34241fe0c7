package port

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/dataplane/gso"
	"vswitch/header"
)

// sockaddrLen is the size of the socket addresses the port sends to.
func (p *VXLAN) sockaddrLen() uint32 {
	if p.v6 {
		return unix.SizeofSockaddrInet6
	}
	return unix.SizeofSockaddrInet4
}

// Send-side scratch: any worker may write to the port, so it comes from a
// pool, not the port. Segments of super-frames are cut into seg; every
// datagram is two iovecs, the shared VXLAN header and the frame.
const (
	vxMaxMsgs = 2 * VXLANMaxVTEPs // one segment flooded to every VTEP fits
	vxSegArea = 256 << 10
)

type vxScratch struct {
	msgs  [vxMaxMsgs]unix.Mmsghdr
	iovs  [2 * vxMaxMsgs]unix.Iovec
	owner [vxMaxMsgs]int32  // index of the frame each message carries
	count [vxMaxMsgs]uint16 // datagrams in each message (UDP_SEGMENT: several)
	ctl   [vxMaxMsgs][vxCmsgLen]byte
	seg   [vxSegArea]byte
	n     int // messages queued
	used  int // bytes of seg in use
	// failed marks frames of the batch with a datagram refused.
	failed []bool
}

// vxCmsgLen is one UDP_SEGMENT control message: a cmsghdr and a uint16.
const vxCmsgLen = unix.SizeofCmsghdr + 8

// UDP_SEGMENT limits (include/linux/udp.h, net/ipv4/udp.c): at most 64
// datagrams in one send, and the whole under an IP packet's 64 KiB.
const (
	vxUSOMaxSegs  = 64
	vxUSOMaxBytes = 65000
)

var vxPool = sync.Pool{New: func() any { return new(vxScratch) }}

// WriteBatch encapsulates each frame and sends the datagrams with as few
// sendmmsg calls as the scratch space allows (one for a batch of plain
// frames). It returns how many frames left whole: a frame with a datagram
// the socket refused, or one it could not segment, is not counted.
func (p *VXLAN) WriteBatch(bufs [][]byte) (int, error) {
	if p.closed.Load() {
		return 0, unix.EBADF
	}
	set := p.vteps.Load()
	s := vxPool.Get().(*vxScratch)
	defer vxPool.Put(s)
	s.n, s.used = 0, 0
	if cap(s.failed) < len(bufs) {
		s.failed = make([]bool, len(bufs))
	}
	s.failed = s.failed[:len(bufs)]
	clear(s.failed)
	var firstErr error
	for fi, b := range bufs {
		if len(b) < header.VirtioNetHdrLen+header.EthernetLen {
			s.failed[fi] = true
			continue
		}
		// Where the frame goes: one VTEP, or every one.
		dests := set.live
		var one [1]uint16
		if dst := header.Ethernet(b[header.VirtioNetHdrLen:]).Dst(); !dst.IsMulticast() {
			if slot, ok := p.macs.Lookup(dst.Uint64()); ok && set.get(slot) != nil {
				one[0] = slot
				dests = one[:]
			}
		}
		if len(dests) == 0 {
			continue // nowhere to replicate to: done, as a flood to nobody
		}
		vh := header.VirtioNetHdr(b)
		if !vh.IsGSO() {
			if !gso.FrameChecksum(b) {
				p.drops[VXLANDropCsum].Add(1)
				s.failed[fi] = true
				continue
			}
			if s.n+len(dests) > vxMaxMsgs {
				firstErr = p.flush(s, firstErr)
			}
			p.queue(s, set, dests, b[header.VirtioNetHdrLen:], fi)
			continue
		}
		sf, ok := gso.Parse(b)
		if !ok || header.VXLANLen+sf.MaxSegmentLen() > vxSegArea {
			p.drops[VXLANDropGSO].Add(1)
			s.failed[fi] = true
			continue
		}
		p.TxSegments.Add(uint64(sf.Segments()))
		if !p.noUSO.Load() {
			firstErr = p.queueUSO(s, set, dests, &sf, fi, firstErr)
			continue
		}
		for k := 0; k < sf.Segments(); k++ {
			if s.used+sf.MaxSegmentLen() > vxSegArea || s.n+len(dests) > vxMaxMsgs {
				firstErr = p.flush(s, firstErr)
			}
			g := sf.Cut(s.seg[s.used:], k, false)
			s.used += len(g)
			p.queue(s, set, dests, g, fi)
		}
	}
	firstErr = p.flush(s, firstErr)
	sent := 0
	for _, f := range s.failed {
		if !f {
			sent++
		}
	}
	return sent, firstErr
}

// queue adds one datagram per destination VTEP carrying frame.
func (p *VXLAN) queue(s *vxScratch, set *vtepSet, dests []uint16, frame []byte, owner int) {
	for _, d := range dests {
		v := &set.slots[d]
		i := s.n
		iov := s.iovs[2*i : 2*i+2]
		iov[0].Base = &p.hdr[0]
		iov[0].SetLen(header.VXLANLen)
		iov[1].Base = &frame[0]
		iov[1].SetLen(len(frame))
		name := unsafe.Pointer(&v.sa4)
		if p.v6 {
			name = unsafe.Pointer(&v.sa6)
		}
		s.msgs[i].Hdr = unix.Msghdr{Name: (*byte)(name), Namelen: p.sockaddrLen(), Iov: &iov[0], Iovlen: 2}
		s.msgs[i].Len = 0
		s.owner[i] = int32(owner)
		s.count[i] = 1
		s.n++
	}
}

// queueUSO queues a super-frame's segments as UDP_SEGMENT sends: each
// segment is cut into the scratch area right after a copy of the VXLAN
// header, so that a run of them is one buffer of equal-sized datagrams
// (the last may be shorter), which the kernel splits. One send then costs
// one trip through the UDP and IP layers, not one per segment; over a
// veth the datagrams even cross as one packet. The copy is the one
// segmenting needs anyway.
func (p *VXLAN) queueUSO(s *vxScratch, set *vtepSet, dests []uint16, sf *gso.TCP, owner int, firstErr error) error {
	size := header.VXLANLen + sf.MaxSegmentLen()
	per := min(vxUSOMaxSegs, vxUSOMaxBytes/size)
	for k := 0; k < sf.Segments(); k += per {
		m := min(per, sf.Segments()-k)
		if s.used+m*size > vxSegArea || s.n+len(dests) > vxMaxMsgs {
			firstErr = p.flush(s, firstErr)
		}
		start := s.used
		for j := k; j < k+m; j++ {
			copy(s.seg[s.used:], p.hdr[:])
			g := sf.Cut(s.seg[s.used+header.VXLANLen:], j, false)
			s.used += header.VXLANLen + len(g)
		}
		run := s.seg[start:s.used]
		for _, d := range dests {
			v := &set.slots[d]
			i := s.n
			iov := &s.iovs[2*i]
			iov.Base = &run[0]
			iov.SetLen(len(run))
			name := unsafe.Pointer(&v.sa4)
			if p.v6 {
				name = unsafe.Pointer(&v.sa6)
			}
			h := unix.Msghdr{Name: (*byte)(name), Namelen: p.sockaddrLen(), Iov: iov, Iovlen: 1}
			if m > 1 {
				c := s.ctl[i][:]
				cm := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
				cm.Level, cm.Type = unix.SOL_UDP, unix.UDP_SEGMENT
				cm.SetLen(unix.CmsgLen(2))
				*(*uint16)(unsafe.Pointer(&c[unix.CmsgLen(0)])) = uint16(size)
				h.Control = &c[0]
				h.SetControllen(unix.CmsgSpace(2))
			}
			s.msgs[i].Hdr = h
			s.msgs[i].Len = 0
			s.owner[i] = int32(owner)
			s.count[i] = uint16(m)
			s.n++
		}
	}
	return firstErr
}

// flush sends the queued datagrams; a datagram the socket refuses is
// skipped and counted, and its frame marked failed.
func (p *VXLAN) flush(s *vxScratch, firstErr error) error {
	off := 0
	for off < s.n {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&s.msgs[off])),
			uintptr(s.n-off), unix.MSG_DONTWAIT, 0, 0)
		if e != 0 {
			if firstErr == nil {
				firstErr = e
			}
			r = 0
		}
		for _, c := range s.count[off : off+int(r)] {
			p.TxDatagrams.Add(uint64(c))
		}
		off += int(r)
		if off < s.n {
			// Message off was refused: skip it, go on with the rest. A
			// device that cannot take UDP_SEGMENT (no checksum offload:
			// EIO) turns it off for good; TCP resends what was lost.
			if s.count[off] > 1 && (e == unix.EIO || e == unix.EINVAL) {
				p.noUSO.Store(true)
			}
			p.drops[VXLANDropTxError].Add(uint64(s.count[off]))
			s.failed[s.owner[off]] = true
			off++
		}
	}
	s.n, s.used = 0, 0
	return firstErr
}
