package port

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Chan must behave like a device to the workers: readable exactly while it
// has frames, ReadBatch non-blocking and in order, WriteBatch never blocking.

func newChan(t *testing.T, keep bool) *Chan {
	t.Helper()
	c, err := NewChan(keep)
	if err != nil {
		t.Fatalf("NewChan: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readable polls the eventfd without waiting, as level-triggered epoll sees it.
func readable(t *testing.T, c *Chan) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(c.Fd()), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return n == 1 && fds[0].Revents&unix.POLLIN != 0
}

func batch(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, BufSize)
	}
	return bufs, make([]int, n)
}

func frameN(i, size int) []byte {
	f := make([]byte, size)
	for j := range f {
		f[j] = byte(i + j)
	}
	return f
}

func TestChanReadBatch(t *testing.T) {
	c := newChan(t, true)
	if readable(t, c) {
		t.Fatal("a new Chan is readable")
	}
	bufs, sizes := batch(2)
	if n, err := c.ReadBatch(bufs, sizes); n != 0 || err != nil {
		t.Fatalf("ReadBatch on an empty Chan = %d, %v; want 0, nil", n, err)
	}

	frames := [][]byte{frameN(1, 60), frameN(2, 1514), frameN(3, 65000)}
	for _, f := range frames {
		c.Send(f)
	}
	if !readable(t, c) {
		t.Fatal("not readable with frames queued")
	}
	var got [][]byte
	for _, wantN := range []int{2, 1} {
		n, err := c.ReadBatch(bufs, sizes)
		if n != wantN || err != nil {
			t.Fatalf("ReadBatch = %d, %v; want %d, nil", n, err, wantN)
		}
		for i := range n {
			got = append(got, append([]byte(nil), bufs[i][:sizes[i]]...))
		}
		if wantN == 2 && !readable(t, c) {
			t.Fatal("not readable with a frame left over a full batch")
		}
	}
	if readable(t, c) {
		t.Error("still readable once drained")
	}
	if n, err := c.ReadBatch(bufs, sizes); n != 0 || err != nil {
		t.Errorf("ReadBatch once drained = %d, %v; want 0, nil", n, err)
	}
	for i := range frames {
		if !bytes.Equal(got[i], frames[i]) {
			t.Errorf("frame %d: read %d bytes that differ from the %d sent", i, len(got[i]), len(frames[i]))
		}
	}

	// Readable again with the next frame: the reset is not for good.
	c.Send(frameN(4, 64))
	if !readable(t, c) {
		t.Error("not readable after a frame was sent to a drained Chan")
	}
}

// TestChanCopies: the caller may reuse its buffer after Send, as the
// worker reuses its buffers after WriteBatch.
func TestChanCopies(t *testing.T) {
	c := newChan(t, true)
	f := frameN(1, 64)
	want := append([]byte(nil), f...)
	c.Send(f)
	f[0] ^= 0xff
	bufs, sizes := batch(1)
	if n, _ := c.ReadBatch(bufs, sizes); n != 1 || !bytes.Equal(bufs[0][:sizes[0]], want) {
		t.Error("Send kept the caller's buffer instead of a copy")
	}

	w := frameN(2, 64)
	want = append([]byte(nil), w...)
	if n, err := c.WriteBatch([][]byte{w}); n != 1 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	w[0] ^= 0xff
	if got := c.Recv(); len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Error("WriteBatch kept the caller's buffer instead of a copy")
	}
}

