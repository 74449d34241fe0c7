package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"vswitch/internal/dnstest"
	"vswitch/internal/netns"
)

// dnsAsk sends one query to the embedded DNS from inside ns (the socket is
// made on a thread in ns, as a container's resolver would) and returns the
// reply and how long it took.
func dnsAsk(t *testing.T, ns, name string, qtype uint16, proto string) (*dns.Msg, time.Duration) {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	var r *dns.Msg
	var took time.Duration
	err := netns.Do(filepath.Join(netns.RunDir, ns), func() error {
		c := &dns.Client{Net: proto, Timeout: 3 * time.Second}
		var err error
		start := time.Now()
		r, _, err = c.Exchange(q, "127.0.0.11:53")
		took = time.Since(start)
		return err
	})
	if err != nil {
		t.Fatalf("query %s %s from %s over %s: %v", name, dns.TypeToString[qtype], ns, proto, err)
	}
	return r, took
}

// dnsA asks for name's A record and returns the addresses and the rcode.
func dnsA(t *testing.T, ns, name string) ([]string, int) {
	t.Helper()
	r, _ := dnsAsk(t, ns, name, dns.TypeA, "udp")
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out, r.Rcode
}

func wantA(t *testing.T, ns, name, addr string) {
	t.Helper()
	got, rcode := dnsA(t, ns, name)
	if rcode != dns.RcodeSuccess || len(got) != 1 || got[0] != addr {
		t.Fatalf("from %s, %s = %v (%s), want %s", ns, name, got, dns.RcodeToString[rcode], addr)
	}
}

