package port

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"vswitch/header"
	"vswitch/internal/netns"
)

// ringTestEther is the IEEE "local experimental" ethertype: the test's own
// frames, told apart from anything else the namespaces send.
const ringTestEther = 0x88b5

// vethNS makes two namespaces of unique names joined by a veth: ra in the
// first (where the ring goes), rb in the second, addressed 10.77.0.1/24
// and 10.77.0.2/24. Both go when the test ends.
func vethNS(t *testing.T) (a, b string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test makes network namespaces and needs root")
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	a, b = "vsring-a-"+id, "vsring-b-"+id
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	// The cleanups get names of their own: a and b are returned as paths.
	for _, ns := range []string{a, b} {
		sh("ip", "netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		})
	}
	for _, ns := range []string{a, b} {
		// No IPv6 chatter (router solicitations, DAD) among the frames.
		sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
		sh("ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh("ip", "-n", a, "link", "add", "ra", "type", "veth", "peer", "name", "rb", "netns", b)
	sh("ip", "-n", a, "addr", "add", "10.77.0.1/24", "dev", "ra")
	sh("ip", "-n", b, "addr", "add", "10.77.0.2/24", "dev", "rb")
	// Jumbo frames: larger than a V2 slot, they take the TP_STATUS_COPY way.
	sh("ip", "-n", a, "link", "set", "ra", "mtu", "9000")
	sh("ip", "-n", b, "link", "set", "rb", "mtu", "9000")
	sh("ip", "-n", a, "link", "set", "ra", "up")
	sh("ip", "-n", b, "link", "set", "rb", "up")
	return "/run/netns/" + a, "/run/netns/" + b
}

func openRing(t *testing.T, ns, ifname string, v RingVersion) *AFPacketRing {
	t.Helper()
	r, err := OpenAFPacketRing(ns, ifname, v)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func openPlain(t *testing.T, ns, ifname string) *AFPacket {
	t.Helper()
	p, err := OpenAFPacket(ns, ifname)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// testFrame is a virtio_net_hdr (zero: a plain frame) and an Ethernet frame
// of ethertype ringTestEther whose payload starts with seq and is size
// bytes in all.
func testFrame(dst, src header.MAC, seq, size int) []byte {
	b := make([]byte, header.VirtioNetHdrLen+size)
	f := b[header.VirtioNetHdrLen:]
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:14], ringTestEther)
	binary.BigEndian.PutUint32(f[14:18], uint32(seq))
	for i := 18; i < len(f); i++ {
		f[i] = byte(seq + i)
	}
	return b
}

func newBufs(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, BufSize)
	}
	return bufs, make([]int, n)
}

// collect reads from p (waiting on its Fd) until want test frames arrived
// or 5 s passed; it returns them in arrival order and the largest number
// one ReadBatch returned.
func collect(t *testing.T, p Port, want, batch int) (got [][]byte, most int) {
	t.Helper()
	bufs, sizes := newBufs(batch)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		pfd := []unix.PollFd{{Fd: int32(p.Fd()), Events: unix.POLLIN}}
		unix.Poll(pfd, 50)
		n, err := p.ReadBatch(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		most = max(most, n)
		for i := 0; i < n; i++ {
			f := bufs[i][:sizes[i]]
			if len(f) >= header.VirtioNetHdrLen+14 && binary.BigEndian.Uint16(f[header.VirtioNetHdrLen+12:]) == ringTestEther {
				got = append(got, bytes.Clone(f))
			}
		}
	}
	return got, most
}

// Frames sent into the ring's interface come out of ReadBatch byte for
// byte, in the order sent, across many blocks, jumbo frames among them;
// one large batch spans more than one block; and frames written by the
// ring port arrive intact too.
func TestAFPacketRingFramesInOrder(t *testing.T) {
	for _, v := range []RingVersion{RingV3, RingV2} {
		t.Run(v.String(), func(t *testing.T) { testRingFramesInOrder(t, v) })
	}
}

func testRingFramesInOrder(t *testing.T, v RingVersion) {
	nsA, nsB := vethNS(t)
	r := openRing(t, nsA, "ra", v)
	peer := openPlain(t, nsB, "rb")

	// About 230 frames a block: 13 blocks. Every 7th frame, and 100 in a
	// row, are jumbo ones, too big for a V2 slot: they must still arrive
	// in their place.
	const count, size = 3000, 1000
	var sent [][]byte
	for i := 0; i < count; i++ {
		sz := size
		if i%7 == 3 || i >= 1000 && i < 1100 { // lone ones, and a run longer than one recvmmsg
			sz = 4000 + i
		}
		sent = append(sent, testFrame(r.MAC(), peer.MAC(), i, sz))
	}
	for i := 0; i < count; i += 50 {
		if n, err := peer.WriteBatch(sent[i : i+50]); n != 50 {
			t.Fatalf("peer sent %d of 50 frames: %v", n, err)
		}
	}
	// Every block closed (full or by its timer) before the first read, so
	// one batch of 1024 must run over the end of the first block (V3), or
	// take 1024 slots in one walk (V2).
	time.Sleep(50 * time.Millisecond)
	inFirst := 1023
	if v == RingV3 {
		inFirst = int(*r.word(bdNumPkts))
	}
	got, most := collect(t, r, count, 1024)
	if len(got) != count {
		t.Fatalf("ring read %d of %d frames", len(got), count)
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("frame %d differs: got seq %d, %d bytes, want seq %d, %d bytes", i,
				binary.BigEndian.Uint32(got[i][header.VirtioNetHdrLen+14:]), len(got[i]), i, len(sent[i]))
		}
	}
	if inFirst == 0 || most <= inFirst {
		t.Errorf("largest batch %d frames, first block held %d: a batch should span blocks", most, inFirst)
	}
	if r.Truncated() != 0 {
		t.Errorf("%d frames truncated", r.Truncated())
	}

	// The other way: the ring port writes (sendmmsg), the peer reads.
	var back [][]byte
	for i := 0; i < 200; i++ {
		back = append(back, testFrame(peer.MAC(), r.MAC(), 10000+i, 60+i*7))
	}
	if n, err := r.WriteBatch(back); n != len(back) {
		t.Fatalf("ring port sent %d of %d: %v", n, len(back), err)
	}
	got, _ = collect(t, peer, len(back), 64)
	if len(got) != len(back) {
		t.Fatalf("peer read %d of %d frames", len(got), len(back))
	}
	for i := range back {
		if !bytes.Equal(got[i], back[i]) {
			t.Fatalf("written frame %d arrived changed", i)
		}
	}
}

