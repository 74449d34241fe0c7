package port

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/fdb"
	"vswitch/header"
	"vswitch/internal/netns"
)

// VXLAN is a tunnel port (RFC 7348): one kernel UDP socket, opened inside
// the underlay namespace, bound to the local VTEP address and port 4789 and
// to the underlay device (SO_BINDTODEVICE). Every datagram is a VXLAN
// header and an inner Ethernet frame; the port carries one VNI.
//
// Receive: recvmmsg puts the 8-byte VXLAN header where the buffer's
// virtio_net_hdr goes and the inner frame right after it, so decapsulation
// copies nothing: the header is checked (I flag set, our VNI; reserved bits
// ignored), the sender must be a configured remote VTEP, the inner source
// MAC is learned behind that VTEP, and the header bytes are zeroed into a
// plain virtio_net_hdr. What fails a check is dropped and counted by reason
// (Drops).
//
// Transmit: the port encapsulates plain frames only, as a NIC without
// tunnel offloads would need them, so a GSO super-frame is cut into its
// TCP segments (package gso) and a partial checksum is completed first.
// Each datagram is then an iovec pair, [VXLAN header][frame], with the
// inner frame left where it is; one sendmmsg carries a whole batch. A
// known unicast MAC goes to the VTEP it was learned behind (or pinned to);
// broadcast, multicast and unknown unicast go to every remote VTEP
// (head-end replication).
//
// The MAC -> VTEP table is the port's own, as Linux's vxlan keeps its own
// fdb: an fdb.Table whose "ports" are VTEP slots, with lock-free lookups,
// aging on a timer and static entries.
type VXLAN struct {
	fd    int
	vni   uint32
	v6    bool
	local netip.Addr
	dev   string
	mtu   int // the underlay device's
	// innerMTU is the carried network's; only the reading worker reads it
	// once the port is plugged in.
	innerMTU int
	udp      uint16 // the UDP port, ours and every remote VTEP's
	hdr      [header.VXLANLen]byte
	closed   atomic.Bool
	noUSO    atomic.Bool // UDP_SEGMENT refused once, or turned off (SetUSO)
	epoch    time.Time
	stop     chan struct{}
	done     chan struct{}

	macs  *fdb.Table // inner MAC -> VTEP slot
	vteps atomic.Pointer[vtepSet]
	mu    sync.Mutex // serialises VTEP changes

	// Read state: only the owning worker reads a port.
	rmsgs  []unix.Mmsghdr
	riovs  []unix.Iovec
	rnames []unix.RawSockaddrInet6

	drops [numVXLANDrops]atomic.Uint64
	// TxSegments counts segments cut from super-frames; TxDatagrams the
	// datagrams the kernel accepted (replicas counted one by one).
	TxSegments  atomic.Uint64
	TxDatagrams atomic.Uint64
	// RxPartial counts inner frames that came with a partial checksum
	// and were handed on marked NEEDS_CSUM (markPartial).
	RxPartial atomic.Uint64
	// RxGSO counts received datagrams that held a whole TCP super-frame
	// (a Linux VTEP's over a veth), handed on as GSO (markGSO).
	RxGSO atomic.Uint64
}

var _ Port = (*VXLAN)(nil)

// Why the port dropped a datagram or a frame, before or after the
// dataplane saw it. Names are the ones `vswitchctl stats` shows.
const (
	VXLANDropShort       = iota // shorter than a VXLAN header and an Ethernet header
	VXLANDropNoIFlag            // I flag clear (RFC 7348: MUST be set)
	VXLANDropUnknownVNI         // another VNI than the network's
	VXLANDropUnknownVTEP        // from an address that is not a configured remote VTEP
	VXLANDropMACLimit           // a new inner MAC beyond the VTEP's limit
	VXLANDropTruncated          // larger than a receive buffer
	VXLANDropGSO                // a super-frame the port cannot cut (not TCP, bad headers)
	VXLANDropCsum               // a partial checksum whose offsets lie outside the packet
	VXLANDropTxError            // a datagram the socket refused (buffer full, no route)
	numVXLANDrops
)

