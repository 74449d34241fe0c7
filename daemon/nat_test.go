package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"vswitch/api"
	"vswitch/header"
	"vswitch/nat"
)

// wantErr checks an error's status and that it says what it should, on
// one line.
func wantErr(t *testing.T, what string, err error, status int, says ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status != status {
		t.Errorf("%s = %v, want status %d", what, err, status)
		return
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s = %q, want it to say %q", what, err, s)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("%s: error is not one line: %q", what, err)
	}
}

func mustPublish(t *testing.T, d *Daemon, req api.PublishAdd) api.Publish {
	t.Helper()
	p, err := d.AddPublish(req)
	if err != nil {
		t.Fatalf("AddPublish(%+v): %v", req, err)
	}
	return p
}

func mustNetwork(t *testing.T, d *Daemon, req api.NetworkCreate) {
	t.Helper()
	if _, err := d.CreateNetwork(req); err != nil {
		t.Fatalf("CreateNetwork(%+v): %v", req, err)
	}
}

func TestPublishValidation(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	mustNetwork(t, d, api.NetworkCreate{Name: "priv", Subnet: "10.20.0.0/24", Internal: true})
	mustNetwork(t, d, api.NetworkCreate{Name: "web", Subnet: "10.10.0.0/24"})
	// An uplink's address counts as vswitchd's own; set in the state
	// alone, as the check reads it, since opening one needs an interface.
	d.st.Uplinks = append(d.st.Uplinks, UplinkState{Name: "up", IP: netip.MustParsePrefix("10.0.12.15/24")})

	p := mustPublish(t, d, api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "8000", To: "172.17.0.101:8080"})
	if want := (api.Publish{ID: 1, Network: "bridge", Proto: "tcp", HostIP: "0.0.0.0", HostPort: 8000, To: "172.17.0.101:8080"}); p != want {
		t.Fatalf("publish = %+v, want %+v", p, want)
	}
	ok := func(proto, port, to string) api.Publish {
		return mustPublish(t, d, api.PublishAdd{Network: "bridge", Proto: proto, Port: port, To: to})
	}
	ok("udp", "8000", "172.17.0.101:8080")                // another protocol
	up := ok("tcp", "10.0.12.15:8001", "172.17.0.102:80") // on the uplink only
	gw := ok("tcp", "10.10.0.1:8002", "172.17.0.103:80")  // on another network's gateway
	same := ok("tcp", "0.0.0.0:8003", "172.17.0.103:80")  // 0.0.0.0 is every address
	if up.HostIP != "10.0.12.15" || gw.HostIP != "10.10.0.1" || same.HostIP != "0.0.0.0" {
		t.Fatalf("host addresses: %+v %+v %+v", up, gw, same)
	}

	for _, c := range []struct {
		req    api.PublishAdd
		status int
		says   []string
	}{
		{api.PublishAdd{Network: "nope", Proto: "tcp", Port: "80", To: "172.17.0.2:80"}, 404, []string{"no network nope"}},
		{api.PublishAdd{Network: "priv", Proto: "tcp", Port: "80", To: "10.20.0.2:80"}, 409,
			[]string{"network priv is internal: it has no way in or out; published ports need a network without --internal"}},
		{api.PublishAdd{Network: "bridge", Proto: "icmp", Port: "80", To: "172.17.0.2:80"}, 400, []string{"bad --proto", "tcp or udp"}},
		{api.PublishAdd{Network: "bridge", Proto: "", Port: "80", To: "172.17.0.2:80"}, 400, []string{"bad --proto"}},
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "0", To: "172.17.0.2:80"}, 400, []string{"bad --port", "1 to 65535"}},
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "65536", To: "172.17.0.2:80"}, 400, []string{"bad --port"}},
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "http", To: "172.17.0.2:80"}, 400, []string{"bad --port"}},
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "10.0.12.15:", To: "172.17.0.2:80"}, 400, []string{"bad --port"}},
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "[::1]:80", To: "172.17.0.2:80"}, 400, []string{"bad --port"}},
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "10.9.9.9:80", To: "172.17.0.2:80"}, 400,
			[]string{"10.9.9.9 is not an address of vswitchd", "10.0.12.15 (uplink up)", "172.17.0.1 (gateway of bridge)", "10.10.0.1 (gateway of web)"}},
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "10.20.0.1:80", To: "172.17.0.2:80"}, 400,
			[]string{"10.20.0.1 is not an address of vswitchd"}}, // an internal network's gateway: no way in
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "80", To: "10.10.0.5:80"}, 400, []string{"not a host of network bridge (172.17.0.0/16)"}},
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "80", To: "172.17.255.255:80"}, 400, []string{"not a host of network bridge"}},
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "80", To: "172.17.0.1:80"}, 400, []string{"gateway of network bridge"}},
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "80", To: "172.17.0.2"}, 400, []string{"bad --to"}},
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "80", To: "172.17.0.2:0"}, 400, []string{"bad --to"}},
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "80", To: "172.17.0.2:99999"}, 400, []string{"bad --to"}},
		// Overlapping host addresses: the same address, or every address
		// on either side.
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "8000", To: "172.17.0.9:80"}, 409,
			[]string{"tcp port 8000 is already published on 0.0.0.0 by rule 1 (to 172.17.0.101:8080)", "'publish rm 1'"}},
		{api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "172.17.0.1:8000", To: "172.17.0.9:80"}, 409, []string{"by rule 1"}},
		{api.PublishAdd{Network: "web", Proto: "tcp", Port: "8001", To: "10.10.0.9:80"}, 409,
			[]string{"published on 10.0.12.15 by rule 3"}},
		{api.PublishAdd{Network: "web", Proto: "tcp", Port: "10.0.12.15:8001", To: "10.10.0.9:80"}, 409, []string{"by rule 3"}},
	} {
		_, err := d.AddPublish(c.req)
		wantErr(t, "AddPublish("+c.req.Proto+" "+c.req.Port+" -> "+c.req.To+")", err, c.status, c.says...)
	}
	// Another address than a rule's own is free.
	ok("tcp", "172.17.0.1:8001", "172.17.0.104:80")

	if got := len(d.Publishes()); got != 6 {
		t.Fatalf("%d rules after bad input, want 6", got)
	}
	wantErr(t, "RemovePublish(x)", d.RemovePublish("x"), 400, "bad rule ID")
	wantErr(t, "RemovePublish(99)", d.RemovePublish("99"), 404, "no publish rule 99")
	if err := d.RemovePublish("6"); err != nil {
		t.Fatal(err)
	}
	// IDs are never given twice, not even the last one after its removal.
	if p := ok("tcp", "9000", "172.17.0.5:90"); p.ID != 7 {
		t.Fatalf("new rule after removing 6 got ID %d, want 7", p.ID)
	}
	var ids []int
	for _, p := range d.Publishes() {
		ids = append(ids, p.ID)
	}
	if !reflect.DeepEqual(ids, []int{1, 2, 3, 4, 5, 7}) {
		t.Fatalf("publish ls IDs = %v", ids)
	}
}

