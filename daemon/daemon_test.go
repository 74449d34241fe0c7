package daemon

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vswitch/api"
)

func newTestDaemon(t *testing.T, dir string) *Daemon {
	t.Helper()
	d, err := New(Options{StateDir: dir, Workers: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func ptr[T any](v T) *T { return &v }

func TestDefaultNetwork(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	n, err := d.Network("bridge")
	if err != nil {
		t.Fatal(err)
	}
	if n.Subnet != "172.17.0.0/16" || n.Gateway != "172.17.0.1" || !n.Masquerade || !n.ICC || n.MTU != 1500 {
		t.Fatalf("default network = %+v, want docker0's", n)
	}
	if n.GatewayMAC == "" || n.Ports == nil || n.Connected == nil {
		t.Fatalf("missing fields: %+v", n)
	}
}

func TestNetworkCreateErrors(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	if _, err := d.CreateNetwork(api.NetworkCreate{Name: "a", Subnet: "10.1.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		req    api.NetworkCreate
		status int
		says   string
	}{
		{api.NetworkCreate{Name: "b", Subnet: "10.2.0.0/33"}, 400, "bad subnet"},
		{api.NetworkCreate{Name: "b", Subnet: "nonsense"}, 400, "bad subnet"},
		{api.NetworkCreate{Name: "b", Subnet: "10.2.0.5/24"}, 400, "did you mean 10.2.0.0/24"},
		{api.NetworkCreate{Name: "b", Subnet: "10.1.5.0/24"}, 409, "overlaps"},
		{api.NetworkCreate{Name: "a", Subnet: "10.3.0.0/24"}, 409, "already exists"},
		{api.NetworkCreate{Name: "b", Subnet: "10.2.0.0/24", Gateway: "10.9.0.1"}, 400, "outside"},
		{api.NetworkCreate{Name: "b", Subnet: "10.2.0.0/24", Gateway: "10.2.0.255"}, 400, "broadcast"},
		{api.NetworkCreate{Name: "b", Subnet: "10.2.0.0/24", MTU: 100}, 400, "MTU"},
		{api.NetworkCreate{Name: "b", Subnet: "10.2.0.0/24", FDBAging: ptr(0)}, 400, "fdb-aging"},
		{api.NetworkCreate{Name: "b c", Subnet: "10.2.0.0/24"}, 400, "bad network name"},
		{api.NetworkCreate{Name: "b"}, 400, "no subnet"},
	}
	for _, c := range cases {
		_, err := d.CreateNetwork(c.req)
		var e *Error
		if !errors.As(err, &e) || e.Status != c.status || !strings.Contains(err.Error(), c.says) {
			t.Errorf("CreateNetwork(%+v) = %v, want status %d saying %q", c.req, err, c.status, c.says)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
	if got := len(d.Networks()); got != 2 {
		t.Fatalf("networks after bad input = %d, want 2 (bridge and a)", got)
	}
}

func TestStatePersists(t *testing.T) {
	dir := t.TempDir()
	d := newTestDaemon(t, dir)
	if _, err := d.CreateNetwork(api.NetworkCreate{Name: "a", Subnet: "10.1.0.0/24", MTU: 1400, ICC: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateNetwork(api.NetworkCreate{Name: "b", Subnet: "10.2.0.0/24"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Connect("a", "b", true); err != nil {
		t.Fatal(err)
	}
	before, _ := d.Network("a")
	d.Close()
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
		t.Fatal(err)
	}
	d2 := newTestDaemon(t, dir)
	after, err := d2.Network("a")
	if err != nil {
		t.Fatal(err)
	}
	if after.GatewayMAC != before.GatewayMAC || after.MTU != 1400 || after.ICC || len(after.Connected) != 1 || after.Connected[0] != "b" {
		t.Fatalf("after restart %+v, before %+v", after, before)
	}
	routes := d2.Routes()
	if len(routes) != 3 { // bridge, a, b connected routes
		t.Fatalf("routes after restart = %+v", routes)
	}
}

func TestDamagedStateIsReported(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, stateFile), []byte("{not json"), 0o600)
	_, err := New(Options{StateDir: dir, Workers: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("New on a damaged state = %v, want a 'damaged' error", err)
	}
}

func TestRoutesValidation(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	if _, err := d.AddRoute(api.RouteAdd{Prefix: "10.50.0.0/16", Via: "172.17.0.9"}); err != nil {
		t.Fatal(err)
	}
	for _, req := range []api.RouteAdd{
		{Prefix: "10.50.0.0/16", Via: "172.17.0.9"},  // duplicate
		{Prefix: "10.60.0.0/16", Via: "192.168.1.1"}, // next hop on no network
		{Prefix: "10.60.0.1/16", Via: "172.17.0.9"},  // host bits
		{Prefix: "10.60.0.0/16"},                     // neither via nor port
		{Prefix: "10.60.0.0/16", Port: "nope"},       // unknown port
	} {
		if _, err := d.AddRoute(req); err == nil {
			t.Errorf("AddRoute(%+v) succeeded", req)
		}
	}
	if err := d.DelRoute("172.17.0.0/16"); err == nil || !strings.Contains(err.Error(), "connected") {
		t.Errorf("deleting a connected route = %v", err)
	}
	if err := d.DelRoute("10.50.0.0/16"); err != nil {
		t.Fatal(err)
	}
	if err := d.DelRoute("10.50.0.0/16"); err == nil {
		t.Fatal("deleted a route twice")
	}
}

func TestIPAM(t *testing.T) {
	sub := netip.MustParsePrefix("10.0.0.0/30")
	used := map[netip.Addr]bool{netip.MustParseAddr("10.0.0.1"): true}
	a, err := nextFree(sub, used)
	if err != nil || a != netip.MustParseAddr("10.0.0.2") {
		t.Fatalf("nextFree = %v %v", a, err)
	}
	used[a] = true
	if _, err := nextFree(sub, used); err == nil {
		t.Fatal("a full /30 gave an address")
	}
	if checkHostAddr(sub, netip.MustParseAddr("10.0.0.3")) == nil || checkHostAddr(sub, netip.MustParseAddr("10.0.0.0")) == nil {
		t.Fatal("network/broadcast accepted as host addresses")
	}
}
