package dataplane

import (
	"cmp"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/dataplane/port"
	"vswitch/header"
)

// wakeTag marks the worker's own eventfd in epoll events; any other value is
// a port index.
const wakeTag = -1

// maxRounds bounds how many batches one port gets per wake-up, so a busy port
// cannot starve the others of the same worker.
const maxRounds = 4

// worker serves a set of ports on one OS thread: it waits on them with epoll,
// reads a batch from a ready port, runs every frame through the pipeline and
// writes the results to the egress ports itself. No channel, no goroutine
// hop: the measured cost of waking a thread on the other core (5–35 µs) is
// larger than forwarding a frame.
type worker struct {
	dp       *Dataplane
	id       int
	epfd     int
	wakefd   int
	epoch    atomic.Uint64 // +1 per loop iteration; see Dataplane.quiesceLocked
	stopping atomic.Bool

	// Owned by the worker's goroutine alone.
	bufs      [][]byte
	sizes     []int
	events    []unix.EpollEvent
	out       outQueues
	gen       [][]byte  // buffers for frames the router makes (ICMP, ARP, fragments)
	ngen      int       // gen buffers used in this batch
	cur       *snapshot // the snapshot of the batch being forwarded
	icmpLimit rateLimit
	tr        *tracer     // the frame being decided is traced (trace.go); nil on the fast path
	scratch   []byte      // one GSO segment being built (l3.go segment)
	lat       latencyHist // forwardBatch's time per batch (latency.go)
}

// Generated frames are small (ARP, ICMP errors) or fragments, so their
// buffers are smaller than receive buffers; fragments are cut to fit.
const (
	genBufs    = 64
	genBufSize = 16 << 10
)

// outQueues gathers a batch's frames per egress queue, so each egress gets
// one WriteBatch per input batch. A frame goes to the worker's own queue of
// a multi-queue port, unless steer chose the queue its flow lives on.
type outQueues struct {
	worker  int     // the owning worker's id: its own queue of each egress
	nq      int     // queues a port may have: one per worker
	q       []txq   // by slot: port index × nq + queue
	touched []int32 // slots with frames waiting
	// ring, when Options.IOUring asked for one and the kernel gave it,
	// carries the writes of a whole flush (every egress) and each read
	// batch in one system call; nil: one write(2)/read(2) per frame.
	ring *port.Uring
}

type txq struct {
	frames [][]byte
	bytes  uint64
	gso    uint64
	failed int  // writes of this flush the ring reported failed
	ringed bool // this flush's frames went to the ring
}

func newWorker(dp *Dataplane, id int) (*worker, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeTag}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wfd)
		return nil, err
	}
	w := &worker{dp: dp, id: id, epfd: epfd, wakefd: wfd, events: make([]unix.EpollEvent, 64)}
	w.out.worker, w.out.nq = id, max(dp.opts.Workers, 1)
	if dp.opts.IOUring {
		// Room for one read batch, or a batch flooded to a few ports,
		// per Submit; a bigger flush is submitted in parts.
		if r, err := port.NewUring(256); err != nil {
			if id == 0 {
				dp.log.Warn("no io_uring; the workers use one read/write per frame", "err", err)
			}
		} else {
			w.out.ring = r
		}
	}
	w.bufs = make([][]byte, dp.opts.Batch)
	w.sizes = make([]int, dp.opts.Batch)
	for i := range w.bufs {
		w.bufs[i] = make([]byte, port.BufSize)
	}
	w.scratch = make([]byte, genBufSize)
	w.gen = make([][]byte, genBufs)
	for i := range w.gen {
		w.gen[i] = make([]byte, genBufSize)
	}
	return w, nil
}

var monoStart = time.Now()

// nanotime is a monotonic clock reading (no allocation, vDSO).
func nanotime() int64 { return int64(time.Since(monoStart)) }

func (w *worker) watch(fd int, idx uint16) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(idx)}
	return unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

