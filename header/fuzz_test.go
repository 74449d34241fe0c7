package header

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// The parsers the dataplane runs on every frame, each under the same rule:
// whatever the bytes, a view that says Valid() has accessors that never
// panic and payloads inside the frame, and gopacket, where it decodes the
// same bytes, reads the same fields. (IPv4, TCP and ARP have theirs beside
// their tests.)

func FuzzEthernet(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0x42, 0, 0, 0, 1, 0x08, 0x06, 0, 1})
	f.Add([]byte{1, 0, 0x5e, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x86, 0xdd})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		e := Ethernet(b)
		if !e.Valid() {
			if len(b) >= EthernetLen {
				t.Fatalf("%d bytes judged too short", len(b))
			}
			return
		}
		dst, src := e.Dst(), e.Src()
		_, _, _ = dst.IsBroadcast(), dst.IsMulticast(), src.IsZero()
		if MACFromUint64(src.Uint64()) != src {
			t.Fatalf("MAC %v does not survive Uint64", src)
		}
		if m, err := ParseMAC(src.String()); err != nil || m != src {
			t.Fatalf("MAC %v printed as %q parses back as %v, %v", src, src.String(), m, err)
		}
		if len(e.Payload()) != len(b)-EthernetLen {
			t.Fatalf("payload %d bytes of a %d-byte frame", len(e.Payload()), len(b))
		}
		var g layers.Ethernet
		if err := g.DecodeFromBytes(bytes.Clone(b), gopacket.NilDecodeFeedback); err == nil {
			if MAC(g.DstMAC) != dst || MAC(g.SrcMAC) != src {
				t.Fatalf("gopacket reads %v > %v, we %v > %v", g.SrcMAC, g.DstMAC, src, dst)
			}
		}
	})
}

func FuzzUDP(f *testing.F) {
	f.Add([]byte{0, 53, 0x30, 0x39, 0, 12, 0, 0, 1, 2, 3, 4})
	f.Add([]byte{0, 53, 0x30, 0x39, 0xff, 0xff, 0, 0})
	f.Add([]byte{0, 53, 0x30, 0x39, 0, 3, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		u := UDP(b)
		if !u.Valid() {
			return
		}
		p := u.Payload()
		if len(p) > len(b)-UDPLen {
			t.Fatalf("payload %d bytes, past the %d-byte view", len(p), len(b))
		}
		if n := int(u.Length()); n >= UDPLen && n <= len(b) && len(p) != n-UDPLen {
			t.Fatalf("Length %d but payload %d bytes", n, len(p))
		}
		src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		c := UDP(bytes.Clone(b))
		c.SetChecksum(0)
		c.SetChecksum(c.ComputeChecksum(src, dst))
		if c.Checksum() == 0 {
			t.Fatal("a computed UDP checksum of 0 must be sent as 0xffff")
		}
		// An incremental update gives what a full computation gives.
		old := c.SrcPort()
		c.SetSrcPort(old ^ 0x5a5a)
		c.UpdateChecksum16(old, old^0x5a5a)
		if want := func() uint16 { d := UDP(bytes.Clone(c)); d.SetChecksum(0); return d.ComputeChecksum(src, dst) }(); c.Checksum() != want && !(c.Checksum() == 0xffff && want == 0xffff) {
			t.Fatalf("after a port rewrite the incremental checksum is %#04x, a full one %#04x", c.Checksum(), want)
		}
	})
}

func FuzzICMPv4(f *testing.F) {
	f.Add([]byte{8, 0, 0, 0, 0, 7, 0, 1, 'h', 'i'})
	f.Add([]byte{3, 4, 0, 0, 0, 0, 5, 0xdc, 0x45, 0, 0, 20})
	f.Add([]byte{11, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := ICMPv4(b)
		if !m.Valid() {
			return
		}
		_, _, _, _, _ = m.Type(), m.Code(), m.ID(), m.Seq(), m.MTU()
		_ = m.IsError()
		if len(m.Payload()) != len(b)-ICMPv4MinLen {
			t.Fatalf("payload %d bytes of %d", len(m.Payload()), len(b))
		}
		c := ICMPv4(bytes.Clone(b))
		c.SetChecksum(0)
		c.SetChecksum(c.ComputeChecksum())
		var g layers.ICMPv4
		if err := g.DecodeFromBytes(bytes.Clone(c), gopacket.NilDecodeFeedback); err == nil {
			if g.TypeCode.Type() != c.Type() || g.TypeCode.Code() != c.Code() || g.Checksum != c.Checksum() {
				t.Fatalf("gopacket reads %v checksum %#04x, we %d/%d %#04x", g.TypeCode, g.Checksum, c.Type(), c.Code(), c.Checksum())
			}
		}
	})
}

func FuzzIPv6(f *testing.F) {
	hdr := []byte{0x60, 0, 0, 0, 0, 8, 17, 64}
	hdr = append(hdr, netip.MustParseAddr("fd00::1").AsSlice()...)
	hdr = append(hdr, netip.MustParseAddr("fd00::2").AsSlice()...)
	f.Add(append(bytes.Clone(hdr), 0, 53, 0, 53, 0, 8, 0, 0))
	f.Add(hdr)
	f.Add([]byte{0x60, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ip := IPv6(b)
		if !ip.Valid() {
			return
		}
		_, _ = ip.NextHeader(), ip.HopLimit()
		src, dst := ip.Src(), ip.Dst()
		if !src.Is6() || !dst.Is6() {
			t.Fatalf("Src %v Dst %v not IPv6", src, dst)
		}
		p := ip.Payload()
		if len(p) > len(b)-IPv6MinLen || (IPv6MinLen+int(ip.PayloadLen()) <= len(b) && len(p) != int(ip.PayloadLen())) {
			t.Fatalf("payload %d bytes for PayloadLen %d in %d bytes", len(p), ip.PayloadLen(), len(b))
		}
		var g layers.IPv6
		if err := g.DecodeFromBytes(bytes.Clone(b), gopacket.NilDecodeFeedback); err == nil && g.HopByHop == nil {
			if g.HopLimit != ip.HopLimit() || uint8(g.NextHeader) != ip.NextHeader() || g.Length != ip.PayloadLen() {
				t.Fatalf("gopacket reads %+v", g)
			}
		}
	})
}

func FuzzVirtioNetHdr(f *testing.F) {
	f.Add([]byte{1, 1, 54, 0, 0xa8, 5, 34, 0, 16, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0x81, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < VirtioNetHdrLen {
			return
		}
		v := VirtioNetHdr(b)
		_, _, _, _ = v.Flags(), v.HdrLen(), v.GSOSize(), v.CsumStart()
		_ = v.CsumOffset()
		if v.IsGSO() != (v.GSOType()&^VirtioGSOECN != VirtioGSONone) {
			t.Fatalf("IsGSO %v for GSO type %#x", v.IsGSO(), v.GSOType())
		}
		c := VirtioNetHdr(bytes.Clone(b))
		c.SetGSOSize(v.GSOSize())
		c.SetCsumStart(v.CsumStart())
		c.SetCsumOffset(v.CsumOffset())
		if !bytes.Equal(c[:VirtioNetHdrLen], b[:VirtioNetHdrLen]) {
			t.Fatalf("setters do not write back what the getters read: %x vs %x", c[:VirtioNetHdrLen], b[:VirtioNetHdrLen])
		}
		c.Clear()
		if c.IsGSO() || c.Flags() != 0 {
			t.Fatal("Clear left a GSO type or flags")
		}
	})
}
