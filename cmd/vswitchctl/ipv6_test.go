package main

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestNetworkCreateIPv6(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("POST /v1/networks", http.StatusCreated, `{"name": "ds", "subnet": "10.9.0.0/24", "gateway": "10.9.0.1", "ipv6": true,
		"subnet6": "fd00:9::/64", "gateway6": "fd00:9::1", "gateway6_ll": "fe80::1", "ports": []}`)
	code, stdout, stderr := f.ctl("network", "create", "ds", "--subnet", "10.9.0.0/24", "--ipv6", "--subnet6", "fd00:9::/64", "--gateway6", "fd00:9::1")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if want := "created network ds: subnet 10.9.0.0/24, gateway 10.9.0.1; IPv6 fd00:9::/64, gateway fd00:9::1 (fe80::1)\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	var body map[string]any
	json.Unmarshal(f.last(t).body, &body)
	want := map[string]any{"name": "ds", "subnet": "10.9.0.0/24", "ipv6": true, "subnet6": "fd00:9::/64", "gateway6": "fd00:9::1"}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body = %v, want %v", body, want)
	}
	code, stdout, _ = f.ctl("-o", "json", "network", "create", "ds", "--subnet", "10.9.0.0/24", "--ipv6", "--subnet6", "fd00:9::/64")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	hasKeys(t, "network", decode(t, stdout), "ipv6", "subnet6", "gateway6", "gateway6_ll")
}

func TestPortAddIP6(t *testing.T) {
	f := newFakeDaemon(t)
	f.on("POST /v1/ports", http.StatusCreated, `{"name": "web", "network": "ds", "kind": "tap", "netns": "web", "ifname": "eth0",
		"mac": "02:42:0a:09:00:02", "ip": "10.9.0.2/24", "ip6": "fd00:9::2/64", "state": "up"}`)
	code, stdout, _ := f.ctl("port", "add", "ds", "--netns", "web")
	if code != exitOK || !strings.Contains(stdout, "fd00:9::2/64") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	var body map[string]any
	json.Unmarshal(f.last(t).body, &body)
	if _, sent := body["ip6"]; sent {
		t.Errorf("ip6 sent without --ip6: %v", body)
	}
	f = newFakeDaemon(t)
	f.on("POST /v1/ports", http.StatusCreated, `{"name": "web", "network": "ds", "kind": "tap", "ip6": "fd00:9::20/64"}`)
	f.ctl("port", "add", "ds", "--netns", "web", "--ip6", "fd00:9::20")
	body = nil
	json.Unmarshal(f.last(t).body, &body)
	if body["ip6"] != "fd00:9::20" {
		t.Errorf("body = %v, want ip6 fd00:9::20", body)
	}
	f = newFakeDaemon(t)
	f.on("GET /v1/ports", 200, `[{"name": "web", "network": "ds", "kind": "tap", "netns": "web", "ifname": "eth0",
		"mac": "02:42:0a:09:00:02", "ip": "10.9.0.2/24", "ip6": "fd00:9::2/64", "state": "up"}]`)
	_, stdout, _ = f.ctl("port", "ls")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 || strings.Fields(lines[0])[7] != "IP6" || strings.Fields(lines[1])[7] != "fd00:9::2/64" {
		t.Errorf("port ls:\n%s", stdout)
	}
}