// A TCP sender in the peer namespace (veth TSO on) makes GSO super-frames:
// they reach the ring whole, with the virtio_net_hdr the kernel filled in.
func TestAFPacketRingGSOSuperFrame(t *testing.T) {
	for _, v := range []RingVersion{RingV3, RingV2} {
		t.Run(v.String(), func(t *testing.T) { testRingGSOSuperFrame(t, v) })
	}
}

// V2 takes the super-frame through the socket's queue (TP_STATUS_COPY).
func testRingGSOSuperFrame(t *testing.T, v RingVersion) {
	nsA, nsB := vethNS(t)
	r := openRing(t, nsA, "ra", v)

	var ln net.Listener
	if err := netns.Do(nsA, func() (err error) { ln, err = net.Listen("tcp4", "10.77.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	var c net.Conn
	if err := netns.Do(nsB, func() (err error) { c, err = net.Dial("tcp4", ln.Addr().String()); return }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		chunk := make([]byte, 256<<10)
		for i := 0; i < 16; i++ {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()

	bufs, sizes := newBufs(64)
	deadline := time.Now().Add(5 * time.Second)
	var gso, largest int
	var vh header.VirtioNetHdr
	for gso == 0 && time.Now().Before(deadline) {
		unix.Poll([]unix.PollFd{{Fd: int32(r.Fd()), Events: unix.POLLIN}}, 50)
		n, err := r.ReadBatch(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			v := header.VirtioNetHdr(bufs[i][:header.VirtioNetHdrLen])
			if sizes[i] > largest {
				largest = sizes[i]
			}
			if v.IsGSO() && sizes[i] > header.VirtioNetHdrLen+1514 {
				gso++
				vh = header.VirtioNetHdr(bytes.Clone(v))
			}
		}
	}
	if gso == 0 {
		t.Fatalf("no GSO super-frame reached the ring in 5 s (largest frame %d bytes)", largest)
	}
	if vh.GSOType()&^header.VirtioGSOECN != header.VirtioGSOTCPv4 || vh.GSOSize() == 0 || vh.GSOSize() > 9000-40 ||
		vh.Flags()&header.VirtioNetHdrFNeedsCsum == 0 || vh.CsumStart() != 14+20 || vh.CsumOffset() != 16 {
		t.Errorf("super-frame's header: type %d, gso_size %d, flags %d, csum %d+%d; want TCPv4, an MSS, needs-csum at 34+16",
			vh.GSOType(), vh.GSOSize(), vh.Flags(), vh.CsumStart(), vh.CsumOffset())
	}
	if r.Truncated() != 0 {
		t.Errorf("%d frames truncated", r.Truncated())
	}
	t.Logf("largest super-frame %d bytes (gso_size %d)", largest, vh.GSOSize())
}

// Close unmaps the ring and closes the socket.
func TestAFPacketRingCloseFreesRing(t *testing.T) {
	for _, v := range []RingVersion{RingV3, RingV2} {
		t.Run(v.String(), func(t *testing.T) { testRingCloseFreesRing(t, v) })
	}
}

func testRingCloseFreesRing(t *testing.T, v RingVersion) {
	nsA, _ := vethNS(t)
	r, err := OpenAFPacketRing(nsA, "ra", v)
	if err != nil {
		t.Fatal(err)
	}
	start := fmt.Sprintf("%x-", uintptr(unsafe.Pointer(&r.ring[0])))
	mapped := func() bool {
		maps, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(maps), "\n") {
			if strings.HasPrefix(l, start) {
				return true
			}
		}
		return false
	}
	if !mapped() {
		t.Fatalf("ring at %s not in /proc/self/maps", start)
	}
	fd := r.Fd()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if mapped() {
		t.Error("the ring is still mapped after Close")
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("socket still open after Close (fcntl: %v)", err)
	}
	if n, err := r.ReadBatch(make([][]byte, 1), make([]int, 1)); n != 0 || err != nil {
		t.Errorf("ReadBatch after Close = %d, %v; want 0, nil", n, err)
	}
	if r.Close() != nil {
		t.Error("a second Close failed")
	}
}

// fakeRing lays out blocks as the kernel does (tpacket_block_desc, then
// tpacket3_hdr frames with the virtio_net_hdr before the MAC header), each
// of perBlock frames of size bytes, every block handed to user space.
func fakeRing(blocks, perBlock, size int) *AFPacketRing {
	const bsize = 64 << 10
	r := &AFPacketRing{version: RingV3, ring: make([]byte, blocks*bsize), blocks: blocks, bsize: bsize, AFPacket: fakeSocket()}
	const first, mac = 48, 92
	for b := 0; b < blocks; b++ {
		base := b * bsize
		off := first
		*r.word(base + bdNumPkts) = uint32(perBlock)
		*r.word(base + bdFirstPkt) = first
		for i := 0; i < perBlock; i++ {
			h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.ring[base+off]))
			next := (mac + size + 15) &^ 15
			h.Next_offset, h.Snaplen, h.Len, h.Mac = uint32(next), uint32(size), uint32(size), mac
			binary.BigEndian.PutUint32(r.ring[base+off+mac:], uint32(b*perBlock+i))
			off += next
		}
		*r.word(base + bdStatus) = unix.TP_STATUS_USER
	}
	return r
}

// A frame the kernel cut short (snaplen < len: larger than a block) is
// dropped and counted, and the walk goes on with the next one.
func TestAFPacketRingDropsTruncated(t *testing.T) {
	r := fakeRing(2, 5, 100)
	h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.ring[48+(92+100+15)&^15]))
	h.Len = 70000
	bufs, sizes := newBufs(16)
	n, err := r.ReadBatch(bufs, sizes)
	if err != nil || n != 9 {
		t.Fatalf("ReadBatch = %d, %v; want the 9 whole frames", n, err)
	}
	for i, want := range []uint32{0, 2, 3, 4, 5, 6, 7, 8, 9} {
		if got := binary.BigEndian.Uint32(bufs[i][header.VirtioNetHdrLen:]); got != want || sizes[i] != header.VirtioNetHdrLen+100 {
			t.Errorf("frame %d: seq %d, %d bytes; want seq %d, %d bytes", i, got, sizes[i], want, header.VirtioNetHdrLen+100)
		}
	}
	if r.Truncated() != 1 {
		t.Errorf("truncated = %d, want 1", r.Truncated())
	}
	if s := *r.word(bdStatus); s != unix.TP_STATUS_KERNEL {
		t.Errorf("block 0 status %d after reading it, want TP_STATUS_KERNEL", s)
	}
}

