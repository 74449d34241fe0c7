package header

import (
	"encoding/binary"
	"net/netip"
)

// IPv6MinLen is the length of the fixed IPv6 header (RFC 8200).
const IPv6MinLen = 40

// IPv6 is a view over the fixed IPv6 header. The switch forwards IPv6 at L2
// and only needs to classify it, so extension headers are not followed:
// NextHeader is the first one, whatever it is.
type IPv6 []byte

// Valid reports a full fixed header with version 6. PayloadLen is not held
// against the view: a jumbogram or Big TCP super-frame carries 0 there.
func (ip IPv6) Valid() bool { return len(ip) >= IPv6MinLen && ip[0]>>4 == 6 }

func (ip IPv6) PayloadLen() uint16  { return binary.BigEndian.Uint16(ip[4:6]) }
func (ip IPv6) NextHeader() uint8   { return ip[6] }
func (ip IPv6) HopLimit() uint8     { return ip[7] }
func (ip IPv6) SetHopLimit(h uint8) { ip[7] = h }
func (ip IPv6) Src() netip.Addr     { return netip.AddrFrom16([16]byte(ip[8:24])) }
func (ip IPv6) Dst() netip.Addr     { return netip.AddrFrom16([16]byte(ip[24:40])) }

// Payload is what follows the fixed header, cut at PayloadLen when that
// fits in the view (dropping Ethernet padding), else the rest of the view.
func (ip IPv6) Payload() []byte {
	if end := IPv6MinLen + int(ip.PayloadLen()); end <= len(ip) {
		return ip[IPv6MinLen:end]
	}
	return ip[IPv6MinLen:]
}

// Setters for the headers the router makes itself (neighbour and router
// advertisements, echo replies).

func (ip IPv6) SetPayloadLen(n uint16) { binary.BigEndian.PutUint16(ip[4:6], n) }
func (ip IPv6) SetNextHeader(p uint8)  { ip[6] = p }
func (ip IPv6) SetSrc(a netip.Addr)    { b := a.As16(); copy(ip[8:24], b[:]) }
func (ip IPv6) SetDst(a netip.Addr)    { b := a.As16(); copy(ip[24:40], b[:]) }

// Init writes a fixed header: version 6, traffic class and flow label 0.
func (ip IPv6) Init(payloadLen uint16, next, hopLimit uint8) {
	ip[0], ip[1], ip[2], ip[3] = 6<<4, 0, 0, 0
	ip.SetPayloadLen(payloadLen)
	ip[6], ip[7] = next, hopLimit
}

// SrcIs and DstIs compare an address with the header's without making a
// netip.Addr of the header's bytes (a 16-byte compare).
func (ip IPv6) SrcIs(a netip.Addr) bool { b := a.As16(); return [16]byte(ip[8:24]) == b }
func (ip IPv6) DstIs(a netip.Addr) bool { b := a.As16(); return [16]byte(ip[24:40]) == b }

// LinkLocalFromMAC is fe80::/64 with the modified EUI-64 interface
// identifier of m (RFC 4291 appendix A): the MAC split by ff:fe, its
// universal/local bit flipped. Linux gives an interface this address.
func LinkLocalFromMAC(m MAC) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]})
}

// SolicitedNode is the solicited-node multicast group of a (RFC 4291
// 2.7.1): ff02::1:ff and the address's low 24 bits.
func SolicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 11: 0x01, 0xff, b[13], b[14], b[15]})
}

// MulticastMAC6 is the Ethernet group an IPv6 multicast address maps to
// (RFC 2464 7): 33:33 and the address's low 32 bits.
func MulticastMAC6(a netip.Addr) MAC {
	b := a.As16()
	return MAC{0x33, 0x33, b[12], b[13], b[14], b[15]}
}
