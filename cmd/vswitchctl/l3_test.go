package main

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// bodyOf decodes the JSON body of a request made to the fake daemon.
func bodyOf(t *testing.T, r request) map[string]any {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return body
}

// tableRows splits a table's output into its rows' fields.
func tableRows(stdout string) [][]string {
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		rows = append(rows, strings.Fields(l))
	}
	return rows
}

func TestNetworkConnectDisconnect(t *testing.T) {
	for _, verb := range []string{"connect", "disconnect"} {
		f := newFakeDaemon(t)
		f.on("POST /v1/networks/front/"+verb, http.StatusNoContent, "")
		code, stdout, stderr := f.ctl("network", verb, "front", "back")
		if code != exitOK || stdout != verb+"ed networks front and back\n" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", verb, code, stdout, stderr)
		}
		r := f.last(t)
		if r.method != "POST" || r.path != "/v1/networks/front/"+verb || r.query != "" {
			t.Errorf("%s: request %+v", verb, r)
		}
		if body, want := bodyOf(t, r), map[string]any{"network": "back"}; !reflect.DeepEqual(body, want) {
			t.Errorf("%s: body = %v, want %v", verb, body, want)
		}

		// In JSON mode nothing but JSON goes to stdout: here, nothing.
		code, stdout, _ = f.ctl("-o", "json", "network", verb, "front", "back")
		if code != exitOK || stdout != "" {
			t.Errorf("%s -o json: exit %d, stdout %q", verb, code, stdout)
		}
	}

	// The daemon's refusal is an operation error.
	f := newFakeDaemon(t)
	f.on("POST /v1/networks/front/connect", http.StatusNotFound, `{"error": "no network \"nope\": see 'vswitchctl network ls'"}`)
	code, stdout, stderr := f.ctl("network", "connect", "front", "nope")
	if code != exitFailed || stderr != "vswitchctl: no network \"nope\": see 'vswitchctl network ls'\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	checkErrorLine(t, stdout, stderr)
}

