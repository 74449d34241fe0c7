package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// IPv6 routed between networks (issue 14, routing): the networks' /64s are
// connected routes, isolation and `network connect` decide as for IPv4,
// the gateway sends time exceeded and packet too big (with the next hop's
// MTU: routers never fragment IPv6), tracepath sees both, the next hop is
// a port vswitchd made or resolved by the gateway's own neighbour
// solicitations for a host behind an attached interface (`arp show`), and
// TCP crosses as GSO super-frames.

// twoNetworks6 makes dual-stack networks na (fd00:X:1::/64) and nb
// (fd00:X:2::/64, with extraB), one container on each, and returns the
// namespaces and ports with their IPv6 addresses.
func twoNetworks6(e *env, d *daemon, x int, extraB ...string) (a, b string, pa, pb port6) {
	e.t.Helper()
	d.mustCtl("network", "create", "na", "--subnet", fmt.Sprintf("10.%d.1.0/24", x), "--ipv6", "--subnet6", fmt.Sprintf("fd00:%d:1::/64", x))
	d.mustCtl(append([]string{"network", "create", "nb", "--subnet", fmt.Sprintf("10.%d.2.0/24", x), "--ipv6", "--subnet6", fmt.Sprintf("fd00:%d:2::/64", x)}, extraB...)...)
	a, b = e.newNS("a"), e.newNS("b")
	d.addPort("na", a)
	d.addPort("nb", b)
	for _, n := range []struct {
		net string
		p   *port6
	}{{"na", &pa}, {"nb", &pb}} {
		var ps []port6
		d.ctlJSON(&ps, "port", "ls", "--network", n.net)
		if len(ps) != 1 || ps[0].IP6 == "" {
			e.t.Fatalf("port ls --network %s = %+v, want one port with an ip6", n.net, ps)
		}
		*n.p = ps[0]
	}
	return a, b, pa, pb
}

