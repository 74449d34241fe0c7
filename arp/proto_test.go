package arp

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"vswitch/header"
)

var (
	gwMAC = header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x01}
	gwIP  = netip.MustParseAddr("172.17.0.1")
	c1MAC = header.MAC{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	c1IP  = netip.MustParseAddr("172.17.0.2")
)

// decode is the reference: gopacket's Ethernet and ARP layers.
func decode(t testing.TB, frame []byte) (*layers.Ethernet, *layers.ARP) {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.NoCopy)
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	arp, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	return eth, arp
}

func TestBuildersAgainstGopacket(t *testing.T) {
	var zero header.MAC
	cases := []struct {
		name   string
		frame  []byte
		ethDst header.MAC
		op     uint16
		sha    header.MAC
		spa    netip.Addr
		tha    header.MAC
		tpa    netip.Addr
	}{
		{"request", BuildRequest(nil, gwMAC, gwIP, c1IP),
			header.BroadcastMAC, OpRequest, gwMAC, gwIP, zero, c1IP},
		{"unicast poll", BuildRequestTo(nil, gwMAC, gwIP, c1MAC, c1IP),
			c1MAC, OpRequest, gwMAC, gwIP, zero, c1IP},
		{"reply", BuildReply(nil, gwMAC, gwIP, c1MAC, c1IP),
			c1MAC, OpReply, gwMAC, gwIP, c1MAC, c1IP},
		{"gratuitous", BuildGratuitous(nil, gwMAC, gwIP),
			header.BroadcastMAC, OpRequest, gwMAC, gwIP, zero, gwIP},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(c.frame) != 42 {
				t.Fatalf("%d bytes, want 42", len(c.frame))
			}
			eth, arp := decode(t, c.frame)
			if eth == nil || arp == nil {
				t.Fatalf("gopacket decodes no Ethernet/ARP from % x", c.frame)
			}
			if !bytes.Equal(eth.DstMAC, c.ethDst[:]) || !bytes.Equal(eth.SrcMAC, c.sha[:]) ||
				eth.EthernetType != layers.EthernetTypeARP {
				t.Errorf("Ethernet %v > %v type %v", eth.SrcMAC, eth.DstMAC, eth.EthernetType)
			}
			spa, tpa := c.spa.As4(), c.tpa.As4()
			if arp.AddrType != layers.LinkTypeEthernet || arp.Protocol != layers.EthernetTypeIPv4 ||
				arp.HwAddressSize != 6 || arp.ProtAddressSize != 4 || arp.Operation != c.op ||
				!bytes.Equal(arp.SourceHwAddress, c.sha[:]) || !bytes.Equal(arp.SourceProtAddress, spa[:]) ||
				!bytes.Equal(arp.DstHwAddress, c.tha[:]) || !bytes.Equal(arp.DstProtAddress, tpa[:]) ||
				len(arp.Payload) != 0 {
				t.Errorf("ARP %+v", arp)
			}
			op, sha, spaGot, tha, tpaGot, ok := ParseARP(c.frame)
			if !ok || op != c.op || sha != c.sha || spaGot != c.spa || tha != c.tha || tpaGot != c.tpa {
				t.Errorf("ParseARP = %d %v %v %v %v %v", op, sha, spaGot, tha, tpaGot, ok)
			}
		})
	}
}

func TestBuildBuffer(t *testing.T) {
	buf := make([]byte, 128)
	for i := range buf {
		buf[i] = 0xee
	}
	f := BuildRequest(buf[10:], gwMAC, gwIP, c1IP) // room for a virtio_net_hdr in front
	if len(f) != FrameLen || &f[0] != &buf[10] {
		t.Fatal("BuildRequest did not write into buf")
	}
	if buf[9] != 0xee || buf[10+FrameLen] != 0xee {
		t.Fatal("BuildRequest wrote outside its 42 bytes")
	}
	// Every byte is written, whatever buf held.
	if !bytes.Equal(f, BuildRequest(nil, gwMAC, gwIP, c1IP)) {
		t.Fatal("a dirty buffer changed the frame")
	}
	if f := BuildReply(make([]byte, 10), gwMAC, gwIP, c1MAC, c1IP); len(f) != FrameLen {
		t.Fatal("a short buffer must be replaced")
	}
	if f := BuildRequest(buf, gwMAC, gwIP, netip.MustParseAddr("2001:db8::1")); f != nil {
		t.Fatal("IPv6 target accepted")
	}
	if f := BuildGratuitous(buf, gwMAC, netip.Addr{}); f != nil {
		t.Fatal("zero Addr accepted")
	}
	if f := BuildRequest(buf, gwMAC, netip.MustParseAddr("::ffff:172.17.0.1"), c1IP); f == nil {
		t.Fatal("IPv4-mapped source refused")
	}
	if n := testing.AllocsPerRun(100, func() { BuildRequest(buf, gwMAC, gwIP, c1IP) }); n != 0 {
		t.Fatalf("BuildRequest allocates %v times", n)
	}
}

