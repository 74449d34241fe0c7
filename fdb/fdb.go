package fdb

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"vswitch/header"
)

const (
	// MaxPort is the largest port index a slot can hold (15 bits).
	MaxPort = 1<<15 - 1
	// DefaultAging is the aging time when Config.Aging is 0, the same as
	// the Linux bridge's default ageing_time.
	DefaultAging = 300 * time.Second
)

// Slot word layout: MAC<<16 | static<<15 | port. See doc.go.
const (
	portMask  = 1<<15 - 1
	staticBit = 1 << 15
	macShift  = 16
	tombstone = 0xffff // no MAC part, so it matches no stored MAC

	macLimit     = 1 << 48
	multicastBit = 1 << 40 // group bit: the low bit of the first octet

	minSlots   = 16
	fibonacci  = 0x9e3779b97f4a7c15 // 2^64 / golden ratio
	maxRefresh = int64(time.Second)
)

// LearnResult says what Learn did with a source address.
type LearnResult uint8

const (
	// Known: the MAC was already on this port; its last-seen time is refreshed.
	Known LearnResult = iota
	// Learned: a new entry.
	Learned
	// Moved: the MAC was on another port and now is on this one.
	Moved
	// LimitExceeded: the port already has MACLimit dynamic entries; nothing
	// changed and the dataplane drops the frame (reason mac-limit).
	LimitExceeded
	// StaticConflict: the MAC has a static entry on another port, which
	// learning never overrides; nothing changed.
	StaticConflict
	// Invalid: the zero MAC, a multicast MAC, a value wider than 48 bits or a
	// port above MaxPort; nothing changed.
	Invalid
)

var learnResultNames = [...]string{
	Known:          "known",
	Learned:        "learned",
	Moved:          "moved",
	LimitExceeded:  "limit-exceeded",
	StaticConflict: "static-conflict",
	Invalid:        "invalid",
}

func (r LearnResult) String() string {
	if int(r) < len(learnResultNames) {
		return learnResultNames[r]
	}
	return fmt.Sprintf("LearnResult(%d)", uint8(r))
}

// Config sets up a Table.
type Config struct {
	// Aging is how long a dynamic entry lives without being seen:
	// 0 means DefaultAging, a negative value means entries never age.
	Aging time.Duration
	// MACLimit is the most dynamic entries one port may have; 0 is unlimited.
	MACLimit int
	// InitialSize is the number of entries to make room for up front; the
	// table never shrinks below it.
	InitialSize int
}

// Entry is one row of `fdb show`.
type Entry struct {
	MAC    uint64 // low 48 bits, as header.MAC.Uint64
	Port   uint16
	Static bool
	Age    time.Duration // since last seen; always 0 for static entries
}

// Table is the MAC table of one network. Lookup and Learn may be called from
// any number of goroutines at once; so may every other method. Make one with
// New.
type Table struct {
	// Read by every Lookup and Learn; written rarely.
	cur   atomic.Pointer[slots]
	aging atomic.Int64 // ns; negative: never
	slack atomic.Int64 // ns; Learn skips refreshes younger than this
	limit atomic.Int64 // dynamic entries per port; 0: unlimited

	// Written by every insert and delete; kept off the readers' cache line.
	_    [64]byte
	size atomic.Int64 // entries in cur; written under mu, read by Len

	mu      sync.Mutex
	used    int            // entries plus tombstones in cur
	perPort map[uint16]int // dynamic entries per port
	// unlimited ports are exempt from the MAC limit (SetUnlimited).
	unlimited map[uint16]bool
	floor     int // slots the table never shrinks below
}

// slots is one generation of the table. The arrays never change length; a
// bigger or cleaner table is a new slots value.
type slots struct {
	keys  []atomic.Uint64
	seen  []atomic.Int64
	mask  uint64
	shift uint8
}

func newSlots(n int) *slots {
	bits := uint8(0)
	for 1<<bits < n {
		bits++
	}
	return &slots{
		keys:  make([]atomic.Uint64, 1<<bits),
		seen:  make([]atomic.Int64, 1<<bits),
		mask:  1<<bits - 1,
		shift: 64 - bits,
	}
}

// home is the first slot probed for mac.
func (s *slots) home(mac uint64) uint64 { return (mac * fibonacci) >> s.shift }

// slotsFor is the array length that holds n entries at most half full.
func slotsFor(n, floor int) int {
	c := minSlots
	for c < floor || c/2 < n {
		c <<= 1
	}
	return c
}

// New makes an empty table.
func New(cfg Config) *Table {
	t := &Table{perPort: make(map[uint16]int), unlimited: make(map[uint16]bool)}
	t.floor = slotsFor(cfg.InitialSize, 0)
	t.cur.Store(newSlots(t.floor))
	t.SetAging(cfg.Aging)
	t.SetMACLimit(cfg.MACLimit)
	return t
}

// SetAging changes the aging time: 0 means DefaultAging, negative never ages.
// It takes effect at the next Age.
func (t *Table) SetAging(d time.Duration) {
	if d == 0 {
		d = DefaultAging
	}
	// Refreshing at most every aging/64 (and at most every second) lets an
	// entry die up to that much early, and saves a store per frame.
	slack := maxRefresh
	if d > 0 {
		slack = min(int64(d)/64, maxRefresh)
	}
	t.slack.Store(slack)
	t.aging.Store(int64(d))
}

