package port

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// dgramPair is a connected pair of non-blocking datagram sockets: like a
// tap, each read returns one message, and a read with none waiting fails
// with EAGAIN.
func dgramPair(t testing.TB) (a, b int) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

func newTestUring(t testing.TB, entries uint32) *Uring {
	r, err := NewUring(entries)
	if errors.Is(err, ErrUringUnavailable) {
		t.Fatalf("this kernel refuses io_uring (%v); vswitchd would fall back to read/write, but these tests need a ring", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestUringWritesThenReadsInOrder(t *testing.T) {
	r := newTestUring(t, 16)
	a, b := dgramPair(t)
	const n = 10
	for i := 0; i < n; i++ {
		r.PrepWrite(a, []byte(fmt.Sprintf("frame %d", i)), uint64(100+i))
	}
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]int32{}
	for {
		ud, res, ok := r.Next()
		if !ok {
			break
		}
		seen[ud] = res
	}
	for i := 0; i < n; i++ {
		want := int32(len(fmt.Sprintf("frame %d", i)))
		if seen[uint64(100+i)] != want {
			t.Fatalf("write %d: result %d, want %d bytes (all results %v)", i, seen[uint64(100+i)], want, seen)
		}
	}

	// More reads than messages: the extra ones end with EAGAIN at once
	// (RWF_NOWAIT), they do not wait for data.
	bufs := make([][]byte, n+3)
	for i := range bufs {
		bufs[i] = make([]byte, 64)
		r.PrepRead(b, bufs[i], uint64(i))
	}
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	got, eagain := 0, 0
	for {
		i, res, ok := r.Next()
		if !ok {
			break
		}
		switch {
		case res == -int32(unix.EAGAIN):
			eagain++
		case res < 0:
			t.Fatalf("read %d: %v", i, unix.Errno(-res))
		default:
			if want := fmt.Sprintf("frame %d", i); string(bufs[i][:res]) != want {
				t.Fatalf("read %d got %q, want %q: requests must run in ring order", i, bufs[i][:res], want)
			}
			got++
		}
	}
	if got != n || eagain != 3 {
		t.Fatalf("%d messages read and %d EAGAIN, want %d and 3", got, eagain, n)
	}
}

// submitCount submits what r holds and counts the completions that moved
// want bytes.
func submitCount(t *testing.T, r *Uring, want int) int {
	t.Helper()
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, res, ok := r.Next()
		if !ok {
			return n
		}
		if res == int32(want) {
			n++
		}
	}
}

func TestUringSubmitsMoreThanTheRingInParts(t *testing.T) {
	r := newTestUring(t, 4)
	a, b := dgramPair(t)
	sent := 0
	payload := bytes.Repeat([]byte{7}, 60)
	for i := 0; i < 11; i++ {
		if r.Space() == 0 {
			sent += submitCount(t, r, len(payload))
		}
		r.PrepWrite(a, payload, 0)
	}
	sent += submitCount(t, r, len(payload))
	buf := make([]byte, 100)
	recv := 0
	for {
		if _, err := unix.Read(b, buf); err != nil {
			break
		}
		recv++
	}
	if sent != 11 || recv != 11 {
		t.Fatalf("ring reported %d writes done, the peer read %d messages; want 11 and 11", sent, recv)
	}
}

func TestUringReportsAFailedWrite(t *testing.T) {
	r := newTestUring(t, 8)
	a, b := dgramPair(t)
	unix.Close(b) // the peer is gone: writes fail with ECONNREFUSED
	r.PrepWrite(a, []byte("x"), 1)
	if err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	_, res, ok := r.Next()
	if !ok || res >= 0 {
		t.Fatalf("write to a closed peer: ok=%v res=%d, want a negative errno", ok, res)
	}
}

// benchWrite32 times send, a batch of 32 64-byte frames to a datagram
// socket, b.N times; the receiver is emptied outside the timer.
func benchWrite32(b *testing.B, send func(fd int, frame []byte)) {
	a, peer := dgramPair(b)
	unix.SetsockoptInt(peer, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	frame := make([]byte, 64)
	drain := make([]byte, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		send(a, frame)
		b.StopTimer()
		for {
			if _, err := unix.Read(peer, drain); err != nil {
				break
			}
		}
		b.StartTimer()
	}
}

// BenchmarkUringWrite32 is the cost of handing a batch of 32 frames to the
// kernel in one io_uring_enter, with its completions taken.
func BenchmarkUringWrite32(b *testing.B) {
	r := newTestUring(b, 64)
	benchWrite32(b, func(fd int, frame []byte) {
		for j := 0; j < 32; j++ {
			r.PrepWrite(fd, frame, uint64(j))
		}
		if err := r.Submit(); err != nil {
			b.Fatal(err)
		}
		for {
			if _, _, ok := r.Next(); !ok {
				break
			}
		}
	})
}

// BenchmarkWrite32 is the same batch with one write(2) per frame, the path
// without a ring, for comparison.
func BenchmarkWrite32(b *testing.B) {
	benchWrite32(b, func(fd int, frame []byte) {
		for j := 0; j < 32; j++ {
			unix.Write(fd, frame)
		}
	})
}