func TestNetworkLsConnectedMany(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/networks", 200, `[{"name": "a", "subnet": "10.1.0.0/24", "gateway": "10.1.0.1", "mtu": 1500, "connected": ["b", "c"]}]`)
	code, stdout, _ := f.ctl("network", "ls")
	rows := tableRows(stdout)
	if code != exitOK || len(rows) != 2 || rows[1][len(rows[1])-1] != "b,c" {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
}

const routeJSON = `{"prefix": "10.0.0.0/8", "via": "10.1.0.254", "port": "front", "kind": "static"}`

func TestRouteAdd(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		reply   string
		want    map[string]any
		confirm string
	}{
		{
			[]string{"--via", "10.1.0.254"},
			routeJSON,
			map[string]any{"prefix": "10.0.0.0/8", "via": "10.1.0.254"},
			"added route 10.0.0.0/8 via 10.1.0.254 port front\n",
		},
		{
			[]string{"--port", "up0"},
			`{"prefix": "10.0.0.0/8", "via": "", "port": "up0", "kind": "static"}`,
			map[string]any{"prefix": "10.0.0.0/8", "port": "up0"},
			"added route 10.0.0.0/8 port up0\n",
		},
	} {
		f := newFakeDaemon(t)
		f.on("POST /v1/routes", http.StatusCreated, tc.reply)
		code, stdout, stderr := f.ctl(append([]string{"route", "add", "10.0.0.0/8"}, tc.args...)...)
		if code != exitOK || stdout != tc.confirm {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
		r := f.last(t)
		if r.method != "POST" || r.path != "/v1/routes" {
			t.Errorf("%q: request %+v", tc.args, r)
		}
		if body := bodyOf(t, r); !reflect.DeepEqual(body, tc.want) {
			t.Errorf("%q: body = %v, want %v", tc.args, body, tc.want)
		}
	}

	f := newFakeDaemon(t)
	f.on("POST /v1/routes", http.StatusCreated, routeJSON)
	code, stdout, _ := f.ctl("-o", "json", "route", "add", "10.0.0.0/8", "--via", "10.1.0.254")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if got := keys(t, decode(t, stdout)); !reflect.DeepEqual(got, []string{"kind", "port", "prefix", "via"}) {
		t.Errorf("keys %v", got)
	}
}

func TestRouteAddNeedsExactlyOneTarget(t *testing.T) {
	f := newFakeDaemon(t)
	for _, tc := range []struct {
		args []string
		say  string
	}{
		{[]string{"route", "add", "10.0.0.0/8"}, "--via"},
		{[]string{"route", "add", "10.0.0.0/8", "--via", ""}, "--port"},
		{[]string{"route", "add", "10.0.0.0/8", "--via", "10.1.0.254", "--port", "up0"}, "both"},
		{[]string{"-o", "json", "route", "add", "10.0.0.0/8", "--port", "up0", "--via", "10.1.0.254"}, "both"},
	} {
		code, stdout, stderr := f.ctl(tc.args...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d", tc.args, code, exitUsage)
		}
		checkErrorLine(t, stdout, stderr)
		if !strings.Contains(stderr, tc.say) || !strings.Contains(stderr, "(see 'vswitchctl route add --help')") {
			t.Errorf("%q: stderr %q", tc.args, stderr)
		}
	}
	if reqs := f.requests(); len(reqs) != 0 {
		t.Errorf("usage errors reached the daemon: %+v", reqs)
	}
}

func TestRouteLs(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/routes", 200, `[
		{"prefix": "10.100.0.0/16", "via": "", "port": "front", "kind": "connected"},
		`+routeJSON+`,
		{"prefix": "0.0.0.0/0", "via": "192.0.2.1", "port": "up0", "kind": "default"}]`)
	code, stdout, _ := f.ctl("route", "ls")
	want := [][]string{
		{"PREFIX", "VIA", "PORT", "KIND"},
		{"10.100.0.0/16", "-", "front", "connected"},
		{"10.0.0.0/8", "10.1.0.254", "front", "static"},
		{"0.0.0.0/0", "192.0.2.1", "up0", "default"},
	}
	if got := tableRows(stdout); code != exitOK || !reflect.DeepEqual(got, want) {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
	if r := f.last(t); r.method != "GET" || r.path != "/v1/routes" || r.query != "" {
		t.Errorf("request %+v", r)
	}

	code, stdout, _ = f.ctl("-o", "json", "route", "ls")
	arr, ok := decode(t, stdout).([]any)
	if code != exitOK || !ok || len(arr) != 3 {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	for _, r := range arr {
		if got := keys(t, r); !reflect.DeepEqual(got, []string{"kind", "port", "prefix", "via"}) {
			t.Errorf("keys %v", got)
		}
	}
	if via := arr[0].(map[string]any)["via"]; via != "" {
		t.Errorf("on-link via = %v, want \"\"", via)
	}
}

func TestRouteDelEscapesPrefix(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("DELETE /v1/routes", http.StatusNoContent, "")
	code, stdout, stderr := f.ctl("route", "del", "10.0.0.0/8")
	if code != exitOK || stdout != "removed route 10.0.0.0/8\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	r := f.last(t)
	if r.method != "DELETE" || r.path != "/v1/routes" || r.query != "prefix=10.0.0.0%2F8" {
		t.Errorf("request %+v", r)
	}

	code, stdout, _ = f.ctl("-o", "json", "route", "rm", "10.0.0.0/8")
	if code != exitOK || stdout != "" {
		t.Errorf("-o json: exit %d, stdout %q", code, stdout)
	}

	f = newFakeDaemon(t)
	f.on("DELETE /v1/routes", http.StatusNotFound, `{"error": "no static route to 10.0.0.0/8"}`)
	code, stdout, stderr = f.ctl("route", "del", "10.0.0.0/8")
	if code != exitFailed || stderr != "vswitchctl: no static route to 10.0.0.0/8\n" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	checkErrorLine(t, stdout, stderr)
}

func TestARPShow(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/arp", 200, `[
		{"ip": "10.100.0.10", "mac": "02:00:0a:64:00:0a", "state": "reachable", "port": "web"},
		{"ip": "192.0.2.1", "mac": "", "state": "incomplete", "port": "up0"}]`)
	code, stdout, _ := f.ctl("arp", "show")
	want := [][]string{
		{"IP", "MAC", "STATE", "PORT"},
		{"10.100.0.10", "02:00:0a:64:00:0a", "reachable", "web"},
		{"192.0.2.1", "-", "incomplete", "up0"},
	}
	if got := tableRows(stdout); code != exitOK || !reflect.DeepEqual(got, want) {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
	if r := f.last(t); r.method != "GET" || r.path != "/v1/arp" {
		t.Errorf("request %+v", r)
	}

	code, stdout, _ = f.ctl("-o", "json", "arp", "show")
	arr, ok := decode(t, stdout).([]any)
	if code != exitOK || !ok || len(arr) != 2 {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	for _, n := range arr {
		if got := keys(t, n); !reflect.DeepEqual(got, []string{"ip", "mac", "port", "state"}) {
			t.Errorf("keys %v", got)
		}
	}
}

const uplinkJSON = `{"name": "up0", "dev": "eth1", "netns": "wan", "ip": "192.0.2.10/24", "gateway": "192.0.2.1",
	"mac": "02:00:c0:00:02:0a", "mtu": 1500, "state": "up"}`

var uplinkKeys = []string{"dev", "gateway", "ip", "mac", "mtu", "name", "netns", "state"}

func TestUplinkAdd(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("POST /v1/uplinks", http.StatusCreated, uplinkJSON)
	code, stdout, stderr := f.ctl("uplink", "add", "--dev", "eth1", "--netns", "wan", "--ip", "192.0.2.10/24", "--gateway", "192.0.2.1", "--name", "up0")
	if code != exitOK || stdout != "added uplink up0 192.0.2.10/24 on dev eth1 in netns wan (mac 02:00:c0:00:02:0a, gateway 192.0.2.1)\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	r := f.last(t)
	if r.method != "POST" || r.path != "/v1/uplinks" {
		t.Errorf("request %+v", r)
	}
	want := map[string]any{"dev": "eth1", "netns": "wan", "ip": "192.0.2.10/24", "gateway": "192.0.2.1", "name": "up0"}
	if body := bodyOf(t, r); !reflect.DeepEqual(body, want) {
		t.Errorf("body = %v, want %v", body, want)
	}

	// Only the flags given are sent.
	f = newFakeDaemon(t)
	f.on("POST /v1/uplinks", http.StatusCreated, `{"name": "eth1", "dev": "eth1", "ip": "192.0.2.10/24", "mac": "02:00:c0:00:02:0a", "state": "up"}`)
	code, stdout, _ = f.ctl("uplink", "add", "--dev", "eth1", "--ip", "192.0.2.10/24")
	if code != exitOK || stdout != "added uplink eth1 192.0.2.10/24 on dev eth1 (mac 02:00:c0:00:02:0a)\n" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	if body, want := bodyOf(t, f.last(t)), map[string]any{"dev": "eth1", "ip": "192.0.2.10/24"}; !reflect.DeepEqual(body, want) {
		t.Errorf("body = %v, want %v", body, want)
	}

	f = newFakeDaemon(t)
	f.on("POST /v1/uplinks", http.StatusCreated, uplinkJSON)
	code, stdout, _ = f.ctl("-o", "json", "uplink", "add", "--dev", "eth1", "--ip", "192.0.2.10/24")
	if got := keys(t, decode(t, stdout)); code != exitOK || !reflect.DeepEqual(got, uplinkKeys) {
		t.Errorf("exit %d, keys %v", code, got)
	}
}

func TestUplinkLsAndRm(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/uplinks", 200, `[`+uplinkJSON+`, {"name": "up1", "dev": "eth2", "netns": "", "ip": "198.51.100.2/24", "gateway": "", "mac": "02:00:c6:33:64:02", "state": "down"}]`)
	code, stdout, _ := f.ctl("uplink", "ls")
	want := [][]string{
		{"NAME", "DEV", "NETNS", "IP", "GATEWAY", "MAC", "STATE"},
		{"up0", "eth1", "wan", "192.0.2.10/24", "192.0.2.1", "02:00:c0:00:02:0a", "up"},
		{"up1", "eth2", "-", "198.51.100.2/24", "-", "02:00:c6:33:64:02", "down"},
	}
	if got := tableRows(stdout); code != exitOK || !reflect.DeepEqual(got, want) {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
	code, stdout, _ = f.ctl("-o", "json", "uplink", "ls")
	arr, ok := decode(t, stdout).([]any)
	if code != exitOK || !ok || len(arr) != 2 {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	hasKeys(t, "uplink", arr[0], uplinkKeys...)

	f = newFakeDaemon(t)
	f.on("DELETE /v1/uplinks/up0", http.StatusNoContent, "")
	code, stdout, _ = f.ctl("uplink", "rm", "up0")
	if code != exitOK || stdout != "removed uplink up0\n" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	if r := f.last(t); r.method != "DELETE" || r.path != "/v1/uplinks/up0" {
		t.Errorf("request %+v", r)
	}
	code, stdout, _ = f.ctl("-o", "json", "uplink", "rm", "up0")
	if code != exitOK || stdout != "" {
		t.Errorf("-o json: exit %d, stdout %q", code, stdout)
	}

	f = newFakeDaemon(t)
	code, stdout, stderr := f.ctl("uplink", "rm", "nope")
	if code != exitFailed {
		t.Errorf("exit %d", code)
	}
	checkErrorLine(t, stdout, stderr)
}

func TestL3EmptyTablesPrintHeader(t *testing.T) {
	for _, tc := range []struct {
		route  string
		args   []string
		header []string
	}{
		{"GET /v1/routes", []string{"route", "ls"}, []string{"PREFIX", "VIA", "PORT", "KIND"}},
		{"GET /v1/arp", []string{"arp", "show"}, []string{"IP", "MAC", "STATE", "PORT"}},
		{"GET /v1/uplinks", []string{"uplink", "ls"}, []string{"NAME", "DEV", "NETNS", "IP", "GATEWAY", "MAC", "STATE"}},
	} {
		f := newFakeDaemon(t)
		f.on(tc.route, 200, `null`)
		code, stdout, _ := f.ctl(tc.args...)
		if got := strings.Fields(stdout); code != exitOK || !reflect.DeepEqual(got, tc.header) {
			t.Errorf("%q: exit %d, stdout %q", tc.args, code, stdout)
		}
	}
}
