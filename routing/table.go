package routing

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
	"unsafe"
)

// Table is an immutable longest-prefix-match table for IPv4 and IPv6: for
// each family, a direct-indexed top level followed by popcount-compressed
// 64-way nodes (the layout of Poptrie, Asai & Ohara, SIGCOMM 2015). doc.go
// explains the choice.
//
// A Table is never modified after Build returns, so any number of goroutines
// may call Lookup on it without locks. The nil *Table is an empty table.
type Table struct {
	// routes holds the IPv4 routes, then the IPv6 ones, each sorted by
	// (address, prefix length) and deduplicated. A leaf value v > 0 of
	// either trie stands for routes[v-1]; 0 means no route.
	routes []Route
	// v4 is first so that the IPv4 lookup, the one on the per-packet
	// path, reads the same offsets it did before IPv6 was added.
	v4 trie
	// v6 is empty (direct == nil) when the table has no IPv6 route.
	v6 trie
}

// trie is one family's lookup structure.
type trie struct {
	// direct holds 2^topBits entries, indexed by the top bits of the
	// destination: a leaf value, or nodeBit|i for nodes[i].
	direct []uint32
	nodes  []node
	leaves []uint32
	// topBits is the number of address bits the direct level consumes,
	// chosen from {8, 14, 20} so that the remaining 32-topBits (IPv4) or
	// 128-topBits (IPv6) split into whole 6-bit node levels.
	topBits uint8
}

// node covers six address bits: 64 slots, each either a child node or a leaf
// (a route index pushed down from the longest covering prefix). Only the
// children and the first leaf of each run of equal leaves are stored, in
// nodes[base1:] and leaves[base0:]; a slot's element is found by counting the
// bits set at or below it.
type node struct {
	vector  uint64 // bit j: slot j is a child node
	leafvec uint64 // bit j: slot j is a leaf that starts a run of equal leaves
	base0   uint32 // index in leaves of this node's first leaf
	base1   uint32 // index in nodes of this node's first child
}

const (
	stride  = 6 // bits per node level: 64 slots, one uint64 bitmap
	nodeBit = 1 << 31
)

// Lookup returns the longest-prefix route for dst, or false if none matches.
// An address is looked up among the routes of its own family only: an
// IPv4-mapped IPv6 address (::ffff:10.1.2.3) is IPv6 and never matches an
// IPv4 route, only an IPv6 one that covers it (such as ::/0); an address
// with a zone (fe80::1%eth0) matches nothing, as in netip.Prefix.Contains.
// The returned Route belongs to the Table and must not be modified.
//
// Lookup does not allocate or lock. For IPv4 it reads one direct entry, then
// at most four nodes (three from 4096 routes, two from 256k) and one leaf;
// for IPv6, at most one node per six bits of the longest prefix beyond the
// direct level.
func (t *Table) Lookup(dst netip.Addr) (*Route, bool) {
	if t == nil {
		return nil, false
	}
	if !dst.Is4() {
		return t.lookup6(dst)
	}
	a4 := dst.As4()
	a := uint32(a4[0])<<24 | uint32(a4[1])<<16 | uint32(a4[2])<<8 | uint32(a4[3])
	e := t.v4.direct[a>>(32-t.v4.topBits)]
	if e&nodeBit != 0 {
		n := &t.v4.nodes[e&^nodeBit]
		// sh is the shift that brings the node's six bits to the bottom;
		// it reaches 0 at the last level (bits 26..31), which has no
		// children, so the loop ends before sh would wrap.
		sh := 32 - stride - uint(t.v4.topBits)
		for {
			bit := uint64(1) << (a >> sh & (1<<stride - 1))
			upTo := bit | (bit - 1)
			if n.vector&bit == 0 {
				e = t.v4.leaves[n.base0+uint32(bits.OnesCount64(n.leafvec&upTo))-1]
				break
			}
			n = &t.v4.nodes[n.base1+uint32(bits.OnesCount64(n.vector&upTo))-1]
			sh -= stride
		}
	}
	if e == 0 {
		return nil, false
	}
	return &t.routes[e-1], true
}

