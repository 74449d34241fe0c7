package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"vswitch/arp"
	"vswitch/dataplane/port"
	"vswitch/fdb"
	"vswitch/header"
	"vswitch/nat"
	"vswitch/policy"
	"vswitch/routing"
)

// MaxPorts bounds port indexes: the FDB packs a port into 15 bits.
const MaxPorts = 1<<15 - 1

// Network is one L2 domain in a snapshot.
type Network struct {
	ID    uint16
	Name  string
	FDB   *fdb.Table // shared by every snapshot; safe for concurrent use
	Ports []uint16   // flood set, sorted
	L3    NetL3
	ACL   *policy.ACL // nil: none, nothing checked or tracked
	VLAN  uint16      // 802.1Q VLAN id (vlan.go); 0: none
}

// NetL3 is a network's router interface: the gateway vswitchd owns on it.
type NetL3 struct {
	GatewayIP  netip.Addr // invalid: not routed (no gateway)
	GatewayMAC header.MAC
	Subnet     netip.Prefix
	MTU        int
	Internal   bool     // nothing leaves by the uplink
	NoICC      bool     // icc=false: no IP traffic between the network's own ports
	Masquerade bool     // leaves by the uplink only through NAT
	Uplink     bool     // the uplink's link: L3 only, no learning or flooding
	Connected  []uint16 // networks routed to and from this one (network connect)
	// IPv6 at the gateway (nd.go): its global address on Prefix6 (a /64)
	// and its link-local one; Gateway6 invalid: none. RALifetime is the
	// router lifetime its advertisements carry (0: not a default router).
	Gateway6   netip.Addr
	GatewayLL  netip.Addr
	Prefix6    netip.Prefix
	RALifetime uint16
	// Masquerade6: IPv6 leaving by the uplink is translated to the uplink's
	// IPv6 address (NAT66, nat6.go); off, it keeps its addresses.
	Masquerade6 bool
}

// Port is one attached port in a snapshot.
type Port struct {
	Index  uint16
	Name   string
	Net    uint16               // network ID
	IO     port.Port            // queue 0: for frames the control plane sends
	Queues []port.Port          // one per worker for a multi-queue TAP, else just IO
	Stats  *PortStats           // shared by every snapshot
	worker int                  // the worker serving a single-queue port
	guard  *guard               // ingress checks (guard.go); nil: none
	police *policer             // ingress policing (police.go); nil: none
	tap    *atomic.Pointer[Tap] // active capture (capture.go), nil inside when none; shared like Stats
	// 802.1Q (vlan.go): a trunk's VLAN table, the device when it reports
	// tags, and for a trunk's member the trunk and the VLAN it tags.
	trunk  *trunkMap
	tagger port.VLANPort
	parent uint16
	vid    uint16
}

// queueFor is the queue worker w reads and writes. With one queue per
// worker, each worker serves its own queue of every port, and the flows the
// kernel steers to that queue (tun's flow table remembers the queue a flow
// was last written on) stay on that worker, on one core.
func (p *Port) queueFor(w int) port.Port {
	if len(p.Queues) > 1 {
		return p.Queues[w%len(p.Queues)]
	}
	return p.IO
}

// multiQueue reports a port served by every worker, one queue each.
func (p *Port) multiQueue() bool { return len(p.Queues) > 1 }

// snapshot is the whole forwarding configuration. It is never modified
// once published: the control plane copies, changes and swaps it, so the
// workers read it without a lock.
type snapshot struct {
	ports  []*Port    // by index; nil where free
	nets   []*Network // by ID; nil where free
	routes *routing.Table
	local  map[netip.Addr]uint16 // vswitchd's own addresses -> network

	pubRules   []PublishRule        // as the control plane gave them
	publish    map[pubKey]pubTarget // built from pubRules and local
	publishRev map[pubKey]pubOrigin // the rules by target

	publish6 map[pubKey6]pubTarget6 // the rules with an IPv6 target (nat6.go)
}

func (s *snapshot) clone() *snapshot {
	c := *s
	c.ports, c.nets = slices.Clone(s.ports), slices.Clone(s.nets)
	return &c
}

// DefaultSpin is vswitchd's --worker-spin: long enough to cover the gap
// between a request and its answer crossing the switch (about 50 µs here),
// short enough that an idle switch sleeps at once.
const DefaultSpin = 50 * time.Microsecond

