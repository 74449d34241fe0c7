package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// `network graph` of a known setup (two networks, one internal, connected;
// a port in each; the uplink; a published port) is Graphviz dot with a node
// per network, port and uplink, the labels a reader needs (kind, netns, IP),
// and the edges between them; dot accepts it.
func TestNetworkGraph(t *testing.T) {
	e := newEnv(t)
	d := e.startDaemon("")
	d.mustCtl("network", "create", "front", "--subnet", "10.205.1.0/24")
	d.mustCtl("network", "create", "back", "--subnet", "10.205.2.0/24", "--internal")
	d.mustCtl("network", "connect", "front", "back")
	web, db := e.newNS("web"), e.newNS("db")
	pw, pd := d.addPort("front", web), d.addPort("back", db)
	e.outside(d)
	d.mustCtl("publish", "add", "front", "--proto", "tcp", "--port", "8080", "--to", pw.addr()+":80")

	out := d.mustCtl("network", "graph")
	if out2 := d.mustCtl("network", "graph", "-o", "dot"); out2 != out {
		t.Errorf("-o dot differs from the default output")
	}
	t.Logf("network graph:\n%s", out)

	// Nodes: id -> label.
	nodeRE := regexp.MustCompile(`(?m)^\s*"([^"]+)" \[.*label="((?:[^"\\]|\\.)*)"`)
	nodes := map[string]string{}
	for _, m := range nodeRE.FindAllStringSubmatch(out, -1) {
		nodes[m[1]] = strings.ReplaceAll(m[2], `\n`, "\n")
	}
	wantNode := func(id string, parts ...string) {
		t.Helper()
		label, ok := nodes[id]
		if !ok {
			t.Errorf("no node %q in the graph", id)
			return
		}
		for _, p := range parts {
			if !strings.Contains(label, p) {
				t.Errorf("node %q label %q lacks %q", id, label, p)
			}
		}
	}
	wantNode("net:front", "10.205.1.0/24", "masquerade")
	wantNode("net:back", "10.205.2.0/24", "internal")
	wantNode("port:"+pw.Name, "tap", "netns "+web, pw.IP)
	wantNode("port:"+pd.Name, "tap", "netns "+db, pd.IP)
	wantNode("uplink:uplink", "u0", upIP)

	edgeRE := regexp.MustCompile(`(?m)^\s*"([^"]+)" -> "([^"]+)"(?: \[(.*)\])?;`)
	type edge struct{ from, to string }
	edges := map[edge]string{}
	for _, m := range edgeRE.FindAllStringSubmatch(out, -1) {
		edges[edge{m[1], m[2]}] = m[3]
	}
	wantEdge := func(from, to, attr string) {
		t.Helper()
		a, ok := edges[edge{from, to}]
		if !ok {
			t.Errorf("no edge %s -> %s", from, to)
		} else if !strings.Contains(a, attr) {
			t.Errorf("edge %s -> %s [%s] lacks %q", from, to, a, attr)
		}
	}
	wantEdge("net:front", "port:"+pw.Name, "dir=none")
	wantEdge("net:back", "port:"+pd.Name, "dir=none")
	wantEdge("net:back", "net:front", "connected")
	wantEdge("net:front", "uplink:uplink", "masquerade")
	wantEdge("uplink:uplink", "port:"+pw.Name, fmt.Sprintf("tcp 0.0.0.0:8080 -> %s:80", pw.addr()))
	if _, ok := edges[edge{"net:back", "uplink:uplink"}]; ok {
		t.Errorf("the internal network back has an edge to the uplink")
	}
	if len(edges) != 5 { // two members, one way out, one publish, one connection
		t.Errorf("%d edges, want 5: %v", len(edges), edges)
	}

	// -o json carries the same graph.
	var g struct {
		Nodes []struct{ ID string } `json:"nodes"`
		Edges []struct{ From, To string }
	}
	if err := json.Unmarshal([]byte(d.mustCtl("network", "graph", "-o", "json")), &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != len(nodes) || len(g.Edges) != len(edges) {
		t.Errorf("-o json: %d nodes, %d edges; dot has %d, %d", len(g.Nodes), len(g.Edges), len(nodes), len(edges))
	}
	// -o dot is for this command only.
	if r := d.ctl("network", "ls", "-o", "dot"); r.code != 2 {
		t.Errorf("network ls -o dot: %v, want a usage error", r)
	}

	if !haveCmd("dot") {
		t.Logf("no graphviz dot here: checked the syntax only")
		if strings.Count(out, "{") != strings.Count(out, "}") || !strings.HasPrefix(out, "digraph vswitch {") {
			t.Errorf("unbalanced or not a digraph:\n%s", out)
		}
		return
	}
	cmd := exec.Command("dot", "-Tsvg")
	cmd.Stdin = strings.NewReader(out)
	done := make(chan struct{})
	var svg []byte
	var err error
	go func() { svg, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("dot -Tsvg did not finish within 20 s")
	}
	if err != nil || !strings.Contains(string(svg), "<svg") {
		t.Errorf("dot -Tsvg refused the graph: %v\n%s", err, svg)
	}
}
