package e2e

import (
	"strings"
	"testing"
	"time"
)

// Three namespaces on one network ping each other both ways; iperf3 TCP runs at
// multi-Gbit/s carried by GSO super-frames; no bridge device and no iptables
// rule exists in the setup.
func TestThreeNamespacesPingAndGSOThroughput(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.201.0.0/24")

	var nss []string
	var ps []port
	for _, role := range []string{"c1", "c2", "c3"} {
		ns := e.newNS(role)
		nss = append(nss, ns)
		ps = append(ps, d.addPort("lan", ns))
	}

	for i := range nss {
		for j := range nss {
			if i != j {
				e.mustPing(nss[i], ps[j].addr())
			}
		}
	}

	before := d.stats()
	bps := e.iperf(nss[0], nss[1], ps[1].addr(), 2)
	after := d.stats()
	t.Logf("iperf3 TCP %s -> %s: %.2f Gbit/s", nss[0], nss[1], bps/1e9)
	if bps < 1e9 {
		t.Errorf("iperf3 TCP ran at %.2f Gbit/s, want > 1 Gbit/s (GSO super-frames should pass whole)", bps/1e9)
	}
	sender := ps[0].Name
	gso := after[sender].RxGSO - before[sender].RxGSO
	t.Logf("port %s: rx_gso_packets +%d, rx_packets +%d; port %s: tx_gso_packets +%d",
		sender, gso, after[sender].RxPackets-before[sender].RxPackets,
		ps[1].Name, after[ps[1].Name].TxGSO-before[ps[1].Name].TxGSO)
	if gso == 0 {
		t.Errorf("rx_gso_packets of the sender's port %s did not go up during iperf3 (before %d, after %d): no GSO super-frame carried the transfer",
			sender, before[sender].RxGSO, after[sender].RxGSO)
	}

	// No kernel bridge anywhere in the setup, and no packet filter rule.
	for _, ns := range nss {
		if out := e.mustNS(ns, "ip", "-d", "link", "show", "type", "bridge"); strings.TrimSpace(out) != "" {
			t.Errorf("namespace %s has a bridge device:\n%s", ns, out)
		}
		if haveCmd("iptables-save") {
			r := e.inNS(ns, 10*time.Second, "iptables-save")
			for _, l := range strings.Split(r.stdout, "\n") {
				if strings.HasPrefix(l, "-A ") {
					t.Errorf("namespace %s has an iptables rule: %s", ns, l)
				}
			}
		}
		if haveCmd("nft") {
			r := e.inNS(ns, 10*time.Second, "nft", "list", "ruleset")
			if r.code == 0 && strings.TrimSpace(r.stdout) != "" {
				t.Errorf("namespace %s has an nftables ruleset:\n%s", ns, r.stdout)
			}
		}
	}
}

// `fdb show` lists each MAC on the right port; learned entries age out after
// --fdb-aging seconds while a static entry stays; `fdb del` removes it.
func TestFDBLearningAgingStatic(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.202.0.0/24", "--fdb-aging", "2")
	a, b := e.newNS("a"), e.newNS("b")
	pa, pb := d.addPort("lan", a), d.addPort("lan", b)
	e.mustPing(a, pb.addr())

	// Every port's MAC (as port ls says) is learned on that very port.
	var entries []fdbEntry
	d.ctlJSON(&entries, "fdb", "show")
	for _, p := range d.ports() {
		found := false
		for _, en := range entries {
			if strings.EqualFold(en.MAC, p.MAC) {
				found = true
				if en.Port != p.Name || en.Network != "lan" || en.Static {
					t.Errorf("fdb entry of %s is %+v, want port %s, network lan, learned (static false)", p.MAC, en, p.Name)
				}
			}
		}
		if !found {
			t.Errorf("fdb show has no entry for port %s's MAC %s after a ping: %+v", p.Name, p.MAC, entries)
		}
	}

	const static = "02:00:5e:10:20:30"
	d.mustCtl("fdb", "add", static, "--port", pa.Name)

	// Traffic has stopped: within ~5 s the learned entries are gone, the
	// static one stays.
	start := time.Now()
	for {
		learned := 0
		for _, en := range d.fdb("lan") {
			if !en.Static {
				learned++
			}
		}
		if learned == 0 {
			t.Logf("learned entries aged out %.1f s after the last frame", time.Since(start).Seconds())
			break
		}
		if time.Since(start) > 6*time.Second {
			t.Fatalf("learned entries still there %v after traffic stopped with --fdb-aging 2: %+v", time.Since(start).Round(time.Second), d.fdb("lan"))
		}
		time.Sleep(250 * time.Millisecond)
	}
	entries = d.fdb("lan")
	if len(entries) != 1 || !strings.EqualFold(entries[0].MAC, static) || entries[0].Port != pa.Name || !entries[0].Static {
		t.Fatalf("after aging, fdb show = %+v, want only the static entry %s on %s with static:true", entries, static, pa.Name)
	}

	// The switch learns again as soon as frames flow.
	e.mustPing(b, pa.addr())
	if n := len(d.fdb("lan")); n != 3 {
		t.Errorf("after a new ping, fdb show has %d entries, want 3 (two learned, one static): %+v", n, d.fdb("lan"))
	}

	d.mustCtl("fdb", "del", static, "--network", "lan")
	for _, en := range d.fdb("lan") {
		if strings.EqualFold(en.MAC, static) {
			t.Errorf("fdb del %s: the entry is still listed: %+v", static, en)
		}
	}
}