// Options tune a Dataplane.
type Options struct {
	Workers int // epoll workers; default: one per CPU
	Batch   int // frames per read batch; default 32
	// Nice is the scheduling priority of the worker threads (-20..19; 0
	// leaves them as they are). See worker.run for why they run above the
	// namespaces' own processes.
	Nice int
	// Spin is how long a worker keeps polling its ports (epoll_wait with
	// no timeout, yielding the CPU between empty polls) after it last found
	// work, before it sleeps; 0 sleeps at once. vswitchd's default is
	// DefaultSpin. See worker.run and docs/performance.md for what it buys
	// and costs.
	Spin time.Duration
	// RTPriority > 0 runs the workers SCHED_FIFO at that priority (1-99)
	// instead of at Nice.
	RTPriority int
	// IOUring makes each worker move its TAP reads and writes through an
	// io_uring, many frames per system call (docs/performance.md has
	// what it measured). Without a usable io_uring the workers fall back
	// to read/write, with a warning.
	IOUring bool
	Logger  *slog.Logger // default: slog.Default()
	Now     func() time.Time
	// ConntrackMax bounds the connection table (0: nat's default), and
	// NATPortMin..NATPortMax is where masquerade takes a source port when
	// a flow's own is taken (0, 0: nat's default range).
	ConntrackMax           int
	NATPortMin, NATPortMax uint16
}

// Dataplane owns the workers and the configuration snapshot.
type Dataplane struct {
	opts    Options
	cfg     atomic.Pointer[snapshot]
	mu      sync.Mutex // control plane: serialises snapshot changes
	workers []*worker
	log     *slog.Logger
	stop    chan struct{}
	wg      sync.WaitGroup

	arp   *arp.Table
	ct    *nat.Table
	ct6   *nat.Table6                   // IPv6 flows (nat6.go)
	frags fragTable                     // NAT of fragments (fragnat.go)
	hints queueHints                    // the queue each flow uses on multi-queue TAPs (steer.go)
	drops [NumDropReasons]atomic.Uint64 // drops not tied to an ingress port (ARP gave up)
	trace traceState                    // dry runs and the live trace (trace.go)
}

// New builds a dataplane; Start runs it.
func New(opts Options) *Dataplane {
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.Batch <= 0 {
		opts.Batch = 32
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	now := opts.Now
	dp := &Dataplane{opts: opts, log: opts.Logger, stop: make(chan struct{}), arp: arp.New(arp.Config{}),
		ct: nat.New(nat.Config{Max: opts.ConntrackMax, PortMin: opts.NATPortMin, PortMax: opts.NATPortMax,
			Now: func() int64 { return now().UnixNano() }}),
		ct6: nat.New6(nat.Config{Max: opts.ConntrackMax, PortMin: opts.NATPortMin, PortMax: opts.NATPortMax,
			Now: func() int64 { return now().UnixNano() }})}
	dp.cfg.Store(&snapshot{ports: make([]*Port, 1), nets: make([]*Network, 1),
		routes: routing.Build(nil), local: map[netip.Addr]uint16{}, publish: map[pubKey]pubTarget{}})
	return dp
}

// Start creates the workers, the aging timer and the conntrack sweeper.
func (dp *Dataplane) Start() error {
	dp.ct.Start()
	dp.ct6.Start()
	for i := 0; i < dp.opts.Workers; i++ {
		w, err := newWorker(dp, i)
		if err != nil {
			dp.Close()
			return err
		}
		dp.workers = append(dp.workers, w)
		dp.wg.Add(1)
		go func() { defer dp.wg.Done(); w.run() }()
	}
	dp.wg.Add(2)
	go func() { defer dp.wg.Done(); dp.ageLoop() }()
	go func() { defer dp.wg.Done(); dp.arpLoop() }()
	return nil
}

// Close stops the workers. Ports are not closed: their owner (the daemon)
// decides whether a device goes or stays.
func (dp *Dataplane) Close() {
	select {
	case <-dp.stop:
		return
	default:
	}
	close(dp.stop)
	for _, w := range dp.workers {
		w.stopping.Store(true)
		w.kick()
	}
	dp.wg.Wait()
	for _, w := range dp.workers {
		w.close()
	}
	dp.ct.Close()
	dp.ct6.Close()
}

// ageLoop expires FDB entries once a second, off the fast path.
func (dp *Dataplane) ageLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-dp.stop:
			return
		case <-t.C:
			now := dp.opts.Now().UnixNano()
			for _, n := range dp.cfg.Load().nets {
				if n != nil {
					n.FDB.Age(now)
				}
			}
		}
	}
}

