package e2e

import (
	"strings"
	"testing"
)

// `port attach --kind xdp` plugs veth ends in through AF_XDP: two client
// namespaces, each a veth whose other end is in a third namespace, attached
// to one network. Ping and TCP go across, the kind survives a restart, and
// `port rm` takes the XDP program off the veth.
func TestXDPAttach(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.214.0.0/24")
	host, c1, c2 := e.newNS("host"), e.newNS("c1"), e.newNS("c2")
	for i, c := range []string{c1, c2} {
		vh := []string{"vx1", "vx2"}[i]
		e.mustNS(host, "ip", "link", "add", vh, "type", "veth", "peer", "name", "eth0", "netns", c)
		e.mustNS(c, "ip", "addr", "add", []string{"10.214.0.51/24", "10.214.0.52/24"}[i], "dev", "eth0")
		e.mustNS(c, "ip", "link", "set", "eth0", "up")
	}
	var p1, p2 port
	d.ctlJSON(&p1, "port", "attach", "lan", "--dev", "vx1", "--netns", host, "--name", "x1", "--kind", "xdp")
	d.ctlJSON(&p2, "port", "attach", "lan", "--dev", "vx2", "--netns", host, "--name", "x2", "--kind", "xdp")
	if p1.Kind != "xdp" || p2.Kind != "xdp" {
		t.Fatalf("attached ports have kinds %q and %q, want xdp", p1.Kind, p2.Kind)
	}
	if out := e.mustNS(host, "ip", "link", "show", "vx1"); !strings.Contains(out, "xdp") {
		t.Fatalf("vx1 has no XDP program while it is an xdp port:\n%s", out)
	}

	e.mustPing(c1, "10.214.0.52")
	e.mustPing(c2, "10.214.0.51")
	before := d.stats()
	bps := e.iperf(c1, c2, "10.214.0.52", 2)
	after := d.stats()
	rx := after["x1"].RxPackets - before["x1"].RxPackets
	tx := after["x2"].TxPackets - before["x2"].TxPackets
	if rx < 1000 || tx < 1000 {
		t.Fatalf("iperf3 moved %.2f Gbit/s but x1 received %d and x2 sent %d frames: not through the xdp ports", bps/1e9, rx, tx)
	}
	t.Logf("iperf3 TCP over AF_XDP -> AF_XDP: %.2f Gbit/s (x1 rx %d, x2 tx %d frames)", bps/1e9, rx, tx)

	// A TAP sends 64 KiB super-frames; the xdp port cuts them into
	// segments, as no GSO can leave through AF_XDP.
	tapNS := e.newNS("tap")
	pt := d.addPort("lan", tapNS)
	before = d.stats()
	bps = e.iperf(tapNS, c2, "10.214.0.52", 2)
	after = d.stats()
	if gso := after["x2"].TxGSO - before["x2"].TxGSO; gso == 0 {
		t.Fatalf("iperf3 from TAP %s to the xdp port moved %.2f Gbit/s but no super-frame reached x2", pt.Name, bps/1e9)
	}
	if drops := after["x2"].Drops["tx-error"] - before["x2"].Drops["tx-error"]; drops != 0 {
		t.Errorf("x2 refused %d frames of the TAP's TCP stream", drops)
	}
	t.Logf("iperf3 TCP TAP -> AF_XDP (super-frames segmented by the port): %.2f Gbit/s", bps/1e9)
	d.mustCtl("port", "rm", pt.Name)

	// The kind is kept in the state: after a restart the ports are xdp again.
	d.stop()
	d = e.startDaemon(d.stateDir)
	for _, p := range d.ports() {
		if (p.Name == "x1" || p.Name == "x2") && p.Kind != "xdp" {
			t.Fatalf("after a restart port %s is %q, want xdp", p.Name, p.Kind)
		}
	}
	e.mustPing(c1, "10.214.0.52")

	// Killed, it leaves its programs on the veths; the next start takes
	// them over.
	d.kill()
	if out := e.mustNS(host, "ip", "link", "show", "vx1"); !strings.Contains(out, "xdp") {
		t.Fatalf("expected the killed vswitchd's program still on vx1:\n%s", out)
	}
	d = e.startDaemon(d.stateDir)
	e.mustPing(c1, "10.214.0.52")

	d.mustCtl("port", "rm", "x1")
	if out := e.mustNS(host, "ip", "link", "show", "vx1"); strings.Contains(out, "xdp") {
		t.Fatalf("vx1 still has an XDP program after port rm:\n%s", out)
	}
}

// A kind vswitchd does not know, and a device without native XDP, are
// refused with one line that says what to do; nothing is left attached.
func TestXDPAttachErrors(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.215.0.0/24")
	host := e.newNS("host")
	// Loopback has no native XDP.
	const dev = "lo"

	r := d.ctl("port", "attach", "lan", "--dev", dev, "--netns", host, "--kind", "ring")
	if r.code != 1 || !strings.Contains(r.stderr, "afpacket or xdp") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("--kind ring: want exit 1 and one line naming afpacket or xdp, got\n%v", r)
	}
	r = d.ctl("port", "attach", "lan", "--dev", dev, "--netns", host, "--kind", "xdp")
	if r.code != 1 || !strings.Contains(r.stderr, "AF_XDP") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("--kind xdp on loopback: want exit 1 and one line about AF_XDP, got\n%v", r)
	}
	if len(d.ports()) != 0 {
		t.Fatalf("a refused attach left a port: %+v", d.ports())
	}
	if out := e.mustNS(host, "ip", "link", "show", dev); strings.Contains(out, "xdp") {
		t.Fatalf("a refused attach left an XDP program on lo:\n%s", out)
	}
}
