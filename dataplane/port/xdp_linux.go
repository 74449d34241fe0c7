package port

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"vswitch/dataplane/gso"
	"vswitch/header"
	"vswitch/internal/netns"
)

// XDP is an AF_XDP socket on an existing interface (a veth end): a tiny XDP
// program attached to the device redirects every frame of its queue 0 into
// the socket's rx ring, and frames for the device go out through its tx
// ring. Frames move through shared memory (the UMEM) in rings, so a batch
// costs no system call on receive and one sendto on transmit, instead of a
// recvmmsg/sendmmsg that walks every frame through a socket buffer.
//
// veth has no zero-copy AF_XDP, so the socket is bound in copy mode: the
// kernel copies each frame between its skb and the UMEM, and this port
// copies it once more between the UMEM and the worker's buffer (the Port
// contract is the worker's buffers). What is saved against AF_PACKET is the
// per-frame socket work, not the copies.
//
// Offloads. A veth whose peer runs an XDP program loses its software GSO
// (veth_fix_features), so the peer's stack segments super-frames before
// they cross and every received frame fits one UMEM frame. Their TCP/UDP
// checksums may still be partial (the peer's CHECKSUM_PARTIAL skb carries
// only the pseudo-header sum, and AF_XDP hands over no skb state), so the
// port marks every received TCP/UDP-over-IPv4 frame VIRTIO_NET_HDR_F_NEEDS_CSUM
// with the pseudo-header sum written in, as a TAP would hand it over; the
// egress, or the receiving kernel, finishes it. On transmit such a frame's
// checksum request goes to the kernel as AF_XDP tx metadata
// (XDP_TXMD_FLAGS_CHECKSUM), which makes the skb CHECKSUM_PARTIAL again. A
// GSO super-frame written to the port is cut into TCP segments here, as the
// kernel would before a device without TSO; what cannot be cut or does not
// fit a frame is refused and counted (TxTooBig).
type XDP struct {
	ifname  string
	ifindex int
	mac     header.MAC
	nsPath  string

	fd     int // the AF_XDP socket
	mapFd  int // XSKMAP: queue index -> socket
	progFd int // the redirect program
	umem   []byte
	closed atomic.Bool

	fill, comp xskRing // addresses (uint64)
	rx, tx     xskRing // descriptors (unix.XDPDesc)

	// Only the owning worker reads: rx and fill need no lock.
	// Any worker may write: tx, comp and the free tx frames are behind txMu.
	txMu   sync.Mutex
	txFree []uint64 // UMEM addresses of tx frames not in flight

	// Counters a caller may read at any time.
	TxTooBig   atomic.Uint64 // frames refused: larger than a UMEM frame and not a TCP super-frame
	TxRingFull atomic.Uint64 // frames refused: every tx frame in flight
	RxCsum     atomic.Uint64 // received TCP/UDP frames marked NEEDS_CSUM
	TxSegments atomic.Uint64 // segments cut from super-frames written here
}

var _ Port = (*XDP)(nil)

// UMEM layout: xdpFrames frames of xdpFrameSize bytes, the first half for
// receiving (all of them posted on the fill ring), the second for sending.
// Every ring has xdpRingSize entries, as many as the frames it carries, so
// the fill ring always has room for a frame handed back.
const (
	xdpFrameSize = 4096
	xdpRingSize  = 1024
	xdpFrames    = 2 * xdpRingSize
	// xdpTxHeadroom is where a tx frame's data starts in its UMEM frame;
	// the tx metadata sits just before it.
	xdpTxHeadroom = 256
	// XDPMaxFrame is the largest frame (Ethernet, no virtio_net_hdr) the port
	// sends in one UMEM frame.
	XDPMaxFrame = xdpFrameSize - xdpTxHeadroom
	// xdpTxMetaLen is struct xsk_tx_metadata: flags u64, then the request
	// (csum_start u16, csum_offset u16, launch_time u64).
	xdpTxMetaLen = 24
	// xdpTxBudget asks the kernel to send up to this many frames per sendto
	// (XDP_MAX_TX_SKB_BUDGET; 32 when the kernel does not take it).
	xdpTxBudget = 256
	// xdpMaxSegs bounds the segments of one super-frame (64 KiB / 536).
	xdpMaxSegs = 128
)

