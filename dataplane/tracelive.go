package dataplane

import (
	"errors"
	"net/netip"
	"sync/atomic"

	"vswitch/header"
)

// Live traces (`vswitchctl trace --live`): real frames on the real
// workers, marked by a filter in forwardBatch, with the same steps a dry
// run records (trace.go). forwardBatch loads the running trace once per
// batch; while there is none, that load is all tracing costs.

// LiveFilter selects the real frames a live trace follows. Zero fields
// match anything; addresses and the port number match either direction,
// so a flow's answers are followed too. Addresses are IPv4 or IPv6: a
// filter on addresses, protocol or port keeps IP frames only.
type LiveFilter struct {
	Port     uint16 // frames in or out of this port
	Src, Dst netip.Addr
	Proto    uint8
	DPort    uint16
	// Drops keeps only the frames the pipeline drops: what a reader of
	// the drop counters asks next (which packet, and why).
	Drops bool
}

func (f *LiveFilter) wantsIP() bool {
	return f.Src.IsValid() || f.Dst.IsValid() || f.Proto != 0 || f.DPort != 0
}

// match tests the frame's headers: one direction, or the other.
func (f *LiveFilter) match(fi FrameInfo) bool {
	if !f.wantsIP() {
		return true
	}
	ip := fi.IPv4 || (fi.EtherType == header.EtherTypeIPv6 && fi.Src.IsValid())
	if !ip || (f.Proto != 0 && fi.Proto != f.Proto) {
		return false
	}
	fwd := (!f.Src.IsValid() || fi.Src == f.Src) && (!f.Dst.IsValid() || fi.Dst == f.Dst) && (f.DPort == 0 || fi.DPort == f.DPort)
	rev := (!f.Src.IsValid() || fi.Dst == f.Src) && (!f.Dst.IsValid() || fi.Src == f.Dst) && (f.DPort == 0 || fi.SPort == f.DPort)
	return fwd || rev
}

// LiveTrace is a running live trace. Its records come on C; a worker
// never waits for them: when C is full a record is dropped and counted.
type LiveTrace struct {
	C        <-chan PacketTrace
	ch       chan PacketTrace
	filter   LiveFilter
	tracers  []tracer // one per worker, each its own
	overflow atomic.Uint64
	dp       *Dataplane
}

// ErrLiveBusy: one live trace at a time.
var ErrLiveBusy = errors.New("a live trace is already running")

// StartLive starts following the frames filter selects; buffer bounds the
// records waiting to be read.
func (dp *Dataplane) StartLive(filter LiveFilter, buffer int) (*LiveTrace, error) {
	ch := make(chan PacketTrace, max(buffer, 1))
	lt := &LiveTrace{C: ch, ch: ch, filter: filter, tracers: make([]tracer, max(dp.opts.Workers, 1)), dp: dp}
	if !dp.trace.live.CompareAndSwap(nil, lt) {
		return nil, ErrLiveBusy
	}
	return lt, nil
}

// Stop ends the trace and returns how many records were dropped because
// nobody read them in time. C is not closed: a worker that loaded the
// trace before Stop may still send one more record, into the buffer.
func (lt *LiveTrace) Stop() uint64 {
	lt.dp.trace.live.CompareAndSwap(lt, nil)
	return lt.overflow.Load()
}

// Overflow is how many records were dropped so far.
func (lt *LiveTrace) Overflow() uint64 { return lt.overflow.Load() }

// begin marks a frame of the batch when the filter wants it; nil when not.
func (lt *LiveTrace) begin(w *worker, in *Port, buf []byte) *tracer {
	if w.id >= len(lt.tracers) {
		return nil
	}
	if lt.filter.wantsIP() && !lt.filter.match(frameInfoOf(buf)) {
		return nil
	}
	t := &lt.tracers[w.id]
	t.reset()
	t.before = frameInfoOf(buf)
	return t
}

// end sends the record of a marked frame, once decide has decided it.
func (lt *LiveTrace) end(w *worker, s *snapshot, in *Port, buf []byte, v Verdict, now int64) {
	t := w.tr
	w.tr = nil
	t.finish(v)
	if lt.filter.Drops && v.Action != ActDrop {
		return
	}
	if f := lt.filter.Port; f != 0 && in.Index != f && !lt.leaves(s, t, v, f) {
		return
	}
	if v.Len > 0 {
		buf = buf[:v.Len]
	}
	pt := PacketTrace{In: in.Index, Net: in.Net, Time: now, Before: t.before, After: frameInfoOf(buf),
		Verdict: v, Steps: t.steps, N: t.n, Truncated: t.over}
	select {
	case lt.ch <- pt:
	default:
		lt.overflow.Add(1)
	}
}

// leaves reports whether a frame with verdict v goes out of port p.
func (lt *LiveTrace) leaves(s *snapshot, t *tracer, v Verdict, p uint16) bool {
	switch v.Action {
	case ActForward:
		return v.Port == p
	case ActFlood:
		if n := s.network(v.Port); n != nil {
			for _, q := range n.Ports {
				if q == p {
					return true
				}
			}
		}
	case ActConsumed:
		for _, st := range t.steps[:t.n] {
			if st.Stage == StageEgress && st.Port == p {
				return true
			}
		}
	}
	return false
}
