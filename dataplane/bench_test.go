package dataplane

import (
	"testing"
	"time"

	"vswitch/dataplane/port"
	"vswitch/fdb"
	"vswitch/header"
)

// Benchmarks of the L2 fast path, below the epoll loop: decide alone, and a
// worker's forwardBatch over one read batch, on Chan ports that only count
// what they are given (keep=false), so the figures are the pipeline's and
// not a copy's. Each reports allocations, which must be 0 per op in steady
// state (ARCHITECTURE.md, Speed, rule 4); TestFastPathAllocs guards that in
// the ordinary test run.

const benchBatch = 32

// benchbed is a Dataplane that is never started: ports on counting Chans,
// one network, station i+1 learned on port i, and a worker made by newWorker
// whose forwardBatch the benchmark calls itself (no epoll, no goroutine).
type benchbed struct {
	dp    *Dataplane
	w     *worker
	net   uint16
	ports []*Port
	chans []*port.Chan
}

func newBenchbed(tb testing.TB, nports int) *benchbed {
	tb.Helper()
	dp := New(Options{Workers: 1, Batch: benchBatch})
	w, err := newWorker(dp, 0)
	if err != nil {
		tb.Fatalf("newWorker: %v", err)
	}
	bb := &benchbed{dp: dp, w: w}
	tb.Cleanup(func() {
		w.close()
		for _, c := range bb.chans {
			c.Close()
		}
	})
	if bb.net, err = dp.AddNetwork("bench", fdb.Config{}); err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UnixNano()
	for i := range nports {
		ch, err := port.NewChan(false)
		if err != nil {
			tb.Fatal(err)
		}
		bb.chans = append(bb.chans, ch)
		idx, err := dp.AddPort("p", bb.net, ch)
		if err != nil {
			tb.Fatal(err)
		}
		if r := dp.FDB(bb.net).Learn(stationMAC(i+1).Uint64(), idx, now); r != fdb.Learned {
			tb.Fatalf("learn station %d: %v", i+1, r)
		}
		bb.ports = append(bb.ports, dp.cfg.Load().port(idx))
	}
	return bb
}

// fill puts frame into the first n of the worker's own receive buffers, as a
// ReadBatch would, and returns the batch.
func (bb *benchbed) fill(frame []byte, n int) ([][]byte, []int) {
	bufs, sizes := bb.w.bufs[:n], bb.w.sizes[:n]
	for i := range bufs {
		sizes[i] = copy(bufs[i], frame)
	}
	return bufs, sizes
}

var sinkVerdict Verdict