// AddNetwork creates an L2 domain and returns its ID.
func (dp *Dataplane) AddNetwork(name string, fc fdb.Config) (uint16, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := dp.cfg.Load().clone()
	id := -1
	for i := 1; i < len(s.nets); i++ {
		if s.nets[i] == nil {
			id = i
			break
		}
	}
	if id < 0 {
		if len(s.nets) > 0xffff {
			return 0, errors.New("too many networks")
		}
		id = len(s.nets)
		s.nets = append(s.nets, nil)
	}
	s.nets[id] = &Network{ID: uint16(id), Name: name, FDB: fdb.New(fc)}
	dp.cfg.Store(s)
	return uint16(id), nil
}

// RemoveNetwork removes an L2 domain that has no ports left.
func (dp *Dataplane) RemoveNetwork(id uint16) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := dp.cfg.Load().clone()
	n := s.network(id)
	if n == nil {
		return fmt.Errorf("no network %d", id)
	}
	if len(n.Ports) > 0 {
		return fmt.Errorf("network %s still has %d ports", n.Name, len(n.Ports))
	}
	s.nets[id] = nil
	dp.cfg.Store(s)
	return nil
}

// FDB returns the MAC table of a network (nil if there is none).
func (dp *Dataplane) FDB(id uint16) *fdb.Table {
	if n := dp.cfg.Load().network(id); n != nil {
		return n.FDB
	}
	return nil
}

// AddPort plugs io into network id and starts serving it. It returns the
// port's index (≥ 1).
func (dp *Dataplane) AddPort(name string, id uint16, io port.Port) (uint16, error) {
	return dp.AddPortQueues(name, id, []port.Port{io})
}

// Workers is how many workers serve ports: a multi-queue device wants one
// queue for each.
func (dp *Dataplane) Workers() int { return dp.opts.Workers }

// AddPortQueues plugs a device with one queue, or one per worker, into
// network id. With one per worker every worker serves the port; a single
// queue is served by the least loaded worker.
func (dp *Dataplane) AddPortQueues(name string, id uint16, queues []port.Port) (uint16, error) {
	if len(queues) == 0 {
		return 0, errors.New("a port needs at least one queue")
	}
	// A queue no worker reads would still get the flows tun steers to it,
	// and they would be lost: so one queue, or exactly one per worker.
	if len(queues) != 1 && len(dp.workers) > 0 && len(queues) != len(dp.workers) {
		return 0, fmt.Errorf("port %s has %d queues for %d workers: give it 1 or %d", name, len(queues), len(dp.workers), len(dp.workers))
	}
	io := queues[0]
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := dp.cfg.Load().clone()
	n := s.network(id)
	if n == nil {
		return 0, fmt.Errorf("no network %d", id)
	}
	idx := -1
	for i := 1; i < len(s.ports); i++ {
		if s.ports[i] == nil {
			idx = i
			break
		}
	}
	if idx < 0 {
		if len(s.ports) > MaxPorts {
			return 0, fmt.Errorf("too many ports (at most %d)", MaxPorts)
		}
		idx = len(s.ports)
		s.ports = append(s.ports, nil)
	}
	w := dp.leastLoadedLocked(s)
	p := &Port{Index: uint16(idx), Name: name, Net: id, IO: io, Queues: queues, Stats: new(PortStats), worker: w, tap: new(atomic.Pointer[Tap])}
	p.tagger, _ = io.(port.VLANPort)
	s.ports[idx] = p
	nn := *n
	nn.Ports = append(slices.Clone(n.Ports), p.Index)
	slices.Sort(nn.Ports)
	s.nets[id] = &nn
	// Publish before polling: the worker must find the port in the snapshot.
	dp.cfg.Store(s)
	for i, wk := range dp.workers {
		if !p.multiQueue() && i != w {
			continue
		}
		if err := wk.watch(p.queueFor(i).Fd(), p.Index); err != nil {
			dp.unwatchLocked(p)
			s2 := dp.cfg.Load().clone()
			s2.ports[idx] = nil
			s2.nets[id] = n
			dp.cfg.Store(s2)
			return 0, fmt.Errorf("cannot poll port %s: %v", name, err)
		}
	}
	return p.Index, nil
}

