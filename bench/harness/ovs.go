package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"vswitch/bench/report"
)

// Open vSwitch's userspace datapath, the third column (issue 9). The
// harness never uses the system's OVS service: it makes a database of its
// own in the run's work directory and runs ovsdb-server and ovs-vswitchd
// inside a namespace of the run ("o"), with OVS_RUNDIR, OVS_DBDIR,
// OVS_LOGDIR and OVS_SYSCONFDIR pointing at that directory, so no socket,
// pid file or log lands in /var/run/openvswitch or /etc/openvswitch. The
// ports are veths whose "o" ends OVS opens (netdev-linux: AF_PACKET), the
// bridge has datapath_type=netdev, userspace TSO is switched on before
// ovs-vswitchd starts, and the OpenFlow tables are bench/ovs/flows.txt.

// OVSTools are the programs the OVS column needs.
var OVSTools = []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl"}

// OVSInstalled says whether every OVS program is on PATH, and which is not.
func OVSInstalled() (bool, string) {
	for _, t := range OVSTools {
		if _, err := exec.LookPath(t); err != nil {
			return false, t
		}
	}
	return true, ""
}

// ParsePeers reads --peers: a comma-separated subset of report.Peers, in
// column order whatever the order given. Empty means the kernel, and OVS
// when it is installed.
func ParsePeers(s string, ovsInstalled bool) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		if ovsInstalled {
			return []string{report.SideKernel, report.SideOVS}, nil
		}
		return []string{report.SideKernel}, nil
	}
	want := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" || p == "none" {
			continue
		}
		known := false
		for _, k := range report.Peers {
			known = known || k == p
		}
		if !known {
			return nil, fmt.Errorf("unknown peer %q in --peers (have %s)", p, strings.Join(report.Peers, ","))
		}
		want[p] = true
	}
	var out []string
	for _, k := range report.Peers {
		if want[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

// ovsSchemas are where Debian (and a source build) put the database schema.
var ovsSchemas = []string{"/usr/share/openvswitch/vswitch.ovsschema", "/usr/local/share/openvswitch/vswitch.ovsschema"}

// ovsBridge is the one bridge; its ports get fixed OpenFlow numbers so the
// flow file can name them.
const ovsBridge = "br0"

// ovsPort is one OVS port: the role at its far end, its OpenFlow port
// number, its VLAN (access port: NORMAL keeps the networks apart), and the
// address and MAC of the namespace behind it.
type ovsPort struct {
	role   string
	ofport int
	tag    int
	addr   string
	mac    string
	gw     string
}

// ovsPorts must agree with the header of bench/ovs/flows.txt (a test
// checks it).
var ovsPorts = []ovsPort{
	{"c1", 1, 1, addrC1, "02:00:0a:c9:01:02", gatewayA},
	{"c2", 2, 1, addrC2, "02:00:0a:c9:01:03", gatewayA},
	{"c3", 3, 2, addrC3, "02:00:0a:c9:02:02", gatewayB},
	{"ext", 4, 100, addrExt, "02:00:0a:c9:64:02", ""},
}

// OVSFlowFile is the flow file, relative to the repository.
const OVSFlowFile = "bench/ovs/flows.txt"

// ovsInstance is one private OVS: its directory and daemons.
type ovsInstance struct {
	dir      string
	db       *Proc
	vswitchd *Proc
}

func (o *ovsInstance) env() []string {
	return []string{"OVS_RUNDIR=" + o.dir, "OVS_DBDIR=" + o.dir, "OVS_LOGDIR=" + o.dir, "OVS_SYSCONFDIR=" + o.dir}
}

func (o *ovsInstance) dbSock() string { return "unix:" + filepath.Join(o.dir, "db.sock") }

// ovsCmd runs an OVS client inside the OVS namespace, with the private
// directories in its environment.
func (h *Harness) ovsCmd(ctx context.Context, t *Topology, argv ...string) result {
	full := append([]string{"env"}, t.ovs.env()...)
	return h.nsExec(ctx, t.ns["o"], 30*time.Second, append(full, argv...)...)
}

func (h *Harness) vsctlOVS(ctx context.Context, t *Topology, args ...string) error {
	argv := append([]string{"ovs-vsctl", "--db=" + t.ovs.dbSock(), "--timeout=15"}, args...)
	if r := h.ovsCmd(ctx, t, argv...); r.Code != 0 {
		return r.errorf("ovs-vsctl " + strings.Join(args[:min(2, len(args))], " "))
	}
	return nil
}

// ovsLog is the tail of a daemon's log file, for error messages.
func (o *ovsInstance) log(name string) string {
	b, err := os.ReadFile(filepath.Join(o.dir, name+".log"))
	if err != nil {
		return ""
	}
	return LastLines(string(b), 2)
}

// startOVS makes the database, starts ovsdb-server, sets userspace TSO,
// starts ovs-vswitchd and waits for the bridge.
func (h *Harness) startOVS(ctx context.Context, t *Topology, tag string) error {
	if ok, missing := OVSInstalled(); !ok {
		return fmt.Errorf("%s not found: install openvswitch-switch (bench/run.sh does, with its services kept from starting)", missing)
	}
	schema := ""
	for _, s := range ovsSchemas {
		if _, err := os.Stat(s); err == nil {
			schema = s
			break
		}
	}
	if schema == "" {
		return fmt.Errorf("no OVS database schema in %s", strings.Join(ovsSchemas, " or "))
	}
	o := &ovsInstance{dir: filepath.Join(h.work, tag)}
	t.ovs = o
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	db := filepath.Join(o.dir, "conf.db")
	if r := h.run(ctx, 20*time.Second, "", "ovsdb-tool", "create", db, schema); r.Code != 0 {
		return r.errorf("ovsdb-tool create")
	}
	daemon := func(name string, args ...string) (*Proc, error) {
		argv := append(append([]string{"env"}, o.env()...), name)
		argv = append(argv, args...)
		argv = append(argv, "--pidfile="+filepath.Join(o.dir, name+".pid"),
			"--unixctl="+filepath.Join(o.dir, name+".ctl"),
			"--log-file="+filepath.Join(o.dir, name+".log"), "-vconsole:off")
		return h.startNS(name, t.ns["o"], nil, argv...)
	}
	var err error
	if o.db, err = daemon("ovsdb-server", db, "--remote=punix:"+filepath.Join(o.dir, "db.sock")); err != nil {
		return err
	}
	// the database answers once its socket is there
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.ovsCmd(ctx, t, "ovs-vsctl", "--db="+o.dbSock(), "--no-wait", "--timeout=2", "init")
		if r.Code == 0 {
			break
		}
		if o.db.Exited() {
			return fmt.Errorf("ovsdb-server exited: %s", o.log("ovsdb-server"))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("ovsdb-server not answering after 10 s: %v", r.errorf("ovs-vsctl init"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// read once, when ovs-vswitchd starts: it must be in the database first
	if err := h.vsctlOVS(ctx, t, "--no-wait", "set", "Open_vSwitch", ".", "other_config:userspace-tso-enable=true"); err != nil {
		return err
	}
	if o.vswitchd, err = daemon("ovs-vswitchd", o.dbSock()); err != nil {
		return err
	}
	// without --no-wait ovs-vsctl waits until ovs-vswitchd has made the bridge
	if err := h.vsctlOVS(ctx, t, "add-br", ovsBridge, "--", "set", "bridge", ovsBridge,
		"datapath_type=netdev", "fail_mode=secure"); err != nil {
		if o.vswitchd.Exited() {
			return fmt.Errorf("ovs-vswitchd exited: %s", o.log("ovs-vswitchd"))
		}
		return err
	}
	return nil
}

// stopOVS stops ovs-vswitchd, then the database (SIGTERM, SIGKILL after
// the grace time); the namespace removal that follows kills anything left.
func (h *Harness) stopOVS(t *Topology) {
	if t.ovs == nil {
		return
	}
	h.stop(t.ovs.vswitchd, 5*time.Second)
	h.stop(t.ovs.db, 5*time.Second)
}

// buildOVS builds the same networks as the other sides with Open vSwitch:
// one netdev bridge in namespace "o", a veth per container and one to ext,
// fixed MACs and OpenFlow port numbers, and the flow file.
func (h *Harness) buildOVS(ctx context.Context, tag string) (*Topology, error) {
	t, err := h.newTopology(ctx, report.SideOVS, tag, "o", "c1", "c2", "c3", "ext")
	if err != nil {
		return t, err
	}
	if err := h.startOVS(ctx, t, tag); err != nil {
		return t, err
	}
	for _, p := range ovsPorts {
		veth := "o-" + p.role
		if err := h.ipn(ctx, t.ns["o"], "link", "add", veth, "mtu", mtu, "type", "veth", "peer", "name", "eth0", "netns", t.ns[p.role]); err != nil {
			return t, err
		}
		if err := h.ipn(ctx, t.ns["o"], "link", "set", veth, "up"); err != nil {
			return t, err
		}
		if err := h.ipn(ctx, t.ns[p.role], "link", "set", "eth0", "address", p.mac); err != nil {
			return t, err
		}
		if err := h.host(ctx, t.ns[p.role], p.addr, p.gw); err != nil {
			return t, err
		}
		if err := h.vsctlOVS(ctx, t, "add-port", ovsBridge, veth, "tag="+strconv.Itoa(p.tag), "--",
			"set", "interface", veth, "ofport_request="+strconv.Itoa(p.ofport)); err != nil {
			return t, err
		}
		r := h.ovsCmd(ctx, t, "ovs-vsctl", "--db="+t.ovs.dbSock(), "get", "interface", veth, "ofport")
		if got := strings.TrimSpace(r.Stdout); r.Code != 0 || got != strconv.Itoa(p.ofport) {
			return t, fmt.Errorf("OVS port %s has OpenFlow port %q, the flow file needs %d", veth, got, p.ofport)
		}
	}
	mgmt := "unix:" + filepath.Join(t.ovs.dir, ovsBridge+".mgmt")
	if r := h.ovsCmd(ctx, t, "ovs-ofctl", "del-flows", mgmt); r.Code != 0 {
		return t, r.errorf("ovs-ofctl del-flows")
	}
	flows := filepath.Join(h.cfg.Repo, OVSFlowFile)
	r := h.ovsCmd(ctx, t, "ovs-ofctl", "add-flows", mgmt, flows)
	if r.Code == 0 {
		for _, s := range report.Scenarios {
			t.support[s] = support{status: report.StatusOK}
		}
		ovsNoIPv6(t)
		return t, nil
	}
	// without the tables only plain switching is left: l2 by NORMAL, the
	// rest said to be missing, with ovs-ofctl's reason
	reason := r.errorf("ovs-ofctl add-flows " + OVSFlowFile).Error()
	if r := h.ovsCmd(ctx, t, "ovs-ofctl", "add-flow", mgmt, "priority=0,actions=NORMAL"); r.Code != 0 {
		return t, errors.Join(errors.New(reason), r.errorf("ovs-ofctl add-flow NORMAL"))
	}
	for _, s := range report.Scenarios {
		t.support[s] = support{status: report.StatusNotSupported, note: reason}
	}
	t.support["l2"] = support{status: report.StatusOK}
	ovsNoIPv6(t)
	return t, nil
}

// ovsNoIPv6 marks the IPv6 scenarios on the OVS side: its containers have
// no IPv6 addresses and its flow table answers ARP, not neighbour
// discovery, so there is nothing to measure yet.
func ovsNoIPv6(t *Topology) {
	for _, s := range report.IPv6Scenarios {
		t.support[s] = support{status: report.StatusNotSupported,
			note: "the OVS column is IPv4 only: " + OVSFlowFile + " has no IPv6 rules (neighbour discovery, routing)"}
	}
}
