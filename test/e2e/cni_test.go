package e2e

// The CNI plugin (cmd/vswitch-cni) driven as runtimes drive it: through
// libcni, and by hand with the exec protocol (CNI_* variables, config on
// stdin, result or error JSON on stdout).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// buildCNI builds vswitch-cni from this tree into a directory of the env
// (the runtime's CNI_PATH) and returns that directory.
func (e *env) buildCNI() string {
	e.t.Helper()
	root, err := repoRoot()
	if err != nil {
		e.t.Fatal(err)
	}
	dir := filepath.Join(e.dir, "cni-bin")
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "vswitch-cni"), "./cmd/vswitch-cni")
	cmd.Dir = root
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("go build ./cmd/vswitch-cni: %v\n%s", err, out)
	}
	return dir
}

// cniNetwork creates network NAME on d with subnet and returns its gateway
// and whether the daemon says it serves DNS on it.
func cniNetwork(d *daemon, name, subnet string) (gateway string, dns bool) {
	d.e.t.Helper()
	d.mustCtl("network", "create", name, "--subnet", subnet)
	var n struct {
		Gateway string          `json:"gateway"`
		DNS     json.RawMessage `json:"dns"`
	}
	d.ctlJSON(&n, "network", "inspect", name)
	return n.Gateway, string(n.DNS) == "true"
}

func portByName(ps []port, name string) *port {
	for i := range ps {
		if ps[i].Name == name {
			return &ps[i]
		}
	}
	return nil
}

