package fdb

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// refTable is the slow reference: a plain map with the semantics written out
// the obvious way, per-port counts found by scanning. Table must agree with
// it on every result and on its whole state after every operation.
type refTable struct {
	m     map[uint64]*refEntry
	aging int64
	limit int
}

type refEntry struct {
	port   uint16
	static bool
	seen   int64
}

func newRef(cfg Config) *refTable {
	r := &refTable{m: map[uint64]*refEntry{}}
	r.setAging(cfg.Aging)
	r.setLimit(cfg.MACLimit)
	return r
}

func (r *refTable) setAging(d time.Duration) {
	if d == 0 {
		d = 300 * time.Second
	}
	r.aging = int64(d)
}

func (r *refTable) setLimit(n int) { r.limit = max(n, 0) }

// slack: a known MAC's last-seen time is rewritten only when it is older than
// min(aging/64, 1 s) (1 s when aging is off).
func (r *refTable) slack() int64 {
	if r.aging < 0 {
		return int64(time.Second)
	}
	return min(r.aging/64, int64(time.Second))
}

func refValid(mac uint64) bool {
	return mac != 0 && mac < 1<<48 && mac&(1<<40) == 0
}

func (r *refTable) count(port uint16) int {
	n := 0
	for _, e := range r.m {
		if e.port == port && !e.static {
			n++
		}
	}
	return n
}

func (r *refTable) learn(mac uint64, port uint16, now int64) LearnResult {
	if !refValid(mac) || port > MaxPort {
		return Invalid
	}
	e := r.m[mac]
	if e != nil && e.port == port {
		if now-e.seen > r.slack() {
			e.seen = now
		}
		return Known
	}
	if e != nil && e.static {
		return StaticConflict
	}
	if r.limit > 0 && r.count(port) >= r.limit {
		return LimitExceeded
	}
	if e != nil {
		e.port, e.seen = port, now
		return Moved
	}
	r.m[mac] = &refEntry{port: port, seen: now}
	return Learned
}

func (r *refTable) lookup(mac uint64) (uint16, bool) {
	if e := r.m[mac]; e != nil {
		return e.port, true
	}
	return 0, false
}

func (r *refTable) addStatic(mac uint64, port uint16) bool {
	if !refValid(mac) || port > MaxPort {
		return false
	}
	if e := r.m[mac]; e != nil {
		e.port, e.static = port, true
	} else {
		r.m[mac] = &refEntry{port: port, static: true}
	}
	return true
}

func (r *refTable) delete(mac uint64) bool {
	_, ok := r.m[mac]
	delete(r.m, mac)
	return ok
}

func (r *refTable) flushPort(port uint16) int {
	n := 0
	for mac, e := range r.m {
		if e.port == port {
			delete(r.m, mac)
			n++
		}
	}
	return n
}

func (r *refTable) age(now int64) int {
	if r.aging < 0 {
		return 0
	}
	n := 0
	for mac, e := range r.m {
		if !e.static && now-e.seen > r.aging {
			delete(r.m, mac)
			n++
		}
	}
	return n
}

func (r *refTable) entries(now int64) []Entry {
	out := []Entry{}
	for mac, e := range r.m {
		x := Entry{MAC: mac, Port: e.port, Static: e.static}
		if !e.static {
			x.Age = time.Duration(max(now-e.seen, 0))
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if a.MAC < b.MAC {
			return -1
		}
		return 1
	})
	return out
}

type opKind uint8

const (
	opLearn opKind = iota
	opLookup
	opAddStatic
	opDelete
	opFlushPort
	opAge
	opSetAging
	opSetLimit
	numOps
)

type op struct {
	kind opKind
	mac  uint64
	port uint16
	dt   int64 // time advanced before the operation
	n    int   // opSetAging: index into agings; opSetLimit: the limit
}

func (o op) String() string {
	names := [...]string{"learn", "lookup", "addStatic", "delete", "flushPort", "age", "setAging", "setLimit"}
	return fmt.Sprintf("%s(mac=%#x port=%d n=%d) after +%v", names[o.kind], o.mac, o.port, o.n, time.Duration(o.dt))
}

var agings = []time.Duration{0, time.Second, 10 * time.Second, 300 * time.Second, -1, 100 * time.Nanosecond}

// testPorts includes both edges of the 15-bit port field.
var testPorts = []uint16{0, 1, 2, 3, 4, 5, MaxPort, MaxPort + 1}

