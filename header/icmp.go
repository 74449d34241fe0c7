package header

import "encoding/binary"

// ICMPv4MinLen is the fixed part of every ICMPv4 message: type, code,
// checksum and the 4-byte "rest of header".
const ICMPv4MinLen = 8

// ICMPv4 types (RFC 792, RFC 1812 4.3).
const (
	EchoReply       = 0
	DestUnreachable = 3
	SourceQuench    = 4
	Redirect        = 5
	Echo            = 8
	TimeExceeded    = 11
	ParamProblem    = 12
)

// ICMPv4 codes. Destination-unreachable codes (RFC 792, RFC 1812 5.2.7.1):
const (
	NetUnreachable   = 0
	HostUnreachable  = 1
	ProtoUnreachable = 2
	PortUnreachable  = 3
	FragNeeded       = 4  // with the next-hop MTU, RFC 1191
	AdminProhibited  = 13 // communication administratively prohibited
)

// Time-exceeded codes (RFC 792).
const (
	TTLExceeded        = 0
	ReassemblyExceeded = 1
)

// ICMPv4 is a view over an ICMPv4 message.
type ICMPv4 []byte

// Valid reports a message long enough for the fixed 8 bytes.
func (m ICMPv4) Valid() bool { return len(m) >= ICMPv4MinLen }

func (m ICMPv4) Type() uint8          { return m[0] }
func (m ICMPv4) SetType(t uint8)      { m[0] = t }
func (m ICMPv4) Code() uint8          { return m[1] }
func (m ICMPv4) SetCode(c uint8)      { m[1] = c }
func (m ICMPv4) Checksum() uint16     { return binary.BigEndian.Uint16(m[2:4]) }
func (m ICMPv4) SetChecksum(c uint16) { binary.BigEndian.PutUint16(m[2:4], c) }

// ID and Seq are the echo identifier and sequence number (types 0 and 8).
func (m ICMPv4) ID() uint16        { return binary.BigEndian.Uint16(m[4:6]) }
func (m ICMPv4) SetID(id uint16)   { binary.BigEndian.PutUint16(m[4:6], id) }
func (m ICMPv4) Seq() uint16       { return binary.BigEndian.Uint16(m[6:8]) }
func (m ICMPv4) SetSeq(seq uint16) { binary.BigEndian.PutUint16(m[6:8], seq) }

// Rest is the 4-byte "rest of header" word whose meaning depends on the
// type; errors other than frag-needed carry zero there (RFC 792).
func (m ICMPv4) Rest() uint32     { return binary.BigEndian.Uint32(m[4:8]) }
func (m ICMPv4) SetRest(v uint32) { binary.BigEndian.PutUint32(m[4:8], v) }

// MTU is the next-hop MTU of a frag-needed message, bytes 6-7 (RFC 1191
// section 4); bytes 4-5 stay zero.
func (m ICMPv4) MTU() uint16       { return binary.BigEndian.Uint16(m[6:8]) }
func (m ICMPv4) SetMTU(mtu uint16) { binary.BigEndian.PutUint16(m[6:8], mtu) }

// Payload is what follows the fixed 8 bytes: echo data, or for an error the
// offending packet's IP header and at least 8 bytes of its payload.
func (m ICMPv4) Payload() []byte { return m[ICMPv4MinLen:] }

// IsError reports the error types, about which no ICMP error is ever sent
// (RFC 1812 4.3.2.7).
func (m ICMPv4) IsError() bool {
	switch m[0] {
	case DestUnreachable, SourceQuench, Redirect, TimeExceeded, ParamProblem:
		return true
	}
	return false
}

// ComputeChecksum is the checksum to store, over the whole message (the
// view must end where the message does) with the checksum field as zero.
func (m ICMPv4) ComputeChecksum() uint16 {
	sum := Checksum(m[0:2], 0)
	sum = Checksum(m[4:], sum)
	return ^Fold(sum)
}
