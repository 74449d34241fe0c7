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
