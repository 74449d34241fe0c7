package header

import (
	"encoding/binary"
	"net/netip"
)

// UDPLen is the length of a UDP header (RFC 768).
const UDPLen = 8

// UDP is a view over a UDP header and its payload. A checksum of 0 means
// "none" over IPv4, which is why NAT rewrites go through the UDP methods
// UpdateChecksum16/32 rather than the plain functions.
type UDP []byte

// Valid reports a view long enough for the header. The Length field is not
// held against the view: a GSO (USO) super-frame carries more than one
// datagram's worth.
func (u UDP) Valid() bool { return len(u) >= UDPLen }

func (u UDP) SrcPort() uint16      { return binary.BigEndian.Uint16(u[0:2]) }
func (u UDP) DstPort() uint16      { return binary.BigEndian.Uint16(u[2:4]) }
func (u UDP) Length() uint16       { return binary.BigEndian.Uint16(u[4:6]) }
func (u UDP) Checksum() uint16     { return binary.BigEndian.Uint16(u[6:8]) }
func (u UDP) SetSrcPort(p uint16)  { binary.BigEndian.PutUint16(u[0:2], p) }
func (u UDP) SetDstPort(p uint16)  { binary.BigEndian.PutUint16(u[2:4], p) }
func (u UDP) SetLength(n uint16)   { binary.BigEndian.PutUint16(u[4:6], n) }
func (u UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(u[6:8], c) }

// Payload is the datagram's data, cut at Length when Length is sane and
// fits in the view, else the rest of the view.
func (u UDP) Payload() []byte {
	if n := int(u.Length()); n >= UDPLen && n <= len(u) {
		return u[UDPLen:n]
	}
	return u[UDPLen:]
}

// ComputeChecksum is the full checksum to store for this datagram between
// src and dst. The view must be exactly the datagram (the IP payload); its
// length, not the Length field, goes into the pseudo-header. A computed 0
// is sent as 0xffff, since 0 means "no checksum" (RFC 768).
func (u UDP) ComputeChecksum(src, dst netip.Addr) uint16 {
	sum := PseudoHeaderSum(src, dst, ProtoUDP, uint16(len(u)))
	sum = Checksum(u[0:6], sum)
	sum = Checksum(u[8:], sum)
	if c := ^Fold(sum); c != 0 {
		return c
	}
	return 0xffff
}

// UpdateChecksum16 updates the checksum field in place after a 16-bit word
// it covers (a port) changed from old to new, on a complete datagram. A
// checksum of 0 ("none") is left alone, and an updated checksum of 0 is
// stored as 0xffff, its other one's complement form: 0 on the wire would
// switch the receiver's check off. The kernel's NAT does the same
// (CSUM_MANGLED_0).
func (u UDP) UpdateChecksum16(old, new uint16) {
	if c := u.Checksum(); c != 0 {
		u.SetChecksum(mangled0(UpdateChecksum16(c, old, new)))
	}
}

// UpdateChecksum32 is UpdateChecksum16 for an IPv4 address change in the
// pseudo-header. A CHECKSUM_PARTIAL datagram takes UpdatePartialChecksum32
// instead.
func (u UDP) UpdateChecksum32(old, new [4]byte) {
	if c := u.Checksum(); c != 0 {
		u.SetChecksum(mangled0(UpdateChecksum32(c, old, new)))
	}
}

func mangled0(c uint16) uint16 {
	if c == 0 {
		return 0xffff
	}
	return c
}
