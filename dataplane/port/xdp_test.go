package port

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"vswitch/header"
	"vswitch/internal/netns"
)

// The AF_XDP port on a veth pair inside a namespace made for the test:
// xa carries the port, xb is the peer, where an AF_PACKET socket plays the
// other side.

const xdpTestEther = 0x88b6

var xdpNSSeq atomic.Int32

func xdpNS(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the AF_XDP tests need root (namespaces, bpf(2)); run them as root")
	}
	ns := fmt.Sprintf("vsxdp-%d-%d", os.Getpid(), xdpNSSeq.Add(1))
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	sh("ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	sh("ip", "-n", ns, "link", "add", "xa", "type", "veth", "peer", "name", "xb")
	sh("ip", "-n", ns, "link", "set", "xa", "up")
	sh("ip", "-n", ns, "link", "set", "xb", "up")
	return "/run/netns/" + ns
}

func openTestXDP(t *testing.T, ns string) *XDP {
	t.Helper()
	p, err := OpenXDP(ns, "xa")
	if err != nil {
		t.Fatalf("OpenXDP: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// xdpPeer is an AF_PACKET socket on xb for the test's EtherType.
func xdpPeer(t *testing.T, ns string) int {
	t.Helper()
	var fd int
	err := netns.Do(ns, func() error {
		ifi, err := net.InterfaceByName("xb")
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(xdpTestEther)))
		if err != nil {
			return err
		}
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20)
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(xdpTestEther), Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// xdpFrame is a test frame: Ethernet with the test EtherType, the sequence
// number, then a pattern, size bytes in all.
func xdpFrame(seq, size int) []byte {
	f := make([]byte, size)
	copy(f[0:6], []byte{0x02, 0, 0, 0, 0, 0xaa})
	copy(f[6:12], []byte{0x02, 0, 0, 0, 0, 0xbb})
	binary.BigEndian.PutUint16(f[12:14], xdpTestEther)
	binary.BigEndian.PutUint32(f[14:18], uint32(seq))
	for i := 18; i < size; i++ {
		f[i] = byte(seq + i)
	}
	return f
}

func xdpBufs(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, BufSize)
	}
	return bufs, make([]int, n)
}

// xdpCollect reads test frames from p (waiting on its Fd as a worker would)
// until want arrived or 5 s passed; frames of other EtherTypes are skipped.
func xdpCollect(t *testing.T, p Port, want, batch int) [][]byte {
	t.Helper()
	bufs, sizes := xdpBufs(batch)
	var got [][]byte
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		pfd := []unix.PollFd{{Fd: int32(p.Fd()), Events: unix.POLLIN}}
		unix.Poll(pfd, 100)
		n, err := p.ReadBatch(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			f := bufs[i][header.VirtioNetHdrLen:sizes[i]]
			if len(f) >= 14 && binary.BigEndian.Uint16(f[12:14]) == xdpTestEther {
				got = append(got, bytes.Clone(f))
			}
		}
	}
	return got
}

func TestXDPReadBatchFramesIntact(t *testing.T) {
	ns := xdpNS(t)
	p := openTestXDP(t, ns)
	peer := xdpPeer(t, ns)
	// More than the rx ring holds in all, sent in rounds the reader drains.
	const rounds, per = 5, 400
	for r := 0; r < rounds; r++ {
		var sent [][]byte
		for i := 0; i < per; i++ {
			f := xdpFrame(r*per+i, 60+(i*37)%1454)
			sent = append(sent, f)
			if _, err := unix.Write(peer, f); err != nil {
				t.Fatalf("peer write %d: %v", i, err)
			}
		}
		got := xdpCollect(t, p, per, 64)
		if len(got) != per {
			t.Fatalf("round %d: %d of %d frames arrived through the rx ring", r, len(got), per)
		}
		for i := range got {
			if !bytes.Equal(got[i], sent[i]) {
				t.Fatalf("round %d frame %d: got %d bytes %x..., sent %d bytes %x...", r, i, len(got[i]), got[i][:18], len(sent[i]), sent[i][:18])
			}
		}
	}
}

func xdpPeerRead(t *testing.T, peer, want int) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 65536)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		pfd := []unix.PollFd{{Fd: int32(peer), Events: unix.POLLIN}}
		if n, _ := unix.Poll(pfd, 100); n <= 0 {
			continue
		}
		n, err := unix.Read(peer, buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, bytes.Clone(buf[:n]))
	}
	return got
}

