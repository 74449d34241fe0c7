package header

import "encoding/binary"

// VXLAN (RFC 7348 section 5): an 8-byte header after the outer UDP header,
// then the inner Ethernet frame.
//
//	 0                   1                   2                   3
//	|R|R|R|R|I|R|R|R|            Reserved                           |
//	|                VXLAN Network Identifier (VNI) |   Reserved    |
const (
	// VXLANLen is the length of the VXLAN header.
	VXLANLen = 8
	// VXLANPort is the IANA-assigned UDP destination port (RFC 7348).
	VXLANPort = 4789
	// VXLANFlagI is the I flag: the VNI field is valid. RFC 7348 says it
	// MUST be set; every other flag bit is reserved.
	VXLANFlagI = 0x08
	// VXLANMaxVNI is the largest VNI the 24-bit field holds.
	VXLANMaxVNI = 1<<24 - 1
	// VXLANOverhead4 and VXLANOverhead6 are what encapsulation adds on top
	// of the inner Ethernet frame's IP payload: inner Ethernet, VXLAN, UDP
	// and the outer IPv4 or IPv6 header. An inner MTU is the underlay's less
	// these (50 and 70 bytes), as Linux's vxlan driver computes it.
	VXLANOverhead4 = EthernetLen + VXLANLen + UDPLen + IPv4MinLen
	VXLANOverhead6 = EthernetLen + VXLANLen + UDPLen + IPv6MinLen
)

// VXLAN is a view over a VXLAN header.
type VXLAN []byte

// Valid reports a view long enough for the header. It does not look at the
// flags: whether a missing I flag drops the frame is the receiver's policy.
func (v VXLAN) Valid() bool { return len(v) >= VXLANLen }

// Flags is the first byte: VXLANFlagI and the reserved bits.
func (v VXLAN) Flags() uint8 { return v[0] }

// HasVNI reports the I flag. Reserved bits are not looked at: a receiver
// ignores them (RFC 7348 section 5).
func (v VXLAN) HasVNI() bool { return v[0]&VXLANFlagI != 0 }

// VNI is the 24-bit network identifier, bytes 4 to 6; byte 7 is reserved.
func (v VXLAN) VNI() uint32 { return binary.BigEndian.Uint32(v[4:8]) >> 8 }

// Set writes a header as a sender must: the I flag, vni, every reserved
// bit zero. vni above VXLANMaxVNI is cut to 24 bits.
func (v VXLAN) Set(vni uint32) {
	binary.BigEndian.PutUint32(v[0:4], uint32(VXLANFlagI)<<24)
	binary.BigEndian.PutUint32(v[4:8], vni<<8)
}

// Payload is the inner Ethernet frame.
func (v VXLAN) Payload() []byte { return v[VXLANLen:] }
