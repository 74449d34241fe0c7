package daemon

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testdata/state-v1.json was written by vswitchd at 3dd889f (version 1):
// two connected networks, a port with an alias, a static FDB entry, a
// route, a published port and an ACL rule.
func copyV1State(t *testing.T) (dir string, raw []byte) {
	t.Helper()
	raw, err := os.ReadFile("testdata/state-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stateFile), raw, 0o640); err != nil {
		t.Fatal(err)
	}
	return dir, raw
}

// testdata/state-v2.json was written by vswitchd at 0feee2c (version 2): a
// dual-stack network, a VLAN network, a port with an IPv6 address and an
// ingress rate. Version 3 reads it with nothing lost, and the next save
// writes version 3.
func TestStateV2Migrated(t *testing.T) {
	raw, err := os.ReadFile("testdata/state-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stateFile), raw, 0o640); err != nil {
		t.Fatal(err)
	}
	st, existed, from, _, err := loadState(dir)
	if err != nil || !existed || from != 2 || st.Version != 3 {
		t.Fatalf("loadState = existed %v, from %d, version %d, %v; want the version 2 file read as version 3", existed, from, st.Version, err)
	}
	n := st.Networks
	if len(n) != 2 || n[0].Subnet6 != netip.MustParsePrefix("fd00:90::/64") || n[0].Gateway6 != netip.MustParseAddr("fd00:90::1") || n[1].VLAN != 10 {
		t.Errorf("networks = %+v", n)
	}
	p := st.Ports
	if len(p) != 1 || p[0].IP6 != netip.MustParsePrefix("fd00:90::2/64") || p[0].IngressRateMbit != 100 || p[0].IP != netip.MustParsePrefix("10.90.0.2/24") {
		t.Errorf("ports = %+v", p)
	}
	if err := st.save(dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, stateFile))
	if !bytes.Contains(b, []byte(`"version": 3`)) {
		t.Errorf("saved state is not version 3:\n%s", b)
	}
}

func TestStateV1Migrated(t *testing.T) {
	dir, raw := copyV1State(t)
	var v1 map[string]any
	if err := json.Unmarshal(raw, &v1); err != nil || v1["version"] != 1.0 {
		t.Fatalf("testdata is not a version 1 file: %v %v", v1["version"], err)
	}
	st, existed, from, got, err := loadState(dir)
	if err != nil || !existed || from != 1 || !bytes.Equal(got, raw) {
		t.Fatalf("loadState = existed %v, from %d, %v; want the version 1 file migrated", existed, from, err)
	}
	if st.Version != stateVersion || stateVersion != 3 {
		t.Fatalf("migrated version %d, want 3", st.Version)
	}
	// Nothing of version 1 is lost on the way.
	if len(st.Networks) != 2 || st.Networks[0].Name != "web" || st.Networks[1].MTU != 1400 || st.Networks[1].ICC ||
		st.Networks[0].FDBAging != 60 || st.Networks[1].ACLDefault != "deny" || st.Networks[0].GatewayMAC != "42:0a:29:e2:a1:aa" {
		t.Errorf("networks = %+v", st.Networks)
	}
	if !reflect.DeepEqual(st.Networks[0].Connected, []string{"back"}) {
		t.Errorf("web connected to %v, want [back]", st.Networks[0].Connected)
	}
	p := st.Ports
	if len(p) != 1 || p[0].Name != "vst-rlv1-c1" || p[0].NetnsPath != "/run/netns/vst-rlv1-c1" || p[0].IP != netip.MustParsePrefix("10.10.0.10/24") ||
		p[0].MAC != "02:42:0a:0a:00:0a" || !reflect.DeepEqual(p[0].Aliases, []string{"www"}) || !p[0].ResolvConf {
		t.Errorf("ports = %+v", p)
	}
	if len(st.StaticFDB) != 1 || len(st.Routes) != 1 || st.Routes[0].Via != netip.MustParseAddr("10.10.0.10") {
		t.Errorf("static fdb %+v, routes %+v", st.StaticFDB, st.Routes)
	}
	if len(st.Publish) != 1 || st.Publish[0].HostPort != 8000 || len(st.ACLs) != 1 || st.ACLs[0].DPortMin != 5432 ||
		st.LastPublishID != 1 || st.LastACLID != 1 {
		t.Errorf("publish %+v, acls %+v, last ids %d %d", st.Publish, st.ACLs, st.LastPublishID, st.LastACLID)
	}
	if st.Config != nil {
		t.Errorf("a version 1 file recorded no config, got %+v", st.Config)
	}
}

