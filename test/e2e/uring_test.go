package e2e

import (
	"os"
	"strings"
	"testing"
	"time"
)

// With --io-uring the workers move TAP frames through a ring instead of one
// read/write each: everything the plain path carries must still arrive,
// switched (ping, TCP with GSO super-frames whole) and routed between two
// connected networks.
func TestIOUringWorkersForward(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("", "--io-uring")
	d.mustCtl("network", "create", "ua", "--subnet", "10.207.1.0/24")
	d.mustCtl("network", "create", "ub", "--subnet", "10.207.2.0/24")
	d.mustCtl("network", "connect", "ua", "ub")
	c1, c2, c3 := e.newNS("c1"), e.newNS("c2"), e.newNS("c3")
	p1, p2, p3 := d.addPort("ua", c1), d.addPort("ua", c2), d.addPort("ub", c3)

	if log, _ := os.ReadFile(d.logPath); strings.Contains(string(log), "no io_uring") {
		t.Fatalf("vswitchd fell back to read/write, so this test would not exercise the ring:\n%s", tail(string(log), 5))
	}

	e.mustPing(c1, p2.addr())
	e.mustPing(c2, p1.addr())
	e.mustPing(c1, p3.addr()) // routed ua -> ub and back

	// 200 pings in a burst: every one answered, none lost in the ring.
	r := e.inNS(c1, 30*time.Second, "ping", "-c", "200", "-i", "0.002", "-q", p2.addr())
	if r.code != 0 || !strings.Contains(r.stdout, " 0% packet loss") {
		t.Fatalf("200 pings over the ring: want no loss, got:\n%s%s", r.stdout, r.stderr)
	}

	before := d.stats()
	bps := e.iperf(c1, c2, p2.addr(), 2)
	after := d.stats()
	t.Logf("iperf3 TCP over io_uring workers: %.2f Gbit/s, rx_gso_packets +%d", bps/1e9, after[p1.Name].RxGSO-before[p1.Name].RxGSO)
	if bps < 1e9 {
		t.Errorf("iperf3 TCP ran at %.2f Gbit/s, want > 1 Gbit/s", bps/1e9)
	}
	if after[p1.Name].RxGSO == before[p1.Name].RxGSO {
		t.Errorf("no GSO super-frame read from %s through the ring during iperf3", p1.Name)
	}
	if tx := after[p2.Name].Drops["tx-error"]; tx != 0 {
		t.Errorf("port %s counted %d tx-error drops: ring writes failed", p2.Name, tx)
	}

	routed := e.iperf(c1, c3, p3.addr(), 2)
	t.Logf("iperf3 TCP routed over io_uring workers: %.2f Gbit/s", routed/1e9)
	if routed < 1e9 {
		t.Errorf("routed iperf3 TCP ran at %.2f Gbit/s, want > 1 Gbit/s", routed/1e9)
	}
}
