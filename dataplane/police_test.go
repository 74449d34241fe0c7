package dataplane

import (
	"sync"
	"testing"
	"time"

	"vswitch/header"
)

func mustPolicer(t testing.TB, rateBps, burst uint64) *policer {
	t.Helper()
	p, err := newPolicer(PoliceConfig{RateBps: rateBps, BurstBytes: burst})
	if err != nil || p == nil {
		t.Fatalf("newPolicer(%d, %d): %v, %v", rateBps, burst, p, err)
	}
	return p
}

// offer sends frames of size bytes in batches of batch, a batch every gap,
// from start for d of simulated time, and returns the bytes passed and
// dropped and the time after the last batch.
func offer(p *policer, start int64, d, gap time.Duration, batch, size int) (passed, dropped uint64, end int64) {
	now := start
	for ; now < start+int64(d); now += int64(gap) {
		r := p.begin(now)
		for range batch {
			if r.take(size) {
				passed += uint64(size)
			} else {
				dropped += uint64(size)
			}
		}
		r.commit()
	}
	return passed, dropped, now
}

// The rate holds over simulated time, for rates from 10 Mbit/s to 10
// Gbit/s, under an offered load of about twice the rate: what passes is the
// rate times the time plus one bucket (it starts full), within 1%.
func TestPolicerRate(t *testing.T) {
	for _, tc := range []struct {
		rate  uint64
		burst uint64
		size  int
	}{
		{10e6, MinPoliceBurst, 1514},
		{200e6, 1000 << 10, 1514},
		{500e6, DefaultPoliceBurst(500e6), 65226},
		{10e9, 4 << 20, 9000},
	} {
		p := mustPolicer(t, tc.rate, tc.burst)
		const d = 10 * time.Second
		// Twice the rate offered: batches of 8 frames, a batch every gap.
		gap := time.Duration(float64(8*tc.size*8) / float64(2*tc.rate) * 1e9)
		passed, dropped, _ := offer(p, int64(time.Hour), d, gap, 8, tc.size)
		want := float64(tc.rate)/8*d.Seconds() + float64(tc.burst)
		if got := float64(passed); got < want*0.99 || got > want*1.01 {
			t.Errorf("rate %d bit/s, burst %d, %d-byte frames: %.0f bytes passed in %v, want %.0f (±1%%)",
				tc.rate, tc.burst, tc.size, got, d, want)
		}
		if dropped == 0 {
			t.Errorf("rate %d bit/s: twice the rate offered and nothing dropped", tc.rate)
		}
	}
}

// A full bucket passes exactly burst bytes at one instant, then nothing;
// half a bucket's time later, half a bucket more.
func TestPolicerBurst(t *testing.T) {
	const rate, burst = 100e6, 100 * 1500 * 10 // 1.5 MB
	p := mustPolicer(t, rate, burst)
	now := int64(time.Hour)
	passed, _, _ := offer(p, now, 1, 1, 2000, 1500)
	if passed != burst {
		t.Errorf("a full bucket passed %d bytes at once, want the burst, %d", passed, burst)
	}
	half := time.Duration(float64(burst/2) * 8 / rate * 1e9)
	passed, _, _ = offer(p, now+int64(half), 1, 1, 2000, 1500)
	if passed != burst/2 {
		t.Errorf("half a bucket's time later %d bytes passed, want %d", passed, burst/2)
	}
}

// However long the port was idle, the bucket holds no more than burst.
func TestPolicerRefillCap(t *testing.T) {
	const burst = 256 << 10
	p := mustPolicer(t, 50e6, burst)
	_, _, now := offer(p, int64(time.Hour), time.Second, time.Millisecond, 100, 1500) // empty it
	for _, idle := range []time.Duration{time.Second, time.Minute, 24 * time.Hour} {
		now += int64(idle)
		passed, _, _ := offer(p, now, 1, 1, 1000, 1024)
		if passed != burst {
			t.Errorf("after %v idle, %d bytes passed at once, want the burst, %d", idle, passed, burst)
		}
	}
}

// A GSO super-frame costs the segments it stands for, each with its
// headers: 45 segments of 1448 bytes behind 54 bytes of Ethernet, IPv4 and
// TCP are 45 wire frames of 1502 bytes.
func TestPolicerWireLenGSO(t *testing.T) {
	super := gsoTCPFrame(t, stationMAC(2), stationMAC(1), 45)
	if got, want := wireLen(super), 45*(54+1448); got != want {
		t.Errorf("wireLen of a 45-segment super-frame = %d, want %d (its length is %d)", got, want, len(super)-header.VirtioNetHdrLen)
	}
	// The last segment may be short.
	short := super[:len(super)-1000]
	if got, want := wireLen(short), 44*(54+1448)+54+448; got != want {
		t.Errorf("wireLen with a short last segment = %d, want %d", got, want)
	}
	plain := udpFrame(t, stationMAC(2), stationMAC(1), 1000, 0)
	if got := wireLen(plain); got != 1000 {
		t.Errorf("wireLen of a 1000-byte frame = %d", got)
	}
	// A super-frame whose headers make no sense costs its length.
	bad := append([]byte(nil), super...)
	header.VirtioNetHdr(bad).SetCsumStart(0xffff)
	if got, want := wireLen(bad), len(bad)-header.VirtioNetHdrLen; got != want {
		t.Errorf("wireLen with csum_start past the frame = %d, want its length %d", got, want)
	}

	// Through the bucket: a 1 MB burst at 200 Mbit/s takes 14 such
	// super-frames (946,260 bytes on the wire), not the 15 their lengths
	// (65,214 bytes each) would allow.
	p := mustPolicer(t, 200e6, 1_000_000)
	r := p.begin(int64(time.Hour))
	n := 0
	for range 20 {
		if r.take(wireLen(super)) {
			n++
		}
	}
	if n != 14 {
		t.Errorf("a 1 MB bucket passed %d 45-segment super-frames, want 14", n)
	}
}