// testUniverse returns n valid MACs (sequential ones, as runtimes hand out,
// and scattered ones) plus the invalid kinds every operation must refuse.
func testUniverse(n int, r *rand.Rand) []uint64 {
	u := []uint64{0, 0x01005e000001, 0xffffffffffff, 1<<48 | 0x020000000001}
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			u = append(u, 0x0242ac110000+uint64(i))
		} else {
			u = append(u, (r.Uint64()&(1<<48-1))&^(1<<40)|1)
		}
	}
	return u
}

// timeSteps covers no change, steps inside the refresh slack and steps past
// every aging time.
var timeSteps = []int64{0, 0, 1, 50, 99, 101, int64(time.Millisecond), int64(time.Second) / 2,
	int64(time.Second), int64(time.Second) + 1, int64(3 * time.Second), int64(11 * time.Second), int64(301 * time.Second)}

// randomOp draws an operation. big keeps time steps small, limits high and
// aging long, so that the table fills up with most of the universe.
func randomOp(r *rand.Rand, universe []uint64, big bool) op {
	steps := len(timeSteps)
	if big {
		steps = 7
	}
	o := op{
		mac:  universe[r.IntN(len(universe))],
		port: testPorts[r.IntN(len(testPorts))],
		dt:   timeSteps[r.IntN(steps)],
	}
	switch x := r.IntN(100); {
	case x < 55:
		o.kind = opLearn
	case x < 75:
		o.kind = opLookup
	case x < 81:
		o.kind = opAddStatic
	case x < 88:
		o.kind = opDelete
	case x < 90:
		o.kind = opFlushPort
		if big && r.IntN(20) != 0 { // each flush empties an eighth
			o.kind = opLearn
		}
	case x < 96:
		o.kind = opAge
	case x < 98:
		o.kind, o.n = opSetAging, r.IntN(len(agings))
		if big {
			o.n = r.IntN(len(agings) - 2) // not the 100 ns aging
		}
	default:
		o.kind, o.n = opSetLimit, r.IntN(5)
		if big {
			o.n *= 500
		}
	}
	return o
}

// decodeOps turns fuzz input into operations, four bytes each.
func decodeOps(data []byte, universe []uint64) []op {
	var ops []op
	for ; len(data) >= 4; data = data[4:] {
		o := op{
			kind: opKind(data[0] % uint8(numOps)),
			mac:  universe[int(data[1])%len(universe)],
			port: testPorts[int(data[2])%len(testPorts)],
			dt:   timeSteps[int(data[3])%len(timeSteps)],
			n:    int(data[1]),
		}
		switch o.kind {
		case opSetAging:
			o.n %= len(agings)
		case opSetLimit:
			o.n %= 5
		}
		ops = append(ops, o)
	}
	return ops
}

// checker runs operations on a Table and the reference side by side.
type checker struct {
	t        testing.TB
	tab      *Table
	ref      *refTable
	now      int64
	universe []uint64
}

func newChecker(t testing.TB, cfg Config, universe []uint64) *checker {
	return &checker{t: t, tab: New(cfg), ref: newRef(cfg), now: 1 << 40, universe: universe}
}

func (c *checker) apply(step int, o op) {
	c.t.Helper()
	c.now += o.dt
	var got, want any
	switch o.kind {
	case opLearn:
		got, want = c.tab.Learn(o.mac, o.port, c.now), c.ref.learn(o.mac, o.port, c.now)
	case opLookup:
		p, ok := c.tab.Lookup(o.mac)
		rp, rok := c.ref.lookup(o.mac)
		got, want = [2]any{p, ok}, [2]any{rp, rok}
	case opAddStatic:
		got, want = c.tab.AddStatic(o.mac, o.port) == nil, c.ref.addStatic(o.mac, o.port)
	case opDelete:
		got, want = c.tab.Delete(o.mac), c.ref.delete(o.mac)
	case opFlushPort:
		got, want = c.tab.FlushPort(o.port), c.ref.flushPort(o.port)
	case opAge:
		got, want = c.tab.Age(c.now), c.ref.age(c.now)
	case opSetAging:
		c.tab.SetAging(agings[o.n])
		c.ref.setAging(agings[o.n])
	case opSetLimit:
		c.tab.SetMACLimit(o.n)
		c.ref.setLimit(o.n)
	}
	if got != want {
		c.t.Fatalf("step %d %v: table %v, reference %v", step, o, got, want)
	}
}

