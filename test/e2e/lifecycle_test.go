package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestNamespaceGoneRemovesPort: a container's namespace deleted without
// `port rm` (the container died) loses its port within seconds, so the
// namespace is freed; the other ports keep working.
func TestNamespaceGoneRemovesPort(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.206.0.0/24")
	a, b, c := e.newNS("a"), e.newNS("b"), e.newNS("c")
	pa := d.addPort("lan", a)
	pb := d.addPort("lan", b)
	pc := d.addPort("lan", c)
	e.mustPing(b, pa.addr())

	if r := run(10*time.Second, "ip", "netns", "del", a); r.code != 0 {
		t.Fatalf("%v", r)
	}
	e.namespaces = slices.DeleteFunc(e.namespaces, func(ns string) bool { return ns == a })

	deadline := time.Now().Add(6 * time.Second)
	for {
		listed := false
		for _, p := range d.ports() {
			listed = listed || p.Name == pa.Name
		}
		if !listed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %s still listed 6 s after its namespace %s was deleted", pa.Name, a)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := d.mustCtl("port", "ls"); !strings.Contains(out, pb.Name) || !strings.Contains(out, pc.Name) {
		t.Fatalf("the other ports went too:\n%s", out)
	}
	e.mustPing(b, pc.addr())
	// The address is free again.
	again := d.addPort("lan", e.newNS("a2"), "--ip", pa.IP)
	e.mustPing(b, again.addr())
}