func (w *worker) unwatch(fd int) {
	unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

func (w *worker) kick() {
	one := [8]byte{1}
	unix.Write(w.wakefd, one[:])
}

func (w *worker) close() {
	unix.Close(w.epfd)
	unix.Close(w.wakefd)
	if w.out.ring != nil {
		w.out.ring.Close()
	}
}

func (w *worker) run() {
	// One OS thread per worker: epoll_wait blocks the thread, not the
	// runtime, and a wake-up lands on the thread that waits.
	// The thread is never unlocked: it carries the worker's priority and
	// name, and when the goroutine ends the runtime ends the thread with it
	// rather than hand it, raised and named, to other goroutines.
	runtime.LockOSThread()
	// Named, so that top -H, ps -L and the bench harness tell the workers
	// from the runtime's threads (/proc/PID/task/TID/comm).
	setThreadName(fmt.Sprintf("vswd-worker%d", w.id))
	// The kernel forwards in softirq context, ahead of every process; a
	// worker at the same priority as the namespaces' senders gets a fair
	// share of the CPU while they flood its queues, and what it does not
	// forward in time is dropped at the TAP. Measured here (bench harness,
	// 2 pairs in one run): 64-byte UDP at nice 0 / -5 / -10 reached 0.77 /
	// 0.94 / 0.94 of the kernel bridge (routed 0.60 / 0.89 / 1.16), while
	// TCP kept its ratio at -5 but lost 10-20% at -10, where the workers
	// start to starve the applications that must drain the data. Hence -5
	// by default. Only the worker threads are raised, never the rest of the
	// daemon.
	// SCHED_FIFO goes further: a woken worker preempts the senders at once,
	// as softirq does, and the kernel's RT throttling (95% of each second)
	// keeps a flood from starving everything else. An experiment of issue
	// 17, off by default; docs/performance.md has what it measured.
	// SCHED_FLAG_RESET_ON_FORK: a thread cloned from this one (the Go
	// runtime starts new threads from whichever thread needs one, a worker
	// entering epoll_wait included) starts at SCHED_OTHER and nice 0, not
	// with the worker's priority: only the workers are raised.
	if prio := w.dp.opts.RTPriority; prio > 0 {
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(prio), Flags: unix.SCHED_FLAG_RESET_ON_FORK}
		if err := unix.SchedSetAttr(unix.Gettid(), &attr, 0); err != nil && w.id == 0 {
			w.dp.log.Warn("cannot make the workers real-time (needs CAP_SYS_NICE)", "priority", prio, "err", err)
		}
	} else if n := w.dp.opts.Nice; n != 0 {
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL, Nice: int32(n), Flags: unix.SCHED_FLAG_RESET_ON_FORK}
		if err := unix.SchedSetAttr(unix.Gettid(), &attr, 0); err != nil && w.id == 0 {
			w.dp.log.Warn("cannot raise the workers' priority (needs CAP_SYS_NICE); forwarding competes with the namespaces for the CPU", "nice", n, "err", err)
		}
	}
	// Polling before sleeping (Options.Spin): a worker that sleeps in
	// epoll_wait is woken by an interrupt to its CPU, and on this VM an
	// idle virtual CPU takes 5-35 µs to wake, more than forwarding a frame
	// costs. While the next frame of a request/response exchange is due,
	// the worker polls instead; between empty polls it yields the CPU, so
	// any thread that has work there (the namespaces' own senders and
	// receivers, on a machine with as few CPUs as workers) runs first and
	// the poll takes only time nobody else wanted. docs/performance.md has
	// the measurements: polling without yielding, or letting one worker
	// poll at a time, lost on some paths what it won on others.
	spin := w.dp.opts.Spin.Nanoseconds()
	var idleSince int64 // when the worker last found work, while it polls
	found := true       // the last epoll_wait returned something
	for !w.stopping.Load() {
		timeout := -1
		if spin > 0 && idleSince != 0 {
			if nanotime()-idleSince < spin {
				timeout = 0
				if !found {
					unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
				}
			} else {
				idleSince = 0
			}
		}
		n, err := unix.EpollWait(w.epfd, w.events, timeout)
		found = n > 0
		if spin > 0 && found {
			idleSince = nanotime()
		}
		if err != nil && err != unix.EINTR {
			w.dp.log.Error("epoll_wait failed; worker stops", "worker", w.id, "err", err)
			return
		}
		s := w.dp.cfg.Load()
		for i := 0; i < n; i++ {
			tag := w.events[i].Fd
			if tag == wakeTag {
				var b [8]byte
				unix.Read(w.wakefd, b[:])
				continue
			}
			if p := s.port(uint16(tag)); p != nil {
				w.serve(s, p)
			}
		}
		w.epoch.Add(1)
	}
}