// SetMACLimit changes the per-port limit on dynamic entries; 0 or negative is
// unlimited. Lowering it removes nothing: a port above the new limit learns
// no new MAC until it is below.
func (t *Table) SetMACLimit(n int) {
	t.limit.Store(int64(max(n, 0)))
}

// validMAC reports a unicast, non-zero 48-bit address: the only kind stored.
func validMAC(mac uint64) bool {
	return mac-1 < macLimit-1 && mac&multicastBit == 0
}

// Lookup returns the port mac was last learned or configured on. It never
// locks and never allocates.
func (t *Table) Lookup(mac uint64) (port uint16, ok bool) {
	if mac == 0 { // would match the markers' empty MAC part
		return 0, false
	}
	s := t.cur.Load()
	for i := s.home(mac); ; i = (i + 1) & s.mask {
		w := s.keys[i].Load()
		if w>>macShift == mac {
			return uint16(w & portMask), true
		}
		if w == 0 {
			return 0, false
		}
	}
}

// Learn records that a frame from mac arrived on port at time now
// (nanoseconds). When mac is already on port it only refreshes the last-seen
// time, without locking or allocating; otherwise it takes the writers' lock.
func (t *Table) Learn(mac uint64, port uint16, now int64) LearnResult {
	if !validMAC(mac) || port > MaxPort {
		return Invalid
	}
	s := t.cur.Load()
	for i := s.home(mac); ; i = (i + 1) & s.mask {
		w := s.keys[i].Load()
		if w>>macShift == mac {
			if uint16(w&portMask) != port {
				break
			}
			if seen := &s.seen[i]; now-seen.Load() > t.slack.Load() {
				seen.Store(now)
			}
			return Known
		}
		if w == 0 {
			break
		}
	}
	return t.learnSlow(mac, port, now)
}

func (t *Table) learnSlow(mac uint64, port uint16, now int64) LearnResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.learnLocked(mac, port, now)
}

func (t *Table) learnLocked(mac uint64, port uint16, now int64) LearnResult {
	s := t.cur.Load()
	i, w, found := s.find(mac)
	if !found {
		if t.fullLocked(port) {
			return LimitExceeded
		}
		t.insertLocked(pack(mac, port, false), now)
		t.perPort[port]++
		return Learned
	}
	old := uint16(w & portMask)
	switch {
	case old == port: // another worker learned it first
		if now-s.seen[i].Load() > t.slack.Load() {
			s.seen[i].Store(now)
		}
		return Known
	case w&staticBit != 0:
		return StaticConflict
	case t.fullLocked(port):
		// Left on the old port: a full port must not take over another
		// port's station either.
		return LimitExceeded
	}
	s.seen[i].Store(now)
	s.keys[i].Store(pack(mac, port, false))
	t.dropCountLocked(old)
	t.perPort[port]++
	return Moved
}

// fullLocked reports whether port may not learn one more MAC.
func (t *Table) fullLocked(port uint16) bool {
	limit := t.limit.Load()
	return limit > 0 && !t.unlimited[port] && int64(t.perPort[port]) >= limit
}

// SetUnlimited exempts port from the MAC limit (on) or ends the exemption.
// The limit is meant for a port with one station behind it; a tunnel port
// carries the stations of whole remote hosts and bounds them itself.
// FlushPort ends the exemption with the port.
func (t *Table) SetUnlimited(port uint16, on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if on {
		t.unlimited[port] = true
	} else {
		delete(t.unlimited, port)
	}
}

func (t *Table) dropCountLocked(port uint16) {
	if t.perPort[port]--; t.perPort[port] <= 0 {
		delete(t.perPort, port)
	}
}

func pack(mac uint64, port uint16, static bool) uint64 {
	w := mac<<macShift | uint64(port)
	if static {
		w |= staticBit
	}
	return w
}

// find returns the slot holding mac. The caller holds mu.
func (s *slots) find(mac uint64) (i, w uint64, ok bool) {
	for i = s.home(mac); ; i = (i + 1) & s.mask {
		w = s.keys[i].Load()
		if w>>macShift == mac {
			return i, w, true
		}
		if w == 0 {
			return 0, 0, false
		}
	}
}

// insertLocked adds an entry whose MAC is not in the table.
func (t *Table) insertLocked(w uint64, seen int64) {
	s := t.cur.Load()
	if (t.used+1)*4 > len(s.keys)*3 {
		t.rebuildLocked(int(t.size.Load()) + 1)
		s = t.cur.Load()
	}
	i := s.home(w >> macShift)
	for s.keys[i].Load()>>macShift != 0 { // stop at empty or tombstone
		i = (i + 1) & s.mask
	}
	if s.keys[i].Load() == 0 {
		t.used++
	}
	// Time first: whoever finds the key finds its time with it.
	s.seen[i].Store(seen)
	s.keys[i].Store(w)
	t.size.Add(1)
}

