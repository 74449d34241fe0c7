package nat

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"vswitch/header"
)

// The index maps a tuple to slot<<1|Dir. Each shard is an open-addressing
// table with linear probing whose entries are two atomic 64-bit words
// holding the whole key and the value, so a reader never takes a lock and
// never writes shared memory: it reads the shard's sequence number, probes,
// and reads the sequence again (a seqlock). All writers already hold the
// table's mutex, so one writer at a time bumps a shard's sequence to odd,
// changes entries, and bumps it back to even; a reader that saw it odd or
// changed probes again. A reader that keeps finding the shard busy (the
// writer was descheduled mid-change) falls back to the shard's read lock,
// which the writer holds while it writes, and sleeps instead of spinning.
//
// It replaced a sync.RWMutex-guarded Go map per shard: the read lock is an
// atomic add on the shard's cache line, which bounces between the workers'
// cores when they hit the same shards; the map also hashed the key a second
// time and walked its directory, table and group before reaching a slot.

// pkey is a tuple packed into the two words of an entry:
// a = Src<<32 | Dst, b = SPort<<48 | DPort<<32 | proto code<<30. The low 30
// bits of b hold the value in an entry; proto code 0 marks an empty entry.
type pkey struct{ a, b uint64 }

const (
	valBits = 30
	valMask = 1<<valBits - 1
)

func protoCode(p uint8) uint64 {
	switch p {
	case header.ProtoTCP:
		return 1
	case header.ProtoUDP:
		return 2
	case header.ProtoICMP:
		return 3
	}
	return 0
}

// pack returns the packed key, or false for a protocol the table never
// holds.
func pack(t Tuple) (pkey, bool) {
	c := protoCode(t.Proto)
	return pkey{
		a: uint64(binary.BigEndian.Uint32(t.Src[:]))<<32 | uint64(binary.BigEndian.Uint32(t.Dst[:])),
		b: uint64(t.SPort)<<48 | uint64(t.DPort)<<32 | c<<valBits,
	}, c != 0
}

// hash spreads keys over shards (top 8 bits) and over a shard's entries
// (low bits). The seed keeps a sender from choosing tuples that pile into
// one probe sequence.
func (k pkey) hash(seed uint64) uint64 {
	h := (k.a ^ seed) * 0x9e3779b97f4a7c15
	h ^= h >> 31
	h = (h ^ k.b) * 0xbf58476d1ce4e5b9
	h ^= h >> 29
	h *= 0x94d049bb133111eb
	h ^= h >> 32
	return h
}

// slots is one generation of a shard's entries; a resize publishes a new
// one, and readers still probing the old one see the sequence change.
type slots struct {
	w    []atomic.Uint64 // entry i: w[2i] = a, w[2i+1] = b | value
	mask uint64
}

func newSlots(n int) *slots {
	return &slots{w: make([]atomic.Uint64, 2*n), mask: uint64(n - 1)}
}

func (s *slots) size() int { return len(s.w) / 2 }

// get probes for k. Under a stable sequence it returns the truth; when the
// sequence moved, the caller discards the answer. The probe count is
// bounded so a torn view can never loop forever.
func (s *slots) get(k pkey, h uint64) (uint32, bool) {
	i := h & s.mask
	for range s.size() {
		b := s.w[2*i+1].Load()
		if b == 0 {
			return 0, false
		}
		if b&^valMask == k.b && s.w[2*i].Load() == k.a {
			return uint32(b & valMask), true
		}
		i = (i + 1) & s.mask
	}
	return 0, false
}

const indexMin = 16

// index is one shard. Its fields other than seq and tab are the writers'.
type index struct {
	mu  sync.RWMutex // held by the writer while it changes entries; readers' fallback
	seq atomic.Uint64
	tab atomic.Pointer[slots]
	n   int
}

func (x *index) init() {
	x.tab.Store(newSlots(indexMin))
	x.n = 0
}

// get is the readers' lookup.
func (x *index) get(k pkey, h uint64) (uint32, bool) {
	for range 64 {
		s0 := x.seq.Load()
		if s0&1 == 0 {
			v, ok := x.tab.Load().get(k, h)
			if x.seq.Load() == s0 {
				return v, ok
			}
		}
	}
	x.mu.RLock()
	v, ok := x.tab.Load().get(k, h)
	x.mu.RUnlock()
	return v, ok
}

