package header

import (
	"bytes"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestEthernetAgainstGopacket(t *testing.T) {
	src, dst := MAC{2, 0x42, 0xac, 0x11, 0, 2}, BroadcastMAC
	b := serialize(t, &layers.Ethernet{SrcMAC: net.HardwareAddr(src[:]), DstMAC: net.HardwareAddr(dst[:]),
		EthernetType: layers.EthernetTypeARP}, gopacketPayload([]byte{1, 2, 3})) // padded to 60 bytes
	e := Ethernet(b)
	if !e.Valid() || e.Src() != src || e.Dst() != dst || e.Type() != EtherTypeARP || !bytes.HasPrefix(e.Payload(), []byte{1, 2, 3}) || len(b) != 60 {
		t.Fatalf("read %v → %v type %#x payload % x", e.Src(), e.Dst(), e.Type(), e.Payload())
	}
	e.SetSrc(dst)
	e.SetDst(src)
	e.SetType(EtherTypeIPv6)
	var g layers.Ethernet
	if err := g.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.SrcMAC, dst[:]) || !bytes.Equal(g.DstMAC, src[:]) || g.EthernetType != layers.EthernetTypeIPv6 {
		t.Errorf("gopacket read back %+v", g)
	}
	if Ethernet(make([]byte, 13)).Valid() {
		t.Error("13 bytes valid")
	}
}

func TestMAC(t *testing.T) {
	tests := []struct {
		in         string
		ok         bool
		mcast, bc  bool
		zero       bool
		canonical  string
		uint64form uint64
	}{
		{"02:42:ac:11:00:02", true, false, false, false, "02:42:ac:11:00:02", 0x0242ac110002},
		{"FF-FF-FF-FF-FF-FF", true, true, true, false, "ff:ff:ff:ff:ff:ff", 0xffffffffffff},
		{"01:00:5e:00:00:fb", true, true, false, false, "01:00:5e:00:00:fb", 0x01005e0000fb},
		{"00:00:00:00:00:00", true, false, false, true, "00:00:00:00:00:00", 0},
		{"02:42:ac:11:00", false, false, false, false, "", 0},
		{"02:42:ac:11:00:0g", false, false, false, false, "", 0},
		{"02.42.ac.11.00.02", false, false, false, false, "", 0},
	}
	for _, tt := range tests {
		m, err := ParseMAC(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseMAC(%q) err = %v", tt.in, err)
			continue
		}
		if !tt.ok {
			continue
		}
		if m.IsMulticast() != tt.mcast || m.IsBroadcast() != tt.bc || m.IsZero() != tt.zero || m.String() != tt.canonical {
			t.Errorf("%q: multicast %v broadcast %v zero %v string %q", tt.in, m.IsMulticast(), m.IsBroadcast(), m.IsZero(), m)
		}
		if m.Uint64() != tt.uint64form || MACFromUint64(m.Uint64()) != m {
			t.Errorf("%q: Uint64 %#x", tt.in, m.Uint64())
		}
	}
}
