package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The network ACLs for IPv6 (dataplane/acl6.go) from inside namespaces.

// TestACL6DenyPing: an IPv6 deny rule blocks ping -6, counts its hits, and
// its removal lets ping -6 through again; the replies of a ping to the
// denied source pass (the flow is tracked); IPv4 is not touched by it.
func TestACL6DenyPing(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "ds", "--subnet", "10.242.0.0/24", "--ipv6", "--subnet6", "fd00:242::/64")
	c1, c2, c3 := e.newNS("c1"), e.newNS("c2"), e.newNS("c3")
	d.addPort("ds", c1)
	d.addPort("ds", c2)
	d.addPort("ds", c3)
	var ps []port6
	d.ctlJSON(&ps, "port", "ls", "--network", "ds")
	byNS := map[string]port6{}
	for _, p := range ps {
		byNS[p.Netns] = p
	}
	p1, p2 := byNS[c1], byNS[c2]
	e.mustPing6(c1, p2.addr6())

	var rule struct {
		ID   int    `json:"id"`
		Src  string `json:"src"`
		Hits uint64 `json:"hits"`
	}
	d.ctlJSON(&rule, "acl", "add", "ds", "--action", "deny", "--src", p1.addr6(), "--proto", "icmpv6")
	if rule.Src != p1.addr6()+"/128" {
		t.Errorf("acl add: src %q, want %s/128", rule.Src, p1.addr6())
	}
	before := d.stats()[p1.Name].Drops["acl"]
	if ok, r := e.noReply6(c1, p2.addr6()); !ok {
		t.Errorf("ping -6 from %s got a reply through a deny rule:\n%s", p1.addr6(), r)
	}
	if got := d.stats()[p1.Name].Drops["acl"] - before; got == 0 {
		t.Errorf("acl drops on %s did not rise", p1.Name)
	}
	var rules []struct {
		ID   int    `json:"id"`
		Hits uint64 `json:"hits"`
	}
	d.ctlJSON(&rules, "acl", "ls", "ds")
	if len(rules) != 1 || rules[0].Hits == 0 {
		t.Errorf("acl ls = %+v, want the rule with hits", rules)
	}
	e.mustPing6(c3, p2.addr6()) // another source passes
	e.mustPing6(c2, p1.addr6()) // c1's replies belong to c2's flow: tracked, not judged
	e.mustPing(c1, p2.addr())   // IPv4 is not IPv6
	tr := d.mustCtl("trace", "--in", p1.Name, "--dst", p2.addr6())
	if !strings.Contains(tr, "acl") || !strings.Contains(tr, fmt.Sprintf("rule %d", rule.ID)) || !strings.Contains(tr, "Verdict: drop (acl)") {
		t.Errorf("trace of the denied ping -6:\n%s\nwant the acl stage with rule %d and drop (acl)", tr, rule.ID)
	}
	d.mustCtl("acl", "rm", fmt.Sprint(rule.ID))
	e.mustPing6(c1, p2.addr6())
}

func (e *env) noReply6(ns, ip string) (bool, result) {
	r := e.inNS(ns, 15*time.Second, "ping", "-6", "-c", "2", "-i", "0.3", "-W", "1", ip)
	return r.code != 0 && strings.Contains(r.stdout, "100% packet loss"), r
}
