package header

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestARPAgainstGopacket(t *testing.T) {
	smac, _ := ParseMAC("02:42:ac:11:00:02")
	tests := []struct {
		name string
		op   uint16
		tmac MAC
		sip  netip.Addr
		tip  netip.Addr
	}{
		{"request", ARPRequest, MAC{}, netip.MustParseAddr("172.17.0.2"), netip.MustParseAddr("172.17.0.1")},
		{"reply", ARPReply, MAC{2, 0, 0, 0, 0, 9}, netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("10.0.0.1")},
		{"gratuitous", ARPRequest, BroadcastMAC, netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("10.0.0.9")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := serialize(t, &layers.ARP{
				AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
				HwAddressSize: 6, ProtAddressSize: 4, Operation: tt.op,
				SourceHwAddress: net.HardwareAddr(smac[:]), SourceProtAddress: netIP(tt.sip),
				DstHwAddress: net.HardwareAddr(tt.tmac[:]), DstProtAddress: netIP(tt.tip),
			})
			b = append(b, make([]byte, 18)...) // padding to a 60-byte frame
			a := ARP(b)
			if !a.Valid() {
				t.Fatalf("Valid() = false for % x", b)
			}
			if a.Op() != tt.op || a.SenderMAC() != smac || a.SenderIP() != tt.sip || a.TargetMAC() != tt.tmac || a.TargetIP() != tt.tip {
				t.Errorf("got op %d %v %v → %v %v", a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP())
			}
		})
	}
}

// TestARPBuildReply turns a request into a reply in place, as the gateway's
// responder does, and reads it back with gopacket.
func TestARPBuildReply(t *testing.T) {
	gw, _ := ParseMAC("02:00:00:00:00:01")
	b := make([]byte, ARPLen)
	a := ARP(b)
	a.SetIPv4OverEthernet()
	a.SetOp(ARPReply)
	a.SetSenderMAC(gw)
	a.SetSenderIP(netip.MustParseAddr("172.18.0.1"))
	a.SetTargetMAC(MAC{2, 0x42, 0xac, 0x12, 0, 2})
	a.SetTargetIP(netip.MustParseAddr("172.18.0.2"))
	if !a.Valid() {
		t.Fatalf("built ARP not valid: % x", b)
	}
	var g layers.ARP
	if err := g.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if g.AddrType != layers.LinkTypeEthernet || g.Protocol != layers.EthernetTypeIPv4 || g.Operation != ARPReply ||
		!bytes.Equal(g.SourceHwAddress, gw[:]) || addrOf(g.SourceProtAddress) != netip.MustParseAddr("172.18.0.1") ||
		!bytes.Equal(g.DstHwAddress, []byte{2, 0x42, 0xac, 0x12, 0, 2}) || addrOf(g.DstProtAddress) != netip.MustParseAddr("172.18.0.2") {
		t.Errorf("gopacket read back %+v", g)
	}
}

func TestARPValid(t *testing.T) {
	good := func() []byte {
		b := make([]byte, ARPLen)
		ARP(b).SetIPv4OverEthernet()
		return b
	}
	tests := []struct {
		name string
		mod  func([]byte) []byte
		want bool
	}{
		{"good", func(b []byte) []byte { return b }, true},
		{"short", func(b []byte) []byte { return b[:27] }, false},
		{"htype 6 (IEEE 802)", func(b []byte) []byte { b[1] = 6; return b }, false},
		{"ptype IPv6", func(b []byte) []byte { b[2], b[3] = 0x86, 0xdd; return b }, false},
		{"hlen 8", func(b []byte) []byte { b[4] = 8; return b }, false},
		{"plen 16", func(b []byte) []byte { b[5] = 16; return b }, false},
	}
	for _, tt := range tests {
		if got := ARP(tt.mod(good())).Valid(); got != tt.want {
			t.Errorf("%s: Valid() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// FuzzARP: Valid()==true means every accessor and setter is safe and
// agrees with gopacket.
func FuzzARP(f *testing.F) {
	req := make([]byte, ARPLen)
	a := ARP(req)
	a.SetIPv4OverEthernet()
	a.SetOp(ARPRequest)
	a.SetSenderMAC(MAC{2, 0, 0, 0, 0, 2})
	a.SetSenderIP(netip.MustParseAddr("10.0.0.2"))
	a.SetTargetIP(netip.MustParseAddr("10.0.0.1"))
	f.Add(req)
	f.Add(req[:20])
	f.Add(append(bytes.Clone(req), 0, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		a := ARP(b)
		if !a.Valid() {
			return
		}
		op, smac, sip, tmac, tip := a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP()
		if !sip.Is4() || !tip.Is4() {
			t.Fatalf("addresses %v %v not IPv4", sip, tip)
		}
		var g layers.ARP
		if err := g.DecodeFromBytes(bytes.Clone(b), gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("gopacket rejects a valid ARP: %v", err)
		}
		if g.Operation != op || !bytes.Equal(g.SourceHwAddress, smac[:]) || addrOf(g.SourceProtAddress) != sip ||
			!bytes.Equal(g.DstHwAddress, tmac[:]) || addrOf(g.DstProtAddress) != tip {
			t.Fatalf("gopacket disagrees: %+v", g)
		}
		c := ARP(bytes.Clone(b))
		c.SetOp(ARPReply)
		c.SetSenderMAC(tmac)
		c.SetSenderIP(tip)
		c.SetTargetMAC(smac)
		c.SetTargetIP(sip)
		if !c.Valid() || c.SenderIP() != tip || c.TargetIP() != sip || c.SenderMAC() != tmac || c.TargetMAC() != smac {
			t.Fatal("setters did not round-trip")
		}
	})
}
