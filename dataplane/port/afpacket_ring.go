package port

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/header"
)

// AFPacketRing is an AFPacket port that receives through a PACKET_RX_RING
// shared with the kernel by mmap: the kernel copies frames into the ring
// and ReadBatch walks the filled part with no system call, handing each
// slot or block back once it has copied the frame out. Frames still carry
// the virtio_net_hdr (tpacket_rcv writes it in front of the MAC header when
// PACKET_VNET_HDR is on), so GSO super-frames arrive whole, as on the plain
// port, and their 802.1Q tags, which the kernel takes out of the frame,
// from each frame header's tp_vlan_tci (or PACKET_AUXDATA for a frame that
// comes through the socket's queue), as Tags reports them on the plain port.
// Writes stay sendmmsg (AFPacket.WriteBatch). Two layouts:
//
//   - RingV3 (TPACKET_V3): variable-size frames packed into blocks big
//     enough for a super-frame. The socket turns readable only when a
//     block is closed, full or by its retire timer (ringRetireMs), so a
//     lone frame waits up to that long: large batches, added latency.
//   - RingV2 (TPACKET_V2): fixed 2 KiB slots, and the socket is woken for
//     every frame as a plain one is. A frame too big for a slot (a GSO
//     super-frame) is queued on the socket whole (PACKET_COPY_THRESH,
//     TP_STATUS_COPY in its slot) and read with recvmsg in its turn.
//
// docs/performance.md has what each measured.
type AFPacketRing struct {
	*AFPacket
	version RingVersion
	ring    []byte // the mmap'ed blocks
	blocks  int    // V3: blocks; V2: slots
	bsize   int    // V3: block size; V2: slot size

	// Walk state: only the owning worker reads a port.
	cur  int // V3: block being read; V2: next slot
	off  int // V3: offset of the next frame in cur; 0: block not started
	left int // V3: frames of cur not yet read

	// state guards the mapping against Close while a worker is inside
	// ReadBatch: 0 idle, 1 reading, 2 closed. One uncontended CAS per
	// batch, not per frame; an unmapped ring read would fault.
	state atomic.Int32

	truncated atomic.Uint64 // frames the ring cut short (never seen with the sizes below)
}

var _ Port = (*AFPacketRing)(nil)

// RingVersion is the ring layout: unix.TPACKET_V2 or unix.TPACKET_V3.
type RingVersion int

const (
	RingV2 RingVersion = unix.TPACKET_V2
	RingV3 RingVersion = unix.TPACKET_V3
)

func (v RingVersion) String() string {
	if v == RingV2 {
		return "TPACKET_V2"
	}
	return "TPACKET_V3"
}

// Ring geometry. A block must hold a whole GSO super-frame: 64 KiB of IP
// packet, the Ethernet header, the virtio_net_hdr and the tpacket3 and
// sockaddr_ll headers in front (about 92 bytes), or the kernel truncates it.
// 256 KiB blocks hold three super-frames or about 1,400 small frames; 32 of
// them (8 MiB) buffer about 5 ms of 10 Gbit/s TCP, a little more than the
// plain socket's 4 MiB receive buffer.
const (
	ringBlockSize = 256 << 10
	ringBlocks    = 32
	ringFrameSize = 2048 // only a unit of the kernel's bookkeeping in V3
	// ringRetireMs closes a block that is not full after this long, which
	// is when its frames become visible. The kernel takes milliseconds
	// only, so 1 is the least; it rounds up to a jiffy (4 ms at HZ=250).
	ringRetireMs = 1

	// V2: 2 KiB slots hold a 1500-byte-MTU frame with its headers; 4096
	// of them (8 MiB) buffer 20 ms of 200 kpps.
	ringSlotSize  = 2048
	ringSlots     = 4096
	ringSlotBlock = 128 << 10 // the kernel allocates slots in blocks
)

// Offsets in struct tpacket_block_desc (version, offset_to_priv, then
// tpacket_hdr_v1) and struct tpacket3_hdr.
const (
	bdStatus   = 8
	bdNumPkts  = 12
	bdFirstPkt = 16
)

// OpenAFPacketRing opens a packet socket on ifname in the namespace at
// nsPath, as OpenAFPacket does, and sets up a receive ring of version v.
func OpenAFPacketRing(nsPath, ifname string, v RingVersion) (*AFPacketRing, error) {
	r := &AFPacketRing{version: v, blocks: ringBlocks, bsize: ringBlockSize}
	if v == RingV2 {
		r.blocks, r.bsize = ringSlots, ringSlotSize
	}
	af, err := openAFPacket(nsPath, ifname, r.setupRing)
	if err != nil {
		if r.ring != nil {
			unix.Munmap(r.ring)
		}
		return nil, err
	}
	r.AFPacket = af
	return r, nil
}

