package dataplane

import (
	"math/bits"
	"sync/atomic"
)

// Pipeline latency: how long a worker takes to forward one read batch
// (forwardBatch: every frame decided, every egress written), measured with
// one nanotime pair per batch and kept per worker in fixed power-of-two
// buckets. The worker is each histogram's only writer: an observation is
// two uncontended atomic adds, no lock, no allocation; a scrape sums the
// workers' buckets.

// latBuckets: upper bounds 2^latMinShift ns (256 ns) to 2^(latMinShift+
// latBuckets-2) ns (about 4.2 ms), and one for everything above.
const (
	latMinShift = 8
	latBuckets  = 16
)

type latencyHist struct {
	counts [latBuckets]atomic.Uint64
	sumNs  atomic.Uint64
}

func (h *latencyHist) observe(ns int64) {
	i := 0
	if ns > 1 {
		// bits.Len64(ns-1) is the smallest k with ns <= 2^k.
		i = min(max(bits.Len64(uint64(ns-1))-latMinShift, 0), latBuckets-1)
	}
	ns = max(ns, 0)
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(ns))
}

// BatchLatency is the pipeline latency histogram summed over the workers:
// bounds in seconds (the last bucket, counts[len(bounds)], has no bound),
// counts per bucket (not cumulative), and the sum of every observation in
// seconds.
func (dp *Dataplane) BatchLatency() (bounds []float64, counts []uint64, sum float64) {
	bounds = make([]float64, latBuckets-1)
	for i := range bounds {
		bounds[i] = float64(uint64(1)<<(latMinShift+i)) / 1e9
	}
	counts = make([]uint64, latBuckets)
	var ns uint64
	for _, w := range dp.workers {
		for i := range counts {
			counts[i] += w.lat.counts[i].Load()
		}
		ns += w.lat.sumNs.Load()
	}
	return bounds, counts, float64(ns) / 1e9
}
