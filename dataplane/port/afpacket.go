package port

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/header"
	"vswitch/internal/netns"
)

// AFPacket is a raw socket bound to an existing interface (a veth end, a NIC)
// in some namespace. With PACKET_VNET_HDR the kernel hands us GSO
// super-frames with a virtio_net_hdr in front and accepts them back the same
// way, segmenting only when the device under it must; frames move in batches
// with recvmmsg/sendmmsg.
type AFPacket struct {
	fd      int
	ifname  string
	ifindex int
	mac     header.MAC
	closed  atomic.Bool

	// Read state: only the owning worker reads a port, so one set suffices.
	rmsgs []unix.Mmsghdr
	riovs []unix.Iovec
	rctl  []byte   // one PACKET_AUXDATA control message per slot (vlan.go)
	tags  []uint16 // the 802.1Q tag of each frame of the last batch
	ntag  int      // how many of them were tagged
}

var _ Port = (*AFPacket)(nil)

// maxBatch bounds one recvmmsg/sendmmsg.
const maxBatch = 64

// sockRcvBuf is the receive buffer asked with SO_RCVBUFFORCE: large enough
// to ride out a worker busy with another port for a millisecond at 10 Gbit/s.
const sockRcvBuf = 4 << 20

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// OpenAFPacket opens a packet socket on interface ifname inside the namespace
// at nsPath, in promiscuous mode, ignoring frames it sent itself.
func OpenAFPacket(nsPath, ifname string) (*AFPacket, error) {
	return openAFPacket(nsPath, ifname, nil)
}

// openAFPacket opens the socket as OpenAFPacket does; beforeBind, when set,
// runs on the configured socket before it is bound, where a receive ring
// must be set up (frames arriving earlier would queue outside the ring).
func openAFPacket(nsPath, ifname string, beforeBind func(fd int) error) (*AFPacket, error) {
	p := &AFPacket{ifname: ifname, fd: -1}
	err := netns.Do(nsPath, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return fmt.Errorf("no interface %q in namespace %s: check 'ip link' there", ifname, nsPath)
		}
		p.ifindex = ifi.Index
		copy(p.mac[:], ifi.HardwareAddr)
		// Protocol 0 until bound: no frame of another interface sneaks in.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("cannot open a packet socket (needs CAP_NET_RAW): %v", err)
		}
		p.fd = fd
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := p.setup(beforeBind); err != nil {
		unix.Close(p.fd)
		return nil, err
	}
	p.rmsgs = make([]unix.Mmsghdr, maxBatch)
	p.riovs = make([]unix.Iovec, maxBatch)
	p.rctl = make([]byte, maxBatch*auxSpace)
	p.tags = make([]uint16, maxBatch)
	return p, nil
}

func (p *AFPacket) setup(beforeBind func(fd int) error) error {
	if err := unix.SetsockoptInt(p.fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fmt.Errorf("PACKET_VNET_HDR on %s: %v", p.ifname, err)
	}
	if err := unix.SetsockoptInt(p.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fmt.Errorf("PACKET_IGNORE_OUTGOING on %s: %v", p.ifname, err)
	}
	// The receive path moves an 802.1Q tag into the skb's metadata before
	// a packet socket sees the frame, which then comes without it: the tag
	// is told only in this control message (vlan.go).
	if err := unix.SetsockoptInt(p.fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fmt.Errorf("PACKET_AUXDATA on %s: %v", p.ifname, err)
	}
	if err := unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockRcvBuf); err != nil {
		// Without CAP_NET_ADMIN fall back to what the sysctl allows.
		_ = unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, sockRcvBuf)
	}
	if err := unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockRcvBuf); err != nil {
		_ = unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sockRcvBuf)
	}
	if beforeBind != nil {
		if err := beforeBind(p.fd); err != nil {
			return err
		}
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: p.ifindex}
	if err := unix.Bind(p.fd, sa); err != nil {
		return fmt.Errorf("bind packet socket to %s: %v", p.ifname, err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(p.ifindex), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(p.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return fmt.Errorf("promiscuous mode on %s: %v", p.ifname, err)
	}
	return nil
}

// MAC is the interface's own address.
func (p *AFPacket) MAC() header.MAC { return p.mac }

// Ifindex is the interface's index in its namespace.
func (p *AFPacket) Ifindex() int { return p.ifindex }

func (p *AFPacket) Fd() int { return p.fd }

// ReadBatch receives up to len(bufs) frames with one recvmmsg.
func (p *AFPacket) ReadBatch(bufs [][]byte, sizes []int) (int, error) {
	n := min(len(bufs), maxBatch)
	for i := 0; i < n; i++ {
		p.riovs[i].Base = &bufs[i][0]
		p.riovs[i].SetLen(len(bufs[i]))
		p.rmsgs[i].Hdr = unix.Msghdr{Iov: &p.riovs[i], Iovlen: 1, Control: &p.rctl[i*auxSpace]}
		p.rmsgs[i].Hdr.SetControllen(auxSpace)
		p.rmsgs[i].Len = 0
	}
	p.ntag = 0
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&p.rmsgs[0])),
		uintptr(n), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		if e == unix.EAGAIN || e == unix.EINTR {
			return 0, nil
		}
		return 0, fmt.Errorf("recvmmsg %s: %w", p.ifname, e)
	}
	got := 0
	for i := 0; i < int(r); i++ {
		if int(p.rmsgs[i].Len) <= header.VirtioNetHdrLen {
			continue
		}
		if got != i {
			bufs[got], bufs[i] = bufs[i], bufs[got]
		}
		sizes[got] = int(p.rmsgs[i].Len)
		if p.tags[got] = p.auxTag(i); p.tags[got] != 0 {
			p.ntag++
		}
		got++
	}
	return got, nil
}

// sendScratch holds one sendmmsg's headers. Any worker may write to a port,
// so scratch comes from a pool rather than the port.
type sendScratch struct {
	msgs [maxBatch]unix.Mmsghdr
	iovs [maxBatch]unix.Iovec
}

var sendPool = sync.Pool{New: func() any { return new(sendScratch) }}

// WriteBatch sends the frames with sendmmsg, maxBatch at a time. A frame the
// socket refuses (buffer full, device down) is skipped, not retried.
func (p *AFPacket) WriteBatch(bufs [][]byte) (int, error) {
	s := sendPool.Get().(*sendScratch)
	defer sendPool.Put(s)
	sent := 0
	var firstErr error
	for len(bufs) > 0 {
		n := min(len(bufs), maxBatch)
		for i := 0; i < n; i++ {
			s.iovs[i].Base = &bufs[i][0]
			s.iovs[i].SetLen(len(bufs[i]))
			s.msgs[i].Hdr = unix.Msghdr{Iov: &s.iovs[i], Iovlen: 1}
		}
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&s.msgs[0])),
			uintptr(n), unix.MSG_DONTWAIT, 0, 0)
		if e != 0 {
			if firstErr == nil {
				firstErr = e
			}
			// The head frame was refused: skip it and go on with the rest.
			bufs = bufs[1:]
			continue
		}
		sent += int(r)
		if int(r) < n {
			// Frame r was refused: skip it.
			bufs = bufs[r+1:]
			continue
		}
		bufs = bufs[n:]
	}
	return sent, firstErr
}

// Close releases the socket; the interface is left as it was.
func (p *AFPacket) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	return unix.Close(p.fd)
}
