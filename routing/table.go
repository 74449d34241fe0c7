package routing

import (
	"math/bits"
	"net/netip"
	"slices"
	"unsafe"
)

// Table is an immutable IPv4 longest-prefix-match table: a direct-indexed top
// level followed by popcount-compressed 64-way nodes (the layout of Poptrie,
// Asai & Ohara, SIGCOMM 2015). doc.go explains the choice.
//
// A Table is never modified after Build returns, so any number of goroutines
// may call Lookup on it without locks. The nil *Table is an empty table.
type Table struct {
	// routes is sorted by (address, prefix length) and deduplicated. A leaf
	// value v > 0 stands for routes[v-1]; 0 means no route.
	routes []Route
	// direct holds 2^topBits entries, indexed by the top bits of the
	// destination: a leaf value, or nodeBit|i for nodes[i].
	direct []uint32
	nodes  []node
	leaves []uint32
	// topBits is the number of address bits the direct level consumes,
	// chosen from {8, 14, 20} so that the remaining 32-topBits split into
	// whole 6-bit node levels.
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
// Only IPv4 is routed: an IPv6 address, IPv4-mapped ones included, is never
// found. The returned Route belongs to the Table and must not be modified.
//
// Lookup does not allocate or lock. It reads one direct entry, then at most
// four nodes (three from 4096 routes, two from 256k) and one leaf.
func (t *Table) Lookup(dst netip.Addr) (*Route, bool) {
	if t == nil || !dst.Is4() {
		return nil, false
	}
	a4 := dst.As4()
	a := uint32(a4[0])<<24 | uint32(a4[1])<<16 | uint32(a4[2])<<8 | uint32(a4[3])
	e := t.direct[a>>(32-t.topBits)]
	if e&nodeBit != 0 {
		n := &t.nodes[e&^nodeBit]
		// sh is the shift that brings the node's six bits to the bottom;
		// it reaches 0 at the last level (bits 26..31), which has no
		// children, so the loop ends before sh would wrap.
		sh := 32 - stride - uint(t.topBits)
		for {
			bit := uint64(1) << (a >> sh & (1<<stride - 1))
			upTo := bit | (bit - 1)
			if n.vector&bit == 0 {
				e = t.leaves[n.base0+uint32(bits.OnesCount64(n.leafvec&upTo))-1]
				break
			}
			n = &t.nodes[n.base1+uint32(bits.OnesCount64(n.vector&upTo))-1]
			sh -= stride
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

// trieBytes is the memory of the lookup structure alone: direct level, nodes
// and leaves.
func (t *Table) trieBytes() int {
	if t == nil {
		return 0
	}
	return cap(t.direct)*4 + cap(t.nodes)*int(unsafe.Sizeof(node{})) + cap(t.leaves)*4
}

// Build makes a Table of routes. Prefixes are masked; routes whose prefix is
// not a valid IPv4 prefix are left out; of several routes with one prefix the
// last wins. Build does not keep routes. It panics if given more than
// MaxRoutes. Use Set to get errors instead.
func Build(routes []Route) *Table {
	return build(routes, topBitsFor(len(routes)))
}

// topBitsFor sizes the direct level to the table: 4·2^topBits bytes, at most
// 16 bytes a route above the smallest size, so a 10-route table costs 1 KiB
// and rebuilds in microseconds, while a 1M-route one saves a level per lookup
// for 4 MiB.
func topBitsFor(n int) uint8 {
	switch {
	case n >= 1<<18:
		return 20
	case n >= 1<<12:
		return 14
	}
	return 8
}

// MaxRoutes is the most routes a Table holds: Build packs a route's index
// into the low 26 bits of its sort key (the Internet's table is 1M routes).
const MaxRoutes = 1 << idxBits

const idxBits = 26

// A key packs what the build sorts and walks: address (bits 32-63), prefix
// length (26-31) and index in Build's input (0-25). Sorting the keys as
// integers orders them by address, then length, then input order, and costs a
// third of sorting structs with a comparison function.
type key uint64

func (k key) addr() uint32 { return uint32(k >> 32) }
func (k key) bits() uint   { return uint(k>>idxBits) & 63 }
func (k key) idx() int     { return int(k & (1<<idxBits - 1)) }

type builder struct {
	keys   []key // sorted, one per prefix
	nodes  []node
	leaves []uint32
}

func build(routes []Route, topBits uint8) *Table {
	if len(routes) > MaxRoutes {
		panic("routing: Build of more than MaxRoutes routes")
	}
	keys := make([]key, 0, len(routes))
	for i, r := range routes {
		p := r.Prefix
		if !p.IsValid() || !p.Addr().Is4() {
			continue
		}
		a := p.Masked().Addr().As4()
		addr := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		keys = append(keys, key(uint64(addr)<<32|uint64(p.Bits())<<idxBits|uint64(i)))
	}
	// Sorted by address then length, the keys list every prefix before the
	// prefixes nested in it (a pre-order walk of the prefix tree): painting
	// in this order leaves the longest match in each slot, and the prefixes
	// under any block are one contiguous run.
	slices.Sort(keys)
	// Deduplicate, keeping the last of equal prefixes.
	out := keys[:0]
	for i, k := range keys {
		if i+1 < len(keys) && keys[i+1]>>idxBits == k>>idxBits {
			continue
		}
		out = append(out, k)
	}
	keys = out

	t := &Table{
		routes:  make([]Route, len(keys)),
		direct:  make([]uint32, 1<<topBits),
		topBits: topBits,
	}
	for i, k := range keys {
		r := routes[k.idx()]
		r.Prefix = r.Prefix.Masked()
		t.routes[i] = r
	}

	n := countNodes(keys, uint(topBits))
	b := &builder{
		keys:   keys,
		nodes:  make([]node, 0, n),
		leaves: make([]uint32, 0, 2*n),
	}
	b.top(t.direct, uint(topBits))
	t.nodes = b.nodes
	t.leaves = shrink(b.leaves)
	return t
}

// countNodes returns how many nodes the keys need, so that the node array is
// allocated once, at its final size: one node for each block of each level
// that holds a prefix longer than the level's start.
func countNodes(keys []key, s uint) int {
	n := 0
	for d := s; d < 32; d += stride {
		last := uint64(1) << 32 // no block yet
		for _, k := range keys {
			if k.bits() > d {
				if blk := uint64(k.addr() >> (32 - d)); blk != last {
					n++
					last = blk
				}
			}
		}
	}
	return n
}

// top fills the direct level, then builds a node under each top slot that
// holds prefixes longer than the level.
func (b *builder) top(direct []uint32, s uint) {
	sh := 32 - s
	for i, k := range b.keys {
		if k.bits() <= s {
			j := k.addr() >> sh
			fill(direct[j:j+1<<(s-k.bits())], uint32(i+1))
		}
	}
	for i := 0; i < len(b.keys); {
		k := b.keys[i]
		if k.bits() <= s {
			i++
			continue
		}
		// Every key after i in this slot is longer than s: a shorter one
		// would contain the slot and so sort before i.
		j := k.addr() >> sh
		e := i + 1
		for e < len(b.keys) && b.keys[e].addr()>>sh == j {
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
	sh := 32 - stride - d
	end := d + stride
	// vector marks the child slots; edges marks where a painted range starts
	// or ends, the only places a leaf can differ from the leaf before it.
	var vector, edges uint64 = 0, 1
	for i := lo; i < hi; i++ {
		k := b.keys[i]
		j := k.addr() >> sh & (1<<stride - 1)
		if k.bits() <= end {
			n := uint32(1) << (end - k.bits())
			fill(slot[j:j+n], uint32(i+1))
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
		k := b.keys[i]
		if k.bits() <= end {
			i++
			continue
		}
		j := k.addr() >> sh & (1<<stride - 1)
		e := i + 1
		for e < hi && b.keys[e].addr()>>sh&(1<<stride-1) == j {
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