func TestCNILibcni(t *testing.T) {
	e := newEnv(t)
	pluginDir := e.buildCNI()
	d := e.startDaemon("")
	gw, dns := cniNetwork(d, "cninet", "10.240.0.0/24")
	if !dns {
		t.Fatalf("network inspect cninet: \"dns\" is not true, yet vswitchd serves DNS on every network")
	}
	ns := e.newNS("c1")
	nsPath := "/run/netns/" + ns

	list, err := libcni.ConfListFromBytes(fmt.Appendf(nil, `{
		"cniVersion": "1.1.0", "name": "vsw",
		"plugins": [{"type": "vswitch-cni", "network": "cninet", "socket": %q}]}`, d.sock))
	if err != nil {
		t.Fatal(err)
	}
	cni := libcni.NewCNIConfigWithCacheDir([]string{pluginDir}, filepath.Join(e.dir, "cni-cache"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rt := &libcni.RuntimeConf{ContainerID: "c0ffee" + randHex(12), NetNS: nsPath, IfName: "eth0"}
	portName := "cni-" + rt.ContainerID[:12] + "-eth0"

	if err := cni.GetStatusNetworkList(ctx, list); err != nil {
		t.Fatalf("STATUS with the daemon running: %v", err)
	}

	// ADD: a Result with the interface, its address and gateway, a default
	// route, and a working interface.
	raw, err := cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	res, err := types100.NewResultFromResult(raw)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(res)
	t.Logf("ADD result: %s", js)
	p := portByName(d.ports(), portName)
	if p == nil {
		t.Fatalf("after ADD, port ls has no %s: %+v", portName, d.ports())
	}
	if len(res.Interfaces) != 1 || res.Interfaces[0].Name != "eth0" || res.Interfaces[0].Sandbox != nsPath ||
		!strings.EqualFold(res.Interfaces[0].Mac, p.MAC) {
		t.Errorf("result interfaces %s; want eth0 in %s with MAC %s", js, nsPath, p.MAC)
	}
	if len(res.IPs) != 1 || res.IPs[0].Address.String() != p.IP || res.IPs[0].Gateway.String() != gw ||
		res.IPs[0].Interface == nil || *res.IPs[0].Interface != 0 {
		t.Errorf("result ips %s; want %s gateway %s on interface 0", js, p.IP, gw)
	}
	if pfx := netip.MustParsePrefix(p.IP); !netip.MustParsePrefix("10.240.0.0/24").Contains(pfx.Addr()) {
		t.Errorf("port address %s is not in the network's subnet", p.IP)
	}
	if len(res.Routes) != 1 || res.Routes[0].Dst.String() != "0.0.0.0/0" || res.Routes[0].GW.String() != gw {
		t.Errorf("result routes %s; want 0.0.0.0/0 via %s", js, gw)
	}
	if wantDNS := dns; wantDNS != slices.Equal(res.DNS.Nameservers, []string{"127.0.0.11"}) ||
		(!wantDNS && len(res.DNS.Nameservers) != 0) {
		t.Errorf("result dns %v; daemon serves DNS: %v", res.DNS.Nameservers, dns)
	}
	if out := e.mustNS(ns, "ip", "-4", "-o", "addr", "show", "dev", "eth0"); !strings.Contains(out, p.IP) {
		t.Errorf("eth0 in %s does not have %s: %s", ns, p.IP, out)
	}
	e.mustPing(ns, gw)
	// The nameserver the Result names answers the container's own name.
	wantA(t, ns, portName, strings.Split(p.IP, "/")[0])

	// CHECK: the libcni-cached result matches the daemon's port.
	if err := cni.CheckNetworkList(ctx, list, rt); err != nil {
		t.Errorf("CHECK after ADD: %v", err)
	}

	// GC: a cni-* port whose attachment the runtime does not list goes; the
	// valid attachment and a port not made by the plugin stay.
	ns2 := e.newNS("c2")
	d.addPort("cninet", ns2, "--name", "cni-stray0000000-eth0", "--ifname", "eth0")
	d.addPort("cninet", ns2, "--name", "keep", "--ifname", "eth1")
	if err := cni.GCNetworkList(ctx, list, &libcni.GCArgs{ValidAttachments: []types.GCAttachment{
		{ContainerID: rt.ContainerID, IfName: "eth0"}}}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	ps := d.ports()
	if portByName(ps, "cni-stray0000000-eth0") != nil {
		t.Errorf("GC left the stray port cni-stray0000000-eth0: %+v", ps)
	}
	if portByName(ps, portName) == nil || portByName(ps, "keep") == nil {
		t.Errorf("GC removed a port it had to keep (%s, keep): %+v", portName, ps)
	}
	if e.linkExists(ns2, "eth0") {
		t.Errorf("GC left the stray port's eth0 in %s", ns2)
	}

	// DEL removes the port and its interface; a second DEL succeeds.
	if err := cni.DelNetworkList(ctx, list, rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if portByName(d.ports(), portName) != nil {
		t.Errorf("after DEL, port %s is still there", portName)
	}
	if e.linkExists(ns, "eth0") {
		t.Errorf("after DEL, %s still has eth0", ns)
	}
	if err := cni.DelNetworkList(ctx, list, rt); err != nil {
		t.Errorf("second DEL: %v", err)
	}

	// STATUS with the daemon stopped: code 50, plugin not available.
	d.stop()
	err = cni.GetStatusNetworkList(ctx, list)
	var te *types.Error
	if !errors.As(err, &te) || te.Code != types.ErrPluginNotAvailable {
		t.Errorf("STATUS with the daemon stopped: %v; want a CNI error with code 50", err)
	}
}

// cniExec runs the plugin once with the exec protocol and returns its stdout
// and exit status.
func cniExec(t *testing.T, bin, command string, env map[string]string, stdin string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"CNI_COMMAND=" + command, "CNI_PATH=" + filepath.Dir(bin), "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("vswitch-cni %s: %v", command, err)
	}
	t.Logf("CNI_COMMAND=%s: exit %d stdout %s stderr %s", command, code, strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))
	return stdout.String(), code
}

// cniErr decodes a CNI error from the plugin's stdout.
func cniErr(t *testing.T, out string) types.Error {
	t.Helper()
	var e types.Error
	if err := json.Unmarshal([]byte(out), &e); err != nil || e.Msg == "" {
		t.Fatalf("not a CNI error JSON (%v): %q", err, out)
	}
	return e
}

func TestCNIExecProtocol(t *testing.T) {
	e := newEnv(t)
	bin := filepath.Join(e.buildCNI(), "vswitch-cni")
	d := e.startDaemon("")
	gw, _ := cniNetwork(d, "cninet", "10.241.0.0/24")
	ns := e.newNS("c1")
	conf := fmt.Sprintf(`{"cniVersion": "1.1.0", "name": "vsw", "type": "vswitch-cni", "network": "cninet", "socket": %q}`, d.sock)
	env := map[string]string{"CNI_CONTAINERID": "feed" + randHex(8), "CNI_NETNS": "/run/netns/" + ns, "CNI_IFNAME": "net1"}

	out, code := cniExec(t, bin, "VERSION", nil, "")
	var vi struct {
		Supported []string `json:"supportedVersions"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &vi) != nil || !slices.Contains(vi.Supported, "1.1.0") {
		t.Errorf("VERSION: exit %d, %q; want supportedVersions with 1.1.0", code, out)
	}

	out, code = cniExec(t, bin, "ADD", env, conf)
	if code != 0 {
		t.Fatalf("ADD failed: exit %d: %s", code, out)
	}
	var res struct {
		CNIVersion string `json:"cniVersion"`
		Interfaces []struct {
			Name    string `json:"name"`
			Mac     string `json:"mac"`
			Sandbox string `json:"sandbox"`
		} `json:"interfaces"`
		IPs []struct {
			Address   string `json:"address"`
			Gateway   string `json:"gateway"`
			Interface *int   `json:"interface"`
		} `json:"ips"`
		Routes []struct {
			Dst string `json:"dst"`
			GW  string `json:"gw"`
		} `json:"routes"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("ADD printed no Result JSON: %v: %s", err, out)
	}
	p := portByName(d.ports(), "cni-"+env["CNI_CONTAINERID"][:12]+"-net1")
	switch {
	case p == nil:
		t.Fatalf("after ADD, no port cni-%s-net1: %+v", env["CNI_CONTAINERID"][:12], d.ports())
	case res.CNIVersion != "1.1.0":
		t.Errorf("result cniVersion %q, want 1.1.0 (the config's)", res.CNIVersion)
	case len(res.Interfaces) != 1 || res.Interfaces[0].Name != "net1" || res.Interfaces[0].Sandbox != env["CNI_NETNS"] ||
		!strings.EqualFold(res.Interfaces[0].Mac, p.MAC):
		t.Errorf("result interfaces %+v; want net1 in %s with MAC %s", res.Interfaces, env["CNI_NETNS"], p.MAC)
	case len(res.IPs) != 1 || res.IPs[0].Address != p.IP || res.IPs[0].Gateway != gw || res.IPs[0].Interface == nil:
		t.Errorf("result ips %+v; want %s gateway %s", res.IPs, p.IP, gw)
	case len(res.Routes) != 1 || res.Routes[0].Dst != "0.0.0.0/0" || res.Routes[0].GW != gw:
		t.Errorf("result routes %+v; want 0.0.0.0/0 via %s", res.Routes, gw)
	}
	e.mustPing(ns, gw)

	// CHECK passes with the result of ADD, and fails when the runtime holds
	// another address than the port has.
	withPrev := func(prev string) string {
		return strings.TrimSuffix(conf, "}") + `, "prevResult": ` + prev + "}"
	}
	if out, code := cniExec(t, bin, "CHECK", env, withPrev(out)); code != 0 {
		t.Errorf("CHECK with ADD's result: exit %d: %s", code, out)
	}
	other := netip.MustParsePrefix(p.IP).Addr().Next().String()
	wrong := strings.Replace(out, `"`+p.IP+`"`, `"`+other+`/24"`, 1)
	if wrong == out {
		t.Fatalf("cannot find %s in the result %s", p.IP, out)
	}
	if cout, code := cniExec(t, bin, "CHECK", env, withPrev(wrong)); code == 0 {
		t.Errorf("CHECK with another address (%s) succeeded", other)
	} else if ce := cniErr(t, cout); !strings.Contains(ce.Msg, p.IP) {
		t.Errorf("CHECK error %q does not say the port's address %s", ce.Msg, p.IP)
	}

	// DEL, twice; the second time as a runtime whose namespace is already
	// gone (no CNI_NETNS).
	noNetns := map[string]string{"CNI_CONTAINERID": env["CNI_CONTAINERID"], "CNI_IFNAME": env["CNI_IFNAME"]}
	for i, de := range []map[string]string{env, noNetns} {
		if out, code := cniExec(t, bin, "DEL", de, conf); code != 0 {
			t.Errorf("DEL #%d: exit %d: %s", i+1, code, out)
		}
	}
	if portByName(d.ports(), p.Name) != nil || e.linkExists(ns, "net1") {
		t.Errorf("after DEL, port %s or net1 in %s is still there", p.Name, ns)
	}

	// Errors: CNI's JSON with its codes.
	bad := `{"cniVersion": "1.1.0", "name": "vsw", "type": "vswitch-cni"}`
	out, code = cniExec(t, bin, "ADD", env, bad)
	if ce := cniErr(t, out); code == 0 || ce.Code != types.ErrInvalidNetworkConfig || !strings.Contains(ce.Msg, `"network"`) {
		t.Errorf("ADD without \"network\": exit %d, %+v; want code 7 naming \"network\"", code, ce)
	}
	out, code = cniExec(t, bin, "ADD", env, strings.Replace(conf, `"cninet"`, `"nosuch"`, 1))
	if ce := cniErr(t, out); code == 0 || ce.Code != types.ErrInvalidNetworkConfig || !strings.Contains(ce.Msg, "nosuch") {
		t.Errorf("ADD on a missing network: exit %d, %+v; want code 7 naming it", code, ce)
	}
	gone := strings.Replace(conf, d.sock, filepath.Join(e.dir, "no.sock"), 1)
	out, code = cniExec(t, bin, "ADD", env, gone)
	if ce := cniErr(t, out); code == 0 || ce.Code != types.ErrTryAgainLater || !strings.Contains(ce.Msg, "no.sock") {
		t.Errorf("ADD with no daemon: exit %d, %+v; want code 11 naming the socket", code, ce)
	}
	out, code = cniExec(t, bin, "STATUS", nil, gone)
	if ce := cniErr(t, out); code == 0 || ce.Code != types.ErrPluginNotAvailable {
		t.Errorf("STATUS with no daemon: exit %d, %+v; want code 50", code, ce)
	}
	if e.linkExists(ns, "net1") {
		t.Errorf("a failed ADD left net1 in %s", ns)
	}

	// An internal network: no default route, in the result or the namespace.
	d.mustCtl("network", "create", "cniint", "--subnet", "10.242.0.0/24", "--internal")
	iconf := strings.Replace(conf, `"cninet"`, `"cniint"`, 1)
	out, code = cniExec(t, bin, "ADD", env, iconf)
	var ires struct {
		IPs    []json.RawMessage `json:"ips"`
		Routes []json.RawMessage `json:"routes"`
	}
	if err := json.Unmarshal([]byte(out), &ires); code != 0 || err != nil || len(ires.IPs) != 1 || len(ires.Routes) != 0 {
		t.Errorf("ADD on an internal network: exit %d, %s; want one address and no routes", code, out)
	}
	if r := e.mustNS(ns, "ip", "-4", "route", "show", "default"); strings.TrimSpace(r) != "" {
		t.Errorf("internal network, yet %s has a default route: %s", ns, r)
	}
	if out, code := cniExec(t, bin, "DEL", env, iconf); code != 0 {
		t.Errorf("DEL on the internal network: exit %d: %s", code, out)
	}
}

// TestCNIDualStack: on a dual-stack network ADD's Result carries the
// port's IPv6 address (gateway: the network's gateway6) and the IPv6
// default route via the gateway's link-local address, which is what the
// container has; and the container reaches the gateway over IPv6.
func TestCNIDualStack(t *testing.T) {
	e := newEnv(t)
	pluginDir := e.buildCNI()
	d := e.startDaemon("")
	d.mustCtl("network", "create", "cni6", "--subnet", "10.241.0.0/24", "--ipv6", "--subnet6", "fd00:241::/64")
	var n network6
	d.ctlJSON(&n, "network", "inspect", "cni6")
	ns := e.newNS("c6")
	list, err := libcni.ConfListFromBytes(fmt.Appendf(nil, `{
		"cniVersion": "1.1.0", "name": "vsw6",
		"plugins": [{"type": "vswitch-cni", "network": "cni6", "socket": %q}]}`, d.sock))
	if err != nil {
		t.Fatal(err)
	}
	cni := libcni.NewCNIConfigWithCacheDir([]string{pluginDir}, filepath.Join(e.dir, "cni-cache"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rt := &libcni.RuntimeConf{ContainerID: "d0ffee" + randHex(12), NetNS: "/run/netns/" + ns, IfName: "eth0"}
	raw, err := cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	res, err := types100.NewResultFromResult(raw)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(res)
	var ps []port6
	d.ctlJSON(&ps, "port", "ls", "--network", "cni6")
	if len(ps) != 1 || ps[0].IP6 == "" {
		t.Fatalf("port ls after ADD: %+v, want one port with an IPv6 address", ps)
	}
	if len(res.IPs) != 2 || res.IPs[1].Address.String() != ps[0].IP6 || res.IPs[1].Gateway.String() != n.Gateway6 {
		t.Fatalf("result ips %s; want the IPv4 one and %s gateway %s", js, ps[0].IP6, n.Gateway6)
	}
	var v6 *types.Route
	for _, r := range res.Routes {
		if r.Dst.String() == "::/0" {
			v6 = r
		}
	}
	if v6 == nil || v6.GW.String() != n.Gateway6LL {
		t.Fatalf("result routes %s; want ::/0 via %s", js, n.Gateway6LL)
	}
	if out := e.mustNS(ns, "ip", "-6", "route", "show", "default"); !strings.Contains(out, "via "+n.Gateway6LL) {
		t.Errorf("the container's IPv6 default route %q is not the Result's (via %s)", out, n.Gateway6LL)
	}
	e.mustNS(ns, "ping", "-6", "-c", "1", "-W", "2", n.Gateway6)
	if err := cni.DelNetworkList(ctx, list, rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
}