func vnet(f []byte) []byte { return append(make([]byte, header.VirtioNetHdrLen), f...) }

func TestXDPWriteBatchArrivesAtPeer(t *testing.T) {
	ns := xdpNS(t)
	p := openTestXDP(t, ns)
	peer := xdpPeer(t, ns)
	// One batch three times the tx ring: the port sends it in parts.
	const n = 3 * xdpRingSize
	var bufs [][]byte
	for i := 0; i < n; i++ {
		bufs = append(bufs, vnet(xdpFrame(i, 60+(i*53)%1454)))
	}
	sent, err := p.WriteBatch(bufs)
	if err != nil || sent != n {
		t.Fatalf("WriteBatch: %d of %d sent, err %v (too big %d, ring full %d)", sent, n, err, p.TxTooBig.Load(), p.TxRingFull.Load())
	}
	got := xdpPeerRead(t, peer, n)
	if len(got) != n {
		t.Fatalf("the peer got %d of %d frames", len(got), n)
	}
	for i := range got {
		if !bytes.Equal(got[i], bufs[i][header.VirtioNetHdrLen:]) {
			t.Fatalf("frame %d differs at the peer: %x...", i, got[i][:18])
		}
	}
}

func TestXDPWriteRefusesTooBig(t *testing.T) {
	ns := xdpNS(t)
	p := openTestXDP(t, ns)
	peer := xdpPeer(t, ns)
	big := vnet(xdpFrame(1, XDPMaxFrame+1)) // not GSO: cannot be cut
	ok := vnet(xdpFrame(2, 100))
	sent, _ := p.WriteBatch([][]byte{big, ok})
	if sent != 1 || p.TxTooBig.Load() != 1 {
		t.Fatalf("sent %d (want 1), TxTooBig %d (want 1)", sent, p.TxTooBig.Load())
	}
	got := xdpPeerRead(t, peer, 1)
	if len(got) != 1 || !bytes.Equal(got[0], ok[header.VirtioNetHdrLen:]) {
		t.Fatalf("the peer got %d frames, want the small one", len(got))
	}
}

