package port

import (
	"bytes"
	"encoding/binary"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"vswitch/header"
)

// The kernel side of 802.1Q on packet sockets, over a veth between two
// namespaces: what WriteBatchTagged sends arrives tagged (the receiving
// socket is told the tag in PACKET_AUXDATA, the frame comes without it),
// what WriteBatch sends arrives untagged, and a GSO super-frame written
// tagged is taken by the kernel and arrives whole with its offloads.

// The receiving end is a plain socket (tags from PACKET_AUXDATA) or a
// receive ring of either layout (tags from the frame header's tp_vlan_tci):
// a ring that lost them would let tagged frames pass as untagged.
func TestAFPacketTagsOutAndIn(t *testing.T) {
	for _, rx := range []string{"plain", "ring-v2", "ring-v3"} {
		t.Run(rx, func(t *testing.T) { testTagsOutAndIn(t, rx) })
	}
}

func testTagsOutAndIn(t *testing.T, rx string) {
	nsA, nsB := vethNS(t)
	a := openPlain(t, nsA, "ra")
	var b VLANPort
	switch rx {
	case "plain":
		b = openPlain(t, nsB, "rb")
	case "ring-v2":
		b = openRing(t, nsB, "rb", RingV2)
	default:
		b = openRing(t, nsB, "rb", RingV3)
	}
	dst, src := b.(interface{ MAC() header.MAC }).MAC(), a.MAC()
	f10, f20, plain := testFrame(dst, src, 1, 100), testFrame(dst, src, 2, 100), testFrame(dst, src, 3, 100)
	orig := bytes.Clone(f10)
	if n, err := a.WriteBatchTagged([][]byte{f10}, 10); n != 1 || err != nil {
		t.Fatalf("WriteBatchTagged: %d, %v", n, err)
	}
	if !bytes.Equal(f10, orig) {
		t.Error("WriteBatchTagged changed the buffer")
	}
	if n, err := a.WriteBatchTagged([][]byte{f20}, 20); n != 1 || err != nil {
		t.Fatalf("WriteBatchTagged: %d, %v", n, err)
	}
	if n, err := a.WriteBatch([][]byte{plain}); n != 1 || err != nil {
		t.Fatalf("WriteBatch: %d, %v", n, err)
	}
	want := map[int]uint16{1: 10, 2: 20, 3: 0}
	got := map[int]uint16{}
	bufs, sizes := newBufs(8)
	waitReadable(t, b)
	for tries := 0; len(got) < 3 && tries < 100; tries++ {
		n, err := b.ReadBatch(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		tags := b.Tags()
		for i := 0; i < n; i++ {
			f := bufs[i][:sizes[i]]
			if binary.BigEndian.Uint16(f[header.VirtioNetHdrLen+12:]) != ringTestEther {
				continue // the frame comes untagged: the tag is out of line
			}
			seq := int(binary.BigEndian.Uint32(f[header.VirtioNetHdrLen+14:]))
			var tag uint16
			if tags != nil {
				tag = tags[i]
			}
			got[seq] = tag
			if seq == 1 && !bytes.Equal(f, orig) {
				t.Errorf("frame 1 arrived as\n % x\nwant\n % x", clipB(f), clipB(orig))
			}
		}
		if n == 0 {
			waitReadable(t, b)
		}
	}
	for seq, tag := range want {
		if g, ok := got[seq]; !ok || g != tag {
			t.Errorf("frame %d: tag %d (arrived %v), want %d", seq, g, ok, tag)
		}
	}
}

func clipB(b []byte) []byte { return b[:min(len(b), 40)] }

// tcpGSO is a virtio_net_hdr and an IPv4/TCP frame of segs×1448 bytes of
// payload, as a TAP with TSO hands one over (checksum left to complete).
func tcpGSO(dst, src header.MAC, segs int) []byte {
	const mss = 1448
	b := make([]byte, header.VirtioNetHdrLen+14+20+20+segs*mss)
	vh := header.VirtioNetHdr(b)
	vh.SetFlags(header.VirtioNetHdrFNeedsCsum)
	vh.SetGSOType(header.VirtioGSOTCPv4)
	vh.SetGSOSize(mss)
	vh.SetHdrLen(54)
	vh.SetCsumStart(34)
	vh.SetCsumOffset(16)
	e := header.Ethernet(b[header.VirtioNetHdrLen:])
	e.SetDst(dst)
	e.SetSrc(src)
	e.SetType(header.EtherTypeIPv4)
	ip := e.Payload()
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:16], []byte{10, 77, 0, 1})
	copy(ip[16:20], []byte{10, 77, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], 0)
	binary.BigEndian.PutUint16(ip[10:], ^header.Fold(header.Checksum(ip[:20], 0)))
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 5201)
	tcp[12], tcp[13] = 5<<4, 0x10
	binary.BigEndian.PutUint16(tcp[14:], 500)
	return b
}