func TestPublishGoesWithItsNetwork(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	mustNetwork(t, d, api.NetworkCreate{Name: "web", Subnet: "10.10.0.0/24"})
	mustNetwork(t, d, api.NetworkCreate{Name: "db", Subnet: "10.30.0.0/24"})
	into := mustPublish(t, d, api.PublishAdd{Network: "web", Proto: "tcp", Port: "80", To: "10.10.0.2:80"})
	onGW := mustPublish(t, d, api.PublishAdd{Network: "db", Proto: "tcp", Port: "10.10.0.1:5432", To: "10.30.0.2:5432"})
	other := mustPublish(t, d, api.PublishAdd{Network: "db", Proto: "udp", Port: "53", To: "10.30.0.2:53"})

	wantErr(t, "RemoveNetwork(web)", d.RemoveNetwork("web", false), 409, "network web has published ports (rule(s) [1 2])", "--force")
	if len(d.Publishes()) != 3 {
		t.Fatal("a refused network rm removed publish rules")
	}
	if err := d.RemoveNetwork("web", true); err != nil {
		t.Fatal(err)
	}
	got := d.Publishes()
	if len(got) != 1 || got[0].ID != other.ID {
		t.Fatalf("after network rm --force web: %+v, want only rule %d (rules %d and %d went with web)", got, other.ID, into.ID, onGW.ID)
	}
}