// A TCP super-frame written to the port leaves as gso_size segments whose
// payloads, in order, are the super-frame's, each with its sequence number,
// IP length and a valid IP header checksum.
func TestXDPSegmentsSuperFrame(t *testing.T) {
	ns := xdpNS(t)
	p := openTestXDP(t, ns)
	var peer int
	err := netns.Do(ns, func() error {
		ifi, _ := net.InterfaceByName("xb")
		var err error
		peer, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
		if err != nil {
			return err
		}
		return unix.Bind(peer, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(peer)
	const mss, plen = 1448, 10000
	f := make([]byte, 14+20+20+plen)
	binary.BigEndian.PutUint16(f[12:14], header.EtherTypeIPv4)
	ip := header.IPv4(f[14:])
	ip[0] = 0x45
	ip.SetTotalLen(uint16(20 + 20 + plen))
	ip.SetID(100)
	ip.SetTTL(64)
	ip.SetProtocol(header.ProtoTCP)
	copy(ip[12:16], []byte{10, 9, 0, 1})
	copy(ip[16:20], []byte{10, 9, 0, 2})
	tcp := header.TCP(ip[20:])
	tcp.SetSeq(5000)
	tcp[12] = 5 << 4
	tcp.SetFlags(header.TCPFlagACK | header.TCPFlagPSH)
	for i := 0; i < plen; i++ {
		tcp[20+i] = byte(i * 7)
	}
	b := vnet(f)
	vh := header.VirtioNetHdr(b)
	vh.SetFlags(header.VirtioNetHdrFNeedsCsum)
	vh.SetGSOType(header.VirtioGSOTCPv4)
	vh.SetGSOSize(mss)
	vh.SetHdrLen(54)
	vh.SetCsumStart(34)
	vh.SetCsumOffset(16)
	if sent, _ := p.WriteBatch([][]byte{b}); sent != 1 {
		t.Fatalf("super-frame not sent (too big %d)", p.TxTooBig.Load())
	}
	want := (plen + mss - 1) / mss
	got := xdpPeerRead(t, peer, want)
	if len(got) != want {
		t.Fatalf("the peer got %d segments, want %d", len(got), want)
	}
	var payload []byte
	for i, g := range got {
		gip := header.IPv4(g[14:])
		gt := header.TCP(gip[20:gip.TotalLen()])
		if gt.Seq() != 5000+uint32(len(payload)) {
			t.Fatalf("segment %d: seq %d, want %d", i, gt.Seq(), 5000+len(payload))
		}
		if header.Fold(header.Checksum(gip[:20], 0)) != 0xffff {
			t.Fatalf("segment %d: bad IP header checksum", i)
		}
		psh := gt.Flags()&header.TCPFlagPSH != 0
		if psh != (i == want-1) {
			t.Fatalf("segment %d: PSH %v, want it on the last only", i, psh)
		}
		payload = append(payload, gt[20:]...)
	}
	if !bytes.Equal(payload, tcp[20:]) {
		t.Fatalf("the segments' payloads (%d bytes) are not the super-frame's (%d)", len(payload), plen)
	}
	if p.TxSegments.Load() != uint64(want) {
		t.Fatalf("TxSegments %d, want %d", p.TxSegments.Load(), want)
	}
}

// A UDP datagram the peer's stack sends arrives marked NEEDS_CSUM with the
// pseudo-header sum in place: finishing it as the kernel would gives the
// checksum of the datagram.
func TestXDPReceivedChecksumIsPartial(t *testing.T) {
	ns := xdpNS(t)
	p := openTestXDP(t, ns)
	sh := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	nsName := ns[len("/run/netns/"):]
	sh("ip", "-n", nsName, "addr", "add", "10.9.0.1/24", "dev", "xb")
	sh("ip", "-n", nsName, "neigh", "add", "10.9.0.2", "lladdr", "02:00:00:00:00:02", "dev", "xb")
	err := netns.Do(ns, func() error {
		c, err := net.Dial("udp4", "10.9.0.2:9999")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hello, xdp, with a checksum to finish"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	bufs, sizes := xdpBufs(8)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		unix.Poll([]unix.PollFd{{Fd: int32(p.Fd()), Events: unix.POLLIN}}, 100)
		n, _ := p.ReadBatch(bufs, sizes)
		for i := 0; i < n; i++ {
			b := bufs[i][:sizes[i]]
			f := header.Ethernet(b[header.VirtioNetHdrLen:])
			if f.Type() != header.EtherTypeIPv4 || header.IPv4(f[14:]).Protocol() != header.ProtoUDP {
				continue
			}
			vh := header.VirtioNetHdr(b)
			if vh.Flags()&header.VirtioNetHdrFNeedsCsum == 0 || vh.CsumStart() != 34 || vh.CsumOffset() != 6 {
				t.Fatalf("virtio header %x: want NEEDS_CSUM, start 34, offset 6", b[:10])
			}
			// Finish it: the sum from csum_start on, complemented, into the field.
			l4 := f[34:]
			c := ^header.Fold(header.Checksum(l4, 0))
			binary.BigEndian.PutUint16(l4[6:8], c)
			ip := header.IPv4(f[14:])
			verify := header.Fold(header.Checksum(l4, header.PseudoHeaderSum(ip.Src(), ip.Dst(), header.ProtoUDP, uint16(len(l4)))))
			if verify != 0xffff {
				t.Fatalf("the finished checksum %04x does not verify", c)
			}
			if p.RxCsum.Load() == 0 {
				t.Fatal("RxCsum did not count the frame")
			}
			return
		}
	}
	t.Fatal("the UDP datagram did not arrive")
}

func TestXDPCloseDetaches(t *testing.T) {
	ns := xdpNS(t)
	nsName := ns[len("/run/netns/"):]
	show := func() string {
		out, err := exec.Command("ip", "-n", nsName, "-d", "link", "show", "xa").CombinedOutput()
		if err != nil {
			t.Fatalf("ip link show: %v\n%s", err, out)
		}
		return string(out)
	}
	p, err := OpenXDP(ns, "xa")
	if err != nil {
		t.Fatal(err)
	}
	if s := show(); !strings.Contains(s, "xdp") {
		t.Fatalf("no XDP program on xa while the port is open:\n%s", s)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if s := show(); strings.Contains(s, "xdp") {
		t.Fatalf("xa still has an XDP program after Close:\n%s", s)
	}
	// And the device takes a new port: nothing was left behind.
	p2, err := OpenXDP(ns, "xa")
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	p2.Close()
}

func TestXDPOpenRefusesSecondPort(t *testing.T) {
	ns := xdpNS(t)
	openTestXDP(t, ns)
	if _, err := OpenXDP(ns, "xa"); err == nil || !strings.Contains(err.Error(), "taken by another AF_XDP socket") {
		t.Fatalf("a second port on xa: err %v, want 'taken by another AF_XDP socket'", err)
	}
	if _, err := OpenXDP(ns, "nosuch0"); err == nil || !strings.Contains(err.Error(), "no interface") {
		t.Fatalf("no such interface: err %v", err)
	}
}

// The hot paths, on a live veth: a write of 32 frames and reading them back.
func BenchmarkXDPWriteRead32(b *testing.B) {
	ns := xdpBenchNS(b)
	p, err := OpenXDP(ns, "xa")
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	// A second port on xb reads what p writes: both rings on the hot path.
	q, err := OpenXDP(ns, "xb")
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	frames := make([][]byte, 32)
	for i := range frames {
		frames[i] = vnet(xdpFrame(i, 64))
	}
	bufs, sizes := xdpBufs(64)
	b.ReportAllocs()
	b.ResetTimer()
	got := 0
	for i := 0; i < b.N; i++ {
		p.WriteBatch(frames)
		for n := 1; n > 0; {
			n, _ = q.ReadBatch(bufs, sizes)
			got += n
		}
	}
	b.StopTimer()
	if got == 0 {
		b.Fatal("no frame arrived")
	}
	b.ReportMetric(float64(got)/float64(b.N*32), "delivered/sent")
}

func xdpBenchNS(b *testing.B) string {
	ns := fmt.Sprintf("vsxdpb-%d-%d", os.Getpid(), xdpNSSeq.Add(1))
	for _, args := range [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"},
		{"ip", "-n", ns, "link", "add", "xa", "type", "veth", "peer", "name", "xb"},
		{"ip", "-n", ns, "link", "set", "xa", "up"},
		{"ip", "-n", ns, "link", "set", "xb", "up"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %v %s", args, err, out)
		}
	}
	b.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return "/run/netns/" + ns
}

// A vswitchd killed with its port open leaves the program on the device
// (its socket gone): the next one takes the device over and frames flow.
// Someone else's XDP program is left alone.
func TestXDPTakesOverItsOwnLeftProgram(t *testing.T) {
	ns := xdpNS(t)
	p, err := OpenXDP(ns, "xa")
	if err != nil {
		t.Fatal(err)
	}
	// What a kill does: every descriptor and mapping gone, nothing detached.
	p.release(false)
	nsName := ns[len("/run/netns/"):]
	if out, _ := exec.Command("ip", "-n", nsName, "link", "show", "xa").CombinedOutput(); !strings.Contains(string(out), "xdp") {
		t.Fatalf("the killed port's program should still be on xa:\n%s", out)
	}
	q := openTestXDP(t, ns)
	peer := xdpPeer(t, ns)
	f := xdpFrame(7, 100)
	if _, err := unix.Write(peer, f); err != nil {
		t.Fatal(err)
	}
	if got := xdpCollect(t, q, 1, 8); len(got) != 1 || !bytes.Equal(got[0], f) {
		t.Fatalf("after taking the device over: %d frames arrived, want the one sent", len(got))
	}
	q.Close()

	// A foreign program: same code, another name.
	other := &XDP{ifname: "xa", fd: -1, mapFd: -1, progFd: -1}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	other.fd = fd
	if err := other.setupProgram(); err != nil {
		t.Fatal(err)
	}
	defer other.release(false)
	insns := xdpRedirectProgram(other.mapFd)
	license := []byte("GPL\x00")
	la := bpfProgLoadAttr{progType: unix.BPF_PROG_TYPE_XDP, insnCnt: uint32(len(insns)),
		insns: uint64(uintptr(unsafe.Pointer(&insns[0]))), license: uint64(uintptr(unsafe.Pointer(&license[0])))}
	copy(la.progName[:], "someone_else")
	pfd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&la), unsafe.Sizeof(la))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pfd)
	err = netns.Do(ns, func() error {
		l, err := netlink.LinkByName("xa")
		if err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(l, pfd, unix.XDP_FLAGS_DRV_MODE)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenXDP(ns, "xa"); err == nil || !strings.Contains(err.Error(), "already has an XDP program") {
		t.Fatalf("with someone else's program on xa: err %v, want 'already has an XDP program'", err)
	}
	if out, _ := exec.Command("ip", "-n", nsName, "link", "show", "xa").CombinedOutput(); !strings.Contains(string(out), "xdp") {
		t.Fatalf("the foreign program was removed:\n%s", out)
	}
}
