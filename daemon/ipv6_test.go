package daemon

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vswitch/api"
	"vswitch/header"
)

func TestNetworkIPv6(t *testing.T) {
	dir := t.TempDir()
	d := newTestDaemon(t, dir)
	n, err := d.CreateNetwork(api.NetworkCreate{Name: "ds", Subnet: "10.50.0.0/24", IPv6: true, Subnet6: "fd00:50::/64"})
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := header.ParseMAC(n.GatewayMAC)
	if !n.IPv6 || n.Subnet6 != "fd00:50::/64" || n.Gateway6 != "fd00:50::1" || n.Gateway6LL != header.LinkLocalFromMAC(mac).String() {
		t.Errorf("network = %+v", n)
	}
	if !strings.HasPrefix(n.Gateway6LL, "fe80::") {
		t.Errorf("gateway6_ll = %q", n.Gateway6LL)
	}
	n2, err := d.CreateNetwork(api.NetworkCreate{Name: "ds2", Subnet: "10.51.0.0/24", IPv6: true, Subnet6: "fd00:51::/64", Gateway6: "fd00:51::fe"})
	if err != nil || n2.Gateway6 != "fd00:51::fe" {
		t.Fatalf("--gateway6: %+v, %v", n2, err)
	}
	v4, err := d.CreateNetwork(api.NetworkCreate{Name: "v4", Subnet: "10.52.0.0/24"})
	if err != nil || v4.IPv6 || v4.Subnet6 != "" {
		t.Fatalf("an IPv4 network: %+v, %v", v4, err)
	}
	// The state file keeps the prefix and the gateway; a restart restores them.
	raw, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	for _, sn := range st.Networks {
		if sn.Name == "ds" && (sn.Subnet6.String() != "fd00:50::/64" || sn.Gateway6.String() != "fd00:50::1") {
			t.Errorf("state: %+v", sn)
		}
		if sn.Name == "v4" && strings.Contains(string(raw), `"subnet6": ""`) {
			t.Error("an IPv4 network writes an empty subnet6")
		}
	}
	d.Close()
	d2 := newTestDaemon(t, dir)
	if got, err := d2.Network("ds"); err != nil || got.Gateway6 != n.Gateway6 || got.Gateway6LL != n.Gateway6LL {
		t.Errorf("after restart: %+v, %v", got, err)
	}
}

func TestNetworkIPv6Errors(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	if _, err := d.CreateNetwork(api.NetworkCreate{Name: "a", Subnet: "10.60.0.0/24", IPv6: true, Subnet6: "fd00:60::/64"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		req    api.NetworkCreate
		status int
		says   string
	}{
		{api.NetworkCreate{Subnet6: "fd00:61::/64"}, 400, "need --ipv6"},
		{api.NetworkCreate{IPv6: true}, 400, "needs --subnet6"},
		{api.NetworkCreate{IPv6: true, Subnet6: "fd00:61::/56"}, 400, "must be 64"},
		{api.NetworkCreate{IPv6: true, Subnet6: "10.0.0.0/8"}, 400, "bad --subnet6"},
		{api.NetworkCreate{IPv6: true, Subnet6: "fd00:61::5/64"}, 400, "did you mean fd00:61::/64"},
		{api.NetworkCreate{IPv6: true, Subnet6: "fe80::/64"}, 400, "unicast global or unique-local"},
		{api.NetworkCreate{IPv6: true, Subnet6: "fd00:60::/64"}, 409, "overlaps"},
		{api.NetworkCreate{IPv6: true, Subnet6: "fd00:61::/64", Gateway6: "fd00:62::1"}, 400, "outside"},
		{api.NetworkCreate{IPv6: true, Subnet6: "fd00:61::/64", Gateway6: "fd00:61::"}, 400, "anycast"},
		{api.NetworkCreate{IPv6: true, Subnet6: "fd00:61::/64", MTU: 1200}, 400, "1280"},
	} {
		tc.req.Name, tc.req.Subnet = "b", "10.61.0.0/24"
		_, err := d.CreateNetwork(tc.req)
		var e *Error
		if !errors.As(err, &e) || e.Status != tc.status || !strings.Contains(e.Msg, tc.says) {
			t.Errorf("%+v: %v, want %d saying %q", tc.req, err, tc.status, tc.says)
		}
	}
}

func TestPortIP6(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	if _, err := d.CreateNetwork(api.NetworkCreate{Name: "a", Subnet: "10.70.0.0/24", IPv6: true, Subnet6: "fd00:70::/64"}); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.nets["a"].cfg
	got, err := d.portIP6Locked(n, "")
	if err != nil || got.String() != "fd00:70::2/64" {
		t.Fatalf("auto: %v, %v", got, err)
	}
	d.st.Ports = append(d.st.Ports, PortState{Name: "p", Network: "a", IP6: got})
	defer func() { d.st.Ports = nil }()
	if got, err := d.portIP6Locked(n, "auto"); err != nil || got.String() != "fd00:70::3/64" {
		t.Errorf("auto after ::2: %v, %v", got, err)
	}
	if got, err := d.portIP6Locked(n, "fd00:70::99"); err != nil || got.String() != "fd00:70::99/64" {
		t.Errorf("bare: %v, %v", got, err)
	}
	for s, says := range map[string]string{
		"fd00:70::2":     "in use",
		"fd00:70::1":     "gateway",
		"fd00:71::5":     "outside",
		"fd00:70::":      "anycast",
		"fd00:70::5/48":  "bad --ip6",
		"10.70.0.5":      "outside",
		"not-an-address": "bad --ip6",
	} {
		if _, err := d.portIP6Locked(n, s); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("--ip6 %s: %v, want it to say %q", s, err, says)
		}
	}
	v4 := &NetworkState{Name: "v4"}
	if _, err := d.portIP6Locked(v4, "fd00:70::5"); err == nil || !strings.Contains(err.Error(), "has no IPv6") {
		t.Errorf("--ip6 on an IPv4 network: %v", err)
	}
	if p, err := d.portIP6Locked(v4, ""); err != nil || p.IsValid() {
		t.Errorf("no --ip6 on an IPv4 network: %v, %v", p, err)
	}
}

func TestSetIPv6SysctlsRefusesOwnNamespace(t *testing.T) {
	if err := setIPv6Sysctls("", "eth0", map[string]string{"accept_dad": "0"}); err == nil {
		t.Fatal("an empty namespace path (vswitchd's own) was accepted")
	}
}

// The config file takes the IPv6 keys as network create does; a reload
// that changes them is refused, the network kept as it is.
func TestConfigIPv6(t *testing.T) {
	d, path := startWithConfig(t, `
networks:
  - name: ds
    subnet: 10.80.0.0/24
    ipv6: true
    subnet6: fd00:80::/64
    gateway6: fd00:80::fe
`)
	n, err := d.Network("ds")
	if err != nil || !n.IPv6 || n.Subnet6 != "fd00:80::/64" || n.Gateway6 != "fd00:80::fe" {
		t.Fatalf("network from the file: %+v, %v", n, err)
	}
	rewrite(t, path, `
networks:
  - name: ds
    subnet: 10.80.0.0/24
    ipv6: true
    subnet6: fd00:81::/64
`)
	if _, err := d.Reload(); err == nil || !strings.Contains(err.Error(), "subnet6") {
		t.Errorf("reload changing subnet6: %v, want a refusal naming subnet6", err)
	}
	if n, _ := d.Network("ds"); n.Subnet6 != "fd00:80::/64" {
		t.Errorf("after the refused reload: subnet6 %s", n.Subnet6)
	}
}