// lookup6 is Lookup for an IPv6 address (or the zero Addr). It is the IPv4
// walk on a 128-bit address held as hi, lo: instead of a shift that
// decreases, the address is shifted left past each level's bits, so the
// next six are always the top of hi, wherever bit 64 falls.
func (t *Table) lookup6(dst netip.Addr) (*Route, bool) {
	if t.v6.direct == nil || !dst.Is6() || dst.Zone() != "" {
		return nil, false
	}
	a := dst.As16()
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	s := uint(t.v6.topBits)
	e := t.v6.direct[hi>>(64-s)]
	if e&nodeBit != 0 {
		hi, lo = hi<<s|lo>>(64-s), lo<<s
		n := &t.v6.nodes[e&^nodeBit]
		// The last level (bits 122..127) has no children, so the loop ends
		// there at the latest.
		for {
			bit := uint64(1) << (hi >> (64 - stride))
			upTo := bit | (bit - 1)
			if n.vector&bit == 0 {
				e = t.v6.leaves[n.base0+uint32(bits.OnesCount64(n.leafvec&upTo))-1]
				break
			}
			n = &t.v6.nodes[n.base1+uint32(bits.OnesCount64(n.vector&upTo))-1]
			hi, lo = hi<<stride|lo>>(64-stride), lo<<stride
		}
	}
	if e == 0 {
		return nil, false
	}
	return &t.routes[e-1], true
}

// Len is the number of routes in the table.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.routes)
}

// Routes returns a copy of the table's routes, sorted by address then prefix
// length, with prefixes masked.
func (t *Table) Routes() []Route {
	if t == nil {
		return nil
	}
	return slices.Clone(t.routes)
}

// Bytes is the memory the table holds: the lookup structure plus one Route
// record (64 bytes) per route.
func (t *Table) Bytes() int {
	if t == nil {
		return 0
	}
	return t.trieBytes() + cap(t.routes)*int(unsafe.Sizeof(Route{}))
}

// trieBytes is the memory of the lookup structures alone: direct levels,
// nodes and leaves of both families.
func (t *Table) trieBytes() int {
	if t == nil {
		return 0
	}
	return t.v4.bytes() + t.v6.bytes()
}

func (tr *trie) bytes() int {
	return cap(tr.direct)*4 + cap(tr.nodes)*int(unsafe.Sizeof(node{})) + cap(tr.leaves)*4
}

// Build makes a Table of routes, IPv4 and IPv6. Prefixes are masked; routes
// whose prefix is invalid are left out; of several routes with one prefix
// the last wins. An IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) is an IPv6
// prefix like any other: it never matches an IPv4 address (Set refuses it).
// Build does not keep routes. It panics if given more than MaxRoutes. Use Set
// to get errors instead.
func Build(routes []Route) *Table {
	return build(routes, 0, 0)
}

// topBitsFor sizes a family's direct level to its routes: 4·2^topBits bytes,
// at most 16 bytes a route above the smallest size, so a 10-route table
// costs 1 KiB and rebuilds in microseconds, while a 1M-route one saves a
// level per lookup for 4 MiB. 8, 14 and 20 leave whole 6-bit levels below
// them in 32 bits (24, 18, 12) and in 128 (120, 114, 108).
func topBitsFor(n int) uint8 {
	switch {
	case n >= 1<<18:
		return 20
	case n >= 1<<12:
		return 14
	}
	return 8
}

// MaxRoutes is the most routes a Table holds, both families together: Build
// packs a route's index into the low 26 bits of its sort key (the Internet's
// IPv4 table is 1M routes).
const MaxRoutes = 1 << idxBits

const idxBits = 26

// A key4 packs what the build sorts for an IPv4 route: address (bits 32-63),
// prefix length (26-31) and index in Build's input (0-25). Sorting the keys
// as integers orders them by address, then length, then input order, and
// costs a third of sorting structs with a comparison function.
type key4 uint64

// A key is what the builder walks, for either family: the address
// left-aligned in 128 bits (an IPv4 address is the top 32 bits of hi, the
// rest zero), so that "the n bits at depth d" mean the same for both and
// one builder serves both tries; meta packs the prefix length above the
// index in Build's input.
type key struct {
	hi, lo uint64
	meta   uint64 // prefix length << idxBits | input index
}

func (k *key) bits() uint { return uint(k.meta >> idxBits) }
func (k *key) idx() int   { return int(k.meta & (1<<idxBits - 1)) }

// at returns the n ≤ 32 address bits that start at depth d (bit 0 is the most
// significant), d+n ≤ 128.
func (k *key) at(d, n uint) uint32 {
	var x uint64
	if d < 64 {
		x = k.hi<<d | k.lo>>(64-d) // lo>>64 is 0 in Go: d == 0 needs no case
	} else {
		x = k.lo << (d - 64)
	}
	return uint32(x >> (64 - n))
}