func TestChanWriteBatchKeep(t *testing.T) {
	c := newChan(t, true)
	if got := c.Recv(); len(got) != 0 {
		t.Fatalf("Recv on a new Chan returned %d frames", len(got))
	}
	var want [][]byte
	for k := range 3 {
		var b [][]byte
		for i := range k + 1 {
			b = append(b, frameN(10*k+i, 60+i))
		}
		if n, err := c.WriteBatch(b); n != len(b) || err != nil {
			t.Fatalf("WriteBatch = %d, %v; want %d, nil", n, err, len(b))
		}
		want = append(want, b...)
	}
	if n, err := c.WriteBatch(nil); n != 0 || err != nil {
		t.Fatalf("empty WriteBatch = %d, %v", n, err)
	}
	if got := c.Written.Load(); got != uint64(len(want)) {
		t.Errorf("Written = %d, want %d", got, len(want))
	}
	got := c.Recv()
	if len(got) != len(want) {
		t.Fatalf("Recv returned %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d differs or is out of order", i)
		}
	}
	if again := c.Recv(); len(again) != 0 {
		t.Errorf("a second Recv returned %d frames; Recv forgets what it returned", len(again))
	}
	if readable(t, c) {
		t.Error("written frames made the port readable; they are the port's output, not its input")
	}
}

func TestChanWriteBatchCountOnly(t *testing.T) {
	c := newChan(t, false)
	b := [][]byte{frameN(1, 64), frameN(2, 64)}
	for range 3 {
		if n, err := c.WriteBatch(b); n != 2 || err != nil {
			t.Fatalf("WriteBatch = %d, %v", n, err)
		}
	}
	if got := c.Written.Load(); got != 6 {
		t.Errorf("Written = %d, want 6", got)
	}
	if got := c.Recv(); got != nil {
		t.Errorf("keep=false Chan kept %d frames", len(got))
	}
	if a := testing.AllocsPerRun(100, func() { c.WriteBatch(b) }); a != 0 {
		t.Errorf("keep=false WriteBatch allocates %v times; benchmarks rely on 0", a)
	}
}

// TestChanEpoll drives the eventfd through epoll the way a worker does
// (level-triggered): an event while frames wait, none once ReadBatch drained
// them.
func TestChanEpoll(t *testing.T) {
	c := newChan(t, true)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: 7}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, c.Fd(), &ev); err != nil {
		t.Fatal(err)
	}
	events := make([]unix.EpollEvent, 4)
	wait := func() int {
		n, err := unix.EpollWait(ep, events, 0)
		for err == unix.EINTR {
			n, err = unix.EpollWait(ep, events, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := wait(); n != 0 {
		t.Fatalf("%d events on an idle Chan", n)
	}
	for i := range 40 {
		c.Send(frameN(i, 64))
	}
	bufs, sizes := batch(32)
	for round, want := range []int{32, 8} {
		if n := wait(); n != 1 || events[0].Fd != 7 {
			t.Fatalf("round %d: %d events, want the Chan's", round, n)
		}
		if n, _ := c.ReadBatch(bufs, sizes); n != want {
			t.Fatalf("round %d: read %d, want %d", round, n, want)
		}
	}
	if n := wait(); n != 0 {
		t.Errorf("%d events after ReadBatch drained the Chan", n)
	}
}

// TestChanConcurrent sends from several goroutines while one reads (a
// worker) and others write (other workers): every frame is read once, each
// sender's in order. Run with -race.
func TestChanConcurrent(t *testing.T) {
	c := newChan(t, true)
	const senders, perSender = 4, 500
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				c.Send(fmt.Appendf(nil, "%d/%d", s, i))
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := [][]byte{frameN(0, 60)}
			for range perSender {
				c.WriteBatch(b)
			}
		}()
	}
	next := make([]int, senders)
	bufs, sizes := batch(8)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	total, finished := 0, false
	for total < senders*perSender {
		n, err := c.ReadBatch(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			var s, k int
			if _, err := fmt.Sscanf(string(bufs[i][:sizes[i]]), "%d/%d", &s, &k); err != nil {
				t.Fatalf("garbled frame %q", bufs[i][:sizes[i]])
			}
			if k != next[s] {
				t.Fatalf("sender %d: frame %d read after %d", s, k, next[s]-1)
			}
			next[s]++
		}
		total += n
		if n == 0 {
			if finished {
				t.Fatalf("read %d of %d frames", total, senders*perSender)
			}
			select {
			case <-done:
				finished = true // one more pass picks up the last ones
			default:
			}
		}
	}
	<-done
	if got := len(c.Recv()); got != 2*perSender {
		t.Errorf("kept %d written frames, want %d", got, 2*perSender)
	}
}
