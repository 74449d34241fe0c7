package nat

import (
	"fmt"
	"net/netip"

	"vswitch/header"
)

// Tuple6 identifies one direction of an IPv6 flow, as Tuple does for IPv4.
// Proto is the IPv6 next header: TCP, UDP or ICMPv6 (58); for ICMPv6 echo
// the identifier sits in both port fields.
type Tuple6 struct {
	Src, Dst     [16]byte
	SPort, DPort uint16
	Proto        uint8
}

// Reverse swaps source and destination.
func (t Tuple6) Reverse() Tuple6 {
	return Tuple6{Src: t.Dst, Dst: t.Src, SPort: t.DPort, DPort: t.SPort, Proto: t.Proto}
}

// String formats the tuple for logs and the CLI, e.g.
// "tcp [fd00::2]:1234 -> [2001:db8::1]:80" or "icmpv6 fd00::2 -> 2001:db8::1 id 7".
func (t Tuple6) String() string {
	src, dst := netip.AddrFrom16(t.Src), netip.AddrFrom16(t.Dst)
	switch t.Proto {
	case header.ProtoICMPv6:
		return fmt.Sprintf("icmpv6 %s -> %s id %d", src, dst, t.SPort)
	case header.ProtoTCP, header.ProtoUDP:
		return fmt.Sprintf("%s %s -> %s", ProtoName(t.Proto), netip.AddrPortFrom(src, t.SPort), netip.AddrPortFrom(dst, t.DPort))
	}
	return fmt.Sprintf("proto-%d %s -> %s", t.Proto, netip.AddrPortFrom(src, t.SPort), netip.AddrPortFrom(dst, t.DPort))
}

// Rewrite6 says how a new IPv6 flow is translated, as Rewrite does for IPv4.
type Rewrite6 struct {
	SNAT    bool
	SrcAddr [16]byte // new source; the source port (ICMPv6: id) is kept while its reply tuple is free
	DNAT    bool
	DstAddr [16]byte
	DstPort uint16 // new destination port; 0 keeps it; ignored for ICMPv6
}
