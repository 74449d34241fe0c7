package e2e

// Helpers of the NAT and isolation tests (issue 8): an outside namespace
// behind the uplink, small servers that answer their own name and the client
// address they saw, clients for HTTP, UDP and many short TCP connections,
// and the JSON shapes of `conntrack show`, `publish ls` and `acl ls`.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The outside machine (host2 of SCENARIOS.md setup 2) and the uplink address
// that plays the host's own 10.0.12.15 toward it.
const (
	extIP = "10.0.12.11"
	upIP  = "10.0.12.15"
)

// natTool is a Python program with one job per subcommand; each server
// writes one line per client, "IP PORT", to its log file, and answers
// "NAME IP" so the client sees which server answered and whom it saw.
const natTool = `import json, socket, sys, threading, time, http.server, socketserver

def logline(path, ip, port):
    with open(path, "a") as f:
        f.write("%s %d\n" % (ip, port))

def http_server(name, host, port, log):
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ip, p = self.client_address[0], self.client_address[1]
            logline(log, ip, p)
            body = ("%s %s\n" % (name, ip)).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        # HTTPServer.server_bind asks DNS for the name of the address (getfqdn),
        # which waits out the resolver's timeout in a namespace with no DNS.
        def server_bind(self):
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = self.server_address[:2]
    S((host, int(port)), H).serve_forever()

def udp_server(name, host, port, log):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    while True:
        data, (ip, p) = s.recvfrom(2048)
        logline(log, ip, p)
        s.sendto(("%s %s %s" % (name, ip, data.decode(errors="replace"))).encode(), (ip, p))

def udp_ask(host, port, msg, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(float(timeout))
    s.sendto(msg.encode(), (host, int(port)))
    try:
        data, _ = s.recvfrom(2048)
    except socket.timeout:
        print("no answer within %ss" % timeout, file=sys.stderr)
        sys.exit(1)
    print(data.decode(), end="")

# tcp_server answers each connection "ok" and closes once the client has
# closed, so the client is the active closer and keeps the TIME_WAIT: its
# kernel then never reuses a source port while the flow may still be tracked.
def tcp_server(host, port):
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((host, int(port)))
    l.listen(1024)
    while True:
        c, _ = l.accept()
        try:
            c.settimeout(5)
            c.recv(64)
            c.sendall(b"ok")
            while c.recv(64):
                pass
        except OSError:
            pass
        c.close()

def tcp_many(host, port, n):
    n = int(n)
    ok, fail, first = 0, 0, ""
    sports = []
    start = time.time()
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect((host, int(port)))
            sports.append(s.getsockname()[1])
            s.sendall(b"x")
            got = b""
            while len(got) < 2:
                b = s.recv(2 - len(got))
                if not b:
                    break
                got += b
            if got == b"ok":
                ok += 1
            else:
                fail += 1
                first = first or "connection %d: answer %r" % (i, got)
        except OSError as e:
            fail += 1
            first = first or "connection %d: %s" % (i, e)
        finally:
            s.close()
    print(json.dumps({"ok": ok, "fail": fail, "first_error": first,
                      "seconds": time.time() - start, "sports": sports}))

def tcp_hold(host, port, secs):
    s = socket.create_connection((host, int(port)), timeout=3)
    s.sendall(b"x")
    s.recv(2)
    print(s.getsockname()[1], flush=True)
    time.sleep(float(secs))

cmd, args = sys.argv[1], sys.argv[2:]
{"http": http_server, "udp": udp_server, "udp-ask": udp_ask, "tcp": tcp_server,
 "tcp-many": tcp_many, "tcp-hold": tcp_hold}[cmd](*args)
`

const python = "/usr/bin/python3"

