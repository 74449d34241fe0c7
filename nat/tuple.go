package nat

import (
	"fmt"
	"net/netip"

	"vswitch/header"
)

// Tuple identifies one direction of a flow. It is comparable and holds no
// pointers, so it is a map key the garbage collector never scans. For ICMP
// echo the identifier sits in both port fields, so Reverse needs no special
// case (gVisor keeps the echo ident in the port slot for the same reason).
type Tuple struct {
	Src, Dst     [4]byte
	SPort, DPort uint16
	Proto        uint8
}

// Reverse swaps source and destination: the tuple of the other direction of
// an untranslated flow.
func (t Tuple) Reverse() Tuple {
	return Tuple{Src: t.Dst, Dst: t.Src, SPort: t.DPort, DPort: t.SPort, Proto: t.Proto}
}

// String formats the tuple for logs and the CLI, e.g.
// "tcp 10.0.0.1:1234 -> 10.0.0.2:80" or "icmp 10.0.0.1 -> 10.0.0.2 id 7".
func (t Tuple) String() string {
	src, dst := netip.AddrFrom4(t.Src), netip.AddrFrom4(t.Dst)
	switch t.Proto {
	case header.ProtoICMP:
		return fmt.Sprintf("icmp %s -> %s id %d", src, dst, t.SPort)
	case header.ProtoTCP, header.ProtoUDP:
		return fmt.Sprintf("%s %s:%d -> %s:%d", ProtoName(t.Proto), src, t.SPort, dst, t.DPort)
	}
	return fmt.Sprintf("proto-%d %s:%d -> %s:%d", t.Proto, src, t.SPort, dst, t.DPort)
}

// ProtoName is "tcp", "udp", "icmp" or "proto-N".
func ProtoName(p uint8) string {
	switch p {
	case header.ProtoTCP:
		return "tcp"
	case header.ProtoUDP:
		return "udp"
	case header.ProtoICMP:
		return "icmp"
	case header.ProtoICMPv6:
		return "icmpv6"
	}
	return fmt.Sprintf("proto-%d", p)
}
