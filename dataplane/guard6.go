package dataplane

import (
	"encoding/binary"
	"net/netip"

	"vswitch/header"
)

// Port security for IPv6: what ARP spoofing is to IPv4, forged Neighbor
// Discovery is to IPv6, and a container that advertises itself as a router
// takes its neighbours' default route and, with a prefix, their addresses.
// On a port with port security:
//
//   - the IPv6 source is the port's own address, its link-local address
//     (fe80:: and the modified EUI-64 of its MAC, what Linux gives the
//     TAP, addr_gen_mode 0, which vswitchd sets), an address inside its
//     allowed-ips, or :: toward a multicast group only (duplicate address
//     detection and MLD reports before an address is usable, RFC 4862
//     5.4.2, RFC 3810 5.2.13);
//   - no router advertisement and no redirect: only the gateway routes
//     (RA guard, RFC 6105, its stateless form), dropped as ra-guard;
//   - a neighbour advertisement only for its own addresses, a duplicate
//     address detection solicitation (from ::) only for one of them, and
//     every source or target link-layer option of any ND message carrying
//     its MAC: a neighbour learns these (the RFC 6620 idea of binding
//     addresses to their first owner, with vswitchd's IPAM as the owner);
//     others are spoof drops.
//
// The extension headers are walked to the upper-layer header (RFC 7113:
// an RA behind a destination options header or in a fragment is still an
// RA); a first fragment without the whole header chain is malformed (RFC
// 7112). A later fragment passes: it carries no header to judge, and Linux
// drops fragmented ND messages anyway (RFC 6980).
//
// It is per-packet code: byte compares on the frame, no allocation.

// ICMPv6 types the guard reads that the gateway never handles.
const (
	icmp6Redirect = 137 // RFC 4861 4.5: only a router may send one
)

// IPv6 extension headers (RFC 8200 4; AH, RFC 4302) walked to reach the
// upper-layer header.
const (
	ip6HopByHop = 0
	ip6Routing  = 43
	ip6Fragment = 44
	ip6AH       = 51
	ip6NoNext   = 59
	ip6DstOpts  = 60
	// ip6MaxExt bounds the walk: a real chain has a few headers; a longer
	// one is made to tire a filter out and is dropped as malformed.
	ip6MaxExt = 8
)

// addr6 is an IPv6 address as two words, compared with two loads.
type addr6 struct{ hi, lo uint64 }

func addr6of(a netip.Addr) addr6 {
	b := a.As16()
	return addr6{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func addr6at(b []byte) addr6 {
	return addr6{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:16])}
}

type prefix6 struct{ addr, mask addr6 }

func prefix6of(p netip.Prefix) prefix6 {
	var m addr6
	bits := p.Bits()
	switch {
	case bits >= 64:
		m.hi, m.lo = ^uint64(0), ^uint64(0)<<(128-bits) // 64: a shift by 64 is 0
	case bits > 0:
		m.hi = ^uint64(0) << (64 - bits)
	}
	a := addr6of(p.Addr())
	return prefix6{addr6{a.hi & m.hi, a.lo & m.lo}, m}
}

// ownAddr6 says whether a is one of the port's IPv6 addresses: its own, its
// link-local one, or inside its allowed-ips.
func (g *guard) ownAddr6(a addr6) bool {
	if a == g.own6[1] || (a == g.own6[0] && a != addr6{}) {
		return true
	}
	for _, p := range g.allow6 {
		if a.hi&p.mask.hi == p.addr.hi && a.lo&p.mask.lo == p.addr.lo {
			return true
		}
	}
	return false
}

// ip6End is where the IPv6 packet ip ends: at its payload length, which
// cuts Ethernet padding off, unless that is 0 (a jumbogram) or past the
// frame.
func ip6End(ip []byte) int {
	if n := header.IPv6MinLen + int(binary.BigEndian.Uint16(ip[4:6])); n > header.IPv6MinLen && n <= len(ip) {
		return n
	}
	return len(ip)
}

