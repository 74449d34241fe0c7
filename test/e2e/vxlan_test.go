package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vswitch/internal/netns"
)

// VXLAN overlays (issue 13, RFC 7348). Every host is a set of namespaces:
// an underlay namespace holding the interface the tunnel's datagrams use,
// and container namespaces. vswitchd itself runs in the test's namespace
// and opens its tunnel socket inside the underlay namespace
// (--vxlan-netns), as it opens TAPs inside containers.

// vxJSON is the "vxlan" member of `network inspect`.
type vxJSON struct {
	VNI   int      `json:"vni"`
	Local string   `json:"local"`
	Port  string   `json:"port"`
	VTEPs []string `json:"vteps"`
}

type vxNetwork struct {
	Name  string  `json:"name"`
	MTU   int     `json:"mtu"`
	Ports []port  `json:"ports"`
	VXLAN *vxJSON `json:"vxlan"`
}

type vtepJSON struct {
	IP   string `json:"ip"`
	MACs []struct {
		MAC    string `json:"mac"`
		Static bool   `json:"static"`
		AgeS   int64  `json:"age_s"`
	} `json:"macs"`
}

// veth joins ns a (interface an, address aip) and ns b (bn, bip); the
// addresses are CIDRs, "" for none.
func (e *env) veth(a, an, aip, b, bn, bip string) {
	e.t.Helper()
	e.mustNS(a, "ip", "link", "add", an, "type", "veth", "peer", "name", bn, "netns", b)
	for _, x := range [][3]string{{a, an, aip}, {b, bn, bip}} {
		if x[2] != "" {
			e.mustNS(x[0], "ip", "addr", "add", x[2], "dev", x[1])
		}
		e.mustNS(x[0], "ip", "link", "set", x[1], "up")
	}
}

// linuxVTEP makes ns a Linux VXLAN host: vx0 (VNI vni, UDP 4789, local
// local, on dev) and a container namespace (eth0 at cip) on one Linux
// bridge, and an all-zeros fdb entry per remote so that broadcasts are
// replicated to each (head-end replication, as vswitchd does). It returns
// the container's namespace.
func (e *env) linuxVTEP(host, role, dev, local string, vni int, cip string, remotes ...string) string {
	e.t.Helper()
	c := e.newNS(role)
	e.mustNS(host, "ip", "link", "add", "vx0", "type", "vxlan", "id", fmt.Sprint(vni), "dstport", "4789",
		"local", local, "dev", dev)
	e.mustNS(host, "ip", "link", "add", "br0", "type", "bridge")
	e.veth(host, "cb", "", c, "eth0", cip)
	for _, l := range []string{"vx0", "cb"} {
		e.mustNS(host, "ip", "link", "set", l, "master", "br0")
	}
	// Linux's vxlan takes the underlay's MTU less 50; the container must
	// not send more than the tunnel carries.
	e.mustNS(host, "ip", "link", "set", "cb", "mtu", "1450")
	e.mustNS(c, "ip", "link", "set", "eth0", "mtu", "1450")
	e.mustNS(host, "ip", "link", "set", "vx0", "up")
	e.mustNS(host, "ip", "link", "set", "br0", "up")
	for _, r := range remotes {
		e.mustNS(host, "bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vx0", "dst", r)
	}
	return c
}

