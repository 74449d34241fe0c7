package header

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestIPv4AgainstGopacket(t *testing.T) {
	src, dst := netip.MustParseAddr("172.17.0.2"), netip.MustParseAddr("8.8.4.4")
	tests := []struct {
		name  string
		ip    layers.IPv4
		l4    gopacket.SerializableLayer
		data  []byte
		pad   int // Ethernet-style trailing bytes past TotalLen
		hl    int
		df    bool
		mf    bool
		fragO uint16
	}{
		{name: "udp DF", ip: layers.IPv4{Flags: layers.IPv4DontFragment, TTL: 64, Protocol: layers.IPProtocolUDP, Id: 0x1234},
			l4: &layers.UDP{SrcPort: 5353, DstPort: 53}, data: []byte("query"), hl: 20, df: true},
		{name: "tcp tos padded", ip: layers.IPv4{TOS: 0xb8, TTL: 1, Protocol: layers.IPProtocolTCP, Id: 0xffff},
			l4: &layers.TCP{SrcPort: 40000, DstPort: 443, SYN: true, Seq: 7, Window: 64240}, pad: 6, hl: 20},
		{name: "icmp with options", ip: layers.IPv4{TTL: 255, Protocol: layers.IPProtocolICMPv4,
			Options: []layers.IPv4Option{{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 0, 0, 0, 0}}}},
			l4: &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 2}, data: []byte("ping"), hl: 28},
		{name: "fragment", ip: layers.IPv4{Flags: layers.IPv4MoreFragments, FragOffset: 185, TTL: 3, Protocol: layers.IPProtocolUDP},
			data: bytes.Repeat([]byte{0xaa}, 64), hl: 20, mf: true, fragO: 185},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ip.Version, tt.ip.SrcIP, tt.ip.DstIP = 4, netIP(src), netIP(dst)
			ls := []gopacket.SerializableLayer{&tt.ip}
			if tt.l4 != nil {
				if c, ok := tt.l4.(interface {
					SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
				}); ok {
					c.SetNetworkLayerForChecksum(&tt.ip)
				}
				ls = append(ls, tt.l4)
			}
			ls = append(ls, gopacket.Payload(tt.data))
			b := serialize(t, ls...)
			wantPayload := append([]byte(nil), b[tt.hl:]...)
			b = append(b, make([]byte, tt.pad)...)

			ip := IPv4(b)
			if !ip.Valid() {
				t.Fatalf("Valid() = false for % x", b)
			}
			if got := ip.HeaderLen(); got != tt.hl {
				t.Errorf("HeaderLen = %d, want %d", got, tt.hl)
			}
			if got, want := ip.TotalLen(), tt.ip.Length; got != want {
				t.Errorf("TotalLen = %d, want %d", got, want)
			}
			if ip.TOS() != tt.ip.TOS || ip.ID() != tt.ip.Id || ip.TTL() != tt.ip.TTL || ip.Protocol() != uint8(tt.ip.Protocol) {
				t.Errorf("TOS/ID/TTL/Protocol = %d/%d/%d/%d, want %d/%d/%d/%d", ip.TOS(), ip.ID(), ip.TTL(), ip.Protocol(),
					tt.ip.TOS, tt.ip.Id, tt.ip.TTL, tt.ip.Protocol)
			}
			if ip.Flags() != uint8(tt.ip.Flags) || ip.DF() != tt.df || ip.MF() != tt.mf || ip.FragmentOffset() != tt.fragO {
				t.Errorf("Flags/DF/MF/FragmentOffset = %d/%v/%v/%d, want %d/%v/%v/%d", ip.Flags(), ip.DF(), ip.MF(), ip.FragmentOffset(),
					tt.ip.Flags, tt.df, tt.mf, tt.fragO)
			}
			if got, want := ip.IsFragment(), tt.mf || tt.fragO != 0; got != want {
				t.Errorf("IsFragment = %v, want %v", got, want)
			}
			if ip.Src() != src || ip.Dst() != dst {
				t.Errorf("Src/Dst = %v/%v, want %v/%v", ip.Src(), ip.Dst(), src, dst)
			}
			if ip.SrcBytes() != src.As4() || ip.DstBytes() != dst.As4() {
				t.Errorf("SrcBytes/DstBytes = %v/%v", ip.SrcBytes(), ip.DstBytes())
			}
			if ip.Checksum() != tt.ip.Checksum || ip.ComputeChecksum() != tt.ip.Checksum || !ip.ChecksumValid() {
				t.Errorf("Checksum %#04x, ComputeChecksum %#04x, gopacket %#04x, valid %v",
					ip.Checksum(), ip.ComputeChecksum(), tt.ip.Checksum, ip.ChecksumValid())
			}
			if !bytes.Equal(ip.Payload(), wantPayload) {
				t.Errorf("Payload = % x, want % x", ip.Payload(), wantPayload)
			}
			if got := len(ip.Options()); got != tt.hl-IPv4MinLen {
				t.Errorf("len(Options) = %d", got)
			}
			// Zero copy: the payload is the frame's own memory.
			if p := ip.Payload(); len(p) > 0 && &p[0] != &b[tt.hl] {
				t.Error("Payload is a copy")
			}
		})
	}
}

