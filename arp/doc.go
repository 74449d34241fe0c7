// Package arp is the router's neighbour table, IPv4 and IPv6 (what `ip
// neigh` shows on Linux), and the ARP protocol it speaks for IPv4: which MAC,
// on which port, a next hop has, whether that is known, being asked, or
// given up on.
//
// It decides and never does I/O. The dataplane sends and receives the frames:
// it calls Lookup for each routed frame's next hop, Resolve when that misses,
// Learn for each ARP packet it receives, Tick from a timer, and builds the
// requests and replies with BuildRequest, BuildRequestTo, BuildReply and
// BuildGratuitous. ParseARP reads received ARP frames.
//
//	routed frame ─▶ Lookup(next hop) ── usable ──▶ rewrite MACs, send
//	                     │ miss / incomplete / failed
//	                     ▼
//	                Resolve ── copy into the entry's queue; Request: send one
//	                     ⋮
//	ARP reply ───▶ Learn ── queued frames released ──▶ send
//	timer ───────▶ Tick  ── probes to retransmit; failures with their frames
//	                        ──▶ ICMP host unreachable, drop reason arp-failed
//
// # Keys
//
// Entries are keyed by address alone, IPv4 and IPv6 alike, the port stored
// with the MAC: every
// network's connected route is in one routing table, so an address names one
// neighbour in the whole switch. Port indexes mean what the dataplane says.
//
// # States
//
// The kernel's neighbour states (net/core/neighbour.c), DELAY and PROBE folded
// into Stale:
//
//	          Resolve                  reply (a request: Stale)
//	(none) ─────────────▶ Incomplete ──────────────────────────▶ Reachable ◀──┐
//	                        ▲    │                                  │         │
//	                Resolve │    │ MaxProbes broadcast requests,    │ Reach-  │ reply
//	                        │    ▼ RetransTime apart, unanswered    ▼ ableTime│
//	(removed) ◀─FailedKeep─ Failed ◀── MaxProbes unicast polls ── Stale ──────┘
//	                                   unanswered                   │
//	                                                                ▼ GCTime unused
//	                                                            (removed)
//
// A stale entry that is used (Lookup) is polled DelayProbeTime later, as in
// the kernel's DELAY → PROBE; it stays usable meanwhile. Permanent entries are
// set by vswitchd for the ports it created (it knows their IP and MAC); they
// never age and ARP traffic never changes them.
//
// An entry is usable (Lookup's ok) when Reachable, Stale or Permanent. Learn
// follows RFC 826's merge: an existing entry is always updated from a reply
// or a request's sender; a new one is made only when the caller says the
// request was for one of our addresses. A unicast reply confirms reachability;
// a request only shows the sender's address, so it makes an entry Stale.
//
// # Why readers need no lock
//
// Lookup loads an atomic.Pointer to an immutable map from address to entry,
// and from the entry an atomic.Pointer to an immutable (state, MAC, port): two
// loads, no lock, no allocation, and a state always paired with its own
// address. Writers take one mutex. Adding or removing an entry publishes a
// copy of the map (rare: a new neighbour, a GC pass); a change of state or
// address stores a new 16-byte triple in the entry. A reader that still holds
// the old map sees a removed entry as None and goes the slow way.
//
// # Why the queue is bounded
//
// Frames wait for an answer that may never come, while the sender keeps
// sending: without a bound, one unresolvable next hop would hold memory in
// proportion to the offered load. QueueLen (default 3, the kernel's old
// unres_qlen) keeps the newest frames — the ones a sender still waits on —
// and drops the oldest with reason arp-queue-full. Copies are made only here,
// on the slow path; the number of entries is bounded too (MaxEntries).
//
// # Time
//
// Every method that ages takes now, in nanoseconds on any fixed base (as
// package fdb does), so tests drive the state machine without sleeping.
// ReachableTime is not randomised as the kernel's is, so an entry turns stale
// at a time a test can name.
//
// # What it does not do
//
// No I/O and no timers of its own. No proxy ARP. For IPv6 it keeps the
// neighbours and their state machine (RFC 4861 7.3 has the same states as
// the kernel's NUD) but speaks no Neighbor Discovery: the dataplane turns
// the probes for an IPv6 address into neighbour solicitations and calls
// Learn for the advertisements and solicitations it receives. Link-local
// IPv6 addresses are not held (every network has its own fe80::/64). It
// does not choose the source address of requests nor decide which addresses
// are ours: the caller fills in the builders and passes create to Learn. It does not rate-limit the
// ICMP errors for failed frames, and it does not count drops for the
// dataplane (it names the reasons; Stats are its own view).
package arp
