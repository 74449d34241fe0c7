package daemon

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"vswitch/api"
)

// A file as an operator keeps it: three networks, a published port, two
// ACL rules.
const reloadBase = `networks:
  - name: web
    subnet: 10.10.0.0/24
  - name: back
    subnet: 10.30.0.0/24
    no_masquerade: true
  - name: tmp
    subnet: 10.40.0.0/24
publish:
  - network: web
    proto: tcp
    port: "8000"
    to: 10.10.0.10:8080
acls:
  - network: back
    action: allow
    proto: tcp
    dport: "5432"
  - network: web
    action: deny
    proto: udp
`

// reloadChanged is reloadBase with db for tmp, web's options changed and
// the second ACL rule gone.
const reloadChanged = `networks:
  - name: web
    subnet: 10.10.0.0/24
    icc: false
    fdb_aging_s: 60
    mac_limit: 10
    acl_default: deny
    storm_limit: 500
  - name: back
    subnet: 10.30.0.0/24
    no_masquerade: true
  - name: db
    subnet: 10.50.0.0/24
    mtu: 1400
publish:
  - network: web
    proto: tcp
    port: "8000"
    to: 10.10.0.10:8080
acls:
  - network: back
    action: allow
    proto: tcp
    dport: "5432"
`

// reloadClash adds a network, changes an option and adds a published port
// that clashes with one made with vswitchctl, on line 17: only applying
// finds it, and the two changes before it must be undone.
const reloadClash = `networks:
  - name: web
    subnet: 10.10.0.0/24
    icc: false
  - name: back
    subnet: 10.30.0.0/24
    no_masquerade: true
  - name: tmp
    subnet: 10.40.0.0/24
  - name: new
    subnet: 10.60.0.0/24
publish:
  - network: web
    proto: tcp
    port: "8000"
    to: 10.10.0.10:8080
  - network: web
    proto: tcp
    port: "9000"
    to: 10.10.0.12:80
acls:
  - network: back
    action: allow
    proto: tcp
    dport: "5432"
  - network: web
    action: deny
    proto: udp
`

// startWithConfig is vswitchd --config: a daemon with the file applied.
func startWithConfig(t *testing.T, body string) (*Daemon, string) {
	t.Helper()
	path := writeConfig(t, body)
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	d := newTestDaemon(t, t.TempDir())
	if err := d.Apply(c); err != nil {
		t.Fatal(err)
	}
	return d, path
}

