package nat

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"vswitch/header"
)

// refTable is the slow reference: a slice of UDP conns searched linearly,
// with the rules of Create written out plainly.
type refTable struct {
	conns      []*refConn
	pmin, pmax uint16
}

type refConn struct {
	orig, reply Tuple
	assured     bool
	deadline    int64
}

func (r *refTable) holder(k Tuple, now int64) (*refConn, Dir) {
	for _, c := range r.conns {
		if c.deadline <= now {
			continue
		}
		if c.orig == k {
			return c, Original
		}
		if c.reply == k {
			return c, Reply
		}
	}
	return nil, Original
}

func (r *refTable) track(c *refConn, d Dir, now int64) {
	to := int64(30 * time.Second)
	if d == Reply && !c.assured {
		c.assured = true
		c.deadline = now + int64(120*time.Second)
		return
	}
	if c.assured {
		to = int64(120 * time.Second)
	}
	if nd := now + to; nd-c.deadline > int64(time.Second) {
		c.deadline = nd
	}
}

func (r *refTable) free(k, orig Tuple, now int64) bool {
	c, _ := r.holder(k, now)
	return k != orig && c == nil
}

// create returns the conn (existing or new), or an error; for a new conn
// whose port had to be searched, choose picks among the free candidates
// (the fast table's choice is random).
func (r *refTable) create(orig Tuple, rw Rewrite, now int64, choose func([]Tuple) (Tuple, bool)) (*refConn, error) {
	if c, d := r.holder(orig, now); c != nil {
		r.track(c, d, now)
		return c, nil
	}
	tr := orig
	if rw.DNAT {
		tr.Dst = rw.DstAddr
		if rw.DstPort != 0 {
			tr.DPort = rw.DstPort
		}
	}
	if rw.SNAT {
		tr.Src = rw.SrcAddr
	}
	reply := tr.Reverse()
	if !r.free(reply, orig, now) {
		if !rw.SNAT {
			return nil, ErrClash
		}
		var cands []Tuple
		for p := int(r.pmin); p <= int(r.pmax); p++ {
			c := tr
			c.SPort = uint16(p)
			if r.free(c.Reverse(), orig, now) {
				cands = append(cands, c.Reverse())
			}
		}
		if len(cands) == 0 {
			return nil, ErrPortsExhausted
		}
		var ok bool
		if reply, ok = choose(cands); !ok {
			return nil, fmt.Errorf("fast table chose a reply tuple that is not free")
		}
	}
	c := &refConn{orig: orig, reply: reply, deadline: now + int64(30*time.Second)}
	r.conns = append(r.conns, c)
	return c, nil
}

func (r *refTable) delete(orig Tuple, now int64) {
	for i, c := range r.conns {
		if c.orig == orig && c.deadline > now {
			r.conns = append(r.conns[:i], r.conns[i+1:]...)
			return
		}
	}
}

// flowSpace is a small space of UDP tuples, so ports, clashes and replies
// collide often: containers with a few source ports (some inside the NAT
// range), two servers, outside hosts sending to the uplink, and the uplink
// itself as an un-NATed source.
type flowSpace struct {
	rng *rand.Rand
}

func (f flowSpace) pick() (Tuple, Rewrite) {
	r := f.rng
	servers := [][4]byte{server, ip(1, 1, 1, 1)}
	sports := []uint16{1000, 1001, 60000, 60001, 60002}
	switch r.IntN(10) {
	case 0: // a reply-looking packet from a server to the uplink
		return udp(servers[r.IntN(2)], 53, uplink, uint16(60000+r.IntN(8))), Rewrite{}
	case 1: // the host itself, un-NATed
		return udp(uplink, sports[r.IntN(len(sports))], servers[r.IntN(2)], 53), Rewrite{}
	case 2: // a published port: outside client to a container
		return udp(ip(203, 0, 113, byte(r.IntN(3))), 5000, uplink, 8053),
			Rewrite{DNAT: true, DstAddr: ip(172, 17, 0, 9), DstPort: 53}
	}
	src := ip(172, 17, 0, byte(2+r.IntN(6)))
	return udp(src, sports[r.IntN(len(sports))], servers[r.IntN(2)], 53), masq
}

