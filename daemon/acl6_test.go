package daemon

import (
	"net/netip"
	"testing"

	"vswitch/api"
	"vswitch/policy"
)

// IPv6 in ACL rules and in --allowed-ips (acl.go, guard.go).

func TestACLIPv6Rules(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	mustNetwork(t, d, api.NetworkCreate{Name: "ds", Subnet: "10.60.0.0/24", IPv6: true, Subnet6: "fd00:60::/64"})
	r, err := d.AddACL(api.ACLAdd{Network: "ds", Action: "deny", Src: "fd00:60::5", Proto: "icmpv6"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (api.ACLRule{ID: 1, Network: "ds", Action: "deny", Src: "fd00:60::5/128", Proto: "icmpv6", Priority: DefaultACLPriority}); r != want {
		t.Fatalf("rule = %+v, want %+v", r, want)
	}
	// icmp6 is ip6tables' name for it; the rule says icmpv6.
	if r, err = d.AddACL(api.ACLAdd{Network: "ds", Action: "allow", Dst: "fd00:60::/64", Proto: "icmp6", Priority: ptr(5)}); err != nil || r.Proto != "icmpv6" {
		t.Fatalf("icmp6: %+v, %v", r, err)
	}
	if _, err = d.AddACL(api.ACLAdd{Network: "ds", Action: "deny", Dst: "fd00:60::10", Proto: "tcp", DPort: "22"}); err != nil {
		t.Fatal(err)
	}
	if _, err = d.AddACL(api.ACLAdd{Network: "ds", Action: "deny", Src: "10.60.0.0/24", Proto: "icmp"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		req  api.ACLAdd
		says []string
	}{
		{api.ACLAdd{Network: "ds", Action: "deny", Src: "fd00:60::/64", Proto: "icmp"}, []string{"could never match", "icmpv6 for IPv6"}},
		{api.ACLAdd{Network: "ds", Action: "deny", Dst: "10.60.0.0/24", Proto: "icmpv6"}, []string{"could never match"}},
		{api.ACLAdd{Network: "ds", Action: "deny", Src: "fd00:60::/64", Dst: "10.60.0.5"}, []string{"different families"}},
		{api.ACLAdd{Network: "ds", Action: "deny", Src: "fd00:60::5/64"}, []string{"host bits set", "fd00:60::/64"}},
		{api.ACLAdd{Network: "ds", Action: "deny", Src: "fe80::1%eth0"}, []string{"bad --src"}},
		{api.ACLAdd{Network: "ds", Action: "deny", Src: "::ffff:10.0.0.1"}, []string{"bad --src"}},
		{api.ACLAdd{Network: "ds", Action: "deny", Proto: "icmpv6", DPort: "1"}, []string{"needs --proto tcp or udp"}},
	} {
		_, err := d.AddACL(c.req)
		wantErr(t, "AddACL("+c.req.Src+" "+c.req.Dst+" "+c.req.Proto+")", err, 400, c.says...)
	}
	// The rules as syncACLLocked builds them, with their protocol numbers.
	d.mu.Lock()
	var got []policy.Rule
	for _, r := range d.st.ACLs {
		if r.Network == "ds" {
			act, _ := policy.ParseAction(r.Action)
			got = append(got, policy.Rule{ID: r.ID, Action: act, Src: r.Src, Dst: r.Dst, Proto: aclProtos[r.Proto], Priority: r.Priority})
		}
	}
	d.mu.Unlock()
	a := policy.New(policy.Allow, got)
	if act, _ := a.Decide(netip.MustParseAddr("fd00:60::5"), netip.MustParseAddr("fd00:61::6"), policy.ProtoICMPv6, 0); act != policy.Deny {
		t.Errorf("ping -6 from fd00:60::5 out of the network: %v, want deny (rule 1)", act)
	}
	if act, _ := a.Decide(netip.MustParseAddr("fd00:60::5"), netip.MustParseAddr("fd00:60::6"), policy.ProtoICMPv6, 0); act != policy.Allow {
		t.Errorf("ping -6 from fd00:60::5 inside: %v, want allow (rule 2, priority 5)", act)
	}
	if act, _ := a.Decide(netip.MustParseAddr("10.60.0.5"), netip.MustParseAddr("10.60.0.6"), policy.ProtoICMP, 0); act != policy.Deny {
		t.Errorf("ping from 10.60.0.5: %v, want deny", act)
	}
}

func TestAllowedIPs6(t *testing.T) {
	got, err := parseAllowedIPs([]string{"10.0.0.0/8,fd00:1::/64", " 2001:db8::/32 "})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00:1::/64"), netip.MustParsePrefix("2001:db8::/32")}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"fd00::1", "::ffff:10.0.0.0/104", "fe80::/64%eth0", "nope"} {
		if _, err := parseAllowedIPs([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// A port's guard gets its IPv6 address.
	ps := &PortState{Kind: "tap", MAC: "02:42:0a:3c:00:02", IP6: netip.MustParsePrefix("fd00:60::2/64"), AllowedIPs: want}
	g := guardConfig(ps, &NetworkState{})
	if !g.PortSecurity || g.IP6 != netip.MustParseAddr("fd00:60::2") || len(g.Allowed) != 3 {
		t.Errorf("guard config = %+v", g)
	}
}
