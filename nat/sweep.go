package nat

import "time"

// SweepFraction: one Sweep call scans 1/SweepFraction of the slab, so that
// many calls cover the whole table.
const SweepFraction = 32

// sweepBatch bounds how many slots one hold of the writers' lock scans, so a
// Create waits at most that long (4096 slots are about 200 KiB of slab).
const sweepBatch = chunkSize

// Sweep removes expired conns from the next 1/32 of the slab (the slots
// after those the previous call scanned, wrapping around) and returns how
// many it removed. Every call removes every expired conn in its part, so
// repeated calls on a fully expired table empty it within 32 calls.
// Lookups already treat expired conns as misses; sweeping returns their
// places in the table and their slots.
//
// The scan walks the slab in slot order rather than the key maps: the slab
// is contiguous, so checking a conn's deadline costs a sequential read
// instead of a cache miss per conn.
func (t *Table) Sweep(now int64) int {
	_, removed := t.sweepStep(now)
	return removed
}

func (t *Table) sweepStep(now int64) (scanned, removed int) {
	t.mu.Lock()
	total := int(t.nextSlot)
	t.mu.Unlock()
	want := max((total+SweepFraction-1)/SweepFraction, 1)
	for scanned < want {
		s, r, wrapped := t.sweepSlots(now, min(want-scanned, sweepBatch))
		scanned += s
		removed += r
		if wrapped && scanned >= total {
			break
		}
	}
	return scanned, removed
}

// sweepSlots scans up to n slots from the cursor under the writers' lock.
func (t *Table) sweepSlots(now int64, n int) (scanned, removed int, wrapped bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for range n {
		if t.cursor >= t.nextSlot {
			t.cursor = 0
			wrapped = true
			if t.nextSlot == 0 {
				return
			}
		}
		c := t.conn(t.cursor)
		t.cursor++
		scanned++
		if c.st.Load()&wDead != 0 {
			continue // free, quarantined, or never used
		}
		if c.deadline.Load() <= now {
			t.removeLocked(c, now)
			removed++
		}
	}
	t.expired.Add(uint64(removed))
	return
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
