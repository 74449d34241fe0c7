package port

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/header"
)

// Uring is one worker's io_uring (io_uring(7)): it carries many TAP reads or
// writes to the kernel in one io_uring_enter(2) instead of one read(2) or
// write(2) each. A tap still takes one frame per request; what the ring saves
// is the system call entry and exit per frame, which this machine's profile
// puts at about a tenth of a worker's time (docs/performance.md).
//
// Every request is issued inline, inside io_uring_enter: the TAPs are
// O_NONBLOCK and reads carry RWF_NOWAIT, so a read with nothing waiting
// completes at once with EAGAIN instead of arming a poll, and a tap write
// never blocks. So when Submit returns, every request has its completion and
// the buffers are free again; nothing is left in flight between calls.
//
// A Uring belongs to one thread (the worker's) and is not safe for
// concurrent use.
type Uring struct {
	fd       int
	sqMem    []byte
	cqMem    []byte // the same mapping as sqMem when the kernel has IORING_FEAT_SINGLE_MMAP
	sqeMem   []byte
	sqHead   *uint32
	sqTail   *uint32
	sqMask   uint32
	sqes     []uringSQE
	cqHead   *uint32
	cqTail   *uint32
	cqMask   uint32
	cqes     []uringCQE
	pending  uint32 // requests prepared since the last Submit
	unreaped uint32 // requests submitted whose completion Next has not returned
	tail     uint32 // our copy of *sqTail
}

// The kernel's ABI (include/uapi/linux/io_uring.h).
const (
	uringOffSQRing = 0
	uringOffCQRing = 0x8000000
	uringOffSQEs   = 0x10000000

	uringOpRead  = 22 // IORING_OP_READ
	uringOpWrite = 23 // IORING_OP_WRITE

	uringEnterGetEvents = 1 << 0 // IORING_ENTER_GETEVENTS

	uringSetupSubmitAll   = 1 << 7 // IORING_SETUP_SUBMIT_ALL: a bad request does not stop the rest
	uringSetupCoopTaskrun = 1 << 8 // IORING_SETUP_COOP_TASKRUN: no IPI to run completion work

	uringFeatSingleMmap = 1 << 0

	rwfNowait = 0x8 // RWF_NOWAIT
)

type uringSQOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type uringCQOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  uringSQOffsets
	cqOff                                                                  uringCQOffsets
}

type uringSQE struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	rwFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	_           uint64
}

type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// ErrUringUnavailable wraps the reason a ring could not be made (io_uring
// disabled by kernel.io_uring_disabled, a seccomp filter, an old kernel).
var ErrUringUnavailable = errors.New("io_uring unavailable")

// NewUring makes a ring with room for entries requests per Submit (rounded
// up to a power of two by the kernel).
func NewUring(entries uint32) (*Uring, error) {
	p := uringParams{flags: uringSetupSubmitAll | uringSetupCoopTaskrun}
	fd, err := uringSetup(entries, &p)
	if err == unix.EINVAL { // a kernel older than those flags (5.18, 5.19)
		p = uringParams{}
		fd, err = uringSetup(entries, &p)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: io_uring_setup: %v", ErrUringUnavailable, err)
	}
	r := &Uring{fd: fd}
	if err := r.mmap(&p); err != nil {
		r.Close()
		return nil, fmt.Errorf("%w: mmap: %v", ErrUringUnavailable, err)
	}
	return r, nil
}

func uringSetup(entries uint32, p *uringParams) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

func (r *Uring) mmap(p *uringParams) error {
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(uringCQE{})))
	single := p.features&uringFeatSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	prot, flags := unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE
	if r.sqMem, err = unix.Mmap(r.fd, uringOffSQRing, sqSize, prot, flags); err != nil {
		return err
	}
	r.cqMem = r.sqMem
	if !single {
		if r.cqMem, err = unix.Mmap(r.fd, uringOffCQRing, cqSize, prot, flags); err != nil {
			return err
		}
	}
	sqeSize := int(p.sqEntries) * int(unsafe.Sizeof(uringSQE{}))
	if r.sqeMem, err = unix.Mmap(r.fd, uringOffSQEs, sqeSize, prot, flags); err != nil {
		return err
	}
	u32 := func(mem []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail = u32(r.sqMem, p.sqOff.head), u32(r.sqMem, p.sqOff.tail)
	r.sqMask = *u32(r.sqMem, p.sqOff.ringMask)
	r.cqHead, r.cqTail = u32(r.cqMem, p.cqOff.head), u32(r.cqMem, p.cqOff.tail)
	r.cqMask = *u32(r.cqMem, p.cqOff.ringMask)
	r.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&r.cqMem[p.cqOff.cqes])), p.cqEntries)
	// Slot i of the submission array always names SQE i: requests are
	// prepared in ring order, so the indirection never changes.
	array := unsafe.Slice((*uint32)(unsafe.Pointer(&r.sqMem[p.sqOff.array])), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.tail = atomic.LoadUint32(r.sqTail)
	return nil
}

// Space is how many more requests fit before Submit must run.
func (r *Uring) Space() int { return len(r.sqes) - int(r.pending) }