func rewrite(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustReload(t *testing.T, d *Daemon) []string {
	t.Helper()
	r, err := d.Reload()
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	return r.Changes
}

func TestReloadAppliesTheDifference(t *testing.T) {
	d, path := startWithConfig(t, reloadBase)
	web0, _ := d.Network("web")
	d.mu.Lock()
	webID, backRT := d.nets["web"].id, d.nets["back"]
	d.mu.Unlock()
	pub0 := d.Publishes()
	acl0 := mustACLs(t, d)
	if len(pub0) != 1 || len(acl0) != 2 {
		t.Fatalf("after start: publish %+v, acls %+v", pub0, acl0)
	}

	// The same file again: nothing to do.
	if ch := mustReload(t, d); len(ch) != 0 {
		t.Fatalf("reload of an unchanged file changed %q", ch)
	}

	// Add db; change web's live options; take tmp and the web ACL rule
	// out; keep the rest as it was.
	rewrite(t, path, reloadChanged)
	got := mustReload(t, d)
	want := []string{
		"acl rule 2: removed from network web",
		"network web: icc true -> false",
		"network web: fdb_aging_s 300 -> 60",
		"network web: mac_limit 1024 -> 10",
		"network web: acl_default allow -> deny",
		"network web: storm_limit 0 -> 500",
		"network db: created, subnet 10.50.0.0/24, gateway 10.50.0.1",
		"network tmp: removed",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reload changes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	web, _ := d.Network("web")
	if web.ICC || web.FDBAging != 60 || web.MACLimit != 10 || web.ACLDefault != "deny" || web.StormLimit != 500 {
		t.Errorf("web after reload = %+v", web)
	}
	// Changed in place: the same network in the dataplane, its MAC kept,
	// the FDB's settings the new ones.
	d.mu.Lock()
	if d.nets["web"].id != webID || d.nets["back"].cfg.Name != "back" || d.nets["back"].id != backRT.id {
		t.Errorf("web or back was made again: ids %d -> %d", webID, d.nets["web"].id)
	}
	d.mu.Unlock()
	if web.GatewayMAC != web0.GatewayMAC {
		t.Errorf("web's gateway MAC changed %s -> %s", web0.GatewayMAC, web.GatewayMAC)
	}
	if db, err := d.Network("db"); err != nil || db.MTU != 1400 {
		t.Errorf("db = %+v, %v", db, err)
	}
	if _, err := d.Network("tmp"); err == nil {
		t.Errorf("tmp is still there")
	}
	// The rules the file kept are the same rules.
	if p := d.Publishes(); !reflect.DeepEqual(p, pub0) {
		t.Errorf("publish after reload = %+v, want %+v untouched", p, pub0)
	}
	if a := mustACLs(t, d); len(a) != 1 || a[0].ID != 1 || a[0].Network != "back" {
		t.Errorf("acls after reload = %+v, want rule 1 (back) alone", a)
	}

	// A rule that changes is the old one out and a new one in; and the
	// options go back when the file says so.
	rewrite(t, path, strings.Replace(reloadBase, "to: 10.10.0.10:8080", "to: 10.10.0.11:8080", 1))
	got = mustReload(t, d)
	want = []string{
		"publish rule 1: removed (tcp 8000 -> 10.10.0.10:8080 on network web)",
		"network web: icc false -> true",
		"network web: fdb_aging_s 60 -> 300",
		"network web: mac_limit 10 -> 1024",
		"network web: acl_default deny -> allow",
		"network web: storm_limit 500 -> 0",
		"network tmp: created, subnet 10.40.0.0/24, gateway 10.40.0.1",
		"publish rule 2: added, tcp 0.0.0.0:8000 -> 10.10.0.11:8080 on network web",
		"acl rule 3: added to network web, deny",
		"network db: removed",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("second reload changes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The record survives a restart: the next start applies nothing new.
	dir := d.opts.StateDir
	d.Close()
	d2 := newTestDaemon(t, dir)
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.applyConfig(c, true); err != nil {
		t.Fatal(err)
	}
	if ch, err := d2.Reload(); err != nil || len(ch.Changes) != 0 || ch.File != path {
		t.Errorf("reload after a restart = %+v, %v; want nothing to change", ch, err)
	}
}

// An entry written another way (a default spelled out) is the same rule:
// kept, not removed and added again; one made with vswitchctl that the
// file now names is adopted.
func TestReloadSameRuleRewritten(t *testing.T) {
	d, path := startWithConfig(t, reloadBase)
	acl0 := mustACLs(t, d)
	rewrite(t, path, strings.Replace(reloadBase, "    dport: \"5432\"\n", "    dport: \"5432\"\n    priority: 100\n", 1))
	if ch := mustReload(t, d); len(ch) != 0 {
		t.Errorf("reload with priority: 100 spelled out changed %q", ch)
	}
	if a := mustACLs(t, d); !reflect.DeepEqual(a, acl0) {
		t.Errorf("acls = %+v, want %+v", a, acl0)
	}
	// The second reload finds the record as written: nothing again.
	if ch := mustReload(t, d); len(ch) != 0 {
		t.Errorf("second reload changed %q", ch)
	}
	if _, err := d.AddPublish(api.PublishAdd{Network: "back", Proto: "udp", Port: "53", To: "10.30.0.5:53"}); err != nil {
		t.Fatal(err)
	}
	rewrite(t, path, reloadBase+"  - network: back\n    action: deny\n    proto: icmp\n")
	if ch := mustReload(t, d); !reflect.DeepEqual(ch, []string{"acl rule 3: added to network back, deny"}) {
		t.Errorf("changes = %q", ch)
	}
	body := strings.Replace(reloadBase, "acls:\n", "  - network: back\n    proto: udp\n    port: \"53\"\n    to: 10.30.0.5:53\nacls:\n", 1)
	rewrite(t, path, body)
	if ch := mustReload(t, d); !reflect.DeepEqual(ch, []string{"acl rule 3: removed from network back", "publish rule 2: existed already, adopted as it is"}) {
		t.Errorf("changes = %q", ch)
	}
	// Adopted, it is the file's: taken out of the file, it goes.
	rewrite(t, path, reloadBase)
	if ch := mustReload(t, d); !reflect.DeepEqual(ch, []string{"publish rule 2: removed (udp 53 -> 10.30.0.5:53 on network back)"}) {
		t.Errorf("changes = %q", ch)
	}
}

// Each mistake is refused whole, with the file and the line, and nothing
// of the running config changes.
func TestReloadRefusedWithLine(t *testing.T) {
	d, path := startWithConfig(t, reloadBase)
	if _, err := d.CreateNetwork(api.NetworkCreate{Name: "cli", Subnet: "10.99.0.0/24"}); err != nil {
		t.Fatal(err)
	}
	before := d.Networks()
	pubs, acls := d.Publishes(), mustACLs(t, d)
	state, _ := os.ReadFile(filepath.Join(d.opts.StateDir, stateFile))
	// line replaces line n (1-based) of reloadBase and appends more.
	line := func(n int, s string, more string) string {
		ls := strings.Split(reloadBase, "\n")
		if s != "" {
			ls[n-1] = s
		}
		return strings.Join(ls, "\n") + more
	}
	cases := []struct {
		name, body string
		line       int
		says       string
	}{
		{"bad subnet", line(5, "    subnet: 10.30.0.7/24", ""), 5, "networks[1].subnet: subnet 10.30.0.7/24 has host bits set"},
		{"subnet too small", line(5, "    subnet: 10.30.0.0/31", ""), 5, "networks[1].subnet: subnet 10.30.0.0/31 is too small"},
		{"syntax", line(6, "    no_masquerade: true: x", ""), 6, "not valid YAML"},
		{"overlap with a network not in the file", line(8, "    subnet: 10.40.0.0/24\n  - name: more\n    subnet: 10.99.0.128/25", ""), 10, "networks[3].subnet: subnet 10.99.0.128/25 overlaps 10.99.0.0/24 of network cli"},
		{"subnet of a running network", line(3, "    subnet: 10.11.0.0/24", ""), 3, "networks[0].subnet: network web: subnet cannot change while the network exists"},
		{"mtu of a running network", line(6, "    mtu: 9000", ""), 6, "networks[1].mtu: network back: mtu cannot change while the network exists (it is set on the interfaces of its ports)"},
		{"internal", line(8, "    subnet: 10.40.0.0/24\n    internal: true", ""), 9, "networks[2].internal: network tmp: internal cannot change"},
		{"gateway", line(8, "    subnet: 10.40.0.0/24\n    gateway: 10.40.0.9", ""), 9, "networks[2].gateway: network tmp: gateway cannot change"},
		{"bad gateway", line(8, "    subnet: 10.40.0.0/24\n    gateway: 10.41.0.9", ""), 9, "networks[2].gateway: address 10.41.0.9 is outside"},
		{"bad mac_limit", line(8, "    subnet: 10.40.0.0/24\n    mac_limit: -1", ""), 9, "networks[2].mac_limit: bad mac_limit -1"},
		{"bad acl_default", line(8, "    subnet: 10.40.0.0/24\n    acl_default: drop", ""), 9, `networks[2].acl_default: bad acl_default "drop"`},
		{"unknown key", line(8, "    subnet: 10.40.0.0/24\n    colour: red", ""), 9, `unknown field "colour" in networks[2]`},
		{"port on no network", line(0, "", "ports:\n  - network: nope\n    netns: x\n"), 23, "ports[0].network: no network nope"},
		{"settings", line(0, "", "conntrack_max: 5000\n"), 22, "conntrack_max: cannot change while vswitchd runs"},
		// Found only when applying: the new network and the option change
		// before it are undone.
		{"publish clash", reloadClash, 17, "publish[1]: tcp port 9000 is already published on 0.0.0.0 by rule 2"},
	}
	if _, err := d.AddPublish(api.PublishAdd{Network: "cli", Proto: "tcp", Port: "9000", To: "10.99.0.5:80"}); err != nil {
		t.Fatal(err)
	}
	pubs = d.Publishes()
	state, _ = os.ReadFile(filepath.Join(d.opts.StateDir, stateFile))
	for _, c := range cases {
		rewrite(t, path, c.body)
		_, err := d.Reload()
		prefix := fmt.Sprintf("config %s line %d: ", path, c.line)
		var e *Error
		if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), c.says) || !errors.As(err, &e) || e.Status == 500 {
			t.Errorf("%s: reload = %v\nwant %q ... %q", c.name, err, prefix, c.says)
		} else if !strings.HasSuffix(err.Error(), "; nothing was changed") {
			t.Errorf("%s: %v does not say nothing was changed", c.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: not one line: %q", c.name, err)
		}
		if got := d.Networks(); !reflect.DeepEqual(got, before) {
			t.Errorf("%s: networks changed:\n%+v\nwant\n%+v", c.name, got, before)
		}
		if p, a := d.Publishes(), mustACLs(t, d); !reflect.DeepEqual(p, pubs) || !reflect.DeepEqual(a, acls) {
			t.Errorf("%s: rules changed: %+v %+v", c.name, p, a)
		}
		if now, _ := os.ReadFile(filepath.Join(d.opts.StateDir, stateFile)); string(now) != string(state) {
			t.Errorf("%s: the state file changed", c.name)
		}
	}
	// The file put right again: reload works and finds nothing to do.
	rewrite(t, path, reloadBase)
	if ch := mustReload(t, d); len(ch) != 0 {
		t.Errorf("reload of the good file = %q", ch)
	}
}

func TestReloadWithoutConfig(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	_, err := d.Reload()
	var e *Error
	if err == nil || !errors.As(err, &e) || e.Status != 409 || err.Error() != "vswitchd was started without --config: there is no file to reload (start it with --config FILE)" {
		t.Fatalf("reload without --config = %v", err)
	}
}

// Ports in the file, in a namespace of the test's own: an unchanged entry
// is not re-opened, a changed one is refused, one taken out is removed,
// and a network taken out while a port the file does not name is on it is
// refused saying which.
func TestReloadPorts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a namespace of its own")
	}
	ns := fmt.Sprintf("vst-%d-rl", rand.IntN(1<<30))
	ns2 := ns + "b"
	for _, n := range []string{ns, ns2} {
		if out, err := exec.Command("ip", "netns", "add", n).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v %s", err, out)
		}
		n := n
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run(); os.RemoveAll("/etc/netns/" + n) })
	}
	base := fmt.Sprintf(`networks:
  - name: web
    subnet: 10.10.0.0/24
  - name: lab
    subnet: 10.20.0.0/24
ports:
  - network: web
    netns: %s
    ip: 10.10.0.10
    no_resolv_conf: true
`, ns)
	d, path := startWithConfig(t, base)
	d.mu.Lock()
	rt0 := d.ports[ns]
	d.mu.Unlock()
	if rt0 == nil || rt0.io == nil {
		t.Fatalf("port %s not up after start", ns)
	}

	// A port added to the file; the first one is left alone.
	rewrite(t, path, base+fmt.Sprintf("  - network: lab\n    netns: %s\n    name: labp\n    no_resolv_conf: true\n", ns2))
	if got := mustReload(t, d); !reflect.DeepEqual(got, []string{"port labp: added to network lab (netns " + ns2 + ", eth0, 10.20.0.2/24)"}) {
		t.Fatalf("changes = %q", got)
	}
	d.mu.Lock()
	same := d.ports[ns] == rt0 && d.ports[ns].io == rt0.io && d.ports[ns].idx == rt0.idx
	d.mu.Unlock()
	if !same {
		t.Errorf("port %s was re-opened by a reload that did not change it", ns)
	}

	// The guard's options of web change on its running port: a spoofed
	// source is dropped before, passes after.
	spoof := api.TraceRequest{In: ns, Src: "10.10.0.99", Dst: "10.10.0.1"}
	if tr, err := d.Trace(spoof); err != nil || tr.Verdict.Action != "drop" {
		t.Fatalf("spoofed trace before = %+v, %v; want a drop", tr.Verdict, err)
	}
	withLab := base + fmt.Sprintf("  - network: lab\n    netns: %s\n    name: labp\n    no_resolv_conf: true\n", ns2)
	rewrite(t, path, strings.Replace(withLab, "    subnet: 10.10.0.0/24\n", "    subnet: 10.10.0.0/24\n    port_security: false\n    conn_rate: 50\n", 1))
	if got := mustReload(t, d); !reflect.DeepEqual(got, []string{"network web: port_security true -> false", "network web: conn_rate 0 -> 50"}) {
		t.Fatalf("changes = %q", got)
	}
	ps, _ := d.Ports("web")
	d.mu.Lock()
	same = d.ports[ns] == rt0 && d.ports[ns].io == rt0.io
	d.mu.Unlock()
	if len(ps) != 1 || ps[0].PortSecurity || !same {
		t.Errorf("port on web after port_security: false = %+v (re-opened: %v)", ps, !same)
	}
	if tr, err := d.Trace(spoof); err != nil || tr.Verdict.Action == "drop" {
		t.Errorf("spoofed trace after port_security: false = %+v, %v; want it to pass", tr.Verdict, err)
	}

	// Its address changed: refused at the line of ip.
	rewrite(t, path, strings.Replace(base, "ip: 10.10.0.10", "ip: 10.10.0.11", 1))
	_, err := d.Reload()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("line 9: ports[0].ip: port %s: ip cannot change on a running port", ns)) {
		t.Errorf("changed port: %v", err)
	}

	// lab taken out of the file while a port made with vswitchctl is on it.
	if err := d.RemovePort("labp"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddPort(api.PortAdd{Network: "lab", Netns: ns2, Name: "byhand", NoResolvConf: true}); err != nil {
		t.Fatal(err)
	}
	noLab := strings.Replace(base, "  - name: lab\n    subnet: 10.20.0.0/24\n", "", 1)
	rewrite(t, path, noLab)
	_, err = d.Reload()
	if err == nil || !strings.Contains(err.Error(), "network lab is taken out of the file but has 1 port(s) the file does not remove (byhand)") {
		t.Errorf("network with a port taken out: %v", err)
	}
	if _, err := d.Network("lab"); err != nil {
		t.Errorf("lab went: %v", err)
	}
	if err := d.RemovePort("byhand"); err != nil {
		t.Fatal(err)
	}
	// The network and its port taken out together: both go.
	rewrite(t, path, "networks:\n  - name: lab\n    subnet: 10.20.0.0/24\n")
	got := mustReload(t, d)
	if !reflect.DeepEqual(got, []string{"port " + ns + ": removed", "network web: removed"}) {
		t.Errorf("changes = %q", got)
	}
	if ps, _ := d.Ports(""); len(ps) != 0 {
		t.Errorf("ports left: %+v", ps)
	}
}

