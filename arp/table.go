package arp

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"vswitch/header"
)

// State is the state of a neighbour entry, after the kernel's NUD_* states
// (include/net/neighbour.h). DELAY and PROBE are folded into Stale: an entry
// being re-probed is still used, which is all the dataplane needs to know.
type State uint8

const (
	// None is the zero State: there is no entry (Lookup on a miss).
	None State = iota
	// Incomplete: a request was sent and the answer is awaited; frames wait
	// in the entry's queue.
	Incomplete
	// Reachable: the neighbour answered a request within ReachableTime.
	Reachable
	// Stale: the MAC is known but unconfirmed for longer than ReachableTime
	// (or was only learned from the neighbour's own request). It is still
	// used; using it starts a re-probe (RFC 1122 2.3.2.1 unicast poll).
	Stale
	// Failed: resolution gave up after MaxProbes unanswered requests. The next
	// frame for the address starts a new resolution, as in the kernel.
	Failed
	// Permanent: set by vswitchd for the ports it created; never ages, never
	// changed by ARP traffic.
	Permanent
)

var stateNames = [...]string{
	None:       "none",
	Incomplete: "incomplete",
	Reachable:  "reachable",
	Stale:      "stale",
	Failed:     "failed",
	Permanent:  "permanent",
}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Usable reports whether frames may be sent to the entry's MAC.
func (s State) Usable() bool { return s == Reachable || s == Stale || s == Permanent }

// Drop reasons this package hands to the dataplane, which counts them.
const (
	// ReasonQueueFull: a frame waiting for resolution was pushed out of a full
	// queue by a newer one (the kernel drops the oldest too:
	// SKB_DROP_REASON_NEIGH_QUEUEFULL).
	ReasonQueueFull = "arp-queue-full"
	// ReasonFailed: resolution gave up; the frames that waited are returned by
	// Tick so the dataplane sends ICMP host unreachable for each.
	ReasonFailed = "arp-failed"
	// ReasonTableFull: no entry could be made for a new next hop because the
	// table holds MaxEntries dynamic entries none of which could be reclaimed
	// (the kernel's "neighbour table overflow").
	ReasonTableFull = "arp-table-full"
	// ReasonInvalid: the next hop is not a unicast IPv4 address nor a
	// unicast IPv6 one of global scope.
	ReasonInvalid = "arp-invalid"
)

// Config tunes a Table. Zero (or negative) fields take the defaults, which are
// the kernel's for net.ipv4.neigh.default.*.
type Config struct {
	// ReachableTime is how long a confirmation lasts before the entry goes
	// stale (base_reachable_time, 30 s). The kernel picks a random time in
	// [0.5, 1.5)×base per entry to spread re-probes; this table does not, so
	// that tests can name the instant an entry turns stale.
	ReachableTime time.Duration
	// RetransTime is the time between requests for one address (retrans_time,
	// 1 s).
	RetransTime time.Duration
	// MaxProbes is how many requests go unanswered before an entry fails: both
	// broadcast requests when resolving (mcast_solicit, 3) and unicast polls of
	// a stale entry (ucast_solicit, 3).
	MaxProbes int
	// DelayProbeTime is how long a stale entry is used before it is polled
	// (delay_first_probe_time, 5 s): a reply that arrives on its own in that
	// time makes the poll unnecessary.
	DelayProbeTime time.Duration
	// QueueLen is how many frames may wait for one address (unres_qlen, 3).
	QueueLen int
	// FailedKeep is how long a failed entry stays visible in Entries. The
	// kernel removes unreferenced failed entries at its next periodic GC pass,
	// which runs every base_reachable_time/2: up to 15 s, the default here.
	FailedKeep time.Duration
	// GCTime is how long an unused stale entry lives (gc_stale_time, 60 s).
	GCTime time.Duration
	// MaxEntries bounds the dynamic entries (gc_thresh3, 1024); permanent
	// entries do not count.
	MaxEntries int
}

// Defaults, from the kernel's net.ipv4.neigh.default.* sysctls.
const (
	DefaultReachableTime  = 30 * time.Second
	DefaultRetransTime    = 1 * time.Second
	DefaultMaxProbes      = 3
	DefaultDelayProbeTime = 5 * time.Second
	DefaultQueueLen       = 3
	DefaultFailedKeep     = 15 * time.Second
	DefaultGCTime         = 60 * time.Second
	DefaultMaxEntries     = 1024
)

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&c.ReachableTime, DefaultReachableTime)
	def(&c.RetransTime, DefaultRetransTime)
	def(&c.DelayProbeTime, DefaultDelayProbeTime)
	def(&c.FailedKeep, DefaultFailedKeep)
	def(&c.GCTime, DefaultGCTime)
	defInt(&c.MaxProbes, DefaultMaxProbes)
	defInt(&c.QueueLen, DefaultQueueLen)
	defInt(&c.MaxEntries, DefaultMaxEntries)
	return c
}

