//go:build linux

package traffic

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Payload64 is the UDP payload that makes a 64-byte Ethernet frame
// (60 bytes plus the 4-byte FCS).
const Payload64 = 18

// mmsghdr is struct mmsghdr of sendmmsg(2); the compiler pads it as C
// does (64 bytes on 64-bit).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// GenConfig is what the UDP generator offers.
type GenConfig struct {
	Dst     netip.AddrPort
	Payload int // UDP payload bytes
	Batch   int // messages per sendmmsg
	Threads int // sending OS threads
	// Flows is the number of connected sockets, each its own source port
	// (so its own 5-tuple), spread over the threads; each thread sends one
	// batch on each of its sockets in turn. At least one per thread.
	Flows    int
	Duration time.Duration
	// WindowFrom and Window, when Window > 0, mark the part of the run
	// (from its start) over which WindowPPS is counted as well: the sink's
	// measured window, so offered and delivered cover the same time.
	WindowFrom, Window time.Duration
}

// GenResult is what the generator managed to hand to the kernel.
type GenResult struct {
	Sent       uint64  `json:"sent"`
	SendErrors uint64  `json:"send_errors"`
	Seconds    float64 `json:"seconds"`
	PPS        float64 `json:"offered_pps"`
	Threads    int     `json:"threads"`
	Flows      int     `json:"flows"`
	Payload    int     `json:"payload_bytes"`
	FirstError string  `json:"first_error,omitempty"`
	// WindowPPS is the send rate over [WindowFrom, WindowFrom+Window]:
	// each thread's datagrams between its first check past each end,
	// divided by the time between those checks, summed over the threads.
	WindowPPS float64 `json:"window_offered_pps,omitempty"`
}

func sockaddr(ap netip.AddrPort) (*unix.SockaddrInet4, error) {
	if !ap.Addr().Is4() {
		return nil, fmt.Errorf("%v: only IPv4", ap)
	}
	return &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}, nil
}

// Generate sends UDP datagrams to cfg.Dst as fast as the kernel takes
// them for cfg.Duration. Errors such as ENOBUFS or ECONNREFUSED (an ICMP
// unreachable) are counted, not fatal: an overloaded path is the point.
func Generate(cfg GenConfig) (GenResult, error) {
	if cfg.Batch <= 0 {
		cfg.Batch = 64
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	cfg.Flows = max(cfg.Flows, cfg.Threads)
	sa, err := sockaddr(cfg.Dst)
	if err != nil {
		return GenResult{}, err
	}
	var sent, errs atomic.Uint64
	var winMu sync.Mutex
	var winPPS float64
	winThreads := 0
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	setup := make(chan error, cfg.Threads)
	for t := 0; t < cfg.Threads; t++ {
		nsock := FlowsOf(cfg.Flows, cfg.Threads, t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			fds := make([]int, 0, nsock)
			defer func() {
				for _, fd := range fds {
					unix.Close(fd)
				}
			}()
			for range nsock {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					setup <- err
					return
				}
				fds = append(fds, fd)
				// connect picks a distinct ephemeral source port per socket
				if err := unix.Connect(fd, sa); err != nil {
					setup <- fmt.Errorf("connect %v: %w", cfg.Dst, err)
					return
				}
			}
			setup <- nil
			payload := make([]byte, cfg.Payload)
			copy(payload, "vsbench")
			iov := unix.Iovec{Base: &payload[0]}
			iov.SetLen(len(payload))
			msgs := make([]mmsghdr, cfg.Batch)
			for i := range msgs {
				msgs[i].hdr.Iov = &iov
				msgs[i].hdr.SetIovlen(1)
			}
			var n, e uint64
			winFrom, winTo := start.Add(cfg.WindowFrom), start.Add(cfg.WindowFrom+cfg.Window)
			var n0, n1 uint64
			var t0, t1 time.Time
			for i := 0; ; i++ {
				if i%16 == 0 {
					now := time.Now()
					if cfg.Window > 0 {
						if t0.IsZero() && !now.Before(winFrom) {
							n0, t0 = n, now
						}
						if t1.IsZero() && !now.Before(winTo) {
							n1, t1 = n, now
						}
					}
					if now.After(deadline) {
						break
					}
				}
				fd := fds[i%len(fds)]
				r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd),
					uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
				if errno != 0 {
					e++
					if e == 1 {
						firstErr.CompareAndSwap(nil, errno.Error())
					}
					continue
				}
				n += uint64(r)
			}
			runtime.KeepAlive(payload)
			sent.Add(n)
			errs.Add(e)
			if !t1.IsZero() && t1.After(t0) {
				winMu.Lock()
				winPPS += float64(n1-n0) / t1.Sub(t0).Seconds()
				winThreads++
				winMu.Unlock()
			}
		}()
	}
	for t := 0; t < cfg.Threads; t++ {
		if err := <-setup; err != nil {
			wg.Wait()
			return GenResult{}, err
		}
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	res := GenResult{Sent: sent.Load(), SendErrors: errs.Load(), Seconds: secs, Threads: cfg.Threads, Flows: cfg.Flows, Payload: cfg.Payload}
	res.PPS = float64(res.Sent) / secs
	if winThreads == cfg.Threads { // every thread saw the whole window
		res.WindowPPS = winPPS
	}
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	return res, nil
}