var vxlanDropNames = [numVXLANDrops]string{
	VXLANDropShort:       "vxlan-too-short",
	VXLANDropNoIFlag:     "vxlan-no-i-flag",
	VXLANDropUnknownVNI:  "vxlan-unknown-vni",
	VXLANDropUnknownVTEP: "vxlan-unknown-vtep",
	VXLANDropMACLimit:    "vxlan-mac-limit",
	VXLANDropTruncated:   "vxlan-truncated",
	VXLANDropGSO:         "vxlan-gso-refused",
	VXLANDropCsum:        "vxlan-bad-csum-offset",
	VXLANDropTxError:     "vxlan-tx-error",
}

// VXLANMaxVTEPs bounds the remote VTEPs of one port: a flooded frame is
// that many datagrams.
const VXLANMaxVTEPs = 256

// vtepSet is the remote VTEPs, immutable once published. A VTEP keeps its
// slot (its index in the MAC table) for life; a removed one leaves a hole
// that the next VTEP added takes.
type vtepSet struct {
	slots  []vtep
	byAddr map[netip.Addr]uint16
	live   []uint16 // slots in use: where a flooded frame goes
}

type vtep struct {
	addr netip.Addr
	sa4  unix.RawSockaddrInet4
	sa6  unix.RawSockaddrInet6
}

func (s *vtepSet) get(slot uint16) *vtep {
	if int(slot) < len(s.slots) && s.slots[slot].addr.IsValid() {
		return &s.slots[slot]
	}
	return nil
}

// VXLANConfig opens a VXLAN port.
type VXLANConfig struct {
	NetnsPath string     // the underlay namespace; "" for vswitchd's own
	Dev       string     // the underlay device (SO_BINDTODEVICE)
	Local     netip.Addr // the local VTEP address, on Dev
	Port      uint16     // UDP port; 0 is 4789
	VNI       uint32     // 1 to 2^24-1
	Aging     time.Duration
	MACLimit  int // most dynamic MACs behind one remote VTEP; 0 is unlimited
}

// OpenVXLAN opens the tunnel's socket inside the underlay namespace. It
// checks that Dev exists there and holds Local, which the error says when
// it does not.
func OpenVXLAN(c VXLANConfig) (*VXLAN, error) {
	if c.VNI == 0 || c.VNI > header.VXLANMaxVNI {
		return nil, fmt.Errorf("bad VNI %d: want 1 to %d", c.VNI, header.VXLANMaxVNI)
	}
	if !c.Local.IsValid() {
		return nil, errors.New("no local VTEP address")
	}
	if c.Port == 0 {
		c.Port = header.VXLANPort
	}
	p := &VXLAN{fd: -1, vni: c.VNI, local: c.Local.Unmap(), dev: c.Dev, udp: c.Port, epoch: time.Now()}
	p.v6 = p.local.Is6()
	header.VXLAN(p.hdr[:]).Set(c.VNI)
	err := netns.Do(c.NetnsPath, func() error {
		ifi, err := net.InterfaceByName(c.Dev)
		if err != nil {
			return fmt.Errorf("no interface %q in the underlay namespace: check 'ip link' there", c.Dev)
		}
		p.mtu = ifi.MTU
		addrs, err := ifi.Addrs()
		if err != nil {
			return fmt.Errorf("cannot read the addresses of %s: %v", c.Dev, err)
		}
		found := false
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == p.local {
					found = true
				}
			}
		}
		if !found {
			return fmt.Errorf("local address %s is not on %s: add it ('ip addr add %s/PREFIX dev %s') or pick one of its addresses", p.local, c.Dev, p.local, c.Dev)
		}
		return p.openSocket(c)
	})
	if err != nil {
		if p.fd >= 0 {
			unix.Close(p.fd)
		}
		return nil, err
	}
	p.innerMTU = p.mtu - p.Overhead()
	p.macs = fdb.New(fdb.Config{Aging: c.Aging, MACLimit: c.MACLimit})
	p.vteps.Store(&vtepSet{byAddr: map[netip.Addr]uint16{}})
	p.rmsgs = make([]unix.Mmsghdr, maxBatch)
	p.riovs = make([]unix.Iovec, 2*maxBatch)
	p.rnames = make([]unix.RawSockaddrInet6, maxBatch)
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go p.ageLoop()
	return p, nil
}