// Action tells the dataplane what to do after Resolve.
type Action struct {
	// Ready: the entry is usable (it was resolved since the caller's Lookup):
	// send the frame to MAC on Port now. Nothing was queued.
	Ready bool
	MAC   header.MAC
	Port  uint16
	// Queued: a copy of the frame waits in the entry's queue; the caller's
	// buffer is free again.
	Queued bool
	// Request: send a broadcast ARP request for the address on Port now.
	Request bool
	// Drop is set when a frame was dropped: with Queued, the oldest waiting
	// frame made room (ReasonQueueFull); without, this frame was not queued
	// (ReasonTableFull, ReasonInvalid).
	Drop string
}

// Probe is an ARP request Tick asks the dataplane to send; for an IPv6
// address, a neighbour solicitation (to the solicited-node group while
// resolving, to Dst and the address itself when polling).
type Probe struct {
	IP   netip.Addr // target protocol address
	Port uint16
	// Dst is the Ethernet destination: broadcast while resolving, the known
	// MAC when polling a stale entry (RFC 1122 2.3.2.1; BuildRequestTo).
	Dst header.MAC
}

// Unicast reports a poll of a stale entry rather than a resolution.
func (p Probe) Unicast() bool { return !p.Dst.IsBroadcast() }

// Failure is an entry Tick gave up on, with the frames that waited for it
// (oldest first, possibly none): the dataplane answers each with ICMP
// destination host unreachable and counts it with ReasonFailed.
type Failure struct {
	IP     netip.Addr
	Port   uint16
	Frames [][]byte
}

// Entry is one row of `arp show`.
type Entry struct {
	IP    netip.Addr
	MAC   header.MAC // zero while incomplete
	Port  uint16
	State State
	// Updated is when the state last changed or the neighbour last confirmed
	// it, in the caller's nanoseconds; Age is now minus Updated.
	Updated int64
	Age     time.Duration
	Probes  int // requests sent in the current resolution or poll
	Queued  int // frames waiting
}

// Stats counts what the table did since New.
type Stats struct {
	Entries   int    // entries now, permanent ones included
	Requests  uint64 // broadcast requests asked for (Resolve and Tick)
	Polls     uint64 // unicast polls of stale entries asked for
	Resolved  uint64 // incomplete entries that got an answer
	Failures  uint64 // entries that went to Failed
	QueueFull uint64 // frames dropped with ReasonQueueFull
	Unreach   uint64 // frames returned by Tick with ReasonFailed
	TableFull uint64 // entries refused for MaxEntries (by Resolve: ReasonTableFull)
	Flushed   uint64 // waiting frames discarded with their entry (Delete, FlushPort, forced GC)
}

// Table is the neighbour table of the router. Lookup may be called from any
// number of goroutines without locking; every other method takes the table's
// mutex and may also be called from any goroutine. Make one with New.
//
// Entries are keyed by address alone, IPv4 and IPv6 in the same index (an
// IPv6 neighbour is resolved by Neighbor Solicitation, RFC 4861 7.2, with
// the same states, timers and queue); the port is an attribute, the one
// the neighbour was last heard on (or, while incomplete, the one asked on).
// That is enough because every network's connected route sits in one LPM
// table, so an address names one neighbour in the whole switch. Port indexes
// are opaque to this package.
type Table struct {
	cfg Config
	// snap is the current index. The map is never written after it is
	// published: adding or removing an entry publishes a modified copy. A
	// change of state or MAC is made in place, through the entry's atomics, so
	// refreshes (the common change) copy nothing.
	snap atomic.Pointer[map[netip.Addr]*neigh]

	mu      sync.Mutex
	dynamic int // non-permanent entries
	stats   Stats
}

// neigh is one entry. The atomics are what Lookup reads; the rest is guarded
// by Table.mu.
type neigh struct {
	cur  atomic.Pointer[link] // never nil once published
	used atomic.Bool          // set by Lookup on a stale entry: start a poll

	ip      netip.Addr
	queue   [][]byte
	probes  int
	next    int64 // when to send the next probe (or, polling, the first)
	polling bool  // a stale entry being polled (the kernel's DELAY/PROBE)
	updated int64
}

