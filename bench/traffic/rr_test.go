package traffic

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// freePort asks the kernel for a TCP port nobody listens on.
func freePort(t *testing.T, network, addr string) int {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestSummarize(t *testing.T) {
	// 1..1000 µs, shuffled: nearest rank gives the q-th sample exactly
	var s []float64
	for i := 1000; i >= 1; i-- {
		s = append(s, float64(i))
	}
	r := Summarize(s)
	if r.Observations != 1000 || r.P50 != 500 || r.P99 != 990 || r.P999 != 999 || r.Max != 1000 || r.Avg != 500.5 {
		t.Errorf("Summarize(1..1000) = %+v", r)
	}
	if r := Summarize([]float64{7}); r.P50 != 7 || r.P99 != 7 || r.P999 != 7 {
		t.Errorf("one sample: %+v", r)
	}
	if r := Summarize(nil); r.Observations != 0 {
		t.Errorf("no sample: %+v", r)
	}
}

// Round trips over loopback, IPv4 and IPv6, in the tests' own namespace:
// every message must come back and be timed.
func TestRRClientServe(t *testing.T) {
	for _, c := range []struct {
		v6         bool
		network    string
		addr, host string
	}{{false, "tcp4", "127.0.0.1:0", "127.0.0.1"}, {true, "tcp6", "[::1]:0", "::1"}} {
		port := freePort(t, c.network, c.addr)
		ready := make(chan struct{})
		go func() { _ = RRServe(port, c.v6, func() { close(ready) }) }()
		<-ready
		res, err := RRClient(RRConfig{Dst: netip.AddrPortFrom(netip.MustParseAddr(c.host), uint16(port)),
			Duration: 200 * time.Millisecond, Warmup: 10})
		if err != nil {
			t.Fatalf("%s: %v", c.host, err)
		}
		if res.Observations < 10 || res.P50 <= 0 || res.P99 < res.P50 || res.Size != RRSize {
			t.Errorf("%s: %+v", c.host, res)
		}
	}
	// nothing listening: an error, not a figure
	port := freePort(t, "tcp4", "127.0.0.1:0")
	if _, err := RRClient(RRConfig{Dst: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), Duration: 100 * time.Millisecond}); err == nil {
		t.Error("RRClient without a server returned no error")
	}
}

// The IPv6 variants of the source check and the connection-rate pair.
func TestPeerAndConnIPv6(t *testing.T) {
	port := freePort(t, "tcp6", "[::1]:0")
	ready := make(chan struct{})
	go func() { _ = PeerServe(port, true, func() { close(ready) }) }()
	<-ready
	got, err := PeerAsk(netip.AddrPortFrom(netip.MustParseAddr("::1"), uint16(port)), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got != netip.MustParseAddr("::1") {
		t.Errorf("peer address %v, want ::1", got)
	}

	port = freePort(t, "tcp6", "[::1]:0")
	ready = make(chan struct{})
	go func() { _ = ConnServe(port, 1, true, func() { close(ready) }) }()
	<-ready
	res, err := ConnClient(ConnConfig{Dst: netip.AddrPortFrom(netip.MustParseAddr("::1"), uint16(port)), Workers: 1, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Connections == 0 || res.Errors != 0 {
		t.Errorf("conn over ::1: %+v", res)
	}
}
