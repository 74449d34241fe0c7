package dataplane

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"vswitch/dataplane/port"
	"vswitch/fdb"
	"vswitch/header"
)

// Helpers of the pipeline tier: a fake clock, frame builders and a testbed
// that runs a real Dataplane (epoll workers and all) on in-memory ports.

// fakeClock is the injected time: tests age the FDB by moving it, never by
// sleeping. Safe for the workers and the aging loop to read concurrently.
type fakeClock struct{ ns atomic.Int64 }

// t0 is an arbitrary, fixed start: far from the zero time, so a zero
// last-seen stamp would look ancient.
var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock {
	c := new(fakeClock)
	c.ns.Store(t0.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// stationMAC is a locally administered unicast address, 02:42:ac:11:00:i,
// the layout Docker gives containers.
func stationMAC(i int) header.MAC {
	return header.MAC{0x02, 0x42, 0xac, 0x11, byte(i >> 8), byte(i)}
}

func stationIP(i int) netip.Addr { return netip.AddrFrom4([4]byte{172, 17, byte(i >> 8), byte(i)}) }

func netIP(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

// rawFrame is a dataplane buffer by hand: a zeroed virtio_net_hdr, then dst,
// src, EtherType and payload, with no padding, so runts can be made too.
func rawFrame(dst, src header.MAC, etherType uint16, payload []byte) []byte {
	b := make([]byte, header.VirtioNetHdrLen+header.EthernetLen+len(payload))
	eth := header.Ethernet(b[header.VirtioNetHdrLen:])
	eth.SetDst(dst)
	eth.SetSrc(src)
	eth.SetType(etherType)
	copy(eth.Payload(), payload)
	return b
}

// udpFrame is a dataplane buffer holding an Ethernet/IPv4/UDP packet between
// stations (by their MACs, addresses derived from tag) whose Ethernet frame
// is frameLen bytes (at least 42), built by gopacket with valid checksums.
// tag goes into the payload so frames of one test are told apart.
func udpFrame(tb testing.TB, dst, src header.MAC, frameLen, tag int) []byte {
	tb.Helper()
	const hdrs = header.EthernetLen + 20 + 8
	if frameLen < hdrs+4 {
		tb.Fatalf("udpFrame: %d bytes cannot hold the headers and the tag", frameLen)
	}
	payload := make([]byte, frameLen-hdrs)
	payload[0], payload[1], payload[2], payload[3] = byte(tag>>24), byte(tag>>16), byte(tag>>8), byte(tag)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(src[:]), DstMAC: net.HardwareAddr(dst[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: netIP(stationIP(int(src[5]))), DstIP: netIP(stationIP(int(dst[5])))}
	udp := &layers.UDP{SrcPort: 40000, DstPort: 9}
	udp.SetNetworkLayerForChecksum(ip)
	return withVirtioHdr(tb, nil, eth, ip, udp, gopacket.Payload(payload))
}

// gsoTCPFrame is a TCPv4 GSO super-frame as a TAP with TSO hands it over: a
// virtio_net_hdr with NEEDS_CSUM, gso_type TCPv4 and gso_size 1448, and a TCP
// checksum field holding the folded pseudo-header sum (CHECKSUM_PARTIAL).
// segments×1448 bytes of payload; 45 segments make a 65 KB frame.
func gsoTCPFrame(tb testing.TB, dst, src header.MAC, segments int) []byte {
	tb.Helper()
	const mss = 1448
	vh := header.VirtioNetHdr(make([]byte, header.VirtioNetHdrLen))
	vh.SetFlags(header.VirtioNetHdrFNeedsCsum)
	vh.SetGSOType(header.VirtioGSOTCPv4)
	vh.SetHdrLen(header.EthernetLen + 20 + 20)
	vh.SetGSOSize(mss)
	vh.SetCsumStart(header.EthernetLen + 20)
	vh.SetCsumOffset(16)

	payload := make([]byte, segments*mss)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	sip, dip := stationIP(int(src[5])), stationIP(int(dst[5]))
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(src[:]), DstMAC: net.HardwareAddr(dst[:]), EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
		SrcIP: netIP(sip), DstIP: netIP(dip)}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 5201, Seq: 1, Ack: 1, ACK: true, PSH: true, Window: 502}
	tcp.SetNetworkLayerForChecksum(ip)
	b := withVirtioHdr(tb, vh, eth, ip, tcp, gopacket.Payload(payload))
	// csum_start counts from the Ethernet header, after the virtio header.
	l4 := header.TCP(b[header.VirtioNetHdrLen+int(vh.CsumStart()):])
	l4.SetChecksum(header.Fold(header.PseudoHeaderSum(sip, dip, 6, uint16(len(l4)))))
	return b
}

// withVirtioHdr serialises layers behind vh (zeros when nil).
func withVirtioHdr(tb testing.TB, vh []byte, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	sb := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(sb, opts, ls...); err != nil {
		tb.Fatalf("gopacket: %v", err)
	}
	if vh == nil {
		vh = make([]byte, header.VirtioNetHdrLen)
	}
	return append(append([]byte(nil), vh...), sb.Bytes()...)
}

// frameLen is the length the counters see: the buffer without its
// virtio_net_hdr.
func frameLen(buf []byte) uint64 { return uint64(len(buf) - header.VirtioNetHdrLen) }

// testbed is a started Dataplane with a fake clock and in-memory ports that
// keep what they are sent.
type testbed struct {
	t     *testing.T
	dp    *Dataplane
	clock *fakeClock
	sent  atomic.Uint64 // frames handed to any port with send

	mu    sync.Mutex
	ports []*tport // every port ever added, removed ones too
}

// tport is one port of a testbed.
type tport struct {
	name  string
	idx   uint16
	net   uint16
	ch    *port.Chan
	stats *PortStats // kept: outlives RemovePort
}

func newTestbed(t *testing.T, workers int) *testbed {
	t.Helper()
	tb := &testbed{t: t, clock: newFakeClock()}
	tb.dp = New(Options{
		Workers: workers,
		Now:     tb.clock.Now,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := tb.dp.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		tb.dp.Close()
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, p := range tb.ports {
			p.ch.Close()
		}
	})
	return tb
}

func (tb *testbed) network(name string, fc fdb.Config) uint16 {
	tb.t.Helper()
	id, err := tb.dp.AddNetwork(name, fc)
	if err != nil {
		tb.t.Fatalf("AddNetwork %s: %v", name, err)
	}
	return id
}

func (tb *testbed) port(name string, netID uint16) *tport {
	tb.t.Helper()
	ch, err := port.NewChan(true)
	if err != nil {
		tb.t.Fatalf("NewChan: %v", err)
	}
	idx, err := tb.dp.AddPort(name, netID, ch)
	if err != nil {
		ch.Close()
		tb.t.Fatalf("AddPort %s: %v", name, err)
	}
	p := &tport{name: name, idx: idx, net: netID, ch: ch, stats: tb.dp.PortStats(idx)}
	tb.mu.Lock()
	tb.ports = append(tb.ports, p)
	tb.mu.Unlock()
	return p
}

// send hands frames to port p as if its device had received them.
func (tb *testbed) send(p *tport, frames ...[]byte) {
	for _, f := range frames {
		tb.sent.Add(1)
		p.ch.Send(f)
	}
}

// backlog is how many frames sent have not been read by a worker yet.
func (tb *testbed) backlog() uint64 {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var got uint64
	for _, p := range tb.ports {
		got += p.stats.RxPackets.Load()
	}
	return tb.sent.Load() - got
}

// settle returns once the workers have run every frame sent so far through
// the pipeline and written it out. Every frame read is counted in its
// ingress port's RxPackets, before the batch is flushed and before the
// worker's epoch advances; so once the counts add up, one more epoch of each
// worker (forced by a kick) means the writes are done too.
func (tb *testbed) settle() {
	tb.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	want := tb.sent.Load()
	for {
		var got uint64
		tb.mu.Lock()
		for _, p := range tb.ports {
			got += p.stats.RxPackets.Load()
		}
		tb.mu.Unlock()
		if got == want {
			break
		}
		if got > want || time.Now().After(deadline) {
			tb.t.Fatalf("settle: the ports read %d frames, %d were sent", got, want)
		}
		time.Sleep(100 * time.Microsecond)
	}
	for _, w := range tb.dp.workers {
		e := w.epoch.Load()
		w.kick()
		for w.epoch.Load() == e {
			if time.Now().After(deadline) {
				tb.t.Fatalf("settle: worker %d is stuck", w.id)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// expect settles, then checks that each port in want received exactly those
// frames, byte for byte and in order, and every other port of the testbed
// nothing at all.
func (tb *testbed) expect(want map[*tport][][]byte) {
	tb.t.Helper()
	tb.settle()
	tb.mu.Lock()
	ports := append([]*tport(nil), tb.ports...)
	tb.mu.Unlock()
	for _, p := range ports {
		got := p.ch.Recv()
		if err := sameFrames(got, want[p]); err != nil {
			tb.t.Errorf("port %s: %v", p.name, err)
		}
	}
}

// sameFrames reports how got differs from want, frame by frame.
func sameFrames(got, want [][]byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("received %d frames, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			return fmt.Errorf("frame %d differs from the one sent:\n got % x\nwant % x", i, clip(got[i]), clip(want[i]))
		}
	}
	return nil
}

func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// drops returns the non-zero drop counters of p by reason.
func (p *tport) drops() map[DropReason]uint64 {
	m := map[DropReason]uint64{}
	for r := DropReason(0); r < NumDropReasons; r++ {
		if v := p.stats.Drops[r].Load(); v > 0 {
			m[r] = v
		}
	}
	return m
}

// wantDrops checks p's drop counters against want exactly (absent: zero).
func wantDrops(t *testing.T, p *tport, want map[DropReason]uint64) {
	t.Helper()
	got := p.drops()
	for r := DropReason(0); r < NumDropReasons; r++ {
		if got[r] != want[r] {
			t.Errorf("port %s: %s drops = %d, want %d", p.name, r, got[r], want[r])
		}
	}
}

// fdbPort looks m up in the network's FDB.
func (tb *testbed) fdbPort(netID uint16, m header.MAC) (uint16, bool) {
	return tb.dp.FDB(netID).Lookup(m.Uint64())
}
