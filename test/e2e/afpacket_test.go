package e2e

import (
	"testing"
)

// `port attach` plugs an existing interface in by AF_PACKET: a veth pair whose
// container end has an address of the network and whose host end (no address)
// is attached; the container pings a TAP port of the same network, both ways.
func TestAFPacketAttach(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.213.0.0/24")
	host, ctr, tapNS := e.newNS("host"), e.newNS("ctr"), e.newNS("tap")

	// The veth is made inside host and its peer moved to ctr: the root
	// namespace never sees it.
	e.mustNS(host, "ip", "link", "add", "vh0", "type", "veth", "peer", "name", "eth0", "netns", ctr)
	e.mustNS(host, "ip", "link", "set", "vh0", "up")
	e.mustNS(ctr, "ip", "addr", "add", "10.213.0.50/24", "dev", "eth0")
	e.mustNS(ctr, "ip", "link", "set", "eth0", "up")

	var att port
	d.ctlJSON(&att, "port", "attach", "lan", "--dev", "vh0", "--netns", host)
	pt := d.addPort("lan", tapNS)

	var got port
	for _, p := range d.ports() {
		if p.Name == att.Name {
			got = p
		}
	}
	if got.Kind != "afpacket" || got.Network != "lan" || got.Ifname != "vh0" || got.Netns != host {
		t.Errorf("port ls shows the attached port as %+v, want kind afpacket, network lan, ifname vh0, netns %s", got, host)
	}

	e.mustPing(ctr, pt.addr())
	e.mustPing(tapNS, "10.213.0.50")

	// Bonus, not asserted: the rate over AF_PACKET.
	if haveCmd("iperf3") {
		before := d.stats()
		bps, err := e.tryIperf(ctr, tapNS, pt.addr(), 2)
		if err != nil {
			t.Logf("note (not asserted): %v", err)
			return
		}
		after := d.stats()
		t.Logf("iperf3 TCP over AF_PACKET -> TAP: %.2f Gbit/s (attached port rx_gso_packets +%d)",
			bps/1e9, after[att.Name].RxGSO-before[att.Name].RxGSO)
	}
}
