package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// 802.1Q trunks (issue 15) against a VLAN-aware bridge that is not ours.
// This kernel has no 8021q module (no `type vlan` link) and no bridge
// vlan_filtering, so the peer is Open vSwitch's userspace datapath
// (datapath_type=netdev), run privately as bench/harness/ovs.go does: its
// own database and run directory, ovsdb-server and ovs-vswitchd inside a
// namespace of the test, killed at cleanup.
//
//	c10 ─ v10 (--vlan 10) ┐                     ┌ o10 tag=10 ─ h10  10.10.0.100
//	                      ├ vswitchd trunk tr0 ═╡ o20 tag=20 ─ h20  10.20.0.100
//	c20 ─ v20 (--vlan 20) ┘   (--vlans 10,20)   ├ o30 tag=30 ─ h30  10.10.0.130 (v10's subnet, VLAN 30)
//	                                            └ o0 untagged ─ h0  10.10.0.140
//
// tr0 lives in namespace "tk", its peer otr in the OVS namespace "ovs" as a
// trunk of every VLAN.
//
// The trunk reads with recvmmsg (tags from PACKET_AUXDATA) and, in a second
// run, through a TPACKET_V2 receive ring (tags from the ring's frame
// headers).
func TestVLANTrunkOVS(t *testing.T) {
	needOVS(t) // vlan_uplink_test.go
	t.Run("recvmmsg", func(t *testing.T) { testVLANTrunkOVS(t) })
	t.Run("ring-v2", func(t *testing.T) { testVLANTrunkOVS(t, "--afpacket-ring", "v2") })
}

