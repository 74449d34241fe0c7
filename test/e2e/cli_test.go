package e2e

import (
	"encoding/json"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// `network inspect` returns the keys of CLI.md with the values the network was
// created with; `port ls -o json` the port keys, with what the device in the
// namespace really has.
func TestNetworkInspectAndPortLsKeys(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "plain", "--subnet", "10.206.0.0/24")
	d.mustCtl("network", "create", "custom", "--subnet", "10.207.0.0/24", "--gateway", "10.207.0.254",
		"--internal", "--icc=false", "--no-masquerade", "--mtu", "1400")
	a, b := e.newNS("a"), e.newNS("b")
	pa := d.addPort("plain", a)
	pb := d.addPort("custom", b)

	networkKeys := []string{"name", "subnet", "gateway", "gateway_mac", "internal", "icc", "masquerade", "mtu", "ports", "connected"}
	portKeys := []string{"name", "network", "kind", "netns", "ifname", "mac", "ip"}

	type want struct {
		name, subnet, gateway     string
		internal, icc, masquerade bool
		mtu                       int
		port                      port
	}
	for _, w := range []want{
		{"plain", "10.206.0.0/24", "10.206.0.1", false, true, true, 1500, pa},
		{"custom", "10.207.0.0/24", "10.207.0.254", true, false, false, 1400, pb},
	} {
		out := d.mustCtl("network", "inspect", w.name) // JSON whatever -o says
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatalf("network inspect %s is not a JSON object: %v\n%s", w.name, err, out)
		}
		for _, k := range networkKeys {
			if _, ok := raw[k]; !ok {
				t.Errorf("network inspect %s: no key %q in %s", w.name, k, out)
			}
		}
		var n struct {
			Name       string           `json:"name"`
			Subnet     string           `json:"subnet"`
			Gateway    string           `json:"gateway"`
			GatewayMAC string           `json:"gateway_mac"`
			Internal   bool             `json:"internal"`
			ICC        bool             `json:"icc"`
			Masquerade bool             `json:"masquerade"`
			MTU        int              `json:"mtu"`
			Ports      []map[string]any `json:"ports"`
			Connected  []string         `json:"connected"`
		}
		if err := json.Unmarshal([]byte(out), &n); err != nil {
			t.Fatalf("network inspect %s: %v\n%s", w.name, err, out)
		}
		if n.Name != w.name || n.Subnet != w.subnet || n.Gateway != w.gateway || n.Internal != w.internal ||
			n.ICC != w.icc || n.Masquerade != w.masquerade || n.MTU != w.mtu {
			t.Errorf("network inspect %s = %s\nwant name %s subnet %s gateway %s internal %v icc %v masquerade %v mtu %d",
				w.name, out, w.name, w.subnet, w.gateway, w.internal, w.icc, w.masquerade, w.mtu)
		}
		if _, err := net.ParseMAC(n.GatewayMAC); err != nil {
			t.Errorf("network inspect %s: gateway_mac %q is not a MAC", w.name, n.GatewayMAC)
		}
		if !strings.HasPrefix(strings.TrimSpace(string(raw["connected"])), "[") {
			t.Errorf("network inspect %s: connected is %s, want an array", w.name, raw["connected"])
		}
		if len(n.Ports) != 1 || n.Ports[0]["name"] != w.port.Name {
			t.Errorf("network inspect %s: ports = %v, want the one port %s", w.name, n.Ports, w.port.Name)
		} else {
			for _, k := range portKeys {
				if _, ok := n.Ports[0][k]; !ok {
					t.Errorf("network inspect %s: its port has no key %q: %v", w.name, k, n.Ports[0])
				}
			}
		}
	}

	// port ls -o json: an array of objects with the port keys.
	out := d.mustCtl("-o", "json", "port", "ls")
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("port ls -o json is not a JSON array of objects: %v\n%s", err, out)
	}
	if len(raw) != 2 {
		t.Fatalf("port ls -o json lists %d ports, want 2:\n%s", len(raw), out)
	}
	for _, p := range raw {
		for _, k := range portKeys {
			if _, ok := p[k]; !ok {
				t.Errorf("port ls -o json: no key %q in %v", k, p)
			}
		}
	}
	// The values are what the namespace really has.
	for _, c := range []struct {
		p       port
		ns, net string
		mtu     string
	}{{pa, a, "plain", "1500"}, {pb, b, "custom", "1400"}} {
		var got port
		for _, p := range d.ports() {
			if p.Name == c.p.Name {
				got = p
			}
		}
		if got.Network != c.net || got.Kind != "tap" || got.Netns != c.ns || got.Ifname != "eth0" {
			t.Errorf("port ls: %+v, want network %s, kind tap, netns %s, ifname eth0", got, c.net, c.ns)
		}
		mac := strings.TrimSpace(e.mustNS(c.ns, "cat", "/sys/class/net/eth0/address"))
		if !strings.EqualFold(mac, got.MAC) {
			t.Errorf("port ls says %s has MAC %s; eth0 in %s has %s", got.Name, got.MAC, c.ns, mac)
		}
		if addr := e.mustNS(c.ns, "ip", "-br", "-4", "addr", "show", "dev", "eth0"); !slices.Contains(strings.Fields(addr), got.IP) {
			t.Errorf("port ls says %s has %s; eth0 in %s has: %s", got.Name, got.IP, c.ns, addr)
		}
		pfx := netip.MustParsePrefix(got.IP)
		subnet := netip.MustParsePrefix(map[string]string{"plain": "10.206.0.0/24", "custom": "10.207.0.0/24"}[c.net])
		if pfx.Bits() != subnet.Bits() || !subnet.Contains(pfx.Addr()) {
			t.Errorf("port %s has ip %s, want an address of %s with its prefix length", got.Name, got.IP, subnet)
		}
		if mtu := strings.TrimSpace(e.mustNS(c.ns, "cat", "/sys/class/net/eth0/mtu")); mtu != c.mtu {
			t.Errorf("eth0 in %s has MTU %s, want the network's %s", c.ns, mtu, c.mtu)
		}
	}
	// The network filter.
	var only []port
	d.ctlJSON(&only, "port", "ls", "--network", "custom")
	if len(only) != 1 || only[0].Name != pb.Name {
		t.Errorf("port ls --network custom = %+v, want only %s", only, pb.Name)
	}
}