// upper6 walks the extension headers of ip (cut at ip6End) to the
// upper-layer header: its protocol and offset. later is a non-first
// fragment, whose upper-layer header is not there to judge; bad a chain
// cut short or too long.
func upper6(ip []byte) (proto uint8, off int, later, bad bool) {
	proto, off = ip[6], header.IPv6MinLen
	for range ip6MaxExt + 1 { // the headers, then the upper layer
		switch proto {
		case ip6HopByHop, ip6Routing, ip6DstOpts, ip6AH:
			if off+2 > len(ip) {
				return 0, 0, false, true
			}
			n := (int(ip[off+1]) + 1) * 8
			if proto == ip6AH {
				n = (int(ip[off+1]) + 2) * 4
			}
			proto, off = ip[off], off+n
		case ip6Fragment:
			if off+8 > len(ip) {
				return 0, 0, false, true
			}
			if binary.BigEndian.Uint16(ip[off+2:])&0xfff8 != 0 {
				return ip[off], off + 8, true, false
			}
			proto, off = ip[off], off+8
		default:
			if off > len(ip) {
				return 0, 0, false, true
			}
			return proto, off, false, false
		}
	}
	return 0, 0, false, true
}

// check6 is port security for the IPv6 packet ip (what follows the
// Ethernet header); the note, a constant, says why for a trace.
func (g *guard) check6(ip []byte) (DropReason, string) {
	if len(ip) < header.IPv6MinLen || ip[0]>>4 != 6 {
		return DropMalformed, "IPv6 header cut short"
	}
	ip = ip[:ip6End(ip)]
	src := addr6at(ip[8:24])
	if !g.ownAddr6(src) {
		// :: is a host that has no usable address yet: it may only talk
		// to a group (DAD, MLD), and DAD's target is checked below.
		if src != (addr6{}) || ip[24] != 0xff {
			return DropSpoof, "IPv6 source is not the port's address, its link-local one or inside its allowed-ips"
		}
	}
	proto, off, later, bad := upper6(ip)
	switch {
	case bad:
		return DropMalformed, "IPv6 extension headers cut short, or more of them than any real packet has"
	case later || proto != header.ProtoICMPv6:
		return DropNone, ""
	}
	m := ip[off:]
	if len(m) < header.ICMPv6MinLen {
		return DropMalformed, "ICMPv6 message shorter than 8 bytes"
	}
	var fixed int // the message's length before its options
	switch m[0] {
	case header.ICMPv6RouterAdvert:
		return DropRAGuard, "a router advertisement from a container: only the gateway advertises (RA guard)"
	case icmp6Redirect:
		return DropRAGuard, "a redirect from a container: only a router sends one"
	case header.ICMPv6RouterSolicit:
		fixed = header.NDRSLen
	case header.ICMPv6NeighSolicit:
		fixed = header.NDNSLen
	case header.ICMPv6NeighAdvert:
		fixed = header.NDNALen
	default:
		return DropNone, ""
	}
	if len(m) < fixed {
		return DropMalformed, "neighbour discovery message cut short"
	}
	switch m[0] {
	case header.ICMPv6NeighAdvert:
		if !g.ownAddr6(addr6at(m[8:24])) {
			return DropSpoof, "a neighbour advertisement for an address that is not the port's"
		}
	case header.ICMPv6NeighSolicit:
		if src == (addr6{}) && !g.ownAddr6(addr6at(m[8:24])) {
			return DropSpoof, "duplicate address detection for an address that is not the port's"
		}
	}
	// Every link-layer option: Linux takes the first of a kind, another
	// stack may take the last.
	for opts := m[fixed:]; len(opts) > 0; {
		if len(opts) < 2 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return DropMalformed, "neighbour discovery option of length 0 or past the message"
		}
		n := int(opts[1]) * 8
		if (opts[0] == header.NDOptSrcLLAddr || opts[0] == header.NDOptTgtLLAddr) && (n < 8 || header.MAC(opts[2:8]) != g.mac) {
			return DropSpoof, "a link-layer address option that is not the port's MAC"
		}
		opts = opts[n:]
	}
	return DropNone, ""
}
