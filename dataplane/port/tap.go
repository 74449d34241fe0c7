package port

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/header"
	"vswitch/internal/netns"
)

// TAP is a tap device inside a container's namespace, opened with
// IFF_VNET_HDR so GSO super-frames (up to 64 KiB) cross it in one read or
// write, and made persistent so the device, its addresses and routes survive
// a restart of vswitchd.
type TAP struct {
	fd     int
	name   string
	closed atomic.Bool
	// readAhead is how many read requests ReadRing puts in its next call;
	// only the worker that reads this queue touches it.
	readAhead int
}

var _ Port = (*TAP)(nil)

// TUN offload bits (include/uapi/linux/if_tun.h): what the device may hand
// us unfinished. CSUM: partial checksums; TSO4/6: TCP super-frames.
const (
	tunFCsum = 0x01
	tunFTSO4 = 0x02
	tunFTSO6 = 0x04
)

type ifreqFlags struct {
	name  [unix.IFNAMSIZ]byte
	flags uint16
	_     [22]byte
}

// OpenTAP creates the tap device name inside the namespace at nsPath with
// the given number of queues, or attaches them to it when it already exists
// (a persistent TAP left by an earlier vswitchd). Either way it (re)applies
// the vnet header size and the offloads, which belong to the device and
// outlive its owner: a re-attach that skipped TUNSETOFFLOAD would get frames
// whose checksums nobody fills in.
//
// The device is always multi-queue (IFF_MULTI_QUEUE), even with one queue,
// because a re-attach must repeat the flags it was created with: vswitchd
// restarted with another number of workers still finds its TAPs.
func OpenTAP(nsPath, name string, queues int) (TAPDevice, error) {
	if len(name) == 0 || len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("bad interface name %q: 1 to 15 characters", name)
	}
	queues = max(queues, 1)
	var taps []*TAP
	closeAll := func() {
		for _, t := range taps {
			unix.Close(t.fd)
		}
	}
	// The namespace of a tap is the one /dev/net/tun was opened in, and a
	// queue finds its device by name in that namespace too.
	err := netns.Do(nsPath, func() error {
		for i := 0; i < queues; i++ {
			fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
			if err != nil {
				return fmt.Errorf("cannot open /dev/net/tun: %v", err)
			}
			t := &TAP{fd: fd, name: name}
			taps = append(taps, t)
			if err := t.setup(i == 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		closeAll()
		return nil, err
	}
	return taps, nil
}

func (t *TAP) setup(first bool) error {
	var req ifreqFlags
	copy(req.name[:], t.name)
	req.flags = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR | unix.IFF_MULTI_QUEUE
	if err := ioctl(t.fd, unix.TUNSETIFF, uintptr(unsafe.Pointer(&req))); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("tap %s is already open by another process (another vswitchd?)", t.name)
		}
		if errors.Is(err, unix.EINVAL) && !first {
			return fmt.Errorf("tap %s does not take another queue", t.name)
		}
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("interface %s exists and is not a tap vswitchd can use: pick another --ifname", t.name)
		}
		return fmt.Errorf("TUNSETIFF %s: %v", t.name, err)
	}
	if !first {
		return nil // the device's settings were made through queue 0
	}
	hdrLen := int32(header.VirtioNetHdrLen)
	if err := ioctl(t.fd, unix.TUNSETVNETHDRSZ, uintptr(unsafe.Pointer(&hdrLen))); err != nil {
		return fmt.Errorf("TUNSETVNETHDRSZ %s: %v", t.name, err)
	}
	if err := ioctl(t.fd, unix.TUNSETOFFLOAD, tunFCsum|tunFTSO4|tunFTSO6); err != nil {
		return fmt.Errorf("TUNSETOFFLOAD %s: %v", t.name, err)
	}
	if err := ioctl(t.fd, unix.TUNSETPERSIST, 1); err != nil {
		return fmt.Errorf("TUNSETPERSIST %s: %v", t.name, err)
	}
	return nil
}

func ioctl(fd int, req uint, arg uintptr) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), arg)
	if e != 0 {
		return e
	}
	return nil
}

// Name is the interface name inside the namespace.
func (t *TAP) Name() string { return t.name }

func (t *TAP) Fd() int { return t.fd }

// ReadBatch reads frames until the device has none left or bufs is full. A
// tap hands over one frame per read(2); there is no batched form.
func (t *TAP) ReadBatch(bufs [][]byte, sizes []int) (int, error) {
	n := 0
	for n < len(bufs) {
		m, err := unix.Read(t.fd, bufs[n])
		if err != nil {
			if err == unix.EAGAIN || err == unix.EINTR {
				break
			}
			if n > 0 {
				break
			}
			return 0, fmt.Errorf("read tap %s: %w", t.name, err)
		}
		if m <= header.VirtioNetHdrLen {
			continue
		}
		sizes[n] = m
		n++
	}
	return n, nil
}

// WriteBatch writes each frame; one write(2) each, as a tap takes one frame
// per call. A frame the kernel refuses (device down: EIO) is not retried.
func (t *TAP) WriteBatch(bufs [][]byte) (int, error) {
	sent := 0
	var firstErr error
	for _, b := range bufs {
		if _, err := unix.Write(t.fd, b); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		sent++
	}
	return sent, firstErr
}

// Close releases the descriptor; the persistent device stays in its namespace.
func (t *TAP) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	return unix.Close(t.fd)
}

// Delete clears the persist flag and closes the descriptor, which removes
// the device from its namespace: what `port rm` means.
func (t *TAP) Delete() error {
	if t.closed.Swap(true) {
		return nil
	}
	perr := ioctl(t.fd, unix.TUNSETPERSIST, 0)
	cerr := unix.Close(t.fd)
	if perr != nil {
		return fmt.Errorf("TUNSETPERSIST off %s: %v", t.name, perr)
	}
	return cerr
}

// TAPDevice is the queues of one tap device; queue 0 first.
type TAPDevice []*TAP

// Ports returns the queues as ports, for the dataplane.
func (d TAPDevice) Ports() []Port {
	ps := make([]Port, len(d))
	for i, t := range d {
		ps[i] = t
	}
	return ps
}

// Close releases every queue; the persistent device stays.
func (d TAPDevice) Close() error {
	var first error
	for _, t := range d {
		if err := t.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Delete removes the device: persist off, then every queue closed (the
// kernel frees a tap when its last queue goes).
func (d TAPDevice) Delete() error {
	if len(d) == 0 {
		return nil
	}
	err := d[0].Delete()
	if cerr := d[1:].Close(); err == nil {
		err = cerr
	}
	return err
}
