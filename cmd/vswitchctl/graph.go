package main

import (
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"vswitch/api"
)

// network graph: the topology as Graphviz dot, built from what `network
// ls`, `uplink ls` and `publish ls` return. Render it with
// `vswitchctl network graph | dot -Tsvg > net.svg`.
func newNetworkGraphCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "graph [-o dot|json]",
		Short: "Print the topology (networks, ports, uplink, connections, published ports) as Graphviz dot",
		Long: `Print the topology as Graphviz dot: each network a cluster with its
switch and ports (kind, netns, interface, IP), the uplink, which networks
reach it (masquerade), which are connected (network connect), and published
ports as edges from the uplink to the port they lead to.
Render it with: vswitchctl network graph | dot -Tsvg > topology.svg
-o json prints the same nodes and edges as JSON.`,
		Annotations: map[string]string{outputDot: "yes"},
		Args:        positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				nets []api.Network
				ups  []api.Uplink
				pubs []api.Publish
			)
			if err := a.do(http.MethodGet, "/networks", nil, &nets); err != nil {
				return err
			}
			if err := a.do(http.MethodGet, "/uplinks", nil, &ups); err != nil {
				return err
			}
			if err := a.do(http.MethodGet, "/publish", nil, &pubs); err != nil {
				return err
			}
			g := buildGraph(nets, ups, pubs)
			if a.json() {
				return printJSON(a.stdout, g)
			}
			_, err := a.stdout.Write([]byte(g.dot()))
			return err
		},
	}
}

// outputDot is the annotation of a command that also takes -o dot.
const outputDot = "output-dot"

type graphNode struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"` // network | port | uplink
	Label   string `json:"label"`
	Network string `json:"network,omitempty"` // the cluster it is drawn in
}

type graphEdge struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Kind  string `json:"kind"` // member | uplink | connected | publish
	Label string `json:"label,omitempty"`
}

type topoGraph struct {
	Nodes []graphNode `json:"nodes"`
	Edges []graphEdge `json:"edges"`
}

func buildGraph(nets []api.Network, ups []api.Uplink, pubs []api.Publish) topoGraph {
	g := topoGraph{Nodes: []graphNode{}, Edges: []graphEdge{}}
	sort.Slice(nets, func(i, j int) bool { return nets[i].Name < nets[j].Name })
	portByIP := map[string]string{} // "network/IP" -> port node
	for _, n := range nets {
		nid := "net:" + n.Name
		var flags []string
		if n.Internal {
			flags = append(flags, "internal")
		}
		if n.Masquerade {
			flags = append(flags, "masquerade")
		}
		if !n.ICC {
			flags = append(flags, "icc off")
		}
		label := fmt.Sprintf("network %s\n%s gw %s", n.Name, n.Subnet, n.Gateway)
		if len(flags) > 0 {
			label += "\n" + strings.Join(flags, ", ")
		}
		g.Nodes = append(g.Nodes, graphNode{ID: nid, Kind: "network", Label: label, Network: n.Name})
		ports := append([]api.Port(nil), n.Ports...)
		sort.Slice(ports, func(i, j int) bool { return ports[i].Name < ports[j].Name })
		for _, p := range ports {
			pid := "port:" + p.Name
			where := p.Ifname
			if p.Netns != "" {
				where += " in netns " + p.Netns
			}
			label := fmt.Sprintf("%s\n%s %s", p.Name, p.Kind, where)
			if p.IP != "" {
				label += "\n" + p.IP
				if pfx, err := netip.ParsePrefix(p.IP); err == nil {
					portByIP[n.Name+"/"+pfx.Addr().String()] = pid
				}
			}
			if p.State != "" && p.State != "up" {
				label += "\n(" + p.State + ")"
			}
			g.Nodes = append(g.Nodes, graphNode{ID: pid, Kind: "port", Label: label, Network: n.Name})
			g.Edges = append(g.Edges, graphEdge{From: nid, To: pid, Kind: "member"})
		}
	}
	for _, u := range ups {
		label := fmt.Sprintf("uplink %s\n%s", u.Name, u.Dev)
		if u.Netns != "" {
			label += " in netns " + u.Netns
		}
		label += "\n" + u.IP
		if u.Gateway != "" {
			label += " via " + u.Gateway
		}
		g.Nodes = append(g.Nodes, graphNode{ID: "uplink:" + u.Name, Kind: "uplink", Label: label})
	}
	if len(ups) > 0 {
		up := "uplink:" + ups[0].Name
		for _, n := range nets {
			if n.Internal {
				continue
			}
			label := "routed"
			if n.Masquerade {
				label = "masquerade"
			}
			g.Edges = append(g.Edges, graphEdge{From: "net:" + n.Name, To: up, Kind: "uplink", Label: label})
		}
		for _, p := range pubs {
			to := "net:" + p.Network
			if ap, err := netip.ParseAddrPort(p.To); err == nil {
				if pid, ok := portByIP[p.Network+"/"+ap.Addr().String()]; ok {
					to = pid
				}
			}
			g.Edges = append(g.Edges, graphEdge{From: up, To: to, Kind: "publish",
				Label: fmt.Sprintf("publish %s %s:%d -> %s", p.Proto, p.HostIP, p.HostPort, p.To)})
		}
	}
	seen := map[string]bool{}
	for _, n := range nets {
		for _, c := range n.Connected {
			a, b := min(n.Name, c), max(n.Name, c)
			if seen[a+"\x00"+b] {
				continue
			}
			seen[a+"\x00"+b] = true
			g.Edges = append(g.Edges, graphEdge{From: "net:" + a, To: "net:" + b, Kind: "connected", Label: "connected"})
		}
	}
	return g
}