func TestCreateMatchesReference(t *testing.T) {
	outcomes := map[string]int{}
	defer func() {
		// The space must reach every branch of Create, or the comparison
		// proves little.
		for _, o := range []string{"new", "remapped", "existing", ErrClash.Error(), ErrPortsExhausted.Error()} {
			if outcomes[o] == 0 {
				t.Errorf("no Create ended %q: %v", o, outcomes)
			}
		}
	}()
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			tb, clk := newTestTable(t, Config{PortMin: 60000, PortMax: 60007})
			ref := &refTable{pmin: 60000, pmax: 60007}
			space := flowSpace{rng}
			for op := range 3000 {
				now := clk.Now()
				switch x := rng.IntN(100); {
				case x < 70:
					k, rw := space.pick()
					c, err := tb.Create(k, rw, 0, now)
					var got Tuple
					if c != nil {
						got = c.Reply
					}
					rc, rerr := ref.create(k, rw, now, func(cands []Tuple) (Tuple, bool) {
						for _, x := range cands {
							if x == got {
								return got, true
							}
						}
						return Tuple{}, false
					})
					if (err == nil) != (rerr == nil) || (err != nil && err != rerr) {
						t.Fatalf("op %d Create(%v): fast %v, reference %v", op, k, err, rerr)
					}
					switch {
					case err != nil:
						outcomes[err.Error()]++
					case c.Orig != k:
						outcomes["existing"]++
					case c.Reply.DPort != k.SPort && c.Reply.Src != ip(172, 17, 0, 9):
						outcomes["remapped"]++
					default:
						outcomes["new"]++
					}
					if err == nil && (c.Orig != rc.orig || c.Reply != rc.reply) {
						t.Fatalf("op %d Create(%v): fast %v/%v, reference %v/%v", op, k, c.Orig, c.Reply, rc.orig, rc.reply)
					}
				case x < 80:
					k, _ := space.pick()
					c, d, ok := tb.Lookup(k)
					rc, rd := ref.holder(k, now)
					if ok != (rc != nil) {
						t.Fatalf("op %d Lookup(%v): fast %v, reference %v", op, k, ok, rc != nil)
					}
					if ok {
						if c.Orig != rc.orig || d != rd {
							t.Fatalf("op %d Lookup(%v): fast %v %v, reference %v %v", op, k, c.Orig, d, rc.orig, rd)
						}
						tb.Track(c, d, 0, now)
						ref.track(rc, rd, now)
					}
				case x < 85:
					k, _ := space.pick()
					if c, _, ok := tb.Lookup(k); ok {
						orig := c.Orig
						tb.Delete(c)
						ref.delete(orig, now)
					}
				case x < 95:
					clk.Advance(time.Duration(rng.IntN(4000)) * time.Millisecond)
				default:
					tb.Sweep(clk.Now())
				}
				if op%50 == 0 {
					compareWithReference(t, tb, ref, clk.Now())
				}
			}
			compareWithReference(t, tb, ref, clk.Now())
		})
	}
}

// compareWithReference checks the live sets agree, both keys of every live
// conn find it, deadlines agree, and no external tuple is shared.
func compareWithReference(t *testing.T, tb *Table, ref *refTable, now int64) {
	t.Helper()
	es := tb.Entries(now)
	live := 0
	for _, rc := range ref.conns {
		if rc.deadline <= now {
			continue
		}
		live++
		for _, k := range []Tuple{rc.orig, rc.reply} {
			c, _, ok := tb.Lookup(k)
			if !ok || c.Orig != rc.orig || c.Reply != rc.reply {
				t.Fatalf("reference conn %v/%v: Lookup(%v) found %v", rc.orig, rc.reply, k, ok)
			}
			if c.Deadline() != rc.deadline || c.Assured() != rc.assured {
				t.Fatalf("conn %v: deadline/assured %d/%v, reference %d/%v", rc.orig, c.Deadline(), c.Assured(), rc.deadline, rc.assured)
			}
		}
	}
	if len(es) != live {
		t.Fatalf("fast table has %d live conns, reference %d", len(es), live)
	}
	checkUniqueKeys(t, es)
}