// startTestUpstream serves ext.example. A 192.0.2.99 on 127.0.0.1 in
// namespace ns, the one the test runs vswitchd in: the root namespace gets
// no socket of the test's.
func startTestUpstream(t *testing.T, ns string) string {
	t.Helper()
	var pc net.PacketConn
	err := netns.Do(filepath.Join(netns.RunDir, ns), func() error {
		var err error
		pc, err = net.ListenPacket("udp4", "127.0.0.1:0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dnstest.Serve(pc, map[string]string{"ext.example": "192.0.2.99"}))
	return pc.LocalAddr().String()
}

func TestDNSEmbedded(t *testing.T) {
	e := newEnv(t)
	// vswitchd runs in a namespace of its own, where the test's upstream
	// resolver listens on loopback (below).
	dns0 := e.newNS("dnsd")
	e.mustNS(dns0, "ip", "link", "set", "lo", "up")
	d := e.startDaemonIn(dns0, "")
	d.mustCtl("network", "create", "front", "--subnet", "10.251.0.0/24")
	d.mustCtl("network", "create", "back", "--subnet", "10.252.0.0/24")
	n1, n2, n3 := e.newNS("dns1"), e.newNS("dns2"), e.newNS("dns3")
	for _, ns := range []string{n1, n2, n3} {
		dir := filepath.Join("/etc/netns", ns)
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	c1 := d.addPort("front", n1, "--name", "c1")
	c2 := d.addPort("front", n2, "--name", "c2", "--alias", "db", "--alias", "Postgres")
	c3 := d.addPort("back", n3, "--name", "c3", "--no-resolv-conf")

	// Same network: names and aliases, any case, with or without the dot.
	wantA(t, n1, "c2", c2.addr())
	wantA(t, n1, "C2.", c2.addr())
	wantA(t, n1, "db", c2.addr())
	wantA(t, n1, "postgres", c2.addr())
	wantA(t, n2, "c1", c1.addr())
	wantA(t, n3, "c3", c3.addr())
	wantA(t, n1, "c2.front", c2.addr()) // NAME.NETWORK, as Docker answers it
	wantA(t, n1, "DB.front.", c2.addr())
	rev, _ := dns.ReverseAddr(c2.addr())
	if r, _ := dnsAsk(t, n1, rev, dns.TypePTR, "udp"); len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != "c2.front." {
		t.Fatalf("PTR %s from c1: %s %v, want c2.front.", rev, dns.RcodeToString[r.Rcode], r.Answer)
	}
	if r, _ := dnsAsk(t, n3, rev, dns.TypePTR, "udp"); len(r.Answer) != 0 {
		t.Fatalf("PTR %s from another network: %v, want no answer", rev, r.Answer)
	}
	if r, _ := dnsAsk(t, n1, "c2", dns.TypeA, "tcp"); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != c2.addr() || r.Answer[0].Header().Ttl != 600 {
		t.Fatalf("c2 over TCP: %v, want A %s TTL 600", r.Answer, c2.addr())
	}
	if r, _ := dnsAsk(t, n1, "c2", dns.TypeAAAA, "udp"); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Fatalf("c2 AAAA: %s %v, want NOERROR and no answer", dns.RcodeToString[r.Rcode], r.Answer)
	}
	// Another network's names do not resolve, either way.
	if got, rcode := dnsA(t, n3, "c2"); rcode != dns.RcodeNameError || len(got) != 0 {
		t.Fatalf("c2 from back: %v (%s), want NXDOMAIN", got, dns.RcodeToString[rcode])
	}
	if got, rcode := dnsA(t, n1, "c3"); rcode != dns.RcodeNameError || len(got) != 0 {
		t.Fatalf("c3 from front: %v (%s), want NXDOMAIN", got, dns.RcodeToString[rcode])
	}
	// No upstream: an answer at once, never a time-out.
	for _, c := range []struct {
		name  string
		rcode int
	}{{"nosuch", dns.RcodeNameError}, {"www.example.com", dns.RcodeRefused}} {
		r, took := dnsAsk(t, n1, c.name, dns.TypeA, "udp")
		if r.Rcode != c.rcode || took > time.Second {
			t.Fatalf("%s: %s after %v, want %s in under 1 s", c.name, dns.RcodeToString[r.Rcode], took, dns.RcodeToString[c.rcode])
		}
	}

	// resolv.conf for `ip netns exec`, so plain tools resolve: getent via
	// the C library, as a container's programs would.
	rc := filepath.Join("/etc/netns", n1, "resolv.conf")
	if b, err := os.ReadFile(rc); err != nil || !strings.Contains(string(b), "nameserver 127.0.0.11") {
		t.Fatalf("%s: %q %v, want nameserver 127.0.0.11", rc, b, err)
	}
	if _, err := os.Stat(filepath.Join("/etc/netns", n3, "resolv.conf")); err == nil {
		t.Fatalf("--no-resolv-conf: /etc/netns/%s/resolv.conf was written", n3)
	}
	if out := e.mustNS(n1, "getent", "hosts", "db"); !strings.HasPrefix(out, c2.addr()+" ") {
		t.Fatalf("getent hosts db in %s: %q, want %s", n1, out, c2.addr())
	}
	if r := e.inNS(n3, 10*time.Second, "getent", "hosts", "c2"); r.code == 0 && strings.Contains(r.stdout, c2.addr()) {
		t.Fatalf("getent hosts c2 from another network answered: %v", r)
	}

	// Restart with an upstream: names still answer, the rest is forwarded.
	up := startTestUpstream(t, dns0)
	d.stop()
	d = e.startDaemonIn(dns0, d.stateDir, "--dns-upstream", up)
	wantA(t, n1, "db", c2.addr())
	wantA(t, n2, "c1", c1.addr())
	wantA(t, n1, "ext.example", "192.0.2.99")
	if got, rcode := dnsA(t, n1, "other.example"); rcode != dns.RcodeNameError || len(got) != 0 {
		t.Fatalf("other.example: %v (%s), want the upstream's NXDOMAIN", got, dns.RcodeToString[rcode])
	}
	if got, rcode := dnsA(t, n3, "c2"); rcode != dns.RcodeNameError || len(got) != 0 {
		t.Fatalf("c2 from back after restart: %v (%s), want NXDOMAIN", got, dns.RcodeToString[rcode])
	}

	// port rm: the name goes, the listener closes, resolv.conf goes.
	d.mustCtl("port", "rm", "c1")
	if got, rcode := dnsA(t, n2, "c1"); rcode != dns.RcodeNameError || len(got) != 0 {
		t.Fatalf("c1 after port rm: %v (%s), want NXDOMAIN", got, dns.RcodeToString[rcode])
	}
	if _, err := os.Stat(rc); err == nil {
		t.Fatalf("%s still there after port rm", rc)
	}
	err := netns.Do(filepath.Join(netns.RunDir, n1), func() error {
		c := &dns.Client{Timeout: 500 * time.Millisecond}
		q := new(dns.Msg)
		q.SetQuestion("c2.", dns.TypeA)
		_, _, err := c.Exchange(q, "127.0.0.11:53")
		return err
	})
	if err == nil {
		t.Fatalf("127.0.0.11:53 in %s still answers after its port was removed", n1)
	}
}

// TestDNSDualStack: on a dual-stack network the embedded DNS answers a
// port's name with its IPv6 address too (AAAA, as Docker does for an
// --ipv6 network), its ip6.arpa name with NAME.NETWORK., and a container
// reaches its peer by name over IPv6.
func TestDNSDualStack(t *testing.T) {
	e := newEnv(t)
	dns0 := e.newNS("dnsd")
	e.mustNS(dns0, "ip", "link", "set", "lo", "up")
	d := e.startDaemonIn(dns0, "")
	d.mustCtl("network", "create", "ds", "--subnet", "10.254.0.0/24", "--ipv6", "--subnet6", "fd00:254::/64")
	n1, n2 := e.newNS("dns6a"), e.newNS("dns6b")
	for _, ns := range []string{n1, n2} {
		dir := filepath.Join("/etc/netns", ns)
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	d.addPort("ds", n1, "--name", "v6a")
	c2 := d.addPort("ds", n2, "--name", "v6b", "--ip6", "fd00:254::42")
	wantA(t, n1, "v6b", c2.addr())
	r, _ := dnsAsk(t, n1, "v6b.ds", dns.TypeAAAA, "udp")
	if len(r.Answer) != 1 || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("AAAA v6b.ds from v6a: %s %v, want fd00:254::42", dns.RcodeToString[r.Rcode], r.Answer)
	}
	if a, ok := r.Answer[0].(*dns.AAAA); !ok || a.AAAA.String() != "fd00:254::42" {
		t.Fatalf("AAAA v6b.ds: %v, want fd00:254::42", r.Answer[0])
	}
	rev, _ := dns.ReverseAddr("fd00:254::42")
	if r, _ := dnsAsk(t, n1, rev, dns.TypePTR, "udp"); len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != "v6b.ds." {
		t.Fatalf("PTR %s: %s %v, want v6b.ds.", rev, dns.RcodeToString[r.Rcode], r.Answer)
	}
	// Through the C library, as a container's programs resolve: getent
	// ahostsv6 and ping -6 by name.
	if out := e.mustNS(n1, "getent", "ahostsv6", "v6b"); !strings.HasPrefix(out, "fd00:254::42 ") {
		t.Fatalf("getent ahostsv6 v6b in %s: %q, want fd00:254::42 first", n1, out)
	}
	e.mustNS(n1, "ping", "-6", "-c", "1", "-W", "2", "v6b")
}
