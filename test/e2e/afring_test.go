package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// With --afpacket-ring v2 or v3, `port attach` reads each
// attached veth through a receive ring (its 8 MiB mapping shows in the
// daemon's memory map), with off (the default) through recvmmsg: either way two
// namespaces attached by veth ping each other, and TCP runs between them
// with GSO super-frames crossing both ports.
func TestAFPacketRingAttach(t *testing.T) {
	for _, v := range []string{"v3", "v2", "off"} {
		t.Run(v, func(t *testing.T) { testAFPacketRingAttach(t, v) })
	}
}

func testAFPacketRingAttach(t *testing.T, ver string) {
	e := newEnv(t)
	d := e.startDaemon("", "--afpacket-ring", ver)
	d.mustCtl("network", "create", "lan", "--subnet", "10.214.0.0/24")
	host, c1, c2 := e.newNS("host"), e.newNS("c1"), e.newNS("c2")
	for i, ctr := range []string{c1, c2} {
		vh := fmt.Sprintf("vh%d", i)
		e.mustNS(host, "ip", "link", "add", vh, "type", "veth", "peer", "name", "eth0", "netns", ctr)
		e.mustNS(host, "ip", "link", "set", vh, "up")
		e.mustNS(ctr, "ip", "addr", "add", fmt.Sprintf("10.214.0.%d/24", 10+i), "dev", "eth0")
		e.mustNS(ctr, "ip", "link", "set", "eth0", "up")
		d.mustCtl("port", "attach", "lan", "--dev", vh, "--netns", host, "--name", fmt.Sprintf("p%d", i))
	}
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	want := 2 // one ring per attached port
	if ver == "off" {
		want = 0 // recvmmsg
	}
	if n := strings.Count(string(maps), "socket:["); n != want {
		log, _ := os.ReadFile(d.logPath)
		t.Fatalf("vswitchd --afpacket-ring %s maps %d packet rings, want %d; its log:\n%s", ver, n, want, tail(string(log), 2000))
	}

	e.mustPing(c1, "10.214.0.11")
	e.mustPing(c2, "10.214.0.10")
	if r := e.inNS(c1, 30*time.Second, "ping", "-c", "200", "-i", "0.01", "-q", "10.214.0.11"); r.code != 0 {
		t.Fatalf("200 pings through the ring ports:\n%v", r)
	} else {
		t.Logf("--afpacket-ring %s: ping -c 200 -i 0.01 over two attached ports: %s", ver, lastLine(r.stdout))
	}

	before := d.stats()
	bps := e.iperf(c1, c2, "10.214.0.11", 3)
	after := d.stats()
	gso := after["p0"].RxGSO - before["p0"].RxGSO
	if gso == 0 {
		t.Errorf("iperf3 sent no GSO super-frame into the ring port p0 (rx_gso_packets +0): TCP was segmented before vswitchd")
	}
	t.Logf("--afpacket-ring %s: iperf3 TCP over two attached ports: %.2f Gbit/s (p0 rx_gso_packets +%d)", ver, bps/1e9, gso)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
