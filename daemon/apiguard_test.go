package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vswitch/api"
)

// apiOverSocket serves d's API (guarded, as vswitchd does) on a unix socket
// and returns a client for it that sends raw requests.
func apiOverSocket(t *testing.T, d *Daemon, gid int) *http.Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := d.APIServer(gid)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", sock)
	}}}
}

// call sends body (chunked when length is false) and returns the status and
// the error message of the answer.
func call(t *testing.T, c *http.Client, method, path string, body io.Reader, length bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://vswitchd"+api.Prefix+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if !length {
		req.ContentLength = -1 // sent chunked: the server learns the size by reading
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var e api.Error
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error
}

func TestAPIBodies(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the daemon tests need root (the dataplane's TAPs)")
	}
	d := newTestDaemon(t, t.TempDir())
	c := apiOverSocket(t, d, 0)
	big := `{"name":"n","subnet":"10.9.0.0/24","gateway":"` + strings.Repeat("x", MaxBody) + `"}`
	cases := []struct {
		name   string
		body   string
		length bool // Content-Length sent (else chunked)
		status int
		says   string
	}{
		{"good", `{"name":"ok","subnet":"10.8.0.0/24"}`, true, 201, ""},
		{"over the limit, announced", big, true, 413, "over the API's limit of 1048576"},
		{"over the limit, chunked", big, false, 413, "over the API's limit of 1048576"},
		{"syntax", `{"name":"n", "subnet":}`, true, 400, "invalid JSON at byte 23"},
		{"unknown key", `{"name":"n","subnet":"10.9.0.0/24","colour":"red"}`, true, 400, `unknown field "colour"`},
		{"wrong type", `{"name":"n","subnet":24}`, true, 400, `field "subnet": want a string, got a number`},
		{"wrong type, pointer field", `{"name":"n","subnet":"10.9.0.0/24","icc":"yes"}`, true, 400, `field "icc": want true or false, got a string`},
		{"not an object", `[1,2]`, true, 400, "want a JSON object, got an array"},
		{"empty", ``, true, 400, "empty: want a JSON object"},
		{"truncated", `{"name":"n"`, true, 400, "truncated JSON"},
		{"two objects", `{"name":"n","subnet":"10.9.0.0/24"} {}`, true, 400, "more data after the JSON object"},
	}
	for _, tc := range cases {
		status, msg := call(t, c, "POST", "/networks", strings.NewReader(tc.body), tc.length)
		if status != tc.status || !strings.Contains(msg, tc.says) {
			t.Errorf("%s: POST /networks = %d %q, want %d saying %q", tc.name, status, msg, tc.status, tc.says)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: error is not one line: %q", tc.name, msg)
		}
	}
	// None of the refused bodies made a network: only "ok" was created.
	var names []string
	for _, n := range d.Networks() {
		names = append(names, n.Name)
	}
	if strings.Join(names, ",") != "bridge,ok" {
		t.Errorf("networks after the bad bodies = %v, want [bridge ok]", names)
	}
	// A big body on a path that reads none is refused too, before it is read.
	if status, msg := call(t, c, "GET", "/version", bytes.NewReader(make([]byte, MaxBody+1)), true); status != 413 {
		t.Errorf("GET /version with a %d-byte body = %d %q, want 413", MaxBody+1, status, msg)
	}
}

func TestAPIGuardRefusesWithoutCredentials(t *testing.T) {
	// Over TCP there is no SO_PEERCRED: the guard cannot tell who calls and
	// must refuse rather than let the request through.
	srv := httptest.NewUnstartedServer(Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the handler ran for a caller without credentials")
	}), 0))
	srv.Config.ConnContext = ConnContext
	srv.Start()
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/version")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != 403 || !strings.Contains(e.Error, "cannot tell who is calling") {
		t.Fatalf("request over TCP = %d %q, want 403 saying it cannot tell who is calling", resp.StatusCode, e.Error)
	}
}

func TestPeerCredentialsOverSocket(t *testing.T) {
	// Both ends of a unix connection made here belong to this process, so
	// what SO_PEERCRED and SO_PEERGROUPS report must be this process's
	// credentials.
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := peerOf(c)
	if p.err != nil {
		t.Fatal(p.err)
	}
	if int(p.uid) != os.Geteuid() || int(p.gid) != os.Getegid() || int(p.pid) != os.Getpid() {
		t.Fatalf("peer = uid %d gid %d pid %d, want this process's %d %d %d", p.uid, p.gid, p.pid, os.Geteuid(), os.Getegid(), os.Getpid())
	}
	groups, err := os.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint32]bool{}
	for _, g := range p.groups {
		got[g] = true
	}
	for _, g := range groups {
		if !got[uint32(g)] {
			t.Errorf("peer groups %v lack group %d of this process (%v)", p.groups, g, groups)
		}
	}
	if len(p.groups) != len(groups) {
		t.Errorf("peer groups = %v, want this process's %v", p.groups, groups)
	}
}

func TestPeerAllowed(t *testing.T) {
	const sockGID = 1234
	cases := []struct {
		p    peer
		ok   bool
		says string
	}{
		{peer{uid: 0, gid: 0}, true, ""},
		{peer{uid: 0, gid: 99}, true, ""},
		{peer{uid: 1000, gid: sockGID}, true, ""},
		{peer{uid: 1000, gid: 1000, groups: []uint32{27, sockGID}}, true, ""},
		{peer{uid: 1000, gid: 1000, groups: []uint32{27}, pid: 77}, false, "uid 1000 (pid 77) is neither root nor in group 1234"},
		{peer{uid: 65534, gid: 65534}, false, "run as root or join that group"},
	}
	for _, c := range cases {
		ok, why := c.p.allowed(sockGID)
		if ok != c.ok || !strings.Contains(why, c.says) {
			t.Errorf("allowed(%+v) = %v %q, want %v saying %q", c.p, ok, why, c.ok, c.says)
		}
	}
}
