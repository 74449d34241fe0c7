package daemon

import (
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