func (dp *Dataplane) leastLoadedLocked(s *snapshot) int {
	if len(dp.workers) == 0 {
		return 0
	}
	load := make([]int, len(dp.workers))
	for _, p := range s.ports {
		if p != nil && !p.multiQueue() && p.parent == 0 { // a trunk's member is not read
			load[p.worker]++
		}
	}
	best := 0
	for i, l := range load {
		if l < load[best] {
			best = i
		}
	}
	return best
}

// RemovePort stops serving a port and forgets its FDB entries. When it
// returns no worker uses the port any more, so the caller may close it.
func (dp *Dataplane) RemovePort(idx uint16) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := dp.cfg.Load().clone()
	p := s.port(idx)
	if p == nil {
		return fmt.Errorf("no port %d", idx)
	}
	dp.unwatchLocked(p)
	s.ports[idx] = nil
	if n := s.network(p.Net); n != nil {
		nn := *n
		nn.Ports = slices.DeleteFunc(slices.Clone(n.Ports), func(i uint16) bool { return i == idx })
		s.nets[p.Net] = &nn
	}
	var members []*Port
	if p.trunk != nil {
		members = removeMembersLocked(s, p)
	}
	dp.cfg.Store(s)
	dp.quiesceLocked()
	flushMembers(s, members)
	// Only now: a worker still on the old snapshot could have re-learned
	// a MAC on the port while it was going.
	if n := s.network(p.Net); n != nil {
		n.FDB.FlushPort(idx)
	}
	return nil
}

func (dp *Dataplane) unwatchLocked(p *Port) {
	for i, wk := range dp.workers {
		if p.multiQueue() || i == p.worker {
			wk.unwatch(p.queueFor(i).Fd())
		}
	}
}

// quiesceLocked returns once every worker has finished the loop iteration
// it was in, so none still holds the previous snapshot (RCU's grace period).
func (dp *Dataplane) quiesceLocked() {
	for _, w := range dp.workers {
		e := w.epoch.Load()
		w.kick()
		deadline := time.Now().Add(2 * time.Second)
		for w.epoch.Load() == e && time.Now().Before(deadline) {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// PortStats returns a port's counters (nil if there is no such port).
func (dp *Dataplane) PortStats(idx uint16) *PortStats {
	if p := dp.cfg.Load().port(idx); p != nil {
		return p.Stats
	}
	return nil
}

func (s *snapshot) port(idx uint16) *Port {
	if int(idx) < len(s.ports) {
		return s.ports[idx]
	}
	return nil
}

func (s *snapshot) network(id uint16) *Network {
	if int(id) < len(s.nets) {
		return s.nets[id]
	}
	return nil
}

// SetL3 replaces the router configuration: each network's interface and the
// route table. Networks not in nets keep theirs.
func (dp *Dataplane) SetL3(nets map[uint16]NetL3, routes *routing.Table) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := dp.cfg.Load().clone()
	s.local = map[netip.Addr]uint16{}
	for id, l3 := range nets {
		if n := s.network(id); n != nil {
			nn := *n
			nn.L3 = l3
			s.nets[id] = &nn
		}
	}
	for _, n := range s.nets {
		if n != nil && n.L3.GatewayIP.IsValid() {
			s.local[n.L3.GatewayIP] = n.ID
		}
	}
	if routes != nil {
		s.routes = routes
	}
	s.publish = buildPublish(s.pubRules, s) // rules without a host address follow the addresses
	s.publish6 = buildPublish6(s.pubRules, s)
	dp.cfg.Store(s)
}

// ARP is the router's neighbour table.
func (dp *Dataplane) ARP() *arp.Table { return dp.arp }

// Drops are the drops not counted at an ingress port.
func (dp *Dataplane) Drops() map[string]uint64 {
	m := map[string]uint64{}
	for r := DropReason(1); r < NumDropReasons; r++ {
		if v := dp.drops[r].Load(); v > 0 {
			m[r.String()] = v
		}
	}
	return m
}