func TestIPv6RouteAcrossNetworks(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	a, b, pa, pb := twoNetworks6(e, d, 236, "--mtu", "1400")
	gwA := "fd00:236:1::1"

	kinds := map[string]string{}
	for _, r := range d.routes() {
		kinds[r.Prefix] = r.Kind + " " + r.Port
	}
	if kinds["fd00:236:1::/64"] != "connected na" || kinds["fd00:236:2::/64"] != "connected nb" {
		t.Errorf("route ls: want both /64s connected on their networks, got %v", kinds)
	}

	// Not connected: dropped as isolation, nothing comes back.
	before := d.drops()["isolation"]
	if r := e.pingOnce(a, 2, pb.addr6(), "-6"); r.code == 0 {
		t.Errorf("ping -6 %s from na before network connect got a reply:\n%v", pb.addr6(), r)
	}
	if after := d.drops()["isolation"]; after <= before {
		t.Errorf("isolation drops stayed at %d while na pinged nb over IPv6", after)
	} else {
		t.Logf("unconnected: isolation drops %d -> %d", before, after)
	}

	d.mustCtl("network", "connect", "na", "nb")
	e.mustPing6(a, pb.addr6())
	e.mustPing6(b, pa.addr6())
	e.mustPing6(a, "fd00:236:2::1") // the other network's gateway answers too

	// b is a port vswitchd made: its neighbour entry is permanent, no
	// solicitation needed (TestIPv6NeighbourBehindAttach resolves one).
	var neighs []struct {
		IP    string `json:"ip"`
		MAC   string `json:"mac"`
		State string `json:"state"`
		Port  string `json:"port"`
	}
	d.ctlJSON(&neighs, "arp", "show")
	found := false
	for _, n := range neighs {
		if n.IP == pb.addr6() {
			found = n.MAC == pb.MAC && n.State == "permanent" && n.Port == pb.Name
			t.Logf("arp show: %+v", n)
		}
	}
	if !found {
		t.Errorf("arp show -o json: want %s at %s (permanent: vswitchd made the port) on port %s, got %+v", pb.addr6(), pb.MAC, pb.Name, neighs)
	}

	// trace shows the IPv6 route and, without one, the ICMPv6 error.
	out := d.mustCtl("trace", "--in", pa.Name, "--dst", pb.addr6())
	t.Logf("trace --in %s --dst %s:\n%s", pa.Name, pb.addr6(), out)
	if !strings.Contains(out, "fd00:236:2::/64") || !strings.Contains(out, "Verdict: forward") {
		t.Errorf("trace to %s: want the route fd00:236:2::/64 and \"Verdict: forward\", got:\n%s", pb.addr6(), out)
	}
	out = d.mustCtl("trace", "--in", pa.Name, "--dst", "2001:db8::1")
	if !strings.Contains(out, "ICMPv6 destination unreachable (no route)") || !strings.Contains(out, "Verdict: drop (no-route)") {
		t.Errorf("trace to 2001:db8::1: want the ICMPv6 no-route error and \"Verdict: drop (no-route)\", got:\n%s", out)
	}

	// Hop limit 1: time exceeded from a's gateway.
	if r := e.pingOnce(a, 2, pb.addr6(), "-6", "-t", "1"); !strings.Contains(r.stdout, "From "+gwA) || !strings.Contains(r.stdout, "Time exceeded") {
		t.Errorf("ping -6 -t 1 %s: want \"From %s ... Time exceeded\", got:\n%v", pb.addr6(), gwA, r)
	}

	// 1480 bytes into nb's 1400: packet too big, mtu 1400; then 1400 fits.
	tooBig := d.drops()["frag-needed"]
	r := e.pingOnce(a, 2, pb.addr6(), "-6", "-s", "1432", "-M", "do")
	if !strings.Contains(r.stdout, "Packet too big") || !strings.Contains(r.stdout, "mtu=1400") {
		t.Errorf("ping -6 -s 1432 -M do %s: want \"Packet too big: mtu=1400\", got:\n%v", pb.addr6(), r)
	}
	if n := d.drops()["frag-needed"]; n <= tooBig {
		t.Errorf("frag-needed drops stayed at %d after a 1480-byte packet into a 1400-MTU network", n)
	}
	if r := e.pingOnce(a, 2, pb.addr6(), "-6", "-s", "1352", "-M", "do"); r.code != 0 {
		t.Errorf("ping -6 -s 1352 -M do %s (1400 bytes) after packet too big: no reply:\n%v", pb.addr6(), r)
	}

	// tracepath from a container that has not learnt the path MTU yet (a
	// fresh namespace: its route cache says 1500): the gateway as the first
	// hop, and the path MTU 1400 found from the gateway's packet too big.
	if haveCmd("tracepath") {
		a2 := e.newNS("a2")
		d.addPort("na", a2)
		r := e.inNS(a2, 30*time.Second, "tracepath", "-6", "-n", pb.addr6())
		t.Logf("tracepath -6 -n %s:\n%s", pb.addr6(), r.stdout)
		if !strings.Contains(r.stdout, gwA) || !strings.Contains(r.stdout, "pmtu 1400") || !strings.Contains(r.stdout, "reached") {
			t.Errorf("tracepath -6 %s: want hop %s, pmtu 1400 and reached, got:\n%v", pb.addr6(), gwA, r)
		}
	} else {
		t.Error("tracepath is not installed (iputils-tracepath): the check of the IPv6 path cannot run")
	}

	// Disconnected again: isolation.
	d.mustCtl("network", "disconnect", "na", "nb")
	before = d.drops()["isolation"]
	if r := e.pingOnce(a, 2, pb.addr6(), "-6"); r.code == 0 {
		t.Errorf("ping -6 after network disconnect got a reply:\n%v", r)
	}
	if after := d.drops()["isolation"]; after <= before {
		t.Errorf("isolation drops stayed at %d after network disconnect", after)
	}
}

// iperf3 over IPv6 across two connected networks: multi-Gbit/s, carried
// by TCPv6 GSO super-frames through the router (rx_gso_packets of the
// sender's port, tx_gso_packets of the receiver's).
func TestIPv6IperfAcrossNetworksGSO(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	a, b, pa, pb := twoNetworks6(e, d, 237)
	d.mustCtl("network", "connect", "na", "nb")
	e.mustPing6(a, pb.addr6())

	before := d.stats()
	bps := e.iperf(a, b, pb.addr6(), 2)
	after := d.stats()
	rx := after[pa.Name].RxGSO - before[pa.Name].RxGSO
	tx := after[pb.Name].TxGSO - before[pb.Name].TxGSO
	t.Logf("iperf3 TCP over IPv6 %s -> %s across networks: %.2f Gbit/s; sender port rx_gso_packets +%d, receiver port tx_gso_packets +%d",
		pa.Name, pb.Name, bps/1e9, rx, tx)
	if bps < 1e9 {
		t.Errorf("iperf3 over IPv6 across two connected networks ran at %.2f Gbit/s, want > 1 Gbit/s", bps/1e9)
	}
	if rx == 0 || tx == 0 {
		t.Errorf("GSO super-frames did not cross the router: rx_gso_packets of %s +%d, tx_gso_packets of %s +%d",
			pa.Name, rx, pb.Name, tx)
	}
}

