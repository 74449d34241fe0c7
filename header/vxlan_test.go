package header

import (
	"bytes"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// TestVXLANSet checks the bytes a sender writes against RFC 7348 section 5
// written out by hand, and that the getters read them back.
func TestVXLANSet(t *testing.T) {
	v := VXLAN(bytes.Repeat([]byte{0xff}, VXLANLen+2))
	v.Set(42)
	want := []byte{0x08, 0, 0, 0, 0, 0, 42, 0}
	if !bytes.Equal(v[:VXLANLen], want) {
		t.Fatalf("header % x, want % x", []byte(v[:VXLANLen]), want)
	}
	if !v.Valid() || !v.HasVNI() || v.VNI() != 42 || v.Flags() != VXLANFlagI {
		t.Errorf("getters: valid %v I %v vni %d flags %#x", v.Valid(), v.HasVNI(), v.VNI(), v.Flags())
	}
	if len(v.Payload()) != 2 || v.Payload()[0] != 0xff {
		t.Errorf("payload %x, want the two bytes after the header", v.Payload())
	}
	v.Set(VXLANMaxVNI)
	if v.VNI() != VXLANMaxVNI || v[7] != 0 {
		t.Errorf("max VNI: got %d, reserved byte %#x", v.VNI(), v[7])
	}
}

// TestVXLANReservedIgnored: a receiver reads the VNI and the I flag whatever
// the reserved bits hold (RFC 7348: "MUST be ignored on receipt").
func TestVXLANReservedIgnored(t *testing.T) {
	v := VXLAN{0xff, 0xff, 0xff, 0xff, 0x12, 0x34, 0x56, 0xff}
	if !v.HasVNI() || v.VNI() != 0x123456 {
		t.Errorf("all reserved bits set: I %v vni %#x, want true 0x123456", v.HasVNI(), v.VNI())
	}
	v[0] = 0xf7 // every bit but I
	if v.HasVNI() {
		t.Error("I flag clear reported as set")
	}
	if VXLAN(make([]byte, VXLANLen-1)).Valid() {
		t.Error("7 bytes reported valid")
	}
}

func TestVXLANOverhead(t *testing.T) {
	if VXLANOverhead4 != 50 || VXLANOverhead6 != 70 {
		t.Errorf("overheads %d and %d, want 50 and 70 (RFC 7348, Linux vxlan)", VXLANOverhead4, VXLANOverhead6)
	}
}

func BenchmarkVXLANParse(b *testing.B) {
	v := make(VXLAN, 64)
	v.Set(4242)
	b.ReportAllocs()
	var sum uint32
	for i := 0; i < b.N; i++ {
		if v.Valid() && v.HasVNI() {
			sum += v.VNI()
		}
	}
	if sum == 0 {
		b.Fatal("no VNI read")
	}
}

// FuzzVXLAN holds the view against gopacket's reading of the same bytes.
func FuzzVXLAN(f *testing.F) {
	f.Add([]byte{0x08, 0, 0, 0, 0, 0, 42, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2})
	f.Add([]byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		v := VXLAN(b)
		if !v.Valid() {
			return
		}
		var g layers.VXLAN
		if err := g.DecodeFromBytes(bytes.Clone(b), gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("gopacket refuses %d bytes: %v", len(b), err)
		}
		if g.ValidIDFlag != v.HasVNI() || g.VNI != v.VNI() {
			t.Fatalf("gopacket reads I %v vni %d, we %v %d", g.ValidIDFlag, g.VNI, v.HasVNI(), v.VNI())
		}
		if len(v.Payload()) != len(b)-VXLANLen {
			t.Fatalf("payload %d bytes of %d", len(v.Payload()), len(b))
		}
	})
}