// link is what Lookup returns, immutable once stored: one pointer load gives
// a state with the MAC and port that go with it. Separate atomics could pair
// a usable state with the zero MAC of an entry that failed in between; a
// 16-byte allocation per change of state or address, on the slow path, is
// cheaper than getting that right by ordering.
type link struct {
	mac   header.MAC
	port  uint16
	state State
}

var noLink = &link{}

func (n *neigh) getState() State { return n.cur.Load().state }

func (n *neigh) addr() (header.MAC, uint16) {
	l := n.cur.Load()
	return l.mac, l.port
}

func (n *neigh) set(mac header.MAC, port uint16, s State) {
	n.cur.Store(&link{mac: mac, port: port, state: s})
}

// New makes an empty table.
func New(cfg Config) *Table {
	t := &Table{cfg: cfg.withDefaults()}
	m := map[netip.Addr]*neigh{}
	t.snap.Store(&m)
	return t
}

// Config returns the table's configuration, defaults filled in.
func (t *Table) Config() Config { return t.cfg }

// Lookup returns the neighbour's MAC and port and the entry's state; ok is
// State.Usable. On a miss state is None. It never locks and never allocates;
// using a stale entry marks it for a poll by the next Tick.
func (t *Table) Lookup(ip netip.Addr) (mac header.MAC, port uint16, state State, ok bool) {
	n := (*t.snap.Load())[ip]
	if n == nil {
		return mac, 0, None, false
	}
	l := n.cur.Load()
	state = l.state
	if state == Stale && !n.used.Load() { // a store once per stale period, not per frame
		n.used.Store(true)
	}
	return l.mac, l.port, state, state.Usable()
}

// Len is the number of entries, permanent ones included.
func (t *Table) Len() int { return len(*t.snap.Load()) }

