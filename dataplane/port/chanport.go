package port

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Chan is an in-memory port for tests, benchmarks and the trace tool: a test
// pushes frames in with Send and collects what the dataplane wrote with
// Recv. An eventfd makes it pollable like a real device, so the same workers
// drive it.
type Chan struct {
	mu   sync.Mutex
	in   [][]byte
	out  [][]byte
	keep bool // keep copies of written frames (tests); off: count only (benchmarks)
	efd  int

	// Written counts frames passed to WriteBatch, kept or not.
	Written atomic.Uint64
}

var _ Port = (*Chan)(nil)

// NewChan returns an in-memory port. With keep, written frames are copied
// and kept for Recv; without, they are only counted, so a benchmark measures
// the pipeline and not the copy.
func NewChan(keep bool) (*Chan, error) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &Chan{keep: keep, efd: efd}, nil
}

// Send queues a frame (virtio_net_hdr + Ethernet) for the dataplane to read.
func (c *Chan) Send(frame []byte) {
	c.mu.Lock()
	c.in = append(c.in, append([]byte(nil), frame...))
	var one = [8]byte{1}
	unix.Write(c.efd, one[:])
	c.mu.Unlock()
}

// Recv returns and forgets the frames written to the port so far.
func (c *Chan) Recv() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.out
	c.out = nil
	return out
}

func (c *Chan) Fd() int { return c.efd }

func (c *Chan) ReadBatch(bufs [][]byte, sizes []int) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for n < len(bufs) && len(c.in) > 0 {
		sizes[n] = copy(bufs[n], c.in[0])
		c.in = c.in[1:]
		n++
	}
	if len(c.in) == 0 {
		var b [8]byte
		unix.Read(c.efd, b[:]) // reset readability
	}
	return n, nil
}

func (c *Chan) WriteBatch(bufs [][]byte) (int, error) {
	c.Written.Add(uint64(len(bufs)))
	if !c.keep {
		return len(bufs), nil
	}
	c.mu.Lock()
	for _, b := range bufs {
		c.out = append(c.out, append([]byte(nil), b...))
	}
	c.mu.Unlock()
	return len(bufs), nil
}

func (c *Chan) Close() error { return unix.Close(c.efd) }
