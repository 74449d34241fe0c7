package nat

import (
	"sync/atomic"
	"testing"
	"time"

	"vswitch/header"
)

// clock is an injected table clock tests move by hand.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() int64              { return c.ns.Load() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTestTable(t testing.TB, cfg Config) (*Table, *clock) {
	t.Helper()
	clk := newClock()
	cfg.Now = clk.Now
	tb := New(cfg)
	t.Cleanup(tb.Close)
	return tb, clk
}

func ip(a, b, c, d byte) [4]byte { return [4]byte{a, b, c, d} }

func tcp(src [4]byte, sport uint16, dst [4]byte, dport uint16) Tuple {
	return Tuple{Src: src, Dst: dst, SPort: sport, DPort: dport, Proto: header.ProtoTCP}
}
func udp(src [4]byte, sport uint16, dst [4]byte, dport uint16) Tuple {
	return Tuple{Src: src, Dst: dst, SPort: sport, DPort: dport, Proto: header.ProtoUDP}
}
func icmp(src, dst [4]byte, id uint16) Tuple {
	return Tuple{Src: src, Dst: dst, SPort: id, DPort: id, Proto: header.ProtoICMP}
}

const (
	fSYN    = header.TCPFlagSYN
	fACK    = header.TCPFlagACK
	fFIN    = header.TCPFlagFIN
	fRST    = header.TCPFlagRST
	fSYNACK = fSYN | fACK
	fFINACK = fFIN | fACK
	fPSHACK = header.TCPFlagPSH | fACK
)

var (
	client = ip(172, 17, 0, 2)
	server = ip(93, 184, 216, 34)
	uplink = ip(192, 168, 1, 10)
	masq   = Rewrite{SNAT: true, SrcAddr: uplink}
)

func mustCreate(t testing.TB, tb *Table, k Tuple, rw Rewrite, flags uint8, now int64) *Conn {
	t.Helper()
	c, err := tb.Create(k, rw, flags, now)
	if err != nil {
		t.Fatalf("Create(%v): %v", k, err)
	}
	return c
}

func mustLookup(t testing.TB, tb *Table, k Tuple) (*Conn, Dir) {
	t.Helper()
	c, d, ok := tb.Lookup(k)
	if !ok {
		t.Fatalf("Lookup(%v) missed", k)
	}
	return c, d
}