// TestVXLANLinuxInterop: a vswitchd network (VNI 42) and a Linux VTEP on a
// Linux bridge, joined over an underlay veth: containers on both sides ping
// each other and run iperf3 TCP both ways, and the underlay carries
// standard VXLAN (UDP 4789, VNI 42).
func TestVXLANLinuxInterop(t *testing.T) {
	e := newEnv(t)
	ulA, hostB := e.newNS("ula"), e.newNS("hostb")
	e.veth(ulA, "u0", "10.200.0.1/24", hostB, "u0", "10.200.0.2/24")
	c2 := e.linuxVTEP(hostB, "c2", "u0", "10.200.0.2", 42, "10.42.0.20/24", "10.200.0.1")
	c1 := e.newNS("c1")

	d := e.startDaemon("")
	d.mustCtl("network", "create", "ov", "--subnet", "10.42.0.0/24", "--vxlan-vni", "42",
		"--vxlan-dev", "u0", "--vxlan-netns", ulA, "--vxlan-local", "10.200.0.1")
	d.mustCtl("network", "vtep", "add", "ov", "10.200.0.2")
	p1 := d.addPort("ov", c1, "--ip", "10.42.0.10")

	var n vxNetwork
	d.ctlJSON(&n, "network", "inspect", "ov")
	if n.MTU != 1450 || n.VXLAN == nil || n.VXLAN.VNI != 42 || n.VXLAN.Local != "10.200.0.1" ||
		len(n.VXLAN.VTEPs) != 1 || n.VXLAN.VTEPs[0] != "10.200.0.2" {
		t.Fatalf("network inspect: MTU %d, vxlan %+v; want MTU 1450 (1500 less 50), VNI 42, one VTEP", n.MTU, n.VXLAN)
	}
	if out := e.mustNS(c1, "ip", "link", "show", "dev", "eth0"); !strings.Contains(out, "mtu 1450") {
		t.Fatalf("the container's eth0 does not have the network's MTU 1450:\n%s", out)
	}
	tunnel := ""
	for _, p := range d.ports() {
		if p.Kind == "vxlan" && p.Network == "ov" {
			tunnel = p.Name
		}
	}
	if tunnel == "" || tunnel != n.VXLAN.Port {
		t.Fatalf("port ls shows no vxlan port of network ov (inspect says %q)", n.VXLAN.Port)
	}

	// tcpdump on the underlay while the containers ping both ways.
	pcap := filepath.Join(e.dir, "u0.txt")
	dump := e.startInNS(hostB, "sh", "-c", "exec tcpdump -l -nn -i u0 -c 4 udp port 4789 > "+pcap+" 2>/dev/null")
	time.Sleep(500 * time.Millisecond)
	e.mustPing(c1, "10.42.0.20")
	e.mustPing(c2, p1.addr())
	waitExit(dump, 5*time.Second)
	out := readFile(t, pcap)
	if !strings.Contains(out, "10.200.0.1.4789 > 10.200.0.2.4789") || !strings.Contains(out, "VXLAN") || !strings.Contains(out, "vni 42") {
		t.Fatalf("tcpdump on the underlay does not show VXLAN vni 42 from vswitchd to the Linux VTEP:\n%s", out)
	}

	// TCP both ways: vswitchd segments the containers' GSO super-frames
	// before encapsulating; the Linux side sends plain segments.
	up := e.iperf(c1, c2, "10.42.0.20", 3)
	down := e.iperf(c2, c1, p1.addr(), 3)
	t.Logf("iperf3 over VXLAN: vswitchd -> Linux %.2f Gbit/s, Linux -> vswitchd %.2f Gbit/s", up/1e9, down/1e9)
	for _, r := range []float64{up, down} {
		if r < 0.3e9 {
			t.Fatalf("iperf3 over the tunnel: %.2f Gbit/s, want at least 0.3", r/1e9)
		}
	}
	// The Linux VTEP's container is learned behind the tunnel, with its VTEP.
	var vs []vtepJSON
	d.ctlJSON(&vs, "network", "vtep", "ls", "ov")
	mac2 := strings.Fields(e.mustNS(c2, "cat", "/sys/class/net/eth0/address"))[0]
	if len(vs) != 1 || vs[0].IP != "10.200.0.2" || !hasMAC(vs[0], mac2, false) {
		t.Fatalf("vtep ls: %+v, want %s learned behind 10.200.0.2", vs, mac2)
	}
	st := d.stats()[tunnel]
	if st.RxPackets == 0 || st.TxPackets == 0 {
		t.Fatalf("tunnel port counters: %+v", st)
	}
}

func hasMAC(v vtepJSON, mac string, static bool) bool {
	for _, m := range v.MACs {
		if m.MAC == mac && m.Static == static {
			return true
		}
	}
	return false
}