func (r *Uring) prep(op uint8, fd int, buf []byte, rwFlags uint32, userData uint64) {
	sqe := &r.sqes[r.tail&r.sqMask]
	*sqe = uringSQE{opcode: op, fd: int32(fd), off: ^uint64(0), addr: uint64(uintptr(unsafe.Pointer(&buf[0]))),
		len: uint32(len(buf)), rwFlags: rwFlags, userData: userData}
	r.tail++
	r.pending++
}

// PrepRead queues a read of one frame from fd into buf; it never waits for
// one (RWF_NOWAIT). The caller checks Space first.
func (r *Uring) PrepRead(fd int, buf []byte, userData uint64) {
	r.prep(uringOpRead, fd, buf, rwfNowait, userData)
}

// PrepWrite queues a write of buf to fd. The caller checks Space first.
func (r *Uring) PrepWrite(fd int, buf []byte, userData uint64) {
	r.prep(uringOpWrite, fd, buf, 0, userData)
}

// Submit hands every prepared request to the kernel and waits until all
// have completed: one system call for the lot, unless a signal interrupts
// the wait. The buffers given to Prep* must stay alive until it returns;
// then Next yields the completions, and the caller takes them all before it
// prepares more.
func (r *Uring) Submit() error {
	toSubmit := r.pending
	if toSubmit == 0 {
		return nil
	}
	atomic.StoreUint32(r.sqTail, r.tail) // publishes the SQEs written above
	r.pending = 0
	r.unreaped += toSubmit
	for {
		ready := atomic.LoadUint32(r.cqTail) - atomic.LoadUint32(r.cqHead)
		if toSubmit == 0 && ready >= r.unreaped {
			return nil
		}
		wait := uint32(0)
		if ready < r.unreaped {
			wait = r.unreaped - ready
		}
		done, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(wait), uringEnterGetEvents, 0, 0)
		switch errno {
		case 0:
			toSubmit -= min(uint32(done), toSubmit)
		case unix.EINTR, unix.EAGAIN, unix.EBUSY:
			// Interrupted, or short of memory for a moment: try again.
		default:
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
	}
}

// Next returns the next completion: the userData given to Prep* and the
// request's result (bytes moved, or -errno). ok is false when none is left.
func (r *Uring) Next() (userData uint64, res int32, ok bool) {
	head := atomic.LoadUint32(r.cqHead)
	if head == atomic.LoadUint32(r.cqTail) {
		return 0, 0, false
	}
	c := &r.cqes[head&r.cqMask]
	userData, res = c.userData, c.res
	atomic.StoreUint32(r.cqHead, head+1)
	r.unreaped--
	return userData, res, true
}

// Close unmaps the ring and closes it.
func (r *Uring) Close() error {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
	}
	if r.cqMem != nil && (r.sqMem == nil || &r.cqMem[0] != &r.sqMem[0]) {
		unix.Munmap(r.cqMem)
	}
	if r.sqMem != nil {
		unix.Munmap(r.sqMem)
	}
	return unix.Close(r.fd)
}

// RingPort is a Port whose frames can also move through a worker's Uring:
// reads with ReadRing, writes as PrepWrite requests on Fd.
type RingPort interface {
	Port
	// ReadRing reads up to len(bufs) frames with one Submit, like
	// ReadBatch. It may reorder bufs (swapping whole buffers) so the
	// frames read come first, in the order they left the device. drained
	// says the device had no more: the caller need not ask again until
	// epoll says so.
	ReadRing(r *Uring, bufs [][]byte, sizes []int) (n int, drained bool, err error)
}

var _ RingPort = (*TAP)(nil)

// ReadRing asks for as many frames as the last read suggests are waiting:
// a tap hands over one frame per read request, and a request that finds
// none still costs its share of the call, so the number grows while every
// request returns a frame and shrinks to what came otherwise.
func (t *TAP) ReadRing(r *Uring, bufs [][]byte, sizes []int) (int, bool, error) {
	k := min(max(t.readAhead, 4), len(bufs), r.Space())
	for i := 0; i < k; i++ {
		r.PrepRead(t.fd, bufs[i], uint64(i))
		sizes[i] = 0
	}
	if err := r.Submit(); err != nil {
		return 0, true, fmt.Errorf("read tap %s: %w", t.name, err)
	}
	drained := false
	var firstErr error
	for {
		i, res, ok := r.Next()
		if !ok {
			break
		}
		switch {
		case res > header.VirtioNetHdrLen:
			sizes[i] = int(res)
		case res == -int32(unix.EAGAIN) || res == -int32(unix.EINTR):
			drained = true
		case res < 0 && firstErr == nil:
			firstErr = unix.Errno(-res)
		}
	}
	// Requests were issued in ring order, so the frames are in device order
	// by index; close the gaps a read that found nothing left.
	n := 0
	for i := 0; i < k; i++ {
		if sizes[i] > 0 {
			bufs[n], bufs[i] = bufs[i], bufs[n]
			sizes[n] = sizes[i]
			n++
		}
	}
	if n == 0 && firstErr != nil {
		return 0, true, fmt.Errorf("read tap %s: %w", t.name, firstErr)
	}
	if n == k {
		t.readAhead = min(2*k, len(bufs))
	} else {
		t.readAhead = n + n/2 + 1
	}
	return n, drained || firstErr != nil, nil
}
