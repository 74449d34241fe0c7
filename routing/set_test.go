package routing

import (
	"net/netip"
	"strings"
	"testing"
)

func TestSetAddDel(t *testing.T) {
	var s Set
	for _, r := range exampleRoutes {
		if err := s.Add(r); err != nil {
			t.Fatalf("Add(%v): %v", r, err)
		}
	}
	if s.Len() != len(exampleRoutes) {
		t.Fatalf("Len() = %d; want %d", s.Len(), len(exampleRoutes))
	}

	err := s.Add(Route{Prefix: pfx("10.1.2.0/24"), Kind: Static, Via: ip("10.1.0.99")})
	if err == nil || !strings.Contains(err.Error(), "10.1.2.0/24 already has a route (10.1.2.0/24 static via 10.1.0.9)") {
		t.Errorf("duplicate Add: %v", err)
	}
	if r, _ := s.Get(pfx("10.1.2.0/24")); r.Via != ip("10.1.0.9") {
		t.Errorf("a failed Add changed the route to %v", r)
	}

	tab := s.Table()
	if s.Table() != tab {
		t.Error("Table() rebuilt an unchanged Set")
	}
	if err := s.Del(pfx("10.9.0.0/16")); err == nil || !strings.Contains(err.Error(), "no route for 10.9.0.0/16") {
		t.Errorf("Del of an unknown prefix: %v", err)
	}
	if err := s.Del(pfx("10.1.2.7/24")); err == nil || !strings.Contains(err.Error(), "did you mean 10.1.2.0/24") {
		t.Errorf("Del with host bits: %v", err)
	}
	if s.Table() != tab {
		t.Error("a failed Del dropped the snapshot")
	}

	if err := s.Del(pfx("10.1.2.0/24")); err != nil {
		t.Fatal(err)
	}
	if s.Table() == tab {
		t.Error("Table() did not rebuild after Del")
	}
	if r, ok := tab.Lookup(ip("10.1.2.1")); !ok || r.Prefix != pfx("10.1.2.0/24") {
		t.Errorf("the old snapshot changed: %v", r)
	}
	if r, ok := s.Table().Lookup(ip("10.1.2.1")); !ok || r.Prefix != pfx("10.1.0.0/16") {
		t.Errorf("after Del, Lookup(10.1.2.1) = %v", r)
	}
	if err := s.Add(Route{Prefix: pfx("10.1.2.0/24"), Kind: Static, Via: ip("10.1.0.99")}); err != nil {
		t.Errorf("Add after Del: %v", err)
	}
}

func TestSetRoutesSorted(t *testing.T) {
	var s Set
	if rs := s.Routes(); len(rs) != 0 || rs == nil {
		t.Errorf("empty Set: Routes() = %#v; want an empty list", rs)
	}
	for i := len(exampleRoutes) - 1; i >= 0; i-- {
		if err := s.Add(exampleRoutes[i]); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range s.Routes() {
		got = append(got, r.Prefix.String())
	}
	want := "0.0.0.0/0 10.1.0.0/16 10.1.2.0/24 10.1.2.128/25 172.17.0.0/16 192.168.7.7/32"
	if strings.Join(got, " ") != want {
		t.Errorf("Routes() = %v; want %v", got, want)
	}
	rs := s.Routes()
	rs[0].Port = 99
	if s.Routes()[0].Port == 99 {
		t.Error("Routes() returned the Set's own storage")
	}
}

func TestSetAddRefuses(t *testing.T) {
	for _, c := range []struct {
		r    Route
		want string
	}{
		{Route{Kind: Static, Port: 1}, "invalid prefix"},
		{Route{Prefix: pfx("2001:db8::/32"), Kind: Static, Port: 1}, "only IPv4 is routed"},
		{Route{Prefix: pfx("::ffff:10.0.0.0/104"), Kind: Static, Port: 1}, "only IPv4 is routed"},
		{Route{Prefix: pfx("10.1.2.3/24"), Kind: Static, Port: 1}, "did you mean 10.1.2.0/24"},
		{Route{Prefix: pfx("10.0.0.0/8"), Kind: Static, Via: ip("2001:db8::1")}, "not an IPv4 address"},
		{Route{Prefix: pfx("10.0.0.0/8"), Kind: Connected, Via: ip("10.0.0.1")}, "add a static route instead"},
		{Route{Prefix: pfx("10.0.0.0/8"), Kind: Static}, "needs a next hop (via) or an egress port"},
		{Route{Prefix: pfx("10.0.0.0/8"), Kind: Default, Via: ip("10.0.0.1")}, "a default route is 0.0.0.0/0"},
		{Route{Prefix: pfx("10.0.0.0/8"), Port: 1}, "no kind"},
	} {
		var s Set
		err := s.Add(c.r)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Add(%v) = %v; want an error saying %q", c.r, err, c.want)
		}
		if s.Len() != 0 {
			t.Errorf("Add(%v) failed but kept the route", c.r)
		}
	}
	var s Set
	for _, r := range []Route{
		{Prefix: pfx("0.0.0.0/0"), Kind: Default, Via: ip("10.0.2.2"), Port: 1},
		{Prefix: pfx("10.9.0.0/16"), Kind: Static, Port: 2},
		{Prefix: pfx("172.17.0.0/16"), Kind: Connected},
	} {
		if err := s.Add(r); err != nil {
			t.Errorf("Add(%v): %v", r, err)
		}
	}
	if _, ok := s.Get(netip.Prefix{}); ok {
		t.Error("Get of the zero prefix found a route")
	}
}
