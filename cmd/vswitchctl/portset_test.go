package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const policedPortJSON = `{"name": "web", "network": "front", "kind": "tap", "netns": "web", "ifname": "eth0", "mac": "02:00:0a:64:00:0a",
	"ip": "10.100.0.10/16", "mtu": 1500, "state": "up", "ingress_rate_mbit": 200, "ingress_burst_kb": 1000}`

// port set sends what was given, and only that, to POST /v1/ports/NAME/set.
func TestPortSetBody(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want map[string]int
	}{
		{[]string{"--rate", "200"}, map[string]int{"ingress_rate_mbit": 200}},
		{[]string{"--rate", "500", "--burst", "2000"}, map[string]int{"ingress_rate_mbit": 500, "ingress_burst_kb": 2000}},
		{[]string{"--burst", "4096"}, map[string]int{"ingress_burst_kb": 4096}},
		{[]string{"--rate", "0"}, map[string]int{"ingress_rate_mbit": 0}},
		{[]string{"--rate", "-5"}, map[string]int{"ingress_rate_mbit": -5}}, // the daemon says no
	} {
		f := newFakeDaemon(t)
		f.on("POST /v1/ports/web/set", 200, policedPortJSON)
		code, stdout, stderr := f.ctl(append([]string{"port", "set", "web"}, tc.args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d, %s", tc.args, code, stderr)
		}
		var got map[string]int
		if err := json.Unmarshal(f.last(t).body, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.want) {
			t.Errorf("%v: body %v, want %v", tc.args, got, tc.want)
		}
		for k, v := range tc.want {
			if n, ok := got[k]; !ok || n != v {
				t.Errorf("%v: body %v, want %v", tc.args, got, tc.want)
			}
		}
		if stdout != "port web: ingress policed to 200 Mbit/s, burst 1000 KB\n" {
			t.Errorf("stdout %q", stdout)
		}
	}
}

// port ls shows the rate and burst; -o json has them as keys.
func TestPortLsShowsPolicing(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("GET /v1/ports", 200, `[`+policedPortJSON+`]`)
	code, stdout, _ := f.ctl("port", "ls")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != exitOK || len(lines) != 2 || !strings.HasSuffix(lines[0], "RATE") || !strings.HasSuffix(lines[1], "200Mbit/1000KB") {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
	code, stdout, _ = f.ctl("-o", "json", "port", "ls")
	arr, ok := decode(t, stdout).([]any)
	if code != exitOK || !ok || len(arr) != 1 {
		t.Fatalf("stdout %q", stdout)
	}
	hasKeys(t, "port", arr[0], "ingress_rate_mbit", "ingress_burst_kb")
}

// A value that is no number is refused in one line, exit 1, before any
// request; no flag at all is a usage error; the daemon's refusal is one
// line, exit 1.
func TestPortSetBadInput(t *testing.T) {
	f := newFakeDaemon(t)
	for _, args := range [][]string{
		{"--rate", "fast"},
		{"--rate", "1.5"},
		{"--rate", ""},
		{"--rate", "100", "--burst", "1MB"},
	} {
		code, stdout, stderr := f.ctl(append([]string{"port", "set", "web"}, args...)...)
		if code != exitFailed || !strings.Contains(stderr, "want a whole number") {
			t.Errorf("%v: exit %d, stderr %q; want 1 and what the flag takes", args, code, stderr)
		}
		checkErrorLine(t, stdout, stderr)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests made for bad numbers", n)
	}
	code, stdout, stderr := f.ctl("port", "set", "web")
	if code != exitUsage || !strings.Contains(stderr, "--rate") {
		t.Errorf("no flags: exit %d, stderr %q; want 2 naming --rate", code, stderr)
	}
	checkErrorLine(t, stdout, stderr)

	f.on("POST /v1/ports/web/set", http.StatusBadRequest, `{"error": "bad --burst 10: want 64 KB (one 64 KiB GSO super-frame) to 1048576 KB"}`)
	code, stdout, stderr = f.ctl("port", "set", "web", "--rate", "100", "--burst", "10")
	if code != exitFailed || !strings.Contains(stderr, "bad --burst 10") {
		t.Errorf("daemon refusal: exit %d, stderr %q", code, stderr)
	}
	checkErrorLine(t, stdout, stderr)
}