// Bad input gets one clear line on stderr starting with "vswitchctl: " and
// exit status 1 (refused) or 2 (usage error); nothing configured before is lost
// and nothing is left behind.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "neta", "--subnet", "10.208.0.0/24")
	d.mustCtl("network", "create", "netb", "--subnet", "10.209.0.0/24")
	a1, a2, b1, spare := e.newNS("a1"), e.newNS("a2"), e.newNS("b1"), e.newNS("spare")
	pa1, pa2 := d.addPort("neta", a1), d.addPort("neta", a2)
	pb1 := d.addPort("netb", b1)
	e.mustPing(a1, pa2.addr())
	missing := "vst-" + e.id + "-missing" // never created

	wantNets := []string{"neta", "netb"}
	wantPorts := []string{pa1.Name, pa2.Name, pb1.Name}
	slices.Sort(wantPorts)

	cases := []struct {
		what    string
		args    []string
		code    int
		mention string // the offending input, which the message should name
	}{
		{"bad CIDR (octet)", []string{"network", "create", "bad", "--subnet", "10.0.0.300/24"}, 1, "10.0.0.300/24"},
		{"bad CIDR (prefix length)", []string{"network", "create", "bad", "--subnet", "10.0.0.0/33"}, 1, "10.0.0.0/33"},
		{"bad CIDR (not an address)", []string{"network", "create", "bad", "--subnet", "nonsense"}, 1, "nonsense"},
		{"overlapping subnet", []string{"network", "create", "bad", "--subnet", "10.208.0.128/25"}, 1, "10.208.0.128/25"},
		{"network name taken", []string{"network", "create", "neta", "--subnet", "10.210.0.0/24"}, 1, "neta"},
		{"IP outside the subnet", []string{"port", "add", "neta", "--netns", spare, "--ip", "10.99.0.5/24"}, 1, "10.99.0.5"},
		{"IP in use", []string{"port", "add", "neta", "--netns", spare, "--ip", pa1.IP}, 1, pa1.addr()},
		{"unknown network (port add)", []string{"port", "add", "nope", "--netns", spare}, 1, "nope"},
		{"unknown network (inspect)", []string{"network", "inspect", "nope"}, 1, "nope"},
		{"unknown network (rm)", []string{"network", "rm", "nope"}, 1, "nope"},
		{"missing namespace", []string{"port", "add", "neta", "--netns", missing}, 1, missing},
		{"duplicate port name", []string{"port", "add", "neta", "--netns", spare, "--name", pa1.Name}, 1, pa1.Name},
		{"unknown port (rm)", []string{"port", "rm", "nope"}, 1, "nope"},
		{"network with ports, no --force", []string{"network", "rm", "netb"}, 1, "netb"},
		{"unknown flag", []string{"network", "ls", "--bogus"}, 2, "--bogus"},
		{"missing required arg (NAME)", []string{"network", "create"}, 2, "NAME"},
		{"missing required flag (--subnet)", []string{"network", "create", "bad"}, 2, "subnet"},
		{"missing required flag (--netns)", []string{"port", "add", "neta"}, 2, "netns"},
		{"missing required arg (port rm)", []string{"port", "rm"}, 2, "NAME"},
	}
	for _, c := range cases {
		r := d.ctl(c.args...)
		lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
		switch {
		case r.code != c.code:
			t.Errorf("%s: %v\nwant exit status %d", c.what, r, c.code)
		case len(lines) != 1 || !strings.HasPrefix(lines[0], "vswitchctl: "):
			t.Errorf("%s: stderr is not one line starting with \"vswitchctl: \":\n%s", c.what, r.stderr)
		case !strings.Contains(lines[0], c.mention):
			t.Errorf("%s: the message does not name %q: %s", c.what, c.mention, lines[0])
		case strings.TrimSpace(r.stdout) != "":
			t.Errorf("%s: a failure printed on stdout: %s", c.what, r.stdout)
		default:
			t.Logf("%-34s exit %d: %s", c.what, r.code, lines[0])
		}

		// Nothing configured before is lost, nothing half-made is left.
		var nets []network
		d.ctlJSON(&nets, "network", "ls")
		var names []string
		for _, n := range nets {
			names = append(names, n.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, wantNets) {
			t.Fatalf("after %s: network ls = %v, want %v", c.what, names, wantNets)
		}
		names = names[:0]
		for _, p := range d.ports() {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, wantPorts) {
			t.Fatalf("after %s: port ls = %v, want %v", c.what, names, wantPorts)
		}
		if links := e.mustNS(spare, "ip", "-br", "link"); strings.Contains(links, "eth") {
			t.Fatalf("after %s: a refused port add left a device in %s:\n%s", c.what, spare, links)
		}
		if r := e.ping(a1, pa2.addr(), 1); r.code != 0 {
			t.Fatalf("after %s: the ping that worked before fails:\n%v", c.what, r)
		}
	}

	// With --force the network and its port go, and so does the TAP.
	if !e.linkExists(b1, "eth0") {
		t.Fatalf("refused network rm removed eth0 from %s", b1)
	}
	d.mustCtl("network", "rm", "netb", "--force")
	if e.linkExists(b1, "eth0") {
		t.Errorf("network rm netb --force left eth0 in %s:\n%s", b1, e.mustNS(b1, "ip", "link"))
	}
	var nets []network
	d.ctlJSON(&nets, "network", "ls")
	if len(nets) != 1 || nets[0].Name != "neta" {
		t.Errorf("after network rm netb --force, network ls = %+v, want only neta", nets)
	}
	for _, p := range d.ports() {
		if p.Name == pb1.Name {
			t.Errorf("after network rm netb --force, port ls still lists %+v", p)
		}
	}
	e.mustPing(a1, pa2.addr())
	e.mustPing(a2, pa1.addr())
}