// serialize makes a frame with gopacket, the reference encoder.
func serialize(t testing.TB, eth *layers.Ethernet, arp *layers.ARP, pad int) []byte {
	t.Helper()
	b := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(b, gopacket.SerializeOptions{}, eth, arp, gopacket.Payload(make([]byte, pad))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParseARP(t *testing.T) {
	eth := func() *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr(c1MAC[:]), DstMAC: net.HardwareAddr(header.BroadcastMAC[:]),
			EthernetType: layers.EthernetTypeARP}
	}
	arp := func() *layers.ARP {
		return &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPReply,
			SourceHwAddress: c1MAC[:], SourceProtAddress: []byte{172, 17, 0, 2},
			DstHwAddress: gwMAC[:], DstProtAddress: []byte{172, 17, 0, 1}}
	}
	good := serialize(t, eth(), arp(), 18) // padded to 60 bytes, as from a wire
	if len(good) != 60 {
		t.Fatalf("%d bytes", len(good))
	}
	op, sha, spa, tha, tpa, ok := ParseARP(good)
	if !ok || op != OpReply || sha != c1MAC || spa != c1IP || tha != gwMAC || tpa != gwIP {
		t.Fatalf("ParseARP = %d %v %v %v %v %v", op, sha, spa, tha, tpa, ok)
	}
	bad := map[string][]byte{
		"empty":     nil,
		"truncated": good[:41],
	}
	e := eth()
	e.EthernetType = layers.EthernetTypeIPv4
	bad["not ARP"] = serialize(t, e, arp(), 0)
	a := arp()
	a.AddrType = layers.LinkTypeTokenRing // htype 6, IEEE 802 networks
	bad["htype"] = serialize(t, eth(), a, 0)
	a = arp()
	a.Protocol = layers.EthernetTypeIPv6
	bad["ptype"] = serialize(t, eth(), a, 0)
	a = arp()
	a.HwAddressSize, a.SourceHwAddress, a.DstHwAddress = 8, make([]byte, 8), make([]byte, 8)
	bad["hlen"] = serialize(t, eth(), a, 0)
	a = arp()
	a.ProtAddressSize, a.SourceProtAddress, a.DstProtAddress = 16, make([]byte, 16), make([]byte, 16)
	bad["plen"] = serialize(t, eth(), a, 0)
	for name, f := range bad {
		if _, _, _, _, _, ok := ParseARP(f); ok {
			t.Errorf("%s: accepted % x", name, f)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ParseARP(good) }); n != 0 {
		t.Fatalf("ParseARP allocates %v times", n)
	}
}

// FuzzParseARP checks ParseARP against gopacket on any input, and that a
// frame it accepts is rebuilt byte for byte from what it returned.
func FuzzParseARP(f *testing.F) {
	f.Add(BuildRequest(nil, gwMAC, gwIP, c1IP))
	f.Add(BuildReply(nil, gwMAC, gwIP, c1MAC, c1IP))
	f.Add(append(BuildGratuitous(nil, gwMAC, gwIP), make([]byte, 18)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		op, sha, spa, tha, tpa, ok := ParseARP(frame)
		eth, arp := decode(t, frame)
		// gopacket's LinkType is a uint8, so AddrType drops htype's high
		// byte (0x3001 reads as Ethernet): read the 16 bits from Contents.
		ref := eth != nil && arp != nil && eth.EthernetType == layers.EthernetTypeARP &&
			binary.BigEndian.Uint16(arp.Contents) == 1 && arp.Protocol == layers.EthernetTypeIPv4 &&
			arp.HwAddressSize == 6 && arp.ProtAddressSize == 4
		if ok != ref {
			t.Fatalf("ParseARP ok %v, gopacket %v, on % x", ok, ref, frame)
		}
		if !ok {
			return
		}
		s4, t4 := spa.As4(), tpa.As4()
		if arp.Operation != op || !bytes.Equal(arp.SourceHwAddress, sha[:]) || !bytes.Equal(arp.SourceProtAddress, s4[:]) ||
			!bytes.Equal(arp.DstHwAddress, tha[:]) || !bytes.Equal(arp.DstProtAddress, t4[:]) {
			t.Fatalf("ParseARP and gopacket differ on % x", frame)
		}
		var ethDst header.MAC
		copy(ethDst[:], frame)
		re := build(nil, ethDst, op, sha, spa, tha, tpa)
		copy(re[6:12], frame[6:12]) // the Ethernet source need not be the sender
		if !bytes.Equal(re, frame[:FrameLen]) {
			t.Fatalf("rebuilt\n% x\nfrom\n% x", re, frame[:FrameLen])
		}
	})
}
