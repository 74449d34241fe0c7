package e2e

// The router (issue 5), as a user checks it: gateways answer ping, networks
// route to each other only once connected, the ICMP errors iputils ping
// prints, fragmentation, static routes, ARP, the uplink to an outside
// namespace, and the rate across two networks.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// JSON shapes of `route ls` and `arp show` (CLI.md).

type routeEntry struct {
	Prefix string `json:"prefix"`
	Via    string `json:"via"`
	Port   string `json:"port"`
	Kind   string `json:"kind"`
}

type neighbor struct {
	IP    string `json:"ip"`
	MAC   string `json:"mac"`
	State string `json:"state"`
	Port  string `json:"port"`
}

// drops returns the top-level drop counters of `stats -o json`, by reason.
func (d *daemon) drops() map[string]uint64 {
	d.e.t.Helper()
	var s stats
	d.ctlJSON(&s, "stats")
	if s.Drops == nil {
		s.Drops = map[string]uint64{}
	}
	return s.Drops
}

func (d *daemon) routes() []routeEntry {
	d.e.t.Helper()
	var rs []routeEntry
	d.ctlJSON(&rs, "route", "ls")
	return rs
}

func (d *daemon) neighbors() []neighbor {
	d.e.t.Helper()
	var ns []neighbor
	d.ctlJSON(&ns, "arp", "show")
	return ns
}

// pingOnce runs `ping -n -c 1 -W wait [args...] ip` in ns and returns what it
// did: one echo request, then the reply, an ICMP error (exit 1, which is what
// these tests look for) or wait seconds of silence.
func (e *env) pingOnce(ns string, wait int, ip string, args ...string) result {
	a := append([]string{"ping", "-n", "-c", "1", "-W", fmt.Sprint(wait)}, args...)
	return e.inNS(ns, time.Duration(wait+10)*time.Second, append(a, ip)...)
}

// ipCounters reads the Ip: line of /proc/net/snmp inside ns (ReasmOKs,
// FragCreates, ...): /proc/net is the reading process's namespace's.
func (e *env) ipCounters(ns string) map[string]int64 {
	e.t.Helper()
	out := e.mustNS(ns, "cat", "/proc/net/snmp")
	var names, vals []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "Ip: ") {
			continue
		}
		if names == nil {
			names = strings.Fields(l)[1:]
		} else {
			vals = strings.Fields(l)[1:]
		}
	}
	m := map[string]int64{}
	for i := range min(len(names), len(vals)) {
		v, _ := strconv.ParseInt(vals[i], 10, 64)
		m[names[i]] = v
	}
	return m
}

// firstFrom is the first "From ..." line of ping's output (an ICMP error).
func firstFrom(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "From ") {
			return l
		}
	}
	return ""
}

// twoNetworks makes networks na (subnet 10.<x>.1.0/24) and nb
// (10.<x>.2.0/24) with one port each, and connects them when connect is set.
func twoNetworks(e *env, d *daemon, x int, connect bool, extraB ...string) (a, b string, pa, pb port) {
	e.t.Helper()
	d.mustCtl("network", "create", "na", "--subnet", fmt.Sprintf("10.%d.1.0/24", x))
	d.mustCtl(append([]string{"network", "create", "nb", "--subnet", fmt.Sprintf("10.%d.2.0/24", x)}, extraB...)...)
	a, b = e.newNS("a"), e.newNS("b")
	pa, pb = d.addPort("na", a), d.addPort("nb", b)
	if connect {
		d.mustCtl("network", "connect", "na", "nb")
	}
	return a, b, pa, pb
}

// Containers ping their gateway; across two networks a ping gets through only
// while they are connected, and the drop counter `isolation` counts the rest.
func TestL3GatewayPingAndNetworkConnect(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	a, b, pa, pb := twoNetworks(e, d, 221, false)
	gwA, gwB := "10.221.1.1", "10.221.2.1"

	e.mustPing(a, gwA)
	e.mustPing(b, gwB)

	isolated := func(when string) {
		t.Helper()
		before := d.drops()["isolation"]
		if none, r := e.noReply(a, pb.addr(), 2); !none {
			t.Errorf("%s: a (network na) got a reply from %s (network nb):\n%v", when, pb.addr(), r)
		}
		if after := d.drops()["isolation"]; after <= before {
			t.Errorf("%s: drop counter isolation stayed at %d while a pinged across", when, after)
		} else {
			t.Logf("%s: isolation drops %d -> %d", when, before, after)
		}
	}
	isolated("before network connect")

	d.mustCtl("network", "connect", "na", "nb")
	var n struct {
		Connected []string `json:"connected"`
	}
	d.ctlJSON(&n, "network", "inspect", "na")
	if !slices.Contains(n.Connected, "nb") {
		t.Errorf("after network connect na nb, network inspect na says connected = %v, want [nb]", n.Connected)
	}
	e.mustPing(a, pb.addr())
	e.mustPing(b, pa.addr())

	d.mustCtl("network", "disconnect", "na", "nb")
	isolated("after network disconnect")
	e.mustPing(a, gwA) // the gateway still answers
}

