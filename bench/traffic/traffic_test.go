//go:build linux

package traffic

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestParseNetDev(t *testing.T) {
	const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0: 6000000  100000    0    3    0     0          0         0     1180      14    0    0    0     0       0          0
`
	n, err := parseNetDev(bufio.NewScanner(strings.NewReader(dev)), "eth0")
	if err != nil || n != 100000 {
		t.Errorf("eth0 rx packets = %d, %v; want 100000", n, err)
	}
	if _, err := parseNetDev(bufio.NewScanner(strings.NewReader(dev)), "eth1"); err == nil {
		t.Error("missing interface not reported")
	}
}

// The kernel reads an array of struct mmsghdr; Go must lay it out alike.
func TestMmsghdrLayout(t *testing.T) {
	if want := unsafe.Sizeof(uintptr(0)) * 8; unsafe.Sizeof(mmsghdr{}) != want && unsafe.Sizeof(uintptr(0)) == 8 {
		t.Errorf("sizeof(mmsghdr) = %d, want %d", unsafe.Sizeof(mmsghdr{}), want)
	}
}

// The server must report the connection's source, as the client's socket
// shows it: over loopback that is 127.0.0.1.
func TestPeerServeAsk(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ready := make(chan struct{})
	go func() { _ = PeerServe(port, false, func() { close(ready) }) }()
	<-ready
	got, err := PeerAsk(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("peer address %v, want 127.0.0.1", got)
	}
	if _, err := ParsePeerLine("garbage\n"); err == nil {
		t.Error("a non-address answer was accepted")
	}
}

func TestFlowsOf(t *testing.T) {
	for _, c := range []struct{ flows, threads int }{{64, 2}, {65, 2}, {1, 1}, {3, 2}, {7, 3}} {
		sum := 0
		for i := 0; i < c.threads; i++ {
			n := FlowsOf(c.flows, c.threads, i)
			if n < c.flows/c.threads || n > c.flows/c.threads+1 {
				t.Errorf("FlowsOf(%d, %d, %d) = %d: not an even share", c.flows, c.threads, i, n)
			}
			sum += n
		}
		if sum != c.flows {
			t.Errorf("%d flows over %d threads: shares add up to %d", c.flows, c.threads, sum)
		}
	}
}

// Each flow is its own source port: a switch that spreads flows by their
// 5-tuple must see as many as were asked for.
func TestGenerateFlowsAreSourcePorts(t *testing.T) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ports := map[int]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			_ = pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			ports[from.Port] = true
		}
	}()
	dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(pc.LocalAddr().(*net.UDPAddr).Port))
	res, err := Generate(GenConfig{Dst: dst, Payload: Payload64, Batch: 4, Threads: 2, Flows: 5, Duration: 50 * time.Millisecond,
		WindowFrom: 10 * time.Millisecond, Window: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.WindowPPS <= 0 {
		t.Errorf("no send rate over a window inside the run: %+v", res)
	}
	// a window that ends after the run has no rate, rather than a wrong one
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherDst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(other.LocalAddr().(*net.UDPAddr).Port))
	late, err := Generate(GenConfig{Dst: otherDst, Payload: Payload64, Batch: 4, Threads: 1, Duration: 10 * time.Millisecond,
		WindowFrom: 5 * time.Millisecond, Window: time.Second})
	if err != nil || late.WindowPPS != 0 || late.Sent == 0 {
		t.Errorf("window past the run: %+v, %v; want sent > 0 and no window rate", late, err)
	}
	<-done
	if res.Flows != 5 || res.Threads != 2 || res.Sent == 0 {
		t.Errorf("result %+v: want 5 flows, 2 threads, some sent", res)
	}
	if len(ports) != 5 {
		t.Errorf("receiver saw %d source ports, want 5", len(ports))
	}
}
