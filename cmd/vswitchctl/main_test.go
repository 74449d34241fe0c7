package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// fakeDaemon answers on a unix socket as vswitchd would: each route
// ("METHOD /v1/path", query ignored) has a canned status and body, and every
// request is recorded for the test to check.
type fakeDaemon struct {
	socket string

	mu     sync.Mutex
	routes map[string]reply
	reqs   []request
}

type reply struct {
	status int
	body   string
}

type request struct {
	method, path, query string
	body                []byte
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "vsctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeDaemon{socket: filepath.Join(dir, "d.sock"), routes: map[string]reply{}}
	ln, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

func (f *fakeDaemon) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, request{r.Method, r.URL.Path, r.URL.RawQuery, body})
	rep, ok := f.routes[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if !ok {
		rep = reply{http.StatusNotFound, `{"error": "not found by the fake daemon"}`}
	}
	if rep.status == 0 {
		rep.status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func (f *fakeDaemon) on(route string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[route] = reply{status, body}
}

func (f *fakeDaemon) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// last returns the only request made, failing the test otherwise.
func (f *fakeDaemon) last(t *testing.T) request {
	t.Helper()
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("daemon got %d requests, want 1: %+v", len(reqs), reqs)
	}
	return reqs[0]
}

// ctl runs vswitchctl against the fake daemon.
func (f *fakeDaemon) ctl(args ...string) (code int, stdout, stderr string) {
	return runCtl(append([]string{"--socket", f.socket}, args...)...)
}

func runCtl(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// checkErrorLine checks the contract for failures: nothing on stdout, one
// line on stderr starting with "vswitchctl: ".
func checkErrorLine(t *testing.T, stdout, stderr string) {
	t.Helper()
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if !strings.HasPrefix(stderr, "vswitchctl: ") || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr = %q, want one line starting with \"vswitchctl: \"", stderr)
	}
}

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, obj any) []string {
	t.Helper()
	m, ok := obj.(map[string]any)
	if !ok {
		t.Fatalf("%v is not a JSON object", obj)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func hasKeys(t *testing.T, what string, obj any, want ...string) {
	t.Helper()
	got := keys(t, obj)
	for _, k := range want {
		if i := sort.SearchStrings(got, k); i == len(got) || got[i] != k {
			t.Errorf("%s: no key %q in %v", what, k, got)
		}
	}
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not JSON (%v): %q", err, s)
	}
	return v
}

func TestUsageErrors(t *testing.T) {
	f := newFakeDaemon(t)
	for _, args := range [][]string{
		{"netwrk"},
		{"network", "frob"},
		{"network", "ls", "--bogus"},
		{"-x", "network", "ls"},
		{"network", "create"},
		{"network", "create", "a", "b", "--subnet", "10.0.0.0/24"},
		{"network", "create", "a"}, // no --subnet
		{"network", "create", "a", "--subnet", "10.0.0.0/24", "--mtu", "big"},
		{"network", "inspect"},
		{"network", "rm"},
		{"network", "ls", "extra"},
		{"-o", "yaml", "network", "ls"},
		{"--output=xml", "stats"},
		{"port", "add", "net"}, // no --netns
		{"port", "add", "--netns", "ns1"},
		{"port", "attach", "net"}, // no --dev
		{"port", "rm"},
		{"fdb", "add", "02:00:00:00:00:01"}, // no --port
		{"fdb", "del", "02:00:00:00:00:01"}, // no --network
		{"network", "connect", "a"},
		{"network", "connect", "a", "b", "c"},
		{"network", "disconnect", "a"},
		{"route", "add", "10.0.0.0/8"}, // neither --via nor --port
		{"route", "add", "10.0.0.0/8", "--via", "10.1.0.254", "--port", "up0"},
		{"route", "add", "--via", "10.1.0.254"},
		{"route", "del"},
		{"route", "ls", "extra"},
		{"arp", "show", "extra"},
		{"arp", "flush"},
		{"uplink", "add", "--ip", "192.0.2.10/24"}, // no --dev
		{"uplink", "add", "--dev", "eth1"},         // no --ip
		{"uplink", "add", "eth1", "--dev", "eth1", "--ip", "192.0.2.10/24"},
		{"uplink", "rm"},
		{"stats", "a", "b"},
		{"version", "now"},
		{"--socket"},
	} {
		code, stdout, stderr := f.ctl(args...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %q)", args, code, exitUsage, stderr)
		}
		checkErrorLine(t, stdout, stderr)
		if !strings.Contains(stderr, "--help')") {
			t.Errorf("%q: stderr %q does not say where to read usage", args, stderr)
		}
	}
	if reqs := f.requests(); len(reqs) != 0 {
		t.Errorf("usage errors reached the daemon: %+v", reqs)
	}
}

