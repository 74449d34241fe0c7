package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vswitch/api"
)

// NAT66 and published ports over IPv6 (issue 14), as a user checks them:
// an outside namespace (host2) on the uplink's link with an IPv6 web
// server; a container of a network with --nat66 fetches its page and the
// server sees the uplink's IPv6 address; one of a network without it is
// seen with its own address (host2 routes that prefix via the uplink); a
// port published on the uplink answers over IPv6 and the container's server
// sees host2's real IPv6 address. All of it survives a restart. host2 has no route to the --nat66
// network's prefix: whatever comes back from there came back through NAT66.

const (
	extIP6      = "2001:db8:12::11"
	upIP6       = "2001:db8:12::15"
	prefNAT66   = "fd00:66:a::/64"
	prefRouted6 = "fd00:66:b::/64"
)

// http6Tool is an IPv6 web server (python3 stdlib): it answers "NAME IP"
// and logs "IP" per client, so the test sees whom it saw.
const http6Tool = `import http.server, socket, socketserver, sys
name, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ip = self.client_address[0]
        with open(log, "a") as f:
            f.write(ip + "\n")
        body = ("%s %s\n" % (name, ip)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
S(("::", port), H).serve_forever()
`

// http6Server starts the IPv6 web server in ns on [::]:port.
func (e *env) http6Server(ns, name string, port int) server {
	e.t.Helper()
	tool := filepath.Join(e.dir, "http6.py")
	if _, err := os.Stat(tool); err != nil {
		if err := os.WriteFile(tool, []byte(http6Tool), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	s := server{e: e, log: filepath.Join(e.dir, fmt.Sprintf("http6-%s-%d.log", name, port))}
	e.startInNS(ns, python, tool, name, fmt.Sprint(port), s.log)
	e.waitListen(ns, "tcp", port)
	return s
}

// saw6 says whether the IPv6 server logged a client ip, waiting a little:
// the log line follows the reply. (server.sawClient splits at ':'.)
func saw6(s server, ip string) bool {
	for range 40 {
		for _, c := range s.clients() {
			if c == ip {
				return true
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	return false
}

// get6 fetches http://[ip]:port/ from ns and returns the body.
func (e *env) get6(ns, ip string, port int) (string, result) {
	r := e.inNS(ns, 10*time.Second, "curl", "-sS", "-g", "--max-time", "3", fmt.Sprintf("http://[%s]:%d/", ip, port))
	return strings.TrimSpace(r.stdout), r
}

// outside6 is outside (nathelpers_test.go) with IPv6 on the link: host2 has
// extIP6, the uplink upIP6 with the IPv6 default route via host2.
func (e *env) outside6(d *daemon) string {
	e.t.Helper()
	ext, vsw := e.newNS("host2"), e.newNS("vsw")
	e.mustNS(ext, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "u0", "netns", vsw)
	e.mustNS(ext, "ip", "addr", "add", extIP+"/24", "dev", "eth0")
	// newNS disables IPv6 in every namespace; host2's eth0 gets it back.
	e.mustNS(ext, "sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=0")
	e.mustNS(ext, "ip", "-6", "addr", "add", extIP6+"/64", "dev", "eth0", "nodad")
	e.mustNS(ext, "ip", "link", "set", "eth0", "up")
	e.mustNS(vsw, "ip", "link", "set", "u0", "up")
	d.mustCtl("uplink", "add", "--dev", "u0", "--netns", vsw, "--ip", upIP+"/24", "--gateway", extIP,
		"--ip6", upIP6+"/64", "--gateway6", extIP6)
	return ext
}

func TestNAT66MasqueradeAndRouted(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	ext := e.outside6(d)
	d.mustCtl("network", "create", "n66", "--subnet", "10.66.1.0/24", "--ipv6", "--subnet6", prefNAT66, "--nat66")
	d.mustCtl("network", "create", "r6", "--subnet", "10.66.2.0/24", "--ipv6", "--subnet6", prefRouted6)
	c1, c2 := e.newNS("c1"), e.newNS("c2")
	d.addPort("n66", c1, "--name", "c1", "--ip", "10.66.1.2", "--ip6", "fd00:66:a::2")
	d.addPort("r6", c2, "--name", "c2", "--ip", "10.66.2.2", "--ip6", "fd00:66:b::2")
	// host2 routes the routed network's prefix via the uplink, as the far
	// side of a network without NAT66 must; the --nat66 one it cannot reach.
	e.mustNS(ext, "ip", "-6", "route", "add", prefRouted6, "via", upIP6)
	if r := e.inNS(ext, 5*time.Second, "ip", "-6", "route", "get", "fd00:66:a::2"); r.code == 0 {
		t.Fatalf("host2 has a route to the --nat66 network, so this test would not prove NAT66:\n%v", r)
	}
	web := e.http6Server(ext, "host2", 8080)

	body, r := e.get6(c1, extIP6, 8080)
	if r.code != 0 || body != "host2 "+upIP6 {
		t.Errorf("GET from c1 (--nat66) to host2: want %q (the uplink's IPv6 address), got %q\n%v", "host2 "+upIP6, body, r)
	}
	body, r = e.get6(c2, extIP6, 8080)
	if r.code != 0 || body != "host2 fd00:66:b::2" {
		t.Errorf("GET from c2 (no NAT66) to host2: want %q (the container's own address), got %q\n%v", "host2 fd00:66:b::2", body, r)
	}
	if !saw6(web, upIP6) || !saw6(web, "fd00:66:b::2") {
		t.Errorf("host2's server log: want %s and fd00:66:b::2, got %v", upIP6, web.clients())
	}
	for _, c := range web.clients() {
		if strings.HasPrefix(c, "fd00:66:a:") {
			t.Errorf("host2's server saw the --nat66 container's own address %s", c)
		}
	}
	e.mustPing(c1, extIP6)

	// conntrack show lists both flows: the masqueraded one answered on
	// the uplink's address, the routed one on the container's own.
	var nat, routed bool
	for _, c := range d.conntrack("--proto", "tcp") {
		if c.Orig.Src == "fd00:66:a::2" && c.Orig.Dst == extIP6 && c.Orig.Dport == 8080 {
			nat = c.Reply.Src == extIP6 && c.Reply.Dst == upIP6 && c.Reply.Dport == c.Orig.Sport
		}
		if c.Orig.Src == "fd00:66:b::2" && c.Orig.Dst == extIP6 {
			routed = c.Reply.Dst == "fd00:66:b::2"
		}
	}
	if !nat || !routed {
		t.Errorf("conntrack show: masqueraded entry right %v, routed entry right %v: %+v", nat, routed, d.conntrack())
	}
	if es := d.conntrack("--proto", "icmpv6"); len(es) == 0 || es[0].Reply.Dst != upIP6 {
		t.Errorf("conntrack show --proto icmpv6: want c1's echo answered on %s, got %+v", upIP6, es)
	}

	// The outside cannot open a connection to the routed container itself.
	e.http6Server(c2, "c2", 8082)
	if body, r := e.get6(ext, "fd00:66:b::2", 8082); r.code == 0 {
		t.Errorf("host2 reached c2 directly (%q): only answers and published ports may come in", body)
	}
}

func TestNAT66PublishedKeepsClient(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	ext := e.outside6(d)
	d.mustCtl("network", "create", "n66", "--subnet", "10.66.1.0/24", "--ipv6", "--subnet6", prefNAT66, "--nat66")
	c1 := e.newNS("c1")
	d.addPort("n66", c1, "--name", "c1", "--ip", "10.66.1.2", "--ip6", "fd00:66:a::2")
	web := e.http6Server(c1, "c1", 80)
	d.mustCtl("publish", "add", "n66", "--proto", "tcp", "--port", "8081", "--to", "10.66.1.2:80")

	body, r := e.get6(ext, upIP6, 8081)
	if r.code != 0 || body != "c1 "+extIP6 {
		t.Errorf("GET http://[%s]:8081/ from host2: want %q (the client's real IPv6 address), got %q\n%v", upIP6, "c1 "+extIP6, body, r)
	}
	if !saw6(web, extIP6) {
		t.Errorf("c1's server did not log host2's address %s: %v", extIP6, web.clients())
	}
	// The same rule still answers over IPv4 on the uplink's IPv4 address
	// (the server listens on :: with IPv4-mapped addresses).
	if body, r := e.httpGet(ext, upIP, 8081); r.code != 0 || body != "c1 ::ffff:"+extIP {
		t.Errorf("GET http://%s:8081/ from host2: want %q, got %q\n%v", upIP, "c1 ::ffff:"+extIP, body, r)
	}
	var found bool
	for _, c := range d.conntrack("--proto", "tcp") {
		if c.Orig.Src == extIP6 && c.Orig.Dst == upIP6 && c.Orig.Dport == 8081 {
			found = c.Reply.Src == "fd00:66:a::2" && c.Reply.Sport == 80 && c.Reply.Dst == extIP6
		}
	}
	if !found {
		t.Errorf("conntrack show has no right entry for host2 -> [%s]:8081: %+v", upIP6, d.conntrack())
	}

	// A restart restores the uplink's IPv6 address and default route, and
	// --nat66, from the state file: c1 is masqueraded again.
	if code := d.stop(); code != 0 {
		t.Errorf("vswitchd exited %d on SIGTERM", code)
	}
	d = e.startDaemon(d.stateDir)
	out := d.mustCtl("uplink", "ls")
	if !strings.Contains(out, upIP6+"/64") || !strings.Contains(out, extIP6) {
		t.Errorf("uplink ls after a restart lacks the IPv6 address or gateway:\n%s", out)
	}
	srv := e.http6Server(ext, "host2", 8080)
	if body, r := e.get6(c1, extIP6, 8080); r.code != 0 || body != "host2 "+upIP6 {
		t.Errorf("after a restart, GET from c1 to host2: want %q, got %q\n%v", "host2 "+upIP6, body, r)
	}
	if !saw6(srv, upIP6) {
		t.Errorf("after a restart host2 saw %v, want %s", srv.clients(), upIP6)
	}
	if body, r := e.get6(ext, upIP6, 8081); r.code != 0 || body != "c1 "+extIP6 {
		t.Errorf("after a restart, the published port over IPv6: want %q, got %q\n%v", "c1 "+extIP6, body, r)
	}
}

// TestNAT66PublishBoundIPv6: `publish add --port [ADDR]:HPORT` (Docker's
// -p [::1]:8080:80) answers on that IPv6 address only, not over IPv4; a
// rule bound to the uplink's IPv4 address stays IPv4 only.
func TestNAT66PublishBoundIPv6(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	ext := e.outside6(d)
	d.mustCtl("network", "create", "n66", "--subnet", "10.66.1.0/24", "--ipv6", "--subnet6", prefNAT66, "--nat66")
	c1 := e.newNS("c1")
	d.addPort("n66", c1, "--name", "c1", "--ip", "10.66.1.2", "--ip6", "fd00:66:a::2")
	e.http6Server(c1, "c1", 80)
	out := d.mustCtl("publish", "add", "n66", "--proto", "tcp", "--port", "["+upIP6+"]:8082", "--to", "10.66.1.2:80")
	if !strings.Contains(out, "published tcp ["+upIP6+"]:8082 -> 10.66.1.2:80") {
		t.Errorf("publish add said %q", out)
	}
	d.mustCtl("publish", "add", "n66", "--proto", "tcp", "--port", upIP+":8083", "--to", "10.66.1.2:80")
	if ls := d.mustCtl("publish", "ls"); !strings.Contains(ls, upIP6) {
		t.Errorf("publish ls does not show the IPv6 host address:\n%s", ls)
	}
	fails := func(url string) {
		t.Helper()
		if r := e.inNS(ext, 5*time.Second, "curl", "-sS", "-g", "--max-time", "1", url); r.code == 0 {
			t.Errorf("GET %s from host2 answered %q: the rule is bound to the other family", url, r.stdout)
		}
	}
	if body, r := e.get6(ext, upIP6, 8082); r.code != 0 || body != "c1 "+extIP6 {
		t.Errorf("GET http://[%s]:8082/ from host2: want %q, got %q\n%v", upIP6, "c1 "+extIP6, body, r)
	}
	fails(fmt.Sprintf("http://%s:8082/", upIP))
	if body, r := e.httpGet(ext, upIP, 8083); r.code != 0 || body != "c1 ::ffff:"+extIP {
		t.Errorf("GET http://%s:8083/ from host2: want %q, got %q\n%v", upIP, "c1 ::ffff:"+extIP, body, r)
	}
	fails(fmt.Sprintf("http://[%s]:8083/", upIP6))
	// A trace of an IPv6 flow shows its conn as fields, as an IPv4 one's
	// (trace takes IPv6 echo requests): c1's ping to host2, masqueraded,
	// would be answered on the uplink's IPv6 address.
	var tr api.Trace
	if err := json.Unmarshal([]byte(d.mustCtl("-o", "json", "trace", "--in", "c1", "--dst", extIP6)), &tr); err != nil {
		t.Fatal(err)
	}
	var ct *api.TraceConn
	for _, s := range tr.Stages {
		if s.Conntrack != nil {
			ct = s.Conntrack
		}
	}
	if ct == nil || ct.Proto != "icmpv6" || !ct.New || ct.Orig.Src != "fd00:66:a::2" || ct.Orig.Dst != extIP6 ||
		ct.Reply == nil || ct.Reply.Src != extIP6 || ct.Reply.Dst != upIP6 {
		t.Errorf("trace -o json c1 -> %s: conntrack %+v, want the IPv6 conn's tuples (reply to %s)\n%+v", extIP6, ct, upIP6, tr.Stages)
	}
	// Without brackets an IPv6 host address is refused in one line.
	r := d.ctl("publish", "add", "n66", "--proto", "tcp", "--port", upIP6+":8084", "--to", "10.66.1.2:80")
	if r.code != 1 || !strings.Contains(r.stderr, "goes in brackets") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("publish add --port %s:8084: exit %d, stderr %q; want 1 and one line about brackets", upIP6, r.code, r.stderr)
	}
}