// `route add` with an IPv6 prefix via a container of na (a router with the
// prefix behind it): containers on na and on a connected network reach the
// prefix through it, `route ls` shows the route, and after `route del` the
// prefix has no route again (ICMPv6 no route). A next hop of the other
// family is refused in one line.
func TestIPv6StaticRoute(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	a, b, _, _ := twoNetworks6(e, d, 238)
	d.mustCtl("network", "connect", "na", "nb")
	rtr := e.newNS("rtr")
	d.addPort("na", rtr, "--allowed-ips", "fd00:99::/48") // it answers from the prefix behind it
	var ps []port6
	d.ctlJSON(&ps, "port", "ls", "--network", "na")
	var pr port6
	for _, p := range ps {
		if p.Netns == rtr {
			pr = p
		}
	}
	const prefix, behind = "fd00:99::/48", "fd00:99::1"
	if r := e.inNS(rtr, 10*time.Second, "ip", "link", "add", "d0", "type", "dummy"); r.code != 0 {
		t.Logf("no dummy interface (%s): a veth pair inside %s", strings.TrimSpace(r.stderr), rtr)
		e.mustNS(rtr, "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
		e.mustNS(rtr, "ip", "link", "set", "d1", "up")
	}
	// The test namespaces start with IPv6 off on new devices (only the
	// ports' eth0 get it from vswitchd): on for d0, inside rtr only.
	e.mustNS(rtr, "sysctl", "-qw", "net.ipv6.conf.d0.disable_ipv6=0")
	e.mustNS(rtr, "ip", "-6", "addr", "add", behind+"/64", "dev", "d0", "nodad")
	e.mustNS(rtr, "ip", "link", "set", "d0", "up")

	if r := e.pingOnce(b, 2, behind, "-6"); !strings.Contains(r.stdout, "Destination unreachable") || !strings.Contains(r.stdout, "No route") {
		t.Errorf("ping -6 %s before route add: want \"Destination unreachable: No route\", got:\n%v", behind, r)
	}
	if r := d.ctl("route", "add", prefix, "--via", "10.238.1.5"); r.code != 1 || !strings.Contains(r.stderr, "an IPv6 route wants an IPv6 next hop") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("route add %s --via an IPv4 address: %v, want exit 1 and one line saying an IPv6 route wants an IPv6 next hop", prefix, r)
	}
	d.mustCtl("route", "add", prefix, "--via", pr.addr6())
	found := false
	for _, r := range d.routes() {
		if r.Prefix == prefix {
			found = r.Kind == "static" && r.Via == pr.addr6() && r.Port == "na"
		}
	}
	if !found {
		t.Errorf("route ls: want %s static via %s on na, got %+v", prefix, pr.addr6(), d.routes())
	}
	e.mustPing6(a, behind) // from the next hop's own network
	e.mustPing6(b, behind) // from a connected network

	d.mustCtl("route", "del", prefix)
	if r := e.pingOnce(b, 2, behind, "-6"); !strings.Contains(r.stdout, "No route") {
		t.Errorf("ping -6 %s after route del: want no route, got:\n%v", behind, r)
	}
}

// TestIPv6NeighbourBehindAttach: a host vswitchd did not make, behind an
// AF_PACKET port on a dual-stack network, is reached from another network
// over IPv6: the gateway finds it by neighbour solicitation (queued packet
// released when the advertisement comes), and `arp show` lists it with the
// attached port, reachable or stale, not permanent.
func TestIPv6NeighbourBehindAttach(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	a, _, _, _ := twoNetworks6(e, d, 237)
	host, ctr := e.newNS("h6"), e.newNS("x6")
	e.mustNS(host, "ip", "link", "add", "vh0", "type", "veth", "peer", "name", "eth0", "netns", ctr)
	e.mustNS(host, "ip", "link", "set", "vh0", "up")
	d.mustCtl("port", "attach", "nb", "--dev", "vh0", "--netns", host, "--name", "att6")
	e.mustNS(ctr, "sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=0", "net.ipv6.conf.eth0.accept_dad=0")
	e.mustNS(ctr, "ip", "addr", "add", "fd00:237:2::50/64", "dev", "eth0")
	e.mustNS(ctr, "ip", "link", "set", "eth0", "up")
	e.mustNS(ctr, "ip", "-6", "route", "add", "default", "via", "fd00:237:2::1")
	d.mustCtl("network", "connect", "na", "nb")
	e.mustPing6(a, "fd00:237:2::50")
	mac := strings.TrimSpace(e.mustNS(ctr, "cat", "/sys/class/net/eth0/address"))
	var neighs []struct {
		IP    string `json:"ip"`
		MAC   string `json:"mac"`
		State string `json:"state"`
		Port  string `json:"port"`
	}
	d.ctlJSON(&neighs, "arp", "show")
	for _, n := range neighs {
		if n.IP == "fd00:237:2::50" {
			if n.MAC != mac || n.Port != "att6" || (n.State != "reachable" && n.State != "stale") {
				t.Fatalf("arp show: %+v, want %s on att6, reachable or stale (learned by solicitation)", n, mac)
			}
			return
		}
	}
	t.Fatalf("arp show has no fd00:237:2::50 after the ping: %+v", neighs)
}
