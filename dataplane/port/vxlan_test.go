package port

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"vswitch/header"
	"vswitch/internal/netns"
)

var vxNSSeq atomic.Int32

// vxlanNets makes two namespaces joined by a veth pair, "a" (10.9.0.1 on
// va) and "b" (10.9.0.2 and 10.9.0.3 on vb), IPv6 fd09::1 and fd09::2 too,
// and returns their paths.
func vxlanNets(t testing.TB) (string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the VXLAN port tests need root (namespaces); run them as root")
	}
	id := fmt.Sprintf("%d-%d", os.Getpid(), vxNSSeq.Add(1))
	a, b := "vsvxa-"+id, "vsvxb-"+id
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{a, b} {
		sh("ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		sh("ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh("ip", "-n", a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", b)
	sh("ip", "-n", a, "addr", "add", "10.9.0.1/24", "dev", "va")
	sh("ip", "-n", a, "addr", "add", "fd09::1/64", "dev", "va", "nodad")
	sh("ip", "-n", b, "addr", "add", "10.9.0.2/24", "dev", "vb")
	sh("ip", "-n", b, "addr", "add", "10.9.0.3/24", "dev", "vb")
	sh("ip", "-n", b, "addr", "add", "fd09::2/64", "dev", "vb", "nodad")
	sh("ip", "-n", a, "link", "set", "va", "up")
	sh("ip", "-n", b, "link", "set", "vb", "up")
	// The underlay must carry before the tests send: a datagram sent while
	// the veth has no carrier yet is lost, and the tests read for a bounded
	// time. A ping to each address waits for that and settles ARP.
	for _, dst := range []string{"10.9.0.2", "10.9.0.3", "fd09::2"} {
		sh("ip", "netns", "exec", a, "ping", "-c", "1", "-W", "5", "-w", "10", dst)
	}
	return "/run/netns/" + a, "/run/netns/" + b
}

func openVX(t testing.TB, ns, dev, local string, vni uint32) *VXLAN {
	t.Helper()
	p, err := OpenVXLAN(VXLANConfig{NetnsPath: ns, Dev: dev, Local: netip.MustParseAddr(local), VNI: vni})
	if err != nil {
		t.Fatalf("OpenVXLAN %s: %v", local, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func mustVTEP(t testing.TB, p *VXLAN, a string) {
	t.Helper()
	if err := p.AddVTEP(netip.MustParseAddr(a)); err != nil {
		t.Fatal(err)
	}
}

// frameBuf is a dataplane buffer: a zero virtio_net_hdr and an Ethernet
// frame from src to dst with n bytes of payload.
func frameBuf(dst, src header.MAC, n int) []byte {
	b := make([]byte, header.VirtioNetHdrLen+header.EthernetLen+n)
	e := header.Ethernet(b[header.VirtioNetHdrLen:])
	e.SetDst(dst)
	e.SetSrc(src)
	e.SetType(0x88b5) // local experimental
	for i := range n {
		b[header.VirtioNetHdrLen+header.EthernetLen+i] = byte(i)
	}
	return b
}

// readAll reads from p until want frames came or a second passed.
func readAll(t testing.TB, p *VXLAN, want int) [][]byte {
	t.Helper()
	var out [][]byte
	bufs := make([][]byte, 32)
	sizes := make([]int, 32)
	for i := range bufs {
		bufs[i] = make([]byte, BufSize)
	}
	deadline := time.Now().Add(time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		n, err := p.ReadBatch(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			out = append(out, bytes.Clone(bufs[i][:sizes[i]]))
		}
		if n == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return out
}

var (
	macA = header.MAC{2, 0, 0, 0, 0, 0xa}
	macB = header.MAC{2, 0, 0, 0, 0, 0xb}
	macC = header.MAC{2, 0, 0, 0, 0, 0xc}
)

// TestVXLANEncapDecap: a broadcast written to A reaches B as the same frame
// with a zero virtio_net_hdr, B learns its source behind A, and B's answer
// to that MAC goes back to A only (not to B's other VTEP).
func TestVXLANEncapDecap(t *testing.T) {
	nsA, nsB := vxlanNets(t)
	a := openVX(t, nsA, "va", "10.9.0.1", 42)
	b := openVX(t, nsB, "vb", "10.9.0.2", 42)
	c := openVX(t, nsB, "vb", "10.9.0.3", 42)
	mustVTEP(t, a, "10.9.0.2")
	mustVTEP(t, a, "10.9.0.3")
	mustVTEP(t, b, "10.9.0.1")
	mustVTEP(t, b, "10.9.0.3")
	mustVTEP(t, c, "10.9.0.1")

	bc := frameBuf(header.BroadcastMAC, macA, 100)
	if n, err := a.WriteBatch([][]byte{bc}); n != 1 || err != nil {
		t.Fatalf("WriteBatch: %d, %v", n, err)
	}
	for name, p := range map[string]*VXLAN{"b": b, "c": c} {
		got := readAll(t, p, 1)
		if len(got) != 1 || !bytes.Equal(got[0], bc) {
			t.Fatalf("%s: got %d frames, want the broadcast as sent (head-end replication)", name, len(got))
		}
	}
	if a.TxDatagrams.Load() != 2 {
		t.Errorf("A sent %d datagrams for one broadcast to two VTEPs, want 2", a.TxDatagrams.Load())
	}
	es := b.Entries()
	if len(es) != 1 || es[0].MAC != macA || es[0].VTEP != netip.MustParseAddr("10.9.0.1") || es[0].Static {
		t.Fatalf("B's table %+v, want %s behind 10.9.0.1", es, macA)
	}

	uc := frameBuf(macA, macB, 60)
	if n, _ := b.WriteBatch([][]byte{uc}); n != 1 {
		t.Fatal("B refused the unicast")
	}
	if got := readAll(t, a, 1); len(got) != 1 || !bytes.Equal(got[0], uc) {
		t.Fatal("A did not get B's unicast")
	}
	if got := readAll(t, c, 1); len(got) != 0 {
		t.Fatal("C got a unicast for a MAC learned behind A: not flooded once known")
	}

	// A static entry: macC pinned behind C; a frame from macC arriving from
	// B does not move it.
	if err := a.AddStaticMAC(macC, netip.MustParseAddr("10.9.0.3")); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.WriteBatch([][]byte{frameBuf(macA, macC, 60)}); n != 1 {
		t.Fatal("B refused")
	}
	readAll(t, a, 1)
	if n, _ := a.WriteBatch([][]byte{frameBuf(macC, macA, 60)}); n != 1 {
		t.Fatal("A refused")
	}
	if got := readAll(t, c, 1); len(got) != 1 {
		t.Fatal("the frame to the static MAC did not reach C")
	}
	if got := readAll(t, b, 1); len(got) != 0 {
		t.Fatal("the frame to the static MAC reached B too")
	}

	// Removing a VTEP forgets what was behind it and stops flooding there.
	if err := a.RemoveVTEP(netip.MustParseAddr("10.9.0.3")); err != nil {
		t.Fatal(err)
	}
	for _, e := range a.Entries() {
		if e.MAC == macC {
			t.Fatal("static MAC behind a removed VTEP is still there")
		}
	}
	a.WriteBatch([][]byte{bc})
	if len(readAll(t, b, 1)) != 1 || len(readAll(t, c, 1)) != 0 {
		t.Fatal("after vtep rm: the broadcast must reach B only")
	}
	if err := a.AddVTEP(netip.MustParseAddr("10.9.0.2")); err == nil {
		t.Fatal("a duplicate VTEP was accepted")
	}
}

// sendRaw sends payload as a UDP datagram from src to dst:4789 inside ns.
func sendRaw(t *testing.T, ns, src, dst string, payload []byte) {
	t.Helper()
	err := netns.Do(ns, func() error {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, &net.UDPAddr{IP: net.ParseIP(dst), Port: 4789})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(payload)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestVXLANDrops: what RFC 7348 and the port's policy refuse is dropped and
// counted by reason; reserved bits are ignored.
func TestVXLANDrops(t *testing.T) {
	nsA, nsB := vxlanNets(t)
	a := openVX(t, nsA, "va", "10.9.0.1", 42)
	mustVTEP(t, a, "10.9.0.2")
	inner := frameBuf(macA, macB, 50)[header.VirtioNetHdrLen:]
	dgram := func(flags byte, vni uint32) []byte {
		h := make([]byte, header.VXLANLen)
		h[0] = flags
		binary.BigEndian.PutUint32(h[4:], vni<<8)
		if flags == 0xff {
			h[1], h[2], h[3], h[7] = 0xff, 0xff, 0xff, 0xff
		}
		return append(h, inner...)
	}
	sendRaw(t, nsB, "10.9.0.2", "10.9.0.1", dgram(0, 42))         // no I flag
	sendRaw(t, nsB, "10.9.0.2", "10.9.0.1", dgram(0x08, 43))      // another VNI
	sendRaw(t, nsB, "10.9.0.2", "10.9.0.1", dgram(0x08, 42)[:12]) // too short
	sendRaw(t, nsB, "10.9.0.3", "10.9.0.1", dgram(0x08, 42))      // not a VTEP of ours
	sendRaw(t, nsB, "10.9.0.2", "10.9.0.1", dgram(0xff, 42))      // reserved bits set: accepted
	got := readAll(t, a, 1)
	time.Sleep(20 * time.Millisecond)
	got = append(got, readAll(t, a, 1)...)
	if len(got) != 1 || !bytes.Equal(got[0][header.VirtioNetHdrLen:], inner) {
		t.Fatalf("got %d frames, want the one with reserved bits set", len(got))
	}
	want := map[string]uint64{"vxlan-no-i-flag": 1, "vxlan-unknown-vni": 1, "vxlan-too-short": 1, "vxlan-unknown-vtep": 1}
	if d := a.Drops(); fmt.Sprint(d) != fmt.Sprint(want) {
		t.Fatalf("drops %v, want %v", d, want)
	}
}

// tcpSuper builds a TCP GSO super-frame with a partial checksum, as a TAP
// hands one over.
func tcpSuper(v6 bool, payload, mss int) []byte {
	hl := 20
	if v6 {
		hl = 40
	}
	b := make([]byte, header.VirtioNetHdrLen+header.EthernetLen+hl+20+payload)
	e := header.Ethernet(b[header.VirtioNetHdrLen:])
	e.SetDst(macB)
	e.SetSrc(macA)
	ipb := b[header.VirtioNetHdrLen+header.EthernetLen:]
	var s, d netip.Addr
	vh := header.VirtioNetHdr(b)
	if v6 {
		e.SetType(header.EtherTypeIPv6)
		ipb[0] = 0x60
		binary.BigEndian.PutUint16(ipb[4:], uint16(20+payload))
		ipb[6], ipb[7] = header.ProtoTCP, 64
		s, d = netip.MustParseAddr("fd00::a"), netip.MustParseAddr("fd00::b")
		copy(ipb[8:], s.AsSlice())
		copy(ipb[24:], d.AsSlice())
		vh.SetGSOType(header.VirtioGSOTCPv6)
	} else {
		e.SetType(header.EtherTypeIPv4)
		ip := header.IPv4(ipb)
		ip.SetHeaderLen(20)
		ip.SetTotalLen(uint16(20 + 20 + payload))
		ip.SetTTL(64)
		ip.SetProtocol(header.ProtoTCP)
		s, d = netip.MustParseAddr("172.16.0.10"), netip.MustParseAddr("172.16.0.11")
		ip.SetSrc(s)
		ip.SetDst(d)
		ip.SetChecksum(ip.ComputeChecksum())
		vh.SetGSOType(header.VirtioGSOTCPv4)
	}
	tcp := header.TCP(ipb[hl:])
	tcp.SetSrcPort(1000)
	tcp.SetDstPort(5201)
	tcp.SetSeq(1)
	tcp.SetDataOffset(20)
	tcp.SetFlags(header.TCPFlagACK | header.TCPFlagPSH)
	for i := range payload {
		tcp[20+i] = byte(i * 3)
	}
	tcp.SetChecksum(header.Fold(header.PseudoHeaderSum(s, d, header.ProtoTCP, uint16(20+payload))))
	vh.SetFlags(header.VirtioNetHdrFNeedsCsum)
	vh.SetGSOSize(uint16(mss))
	vh.SetCsumStart(uint16(header.EthernetLen + hl))
	vh.SetCsumOffset(16)
	return b
}

// TestVXLANSegments: a TCPv4 and a TCPv6 super-frame leave as gso_size
// segments whose checksums verify (checked by gopacket at the receiver), and
// a partial checksum on a plain frame is completed.
func TestVXLANSegments(t *testing.T) {
	nsA, nsB := vxlanNets(t)
	for _, v6 := range []bool{false, true} {
		la, lb := "10.9.0.1", "10.9.0.2"
		if v6 {
			la, lb = "fd09::1", "fd09::2"
		}
		a := openVX(t, nsA, "va", la, 7)
		b := openVX(t, nsB, "vb", lb, 7)
		mustVTEP(t, a, lb)
		mustVTEP(t, b, la)
		if v6 {
			// Datagrams sent while the first neighbour solicitation of a
			// fresh veth is out get lost here; resolve it first.
			exec.Command("ip", "netns", "exec", strings.TrimPrefix(nsA, "/run/netns/"), "ping", "-6", "-c1", "-W2", lb).Run()
		}
		payload, mss := 20000, 1300
		if n, err := a.WriteBatch([][]byte{tcpSuper(v6, payload, mss)}); n != 1 || err != nil {
			t.Fatalf("v6=%v: WriteBatch %d %v", v6, n, err)
		}
		want := (payload + mss - 1) / mss
		got := readAll(t, b, want)
		if len(got) != want {
			t.Fatalf("v6=%v: %d segments arrived, want %d (sent %d datagrams; drops at A %v, at B %v)", v6, len(got), want, a.TxDatagrams.Load(), a.Drops(), b.Drops())
		}
		total := 0
		for i, g := range got {
			pkt := gopacket.NewPacket(g[header.VirtioNetHdrLen:], layers.LayerTypeEthernet, gopacket.Default)
			tl, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if tl == nil {
				t.Fatalf("segment %d: no TCP", i)
			}
			var nl gopacket.NetworkLayer = pkt.NetworkLayer()
			tl.SetNetworkLayerForChecksum(nl)
			l4 := nl.LayerPayload()
			if sum := header.Fold(header.Checksum(l4, pseudo(nl, len(l4)))); sum != 0xffff {
				t.Fatalf("v6=%v segment %d: TCP checksum does not verify", v6, i)
			}
			if len(g)-header.VirtioNetHdrLen > mss+header.EthernetLen+20+40 {
				t.Fatalf("segment %d is %d bytes", i, len(g))
			}
			total += len(tl.Payload)
		}
		if total != payload || a.TxSegments.Load() != uint64(want) {
			t.Fatalf("v6=%v: %d payload bytes over %d segments, want %d", v6, total, a.TxSegments.Load(), payload)
		}
		// A plain frame with NEEDS_CSUM: completed before it leaves.
		small := tcpSuper(v6, 300, 1398)
		header.VirtioNetHdr(small).SetGSOType(0)
		a.WriteBatch([][]byte{small})
		g := readAll(t, b, 1)
		if len(g) != 1 {
			t.Fatal("plain frame lost")
		}
		pkt := gopacket.NewPacket(g[0][header.VirtioNetHdrLen:], layers.LayerTypeEthernet, gopacket.Default)
		l4 := pkt.NetworkLayer().LayerPayload()
		if header.Fold(header.Checksum(l4, pseudo(pkt.NetworkLayer(), len(l4)))) != 0xffff {
			t.Fatalf("v6=%v: partial checksum left incomplete", v6)
		}
	}
}

func pseudo(nl gopacket.NetworkLayer, n int) uint32 {
	s, _ := netip.AddrFromSlice(nl.NetworkFlow().Src().Raw())
	d, _ := netip.AddrFromSlice(nl.NetworkFlow().Dst().Raw())
	return header.PseudoHeaderSum(s, d, header.ProtoTCP, uint16(n))
}

// TestVXLANOpenErrors: what OpenVXLAN refuses, each with its reason.
func TestVXLANOpenErrors(t *testing.T) {
	nsA, _ := vxlanNets(t)
	cases := []struct {
		c    VXLANConfig
		want string
	}{
		{VXLANConfig{NetnsPath: nsA, Dev: "va", Local: netip.MustParseAddr("10.9.0.1")}, "bad VNI 0"},
		{VXLANConfig{NetnsPath: nsA, Dev: "va", Local: netip.MustParseAddr("10.9.0.1"), VNI: 1 << 24}, "bad VNI"},
		{VXLANConfig{NetnsPath: nsA, Dev: "nope", Local: netip.MustParseAddr("10.9.0.1"), VNI: 1}, `no interface "nope"`},
		{VXLANConfig{NetnsPath: nsA, Dev: "va", Local: netip.MustParseAddr("10.9.0.9"), VNI: 1}, "not on va"},
	}
	for _, c := range cases {
		if _, err := OpenVXLAN(c.c); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.c, err, c.want)
		}
	}
	a := openVX(t, nsA, "va", "10.9.0.1", 5)
	if _, err := OpenVXLAN(VXLANConfig{NetnsPath: nsA, Dev: "va", Local: netip.MustParseAddr("10.9.0.1"), VNI: 6}); err == nil || !strings.Contains(err.Error(), "taken") {
		t.Errorf("second socket on the same address: %v", err)
	}
	if a.UnderlayMTU() != 1500 || a.Overhead() != 50 {
		t.Errorf("MTU %d overhead %d", a.UnderlayMTU(), a.Overhead())
	}
	if err := a.AddVTEP(netip.MustParseAddr("fd09::2")); err == nil {
		t.Error("an IPv6 VTEP on an IPv4 tunnel was accepted")
	}
}

// BenchmarkVXLANEncap: a batch of 32 plain 1400-byte frames to one VTEP:
// 32 datagrams in one sendmmsg.
func BenchmarkVXLANEncap(b *testing.B) {
	nsA, nsB := vxlanNets(b)
	a := openVX(b, nsA, "va", "10.9.0.1", 42)
	openVX(b, nsB, "vb", "10.9.0.2", 42) // never read: the kernel drops what overflows
	mustVTEP(b, a, "10.9.0.2")
	bufs := make([][]byte, 32)
	for i := range bufs {
		bufs[i] = frameBuf(header.BroadcastMAC, macA, 1400)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.WriteBatch(bufs)
	}
}

// BenchmarkVXLANEncapGSO: one 64 KB TCP super-frame, cut into 47 segments
// and sent in one sendmmsg: two UDP_SEGMENT messages, or (NoUSO) 47
// datagrams.
func BenchmarkVXLANEncapGSO(b *testing.B) { benchEncapGSO(b, true) }

func BenchmarkVXLANEncapGSONoUSO(b *testing.B) { benchEncapGSO(b, false) }

func benchEncapGSO(b *testing.B, uso bool) {
	nsA, nsB := vxlanNets(b)
	a := openVX(b, nsA, "va", "10.9.0.1", 42)
	a.SetUSO(uso)
	openVX(b, nsB, "vb", "10.9.0.2", 42)
	mustVTEP(b, a, "10.9.0.2")
	bufs := [][]byte{tcpSuper(false, 65000, 1398)}
	b.ReportAllocs()
	b.SetBytes(65000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.WriteBatch(bufs)
	}
}

// BenchmarkVXLANDecap: 32 datagrams sent, then read with one recvmmsg and
// checked, learned and turned into buffers in place. The send is in the
// loop (timer stopped) so every read has a full batch.
func BenchmarkVXLANDecap(b *testing.B) {
	nsA, nsB := vxlanNets(b)
	a := openVX(b, nsA, "va", "10.9.0.1", 42)
	r := openVX(b, nsB, "vb", "10.9.0.2", 42)
	mustVTEP(b, a, "10.9.0.2")
	mustVTEP(b, r, "10.9.0.1")
	out := make([][]byte, 32)
	for i := range out {
		out[i] = frameBuf(header.BroadcastMAC, macA, 1400)
	}
	bufs := make([][]byte, 32)
	sizes := make([]int, 32)
	for i := range bufs {
		bufs[i] = make([]byte, BufSize)
	}
	b.ReportAllocs()
	b.ResetTimer()
	frames := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		a.WriteBatch(out)
		b.StartTimer()
		n, _ := r.ReadBatch(bufs, sizes)
		frames += n
	}
	if frames == 0 {
		b.Fatal("nothing read")
	}
	b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
}

// TestVXLANPartialAndSuper: an inner TCP frame whose checksum field holds
// the pseudo-header sum (a sender's CHECKSUM_PARTIAL, kept over a veth) is
// handed on marked NEEDS_CSUM; one longer than the inner MTU (a Linux
// VTEP's super-frame, kept whole over a veth) as a TCP GSO frame cut to
// the MTU; a frame with a complete checksum is left plain.
func TestVXLANPartialAndSuper(t *testing.T) {
	nsA, nsB := vxlanNets(t)
	a := openVX(t, nsA, "va", "10.9.0.1", 42)
	b := openVX(t, nsB, "vb", "10.9.0.2", 42)
	mustVTEP(t, a, "10.9.0.2")
	mustVTEP(t, b, "10.9.0.1")
	mk := func(payload int) []byte {
		f := tcpSuper(false, payload, 1398)
		header.VirtioNetHdr(f).Clear() // sent as it is: partial field, no GSO
		return f[header.VirtioNetHdrLen:]
	}
	for _, c := range []struct {
		payload int
		gso     bool
	}{{500, false}, {20000, true}} {
		dgram := append([]byte{0x08, 0, 0, 0, 0, 0, 42, 0}, mk(c.payload)...)
		sendRaw(t, nsA, "10.9.0.1", "10.9.0.2", dgram)
		got := readAll(t, b, 1)
		if len(got) != 1 {
			t.Fatalf("payload %d: nothing arrived", c.payload)
		}
		vh := header.VirtioNetHdr(got[0])
		if vh.Flags() != header.VirtioNetHdrFNeedsCsum || vh.CsumStart() != 34 || vh.CsumOffset() != 16 {
			t.Fatalf("payload %d: virtio header % x, want NEEDS_CSUM from 34, offset 16", c.payload, []byte(vh[:10]))
		}
		if c.gso != vh.IsGSO() || (c.gso && (vh.GSOType() != header.VirtioGSOTCPv4 || vh.GSOSize() != 1450-40)) {
			t.Fatalf("payload %d: GSO type %d size %d, want GSO %v of 1410", c.payload, vh.GSOType(), vh.GSOSize(), c.gso)
		}
	}
	// A complete checksum: no flag.
	f := tcpSuper(false, 500, 1398)
	header.VirtioNetHdr(f).SetGSOType(0)
	if n, _ := a.WriteBatch([][]byte{f}); n != 1 { // completes it
		t.Fatal("refused")
	}
	if got := readAll(t, b, 1); len(got) != 1 || header.VirtioNetHdr(got[0]).Flags() != 0 {
		t.Fatal("a frame with a complete checksum was marked")
	}
	if b.RxPartial.Load() != 2 || b.RxGSO.Load() != 1 {
		t.Fatalf("RxPartial %d RxGSO %d, want 2 and 1", b.RxPartial.Load(), b.RxGSO.Load())
	}
}
