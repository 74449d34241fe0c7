package header

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestUDPAgainstGopacket(t *testing.T) {
	tests := []struct {
		name     string
		src, dst netip.Addr
		sp, dp   uint16
		data     []byte
		pad      int
	}{
		{"dns", netip.MustParseAddr("172.17.0.2"), netip.MustParseAddr("8.8.8.8"), 40000, 53, []byte("\x12\x34query"), 0},
		{"empty padded", netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 1, 2, nil, 10},
		{"odd length", netip.MustParseAddr("10.9.8.7"), netip.MustParseAddr("10.6.5.4"), 4789, 4789, []byte{1, 2, 3}, 0},
		{"ipv6", netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::fb"), 5353, 5353, []byte("mdns"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &layers.UDP{SrcPort: layers.UDPPort(tt.sp), DstPort: layers.UDPPort(tt.dp)}
			if tt.src.Is4() {
				g.SetNetworkLayerForChecksum(&layers.IPv4{Version: 4, SrcIP: netIP(tt.src), DstIP: netIP(tt.dst), Protocol: layers.IPProtocolUDP})
			} else {
				g.SetNetworkLayerForChecksum(&layers.IPv6{Version: 6, SrcIP: netIP(tt.src), DstIP: netIP(tt.dst), NextHeader: layers.IPProtocolUDP})
			}
			b := serialize(t, g, gopacketPayload(tt.data))
			u := UDP(b)
			if !u.Valid() || u.SrcPort() != tt.sp || u.DstPort() != tt.dp || u.Length() != g.Length || u.Checksum() != g.Checksum {
				t.Errorf("valid %v ports %d/%d length %d checksum %#04x; gopacket %+v", u.Valid(), u.SrcPort(), u.DstPort(), u.Length(), u.Checksum(), g)
			}
			if got := u.ComputeChecksum(tt.src, tt.dst); got != g.Checksum {
				t.Errorf("ComputeChecksum %#04x, gopacket %#04x", got, g.Checksum)
			}
			padded := UDP(append(b, make([]byte, tt.pad)...))
			if !bytes.Equal(padded.Payload(), tt.data) {
				t.Errorf("Payload = % x, want % x", padded.Payload(), tt.data)
			}
		})
	}
}

func TestUDPSettersAndPayload(t *testing.T) {
	u := make(UDP, UDPLen+4)
	u.SetSrcPort(67)
	u.SetDstPort(68)
	u.SetLength(UDPLen + 4)
	u.SetChecksum(0)
	var g layers.UDP
	if err := g.DecodeFromBytes(u, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if g.SrcPort != 67 || g.DstPort != 68 || g.Length != 12 || g.Checksum != 0 {
		t.Errorf("gopacket read back %+v", g)
	}
	for _, n := range []uint16{0, 7, 100} { // insane Length: the rest of the view
		u.SetLength(n)
		if len(u.Payload()) != 4 {
			t.Errorf("Length %d: payload %d bytes, want the 4 in the view", n, len(u.Payload()))
		}
	}
	if UDP(make([]byte, 7)).Valid() {
		t.Error("7 bytes valid")
	}
}

// TestUDPZeroChecksum: a datagram whose checksum computes to 0 must carry
// 0xffff (RFC 768), since 0 means "none".
func TestUDPZeroChecksum(t *testing.T) {
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	u := make(UDP, UDPLen+2)
	u.SetLength(uint16(len(u)))
	// Choose the payload word so the whole sum is 0xffff.
	s := Fold(Checksum(u, PseudoHeaderSum(src, dst, ProtoUDP, uint16(len(u)))))
	u[8], u[9] = byte(^s>>8), byte(^s)
	if got := u.ComputeChecksum(src, dst); got != 0xffff {
		t.Errorf("ComputeChecksum = %#04x, want 0xffff", got)
	}
}

// TestNATRewriteUDPProperty: address and port rewrites on a UDP datagram
// with a checksum, updated incrementally, equal a full recomputation.
func TestNATRewriteUDPProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	mangled := 0
	for i := 0; i < 20000; i++ {
		u := make(UDP, UDPLen+r.IntN(64))
		for j := range u {
			u[j] = byte(r.Uint32())
		}
		u.SetLength(uint16(len(u)))
		src, dst := randAddr4(r), randAddr4(r)
		u.SetChecksum(u.ComputeChecksum(src, dst))
		nsrc := randAddr4(r)
		u.UpdateChecksum32(src.As4(), nsrc.As4())
		op, np := u.SrcPort(), uint16(r.Uint32())
		if i%50 == 0 {
			// Force the rewritten sum to all ones, so the full checksum
			// is 0 and must go out as 0xffff.
			s := Fold(Checksum(u[2:6], Checksum(u[8:], PseudoHeaderSum(nsrc, dst, ProtoUDP, uint16(len(u))))))
			np = ^s
		}
		u.SetSrcPort(np)
		u.UpdateChecksum16(op, np)
		if got, want := u.Checksum(), u.ComputeChecksum(nsrc, dst); got != want {
			t.Fatalf("UDP checksum %#04x, full %#04x", got, want)
		}
		if u.Checksum() == 0xffff {
			mangled++
		}
	}
	if mangled < 20000/50 {
		t.Errorf("only %d rewrites reached the 0xffff case", mangled)
	}
}

// TestUDPNoChecksumUntouched: a datagram without a checksum keeps none
// through a NAT rewrite.
func TestUDPNoChecksumUntouched(t *testing.T) {
	u := make(UDP, UDPLen)
	u.SetSrcPort(1000)
	u.UpdateChecksum16(1000, 2000)
	u.UpdateChecksum32([4]byte{10, 0, 0, 1}, [4]byte{192, 0, 2, 1})
	if u.Checksum() != 0 {
		t.Errorf("checksum %#04x, want 0 (none)", u.Checksum())
	}
}
