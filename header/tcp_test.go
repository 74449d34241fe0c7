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

func TestTCPAgainstGopacket(t *testing.T) {
	tests := []struct {
		name     string
		src, dst netip.Addr
		tcp      layers.TCP
		data     []byte
		flags    uint8
		off      int
	}{
		{name: "syn with options", src: netip.MustParseAddr("172.17.0.2"), dst: netip.MustParseAddr("1.1.1.1"),
			tcp: layers.TCP{SrcPort: 51000, DstPort: 443, Seq: 0xdeadbeef, SYN: true, Window: 64240,
				Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{5, 0xb4}},
					{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}}}},
			flags: TCPFlagSYN, off: 28},
		{name: "psh ack data", src: netip.MustParseAddr("10.0.0.5"), dst: netip.MustParseAddr("10.0.1.5"),
			tcp:  layers.TCP{SrcPort: 80, DstPort: 33333, Seq: 1, Ack: 0xffffffff, PSH: true, ACK: true, Window: 502, Urgent: 0},
			data: []byte("HTTP/1.1 200 OK\r\n\r\n!"), flags: TCPFlagPSH | TCPFlagACK, off: 20},
		{name: "fin rst urg ece cwr", src: netip.MustParseAddr("192.168.0.1"), dst: netip.MustParseAddr("192.168.0.2"),
			tcp:   layers.TCP{SrcPort: 1, DstPort: 2, FIN: true, RST: true, URG: true, ECE: true, CWR: true, Urgent: 9},
			flags: TCPFlagFIN | TCPFlagRST | TCPFlagURG | TCPFlagECE | TCPFlagCWR, off: 20},
		{name: "ipv6", src: netip.MustParseAddr("fd00::2"), dst: netip.MustParseAddr("2001:db8::1"),
			tcp:  layers.TCP{SrcPort: 22, DstPort: 60000, Seq: 5, Ack: 6, ACK: true, Window: 1},
			data: []byte{1, 2, 3}, flags: TCPFlagACK, off: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nl gopacket.NetworkLayer
			if tt.src.Is4() {
				nl = &layers.IPv4{Version: 4, SrcIP: netIP(tt.src), DstIP: netIP(tt.dst), Protocol: layers.IPProtocolTCP}
			} else {
				nl = &layers.IPv6{Version: 6, SrcIP: netIP(tt.src), DstIP: netIP(tt.dst), NextHeader: layers.IPProtocolTCP}
			}
			tt.tcp.SetNetworkLayerForChecksum(nl)
			b := serialize(t, &tt.tcp, gopacketPayload(tt.data))
			s := TCP(b)
			if !s.Valid() {
				t.Fatalf("Valid() = false for % x", b)
			}
			if s.SrcPort() != uint16(tt.tcp.SrcPort) || s.DstPort() != uint16(tt.tcp.DstPort) || s.Seq() != tt.tcp.Seq ||
				s.Ack() != tt.tcp.Ack || s.Window() != tt.tcp.Window || s.UrgentPointer() != tt.tcp.Urgent {
				t.Errorf("ports/seq/ack/window/urg = %d/%d/%d/%d/%d/%d", s.SrcPort(), s.DstPort(), s.Seq(), s.Ack(), s.Window(), s.UrgentPointer())
			}
			if s.Flags() != tt.flags || s.DataOffset() != tt.off || len(s.Options()) != tt.off-TCPMinLen {
				t.Errorf("flags %#x offset %d", s.Flags(), s.DataOffset())
			}
			if !bytes.Equal(s.Payload(), tt.data) {
				t.Errorf("Payload = % x", s.Payload())
			}
			if s.Checksum() != tt.tcp.Checksum || s.ComputeChecksum(tt.src, tt.dst) != tt.tcp.Checksum {
				t.Errorf("Checksum %#04x ComputeChecksum %#04x, gopacket %#04x", s.Checksum(), s.ComputeChecksum(tt.src, tt.dst), tt.tcp.Checksum)
			}
		})
	}
}

