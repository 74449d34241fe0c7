package daemon

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"vswitch/api"
)

// --nat66 is kept and shown; without IPv6 or with --internal it is refused
// in one line saying why; the uplink's --ip6/--gateway6 are checked before
// anything is opened.
func TestNAT66Options(t *testing.T) {
	dir := t.TempDir()
	d := newTestDaemon(t, dir)
	n, err := d.CreateNetwork(api.NetworkCreate{Name: "n66", Subnet: "10.66.0.0/24", IPv6: true, Subnet6: "fd00:66::/64", NAT66: true})
	if err != nil || !n.NAT66 {
		t.Fatalf("create with --nat66: %+v %v", n, err)
	}
	if r, _ := d.CreateNetwork(api.NetworkCreate{Name: "r6", Subnet: "10.67.0.0/24", IPv6: true, Subnet6: "fd00:67::/64"}); r.NAT66 {
		t.Error("NAT66 on without --nat66: it is opt-in")
	}
	for _, c := range []struct {
		req  api.NetworkCreate
		want string
	}{
		{api.NetworkCreate{Name: "x", Subnet: "10.68.0.0/24", NAT66: true}, "--nat66 needs --ipv6"},
		{api.NetworkCreate{Name: "y", Subnet: "10.69.0.0/24", IPv6: true, Subnet6: "fd00:69::/64", Internal: true, NAT66: true}, "--internal"},
	} {
		_, err := d.CreateNetwork(c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("create %+v: %v, want one line about %q", c.req, err, c.want)
		}
	}
	// Kept in the state file: a new daemon on the same directory has it.
	d.Close()
	d2 := newTestDaemon(t, dir)
	if n, err := d2.Network("n66"); err != nil || !n.NAT66 {
		t.Errorf("after a restart: %+v %v", n, err)
	}

	for _, c := range []struct {
		req  api.UplinkAdd
		want string
	}{
		{api.UplinkAdd{Dev: "u0", IP: "10.0.12.15/24", IP6: "10.0.0.1/24"}, "bad --ip6"},
		{api.UplinkAdd{Dev: "u0", IP: "10.0.12.15/24", IP6: "fe80::1/64"}, "not a global"},
		{api.UplinkAdd{Dev: "u0", IP: "10.0.12.15/24", IP6: "2001:db8:12::/64"}, "not a global"},
		{api.UplinkAdd{Dev: "u0", IP: "10.0.12.15/24", IP6: "fd00:66::5/64"}, "overlaps network n66"},
		{api.UplinkAdd{Dev: "u0", IP: "10.0.12.15/24", Gateway6: "2001:db8:12::11"}, "--gateway6 needs --ip6"},
		{api.UplinkAdd{Dev: "u0", IP: "10.0.12.15/24", IP6: "2001:db8:12::15/64", Gateway6: "2001:db8:13::1"}, "bad --gateway6"},
	} {
		_, err := d2.AddUplink(c.req)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("uplink add %+v: %v, want one line about %q", c.req, err, c.want)
		}
	}
}

// An IPv6 host address in --port goes in brackets ([ADDR]:HPORT, Docker's
// -p [::1]:8080:80), must be one of vswitchd's IPv6 addresses and needs a
// network with IPv6; a rule bound to it is handed to the dataplane with its
// IPv6 target, an IPv4-bound one without, and it goes with its uplink.
func TestPublishIPv6HostAddress(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	mustNetwork(t, d, api.NetworkCreate{Name: "ds", Subnet: "10.30.0.0/24", IPv6: true, Subnet6: "fd00:30::/64"})
	mustNetwork(t, d, api.NetworkCreate{Name: "v4", Subnet: "10.31.0.0/24"})
	d.st.Uplinks = append(d.st.Uplinks, UplinkState{Name: "up", IP: netip.MustParsePrefix("10.0.12.15/24"),
		IP6: netip.MustParsePrefix("2001:db8:12::15/64")})
	d.st.Ports = append(d.st.Ports, PortState{Name: "c1", Network: "ds", IP: netip.MustParsePrefix("10.30.0.2/24"),
		IP6: netip.MustParsePrefix("fd00:30::2/64")})

	p := mustPublish(t, d, api.PublishAdd{Network: "ds", Proto: "tcp", Port: "[2001:db8:12::15]:8080", To: "10.30.0.2:80"})
	if p.HostIP != "2001:db8:12::15" || p.HostPort != 8080 {
		t.Fatalf("publish = %+v", p)
	}
	gw := mustPublish(t, d, api.PublishAdd{Network: "ds", Proto: "tcp", Port: "[fd00:30::1]:8081", To: "10.30.0.2:80"})
	if gw.HostIP != "fd00:30::1" {
		t.Errorf("on the gateway's IPv6 address: %+v", gw)
	}
	// The same port on the uplink's IPv4 address is another address.
	v4 := mustPublish(t, d, api.PublishAdd{Network: "ds", Proto: "tcp", Port: "10.0.12.15:8080", To: "10.30.0.2:81"})
	all := mustPublish(t, d, api.PublishAdd{Network: "ds", Proto: "udp", Port: "[::]:53", To: "10.30.0.2:53"})
	if all.HostIP != "0.0.0.0" {
		t.Errorf("[::] is every address, as 0.0.0.0: %+v", all)
	}
	for _, c := range []struct{ port, net, says string }{
		{"2001:db8:12::15:8082", "ds", "an IPv6 host address goes in brackets, like [2001:db8:12::15]:HPORT"},
		{"[10.0.12.15]:8082", "ds", "bad --port"},
		{"[2001:db8:12::99]:8082", "ds", "2001:db8:12::99 is not an address of vswitchd"},
		{"[fe80::1%eth0]:8082", "ds", "bad --port"},
		{"[2001:db8:12::15]:8082", "v4", "network v4 has no IPv6"},
		{"[2001:db8:12::15]:8080", "ds", "already published on 2001:db8:12::15 by rule 1"},
	} {
		to := "10.30.0.2:80"
		if c.net == "v4" {
			to = "10.31.0.2:80"
		}
		_, err := d.AddPublish(api.PublishAdd{Network: c.net, Proto: "tcp", Port: c.port, To: to})
		if err == nil || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "\n") {
			t.Errorf("--port %s: %v, want one line saying %q", c.port, err, c.says)
		}
	}
	for _, r := range d.st.Publish {
		want := netip.MustParseAddr("fd00:30::2")
		if r.ID == v4.ID {
			want = netip.Addr{} // IPv4-bound: IPv4 only
		}
		if got := d.target6Locked(r); got != want {
			t.Errorf("rule %d (%s:%d): IPv6 target %v, want %v", r.ID, r.HostIP, r.HostPort, got, want)
		}
	}
	if ids := d.publishUsersLocked("", netip.MustParseAddr("10.0.12.15")); !slices.Equal(ids, []int{p.ID, v4.ID}) {
		t.Errorf("rules that go with uplink up: %v, want %d and %d", ids, p.ID, v4.ID)
	}
}