// serve reads and forwards up to maxRounds batches from one port.
func (w *worker) serve(s *snapshot, in *Port) {
	defer w.survive(in)
	for round := 0; round < maxRounds; round++ {
		q := in.queueFor(w.id)
		var n int
		var err error
		drained := false
		if rp, ok := q.(port.RingPort); ok && w.out.ring != nil {
			n, drained, err = rp.ReadRing(w.out.ring, w.bufs, w.sizes)
		} else {
			n, err = q.ReadBatch(w.bufs, w.sizes)
			drained = n < len(w.bufs)
		}
		if err != nil {
			// A device that errors (its namespace gone, say) would spin
			// level-triggered epoll: stop polling it. The port stays
			// configured (and counted) until `port rm`.
			w.dp.log.Warn("port read failed; no longer polled", "port", in.Name, "err", err)
			w.unwatch(q.Fd())
			return
		}
		if n == 0 {
			return
		}
		w.forwardBatch(s, in, w.bufs[:n], w.sizes[:n])
		if drained {
			return
		}
	}
}

// survive keeps a bug met while forwarding one batch from taking vswitchd
// and every network down with it: the batch is dropped (counted as
// internal-error), the stack logged, and the worker goes on.
func (w *worker) survive(in *Port) {
	r := recover()
	if r == nil {
		return
	}
	w.dp.log.Error("BUG: panic while forwarding; batch dropped", "port", in.Name, "panic", r, "stack", string(debug.Stack()))
	in.Stats.Drops[DropInternal].Add(1)
	for _, slot := range w.out.touched {
		w.out.q[slot].reset()
	}
	w.out.touched = w.out.touched[:0]
	w.ngen, w.cur = 0, nil
	w.tr = nil // a traced frame that panicked must not leave later frames traced
}

// forwardBatch runs each frame of a batch through the pipeline, then writes
// what each egress port got. Buffers are reused once this returns.
func (w *worker) forwardBatch(s *snapshot, in *Port, bufs [][]byte, sizes []int) {
	t0 := nanotime()
	now := w.dp.opts.Now().UnixNano()
	w.cur = s
	live := w.dp.trace.live.Load() // nil unless `trace --live` runs: the batch's one cost of tracing
	if t := in.tap.Load(); t != nil {
		t.put(CaptureIn, bufs, sizes, captureTags(in), 0) // before the pipeline rewrites them
	}
	var rxBytes, rxGSO uint64
	var pol policeRun // the port's policer, this batch (police.go)
	if in.police != nil {
		pol = in.police.begin(t0)
	}
	vl := vlanBegin(in) // a trunk, or a batch with tags (vlan.go)
	for i, b := range bufs {
		buf := b[:sizes[i]]
		if len(buf) < header.VirtioNetHdrLen {
			in.Stats.Drops[DropMalformed].Add(1)
			continue
		}
		rxBytes += uint64(len(buf) - header.VirtioNetHdrLen)
		if header.VirtioNetHdr(buf).IsGSO() {
			rxGSO++
		}
		if in.multiQueue() {
			w.dp.hints.note(buf, w.id)
		}
		fin := in // the port the frame enters on: on a trunk, its VLAN's member
		if vl.on {
			var why DropReason
			if fin, buf, why = vl.classify(s, in, i, buf); why != DropNone {
				in.Stats.Drops[why].Add(1)
				continue
			}
		}
		if live != nil {
			w.tr = live.begin(w, fin, buf)
		}
		var v Verdict
		if pol.p != nil && !pol.take(wireLen(buf)) {
			v = drop(DropPoliced) // before the pipeline: nothing learned, tracked or counted by it
		} else {
			v = w.decide(s, fin, buf, now)
		}
		if live != nil && w.tr != nil {
			live.end(w, s, fin, buf, v, now)
		}
		if v.Action == ActDrop {
			in.Stats.Drops[v.Reason].Add(1)
			continue
		}
		if v.Len > 0 {
			buf = buf[:v.Len]
		}
		w.apply(s, fin, buf, v)
	}
	if pol.p != nil {
		pol.commit()
	}
	in.Stats.RxPackets.Add(uint64(len(bufs)))
	in.Stats.RxBytes.Add(rxBytes)
	if rxGSO > 0 {
		in.Stats.RxGSO.Add(rxGSO)
	}
	w.out.flush(s)
	w.ngen = 0
	w.cur = nil
	w.lat.observe(nanotime() - t0)
}

// apply queues buf (virtio_net_hdr + frame) as the verdict says. in is the
// ingress port, never flooded back to; nil for frames the router made.
func (w *worker) apply(s *snapshot, in *Port, buf []byte, v Verdict) {
	frameLen := len(buf) - header.VirtioNetHdrLen
	gso := header.VirtioNetHdr(buf).IsGSO()
	switch v.Action {
	case ActForward:
		w.out.add(v.Port, w.steer(s, in, v.Port, buf), buf, frameLen, gso)
	case ActFlood:
		net := s.network(v.Port) // the network, for a flood
		if net == nil {
			return
		}
		for _, p := range net.Ports {
			if in == nil || p != in.Index {
				w.out.add(p, w.id, buf, frameLen, gso)
			}
		}
	}
}

