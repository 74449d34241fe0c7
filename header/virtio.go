package header

import "encoding/binary"

// VirtioNetHdrLen is the size of struct virtio_net_hdr (no num_buffers): what
// a TAP with IFF_VNET_HDR (default TUNSETVNETHDRSZ) and an AF_PACKET socket
// with PACKET_VNET_HDR put in front of every frame. Every buffer in the
// dataplane starts with one, so a frame moves between ports without a copy.
const VirtioNetHdrLen = 10

// virtio_net_hdr flags and GSO types (include/uapi/linux/virtio_net.h).
const (
	VirtioNetHdrFNeedsCsum = 1 // csum_start/csum_offset are valid: L4 checksum left to complete
	VirtioNetHdrFDataValid = 2

	VirtioGSONone  = 0
	VirtioGSOTCPv4 = 1
	VirtioGSOUDP   = 3
	VirtioGSOTCPv6 = 4
	VirtioGSOUDPL4 = 5
	VirtioGSOECN   = 0x80
)

// VirtioNetHdr is a view over struct virtio_net_hdr. Fields are in the
// device's native byte order, which on every Linux host we run on (x86,
// arm64) is little endian: TAP and AF_PACKET use the host's order unless
// TUNSETVNETBE is set, and we never set it.
type VirtioNetHdr []byte

func (v VirtioNetHdr) Flags() uint8        { return v[0] }
func (v VirtioNetHdr) GSOType() uint8      { return v[1] }
func (v VirtioNetHdr) HdrLen() uint16      { return binary.LittleEndian.Uint16(v[2:4]) }
func (v VirtioNetHdr) GSOSize() uint16     { return binary.LittleEndian.Uint16(v[4:6]) }
func (v VirtioNetHdr) CsumStart() uint16   { return binary.LittleEndian.Uint16(v[6:8]) }
func (v VirtioNetHdr) CsumOffset() uint16  { return binary.LittleEndian.Uint16(v[8:10]) }
func (v VirtioNetHdr) SetFlags(f uint8)    { v[0] = f }
func (v VirtioNetHdr) SetGSOType(t uint8)  { v[1] = t }
func (v VirtioNetHdr) SetHdrLen(n uint16)  { binary.LittleEndian.PutUint16(v[2:4], n) }
func (v VirtioNetHdr) SetGSOSize(n uint16) { binary.LittleEndian.PutUint16(v[4:6], n) }
func (v VirtioNetHdr) SetCsumStart(n uint16) {
	binary.LittleEndian.PutUint16(v[6:8], n)
}
func (v VirtioNetHdr) SetCsumOffset(n uint16) {
	binary.LittleEndian.PutUint16(v[8:10], n)
}

// IsGSO reports a super-frame the receiver (or the egress device) segments.
func (v VirtioNetHdr) IsGSO() bool { return v[1]&^VirtioGSOECN != VirtioGSONone }

// Clear zeroes the header: a plain, fully checksummed frame.
func (v VirtioNetHdr) Clear() { clear(v[:VirtioNetHdrLen]) }