// fakeSocket is the part of a fake ring's socket ReadBatch uses: the
// batch's tags.
func fakeSocket() *AFPacket { return &AFPacket{tags: make([]uint16, maxBatch)} }

// The ring reports each frame's tag from its frame header (tp_vlan_tci with
// TP_STATUS_VLAN_VALID), as the plain socket does from PACKET_AUXDATA: a
// customer tag's VLAN id, TagOther for a service tag; nil Tags for a batch
// without one.
func TestAFPacketRingTags(t *testing.T) {
	r := fakeRing(1, 4, 100)
	off := 48
	for _, tag := range []struct{ tci, tpid uint16 }{{10, header.EtherTypeVLAN}, {0, 0}, {0x2014, header.EtherTypeVLAN}, {30, header.EtherTypeQinQ}} {
		h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.ring[off]))
		if tag.tpid != 0 {
			h.Status |= unix.TP_STATUS_VLAN_VALID | unix.TP_STATUS_VLAN_TPID_VALID
			h.Hv1.Vlan_tci, h.Hv1.Vlan_tpid = uint32(tag.tci), tag.tpid
		}
		off += int(h.Next_offset)
	}
	bufs, sizes := newBufs(8)
	if n, _ := r.ReadBatch(bufs, sizes); n != 4 {
		t.Fatalf("ReadBatch = %d, want 4", n)
	}
	if got := r.Tags(); !slices.Equal(got[:4], []uint16{10, 0, 20, TagOther}) {
		t.Errorf("V3 tags %v, want [10 0 20 TagOther] (priority bits dropped)", got[:4])
	}

	v2 := fakeRingV2(2)
	h := (*unix.Tpacket2Hdr)(unsafe.Pointer(&v2.ring[ringSlotSize]))
	h.Status |= unix.TP_STATUS_VLAN_VALID
	h.Vlan_tci = 20
	if n, _ := v2.ReadBatch(bufs, sizes); n != 2 {
		t.Fatalf("V2 ReadBatch = %d, want 2", n)
	}
	if got := v2.Tags(); !slices.Equal(got[:2], []uint16{0, 20}) {
		t.Errorf("V2 tags %v, want [0 20]", got[:2])
	}
	for k := 0; k < 2; k++ {
		*v2.word(k * ringSlotSize) = unix.TP_STATUS_USER // untagged now
	}
	if n, _ := v2.ReadBatch(bufs, sizes); n != 2 || v2.Tags() != nil {
		t.Errorf("an untagged batch: %d frames, tags %v; want 2, nil", n, v2.Tags())
	}
}