// An overlay network in the file: its vxlan mapping cannot change live,
// and taken out of the file it goes with its tunnel port.
func TestReloadVXLANNetwork(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a namespace of its own")
	}
	ns := fmt.Sprintf("vst-%d-rx", rand.IntN(1<<30))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	for _, args := range [][]string{{"link", "add", "u0", "type", "veth", "peer", "name", "u1"}, {"addr", "add", "192.0.2.1/24", "dev", "u0"}, {"link", "set", "u0", "up"}, {"link", "set", "u1", "up"}} {
		if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	body := fmt.Sprintf("networks:\n  - name: web\n    subnet: 10.10.0.0/24\n  - name: ov\n    subnet: 10.70.0.0/24\n    vxlan:\n      vni: 100\n      dev: u0\n      netns: %s\n      local: 192.0.2.1\n", ns)
	d, path := startWithConfig(t, body)
	if n, err := d.Network("ov"); err != nil || n.VXLAN == nil {
		t.Fatalf("ov = %+v, %v", n, err)
	}
	rewrite(t, path, strings.Replace(body, "vni: 100", "vni: 200", 1))
	if _, err := d.Reload(); err == nil || !strings.Contains(err.Error(), "line 7: networks[1].vxlan: network ov: vxlan cannot change while the network exists") {
		t.Errorf("vni changed: %v", err)
	}
	rewrite(t, path, "networks:\n  - name: web\n    subnet: 10.10.0.0/24\n")
	if ch := mustReload(t, d); !reflect.DeepEqual(ch, []string{"network ov: removed"}) {
		t.Errorf("changes = %q", ch)
	}
	if ps, _ := d.Ports(""); len(ps) != 0 {
		t.Errorf("ports left: %+v", ps)
	}
}