func (p *VXLAN) openSocket(c VXLANConfig) error {
	family := unix.AF_INET
	if p.v6 {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return fmt.Errorf("cannot open a UDP socket: %v", err)
	}
	p.fd = fd
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, c.Dev); err != nil {
		return fmt.Errorf("SO_BINDTODEVICE %s (needs CAP_NET_RAW): %v", c.Dev, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockRcvBuf); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, sockRcvBuf)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockRcvBuf); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sockRcvBuf)
	}
	// As Linux's vxlan without "df set": an outer packet too big for a
	// link on the way is fragmented, not refused. Segments are cut to the
	// inner MTU, so this is for the odd frame only.
	if p.v6 {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DONT)
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
	} else {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT)
	}
	var sa unix.Sockaddr
	if p.v6 {
		sa = &unix.SockaddrInet6{Port: int(c.Port), Addr: p.local.As16()}
	} else {
		sa = &unix.SockaddrInet4{Port: int(c.Port), Addr: p.local.As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return fmt.Errorf("UDP %s port %d is taken in the underlay namespace (a Linux vxlan device, another vswitchd network on the same local address?)", p.local, c.Port)
		}
		return fmt.Errorf("bind UDP %s port %d: %v", p.local, c.Port, err)
	}
	return nil
}

// ageLoop ages the MAC table once a second, off the fast path.
func (p *VXLAN) ageLoop() {
	defer close(p.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.macs.Age(p.now())
		}
	}
}

// now is the MAC table's clock: nanoseconds since the port opened.
func (p *VXLAN) now() int64 { return int64(time.Since(p.epoch)) }

// UnderlayMTU is the MTU of the underlay device when the port opened.
func (p *VXLAN) UnderlayMTU() int { return p.mtu }

// Overhead is what encapsulation adds to an inner IP packet (50 bytes over
// IPv4, 70 over IPv6): the inner MTU is UnderlayMTU less this.
func (p *VXLAN) Overhead() int {
	if p.v6 {
		return header.VXLANOverhead6
	}
	return header.VXLANOverhead4
}

// VNI is the port's network identifier.
func (p *VXLAN) VNI() uint32 { return p.vni }

// Local is the local VTEP address.
func (p *VXLAN) Local() netip.Addr { return p.local }

func (p *VXLAN) Fd() int { return p.fd }

// AddVTEP adds a remote VTEP: it gets flooded frames from now on, and
// datagrams from it are accepted. It must be of the local address's family.
func (p *VXLAN) AddVTEP(a netip.Addr) error {
	a = a.Unmap()
	if !a.IsValid() || a.Is6() != p.v6 || a.IsUnspecified() || a.IsMulticast() {
		fam := "IPv4"
		if p.v6 {
			fam = "IPv6"
		}
		return fmt.Errorf("bad VTEP address %s: want a unicast %s address like the local one (%s)", a, fam, p.local)
	}
	if a == p.local {
		return fmt.Errorf("%s is the local VTEP address", a)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.vteps.Load()
	if _, ok := old.byAddr[a]; ok {
		return fmt.Errorf("VTEP %s is already there", a)
	}
	if len(old.live) >= VXLANMaxVTEPs {
		return fmt.Errorf("already %d remote VTEPs, the most one network takes", VXLANMaxVTEPs)
	}
	n := &vtepSet{slots: slices.Clone(old.slots), byAddr: make(map[netip.Addr]uint16, len(old.byAddr)+1)}
	for k, v := range old.byAddr {
		n.byAddr[k] = v
	}
	slot := -1
	for i := range n.slots {
		if !n.slots[i].addr.IsValid() {
			slot = i
			break
		}
	}
	if slot < 0 {
		slot = len(n.slots)
		n.slots = append(n.slots, vtep{})
	}
	v := vtep{addr: a}
	if p.v6 {
		v.sa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		putPort(&v.sa6.Port, p.udp)
	} else {
		v.sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		putPort(&v.sa4.Port, p.udp)
	}
	n.slots[slot] = v
	n.byAddr[a] = uint16(slot)
	n.live = append(slices.Clone(old.live), uint16(slot))
	slices.Sort(n.live)
	p.vteps.Store(n)
	return nil
}

// putPort stores a port in network byte order into a sockaddr's port field.
func putPort(field *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(field))
	b[0], b[1] = byte(port>>8), byte(port)
}

