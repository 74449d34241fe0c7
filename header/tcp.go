package header

import (
	"encoding/binary"
	"net/netip"
)

// TCPMinLen is the length of a TCP header without options (RFC 9293).
const TCPMinLen = 20

// TCP flags, byte 13 of the header (RFC 9293 3.1, RFC 3168 for ECE/CWR).
const (
	TCPFlagFIN = 0x01
	TCPFlagSYN = 0x02
	TCPFlagRST = 0x04
	TCPFlagPSH = 0x08
	TCPFlagACK = 0x10
	TCPFlagURG = 0x20
	TCPFlagECE = 0x40
	TCPFlagCWR = 0x80
)

// TCP is a view over a TCP header and its payload.
type TCP []byte

// Valid reports a data offset of at least 5 words that fits in the view.
func (t TCP) Valid() bool {
	if len(t) < TCPMinLen {
		return false
	}
	off := t.DataOffset()
	return off >= TCPMinLen && off <= len(t)
}

func (t TCP) SrcPort() uint16     { return binary.BigEndian.Uint16(t[0:2]) }
func (t TCP) DstPort() uint16     { return binary.BigEndian.Uint16(t[2:4]) }
func (t TCP) Seq() uint32         { return binary.BigEndian.Uint32(t[4:8]) }
func (t TCP) Ack() uint32         { return binary.BigEndian.Uint32(t[8:12]) }
func (t TCP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(t[0:2], p) }
func (t TCP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(t[2:4], p) }
func (t TCP) SetSeq(v uint32)     { binary.BigEndian.PutUint32(t[4:8], v) }
func (t TCP) SetAck(v uint32)     { binary.BigEndian.PutUint32(t[8:12], v) }

// DataOffset is the header length in bytes, options included.
func (t TCP) DataOffset() int { return int(t[12]>>4) * 4 }

// SetDataOffset writes the header length n in bytes (a multiple of 4).
func (t TCP) SetDataOffset(n int) { t[12] = t[12]&0x0f | byte(n/4)<<4 }

// Flags is byte 13: TCPFlagFIN ... TCPFlagCWR. (The NS bit of RFC 3540,
// now historic, is not included.)
func (t TCP) Flags() uint8          { return t[13] }
func (t TCP) SetFlags(f uint8)      { t[13] = f }
func (t TCP) Window() uint16        { return binary.BigEndian.Uint16(t[14:16]) }
func (t TCP) SetWindow(w uint16)    { binary.BigEndian.PutUint16(t[14:16], w) }
func (t TCP) Checksum() uint16      { return binary.BigEndian.Uint16(t[16:18]) }
func (t TCP) SetChecksum(c uint16)  { binary.BigEndian.PutUint16(t[16:18], c) }
func (t TCP) UrgentPointer() uint16 { return binary.BigEndian.Uint16(t[18:20]) }
func (t TCP) Options() []byte       { return t[TCPMinLen:t.DataOffset()] }
func (t TCP) Payload() []byte       { return t[t.DataOffset():] }

// ComputeChecksum is the full checksum to store for this segment between
// src and dst. The view must be exactly the segment (the IP payload). An
// egress that cannot finish a CHECKSUM_PARTIAL frame uses it.
func (t TCP) ComputeChecksum(src, dst netip.Addr) uint16 {
	sum := PseudoHeaderSum(src, dst, ProtoTCP, uint16(len(t)))
	sum = Checksum(t[0:16], sum)
	sum = Checksum(t[18:], sum)
	return ^Fold(sum)
}
