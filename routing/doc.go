// Package routing is the dataplane router's route table, IPv4 and IPv6:
// longest-prefix match over the connected routes of every network, the
// operator's static routes and the default route via the uplink.
//
// # Use
//
// The control plane edits a Set (Add, Del, Routes for `route ls`); each
// refused change returns an error that says what to do. Set.Table builds an
// immutable *Table, which the daemon publishes in its config snapshot behind
// atomic.Pointer. Workers call Table.Lookup on whatever snapshot they loaded:
// no lock, no allocation, and a changed route set means a new Table, never an
// edit of one in use.
//
//	var s routing.Set
//	s.Add(routing.Route{Prefix: netip.MustParsePrefix("172.17.0.0/16"), Kind: routing.Connected, Network: 1})
//	s.Add(routing.Route{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Kind: routing.Default, Via: gw, Port: uplink})
//	s.Add(routing.Route{Prefix: netip.MustParsePrefix("2001:db8::/32"), Kind: routing.Static, Via: gw6}) // one Set, both families
//	cfg.Routes = s.Table()        // control plane, then swap the snapshot
//	r, ok := cfg.Routes.Lookup(dst) // dataplane
//
// # Isolation is the caller's
//
// One table holds the connected routes of all networks, so Lookup finds the
// destination's network whatever the source. The caller enforces isolation
// with Route.Network, which every route carries (for static and default
// routes, the network or uplink link of the next hop): when the network the
// route leads to is neither the source's nor connected to it (`network
// connect`; the uplink for non-internal networks), the packet is dropped
// with reason `isolation`. It must not fall through to a shorter route such as the
// default: Lookup returns only the longest match and has no "next best"
// on purpose, so nothing here can route around the drop.
//
// # Does not
//
//   - match across families: an IPv4 address finds only IPv4 routes, and an
//     IPv6 one, IPv4-mapped ones (::ffff:10.1.2.3) included, only IPv6
//     routes (so ::/0 catches a mapped address, 0.0.0.0/0 never does); Set
//     refuses IPv4-mapped prefixes (write them as IPv4); an address with a
//     zone (fe80::1%eth0) matches nothing, as in netip.Prefix.Contains;
//   - route IPv6 packets: the table holds and finds IPv6 routes, but
//     neither the dataplane nor the daemon uses them yet (issue 14);
//   - hold more than one route per prefix: no metrics, administrative
//     distance or ECMP; changing a route is Del then Add;
//   - resolve next hops: Via is returned as given; the caller finds its
//     neighbour entry (arp) and, unless Route.Port says, its port;
//   - route by source or by any field but the destination;
//   - update a Table in place: every change builds a new one (see below);
//   - lock: a Set belongs to the goroutine that holds the config lock.
//
// # Structure
//
// A Table holds one Poptrie per family (Asai and Ohara, "Poptrie: A
// Compressed Trie with Population Count for Fast and Scalable Software IP
// Routing Table Lookup", SIGCOMM 2015) over one array of Route records, the
// IPv4 routes then the IPv6 ones: a direct-indexed top level of 2^s
// entries, then nodes that each consume six more address bits.
//
//	IPv4 dst:  | s bits (8, 14 or 20) | 6 | 6 | ... | up to bit 32
//	IPv6 dst:  | s bits (8, 14 or 20) | 6 | 6 | ... ... ... | up to bit 128
//	        │
//	        ▼
//	direct[top s bits of dst] ── leaf: route index (0 = none) ──▶ routes[i-1]
//	        │ node
//	        ▼
//	node{vector, leafvec uint64; base0, base1 uint32}   v = next 6 bits
//	  vector bit v set → child nodes[base1 + popcount(vector  & bits ≤ v) - 1]
//	  else             → leaf      leaves[base0 + popcount(leafvec & bits ≤ v) - 1]
//
// Each of 8, 14 and 20 leaves whole six-bit levels below it in both widths
// (32-s is 24, 18 or 12; 128-s is 120, 114 or 108), so the last level ends
// on the last bit and no node is partial. s is chosen per family from that
// family's route count.
//
// Leaves are pushed down (each slot holds its longest covering route), so a
// lookup stops at the first leaf it meets. For IPv4: one direct entry, at
// most four nodes (three from 4096 routes, two from 256k, where s grows to
// 14 and 20), one leaf. For IPv6, one node per six bits of the longest
// prefix on the way beyond s: a /48 is seven nodes deep under s = 8, five
// under s = 20; a /128 up to twenty. An IPv6 lookup holds the address in two
// uint64 and shifts both left past each level, so the next six bits are
// always the top of the high word, also in the node that straddles bit 64
// (bits 62..67, whatever s). A node stores only its children and the first
// leaf of each run of equal leaves, which is what keeps memory near the
// number of routes. s grows with the table so the direct level stays at
// most 16 bytes a route: 1 KiB for a small table, 4 MiB for 1M routes. A
// table without IPv6 routes has no IPv6 direct level at all.
//
// Build sorts the prefixes by (address, length); in that order every
// prefix precedes the ones nested in it, so one pass per node paints its
// slots and the prefixes under any slot are a contiguous run. Nodes are
// counted first and allocated once.
//
// # One builder for both widths
//
// The builder's key holds the address left-aligned in 128 bits (an IPv4
// address is the top 32), so "the six bits at depth d" mean the same for
// both families and one countNodes, top and node build both tries; the
// width (32 or 128) only says where the levels stop. Sorting stays per
// family: IPv4 keys still pack (address, length, index) into one uint64 and
// sort as integers, three times as fast as structs with a comparison
// function, and are widened after; IPv6 keys sort with a comparison.
//
// The lookups are two functions, not one generic one. The IPv4 Lookup is
// the per-packet path and compiles to the same instructions as before IPv6
// existed (checked with go tool objdump: the only change is that a non-IPv4
// address calls lookup6 instead of returning). Generics over the address
// type (uint32 against a hi/lo pair with shift and mask methods) would have
// shared the lookup too, but Go compiles a type parameter's methods as
// calls through a dictionary, not inlined, which the per-packet IPv4 lookup
// would pay for; in the builder they would have cost the same indirection
// for nothing that the left-aligned key does not already give.
//
// # Why, in figures
//
// Measured with this package's benchmarks on the project's 2-core VM, busy
// with other work (so read ratios, not absolutes); "BGP-like" is random
// prefixes with the Internet table's length mix, about 60% /24:
//
//	1M BGP-like routes   lookup 100-130 ns, build 0.35-0.45 s,
//	                     27 B/route structure + 64 B/route Route records
//	1M random /32s       (the memory worst case) 57 B/route + 64, build 0.55-0.9 s
//	10k routes           lookup 14-20 ns; Set change + new Table 2.5-5.7 ms
//	10 routes            lookup 7-13 ns;  Set change + new Table 3-14 µs
//
// (The high ends were measured with a load average of 3 to 5 on the two
// cores.) Adding IPv6 left the IPv4 lookup as it was (same machine code;
// 22 runs of the old and new package interleaved agreed within the noise,
// medians at 1M 183 and 176 ns for random addresses, 217 and 210 ns for
// covered ones, with a load of 2.5). The shared builder made the IPv4 build
// slower: 1M routes 0.39 to 0.51 s, a Set change at 10 routes 5.0 to 5.4 µs,
// at 10k 3.7 to 4.1 ms (medians of 3 interleaved runs). IPv6, with random
// prefixes spread over 2000::/3 and the IPv6 table's mix of lengths (half
// /48), the sparse case, where most routes own their chain of nodes:
//
//	10 routes            lookup 27-33 ns (random), 67-79 ns (covered)
//	10k routes           lookup 61 ns / 138 ns; 157 B/route structure + 64
//	1M routes            lookup 0.8 µs / 1.3 µs; build 1.0 s (2.7 s loaded),
//	                     124 B/route structure + 64
//	1M random /128s      (the memory worst case) 490 B/route + 64, build 1.6 s
//	1M IPv4 + 1M IPv6    build 1.4 s, 75 B/route structure + 64
//
// An IPv6 lookup costs a dependent load per six bits of prefix beyond s:
// seven or eight cache misses for a /48 in a table too big for the cache.
// That is fine for the tables vswitchd will hold (a prefix per network and
// a few static routes, which fit in L1); a full IPv6 Internet table (200k
// routes, clustered in a few allocations, so denser than these) would want
// wider nodes or skipped single-child levels, which this package does not
// do.
//
// At 1M routes a lookup costs its cache misses: direct entry, two nodes, a
// leaf. The alternatives lose on that or on memory:
//
//   - DIR-24-8 (a 2^24 first level) makes a lookup one or two loads but costs
//     64 MiB per snapshot even for ten routes, two snapshots live across a
//     swap, and every change rewrites 16M entries (tens of ms);
//   - a path-compressed binary trie needs about two nodes a route, as much
//     memory, but a lookup follows one node per branching bit: some 20
//     dependent misses at 1M routes instead of four.
//
// Every change rebuilds the whole Table. For the tables vswitchd keeps (a
// route per network plus a few static ones) that is microseconds; a 1M-route
// table takes under half a second per change, so bulk loads should Add
// everything, then call Table once. MaxRoutes (2^26) bounds a Table.
//
// reference_test.go holds a slow reference (a slice scanned longest prefix
// first, both families); property tests (IPv4, IPv6 with every prefix length
// 0..128, mixed tables) and FuzzLookup, FuzzLookup6 check Table against it.
package routing
