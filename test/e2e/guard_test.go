package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The ingress guard (dataplane/guard.go) from inside namespaces: frames are
// made with a python3 AF_PACKET socket (stdlib only, so CI needs nothing
// more than python3).

const rawSender = `
import socket, sys, os, struct, json, time
a = json.loads(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((a["if"], 0))
mac = lambda m: bytes.fromhex(m.replace(":", ""))
ip = socket.inet_aton
dst, src = mac(a.get("dst_mac", "ff:ff:ff:ff:ff:ff")), mac(a["src_mac"])
if a["kind"] == "arp":
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, a.get("op", 2)) + mac(a["sender_mac"]) + ip(a["sender_ip"]) + mac(a.get("target_mac", "00:00:00:00:00:00")) + ip(a["target_ip"])
    rest = b"\x08\x06" + body + bytes(18)
else:
    pl = b"x" * 18
    udp = struct.pack("!HHHH", 40000, 9, 8 + len(pl), 0) + pl
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, ip(a["src_ip"]), ip(a["dst_ip"]))
    c = sum(struct.unpack("!10H", h)); c = (c & 0xffff) + (c >> 16); c = (c & 0xffff) + (c >> 16)
    rest = b"\x08\x00" + h[:10] + struct.pack("!H", ~c & 0xffff) + h[12:] + udp
fr = dst + src + rest
sent, end = 0, time.time() + a.get("seconds", 0)
while sent < a.get("count", 1 << 62) and (a.get("seconds", 0) == 0 or time.time() < end):
    if a.get("random_src"):
        fr = dst + bytes([2]) + os.urandom(5) + rest
    if a.get("vary_sport"):
        fr = fr[:34] + struct.pack("!H", 1024 + sent % 60000) + fr[36:]
    try:
        s.send(fr)
        sent += 1
    except OSError:
        time.sleep(0.0005)
print(sent)
`

// sendRaw runs rawSender in ns with the options given; it returns how many
// frames the socket took.
func (e *env) sendRaw(ns string, opts map[string]any) int {
	e.t.Helper()
	b, _ := json.Marshal(opts)
	out := e.mustNS(ns, "python3", "-c", rawSender, string(b))
	var n int
	fmt.Sscan(strings.TrimSpace(out), &n)
	return n
}

func drops(st map[string]portStats, port, reason string) uint64 { return st[port].Drops[reason] }

// (a) A container that takes another address or MAC is cut off and its
// frames are counted as spoof; its neighbour keeps talking.
func TestGuardSpoofedIPAndMAC(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.211.0.0/24")
	c1, c2, c3 := e.newNS("c1"), e.newNS("c2"), e.newNS("c3")
	p1, p2, p3 := d.addPort("lan", c1), d.addPort("lan", c2), d.addPort("lan", c3)
	e.mustPing(c1, p2.addr())
	e.mustPing(c3, p2.addr())

	// c1 takes an address that is not its own.
	before := d.stats()
	e.mustNS(c1, "ip", "addr", "flush", "dev", p1.Ifname)
	e.mustNS(c1, "ip", "addr", "add", "10.211.0.200/24", "dev", p1.Ifname)
	e.mustNS(c1, "ip", "neigh", "flush", "all")
	if none, r := e.noReply(c1, p2.addr(), 3); !none {
		t.Errorf("c1 on a stolen address 10.211.0.200 still got replies from %s:\n%v", p2.addr(), r)
	}
	e.mustPing(c3, p2.addr())
	after := d.stats()
	t.Logf("spoofed IP: spoof drops on %s %d -> %d", p1.Name, drops(before, p1.Name, "spoof"), drops(after, p1.Name, "spoof"))
	if drops(after, p1.Name, "spoof") <= drops(before, p1.Name, "spoof") {
		t.Errorf("spoof drops of %s did not rise (%v -> %v)", p1.Name, before[p1.Name].Drops, after[p1.Name].Drops)
	}
	if drops(after, p3.Name, "spoof") != 0 {
		t.Errorf("the honest port %s has spoof drops: %v", p3.Name, after[p3.Name].Drops)
	}

	// Back to its own address, but another MAC.
	e.mustNS(c1, "ip", "addr", "flush", "dev", p1.Ifname)
	e.mustNS(c1, "ip", "addr", "add", p1.IP, "dev", p1.Ifname)
	e.mustPing(c1, p2.addr())
	e.mustNS(c1, "ip", "link", "set", p1.Ifname, "address", "02:00:de:ad:be:ef")
	before = d.stats()
	if none, r := e.noReply(c1, p2.addr(), 3); !none {
		t.Errorf("c1 with a changed MAC still got replies:\n%v", r)
	}
	e.mustPing(c3, p2.addr())
	after = d.stats()
	t.Logf("spoofed MAC: spoof drops on %s %d -> %d", p1.Name, drops(before, p1.Name, "spoof"), drops(after, p1.Name, "spoof"))
	if drops(after, p1.Name, "spoof") <= drops(before, p1.Name, "spoof") {
		t.Errorf("spoof drops of %s did not rise after the MAC change", p1.Name)
	}
	for _, f := range d.fdb("lan") {
		if f.MAC == "02:00:de:ad:be:ef" {
			t.Errorf("the spoofed MAC was learned: %+v", f)
		}
	}
}