// setupRing runs on the socket before bind: PACKET_VNET_HDR is already on
// (the kernel refuses it once a ring exists).
func (r *AFPacketRing) setupRing(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, int(r.version)); err != nil {
		return fmt.Errorf("%v refused: %v", r.version, err)
	}
	var err error
	if r.version == RingV2 {
		// Frames larger than a slot go to the socket's queue whole.
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_COPY_THRESH, 1); err != nil {
			return fmt.Errorf("PACKET_COPY_THRESH refused: %v", err)
		}
		req := unix.TpacketReq{
			Block_size: ringSlotBlock,
			Block_nr:   uint32(r.blocks * r.bsize / ringSlotBlock),
			Frame_size: uint32(r.bsize),
			Frame_nr:   uint32(r.blocks),
		}
		err = unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req)
	} else {
		req := unix.TpacketReq3{
			Block_size:     uint32(r.bsize),
			Block_nr:       uint32(r.blocks),
			Frame_size:     ringFrameSize,
			Frame_nr:       uint32(r.bsize / ringFrameSize * r.blocks),
			Retire_blk_tov: ringRetireMs,
		}
		err = unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req)
	}
	if err != nil {
		return fmt.Errorf("%v PACKET_RX_RING of %d x %d KiB refused: %v", r.version, r.blocks, r.bsize>>10, err)
	}
	m, err := unix.Mmap(fd, 0, r.bsize*r.blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap of the receive ring: %v", err)
	}
	r.ring = m
	return nil
}

func (r *AFPacketRing) word(off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.ring[off]))
}

// ReadBatch copies up to len(bufs) frames out of the ring, in order, and
// hands what it read back to the kernel.
func (r *AFPacketRing) ReadBatch(bufs [][]byte, sizes []int) (int, error) {
	if !r.state.CompareAndSwap(0, 1) {
		return 0, nil // closed
	}
	var n int
	var err error
	// The tags of this batch (Tags, vlan.go) are set frame by frame. A
	// ring batch may be longer than a socket's (maxBatch): the slots grow
	// once, to the reading worker's batch, which does not change.
	if len(bufs) > len(r.tags) {
		r.tags = make([]uint16, len(bufs))
	}
	r.ntag = 0
	if r.version == RingV2 {
		n, err = r.readV2(bufs, sizes)
	} else {
		n = r.readV3(bufs, sizes)
	}
	r.state.Store(0)
	return n, err
}

// readV3 copies frames out of the closed blocks and returns each block to
// the kernel once it is read to the end.
func (r *AFPacketRing) readV3(bufs [][]byte, sizes []int) int {
	n := 0
	for n < len(bufs) {
		base := r.cur * r.bsize
		if r.off == 0 {
			// The kernel publishes a block by its status word, written
			// after the frames (smp_wmb): the atomic load orders our reads
			// of them after it.
			if atomic.LoadUint32(r.word(base+bdStatus))&unix.TP_STATUS_USER == 0 {
				break
			}
			r.left = int(*r.word(base + bdNumPkts))
			r.off = int(*r.word(base + bdFirstPkt))
		}
		for r.left > 0 && n < len(bufs) {
			h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.ring[base+r.off]))
			snap, mac := int(h.Snaplen), int(h.Mac)
			start := base + r.off + mac - header.VirtioNetHdrLen
			ok := h.Snaplen == h.Len && snap > 0 && header.VirtioNetHdrLen+snap <= len(bufs[n]) &&
				mac >= header.VirtioNetHdrLen && start+header.VirtioNetHdrLen+snap <= base+r.bsize
			if ok {
				sizes[n] = copy(bufs[n], r.ring[start:start+header.VirtioNetHdrLen+snap])
				r.setTag(n, tagOf(h.Status, uint16(h.Hv1.Vlan_tci), h.Hv1.Vlan_tpid))
				n++
			} else {
				r.truncated.Add(1)
			}
			r.left--
			if r.left > 0 {
				r.off += int(h.Next_offset)
			}
		}
		if r.left > 0 {
			break // bufs full, the block is not done
		}
		// Every frame copied out: the block is the kernel's again.
		atomic.StoreUint32(r.word(base+bdStatus), unix.TP_STATUS_KERNEL)
		r.off = 0
		r.cur++
		if r.cur == r.blocks {
			r.cur = 0
		}
	}
	return n
}

