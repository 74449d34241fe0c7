package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"vswitch/header"
)

// The ingress guard: what a port may send, before the frame is learned,
// switched or routed. A container must not impersonate another station
// (port security), nor drown its network in broadcasts (storm limit), nor
// fill the connection table at line rate (conn-rate). Each check is a few
// loads and compares on the frame and, for the limits, one atomic
// compare-and-swap: no lock, no allocation.

// GuardConfig is what the control plane asks of one port's guard.
type GuardConfig struct {
	// PortSecurity: the port may only send from MAC; IPv4 (and ARP) only
	// from IP or an address inside Allowed; IPv6 only from IP6, its
	// link-local address (fe80:: and the EUI-64 of MAC) or an address
	// inside Allowed, with the neighbour discovery rules of guard6.go (no
	// router advertisements, advertisements for its own addresses only).
	PortSecurity bool
	MAC          header.MAC
	IP           netip.Addr     // the port's own IPv4 address; invalid: none
	IP6          netip.Addr     // the port's own IPv6 address; invalid: none
	Allowed      []netip.Prefix // IPv4 and IPv6 prefixes the port may also send from
	// StormPPS bounds the broadcast, multicast and unknown-unicast frames
	// the port may send per second (0: no bound).
	StormPPS int
	// ConnRate bounds the new connections per second the port may start
	// through the connection tracker (0: no bound).
	ConnRate int
}

// guard is a port's compiled GuardConfig. Shared by every snapshot, like
// PortStats: the buckets carry state between frames.
type guard struct {
	secure  bool
	mac     header.MAC
	ip      uint32 // 0: no address of its own
	allowed []prefix4
	own6    [2]addr6 // its IPv6 address (zero: none) and its link-local one
	allow6  []prefix6
	storm   bucket
	conn    bucket
}

type prefix4 struct{ addr, mask uint32 }

// bucket is a token bucket kept as one number, the time at which it would
// be full again (GCRA, ITU-T I.371): a frame passes when that time is at
// most burst ahead of now, and moves it on by one interval. One atomic
// word makes it safe for the workers serving a multi-queue port at once.
type bucket struct {
	interval int64 // ns per token; 0: unlimited
	burst    int64 // ns of tokens that may be spent at once
	tat      atomic.Int64
}

func (b *bucket) init(perSecond int, burstTokens int64) {
	if perSecond > 0 {
		b.interval = int64(1e9) / int64(perSecond)
		if b.interval == 0 {
			b.interval = 1
		}
		b.burst = b.interval * max(burstTokens-1, 0)
	}
}

// allow takes a token at time now (ns), or reports there is none.
func (b *bucket) allow(now int64) bool {
	if b.interval == 0 {
		return true
	}
	for {
		tat := b.tat.Load()
		t := max(tat, now)
		if t-now > b.burst {
			return false
		}
		if b.tat.CompareAndSwap(tat, t+b.interval) {
			return true
		}
	}
}

// peek reports whether allow would pass at time now, taking nothing.
func (b *bucket) peek(now int64) bool {
	return b.interval == 0 || max(b.tat.Load(), now)-now <= b.burst
}

// take is allow, or peek in a trace's dry run.
func (b *bucket) take(now int64, dry bool) bool {
	if dry {
		return b.peek(now)
	}
	return b.allow(now)
}

// compileGuard checks and compiles a configuration; nil when it asks for
// nothing.
func compileGuard(c GuardConfig) (*guard, error) {
	if !c.PortSecurity && c.StormPPS == 0 && c.ConnRate == 0 {
		return nil, nil
	}
	if c.StormPPS < 0 || c.ConnRate < 0 {
		return nil, errors.New("storm limit and connection rate must be 0 (off) or more")
	}
	g := &guard{secure: c.PortSecurity, mac: c.MAC}
	// Storm: a tenth of a second of burst (a few ARPs at once pass);
	// connections: a second's worth, as a client opens several at once.
	g.storm.init(c.StormPPS, max(int64(c.StormPPS)/10, 8))
	g.conn.init(c.ConnRate, max(int64(c.ConnRate), 1))
	if c.PortSecurity {
		if c.MAC.IsZero() || c.MAC.IsMulticast() {
			return nil, fmt.Errorf("port security needs the port's unicast MAC, not %s", c.MAC)
		}
		if c.IP.IsValid() {
			if !c.IP.Is4() {
				return nil, fmt.Errorf("port address %s is not IPv4", c.IP)
			}
			g.ip = u32of(c.IP)
		}
		if c.IP6.IsValid() {
			if !c.IP6.Is6() || c.IP6.Is4In6() || c.IP6.IsMulticast() || c.IP6.IsUnspecified() {
				return nil, fmt.Errorf("port address %s is not a unicast IPv6 address", c.IP6)
			}
			g.own6[0] = addr6of(c.IP6)
		}
		g.own6[1] = addr6of(header.LinkLocalFromMAC(c.MAC))
		for _, p := range c.Allowed {
			if p.Addr().Is6() && !p.Addr().Is4In6() {
				g.allow6 = append(g.allow6, prefix6of(p))
				continue
			}
			if !p.Addr().Is4() {
				return nil, fmt.Errorf("allowed prefix %s is neither IPv4 nor IPv6", p)
			}
			mask := ^uint32(0) << (32 - p.Bits())
			if p.Bits() == 0 {
				mask = 0
			}
			g.allowed = append(g.allowed, prefix4{u32of(p.Addr()) & mask, mask})
		}
	}
	return g, nil
}