// dot renders the graph: a cluster per network, the uplink outside them.
func (g topoGraph) dot() string {
	var b strings.Builder
	b.WriteString("digraph vswitch {\n")
	b.WriteString("\tgraph [rankdir=LR, fontname=\"Helvetica\", label=\"vswitchd topology\", labelloc=t];\n")
	b.WriteString("\tnode [fontname=\"Helvetica\", fontsize=10];\n")
	b.WriteString("\tedge [fontname=\"Helvetica\", fontsize=9];\n")
	clusters := map[string][]graphNode{}
	var order []string
	for _, n := range g.Nodes {
		if n.Network == "" {
			continue
		}
		if _, ok := clusters[n.Network]; !ok {
			order = append(order, n.Network)
		}
		clusters[n.Network] = append(clusters[n.Network], n)
	}
	for i, name := range order {
		fmt.Fprintf(&b, "\tsubgraph cluster_%d {\n\t\tlabel=%s;\n\t\tstyle=rounded;\n", i, dotQuote("network "+name))
		for _, n := range clusters[name] {
			fmt.Fprintf(&b, "\t\t%s [%s];\n", dotQuote(n.ID), nodeAttrs(n))
		}
		b.WriteString("\t}\n")
	}
	for _, n := range g.Nodes {
		if n.Network == "" {
			fmt.Fprintf(&b, "\t%s [%s];\n", dotQuote(n.ID), nodeAttrs(n))
		}
	}
	for _, e := range g.Edges {
		attrs := []string{}
		if e.Label != "" {
			attrs = append(attrs, "label="+dotQuote(e.Label))
		}
		switch e.Kind {
		case "member":
			attrs = append(attrs, "dir=none")
		case "uplink":
			attrs = append(attrs, "dir=none", "penwidth=2")
		case "connected":
			attrs = append(attrs, "dir=both", "style=dashed")
		case "publish":
			attrs = append(attrs, "style=dotted", "color=blue", "fontcolor=blue")
		}
		fmt.Fprintf(&b, "\t%s -> %s [%s];\n", dotQuote(e.From), dotQuote(e.To), strings.Join(attrs, ", "))
	}
	b.WriteString("}\n")
	return b.String()
}

func nodeAttrs(n graphNode) string {
	shape := "box"
	style := ""
	switch n.Kind {
	case "network":
		style = ", style=\"rounded,filled\", fillcolor=lightgrey"
	case "uplink":
		shape = "box3d"
	}
	return fmt.Sprintf("shape=%s%s, label=%s", shape, style, dotQuote(n.Label))
}

// dotQuote makes s a dot string: quotes and backslashes escaped, newlines
// as \n (centred lines).
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