// TestIPv4Setters writes every field through the view and reads the packet
// back with gopacket.
func TestIPv4Setters(t *testing.T) {
	b := make([]byte, 24+10)
	ip := IPv4(b)
	ip.SetHeaderLen(24)
	ip.SetTOS(0x10)
	ip.SetTotalLen(uint16(len(b)))
	ip.SetID(0xbeef)
	ip.SetFlagsFragOffset(IPv4FlagDF|IPv4FlagMF, 0x1fff)
	ip.SetTTL(9)
	ip.SetProtocol(ProtoUDP)
	ip.SetSrc(netip.MustParseAddr("10.1.2.3"))
	ip.SetDst(netip.MustParseAddr("::ffff:10.4.5.6")) // IPv4-mapped is accepted
	ip.Options()[0] = 1                               // NOP, NOP, NOP, EOL
	ip.Options()[1] = 1
	ip.Options()[2] = 1
	ip.SetChecksum(ip.ComputeChecksum())
	if !ip.Valid() || !ip.ChecksumValid() {
		t.Fatalf("built header not valid: % x", b)
	}
	var g layers.IPv4
	if err := g.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		t.Fatalf("gopacket: %v", err)
	}
	if g.Version != 4 || g.IHL != 6 || g.TOS != 0x10 || int(g.Length) != len(b) || g.Id != 0xbeef ||
		g.Flags != layers.IPv4DontFragment|layers.IPv4MoreFragments || g.FragOffset != 0x1fff ||
		g.TTL != 9 || g.Protocol != layers.IPProtocolUDP || g.Checksum != ip.Checksum() ||
		addrOf(g.SrcIP) != netip.MustParseAddr("10.1.2.3") || addrOf(g.DstIP) != netip.MustParseAddr("10.4.5.6") {
		t.Errorf("gopacket read back %+v", g)
	}
	ip.SetFlagsFragOffset(0, 0)
	if ip.DF() || ip.MF() || ip.FragmentOffset() != 0 || ip.IsFragment() {
		t.Error("SetFlagsFragOffset(0, 0) left bits set")
	}
}

