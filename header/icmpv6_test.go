package header

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestLinkLocalFromMAC(t *testing.T) {
	// What Linux gives a TAP with this MAC (ip -6 addr, addr_gen_mode eui64).
	got := LinkLocalFromMAC(MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02})
	if want := netip.MustParseAddr("fe80::42:acff:fe11:2"); got != want {
		t.Errorf("LinkLocalFromMAC = %v, want %v", got, want)
	}
	got = LinkLocalFromMAC(MAC{0x00, 0x1b, 0x21, 0x3a, 0x4b, 0x5c}) // universal: the bit is set
	if want := netip.MustParseAddr("fe80::21b:21ff:fe3a:4b5c"); got != want {
		t.Errorf("LinkLocalFromMAC = %v, want %v", got, want)
	}
}

func TestSolicitedNodeAndMAC(t *testing.T) {
	a := netip.MustParseAddr("fd00:1:2:3::abcd:1234")
	sn := SolicitedNode(a)
	if want := netip.MustParseAddr("ff02::1:ffcd:1234"); sn != want {
		t.Errorf("SolicitedNode = %v, want %v", sn, want)
	}
	if m, want := MulticastMAC6(sn), (MAC{0x33, 0x33, 0xff, 0xcd, 0x12, 0x34}); m != want {
		t.Errorf("MulticastMAC6 = %v, want %v", m, want)
	}
	if !MulticastMAC6(sn).IsMulticast() {
		t.Error("33:33:... must be a group address")
	}
}

func TestIPv6Setters(t *testing.T) {
	ip := IPv6(make([]byte, IPv6MinLen))
	src, dst := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1")
	ip.Init(32, ProtoICMPv6, 255)
	ip.SetSrc(src)
	ip.SetDst(dst)
	var p gopacket.Packet = gopacket.NewPacket(ip, layers.LayerTypeIPv6, gopacket.NoCopy)
	g, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if !ok {
		t.Fatal("gopacket does not read the header")
	}
	if g.Version != 6 || g.Length != 32 || g.NextHeader != layers.IPProtocolICMPv6 || g.HopLimit != 255 ||
		addrOf(g.SrcIP) != src || addrOf(g.DstIP) != dst {
		t.Errorf("gopacket reads %+v", g)
	}
	if !ip.SrcIs(src) || ip.SrcIs(dst) || !ip.DstIs(dst) || ip.DstIs(src) {
		t.Error("SrcIs/DstIs")
	}
}

func TestICMPv6ChecksumAgainstGopacket(t *testing.T) {
	src, dst := netip.MustParseAddr("fd00:1::2"), netip.MustParseAddr("fd00:1::1")
	ip6 := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 64, SrcIP: netIP(src), DstIP: netIP(dst)}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
	ic.SetNetworkLayerForChecksum(ip6)
	echo := &layers.ICMPv6Echo{Identifier: 0x1234, SeqNumber: 7}
	b := serialize(t, ip6, ic, echo, gopacketPayload([]byte("odd length!")))
	m := ICMPv6(IPv6(b).Payload())
	if !m.Valid() || m.Type() != ICMPv6EchoRequest || m.Code() != 0 {
		t.Fatalf("type %d code %d", m.Type(), m.Code())
	}
	if !m.ChecksumValid(src, dst) {
		t.Error("ChecksumValid = false on gopacket's message")
	}
	if got := m.ComputeChecksum(src, dst); got != m.Checksum() {
		t.Errorf("ComputeChecksum = %#04x, gopacket wrote %#04x", got, m.Checksum())
	}
	if m.ChecksumValid(dst, src.Next()) {
		t.Error("ChecksumValid = true with another pseudo-header")
	}
	m[len(m)-1] ^= 1
	if m.ChecksumValid(src, dst) {
		t.Error("ChecksumValid = true after a payload bit flipped")
	}
}

func TestNDOptions(t *testing.T) {
	mac := MAC{2, 0, 0, 0, 0, 9}
	opts := make([]byte, 16)
	PutNDLLAddr(opts, NDOptSrcLLAddr, mac)
	opts[8], opts[9] = NDOptMTU, 1
	if !NDOptionsValid(opts) {
		t.Fatal("two good options refused")
	}
	if o := NDOption(opts, NDOptSrcLLAddr); len(o) != 8 || MAC(o[2:8]) != mac {
		t.Errorf("NDOption(slla) = % x", o)
	}
	if o := NDOption(opts, NDOptMTU); len(o) != 8 || o[0] != NDOptMTU {
		t.Errorf("NDOption(mtu) = % x", o)
	}
	if NDOption(opts, NDOptPrefix) != nil {
		t.Error("NDOption found an option that is not there")
	}
	for name, bad := range map[string][]byte{
		"zero length": {NDOptSrcLLAddr, 0, 1, 2, 3, 4, 5, 6},
		"too long":    {NDOptSrcLLAddr, 2, 1, 2, 3, 4, 5, 6},
		"one byte":    {NDOptSrcLLAddr},
	} {
		if NDOptionsValid(bad) {
			t.Errorf("%s: NDOptionsValid = true", name)
		}
		if NDOption(bad, NDOptSrcLLAddr) != nil {
			t.Errorf("%s: NDOption returned an option", name)
		}
	}
	if !NDOptionsValid(nil) {
		t.Error("no options is a valid list")
	}
	if !bytes.Equal(opts[2:8], mac[:]) {
		t.Error("PutNDLLAddr")
	}
}
