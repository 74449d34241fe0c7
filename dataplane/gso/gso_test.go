package gso

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"vswitch/header"
)

var (
	src4, dst4 = netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	src6, dst6 = netip.MustParseAddr("fd00::2"), netip.MustParseAddr("fd00::3")
)

// superFrame builds a TCP GSO super-frame as a TAP hands it over: the TCP
// checksum field holds the pseudo-header sum of the whole segment, NEEDS_CSUM
// set, gso_size mss. flags go into the TCP header.
func superFrame(v6 bool, payload []byte, mss int, flags uint8) []byte {
	hl := header.IPv4MinLen
	if v6 {
		hl = header.IPv6MinLen
	}
	thl := 32 // with 12 bytes of options, as Linux sends (timestamps)
	buf := make([]byte, ipOff+hl+thl+len(payload))
	vh := header.VirtioNetHdr(buf)
	eth := header.Ethernet(buf[header.VirtioNetHdrLen:])
	eth.SetDst(header.MAC{2, 0, 0, 0, 0, 3})
	eth.SetSrc(header.MAC{2, 0, 0, 0, 0, 2})
	ipb := buf[ipOff:]
	var s, d netip.Addr
	if v6 {
		eth.SetType(header.EtherTypeIPv6)
		ipb[0] = 0x60
		binary.BigEndian.PutUint16(ipb[4:6], uint16(thl+len(payload)))
		ipb[6], ipb[7] = header.ProtoTCP, 64
		copy(ipb[8:24], src6.AsSlice())
		copy(ipb[24:40], dst6.AsSlice())
		s, d = src6, dst6
		vh.SetGSOType(header.VirtioGSOTCPv6)
	} else {
		eth.SetType(header.EtherTypeIPv4)
		ip := header.IPv4(ipb)
		ip.SetHeaderLen(20)
		ip.SetTotalLen(uint16(hl + thl + len(payload)))
		ip.SetID(1000)
		ip.SetFlagsFragOffset(header.IPv4FlagDF, 0)
		ip.SetTTL(64)
		ip.SetProtocol(header.ProtoTCP)
		ip.SetSrc(src4)
		ip.SetDst(dst4)
		ip.SetChecksum(ip.ComputeChecksum())
		s, d = src4, dst4
		vh.SetGSOType(header.VirtioGSOTCPv4)
	}
	t := header.TCP(ipb[hl:])
	t.SetSrcPort(40000)
	t.SetDstPort(5201)
	t.SetSeq(0xfffff000) // wraps while cut
	t.SetAck(7)
	t.SetDataOffset(thl)
	t.SetFlags(flags)
	t.SetWindow(512)
	for i := 20; i < thl; i++ {
		t[i] = 1 // NOPs
	}
	copy(t[thl:], payload)
	t.SetChecksum(header.Fold(header.PseudoHeaderSum(s, d, header.ProtoTCP, uint16(thl+len(payload)))))
	vh.SetFlags(header.VirtioNetHdrFNeedsCsum)
	vh.SetHdrLen(uint16(header.EthernetLen + hl + thl))
	vh.SetGSOSize(uint16(mss))
	vh.SetCsumStart(uint16(header.EthernetLen + hl))
	vh.SetCsumOffset(16)
	return buf
}

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}

// TestCutTCP cuts v4 and v6 super-frames and checks every segment the way a
// receiver would: gopacket decodes it, its IP and TCP checksums verify, its
// sequence number and flags are what tcp_gso_segment gives, and the
// payloads put back together are the original.
func TestCutTCP(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		payload := pattern(10000)
		mss := 1398
		buf := superFrame(v6, payload, mss, header.TCPFlagACK|header.TCPFlagPSH|header.TCPFlagFIN|header.TCPFlagCWR)
		sf, ok := Parse(buf)
		if !ok {
			t.Fatalf("v6=%v: Parse refused a super-frame", v6)
		}
		if sf.Segments() != 8 || sf.MSS() != mss {
			t.Fatalf("v6=%v: %d segments of %d, want 8 of %d", v6, sf.Segments(), sf.MSS(), mss)
		}
		var got []byte
		dst := make([]byte, header.VirtioNetHdrLen+sf.MaxSegmentLen())
		for k := 0; k < sf.Segments(); k++ {
			g := sf.CutBuf(dst, k)
			if header.VirtioNetHdr(g).Flags() != 0 || header.VirtioNetHdr(g).IsGSO() {
				t.Fatalf("segment %d: virtio header not cleared", k)
			}
			pkt := gopacket.NewPacket(g[header.VirtioNetHdrLen:], layers.LayerTypeEthernet, gopacket.Default)
			tl, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if tl == nil {
				t.Fatalf("v6=%v segment %d: no TCP layer: %v", v6, k, pkt.ErrorLayer())
			}
			var s, d netip.Addr
			if v6 {
				ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
				if int(ip.Length) != len(tl.Contents)+len(tl.Payload) {
					t.Fatalf("segment %d: IPv6 payload length %d", k, ip.Length)
				}
				s, d = src6, dst6
			} else {
				ip := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				if !header.IPv4(g[ipOff:]).ChecksumValid() || ip.Id != uint16(1000+k) || int(ip.Length) != len(g)-ipOff {
					t.Fatalf("segment %d: IPv4 checksum/ID/length wrong: id %d len %d", k, ip.Id, ip.Length)
				}
				s, d = src4, dst4
			}
			l4 := g[ipOff+sf.hl:]
			if header.Fold(header.Checksum(l4, header.PseudoHeaderSum(s, d, header.ProtoTCP, uint16(len(l4))))) != 0xffff {
				t.Fatalf("v6=%v segment %d: TCP checksum does not verify", v6, k)
			}
			if tl.Seq != 0xfffff000+uint32(k*mss) {
				t.Fatalf("segment %d: seq %#x", k, tl.Seq)
			}
			last := k == sf.Segments()-1
			if tl.FIN != last || tl.PSH != last || tl.CWR != (k == 0) || !tl.ACK {
				t.Fatalf("segment %d: FIN %v PSH %v CWR %v ACK %v", k, tl.FIN, tl.PSH, tl.CWR, tl.ACK)
			}
			got = append(got, tl.Payload...)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("v6=%v: payload put back together differs (%d bytes of %d)", v6, len(got), len(payload))
		}
	}
}