func TestACLValidation(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	mustNetwork(t, d, api.NetworkCreate{Name: "web", Subnet: "10.10.0.0/24"})
	r, err := d.AddACL(api.ACLAdd{Network: "bridge", Action: "deny", Src: "10.1.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (api.ACLRule{ID: 1, Network: "bridge", Action: "deny", Src: "10.1.0.0/16", Priority: DefaultACLPriority}); r != want {
		t.Fatalf("rule = %+v, want %+v", r, want)
	}
	r, err = d.AddACL(api.ACLAdd{Network: "bridge", Action: "allow", Src: "10.1.2.3", Dst: "172.17.0.0/24", Proto: "tcp", DPort: "8000-8100", Priority: ptr(10)})
	if err != nil {
		t.Fatal(err)
	}
	if want := (api.ACLRule{ID: 2, Network: "bridge", Action: "allow", Src: "10.1.2.3/32", Dst: "172.17.0.0/24", Proto: "tcp", DPort: "8000-8100", Priority: 10}); r != want {
		t.Fatalf("rule = %+v, want %+v", r, want)
	}
	if r, err = d.AddACL(api.ACLAdd{Network: "web", Action: "allow", Proto: "udp", DPort: "53", Priority: ptr(0)}); err != nil || r.DPort != "53" || r.Priority != 0 {
		t.Fatalf("rule = %+v, %v", r, err)
	}
	if _, err = d.AddACL(api.ACLAdd{Network: "web", Action: "deny", Proto: "icmp"}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		req    api.ACLAdd
		status int
		says   []string
	}{
		{api.ACLAdd{Network: "nope", Action: "deny"}, 404, []string{"no network nope"}},
		{api.ACLAdd{Network: "bridge", Action: "drop"}, 400, []string{"bad --action \"drop\": want allow or deny"}},
		{api.ACLAdd{Network: "bridge"}, 400, []string{"bad --action"}},
		{api.ACLAdd{Network: "bridge", Action: "deny", Src: "10.1.0.5/16"}, 400, []string{"--src 10.1.0.5/16 has host bits set: did you mean 10.1.0.0/16?"}},
		{api.ACLAdd{Network: "bridge", Action: "deny", Src: "ten"}, 400, []string{"bad --src"}},
		{api.ACLAdd{Network: "bridge", Action: "deny", Src: "10.0.0.0/8", Dst: "fd00::/64"}, 400, []string{"could never match", "different families"}},
		{api.ACLAdd{Network: "bridge", Action: "deny", Proto: "sctp"}, 400, []string{"bad --proto \"sctp\": want tcp, udp, icmp or icmpv6"}},
		{api.ACLAdd{Network: "bridge", Action: "deny", DPort: "22"}, 400, []string{"--dport 22 needs --proto tcp or udp"}},
		{api.ACLAdd{Network: "bridge", Action: "deny", Proto: "icmp", DPort: "22"}, 400, []string{"needs --proto tcp or udp"}},
		{api.ACLAdd{Network: "bridge", Action: "deny", Proto: "tcp", DPort: "0"}, 400, []string{"bad --dport"}},
		{api.ACLAdd{Network: "bridge", Action: "deny", Proto: "tcp", DPort: "90-80"}, 400, []string{"bad --dport", "N <= M"}},
		{api.ACLAdd{Network: "bridge", Action: "deny", Proto: "tcp", DPort: "70000"}, 400, []string{"bad --dport"}},
		{api.ACLAdd{Network: "bridge", Action: "deny", Proto: "tcp", DPort: "a-b"}, 400, []string{"bad --dport"}},
		{api.ACLAdd{Network: "bridge", Action: "deny", Proto: "tcp", DPort: "80-"}, 400, []string{"bad --dport"}},
		{api.ACLAdd{Network: "bridge", Action: "deny", Priority: ptr(-1)}, 400, []string{"bad --priority -1"}},
		{api.ACLAdd{Network: "bridge", Action: "deny", Priority: ptr(65536)}, 400, []string{"bad --priority"}},
		// The same match at the same priority: the second could never decide.
		{api.ACLAdd{Network: "bridge", Action: "allow", Src: "10.1.0.0/16"}, 409, []string{"rule 1 of network bridge", "'acl rm 1'"}},
	} {
		_, err := d.AddACL(c.req)
		wantErr(t, "AddACL("+c.req.Network+" "+c.req.Action+" "+c.req.Proto+" "+c.req.DPort+")", err, c.status, c.says...)
	}
	// The same match at another priority is another rule.
	if _, err := d.AddACL(api.ACLAdd{Network: "bridge", Action: "allow", Src: "10.1.0.0/16", Priority: ptr(200)}); err != nil {
		t.Fatal(err)
	}

	ids := func(network string) []int {
		rules, err := d.ACLs(network)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int
		for _, r := range rules {
			ids = append(ids, r.ID)
		}
		return ids
	}
	// The order they are tried in: network, priority, ID.
	if got := ids(""); !reflect.DeepEqual(got, []int{2, 1, 5, 3, 4}) {
		t.Fatalf("acl ls = %v, want [2 1 5 3 4]", got)
	}
	if got := ids("web"); !reflect.DeepEqual(got, []int{3, 4}) {
		t.Fatalf("acl ls web = %v", got)
	}
	_, err = d.ACLs("nope")
	wantErr(t, "ACLs(nope)", err, 404, "no network nope")

	wantErr(t, "RemoveACL(one)", d.RemoveACL("one"), 400, "bad rule ID")
	wantErr(t, "RemoveACL(42)", d.RemoveACL("42"), 404, "no ACL rule 42")
	if err := d.RemoveACL("5"); err != nil {
		t.Fatal(err)
	}
	if r, err := d.AddACL(api.ACLAdd{Network: "web", Action: "deny", Proto: "tcp"}); err != nil || r.ID != 6 {
		t.Fatalf("rule after removing 5 = %+v, %v; want ID 6", r, err)
	}
	// A network's rules go with it (no --force needed: they are part of
	// the network, as its options are).
	if err := d.RemoveNetwork("web", false); err != nil {
		t.Fatal(err)
	}
	if got := ids(""); !reflect.DeepEqual(got, []int{2, 1}) {
		t.Fatalf("acl ls after network rm web = %v", got)
	}
}

func TestACLDefault(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	_, err := d.CreateNetwork(api.NetworkCreate{Name: "x", Subnet: "10.9.0.0/24", ACLDefault: "reject"})
	wantErr(t, "CreateNetwork(--acl-default reject)", err, 400, "bad --acl-default \"reject\": want allow or deny")
	mustNetwork(t, d, api.NetworkCreate{Name: "closed", Subnet: "10.9.0.0/24", ACLDefault: "deny"})
	mustNetwork(t, d, api.NetworkCreate{Name: "open", Subnet: "10.8.0.0/24", ACLDefault: "allow"})
	for name, want := range map[string]string{"closed": "deny", "open": "allow", "bridge": "allow"} {
		if n, _ := d.Network(name); n.ACLDefault != want {
			t.Errorf("network %s: acl_default %q, want %q", name, n.ACLDefault, want)
		}
	}
}

// TestNATStatePersists restarts the daemon: published ports, ACL rules and
// default actions come back with their IDs, and new IDs follow the old.
func TestNATStatePersists(t *testing.T) {
	dir := t.TempDir()
	d := newTestDaemon(t, dir)
	mustNetwork(t, d, api.NetworkCreate{Name: "closed", Subnet: "10.9.0.0/24", ACLDefault: "deny"})
	mustPublish(t, d, api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "8000", To: "172.17.0.101:8080"})
	mustPublish(t, d, api.PublishAdd{Network: "closed", Proto: "udp", Port: "172.17.0.1:5353", To: "10.9.0.5:53"})
	mustPublish(t, d, api.PublishAdd{Network: "bridge", Proto: "udp", Port: "9", To: "172.17.0.9:9"})
	if err := d.RemovePublish("3"); err != nil {
		t.Fatal(err)
	}
	for _, req := range []api.ACLAdd{
		{Network: "closed", Action: "allow", Proto: "tcp", DPort: "80", Priority: ptr(10)},
		{Network: "bridge", Action: "deny", Src: "172.17.0.0/24", Dst: "172.17.1.0/24"},
	} {
		if _, err := d.AddACL(req); err != nil {
			t.Fatal(err)
		}
	}
	pubs, acls := d.Publishes(), mustACLs(t, d)
	d.Close()

	d2 := newTestDaemon(t, dir)
	if got := d2.Publishes(); !reflect.DeepEqual(got, pubs) {
		t.Errorf("publish after restart = %+v\nbefore %+v", got, pubs)
	}
	if got := mustACLs(t, d2); !reflect.DeepEqual(got, acls) {
		t.Errorf("acls after restart = %+v\nbefore %+v", got, acls)
	}
	if n, _ := d2.Network("closed"); n.ACLDefault != "deny" {
		t.Errorf("acl_default after restart = %q, want deny", n.ACLDefault)
	}
	p := mustPublish(t, d2, api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "8080", To: "172.17.0.101:8080"})
	r, err := d2.AddACL(api.ACLAdd{Network: "bridge", Action: "allow", Proto: "icmp"})
	if err != nil || p.ID != 4 || r.ID != 3 {
		t.Errorf("IDs after restart: publish %d (want 4), acl %d (want 3), %v", p.ID, r.ID, err)
	}
}

