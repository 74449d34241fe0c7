package nat

import (
	"encoding/binary"
	"time"

	"vswitch/header"
)

// Table6 is the connection-tracking table for IPv6 flows: the IPv4 Table's
// code, run on tuples whose addresses are interned ids (addrs.go). A
// Tuple6 becomes a Tuple with Src and Dst the 32-bit ids of its addresses
// and ICMPv6 as ICMP, so states, timeouts, port search, null bindings,
// early drop, expiry and the sweeper are those of IPv4, not a copy of them.
//
// Why ids rather than a table generic over the tuple type or one widened
// to 16-byte addresses (measured, see doc.go): the IPv4 per-packet path
// stays exactly as it was (a generic Conn.Target is not inlined and calls
// Reverse through a dictionary; a widened tuple doubles the conn and the
// index entry), and an IPv6 lookup costs two address lookups more.
//
// The two tables are separate: each has its own limit (Config.Max) and
// counters, as if Linux's one table were split by family.
type Table6 struct {
	t   *Table
	ids *addrIDs
}

// New6 makes an empty IPv6 table.
func New6(cfg Config) *Table6 {
	t6 := &Table6{t: New(cfg), ids: newAddrIDs()}
	t6.t.onInsert = t6.onInsert
	t6.t.onRemove = t6.onRemove
	return t6
}

// Every conn holds one reference per address field of its two tuples, so
// an address's id lives exactly as long as some conn names it.
func (t6 *Table6) onInsert(c *Conn) {
	a := t6.ids
	a.mu.Lock()
	a.refLocked(idOf(c.Orig.Src))
	a.refLocked(idOf(c.Orig.Dst))
	a.refLocked(idOf(c.Reply.Src))
	a.refLocked(idOf(c.Reply.Dst))
	a.mu.Unlock()
}

func (t6 *Table6) onRemove(c *Conn, now int64) {
	a := t6.ids
	a.mu.Lock()
	a.releaseLocked(idOf(c.Orig.Src), now)
	a.releaseLocked(idOf(c.Orig.Dst), now)
	a.releaseLocked(idOf(c.Reply.Src), now)
	a.releaseLocked(idOf(c.Reply.Dst), now)
	a.mu.Unlock()
}

func idOf(b [4]byte) uint32 { return binary.BigEndian.Uint32(b[:]) }

func idBytes(id uint32) (b [4]byte) {
	binary.BigEndian.PutUint32(b[:], id)
	return
}

// innerProto maps an IPv6 next header to the protocol the shared table
// tracks (ICMPv6 as ICMP: same states, timeouts and id-in-both-ports), or 0
// for one it never holds.
func innerProto(p uint8) uint8 {
	switch p {
	case header.ProtoTCP, header.ProtoUDP:
		return p
	case header.ProtoICMPv6:
		return header.ProtoICMP
	}
	return 0
}

func outerProto(p uint8) uint8 {
	if p == header.ProtoICMP {
		return header.ProtoICMPv6
	}
	return p
}

// Conn6 is one tracked IPv6 flow: the shared table's conn and the table
// that translates its ids back to addresses. Valid for the packet at hand
// only, as a *Conn (see doc.go).
type Conn6 struct {
	c   *Conn
	ids *addrIDs
}

func (c Conn6) tuple(t Tuple) Tuple6 {
	return Tuple6{Src: c.ids.addr(idOf(t.Src)), Dst: c.ids.addr(idOf(t.Dst)),
		SPort: t.SPort, DPort: t.DPort, Proto: outerProto(t.Proto)}
}

// Orig is the tuple of the conn's first packet as it arrived.
func (c Conn6) Orig() Tuple6 { return c.tuple(c.c.Orig) }

// Reply is the tuple the answers carry.
func (c Conn6) Reply() Tuple6 { return c.tuple(c.c.Reply) }

// Target is the tuple a packet travelling in direction d carries after
// translation.
func (c Conn6) Target(d Dir) Tuple6 { return c.tuple(c.c.Target(d)) }

// NAT is the conn's SNAT|DNAT flags.
func (c Conn6) NAT() uint8 { return c.c.NAT }

// State, Deadline and Assured are those of Conn.
func (c Conn6) State() State    { return c.c.State() }
func (c Conn6) Deadline() int64 { return c.c.Deadline() }
func (c Conn6) Assured() bool   { return c.c.Assured() }

// Valid is false for the zero Conn6 (no conn).
func (c Conn6) Valid() bool { return c.c != nil }

// inner is k in the shared table's terms; false when an address has no id
// (no conn can name it) or the protocol is never tracked.
func (t6 *Table6) inner(k *Tuple6) (Tuple, bool) {
	p := innerProto(k.Proto)
	if p == 0 {
		return Tuple{}, false
	}
	s, ok := t6.ids.lookup(&k.Src)
	if !ok {
		return Tuple{}, false
	}
	d, ok := t6.ids.lookup(&k.Dst)
	if !ok {
		return Tuple{}, false
	}
	return Tuple{Src: idBytes(s), Dst: idBytes(d), SPort: k.SPort, DPort: k.DPort, Proto: p}, true
}

