package daemon

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"vswitch/internal/dnstest"
)

// dnsTestTable: web and db (alias postgres) on front, other on back; ns1
// has a port on front only.
func dnsTestTable() *dnsTable {
	d := &Daemon{st: &State{Ports: []PortState{
		{Name: "web", Network: "front", Kind: "tap", NetnsPath: "/run/netns/ns1", IP: netip.MustParsePrefix("10.0.0.2/24")},
		{Name: "DB", Network: "front", Kind: "tap", NetnsPath: "/run/netns/ns2", IP: netip.MustParsePrefix("10.0.0.3/24"), Aliases: []string{"postgres"}},
		{Name: "other", Network: "back", Kind: "tap", NetnsPath: "/run/netns/ns3", IP: netip.MustParsePrefix("10.1.0.2/24"),
			IP6: netip.MustParsePrefix("fd00:b::2/64")}, // back is dual-stack
		{Name: "att", Network: "back", Kind: "afpacket", Ifname: "veth0"}, // no address: no name
	}}}
	return d.buildDNSTableLocked()
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

func firstPTR(r *dns.Msg) (*dns.PTR, bool) {
	if len(r.Answer) != 1 {
		return nil, false
	}
	p, ok := r.Answer[0].(*dns.PTR)
	return p, ok
}

func TestDNSTable(t *testing.T) {
	tb := dnsTestTable()
	if got := tb.nets["/run/netns/ns1"]; len(got) != 1 || got[0] != "front" {
		t.Fatalf("ns1 is on %v, want [front]", got)
	}
	if len(tb.names["back"]) != 2 || !tb.names["back"]["other"].v4.IsValid() || !tb.names["back"]["other.back"].v6.IsValid() {
		t.Fatalf("back's names = %v, want only other and other.back", tb.names["back"])
	}
}

func TestDNSAnswers(t *testing.T) {
	tb := dnsTestTable()
	front := tb.nets["/run/netns/ns1"]
	cases := []struct {
		name  string
		qtype uint16
		rcode int
		a     string // the A record's address, "" for none
	}{
		{"db.", dns.TypeA, dns.RcodeSuccess, "10.0.0.3"},
		{"db", dns.TypeA, dns.RcodeSuccess, "10.0.0.3"},
		{"WEB.", dns.TypeA, dns.RcodeSuccess, "10.0.0.2"},
		{"Postgres.", dns.TypeA, dns.RcodeSuccess, "10.0.0.3"},
		{"db.", dns.TypeAAAA, dns.RcodeSuccess, ""},
		{"other.", dns.TypeA, dns.RcodeNameError, ""},        // another network's
		{"nosuch.", dns.TypeA, dns.RcodeNameError, ""},       // single label
		{"example.com.", dns.TypeA, dns.RcodeRefused, ""},    // no upstream
		{"db.example.com.", dns.TypeA, dns.RcodeRefused, ""}, // not a port name
		{"nosuch.", dns.TypeAAAA, dns.RcodeNameError, ""},
		{"web.front.", dns.TypeA, dns.RcodeSuccess, "10.0.0.2"},     // NAME.NETWORK
		{"postgres.FRONT", dns.TypeA, dns.RcodeSuccess, "10.0.0.3"}, // ALIAS.NETWORK
		{"other.back.", dns.TypeA, dns.RcodeRefused, ""},            // another network's, dotted
		{"web.back.", dns.TypeA, dns.RcodeRefused, ""},              // not on that network
	}
	for _, c := range cases {
		q := query(c.name, c.qtype)
		r := answerDNS(tb, front, q, nil)
		if r.Rcode != c.rcode || r.Id != q.Id || !r.Response {
			t.Errorf("%s %s: rcode %s id %d, want %s id %d", c.name, dns.TypeToString[c.qtype],
				dns.RcodeToString[r.Rcode], r.Id, dns.RcodeToString[c.rcode], q.Id)
			continue
		}
		if c.a == "" {
			if len(r.Answer) != 0 {
				t.Errorf("%s %s: answers %v, want none", c.name, dns.TypeToString[c.qtype], r.Answer)
			}
			continue
		}
		if len(r.Answer) != 1 {
			t.Errorf("%s: %d answers, want 1", c.name, len(r.Answer))
			continue
		}
		a, ok := r.Answer[0].(*dns.A)
		if !ok || a.A.String() != c.a || a.Hdr.Ttl != 600 || a.Hdr.Name != c.name {
			t.Errorf("%s: answer %v, want %s A %s TTL 600", c.name, r.Answer[0], c.name, c.a)
		}
	}
	// PTR: the address of a port of the querier's networks answers
	// NAME.NETWORK.; another network's address is not answered here.
	r := answerDNS(tb, front, query("3.0.0.10.in-addr.arpa.", dns.TypePTR), nil)
	if ptr, ok := firstPTR(r); r.Rcode != dns.RcodeSuccess || !ok || ptr.Ptr != "db.front." || ptr.Hdr.Ttl != 600 {
		t.Errorf("PTR 10.0.0.3: %s %v, want db.front.", dns.RcodeToString[r.Rcode], r.Answer)
	}
	if r := answerDNS(tb, front, query("3.0.0.10.in-addr.arpa.", dns.TypeA), nil); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Errorf("A of a reverse name: %s %v, want NOERROR and no data", dns.RcodeToString[r.Rcode], r.Answer)
	}
	if r := answerDNS(tb, front, query("2.0.1.10.in-addr.arpa.", dns.TypePTR), nil); r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
		t.Errorf("PTR of back's 10.1.0.2 from front: %s %v, want REFUSED (no upstream)", dns.RcodeToString[r.Rcode], r.Answer)
	}
	// From back, front's names do not resolve and its own does.
	back := tb.nets["/run/netns/ns3"]
	if r := answerDNS(tb, back, query("web.", dns.TypeA), nil); r.Rcode != dns.RcodeNameError {
		t.Errorf("web from back: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	if r := answerDNS(tb, back, query("other.", dns.TypeA), nil); len(r.Answer) != 1 {
		t.Errorf("other from back: %v, want its address", r.Answer)
	}
	// Dual stack: AAAA answers the IPv6 address, ANY both, and the
	// ip6.arpa name of it NAME.NETWORK.
	r = answerDNS(tb, back, query("other.back.", dns.TypeAAAA), nil)
	if len(r.Answer) != 1 || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("AAAA other.back: %s %v, want fd00:b::2", dns.RcodeToString[r.Rcode], r.Answer)
	}
	if a, ok := r.Answer[0].(*dns.AAAA); !ok || a.AAAA.String() != "fd00:b::2" || a.Hdr.Ttl != 600 {
		t.Errorf("AAAA other.back: %v, want fd00:b::2 TTL 600", r.Answer[0])
	}
	if r := answerDNS(tb, back, query("other.", dns.TypeANY), nil); len(r.Answer) != 2 {
		t.Errorf("ANY other: %v, want its A and its AAAA", r.Answer)
	}
	rev, _ := dns.ReverseAddr("fd00:b::2")
	if ptr, ok := firstPTR(answerDNS(tb, back, query(rev, dns.TypePTR), nil)); !ok || ptr.Ptr != "other.back." {
		t.Errorf("PTR %s: %v, want other.back.", rev, ptr)
	}
	if r := answerDNS(tb, front, query(rev, dns.TypePTR), nil); r.Rcode != dns.RcodeRefused {
		t.Errorf("PTR of back's IPv6 address from front: %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
}

// startUpstream serves example.com. A 192.0.2.7 on a local UDP port.
func startUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dnstest.Serve(pc, map[string]string{"example.com": "192.0.2.7"}))
	return pc.LocalAddr().String()
}