func mustACLs(t *testing.T, d *Daemon) []api.ACLRule {
	t.Helper()
	rules, err := d.ACLs("")
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// TestStateFromBeforeNAT loads a state file written before published ports
// and ACLs existed: it still loads, networks default to allow, IDs start
// at 1.
func TestStateFromBeforeNAT(t *testing.T) {
	dir := t.TempDir()
	old := `{
  "version": 1,
  "networks": [
    {"name": "bridge", "subnet": "172.17.0.0/16", "gateway": "172.17.0.1", "gateway_mac": "02:11:22:33:44:55",
     "internal": false, "icc": true, "masquerade": true, "mtu": 1500, "fdb_aging_s": 300, "mac_limit": 1024}
  ],
  "ports": []
}
`
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newTestDaemon(t, dir)
	n, err := d.Network("bridge")
	if err != nil || n.ACLDefault != "allow" || n.GatewayMAC != "02:11:22:33:44:55" {
		t.Fatalf("network = %+v, %v", n, err)
	}
	if len(d.Publishes()) != 0 || len(mustACLs(t, d)) != 0 {
		t.Fatal("rules out of nowhere")
	}
	if p := mustPublish(t, d, api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "80", To: "172.17.0.2:80"}); p.ID != 1 {
		t.Fatalf("first ID = %d", p.ID)
	}
}

