package header

import (
	"bytes"
	"testing"
)

// vlanTestBuf is a virtio_net_hdr with NEEDS_CSUM and GSO (csum_start 34,
// hdr_len 54) and a frame dst, src, ethertype IPv4, payload.
func vlanTestBuf() []byte {
	b := make([]byte, VirtioNetHdrLen+EthernetLen+40)
	vh := VirtioNetHdr(b)
	vh.SetFlags(VirtioNetHdrFNeedsCsum)
	vh.SetGSOType(VirtioGSOTCPv4)
	vh.SetCsumStart(34)
	vh.SetCsumOffset(16)
	vh.SetHdrLen(54)
	vh.SetGSOSize(1448)
	e := Ethernet(b[VirtioNetHdrLen:])
	e.SetDst(MAC{2, 0, 0, 0, 0, 1})
	e.SetSrc(MAC{2, 0, 0, 0, 0, 2})
	e.SetType(EtherTypeIPv4)
	for i := range e.Payload() {
		e.Payload()[i] = byte(i)
	}
	return b
}

// A tagged head put in front of the rest of the buffer is the tagged
// frame: the tag after the addresses, csum_start and hdr_len 4 bytes on,
// the buffer unchanged; popping it gives the original back.
func TestPutTaggedHeadAndPop(t *testing.T) {
	buf := vlanTestBuf()
	orig := bytes.Clone(buf)
	var head [TaggedHeadLen]byte
	PutTaggedHead(head[:], buf, 10)
	if !bytes.Equal(buf, orig) {
		t.Fatal("PutTaggedHead changed the buffer")
	}
	tagged := append(head[:], buf[VirtioNetHdrLen+MACsLen:]...)
	vh := VirtioNetHdr(tagged)
	if vh.CsumStart() != 38 || vh.HdrLen() != 58 || vh.CsumOffset() != 16 || vh.GSOSize() != 1448 || vh.GSOType() != VirtioGSOTCPv4 {
		t.Errorf("tagged virtio_net_hdr: csum_start %d hdr_len %d csum_offset %d gso_size %d type %d",
			vh.CsumStart(), vh.HdrLen(), vh.CsumOffset(), vh.GSOSize(), vh.GSOType())
	}
	e := Ethernet(tagged[VirtioNetHdrLen:])
	tag := VLANTag(e[12:])
	if e.Type() != EtherTypeVLAN || tag.VID() != 10 || tag.TPID() != EtherTypeVLAN || Ethernet(e[4:]).Type() != EtherTypeIPv4 {
		t.Errorf("tagged frame % x", e[:18])
	}
	if e.Dst() != (MAC{2, 0, 0, 0, 0, 1}) || e.Src() != (MAC{2, 0, 0, 0, 0, 2}) {
		t.Errorf("addresses moved: % x", e[:12])
	}
	out, tpid, vid, ok := PopVLAN(tagged)
	if !ok || tpid != EtherTypeVLAN || vid != 10 {
		t.Fatalf("PopVLAN: ok %v tpid %04x vid %d", ok, tpid, vid)
	}
	if !bytes.Equal(out, orig) {
		t.Errorf("popped\n % x\nwant\n % x", out, orig)
	}
}

// The VLAN id is the TCI's low 12 bits: priority bits are not part of it.
func TestVLANTagFields(t *testing.T) {
	tag := VLANTag{0x81, 0x00, 0xa0 | 0x0f, 0xfe} // PCP 5, VID 4094
	if !tag.Valid() || tag.TPID() != EtherTypeVLAN || tag.VID() != 4094 || tag.TCI() != 0xaffe {
		t.Errorf("tpid %04x tci %04x vid %d", tag.TPID(), tag.TCI(), tag.VID())
	}
	if !IsVLANType(EtherTypeQinQ) || IsVLANType(EtherTypeIPv4) {
		t.Error("IsVLANType")
	}
}

// A buffer too short to hold a tag is not popped; a plain frame without
// NEEDS_CSUM or hdr_len keeps those zero when shifted.
func TestPopVLANShortAndPlain(t *testing.T) {
	if _, _, _, ok := PopVLAN(make([]byte, VirtioNetHdrLen+16)); ok {
		t.Error("popped a 16-byte frame")
	}
	vh := VirtioNetHdr(make([]byte, VirtioNetHdrLen))
	vh.ShiftL2(4)
	if vh.CsumStart() != 0 || vh.HdrLen() != 0 {
		t.Errorf("plain header shifted: csum_start %d hdr_len %d", vh.CsumStart(), vh.HdrLen())
	}
}

func BenchmarkPutTaggedHead(b *testing.B) {
	buf := vlanTestBuf()
	var head [TaggedHeadLen]byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		PutTaggedHead(head[:], buf, 10)
	}
}

// BenchmarkPopVLAN: the tag taken out in place (22 bytes moved), then put
// back the same way for the next round.
func BenchmarkPopVLAN(b *testing.B) {
	const at = VirtioNetHdrLen + MACsLen
	plain := vlanTestBuf()
	buf := make([]byte, len(plain)+VLANTagLen)
	copy(buf, plain[:at])
	PutVLANTag(buf[at:], 10)
	copy(buf[at+VLANTagLen:], plain[at:])
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		out, _, vid, ok := PopVLAN(buf)
		if !ok || vid != 10 {
			b.Fatalf("PopVLAN: vid %d ok %v", vid, ok)
		}
		copy(buf[:at], out[:at]) // and back: the head 4 bytes down again, the tag after it
		PutVLANTag(buf[at:], 10)
	}
}
