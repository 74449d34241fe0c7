package daemon

import (
	"os"
	"path/filepath"
	"slices"
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

// --vlans: ids and ranges, in order and each once; anything else is
// refused in one line that says what is wrong.
func TestParseVLANList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []uint16
	}{
		{"10", []uint16{10}},
		{"10,20,30-33", []uint16{10, 20, 30, 31, 32, 33}},
		{"30-32, 10 ,31", []uint16{10, 30, 31, 32}},
		{"1,4094", []uint16{1, 4094}},
		{"7-7", []uint16{7}},
	} {
		got, err := ParseVLANList(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseVLANList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if all, err := ParseVLANList("1-4094"); err != nil || len(all) != 4094 {
		t.Errorf("ParseVLANList(1-4094): %d ids, %v; want 4094", len(all), err)
	}
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"  ", "empty"},
		{"10,,20", "empty item"},
		{"10,", "empty item"},
		{"0", "out of range: 1 to 4094"},
		{"4095", "out of range: 1 to 4094"},
		{"10-5000", "out of range"},
		{"20-10", "runs backwards"},
		{"ten", `"ten" is not a VLAN id`},
		{"10-", `"" is not a VLAN id`},
		{"-10", `"" is not a VLAN id`},
		{"1-2-3", `"2-3" is not a VLAN id`},
		{"+10", `"+10" is not a VLAN id`},
		{"10;20", `"10;20" is not a VLAN id`},
		{"99999", `"99999" is not a VLAN id`},
	} {
		got, err := ParseVLANList(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseVLANList(%q) = %v, %v; want one line with %q", tc.in, got, err, tc.want)
		}
	}
}

// port attach --trunk refuses a bad request in one line before it opens
// anything.
func TestAttachTrunkRefused(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	if _, err := d.CreateNetwork(api.NetworkCreate{Name: "v10", Subnet: "10.10.0.0/24", VLAN: 10}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		req  api.PortAttach
		want string
	}{
		{api.PortAttach{Dev: "x0", VLANs: "10"}, "add --trunk"},
		{api.PortAttach{Dev: "x0", Native: 10}, "add --trunk"},
		{api.PortAttach{Dev: "x0", Trunk: true, Network: "v10"}, "drop NETWORK"},
		{api.PortAttach{Trunk: true}, "pass --dev IF"},
		{api.PortAttach{Dev: "x0", Trunk: true, Kind: "xdp"}, "drop --kind xdp"},
		{api.PortAttach{Dev: "x0", Trunk: true, VLANs: "10,x"}, `bad --vlans "10,x": "x" is not a VLAN id`},
		{api.PortAttach{Dev: "x0", Trunk: true, Native: 4095}, "bad --native 4095"},
		{api.PortAttach{Dev: "x0", Trunk: true, VLANs: "10,20", Native: 30}, "native VLAN 30 is not in --vlans 10,20"},
		{api.PortAttach{Dev: "x0"}, "no network given"},
	} {
		_, err := d.AttachPort(tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("AttachPort(%+v): %v; want one line with %q", tc.req, err, tc.want)
		}
	}
	if ps, _ := d.Ports(""); len(ps) != 0 {
		t.Errorf("refused attaches left ports: %+v", ps)
	}
}