// TestHandEditedStateKeepsIDsUnique: a state whose counter is behind its
// rules (edited by hand) still never hands out an ID in use.
func TestHandEditedStateKeepsIDsUnique(t *testing.T) {
	dir := t.TempDir()
	st := `{"version": 1, "networks": [{"name": "bridge", "subnet": "172.17.0.0/16", "gateway": "172.17.0.1",
	"gateway_mac": "02:11:22:33:44:55", "icc": true, "masquerade": true, "mtu": 1500, "fdb_aging_s": 300, "mac_limit": 1024}],
	"ports": [], "publish": [{"id": 7, "network": "bridge", "proto": "tcp", "host_port": 80, "to": "172.17.0.2:80"}],
	"acls": [{"id": 4, "network": "bridge", "action": "deny", "priority": 100}]}`
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(st), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newTestDaemon(t, dir)
	if p := mustPublish(t, d, api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "81", To: "172.17.0.2:80"}); p.ID != 8 {
		t.Fatalf("publish ID = %d, want 8", p.ID)
	}
	if r, err := d.AddACL(api.ACLAdd{Network: "bridge", Action: "allow", Proto: "tcp"}); err != nil || r.ID != 5 {
		t.Fatalf("acl = %+v, %v; want ID 5", r, err)
	}
}

func TestConntrackBadProto(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	_, err := d.Conntrack("sctp")
	wantErr(t, "Conntrack(sctp)", err, 400, "bad --proto \"sctp\"")
	for _, p := range []string{"", "tcp", "udp", "icmp"} {
		if got, err := d.Conntrack(p); err != nil || got == nil {
			t.Errorf("Conntrack(%q) = %v, %v; want an empty list", p, got, err)
		}
	}
}

