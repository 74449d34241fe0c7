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
	go func() { _ = PeerServe(port, func() { close(ready) }) }()
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