func testVLANTrunkOVS(t *testing.T, flags ...string) {
	e := newEnv(t)
	d := e.startDaemon("", flags...)
	tk, ovsNS := e.newNS("tk"), e.newNS("ovs")
	o := e.startOVS(ovsNS)

	// The trunk: tr0 in tk, otr in ovs.
	o.trunkVeth(tk, "tr0")
	hosts := map[string]string{} // role -> namespace
	for _, h := range []struct{ role, tag, addr string }{
		{"h10", "10", "10.10.0.100/24"}, {"h20", "20", "10.20.0.100/24"},
		{"h30", "30", "10.10.0.130/24"}, {"h0", "", "10.10.0.140/24"},
	} {
		hosts[h.role] = o.accessHost(h.role, "o"+strings.TrimPrefix(h.role, "h"), h.tag, h.addr)
	}

	d.mustCtl("network", "create", "v10", "--subnet", "10.10.0.0/24", "--vlan", "10")
	d.mustCtl("network", "create", "v20", "--subnet", "10.20.0.0/24", "--vlan", "20")
	c10, c20 := e.newNS("c10"), e.newNS("c20")
	d.addPort("v10", c10, "--ip", "10.10.0.2")
	d.addPort("v20", c20, "--ip", "10.20.0.2")
	out := d.mustCtl("port", "attach", "--trunk", "--dev", "tr0", "--netns", tk, "--name", "trunk", "--vlans", "10,20")
	if !strings.Contains(out, "carrying VLANs 10 (v10), 20 (v20)") {
		t.Errorf("port attach --trunk says %q, want it to name VLANs 10 (v10) and 20 (v20)", out)
	}
	checkTrunkListed(t, d)

	// tcpdump on the trunk veth while c10 pings h10: the frames there are
	// tagged 10.
	stopDump := e.tcpdumpE(tk, "tr0") // vlan_uplink_test.go
	e.mustPing(c10, "10.10.0.100")
	e.mustPing(hosts["h10"], "10.10.0.2")
	e.mustPing(c20, "10.20.0.100")
	b := stopDump()
	// Both ways: c10's own frames, which vswitchd tagged, and h10's, which
	// OVS tagged; and c20's, tagged 20.
	sent := vlanLines(string(b), "02:42:0a:0a:00:02 >", "vlan 10,", "ICMP")
	got := vlanLines(string(b), "> 02:42:0a:0a:00:02", "vlan 10,", "ICMP")
	sent20 := vlanLines(string(b), "02:42:0a:14:00:02 >", "vlan 20,", "ICMP")
	if len(sent) == 0 || len(got) == 0 || len(sent20) == 0 {
		t.Errorf("tcpdump -e on the trunk veth: %d frames from c10 tagged vlan 10, %d to it, %d from c20 tagged vlan 20; want some of each:\n%s",
			len(sent), len(got), len(sent20), tail(string(b), 10))
	} else {
		t.Logf("tcpdump -e on tr0:\n%s\n%s\n%s", sent[0], got[0], sent20[0])
	}

	// fdb show names h10's MAC, learned through the trunk, by the trunk.
	h10MAC := strings.TrimSpace(e.mustNS(hosts["h10"], "cat", "/sys/class/net/eth0/address"))
	if !slices.ContainsFunc(d.fdb("v10"), func(f fdbEntry) bool { return f.MAC == h10MAC && f.Port == "trunk" }) {
		t.Errorf("fdb show --network v10 has no entry for h10 (%s) on port trunk: %+v", h10MAC, d.fdb("v10"))
	}

	// VLAN 20's container cannot reach VLAN 10's host; VLAN 30's host, in
	// v10's subnet but on a VLAN the trunk does not carry, is not reached
	// from VLAN 10, and its frames (ARP, tagged 30) are dropped as vlan;
	// the untagged host's (no native VLAN) as untagged.
	before := d.stats()["trunk"].Drops
	if ok, r := e.noReply(c20, "10.10.0.100", 2); !ok {
		t.Errorf("c20 (VLAN 20) reached h10 (VLAN 10):\n%v", r)
	}
	if ok, r := e.noReply(c10, "10.10.0.130", 2); !ok {
		t.Errorf("c10 (VLAN 10) reached h30 (VLAN 30, not carried):\n%v", r)
	}
	e.noReply(hosts["h30"], "10.10.0.2", 2)
	e.noReply(hosts["h0"], "10.10.0.2", 2)
	after := d.stats()["trunk"].Drops
	if after["vlan"] <= before["vlan"] {
		t.Errorf("trunk drops for vlan %d -> %d: h30's VLAN 30 frames were not counted", before["vlan"], after["vlan"])
	}
	if after["untagged"] <= before["untagged"] {
		t.Errorf("trunk drops for untagged %d -> %d: h0's untagged frames were not counted", before["untagged"], after["untagged"])
	}
	t.Logf("trunk drops: vlan +%d, untagged +%d", after["vlan"]-before["vlan"], after["untagged"]-before["untagged"])

	// TCP over the trunk: the TAP's GSO super-frames leave the trunk whole,
	// tagged (tx_gso_packets counts them).
	gso := d.stats()["trunk"].TxGSO
	if bps, err := e.tryIperf(c10, hosts["h10"], "10.10.0.100", 3); err != nil {
		t.Errorf("iperf3 over the trunk: %v", err)
	} else {
		gso = d.stats()["trunk"].TxGSO - gso
		t.Logf("iperf3 TCP c10 -> h10 over the trunk (OVS netdev peer): %.2f Gbit/s, trunk tx_gso_packets +%d", bps/1e9, gso)
		if gso == 0 {
			t.Errorf("no GSO super-frame left the trunk during iperf3: tags cost the offload")
		}
	}

	// A restart keeps the trunk.
	if code := d.stop(); code != 0 {
		t.Fatalf("vswitchd exited %d on SIGTERM", code)
	}
	d = e.startDaemon(d.stateDir, flags...)
	checkTrunkListed(t, d)
	e.mustPing(c10, "10.10.0.100")
	e.mustPing(c20, "10.20.0.100")
	if ok, r := e.noReply(c20, "10.10.0.100", 1); !ok {
		t.Errorf("after the restart c20 (VLAN 20) reached h10 (VLAN 10):\n%v", r)
	}

	// With --native 10, untagged frames are VLAN 10's: h0, on OVS's
	// untagged VLAN, reaches c10, and VLAN 20 stays tagged.
	d.mustCtl("port", "rm", "trunk")
	out = d.mustCtl("port", "attach", "--trunk", "--dev", "tr0", "--netns", tk, "--name", "trunk", "--vlans", "10,20", "--native", "10")
	if !strings.Contains(out, "native VLAN 10") {
		t.Errorf("port attach --native 10 says %q", out)
	}
	e.mustPing(hosts["h0"], "10.10.0.2")
	e.mustPing(c20, "10.20.0.100")
}