// A trunk is kept in the state by its VLAN list, not its networks: after a
// restart (its device gone: the port is down) it shows the VLAN networks
// of its list that exist, in port ls and in their network inspect, and a
// network made later with a VLAN of the list joins it; one outside the list
// does not.
func TestTrunkState(t *testing.T) {
	dir := t.TempDir()
	d := newTestDaemon(t, dir)
	for _, n := range []api.NetworkCreate{
		{Name: "v20", Subnet: "10.20.0.0/24", VLAN: 20},
		{Name: "v10", Subnet: "10.10.0.0/24", VLAN: 10},
		{Name: "plain", Subnet: "10.99.0.0/24"},
	} {
		if _, err := d.CreateNetwork(n); err != nil {
			t.Fatal(err)
		}
	}
	d.mu.Lock()
	d.st.Ports = append(d.st.Ports, PortState{Name: "tr", Kind: "afpacket", Netns: "gone", NetnsPath: "/nonexistent/ns",
		Ifname: "t0", Trunk: true, VLANs: "10,20,30", Native: 10})
	err := d.st.save(dir)
	d.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	d.Close()

	d2 := newTestDaemon(t, dir)
	trunkOf := func(network string) *api.TrunkInfo {
		t.Helper()
		ps, err := d2.Ports(network)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Name == "tr" {
				return p.Trunk
			}
		}
		return nil
	}
	tr := trunkOf("")
	if tr == nil || !slices.Equal(tr.Carried, []int{10, 20}) || !slices.Equal(tr.Networks, []string{"v10", "v20"}) ||
		tr.VLANs != "10,20,30" || tr.Native != 10 {
		t.Fatalf("after a restart port ls shows the trunk as %+v, want VLANs 10 (v10) and 20 (v20) of 10,20,30, native 10", tr)
	}
	if trunkOf("v20") == nil || trunkOf("plain") != nil {
		t.Error("port ls --network: the trunk should be listed on v20 (it carries it), not on plain")
	}
	n, _ := d2.Network("v10")
	if !slices.ContainsFunc(n.Ports, func(p api.Port) bool { return p.Name == "tr" && p.State == "down" }) {
		t.Errorf("network inspect v10 does not list the trunk (down): %+v", n.Ports)
	}
	for _, nc := range []api.NetworkCreate{{Name: "v30", Subnet: "10.30.0.0/24", VLAN: 30}, {Name: "v40", Subnet: "10.40.0.0/24", VLAN: 40}} {
		if _, err := d2.CreateNetwork(nc); err != nil {
			t.Fatal(err)
		}
	}
	if tr := trunkOf(""); !slices.Equal(tr.Carried, []int{10, 20, 30}) {
		t.Errorf("with v30 and v40 made, the trunk of 10,20,30 carries %v, want 10,20,30", tr.Carried)
	}
	if err := d2.RemoveNetwork("v20", false); err != nil {
		t.Fatalf("network rm v20, which only the trunk carries: %v", err)
	}
	if tr := trunkOf(""); !slices.Equal(tr.Carried, []int{10, 30}) {
		t.Errorf("with v20 gone the trunk carries %v, want 10,30", tr.Carried)
	}
}

// A trunk in the config file: its keys are read, and a mistake in them is
// refused with its line before anything is made.
func TestTrunkConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("networks:\n  - name: v10\n    subnet: 10.10.0.0/24\n    vlan: 10\nattach:\n  - dev: t0\n    trunk: true\n    vlans: 10,20-30\n    native: 10\n")
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Attach[0]; !a.Trunk || a.VLANs != "10,20-30" || a.Native != 10 {
		t.Errorf("attach[0] read as %+v, want trunk, vlans 10,20-30, native 10", a)
	}
	for _, tc := range []struct{ attach, want string }{
		{"  - dev: t0\n    trunk: true\n    vlans: 10,x\n", `line 8: attach[0].vlans: bad vlans "10,x": "x" is not a VLAN id`},
		{"  - dev: t0\n    trunk: true\n    vlans: \"10\"\n    native: 20\n", "line 9: attach[0].native: native VLAN 20 is not in vlans 10"},
		{"  - dev: t0\n    network: v10\n    vlans: \"10\"\n", "line 8: attach[0].vlans: vlans is for a trunk: add trunk: true"},
		{"  - dev: t0\n    network: v10\n    trunk: true\n", "line 7: attach[0].network: a trunk carries the networks of its VLANs"},
	} {
		write("networks:\n  - name: v10\n    subnet: 10.10.0.0/24\n    vlan: 10\nattach:\n" + tc.attach)
		_, err := LoadConfig(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("config with attach\n%s: %v; want one line with %q", tc.attach, err, tc.want)
		}
	}
}