func TestIPv4Valid(t *testing.T) {
	good := func() []byte {
		b := make([]byte, 28)
		b[0] = 0x45
		binary.BigEndian.PutUint16(b[2:], 28)
		return b
	}
	tests := []struct {
		name string
		mod  func([]byte) []byte
		want bool
	}{
		{"good", func(b []byte) []byte { return b }, true},
		{"padding after TotalLen", func(b []byte) []byte { return append(b, 0, 0) }, true},
		{"header only", func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], 20); return b[:20] }, true},
		{"empty", func(b []byte) []byte { return nil }, false},
		{"19 bytes", func(b []byte) []byte { return b[:19] }, false},
		{"version 6", func(b []byte) []byte { b[0] = 0x65; return b }, false},
		{"IHL 4", func(b []byte) []byte { b[0] = 0x44; return b }, false},
		{"IHL 0", func(b []byte) []byte { b[0] = 0x40; return b }, false},
		{"IHL past end", func(b []byte) []byte { b[0] = 0x48; return b }, false},
		{"IHL 7 fits", func(b []byte) []byte { b[0] = 0x47; return b }, true},
		{"TotalLen past end", func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], 29); return b }, false},
		{"TotalLen below header", func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], 19); return b }, false},
		{"TotalLen below options", func(b []byte) []byte { b[0] = 0x46; binary.BigEndian.PutUint16(b[2:], 23); return b }, false},
		{"TotalLen 0 (Big TCP)", func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], 0); return b }, false},
	}
	for _, tt := range tests {
		if got := IPv4(tt.mod(good())).Valid(); got != tt.want {
			t.Errorf("%s: Valid() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// randIPv4 is a random header of random IHL with a correct checksum.
func randIPv4(r *rand.Rand) IPv4 {
	hl := 4 * (5 + r.IntN(11))
	ip := make(IPv4, hl+r.IntN(40))
	for i := range ip {
		ip[i] = byte(r.Uint32())
	}
	ip.SetHeaderLen(hl)
	ip.SetTotalLen(uint16(len(ip)))
	ip.SetChecksum(ip.ComputeChecksum())
	return ip
}

// TestDecTTLProperty: the incremental update after each decrement equals
// the full recomputation, all the way down to TTL 0.
func TestDecTTLProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for i := 0; i < 3000; i++ {
		ip := randIPv4(r)
		if !ip.Valid() || !ip.ChecksumValid() {
			t.Fatalf("random header invalid: % x", ip)
		}
		for ttl := int(ip.TTL()); ttl > 0; ttl-- {
			if got := ip.DecTTL(); int(got) != ttl-1 || ip.TTL() != got {
				t.Fatalf("DecTTL from %d returned %d, TTL now %d", ttl, got, ip.TTL())
			}
			if got, want := ip.Checksum(), ip.ComputeChecksum(); got != want {
				t.Fatalf("after DecTTL to %d: checksum %#04x, full %#04x (header % x)", ttl-1, got, want, ip.Header())
			}
		}
		before := bytes.Clone(ip)
		if ip.DecTTL() != 0 || !bytes.Equal(ip, before) {
			t.Fatal("DecTTL at TTL 0 changed the header")
		}
	}
}

// TestIPv4AddressRewriteProperty is the NAT step on the IP header: rewrite
// source or destination and update the checksum by RFC 1624.
func TestIPv4AddressRewriteProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for i := 0; i < 20000; i++ {
		ip := randIPv4(r)
		na := randAddr4(r)
		if i%2 == 0 {
			old := ip.SrcBytes()
			ip.SetSrc(na)
			ip.SetChecksum(UpdateChecksum32(ip.Checksum(), old, na.As4()))
		} else {
			old := ip.DstBytes()
			ip.SetDst(na)
			ip.SetChecksum(UpdateChecksum32(ip.Checksum(), old, na.As4()))
		}
		if got, want := ip.Checksum(), ip.ComputeChecksum(); got != want || !ip.ChecksumValid() {
			t.Fatalf("after rewrite: checksum %#04x, full %#04x", got, want)
		}
	}
}

// FuzzIPv4: whatever the bytes, Valid()==true means no accessor panics, the
// views stay inside the frame, and gopacket, when it can decode the header,
// reads the same fields.
func FuzzIPv4(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2})
	f.Add([]byte{0x46, 0, 0, 24, 0, 0, 0x20, 1, 1, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 1, 0, 9, 9})
	f.Add([]byte{0x4f, 0, 0, 20})
	f.Add([]byte{0x45, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		ip := IPv4(b)
		if !ip.Valid() {
			return
		}
		hl, tl := ip.HeaderLen(), int(ip.TotalLen())
		if len(ip.Header()) != hl || len(ip.Payload()) != tl-hl || len(ip.Options()) != hl-IPv4MinLen {
			t.Fatalf("lengths: header %d payload %d options %d for HeaderLen %d TotalLen %d",
				len(ip.Header()), len(ip.Payload()), len(ip.Options()), hl, tl)
		}
		_, _, _, _ = ip.TOS(), ip.ID(), ip.Flags(), ip.FragmentOffset()
		_, _, _ = ip.DF(), ip.MF(), ip.IsFragment()
		_, _ = ip.SrcBytes(), ip.DstBytes()
		src, dst := ip.Src(), ip.Dst()
		if !src.Is4() || !dst.Is4() {
			t.Fatalf("Src %v Dst %v not IPv4", src, dst)
		}
		wasValid := ip.ChecksumValid()
		if ip.ComputeChecksum() == ip.Checksum() && !wasValid {
			t.Fatal("ComputeChecksum matches the field but ChecksumValid is false")
		}

		var g layers.IPv4
		if err := g.DecodeFromBytes(bytes.Clone(b), gopacket.NilDecodeFeedback); err == nil {
			if int(g.IHL)*4 != hl || int(g.Length) != tl || g.TTL != ip.TTL() || uint8(g.Protocol) != ip.Protocol() ||
				addrOf(g.SrcIP) != src || addrOf(g.DstIP) != dst || g.Checksum != ip.Checksum() ||
				uint8(g.Flags) != ip.Flags() || g.FragOffset != ip.FragmentOffset() || g.Id != ip.ID() {
				t.Fatalf("gopacket disagrees: %+v", g)
			}
		}

		// Mutate a copy: setters stay in bounds and keep the view valid.
		c := IPv4(bytes.Clone(b))
		ttl := c.TTL()
		got := c.DecTTL()
		if ttl > 0 && got != ttl-1 || ttl == 0 && got != 0 {
			t.Fatalf("DecTTL from %d gave %d", ttl, got)
		}
		if wasValid && !c.ChecksumValid() {
			t.Fatal("DecTTL broke a valid checksum")
		}
		c.SetSrc(dst)
		c.SetDst(src)
		c.SetID(1)
		c.SetFlagsFragOffset(IPv4FlagDF, 0)
		c.SetTTL(64)
		c.SetTOS(0)
		c.SetProtocol(ProtoTCP)
		c.SetChecksum(c.ComputeChecksum())
		if !c.Valid() || !c.ChecksumValid() {
			t.Fatal("setters broke the header")
		}
	})
}