// checkTrunkListed: port ls shows the trunk carrying 10 and 20, and
// network inspect v10 lists it.
func checkTrunkListed(t *testing.T, d *daemon) {
	t.Helper()
	type trunk struct {
		Carried  []int    `json:"carried"`
		Networks []string `json:"networks"`
		VLANs    string   `json:"vlans"`
	}
	var ps []struct {
		Name  string `json:"name"`
		State string `json:"state"`
		Trunk *trunk `json:"trunk"`
	}
	d.ctlJSON(&ps, "port", "ls")
	found := false
	for _, p := range ps {
		if p.Name == "trunk" {
			found = true
			if p.Trunk == nil || !slices.Equal(p.Trunk.Carried, []int{10, 20}) || p.Trunk.VLANs != "10,20" || p.State != "up" {
				t.Errorf("port ls -o json shows the trunk as state %s trunk %+v, want up carrying [10 20] of 10,20", p.State, p.Trunk)
			}
		}
	}
	if !found {
		t.Errorf("port ls does not list the trunk")
	}
	if out := d.mustCtl("port", "ls"); !strings.Contains(out, "trunk:10,20") {
		t.Errorf("port ls shows no trunk:10,20:\n%s", out)
	}
	var n network
	d.ctlJSON(&n, "network", "inspect", "v10")
	if !slices.ContainsFunc(n.Ports, func(p port) bool { return p.Name == "trunk" }) {
		t.Errorf("network inspect v10 does not list the trunk that carries it: %+v", n.Ports)
	}
}

// vlanLines is the lines of a tcpdump that hold every one of subs.
func vlanLines(s string, subs ...string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !slices.ContainsFunc(subs, func(sub string) bool { return !strings.Contains(l, sub) }) {
			out = append(out, l)
		}
	}
	return out
}

// startInNSOut is startInNS with the output to w.
func (e *env) startInNSOut(ns string, w *os.File, args ...string) *exec.Cmd {
	e.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start %v in %s: %v", args, ns, err)
	}
	e.procs = append(e.procs, cmd)
	return cmd
}

// ovs is a private Open vSwitch in a namespace: ovsdb-server and
// ovs-vswitchd with their database, sockets, pid files and logs in a
// directory of the test (OVS_RUNDIR and the others), never the system's.
type ovs struct {
	e   *env
	ns  string
	dir string
}

func (o *ovs) env() []string {
	return []string{"env", "OVS_RUNDIR=" + o.dir, "OVS_DBDIR=" + o.dir, "OVS_LOGDIR=" + o.dir, "OVS_SYSCONFDIR=" + o.dir}
}

// vsctl runs ovs-vsctl on the private database; it fails the test.
func (o *ovs) vsctl(args ...string) string {
	o.e.t.Helper()
	argv := append(o.env(), append([]string{"ovs-vsctl", "--db=unix:" + filepath.Join(o.dir, "db.sock"), "--timeout=15"}, args...)...)
	r := o.e.inNS(o.ns, 30*time.Second, argv...)
	if r.code != 0 {
		o.e.t.Fatalf("%v\novs-vswitchd log:\n%s", r, o.log())
	}
	return r.stdout
}

func (o *ovs) log() string {
	b, _ := os.ReadFile(filepath.Join(o.dir, "ovs-vswitchd.log"))
	return tail(string(b), 15)
}