// validIP is an address the table may hold: a unicast IPv4 address, or a
// unicast IPv6 one of global scope (global or unique-local). Link-local
// IPv6 addresses are refused: every network has its own fe80::/64, so one
// would not name one neighbour in the whole switch, and the router never
// needs them as next hops (its routes point at global addresses).
func validIP(ip netip.Addr) bool {
	if ip.Is6() {
		return !ip.Is4In6() && ip.Zone() == "" && !ip.IsUnspecified() && !ip.IsMulticast() &&
			!ip.IsLoopback() && !ip.IsLinkLocalUnicast()
	}
	return ip.Is4() && !ip.IsUnspecified() && !ip.IsMulticast() &&
		ip != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func validMAC(mac header.MAC) bool { return !mac.IsZero() && !mac.IsMulticast() }

// Resolve is the dataplane's slow path for a frame to next hop ip (out of
// port) when Lookup found no usable entry. The frame is copied into the
// entry's queue; frame may be nil to start a resolution with nothing to send.
// See Action for what the caller does next.
func (t *Table) Resolve(ip netip.Addr, port uint16, frame []byte, now int64) Action {
	if !validIP(ip) {
		return Action{Drop: ReasonInvalid}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := (*t.snap.Load())[ip]
	if n == nil {
		if !t.roomLocked(now) {
			t.stats.TableFull++
			return Action{Drop: ReasonTableFull}
		}
		n = &neigh{ip: ip}
		t.startLocked(n, port, now) // before publishing: readers need n.cur
		t.insertLocked(n)
		return t.enqueueLocked(n, frame, Action{Request: true})
	}
	switch n.getState() {
	case Reachable, Stale, Permanent:
		if n.getState() == Stale {
			n.used.Store(true)
		}
		mac, p := n.addr()
		return Action{Ready: true, MAC: mac, Port: p}
	case Failed:
		// Like the kernel, a failed entry is retried by the next frame; the
		// retransmit timer still bounds requests to one per RetransTime.
		t.startLocked(n, port, now)
		return t.enqueueLocked(n, frame, Action{Request: true})
	default: // Incomplete
		return t.enqueueLocked(n, frame, Action{})
	}
}

// startLocked begins a resolution: the caller sends the first request now.
func (t *Table) startLocked(n *neigh, port uint16, now int64) {
	n.set(header.MAC{}, port, Incomplete)
	n.probes = 1
	n.next = now + int64(t.cfg.RetransTime)
	n.polling = false
	n.updated = now
	t.stats.Requests++
}

func (t *Table) enqueueLocked(n *neigh, frame []byte, a Action) Action {
	if frame == nil {
		return a
	}
	var buf []byte
	if len(n.queue) >= t.cfg.QueueLen {
		// Drop the oldest, as the kernel does: the newest frames are the ones
		// a sender is still waiting on (a TCP retransmission, the last ping).
		old := n.queue[0]
		n.queue = append(n.queue[:0], n.queue[1:]...)
		buf = old[:0]
		a.Drop = ReasonQueueFull
		t.stats.QueueFull++
	}
	n.queue = append(n.queue, append(buf, frame...))
	a.Queued = true
	return a
}

// Learn applies ARP traffic from ip/mac heard on port: a reply, or the sender
// of a request (RFC 826 merge). An existing entry is always updated, except a
// permanent one; a new entry is made only when create is set, which the
// caller does when the request's target address was one of ours (RFC 826:
// the sender will talk to us, so we will answer it). fromReply says the
// packet was a reply unicast to us, which confirms reachability: the entry
// becomes Reachable; a request or a broadcast reply makes it Stale, as in the
// kernel's arp_process. The frames that waited for the address are returned,
// oldest first, for the caller to send to mac; the caller owns them.
func (t *Table) Learn(ip netip.Addr, mac header.MAC, port uint16, now int64, fromReply, create bool) (released [][]byte) {
	if !validIP(ip) || !validMAC(mac) {
		return nil
	}
	newState := Stale
	if fromReply {
		newState = Reachable
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := (*t.snap.Load())[ip]
	if n == nil {
		if !create {
			return nil
		}
		if !t.roomLocked(now) {
			t.stats.TableFull++
			return nil
		}
		n = &neigh{ip: ip, updated: now}
		n.set(mac, port, newState)
		t.insertLocked(n)
		return nil
	}
	switch n.getState() {
	case Permanent:
		return nil
	case Incomplete, Failed:
		if n.getState() == Incomplete {
			t.stats.Resolved++
		}
		t.confirmLocked(n, mac, port, newState, now)
		released, n.queue = n.queue, nil
		return released
	default: // Reachable, Stale
		oldMAC, oldPort := n.addr()
		if fromReply || oldMAC != mac || oldPort != port {
			t.confirmLocked(n, mac, port, newState, now)
		}
		// A request with the address we have says nothing new about
		// reachability: the state stays (neigh_update keeps a valid state
		// when the address is unchanged and the new state is only stale).
		return nil
	}
}

func (t *Table) confirmLocked(n *neigh, mac header.MAC, port uint16, s State, now int64) {
	n.used.Store(false)
	n.set(mac, port, s)
	n.probes = 0
	n.polling = false
	n.updated = now
}

// Tick runs the timers; call it from a timer every RetransTime/10 or so, off
// the fast path. It returns the requests to send (sorted by address) and the
// entries that failed since the last Tick with their waiting frames. It also
// turns reachable entries stale, starts polls of stale entries in use, and
// removes failed entries after FailedKeep and unused stale ones after GCTime.
func (t *Table) Tick(now int64) (probes []Probe, failed []Failure) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var gone []*neigh
	for _, n := range *t.snap.Load() {
		switch n.getState() {
		case Incomplete:
			if now < n.next {
				continue
			}
			_, port := n.addr()
			if n.probes >= t.cfg.MaxProbes {
				failed = append(failed, Failure{IP: n.ip, Port: port, Frames: n.queue})
				t.stats.Unreach += uint64(len(n.queue))
				t.failLocked(n, now)
				continue
			}
			n.probes++
			n.next = now + int64(t.cfg.RetransTime)
			probes = append(probes, Probe{IP: n.ip, Port: port, Dst: header.BroadcastMAC})
			t.stats.Requests++
		case Reachable:
			if stale := n.updated + int64(t.cfg.ReachableTime); now >= stale {
				mac, port := n.addr()
				n.used.Store(false)
				n.set(mac, port, Stale)
				n.updated = stale
			}
		case Stale:
			switch {
			case n.polling:
				if now < n.next {
					continue
				}
				mac, port := n.addr()
				if n.probes >= t.cfg.MaxProbes {
					failed = append(failed, Failure{IP: n.ip, Port: port})
					t.failLocked(n, now)
					continue
				}
				n.probes++
				n.next = now + int64(t.cfg.RetransTime)
				probes = append(probes, Probe{IP: n.ip, Port: port, Dst: mac})
				t.stats.Polls++
			case n.used.Load():
				n.polling = true
				n.probes = 0
				n.next = now + int64(t.cfg.DelayProbeTime)
			case now-n.updated >= int64(t.cfg.GCTime):
				gone = append(gone, n)
			}
		case Failed:
			if now-n.updated >= int64(t.cfg.FailedKeep) {
				gone = append(gone, n)
			}
		}
	}
	t.removeLocked(gone...)
	slices.SortFunc(probes, func(a, b Probe) int { return a.IP.Compare(b.IP) })
	slices.SortFunc(failed, func(a, b Failure) int { return a.IP.Compare(b.IP) })
	return probes, failed
}

func (t *Table) failLocked(n *neigh, now int64) {
	_, port := n.addr()
	n.set(header.MAC{}, port, Failed)
	n.queue = nil
	n.probes = 0
	n.polling = false
	n.updated = now
	t.stats.Failures++
}

// roomLocked reports whether one more dynamic entry fits, reclaiming failed
// entries and unused, unpolled stale ones first if the table is full (the
// kernel's neigh_forced_gc).
func (t *Table) roomLocked(now int64) bool {
	if t.dynamic < t.cfg.MaxEntries {
		return true
	}
	var gone []*neigh
	for _, n := range *t.snap.Load() {
		switch n.getState() {
		case Failed:
			gone = append(gone, n)
		case Stale:
			if !n.polling && !n.used.Load() {
				gone = append(gone, n)
			}
		}
	}
	t.removeLocked(gone...)
	return t.dynamic < t.cfg.MaxEntries
}

// insertLocked publishes a copy of the index with n added.
func (t *Table) insertLocked(n *neigh) {
	m := maps.Clone(*t.snap.Load())
	m[n.ip] = n
	t.snap.Store(&m)
	if n.getState() != Permanent {
		t.dynamic++
	}
}

// removeLocked publishes a copy of the index without ns. A reader still
// holding the old index sees the removed entries as None.
func (t *Table) removeLocked(ns ...*neigh) {
	if len(ns) == 0 {
		return
	}
	m := maps.Clone(*t.snap.Load())
	for _, n := range ns {
		delete(m, n.ip)
		t.dropLocked(n)
	}
	t.snap.Store(&m)
}

// dropLocked retires an entry leaving the index.
func (t *Table) dropLocked(n *neigh) {
	if n.getState() != Permanent {
		t.dynamic--
	}
	t.stats.Flushed += uint64(len(n.queue))
	n.queue = nil
	n.cur.Store(noLink)
}

// SetPermanent makes ip a permanent neighbour at mac on port, replacing any
// entry; vswitchd calls it for every port it creates. Frames that waited for
// the address are returned for the caller to send (or drop).
func (t *Table) SetPermanent(ip netip.Addr, mac header.MAC, port uint16) (released [][]byte, err error) {
	if !validIP(ip) {
		return nil, fmt.Errorf("arp: permanent neighbour %v: want a unicast IPv4 address or a global IPv6 one", ip)
	}
	if !validMAC(mac) {
		return nil, fmt.Errorf("arp: permanent neighbour %v: MAC %v is not a unicast address", ip, mac)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := (*t.snap.Load())[ip]
	if n == nil {
		n = &neigh{ip: ip}
		n.set(mac, port, Permanent)
		t.insertLocked(n)
		return nil, nil
	}
	if n.getState() != Permanent {
		t.dynamic--
	}
	released, n.queue = n.queue, nil
	n.probes, n.polling, n.updated = 0, false, 0
	n.used.Store(false)
	n.set(mac, port, Permanent)
	return released, nil
}

// Delete removes the entry for ip, permanent or not (`arp del`). Frames that
// waited for it are discarded and counted in Stats.Flushed.
func (t *Table) Delete(ip netip.Addr) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := (*t.snap.Load())[ip]
	if n == nil {
		return false
	}
	t.removeLocked(n)
	return true
}

// FlushPort removes every entry on port, permanent ones included: vswitchd
// calls it when the port goes away. It returns how many were removed;
// waiting frames are counted in Stats.Flushed.
func (t *Table) FlushPort(port uint16) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var gone []*neigh
	for _, n := range *t.snap.Load() {
		if _, p := n.addr(); p == port {
			gone = append(gone, n)
		}
	}
	t.removeLocked(gone...)
	return len(gone)
}

// Entries lists the table sorted by address, for `arp show`.
func (t *Table) Entries(now int64) []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := *t.snap.Load()
	out := make([]Entry, 0, len(m))
	for _, n := range m {
		mac, port := n.addr()
		e := Entry{IP: n.ip, MAC: mac, Port: port, State: n.getState(),
			Updated: n.updated, Probes: n.probes, Queued: len(n.queue)}
		if e.State != Permanent {
			e.Age = time.Duration(now - n.updated)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return a.IP.Compare(b.IP) })
	return out
}

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Entries = len(*t.snap.Load())
	return s
}