func TestTCPSetters(t *testing.T) {
	s := make(TCP, 24+5)
	s.SetSrcPort(1234)
	s.SetDstPort(80)
	s.SetSeq(100)
	s.SetAck(200)
	s.SetDataOffset(24)
	s.SetFlags(TCPFlagSYN | TCPFlagACK)
	s.SetWindow(1000)
	copy(s.Options(), []byte{1, 1, 1, 0})
	copy(s.Payload(), "hello")
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	s.SetChecksum(s.ComputeChecksum(src, dst))
	var g layers.TCP
	if err := g.DecodeFromBytes(s, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if g.SrcPort != 1234 || g.DstPort != 80 || g.Seq != 100 || g.Ack != 200 || g.DataOffset != 6 || !g.SYN || !g.ACK ||
		g.FIN || g.Window != 1000 || string(g.Payload) != "hello" {
		t.Errorf("gopacket read back %+v", g)
	}
	if Fold(Checksum(s, PseudoHeaderSum(src, dst, ProtoTCP, uint16(len(s))))) != 0xffff {
		t.Error("checksum does not verify")
	}
}

func TestTCPValid(t *testing.T) {
	tests := []struct {
		name string
		n    int
		off  byte
		want bool
	}{
		{"minimal", 20, 5, true},
		{"short", 19, 5, false},
		{"offset 4", 40, 4, false},
		{"offset 0", 40, 0, false},
		{"offset past end", 40, 11, false},
		{"offset 15 fits", 60, 15, true},
	}
	for _, tt := range tests {
		b := make([]byte, tt.n)
		if tt.n > 12 {
			b[12] = tt.off << 4
		}
		if got := TCP(b).Valid(); got != tt.want {
			t.Errorf("%s: Valid() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// randIPv4TCP is an IPv4 header plus a random TCP segment, both with
// correct checksums.
func randIPv4TCP(r *rand.Rand) (IPv4, TCP) {
	ip := make(IPv4, IPv4MinLen+TCPMinLen+r.IntN(60))
	for i := range ip {
		ip[i] = byte(r.Uint32())
	}
	ip.SetHeaderLen(IPv4MinLen)
	ip.SetTotalLen(uint16(len(ip)))
	ip.SetProtocol(ProtoTCP)
	ip.SetChecksum(ip.ComputeChecksum())
	tcp := TCP(ip.Payload())
	tcp.SetDataOffset(TCPMinLen)
	tcp.SetChecksum(tcp.ComputeChecksum(ip.Src(), ip.Dst()))
	return ip, tcp
}

// TestNATRewriteTCPProperty is the NAT step on a complete frame: an address
// rewrite touches the IP checksum and (through the pseudo-header) the TCP
// checksum; a port rewrite touches the TCP checksum. Each incremental
// update must equal the full recomputation.
func TestNATRewriteTCPProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for i := 0; i < 20000; i++ {
		ip, tcp := randIPv4TCP(r)
		na := randAddr4(r)
		old := ip.SrcBytes()
		if i%2 == 1 {
			old = ip.DstBytes()
			ip.SetDst(na)
		} else {
			ip.SetSrc(na)
		}
		ip.SetChecksum(UpdateChecksum32(ip.Checksum(), old, na.As4()))
		tcp.SetChecksum(UpdateChecksum32(tcp.Checksum(), old, na.As4()))

		np := uint16(r.Uint32())
		if i%3 == 0 {
			op := tcp.SrcPort()
			tcp.SetSrcPort(np)
			tcp.SetChecksum(UpdateChecksum16(tcp.Checksum(), op, np))
		} else {
			op := tcp.DstPort()
			tcp.SetDstPort(np)
			tcp.SetChecksum(UpdateChecksum16(tcp.Checksum(), op, np))
		}
		if got, want := ip.Checksum(), ip.ComputeChecksum(); got != want {
			t.Fatalf("IP checksum %#04x, full %#04x", got, want)
		}
		if got, want := tcp.Checksum(), tcp.ComputeChecksum(ip.Src(), ip.Dst()); got != want {
			t.Fatalf("TCP checksum %#04x, full %#04x", got, want)
		}
	}
}

// FuzzTCP: Valid()==true means every accessor is safe, Payload starts at
// DataOffset, and gopacket reads the same fields.
func FuzzTCP(f *testing.F) {
	syn := make([]byte, 24)
	syn[12], syn[13] = 6<<4, TCPFlagSYN
	copy(syn[20:], []byte{2, 4, 5, 0xb4})
	f.Add(syn)
	f.Add([]byte{0, 80, 0, 81, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0, 1, 0, 0, 0, 0, 'h', 'i'})
	f.Add([]byte{0, 80, 0, 81, 0, 0, 0, 1, 0, 0, 0, 0, 0xf0, 0x18, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := TCP(b)
		if !s.Valid() {
			return
		}
		off := s.DataOffset()
		if len(s.Options()) != off-TCPMinLen || len(s.Payload()) != len(b)-off {
			t.Fatalf("options %d payload %d for offset %d len %d", len(s.Options()), len(s.Payload()), off, len(b))
		}
		_, _, _, _ = s.SrcPort(), s.DstPort(), s.Seq(), s.Ack()
		_, _, _, _ = s.Flags(), s.Window(), s.Checksum(), s.UrgentPointer()
		src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
		c := s.ComputeChecksum(src, dst)

		var g layers.TCP
		if err := g.DecodeFromBytes(bytes.Clone(b), gopacket.NilDecodeFeedback); err == nil {
			if uint16(g.SrcPort) != s.SrcPort() || uint16(g.DstPort) != s.DstPort() || g.Seq != s.Seq() || g.Ack != s.Ack() ||
				int(g.DataOffset)*4 != off || g.SYN != (s.Flags()&TCPFlagSYN != 0) || g.FIN != (s.Flags()&TCPFlagFIN != 0) ||
				g.Checksum != s.Checksum() || len(g.Payload) != len(s.Payload()) {
				t.Fatalf("gopacket disagrees: %+v", g)
			}
		}

		m := TCP(bytes.Clone(b))
		m.SetChecksum(c)
		if Fold(Checksum(m, PseudoHeaderSum(src, dst, ProtoTCP, uint16(len(m))))) != 0xffff {
			t.Fatal("ComputeChecksum does not verify")
		}
		old := m.SrcPort()
		m.SetSrcPort(old ^ 0x5555)
		m.SetChecksum(UpdateChecksum16(m.Checksum(), old, old^0x5555))
		if m.Checksum() != m.ComputeChecksum(src, dst) {
			t.Fatal("port rewrite: incremental differs from full")
		}
		m.SetDstPort(1)
		m.SetSeq(2)
		m.SetAck(3)
		m.SetFlags(TCPFlagRST)
		m.SetWindow(4)
		m.SetDataOffset(off)
		if !m.Valid() || m.DataOffset() != off || binary.BigEndian.Uint16(m[2:]) != 1 {
			t.Fatal("setters broke the header")
		}
	})
}
