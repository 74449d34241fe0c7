package routing

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Kind says where a route comes from. The zero Kind is invalid, so a Route
// built without one is refused by Set.Add instead of passing as "connected".
type Kind uint8

const (
	// Connected is a network's own subnet: the destination is on that
	// network's L2 segment and is reached by ARP, not through a next hop.
	Connected Kind = iota + 1
	// Static is a route added by the operator (`route add PREFIX via ...`).
	Static
	// Default is 0.0.0.0/0 (or ::/0) via the uplink's gateway.
	Default
)

func (k Kind) String() string {
	switch k {
	case Connected:
		return "connected"
	case Static:
		return "static"
	case Default:
		return "default"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Route is one entry of the table. Fields are ordered to pack the struct into
// 64 bytes, one cache line, since a Table keeps one per route.
type Route struct {
	// Prefix is the IPv4 or IPv6 destination block. A Table stores it
	// masked.
	Prefix netip.Prefix
	// Via is the next hop; invalid for connected routes and for static
	// routes that point straight out of a port (on-link).
	Via netip.Addr
	// Network is, for connected routes, the id of the network the prefix
	// belongs to. The caller compares it with the source's network to
	// enforce isolation; see the package comment.
	Network uint16
	// Port is the egress port index for routes added with --port and for
	// the uplink's routes; 0 leaves the choice to the caller (for a
	// connected route, the FDB; for a next hop, the neighbour's port).
	Port uint16
	Kind Kind
}

// String formats the route the way `route ls` prints it, for example
// "10.1.0.0/16 static via 192.168.0.254 port 2".
func (r Route) String() string {
	var b strings.Builder
	b.WriteString(r.Prefix.String())
	b.WriteByte(' ')
	b.WriteString(r.Kind.String())
	if r.Kind == Connected {
		b.WriteString(" network ")
		b.WriteString(strconv.Itoa(int(r.Network)))
	}
	if r.Via.IsValid() {
		b.WriteString(" via ")
		b.WriteString(r.Via.String())
	}
	if r.Port != 0 {
		b.WriteString(" port ")
		b.WriteString(strconv.Itoa(int(r.Port)))
	}
	return b.String()
}

// check returns why r cannot enter a Set, in words an operator can act on, or
// nil.
func (r Route) check() error {
	p := r.Prefix
	switch {
	case !p.IsValid():
		return fmt.Errorf("routing: invalid prefix %v: give a prefix such as 10.1.0.0/16 or 2001:db8::/32", p)
	case p != p.Masked():
		return fmt.Errorf("routing: %v has host bits set: did you mean %v?", p, p.Masked())
	case p.Addr().Is4In6():
		// Masked, a mapped prefix is at least /96. Such addresses never
		// appear on the wire (RFC 4291 2.5.5.2), and Lookup does not match
		// an IPv4 address against them.
		return fmt.Errorf("routing: %v is an IPv4-mapped IPv6 prefix, which nothing is sent to: give the IPv4 prefix %v instead",
			p, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96))
	case r.Via.IsValid() && p.Addr().Is4() && !r.Via.Is4():
		return fmt.Errorf("routing: next hop %v of %v is not an IPv4 address: an IPv4 route needs an IPv4 next hop", r.Via, p)
	case r.Via.IsValid() && p.Addr().Is6() && (!r.Via.Is6() || r.Via.Is4In6()):
		return fmt.Errorf("routing: next hop %v of %v is not an IPv6 address: an IPv6 route needs an IPv6 next hop", r.Via, p)
	case r.Via.Zone() != "":
		return fmt.Errorf("routing: next hop %v of %v has a zone: give the address without it and the link as the route's port", r.Via, p)
	}
	switch r.Kind {
	case Connected:
		if r.Via.IsValid() {
			return fmt.Errorf("routing: connected route %v cannot have a next hop (%v): add a static route instead", p, r.Via)
		}
	case Static:
		if !r.Via.IsValid() && r.Port == 0 {
			return fmt.Errorf("routing: static route %v needs a next hop (via) or an egress port", p)
		}
	case Default:
		if p.Bits() != 0 {
			return fmt.Errorf("routing: a default route is 0.0.0.0/0 or ::/0, not %v: add a static route instead", p)
		}
	default:
		return fmt.Errorf("routing: route %v has no kind (%v): want connected, static or default", p, r.Kind)
	}
	return nil
}

// LastAddr is the last address of a valid prefix: for IPv4, its broadcast
// address when the prefix is a subnet of /30 or wider (IPv6 has no
// broadcast; its last address is an address like any other).
func LastAddr(p netip.Prefix) netip.Addr {
	if p.Addr().Is4() {
		b := p.Masked().Addr().As4()
		binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(b[:])|(uint32(1)<<(32-p.Bits())-1))
		return netip.AddrFrom4(b)
	}
	b := p.Masked().Addr().As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	if host := uint(128 - p.Bits()); host >= 64 {
		hi |= 1<<(host-64) - 1 // 1<<64 is 0 in Go: ::/0 sets every bit
		lo = ^uint64(0)
	} else {
		lo |= 1<<host - 1
	}
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}