func checkUniqueKeys(t *testing.T, es []Entry) {
	t.Helper()
	keys := make(map[Tuple]Tuple, 2*len(es))
	for _, e := range es {
		for _, k := range []Tuple{e.Orig, e.Reply} {
			if prev, dup := keys[k]; dup {
				t.Fatalf("tuple %v used by live conns %v and %v", k, prev, e.Orig)
			}
			keys[k] = e.Orig
		}
	}
}

// TestConcurrentCreateNoCollision: two goroutines create flows that compete
// for a tiny port range while two others look up and track; no two live
// conns may ever share an external tuple.
func TestConcurrentCreateNoCollision(t *testing.T) {
	tb, clk := newTestTable(t, Config{PortMin: 61000, PortMax: 61063})
	servers := [][4]byte{server, ip(1, 1, 1, 1)}
	type made struct {
		orig, reply Tuple
	}
	results := make([][]made, 2)
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 4000 {
				k := udp(ip(10, byte(g), byte(rng.IntN(4)), byte(rng.IntN(50))), uint16(61000+rng.IntN(4)),
					servers[rng.IntN(2)], 53)
				c, err := tb.Create(k, masq, 0, clk.Now())
				if err == nil {
					results[g] = append(results[g], made{c.Orig, c.Reply})
				} else if err != ErrPortsExhausted {
					t.Errorf("Create: %v", err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for g := range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 8))
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := udp(servers[rng.IntN(2)], 53, uplink, uint16(61000+rng.IntN(64)))
				if c, d, ok := tb.Lookup(k); ok {
					tb.Track(c, d, 0, clk.Now())
					_ = c.State()
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	// The clock never moved and nothing was deleted: every conn ever
	// created is still live, so every reply handed out must be distinct.
	owner := map[Tuple]Tuple{}
	n := 0
	for _, rs := range results {
		for _, m := range rs {
			if prev, ok := owner[m.reply]; ok && prev != m.orig {
				t.Fatalf("reply %v handed to %v and %v", m.reply, prev, m.orig)
			}
			owner[m.reply] = m.orig
			n++
		}
	}
	if len(owner) != tb.Len() || len(owner) < 2*64 {
		t.Fatalf("%d distinct replies, Len %d (from %d successful creates)", len(owner), tb.Len(), n)
	}
	checkUniqueKeys(t, tb.Entries(clk.Now()))
}

// TestConcurrentChurn runs creates, expiry, sweeps, deletes and lookups at
// once (for the race detector) and checks the invariant at the end.
func TestConcurrentChurn(t *testing.T) {
	tb, clk := newTestTable(t, Config{PortMin: 62000, PortMax: 62031, Max: 500})
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := range 5000 {
				proto := []uint8{header.ProtoUDP, header.ProtoTCP, header.ProtoICMP}[rng.IntN(3)]
				k := Tuple{Src: ip(10, 1, byte(g), byte(rng.IntN(100))), Dst: server, SPort: uint16(62000 + rng.IntN(3)),
					DPort: 80, Proto: proto}
				if proto == header.ProtoICMP {
					k.DPort = k.SPort
				}
				flags := uint8(0)
				if proto == header.ProtoTCP {
					flags = fSYN
				}
				c, err := tb.Create(k, masq, flags, clk.Now())
				if err == nil {
					if rc, d, ok := tb.Lookup(c.Reply); ok {
						tb.Track(rc, d, fSYNACK, clk.Now())
					}
					if rng.IntN(10) == 0 {
						tb.Delete(c)
					}
				}
				if i%100 == 0 {
					clk.Advance(time.Duration(rng.IntN(3000)) * time.Millisecond)
					tb.Sweep(clk.Now())
				}
			}
		}()
	}
	wg.Wait()
	checkUniqueKeys(t, tb.Entries(clk.Now()))
	if tb.Len() > tb.Max() {
		t.Fatalf("Len %d over Max %d", tb.Len(), tb.Max())
	}
}
