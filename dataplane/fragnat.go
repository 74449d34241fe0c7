package dataplane

import (
	"sync"

	"vswitch/header"
	"vswitch/nat"
)

// NAT of fragments. Only a datagram's first fragment carries the ports the
// conntrack needs; Linux reassembles before NAT, vswitchd instead remembers,
// for each datagram whose first fragment it translated, the addresses that
// fragment got, and gives them to the datagram's other fragments (their
// payload needs no change: the L4 checksum, in the first fragment, was
// updated for the whole datagram). A fragment that comes before its first
// one meets no entry and is handled as an unknown packet, as on a host
// whose reassembly queue saw no first fragment.

// fragTimeout is how long a datagram's entry lives, Linux's ipfrag_time.
const fragTimeout = 30e9

// fragMax bounds the entries; a full table takes no new datagrams until
// entries expire, so a flood of fragments cannot grow it.
const fragMax = 4096

type fragKey struct {
	src, dst [4]byte
	id       uint16
	proto    uint8
}

type fragTo struct {
	src, dst [4]byte
	expires  int64
}

// fragTable is on the slow path (fragments only): a map under a mutex.
type fragTable struct {
	mu sync.Mutex
	m  map[fragKey]fragTo
}

func fragKeyOf(f *flow, ip header.IPv4) fragKey {
	return fragKey{f.t.Src, f.t.Dst, ip.ID(), f.t.Proto}
}

// remember records the translation of a first fragment.
func (t *fragTable) remember(k fragKey, to nat.Tuple, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[fragKey]fragTo{}
	}
	if len(t.m) >= fragMax {
		for key, e := range t.m {
			if e.expires <= now {
				delete(t.m, key)
			}
		}
		if len(t.m) >= fragMax {
			return
		}
	}
	t.m[k] = fragTo{to.Src, to.Dst, now + fragTimeout}
}

// lookup finds the addresses the other fragments of a datagram get.
func (t *fragTable) lookup(k fragKey, now int64) (src, dst [4]byte, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[k]
	if !ok || e.expires <= now {
		return src, dst, false
	}
	return e.src, e.dst, true
}
