package nat

import "time"

// SweepShardsPerCall is how much of the table one Sweep call scans: 1/32
// of the shards, so 32 calls cover the whole table.
const SweepShardsPerCall = numShards / 32

// Sweep removes expired conns from the next 1/32 of the table (the shards
// after those the previous call scanned) and returns how many it removed.
// Every call removes every expired conn in its part, so repeated calls on a
// fully expired table empty it in 32 calls. Lookups already treat expired
// conns as misses; sweeping returns their places and slots.
func (t *Table) Sweep(now int64) int {
	_, removed := t.sweepStep(now)
	return removed
}

// sweepStep scans SweepShardsPerCall shards, taking the writers' lock once
// per shard so a Create waits at most one shard's scan.
func (t *Table) sweepStep(now int64) (scanned, removed int) {
	for range SweepShardsPerCall {
		s, r := t.sweepShard(now)
		scanned += s
		removed += r
	}
	return scanned, removed
}

func (t *Table) sweepShard(now int64) (scanned, removed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sh := &t.shards[t.cursor]
	t.cursor = (t.cursor + 1) & shardMask
	list := t.scratch[:0]
	// Each conn is visited through its Original key only, so a full pass
	// sees it once whichever shard holds its Reply key.
	for _, v := range sh.m {
		if v&1 != uint32(Original) {
			continue
		}
		scanned++
		c := t.conn(v >> 1)
		if c.deadline.Load() <= now {
			list = append(list, v>>1)
		}
	}
	for _, idx := range list {
		t.removeLocked(t.conn(idx), now)
	}
	t.expired.Add(uint64(len(list)))
	if cap(list) > 4096 {
		list = nil // do not keep a burst's buffer forever
	}
	t.scratch = list
	return scanned, len(list)
}

// Sweeper pacing. One call covers 1/32 of the table; at the base interval
// a full pass takes about a second, as the brief's "every 1 s". A pass that
// finds nothing to do backs off to a full pass per 8 s (at 1M conns one
// call scans ~32k conns, well under a millisecond); one that finds more than
// half expired, or a table near its limit, comes back after 10 ms, as
// gVisor's reaper does.
const (
	sweepMin  = 10 * time.Millisecond
	sweepBase = time.Second / 32
	sweepMax  = 8 * time.Second / 32
)

// nextSweepInterval is the wait before the next sweep call given what the
// last one found. Pure, so its policy is tested without sleeping.
func nextSweepInterval(prev time.Duration, scanned, removed, n, max int) time.Duration {
	switch {
	case n >= max-max/8 || (scanned > 0 && removed*2 > scanned):
		return sweepMin
	case removed == 0:
		return min(max2(prev, sweepBase)*2, sweepMax)
	}
	return sweepBase
}

func max2(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// Start runs the sweeper goroutine until Close. Calling it again is a no-op.
func (t *Table) Start() {
	t.startOnce.Do(func() {
		go t.sweeper()
	})
}

func (t *Table) sweeper() {
	defer close(t.done)
	d := sweepBase
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-timer.C:
		}
		scanned, removed := t.sweepStep(t.now())
		d = nextSweepInterval(d, scanned, removed, t.Len(), t.max)
		timer.Reset(d)
	}
}

// Close stops the sweeper (if started) and waits for it. The table stays
// usable; only the background sweeping ends.
func (t *Table) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.mu.Unlock()
	close(t.stop)
	started := true
	t.startOnce.Do(func() { started = false })
	if started {
		<-t.done
	}
}