// BenchmarkDecide is the per-frame decision for known unicast: source
// learned (a refresh at most), destination looked up.
func BenchmarkDecide(b *testing.B) {
	bb := newBenchbed(b, 2)
	s := bb.dp.cfg.Load()
	in := bb.ports[0]
	buf := udpFrame(b, stationMAC(2), stationMAC(1), 64, 0)
	now := time.Now().UnixNano()
	if v := bb.w.decide(s, in, buf, now); v.Action != ActForward || v.Port != bb.ports[1].Index {
		b.Fatalf("verdict %+v, want forward to port %d", v, bb.ports[1].Index)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var v Verdict
	for i := 0; i < b.N; i++ {
		v = bb.w.decide(s, in, buf, now)
	}
	sinkVerdict = v
}

// benchForward runs forwardBatch over batches of frame from port 0 and
// reports the cost per frame. copies is how many egress writes one frame
// makes (1 for unicast, the flood fan-out otherwise).
func benchForward(b *testing.B, bb *benchbed, frame []byte, copies int) {
	s := bb.dp.cfg.Load()
	in := bb.ports[0]
	bufs, sizes := bb.fill(frame, benchBatch)
	// Warm up: the egress queues grow to their steady size on the first
	// batch only.
	bb.w.forwardBatch(s, in, bufs, sizes)
	var before uint64
	for _, c := range bb.chans {
		before += c.Written.Load()
	}
	if before != uint64(benchBatch*copies) {
		b.Fatalf("warm-up batch made %d writes, want %d", before, benchBatch*copies)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bb.w.forwardBatch(s, in, bufs, sizes)
	}
	b.StopTimer()
	var after uint64
	for _, c := range bb.chans {
		after += c.Written.Load()
	}
	if want := uint64(b.N) * benchBatch * uint64(copies); after-before != want {
		b.Fatalf("%d writes, want %d", after-before, want)
	}
	for r := range in.Stats.Drops {
		if n := in.Stats.Drops[r].Load(); n != 0 {
			b.Fatalf("%d frames dropped as %s", n, DropReason(r))
		}
	}
	frames := float64(b.N) * benchBatch
	ns := float64(b.Elapsed().Nanoseconds())
	b.ReportMetric(ns/frames, "ns/frame")
	b.ReportMetric(frames/ns*1e3, "Mpps")
	b.SetBytes(int64(benchBatch * (len(frame) - header.VirtioNetHdrLen)))
}

// BenchmarkForwardBatch: a 32-frame batch of 64-byte frames, known unicast
// between two ports.
func BenchmarkForwardBatch(b *testing.B) {
	bb := newBenchbed(b, 2)
	benchForward(b, bb, udpFrame(b, stationMAC(2), stationMAC(1), 64, 0), 1)
}

// BenchmarkForwardBatchGSO: the same with 65 KB TCPv4 GSO super-frames, the
// shape TCP bulk transfer takes with offloads. L2 touches only the headers,
// so the figure is per super-frame; Gbit/s is the payload rate that implies.
func BenchmarkForwardBatchGSO(b *testing.B) {
	bb := newBenchbed(b, 2)
	frame := gsoTCPFrame(b, stationMAC(2), stationMAC(1), 45)
	benchForward(b, bb, frame, 1)
	bits := float64(b.N) * benchBatch * float64(len(frame)-header.VirtioNetHdrLen) * 8
	b.ReportMetric(bits/float64(b.Elapsed().Nanoseconds()), "Gbit/s")
}

// BenchmarkFlood: a batch of 64-byte broadcasts to 8 other ports, so every
// frame is queued on 8 egresses and each egress gets one 32-frame write.
func BenchmarkFlood(b *testing.B) {
	const fanout = 8
	bb := newBenchbed(b, fanout+1)
	benchForward(b, bb, udpFrame(b, header.BroadcastMAC, stationMAC(1), 64, 0), fanout)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*benchBatch*fanout), "ns/copy")
}

// TestFastPathAllocs keeps the benchmarks' promise in the ordinary test run:
// no allocation per frame for known unicast, GSO and flooding.
func TestFastPathAllocs(t *testing.T) {
	bb := newBenchbed(t, 9)
	s := bb.dp.cfg.Load()
	in := bb.ports[0]
	uni := udpFrame(t, stationMAC(2), stationMAC(1), 64, 0)
	now := time.Now().UnixNano()
	if a := testing.AllocsPerRun(100, func() { sinkVerdict = bb.w.decide(s, in, uni, now) }); a != 0 {
		t.Errorf("decide: %v allocs per frame", a)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"unicast", uni},
		{"gso", gsoTCPFrame(t, stationMAC(2), stationMAC(1), 45)},
		{"flood", udpFrame(t, header.BroadcastMAC, stationMAC(1), 64, 0)},
	} {
		bufs, sizes := bb.fill(tc.frame, benchBatch)
		bb.w.forwardBatch(s, in, bufs, sizes)
		if a := testing.AllocsPerRun(20, func() { bb.w.forwardBatch(s, in, bufs, sizes) }); a != 0 {
			t.Errorf("forwardBatch %s: %v allocs per %d-frame batch", tc.name, a, benchBatch)
		}
	}
}
