//go:build linux

package traffic

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ConnConfig is the connection-rate client's load.
type ConnConfig struct {
	Dst      netip.AddrPort
	Workers  int // concurrent connections in flight, one OS thread each
	Duration time.Duration
	Timeout  time.Duration // per connect and per read
}

// ConnResult counts completed transactions: connect, one byte each way,
// RST close.
type ConnResult struct {
	Connections uint64  `json:"connections"`
	Errors      uint64  `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"conn_per_s"`
	Workers     int     `json:"workers"`
	FirstError  string  `json:"first_error,omitempty"`
}

var rstLinger = unix.Linger{Onoff: 1, Linger: 0}

// ConnClient opens connections to cfg.Dst back to back for cfg.Duration.
func ConnClient(cfg ConnConfig) (ConnResult, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	sa, family := sockaddrOf(cfg.Dst)
	tv := unix.NsecToTimeval(cfg.Timeout.Nanoseconds())
	var ok, bad atomic.Uint64
	var firstErr atomic.Value
	fail := func(what string, err error) {
		bad.Add(1)
		firstErr.CompareAndSwap(nil, what+": "+err.Error())
	}
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for w := 0; w < cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			buf := []byte{'x'}
			for time.Now().Before(deadline) {
				fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					fail("socket", err)
					time.Sleep(time.Millisecond)
					continue
				}
				// SO_SNDTIMEO bounds a blocking connect on Linux.
				_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
				_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
				_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &rstLinger)
				err = unix.Connect(fd, sa)
				if err == nil {
					_, err = unix.Write(fd, buf)
					if err != nil {
						fail("write", err)
					}
				} else {
					fail("connect", err)
				}
				if err == nil {
					var n int
					n, err = unix.Read(fd, buf)
					switch {
					case err != nil:
						fail("read", err)
					case n != 1:
						err = fmt.Errorf("server closed before answering")
						fail("read", err)
					}
				}
				unix.Close(fd) // RST: SO_LINGER 0
				if err == nil {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	res := ConnResult{Connections: ok.Load(), Errors: bad.Load(), Seconds: secs, Workers: cfg.Workers}
	res.PerSecond = float64(res.Connections) / secs
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	return res, nil
}

// ConnServe accepts on port until the process is killed: read one byte,
// write it back, close with RST. threads OS threads block in accept on the
// same socket, bound to 0.0.0.0, or to :: when v6. ready is called once
// listening.
func ConnServe(port, threads int, v6 bool, ready func()) error {
	fd, err := listenTCP(port, v6)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ready()
	if threads <= 0 {
		threads = 1
	}
	errc := make(chan error, threads)
	for t := 0; t < threads; t++ {
		go func() {
			runtime.LockOSThread()
			buf := make([]byte, 64)
			for {
				c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
				if err != nil {
					if err == unix.EINTR || err == unix.ECONNABORTED || err == unix.EMFILE {
						continue
					}
					errc <- fmt.Errorf("accept: %w", err)
					return
				}
				_ = unix.SetsockoptInt(c, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
				_ = unix.SetsockoptLinger(c, unix.SOL_SOCKET, unix.SO_LINGER, &rstLinger)
				if n, err := unix.Read(c, buf); err == nil && n > 0 {
					_, _ = unix.Write(c, buf[:n])
				}
				unix.Close(c)
			}
		}()
	}
	return <-errc
}
