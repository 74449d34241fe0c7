package daemon

import (
	"errors"
	"strings"
	"testing"

	"vswitch/api"
)

// TestRoutes6: every --ipv6 network's prefix is a connected route; `route
// add` takes an IPv6 prefix via an IPv6 next hop on a network's prefix
// (and refuses the wrong family, a link-local or an off-network next
// hop), the route is kept over a restart and holds its network.
func TestRoutes6(t *testing.T) {
	dir := t.TempDir()
	d := newTestDaemon(t, dir)
	for _, c := range []api.NetworkCreate{
		{Name: "ds", Subnet: "10.60.0.0/24", IPv6: true, Subnet6: "fd00:60::/64"},
		{Name: "ds2", Subnet: "10.61.0.0/24", IPv6: true, Subnet6: "fd00:61::/64"},
	} {
		if _, err := d.CreateNetwork(c); err != nil {
			t.Fatal(err)
		}
	}
	find := func(d *Daemon, prefix string) (api.Route, bool) {
		for _, r := range d.Routes() {
			if r.Prefix == prefix {
				return r, true
			}
		}
		return api.Route{}, false
	}
	for p, n := range map[string]string{"fd00:60::/64": "ds", "fd00:61::/64": "ds2", "10.60.0.0/24": "ds"} {
		if r, ok := find(d, p); !ok || r.Kind != "connected" || r.Port != n {
			t.Errorf("route %s = %+v, %v; want connected on %s", p, r, ok, n)
		}
	}
	r, err := d.AddRoute(api.RouteAdd{Prefix: "fd00:99::/48", Via: "fd00:60::20"})
	if err != nil || r.Kind != "static" || r.Via != "fd00:60::20" {
		t.Fatalf("AddRoute = %+v, %v", r, err)
	}
	if r, ok := find(d, "fd00:99::/48"); !ok || r.Port != "ds" || r.Via != "fd00:60::20" {
		t.Errorf("route ls has %+v, %v; want via fd00:60::20 on ds", r, ok)
	}
	for _, tc := range []struct {
		req api.RouteAdd
		say string
	}{
		{api.RouteAdd{Prefix: "fd00:98::/48", Via: "10.60.0.20"}, "an IPv6 route wants an IPv6 next hop"},
		{api.RouteAdd{Prefix: "10.98.0.0/16", Via: "fd00:60::20"}, "an IPv4 route wants an IPv4 next hop"},
		{api.RouteAdd{Prefix: "fd00:98::/48", Via: "fe80::1"}, "not a global unicast address"},
		{api.RouteAdd{Prefix: "fd00:98::/48", Via: "fd00:77::1"}, "is on no network"},
		{api.RouteAdd{Prefix: "fd00:98::1/48", Via: "fd00:60::20"}, "host bits set"},
		{api.RouteAdd{Prefix: "fd00:99::/48", Via: "fd00:61::20"}, "already a route"},
	} {
		_, err := d.AddRoute(tc.req)
		var ae *Error
		if err == nil || !strings.Contains(err.Error(), tc.say) || !errors.As(err, &ae) {
			t.Errorf("AddRoute(%+v) = %v; want an API error saying %q", tc.req, err, tc.say)
		}
	}
	if err := d.RemoveNetwork("ds", false); err == nil || !strings.Contains(err.Error(), "route fd00:99::/48") {
		t.Errorf("RemoveNetwork(ds) with a route via it = %v", err)
	}
	d.Close()
	d2 := newTestDaemon(t, dir)
	if r, ok := find(d2, "fd00:99::/48"); !ok || r.Via != "fd00:60::20" {
		t.Errorf("after restart: %+v, %v", r, ok)
	}
	if err := d2.DelRoute("fd00:99::/48"); err != nil {
		t.Fatal(err)
	}
	if _, ok := find(d2, "fd00:99::/48"); ok {
		t.Error("route still listed after route del")
	}
}
