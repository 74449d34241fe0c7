package e2e

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Kill the daemon (SIGKILL, then SIGTERM): the TAPs stay in their namespaces
// with their addresses; a new daemon on the same state dir brings back every
// network and port, and the namespaces can ping again.
func TestRestartKeepsNetworksAndPorts(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "lan", "--subnet", "10.211.0.0/24", "--fdb-aging", "60")
	d.mustCtl("network", "create", "other", "--subnet", "10.212.0.0/24", "--mtu", "1400")
	a, b, c := e.newNS("a"), e.newNS("b"), e.newNS("c")
	pa, pb := d.addPort("lan", a), d.addPort("lan", b)
	d.addPort("other", c)
	e.mustPing(a, pb.addr())
	e.mustPing(b, pa.addr())

	nets0, ports0 := snapshot(t, d)

	for _, how := range []string{"SIGKILL", "SIGTERM"} {
		switch how {
		case "SIGKILL":
			d.kill()
		case "SIGTERM":
			if code := d.stop(); code != 0 {
				t.Errorf("vswitchd exited with status %d on SIGTERM, want 0 (a clean stop)", code)
			}
		}
		// The TAPs stay, with their addresses, while no daemon runs.
		for _, p := range []port{pa, pb} {
			out := e.mustNS(p.Netns, "ip", "-br", "-4", "addr", "show", "dev", "eth0")
			if !slices.Contains(strings.Fields(out), p.IP) {
				t.Errorf("after %s, eth0 in %s lost its address %s: %s", how, p.Netns, p.IP, out)
			}
		}
		if how == "SIGKILL" {
			// Nothing switches frames now: the ping needs the daemon.
			if none, r := e.noReply(a, pb.addr(), 1); !none {
				t.Errorf("a ping got through with no vswitchd running:\n%v", r)
			}
		}

		d = e.startDaemon(d.stateDir)
		nets, ports := snapshot(t, d)
		if !reflect.DeepEqual(nets, nets0) {
			t.Errorf("after %s and a restart, network ls =\n%+v\nwant\n%+v", how, nets, nets0)
		}
		if !reflect.DeepEqual(ports, ports0) {
			t.Errorf("after %s and a restart, port ls =\n%+v\nwant\n%+v", how, ports, ports0)
		}
		e.mustPing(a, pb.addr())
		e.mustPing(b, pa.addr())
		if n := len(d.fdb("lan")); n < 2 {
			t.Errorf("after %s and a restart, the new daemon learned %d MACs from the pings, want 2", how, n)
		}
	}
}

// snapshot returns `network ls` and `port ls` as JSON objects (every key the
// daemon prints), sorted by name.
func snapshot(t *testing.T, d *daemon) (nets, ports []map[string]any) {
	t.Helper()
	d.ctlJSON(&nets, "network", "ls")
	d.ctlJSON(&ports, "port", "ls")
	byName := func(x, y map[string]any) int {
		return strings.Compare(x["name"].(string), y["name"].(string))
	}
	slices.SortFunc(nets, byName)
	slices.SortFunc(ports, byName)
	for _, n := range nets {
		if ps, ok := n["ports"].([]any); ok {
			slices.SortFunc(ps, func(x, y any) int {
				return byName(x.(map[string]any), y.(map[string]any))
			})
		}
	}
	if len(nets) == 0 || len(ports) == 0 {
		t.Fatalf("nothing to compare: networks %v, ports %v", nets, ports)
	}
	return nets, ports
}