// `ping -t 1` to another network gets "Time to live exceeded" from the
// gateway; tracepath (or traceroute) shows the gateway as hop 1.
func TestL3TTLExceededAndTraceroute(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	a, _, _, pb := twoNetworks(e, d, 222, true)
	gwA := "10.222.1.1"
	e.mustPing(a, pb.addr())

	before := d.drops()["ttl"]
	r := e.pingOnce(a, 2, pb.addr(), "-t", "1")
	if !strings.Contains(r.stdout, "From "+gwA) || !strings.Contains(r.stdout, "Time to live exceeded") {
		t.Errorf("ping -t 1 %s: want \"From %s ... Time to live exceeded\", got:\n%v", pb.addr(), gwA, r)
	} else {
		t.Logf("ping -t 1: %s", firstFrom(r.stdout))
	}
	if after := d.drops()["ttl"]; after <= before {
		t.Errorf("drop counter ttl stayed at %d after ping -t 1", after)
	}

	hop1 := regexp.MustCompile(`(?m)^\s*1:?\s+(\d+\.\d+\.\d+\.\d+)`)
	switch {
	case haveCmd("tracepath"):
		r := e.inNS(a, 20*time.Second, "tracepath", "-n", "-m", "4", pb.addr())
		m := hop1.FindStringSubmatch(r.stdout)
		if m == nil || m[1] != gwA {
			t.Errorf("tracepath -n %s: want hop 1 to be the gateway %s, got:\n%v", pb.addr(), gwA, r)
		}
		if !strings.Contains(r.stdout, pb.addr()) || !strings.Contains(r.stdout, "reached") {
			t.Errorf("tracepath -n %s did not reach %s:\n%v", pb.addr(), pb.addr(), r)
		}
		t.Logf("tracepath:\n%s", strings.TrimSpace(r.stdout))
	case haveCmd("traceroute"):
		r := e.inNS(a, 20*time.Second, "traceroute", "-n", "-m", "4", "-q", "1", "-w", "2", pb.addr())
		m := hop1.FindStringSubmatch(r.stdout)
		if m == nil || m[1] != gwA {
			t.Errorf("traceroute -n %s: want hop 1 to be the gateway %s, got:\n%v", pb.addr(), gwA, r)
		}
		t.Logf("traceroute:\n%s", strings.TrimSpace(r.stdout))
	default:
		t.Logf("hop check skipped: neither tracepath (iputils-tracepath) nor traceroute is installed")
	}
}