// A super-frame of tiny segments can cost more than the whole bucket: it
// passes from a full bucket (never starved) and leaves it in debt for what
// it cost beyond.
func TestPolicerFrameOverBurst(t *testing.T) {
	p := mustPolicer(t, 100e6, MinPoliceBurst)
	now := int64(time.Hour)
	r := p.begin(now)
	if !r.take(4 * MinPoliceBurst) {
		t.Fatal("a frame dearer than the bucket did not pass a full bucket")
	}
	if r.take(64) {
		t.Error("a frame passed right after a frame of four buckets")
	}
	r.commit()
	// Three buckets' time later the debt is paid, but the bucket is empty.
	bucket := int64(float64(MinPoliceBurst) * 8 / 100e6 * 1e9)
	if r := p.begin(now + 3*bucket); r.take(1500) {
		t.Error("a frame passed before the debt was paid and the bucket refilled")
	}
	if r := p.begin(now + 4*bucket + 1000); !r.take(1500) {
		t.Error("no frame passed once the debt was paid")
	}
}

// Two workers' batches over one bucket at once: every passed byte is
// charged, so after both commit the bucket is in debt by what passed
// beyond one burst, and the rate over time is still exact.
func TestPolicerSharedQueues(t *testing.T) {
	const rate, burst = 1e9, 1 << 20
	p := mustPolicer(t, rate, burst)
	now := int64(time.Hour)
	a, b := p.begin(now), p.begin(now) // both load the full bucket
	var na, nb int
	for range 1000 {
		if a.take(1500) {
			na++
		}
		if b.take(1500) {
			nb++
		}
	}
	a.commit()
	b.commit()
	if got, want := p.tat.Load(), now+p.cost(1500)*int64(na+nb); got != want {
		t.Errorf("tat %d after two racing batches, want now + the cost of all %d passed frames (%d)", got, na+nb, want)
	}

	// Many goroutines over simulated time: what passes is the rate.
	p = mustPolicer(t, rate, burst)
	var mu sync.Mutex
	var total uint64
	var wg sync.WaitGroup
	const d = 2 * time.Second
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			passed, _, _ := offer(p, now+int64(g)*1000, d, 50*time.Microsecond, 32, 1500)
			mu.Lock()
			total += passed
			mu.Unlock()
		}()
	}
	wg.Wait()
	want := rate/8*d.Seconds() + burst
	// Each goroutine's clock runs on its own, so each batch's view may be
	// a little stale: allow a few batches beyond.
	if got := float64(total); got < want*0.98 || got > want*1.02 {
		t.Errorf("4 goroutines passed %.0f bytes in %v, want %.0f (±2%%)", got, d, want)
	}
}

func TestNewPolicerRefuses(t *testing.T) {
	for _, c := range []PoliceConfig{
		{RateBps: 999_999},
		{RateBps: MaxPoliceRate + 1},
		{RateBps: 100e6, BurstBytes: MinPoliceBurst - 1},
		{RateBps: 100e6, BurstBytes: MaxPoliceBurst + 1},
	} {
		if p, err := newPolicer(c); err == nil {
			t.Errorf("newPolicer(%+v) = %+v, want an error", c, p)
		}
	}
	if p, err := newPolicer(PoliceConfig{}); p != nil || err != nil {
		t.Errorf("rate 0: %v, %v; want no policer", p, err)
	}
	// The default: a quarter second of the rate, at least OVS's 8000
	// kbit, at most the largest bucket.
	for _, c := range []struct{ rate, burst uint64 }{
		{1e6, 1000 << 10},
		{10e6, 1000 << 10},
		{200e6, 6104 << 10}, // 6,250,000 bytes, rounded up to whole KB
		{500e6, 15259 << 10},
		{100e9, MaxPoliceBurst},
	} {
		if p := mustPolicer(t, c.rate, 0); p.cfg.BurstBytes != c.burst {
			t.Errorf("rate %d: default burst %d, want %d", c.rate, p.cfg.BurstBytes, c.burst)
		}
	}
}

