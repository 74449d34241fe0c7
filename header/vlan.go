package header

import "encoding/binary"

// IEEE 802.1Q tags. A tagged frame carries 4 bytes between the source MAC
// and the ethertype: a TPID (0x8100 for a customer tag, 0x88a8 for a
// service tag) and a TCI (3 bits of priority, 1 drop-eligible bit, a
// 12-bit VLAN id).
const (
	EtherTypeQinQ = 0x88a8 // 802.1ad service tag
	VLANTagLen    = 4
	// VLANMax is the highest VLAN id a network may carry: 0 marks a
	// priority-tagged frame (no VLAN) and 4095 is reserved.
	VLANMax = 4094
	// MACsLen is the two addresses a tag goes after.
	MACsLen = 12
	// TaggedHeadLen is what PutTaggedHead writes: the virtio_net_hdr, the
	// two addresses and the tag.
	TaggedHeadLen = VirtioNetHdrLen + MACsLen + VLANTagLen
)

// IsVLANType reports an ethertype that is a tag's TPID, a customer or a
// service one.
func IsVLANType(t uint16) bool { return t == EtherTypeVLAN || t == EtherTypeQinQ }

// VLANTag is a view over a tag: TPID then TCI. Valid before use.
type VLANTag []byte

func (t VLANTag) Valid() bool  { return len(t) >= VLANTagLen }
func (t VLANTag) TPID() uint16 { return binary.BigEndian.Uint16(t[0:2]) }
func (t VLANTag) TCI() uint16  { return binary.BigEndian.Uint16(t[2:4]) }

// VID is the VLAN id, the TCI's low 12 bits.
func (t VLANTag) VID() uint16 { return t.TCI() & 0x0fff }

// PutVLANTag writes a customer tag for vid (priority 0) into b[:4].
func PutVLANTag(b []byte, vid uint16) {
	binary.BigEndian.PutUint16(b[0:2], EtherTypeVLAN)
	binary.BigEndian.PutUint16(b[2:4], vid&0x0fff)
}

// ShiftL2 moves the offsets a virtio_net_hdr counts from the start of the
// frame by delta bytes: +4 when a tag goes in in front of the L3 header,
// -4 when one comes out. csum_start counts only with NEEDS_CSUM; hdr_len
// (the headers' length, or for what the kernel hands over the linear part)
// only when it is set.
func (v VirtioNetHdr) ShiftL2(delta int) {
	if v.Flags()&VirtioNetHdrFNeedsCsum != 0 {
		v.SetCsumStart(uint16(int(v.CsumStart()) + delta))
	}
	if h := int(v.HdrLen()); h != 0 && h+delta >= 0 {
		v.SetHdrLen(uint16(h + delta))
	}
}

// PopVLAN takes the tag out of buf (virtio_net_hdr + a tagged frame) in
// place: the virtio_net_hdr and the two addresses move 4 bytes up over the
// tag, so nothing but those 22 bytes is copied, and the frame then starts 4
// bytes later. It returns the untagged buffer (inside buf) and the tag's
// TPID and VLAN id; ok is false when buf is too short to hold a tag.
func PopVLAN(buf []byte) (out []byte, tpid, vid uint16, ok bool) {
	const at = VirtioNetHdrLen + MACsLen
	if len(buf) < at+VLANTagLen+2 {
		return buf, 0, 0, false
	}
	tag := VLANTag(buf[at:])
	tpid, vid = tag.TPID(), tag.VID()
	copy(buf[VLANTagLen:at+VLANTagLen], buf[:at])
	out = buf[VLANTagLen:]
	VirtioNetHdr(out).ShiftL2(-VLANTagLen)
	return out, tpid, vid, true
}

// PutTaggedHead writes into dst (TaggedHeadLen bytes) the head of buf
// (virtio_net_hdr + an untagged frame) as it is once tagged with vid: the
// virtio_net_hdr with its offsets moved by the tag, the two addresses, the
// tag. The frame then goes on with buf[VirtioNetHdrLen+MACsLen:], so a
// writer can send the tagged frame as two pieces (an iovec) and leave buf
// itself untouched: a flooded frame is shared by every egress. buf must
// hold at least VirtioNetHdrLen+MACsLen bytes.
func PutTaggedHead(dst, buf []byte, vid uint16) {
	const at = VirtioNetHdrLen + MACsLen
	copy(dst[:at], buf[:at])
	VirtioNetHdr(dst).ShiftL2(VLANTagLen)
	PutVLANTag(dst[at:TaggedHeadLen], vid)
}
