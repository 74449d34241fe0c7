package nat

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"vswitch/header"
)

// Errors of Create. The dataplane maps them to drop reasons.
var (
	ErrFull           = errors.New("conntrack table full")
	ErrPortsExhausted = errors.New("no free NAT port for this destination")
	ErrClash          = errors.New("reply tuple already used by another connection")
	ErrInvalid        = errors.New("packet cannot create a connection")
)

// Conn is one tracked flow. A *Conn from Lookup or Create is valid for the
// packet at hand only: do not keep it (see the slot rule in doc.go).
type Conn struct {
	Orig, Reply Tuple // immutable while the conn is in the table
	NAT         uint8 // SNAT|DNAT
	idx         uint32
	st          atomic.Uint32 // state word, see state.go
	deadline    atomic.Int64  // unix ns
}

// State is the conn's protocol state.
func (c *Conn) State() State { return State(c.st.Load() & wState) }

// Deadline is when the conn expires, unix ns.
func (c *Conn) Deadline() int64 { return c.deadline.Load() }

// Assured says whether the conn was answered (TCP: and established); a full
// table never evicts an assured conn that is not closing.
func (c *Conn) Assured() bool { return c.st.Load()&wAssured != 0 }

// Target is the tuple a packet travelling in direction d carries after
// translation.
func (c *Conn) Target(d Dir) Tuple {
	if d == Original {
		return c.Reply.Reverse()
	}
	return c.Orig.Reverse()
}

// DirOf is the direction of a packet with tuple k on this conn. Create may
// return a conn whose Reply matches its tuple (another worker committed the
// flow from its other side a moment earlier); DirOf tells which.
func (c *Conn) DirOf(k Tuple) (Dir, bool) {
	switch k {
	case c.Orig:
		return Original, true
	case c.Reply:
		return Reply, true
	}
	return Original, false
}

// Config of a Table. Zero values take the defaults.
type Config struct {
	Max              int    // table limit in conns; 0: 262144
	PortMin, PortMax uint16 // range a remapped source port / ICMP id comes from; 0,0: 1024..65535
	Now              func() int64
	Timeouts         Timeouts
}

// Rewrite says how a new flow is translated.
type Rewrite struct {
	SNAT    bool
	SrcAddr [4]byte // new source; the source port (ICMP: id) is kept while its reply tuple is free
	DNAT    bool
	DstAddr [4]byte
	DstPort uint16 // new destination port; 0 keeps it; ignored for ICMP
}

const (
	DefaultMax = 262144
	// maxConns keeps a slot number, shifted left by one for the direction
	// bit, inside the index's 30-bit values, with room for quarantined
	// slots.
	maxConns = 1 << 28
	maxSlots = 1 << (valBits - 1)

	numShards = 256
	shardMask = numShards - 1

	chunkShift = 12
	chunkSize  = 1 << chunkShift

	// SlotQuarantine is how long (table clock) a released slot stays unused,
	// so a worker still holding its *Conn for the current packet cannot
	// touch the flow that would reuse it.
	SlotQuarantine = time.Second

	// refreshSlack: Track stores a new deadline only when it moves by more
	// than this, so two workers forwarding one busy flow do not write the
	// conn's cache line on every packet.
	refreshSlack = int64(time.Second)

	maxProbes = 4096
)

// shard is one part of the key index. Padded to two cache lines (adjacent
// line prefetch) so two workers reading different shards never share one.
type shard struct {
	x index // key -> slot<<1 | Dir
	_ [128 - 24 - 8 - 8 - 8]byte
}

type chunk [chunkSize]Conn

type freeSlot struct {
	idx uint32
	at  int64
}

// freeList holds released slots (conn slots, address ids) until their
// quarantine is over. It is a FIFO: release order is time order, so only
// the head can be ready. Used under its owner's writers' lock.
type freeList struct {
	s    []freeSlot
	head int
}

func (l *freeList) push(idx uint32, now int64) { l.s = append(l.s, freeSlot{idx, now}) }

