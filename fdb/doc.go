// Package fdb is the MAC learning table (forwarding database) of one network:
// which port a unicast MAC address was last seen on.
//
// The dataplane makes one Table per network. Every worker goroutine calls
// Lookup for each frame's destination and Learn for its source, at the same
// time and without locks; the control plane adds static entries, deletes,
// flushes a removed port's entries, lists the table for `fdb show`, and calls
// Age from a timer.
//
// # Slot layout
//
// The table is open addressing with linear probing over two parallel arrays:
//
//	keys []atomic.Uint64            seen []atomic.Int64
//	┌──────────── 48 ───────────┬─1─┬──── 15 ────┐    ┌─────────── 64 ───────────┐
//	│ MAC (header.MAC.Uint64()) │ S │ port index │    │ last-seen time, caller ns │
//	└───────────────────────────┴───┴────────────┘    └──────────────────────────┘
//
//	0x0000_0000_0000_0000  empty: ends a probe
//	0x0000_0000_0000_ffff  tombstone (a deleted entry): probes pass over it
//	anything else          an entry; S set means static
//
// Neither marker has a MAC part, and the zero MAC is never stored, so a marker
// can never be mistaken for an entry. The home slot is a Fibonacci hash of the
// MAC (multiply, keep the top bits), which spreads the sequential addresses
// that hypervisors and container runtimes hand out. A slot costs 16 bytes and
// the array is kept between 3/8 and 3/4 full, so an entry costs 21 to 43
// bytes: 2^20 entries take 2^21 slots, 32 MiB (BenchmarkLookup/1M).
//
// # Why readers need no lock
//
// A MAC and its port live in one 64-bit word and are read with one atomic
// load, so a reader that finds its MAC also reads a port the MAC really was on
// at that instant: it can never pair a MAC with another entry's port. Writers
// (Learn's slow path, AddStatic, Delete, FlushPort, Age) serialise on one
// mutex and only ever change a word in place: an entry never changes slot
// within a slot array, a move is one store of the new word, a delete stores a
// tombstone. The worst a racing reader sees is a miss or the port from just
// before a move; the dataplane then floods the frame or sends one frame to the
// old port, both harmless, both what a hardware switch does.
//
// When the used slots (entries plus tombstones) would pass 3/4 of the array, a
// writer builds a new array sized for twice the entries and swaps an
// atomic.Pointer. Readers still walking the old array see a complete,
// never-again-written table and stay correct; the garbage collector frees it
// after them. Rebuilding also clears tombstones, and Age and FlushPort shrink
// the array when fewer than 1/8 of its slots hold entries.
//
// # Learning and limits
//
// Learn's fast path (the MAC already on that port) is a lock-free probe plus,
// at most once per min(aging/64, 1 s) for each MAC, one store of the
// last-seen time: refreshing on every frame would make every worker write the
// same cache lines, and costs an entry at most that much of its lifetime. Anything
// else (a new MAC, a moved station) takes the mutex. A static entry is never
// moved by learning (StaticConflict). A per-port limit (MACLimit) counts the
// dynamic entries on each port; a new or moving MAC beyond it is not learned
// (LimitExceeded) and the dataplane drops the frame with reason mac-limit.
// Static entries are configured, not learned, and do not count.
//
// # Aging
//
// Time is passed in by the caller (nanoseconds on any fixed base, such as
// time.Now().UnixNano() or a coarse per-batch clock), so tests age a table
// without sleeping. Age, called from a timer off the fast path, removes the
// dynamic entries not seen for longer than the aging time; static entries
// never age. A refresh racing with Age may be lost: the station is learned
// again from its next frame.
//
// # What it does not do
//
// A Table knows one network only: there is no state shared between networks,
// and the same MAC may sit in several tables. It does not forward: on a miss
// the dataplane floods, and broadcast and multicast destinations are the
// dataplane's to handle (multicast and zero sources are refused by Learn).
// It keeps no counters; the dataplane counts LearnResults and drops.
package fdb
