package e2e

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// IPv6 inside a dual-stack network (issue 14, first part): addresses from
// vswitchd's IPAM usable at once, a default route via the gateway's
// link-local address, the gateway answering ND, echo and router
// solicitations from the dataplane, malformed ND dropped and counted, and
// all of it kept across a restart.

// nd6Tool speaks ND from an AF_PACKET socket in a namespace (python3 stdlib
// only): "rs" sends a router solicitation and prints the advertisement that
// comes back as JSON; "ns" sends count neighbour solicitations for target
// with the hop limit given.
const nd6Tool = `
import socket, struct, sys, json, time
a = json.loads(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86dd))
s.bind((a["if"], 0))
mac = lambda m: bytes.fromhex(m.replace(":", ""))
ip6 = lambda x: socket.inet_pton(socket.AF_INET6, x)
def csum(src, dst, msg):
    d = src + dst + struct.pack("!I", len(msg)) + b"\0\0\0" + bytes([58]) + msg
    if len(d) % 2: d += b"\0"
    c = sum(struct.unpack("!%dH" % (len(d) // 2), d))
    while c >> 16: c = (c & 0xffff) + (c >> 16)
    return ~c & 0xffff
def frame(dmac, smac, src, dst, hop, msg):
    msg = msg[:2] + struct.pack("!H", csum(src, dst, msg)) + msg[4:]
    return dmac + smac + b"\x86\xdd" + struct.pack("!IHBB", 6 << 28, len(msg), 58, hop) + src + dst + msg
smac, src = mac(a["src_mac"]), ip6(a["src"])
if a["kind"] == "rs":
    msg = struct.pack("!BBHI", 133, 0, 0, 0) + bytes([1, 1]) + smac
    s.send(frame(mac("33:33:00:00:00:02"), smac, src, ip6("ff02::2"), 255, msg))
    s.settimeout(0.2)
    end = time.time() + 3
    while time.time() < end:
        try:
            f = s.recv(4096)
        except socket.timeout:
            continue
        if len(f) < 70 or f[12:14] != b"\x86\xdd" or f[20] != 58 or f[54] != 134:
            continue
        m = f[54:]
        ra = {"src_mac": f[6:12].hex(":"), "src": socket.inet_ntop(socket.AF_INET6, f[22:38]),
              "dst": socket.inet_ntop(socket.AF_INET6, f[38:54]), "hop_limit": f[21],
              "cur_hop_limit": m[4], "flags": m[5], "lifetime": struct.unpack("!H", m[6:8])[0], "options": []}
        o = m[16:]
        while len(o) >= 8 and o[1] > 0:
            n = o[1] * 8
            opt = {"type": o[0]}
            if o[0] == 1: opt["mac"] = o[2:8].hex(":")
            if o[0] == 5: opt["mtu"] = struct.unpack("!I", o[4:8])[0]
            if o[0] == 3:
                opt["prefix"] = "%s/%d" % (socket.inet_ntop(socket.AF_INET6, o[16:32]), o[2])
                opt["flags"] = o[3]
                opt["valid"], opt["preferred"] = struct.unpack("!II", o[4:12])
            ra["options"].append(opt)
            o = o[n:]
        print(json.dumps(ra))
        sys.exit(0)
    sys.exit("no router advertisement within 3 s")
else:
    t = ip6(a["target"])
    sn = bytes([0xff, 2]) + bytes(9) + bytes([1, 0xff]) + t[13:]
    msg = struct.pack("!BBHI", 135, 0, 0, 0) + t + bytes([1, 1]) + smac
    for i in range(a["count"]):
        s.send(frame(bytes([0x33, 0x33, 0xff]) + t[13:], smac, src, sn, a["hop"], msg))
    print(a["count"])
`

type port6 struct {
	port
	IP6 string `json:"ip6"`
}

func (p port6) addr6() string {
	pfx, err := netip.ParsePrefix(p.IP6)
	if err != nil {
		return p.IP6
	}
	return pfx.Addr().String()
}

type network6 struct {
	Name       string  `json:"name"`
	IPv6       bool    `json:"ipv6"`
	Subnet6    string  `json:"subnet6"`
	Gateway6   string  `json:"gateway6"`
	Gateway6LL string  `json:"gateway6_ll"`
	GatewayMAC string  `json:"gateway_mac"`
	MTU        int     `json:"mtu"`
	Ports      []port6 `json:"ports"`
}

type raJSON struct {
	SrcMAC      string `json:"src_mac"`
	Src         string `json:"src"`
	HopLimit    int    `json:"hop_limit"`
	CurHopLimit int    `json:"cur_hop_limit"`
	Flags       int    `json:"flags"`
	Lifetime    int    `json:"lifetime"`
	Options     []struct {
		Type   int    `json:"type"`
		MAC    string `json:"mac"`
		MTU    int    `json:"mtu"`
		Prefix string `json:"prefix"`
		Flags  int    `json:"flags"`
		Valid  int    `json:"valid"`
	} `json:"options"`
}