// xskRing is one of the four rings the kernel shares with us: a producer
// and a consumer index (free-running u32) and a power-of-two array.
type xskRing struct {
	mem      []byte
	producer *uint32
	consumer *uint32
	flags    *uint32
	descs    unsafe.Pointer
	mask     uint32
}

func (r *xskRing) addr(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(r.descs, uintptr(i&r.mask)*8))
}

func (r *xskRing) desc(i uint32) *unix.XDPDesc {
	return (*unix.XDPDesc)(unsafe.Add(r.descs, uintptr(i&r.mask)*unsafe.Sizeof(unix.XDPDesc{})))
}

func (r *xskRing) needsWakeup() bool {
	return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0
}

// OpenXDP attaches an AF_XDP port to interface ifname in the namespace at
// nsPath: it loads the redirect program, attaches it in native (driver)
// mode, and binds a copy-mode socket to queue 0. On any failure everything
// made so far is undone.
func OpenXDP(nsPath, ifname string) (*XDP, error) {
	p := &XDP{ifname: ifname, nsPath: nsPath, fd: -1, mapFd: -1, progFd: -1}
	err := netns.Do(nsPath, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return fmt.Errorf("no interface %q in namespace %s: check 'ip link' there", ifname, nsPath)
		}
		p.ifindex = ifi.Index
		copy(p.mac[:], ifi.HardwareAddr)
		link, err := netlink.LinkByIndex(p.ifindex)
		if err != nil {
			return fmt.Errorf("interface %s: %v", ifname, err)
		}
		attachFlags := unix.XDP_FLAGS_DRV_MODE | unix.XDP_FLAGS_UPDATE_IF_NOEXIST
		if x := link.Attrs().Xdp; x != nil && x.Attached {
			// A vswitchd that was killed leaves its program behind (its
			// socket gone, so frames fall through to the stack): take it
			// over. Anyone else's program stays.
			if progName(x.ProgId) != xdpProgName {
				return fmt.Errorf("%s already has an XDP program: remove it ('ip link set %s xdp off') or attach with --kind afpacket", ifname, ifname)
			}
			attachFlags = unix.XDP_FLAGS_DRV_MODE
		}
		// The socket binds in the namespace it was made in.
		fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("cannot open an AF_XDP socket (kernel without CONFIG_XDP_SOCKETS, or no CAP_NET_RAW): %v", err)
		}
		p.fd = fd
		if err := p.setupSocket(); err != nil {
			return err
		}
		if err := p.setupProgram(); err != nil {
			return err
		}
		if err := netlink.LinkSetXdpFdWithFlags(link, p.progFd, attachFlags); err != nil {
			if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("%s already has an XDP program: remove it ('ip link set %s xdp off') or attach with --kind afpacket", ifname, ifname)
			}
			return fmt.Errorf("cannot attach XDP in native mode to %s (a veth or a driver with XDP is needed; its MTU must fit a page): %v", ifname, err)
		}
		return nil
	})
	if err != nil {
		p.release(false)
		return nil, err
	}
	return p, nil
}