// pop returns the oldest released slot if its quarantine is over. The
// backing array is reused: emptied, it restarts at 0; else once half or
// more of it (and at least 1024 entries) is consumed, the rest is moved down.
func (l *freeList) pop(now int64) (uint32, bool) {
	if l.head >= len(l.s) || now-l.s[l.head].at < int64(SlotQuarantine) {
		return 0, false
	}
	idx := l.s[l.head].idx
	l.head++
	if l.head == len(l.s) {
		l.s, l.head = l.s[:0], 0
	} else if l.head >= 1024 && l.head*2 >= len(l.s) {
		n := copy(l.s, l.s[l.head:])
		l.s, l.head = l.s[:n], 0
	}
	return idx, true
}

// Table is the connection-tracking table. Lookup and Track are safe from any
// number of goroutines and never take the writers' lock; Create, Delete,
// Sweep, Flush and Entries serialise on it.
type Table struct {
	shards [numShards]shard
	dir    atomic.Pointer[[]*chunk] // slab directory; replaced whole when it grows
	seed   uint64
	now    func() int64
	to     timeoutTable
	max    int
	pmin   uint16
	pmax   uint16

	n atomic.Int64 // conns in the table, expired but unswept included

	created, expired, full, exhausted, clashes, earlyDrops, invalid atomic.Uint64

	// Writers' state, under mu (OVS's ct_lock). Readers never take it.
	mu       sync.Mutex
	nextSlot uint32
	free     freeList
	cursor   uint32     // next slot Sweep scans
	rng      *rand.Rand // port search offsets

	// Hooks of an IPv6 table (table6.go), under mu: a conn's tuples hold
	// references on the interned addresses in them. nil in an IPv4 table.
	onInsert func(c *Conn)
	onRemove func(c *Conn, now int64)

	startOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
	closed    bool
}

