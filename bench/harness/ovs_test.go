package harness

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The flow file names ports by number and hosts by address and MAC; it
// must say what the harness builds, and publish what the other sides
// publish.
func TestOVSFlowFile(t *testing.T) {
	b, err := os.ReadFile("../ovs/flows.txt")
	if err != nil {
		t.Fatal(err)
	}
	flows := string(b)
	header := regexp.MustCompile(`(?m)^#\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+VLAN (\d+)`)
	got := map[string]string{}
	for _, m := range header.FindAllStringSubmatch(flows, -1) {
		got[m[2]] = strings.Join([]string{m[1], m[3], m[4], m[5]}, " ")
	}
	for _, p := range ovsPorts {
		want := fmt.Sprintf("%d %s %s %d", p.ofport, p.addr, p.mac, p.tag)
		if got[p.role] != want {
			t.Errorf("flow file header for %s: %q, harness builds %q", p.role, got[p.role], want)
		}
		// the last hop delivers to that port with that MAC
		hop := fmt.Sprintf("nw_dst=%s actions=set_field:", p.addr)
		if !strings.Contains(flows, hop) || !strings.Contains(flows, "set_field:"+p.mac+"->eth_dst,output:"+fmt.Sprint(p.ofport)) {
			t.Errorf("no delivery to %s (%s) on port %d", p.role, p.addr, p.ofport)
		}
	}
	for _, p := range published() {
		want := fmt.Sprintf("ct_state=+new+trk,%s,tp_dst=%d actions=ct(commit,zone=1,nat(dst=%s:%d),table=10)", p.proto, p.hport, addrC1, p.cpt)
		if !strings.Contains(flows, want) {
			t.Errorf("flow file does not publish %s %d -> %d: want %q", p.proto, p.hport, p.cpt, want)
		}
	}
	for _, want := range []string{
		"nat(src=" + uplinkIP + ")",
		"arp_tpa=" + gatewayA + " ", "arp_tpa=" + gatewayB + " ", "arp_tpa=" + uplinkIP + " ",
		"dec_ttl", "actions=NORMAL",
	} {
		if !strings.Contains(flows, want) {
			t.Errorf("flow file lacks %q", want)
		}
	}
	// every non-comment line is one flow of a known table
	for i, l := range strings.Split(flows, "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if !regexp.MustCompile(`^table=(0|10|20|30),priority=\d+`).MatchString(l) || !strings.Contains(l, " actions=") {
			t.Errorf("line %d is not a flow of tables 0/10/20/30: %q", i+1, l)
		}
	}
}

// Each private OVS keeps its sockets, database and logs in its own
// directory, never the system's.
func TestOVSEnv(t *testing.T) {
	o := &ovsInstance{dir: "/tmp/vsbench-x/o0"}
	for _, e := range o.env() {
		k, v, _ := strings.Cut(e, "=")
		if !strings.HasPrefix(k, "OVS_") || v != o.dir {
			t.Errorf("env %q", e)
		}
	}
	if len(o.env()) != 4 {
		t.Errorf("want RUNDIR, DBDIR, LOGDIR, SYSCONFDIR: %v", o.env())
	}
	if o.dbSock() != "unix:/tmp/vsbench-x/o0/db.sock" {
		t.Errorf("db socket %q", o.dbSock())
	}
}

func TestParsePeers(t *testing.T) {
	for _, tc := range []struct {
		in    string
		ovs   bool
		want  string
		fails bool
	}{
		{"", true, "kernel,ovs", false},
		{"", false, "kernel", false},
		{"ovs,kernel", false, "kernel,ovs", false}, // asked for: the run says why it fails
		{"kernel", true, "kernel", false},
		{" ovs ", true, "ovs", false},
		{"none", true, "", false},
		{"kernel,vpp", true, "", true},
	} {
		got, err := ParsePeers(tc.in, tc.ovs)
		if (err != nil) != tc.fails || (err == nil && strings.Join(got, ",") != tc.want) {
			t.Errorf("ParsePeers(%q, %v) = %v, %v; want %q (fails %v)", tc.in, tc.ovs, got, err, tc.want, tc.fails)
		}
	}
}