// (b) ARP replies claiming the gateway's address are dropped and counted,
// and the neighbour keeps the gateway's real MAC.
func TestGuardARPSpoofGateway(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.212.0.0/24")
	var n network
	d.ctlJSON(&n, "network", "inspect", "lan")
	c1, c2 := e.newNS("c1"), e.newNS("c2")
	p1, p2 := d.addPort("lan", c1), d.addPort("lan", c2)
	e.mustPing(c2, n.Gateway)
	e.mustPing(c2, p1.addr())

	before := d.stats()
	sent := e.sendRaw(c1, map[string]any{"kind": "arp", "if": p1.Ifname, "src_mac": p1.MAC, "dst_mac": p2.MAC,
		"op": 2, "sender_mac": p1.MAC, "sender_ip": n.Gateway, "target_mac": p2.MAC, "target_ip": p2.addr(), "count": 50})
	time.Sleep(300 * time.Millisecond)
	after := d.stats()
	got := drops(after, p1.Name, "spoof") - drops(before, p1.Name, "spoof")
	t.Logf("ARP replies 'gateway %s is at %s': %d sent, %d dropped as spoof", n.Gateway, p1.MAC, sent, got)
	if got < uint64(sent) {
		t.Errorf("%d spoofed ARP replies sent, %d counted as spoof", sent, got)
	}
	neigh := e.mustNS(c2, "ip", "neigh", "show", n.Gateway)
	if strings.Contains(strings.ToLower(neigh), strings.ToLower(p1.MAC)) {
		t.Errorf("c2's ARP entry for the gateway was poisoned: %s", neigh)
	}
	e.mustPing(c2, n.Gateway)
}

// (c) --allowed-ips lets a router container send from addresses behind it.
func TestGuardAllowedIPs(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.213.0.0/24")
	r1, r2, dst := e.newNS("r1"), e.newNS("r2"), e.newNS("dst")
	p1 := d.addPort("lan", r1, "--allowed-ips", "192.168.50.0/24")
	p2 := d.addPort("lan", r2)
	pd := d.addPort("lan", dst)
	e.mustPing(r1, pd.addr())
	e.mustPing(r2, pd.addr())
	var ps []port
	d.ctlJSON(&ps, "port", "ls")
	var raw []map[string]any
	d.ctlJSON(&raw, "port", "ls")
	found := false
	for _, p := range raw {
		if p["name"] == p1.Name {
			found = fmt.Sprint(p["allowed_ips"]) == "[192.168.50.0/24]" && p["port_security"] == true
		}
	}
	if !found {
		t.Errorf("port ls -o json does not show port_security and allowed_ips of %s: %v", p1.Name, raw)
	}

	const n = 200
	before := d.stats()
	for _, c := range []struct {
		ns string
		p  port
	}{{r1, p1}, {r2, p2}} {
		e.sendRaw(c.ns, map[string]any{"kind": "ipv4", "if": c.p.Ifname, "src_mac": c.p.MAC, "dst_mac": pd.MAC,
			"src_ip": "192.168.50.7", "dst_ip": pd.addr(), "count": n})
	}
	time.Sleep(300 * time.Millisecond)
	after := d.stats()
	t.Logf("from 192.168.50.7: spoof on %s +%d, on %s +%d; %s tx +%d", p1.Name,
		drops(after, p1.Name, "spoof")-drops(before, p1.Name, "spoof"), p2.Name,
		drops(after, p2.Name, "spoof")-drops(before, p2.Name, "spoof"), pd.Name, after[pd.Name].TxPackets-before[pd.Name].TxPackets)
	if drops(after, p1.Name, "spoof") != drops(before, p1.Name, "spoof") {
		t.Errorf("the router port %s with --allowed-ips 192.168.50.0/24 had frames from 192.168.50.7 dropped as spoof", p1.Name)
	}
	if got := after[pd.Name].TxPackets - before[pd.Name].TxPackets; got < n {
		t.Errorf("%s got %d frames, want the router's %d", pd.Name, got, n)
	}
	if got := drops(after, p2.Name, "spoof") - drops(before, p2.Name, "spoof"); got < n {
		t.Errorf("the port %s without allowed-ips had %d of %d foreign-source frames dropped as spoof", p2.Name, got, n)
	}
}