// getLocked is the writers' lookup: no other writer can run.
func (x *index) getLocked(k pkey, h uint64) (uint32, bool) {
	return x.tab.Load().get(k, h)
}

func (x *index) begin() { x.mu.Lock(); x.seq.Add(1) }
func (x *index) end()   { x.seq.Add(1); x.mu.Unlock() }

// putLocked sets k to v (v < 1<<30).
func (x *index) putLocked(k pkey, h uint64, v uint32, seed uint64) {
	if (x.n+1)*4 > x.tab.Load().size()*3 {
		x.resizeLocked(x.tab.Load().size()*2, seed)
	}
	s := x.tab.Load()
	x.begin()
	defer x.end()
	for i := h & s.mask; ; i = (i + 1) & s.mask {
		b := s.w[2*i+1].Load()
		if b == 0 {
			s.w[2*i].Store(k.a)
			s.w[2*i+1].Store(k.b | uint64(v))
			x.n++
			return
		}
		if b&^valMask == k.b && s.w[2*i].Load() == k.a {
			s.w[2*i+1].Store(k.b | uint64(v))
			return
		}
	}
}

// delLocked removes k if it maps to v, shifting the rest of its cluster
// back so every remaining key stays reachable from its home entry (no
// tombstones, so no periodic rebuild).
func (x *index) delLocked(k pkey, h uint64, v uint32, seed uint64) {
	s := x.tab.Load()
	i := h & s.mask
	for {
		b := s.w[2*i+1].Load()
		if b == 0 {
			return
		}
		if b&^valMask == k.b && s.w[2*i].Load() == k.a {
			if uint32(b&valMask) != v {
				return
			}
			break
		}
		i = (i + 1) & s.mask
	}
	x.begin()
	for j := (i + 1) & s.mask; ; j = (j + 1) & s.mask {
		b := s.w[2*j+1].Load()
		if b == 0 {
			break
		}
		a := s.w[2*j].Load()
		// Move entry j into the hole at i unless its home lies cyclically
		// in (i, j]: then it already sits as close to home as it can.
		home := pkey{a, b &^ valMask}.hash(seed) & s.mask
		if (j-home)&s.mask >= (j-i)&s.mask {
			s.w[2*i].Store(a)
			s.w[2*i+1].Store(b)
			i = j
		}
	}
	s.w[2*i+1].Store(0)
	s.w[2*i].Store(0)
	x.end()
	x.n--
	if s.size() > indexMin && x.n*8 < s.size() {
		x.resizeLocked(s.size()/2, seed) // give back a flood's memory
	}
}

// resizeLocked builds a new generation aside and publishes it.
func (x *index) resizeLocked(size int, seed uint64) {
	old := x.tab.Load()
	ns := newSlots(size)
	for i := range old.size() {
		b := old.w[2*i+1].Load()
		if b == 0 {
			continue
		}
		a := old.w[2*i].Load()
		for j := (pkey{a, b &^ valMask}).hash(seed) & ns.mask; ; j = (j + 1) & ns.mask {
			if ns.w[2*j+1].Load() == 0 {
				ns.w[2*j].Store(a)
				ns.w[2*j+1].Store(b)
				break
			}
		}
	}
	x.begin()
	x.tab.Store(ns)
	x.end()
}

// resetLocked empties the shard (Flush).
func (x *index) resetLocked() {
	x.begin()
	x.tab.Store(newSlots(indexMin))
	x.end()
	x.n = 0
}

// sample calls f with the values of up to n entries, starting at a random
// position (for early drop).
func (x *index) sampleLocked(start, n int, f func(v uint32)) int {
	s := x.tab.Load()
	seen := 0
	for j := range s.size() {
		if seen == n {
			break
		}
		i := (start + j) & int(s.mask)
		b := s.w[2*i+1].Load()
		if b == 0 {
			continue
		}
		seen++
		f(uint32(b & valMask))
	}
	return seen
}
