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

// AFPacketRing is an AFPacket port that receives through a TPACKET_V3
// PACKET_RX_RING: the kernel copies frames into blocks of a ring shared
// with us by mmap, and ReadBatch walks the filled blocks with no system
// call, handing each block back once it has copied every frame out of it.
// Frames still carry the virtio_net_hdr (tpacket_rcv writes it in front of
// the MAC header when PACKET_VNET_HDR is on), so GSO super-frames arrive
// whole, as on the plain port. Writes stay sendmmsg (AFPacket.WriteBatch):
// see docs/performance.md for why no TX ring.
//
// What the ring trades: a TPACKET_V3 socket becomes readable only when a
// block is closed, either full or when its retire timer fires, so a lone
// frame waits for the timer (ringRetireMs) before the worker sees it.
type AFPacketRing struct {
	*AFPacket
	ring   []byte // the mmap'ed blocks
	blocks int
	bsize  int

	// Walk state: only the owning worker reads a port.
	cur  int // block being read
	off  int // offset of the next frame in it; 0: block not started
	left int // frames of cur not yet read

	// state guards the mapping against Close while a worker is inside
	// ReadBatch: 0 idle, 1 reading, 2 closed. One uncontended CAS per
	// batch, not per frame; an unmapped ring read would fault.
	state atomic.Int32

	truncated atomic.Uint64 // frames the ring cut short (never seen with the sizes below)
}

var _ Port = (*AFPacketRing)(nil)

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
)

// Offsets in struct tpacket_block_desc (version, offset_to_priv, then
// tpacket_hdr_v1) and struct tpacket3_hdr.
const (
	bdStatus   = 8
	bdNumPkts  = 12
	bdFirstPkt = 16
)

// OpenAFPacketRing opens a packet socket on ifname in the namespace at
// nsPath, as OpenAFPacket does, and sets up a TPACKET_V3 receive ring.
func OpenAFPacketRing(nsPath, ifname string) (*AFPacketRing, error) {
	r := &AFPacketRing{blocks: ringBlocks, bsize: ringBlockSize}
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
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("TPACKET_V3 refused: %v", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(r.bsize),
		Block_nr:       uint32(r.blocks),
		Frame_size:     ringFrameSize,
		Frame_nr:       uint32(r.bsize / ringFrameSize * r.blocks),
		Retire_blk_tov: ringRetireMs,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("PACKET_RX_RING of %d x %d KiB refused: %v", r.blocks, r.bsize>>10, err)
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

// ReadBatch copies up to len(bufs) frames out of the closed blocks, in
// order, and returns each block to the kernel once it is read to the end.
func (r *AFPacketRing) ReadBatch(bufs [][]byte, sizes []int) (int, error) {
	if !r.state.CompareAndSwap(0, 1) {
		return 0, nil // closed
	}
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
	r.state.Store(0)
	return n, nil
}

// Truncated is how many frames were dropped because the ring held only
// part of them (a frame larger than a block).
func (r *AFPacketRing) Truncated() uint64 { return r.truncated.Load() }

// RingStats reads and resets the kernel's counters of the socket: frames
// it received and frames it dropped because every block was full.
func (r *AFPacketRing) RingStats() (packets, drops uint32, err error) {
	s, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0, 0, err
	}
	return s.Packets, s.Drops, nil
}

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