// sameTop reports whether a and b agree on their first d address bits.
func sameTop(a, b *key, d uint) bool {
	x := a.hi ^ b.hi
	if d <= 64 {
		return x>>(64-d) == 0
	}
	return x == 0 && (a.lo^b.lo)>>(128-d) == 0
}

// compare orders keys by address, then prefix length, then input index:
// the order key4's integer sort gives IPv4.
func compare(a, b key) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	if c := cmp.Compare(a.lo, b.lo); c != 0 {
		return c
	}
	return cmp.Compare(a.meta, b.meta)
}

type builder struct {
	keys   []key // sorted, one per prefix
	nodes  []node
	leaves []uint32
	base   uint32 // leaf value of keys[i] is base+i+1: where the family starts in routes
}

// build makes the Table; top4 and top6 force the direct level sizes for
// tests, 0 leaves them to topBitsFor.
func build(routes []Route, top4, top6 uint8) *Table {
	if len(routes) > MaxRoutes {
		panic("routing: Build of more than MaxRoutes routes")
	}
	n4 := 0
	for _, r := range routes {
		if r.Prefix.Addr().Is4() {
			n4++
		}
	}
	k4 := make([]key4, 0, n4)
	k6 := make([]key, 0, len(routes)-n4)
	for i, r := range routes {
		p := r.Prefix
		switch {
		case !p.IsValid():
		case p.Addr().Is4():
			a := p.Masked().Addr().As4()
			addr := binary.BigEndian.Uint32(a[:])
			k4 = append(k4, key4(uint64(addr)<<32|uint64(p.Bits())<<idxBits|uint64(i)))
		default:
			a := p.Masked().Addr().As16()
			k6 = append(k6, key{
				hi:   binary.BigEndian.Uint64(a[:8]),
				lo:   binary.BigEndian.Uint64(a[8:]),
				meta: uint64(p.Bits())<<idxBits | uint64(i),
			})
		}
	}
	// Sorted by address then length, the keys list every prefix before the
	// prefixes nested in it (a pre-order walk of the prefix tree): painting
	// in this order leaves the longest match in each slot, and the prefixes
	// under any block are one contiguous run. IPv4 keys sort as integers,
	// then widen to the builder's key.
	slices.Sort(k4)
	keys4 := make([]key, len(k4))
	for i, k := range k4 {
		keys4[i] = key{hi: uint64(k) &^ (1<<32 - 1), meta: uint64(k) & (1<<32 - 1)}
	}
	slices.SortFunc(k6, compare)
	keys4, keys6 := dedup(keys4), dedup(k6)

	if top4 == 0 {
		top4 = topBitsFor(len(keys4))
	}
	if top6 == 0 {
		top6 = topBitsFor(len(keys6))
	}
	t := &Table{routes: make([]Route, 0, len(keys4)+len(keys6))}
	for _, keys := range [][]key{keys4, keys6} {
		for _, k := range keys {
			r := routes[k.idx()]
			r.Prefix = r.Prefix.Masked()
			t.routes = append(t.routes, r)
		}
	}
	t.v4 = buildTrie(keys4, 32, top4, 0)
	if len(keys6) > 0 {
		t.v6 = buildTrie(keys6, 128, top6, uint32(len(keys4)))
	}
	return t
}

// dedup drops all but the last of sorted keys with one prefix.
func dedup(keys []key) []key {
	out := keys[:0]
	for i, k := range keys {
		if i+1 < len(keys) && keys[i+1].hi == k.hi && keys[i+1].lo == k.lo && keys[i+1].bits() == k.bits() {
			continue
		}
		out = append(out, k)
	}
	return out
}

// buildTrie builds the trie of one family, whose addresses are w bits long,
// with a direct level of s bits.
func buildTrie(keys []key, w uint, s uint8, base uint32) trie {
	n := countNodes(keys, w, uint(s))
	b := &builder{
		keys:   keys,
		nodes:  make([]node, 0, n),
		leaves: make([]uint32, 0, 2*n),
		base:   base,
	}
	tr := trie{direct: make([]uint32, 1<<s), topBits: s}
	b.top(tr.direct, uint(s))
	tr.nodes = b.nodes
	tr.leaves = shrink(b.leaves)
	return tr
}