// setupSocket registers the UMEM, sizes and maps the rings, binds the
// socket to queue 0 in copy mode, and posts every rx frame to the fill ring.
func (p *XDP) setupSocket() error {
	var err error
	p.umem, err = unix.Mmap(-1, 0, xdpFrames*xdpFrameSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("cannot map %d KiB for the AF_XDP UMEM: %v", xdpFrames*xdpFrameSize>>10, err)
	}
	reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&p.umem[0]))), Len: uint64(len(p.umem)),
		Size: xdpFrameSize, Tx_metadata_len: xdpTxMetaLen, Flags: unix.XDP_UMEM_TX_METADATA_LEN}
	if err := setsockopt(p.fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		if err == unix.ENOBUFS {
			return fmt.Errorf("XDP_UMEM_REG on %s: the %d KiB UMEM is over the locked-memory limit (RLIMIT_MEMLOCK; CAP_IPC_LOCK lifts it)", p.ifname, len(p.umem)>>10)
		}
		return fmt.Errorf("XDP_UMEM_REG on %s: %v", p.ifname, err)
	}
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING, unix.XDP_TX_RING} {
		if err := unix.SetsockoptInt(p.fd, unix.SOL_XDP, opt, xdpRingSize); err != nil {
			return fmt.Errorf("AF_XDP ring size (option %d) on %s: %v", opt, p.ifname, err)
		}
	}
	// Optional: more frames per sendto than the default 32.
	_ = unix.SetsockoptInt(p.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, xdpTxBudget)

	var off unix.XDPMmapOffsets
	l := uint32(unsafe.Sizeof(off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(p.fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&l)), 0); e != 0 {
		return fmt.Errorf("XDP_MMAP_OFFSETS on %s: %v", p.ifname, e)
	}
	descSize := uint64(unsafe.Sizeof(unix.XDPDesc{}))
	maps := []struct {
		r    *xskRing
		o    unix.XDPRingOffset
		pg   int64
		elem uint64
	}{
		{&p.fill, off.Fr, unix.XDP_UMEM_PGOFF_FILL_RING, 8},
		{&p.comp, off.Cr, unix.XDP_UMEM_PGOFF_COMPLETION_RING, 8},
		{&p.rx, off.Rx, unix.XDP_PGOFF_RX_RING, descSize},
		{&p.tx, off.Tx, unix.XDP_PGOFF_TX_RING, descSize},
	}
	for _, m := range maps {
		mem, err := unix.Mmap(p.fd, m.pg, int(m.o.Desc+xdpRingSize*m.elem), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return fmt.Errorf("cannot map an AF_XDP ring of %s: %v", p.ifname, err)
		}
		*m.r = xskRing{mem: mem, mask: xdpRingSize - 1,
			producer: (*uint32)(unsafe.Pointer(&mem[m.o.Producer])),
			consumer: (*uint32)(unsafe.Pointer(&mem[m.o.Consumer])),
			flags:    (*uint32)(unsafe.Pointer(&mem[m.o.Flags])),
			descs:    unsafe.Pointer(&mem[m.o.Desc])}
	}
	sa := &unix.SockaddrXDP{Flags: unix.XDP_COPY | unix.XDP_USE_NEED_WAKEUP, Ifindex: uint32(p.ifindex), QueueID: 0}
	// The kernel lets go of a closed socket's queue in deferred work: a
	// port closed and opened again at once (a restart, a re-attach) finds
	// it busy for a moment.
	for try := 0; ; try++ {
		err := unix.Bind(p.fd, sa)
		if err == nil {
			break
		}
		if err == unix.EBUSY && try < 50 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err == unix.EBUSY {
			return fmt.Errorf("queue 0 of %s is taken by another AF_XDP socket (another program's?): close it or attach with --kind afpacket", p.ifname)
		}
		return fmt.Errorf("bind AF_XDP socket to %s queue 0 in copy mode: %v", p.ifname, err)
	}
	// rx frames: the first half of the UMEM, all given to the kernel.
	prod := *p.fill.producer
	for i := uint32(0); i < xdpRingSize; i++ {
		*p.fill.addr(prod + i) = uint64(i) * xdpFrameSize
	}
	atomic.StoreUint32(p.fill.producer, prod+xdpRingSize)
	p.txFree = make([]uint64, 0, xdpRingSize)
	for i := uint64(xdpRingSize); i < xdpFrames; i++ {
		p.txFree = append(p.txFree, i*xdpFrameSize)
	}
	return nil
}

func setsockopt(fd, opt int, v unsafe.Pointer, size uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(v), size, 0)
	if e != 0 {
		return e
	}
	return nil
}

// bpf(2) attributes: the leading fields of union bpf_attr each command uses.
type bpfMapCreateAttr struct {
	mapType, keySize, valueSize, maxEntries, mapFlags uint32
}

type bpfMapUpdateAttr struct {
	mapFd uint32
	_     uint32
	key   uint64
	value uint64
	flags uint64
}

