package header

import (
	"net/netip"
	"testing"
)

func benchIPv4() IPv4 {
	ip := make(IPv4, 1500)
	ip.SetHeaderLen(IPv4MinLen)
	ip.SetTotalLen(1500)
	ip.SetTTL(255)
	ip.SetProtocol(ProtoTCP)
	ip.SetSrc(netip.MustParseAddr("172.17.0.2"))
	ip.SetDst(netip.MustParseAddr("10.0.0.1"))
	ip.SetChecksum(ip.ComputeChecksum())
	return ip
}

var sinkSum uint32
var sinkAddr netip.Addr

func benchChecksum(b *testing.B, n int, f func([]byte, uint32) uint32) {
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		sinkSum = f(buf, sinkSum)
	}
}

func BenchmarkChecksum20(b *testing.B)      { benchChecksum(b, 20, Checksum) }
func BenchmarkChecksum1500(b *testing.B)    { benchChecksum(b, 1500, Checksum) }
func BenchmarkChecksumRef20(b *testing.B)   { benchChecksum(b, 20, checksumRef) }
func BenchmarkChecksumRef1500(b *testing.B) { benchChecksum(b, 1500, checksumRef) }

func BenchmarkIPv4ValidSrcDst(b *testing.B) {
	ip := benchIPv4()
	b.ReportAllocs()
	for b.Loop() {
		if !ip.Valid() {
			b.Fatal("invalid")
		}
		sinkAddr = ip.Src()
		sinkAddr = ip.Dst()
	}
}

func BenchmarkDecTTL(b *testing.B) {
	ip := benchIPv4()
	b.ReportAllocs()
	for b.Loop() {
		if ip.DecTTL() == 0 {
			ip.SetTTL(255)
			ip.SetChecksum(ip.ComputeChecksum())
		}
	}
}

// BenchmarkNATRewrite is the per-packet work of SNAT on a complete TCP
// frame: address and port, IP and TCP checksums updated incrementally.
func BenchmarkNATRewrite(b *testing.B) {
	ip := benchIPv4()
	tcp := TCP(ip.Payload())
	tcp.SetDataOffset(TCPMinLen)
	a1, a2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("172.17.0.2")
	b.ReportAllocs()
	for b.Loop() {
		old := ip.SrcBytes()
		na := a1
		if old == a1.As4() {
			na = a2
		}
		n4 := na.As4()
		ip.SetSrc(na)
		ip.SetChecksum(UpdateChecksum32(ip.Checksum(), old, n4))
		tcp.SetChecksum(UpdateChecksum32(tcp.Checksum(), old, n4))
		op := tcp.SrcPort()
		tcp.SetSrcPort(op + 1)
		tcp.SetChecksum(UpdateChecksum16(tcp.Checksum(), op, op+1))
	}
}

// TestZeroAllocs guards the promise in doc.go in the ordinary test run, not
// only when someone reads benchmark output.
func TestZeroAllocs(t *testing.T) {
	ip := benchIPv4()
	buf := []byte(ip)
	arp := make(ARP, ARPLen)
	arp.SetIPv4OverEthernet()
	tcp := TCP(ip.Payload())
	tcp.SetDataOffset(TCPMinLen)
	udp := UDP(ip.Payload())
	a := netip.MustParseAddr("192.0.2.1")
	checks := map[string]func(){
		"Checksum":  func() { sinkSum = Checksum(buf, 0) },
		"IPv4 read": func() { _ = ip.Valid(); sinkAddr = ip.Src(); sinkAddr = ip.Dst(); _ = ip.Payload() },
		"DecTTL":    func() { ip.SetTTL(64); ip.DecTTL() },
		"IPv4 set":  func() { ip.SetSrc(a); ip.SetDst(a); ip.SetChecksum(ip.ComputeChecksum()) },
		"ARP":       func() { _ = arp.Valid(); sinkAddr = arp.SenderIP(); arp.SetTargetIP(a); _ = arp.SenderMAC() },
		"TCP":       func() { _ = tcp.Valid(); tcp.SetChecksum(tcp.ComputeChecksum(a, a)) },
		"UDP":       func() { udp.UpdateChecksum32(a.As4(), a.As4()); sinkSum = uint32(udp.ComputeChecksum(a, a)) },
		"pseudo":    func() { sinkSum = PseudoHeaderSum(a, a, ProtoTCP, 20) },
		"IPv6":      func() { v6 := IPv6(buf); sinkAddr = v6.Src(); _ = v6.Payload() },
	}
	for name, f := range checks {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, n)
		}
	}
}
