package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// IPv6 port security (dataplane/guard6.go) from inside namespaces: a
// container that advertises itself as a router, forges a neighbour
// advertisement for another container's address or sends from another's
// address poisons nobody, and each drop is counted; a container without
// port security doing the same does poison its neighbours, which shows the
// test can tell.

// nd6Attack sends IPv6 frames from an AF_PACKET socket (python3 stdlib):
// "ra" a router advertisement (router lifetime 1800 s, an autonomous
// on-link prefix, the source link-layer option); "na" an unsolicited
// neighbour advertisement with the override flag for target, the target
// link-layer option the sender's MAC; "udp" one UDP datagram.
const nd6Attack = `
import socket, struct, sys, json, time
a = json.loads(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86dd))
s.bind((a["if"], 0))
mac = lambda m: bytes.fromhex(m.replace(":", ""))
ip6 = lambda x: socket.inet_pton(socket.AF_INET6, x)
def csum(src, dst, nh, msg):
    d = src + dst + struct.pack("!I", len(msg)) + b"\0\0\0" + bytes([nh]) + msg
    if len(d) % 2: d += b"\0"
    c = sum(struct.unpack("!%dH" % (len(d) // 2), d))
    while c >> 16: c = (c & 0xffff) + (c >> 16)
    return ~c & 0xffff
smac, src, dst = mac(a["src_mac"]), ip6(a["src"]), ip6(a["dst"])
dmac = mac(a["dst_mac"])
if a["kind"] == "ra":
    pfx = struct.pack("!BBBBIII", 3, 4, 64, 0xc0, 86400, 14400, 0) + ip6(a["prefix"])
    msg = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0) + bytes([1, 1]) + smac + pfx
    nh, hop, off = 58, 255, 2
elif a["kind"] == "na":
    msg = struct.pack("!BBHI", 136, 0, 0, 0x20 << 24) + ip6(a["target"]) + bytes([2, 1]) + smac
    nh, hop, off = 58, 255, 2
else:
    msg = struct.pack("!HHHH", 40000, a["dport"], 8 + len(a["payload"]), 0) + a["payload"].encode()
    nh, hop, off = 17, 64, 6
msg = msg[:off] + struct.pack("!H", csum(src, dst, nh, msg)) + msg[off + 2:]
fr = dmac + smac + b"\x86\xdd" + struct.pack("!IHBB", 6 << 28, len(msg), nh, hop) + src + dst + msg
for i in range(a.get("count", 1)):
    s.send(fr)
    time.sleep(0.05)
print(a.get("count", 1))
`

// udp6Listen prints every datagram that reaches [::]:port within the
// seconds given, one "SOURCE PAYLOAD" line each.
const udp6Listen = `
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", int(sys.argv[1])))
s.settimeout(0.2)
print("ready", flush=True)
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        b, src = s.recvfrom(2048)
        print(src[0], b.decode(), flush=True)
    except socket.timeout:
        pass
`

func (e *env) send6(ns string, opts map[string]any) {
	e.t.Helper()
	opts["if"] = "eth0"
	b, _ := json.Marshal(opts)
	e.mustNS(ns, "python3", "-c", nd6Attack, string(b))
}

// eui64LL is fe80:: and the modified EUI-64 of mac, what Linux gives eth0.
func eui64LL(mac string) string {
	var m [6]byte
	fmt.Sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5])
	return netip.AddrFrom16([16]byte{0xfe, 0x80, 8: m[0] ^ 2, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]}).String()
}

