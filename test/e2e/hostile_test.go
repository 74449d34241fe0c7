package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// hostileCase is one kind of frame a broken or malicious container sends at
// its port, and what a user checks afterwards: the drop counter for the
// reason it must be dropped with, or that it was forwarded.
type hostileCase struct {
	name    string
	reasons []string // acceptable drop reasons; nil: forwarded (RFC-valid)
}

// The battery at namespace level: scapy inside a container sends each kind
// of malformed or unusual frame (addressed to the gateway, towards a host on
// another network, so the router must judge it) while two other containers
// ping each other. Each malformed kind is dropped and counted under a
// reason; the valid-but-odd ones (IP options, fragments in any order) are
// routed as RFC 791/1812 say (a router neither reassembles nor needs the
// first fragment); and the other containers' ping loses nothing.
func TestHostileFrameBattery(t *testing.T) {
	if r := run(10*time.Second, "/usr/bin/python3", "-c", "import scapy.all"); r.code != 0 {
		t.Fatalf("this test needs scapy for /usr/bin/python3 (apt-get install python3-scapy; .ci/run installs it): %s", r.stderr)
	}
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "ha", "--subnet", "10.208.1.0/24")
	d.mustCtl("network", "create", "hb", "--subnet", "10.208.2.0/24")
	d.mustCtl("network", "connect", "ha", "hb")
	c1, c2, c3, c4 := e.newNS("c1"), e.newNS("c2"), e.newNS("c3"), e.newNS("c4")
	p1, p2, _, p4 := d.addPort("ha", c1), d.addPort("hb", c2), d.addPort("ha", c3), d.addPort("ha", c4)
	var netA struct {
		GatewayMAC string `json:"gateway_mac"`
	}
	d.ctlJSON(&netA, "network", "inspect", "ha")
	e.mustPing(c1, p2.addr())
	e.mustPing(c3, p4.addr())

	// The neighbours' ping runs through the whole battery.
	const pings = 1500
	var pingOut strings.Builder
	pinger := exec.Command("ip", "netns", "exec", c3, "ping", "-c", fmt.Sprint(pings), "-i", "0.01", "-W", "1", p4.addr())
	pinger.Stdout, pinger.Stderr = &pingOut, &pingOut
	if err := pinger.Start(); err != nil {
		t.Fatal(err)
	}
	defer pinger.Process.Kill()

	script, err := filepath.Abs(filepath.Join("testdata", "hostile.py"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []hostileCase{
		{"trunc-ipv4", []string{"malformed"}},
		{"trunc-arp", []string{"malformed"}},
		{"ihl-4", []string{"malformed"}},
		{"ihl-15", []string{"malformed"}},
		{"len-over", []string{"malformed"}},
		{"len-under", []string{"malformed"}},
		{"bad-csum", []string{"malformed"}},
		{"ttl-0", []string{"ttl"}},
		{"runt", []string{"malformed"}},
		{"src-bcast", []string{"bad-src-mac", "spoof"}},
		{"src-mcast", []string{"bad-src-mac", "spoof"}},
		{"src-zero", []string{"bad-src-mac", "spoof"}},
		{"random", []string{"malformed", "not-routable", "spoof", "no-destination", "not-ours"}},
		{"options", nil},
		// A sound IPv4 header whose TCP or UDP header is cut short: a
		// router checks the IP header, not the transport's (RFC 1812
		// 5.2.2), and Linux forwards it too.
		{"trunc-tcp", nil},
		{"trunc-udp", nil},
		{"frag-first", nil},
		{"frag-middle", nil},
		{"frag-overlap", nil},
		{"frag-nofirst", nil},
	}
	const n = 20
	var report []string
	for _, c := range cases {
		before := d.stats()
		r := e.inNS(c1, 60*time.Second, "/usr/bin/python3", script, p1.Ifname, p1.MAC, p1.addr(), netA.GatewayMAC, p2.addr(), c.name, fmt.Sprint(n))
		if r.code != 0 {
			t.Fatalf("%s: hostile.py failed: %s", c.name, r)
		}
		time.Sleep(150 * time.Millisecond) // the worker finishes the batch
		after := d.stats()
		drops := map[string]uint64{}
		var total uint64
		for reason, v := range after[p1.Name].Drops {
			if dv := v - before[p1.Name].Drops[reason]; dv > 0 {
				drops[reason] = dv
				total += dv
			}
		}
		tx := after[p2.Name].TxPackets - before[p2.Name].TxPackets
		report = append(report, fmt.Sprintf("%-13s drops %v, forwarded to %s %d", c.name, sortedCounts(drops), p2.Name, tx))
		if c.reasons == nil {
			if tx < n || total != 0 {
				t.Errorf("%s: %d of %d routed to the other network (drops %v), want all routed: valid IPv4 a router forwards", c.name, tx, n, drops)
			}
			continue
		}
		var counted uint64
		for _, want := range c.reasons {
			counted += drops[want]
		}
		if counted < n || tx != 0 {
			t.Errorf("%s: drops %v, %d forwarded; want all %d dropped as %s", c.name, drops, tx, n, strings.Join(c.reasons, " or "))
		}
	}
	t.Logf("battery, %d frames of each kind from %s:\n%s", n, p1.Name, strings.Join(report, "\n"))

	if err := pinger.Wait(); err != nil {
		t.Errorf("the neighbours' ping failed: %v\n%s", err, pingOut.String())
	}
	if !strings.Contains(pingOut.String(), fmt.Sprintf("%d packets transmitted, %d received", pings, pings)) {
		t.Errorf("the neighbours' ping lost packets during the battery:\n%s", tail(pingOut.String(), 3))
	}
	if s := d.stats(); s[p1.Name].Drops["internal-error"] != 0 {
		t.Errorf("internal-error drops on %s: a panic was recovered", p1.Name)
	}
}

func sortedCounts(m map[string]uint64) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b []string
	for _, k := range ks {
		b = append(b, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return "[" + strings.Join(b, " ") + "]"
}
