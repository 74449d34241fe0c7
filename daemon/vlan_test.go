package daemon

import (
	"strings"
	"testing"

	"vswitch/api"
)

// network create --vlan: kept in the state (a restart shows it again), a
// VLAN id outside 1-4094 or another network's is refused in one line.
func TestNetworkVLAN(t *testing.T) {
	dir := t.TempDir()
	d := newTestDaemon(t, dir)
	n, err := d.CreateNetwork(api.NetworkCreate{Name: "v10", Subnet: "10.10.0.0/24", VLAN: 10})
	if err != nil {
		t.Fatal(err)
	}
	if n.VLAN != 10 {
		t.Errorf("network v10 shows VLAN %d, want 10", n.VLAN)
	}
	for _, tc := range []struct {
		vlan int
		want string
	}{{4095, "1 to 4094"}, {-1, "1 to 4094"}, {10, "network v10's already"}} {
		_, err := d.CreateNetwork(api.NetworkCreate{Name: "x", Subnet: "10.11.0.0/24", VLAN: tc.vlan})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("--vlan %d: err %v, want one line with %q", tc.vlan, err, tc.want)
		}
	}
	d.Close()
	d2 := newTestDaemon(t, dir)
	if n, err := d2.Network("v10"); err != nil || n.VLAN != 10 {
		t.Errorf("after a restart: VLAN %d, err %v; want 10", n.VLAN, err)
	}
}
