package routing

import (
	"cmp"
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
// Lookup does not allocate or lock; it reads at most one direct entry, three
// nodes (two for tables of 256k routes or more) and one leaf.
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

// Bytes is the memory the table holds: the lookup structure (TrieBytes) plus
// one Route record per route.
func (t *Table) Bytes() int {
	if t == nil {
		return 0
	}
	return t.TrieBytes() + cap(t.routes)*int(unsafe.Sizeof(Route{}))
}

// TrieBytes is the memory of the lookup structure alone: direct level, nodes
// and leaves.
func (t *Table) TrieBytes() int {
	if t == nil {
		return 0
	}
	return cap(t.direct)*4 + cap(t.nodes)*int(unsafe.Sizeof(node{})) + cap(t.leaves)*4
}

// Build makes a Table of routes. Prefixes are masked; routes whose prefix is
// not a valid IPv4 prefix are left out; of several routes with one prefix the
// last wins. Build does not keep routes. Use Set to get errors instead.
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

// key is a route reduced to what the build sorts and walks.
type key struct {
	addr uint32
	bits uint8
	idx  uint32 // index in Build's input
}

type builder struct {
	keys   []key // sorted by (addr, bits), one per prefix
	nodes  []node
	leaves []uint32
}

func build(routes []Route, topBits uint8) *Table {
	keys := make([]key, 0, len(routes))
	for i, r := range routes {
		p := r.Prefix
		if !p.IsValid() || !p.Addr().Is4() {
			continue
		}
		a := p.Masked().Addr().As4()
		keys = append(keys, key{
			addr: uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]),
			bits: uint8(p.Bits()),
			idx:  uint32(i),
		})
	}
	// Sorted by address then length, the keys list every prefix before the
	// prefixes nested in it (a pre-order walk of the prefix tree): painting
	// in this order leaves the longest match in each slot, and the prefixes
	// under any block are one contiguous run.
	slices.SortFunc(keys, func(x, y key) int {
		if c := cmp.Compare(x.addr, y.addr); c != 0 {
			return c
		}
		if c := cmp.Compare(x.bits, y.bits); c != 0 {
			return c
		}
		return cmp.Compare(x.idx, y.idx)
	})
	// Deduplicate, keeping the last of equal prefixes.
	out := keys[:0]
	for i, k := range keys {
		if i+1 < len(keys) && keys[i+1].addr == k.addr && keys[i+1].bits == k.bits {
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
		r := routes[k.idx]
		r.Prefix = r.Prefix.Masked()
		t.routes[i] = r
	}

	b := &builder{keys: keys}
	b.top(t.direct, uint(topBits))
	t.nodes = shrink(b.nodes)
	t.leaves = shrink(b.leaves)
	return t
}

// top fills the direct level, then builds a node under each top slot that
// holds prefixes longer than the level.
func (b *builder) top(direct []uint32, s uint) {
	sh := 32 - s
	for i, k := range b.keys {
		if uint(k.bits) <= s {
			j := k.addr >> sh
			fill(direct[j:j+1<<(s-uint(k.bits))], uint32(i+1))
		}
	}
	for i := 0; i < len(b.keys); {
		k := b.keys[i]
		if uint(k.bits) <= s {
			i++
			continue
		}
		// Every key after i in this slot is longer than s: a shorter one
		// would contain the slot and so sort before i.
		j := k.addr >> sh
		e := i + 1
		for e < len(b.keys) && b.keys[e].addr>>sh == j {
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
	var slot [1 << stride]uint32
	fill(slot[:], def)
	sh := 32 - stride - d
	end := d + stride
	var vector uint64
	for i := lo; i < hi; i++ {
		k := b.keys[i]
		j := k.addr >> sh & (1<<stride - 1)
		if uint(k.bits) <= end {
			fill(slot[j:j+1<<(end-uint(k.bits))], uint32(i+1))
		} else {
			vector |= 1 << j
		}
	}

	base0 := len(b.leaves)
	var leafvec uint64
	for j, v := range slot {
		if vector>>j&1 != 0 {
			continue
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
		if uint(k.bits) <= end {
			i++
			continue
		}
		j := k.addr >> sh & (1<<stride - 1)
		e := i + 1
		for e < hi && b.keys[e].addr>>sh&(1<<stride-1) == j {
			e++
		}
		b.node(c, end, slot[j], i, e)
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
