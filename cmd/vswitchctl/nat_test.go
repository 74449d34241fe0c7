package main

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// Tests of publish, acl and conntrack against the fake daemon: usage
// errors, the requests sent, the JSON keys of CLI.md and the tables.

func TestNATUsageErrors(t *testing.T) {
	f := newFakeDaemon(t)
	for _, args := range [][]string{
		{"publish"},
		{"publish", "frob"},
		{"publish", "add", "bridge"}, // no flags
		{"publish", "add", "bridge", "--proto", "tcp", "--port", "8000"},                           // no --to
		{"publish", "add", "bridge", "--proto", "tcp", "--to", "172.17.0.2:80"},                    // no --port
		{"publish", "add", "bridge", "--port", "8000", "--to", "172.17.0.2:80"},                    // no --proto
		{"publish", "add", "--proto", "tcp", "--port", "8000", "--to", "172.17.0.2:80"},            // no NETWORK
		{"publish", "add", "bridge", "--proto", "sctp", "--port", "8000", "--to", "172.17.0.2:80"}, // not tcp/udp
		{"publish", "add", "bridge", "--proto", "icmp", "--port", "8000", "--to", "172.17.0.2:80"},
		{"publish", "add", "a", "b", "--proto", "tcp", "--port", "8000", "--to", "172.17.0.2:80"},
		{"publish", "ls", "extra"},
		{"publish", "rm"},
		{"publish", "rm", "1", "2"},
		{"acl", "add", "bridge"}, // no --action
		{"acl", "add", "--action", "deny"},
		{"acl", "add", "bridge", "--action", "drop"},
		{"acl", "add", "bridge", "--action", "deny", "--proto", "gre"},
		{"acl", "add", "bridge", "--action", "deny", "--dport", "80"},
		{"acl", "add", "bridge", "--action", "deny", "--proto", "icmp", "--dport", "80"},
		{"acl", "add", "bridge", "--action", "deny", "--priority", "high"},
		{"acl", "ls", "a", "b"},
		{"acl", "rm"},
		{"acl", "rm", "1", "2"},
		{"conntrack"},
		{"conntrack", "frob"},
		{"conntrack", "show", "extra"},
		{"conntrack", "show", "--proto", "gre"},
		{"conntrack", "flush", "now"},
		{"network", "create", "a", "--subnet", "10.0.0.0/24", "--acl-default", "reject"},
		{"network", "create", "a", "--subnet", "10.0.0.0/24", "--acl-default", ""},
	} {
		code, stdout, stderr := f.ctl(args...)
		if len(args) == 1 { // a group alone prints its help
			if code != exitOK || !strings.Contains(stdout, "Usage:") {
				t.Errorf("%q: exit %d, stdout %q", args, code, stdout)
			}
			continue
		}
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

// exactKeys checks that a JSON object has exactly the keys CLI.md names.
func exactKeys(t *testing.T, what string, obj any, want ...string) {
	t.Helper()
	got := keys(t, obj)
	w := append([]string(nil), want...)
	sort.Strings(w)
	if !reflect.DeepEqual(got, w) {
		t.Errorf("%s keys = %v, want %v", what, got, w)
	}
}

func body(t *testing.T, r request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

const publishJSON = `{"id": 3, "network": "bridge", "proto": "tcp", "host_ip": "0.0.0.0", "host_port": 8000, "to": "172.17.0.101:8080"}`

func TestPublishAdd(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("POST /v1/publish", http.StatusCreated, publishJSON)
	code, stdout, stderr := f.ctl("publish", "add", "bridge", "--proto", "tcp", "--port", "8000", "--to", "172.17.0.101:8080")
	if code != exitOK || stdout != "published tcp 0.0.0.0:8000 -> 172.17.0.101:8080 on network bridge (rule 3)\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	want := map[string]any{"network": "bridge", "proto": "tcp", "port": "8000", "to": "172.17.0.101:8080"}
	if got := body(t, f.last(t)); !reflect.DeepEqual(got, want) {
		t.Errorf("body = %v, want %v", got, want)
	}

	f = newFakeDaemon(t)
	f.on("POST /v1/publish", http.StatusCreated, publishJSON)
	code, stdout, _ = f.ctl("-o", "json", "publish", "add", "bridge", "--proto", "udp", "--port", "10.0.12.15:53", "--to", "172.17.0.5:53")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	exactKeys(t, "publish", decode(t, stdout), "id", "network", "proto", "host_ip", "host_port", "to")
	if got := body(t, f.last(t))["port"]; got != "10.0.12.15:53" {
		t.Errorf("port sent = %v", got)
	}

	// The daemon's refusal is the message, exit 1.
	f = newFakeDaemon(t)
	msg := "network priv is internal: it has no way in or out; published ports need a network without --internal"
	f.on("POST /v1/publish", http.StatusConflict, `{"error": "`+msg+`"}`)
	code, stdout, stderr = f.ctl("publish", "add", "priv", "--proto", "tcp", "--port", "80", "--to", "10.20.0.2:80")
	if code != exitFailed || stderr != "vswitchctl: "+msg+"\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	checkErrorLine(t, stdout, stderr)
}

func TestPublishLsAndRm(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/publish", 200, `[`+publishJSON+`, {"id": 4, "network": "web", "proto": "udp", "host_ip": "10.0.12.15", "host_port": 53, "to": "10.10.0.2:53"}]`)
	code, stdout, _ := f.ctl("publish", "ls")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	want := [][]string{
		{"ID", "NETWORK", "PROTO", "HOST-IP", "HOST-PORT", "TO"},
		{"3", "bridge", "tcp", "0.0.0.0", "8000", "172.17.0.101:8080"},
		{"4", "web", "udp", "10.0.12.15", "53", "10.10.0.2:53"},
	}
	checkTable(t, stdout, want)
	code, stdout, _ = f.ctl("-o", "json", "publish", "ls")
	arr, ok := decode(t, stdout).([]any)
	if code != exitOK || !ok || len(arr) != 2 {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	for _, p := range arr {
		exactKeys(t, "publish ls", p, "id", "network", "proto", "host_ip", "host_port", "to")
	}
	if arr[0].(map[string]any)["id"] != 3.0 || arr[0].(map[string]any)["host_port"] != 8000.0 {
		t.Errorf("id and host_port are numbers: %v", arr[0])
	}

	f = newFakeDaemon(t)
	f.on("DELETE /v1/publish/3", http.StatusNoContent, "")
	code, stdout, _ = f.ctl("publish", "rm", "3")
	if code != exitOK || stdout != "removed publish rule 3\n" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	if r := f.last(t); r.method != "DELETE" || r.path != "/v1/publish/3" {
		t.Errorf("request %+v", r)
	}
}

// checkTable compares a table's lines, split into fields, with want.
func checkTable(t *testing.T, stdout string, want [][]string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("stdout:\n%s", stdout)
	}
	for i, l := range lines {
		if got := strings.Fields(l); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("line %d = %q, want %q", i, got, want[i])
		}
	}
}

const aclJSON = `{"id": 2, "network": "web", "action": "allow", "src": "10.1.0.0/16", "dst": "", "proto": "tcp", "dport": "8000-8100", "priority": 10, "hits": 42}`

var aclKeys = []string{"id", "network", "action", "src", "dst", "proto", "dport", "priority", "hits"}

func TestACLAdd(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want map[string]any
		says string
	}{
		{"defaults are the daemon's", []string{"--action", "deny"},
			map[string]any{"network": "web", "action": "deny"}, ""},
		{"every flag", []string{"--action", "allow", "--src", "10.1.0.0/16", "--dst", "10.10.0.5", "--proto", "tcp", "--dport", "8000-8100", "--priority", "10"},
			map[string]any{"network": "web", "action": "allow", "src": "10.1.0.0/16", "dst": "10.10.0.5", "proto": "tcp", "dport": "8000-8100", "priority": 10.0}, ""},
		{"priority 0 is sent", []string{"--action", "deny", "--proto", "icmp", "--priority", "0"},
			map[string]any{"network": "web", "action": "deny", "proto": "icmp", "priority": 0.0}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDaemon(t)
			f.on("POST /v1/acls", http.StatusCreated, aclJSON)
			code, stdout, stderr := f.ctl(append([]string{"acl", "add", "web"}, tc.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if stdout != "added rule 2 to the ACL of network web: allow src 10.1.0.0/16 proto tcp dport 8000-8100, priority 10\n" {
				t.Errorf("stdout = %q", stdout)
			}
			if got := body(t, f.last(t)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("body = %v, want %v", got, tc.want)
			}
		})
	}
	f := newFakeDaemon(t)
	f.on("POST /v1/acls", http.StatusCreated, aclJSON)
	code, stdout, _ := f.ctl("-o", "json", "acl", "add", "web", "--action", "allow")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	exactKeys(t, "acl add", decode(t, stdout), aclKeys...)
}

func TestACLLsAndRm(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/acls", 200, `[`+aclJSON+`, {"id": 1, "network": "web", "action": "deny", "src": "", "dst": "", "proto": "", "dport": "", "priority": 100, "hits": 0}]`)
	code, stdout, _ := f.ctl("acl", "ls", "web")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if r := f.last(t); r.query != "network=web" {
		t.Errorf("query %q", r.query)
	}
	checkTable(t, stdout, [][]string{
		{"ID", "NETWORK", "PRIORITY", "ACTION", "PROTO", "SRC", "DST", "DPORT", "HITS"},
		{"2", "web", "10", "allow", "tcp", "10.1.0.0/16", "-", "8000-8100", "42"},
		{"1", "web", "100", "deny", "-", "-", "-", "-", "0"},
	})
	code, stdout, _ = f.ctl("-o", "json", "acl", "ls")
	if r := f.requests()[1]; r.query != "" {
		t.Errorf("acl ls without NETWORK sent query %q", r.query)
	}
	arr, ok := decode(t, stdout).([]any)
	if code != exitOK || !ok || len(arr) != 2 {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	for _, r := range arr {
		exactKeys(t, "acl ls", r, aclKeys...)
	}
	if arr[0].(map[string]any)["hits"] != 42.0 {
		t.Errorf("hits = %v", arr[0].(map[string]any)["hits"])
	}

	f = newFakeDaemon(t)
	f.on("DELETE /v1/acls/2", http.StatusNoContent, "")
	code, stdout, _ = f.ctl("acl", "rm", "2")
	if code != exitOK || stdout != "removed ACL rule 2\n" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	f.on("DELETE /v1/acls/9", http.StatusNotFound, `{"error": "no ACL rule 9: 'vswitchctl acl ls' lists them"}`)
	code, stdout, stderr := f.ctl("acl", "rm", "9")
	if code != exitFailed || stderr != "vswitchctl: no ACL rule 9: 'vswitchctl acl ls' lists them\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	checkErrorLine(t, stdout, stderr)
}

const conntrackJSON = `[
	{"proto": "tcp", "orig": {"src": "172.17.0.2", "dst": "10.0.12.11", "sport": 40000, "dport": 80},
	 "reply": {"src": "10.0.12.11", "dst": "10.0.12.15", "sport": 80, "dport": 40000}, "state": "TIME_WAIT", "timeout_s": 117},
	{"proto": "icmp", "orig": {"src": "172.17.0.2", "dst": "10.0.12.11", "sport": 7, "dport": 7},
	 "reply": {"src": "10.0.12.11", "dst": "10.0.12.15", "sport": 7, "dport": 7}, "state": "UNREPLIED", "timeout_s": 29}
]`

func TestConntrackShow(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/conntrack", 200, conntrackJSON)
	code, stdout, _ := f.ctl("conntrack", "show")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	want := "tcp      6 117 TIME_WAIT src=172.17.0.2 dst=10.0.12.11 sport=40000 dport=80 src=10.0.12.11 dst=10.0.12.15 sport=80 dport=40000\n" +
		"icmp     1 29 UNREPLIED src=172.17.0.2 dst=10.0.12.11 id=7 src=10.0.12.11 dst=10.0.12.15 id=7\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	code, stdout, _ = f.ctl("-o", "json", "conntrack", "show", "--proto", "tcp")
	if r := f.requests()[1]; r.query != "proto=tcp" {
		t.Errorf("query %q", r.query)
	}
	arr, ok := decode(t, stdout).([]any)
	if code != exitOK || !ok || len(arr) != 2 {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	for _, c := range arr {
		exactKeys(t, "conntrack show", c, "proto", "orig", "reply", "state", "timeout_s")
		for _, dir := range []string{"orig", "reply"} {
			exactKeys(t, "conntrack "+dir, c.(map[string]any)[dir], "src", "dst", "sport", "dport")
		}
	}
}

func TestConntrackFlush(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("DELETE /v1/conntrack", 200, `{"flushed": 12}`)
	code, stdout, _ := f.ctl("conntrack", "flush")
	if code != exitOK || stdout != "flushed 12 connection(s)\n" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	code, stdout, _ = f.ctl("-o", "json", "conntrack", "flush")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	exactKeys(t, "conntrack flush", decode(t, stdout), "flushed")
}