// checkState compares everything observable.
func (c *checker) checkState(step int) {
	c.t.Helper()
	if got, want := c.tab.Len(), len(c.ref.m); got != want {
		c.t.Fatalf("step %d: Len %d, reference %d", step, got, want)
	}
	if got, want := c.tab.Entries(c.now), c.ref.entries(c.now); !slices.Equal(got, want) {
		c.t.Fatalf("step %d: Entries\n got %v\nwant %v", step, got, want)
	}
	for _, p := range testPorts {
		if got, want := c.tab.PortCount(p), c.ref.count(p); got != want {
			c.t.Fatalf("step %d: PortCount(%d) %d, reference %d", step, p, got, want)
		}
	}
	for _, mac := range c.universe {
		p, ok := c.tab.Lookup(mac)
		rp, rok := c.ref.lookup(mac)
		if p != rp || ok != rok {
			c.t.Fatalf("step %d: Lookup(%#x) = %d,%v, reference %d,%v", step, mac, p, ok, rp, rok)
		}
	}
	c.checkInvariants(step)
}

// checkInvariants looks inside: the bookkeeping that sizing relies on.
func (c *checker) checkInvariants(step int) {
	c.t.Helper()
	c.tab.mu.Lock()
	defer c.tab.mu.Unlock()
	s := c.tab.cur.Load()
	live, used := 0, 0
	for i := range s.keys {
		switch w := s.keys[i].Load(); {
		case w == 0:
		case w == tombstone:
			used++
		default:
			live++
			used++
		}
	}
	if live != int(c.tab.size.Load()) || used != c.tab.used || used*4 > len(s.keys)*3 {
		c.t.Fatalf("step %d: %d slots, %d live (size %d), %d used (recorded %d)",
			step, len(s.keys), live, c.tab.size.Load(), used, c.tab.used)
	}
}

func TestAgainstReference(t *testing.T) {
	cases := []struct {
		name       string
		macs, ops  int
		checkEvery int
		big        bool // see randomOp
		minPeak    int  // slots the table must have grown to
		cfg        Config
	}{
		{"small", 24, 4000, 1, false, 0, Config{}},
		{"small-limit", 24, 4000, 1, false, 0, Config{MACLimit: 3, Aging: 10 * time.Second}},
		{"presized", 40, 4000, 1, false, 0, Config{InitialSize: 100}},
		{"grow", 3000, 40000, 997, true, 4096, Config{}},
	}
	seeds := 10
	if testing.Short() || raceEnabled {
		seeds = 3
	}
	for _, tc := range cases {
		seeds := seeds
		if raceEnabled && tc.big {
			seeds = 1
		}
		for seed := range seeds {
			t.Run(fmt.Sprintf("%s/seed%d", tc.name, seed), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
				u := testUniverse(tc.macs, r)
				c := newChecker(t, tc.cfg, u)
				peak := 0
				for i := range tc.ops {
					c.apply(i, randomOp(r, u, tc.big))
					if i%tc.checkEvery == 0 {
						c.checkState(i)
					}
					peak = max(peak, len(c.tab.cur.Load().keys))
				}
				c.checkState(tc.ops)
				if peak < tc.minPeak {
					t.Fatalf("the table peaked at %d slots, want at least %d", peak, tc.minPeak)
				}
			})
		}
	}
}

func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 4, 1, 0, 0, 4, 2, 0, 1, 4, 0, 0})                          // learn, move, lookup
	f.Add([]byte{2, 5, 1, 0, 0, 5, 2, 12, 5, 0, 0, 12, 1, 5, 0, 0})            // static refuses move, survives aging
	f.Add([]byte{7, 1, 0, 0, 0, 4, 1, 0, 0, 5, 1, 0, 0, 6, 1, 0, 3, 4, 0, 0})  // limit 1, delete frees it
	f.Add([]byte{6, 1, 0, 0, 0, 4, 1, 0, 0, 4, 1, 2, 5, 0, 0, 9, 4, 0, 0, 11}) // 1 s aging, refresh slack
	f.Add([]byte{0, 0, 1, 0, 0, 1, 1, 0, 0, 3, 6, 0, 0, 4, 7, 0, 4, 4, 1, 0})  // invalid MACs and ports, flush
	f.Fuzz(func(t *testing.T, data []byte) {
		u := testUniverse(28, rand.New(rand.NewPCG(1, 2)))
		c := newChecker(t, Config{Aging: 10 * time.Second}, u)
		for i, o := range decodeOps(data, u) {
			c.apply(i, o)
			c.checkState(i)
		}
	})
}