// TestCutPartial: with partial the TCP field holds the pseudo-header sum,
// which a device completes into the right checksum.
func TestCutPartial(t *testing.T) {
	buf := superFrame(false, pattern(3000), 1448, header.TCPFlagACK)
	sf, _ := Parse(buf)
	dst := make([]byte, sf.MaxSegmentLen())
	g := sf.Cut(dst, 1, true)
	l4 := g[header.EthernetLen+20:]
	// What the device does: sum from csum_start, store the complement.
	c := ^header.Fold(header.Checksum(l4, 0))
	binary.BigEndian.PutUint16(l4[16:], c)
	if header.Fold(header.Checksum(l4, header.PseudoHeaderSum(src4, dst4, header.ProtoTCP, uint16(len(l4))))) != 0xffff {
		t.Fatal("partial segment completed by a device does not verify")
	}
}

// TestParseRefuses: what is not a TCP super-frame Cut could handle.
func TestParseRefuses(t *testing.T) {
	cases := map[string]func([]byte){
		"udp gso":       func(b []byte) { header.VirtioNetHdr(b).SetGSOType(header.VirtioGSOUDPL4) },
		"no gso":        func(b []byte) { header.VirtioNetHdr(b).SetGSOType(header.VirtioGSONone) },
		"gso size 0":    func(b []byte) { header.VirtioNetHdr(b).SetGSOSize(0) },
		"v6 type on v4": func(b []byte) { header.VirtioNetHdr(b).SetGSOType(header.VirtioGSOTCPv6) },
		"bad doff":      func(b []byte) { b[ipOff+20+12] = 0x40 }, // 16 bytes: shorter than a TCP header,
		"udp inside":    func(b []byte) { header.IPv4(b[ipOff:]).SetProtocol(header.ProtoUDP) },
		"total len":     func(b []byte) { header.IPv4(b[ipOff:]).SetTotalLen(60000) },
	}
	for name, spoil := range cases {
		buf := superFrame(false, pattern(3000), 1448, header.TCPFlagACK)
		spoil(buf)
		if _, ok := Parse(buf); ok {
			t.Errorf("%s: Parse accepted it", name)
		}
	}
	if _, ok := Parse(make([]byte, 20)); ok {
		t.Error("20 bytes accepted")
	}
	buf := superFrame(true, pattern(3000), 1448, header.TCPFlagACK)
	buf[ipOff+6] = 0 // hop-by-hop header first
	if _, ok := Parse(buf); ok {
		t.Error("IPv6 with an extension header accepted")
	}
}

// TestFrameChecksum completes the partial checksum of a plain (not GSO)
// frame over IPv4 and IPv6 and refuses offsets outside the packet.
func TestFrameChecksum(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		buf := superFrame(v6, pattern(999), 1448, header.TCPFlagACK)
		header.VirtioNetHdr(buf).SetGSOType(0)
		buf = append(buf, 0, 0, 0, 0) // Ethernet padding: not summed
		if !FrameChecksum(buf) {
			t.Fatalf("v6=%v: refused", v6)
		}
		hl, s, d := 20, src4, dst4
		if v6 {
			hl, s, d = 40, src6, dst6
		}
		l4 := buf[ipOff+hl : len(buf)-4]
		if header.Fold(header.Checksum(l4, header.PseudoHeaderSum(s, d, header.ProtoTCP, uint16(len(l4))))) != 0xffff {
			t.Fatalf("v6=%v: checksum does not verify", v6)
		}
		if header.VirtioNetHdr(buf).Flags()&header.VirtioNetHdrFNeedsCsum != 0 {
			t.Fatal("NEEDS_CSUM left set")
		}
		bad := superFrame(v6, pattern(100), 1448, header.TCPFlagACK)
		header.VirtioNetHdr(bad).SetCsumOffset(5000)
		if FrameChecksum(bad) {
			t.Fatalf("v6=%v: csum_offset past the packet accepted", v6)
		}
	}
}

func BenchmarkCut(b *testing.B) {
	buf := superFrame(false, pattern(65000), 1398, header.TCPFlagACK)
	dst := make([]byte, 2048)
	b.ReportAllocs()
	b.SetBytes(65000)
	for i := 0; i < b.N; i++ {
		sf, _ := Parse(buf)
		for k := 0; k < sf.Segments(); k++ {
			sf.CutBuf(dst, k)
		}
	}
}