// Networks with MTUs 1500 and 1400: a DF ping of 1450 bytes gets "Frag needed
// ... (mtu = 1400)"; a DF-clear one gets its reply, fragmented by the router
// (the receiver reassembles, the sender fragmented nothing).
func TestL3FragNeededAndFragmentation(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	a, b, _, pb := twoNetworks(e, d, 223, true, "--mtu", "1400")
	e.mustPing(a, pb.addr()) // ARP settled on both sides

	// DF clear first: the sender has not learned the path MTU yet, so it
	// sends one 1478-byte packet and only the router can cut it.
	sa0, sb0 := e.ipCounters(a), e.ipCounters(b)
	r := e.pingOnce(a, 3, pb.addr(), "-M", "dont", "-s", "1450")
	sa1, sb1 := e.ipCounters(a), e.ipCounters(b)
	if r.code != 0 || !strings.Contains(r.stdout, "1458 bytes from "+pb.addr()) {
		t.Errorf("ping -M dont -s 1450 %s across MTU 1500 -> 1400: want \"1458 bytes from %s\", got:\n%v", pb.addr(), pb.addr(), r)
	}
	if sa1["FragCreates"] != sa0["FragCreates"] {
		t.Errorf("the sender fragmented its DF-clear ping itself (FragCreates %d -> %d): the router's fragmentation is not what was tested",
			sa0["FragCreates"], sa1["FragCreates"])
	}
	if sb1["ReasmOKs"] <= sb0["ReasmOKs"] {
		t.Errorf("the receiver reassembled nothing (ReasmOKs %d -> %d): the router did not fragment the 1478-byte packet for the MTU 1400 network",
			sb0["ReasmOKs"], sb1["ReasmOKs"])
	}

	before := d.drops()["frag-needed"]
	r = e.pingOnce(a, 2, pb.addr(), "-M", "do", "-s", "1450")
	if !strings.Contains(r.stdout, "Frag needed") || !strings.Contains(r.stdout, "mtu = 1400") {
		t.Errorf("ping -M do -s 1450 %s: want \"Frag needed and DF set (mtu = 1400)\", got:\n%v", pb.addr(), r)
	} else {
		t.Logf("ping -M do -s 1450: %s", firstFrom(r.stdout))
	}
	if after := d.drops()["frag-needed"]; after <= before {
		t.Errorf("drop counter frag-needed stayed at %d", after)
	}
}

// No route: "Destination Net Unreachable" at once. A host that does not exist
// in a connected subnet: "Destination Host Unreachable" once ARP gives up;
// `arp show` lists it failed and the drop counter arp-failed goes up.
func TestL3NetAndHostUnreachable(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	a, _, _, pb := twoNetworks(e, d, 224, true)
	gwA := "10.224.1.1"
	e.mustPing(a, pb.addr())

	before := d.drops()["no-route"]
	r := e.pingOnce(a, 2, "10.250.0.1")
	if !strings.Contains(r.stdout, "From "+gwA) || !strings.Contains(r.stdout, "Destination Net Unreachable") {
		t.Errorf("ping 10.250.0.1 (no route, no uplink): want \"From %s ... Destination Net Unreachable\", got:\n%v", gwA, r)
	}
	if after := d.drops()["no-route"]; after <= before {
		t.Errorf("drop counter no-route stayed at %d", after)
	}

	const ghost = "10.224.2.77"
	before = d.drops()["arp-failed"]
	start := time.Now()
	r = e.pingOnce(a, 6, ghost)
	took := time.Since(start)
	if !strings.Contains(r.stdout, "Destination Host Unreachable") {
		t.Errorf("ping -W 6 %s (no such host in connected network nb): want \"Destination Host Unreachable\", got:\n%v", ghost, r)
	}
	t.Logf("host unreachable after %.1f s:\n%s", took.Seconds(), strings.TrimSpace(r.stdout))
	var got *neighbor
	ns := d.neighbors()
	for i := range ns {
		if ns[i].IP == ghost {
			got = &ns[i]
		}
	}
	if got == nil || got.State != "failed" {
		t.Errorf("arp show: want %s listed as failed, got %+v in %+v", ghost, got, ns)
	}
	if after := d.drops()["arp-failed"]; after <= before || after == 0 {
		t.Errorf("top-level drop counter arp-failed is %d (was %d), want it to go up", after, before)
	}
}