func TestConfigNATSettings(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := LoadConfig(write("conntrack_max: 1000\nnat_ports: 40000-40100\n"))
	if err != nil || c.ConntrackMax != 1000 || c.NATPorts != "40000-40100" {
		t.Fatalf("config = %+v, %v", c, err)
	}
	for s, says := range map[string]string{
		"conntrack_max: -5\n":    "conntrack_max: bad connection table size -5",
		"nat_ports: 9-1\n":       "nat_ports: bad port range \"9-1\"",
		"nat_ports: 40000\n":     "nat_ports: bad port range",
		"conntrack_maxx: 1000\n": "unknown field",
	} {
		_, err := LoadConfig(write(s))
		if err == nil || !strings.Contains(err.Error(), says) || strings.Contains(err.Error(), "\n") {
			t.Errorf("config %q: %v, want one line saying %q", s, err, says)
		}
	}
}

func TestConntrackListAndFlush(t *testing.T) {
	d := newTestDaemon(t, t.TempDir())
	ct := d.dp.Conntrack()
	ct.Flush()
	t0 := time.Now()
	now := t0.UnixNano()
	d.opts.Now = func() time.Time { return t0.Add(500 * time.Millisecond) }
	a4 := func(s string) [4]byte { return netip.MustParseAddr(s).As4() }
	uplink := a4("10.0.12.15")
	flows := []struct {
		orig  nat.Tuple
		rw    nat.Rewrite
		flags uint8
	}{
		// Masqueraded TCP and UDP, a plain ICMP echo, a published port.
		{nat.Tuple{Src: a4("172.17.0.10"), Dst: a4("10.0.12.11"), SPort: 40000, DPort: 80, Proto: 6}, nat.Rewrite{SNAT: true, SrcAddr: uplink}, header.TCPFlagSYN},
		{nat.Tuple{Src: a4("172.17.0.9"), Dst: a4("10.0.12.11"), SPort: 5353, DPort: 53, Proto: 17}, nat.Rewrite{SNAT: true, SrcAddr: uplink}, 0},
		{nat.Tuple{Src: a4("172.17.0.10"), Dst: a4("172.17.0.2"), SPort: 7, DPort: 7, Proto: 1}, nat.Rewrite{}, 0},
		{nat.Tuple{Src: a4("10.0.12.11"), Dst: uplink, SPort: 51000, DPort: 8000, Proto: 6},
			nat.Rewrite{DNAT: true, DstAddr: a4("172.17.0.101"), DstPort: 8080}, header.TCPFlagSYN},
	}
	for _, f := range flows {
		if _, err := ct.Create(f.orig, f.rw, f.flags, now); err != nil {
			t.Fatalf("Create(%v): %v", f.orig, err)
		}
	}
	got, err := d.Conntrack("")
	if err != nil {
		t.Fatal(err)
	}
	tu := func(src, dst string, sp, dp int) api.ConntrackTuple {
		return api.ConntrackTuple{Src: src, Dst: dst, SPort: sp, DPort: dp}
	}
	// By protocol number, then original tuple; timeouts are Linux's
	// (SYN_SENT 120 s, UDP unreplied 30 s, ICMP 30 s), half a second later.
	want := []api.ConntrackEntry{
		{Proto: "icmp", Orig: tu("172.17.0.10", "172.17.0.2", 7, 7), Reply: tu("172.17.0.2", "172.17.0.10", 7, 7), State: "UNREPLIED", TimeoutS: 29},
		{Proto: "tcp", Orig: tu("10.0.12.11", "10.0.12.15", 51000, 8000), Reply: tu("172.17.0.101", "10.0.12.11", 8080, 51000), State: "SYN_SENT", TimeoutS: 119},
		{Proto: "tcp", Orig: tu("172.17.0.10", "10.0.12.11", 40000, 80), Reply: tu("10.0.12.11", "10.0.12.15", 80, 40000), State: "SYN_SENT", TimeoutS: 119},
		{Proto: "udp", Orig: tu("172.17.0.9", "10.0.12.11", 5353, 53), Reply: tu("10.0.12.11", "10.0.12.15", 53, 5353), State: "UNREPLIED", TimeoutS: 29},
	}
	if len(got) != len(want) {
		t.Fatalf("conntrack = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	tcp, err := d.Conntrack("tcp")
	if err != nil || len(tcp) != 2 || tcp[0].Proto != "tcp" || tcp[1].Proto != "tcp" {
		t.Errorf("conntrack --proto tcp = %+v, %v", tcp, err)
	}
	if f := d.FlushConntrack(); f.Flushed != 4 {
		t.Errorf("flushed %d, want 4", f.Flushed)
	}
	if got, _ := d.Conntrack(""); len(got) != 0 {
		t.Errorf("after flush: %+v", got)
	}
}

// The daemon's --conntrack-max reaches the table.
func TestConntrackMaxOption(t *testing.T) {
	d, err := New(Options{StateDir: t.TempDir(), Workers: 1, ConntrackMax: 1000, NATPortMin: 40000, NATPortMax: 40001,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := d.dp.Conntrack().Max(); got != 1000 {
		t.Fatalf("table max = %d, want 1000", got)
	}
}

// A config's published ports and ACL rules are created once: applying the
// same file at every start adds nothing the second time.
func TestConfigPublishAndACLs(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	yaml := `networks:
  - name: web
    subnet: 10.10.0.0/24
    acl_default: deny
publish:
  - network: web
    proto: tcp
    port: "8000"
    to: 10.10.0.2:80
acls:
  - network: web
    action: allow
    proto: tcp
    dport: "80"
    priority: 10
`
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	d := newTestDaemon(t, t.TempDir())
	for range 2 {
		if err := d.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	pubs, acls := d.Publishes(), mustACLs(t, d)
	if len(pubs) != 1 || pubs[0].To != "10.10.0.2:80" || len(acls) != 1 || acls[0].DPort != "80" || acls[0].Priority != 10 {
		t.Fatalf("after applying twice: publish %+v, acls %+v", pubs, acls)
	}
	if n, _ := d.Network("web"); n.ACLDefault != "deny" {
		t.Errorf("acl_default = %q", n.ACLDefault)
	}
	// A rule in the file that clashes with one in the state the file did
	// not make is an error naming its entry, not silently skipped.
	if _, err := d.AddPublish(api.PublishAdd{Network: "web", Proto: "tcp", Port: "9000", To: "10.10.0.5:90"}); err != nil {
		t.Fatal(err)
	}
	c.Publish = append(c.Publish, api.PublishAdd{Network: "web", Proto: "tcp", Port: "9000", To: "10.10.0.3:80"})
	if err := d.Apply(c); err == nil || !strings.Contains(err.Error(), "publish[1]: tcp port 9000 is already published") {
		t.Errorf("clashing config rule: %v", err)
	}
}

// TestRestartWithUplink restarts a daemon whose state has an uplink, a
// static route via its gateway and a port published on its address: all
// come back (the restore once dereferenced the uplink before re-opening it).
func TestRestartWithUplink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a namespace of its own")
	}
	ns := fmt.Sprintf("vst-%d-up", rand.IntN(1<<30))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "add", "up0", "type", "veth", "peer", "name", "far0").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v %s", err, out)
	}
	dir := t.TempDir()
	d := newTestDaemon(t, dir)
	if _, err := d.AddUplink(api.UplinkAdd{Dev: "up0", Netns: ns, IP: "10.0.12.15/24", Gateway: "10.0.12.11"}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, d, api.PublishAdd{Network: "bridge", Proto: "tcp", Port: "10.0.12.15:8000", To: "172.17.0.101:8080"})
	wantErr(t, "RemoveUplink with a rule on its address", d.RemoveUplink("uplink"), 409, "publish rule(s) [1] listen on 10.0.12.15")
	if _, err := d.AddRoute(api.RouteAdd{Prefix: "192.168.50.0/24", Via: "10.0.12.11"}); err != nil {
		t.Fatal(err)
	}
	routes := d.Routes()
	d.Close()

	d2 := newTestDaemon(t, dir)
	ups := d2.Uplinks()
	if len(ups) != 1 || ups[0].State != "up" {
		t.Fatalf("uplinks after restart = %+v", ups)
	}
	if got := d2.Routes(); !reflect.DeepEqual(got, routes) {
		t.Errorf("routes after restart = %+v\nbefore %+v", got, routes)
	}
	if p := d2.Publishes(); len(p) != 1 || p[0].HostIP != "10.0.12.15" {
		t.Errorf("publish after restart = %+v", p)
	}
}