// countNodes returns how many nodes the keys need, so that the node array is
// allocated once, at its final size: one node for each block of each level
// that holds a prefix longer than the level's start.
func countNodes(keys []key, w, s uint) int {
	longest := uint(0)
	for i := range keys {
		longest = max(longest, keys[i].bits())
	}
	n := 0
	for d := s; d < min(w, longest); d += stride {
		last := -1 // no block yet
		for i := range keys {
			if keys[i].bits() > d && (last < 0 || !sameTop(&keys[last], &keys[i], d)) {
				n++
				last = i
			}
		}
	}
	return n
}

// top fills the direct level, then builds a node under each top slot that
// holds prefixes longer than the level.
func (b *builder) top(direct []uint32, s uint) {
	for i := range b.keys {
		k := &b.keys[i]
		if k.bits() <= s {
			j := k.at(0, s)
			fill(direct[j:j+1<<(s-k.bits())], b.base+uint32(i+1))
		}
	}
	for i := 0; i < len(b.keys); {
		k := &b.keys[i]
		if k.bits() <= s {
			i++
			continue
		}
		// Every key after i in this slot is longer than s: a shorter one
		// would contain the slot and so sort before i.
		j := k.at(0, s)
		e := i + 1
		for e < len(b.keys) && b.keys[e].at(0, s) == j {
			e++
		}
		idx := len(b.nodes)
		b.nodes = append(b.nodes, node{})
		b.node(idx, s, direct[j], i, e)
		direct[j] = nodeBit | uint32(idx)
		i = e
	}
}

// node builds nodes[idx], covering address bits d..d+5 of the block that
// keys[lo:hi] all lie in (each longer than d bits). def is the leaf of the
// longest prefix of d bits or fewer covering the block.
func (b *builder) node(idx int, d uint, def uint32, lo, hi int) {
	// slot[j] is the leaf of slot j where painted has bit j, def elsewhere:
	// tracking it saves filling all 64 slots in every node.
	var slot [1 << stride]uint32
	var painted uint64
	end := d + stride
	// vector marks the child slots; edges marks where a painted range starts
	// or ends, the only places a leaf can differ from the leaf before it.
	var vector, edges uint64 = 0, 1
	for i := lo; i < hi; i++ {
		k := &b.keys[i]
		j := k.at(d, stride)
		if k.bits() <= end {
			n := uint32(1) << (end - k.bits())
			fill(slot[j:j+n], b.base+uint32(i+1))
			painted |= (1<<n - 1) << j
			edges |= 1<<j | 1<<(j+n) // 1<<64 is 0 in Go: a range ending at the last slot
		} else {
			vector |= 1 << j
		}
	}

	// A run of equal leaves can start only at the first leaf slot at or
	// after an edge; visiting those few slots, not all 64, keeps a node's
	// build cost proportional to its routes.
	leafSlots := ^vector
	var starts uint64
	for e := edges; e != 0; e &= e - 1 {
		if m := leafSlots &^ (e&-e - 1); m != 0 {
			starts |= m & -m
		}
	}
	base0 := len(b.leaves)
	var leafvec uint64
	for ; starts != 0; starts &= starts - 1 {
		j := bits.TrailingZeros64(starts)
		v := slot[j]
		if painted>>j&1 == 0 {
			v = def
		}
		if len(b.leaves) == base0 || b.leaves[len(b.leaves)-1] != v {
			leafvec |= 1 << j
			b.leaves = append(b.leaves, v)
		}
	}

	// The children are allocated as one block, in slot order, before any of
	// them is built, so base1+rank finds them.
	base1 := len(b.nodes)
	b.nodes = slices.Grow(b.nodes, bits.OnesCount64(vector))
	b.nodes = b.nodes[:base1+bits.OnesCount64(vector)]
	b.nodes[idx] = node{vector: vector, leafvec: leafvec, base0: uint32(base0), base1: uint32(base1)}

	c := base1
	for i := lo; i < hi; {
		k := &b.keys[i]
		if k.bits() <= end {
			i++
			continue
		}
		j := k.at(d, stride)
		e := i + 1
		for e < hi && b.keys[e].at(d, stride) == j {
			e++
		}
		v := slot[j]
		if painted>>j&1 == 0 {
			v = def
		}
		b.node(c, end, v, i, e)
		c++
		i = e
	}
}

func fill(s []uint32, v uint32) {
	for i := range s {
		s[i] = v
	}
}

// shrink drops the slack append left, which would otherwise stay allocated
// for the life of the snapshot.
func shrink[S ~[]E, E any](s S) S {
	if cap(s)-len(s) <= len(s)/16 {
		return s
	}
	return append(S(nil), s...)
}