func TestUsageErrorSaysWhichCommand(t *testing.T) {
	code, _, stderr := runCtl("--socket", "/nonexistent", "port", "add", "net1")
	if code != exitUsage || stderr != "vswitchctl: required flag(s) \"netns\" not set (see 'vswitchctl port add --help')\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	_, _, stderr = runCtl("netwrk", "ls")
	if !strings.Contains(stderr, `did you mean "network"?`) {
		t.Errorf("no suggestion in %q", stderr)
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{}, {"--help"}, {"network"}, {"port", "add", "--help"}, {"help", "fdb"}} {
		code, stdout, stderr := runCtl(args...)
		if code != exitOK || !strings.Contains(stdout, "Usage:") || stderr != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

func TestDaemonErrorIsOneLineExit1(t *testing.T) {
	f := newFakeDaemon(t)
	msg := `network "front" has 2 ports: remove them first or use --force`
	f.on("DELETE /v1/networks/front", http.StatusConflict, `{"error": "`+strings.ReplaceAll(msg, `"`, `\"`)+`", "detail": {"ports": ["a", "b"]}}`)
	code, stdout, stderr := f.ctl("network", "rm", "front")
	if code != exitFailed {
		t.Errorf("exit %d, want %d", code, exitFailed)
	}
	if stderr != "vswitchctl: "+msg+"\n" {
		t.Errorf("stderr = %q", stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}

	// A daemon message spread over lines still makes one line.
	f.on("GET /v1/networks/x", http.StatusNotFound, `{"error": "no network \"x\"\nsee 'vswitchctl network ls'"}`)
	code, stdout, stderr = f.ctl("network", "inspect", "x")
	if code != exitFailed || stderr != "vswitchctl: no network \"x\" see 'vswitchctl network ls'\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	checkErrorLine(t, stdout, stderr)

	// Not JSON at all: the body is the message.
	f.on("GET /v1/ports", http.StatusInternalServerError, "boom")
	code, _, stderr = f.ctl("port", "ls")
	if code != exitFailed || stderr != "vswitchctl: boom\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestUnreachableDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nobody.sock")
	for _, args := range [][]string{{"network", "ls"}, {"-o", "json", "port", "ls"}, {"stats"}} {
		code, stdout, stderr := runCtl(append([]string{"--socket", sock}, args...)...)
		if code != exitFailed {
			t.Errorf("%q: exit %d, want %d", args, code, exitFailed)
		}
		checkErrorLine(t, stdout, stderr)
		if !strings.Contains(stderr, "cannot reach vswitchd at "+sock) {
			t.Errorf("%q: stderr %q", args, stderr)
		}
		if stdout != "" {
			t.Errorf("%q: stdout %q, want nothing", args, stdout)
		}
	}
}

func TestSocketFromEnvironment(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/networks", 200, `[]`)

	t.Setenv("VSWITCH_SOCKET", f.socket)
	if code, _, stderr := runCtl("network", "ls"); code != exitOK {
		t.Fatalf("VSWITCH_SOCKET not used: exit %d, stderr %q", code, stderr)
	}

	// --socket wins over the environment.
	t.Setenv("VSWITCH_SOCKET", "/nonexistent/vswitchd.sock")
	if code, _, stderr := runCtl("--socket", f.socket, "network", "ls"); code != exitOK {
		t.Fatalf("--socket not used: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr := runCtl("network", "ls")
	if code != exitFailed || !strings.Contains(stderr, "/nonexistent/vswitchd.sock") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("daemon got %d requests, want 2", n)
	}
}

func TestEmptyListsAreJSONArrays(t *testing.T) {
	for _, tc := range []struct {
		route string
		args  []string
	}{
		{"GET /v1/networks", []string{"network", "ls"}},
		{"GET /v1/ports", []string{"port", "ls"}},
		{"GET /v1/fdb", []string{"fdb", "show"}},
		{"GET /v1/routes", []string{"route", "ls"}},
		{"GET /v1/arp", []string{"arp", "show"}},
		{"GET /v1/uplinks", []string{"uplink", "ls"}},
		{"GET /v1/publish", []string{"publish", "ls"}},
		{"GET /v1/acls", []string{"acl", "ls"}},
		{"GET /v1/conntrack", []string{"conntrack", "show"}},
	} {
		for _, body := range []string{`[]`, `null`, ``} {
			f := newFakeDaemon(t)
			f.on(tc.route, 200, body)
			code, stdout, stderr := f.ctl(append([]string{"-o", "json"}, tc.args...)...)
			if code != exitOK || strings.TrimSpace(stdout) != "[]" {
				t.Errorf("%q with daemon body %q: exit %d, stdout %q, stderr %q", tc.args, body, code, stdout, stderr)
			}
		}
	}
}

func TestEmptyTablesPrintHeader(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/fdb", 200, `[]`)
	code, stdout, _ := f.ctl("fdb", "show")
	fields := strings.Fields(stdout)
	if code != exitOK || !reflect.DeepEqual(fields, []string{"MAC", "PORT", "NETWORK", "AGE", "STATIC"}) {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

const portJSON = `{"name": "web", "network": "front", "kind": "tap", "netns": "web", "ifname": "eth0", "mac": "02:00:0a:64:00:0a", "ip": "10.100.0.10/16", "mtu": 1500, "state": "up"}`

const networkJSON = `{"name": "front", "subnet": "10.100.0.0/16", "gateway": "10.100.0.1", "gateway_mac": "02:00:0a:64:00:01",
	"internal": false, "icc": true, "masquerade": true, "mtu": 1500, "fdb_aging_s": 300, "mac_limit": 1024, "acl_default": "deny",
	"ports": [` + portJSON + `], "connected": ["back"]}`

var portKeys = []string{"name", "network", "kind", "netns", "ifname", "mac", "ip"}

func TestNetworkCreateBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want map[string]any // the whole body
	}{
		{
			"defaults are the daemon's",
			nil,
			map[string]any{"name": "front", "subnet": "10.100.0.0/16"},
		},
		{
			"every flag",
			[]string{"--gateway", "10.100.0.254", "--internal", "--icc=false", "--no-masquerade", "--mtu", "9000", "--fdb-aging", "60", "--mac-limit", "8",
				"--acl-default", "deny"},
			map[string]any{"name": "front", "subnet": "10.100.0.0/16", "gateway": "10.100.0.254", "internal": true,
				"icc": false, "no_masquerade": true, "mtu": 9000.0, "fdb_aging_s": 60.0, "mac_limit": 8.0, "acl_default": "deny"},
		},
		{
			"zero values given are sent",
			[]string{"--icc=true", "--fdb-aging", "0", "--mac-limit", "0"},
			map[string]any{"name": "front", "subnet": "10.100.0.0/16", "icc": true, "fdb_aging_s": 0.0, "mac_limit": 0.0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDaemon(t)
			f.on("POST /v1/networks", http.StatusCreated, networkJSON)
			args := append([]string{"network", "create", "front", "--subnet", "10.100.0.0/16"}, tc.args...)
			code, stdout, stderr := f.ctl(args...)
			if code != exitOK {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if stdout != "created network front: subnet 10.100.0.0/16, gateway 10.100.0.1\n" {
				t.Errorf("stdout = %q", stdout)
			}
			var body map[string]any
			if err := json.Unmarshal(f.last(t).body, &body); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(body, tc.want) {
				t.Errorf("body = %v\nwant   %v", body, tc.want)
			}
		})
	}
}

func TestNetworkCreateJSONPrintsNetwork(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("POST /v1/networks", http.StatusCreated, `{"name": "front", "subnet": "10.100.0.0/16", "gateway": "10.100.0.1", "ports": null}`)
	code, stdout, _ := f.ctl("-o", "json", "network", "create", "front", "--subnet", "10.100.0.0/16")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	n := decode(t, stdout)
	hasKeys(t, "network", n, "name", "subnet", "gateway", "gateway_mac", "internal", "icc", "masquerade", "mtu", "ports", "connected")
	m := n.(map[string]any)
	if _, ok := m["ports"].([]any); !ok {
		t.Errorf("ports = %v, want an array", m["ports"])
	}
	if _, ok := m["connected"].([]any); !ok {
		t.Errorf("connected = %v, want an array", m["connected"])
	}
}

func TestNetworkInspectIsAlwaysJSON(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/networks/front", 200, networkJSON)
	for _, args := range [][]string{{"network", "inspect", "front"}, {"-o", "json", "network", "inspect", "front"}, {"-o", "table", "network", "inspect", "front"}} {
		code, stdout, _ := f.ctl(args...)
		if code != exitOK {
			t.Fatalf("%q: exit %d", args, code)
		}
		if !strings.Contains(stdout, "\n  \"name\": \"front\",\n") {
			t.Errorf("%q: not indented JSON: %q", args, stdout)
		}
		n := decode(t, stdout)
		hasKeys(t, "network", n, "name", "subnet", "gateway", "gateway_mac", "internal", "icc", "masquerade", "mtu", "ports", "connected", "acl_default")
		if got := n.(map[string]any)["acl_default"]; got != "deny" {
			t.Errorf("acl_default = %v, want deny", got)
		}
		ports := n.(map[string]any)["ports"].([]any)
		if len(ports) != 1 {
			t.Fatalf("ports = %v", ports)
		}
		hasKeys(t, "port", ports[0], portKeys...)
	}
}

func TestNetworkLs(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/networks", 200, `[`+networkJSON+`, {"name": "back", "subnet": "10.200.0.0/24", "gateway": "10.200.0.1", "ipv6": true, "subnet6": "fd00:200::/64", "internal": true, "icc": true, "ports": [], "mtu": 1500}]`)
	code, stdout, _ := f.ctl("network", "ls")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	want := [][]string{
		{"NAME", "SUBNET", "GATEWAY", "SUBNET6", "PORTS", "INTERNAL", "ICC", "MASQUERADE", "MTU", "CONNECTED"},
		{"front", "10.100.0.0/16", "10.100.0.1", "-", "1", "no", "yes", "yes", "1500", "back"},
		{"back", "10.200.0.0/24", "10.200.0.1", "fd00:200::/64", "0", "yes", "yes", "no", "1500", "-"},
	}
	if len(lines) != len(want) {
		t.Fatalf("stdout:\n%s", stdout)
	}
	for i, l := range lines {
		if got := strings.Fields(l); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("line %d = %q, want %q", i, got, want[i])
		}
	}

	code, stdout, _ = f.ctl("-o", "json", "network", "ls")
	arr, ok := decode(t, stdout).([]any)
	if code != exitOK || !ok || len(arr) != 2 {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	hasKeys(t, "network", arr[1], "name", "ports", "connected")
	// Without any IPv6 network there is no SUBNET6 column.
	f.on("GET /v1/networks", 200, `[`+networkJSON+`]`)
	if code, stdout, _ := f.ctl("network", "ls"); code != exitOK || strings.Contains(stdout, "SUBNET6") ||
		!strings.HasPrefix(strings.Join(strings.Fields(stdout), " "), "NAME SUBNET GATEWAY PORTS INTERNAL") {
		t.Errorf("network ls with no IPv6 network: exit %d\n%s", code, stdout)
	}
}

func TestNetworkRm(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		query string
	}{
		{[]string{"network", "rm", "front"}, ""},
		{[]string{"network", "rm", "front", "--force"}, "force=true"},
		{[]string{"network", "rm", "--force", "front"}, "force=true"},
	} {
		f := newFakeDaemon(t)
		f.on("DELETE /v1/networks/front", http.StatusNoContent, "")
		code, stdout, stderr := f.ctl(tc.args...)
		if code != exitOK || stdout != "removed network front\n" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
		if r := f.last(t); r.query != tc.query {
			t.Errorf("%q: query %q, want %q", tc.args, r.query, tc.query)
		}
	}
}

func TestPortAdd(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("POST /v1/ports", http.StatusCreated, portJSON)

	code, stdout, stderr := f.ctl("port", "add", "front", "--netns", "web")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "web") || !strings.Contains(stdout, "10.100.0.10/16") || strings.Count(stdout, "\n") != 1 {
		t.Errorf("confirmation = %q, want one line with the port name and IP", stdout)
	}
	var body map[string]any
	json.Unmarshal(f.last(t).body, &body)
	if want := map[string]any{"network": "front", "netns": "web", "ip": "auto"}; !reflect.DeepEqual(body, want) {
		t.Errorf("body = %v, want %v", body, want)
	}

	f = newFakeDaemon(t)
	f.on("POST /v1/ports", http.StatusCreated, portJSON)
	code, stdout, _ = f.ctl("-o", "json", "port", "add", "front", "--netns", "/proc/42/ns/net", "--name", "web", "--ifname", "eth1",
		"--ip", "10.100.0.10/16", "--mac", "02:00:0a:64:00:0a", "--no-default-route")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	hasKeys(t, "port", decode(t, stdout), portKeys...)
	json.Unmarshal(f.last(t).body, &body)
	want := map[string]any{"network": "front", "netns": "/proc/42/ns/net", "name": "web", "ifname": "eth1",
		"ip": "10.100.0.10/16", "mac": "02:00:0a:64:00:0a", "no_default_route": true}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body = %v, want %v", body, want)
	}
}

func TestPortAttach(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("POST /v1/ports/attach", http.StatusCreated, `{"name": "up0", "network": "front", "kind": "afpacket", "netns": "lab", "ifname": "veth0", "mac": "02:00:00:00:00:09", "ip": ""}`)
	code, stdout, stderr := f.ctl("port", "attach", "front", "--dev", "veth0", "--netns", "lab", "--name", "up0")
	if code != exitOK || stdout != "attached port up0 to front (dev veth0 in netns lab)\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	var body map[string]any
	json.Unmarshal(f.last(t).body, &body)
	if want := map[string]any{"network": "front", "dev": "veth0", "netns": "lab", "name": "up0", "kind": "afpacket"}; !reflect.DeepEqual(body, want) {
		t.Errorf("body = %v, want %v", body, want)
	}
}

func TestPortLsAndRm(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/ports", 200, `[`+portJSON+`]`)
	code, stdout, _ := f.ctl("port", "ls", "--network", "front")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if r := f.last(t); r.query != "network=front" {
		t.Errorf("query %q", r.query)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	// No port has an IPv6 address or a policer: no IP6 or RATE column.
	if len(lines) != 2 || !reflect.DeepEqual(strings.Fields(lines[0]), []string{"NAME", "NETWORK", "KIND", "NETNS", "IFNAME", "MAC", "IP", "STATE"}) ||
		!reflect.DeepEqual(strings.Fields(lines[1]), []string{"web", "front", "tap", "web", "eth0", "02:00:0a:64:00:0a", "10.100.0.10/16", "up"}) {
		t.Errorf("stdout:\n%s", stdout)
	}

	code, stdout, _ = f.ctl("-o", "json", "port", "ls")
	arr, ok := decode(t, stdout).([]any)
	if code != exitOK || !ok || len(arr) != 1 {
		t.Fatalf("stdout %q", stdout)
	}
	hasKeys(t, "port", arr[0], portKeys...)

	f = newFakeDaemon(t)
	f.on("DELETE /v1/ports/web", http.StatusNoContent, "")
	code, stdout, _ = f.ctl("port", "rm", "web")
	if code != exitOK || stdout != "removed port web\n" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	// In JSON mode nothing but JSON goes to stdout.
	code, stdout, _ = f.ctl("-o", "json", "port", "rm", "web")
	if code != exitOK || stdout != "" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

func TestFDB(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/fdb", 200, `[{"mac": "02:00:0a:64:00:0a", "port": "web", "network": "front", "age_s": 12, "static": false},
		{"mac": "02:00:00:00:00:99", "port": "db", "network": "front", "age_s": 0, "static": true}]`)
	code, stdout, _ := f.ctl("fdb", "show", "--network", "front")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if r := f.last(t); r.query != "network=front" {
		t.Errorf("query %q", r.query)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !reflect.DeepEqual(strings.Fields(lines[1]), []string{"02:00:0a:64:00:0a", "web", "front", "12s", "no"}) ||
		!reflect.DeepEqual(strings.Fields(lines[2]), []string{"02:00:00:00:00:99", "db", "front", "0s", "yes"}) {
		t.Errorf("stdout:\n%s", stdout)
	}
	_, stdout, _ = f.ctl("-o", "json", "fdb", "show")
	arr := decode(t, stdout).([]any)
	for _, e := range arr {
		hasKeys(t, "fdb entry", e, "mac", "port", "network", "age_s", "static")
	}

	f = newFakeDaemon(t)
	f.on("POST /v1/fdb", http.StatusCreated, `{"mac": "02:00:00:00:00:99", "port": "db", "network": "front", "age_s": 0, "static": true}`)
	code, stdout, _ = f.ctl("fdb", "add", "02:00:00:00:00:99", "--port", "db")
	if code != exitOK || !strings.Contains(stdout, "02:00:00:00:00:99") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	var body map[string]any
	json.Unmarshal(f.last(t).body, &body)
	if want := map[string]any{"mac": "02:00:00:00:00:99", "port": "db"}; !reflect.DeepEqual(body, want) {
		t.Errorf("body = %v, want %v", body, want)
	}

	f = newFakeDaemon(t)
	f.on("DELETE /v1/fdb/02:00:00:00:00:99", http.StatusNoContent, "")
	code, _, stderr := f.ctl("fdb", "del", "02:00:00:00:00:99", "--network", "front")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if r := f.last(t); r.method != "DELETE" || r.path != "/v1/fdb/02:00:00:00:00:99" || r.query != "network=front" {
		t.Errorf("request %+v", r)
	}
}

const statsJSON = `{
	"ports": [
		{"name": "web", "network": "front", "rx_packets": 10, "rx_bytes": 1000, "tx_packets": 9, "tx_bytes": 900,
		 "rx_gso_packets": 2, "tx_gso_packets": 0, "drops": {"mac_limit": 3, "isolation": 1, "acl": 0}},
		{"name": "db", "network": "front", "rx_packets": 5, "rx_bytes": 500, "tx_packets": 5, "tx_bytes": 500,
		 "rx_gso_packets": 0, "tx_gso_packets": 0, "drops": null}
	],
	"drops": {"mac_limit": 3, "isolation": 1, "acl": 0, "bad_checksum": 7}
}`

func TestStats(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/stats", 200, statsJSON)
	code, stdout, _ := f.ctl("stats")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	want := [][]string{
		{"PORT", "NETWORK", "RX-PKTS", "RX-BYTES", "TX-PKTS", "TX-BYTES", "RX-GSO", "DROPS"},
		{"web", "front", "10", "1000", "9", "900", "2", "4"},
		{"db", "front", "5", "500", "5", "500", "0", "0"},
		{},
		{"Drops", "by", "reason:"},
		{"REASON", "COUNT", "PORTS"},
		{"bad_checksum", "7", "-"},
		{"mac_limit", "3", "web=3"},
		{"isolation", "1", "web=1"},
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("stdout:\n%s", stdout)
	}
	for i, l := range lines {
		if got := strings.Fields(l); len(got) != len(want[i]) || (len(got) > 0 && !reflect.DeepEqual(got, want[i])) {
			t.Errorf("line %d = %q, want %q", i, got, want[i])
		}
	}

	code, stdout, _ = f.ctl("-o", "json", "stats", "web")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if r := f.requests()[1]; r.query != "port=web" {
		t.Errorf("query %q", r.query)
	}
	s := decode(t, stdout)
	hasKeys(t, "stats", s, "ports", "drops")
	ports := s.(map[string]any)["ports"].([]any)
	for _, p := range ports {
		hasKeys(t, "port stats", p, "name", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "drops")
		if _, ok := p.(map[string]any)["drops"].(map[string]any); !ok {
			t.Errorf("drops of %v is not an object", p)
		}
	}
	if got := s.(map[string]any)["drops"].(map[string]any)["bad_checksum"]; got != 7.0 {
		t.Errorf("drops.bad_checksum = %v", got)
	}
}

func TestStatsEmpty(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/stats", 200, `{"ports": null, "drops": null}`)
	code, stdout, _ := f.ctl("-o", "json", "stats")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	var s map[string]any
	json.Unmarshal([]byte(stdout), &s)
	if _, ok := s["ports"].([]any); !ok {
		t.Errorf("ports = %v, want []", s["ports"])
	}
	if _, ok := s["drops"].(map[string]any); !ok {
		t.Errorf("drops = %v, want {}", s["drops"])
	}
	// No drops, no drop section.
	_, stdout, _ = f.ctl("stats")
	if strings.Contains(stdout, "reason") {
		t.Errorf("stdout:\n%s", stdout)
	}
}

func TestVersion(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/version", 200, `{"version": "1.2.3", "commit": "abc123", "go": "go1.26"}`)
	code, stdout, _ := f.ctl("version")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stdout, "client: vswitchctl "+version) || !strings.Contains(stdout, "daemon: vswitchd 1.2.3 (commit abc123") {
		t.Errorf("stdout = %q", stdout)
	}
	code, stdout, _ = f.ctl("-o", "json", "version")
	v := decode(t, stdout)
	hasKeys(t, "version", v, "client", "daemon")
	if code != exitOK || v.(map[string]any)["daemon"].(map[string]any)["version"] != "1.2.3" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}

	// Unreachable: the client's version still, then the error.
	sock := filepath.Join(t.TempDir(), "nobody.sock")
	code, stdout, stderr := runCtl("--socket", sock, "version")
	if code != exitFailed || stdout != "client: vswitchctl "+version+" (commit "+commit+", "+runtime.Version()+")\n" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	checkErrorLine(t, "", stderr)
	code, stdout, _ = runCtl("--socket", sock, "-o", "json", "version")
	if keys := keys(t, decode(t, stdout)); code != exitFailed || !reflect.DeepEqual(keys, []string{"client"}) {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}