// Two networks with two ports each: a flooded ARP request (and a broadcast
// ping) of one network never reaches the other; pings within each work.
func TestNetworksAreIsolated(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "neta", "--subnet", "10.203.0.0/24")
	d.mustCtl("network", "create", "netb", "--subnet", "10.204.0.0/24")
	a1, a2, b1, b2 := e.newNS("a1"), e.newNS("a2"), e.newNS("b1"), e.newNS("b2")
	pa1, pa2 := d.addPort("neta", a1), d.addPort("neta", a2)
	pb1, pb2 := d.addPort("netb", b1), d.addPort("netb", b2)

	// First the isolation, while B is silent (a ping inside B would leave
	// ARP probes that muddle B's counters for a few seconds).
	before := d.stats()
	// a1 believes B's subnet is on its link, so it broadcasts ARP requests
	// for b1's address: A floods them; none may reach B.
	e.mustNS(a1, "ip", "route", "add", "10.204.0.0/24", "dev", "eth0")
	if none, r := e.noReply(a1, pb1.addr(), 3); !none {
		t.Errorf("a1 (network neta) got an answer from %s in network netb:\n%v", pb1.addr(), r)
	}
	// A broadcast IP packet too.
	e.inNS(a1, 10*time.Second, "ping", "-n", "-q", "-b", "-c", "2", "-i", "0.2", "-w", "2", "10.203.0.255")
	after := d.stats()

	for _, p := range []port{pb1, pb2} {
		if after[p.Name].TxPackets != before[p.Name].TxPackets || after[p.Name].RxPackets != before[p.Name].RxPackets {
			t.Errorf("port %s of netb saw frames while only neta was talking: tx %d -> %d, rx %d -> %d",
				p.Name, before[p.Name].TxPackets, after[p.Name].TxPackets, before[p.Name].RxPackets, after[p.Name].RxPackets)
		}
	}
	// The broadcasts were really sent and flooded, inside A.
	if after[pa2.Name].TxPackets == before[pa2.Name].TxPackets {
		t.Errorf("port %s (neta) got none of a1's broadcasts: tx_packets stayed %d, so the test proves nothing", pa2.Name, after[pa2.Name].TxPackets)
	}
	for _, en := range d.fdb("netb") {
		if strings.EqualFold(en.MAC, pa1.MAC) {
			t.Errorf("netb's FDB learned a1's MAC %s (from neta): %+v", pa1.MAC, en)
		}
	}

	e.mustPing(a1, pa2.addr())
	e.mustPing(a2, pa1.addr())
	e.mustPing(b1, pb2.addr())
	e.mustPing(b2, pb1.addr())
}

// `port rm` removes the TAP from its namespace and leaves nothing behind: the
// address can be used again.
func TestPortRmRemovesDevice(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.205.0.0/24")
	a, b := e.newNS("a"), e.newNS("b")
	pa := d.addPort("lan", a)
	pb := d.addPort("lan", b)
	e.mustPing(a, pb.addr())
	if !e.linkExists(a, "eth0") {
		t.Fatalf("port add made no eth0 in %s", a)
	}

	d.mustCtl("port", "rm", pa.Name)
	if e.linkExists(a, "eth0") {
		t.Errorf("after port rm %s, eth0 is still in %s:\n%s", pa.Name, a, e.mustNS(a, "ip", "link"))
	}
	for _, p := range d.ports() {
		if p.Name == pa.Name {
			t.Errorf("port ls still lists %s after port rm: %+v", pa.Name, p)
		}
	}
	if none, r := e.noReply(b, pa.addr(), 1); !none {
		t.Errorf("%s still answers after its port was removed:\n%v", pa.addr(), r)
	}

	// Nothing left behind: the same namespace, name and address again.
	again := d.addPort("lan", a, "--ip", pa.IP)
	if again.Name != pa.Name || again.IP != pa.IP || again.Ifname != "eth0" {
		t.Errorf("re-adding the removed port gave %+v, want name %s, ip %s, ifname eth0", again, pa.Name, pa.IP)
	}
	e.mustPing(b, again.addr())
}