// fakeRingV2 is slots of 64-byte frames, every one handed to user space.
func fakeRingV2(slots int) *AFPacketRing {
	r := &AFPacketRing{version: RingV2, ring: make([]byte, slots*ringSlotSize), blocks: slots, bsize: ringSlotSize, AFPacket: fakeSocket()}
	for i := 0; i < slots; i++ {
		h := (*unix.Tpacket2Hdr)(unsafe.Pointer(&r.ring[i*ringSlotSize]))
		h.Snaplen, h.Len, h.Mac, h.Status = 64, 64, 76, unix.TP_STATUS_USER
	}
	return r
}

// Walking V2 slots, 32 at a time, allocates nothing.
func BenchmarkAFPacketRingReadV2(b *testing.B) {
	const slots = 1024
	r := fakeRingV2(slots)
	bufs, sizes := newBufs(32)
	b.ReportAllocs()
	b.ResetTimer()
	frames := 0
	for i := 0; i < b.N; i++ {
		n, _ := r.ReadBatch(bufs, sizes)
		frames += n
		if n == 0 {
			for k := 0; k < slots; k++ {
				*r.word(k * ringSlotSize) = unix.TP_STATUS_USER
			}
		}
	}
	if frames > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
	}
}

// Walking the V3 ring and copying 64-byte frames out, a batch of 32 at a
// time, allocates nothing.
func BenchmarkAFPacketRingRead(b *testing.B) {
	const blocks, per = 32, 64
	r := fakeRing(blocks, per, 64)
	bufs, sizes := newBufs(32)
	b.ReportAllocs()
	b.ResetTimer()
	frames := 0
	for i := 0; i < b.N; i++ {
		n, _ := r.ReadBatch(bufs, sizes)
		frames += n
		if n == 0 {
			// Every block read: hand them all back as the kernel would.
			for k := 0; k < blocks; k++ {
				*r.word(k*r.bsize + bdStatus) = unix.TP_STATUS_USER
			}
		}
	}
	if frames > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
	}
}