// New makes an empty table.
func New(cfg Config) *Table {
	t := &Table{
		max:  cfg.Max,
		pmin: cfg.PortMin,
		pmax: cfg.PortMax,
		now:  cfg.Now,
		to:   newTimeoutTable(cfg.Timeouts),
		seed: rand.Uint64(),
		rng:  rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if t.max <= 0 {
		t.max = DefaultMax
	}
	if t.max > maxConns {
		t.max = maxConns
	}
	if t.pmin == 0 && t.pmax == 0 {
		t.pmin, t.pmax = 1024, 65535
	}
	if t.pmin > t.pmax {
		t.pmin, t.pmax = t.pmax, t.pmin
	}
	if t.pmin == 0 {
		t.pmin = 1
	}
	if t.now == nil {
		t.now = func() int64 { return time.Now().UnixNano() }
	}
	for i := range t.shards {
		t.shards[i].x.init()
	}
	d := make([]*chunk, 0, 16)
	t.dir.Store(&d)
	return t
}

func (t *Table) shardOf(h uint64) *shard { return &t.shards[h>>(64-8)] }

func (t *Table) conn(idx uint32) *Conn {
	d := *t.dir.Load()
	return &d[idx>>chunkShift][idx&(chunkSize-1)]
}

// Len is the number of conns in the table, expired ones not yet swept
// included (as Linux's nf_conntrack_count).
func (t *Table) Len() int { return int(t.n.Load()) }

// Max is the table limit.
func (t *Table) Max() int { return t.max }

// Lookup finds the conn a packet with tuple k belongs to, reading the
// table's clock for expiry. LookupAt saves the clock read when the caller
// already has the time for its batch.
func (t *Table) Lookup(k Tuple) (c *Conn, d Dir, ok bool) {
	return t.LookupAt(k, t.now())
}

// LookupAt is Lookup at time now (unix ns). Expired and removed conns are
// misses. It takes no lock and writes no shared memory (see index.go): no
// allocation, and the two workers never bounce a cache line between them.
func (t *Table) LookupAt(k Tuple, now int64) (c *Conn, d Dir, ok bool) {
	pk, valid := pack(k)
	if !valid {
		return nil, Original, false
	}
	h := pk.hash(t.seed)
	v, found := t.shardOf(h).x.get(pk, h)
	if !found {
		return nil, Original, false
	}
	c = t.conn(v >> 1)
	if c.st.Load()&wDead != 0 || c.deadline.Load() <= now {
		return nil, Original, false
	}
	return c, Dir(v & 1), true
}

// Track advances c's state for one packet travelling in direction d and
// refreshes its deadline. It returns false only for a SYN (without ACK) in
// the Original direction on a conn in TIME_WAIT or CLOSE: that SYN opens a
// new connection, and the caller calls Create with the same tuple, which
// replaces the finished conn.
func (t *Table) Track(c *Conn, d Dir, tcpFlags uint8, now int64) bool {
	proto := c.Orig.Proto
	for {
		w := c.st.Load()
		if w&wDead != 0 {
			return true
		}
		nw, ok := next(proto, w, d, tcpFlags)
		if !ok {
			return false
		}
		if nw == w {
			t.refresh(c, proto, w, now)
			return true
		}
		if !c.st.CompareAndSwap(w, nw) {
			continue // the other direction's worker moved it first
		}
		if nw&wState != w&wState {
			t.setDeadline(c, proto, now)
		} else {
			t.refresh(c, proto, nw, now)
		}
		return true
	}
}

// refresh extends the deadline for a packet that did not change the state.
// It writes only when the deadline moves by more than refreshSlack, and by
// CAS, so it cannot overwrite the shorter deadline of a concurrent state
// change (a RST on the other worker); if the state moved under it anyway,
// setDeadline recomputes.
func (t *Table) refresh(c *Conn, proto uint8, w uint32, now int64) {
	nd := now + t.to.of(proto, State(w&wState))
	od := c.deadline.Load()
	if nd-od <= refreshSlack {
		return
	}
	if c.deadline.CompareAndSwap(od, nd) && c.st.Load()&wState != w&wState {
		t.setDeadline(c, proto, now)
	}
}

// setDeadline stores the deadline of the current state after a state
// change, again until the state it was computed from is still current.
func (t *Table) setDeadline(c *Conn, proto uint8, now int64) {
	for {
		w := c.st.Load()
		c.deadline.Store(now + t.to.of(proto, State(w&wState)))
		if c.st.Load()&wState == w&wState {
			return
		}
	}
}

// Create commits a new flow whose first packet has tuple orig, translated
// as rw says, and tracks that packet. See doc.go for the rules.
func (t *Table) Create(orig Tuple, rw Rewrite, tcpFlags uint8, now int64) (*Conn, error) {
	w0, ok := firstState(orig.Proto, tcpFlags)
	if !ok {
		t.invalid.Add(1)
		return nil, ErrInvalid
	}
	t.mu.Lock()
	defer t.mu.Unlock()

	// Another worker may have committed this flow (from either side) since
	// our caller's lookup missed: the re-check OVS and gVisor make under
	// their write lock.
	if c, d, found := t.getLocked(orig); found {
		if t.liveLocked(c, now) {
			if t.Track(c, d, tcpFlags, now) {
				return c, nil
			}
			t.removeLocked(c, now) // finished TCP conn reopened by a SYN
		} else {
			t.expired.Add(1)
			t.removeLocked(c, now)
		}
	}

	if t.Len() >= t.max && !t.makeRoomLocked(orig, now) {
		t.full.Add(1)
		return nil, ErrFull
	}

	tr := orig
	var natFlags uint8
	if rw.DNAT {
		natFlags |= DNAT
		tr.Dst = rw.DstAddr
		if orig.Proto != header.ProtoICMP && rw.DstPort != 0 {
			tr.DPort = rw.DstPort
		}
	}
	if rw.SNAT {
		natFlags |= SNAT
		tr.Src = rw.SrcAddr
	}
	reply, err := t.pickReplyLocked(orig, tr, rw.SNAT, now)
	if err != nil {
		return nil, err
	}

	idx, ok := t.allocLocked(now)
	if !ok {
		t.full.Add(1)
		return nil, ErrFull
	}
	c := t.conn(idx)
	c.Orig, c.Reply, c.NAT = orig, reply, natFlags
	w, _ := next(orig.Proto, w0, Original, tcpFlags)
	c.st.Store(w)
	c.deadline.Store(now + t.to.of(orig.Proto, State(w&wState)))

	// The fields above are written before the keys go in; the atomic store
	// of an index entry publishes them to a reader that finds the key.
	t.insertLocked(orig, idx<<1|uint32(Original))
	t.insertLocked(reply, idx<<1|uint32(Reply))
	if t.onInsert != nil {
		t.onInsert(c)
	}
	t.n.Add(1)
	t.created.Add(1)
	return c, nil
}

// pickReplyLocked chooses the reply tuple. The translated source port is
// kept when its reply tuple is free (Linux's first choice, and what keeps a
// flow's external tuple stable across a restart); with SNAT it otherwise
// probes the port range from a random offset. Each probe is an index
// lookup, and a tuple is free only if no live conn holds it in either
// direction, so an un-NATed flow's reply also stays reserved (a null
// binding).
func (t *Table) pickReplyLocked(orig, tr Tuple, snat bool, now int64) (Tuple, error) {
	reply := tr.Reverse()
	if t.freeLocked(reply, orig, now) {
		return reply, nil
	}
	if !snat {
		t.clashes.Add(1)
		return Tuple{}, ErrClash
	}
	n := int(t.pmax) - int(t.pmin) + 1
	probes := min(n, maxProbes)
	off := t.rng.IntN(n)
	for i := range probes {
		p := t.pmin + uint16((off+i)%n)
		cand := tr
		cand.SPort = p
		if tr.Proto == header.ProtoICMP {
			cand.DPort = p // the echo id sits in both fields
		}
		r := cand.Reverse()
		if t.freeLocked(r, orig, now) {
			return r, nil
		}
	}
	t.exhausted.Add(1)
	return Tuple{}, ErrPortsExhausted
}

// freeLocked says whether k may become a new conn's reply key. An expired
// holder is removed on the spot.
func (t *Table) freeLocked(k, orig Tuple, now int64) bool {
	if k == orig {
		return false // both directions on one key: a degenerate flow
	}
	c, _, found := t.getLocked(k)
	if !found {
		return true
	}
	if t.liveLocked(c, now) {
		return false
	}
	t.expired.Add(1)
	t.removeLocked(c, now)
	return true
}

// getLocked reads the index without the seqlock dance: only holders of t.mu
// write it.
func (t *Table) getLocked(k Tuple) (*Conn, Dir, bool) {
	pk, valid := pack(k)
	if !valid {
		return nil, Original, false
	}
	h := pk.hash(t.seed)
	v, ok := t.shardOf(h).x.getLocked(pk, h)
	if !ok {
		return nil, Original, false
	}
	return t.conn(v >> 1), Dir(v & 1), true
}

func (t *Table) liveLocked(c *Conn, now int64) bool {
	return c.st.Load()&wDead == 0 && c.deadline.Load() > now
}

func (t *Table) insertLocked(k Tuple, v uint32) {
	pk, _ := pack(k) // Create admits only packable protocols
	h := pk.hash(t.seed)
	t.shardOf(h).x.putLocked(pk, h, v, t.seed)
}

func (t *Table) deleteKeyLocked(k Tuple, v uint32) {
	pk, _ := pack(k)
	h := pk.hash(t.seed)
	t.shardOf(h).x.delLocked(pk, h, v, t.seed)
}

// removeLocked takes c out of the table. It is marked dead first, so a
// reader that found a key a moment ago sees a miss; the slot is reused
// only after SlotQuarantine.
func (t *Table) removeLocked(c *Conn, now int64) {
	for {
		w := c.st.Load()
		if w&wDead != 0 {
			return
		}
		if c.st.CompareAndSwap(w, w|wDead) {
			break
		}
	}
	t.deleteKeyLocked(c.Orig, c.idx<<1|uint32(Original))
	t.deleteKeyLocked(c.Reply, c.idx<<1|uint32(Reply))
	if t.onRemove != nil {
		t.onRemove(c, now)
	}
	t.n.Add(-1)
	t.free.push(c.idx, now)
}

// allocLocked returns a slot for a new conn: the oldest released one if its
// quarantine is over, else a fresh one (adding a chunk to the slab). It
// fails only if the slab would outgrow the index's 29-bit slot numbers
// (released slots piling up faster than their quarantine ends).
func (t *Table) allocLocked(now int64) (uint32, bool) {
	if idx, ok := t.free.pop(now); ok {
		return idx, true
	}
	idx := t.nextSlot
	if idx >= maxSlots-chunkSize {
		return 0, false
	}
	if idx>>chunkShift >= uint32(len(*t.dir.Load())) {
		old := *t.dir.Load()
		d := make([]*chunk, len(old), len(old)+1+len(old)/2)
		copy(d, old)
		ch := new(chunk)
		for i := range ch {
			ch[i].idx = idx + uint32(i)
			ch[i].st.Store(wDead) // unused slots look free to the sweeper
		}
		d = append(d, ch)
		t.dir.Store(&d)
	}
	t.nextSlot++
	return idx, true
}

// makeRoomLocked frees one place in a full table near the new tuple, as
// Linux's early_drop does: it samples about 256 conns in the shards from the
// new key's one on (32 per shard; in a small table that reaches every
// shard), removes the expired conns it meets, and failing that evicts one
// that was never assured (or is closing). Established flows are never
// evicted.
func (t *Table) makeRoomLocked(orig Tuple, now int64) bool {
	const samples, perShard = 256, 32
	pk, _ := pack(orig)
	start := int(pk.hash(t.seed) >> (64 - 8))
	var victim *Conn
	freed := false
	seen := 0
	for i := 0; i < numShards && seen < samples; i++ {
		sh := &t.shards[(start+i)&shardMask]
		inShard := sh.x.sampleLocked(t.rng.IntN(1<<20), perShard, func(v uint32) {
			c := t.conn(v >> 1)
			w := c.st.Load()
			if w&wDead != 0 {
				return
			}
			if c.deadline.Load() <= now {
				t.expired.Add(1)
				t.removeLocked(c, now)
				freed = true
				return
			}
			if victim == nil && earlyDroppable(c.Orig.Proto, w) {
				victim = c
			}
		})
		seen += inShard
		if freed {
			return true
		}
	}
	if victim != nil {
		t.earlyDrops.Add(1)
		t.removeLocked(victim, now)
		return true
	}
	return false
}

// Delete removes c from the table (no-op if already removed).
func (t *Table) Delete(c *Conn) {
	t.mu.Lock()
	t.removeLocked(c, t.now())
	t.mu.Unlock()
}

// Flush removes every conn.
func (t *Table) Flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for i := range t.nextSlot {
		c := t.conn(i)
		for {
			w := c.st.Load()
			if w&wDead != 0 {
				break
			}
			if c.st.CompareAndSwap(w, w|wDead) {
				if t.onRemove != nil {
					t.onRemove(c, now)
				}
				t.free.push(c.idx, now)
				t.n.Add(-1)
				break
			}
		}
	}
	for i := range t.shards {
		t.shards[i].x.resetLocked()
	}
}

