package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// VLAN uplinks (issue 15: "the uplink can be a trunk"): two uplinks on one
// device, VLANs 100 and 200, against the same private Open vSwitch netdev
// bridge as TestVLANTrunkOVS (this kernel has no 8021q).
//
//	c1 ─ n1 (masquerade) ─ vswitchd ─ up0 ═ otr ┬ o100 tag=100 ─ r100 10.100.0.1, lo 198.51.100.80 "r100"
//	                        u100 10.100.0.15    └ o200 tag=200 ─ r200 10.200.0.1, lo 198.51.100.80 "r200"
//	                        u200 10.200.0.15
//
// The default route is via r100 (u100 --gateway). Both upstream routers
// hold the server address 198.51.100.80: the answer names the one reached,
// and r100 must see the container masqueraded to u100's address. r200's
// eth0 is watched by tcpdump: nothing of u100's (its MAC, its address)
// must show there, while its own uplink u200 answers it.
func TestVLANUplinkOVS(t *testing.T) {
	needOVS(t)
	e := newEnv(t)
	d := e.startDaemon("")
	tk, ovsNS := e.newNS("tk"), e.newNS("ovs")
	o := e.startOVS(ovsNS)
	o.trunkVeth(tk, "up0")
	r100 := o.accessHost("r100", "o100", "100", "10.100.0.1/24")
	r200 := o.accessHost("r200", "o200", "200", "10.200.0.1/24")
	for _, ns := range []string{r100, r200} {
		e.mustNS(ns, "ip", "link", "set", "lo", "up")
		e.mustNS(ns, "ip", "addr", "add", "198.51.100.80/32", "dev", "lo")
	}
	web100 := e.httpServer(r100, "r100", "198.51.100.80", 8080)
	web200 := e.httpServer(r200, "r200", "198.51.100.80", 8080)

	out := d.mustCtl("uplink", "add", "--name", "u100", "--dev", "up0", "--netns", tk, "--ip", "10.100.0.15/24",
		"--gateway", "10.100.0.1", "--vlan", "100")
	if !strings.Contains(out, "vlan 100") {
		t.Errorf("uplink add --vlan 100 says %q, want it to name vlan 100", out)
	}
	d.mustCtl("uplink", "add", "--name", "u200", "--dev", "up0", "--netns", tk, "--ip", "10.200.0.15/24", "--vlan", "200")
	if r := d.ctl("uplink", "add", "--name", "u3", "--dev", "up0", "--netns", tk, "--ip", "10.3.0.15/24", "--vlan", "200"); r.code != 1 ||
		!strings.Contains(r.stderr, "VLAN 200 on up0 is uplink u200's already") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("a second uplink on VLAN 200: %v; want exit 1 and one line", r)
	}
	checkVLANUplinks(t, d)
	var u100MAC string
	var ups []struct {
		Name, MAC string
	}
	d.ctlJSON(&ups, "uplink", "ls")
	for _, u := range ups {
		if u.Name == "u100" {
			u100MAC = u.MAC
		}
	}

	d.mustCtl("network", "create", "n1", "--subnet", "10.77.0.0/24")
	c1 := e.newNS("c1")
	d.addPort("n1", c1, "--name", "c1", "--ip", "10.77.0.2")

	stopDump := e.tcpdumpE(r200, "eth0")

	e.mustGet(c1, "198.51.100.80", 8080, "r100 10.100.0.15", "c1 -> the server behind VLAN 100, masqueraded to u100")
	e.mustPing(c1, "198.51.100.80")
	e.mustPing(r100, "10.100.0.15")
	e.mustPing(r200, "10.200.0.15") // u200 answers on its VLAN: tcpdump works
	s := stopDump()
	if !web100.sawClient("10.100.0.15", 0) {
		t.Errorf("r100's server did not see u100's address 10.100.0.15; it saw %v", web100.clients())
	}
	if c := web200.clients(); len(c) != 0 {
		t.Errorf("r200's server (VLAN 200) was reached: %v", c)
	}
	if !strings.Contains(s, "10.200.0.15") {
		t.Errorf("tcpdump on r200 saw nothing of u200 (its own uplink):\n%s", tail(s, 10))
	}
	for _, bad := range []string{u100MAC, "10.100.0.15", "10.77.0.2", "198.51.100.80"} {
		if l := vlanLines(s, bad); len(l) > 0 {
			t.Errorf("tcpdump on r200 (VLAN 200) saw %s of VLAN 100's traffic: %s", bad, l[0])
		}
	}

	// capture of a VLAN uplink shows its frames tagged, as tcpdump on the
	// device would (the socket reports the tag out of line).
	capFile := filepath.Join(e.dir, "u100.pcapng")
	cb := &capbed{e: e, d: d, dir: e.dir}
	cmd, _, capErr := cb.startCapture("u100", "-w", capFile, "--count", "4")
	cb.waitFile(capFile)
	e.mustPing(c1, "198.51.100.80")
	waitCmd(t, cmd, 10*time.Second, "capture u100 --count 4: "+capErr.String())
	lines := tcpdumpRead(t, capFile, "-e")
	req := vlanLines(strings.Join(lines, "\n"), "vlan 100,", "10.100.0.15 > 198.51.100.80", "echo request")
	rep := vlanLines(strings.Join(lines, "\n"), "vlan 100,", "198.51.100.80 > 10.100.0.15", "echo reply")
	// Every frame is tagged: 100, u100's, or 200 (the device's capture
	// also shows its sibling u200's frames, each with its tag). An ARP
	// refresh or a sibling's frame may take a place of the four.
	untagged := slices.DeleteFunc(slices.Clone(lines), func(l string) bool {
		return strings.Contains(l, "vlan 100,") || strings.Contains(l, "vlan 200,")
	})
	if len(lines) != 4 || len(untagged) != 0 || len(req) == 0 || len(rep) == 0 {
		t.Errorf("capture u100 read by tcpdump -e: want 4 frames, each tagged (vlan 100, or the sibling's 200), u100's echo requests and replies among them; got\n%s", strings.Join(lines, "\n"))
	} else {
		t.Logf("capture u100 | tcpdump -e: %s", req[0])
	}

	// A restart keeps both uplinks, their VLANs and the way out.
	if code := d.stop(); code != 0 {
		t.Fatalf("vswitchd exited %d on SIGTERM", code)
	}
	d = e.startDaemon(d.stateDir)
	checkVLANUplinks(t, d)
	e.mustGet(c1, "198.51.100.80", 8080, "r100 10.100.0.15", "after a restart, c1 -> the server behind VLAN 100")
	e.mustPing(r200, "10.200.0.15")
}