func waitExit(cmd interface{ Wait() error }, d time.Duration) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// TestVXLANTwoDaemons: two vswitchd daemons (own sockets and state dirs)
// whose networks are joined by VXLAN over an underlay switch: ping, ARP
// resolved across the tunnel, iperf3; a third VTEP (Linux) added later with
// `network vtep add` gets the flooded ARP and pings both; a restarted
// daemon keeps its VTEPs and the overlay works again.
func TestVXLANTwoDaemons(t *testing.T) {
	e := newEnv(t)
	wire, ulA, ulB, hostC := e.newNS("wire"), e.newNS("ula"), e.newNS("ulb"), e.newNS("hostc")
	e.mustNS(wire, "ip", "link", "add", "sw", "type", "bridge")
	e.mustNS(wire, "ip", "link", "set", "sw", "up")
	for i, ns := range []string{ulA, ulB, hostC} {
		e.veth(ns, "u0", fmt.Sprintf("10.201.0.%d/24", i+1), wire, fmt.Sprintf("p%d", i), "")
		e.mustNS(wire, "ip", "link", "set", fmt.Sprintf("p%d", i), "master", "sw")
	}
	c1, c2 := e.newNS("c1"), e.newNS("c2")
	d1 := e.startDaemonAt("", filepath.Join(e.dir, "sock1"), filepath.Join(e.dir, "state1"))
	d2 := e.startDaemonAt("", filepath.Join(e.dir, "sock2"), filepath.Join(e.dir, "state2"))
	for _, x := range []struct {
		d     *daemon
		ul    string
		local string
		peer  string
		c     string
		ip    string
	}{{d1, ulA, "10.201.0.1", "10.201.0.2", c1, "10.43.0.11"}, {d2, ulB, "10.201.0.2", "10.201.0.1", c2, "10.43.0.12"}} {
		x.d.mustCtl("network", "create", "ov", "--subnet", "10.43.0.0/24", "--vxlan-vni", "100",
			"--vxlan-dev", "u0", "--vxlan-netns", x.ul, "--vxlan-local", x.local)
		x.d.mustCtl("network", "vtep", "add", "ov", x.peer)
		x.d.addPort("ov", x.c, "--ip", x.ip)
	}
	e.mustPing(c1, "10.43.0.12")
	e.mustPing(c2, "10.43.0.11")
	// ARP went across the tunnel: c1's neighbour entry for c2 is c2's MAC.
	mac2 := strings.Fields(e.mustNS(c2, "cat", "/sys/class/net/eth0/address"))[0]
	if out := e.mustNS(c1, "ip", "neigh", "show", "10.43.0.12"); !strings.Contains(out, mac2) {
		t.Fatalf("c1's neighbour entry for c2 is not c2's MAC %s:\n%s", mac2, out)
	}
	bps := e.iperf(c1, c2, "10.43.0.12", 3)
	t.Logf("iperf3 between two vswitchd daemons over VXLAN: %.2f Gbit/s", bps/1e9)
	if bps < 0.3e9 {
		t.Fatalf("iperf3 over the tunnel: %.2f Gbit/s, want at least 0.3", bps/1e9)
	}

	// A third VTEP, a Linux host, joins: before the daemons know it, c1
	// cannot reach its container; after `vtep add` on both, the flooded ARP
	// reaches it and it answers.
	c3 := e.linuxVTEP(hostC, "c3", "u0", "10.201.0.3", 100, "10.43.0.13/24", "10.201.0.1", "10.201.0.2")
	if silent, r := e.noReply(c1, "10.43.0.13", 2); !silent {
		t.Fatalf("c1 reached c3 before any daemon had the VTEP:\n%v", r)
	}
	e.mustNS(c1, "ip", "neigh", "flush", "dev", "eth0")
	d1.mustCtl("network", "vtep", "add", "ov", "10.201.0.3")
	d2.mustCtl("network", "vtep", "add", "ov", "10.201.0.3")
	e.mustPing(c1, "10.43.0.13")
	e.mustPing(c3, "10.43.0.12")
	mac1 := strings.Fields(e.mustNS(c1, "cat", "/sys/class/net/eth0/address"))[0]
	if out := e.mustNS(c3, "ip", "neigh", "show", "10.43.0.11"); !strings.Contains(out, mac1) {
		t.Fatalf("c3 did not resolve c1 across the tunnel:\n%s", out)
	}
	var vs []vtepJSON
	d1.ctlJSON(&vs, "network", "vtep", "ls", "ov")
	if len(vs) != 2 || !hasMAC(vs[0], mac2, false) || vs[1].IP != "10.201.0.3" {
		t.Fatalf("d1's vtep ls: %+v, want c2's MAC behind 10.201.0.2 and the third VTEP", vs)
	}

	// Restart d1: the VTEPs come back from the state file.
	if code := d1.stop(); code != 0 {
		t.Fatalf("vswitchd exited %d", code)
	}
	d1 = e.startDaemonAt("", filepath.Join(e.dir, "sock1"), filepath.Join(e.dir, "state1"))
	var n vxNetwork
	d1.ctlJSON(&n, "network", "inspect", "ov")
	if n.VXLAN == nil || strings.Join(n.VXLAN.VTEPs, ",") != "10.201.0.2,10.201.0.3" {
		t.Fatalf("after restart: vxlan %+v, want both VTEPs", n.VXLAN)
	}
	e.mustPing(c1, "10.43.0.12")
	e.mustPing(c1, "10.43.0.13")
}

