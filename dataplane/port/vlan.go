package port

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/header"
)

// 802.1Q on packet sockets. Linux takes a received frame's tag out into
// the skb's metadata (skb_vlan_untag, before any packet socket sees it), so
// recvmmsg hands over the frame without its tag and tells the tag only in a
// PACKET_AUXDATA control message: tp_vlan_tci with TP_STATUS_VLAN_VALID,
// and its TPID with TP_STATUS_VLAN_TPID_VALID. The control buffers are
// allocated with the port, one per batch slot. On the way out a frame
// written to the socket leaves as it is, so a tag is pushed by the writer:
// WriteBatchTagged sends each frame as two pieces, a 26-byte head (the
// virtio_net_hdr with its offsets moved by 4, the addresses, the tag) and
// the rest of the buffer, which is not copied.

// TagOther is what Tags reports for a frame whose tag no trunk carries: a
// service tag (802.1ad) or the reserved VLAN id 4095.
const TagOther = 0xffff

// VLANPort is a port that reports the tags of what it read and can tag
// what it writes: a trunk's device.
type VLANPort interface {
	Port
	// Tags is the tag of each frame of the last ReadBatch, by index: 0
	// untagged (or priority-tagged), 1-4094 a VLAN id, TagOther. nil when
	// no frame of the batch had one. Only the reading worker calls it.
	Tags() []uint16
	// WriteBatchTagged writes the frames as WriteBatch does, each with
	// a tag for vid pushed after its addresses; the buffers are not
	// changed (a flooded frame is shared by every egress).
	WriteBatchTagged(bufs [][]byte, vid uint16) (int, error)
}

var (
	_ VLANPort = (*AFPacket)(nil)
	_ VLANPort = (*Chan)(nil)
)

// sizeofAuxdata is struct tpacket_auxdata's size.
const sizeofAuxdata = int(unsafe.Sizeof(unix.TpacketAuxdata{}))

// auxSpace is one control message of struct tpacket_auxdata.
var auxSpace = unix.CmsgSpace(sizeofAuxdata)

// auxTag reads slot i's control message: the frame's tag as Tags says it.
func (p *AFPacket) auxTag(i int) uint16 {
	h := &p.rmsgs[i].Hdr
	if h.Controllen < uint64(unix.CmsgLen(sizeofAuxdata)) {
		return 0
	}
	c := p.rctl[i*auxSpace : (i+1)*auxSpace]
	cm := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
	if cm.Level != unix.SOL_PACKET || cm.Type != unix.PACKET_AUXDATA {
		return 0
	}
	aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&c[unix.CmsgLen(0)]))
	return tagOf(aux.Status, aux.Vlan_tci, aux.Vlan_tpid)
}

// tagOf turns the tag fields of a tpacket_auxdata (or a ring's frame
// header) into what Tags reports.
func tagOf(status uint32, tci, tpid uint16) uint16 {
	if status&unix.TP_STATUS_VLAN_VALID == 0 {
		return 0
	}
	if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && tpid != header.EtherTypeVLAN {
		return TagOther
	}
	vid := tci & 0x0fff
	if vid > header.VLANMax {
		return TagOther
	}
	return vid // 0: a priority tag, which belongs to the untagged VLAN
}

// Tags implements VLANPort.
func (p *AFPacket) Tags() []uint16 {
	if p.ntag == 0 {
		return nil
	}
	return p.tags
}

// tagScratch holds one tagged sendmmsg's headers and frame heads.
type tagScratch struct {
	msgs  [maxBatch]unix.Mmsghdr
	iovs  [2 * maxBatch]unix.Iovec
	heads [maxBatch][header.TaggedHeadLen]byte
}

var tagPool = sync.Pool{New: func() any { return new(tagScratch) }}

// WriteBatchTagged implements VLANPort: sendmmsg, maxBatch frames a call,
// each as [tagged head][rest of the buffer]. A GSO super-frame keeps its
// virtio_net_hdr, csum_start and hdr_len moved by the 4 bytes of the tag
// (the kernel reads them from the start of the frame as written, and
// segments a tagged skb at the device like an untagged one).
func (p *AFPacket) WriteBatchTagged(bufs [][]byte, vid uint16) (int, error) {
	s := tagPool.Get().(*tagScratch)
	defer tagPool.Put(s)
	const at = header.VirtioNetHdrLen + header.MACsLen
	sent := 0
	var firstErr error
	for len(bufs) > 0 {
		n := 0
		for n < min(len(bufs), maxBatch) {
			b := bufs[n]
			if len(b) < at+2 {
				break // never made by the pipeline; sent as is below
			}
			header.PutTaggedHead(s.heads[n][:], b, vid)
			s.iovs[2*n].Base = &s.heads[n][0]
			s.iovs[2*n].SetLen(header.TaggedHeadLen)
			s.iovs[2*n+1].Base = &b[at]
			s.iovs[2*n+1].SetLen(len(b) - at)
			s.msgs[n].Hdr = unix.Msghdr{Iov: &s.iovs[2*n], Iovlen: 2}
			n++
		}
		if n == 0 {
			if _, err := p.WriteBatch(bufs[:1]); err != nil && firstErr == nil {
				firstErr = err
			}
			bufs = bufs[1:]
			continue
		}
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&s.msgs[0])),
			uintptr(n), unix.MSG_DONTWAIT, 0, 0)
		if e != 0 {
			if firstErr == nil {
				firstErr = e
			}
			bufs = bufs[1:] // the head frame was refused: skip it
			continue
		}
		sent += int(r)
		if int(r) < n {
			bufs = bufs[r+1:]
			continue
		}
		bufs = bufs[n:]
	}
	return sent, firstErr
}

// Tagged is the egress of one VLAN of a trunk: writes to it leave the
// trunk's device tagged with VID. It is never read (the trunk's device is,
// once, for every VLAN) and closing it leaves the device open.
type Tagged struct {
	Dev VLANPort
	VID uint16
}

var _ Port = Tagged{}

func (t Tagged) Fd() int                                           { return t.Dev.Fd() }
func (t Tagged) ReadBatch(bufs [][]byte, sizes []int) (int, error) { return 0, nil }
func (t Tagged) WriteBatch(bufs [][]byte) (int, error)             { return t.Dev.WriteBatchTagged(bufs, t.VID) }
func (t Tagged) Close() error                                      { return nil }

// Tags implements VLANPort for tests: a Chan's frames carry their tags in
// line, where the dataplane finds them.
func (c *Chan) Tags() []uint16 { return nil }

// WriteBatchTagged implements VLANPort: kept frames get the tag in line.
func (c *Chan) WriteBatchTagged(bufs [][]byte, vid uint16) (int, error) {
	c.Written.Add(uint64(len(bufs)))
	if !c.keep {
		return len(bufs), nil
	}
	const at = header.VirtioNetHdrLen + header.MACsLen
	c.mu.Lock()
	for _, b := range bufs {
		f := make([]byte, 0, len(b)+header.VLANTagLen)
		var head [header.TaggedHeadLen]byte
		header.PutTaggedHead(head[:], b, vid)
		c.out = append(c.out, append(append(f, head[:]...), b[at:]...))
	}
	c.mu.Unlock()
	return len(bufs), nil
}
