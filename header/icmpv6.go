package header

import (
	"encoding/binary"
	"net/netip"
)

// ICMPv6 (RFC 4443) and the Neighbor Discovery messages the gateway reads
// and writes (RFC 4861 section 4). Views, like the others: no copy, no
// allocation; a length check (Valid, or the caller's) comes first.

// ProtoICMPv6 is ICMPv6's next-header value.
const ProtoICMPv6 = 58

// ICMPv6 message types.
const (
	ICMPv6EchoRequest   = 128
	ICMPv6EchoReply     = 129
	ICMPv6RouterSolicit = 133
	ICMPv6RouterAdvert  = 134
	ICMPv6NeighSolicit  = 135
	ICMPv6NeighAdvert   = 136
)

// Lengths of the fixed parts of the messages, without options.
const (
	ICMPv6MinLen = 8  // type, code, checksum and the 4 bytes every message has
	NDRSLen      = 8  // router solicitation: reserved
	NDRALen      = 16 // router advertisement: hop limit, flags, lifetime, reachable, retrans
	NDNSLen      = 24 // neighbour solicitation: reserved, target
	NDNALen      = 24 // neighbour advertisement: flags, target
)

// ND option types (RFC 4861 4.6) and their lengths in bytes.
const (
	NDOptSrcLLAddr = 1
	NDOptTgtLLAddr = 2
	NDOptPrefix    = 3
	NDOptMTU       = 5

	NDOptLLAddrLen = 8 // type, length, a 6-byte MAC (Ethernet, RFC 2464 6)
	NDOptPrefixLen = 32
	NDOptMTULen    = 8
)

// Neighbour advertisement flags (the first byte after the checksum).
const (
	NAFlagRouter    = 0x80
	NAFlagSolicited = 0x40
	NAFlagOverride  = 0x20
)

// NDHopLimit is the hop limit every ND message must carry: a receiver drops
// one with another, since it could only have come through a router (RFC
// 4861 6.1, 7.1).
const NDHopLimit = 255

// ICMPv6 is a view over an ICMPv6 message.
type ICMPv6 []byte

func (m ICMPv6) Valid() bool          { return len(m) >= ICMPv6MinLen }
func (m ICMPv6) Type() uint8          { return m[0] }
func (m ICMPv6) SetType(t uint8)      { m[0] = t }
func (m ICMPv6) Code() uint8          { return m[1] }
func (m ICMPv6) SetCode(c uint8)      { m[1] = c }
func (m ICMPv6) Checksum() uint16     { return binary.BigEndian.Uint16(m[2:4]) }
func (m ICMPv6) SetChecksum(c uint16) { binary.BigEndian.PutUint16(m[2:4], c) }

// ComputeChecksum is the checksum of the message over the IPv6
// pseudo-header (RFC 4443 2.3, RFC 8200 8.1), the field itself taken as 0.
func (m ICMPv6) ComputeChecksum(src, dst netip.Addr) uint16 {
	sum := PseudoHeaderSum(src, dst, ProtoICMPv6, uint16(len(m)))
	sum = Checksum(m[0:2], sum)
	sum = Checksum(m[4:], sum)
	return ^Fold(sum)
}

// ChecksumValid reports a message whose checksum is right. 0 is never a
// valid ICMPv6 checksum field of a non-empty sum, unlike UDP's "none".
func (m ICMPv6) ChecksumValid(src, dst netip.Addr) bool {
	sum := PseudoHeaderSum(src, dst, ProtoICMPv6, uint16(len(m)))
	return Fold(Checksum(m, sum)) == 0xffff
}

// NDTarget is the target address of a neighbour solicitation or
// advertisement; the message must be NDNSLen long at least.
func (m ICMPv6) NDTarget() netip.Addr { return netip.AddrFrom16([16]byte(m[8:24])) }

// NDTargetIs compares the target with a without building an address.
func (m ICMPv6) NDTargetIs(a netip.Addr) bool { b := a.As16(); return [16]byte(m[8:24]) == b }

// NDOptionsValid reports whether opts is a well-formed list of ND options:
// each has a non-zero length (in units of 8 bytes) and fits in what is
// left. RFC 4861 4.6: a node must silently discard an ND packet with an
// option of length 0.
func NDOptionsValid(opts []byte) bool {
	for len(opts) > 0 {
		if len(opts) < 2 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return false
		}
		opts = opts[int(opts[1])*8:]
	}
	return true
}

// NDOption returns the first option of type typ in opts (which
// NDOptionsValid accepted), whole, or nil.
func NDOption(opts []byte, typ uint8) []byte {
	for len(opts) >= 2 && opts[1] != 0 && int(opts[1])*8 <= len(opts) {
		n := int(opts[1]) * 8
		if opts[0] == typ {
			return opts[:n]
		}
		opts = opts[n:]
	}
	return nil
}

// PutNDLLAddr writes a source or target link-layer address option (typ
// NDOptSrcLLAddr or NDOptTgtLLAddr) at b and returns its length.
func PutNDLLAddr(b []byte, typ uint8, m MAC) int {
	b[0], b[1] = typ, 1
	copy(b[2:8], m[:])
	return NDOptLLAddrLen
}