// Through forwardBatch: a port policed to 1 Mbit/s with a one-frame
// bucket passes the first 45-segment super-frame of a batch and drops the
// others as policed (refilling a frame takes half a second); the frames
// passed are forwarded, and a live trace says which stage dropped.
func TestPoliceForwardBatch(t *testing.T) {
	bb := newBenchbed(t, 2)
	in := bb.ports[0]
	if err := bb.dp.SetPolice(in.Index, PoliceConfig{RateBps: 1e6, BurstBytes: 80 << 10}); err != nil {
		t.Fatal(err)
	}
	s := bb.dp.cfg.Load()
	in = s.port(in.Index)
	lt, err := bb.dp.StartLive(LiveFilter{Drops: true}, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer lt.Stop()
	bufs, sizes := bb.fill(gsoTCPFrame(t, stationMAC(2), stationMAC(1), 45), 8)
	bb.w.forwardBatch(s, in, bufs, sizes)
	if n := in.Stats.Drops[DropPoliced].Load(); n != 7 {
		t.Errorf("policed drops %d, want 7 of 8", n)
	}
	if n := bb.chans[1].Written.Load(); n != 1 {
		t.Errorf("%d frames forwarded, want 1", n)
	}
	if n := in.Stats.RxPackets.Load(); n != 8 {
		t.Errorf("rx_packets %d, want 8: policed frames were received", n)
	}
	if len(lt.C) == 0 {
		t.Fatal("no live trace record of a policed frame")
	}
	pt := <-lt.C
	if pt.Verdict.Reason != DropPoliced || pt.N != 1 || pt.Steps[0].Stage != StagePolice {
		t.Errorf("live trace %+v, steps %+v: want one police step dropping policed", pt.Verdict, pt.StepList())
	}
	// The dry run foresees it, taking nothing.
	dry, err := bb.dp.Trace(in.Index, gsoTCPFrame(t, stationMAC(2), stationMAC(1), 40)[header.VirtioNetHdrLen:])
	if err != nil {
		t.Fatal(err)
	}
	if dry.Verdict.Reason != DropPoliced {
		t.Errorf("dry run verdict %+v, want policed", dry.Verdict)
	}

	// Removed: everything passes again.
	if err := bb.dp.SetPolice(in.Index, PoliceConfig{}); err != nil {
		t.Fatal(err)
	}
	s = bb.dp.cfg.Load()
	bufs, sizes = bb.fill(gsoTCPFrame(t, stationMAC(2), stationMAC(1), 45), 8)
	bb.w.forwardBatch(s, s.port(in.Index), bufs, sizes)
	if n := bb.chans[1].Written.Load(); n != 9 {
		t.Errorf("%d frames forwarded after the limit was removed, want 1+8", n)
	}
}

// BenchmarkForwardBatchPoliced is BenchmarkForwardBatch through a port
// with a policer whose rate is never reached: the cost of asking the
// bucket (one load and one compare-and-swap per batch, a multiply and a
// compare per frame).
func BenchmarkForwardBatchPoliced(b *testing.B) {
	bb := newBenchbed(b, 2)
	if err := bb.dp.SetPolice(bb.ports[0].Index, PoliceConfig{RateBps: MaxPoliceRate, BurstBytes: MaxPoliceBurst}); err != nil {
		b.Fatal(err)
	}
	bb.ports[0] = bb.dp.cfg.Load().port(bb.ports[0].Index)
	benchForward(b, bb, udpFrame(b, stationMAC(2), stationMAC(1), 64, 0), 1)
}

// BenchmarkForwardBatchPolicedGSO: the same with 45-segment super-frames,
// whose wire length is worked out from their virtio header. In memory they
// move faster than the highest rate a port may have, so the bucket is given
// a cost of 1 ns per super-frame: the same code, never over the rate.
func BenchmarkForwardBatchPolicedGSO(b *testing.B) {
	bb := newBenchbed(b, 2)
	if err := bb.dp.SetPolice(bb.ports[0].Index, PoliceConfig{RateBps: MaxPoliceRate, BurstBytes: MaxPoliceBurst}); err != nil {
		b.Fatal(err)
	}
	bb.ports[0] = bb.dp.cfg.Load().port(bb.ports[0].Index)
	bb.ports[0].police.nsPerByte = 1
	benchForward(b, bb, gsoTCPFrame(b, stationMAC(2), stationMAC(1), 45), 1)
}

// TestPoliceFastPathAllocs: policing allocates nothing per batch.
func TestPoliceFastPathAllocs(t *testing.T) {
	bb := newBenchbed(t, 2)
	if err := bb.dp.SetPolice(bb.ports[0].Index, PoliceConfig{RateBps: 100e6}); err != nil {
		t.Fatal(err)
	}
	s := bb.dp.cfg.Load()
	in := s.port(bb.ports[0].Index)
	for _, f := range [][]byte{udpFrame(t, stationMAC(2), stationMAC(1), 64, 0), gsoTCPFrame(t, stationMAC(2), stationMAC(1), 45)} {
		bufs, sizes := bb.fill(f, benchBatch)
		bb.w.forwardBatch(s, in, bufs, sizes)
		if a := testing.AllocsPerRun(20, func() { bb.w.forwardBatch(s, in, bufs, sizes) }); a != 0 {
			t.Errorf("forwardBatch through a policer: %v allocs per batch", a)
		}
	}
}
