// Package nat is vswitch's connection-tracking table and NAT binding
// allocator: it remembers every flow the router has seen, in which direction
// each packet travels, what its TCP/UDP/ICMP state is, when it expires, and
// which translated tuple a masqueraded or published flow uses.
//
// It does not parse or rewrite packets: the dataplane extracts a Tuple and
// the TCP flags, asks the table, and rewrites addresses, ports and checksums
// itself to Conn.Target(dir). It does not choose which flows are NATed
// (publish rules and masquerade settings live in the dataplane's config
// snapshot), and it does not handle ICMP errors: the dataplane inverts the
// embedded tuple and looks that up.
//
// # Use per packet
//
//	c, d, ok := t.LookupAt(k, now)   // or Lookup(k): reads the clock itself
//	if ok && !t.Track(c, d, flags, now) {
//		ok = false                   // SYN on a TIME_WAIT/CLOSE conn: a new flow
//	}
//	if !ok {
//		c, err = t.Create(k, rewrite, flags, now)  // ErrFull, ErrPortsExhausted, ErrClash, ErrInvalid
//		d, _ = c.DirOf(k)            // Original, unless another worker committed the other side first
//	}
//	rewrite the packet to c.Target(d)
//
// # Keys: one conn, two keys
//
// A Conn has the Original tuple (the first packet as it arrived) and the
// Reply tuple (the first packet after DNAT and SNAT, reversed: what the
// answer will carry). Both are keys of the index, so a packet from either
// side finds the conn with one lookup, and the key says the direction.
// Because every conn claims its reply tuple, also a conn without NAT (a
// "null binding", as Linux makes), a masqueraded flow can never be given an
// external tuple another flow already answers on, and an un-NATed flow that
// would collide with a masqueraded one gets ErrClash instead of stealing its
// replies. The reply key is inserted only after all translation is decided,
// as gVisor's finalize and Linux's confirm do.
//
// # Memory: a slab and a pointer-free index
//
// Conns live in a slab of 4096-conn chunks; the index maps a Tuple to a
// 30-bit value (slot<<1 | direction). Neither the index nor the chunks hold
// pointers, so a million conns cost the garbage collector nothing to scan
// (Tailscale's flowtrack keeps its tuples pointer-free for the same
// reason). A Conn is 48 bytes and an index entry 16; with two entries per
// conn at a load factor between 3/8 and 3/4, a conn costs about 110-130
// bytes of heap (BenchmarkLookup1M reports B/entry).
//
// # Locking
//
// The index is 256 shards chosen by the top bits of a seeded hash of the
// tuple; each shard is an open-addressing table (linear probing) whose
// entries are two atomic 64-bit words holding the whole packed key and the
// value. Lookup never locks and never writes shared memory: it reads the
// shard's sequence number, probes, and checks the sequence again (a
// seqlock). A writer makes the sequence odd while it changes entries;
// deletion shifts the rest of the cluster back (no tombstones), and growth
// or shrinking builds a new entry array aside and publishes it with one
// pointer store. A reader that finds a shard busy 64 times in a row (its
// writer was descheduled mid-change) waits on the shard's read lock, which
// the writer holds while writing, instead of spinning. With a read lock per
// lookup, as first built, the two workers' lookups of the same hot flows
// bounced the lock's counter between the cores (29-71 ns/op against 21-24
// now, BenchmarkLookupHotParallel).
//
// Track changes a conn's state with a CAS on one 32-bit word and its
// deadline with atomics, so the two directions of a flow can be tracked on
// two workers at once without a lock. The deadline is written only when it
// moves by more than a second, so a busy flow does not bounce its cache line
// between the workers on every packet; a state change always writes it, and
// a refresh cannot overwrite the shorter deadline of a concurrent state
// change (it uses CAS and re-checks the state).
//
// All writers (Create, Delete, Sweep, Flush, Entries) serialise on one
// mutex, as Open vSwitch's ct_lock: Create re-checks the tuple under it (a
// second worker that missed the same flow gets the conn the first one
// made), and the port search and the insertion of both keys happen in one
// critical section, so two concurrent Creates can never pick the same
// external tuple. Readers never take that mutex.
//
// # Slot reuse: the rule for *Conn
//
// A *Conn returned by Lookup or Create is valid for the packet at hand. A
// removed conn is first marked dead (lookups that raced with the removal
// see a miss; Track on it does nothing), and its slot is reused only after
// SlotQuarantine (1 s of table time). So a worker that holds a *Conn for
// the microseconds a packet takes can never change another flow's state,
// even if the conn is swept or replaced meanwhile. Do not keep a *Conn
// across packets; keep the Tuple and look it up again. The price is that the
// slab holds, beyond Max live conns, the slots released in the last second.
//
// # Expiry
//
// Each conn carries an atomic deadline (unix ns); Lookup treats a conn past
// its deadline as a miss, so expiry is exact whatever the sweeper's pace.
// Sweep returns the places and slots of expired conns: each call walks the
// next 1/32 of the slab in slot order (sequential memory, a few ns per
// conn; the writers' lock is taken per 4096 slots), so 32 calls cover the
// table and every call makes progress. The goroutine Start runs calls it
// every 1/32 s (a full pass per second); when a call finds nothing it backs
// off to a full pass per 8 s, and when more than half of what it scanned
// had expired, or the table is within 1/8 of its limit, it comes back after
// 10 ms, as gVisor's reaper speeds up. Create also removes an expired conn
// it meets at its own tuple or at a reply tuple it probes.
//
// # States and timeouts
//
// Timeouts default to Linux's (nf_conntrack_proto_*.c): TCP SYN_SENT 2m,
// SYN_RECV 60s, ESTABLISHED 5d, FIN_WAIT 2m, CLOSE_WAIT 60s, LAST_ACK 30s,
// TIME_WAIT 2m, CLOSE 10s; UDP 30s unreplied, 120s once replied; ICMP 30s.
// TCP follows Linux's table closely enough for those timeouts, without its
// sequence-window checks (as tcp_be_liberal): a SYN opens (SYN_SENT), the
// SYN+ACK in reply gives SYN_RECV, the originator's ACK ESTABLISHED. The
// first FIN (either side) gives FIN_WAIT; the other side's ACK of it
// CLOSE_WAIT (half-closed); the second FIN LAST_ACK; an ACK from the side
// that did not send the second FIN TIME_WAIT. Any RST gives CLOSE. A SYN in
// the Original direction on a TIME_WAIT or CLOSE conn makes Track return
// false, and Create then replaces the finished conn, as Linux reopens it.
// A SYN creates a conn; so does any packet carrying ACK (but a SYN+ACK or a
// RST), as ESTABLISHED (nf_conntrack_tcp_loose=1): flows survive a daemon
// restart. Packets with neither SYN nor ACK (null and FIN scans) or with
// impossible flags (SYN+FIN, SYN+RST) never create one (ErrInvalid).
// UDP and ICMP are UNREPLIED until a packet goes the Reply direction, then
// ASSURED. (Linux gives a replied UDP flow 120 s only once it is still
// active 2 s after its first packet; here it gets 120 s at the first reply.)
//
// A conn is assured once answered (TCP: once established with a reply
// seen). Only conns that are not assured, or TCP conns already closing,
// may be evicted.
//
// # Port search
//
// With SNAT, the translated tuple keeps the original source port (ICMP:
// the echo id) when its reply tuple is free, as Linux does: a flow whose
// conn was lost maps to the same external tuple again. Otherwise the port
// is searched in [PortMin, PortMax] from a random offset, linear probing
// with wrap-around, every probe one index lookup of the candidate reply
// tuple; the whole range is probed when it has at most 4096 ports, else at
// most 4096 probes (Linux and OVS give up after 128 probes, halving; this
// table holds the writers' lock anyway and a probe is a map read, so it
// probes further before failing a flow). No free tuple is ErrPortsExhausted;
// a taken port is never reused. For ICMP the id sits in both port fields of
// a tuple, so a remapped id changes both.
//
// # A full table
//
// When Len() >= Max, Create first looks near the new tuple, as Linux's
// early_drop: it samples about 256 conns from the shards following the new
// key's, removes the expired ones it meets and, failing that, evicts one
// conn that is not assured or is a closing TCP conn. If there is none the
// flow is refused with ErrFull and counted; Lookup and Track of existing
// conns are unaffected, so established flows keep working.
//
// # IPv6: Table6, the same table on interned addresses
//
// Table6 tracks IPv6 flows (Tuple6: 16-byte addresses; TCP, UDP, ICMPv6
// echo) with the code above, not a copy of it: each IPv6 address a conn
// names is interned as a 30-bit id (addrs.go), a Tuple6 becomes a Tuple
// with the ids as addresses and ICMPv6 as ICMP, and the shared Table does
// the rest, so states, timeouts, port search, null bindings, early drop,
// expiry and the sweeper are the same by construction. The id map is an
// index of the kind above (keyed by a seeded hash of the address, checked
// against the address stored under the id, so it is exact) plus a
// pointer-free slab of addresses by id; a conn holds one reference per
// address field of its two tuples (hooks the IPv6 table sets on its Table,
// nil in an IPv4 one), and a released id is reused only after
// SlotQuarantine, for the same reason as a slot. An IPv6 lookup is two id
// lookups and the table's lookup; an address no conn names is a miss before
// the table is asked.
//
// The alternatives were measured against this one's goal, an IPv4 path
// exactly as fast as before. A table generic over the tuple type keeps one
// source, but Go compiles a generic Conn.Target (called per packet) to a
// call through a dictionary that is not inlined; a tuple widened to 16-byte
// addresses doubles the conn (48 to 96 bytes) and cannot pack into a
// two-word index entry. Here the IPv4 code paths gained only three nil
// checks on the writers' side; BenchmarkLookup6Hot, BenchmarkLookup6At1M
// and BenchmarkCreate6 give the IPv6 costs.
//
// The two tables are separate, each with its own Max and counters.
package nat
