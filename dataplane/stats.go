package dataplane

import "sync/atomic"

// PortStats are a port's counters. They live as long as the port, across
// configuration snapshots. Workers add whole batches at a time, so the atomics
// cost a few operations per batch, not per frame.
type PortStats struct {
	RxPackets atomic.Uint64
	RxBytes   atomic.Uint64
	RxGSO     atomic.Uint64 // GSO super-frames among RxPackets
	TxPackets atomic.Uint64
	TxBytes   atomic.Uint64
	TxGSO     atomic.Uint64
	Drops     [NumDropReasons]atomic.Uint64 // by reason: at the ingress port, but tx-error at the egress
}

// DropMap returns the non-zero drop counters by reason name.
func (s *PortStats) DropMap() map[string]uint64 {
	m := map[string]uint64{}
	for r := DropReason(1); r < NumDropReasons; r++ {
		if v := s.Drops[r].Load(); v > 0 {
			m[r.String()] = v
		}
	}
	return m
}