// (d) A flood of random source MACs: without port security the FDB stops at
// the MAC limit (mac-limit drops); with it, every frame is spoof.
func TestGuardMACFlood(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	const limit = 64
	d.mustCtl("network", "create", "open", "--subnet", "10.214.0.0/24", "--mac-limit", fmt.Sprint(limit), "--port-security=false")
	d.mustCtl("network", "create", "safe", "--subnet", "10.215.0.0/24", "--mac-limit", fmt.Sprint(limit))
	for _, c := range []struct {
		net, reason string
		maxFDB      int
	}{{"open", "mac-limit", limit}, {"safe", "spoof", 1}} {
		a, b := e.newNS(c.net+"a"), e.newNS(c.net+"b")
		pa, pb := d.addPort(c.net, a), d.addPort(c.net, b)
		e.mustPing(a, pb.addr())
		before := d.stats()
		start := time.Now()
		sent := e.sendRaw(a, map[string]any{"kind": "ipv4", "if": pa.Ifname, "src_mac": pa.MAC, "dst_mac": pb.MAC,
			"src_ip": pa.addr(), "dst_ip": pb.addr(), "count": 100000, "random_src": true})
		el := time.Since(start)
		time.Sleep(300 * time.Millisecond)
		after := d.stats()
		n := 0
		for _, f := range d.fdb(c.net) {
			if f.Port == pa.Name {
				n++
			}
		}
		got := drops(after, pa.Name, c.reason) - drops(before, pa.Name, c.reason)
		rx := after[pa.Name].RxPackets - before[pa.Name].RxPackets
		t.Logf("%s: %d random-MAC frames sent in %v, %d received by vswitchd, %d dropped as %s, FDB entries of %s: %d",
			c.net, sent, el.Round(time.Millisecond), rx, got, c.reason, pa.Name, n)
		if n > c.maxFDB {
			t.Errorf("%s: %d FDB entries on %s, want at most %d", c.net, n, pa.Name, c.maxFDB)
		}
		if rx < 10000 || got < rx-uint64(limit)-10 {
			t.Errorf("%s: %d frames received, %d dropped as %s: want nearly all of them", c.net, rx, got, c.reason)
		}
		e.mustPing(b, pa.addr()) // the others still reach each other
	}
}

// (e) A broadcast flood is capped near --storm-limit and counted as storm.
func TestGuardStormLimit(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	const limit = 1000
	d.mustCtl("network", "create", "lan", "--subnet", "10.216.0.0/24", "--storm-limit", fmt.Sprint(limit))
	var n map[string]any
	d.ctlJSON(&n, "network", "inspect", "lan")
	if n["storm_limit"] != float64(limit) || n["port_security"] != true {
		t.Errorf("network inspect: storm_limit %v, port_security %v; want %d, true", n["storm_limit"], n["port_security"], limit)
	}
	a, b := e.newNS("a"), e.newNS("b")
	pa, pb := d.addPort("lan", a), d.addPort("lan", b)
	e.mustPing(a, pb.addr())
	before := d.stats()
	const secs = 2
	start := time.Now()
	sent := e.sendRaw(a, map[string]any{"kind": "ipv4", "if": pa.Ifname, "src_mac": pa.MAC,
		"src_ip": pa.addr(), "dst_ip": "10.216.0.255", "seconds": secs})
	el := time.Since(start).Seconds()
	time.Sleep(300 * time.Millisecond)
	after := d.stats()
	storm := drops(after, pa.Name, "storm") - drops(before, pa.Name, "storm")
	delivered := after[pb.Name].TxPackets - before[pb.Name].TxPackets
	t.Logf("broadcast flood: %d sent in %.1f s (%.0f/s), %d delivered to %s (%.0f/s), %d dropped as storm",
		sent, el, float64(sent)/el, delivered, pb.Name, float64(delivered)/el, storm)
	if max := uint64(float64(limit)*(el+0.5)) + limit/10; delivered > max {
		t.Errorf("%d broadcasts delivered in %.1f s, want at most %d (limit %d/s)", delivered, el, max, limit)
	}
	if delivered < uint64(limit*secs/2) {
		t.Errorf("%d broadcasts delivered, want about %d: the limit cut more than it should", delivered, limit*secs)
	}
	if storm == 0 || storm+delivered+100 < after[pa.Name].RxPackets-before[pa.Name].RxPackets {
		t.Errorf("storm drops %d, delivered %d, received %d: the rest should be counted as storm", storm, delivered,
			after[pa.Name].RxPackets-before[pa.Name].RxPackets)
	}
	e.mustPing(b, pa.addr())
}