// An uplink to an outside namespace "ext" (which routes the container
// subnets back to the uplink IP): a --no-masquerade network's container
// reaches ext and back, and ext's HTTP server sees the container's own
// address; ext pings the uplink IP; a default (masquerade) network's
// container gets out through masquerade and cannot be reached from ext
// directly, counted as isolation.
func TestUplinkNoMasqueradeAndMasquerade(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	ext, host := e.newNS("ext"), e.newNS("host")
	const extIP, upIP = "10.0.12.11", "10.0.12.15"

	// The veth is made inside ext with its peer in host: the root namespace
	// never sees it. The host end has no address.
	e.mustNS(ext, "ip", "link", "add", "x0", "type", "veth", "peer", "name", "u0", "netns", host)
	e.mustNS(ext, "ip", "addr", "add", extIP+"/24", "dev", "x0")
	e.mustNS(ext, "ip", "link", "set", "x0", "up")
	e.mustNS(host, "ip", "link", "set", "u0", "up")
	e.mustNS(ext, "ip", "route", "add", "10.225.0.0/16", "via", upIP)

	d.mustCtl("uplink", "add", "--dev", "u0", "--netns", host, "--ip", upIP+"/24", "--gateway", extIP)
	d.mustCtl("network", "create", "pub", "--subnet", "10.225.1.0/24", "--no-masquerade")
	d.mustCtl("network", "create", "masq", "--subnet", "10.225.2.0/24")
	c1, c2 := e.newNS("c1"), e.newNS("c2")
	p1, p2 := d.addPort("pub", c1), d.addPort("masq", c2)

	var rs []routeEntry
	for _, r := range d.routes() {
		if r.Kind == "default" {
			rs = append(rs, r)
		}
	}
	if len(rs) != 1 || rs[0].Prefix != "0.0.0.0/0" || rs[0].Via != extIP {
		t.Errorf("route ls after uplink add: want one default route 0.0.0.0/0 via %s, got %+v", extIP, d.routes())
	}

	e.mustPing(ext, upIP)
	e.mustPing(c1, extIP)
	e.mustPing(ext, p1.addr()) // and back in, to the container's own address

	// HTTP: the server in ext logs the client's address.
	logPath := filepath.Join(e.dir, "http.log")
	e.startInNS(ext, "sh", "-c", fmt.Sprintf("exec /usr/bin/python3 -u -m http.server 8080 --bind %s --directory %s 2>%s",
		extIP, e.dir, logPath))
	for range 100 {
		if !haveCmd("ss") {
			time.Sleep(time.Second)
			break
		}
		if r := e.inNS(ext, 5*time.Second, "ss", "-Hltn", "sport = :8080"); strings.TrimSpace(r.stdout) != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	url := fmt.Sprintf("http://%s:8080/", extIP)
	var r result
	if haveCmd("curl") {
		r = e.inNS(c1, 15*time.Second, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", url)
	} else {
		r = e.inNS(c1, 15*time.Second, "/usr/bin/python3", "-c",
			"import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1],timeout=5).status,end='')", url)
	}
	if r.code != 0 || strings.TrimSpace(r.stdout) != "200" {
		t.Errorf("HTTP GET %s from %s: want status 200, got:\n%v", url, c1, r)
	}
	var log string
	for range 20 { // the log line follows the response
		b, _ := os.ReadFile(logPath)
		if log = string(b); strings.Contains(log, "GET / ") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(log, p1.addr()+" - - ") || !strings.Contains(log, "GET / ") {
		t.Errorf("the HTTP server in ext did not see the container's own address %s as client; its log:\n%s", p1.addr(), log)
	} else {
		t.Logf("ext's HTTP server log: %s", strings.TrimSpace(log))
	}

	// The masquerade network gets out through NAT, and the outside cannot
	// reach its container's own address (only published ports come in).
	e.mustPing(c2, extIP)
	before := d.drops()["isolation"]
	if none, r := e.noReply(ext, p2.addr(), 2); !none {
		t.Errorf("ext reached a masquerading network's container directly:\n%v", r)
	}
	if after := d.drops()["isolation"]; after <= before {
		t.Errorf("drop counter isolation stayed at %d while ext pinged a masqueraded container", after)
	}
}

// A static route to a prefix behind a container (10.99.0.0/24 on a dummy
// interface there) works from its own network and from a connected one;
// `route ls` shows it; after `route del` the same ping gets "Destination Net
// Unreachable" at once.
func TestRouteAddLsDel(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "na", "--subnet", "10.226.1.0/24")
	d.mustCtl("network", "create", "nb", "--subnet", "10.226.2.0/24")
	d.mustCtl("network", "connect", "na", "nb")
	rtr, c1, c2 := e.newNS("rtr"), e.newNS("c1"), e.newNS("c2")
	pr := d.addPort("na", rtr, "--allowed-ips", "10.99.0.0/24") // it answers from the prefix behind it
	d.addPort("na", c1)
	d.addPort("nb", c2)

	const prefix, behind = "10.99.0.0/24", "10.99.0.1"
	if r := e.inNS(rtr, 10*time.Second, "ip", "link", "add", "d0", "type", "dummy"); r.code == 0 {
		e.mustNS(rtr, "ip", "addr", "add", behind+"/24", "dev", "d0")
		e.mustNS(rtr, "ip", "link", "set", "d0", "up")
	} else {
		// No dummy driver on this kernel: a veth pair inside rtr does as well.
		t.Logf("no dummy interface (%s): the prefix goes on a veth pair inside %s", strings.TrimSpace(r.stderr), rtr)
		e.mustNS(rtr, "ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
		e.mustNS(rtr, "ip", "addr", "add", behind+"/24", "dev", "d0")
		e.mustNS(rtr, "ip", "link", "set", "d1", "up")
		e.mustNS(rtr, "ip", "link", "set", "d0", "up")
	}
	e.mustNS(rtr, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	// Without a route the prefix is unknown.
	if r := e.pingOnce(c1, 2, behind); !strings.Contains(r.stdout, "Destination Net Unreachable") {
		t.Errorf("ping %s before route add: want \"Destination Net Unreachable\", got:\n%v", behind, r)
	}

	d.mustCtl("route", "add", prefix, "--via", pr.addr())
	var static []routeEntry
	kinds := map[string]string{}
	for _, r := range d.routes() {
		kinds[r.Prefix] = r.Kind
		if r.Prefix == prefix {
			static = append(static, r)
		}
	}
	if len(static) != 1 || static[0].Kind != "static" || static[0].Via != pr.addr() {
		t.Errorf("route ls -o json: want %s kind static via %s, got %+v", prefix, pr.addr(), d.routes())
	}
	if kinds["10.226.1.0/24"] != "connected" || kinds["10.226.2.0/24"] != "connected" {
		t.Errorf("route ls -o json: want the networks' subnets as kind connected, got %+v", d.routes())
	}
	e.mustPing(c1, behind) // from the next hop's own network
	e.mustPing(c2, behind) // from a connected network

	d.mustCtl("route", "del", prefix)
	for _, r := range d.routes() {
		if r.Prefix == prefix {
			t.Errorf("route ls still lists %s after route del: %+v", prefix, r)
		}
	}
	start := time.Now()
	r := e.pingOnce(c1, 2, behind)
	if !strings.Contains(r.stdout, "Destination Net Unreachable") {
		t.Errorf("ping %s right after route del: want \"Destination Net Unreachable\", got:\n%v", behind, r)
	} else {
		t.Logf("after route del: net unreachable within %v", time.Since(start).Round(time.Millisecond))
	}
}

// iperf3 TCP across two connected networks runs at multi-Gbit/s, carried by
// GSO super-frames through the router.
func TestL3IperfAcrossNetworksGSO(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	a, b, pa, pb := twoNetworks(e, d, 227, true)
	e.mustPing(a, pb.addr())

	before := d.stats()
	bps := e.iperf(a, b, pb.addr(), 2)
	after := d.stats()
	gso := after[pa.Name].RxGSO - before[pa.Name].RxGSO
	t.Logf("iperf3 TCP %s -> %s across networks: %.2f Gbit/s; sender port rx_gso_packets +%d, receiver port tx_gso_packets +%d",
		pa.Name, pb.Name, bps/1e9, gso, after[pb.Name].TxGSO-before[pb.Name].TxGSO)
	if bps < 1e9 {
		t.Errorf("iperf3 TCP across two connected networks ran at %.2f Gbit/s, want > 1 Gbit/s", bps/1e9)
	}
	if gso == 0 {
		t.Errorf("rx_gso_packets of the sender's port %s did not go up during iperf3 (before %d, after %d)",
			pa.Name, before[pa.Name].RxGSO, after[pa.Name].RxGSO)
	}
}

// `arp show -o json` lists every port vswitchd created with its IP and MAC,
// state permanent, on that port.
func TestL3ArpShowPermanentPorts(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	a, _, pa, pb := twoNetworks(e, d, 228, true)
	pa2 := d.addPort("na", e.newNS("a2"))
	e.mustPing(a, pb.addr())
	e.mustPing(a, pa2.addr())

	ns := d.neighbors()
	for _, p := range []port{pa, pa2, pb} {
		var got []neighbor
		for _, n := range ns {
			if n.IP == p.addr() {
				got = append(got, n)
			}
		}
		if len(got) != 1 || !strings.EqualFold(got[0].MAC, p.MAC) || got[0].State != "permanent" || got[0].Port != p.Name {
			t.Errorf("arp show -o json for port %s: want one entry ip %s mac %s state permanent port %s, got %+v",
				p.Name, p.addr(), p.MAC, p.Name, got)
		}
	}
	if t.Failed() {
		t.Logf("arp show -o json: %+v", ns)
	}
}