// A tagged super-frame keeps its GSO: the receiving socket gets it whole,
// its virtio_net_hdr counting from the untagged frame again.
func TestAFPacketTaggedGSO(t *testing.T) {
	nsA, nsB := vethNS(t)
	a, b := openPlain(t, nsA, "ra"), openPlain(t, nsB, "rb")
	f := tcpGSO(b.MAC(), a.MAC(), 20)
	if n, err := a.WriteBatchTagged([][]byte{f}, 10); n != 1 || err != nil {
		t.Fatalf("WriteBatchTagged of a super-frame: %d, %v", n, err)
	}
	bufs, sizes := newBufs(8)
	for tries := 0; tries < 50; tries++ {
		waitReadable(t, b)
		n, err := b.ReadBatch(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		tags := b.Tags()
		for i := 0; i < n; i++ {
			g := bufs[i][:sizes[i]]
			if sizes[i] < 1000 {
				continue // ARP, IPv6 chatter
			}
			vh := header.VirtioNetHdr(g)
			if sizes[i] != len(f) || !vh.IsGSO() || vh.GSOSize() != 1448 || vh.CsumStart() != 34 {
				t.Fatalf("super-frame arrived as %d bytes (sent %d), gso %v size %d csum_start %d",
					sizes[i], len(f), vh.IsGSO(), vh.GSOSize(), vh.CsumStart())
			}
			if tags == nil || tags[i] != 10 {
				t.Fatalf("super-frame's tag: %v, want 10", tags)
			}
			return
		}
	}
	t.Fatal("the super-frame never arrived")
}

func waitReadable(t *testing.T, p Port) {
	t.Helper()
	unix.Poll([]unix.PollFd{{Fd: int32(p.Fd()), Events: unix.POLLIN}}, 1000)
}

// BenchmarkAFPacketWriteTagged: sendmmsg of 32 64-byte frames pushed
// tagged through the iovec, against BenchmarkAFPacketWrite untagged; both
// go into a veth whose peer drops them.
func BenchmarkAFPacketWriteTagged(b *testing.B) { benchAFWrite(b, true) }
func BenchmarkAFPacketWrite(b *testing.B)       { benchAFWrite(b, false) }

func benchAFWrite(b *testing.B, tag bool) {
	nsA := vethBench(b)
	a, err := OpenAFPacket(nsA, "ra")
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	bufs := make([][]byte, 32)
	for i := range bufs {
		bufs[i] = testFrame(header.MAC{2, 0, 0, 0, 0, 9}, a.MAC(), i, 64)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if tag {
			a.WriteBatchTagged(bufs, 10)
		} else {
			a.WriteBatch(bufs)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*32), "ns/frame")
}

// vethBench makes a namespace with a veth whose end ra is up and whose
// peer (in the same namespace, down) drops what it gets; both go with b.
func vethBench(b *testing.B) string {
	b.Helper()
	ns := "vsvlan-bench"
	exec.Command("ip", "netns", "del", ns).Run()
	for _, args := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", ns, "link", "add", "ra", "type", "veth", "peer", "name", "rb"},
		{"ip", "-n", ns, "link", "set", "ra", "up"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	b.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return "/run/netns/" + ns
}