// (f) --conn-rate: a port opening new tracked flows (the network has an
// ACL) faster than its rate has the rest dropped as conn-rate; another
// port still pings.
func TestGuardConnRate(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	const rate = 10
	d.mustCtl("network", "create", "lan", "--subnet", "10.217.0.0/24", "--conn-rate", fmt.Sprint(rate))
	d.mustCtl("acl", "add", "lan", "--action", "deny", "--proto", "tcp", "--dport", "9999") // an ACL: flows are tracked
	var n map[string]any
	d.ctlJSON(&n, "network", "inspect", "lan")
	if n["conn_rate"] != float64(rate) {
		t.Errorf("network inspect: conn_rate %v, want %d", n["conn_rate"], rate)
	}
	a, b, c := e.newNS("a"), e.newNS("b"), e.newNS("c")
	pa, pb, _ := d.addPort("lan", a), d.addPort("lan", b), d.addPort("lan", c)
	e.mustPing(a, pb.addr())
	before := d.stats()
	const flows = 500
	e.sendRaw(a, map[string]any{"kind": "ipv4", "if": pa.Ifname, "src_mac": pa.MAC, "dst_mac": pb.MAC,
		"src_ip": pa.addr(), "dst_ip": pb.addr(), "count": flows, "vary_sport": true})
	time.Sleep(300 * time.Millisecond)
	after := d.stats()
	limited := drops(after, pa.Name, "conn-rate") - drops(before, pa.Name, "conn-rate")
	delivered := after[pb.Name].TxPackets - before[pb.Name].TxPackets
	t.Logf("%d new UDP flows at once: %d delivered, %d dropped as conn-rate (rate %d/s)", flows, delivered, limited, rate)
	if limited < flows-3*rate || delivered > 3*rate {
		t.Errorf("%d flows: %d delivered, %d conn-rate; want about %d through and the rest dropped", flows, delivered, limited, rate)
	}
	e.mustPing(c, pb.addr())
}

// The guard's options are configuration: after vswitchd is killed and
// started again on its state dir, network inspect and port ls show them as
// they were, and the guard acts on them (a stolen address is still dropped
// as spoof; the router's allowed range still passes).
func TestGuardOptionsSurviveRestart(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "gr", "--subnet", "10.213.0.0/24", "--storm-limit", "500", "--conn-rate", "20")
	c1, c2, c3 := e.newNS("c1"), e.newNS("c2"), e.newNS("c3")
	p1, p2 := d.addPort("gr", c1), d.addPort("gr", c2)
	p3 := d.addPort("gr", c3, "--allowed-ips", "192.168.61.0/24")
	e.mustPing(c1, p2.addr())

	type netView struct {
		PortSecurity bool `json:"port_security"`
		StormLimit   int  `json:"storm_limit"`
		ConnRate     int  `json:"conn_rate"`
	}
	type portView struct {
		Name         string   `json:"name"`
		PortSecurity bool     `json:"port_security"`
		AllowedIPs   []string `json:"allowed_ips"`
	}
	views := func() (netView, map[string]portView) {
		var n netView
		d.ctlJSON(&n, "network", "inspect", "gr")
		var ps []portView
		d.ctlJSON(&ps, "port", "ls")
		m := map[string]portView{}
		for _, p := range ps {
			m[p.Name] = p
		}
		return n, m
	}
	n0, ps0 := views()
	if !n0.PortSecurity || n0.StormLimit != 500 || n0.ConnRate != 20 || len(ps0[p3.Name].AllowedIPs) != 1 {
		t.Fatalf("before the restart: network %+v, router port %+v; want port security on, storm 500, conn-rate 20, one allowed range", n0, ps0[p3.Name])
	}

	d.kill()
	d = e.startDaemon(d.stateDir)
	n1, ps1 := views()
	if n1 != n0 {
		t.Errorf("network options after the restart %+v, before %+v", n1, n0)
	}
	for name, p := range ps0 {
		if q := ps1[name]; q.PortSecurity != p.PortSecurity || strings.Join(q.AllowedIPs, ",") != strings.Join(p.AllowedIPs, ",") {
			t.Errorf("port %s after the restart %+v, before %+v", name, q, p)
		}
	}

	// And the restored guard acts: c1 on a stolen address is dropped.
	e.mustPing(c1, p2.addr())
	before := d.stats()
	e.mustNS(c1, "ip", "addr", "flush", "dev", p1.Ifname)
	e.mustNS(c1, "ip", "addr", "add", "10.213.0.200/24", "dev", p1.Ifname)
	e.mustNS(c1, "ip", "neigh", "flush", "all")
	if none, r := e.noReply(c1, p2.addr(), 2); !none {
		t.Errorf("after the restart, c1 on a stolen address still got replies:\n%v", r)
	}
	after := d.stats()
	if drops(after, p1.Name, "spoof") <= drops(before, p1.Name, "spoof") {
		t.Errorf("after the restart, spoof drops of %s did not rise (%v -> %v)", p1.Name, before[p1.Name].Drops, after[p1.Name].Drops)
	}
}
