package nat

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"vswitch/header"
)

// The IPv6 table against the slow reference of ref_test.go: the IPv4 flow
// space mapped one-to-one onto IPv6 addresses, so the reference's plain
// rules decide every Create, Lookup, Track, Delete and expiry of the IPv6
// table too, and the interned ids must never change an outcome.

func to6(a [4]byte) [16]byte {
	return [16]byte{0x20, 0x01, 0x0d, 0xb8, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
}

func from6(a [16]byte) [4]byte { return [4]byte(a[12:]) }

func tuple6Of(t Tuple) Tuple6 {
	p := t.Proto
	if p == header.ProtoICMP {
		p = header.ProtoICMPv6
	}
	return Tuple6{Src: to6(t.Src), Dst: to6(t.Dst), SPort: t.SPort, DPort: t.DPort, Proto: p}
}

func tuple4Of(t Tuple6) Tuple {
	p := t.Proto
	if p == header.ProtoICMPv6 {
		p = header.ProtoICMP
	}
	return Tuple{Src: from6(t.Src), Dst: from6(t.Dst), SPort: t.SPort, DPort: t.DPort, Proto: p}
}

func rewrite6Of(rw Rewrite) Rewrite6 {
	return Rewrite6{SNAT: rw.SNAT, SrcAddr: to6(rw.SrcAddr), DNAT: rw.DNAT, DstAddr: to6(rw.DstAddr), DstPort: rw.DstPort}
}

func TestCreate6MatchesReference(t *testing.T) {
	outcomes := map[string]int{}
	defer func() {
		for _, o := range []string{"new", "remapped", "existing", ErrClash.Error(), ErrPortsExhausted.Error()} {
			if outcomes[o] == 0 {
				t.Errorf("no Create ended %q: %v", o, outcomes)
			}
		}
	}()
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 77))
			tb, clk := newTestTable6(t, Config{PortMin: 60000, PortMax: 60007})
			ref := &refTable{pmin: 60000, pmax: 60007}
			space := flowSpace{rng}
			for op := range 3000 {
				now := clk.Now()
				switch x := rng.IntN(100); {
				case x < 70:
					k4, rw4 := space.pick()
					k := tuple6Of(k4)
					c, err := tb.Create(k, rewrite6Of(rw4), 0, now)
					var got Tuple
					if c.Valid() {
						got = tuple4Of(c.Reply())
					}
					rc, rerr := ref.create(k4, rw4, now, func(cands []Tuple) (Tuple, bool) {
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
					case c.Orig() != k:
						outcomes["existing"]++
					case c.Reply().DPort != k.SPort && from6(c.Reply().Src) != ip(172, 17, 0, 9):
						outcomes["remapped"]++
					default:
						outcomes["new"]++
					}
					if err == nil && (c.Orig() != tuple6Of(rc.orig) || c.Reply() != tuple6Of(rc.reply)) {
						t.Fatalf("op %d Create(%v): fast %v/%v, reference %v/%v", op, k, c.Orig(), c.Reply(), rc.orig, rc.reply)
					}
				case x < 80:
					k4, _ := space.pick()
					c, d, ok := tb.Lookup(tuple6Of(k4))
					rc, rd := ref.holder(k4, now)
					if ok != (rc != nil) {
						t.Fatalf("op %d Lookup(%v): fast %v, reference %v", op, k4, ok, rc != nil)
					}
					if ok {
						if c.Orig() != tuple6Of(rc.orig) || d != rd {
							t.Fatalf("op %d Lookup(%v): fast %v %v, reference %v %v", op, k4, c.Orig(), d, rc.orig, rd)
						}
						tb.Track(c, d, 0, now)
						ref.track(rc, rd, now)
					}
				case x < 85:
					k4, _ := space.pick()
					if c, _, ok := tb.Lookup(tuple6Of(k4)); ok {
						orig := tuple4Of(c.Orig())
						tb.Delete(c)
						ref.delete(orig, now)
					}
				case x < 95:
					clk.Advance(time.Duration(rng.IntN(4000)) * time.Millisecond)
				default:
					tb.Sweep(clk.Now())
				}
				if op%50 == 0 {
					compareWithReference6(t, tb, ref, clk.Now())
				}
			}
			compareWithReference6(t, tb, ref, clk.Now())
			// After a whole sweep pass only live conns hold ids: exactly
			// the addresses the reference's live conns name.
			for range SweepFraction {
				tb.Sweep(clk.Now())
			}
			addrs := map[[4]byte]bool{}
			for _, rc := range ref.conns {
				if rc.deadline > clk.Now() {
					for _, a := range [][4]byte{rc.orig.Src, rc.orig.Dst, rc.reply.Src, rc.reply.Dst} {
						addrs[a] = true
					}
				}
			}
			if n := tb.ids.live(); n != len(addrs) {
				t.Fatalf("%d ids live, the live conns name %d addresses", n, len(addrs))
			}
		})
	}
}

func compareWithReference6(t *testing.T, tb *Table6, ref *refTable, now int64) {
	t.Helper()
	es := tb.Entries(now)
	live := 0
	for _, rc := range ref.conns {
		if rc.deadline <= now {
			continue
		}
		live++
		for _, k := range []Tuple{rc.orig, rc.reply} {
			c, _, ok := tb.Lookup(tuple6Of(k))
			if !ok || c.Orig() != tuple6Of(rc.orig) || c.Reply() != tuple6Of(rc.reply) {
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
	keys := map[Tuple6]Tuple6{}
	for _, e := range es {
		for _, k := range []Tuple6{e.Orig, e.Reply} {
			if prev, dup := keys[k]; dup {
				t.Fatalf("tuple %v used by live conns %v and %v", k, prev, e.Orig)
			}
			keys[k] = e.Orig
		}
	}
}

// TestConcurrentChurn6: creates, expiry, sweeps, deletes and lookups at once
// (for the race detector), with addresses coming and going; at the end no
// two live conns share a tuple, and every live conn's addresses translate
// back to what it was created with.
func TestConcurrentChurn6(t *testing.T) {
	tb, clk := newTestTable6(t, Config{PortMin: 62000, PortMax: 62031, Max: 500})
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := range 5000 {
				proto := []uint8{header.ProtoUDP, header.ProtoTCP, header.ProtoICMPv6}[rng.IntN(3)]
				src := to6(ip(10, 1, byte(g), byte(rng.IntN(100))))
				k := Tuple6{Src: src, Dst: server6, SPort: uint16(62000 + rng.IntN(3)), DPort: 80, Proto: proto}
				if proto == header.ProtoICMPv6 {
					k.DPort = k.SPort
				}
				flags := uint8(0)
				if proto == header.ProtoTCP {
					flags = fSYN
				}
				c, err := tb.Create(k, masq6, flags, clk.Now())
				if err == nil {
					if c.Orig().Src != src && c.Reply().Dst != src {
						t.Errorf("conn for %v names %v / %v", k, c.Orig(), c.Reply())
						return
					}
					if rc, d, ok := tb.Lookup(c.Reply()); ok {
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
	es := tb.Entries(clk.Now())
	keys := map[Tuple6]bool{}
	for _, e := range es {
		for _, k := range []Tuple6{e.Orig, e.Reply} {
			if keys[k] {
				t.Fatalf("tuple %v used twice", k)
			}
			keys[k] = true
		}
		if e.Reply.Dst != uplink6 || e.Orig.Dst != server6 {
			t.Fatalf("entry %v / %v", e.Orig, e.Reply)
		}
	}
	if tb.Len() > tb.Max() {
		t.Fatalf("Len %d over Max %d", tb.Len(), tb.Max())
	}
}