// neighMAC is the lladdr of ns's neighbour entry for addr ("" if none).
func (e *env) neighMAC(ns, addr string) string {
	out := e.mustNS(ns, "ip", "-6", "neigh", "show", addr, "dev", "eth0")
	f := strings.Fields(out)
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// poisoned says what in ns's IPv6 routes and addresses came from an RA
// of router (its link-local address) with prefix fd00:bad::/64.
func (e *env) poisoned(ns, router string) string {
	var bad []string
	for _, l := range strings.Split(e.mustNS(ns, "ip", "-6", "route", "show"), "\n") {
		if strings.Contains(l, router) || strings.HasPrefix(l, "fd00:bad::") {
			bad = append(bad, "route: "+strings.TrimSpace(l))
		}
	}
	for _, l := range strings.Split(e.mustNS(ns, "ip", "-6", "addr", "show", "dev", "eth0"), "\n") {
		if strings.Contains(l, "fd00:bad:") {
			bad = append(bad, "address: "+strings.TrimSpace(l))
		}
	}
	return strings.Join(bad, "; ")
}

func TestGuard6RAAndNDSpoofing(t *testing.T) {
	e := newEnv(t)
	// vswitchd in a namespace of its own, serving metrics on its loopback.
	mon := e.newNS("mon")
	addr, hc := "127.0.0.1:9464", nsHTTP(mon)
	d := e.startDaemonIn(mon, "", "--metrics-addr", addr)
	d.mustCtl("network", "create", "ds", "--subnet", "10.241.0.0/24", "--ipv6", "--subnet6", "fd00:241::/64")
	var n network6
	d.ctlJSON(&n, "network", "inspect", "ds")
	nsA, nsV, nsP := e.newNS("atk"), e.newNS("vic"), e.newNS("peer")
	for _, ns := range []string{nsA, nsV, nsP} {
		d.addPort("ds", ns)
	}
	var ps []port6
	d.ctlJSON(&ps, "port", "ls", "--network", "ds")
	if len(ps) != 3 {
		t.Fatalf("port ls = %+v, want 3 ports", ps)
	}
	byNS := map[string]port6{}
	for _, p := range ps {
		byNS[p.Netns] = p
	}
	atk, vic, peer := byNS[nsA], byNS[nsV], byNS[nsP]
	atkLL := eui64LL(atk.MAC)
	if out := e.mustNS(nsA, "ip", "-6", "addr", "show", "dev", "eth0", "scope", "link"); !strings.Contains(out, "inet6 "+atkLL+"/64") {
		t.Fatalf("eth0's link-local address in %s is not %s (the EUI-64 port security allows):\n%s", nsA, atkLL, out)
	}

	// Normal IPv6 between them works with port security on.
	e.mustPing6(nsV, peer.addr6())
	e.mustPing6(nsP, vic.addr6())
	e.mustPing6(nsA, vic.addr6())
	e.mustPing6(nsA, eui64LL(vic.MAC)+"%eth0")
	if m := e.neighMAC(nsV, peer.addr6()); m != peer.MAC {
		t.Fatalf("the victim's neighbour entry for %s has lladdr %q, want %s", peer.addr6(), m, peer.MAC)
	}
	if p := e.poisoned(nsV, atkLL); p != "" {
		t.Fatalf("before any attack the victim already has %s", p)
	}
	before := d.stats()[atk.Name].Drops

	// A live trace follows the attacker's dropped ICMPv6.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var liveOut bytes.Buffer
	live := exec.CommandContext(ctx, vswitchctlBin, "--socket", d.sock, "trace", "--live",
		"--port", atk.Name, "--proto", "icmpv6", "--drops", "--count", "1")
	live.Stdout, live.Stderr = &liveOut, &liveOut
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)

	// 1. Router advertisements: no default route, no prefix, no address.
	e.send6(nsA, map[string]any{"kind": "ra", "src_mac": atk.MAC, "dst_mac": "33:33:00:00:00:01",
		"src": atkLL, "dst": "ff02::1", "prefix": "fd00:bad::", "count": 3})
	// 2. An unsolicited advertisement with the override flag for the
	// peer's address, from the attacker's own address and MAC.
	e.send6(nsA, map[string]any{"kind": "na", "src_mac": atk.MAC, "dst_mac": "33:33:00:00:00:01",
		"src": atk.addr6(), "dst": "ff02::1", "target": peer.addr6(), "count": 3})
	// 3. A datagram from the peer's address to the victim, and one from
	// the attacker's own: only the second arrives.
	lis := exec.CommandContext(ctx, "ip", "netns", "exec", nsV, "python3", "-u", "-c", udp6Listen, "9999", "4")
	pipe, err := lis.StdoutPipe()
	if err == nil {
		err = lis.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l := <-lines:
		if l != "ready" {
			t.Fatalf("the listener in %s said %q", nsV, l)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the listener in %s did not start", nsV)
	}
	for _, src := range []string{peer.addr6(), atk.addr6()} {
		e.send6(nsA, map[string]any{"kind": "udp", "src_mac": atk.MAC, "dst_mac": vic.MAC, "src": src, "dst": vic.addr6(),
			"dport": 9999, "payload": "from " + src})
	}
	var got string
	for l := range lines {
		got += l + "\n"
	}
	lis.Wait()
	t.Logf("the victim received:\n%s", got)
	if !strings.Contains(got, atk.addr6()+" from "+atk.addr6()) {
		t.Errorf("the datagram from the attacker's own address did not arrive:\n%s", got)
	}
	if strings.Contains(got, "from "+peer.addr6()) {
		t.Errorf("the datagram with the peer's source %s reached the victim:\n%s", peer.addr6(), got)
	}
	time.Sleep(500 * time.Millisecond)

	if p := e.poisoned(nsV, atkLL); p != "" {
		t.Errorf("the attacker's router advertisements reached the victim: %s", p)
	}
	if p := e.poisoned(nsP, atkLL); p != "" {
		t.Errorf("the attacker's router advertisements reached the peer: %s", p)
	}
	if m := e.neighMAC(nsV, peer.addr6()); m != peer.MAC {
		t.Errorf("after the forged advertisement the victim's entry for %s has lladdr %q, want the peer's %s", peer.addr6(), m, peer.MAC)
	}
	after := d.stats()[atk.Name].Drops
	if got := after["ra-guard"] - before["ra-guard"]; got < 3 {
		t.Errorf("ra-guard drops on %s rose by %d, want 3 (the RAs): %v", atk.Name, got, after)
	}
	if got := after["spoof"] - before["spoof"]; got < 4 {
		t.Errorf("spoof drops on %s rose by %d, want 4 (3 advertisements, 1 datagram): %v", atk.Name, got, after)
	}
	live.Wait()
	t.Logf("trace --live --drops:\n%s", liveOut.String())
	if lr := liveOut.String(); !strings.Contains(lr, "ra-guard") || !strings.Contains(lr, "router advertisement") {
		t.Errorf("trace --live --drops of the attacker shows no ra-guard drop:\n%s", lr)
	}
	m := scrapeMetrics(t, hc, addr)
	if v := m.must(t, "vswitch_port_drops_total", "port", atk.Name, "reason", "ra-guard"); v < 3 {
		t.Errorf("/metrics: ra-guard drops of %s = %v, want 3 or more", atk.Name, v)
	}
	if v := m.must(t, "vswitch_port_drops_total", "port", atk.Name, "reason", "spoof"); v < 4 {
		t.Errorf("/metrics: spoof drops of %s = %v, want 4 or more", atk.Name, v)
	}

	// trace: a dry run of a spoofed source shows the guard's drop.
	tr := d.mustCtl("trace", "--in", atk.Name, "--src", peer.addr6(), "--dst", vic.addr6())
	t.Logf("trace:\n%s", tr)
	if !strings.Contains(tr, "guard") || !strings.Contains(tr, "drop (spoof)") || !strings.Contains(tr, "Verdict: drop (spoof)") {
		t.Errorf("trace from %s with --src %s:\n%s\nwant the guard dropping it as spoof", atk.Name, peer.addr6(), tr)
	}

	// Normal IPv6 still works, the attacker's included.
	e.mustPing6(nsV, peer.addr6())
	e.mustPing6(nsA, vic.addr6())
	e.mustPing6(nsV, n.Gateway6)

	// The control: a container without port security that does the same
	// poisons the victim, so the checks above could have failed.
	nsR := e.newNS("rogue")
	rogue := d.addPort("ds", nsR, "--port-security=false")
	var rp []port6
	d.ctlJSON(&rp, "port", "ls", "--network", "ds")
	var rogue6 port6
	for _, p := range rp {
		if p.Name == rogue.Name {
			rogue6 = p
		}
	}
	rogueLL := eui64LL(rogue.MAC)
	e.mustPing6(nsR, vic.addr6())
	e.send6(nsR, map[string]any{"kind": "ra", "src_mac": rogue.MAC, "dst_mac": "33:33:00:00:00:01",
		"src": rogueLL, "dst": "ff02::1", "prefix": "fd00:bad::", "count": 3})
	e.send6(nsR, map[string]any{"kind": "na", "src_mac": rogue.MAC, "dst_mac": "33:33:00:00:00:01",
		"src": rogue6.addr6(), "dst": "ff02::1", "target": peer.addr6(), "count": 3})
	deadline := time.Now().Add(5 * time.Second)
	for e.poisoned(nsV, rogueLL) == "" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if p := e.poisoned(nsV, rogueLL); !strings.Contains(p, "default via "+rogueLL) {
		t.Errorf("control: a router advertisement from a port without port security did not give the victim a default route via %s (%q): the RA check above proves nothing", rogueLL, p)
	}
	if m := e.neighMAC(nsV, peer.addr6()); m != rogue.MAC {
		t.Errorf("control: a forged advertisement from a port without port security left the victim's entry at %q, want the rogue's %s: the NA check above proves nothing", m, rogue.MAC)
	}
}