// Lookup is LookupAt at the table's clock.
func (t6 *Table6) Lookup(k Tuple6) (Conn6, Dir, bool) { return t6.LookupAt(k, t6.t.now()) }

// LookupAt finds the conn of a packet with tuple k, as Table.LookupAt: no
// lock, no allocation, no write to shared memory.
func (t6 *Table6) LookupAt(k Tuple6, now int64) (Conn6, Dir, bool) {
	ik, ok := t6.inner(&k)
	if !ok {
		return Conn6{}, Original, false
	}
	c, d, ok := t6.t.LookupAt(ik, now)
	if !ok {
		return Conn6{}, Original, false
	}
	return Conn6{c, t6.ids}, d, true
}

// Track is Table.Track.
func (t6 *Table6) Track(c Conn6, d Dir, tcpFlags uint8, now int64) bool {
	return t6.t.Track(c.c, d, tcpFlags, now)
}

// Create commits a new IPv6 flow, as Table.Create (same errors). The
// addresses are pinned while the shared table decides, so none can be
// released and its id reused under it.
func (t6 *Table6) Create(orig Tuple6, rw Rewrite6, tcpFlags uint8, now int64) (Conn6, error) {
	p := innerProto(orig.Proto)
	if p == 0 {
		t6.t.invalid.Add(1)
		return Conn6{}, ErrInvalid
	}
	a := t6.ids
	var pins [4]uint32
	n := 0
	ok := true
	a.mu.Lock()
	pin := func(ad [16]byte) uint32 {
		id, got := a.acquireLocked(ad, now)
		if !got {
			ok = false
			return 0
		}
		pins[n] = id
		n++
		return id
	}
	ik := Tuple{Src: idBytes(pin(orig.Src)), Dst: idBytes(pin(orig.Dst)), SPort: orig.SPort, DPort: orig.DPort, Proto: p}
	irw := Rewrite{SNAT: rw.SNAT, DNAT: rw.DNAT, DstPort: rw.DstPort}
	if rw.SNAT {
		irw.SrcAddr = idBytes(pin(rw.SrcAddr))
	}
	if rw.DNAT {
		irw.DstAddr = idBytes(pin(rw.DstAddr))
	}
	a.mu.Unlock()
	var c *Conn
	var err error
	if ok {
		c, err = t6.t.Create(ik, irw, tcpFlags, now)
	} else {
		t6.t.full.Add(1) // no id left for an address (or a 2^-97 hash clash)
		err = ErrFull
	}
	a.mu.Lock()
	for _, id := range pins[:n] {
		a.releaseLocked(id, now)
	}
	a.mu.Unlock()
	if err != nil {
		return Conn6{}, err
	}
	return Conn6{c, a}, nil
}

// DirOf is the direction of a packet with tuple k on c (see Conn.DirOf).
func (c Conn6) DirOf(k Tuple6) (Dir, bool) {
	switch k {
	case c.Orig():
		return Original, true
	case c.Reply():
		return Reply, true
	}
	return Original, false
}

// Delete removes c from the table.
func (t6 *Table6) Delete(c Conn6) { t6.t.Delete(c.c) }

// Flush removes every conn.
func (t6 *Table6) Flush() { t6.t.Flush() }

// Sweep, Start, Close, Len, Max and Stats are those of Table.
func (t6 *Table6) Sweep(now int64) int { return t6.t.Sweep(now) }
func (t6 *Table6) Start()              { t6.t.Start() }
func (t6 *Table6) Close()              { t6.t.Close() }
func (t6 *Table6) Len() int            { return t6.t.Len() }
func (t6 *Table6) Max() int            { return t6.t.Max() }
func (t6 *Table6) Stats() Stats        { return t6.t.Stats() }

// Entry6 is one IPv6 conn in a snapshot.
type Entry6 struct {
	Orig, Reply Tuple6
	State       State
	NAT         uint8
	Timeout     time.Duration // remaining
}

// Entries is a snapshot of the live IPv6 conns, unordered, for the CLI.
// The ids of a conn the snapshot saw stay valid (quarantined) for a
// second after it goes, so they translate right after the table's lock.
func (t6 *Table6) Entries(now int64) []Entry6 {
	es := t6.t.Entries(now)
	out := make([]Entry6, len(es))
	c := Conn6{ids: t6.ids}
	for i, e := range es {
		out[i] = Entry6{Orig: c.tuple(e.Orig), Reply: c.tuple(e.Reply), State: e.State, NAT: e.NAT, Timeout: e.Timeout}
	}
	return out
}