// removeLocked turns slot i, holding w, into a tombstone.
func (t *Table) removeLocked(s *slots, i, w uint64) {
	s.keys[i].Store(tombstone)
	t.size.Add(-1)
	if w&staticBit == 0 {
		t.dropCountLocked(uint16(w & portMask))
	}
}

// rebuildLocked copies the entries into a fresh array sized for n entries and
// publishes it. Readers on the old array keep a consistent, frozen table; a
// refresh that lands there meanwhile is lost, which can only age a MAC early.
func (t *Table) rebuildLocked(n int) {
	old := t.cur.Load()
	s := newSlots(slotsFor(n, t.floor))
	for i := range old.keys {
		w := old.keys[i].Load()
		if w>>macShift == 0 {
			continue
		}
		j := s.home(w >> macShift)
		for s.keys[j].Load() != 0 {
			j = (j + 1) & s.mask
		}
		s.seen[j].Store(old.seen[i].Load())
		s.keys[j].Store(w)
	}
	t.used = int(t.size.Load())
	t.cur.Store(s)
}

// shrinkLocked gives memory back after Age or FlushPort emptied the table.
func (t *Table) shrinkLocked() {
	if n := len(t.cur.Load().keys); n > t.floor && int(t.size.Load()) < n/8 {
		t.rebuildLocked(int(t.size.Load()))
	}
}

// Age removes the dynamic entries last seen more than the aging time before
// now, and returns how many. Static entries never age. Call it from a timer:
// it walks the whole table under the writers' lock (about 4 ms for 1M
// entries, BenchmarkAge), which stalls learning of new MACs, not lookups.
func (t *Table) Age(now int64) (removed int) {
	aging := t.aging.Load()
	if aging < 0 {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.cur.Load()
	for i := range s.keys {
		w := s.keys[i].Load()
		if w>>macShift == 0 || w&staticBit != 0 {
			continue
		}
		if now-s.seen[i].Load() > aging {
			t.removeLocked(s, uint64(i), w)
			removed++
		}
	}
	t.shrinkLocked()
	return removed
}

var (
	errZeroMAC    = errors.New("the zero MAC address is never a station")
	errWideMAC    = errors.New("value wider than 48 bits")
	errMulticast  = errors.New("multicast address: static entries are for unicast stations")
	errPortLength = fmt.Errorf("port index above %d", MaxPort)
)

// AddStatic pins mac to port: learning will not move it and aging will not
// remove it. It replaces a dynamic or static entry for the same MAC and does
// not count against the port's MAC limit.
func (t *Table) AddStatic(mac uint64, port uint16) error {
	var err error
	switch {
	case mac >= macLimit:
		return fmt.Errorf("fdb: static entry for MAC %#x: %w", mac, errWideMAC)
	case mac == 0:
		err = errZeroMAC
	case mac&multicastBit != 0:
		err = errMulticast
	case port > MaxPort:
		err = errPortLength
	}
	if err != nil {
		return fmt.Errorf("fdb: static entry for %s on port %d: %w", header.MACFromUint64(mac), port, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.cur.Load()
	w := pack(mac, port, true)
	i, old, found := s.find(mac)
	if !found {
		t.insertLocked(w, 0)
		return nil
	}
	if old&staticBit == 0 {
		t.dropCountLocked(uint16(old & portMask))
	}
	s.keys[i].Store(w)
	return nil
}

// Delete removes mac's entry, dynamic or static, and reports whether there
// was one.
func (t *Table) Delete(mac uint64) bool {
	if !validMAC(mac) {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.cur.Load()
	i, w, found := s.find(mac)
	if found {
		t.removeLocked(s, i, w)
	}
	return found
}

// FlushPort removes every entry on port, static ones too, and returns how
// many: the port is going away.
func (t *Table) FlushPort(port uint16) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.cur.Load()
	n := 0
	for i := range s.keys {
		w := s.keys[i].Load()
		if w>>macShift != 0 && uint16(w&portMask) == port {
			t.removeLocked(s, uint64(i), w)
			n++
		}
	}
	delete(t.unlimited, port)
	t.shrinkLocked()
	return n
}

// Len returns the number of entries, without locking.
func (t *Table) Len() int { return int(t.size.Load()) }

// PortCount returns the number of dynamic entries on port: what MACLimit is
// checked against.
func (t *Table) PortCount(port uint16) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.perPort[port]
}

// Entries returns every entry sorted by MAC, with ages relative to now.
func (t *Table) Entries(now int64) []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.cur.Load()
	out := make([]Entry, 0, t.size.Load())
	for i := range s.keys {
		w := s.keys[i].Load()
		if w>>macShift == 0 {
			continue
		}
		e := Entry{MAC: w >> macShift, Port: uint16(w & portMask), Static: w&staticBit != 0}
		if !e.Static {
			e.Age = time.Duration(max(now-s.seen[i].Load(), 0))
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Compare(a.MAC, b.MAC) })
	return out
}

// memBytes is the size of the slot arrays, for the B/entry benchmark.
func (t *Table) memBytes() int {
	return len(t.cur.Load().keys) * (8 + 8)
}