// tool writes natTool into the env's directory (once) and returns its path.
func (e *env) tool() string {
	e.t.Helper()
	p := filepath.Join(e.dir, "nattool.py")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if _, err := os.Stat(python); err != nil {
		e.t.Skipf("needs %s (apt-get install python3)", python)
	}
	if err := os.WriteFile(p, []byte(natTool), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// waitListen waits until something in ns listens on proto ("tcp" or "udp")
// port, or fails the test after 10 s.
func (e *env) waitListen(ns, proto string, port int) {
	e.t.Helper()
	flag := "-Hltn"
	if proto == "udp" {
		flag = "-Hlun"
	}
	if !haveCmd("ss") {
		time.Sleep(time.Second)
		return
	}
	for range 200 {
		if r := e.inNS(ns, 5*time.Second, "ss", flag, fmt.Sprintf("sport = :%d", port)); strings.TrimSpace(r.stdout) != "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("nothing listens on %s port %d in %s after 10 s", proto, port, ns)
}

// server is a server started by the tool, with the log of its clients.
type server struct {
	e   *env
	log string
}

// clients returns the "IP PORT" lines the server logged so far.
func (s server) clients() []string {
	b, _ := os.ReadFile(s.log)
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", ":"))
}

// sawClient says whether the server logged a client from ip (and, when port
// is not 0, from that port), waiting a little: the log line follows the reply.
func (s server) sawClient(ip string, port int) bool {
	for range 40 {
		for _, c := range s.clients() {
			host, p, _ := strings.Cut(c, ":")
			if host == ip && (port == 0 || p == fmt.Sprint(port)) {
				return true
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	return false
}

// httpServer starts a web server in ns on host:port that answers "NAME IP".
func (e *env) httpServer(ns, name, host string, port int) server {
	e.t.Helper()
	s := server{e: e, log: filepath.Join(e.dir, fmt.Sprintf("http-%s-%d.log", name, port))}
	e.startInNS(ns, python, e.tool(), "http", name, host, fmt.Sprint(port), s.log)
	e.waitListen(ns, "tcp", port)
	return s
}

// udpServer starts a UDP server in ns that answers each datagram "NAME IP DATA".
func (e *env) udpServer(ns, name, host string, port int) server {
	e.t.Helper()
	s := server{e: e, log: filepath.Join(e.dir, fmt.Sprintf("udp-%s-%d.log", name, port))}
	e.startInNS(ns, python, e.tool(), "udp", name, host, fmt.Sprint(port), s.log)
	e.waitListen(ns, "udp", port)
	return s
}

// httpGet fetches http://ip:port/ from ns (curl when installed) and returns
// the body; a failure is in r.code.
func (e *env) httpGet(ns, ip string, port int, extra ...string) (string, result) {
	url := fmt.Sprintf("http://%s:%d/", ip, port)
	var r result
	if haveCmd("curl") {
		args := append([]string{"curl", "-sS", "--max-time", "3"}, extra...)
		r = e.inNS(ns, 10*time.Second, append(args, url)...)
	} else {
		r = e.inNS(ns, 10*time.Second, python, "-c",
			"import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1],timeout=3).read().decode(),end='')", url)
	}
	return strings.TrimSpace(r.stdout), r
}

// mustGet fetches http://ip:port/ from ns and fails the test unless the body
// is want.
func (e *env) mustGet(ns, ip string, port int, want, why string) {
	e.t.Helper()
	body, r := e.httpGet(ns, ip, port)
	if r.code != 0 || body != want {
		e.t.Errorf("%s: GET http://%s:%d/ from %s: want %q, got %q\n%v", why, ip, port, ns, want, body, r)
	}
}

// udpAsk sends msg from ns to ip:port and returns the answer (code 1 when
// none came within a second).
func (e *env) udpAsk(ns, ip string, port int, msg string) (string, result) {
	r := e.inNS(ns, 10*time.Second, python, e.tool(), "udp-ask", ip, fmt.Sprint(port), msg, "1")
	return strings.TrimSpace(r.stdout), r
}

// noPacketFilter fails the test when any namespace of the env holds an
// iptables rule or an nftables ruleset; it says so when neither tool exists.
func (e *env) noPacketFilter() {
	e.t.Helper()
	var tools []string
	for _, c := range []string{"iptables-save", "iptables-legacy-save", "nft"} {
		if haveCmd(c) {
			tools = append(tools, c)
		}
	}
	if len(tools) == 0 {
		e.t.Logf("packet filter check skipped: neither iptables-save nor nft is installed (apt-get install iptables nftables)")
		return
	}
	for _, ns := range e.namespaces {
		for _, c := range tools {
			if c == "nft" {
				r := e.inNS(ns, 10*time.Second, "nft", "list", "ruleset")
				if r.code != 0 {
					e.t.Errorf("nft list ruleset in %s failed: %v", ns, r)
				} else if strings.TrimSpace(r.stdout) != "" {
					e.t.Errorf("namespace %s has an nftables ruleset:\n%s", ns, r.stdout)
				}
				continue
			}
			r := e.inNS(ns, 10*time.Second, c)
			if r.code != 0 {
				e.t.Errorf("%s in %s failed: %v", c, ns, r)
			}
			for _, l := range strings.Split(r.stdout, "\n") {
				if strings.HasPrefix(l, "-A ") {
					e.t.Errorf("namespace %s has an iptables rule (%s): %s", ns, c, l)
				}
			}
		}
	}
	e.t.Logf("no packet filter rule in %d namespaces (checked with %s)", len(e.namespaces), strings.Join(tools, ", "))
}

// outside makes the outside namespace host2 with extIP/24 on one end of a
// veth whose other end, u0 (no address), is in a namespace vsw, and gives
// vswitchd the uplink on u0 with upIP. host2 has no route to any container
// subnet: replies reach containers only through masquerade. It returns host2.
func (e *env) outside(d *daemon) string {
	e.t.Helper()
	ext, vsw := e.newNS("host2"), e.newNS("vsw")
	// Made inside host2 with its peer in vsw: the root namespace never sees it.
	e.mustNS(ext, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "u0", "netns", vsw)
	e.mustNS(ext, "ip", "addr", "add", extIP+"/24", "dev", "eth0")
	e.mustNS(ext, "ip", "link", "set", "eth0", "up")
	e.mustNS(vsw, "ip", "link", "set", "u0", "up")
	d.mustCtl("uplink", "add", "--dev", "u0", "--netns", vsw, "--ip", upIP+"/24", "--gateway", extIP)
	return ext
}

// JSON shapes of CLI.md.

type ctTuple struct {
	Src   string `json:"src"`
	Dst   string `json:"dst"`
	Sport int    `json:"sport"`
	Dport int    `json:"dport"`
}

func (t ctTuple) String() string { return fmt.Sprintf("%s:%d->%s:%d", t.Src, t.Sport, t.Dst, t.Dport) }

type ctEntry struct {
	Proto    string  `json:"proto"`
	Orig     ctTuple `json:"orig"`
	Reply    ctTuple `json:"reply"`
	State    string  `json:"state"`
	TimeoutS float64 `json:"timeout_s"`
}

// normState is a conntrack state as conntrack -L spells it (TIME_WAIT).
func normState(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}

func (d *daemon) conntrack(args ...string) []ctEntry {
	d.e.t.Helper()
	var es []ctEntry
	d.ctlJSON(&es, append([]string{"conntrack", "show"}, args...)...)
	return es
}

type aclRule struct {
	ID       any    `json:"id"`
	Network  string `json:"network"`
	Action   string `json:"action"`
	Src      string `json:"src"`
	Dst      string `json:"dst"`
	Proto    string `json:"proto"`
	Dport    any    `json:"dport"`
	Priority int    `json:"priority"`
	Hits     uint64 `json:"hits"`
}

type publishRule struct {
	ID       any    `json:"id"`
	Network  string `json:"network"`
	Proto    string `json:"proto"`
	HostIP   string `json:"host_ip"`
	HostPort int    `json:"host_port"`
	To       string `json:"to"`
}

// dropDelta runs f and returns how much drop counter reason went up.
func (d *daemon) dropDelta(reason string, f func()) uint64 {
	d.e.t.Helper()
	before := d.drops()[reason]
	f()
	return d.drops()[reason] - before
}

// iperfTo runs iperf3 TCP for secs seconds from client to dialIP:dialPort,
// with the server started in server listening on port listenPort, and
// returns the receiver's rate and the bytes it received. It fails the test
// when iperf3 fails or moves nothing.
func (e *env) iperfTo(client, server, dialIP string, dialPort, listenPort, secs int) (bps, bytes float64) {
	e.t.Helper()
	if !haveCmd("iperf3") {
		e.t.Skip("needs iperf3 (apt-get install iperf3)")
	}
	e.startInNS(server, "iperf3", "-s", "-1", "-p", fmt.Sprint(listenPort))
	e.waitListen(server, "tcp", listenPort)
	r := e.inNS(client, time.Duration(secs+20)*time.Second, "iperf3", "-c", dialIP, "-p", fmt.Sprint(dialPort),
		"-t", fmt.Sprint(secs), "-J", "--connect-timeout", "3000")
	var out struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
				Bytes         float64 `json:"bytes"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		e.t.Fatalf("iperf3 from %s to %s:%d: %v (output not JSON)\n%v", client, dialIP, dialPort, err, r)
	}
	if r.code != 0 || out.Error != "" || out.End.SumReceived.Bytes == 0 {
		e.t.Fatalf("iperf3 from %s to %s:%d failed or moved nothing (error %q):\n%v", client, dialIP, dialPort, out.Error, r)
	}
	return out.End.SumReceived.BitsPerSecond, out.End.SumReceived.Bytes
}

// mustFail fails the test unless vswitchctl args fails with exit 1 and a
// one-line error that starts with "vswitchctl: " and mentions every word of
// want (case-insensitive).
func (d *daemon) mustFail(t *testing.T, want []string, args ...string) {
	t.Helper()
	r := d.ctl(args...)
	msg := strings.TrimSpace(r.stderr)
	if r.code != 1 || !strings.HasPrefix(msg, "vswitchctl: ") || strings.Contains(msg, "\n") {
		t.Errorf("vswitchctl %s: want exit 1 and one line \"vswitchctl: ...\" on stderr, got:\n%v", strings.Join(args, " "), r)
		return
	}
	for _, w := range want {
		if !strings.Contains(strings.ToLower(msg), strings.ToLower(w)) {
			t.Errorf("vswitchctl %s: the error %q does not mention %q", strings.Join(args, " "), msg, w)
		}
	}
}

// tcpCounter reads one field of the Tcp: line of /proc/net/snmp inside ns
// (OutRsts, ...).
func (e *env) tcpCounter(ns, name string) int64 {
	e.t.Helper()
	out := e.mustNS(ns, "cat", "/proc/net/snmp")
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "Tcp: ") {
			continue
		}
		if names == nil {
			names = strings.Fields(l)[1:]
			continue
		}
		for i, v := range strings.Fields(l)[1:] {
			if i < len(names) && names[i] == name {
				var n int64
				fmt.Sscan(v, &n)
				return n
			}
		}
	}
	e.t.Fatalf("no Tcp: %s in /proc/net/snmp of %s", name, ns)
	return 0
}
