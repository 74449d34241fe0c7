package daemon

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"vswitch/api"
	"vswitch/internal/netns"
)

// vethNS makes a namespace with a veth up0 (its peer far0) for uplinks.
func vethNS(t *testing.T, tag string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a namespace of its own")
	}
	ns := fmt.Sprintf("vst-%d-%s", rand.IntN(1<<30), tag)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "add", "up0", "type", "veth", "peer", "name", "far0").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v %s", err, out)
	}
	return ns
}

// Two uplinks on one device with VLANs 100 and 200 share one trunk (one
// socket, a member per VLAN, each uplink on its own); a VID the device
// carries already, an untagged uplink next to them, and a bad id are
// refused in one line; a restart brings both back up with their VLANs;
// removing one leaves the other, removing both frees the device.
func TestVLANUplinks(t *testing.T) {
	ns := vethNS(t, "vu")
	dir := t.TempDir()
	d := newTestDaemon(t, dir)
	for _, u := range []api.UplinkAdd{
		{Name: "u100", Dev: "up0", Netns: ns, IP: "10.100.0.15/24", Gateway: "10.100.0.1", VLAN: 100},
		{Name: "u200", Dev: "up0", Netns: ns, IP: "10.200.0.15/24", VLAN: 200},
	} {
		v, err := d.AddUplink(u)
		if err != nil {
			t.Fatalf("uplink add %s --vlan %d: %v", u.Name, u.VLAN, err)
		}
		if v.VLAN != u.VLAN || v.State != "up" {
			t.Errorf("uplink add %s shows VLAN %d, state %s; want %d, up", u.Name, v.VLAN, v.State, u.VLAN)
		}
	}
	for _, tc := range []struct {
		req  api.UplinkAdd
		want string
	}{
		{api.UplinkAdd{Name: "x", Dev: "up0", Netns: ns, IP: "10.3.0.15/24", VLAN: 100}, "VLAN 100 on up0 is uplink u100's already"},
		{api.UplinkAdd{Name: "x", Dev: "up0", Netns: ns, IP: "10.3.0.15/24"}, "an untagged uplink cannot share it"},
		{api.UplinkAdd{Name: "x", Dev: "up0", Netns: ns, IP: "10.3.0.15/24", VLAN: 4095}, "bad --vlan 4095: a VLAN id is 1 to 4094"},
	} {
		_, err := d.AddUplink(tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("uplink add %+v: %v; want one line with %q", tc.req, err, tc.want)
		}
	}
	if _, err := d.AttachPort(api.PortAttach{Dev: "up0", Netns: ns, Trunk: true}); err == nil || !strings.Contains(err.Error(), "cannot share an uplink's interface") {
		t.Errorf("a trunk port on the VLAN uplinks' device: %v; want refused", err)
	}
	shared := func(d *Daemon) {
		t.Helper()
		d.mu.Lock()
		defer d.mu.Unlock()
		a, b := d.uplinks["u100"], d.uplinks["u200"]
		if a.trunk == nil || a.trunk != b.trunk {
			t.Fatalf("uplinks u100 and u200 do not share one trunk: %p %p", a.trunk, b.trunk)
		}
		members, native, err := d.dp.Trunk(a.trunk.idx)
		if err != nil || len(members) != 2 || members[100] != a.idx || members[200] != b.idx || native != 0 || a.idx == b.idx {
			t.Errorf("the uplink trunk has members %v (native %d, err %v); want 100 -> %d, 200 -> %d, no native", members, native, err, a.idx, b.idx)
		}
	}
	shared(d)
	d.Close()

	d2 := newTestDaemon(t, dir)
	ups := d2.Uplinks()
	if len(ups) != 2 || ups[0].VLAN != 100 || ups[1].VLAN != 200 || ups[0].State != "up" || ups[1].State != "up" {
		t.Fatalf("uplinks after a restart: %+v; want u100 (VLAN 100) and u200 (VLAN 200), up", ups)
	}
	shared(d2)
	if err := d2.RemoveUplink("u100"); err != nil {
		t.Fatal(err)
	}
	d2.mu.Lock()
	tr := d2.uplinks["u200"].trunk
	members, _, err := d2.dp.Trunk(tr.idx)
	d2.mu.Unlock()
	if err != nil || len(members) != 1 || members[200] == 0 {
		t.Errorf("with u100 removed the trunk has %v (%v); want VLAN 200 alone", members, err)
	}
	if err := d2.RemoveUplink("u200"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d2.dp.Trunk(tr.idx); err == nil {
		t.Error("with both VLAN uplinks removed the trunk is still in the dataplane")
	}
	if _, err := d2.AddUplink(api.UplinkAdd{Name: "plain", Dev: "up0", Netns: ns, IP: "10.3.0.15/24"}); err != nil {
		t.Errorf("an untagged uplink on the freed device: %v", err)
	}
}

// A VLAN a trunk port on the interface carries is refused for an uplink
// there, by name; another VLAN is refused too (one socket, one owner).
func TestVLANUplinkOnTrunkPortDevice(t *testing.T) {
	ns := vethNS(t, "vt")
	d := newTestDaemon(t, t.TempDir())
	if _, err := d.CreateNetwork(api.NetworkCreate{Name: "v10", Subnet: "10.10.0.0/24", VLAN: 10}); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	nsPath, _ := netns.Path(ns)
	d.st.Ports = append(d.st.Ports, PortState{Name: "tr", Kind: "afpacket", Netns: ns, NetnsPath: nsPath, Ifname: "t0", Trunk: true, VLANs: "10"})
	d.mu.Unlock()
	for _, tc := range []struct {
		vlan int
		want string
	}{{10, "VLAN 10 on t0 is carried by trunk port tr already"}, {20, "is trunk port tr: a VLAN uplink cannot share"}} {
		_, err := d.AddUplink(api.UplinkAdd{Name: "x", Dev: "t0", Netns: ns, IP: "10.3.0.15/24", VLAN: tc.vlan})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("uplink add --vlan %d on the trunk port's interface: %v; want one line with %q", tc.vlan, err, tc.want)
		}
	}
}
