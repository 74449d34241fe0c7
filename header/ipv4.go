package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv4MinLen is the length of an IPv4 header without options.
const IPv4MinLen = 20

// IP protocol numbers the dataplane looks at (IANA).
const (
	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17
)

// IPv4 flags, the top 3 bits of bytes 6-7 as Flags returns them (RFC 791).
const (
	IPv4FlagMF = 1 // more fragments
	IPv4FlagDF = 2 // don't fragment
)

// IPv4 is a view over an IPv4 header and what follows it, up to the end of
// the frame (which may hold Ethernet padding past TotalLen).
//
//	 0                   1                   2                   3
//	|Version|  IHL  |      TOS      |          Total Length         |
//	|         Identification        |Flags|     Fragment Offset     |
//	|      TTL      |   Protocol    |        Header Checksum        |
//	|                        Source Address                         |
//	|                     Destination Address                       |
type IPv4 []byte

// Valid reports a header the accessors can read: version 4, IHL at least 5,
// the header and TotalLen within the view, TotalLen covering the header.
// It does not verify the checksum (see ChecksumValid): a router that
// forwards by incremental update need not, RFC 1812 5.2.2 leaves it
// optional and the kernel checks it in ip_rcv anyway.
//
// A Big TCP super-frame (TotalLen 0, length in a hop-by-hop jumbo option
// on IPv6 only, or taken from the skb on IPv4) is rejected; TAPs with the
// default gso_max_size never send one.
func (ip IPv4) Valid() bool {
	if len(ip) < IPv4MinLen || ip[0]>>4 != 4 {
		return false
	}
	hl := int(ip[0]&0xf) * 4
	tl := int(binary.BigEndian.Uint16(ip[2:4]))
	return hl >= IPv4MinLen && hl <= len(ip) && tl >= hl && tl <= len(ip)
}

// HeaderLen is IHL in bytes, options included.
func (ip IPv4) HeaderLen() int { return int(ip[0]&0xf) * 4 }

// SetHeaderLen writes version 4 and the IHL for a header of n bytes (a
// multiple of 4, 20 to 60), for a header being built.
func (ip IPv4) SetHeaderLen(n int) { ip[0] = 4<<4 | byte(n/4)&0xf }

func (ip IPv4) TOS() uint8       { return ip[1] }
func (ip IPv4) SetTOS(v uint8)   { ip[1] = v }
func (ip IPv4) TotalLen() uint16 { return binary.BigEndian.Uint16(ip[2:4]) }
func (ip IPv4) SetTotalLen(n uint16) {
	binary.BigEndian.PutUint16(ip[2:4], n)
}
func (ip IPv4) ID() uint16      { return binary.BigEndian.Uint16(ip[4:6]) }
func (ip IPv4) SetID(id uint16) { binary.BigEndian.PutUint16(ip[4:6], id) }

// Flags is the 3-bit flags field: IPv4FlagDF, IPv4FlagMF.
func (ip IPv4) Flags() uint8 { return ip[6] >> 5 }

// DF reports Don't Fragment: a router must send frag-needed rather than
// fragment (RFC 1191).
func (ip IPv4) DF() bool { return ip[6]&(IPv4FlagDF<<5) != 0 }

// MF reports More Fragments.
func (ip IPv4) MF() bool { return ip[6]&(IPv4FlagMF<<5) != 0 }

// FragmentOffset is the offset of this fragment in 8-byte units.
func (ip IPv4) FragmentOffset() uint16 { return binary.BigEndian.Uint16(ip[6:8]) & 0x1fff }

// IsFragment reports any fragment, first or not; ICMP errors are sent only
// about the first (RFC 1812 4.3.2.7), where FragmentOffset is 0.
func (ip IPv4) IsFragment() bool { return binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 }

// SetFlagsFragOffset writes the 3-bit flags and the offset in 8-byte units.
func (ip IPv4) SetFlagsFragOffset(flags uint8, off uint16) {
	binary.BigEndian.PutUint16(ip[6:8], uint16(flags&7)<<13|off&0x1fff)
}

func (ip IPv4) TTL() uint8           { return ip[8] }
func (ip IPv4) SetTTL(ttl uint8)     { ip[8] = ttl }
func (ip IPv4) Protocol() uint8      { return ip[9] }
func (ip IPv4) SetProtocol(p uint8)  { ip[9] = p }
func (ip IPv4) Checksum() uint16     { return binary.BigEndian.Uint16(ip[10:12]) }
func (ip IPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(ip[10:12], c) }
func (ip IPv4) Src() netip.Addr      { return netip.AddrFrom4([4]byte(ip[12:16])) }
func (ip IPv4) Dst() netip.Addr      { return netip.AddrFrom4([4]byte(ip[16:20])) }
func (ip IPv4) SetSrc(a netip.Addr)  { putAddr4(ip[12:16], a) }
func (ip IPv4) SetDst(a netip.Addr)  { putAddr4(ip[16:20], a) }
func (ip IPv4) SrcBytes() [4]byte    { return [4]byte(ip[12:16]) }
func (ip IPv4) DstBytes() [4]byte    { return [4]byte(ip[16:20]) }
func (ip IPv4) Options() []byte      { return ip[IPv4MinLen:ip.HeaderLen()] }
func (ip IPv4) Header() []byte       { return ip[:ip.HeaderLen()] }
func (ip IPv4) Payload() []byte      { return ip[ip.HeaderLen():ip.TotalLen()] }

// ComputeChecksum is the header checksum to store, computed over the header
// with options as if the checksum field were zero.
func (ip IPv4) ComputeChecksum() uint16 {
	sum := Checksum(ip[0:10], 0)
	sum = Checksum(ip[12:ip.HeaderLen()], sum)
	return ^Fold(sum)
}

// ChecksumValid reports a header whose sum, checksum field included, is
// all ones (RFC 1071).
func (ip IPv4) ChecksumValid() bool {
	return Fold(Checksum(ip[:ip.HeaderLen()], 0)) == 0xffff
}

// DecTTL decrements the TTL, updates the header checksum incrementally
// (RFC 1624 eqn. 3, on the TTL/protocol word) and returns the new TTL.
// The caller checks TTL first and answers time-exceeded when it would reach
// 0 (RFC 1812 5.3.1); a TTL of 0 is left as it is rather than wrapped to 255.
func (ip IPv4) DecTTL() uint8 {
	ttl := ip[8]
	if ttl == 0 {
		return 0
	}
	old := uint16(ttl)<<8 | uint16(ip[9])
	ip[8] = ttl - 1
	ip.SetChecksum(UpdateChecksum16(ip.Checksum(), old, old-0x100))
	return ttl - 1
}