// FlowsOf is how many of flows sockets thread t of threads owns: an even
// share, the first flows%threads threads one more.
func FlowsOf(flows, threads, t int) int {
	n := flows / threads
	if t < flows%threads {
		n++
	}
	return n
}

// SinkConfig says where the sink listens and which window it measures.
type SinkConfig struct {
	Port   int
	Ifname string // the interface whose rx counter is the figure
	// FirstPacket bounds the wait for traffic to start.
	FirstPacket time.Duration
	// Warmup after the first packet, then Window is measured.
	Warmup, Window time.Duration
}

// SinkResult is what reached the sink in the window.
type SinkResult struct {
	IfPackets  uint64  `json:"if_rx_packets"`
	AppPackets uint64  `json:"app_packets"`
	Seconds    float64 `json:"seconds"`
	IfPPS      float64 `json:"if_rx_pps"`
	AppPPS     float64 `json:"app_pps"`
	Ifname     string  `json:"ifname"`
}

// Sink binds UDP port cfg.Port, reads everything that arrives and reports
// the receive rate over the window, both at the interface (what the switch
// delivered into the namespace) and at the socket. ready is called once
// the socket is bound.
func Sink(cfg SinkConfig, ready func()) (SinkResult, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return SinkResult{}, err
	}
	defer unix.Close(fd)
	// A deep buffer so the socket is not what limits a short burst; the
	// interface counter is the figure either way.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return SinkResult{}, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: cfg.Port}); err != nil {
		return SinkResult{}, fmt.Errorf("bind :%d: %w", cfg.Port, err)
	}
	if _, err := IfRxPackets(cfg.Ifname); err != nil {
		return SinkResult{}, err
	}
	ready()

	var got atomic.Uint64
	var stop atomic.Bool
	first := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		const batch = 64
		bufs := make([][2048]byte, batch)
		iovs := make([]unix.Iovec, batch)
		msgs := make([]mmsghdr, batch)
		for i := range msgs {
			iovs[i].Base = &bufs[i][0]
			iovs[i].SetLen(len(bufs[i]))
			msgs[i].hdr.Iov = &iovs[i]
			msgs[i].hdr.SetIovlen(1)
		}
		signalled := false
		for !stop.Load() {
			r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd),
				uintptr(unsafe.Pointer(&msgs[0])), batch, 0, 0, 0)
			if errno != 0 {
				continue // EAGAIN on the receive timeout: look at stop
			}
			got.Add(uint64(r))
			if !signalled {
				signalled = true
				close(first)
			}
		}
		runtime.KeepAlive(bufs)
	}()
	defer func() { stop.Store(true); <-done }()

	select {
	case <-first:
	case <-time.After(cfg.FirstPacket):
		return SinkResult{}, fmt.Errorf("no packet reached :%d within %v", cfg.Port, cfg.FirstPacket)
	}
	time.Sleep(cfg.Warmup)
	if0, err := IfRxPackets(cfg.Ifname)
	if err != nil {
		return SinkResult{}, err
	}
	app0, t0 := got.Load(), time.Now()
	time.Sleep(cfg.Window)
	if1, err := IfRxPackets(cfg.Ifname)
	if err != nil {
		return SinkResult{}, err
	}
	app1, secs := got.Load(), time.Since(t0).Seconds()
	res := SinkResult{IfPackets: if1 - if0, AppPackets: app1 - app0, Seconds: secs, Ifname: cfg.Ifname}
	res.IfPPS = float64(res.IfPackets) / secs
	res.AppPPS = float64(res.AppPackets) / secs
	if res.IfPackets == 0 {
		return res, errors.New("traffic stopped: no packet in the window")
	}
	return res, nil
}

// IfRxPackets reads the receive packet counter of ifname from
// /proc/self/net/dev, which shows the calling process's network namespace.
func IfRxPackets(ifname string) (uint64, error) {
	f, err := os.Open("/proc/self/net/dev")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseNetDev(bufio.NewScanner(f), ifname)
}

func parseNetDev(sc *bufio.Scanner, ifname string) (uint64, error) {
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) != ifname {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			return 0, fmt.Errorf("/proc/net/dev: short line for %s", ifname)
		}
		return strconv.ParseUint(f[1], 10, 64) // bytes, then packets
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no interface %q in this namespace", ifname)
}