// TestVXLANDropsAndErrors: datagrams a VTEP must refuse (no I flag, another
// VNI, too short, from an address that is no VTEP) are dropped and counted
// by reason, one with reserved bits set is taken; bad options get one-line
// errors; a static VTEP MAC survives a restart.
func TestVXLANDropsAndErrors(t *testing.T) {
	e := newEnv(t)
	ulA, peer := e.newNS("ula"), e.newNS("peer")
	e.veth(ulA, "u0", "10.202.0.1/24", peer, "u0", "10.202.0.2/24")
	e.mustNS(peer, "ip", "addr", "add", "10.202.0.3/24", "dev", "u0")
	c1 := e.newNS("c1")
	// vswitchd in a namespace of its own, serving metrics on its loopback.
	mon := e.newNS("mon")
	addr, hc := "127.0.0.1:9464", nsHTTP(mon)
	d := e.startDaemonIn(mon, "", "--metrics-addr", addr)
	d.mustCtl("network", "create", "plain", "--subnet", "10.60.0.0/24")
	base := []string{"network", "create", "ov", "--subnet", "10.44.0.0/24", "--vxlan-netns", ulA}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--vxlan-vni", "0", "--vxlan-dev", "u0", "--vxlan-local", "10.202.0.1"}, "bad --vxlan-vni 0"},
		{[]string{"--vxlan-vni", "16777216", "--vxlan-dev", "u0", "--vxlan-local", "10.202.0.1"}, "bad --vxlan-vni 16777216"},
		{[]string{"--vxlan-vni", "7", "--vxlan-dev", "nope0", "--vxlan-local", "10.202.0.1"}, `no interface "nope0"`},
		{[]string{"--vxlan-vni", "7", "--vxlan-dev", "u0", "--vxlan-local", "10.202.0.9"}, "10.202.0.9 is not on u0"},
		{[]string{"--vxlan-vni", "7", "--vxlan-dev", "u0", "--vxlan-local", "10.202.0.1", "--mtu", "1460"}, "at most 1450"},
	} {
		r := d.ctl(append(base, c.args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: want exit 1 and one line saying %q", r, c.want)
		}
	}
	if r := d.ctl(append(base, "--vxlan-vni", "abc", "--vxlan-dev", "u0", "--vxlan-local", "10.202.0.1")...); r.code != 2 {
		t.Errorf("a VNI that is no number: %v, want a usage error (exit 2)", r)
	}
	d.mustCtl(append(base, "--vxlan-vni", "7", "--vxlan-dev", "u0", "--vxlan-local", "10.202.0.1")...)
	r := d.ctl("network", "create", "ov2", "--subnet", "10.45.0.0/24", "--vxlan-netns", ulA, "--vxlan-vni", "8", "--vxlan-dev", "u0", "--vxlan-local", "10.202.0.1")
	if r.code != 1 || !strings.Contains(r.stderr, "one network per local address") {
		t.Errorf("a second network on the same local address: %v", r)
	}
	d.mustCtl("network", "vtep", "add", "ov", "10.202.0.2", "--mac", "02:00:00:00:00:aa")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "vtep", "add", "ov", "10.202.0.2"}, "already on network ov"},
		{[]string{"network", "vtep", "add", "plain", "10.202.0.2"}, "not a VXLAN network"},
		{[]string{"network", "vtep", "add", "ov", "fd00::1"}, "same family"},
		{[]string{"network", "vtep", "rm", "ov", "10.202.0.7"}, "no VTEP 10.202.0.7"},
	} {
		if r := d.ctl(c.args...); r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: want exit 1 saying %q", r, c.want)
		}
	}
	var n vxNetwork
	d.ctlJSON(&n, "network", "inspect", "ov")
	if r := d.ctl("port", "rm", n.VXLAN.Port); r.code != 1 || !strings.Contains(r.stderr, "network rm ov") {
		t.Errorf("port rm of the tunnel: %v", r)
	}
	p1 := d.addPort("ov", c1, "--ip", "10.44.0.10")

	// Datagrams from the peer namespace, crafted by hand.
	inner := make([]byte, 14+46)
	copy(inner, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0xbb, 0x88, 0xb5})
	hdr := func(flags byte, vni uint32, reserved byte) []byte {
		h := make([]byte, 8)
		h[0] = flags
		binary.BigEndian.PutUint32(h[4:], vni<<8|uint32(reserved))
		if reserved != 0 {
			h[1], h[2], h[3] = reserved, reserved, reserved
		}
		return append(h, inner...)
	}
	before := d.stats()[n.VXLAN.Port]
	send := func(src string, b []byte) {
		t.Helper()
		err := netns.Do("/run/netns/"+peer, func() error {
			c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(src)}, &net.UDPAddr{IP: net.ParseIP("10.202.0.1"), Port: 4789})
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	send("10.202.0.2", hdr(0, 7, 0))         // no I flag
	send("10.202.0.2", hdr(0x08, 9, 0))      // unknown VNI
	send("10.202.0.2", hdr(0x08, 7, 0)[:12]) // too short
	send("10.202.0.3", hdr(0x08, 7, 0))      // not a VTEP of the network
	send("10.202.0.2", hdr(0xff, 7, 0xff))   // reserved bits set: taken
	time.Sleep(300 * time.Millisecond)
	after := d.stats()[n.VXLAN.Port]
	for _, why := range []string{"vxlan-no-i-flag", "vxlan-unknown-vni", "vxlan-too-short", "vxlan-unknown-vtep"} {
		if after.Drops[why] != before.Drops[why]+1 {
			t.Errorf("drop counter %s: %d -> %d, want one more", why, before.Drops[why], after.Drops[why])
		}
	}
	if after.RxPackets != before.RxPackets+1 {
		t.Errorf("rx_packets of the tunnel %d -> %d: the datagram with reserved bits set must be taken (RFC 7348: ignored on receipt)", before.RxPackets, after.RxPackets)
	}
	m := scrapeMetrics(t, hc, addr)
	if v := m.must(t, "vswitch_port_drops_total", "port", n.VXLAN.Port, "reason", "vxlan-unknown-vni"); v != 1 {
		t.Errorf("/metrics: vswitch_port_drops_total{reason=vxlan-unknown-vni} of the tunnel is %v, want 1", v)
	}

	// The static MAC and the VTEP survive a restart.
	if code := d.stop(); code != 0 {
		t.Fatalf("vswitchd exited %d", code)
	}
	d = e.startDaemonIn(mon, d.stateDir)
	var vs []vtepJSON
	d.ctlJSON(&vs, "network", "vtep", "ls", "ov")
	if len(vs) != 1 || vs[0].IP != "10.202.0.2" || !hasMAC(vs[0], "02:00:00:00:00:aa", true) {
		t.Fatalf("after restart: vtep ls %+v, want 10.202.0.2 with static 02:00:00:00:00:aa", vs)
	}
	for _, p := range d.ports() {
		if p.Kind == "vxlan" && p.Name != n.VXLAN.Port {
			t.Fatalf("tunnel port %s after restart, was %s", p.Name, n.VXLAN.Port)
		}
	}
	d.mustCtl("network", "vtep", "rm", "ov", "10.202.0.2")
	d.ctlJSON(&vs, "network", "vtep", "ls", "ov")
	if len(vs) != 0 {
		t.Fatalf("after vtep rm: %+v", vs)
	}
	// The tunnel goes with its network, which has no other port left.
	d.mustCtl("port", "rm", p1.Name)
	d.mustCtl("network", "rm", "ov")
	for _, p := range d.ports() {
		if p.Kind == "vxlan" {
			t.Fatalf("tunnel port %s left after network rm", p.Name)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