func TestDNSForward(t *testing.T) {
	tb := dnsTestTable()
	front := tb.nets["/run/netns/ns1"]
	up := startUpstream(t)
	fwd := func(q *dns.Msg) *dns.Msg { return forwardDNS([]string{up}, "udp", q) }
	q := query("example.com.", dns.TypeA)
	r := answerDNS(tb, front, q, fwd)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.7" || r.Id != q.Id {
		t.Fatalf("forwarded example.com: %v", r)
	}
	// Single-label names the table lacks go upstream too.
	if r := answerDNS(tb, front, query("nosuch.", dns.TypeA), fwd); r.Rcode != dns.RcodeNameError {
		t.Fatalf("forwarded nosuch: %s, want the upstream's NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	// Port names stay local.
	if r := answerDNS(tb, front, query("web.", dns.TypeA), fwd); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.0.0.2" {
		t.Fatalf("web with an upstream: %v", r.Answer)
	}
	// An upstream that does not answer (a closed port): SERVFAIL.
	dead, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	deadAddr := dead.LocalAddr().String()
	dead.Close()
	if r := forwardDNS([]string{deadAddr}, "udp", query("example.com.", dns.TypeA)); r == nil || r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("dead upstream: %v, want SERVFAIL", r)
	}
}

func TestParseDNSUpstreams(t *testing.T) {
	got, err := ParseDNSUpstreams([]string{"192.0.2.1", "192.0.2.2:5353,[2001:db8::1]:53"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.1:53", "192.0.2.2:5353", "[2001:db8::1]:53"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	for _, bad := range []string{"dns.example", "192.0.2.1:0", "192.0.2.1:x"} {
		if _, err := ParseDNSUpstreams([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDNSAliasChecks(t *testing.T) {
	d := &Daemon{st: &State{Ports: []PortState{
		{Name: "web", Network: "front", Aliases: []string{"www"}},
		{Name: "other", Network: "back"},
	}}}
	for _, c := range []struct {
		aliases []string
		status  int
		says    string
	}{
		{[]string{"WEB"}, 409, "already port web's"},
		{[]string{"www"}, 409, "already port web's"},
		{[]string{"db", "db"}, 409, "already port new's"},
		{[]string{"new"}, 409, "already port new's"},
		{[]string{"-x"}, 400, "bad alias name"},
	} {
		_, err := d.checkAliasesLocked("front", "new", c.aliases)
		if err == nil || errStatus(err) != c.status || !strings.Contains(err.Error(), c.says) {
			t.Errorf("aliases %v: %v, want %d saying %q", c.aliases, err, c.status, c.says)
		}
	}
	// Another network's names are free.
	if got, err := d.checkAliasesLocked("front", "new", []string{"other", "db"}); err != nil || len(got) != 2 {
		t.Fatalf("aliases other, db: %v %v", got, err)
	}
}