type bpfProgLoadAttr struct {
	progType, insnCnt uint32
	insns, license    uint64
	logLevel, logSize uint32
	logBuf            uint64
	kernVersion       uint32
	progFlags         uint32
	progName          [16]byte
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// bpfInsn is one eBPF instruction: opcode, dst (low nibble) and src (high
// nibble) registers, offset, immediate.
type bpfInsn struct {
	code uint8
	regs uint8
	off  int16
	imm  int32
}

// xdpRedirectProgram is, in eBPF:
//
//	r2 = *(u32 *)(r1 + 16)          // ctx->rx_queue_index
//	r1 = map[mapFd]                 // ld_imm64, BPF_PSEUDO_MAP_FD
//	r3 = XDP_PASS                   // what bpf_redirect_map returns without an entry
//	call bpf_redirect_map
//	exit
//
// so a queue with a socket goes to it and any other frame to the stack.
func xdpRedirectProgram(mapFd int) []bpfInsn {
	const (
		ldxMemW     = 0x61 // BPF_LDX | BPF_MEM | BPF_W
		ldImm64     = 0x18 // BPF_LD | BPF_IMM | BPF_DW
		mov64Imm    = 0xb7 // BPF_ALU64 | BPF_MOV | BPF_K
		call        = 0x85 // BPF_JMP | BPF_CALL
		exit        = 0x95 // BPF_JMP | BPF_EXIT
		pseudoMapFd = 1
		redirectMap = 51 // BPF_FUNC_redirect_map
		xdpPass     = 2
		rxQueueOff  = 16 // offsetof(struct xdp_md, rx_queue_index)
	)
	return []bpfInsn{
		{code: ldxMemW, regs: 1<<4 | 2, off: rxQueueOff},
		{code: ldImm64, regs: pseudoMapFd<<4 | 1, imm: int32(mapFd)},
		{},
		{code: mov64Imm, regs: 3, imm: xdpPass},
		{code: call, imm: redirectMap},
		{code: exit},
	}
}

// xdpProgName names the redirect program, so a vswitchd started again
// knows its own left on a device.
const xdpProgName = "vswitch_xsk"

// progName is the name of the loaded program with this id, "" when it
// cannot be read.
func progName(id uint32) string {
	get := struct{ id, nextID, openFlags uint32 }{id: id}
	fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&get), unsafe.Sizeof(get))
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	// struct bpf_prog_info up to its name (bytes 64-79); the kernel fills
	// no more than the length given.
	var info [80]byte
	req := struct {
		fd, infoLen uint32
		info        uint64
	}{fd: uint32(fd), infoLen: uint32(len(info)), info: uint64(uintptr(unsafe.Pointer(&info[0])))}
	if _, err := bpf(unix.BPF_OBJ_GET_INFO_BY_FD, unsafe.Pointer(&req), unsafe.Sizeof(req)); err != nil {
		return ""
	}
	name := info[64:80]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return string(name)
}

