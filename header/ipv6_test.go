package header

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"
)

func TestIPv6AgainstGopacket(t *testing.T) {
	src, dst := netip.MustParseAddr("fd00:1::2"), netip.MustParseAddr("2001:db8::53")
	g := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: 64, SrcIP: netIP(src), DstIP: netIP(dst)}
	data := []byte("0123456789")
	b := serialize(t, g, gopacketPayload(data))
	ip := IPv6(append(b, 0, 0, 0, 0)) // trailing padding is cut by Payload
	if !ip.Valid() {
		t.Fatal("Valid() = false")
	}
	if ip.PayloadLen() != uint16(len(data)) || ip.NextHeader() != ProtoUDP || ip.HopLimit() != 64 || ip.Src() != src || ip.Dst() != dst {
		t.Errorf("payloadLen %d next %d hop %d %v → %v", ip.PayloadLen(), ip.NextHeader(), ip.HopLimit(), ip.Src(), ip.Dst())
	}
	if !bytes.Equal(ip.Payload(), data) {
		t.Errorf("Payload = % x", ip.Payload())
	}
	ip.SetHopLimit(1)
	if ip.HopLimit() != 1 {
		t.Error("SetHopLimit")
	}
	ip[4], ip[5] = 0xff, 0xff // PayloadLen past the view: the rest of the view
	if len(ip.Payload()) != len(data)+4 {
		t.Errorf("oversized PayloadLen: Payload %d bytes", len(ip.Payload()))
	}
}

func TestIPv6Valid(t *testing.T) {
	b := make([]byte, 40)
	b[0] = 0x60
	if !IPv6(b).Valid() || IPv6(b[:39]).Valid() {
		t.Error("length check")
	}
	b[0] = 0x45
	if IPv6(b).Valid() {
		t.Error("version 4 accepted")
	}
}