// RemoveVTEP removes a remote VTEP and every MAC learned or pinned behind it.
func (p *VXLAN) RemoveVTEP(a netip.Addr) error {
	a = a.Unmap()
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.vteps.Load()
	slot, ok := old.byAddr[a]
	if !ok {
		return fmt.Errorf("no VTEP %s", a)
	}
	n := &vtepSet{slots: slices.Clone(old.slots), byAddr: make(map[netip.Addr]uint16, len(old.byAddr))}
	for k, v := range old.byAddr {
		if k != a {
			n.byAddr[k] = v
		}
	}
	n.slots[slot] = vtep{}
	for _, s := range old.live {
		if s != slot {
			n.live = append(n.live, s)
		}
	}
	p.vteps.Store(n)
	// A reader on the old set may learn a MAC behind the slot once more;
	// WriteBatch treats a MAC behind an empty slot as unknown, and aging
	// removes it.
	p.macs.FlushPort(slot)
	return nil
}

// AddStaticMAC pins mac behind the remote VTEP a (added before): frames to
// it go there, learning does not move it and aging does not remove it.
func (p *VXLAN) AddStaticMAC(mac header.MAC, a netip.Addr) error {
	slot, ok := p.vteps.Load().byAddr[a.Unmap()]
	if !ok {
		return fmt.Errorf("no VTEP %s", a)
	}
	return p.macs.AddStatic(mac.Uint64(), slot)
}

// DeleteMAC removes mac's entry, learned or static.
func (p *VXLAN) DeleteMAC(mac header.MAC) bool { return p.macs.Delete(mac.Uint64()) }

// VTEPs lists the remote VTEPs, in the order they were given slots.
func (p *VXLAN) VTEPs() []netip.Addr {
	s := p.vteps.Load()
	out := make([]netip.Addr, 0, len(s.live))
	for _, i := range s.live {
		out = append(out, s.slots[i].addr)
	}
	return out
}

// VXLANEntry is one inner MAC behind a remote VTEP.
type VXLANEntry struct {
	MAC    header.MAC
	VTEP   netip.Addr
	Static bool
	Age    time.Duration
}

// Entries lists the MAC table, sorted by MAC.
func (p *VXLAN) Entries() []VXLANEntry {
	s := p.vteps.Load()
	var out []VXLANEntry
	for _, e := range p.macs.Entries(p.now()) {
		v := s.get(e.Port)
		if v == nil {
			continue
		}
		out = append(out, VXLANEntry{MAC: header.MACFromUint64(e.MAC), VTEP: v.addr, Static: e.Static, Age: e.Age})
	}
	return out
}

// Drops returns the port's non-zero drop counters by reason name.
func (p *VXLAN) Drops() map[string]uint64 {
	m := map[string]uint64{}
	for i := range p.drops {
		if v := p.drops[i].Load(); v > 0 {
			m[vxlanDropNames[i]] = v
		}
	}
	return m
}

// Dropped returns one drop counter (VXLANDropShort ...).
func (p *VXLAN) Dropped(reason int) uint64 { return p.drops[reason].Load() }

// SetUSO turns UDP_SEGMENT sends of cut super-frames on (the default) or
// off (one datagram per message, for comparison).
func (p *VXLAN) SetUSO(on bool) { p.noUSO.Store(!on) }

// SetInnerMTU sets the MTU of the network the tunnel carries (the
// underlay's less Overhead unless the network says less): the size of the
// segments a received super-frame is marked to be cut into.
func (p *VXLAN) SetInnerMTU(mtu int) { p.innerMTU = mtu }

// Close stops aging and releases the socket.
func (p *VXLAN) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	close(p.stop)
	<-p.done
	return unix.Close(p.fd)
}
