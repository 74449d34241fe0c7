//go:build linux

package traffic

import (
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// The request/response test over IPv6. sockperf 3.7 (Debian 12's) takes
// IPv4 addresses only, so the IPv6 scenarios time their round trips with
// this instead: the same pattern (TCP, TCP_NODELAY, one small message in
// flight, full round trip timed, not halved), blocking syscalls on one
// locked OS thread at each end, as sockperf's ping-pong does them.

// RRSize is the message of a round trip, sockperf's default for the
// harness's runs (14 bytes).
const RRSize = 14

// sockaddrOf is dst as a socket address and the family of the socket that
// reaches it.
func sockaddrOf(ap netip.AddrPort) (unix.Sockaddr, int) {
	a := ap.Addr().Unmap()
	if a.Is4() {
		return &unix.SockaddrInet4{Addr: a.As4(), Port: int(ap.Port())}, unix.AF_INET
	}
	return &unix.SockaddrInet6{Addr: a.As16(), Port: int(ap.Port())}, unix.AF_INET6
}

// listenTCP binds port on every address of the family: 0.0.0.0, or :: for
// IPv6 (which takes IPv4 too, as mapped addresses, unless the namespace
// sets bindv6only).
func listenTCP(port int, v6 bool) (int, error) {
	family := unix.AF_INET
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: port}
	if v6 {
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: port}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind :%d: %w", port, err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// RRConfig is one request/response run.
type RRConfig struct {
	Dst      netip.AddrPort
	Duration time.Duration
	Size     int // message bytes, RRSize by default
	// Warmup round trips are made first and not timed (sockperf's
	// warm-up: neighbour and route caches, the server's first wake-up).
	Warmup  int
	Timeout time.Duration // connect and each read
}

// RRResult holds the round-trip times of a run, in microseconds.
type RRResult struct {
	Observations int     `json:"observations"`
	Seconds      float64 `json:"seconds"`
	Avg          float64 `json:"avg_us"`
	P50          float64 `json:"p50_us"`
	P99          float64 `json:"p99_us"`
	P999         float64 `json:"p999_us"`
	Max          float64 `json:"max_us"`
	Size         int     `json:"size"`
}

// rrMaxSamples bounds the samples kept (one float64 each): 8M round trips
// is far more than a run of seconds makes at tens of microseconds each.
const rrMaxSamples = 8 << 20

// RRClient connects to an RRServe at cfg.Dst and makes round trips one
// after another for cfg.Duration: write the message, read it back whole.
func RRClient(cfg RRConfig) (RRResult, error) {
	if cfg.Size <= 0 {
		cfg.Size = RRSize
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Second
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sa, family := sockaddrOf(cfg.Dst)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return RRResult{}, err
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(cfg.Timeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.Connect(fd, sa); err != nil {
		return RRResult{}, fmt.Errorf("connect %v: %w", cfg.Dst, err)
	}
	msg := make([]byte, cfg.Size)
	for i := range msg {
		msg[i] = byte('a' + i%26)
	}
	buf := make([]byte, cfg.Size)
	trip := func() error {
		if _, err := unix.Write(fd, msg); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		for got := 0; got < len(buf); {
			n, err := unix.Read(fd, buf[got:])
			if err == unix.EINTR { // a read with SO_RCVTIMEO is not restarted
				continue
			}
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
			if n == 0 {
				return fmt.Errorf("read: server closed the connection")
			}
			got += n
		}
		return nil
	}
	for i := 0; i < cfg.Warmup; i++ {
		if err := trip(); err != nil {
			return RRResult{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	samples := make([]float64, 0, 1<<16)
	start := time.Now()
	end := start.Add(cfg.Duration)
	for len(samples) < rrMaxSamples {
		t0 := time.Now()
		if !t0.Before(end) {
			break
		}
		if err := trip(); err != nil {
			return RRResult{}, err
		}
		samples = append(samples, float64(time.Since(t0).Nanoseconds())/1000)
	}
	res := Summarize(samples)
	res.Seconds = time.Since(start).Seconds()
	res.Size = cfg.Size
	if res.Observations == 0 {
		return res, fmt.Errorf("no round trip in %v", cfg.Duration)
	}
	return res, nil
}

// Summarize sorts samples (µs) in place and returns their count, mean and
// percentiles. A percentile q is the smallest sample with at least q of
// the samples at or below it (nearest rank).
func Summarize(samples []float64) RRResult {
	res := RRResult{Observations: len(samples)}
	if len(samples) == 0 {
		return res
	}
	sort.Float64s(samples)
	sum := 0.0
	for _, s := range samples {
		sum += s
	}
	rank := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(samples)))) - 1
		return samples[min(max(i, 0), len(samples)-1)]
	}
	res.Avg = round3(sum / float64(len(samples)))
	res.P50, res.P99, res.P999 = round3(rank(0.50)), round3(rank(0.99)), round3(rank(0.999))
	res.Max = round3(samples[len(samples)-1])
	return res
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// RRServe echoes every message on port until the process is killed, one
// connection at a time (the client makes one), each on a locked OS thread.
// ready is called once listening.
func RRServe(port int, v6 bool, ready func()) error {
	fd, err := listenTCP(port, v6)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ready()
	runtime.LockOSThread()
	buf := make([]byte, 64<<10)
	for {
		c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err != nil {
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		_ = unix.SetsockoptInt(c, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		for {
			n, err := unix.Read(c, buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n == 0 {
				break
			}
			if _, err := unix.Write(c, buf[:n]); err != nil {
				break
			}
		}
		unix.Close(c)
	}
}
