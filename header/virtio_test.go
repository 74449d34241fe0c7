package header

import (
	"bytes"
	"testing"
)

// TestVirtioNetHdr checks the layout of struct virtio_net_hdr, little
// endian, against bytes written out by hand.
func TestVirtioNetHdr(t *testing.T) {
	v := make(VirtioNetHdr, VirtioNetHdrLen)
	v.SetFlags(VirtioNetHdrFNeedsCsum)
	v.SetGSOType(VirtioGSOTCPv4 | VirtioGSOECN)
	v.SetHdrLen(66)
	v.SetGSOSize(1448)
	v.SetCsumStart(34)
	v.SetCsumOffset(16)
	want := []byte{1, 0x81, 66, 0, 0xa8, 0x05, 34, 0, 16, 0}
	if !bytes.Equal(v, want) {
		t.Fatalf("bytes % x, want % x", []byte(v), want)
	}
	if v.Flags() != 1 || v.GSOType() != 0x81 || v.HdrLen() != 66 || v.GSOSize() != 1448 || v.CsumStart() != 34 || v.CsumOffset() != 16 {
		t.Error("getters disagree with setters")
	}
	if !v.IsGSO() {
		t.Error("TCPv4|ECN is GSO")
	}
	v.SetGSOType(VirtioGSOECN)
	if v.IsGSO() {
		t.Error("ECN alone is not GSO")
	}
	v.Clear()
	if !bytes.Equal(v, make([]byte, VirtioNetHdrLen)) || v.IsGSO() {
		t.Error("Clear left bytes set")
	}
}
