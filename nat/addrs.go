package nat

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// addrIDs interns IPv6 addresses as 30-bit ids, so an IPv6 flow's tuple
// packs into the same 128-bit index entry as an IPv4 one and the IPv6 table
// is the IPv4 table's code (see table6.go). The id of an address lives as
// long as a conn (or a Create in progress) uses it.
//
// The forward map is an index (index.go) keyed by a seeded 97-bit hash of
// the address; a reader checks the address stored under the id it found,
// so the map is exact: two addresses with the same hash cannot share an
// id (the second one is refused, as a clash, with odds of about 2^-97).
// The reverse map is a slab of addresses by id, pointer-free like the conn
// slab. A released id is reused only after SlotQuarantine, so a worker that
// read a conn's ids a moment before it was swept still translates them to
// the right addresses.
type addrIDs struct {
	mu   sync.Mutex // writers; taken after the conn table's mutex, never before
	x    index
	seed uint64
	dir  atomic.Pointer[[]*addrChunk]

	next uint32 // next fresh id; 0 is never used
	free freeList
}

type addrChunk struct {
	a    [chunkSize][16]byte
	refs [chunkSize]int32 // writers only
}

// maxIDs keeps an id inside the index's 30-bit values.
const maxIDs = 1 << valBits

func newAddrIDs() *addrIDs {
	a := &addrIDs{seed: rand.Uint64(), next: 1}
	a.x.init()
	d := make([]*addrChunk, 0, 4)
	a.dir.Store(&d)
	return a
}

// key is the index key of an address: a seeded hash, with bit 30 of b set
// so a key is never the empty entry.
func (a *addrIDs) key(ad *[16]byte) pkey {
	hi, lo := binary.BigEndian.Uint64(ad[:8]), binary.BigEndian.Uint64(ad[8:])
	x := (hi ^ a.seed) * 0x9e3779b97f4a7c15
	x ^= x >> 29
	x = (x ^ lo) * 0xbf58476d1ce4e5b9
	x ^= x >> 32
	y := (lo ^ a.seed ^ 0x5851f42d4c957f2d) * 0x94d049bb133111eb
	y ^= y >> 31
	y = (y ^ hi) * 0xd6e8feb86659fd93
	y ^= y >> 29
	return pkey{a: x, b: y&^valMask | 1<<valBits}
}

func (a *addrIDs) slot(id uint32) (*addrChunk, uint32) {
	d := *a.dir.Load()
	return d[id>>chunkShift], id & (chunkSize - 1)
}

// addr is the address of a live (or quarantined) id.
func (a *addrIDs) addr(id uint32) [16]byte {
	ch, i := a.slot(id)
	return ch.a[i]
}

// lookup is the readers' address-to-id map: no lock, no write.
func (a *addrIDs) lookup(ad *[16]byte) (uint32, bool) {
	k := a.key(ad)
	h := k.hash(a.seed)
	id, ok := a.x.get(k, h)
	if !ok {
		return 0, false
	}
	ch, i := a.slot(id)
	return id, ch.a[i] == *ad
}

// acquireLocked returns the id of ad with one more reference, making one
// if needed; false when ids are exhausted or the address's hash clashes.
func (a *addrIDs) acquireLocked(ad [16]byte, now int64) (uint32, bool) {
	k := a.key(&ad)
	h := k.hash(a.seed)
	if id, ok := a.x.getLocked(k, h); ok {
		ch, i := a.slot(id)
		if ch.a[i] != ad {
			return 0, false
		}
		ch.refs[i]++
		return id, true
	}
	id, ok := a.allocLocked(now)
	if !ok {
		return 0, false
	}
	ch, i := a.slot(id)
	ch.a[i], ch.refs[i] = ad, 1
	a.x.putLocked(k, h, id, a.seed) // the address is written before the key publishes it
	return id, true
}

func (a *addrIDs) allocLocked(now int64) (uint32, bool) {
	if id, ok := a.free.pop(now); ok {
		return id, true
	}
	id := a.next
	if id >= maxIDs {
		return 0, false
	}
	if id>>chunkShift >= uint32(len(*a.dir.Load())) {
		old := *a.dir.Load()
		d := make([]*addrChunk, len(old), len(old)+1+len(old)/2)
		copy(d, old)
		d = append(d, new(addrChunk))
		a.dir.Store(&d)
	}
	a.next++
	return id, true
}

// refLocked adds one reference to a live id.
func (a *addrIDs) refLocked(id uint32) {
	ch, i := a.slot(id)
	ch.refs[i]++
}

// releaseLocked drops one reference; the last one removes the address from
// the forward map and quarantines the id.
func (a *addrIDs) releaseLocked(id uint32, now int64) {
	ch, i := a.slot(id)
	if ch.refs[i]--; ch.refs[i] > 0 {
		return
	}
	k := a.key(&ch.a[i])
	a.x.delLocked(k, k.hash(a.seed), id, a.seed)
	a.free.push(id, now)
}

// live is the number of ids in use (tests).
func (a *addrIDs) live() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.x.n
}
