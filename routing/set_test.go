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
		{Route{Prefix: pfx("::ffff:10.0.0.0/104"), Kind: Static, Port: 1}, "give the IPv4 prefix 10.0.0.0/8 instead"},
		{Route{Prefix: pfx("::ffff:0:0/96"), Kind: Static, Port: 1}, "give the IPv4 prefix 0.0.0.0/0 instead"},
		{Route{Prefix: pfx("2001:db8::1/32"), Kind: Static, Port: 1}, "did you mean 2001:db8::/32"},
		{Route{Prefix: pfx("2001:db8::/32"), Kind: Static, Via: ip("10.0.0.1")}, "an IPv6 route needs an IPv6 next hop"},
		{Route{Prefix: pfx("2001:db8::/32"), Kind: Static, Via: ip("::ffff:10.0.0.1")}, "an IPv6 route needs an IPv6 next hop"},
		{Route{Prefix: pfx("2001:db8::/32"), Kind: Static, Via: ip("fe80::1%eth0")}, "give the address without it"},
		{Route{Prefix: pfx("10.0.0.0/8"), Kind: Static, Via: ip("::ffff:10.0.0.1")}, "not an IPv4 address"},
		{Route{Prefix: pfx("2001:db8::/32"), Kind: Default, Via: ip("fe80::1")}, "a default route is 0.0.0.0/0 or ::/0"},
		{Route{Prefix: pfx("2001:db8::/32"), Kind: Connected, Via: ip("fe80::1")}, "add a static route instead"},
		{Route{Prefix: pfx("2001:db8::/32"), Kind: Static}, "needs a next hop (via) or an egress port"},
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
		{Prefix: pfx("::/0"), Kind: Default, Via: ip("fe80::1"), Port: 1},
		{Prefix: pfx("2001:db8::/32"), Kind: Static, Via: ip("2001:db8:ffff::1")},
		{Prefix: pfx("fd00:1::/64"), Kind: Connected, Network: 2},
	} {
		if err := s.Add(r); err != nil {
			t.Errorf("Add(%v): %v", r, err)
		}
	}
	if _, ok := s.Get(netip.Prefix{}); ok {
		t.Error("Get of the zero prefix found a route")
	}
}

// TestSetDualStack: one Set holds both families, refuses an IPv6 duplicate
// as it does an IPv4 one, and its Table answers for both; an IPv4-mapped
// address never finds an IPv4 route.
func TestSetDualStack(t *testing.T) {
	var s Set
	for _, r := range []Route{
		{Prefix: pfx("0.0.0.0/0"), Kind: Default, Via: ip("192.168.1.1"), Port: 1},
		{Prefix: pfx("172.17.0.0/16"), Kind: Connected, Network: 1},
		{Prefix: pfx("fd00:17::/64"), Kind: Connected, Network: 1},
		{Prefix: pfx("2001:db8::/32"), Kind: Static, Via: ip("fd00:17::9")},
	} {
		if err := s.Add(r); err != nil {
			t.Fatalf("Add(%v): %v", r, err)
		}
	}
	err := s.Add(Route{Prefix: pfx("2001:db8::/32"), Kind: Static, Port: 3})
	if err == nil || !strings.Contains(err.Error(), "2001:db8::/32 already has a route (2001:db8::/32 static via fd00:17::9): delete it before adding another") {
		t.Errorf("duplicate IPv6 Add: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	var got []string
	for _, r := range s.Routes() {
		got = append(got, r.Prefix.String())
	}
	if want := "0.0.0.0/0 172.17.0.0/16 2001:db8::/32 fd00:17::/64"; strings.Join(got, " ") != want {
		t.Errorf("Routes() = %v; want %v", got, want)
	}
	tab := s.Table()
	for dst, want := range map[string]string{
		"172.17.0.5":        "172.17.0.0/16",
		"8.8.8.8":           "0.0.0.0/0",
		"fd00:17::5":        "fd00:17::/64",
		"2001:db8:1::1":     "2001:db8::/32",
		"2001:db9::1":       "",
		"::ffff:172.17.0.5": "", // IPv4-mapped: IPv6, and no IPv6 route covers it
	} {
		r, ok := tab.Lookup(ip(dst))
		if want == "" {
			if ok {
				t.Errorf("Lookup(%s) = %v; want not found", dst, r)
			}
		} else if !ok || r.Prefix != pfx(want) {
			t.Errorf("Lookup(%s) = %v, %v; want %s", dst, r, ok, want)
		}
	}
	if err := s.Del(pfx("2001:db8::/32")); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Table().Lookup(ip("2001:db8:1::1")); ok {
		t.Error("Lookup found a deleted IPv6 route")
	}
	if err := s.Del(pfx("2001:db8::1/32")); err == nil || !strings.Contains(err.Error(), "did you mean 2001:db8::/32") {
		t.Errorf("Del with host bits: %v", err)
	}
}