// checkVLANUplinks: uplink ls shows u100 and u200 up with their VLANs.
func checkVLANUplinks(t *testing.T, d *daemon) {
	t.Helper()
	var ups []struct {
		Name  string `json:"name"`
		State string `json:"state"`
		VLAN  int    `json:"vlan"`
	}
	d.ctlJSON(&ups, "uplink", "ls")
	want := map[string]int{"u100": 100, "u200": 200}
	for _, u := range ups {
		if want[u.Name] == u.VLAN && u.State == "up" {
			delete(want, u.Name)
		}
	}
	if len(want) != 0 {
		t.Errorf("uplink ls -o json: %+v; want u100 (vlan 100) and u200 (vlan 200), up", ups)
	}
	if out := d.mustCtl("uplink", "ls"); !strings.Contains(out, "VLAN") || !strings.Contains(out, "200") {
		t.Errorf("uplink ls shows no VLAN column:\n%s", out)
	}
}

// tcpdumpE starts tcpdump -e -n on dev in ns, writing to a file of the
// test; the function it returns stops it and gives what it printed.
func (e *env) tcpdumpE(ns, dev string) func() string {
	e.t.Helper()
	path := filepath.Join(e.dir, ns+"-"+dev+".txt")
	f, err := os.Create(path)
	if err != nil {
		e.t.Fatal(err)
	}
	td := e.startInNSOut(ns, f, "tcpdump", "-e", "-n", "-l", "-i", dev)
	time.Sleep(500 * time.Millisecond) // until tcpdump has its socket
	return func() string {
		time.Sleep(300 * time.Millisecond) // the last frames printed
		_ = td.Process.Kill()
		_ = td.Wait()
		f.Close()
		b, _ := os.ReadFile(path)
		return string(b)
	}
}

// needOVS skips a test without Open vSwitch (for startOVS) and tcpdump.
func needOVS(t *testing.T) {
	t.Helper()
	for _, c := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "tcpdump"} {
		if !haveCmd(c) {
			t.Fatalf("needs %s: make deps (scripts/deps.sh) installs openvswitch-switch and tcpdump", c)
		}
	}
}

// trunkVeth makes dev in namespace ns with its peer otr on br0, untagged
// there: a trunk of every VLAN.
func (o *ovs) trunkVeth(ns, dev string) {
	o.e.t.Helper()
	o.e.mustNS(ns, "ip", "link", "add", dev, "type", "veth", "peer", "name", "otr", "netns", o.ns)
	o.e.mustNS(o.ns, "ip", "link", "set", "otr", "up")
	o.vsctl("add-port", "br0", "otr")
}

// accessHost makes a namespace for role with eth0 at addr, whose peer
// veth is br0's access port of VLAN tag ("": untagged), and returns it.
func (o *ovs) accessHost(role, veth, tag, addr string) string {
	o.e.t.Helper()
	ns := o.e.newNS(role)
	o.e.mustNS(o.ns, "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
	o.e.mustNS(o.ns, "ip", "link", "set", veth, "up")
	o.e.mustNS(ns, "ip", "addr", "add", addr, "dev", "eth0")
	o.e.mustNS(ns, "ip", "link", "set", "eth0", "up")
	args := []string{"add-port", "br0", veth}
	if tag != "" {
		args = append(args, "tag="+tag)
	}
	o.vsctl(args...)
	return ns
}