func (e *env) ping6(ns, ip string) result {
	return e.inNS(ns, 15*time.Second, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", ip)
}

func (e *env) mustPing6(ns, ip string) {
	e.t.Helper()
	if r := e.ping6(ns, ip); r.code != 0 || !strings.Contains(r.stdout, " 0% packet loss") {
		e.t.Errorf("ping -6 %s from %s failed:\n%s", ip, ns, r)
	}
}

func TestIPv6DualStackNetwork(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "ds", "--subnet", "10.230.0.0/24", "--ipv6", "--subnet6", "fd00:230::/64")
	var n network6
	d.ctlJSON(&n, "network", "inspect", "ds")
	if !n.IPv6 || n.Subnet6 != "fd00:230::/64" || n.Gateway6 != "fd00:230::1" || !strings.HasPrefix(n.Gateway6LL, "fe80::") {
		t.Fatalf("network inspect ds = %+v, want ipv6 with fd00:230::/64, gateway6 fd00:230::1 and a link-local gateway6_ll", n)
	}
	if r := d.ctl("network", "create", "bad", "--subnet", "10.231.0.0/24", "--ipv6", "--subnet6", "fd00:231::/48"); r.code != 1 || !strings.Contains(r.stderr, "must be 64") {
		t.Errorf("--subnet6 /48: %v, want exit 1 saying the length must be 64", r)
	}

	c1, c2 := e.newNS("c1"), e.newNS("c2")
	d.addPort("ds", c1)
	d.addPort("ds", c2, "--ip6", "fd00:230::20")
	var ps []port6
	d.ctlJSON(&ps, "port", "ls", "--network", "ds")
	if len(ps) != 2 || ps[0].IP6 != "fd00:230::2/64" || ps[1].IP6 != "fd00:230::20/64" {
		t.Fatalf("port ls = %+v, want ip6 fd00:230::2/64 (auto) and fd00:230::20/64", ps)
	}
	p1, p2 := ps[0], ps[1]

	check := func(when string) {
		t.Helper()
		for _, p := range []port6{p1, p2} {
			out := e.mustNS(p.Netns, "ip", "-6", "addr", "show", "dev", "eth0")
			if !strings.Contains(out, "inet6 "+p.IP6) || strings.Contains(out, "tentative") {
				t.Errorf("%s: eth0 in %s: want %s, not tentative:\n%s", when, p.Netns, p.IP6, out)
			}
			if v := strings.TrimSpace(e.mustNS(p.Netns, "cat", "/proc/sys/net/ipv6/conf/eth0/accept_dad")); v != "0" {
				t.Errorf("%s: accept_dad of eth0 in %s = %s, want 0", when, p.Netns, v)
			}
			if out := e.mustNS(p.Netns, "ip", "-6", "route", "show", "default"); !strings.Contains(out, "via "+n.Gateway6LL+" dev eth0") {
				t.Errorf("%s: IPv6 default route in %s = %q, want via %s dev eth0", when, p.Netns, out, n.Gateway6LL)
			}
		}
		e.mustPing6(c1, p2.addr6())
		e.mustPing6(c2, p1.addr6())
		e.mustPing6(c1, n.Gateway6)
		e.mustPing6(c2, n.Gateway6LL+"%eth0")
		out := e.mustNS(c1, "ip", "-6", "neigh", "show", "dev", "eth0")
		found := false
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) > 0 && (f[0] == n.Gateway6 || f[0] == n.Gateway6LL) && strings.Contains(l, "lladdr "+n.GatewayMAC) && strings.Contains(l, " router") {
				found = true
			}
		}
		t.Logf("%s: ip -6 neigh in %s:\n%s", when, c1, strings.TrimSpace(out))
		if !found {
			t.Errorf("%s: ip -6 neigh in %s shows no entry of the gateway with lladdr %s and the router flag:\n%s", when, c1, n.GatewayMAC, out)
		}
	}
	check("after port add")

	// Without a default route: none from the advertisements either (the
	// kernel solicits one when the link comes up, and gets it).
	c3 := e.newNS("c3")
	p3 := d.addPort("ds", c3, "--no-default-route")
	e.mustPing6(c3, p1.addr6())
	time.Sleep(500 * time.Millisecond)
	if out := e.mustNS(c3, "ip", "-6", "route", "show", "default"); strings.TrimSpace(out) != "" {
		t.Errorf("--no-default-route: IPv6 default route in %s: %q, want none", c3, out)
	}
	if v := strings.TrimSpace(e.mustNS(c3, "cat", "/proc/sys/net/ipv6/conf/eth0/accept_ra_defrtr")); v != "0" {
		t.Errorf("--no-default-route: accept_ra_defrtr = %s, want 0", v)
	}
	d.mustCtl("port", "rm", p3.Name)

	// A router solicitation gets the advertisement with the prefix and MTU.
	ll1 := linkLocal(t, e, c1)
	b, _ := json.Marshal(map[string]any{"kind": "rs", "if": "eth0", "src_mac": p1.MAC, "src": ll1})
	var ra raJSON
	out := e.mustNS(c1, "python3", "-c", nd6Tool, string(b))
	if err := json.Unmarshal([]byte(out), &ra); err != nil {
		t.Fatalf("router advertisement: %v: %q", err, out)
	}
	t.Logf("router advertisement: %s", strings.TrimSpace(out))
	if ra.SrcMAC != n.GatewayMAC || ra.Src != n.Gateway6LL || ra.HopLimit != 255 || ra.Flags&0xc0 != 0 || ra.Lifetime != 1800 {
		t.Errorf("RA from %s %s hop limit %d flags %#x lifetime %d; want from %s %s, 255, M/O off, 1800",
			ra.SrcMAC, ra.Src, ra.HopLimit, ra.Flags, ra.Lifetime, n.GatewayMAC, n.Gateway6LL)
	}
	var gotPrefix, gotMTU, gotSLLA bool
	for _, o := range ra.Options {
		switch o.Type {
		case 3:
			gotPrefix = o.Prefix == "fd00:230::/64" && o.Flags == 0x80 && o.Valid > 0
		case 5:
			gotMTU = o.MTU == 1500
		case 1:
			gotSLLA = o.MAC == n.GatewayMAC
		}
	}
	if !gotPrefix || !gotMTU || !gotSLLA {
		t.Errorf("RA options %+v: want the prefix fd00:230::/64 on-link with autonomous off, MTU 1500, source link-layer %s", ra.Options, n.GatewayMAC)
	}

	// A neighbour solicitation with hop limit 64 could only have been
	// routed: dropped as malformed, and counted.
	before := d.stats()
	b, _ = json.Marshal(map[string]any{"kind": "ns", "if": "eth0", "src_mac": p1.MAC, "src": p1.addr6(), "target": n.Gateway6, "hop": 64, "count": 5})
	e.mustNS(c1, "python3", "-c", nd6Tool, string(b))
	time.Sleep(200 * time.Millisecond)
	after := d.stats()
	if got := after[p1.Name].Drops["malformed"] - before[p1.Name].Drops["malformed"]; got != 5 {
		t.Errorf("5 neighbour solicitations with hop limit 64: malformed drops on %s +%d, want +5", p1.Name, got)
	}

	// trace (a dry run) follows an echo and a solicitation to the gateway,
	// and says why IPv6 to a prefix without a route is dropped.
	for _, tc := range []struct {
		args    []string
		verdict string
		says    string
	}{
		{[]string{"--dst", n.Gateway6}, "Verdict: forward to " + p1.Name, "IPv6 ping to the gateway: answered in place"},
		{[]string{"--dst", n.Gateway6LL}, "Verdict: forward to " + p1.Name, "echo-reply"},
		{[]string{"--dst", n.Gateway6, "--proto", "nd"}, "Verdict: consumed by the gateway: a neighbour advertisement sent back to " + p1.Name, "router flag"},
		{[]string{"--dst", "fd00:999::1"}, "Verdict: drop (no-route)", "ICMPv6 destination unreachable (no route)"}, // routed (route6.go), no route there
	} {
		out := d.mustCtl(append([]string{"trace", "--in", p1.Name}, tc.args...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if !strings.HasPrefix(lines[len(lines)-1], tc.verdict) || !strings.Contains(out, tc.says) {
			t.Errorf("trace %v:\n%s\nwant %q ending %q", tc.args, out, tc.says, tc.verdict)
		}
	}
	t.Logf("trace of an NS for the gateway:\n%s", d.mustCtl("trace", "--in", p1.Name, "--dst", n.Gateway6, "--proto", "nd"))

	// A restart keeps the addresses, the routes and the answers.
	if code := d.stop(); code != 0 {
		t.Errorf("vswitchd exited %d on SIGTERM", code)
	}
	d = e.startDaemon(d.stateDir)
	var ps2 []port6
	d.ctlJSON(&ps2, "port", "ls", "--network", "ds")
	if len(ps2) != 2 || ps2[0].IP6 != p1.IP6 || ps2[1].IP6 != p2.IP6 {
		t.Errorf("after a restart, port ls = %+v, want the same ip6", ps2)
	}
	var n2 network6
	d.ctlJSON(&n2, "network", "inspect", "ds")
	if n2.Gateway6 != n.Gateway6 || n2.Gateway6LL != n.Gateway6LL {
		t.Errorf("after a restart: gateway6 %s %s, want %s %s", n2.Gateway6, n2.Gateway6LL, n.Gateway6, n.Gateway6LL)
	}
	check("after a restart")
}

// linkLocal is the fe80:: address of eth0 in ns.
func linkLocal(t *testing.T, e *env, ns string) string {
	t.Helper()
	out := e.mustNS(ns, "ip", "-6", "-br", "addr", "show", "dev", "eth0", "scope", "link")
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "fe80::") {
			return strings.Split(f, "/")[0]
		}
	}
	t.Fatalf("no link-local address on eth0 in %s: %q", ns, out)
	return ""
}