// readV2 copies frames out of the filled slots, in order, returning each
// slot as it goes. A slot marked TP_STATUS_COPY stands for a frame too big
// for it, queued on the socket: recvCopies takes it, in its turn.
func (r *AFPacketRing) readV2(bufs [][]byte, sizes []int) (int, error) {
	n := 0
	for n < len(bufs) {
		off := r.cur * r.bsize
		st := atomic.LoadUint32(r.word(off))
		if st&unix.TP_STATUS_USER == 0 {
			break
		}
		h := (*unix.Tpacket2Hdr)(unsafe.Pointer(&r.ring[off]))
		if st&unix.TP_STATUS_COPY != 0 {
			got, _, err := r.recvCopies(bufs[n:], sizes[n:])
			if err != nil {
				return n, err
			}
			n += got
			continue
		} else {
			snap, mac := int(h.Snaplen), int(h.Mac)
			start := off + mac - header.VirtioNetHdrLen
			if h.Snaplen == h.Len && snap > 0 && header.VirtioNetHdrLen+snap <= len(bufs[n]) &&
				mac >= header.VirtioNetHdrLen && mac+snap <= r.bsize {
				sizes[n] = copy(bufs[n], r.ring[start:start+header.VirtioNetHdrLen+snap])
				r.setTag(n, tagOf(st, h.Vlan_tci, h.Vlan_tpid))
				n++
			} else {
				r.truncated.Add(1)
			}
		}
		atomic.StoreUint32(r.word(off), unix.TP_STATUS_KERNEL)
		r.cur++
		if r.cur == r.blocks {
			r.cur = 0
		}
	}
	return n, nil
}

// recvCopies takes the frames of the run of TP_STATUS_COPY slots starting
// at r.cur from the socket's queue with one recvmmsg (the kernel queues
// such a frame before it marks its slot, and in slot order, so the queue's
// head is the first slot's frame), and returns the slots it consumed.
// A bulk TCP stream is all super-frames: this keeps its system calls at
// one per batch, as on the plain socket.
func (r *AFPacketRing) recvCopies(bufs [][]byte, sizes []int) (got, used int, err error) {
	k := 0
	for k < len(bufs) && k < maxBatch {
		st := atomic.LoadUint32(r.word(((r.cur + k) % r.blocks) * r.bsize))
		if st&unix.TP_STATUS_USER == 0 || st&unix.TP_STATUS_COPY == 0 {
			break
		}
		p := &r.rmsgs[k]
		r.riovs[k].Base = &bufs[k][0]
		r.riovs[k].SetLen(len(bufs[k]))
		p.Hdr = unix.Msghdr{Iov: &r.riovs[k], Iovlen: 1, Control: &r.rctl[k*auxSpace]}
		p.Hdr.SetControllen(auxSpace)
		p.Len = 0
		k++
	}
	m, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.rmsgs[0])),
		uintptr(k), unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
	switch {
	case e == unix.EINTR:
		return 0, 0, nil // the slots are still ours: the next call tries again
	case e == unix.EAGAIN:
		// Cannot happen (the frame is queued first); were it lost, skip
		// its slot rather than stall the ring.
		r.truncated.Add(1)
		m = 1
	case e != 0:
		return 0, 0, fmt.Errorf("recvmmsg %s: %w", r.ifname, e)
	default:
		for i := 0; i < int(m); i++ {
			l := int(r.rmsgs[i].Len)
			if r.rmsgs[i].Hdr.Flags&unix.MSG_TRUNC != 0 || l <= header.VirtioNetHdrLen {
				r.truncated.Add(1)
				continue
			}
			if got != i {
				bufs[got], bufs[i] = bufs[i], bufs[got]
			}
			sizes[got] = l
			r.setTag(got, r.auxTag(i)) // the queue's frames tell theirs in PACKET_AUXDATA
			got++
		}
	}
	for i := 0; i < int(m); i++ {
		atomic.StoreUint32(r.word(r.cur*r.bsize), unix.TP_STATUS_KERNEL)
		r.cur++
		if r.cur == r.blocks {
			r.cur = 0
		}
	}
	return got, int(m), nil
}

// setTag records frame i's 802.1Q tag (Tags, vlan.go): the ring's frame
// header carries it as tpacket_auxdata does (the kernel took the tag out of
// the frame before the ring saw it), and without it a tagged frame would
// pass for an untagged one.
func (r *AFPacketRing) setTag(i int, tag uint16) {
	if i >= len(r.tags) {
		return // never: ReadBatch grew the slots to the batch
	}
	if r.tags[i] = tag; tag != 0 {
		r.ntag++
	}
}

// Truncated is how many frames were dropped because the ring held only
// part of them (V3: a frame larger than a block; V2: one too big for a
// slot that the socket's full queue could not take whole).
func (r *AFPacketRing) Truncated() uint64 { return r.truncated.Load() }

// Close unmaps the ring, once no worker is inside ReadBatch, and closes
// the socket.
func (r *AFPacketRing) Close() error {
	for !r.state.CompareAndSwap(0, 2) {
		if r.state.Load() == 2 {
			return nil
		}
		runtime.Gosched()
		time.Sleep(10 * time.Microsecond)
	}
	err := r.AFPacket.Close()
	if r.ring != nil {
		if merr := unix.Munmap(r.ring); merr != nil && err == nil {
			err = merr
		}
		r.ring = nil
	}
	return err
}