// Entry is one conn in a snapshot.
type Entry struct {
	Orig, Reply Tuple
	State       State
	NAT         uint8
	Timeout     time.Duration // remaining
}

// Entries is a snapshot of the live conns, unordered, for the CLI.
func (t *Table) Entries(now int64) []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Entry, 0, t.Len())
	for i := range t.nextSlot {
		c := t.conn(i)
		if !t.liveLocked(c, now) {
			continue
		}
		out = append(out, Entry{
			Orig: c.Orig, Reply: c.Reply, State: c.State(), NAT: c.NAT,
			Timeout: time.Duration(c.deadline.Load() - now),
		})
	}
	return out
}

// Stats are the table's counters: Conns in the table now; Created since
// New; Expired conns removed (by Sweep, or by Create meeting them); Create
// refusals by reason (Full, PortsExhausted, Clashes, Invalid); EarlyDrops,
// live conns evicted by a full table.
type Stats struct {
	Conns, Created, Expired, Full, PortsExhausted, Clashes uint64
	EarlyDrops, Invalid                                    uint64
}

// Stats reads the counters (atomics; callable any time).
func (t *Table) Stats() Stats {
	return Stats{
		Conns:          uint64(max(t.n.Load(), 0)),
		Created:        t.created.Load(),
		Expired:        t.expired.Load(),
		Full:           t.full.Load(),
		PortsExhausted: t.exhausted.Load(),
		Clashes:        t.clashes.Load(),
		EarlyDrops:     t.earlyDrops.Load(),
		Invalid:        t.invalid.Load(),
	}
}