// startOVS makes the database, starts ovsdb-server and ovs-vswitchd in ns
// (killed at cleanup with the namespace's other processes) and a netdev
// bridge br0 that switches with the NORMAL action (VLAN-aware: a port's
// tag makes it an access port, a port without one is a trunk of every
// VLAN, its untagged frames VLAN 0).
func (e *env) startOVS(ns string) *ovs {
	e.t.Helper()
	o := &ovs{e: e, ns: ns, dir: filepath.Join(e.dir, "ovs")}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	schema := "/usr/share/openvswitch/vswitch.ovsschema"
	db := filepath.Join(o.dir, "conf.db")
	if r := run(20*time.Second, "ovsdb-tool", "create", db, schema); r.code != 0 {
		e.t.Fatalf("%v", r)
	}
	daemonArgs := func(name string, args ...string) []string {
		argv := append(o.env(), name)
		argv = append(argv, args...)
		return append(argv, "--pidfile="+filepath.Join(o.dir, name+".pid"),
			"--unixctl="+filepath.Join(o.dir, name+".ctl"),
			"--log-file="+filepath.Join(o.dir, name+".log"), "-vconsole:off")
	}
	e.startInNS(ns, daemonArgs("ovsdb-server", db, "--remote=punix:"+filepath.Join(o.dir, "db.sock"))...)
	sock := "--db=unix:" + filepath.Join(o.dir, "db.sock")
	for i := 0; ; i++ {
		r := e.inNS(ns, 5*time.Second, append(o.env(), "ovs-vsctl", sock, "--no-wait", "--timeout=2", "init")...)
		if r.code == 0 {
			break
		}
		if i == 100 {
			e.t.Fatalf("ovsdb-server does not answer: %v", r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Read once, when ovs-vswitchd starts: vswitchd's trunk sends GSO
	// super-frames, which OVS then takes whole.
	o.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:userspace-tso-enable=true")
	e.startInNS(ns, daemonArgs("ovs-vswitchd", "unix:"+filepath.Join(o.dir, "db.sock"))...)
	o.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")
	return o
}

// A trunk from the config file: made at start with the file's VLAN
// networks, and a network added to the file with a VLAN of its list joins
// it on reload without the trunk being made again. Each VLAN of a trunk
// has its network's per-port limits: --storm-limit, set on reload, drops
// the flood of broadcasts tagged 10 (sent with scapy) as storm.
func TestVLANTrunkConfig(t *testing.T) {
	e := newEnv(t)
	tk, peer := e.newNS("tk"), e.newNS("peer")
	e.mustNS(tk, "ip", "link", "add", "tr0", "type", "veth", "peer", "name", "eth0", "netns", peer)
	e.mustNS(peer, "ip", "link", "set", "eth0", "up")
	cfg := filepath.Join(e.dir, "vswitchd.yaml")
	nets := func(storm string) string {
		return "networks:\n" +
			"  - name: v10\n    subnet: 10.10.0.0/24\n    vlan: 10\n" + storm +
			"  - name: v20\n    subnet: 10.20.0.0/24\n    vlan: 20\n"
	}
	attach := "attach:\n  - name: trunk\n    dev: tr0\n    netns: " + tk + "\n    trunk: true\n    vlans: 10-30\n    native: 20\n"
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(nets("") + attach)
	d := e.startDaemon("", "--config", cfg)
	if out := d.mustCtl("port", "ls"); !strings.Contains(out, "trunk:10,20") {
		t.Fatalf("after a start with the config, port ls shows no trunk:10,20:\n%s", out)
	}
	flood := func() uint64 {
		t.Helper()
		e.mustNS(peer, "/usr/bin/python3", "-c", `from scapy.all import Ether, Dot1Q, IP, UDP, sendp
sendp([Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:99")/Dot1Q(vlan=10)/IP(src="10.10.0.99", dst="10.10.0.255")/UDP(dport=9)]*400, iface="eth0", verbose=0)`)
		time.Sleep(200 * time.Millisecond)
		return d.stats()["trunk"].Drops["storm"]
	}
	haveScapy := run(20*time.Second, "/usr/bin/python3", "-c", "import scapy.all").code == 0
	if haveScapy {
		if n := flood(); n != 0 {
			t.Errorf("without --storm-limit the trunk dropped %d broadcasts as storm", n)
		}
	}

	more := "  - name: v30\n    subnet: 10.30.0.0/24\n    vlan: 30\n  - name: v40\n    subnet: 10.40.0.0/24\n    vlan: 40\n"
	write(nets("    storm_limit: 20\n") + more + attach)
	out := d.mustCtl("reload")
	if strings.Contains(out, "port trunk") || !strings.Contains(out, "storm_limit") {
		t.Errorf("reload should change v10's storm_limit and add networks, not touch the trunk:\n%s", out)
	}
	if out := d.mustCtl("port", "ls"); !strings.Contains(out, "trunk:10,20,30 ") {
		t.Errorf("after adding v30 and v40 (VLANs 30, 40) the trunk of 10-30 should carry 10,20,30:\n%s", out)
	}
	if haveScapy {
		if n := flood(); n == 0 {
			t.Errorf("with v10's storm_limit 20, 400 broadcasts tagged 10 at once were not dropped as storm on the trunk")
		} else {
			t.Logf("storm_limit 20 on v10: %d of 400 broadcasts on the trunk's VLAN 10 dropped as storm", n)
		}
	} else {
		t.Log("note: no scapy in /usr/bin/python3, the storm limit on a trunk's VLAN was not tried")
	}

	// A broken trunk entry is refused with its line, and nothing changes.
	write(nets("    storm_limit: 20\n") + more + strings.Replace(attach, "vlans: 10-30", "vlans: 10-3O", 1))
	if r := d.ctl("reload"); r.code == 0 || !strings.Contains(r.stderr, "attach[0].vlans") || !strings.Contains(r.stderr, "line ") {
		t.Errorf("reload of a bad vlans list: %v; want refused with its line", r)
	}
}
