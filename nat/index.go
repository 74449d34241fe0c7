package nat

// index is one shard's key table: open addressing with linear probing over
// a flat array of (Tuple, value) entries. It replaced a Go map per shard:
// the shard hash already computed for the tuple picks the home slot, so a
// lookup hashes once, and a probe is one array read with the key inline,
// instead of the map's second hash and its directory, table and group
// indirections (measured in BenchmarkLookup*). It is read under the shard's
// read lock and written under its write lock, so deletion can shift the
// following entries back (no tombstones, no periodic rebuild).
type index struct {
	e    []entry
	mask uint64
	n    int
}

// entry is 20 bytes. An empty entry has Proto 0, which no conn has.
type entry struct {
	key Tuple
	val uint32 // slot<<1 | Dir
}

const indexMin = 16

func newIndex() index {
	return index{e: make([]entry, indexMin), mask: indexMin - 1}
}

// home is the first slot of a key's probe sequence. The shard is chosen by
// the top bits of the same hash, so the two do not correlate.
func (x *index) home(h uint64) uint64 { return h & x.mask }

func (x *index) get(k Tuple, h uint64) (uint32, bool) {
	for i := x.home(h); ; i = (i + 1) & x.mask {
		e := &x.e[i]
		if e.key == k {
			return e.val, true
		}
		if e.key.Proto == 0 {
			return 0, false
		}
	}
}

func (x *index) put(k Tuple, h uint64, v uint32, seed uint64) {
	if (x.n+1)*4 > len(x.e)*3 {
		x.resize(len(x.e)*2, seed)
	}
	for i := x.home(h); ; i = (i + 1) & x.mask {
		e := &x.e[i]
		if e.key.Proto == 0 {
			*e = entry{k, v}
			x.n++
			return
		}
		if e.key == k {
			e.val = v
			return
		}
	}
}

// del removes k if it maps to v, shifting later entries of the cluster
// back so every remaining key stays reachable from its home slot.
func (x *index) del(k Tuple, h uint64, v uint32, seed uint64) {
	i := x.home(h)
	for {
		e := &x.e[i]
		if e.key.Proto == 0 {
			return
		}
		if e.key == k {
			if e.val != v {
				return
			}
			break
		}
		i = (i + 1) & x.mask
	}
	for j := (i + 1) & x.mask; ; j = (j + 1) & x.mask {
		e := &x.e[j]
		if e.key.Proto == 0 {
			break
		}
		// Move e back to the hole at i unless its home lies cyclically in
		// (i, j]: then it is already as close to home as it can be.
		home := x.home(e.key.hash(seed))
		if (j-home)&x.mask >= (j-i)&x.mask {
			x.e[i] = *e
			i = j
		}
	}
	x.e[i] = entry{}
	x.n--
	if len(x.e) > indexMin && x.n*8 < len(x.e) {
		x.resize(len(x.e)/2, seed) // give back a flood's memory
	}
}

func (x *index) resize(size int, seed uint64) {
	old := x.e
	x.e = make([]entry, size)
	x.mask = uint64(size - 1)
	x.n = 0
	for _, e := range old {
		if e.key.Proto != 0 {
			x.put(e.key, e.key.hash(seed), e.val, seed)
		}
	}
}