// A version 1 network without acl_default (files from before ACLs) says
// allow once migrated.
func TestStateV1EmptyACLDefault(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"version":1,"networks":[{"name":"a","subnet":"10.1.0.0/24","gateway":"10.1.0.1","gateway_mac":"02:00:00:00:00:01","icc":true,"mtu":1500}]}`), 0o640)
	st, _, from, _, err := loadState(dir)
	if err != nil || from != 1 || st.Networks[0].ACLDefault != "allow" {
		t.Fatalf("loadState = %+v, from %d, %v; want acl_default allow", st, from, err)
	}
}

// New on a version 1 state dir: the daemon starts with everything of the
// file, writes version 2, and keeps the version 1 file beside it.
func TestNewMigratesV1StateDir(t *testing.T) {
	dir, raw := copyV1State(t)
	d := newTestDaemon(t, dir)
	if n, err := d.Network("back"); err != nil || n.MTU != 1400 || n.ICC || n.Masquerade || n.ACLDefault != "deny" {
		t.Fatalf("network back after the upgrade = %+v, %v", n, err)
	}
	if _, err := d.Network("bridge"); err == nil {
		t.Errorf("an upgrade added the default network: the state dir was not new")
	}
	ps, _ := d.Ports("")
	if len(ps) != 1 || ps[0].Name != "vst-rlv1-c1" || ps[0].IP != "10.10.0.10/24" {
		t.Errorf("ports after the upgrade = %+v", ps)
	}
	if len(d.Publishes()) != 1 {
		t.Errorf("publish rules after the upgrade = %+v", d.Publishes())
	}
	now, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	var head struct{ Version int }
	if json.Unmarshal(now, &head); head.Version != stateVersion {
		t.Errorf("state file version after New = %d, want %d", head.Version, stateVersion)
	}
	kept, err := os.ReadFile(filepath.Join(dir, "state.json.v1"))
	if err != nil || !bytes.Equal(kept, raw) {
		t.Errorf("state.json.v1 = %d bytes, %v; want the version 1 file as it was", len(kept), err)
	}
	// A second start finds the current version: nothing to migrate, the copy stays.
	d.Close()
	st, _, from, _, err := loadState(dir)
	if err != nil || from != 0 || st.Version != stateVersion {
		t.Errorf("second load: from %d, version %d, %v", from, st.Version, err)
	}
}

// A state file of a version this vswitchd does not know is refused with
// what to do, and left exactly as it was.
func TestNewerStateRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFile)
	raw := []byte(`{"version": 7, "networks": [], "frobs": {"x": 1}}` + "\n")
	os.WriteFile(path, raw, 0o640)
	before, _ := os.Stat(path)
	_, err := New(Options{StateDir: dir, Workers: 1})
	want := "state file " + path + " is version 7, this vswitchd knows up to 3: upgrade vswitchd or move the state dir"
	if err == nil || err.Error() != want {
		t.Fatalf("New on a version 7 file = %v, want %q", err, want)
	}
	after, _ := os.Stat(path)
	now, _ := os.ReadFile(path)
	if !bytes.Equal(now, raw) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the version 7 file was touched: %q", now)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("state dir holds %s, want only state.json", strings.Join(names, ", "))
	}
}