func u32of(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

// srcOK says whether the port may send from IPv4 address a. 0.0.0.0 always
// may: a DHCP client and an ARP probe (RFC 5227) have no address yet.
func (g *guard) srcOK(a uint32) bool {
	if a == 0 || (a == g.ip && g.ip != 0) {
		return true
	}
	for _, p := range g.allowed {
		if a&p.mask == p.addr {
			return true
		}
	}
	return false
}

// ingress checks a frame from the port before anything else sees it.
// frame is at least an Ethernet header (decide checked). dry (a trace's
// dry run) takes no token from the storm bucket.
func (g *guard) ingress(frame []byte, now int64, dry bool) DropReason {
	if g.secure {
		if header.MAC(frame[6:12]) != g.mac {
			return DropSpoof
		}
		switch binary.BigEndian.Uint16(frame[12:14]) {
		case header.EtherTypeIPv4:
			if len(frame) < header.EthernetLen+20 {
				return DropMalformed
			}
			if !g.srcOK(binary.BigEndian.Uint32(frame[header.EthernetLen+12:])) {
				return DropSpoof
			}
		case header.EtherTypeARP:
			if len(frame) < header.EthernetLen+28 {
				return DropMalformed
			}
			a := frame[header.EthernetLen:]
			// The sender fields are what a neighbour learns: another
			// station's MAC or IP there is ARP spoofing.
			if header.MAC(a[8:14]) != g.mac || !g.srcOK(binary.BigEndian.Uint32(a[14:18])) {
				return DropSpoof
			}
		case header.EtherTypeIPv6:
			if why, _ := g.check6(frame[header.EthernetLen:]); why != DropNone {
				return why
			}
		}
	}
	if frame[0]&1 != 0 && !g.storm.take(now, dry) {
		return DropStorm
	}
	return DropNone
}

// note says, for a trace, why ingress dropped frame: a constant, so a
// live trace allocates nothing either.
func (g *guard) note(frame []byte, why DropReason) string {
	switch {
	case why == DropNone:
		return ""
	case why == DropStorm:
		return "over the port's storm limit"
	case header.MAC(frame[6:12]) != g.mac:
		return "source MAC is not the port's"
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case header.EtherTypeIPv6:
		_, n := g.check6(frame[header.EthernetLen:])
		return n
	case header.EtherTypeIPv4:
		if why == DropMalformed {
			return "IPv4 header cut short"
		}
		return "IPv4 source is not the port's address nor inside its allowed-ips"
	case header.EtherTypeARP:
		if why == DropMalformed {
			return "ARP message cut short"
		}
		return "ARP sender MAC or address is not the port's"
	}
	return ""
}

// SetGuard replaces the ingress guard of port idx. The daemon calls it
// right after AddPort, and again when the port's options change.
func (dp *Dataplane) SetGuard(idx uint16, c GuardConfig) error {
	g, err := compileGuard(c)
	if err != nil {
		return err
	}
	return dp.editPort(idx, func(p *Port) { p.guard = g })
}

// editPort publishes a new snapshot in which port idx is a copy changed by
// edit: workers holding the old snapshot keep the old port, untouched.
func (dp *Dataplane) editPort(idx uint16, edit func(*Port)) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := dp.cfg.Load().clone()
	p := s.port(idx)
	if p == nil {
		return fmt.Errorf("no port %d", idx)
	}
	pp := *p
	edit(&pp)
	s.ports[idx] = &pp
	dp.cfg.Store(s)
	return nil
}

// connAllowed is the conn-rate check, made where the tracker is about to
// create a connection for a frame from in (nil: the router's own).
func connAllowed(in *Port, now int64) bool {
	return in == nil || in.guard == nil || in.guard.conn.allow(now)
}