// genBuf returns a buffer for a frame the router makes. When the batch has
// used them all, what is queued is written first so they can be reused.
func (w *worker) genBuf() []byte {
	if w.ngen == len(w.gen) {
		if w.cur == nil {
			return nil
		}
		w.out.flush(w.cur)
		w.ngen = 0
	}
	g := w.gen[w.ngen]
	w.ngen++
	return g
}

func (o *outQueues) add(idx uint16, queue int, buf []byte, frameLen int, gso bool) {
	slot := int(idx)*o.nq + queue // queue < nq: a worker id
	if slot >= len(o.q) {
		// Grows only when a port index is seen the first time.
		o.q = append(o.q, make([]txq, (int(idx)+1)*o.nq-len(o.q))...)
	}
	q := &o.q[slot]
	if len(q.frames) == 0 {
		o.touched = append(o.touched, int32(slot))
	}
	q.frames = append(q.frames, buf)
	q.bytes += uint64(frameLen)
	if gso {
		q.gso++
	}
}

func (o *outQueues) flush(s *snapshot) {
	if o.ring != nil {
		o.flushRing(s)
		return
	}
	for _, slot := range o.touched {
		q := &o.q[slot]
		if p := s.port(uint16(int(slot) / o.nq)); p != nil {
			if t := p.tap.Load(); t != nil {
				t.put(CaptureOut, q.frames, nil, nil, p.vid) // p.vid: a trunk member's tag
			}
			sent, _ := p.queueFor(int(slot) % o.nq).WriteBatch(q.frames)
			o.count(p, q, sent)
		}
		q.reset()
	}
	o.touched = o.touched[:0]
}

// flushRing writes every frame of every egress that can take ring requests
// in one Submit (or a few, when they outnumber the ring); the others get
// their WriteBatch as in flush.
func (o *outQueues) flushRing(s *snapshot) {
	r := o.ring
	var ringErr error
	for _, slot := range o.touched {
		q := &o.q[slot]
		p := s.port(uint16(int(slot) / o.nq))
		if p == nil {
			continue
		}
		if t := p.tap.Load(); t != nil {
			t.put(CaptureOut, q.frames, nil, nil, p.vid)
		}
		pq := p.queueFor(int(slot) % o.nq)
		if _, ok := pq.(port.RingPort); !ok {
			sent, _ := pq.WriteBatch(q.frames)
			o.count(p, q, sent)
			q.reset()
			continue
		}
		fd := pq.Fd()
		q.ringed = true
		for _, f := range q.frames {
			if r.Space() == 0 {
				ringErr = cmp.Or(o.submit(), ringErr)
			}
			r.PrepWrite(fd, f, uint64(slot))
		}
	}
	ringErr = cmp.Or(o.submit(), ringErr)
	for _, slot := range o.touched {
		q := &o.q[slot]
		if q.ringed {
			if p := s.port(uint16(int(slot) / o.nq)); p != nil {
				if ringErr != nil {
					q.failed = len(q.frames) // completions lost with the ring: count them as not sent
				}
				o.count(p, q, len(q.frames)-q.failed)
			}
		}
		q.reset()
	}
	o.touched = o.touched[:0]
}

// submit runs the ring's prepared writes and notes the failed ones on their
// slot.
func (o *outQueues) submit() error {
	err := o.ring.Submit()
	for {
		slot, res, ok := o.ring.Next()
		if !ok {
			return err
		}
		if res < 0 && int(slot) < len(o.q) {
			o.q[slot].failed++
		}
	}
}

// count adds a flushed queue's frames to its port's counters: sent of them
// left, the rest are tx errors.
func (o *outQueues) count(p *Port, q *txq, sent int) {
	p.Stats.TxPackets.Add(uint64(sent))
	if sent == len(q.frames) {
		p.Stats.TxBytes.Add(q.bytes)
		p.Stats.TxGSO.Add(q.gso)
	} else {
		p.Stats.Drops[DropTxError].Add(uint64(len(q.frames) - sent))
	}
}

func (q *txq) reset() {
	clear(q.frames) // drop references to the worker's buffers
	q.frames = q.frames[:0]
	q.bytes, q.gso, q.failed, q.ringed = 0, 0, 0, false
}

// setThreadName names the calling thread (at most 15 bytes, PR_SET_NAME).
func setThreadName(name string) {
	b := make([]byte, 16)
	copy(b[:15], name)
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
}