// setupProgram creates the XSKMAP, puts the socket in it for queue 0 and
// loads the redirect program.
func (p *XDP) setupProgram() error {
	ma := bpfMapCreateAttr{mapType: unix.BPF_MAP_TYPE_XSKMAP, keySize: 4, valueSize: 4, maxEntries: 1}
	fd, err := bpf(unix.BPF_MAP_CREATE, unsafe.Pointer(&ma), unsafe.Sizeof(ma))
	if err != nil {
		return fmt.Errorf("cannot create an XSKMAP (bpf(2) refused: needs CAP_BPF/CAP_NET_ADMIN): %v", err)
	}
	p.mapFd = fd
	key, val := uint32(0), uint32(p.fd)
	ua := bpfMapUpdateAttr{mapFd: uint32(p.mapFd), key: uint64(uintptr(unsafe.Pointer(&key))),
		value: uint64(uintptr(unsafe.Pointer(&val)))}
	if _, err := bpf(unix.BPF_MAP_UPDATE_ELEM, unsafe.Pointer(&ua), unsafe.Sizeof(ua)); err != nil {
		return fmt.Errorf("cannot put the AF_XDP socket of %s in its XSKMAP: %v", p.ifname, err)
	}
	insns := xdpRedirectProgram(p.mapFd)
	license := []byte("GPL\x00")
	logBuf := make([]byte, 4096)
	la := bpfProgLoadAttr{progType: unix.BPF_PROG_TYPE_XDP, insnCnt: uint32(len(insns)),
		insns:    uint64(uintptr(unsafe.Pointer(&insns[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
		logLevel: 1, logSize: uint32(len(logBuf)), logBuf: uint64(uintptr(unsafe.Pointer(&logBuf[0])))}
	copy(la.progName[:], xdpProgName)
	fd, err = bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&la), unsafe.Sizeof(la))
	if err != nil {
		n := 0
		for n < len(logBuf) && logBuf[n] != 0 {
			n++
		}
		return fmt.Errorf("the kernel refused the XDP redirect program: %v %s", err, logBuf[:n])
	}
	p.progFd = fd
	return nil
}

// MAC is the interface's own address.
func (p *XDP) MAC() header.MAC { return p.mac }

// Ifindex is the interface's index in its namespace.
func (p *XDP) Ifindex() int { return p.ifindex }

// Fd is the AF_XDP socket: epoll reports it readable while the rx ring has
// descriptors.
func (p *XDP) Fd() int { return p.fd }

// ReadBatch takes up to len(bufs) frames off the rx ring, copies each behind
// a virtio_net_hdr into the worker's buffer and hands its UMEM frame back on
// the fill ring. No system call: the ring is shared memory.
func (p *XDP) ReadBatch(bufs [][]byte, sizes []int) (int, error) {
	if p.closed.Load() {
		return 0, nil
	}
	cons := *p.rx.consumer // ours to write; the kernel only reads it
	avail := atomic.LoadUint32(p.rx.producer) - cons
	n := min(uint32(len(bufs)), avail)
	if n == 0 {
		return 0, nil
	}
	fprod := *p.fill.producer
	got := 0
	for i := uint32(0); i < n; i++ {
		d := p.rx.desc(cons + i)
		*p.fill.addr(fprod + i) = d.Addr &^ (xdpFrameSize - 1)
		b := bufs[got]
		if int(d.Len) > len(b)-header.VirtioNetHdrLen || d.Addr+uint64(d.Len) > uint64(len(p.umem)) {
			continue // cannot happen with frames of 4 KiB; never trust a ring blindly
		}
		m := header.VirtioNetHdrLen + copy(b[header.VirtioNetHdrLen:], p.umem[d.Addr:d.Addr+uint64(d.Len)])
		header.VirtioNetHdr(b).Clear()
		if markPartialCsum(b[:m]) {
			p.RxCsum.Add(1)
		}
		sizes[got] = m
		got++
	}
	// Release the descriptors, then give the frames back.
	atomic.StoreUint32(p.rx.consumer, cons+n)
	atomic.StoreUint32(p.fill.producer, fprod+n)
	if p.fill.needsWakeup() {
		// The kernel stopped for want of fill entries; tell it they are back.
		unix.Syscall6(unix.SYS_RECVFROM, uintptr(p.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
	return got, nil
}

// markPartialCsum makes a received TCP or UDP over IPv4 frame's checksum a
// partial one: VIRTIO_NET_HDR_F_NEEDS_CSUM, csum_start/offset, and the
// pseudo-header sum in the checksum field. The frame may have come with a
// complete checksum or (from a CHECKSUM_PARTIAL skb of the peer) with only
// the pseudo-header sum; AF_XDP does not say which, and either way this
// leaves a frame whoever finishes the checksum gets right. A UDP checksum of
// 0 (none) stays as it is, as do fragments and anything but IPv4.
func markPartialCsum(b []byte) bool {
	f := b[header.VirtioNetHdrLen:]
	if len(f) < header.EthernetLen+20 || header.Ethernet(f).Type() != header.EtherTypeIPv4 {
		return false
	}
	ip := header.IPv4(f[header.EthernetLen:])
	if !ip.Valid() || ip.IsFragment() || int(ip.TotalLen()) > len(ip) {
		return false
	}
	hl := ip.HeaderLen()
	l4len := int(ip.TotalLen()) - hl
	var csumOff int
	switch ip.Protocol() {
	case header.ProtoTCP:
		if l4len < 20 {
			return false
		}
		csumOff = 16
	case header.ProtoUDP:
		if l4len < header.UDPLen || (ip[hl+6] == 0 && ip[hl+7] == 0) {
			return false
		}
		csumOff = 6
	default:
		return false
	}
	sum := header.PseudoHeaderSum(ip.Src(), ip.Dst(), ip.Protocol(), uint16(l4len))
	c := header.Fold(sum)
	ip[hl+csumOff], ip[hl+csumOff+1] = byte(c>>8), byte(c)
	vh := header.VirtioNetHdr(b)
	vh.SetFlags(header.VirtioNetHdrFNeedsCsum)
	vh.SetCsumStart(uint16(header.EthernetLen + hl))
	vh.SetCsumOffset(uint16(csumOff))
	return true
}

// WriteBatch copies each frame into a free tx frame of the UMEM, posts the
// descriptors and kicks the kernel with one sendto when the ring asks for
// it. Frames whose checksum is left to complete carry it as tx metadata.
// A frame refused (too big, every tx frame in flight) is counted and
// skipped.
func (p *XDP) WriteBatch(bufs [][]byte) (int, error) {
	if p.closed.Load() {
		return 0, unix.EBADF
	}
	p.txMu.Lock()
	defer p.txMu.Unlock()
	p.reclaimLocked()
	prod := *p.tx.producer
	posted := uint32(0)
	sent := 0
	for _, b := range bufs {
		if len(b) <= header.VirtioNetHdrLen {
			continue
		}
		if posted > 0 && (len(p.txFree) < xdpMaxSegs || posted+xdpMaxSegs > xdpRingSize) {
			// A batch larger than the ring: send what is posted, take the
			// frames back, go on.
			atomic.StoreUint32(p.tx.producer, prod+posted)
			p.kickLocked()
			prod, posted = prod+posted, 0
		}
		vh := header.VirtioNetHdr(b)
		if vh.IsGSO() {
			n, ok := p.segmentLocked(b, prod+posted)
			if !ok {
				p.TxTooBig.Add(1)
				continue
			}
			posted += n
			sent++
			continue
		}
		if !p.postLocked(b, prod+posted) {
			continue
		}
		posted++
		sent++
	}
	if posted > 0 {
		atomic.StoreUint32(p.tx.producer, prod+posted)
		p.kickLocked()
	}
	return sent, nil
}

// postLocked copies one frame (virtio_net_hdr + Ethernet) into a tx frame
// and fills descriptor slot i; false when it is refused.
func (p *XDP) postLocked(b []byte, i uint32) bool {
	frame := b[header.VirtioNetHdrLen:]
	if len(frame) > XDPMaxFrame {
		p.TxTooBig.Add(1)
		return false
	}
	if len(p.txFree) == 0 {
		p.reclaimLocked()
		if len(p.txFree) == 0 {
			p.TxRingFull.Add(1)
			return false
		}
	}
	addr := p.txFree[len(p.txFree)-1]
	p.txFree = p.txFree[:len(p.txFree)-1]
	data := addr + xdpTxHeadroom
	copy(p.umem[data:data+uint64(len(frame))], frame)
	d := p.tx.desc(i)
	d.Addr, d.Len, d.Options = data, uint32(len(frame)), 0
	vh := header.VirtioNetHdr(b)
	if vh.Flags()&header.VirtioNetHdrFNeedsCsum != 0 {
		meta := p.umem[data-xdpTxMetaLen : data]
		clear(meta)
		meta[0] = unix.XDP_TXMD_FLAGS_CHECKSUM
		*(*uint16)(unsafe.Pointer(&meta[8])) = vh.CsumStart()
		*(*uint16)(unsafe.Pointer(&meta[10])) = vh.CsumOffset()
		d.Options = unix.XDP_TX_METADATA
	}
	return true
}

// kickLocked makes the kernel send what the tx ring holds. In copy mode the
// kernel sends only inside sendto, at most its budget per call, so it is
// called again while the ring is not drained (EAGAIN) a few times, no more:
// what is left goes with the next kick.
func (p *XDP) kickLocked() {
	for try := 0; try < 4; try++ {
		if !p.tx.needsWakeup() {
			return
		}
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(p.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		if e != unix.EAGAIN && e != unix.EBUSY {
			break
		}
		if atomic.LoadUint32(p.tx.consumer) == *p.tx.producer {
			break
		}
	}
	p.reclaimLocked()
}

// reclaimLocked returns the frames of sent descriptors to the free list.
func (p *XDP) reclaimLocked() {
	cons := *p.comp.consumer
	n := atomic.LoadUint32(p.comp.producer) - cons
	for i := uint32(0); i < n; i++ {
		p.txFree = append(p.txFree, *p.comp.addr(cons + i)&^(xdpFrameSize-1))
	}
	if n > 0 {
		atomic.StoreUint32(p.comp.consumer, cons+n)
	}
}

// segmentLocked cuts a TCP GSO super-frame (IPv4 or IPv6, package gso)
// into gso_size segments, each posted from descriptor slot i on, with its
// checksum left to the kernel (tx metadata) as the super-frame's was. It
// returns how many it posted, and false when the frame is not one it can
// cut (the caller counts it). A segment refused for want of tx frames ends
// the frame there: TCP retransmits what is lost, as after a full device
// queue.
func (p *XDP) segmentLocked(b []byte, i uint32) (uint32, bool) {
	sf, ok := gso.Parse(b)
	if !ok || sf.MaxSegmentLen() > XDPMaxFrame {
		return 0, false
	}
	posted := uint32(0)
	for k := 0; k < sf.Segments(); k++ {
		if len(p.txFree) == 0 {
			p.reclaimLocked()
			if len(p.txFree) == 0 {
				p.TxRingFull.Add(1)
				break
			}
		}
		addr := p.txFree[len(p.txFree)-1]
		p.txFree = p.txFree[:len(p.txFree)-1]
		data := addr + xdpTxHeadroom
		g := sf.Cut(p.umem[data:data+uint64(sf.MaxSegmentLen())], k, true)
		meta := p.umem[data-xdpTxMetaLen : data]
		clear(meta)
		meta[0] = unix.XDP_TXMD_FLAGS_CHECKSUM
		*(*uint16)(unsafe.Pointer(&meta[8])) = uint16(sf.TCPOffset())
		*(*uint16)(unsafe.Pointer(&meta[10])) = 16
		d := p.tx.desc(i + posted)
		d.Addr, d.Len, d.Options = data, uint32(len(g)), unix.XDP_TX_METADATA
		posted++
		if posted == xdpRingSize {
			break
		}
	}
	p.TxSegments.Add(uint64(posted))
	return posted, posted > 0
}

// KernelStats is the socket's XDP_STATISTICS: frames the kernel dropped
// because the rx ring was full (the reader too slow) or the fill ring empty,
// and descriptors it found invalid.
func (p *XDP) KernelStats() (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	l := uint32(unsafe.Sizeof(st))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(p.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&l)), 0); e != 0 {
		return st, e
	}
	return st, nil
}

// Close detaches the program from the interface and frees the socket, the
// map, the program, the rings and the UMEM.
func (p *XDP) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	// A writer inside WriteBatch finishes before the memory goes.
	p.txMu.Lock()
	defer p.txMu.Unlock()
	return p.release(true)
}

func (p *XDP) release(attached bool) error {
	var first error
	if attached {
		first = netns.Do(p.nsPath, func() error {
			link, err := netlink.LinkByIndex(p.ifindex)
			if err != nil {
				return nil // the interface is gone, and its program with it
			}
			if err := netlink.LinkSetXdpFdWithFlags(link, -1, unix.XDP_FLAGS_DRV_MODE); err != nil {
				return fmt.Errorf("detaching XDP from %s: %v", p.ifname, err)
			}
			return nil
		})
	}
	for _, fd := range []*int{&p.progFd, &p.mapFd, &p.fd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	for _, r := range []*xskRing{&p.fill, &p.comp, &p.rx, &p.tx} {
		if r.mem != nil {
			unix.Munmap(r.mem)
			*r = xskRing{}
		}
	}
	if p.umem != nil {
		unix.Munmap(p.umem)
		p.umem = nil
	}
	return first
}
