package main

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"vswitch/api"
)

func newNetworkCmd(a *app) *cobra.Command {
	cmd := group("network", "Create, list, inspect, connect and remove networks")
	cmd.AddCommand(
		newNetworkCreateCmd(a),
		newNetworkLsCmd(a),
		newNetworkInspectCmd(a),
		newNetworkRmCmd(a),
		newNetworkConnectCmd(a, "connect", "Allow routing between networks A and B", "connected"),
		newNetworkConnectCmd(a, "disconnect", "Stop routing between networks A and B", "disconnected"),
		newNetworkGraphCmd(a),
		newNetworkVTEPCmd(a),
	)
	return cmd
}

func newNetworkCreateCmd(a *app) *cobra.Command {
	var (
		req                api.NetworkCreate
		icc, portSecurity  bool
		fdbAging, macLimit int
		vx                 api.VXLANCreate
	)
	cmd := &cobra.Command{
		Use:   "create NAME --subnet CIDR",
		Short: "Create a network: a switch, and a router with a gateway address on its subnet",
		Args:  positional(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			if f := cmd.Flags().Lookup("acl-default"); f.Changed && req.ACLDefault != "allow" && req.ACLDefault != "deny" {
				return usageErrorf(cmd, "invalid --acl-default %q: use allow or deny", req.ACLDefault)
			}
			// Only the flags given are sent: the daemon owns the defaults.
			if cmd.Flags().Changed("icc") {
				req.ICC = &icc
			}
			if cmd.Flags().Changed("fdb-aging") {
				req.FDBAging = &fdbAging
			}
			if cmd.Flags().Changed("mac-limit") {
				req.MACLimit = &macLimit
			}
			if cmd.Flags().Changed("port-security") {
				req.PortSecurity = &portSecurity
			}
			if err := vxlanFlags(cmd, &vx); err != nil {
				return err
			}
			if cmd.Flags().Changed("vxlan-vni") {
				req.VXLAN = &vx
			}
			var n api.Network
			if err := a.do(http.MethodPost, "/networks", req, &n); err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, cleanNetwork(n))
			}
			if n.VXLAN != nil {
				a.printf("created network %s: subnet %s, gateway %s, MTU %d, VXLAN VNI %d on %s (%s), tunnel port %s\n",
					n.Name, n.Subnet, n.Gateway, n.MTU, n.VXLAN.VNI, n.VXLAN.Local, n.VXLAN.Dev, n.VXLAN.Port)
				return nil
			}
			if n.IPv6 {
				a.printf("created network %s: subnet %s, gateway %s; IPv6 %s, gateway %s (%s)\n",
					n.Name, n.Subnet, n.Gateway, n.Subnet6, n.Gateway6, n.Gateway6LL)
				return nil
			}
			a.printf("created network %s: subnet %s, gateway %s\n", n.Name, n.Subnet, n.Gateway)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Subnet, "subnet", "", "IPv4 prefix of the network, e.g. 10.100.0.0/16")
	f.StringVar(&req.Gateway, "gateway", "", "the network's gateway address, answered by vswitchd (default: chosen by vswitchd)")
	f.BoolVar(&req.Internal, "internal", false, "no way out: no masquerade, and ports get no default route")
	f.BoolVar(&icc, "icc", true, "let the network's ports talk to each other (--icc=false drops IP traffic between them; ARP passes)")
	f.BoolVar(&req.NoMasquerade, "no-masquerade", false, "do not masquerade traffic leaving through the uplink")
	f.IntVar(&req.MTU, "mtu", 0, "MTU of the network (default: 1500; on a VXLAN network the underlay device's less 50, or 70 over IPv6)")
	f.IntVar(&fdbAging, "fdb-aging", 0, "seconds a learned MAC address stays in the FDB (vswitchd's default: 300)")
	f.IntVar(&macLimit, "mac-limit", 0, "most MAC addresses learned per port (vswitchd's default: 1024)")
	f.BoolVar(&portSecurity, "port-security", true, "ports may send only from their own MAC and IP (ARP included); --port-security=false turns it off")
	f.IntVar(&req.StormLimit, "storm-limit", 0, "most broadcast/multicast/unknown-unicast frames per second per port (0: no limit)")
	f.IntVar(&req.ConnRate, "conn-rate", 0, "most new tracked connections (NAT, ACL) per second per port (0: no limit)")
	f.IntVar(&req.VLAN, "vlan", 0, "802.1Q VLAN id of the network, 1 to 4094: its ports are access ports (untagged; tagged frames dropped)")
	f.StringVar(&req.ACLDefault, "acl-default", "", "allow or deny: what the network's ACL does with flows no rule matches (vswitchd's default: allow)")
	f.IntVar(&vx.VNI, "vxlan-vni", 0, "make an overlay network: VXLAN network identifier, 1 to 16777215 (needs --vxlan-dev and --vxlan-local)")
	f.StringVar(&vx.Dev, "vxlan-dev", "", "underlay interface the tunnel's UDP datagrams use")
	f.StringVar(&vx.Netns, "vxlan-netns", "", "namespace of --vxlan-dev (a name under /run/netns or a path; default: vswitchd's)")
	f.StringVar(&vx.Local, "vxlan-local", "", "local VTEP address, an address of --vxlan-dev")
	f.BoolVar(&req.IPv6, "ipv6", false, "dual stack: IPv6 inside the network too (needs --subnet6)")
	f.StringVar(&req.Subnet6, "subnet6", "", "IPv6 prefix of the network, a /64, e.g. fd00:100::/64 (with --ipv6)")
	f.StringVar(&req.Gateway6, "gateway6", "", "the gateway's IPv6 address (default: PREFIX::1)")
	f.BoolVar(&req.NAT66, "nat66", false, "masquerade the network's IPv6 to the uplink's IPv6 address (NAT66; default off: the prefix is routed as it is)")
	_ = cmd.MarkFlagRequired("subnet")
	return cmd
}

// vxlanFlags checks that the --vxlan-* flags come together: the VNI makes
// the network an overlay, and the others mean nothing without it.
func vxlanFlags(cmd *cobra.Command, vx *api.VXLANCreate) error {
	f := cmd.Flags()
	if !f.Changed("vxlan-vni") {
		for _, n := range []string{"vxlan-dev", "vxlan-netns", "vxlan-local"} {
			if f.Changed(n) {
				return usageErrorf(cmd, "--%s needs --vxlan-vni N", n)
			}
		}
		return nil
	}
	for _, n := range []string{"vxlan-dev", "vxlan-local"} {
		if !f.Changed(n) {
			return usageErrorf(cmd, "a VXLAN network needs --%s too", n)
		}
	}
	return nil
}

func newNetworkLsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var nets []api.Network
			if err := a.do(http.MethodGet, "/networks", nil, &nets); err != nil {
				return err
			}
			nets = nonNil(nets)
			for i := range nets {
				nets[i] = cleanNetwork(nets[i])
			}
			if a.json() {
				return printJSON(a.stdout, nets)
			}
			// CONNECTED is last: it is the one column of any width.
			// SUBNET6 only when some network has IPv6.
			var rows [][]any
			for _, n := range nets {
				rows = append(rows, []any{n.Name, n.Subnet, n.Gateway, n.Subnet6, len(n.Ports), yesNo(n.Internal), yesNo(n.ICC), yesNo(n.Masquerade), n.MTU,
					strings.Join(n.Connected, ",")})
			}
			return printSparse(a.stdout, []string{"NAME", "SUBNET", "GATEWAY", "SUBNET6", "PORTS", "INTERNAL", "ICC", "MASQUERADE", "MTU", "CONNECTED"},
				[]string{"SUBNET6"}, rows)
		},
	}
}

func newNetworkInspectCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME",
		Short: "Print a network and its ports as JSON (whatever -o says)",
		Args:  positional(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var n api.Network
			if err := a.do(http.MethodGet, "/networks/"+url.PathEscape(args[0]), nil, &n); err != nil {
				return err
			}
			return printJSON(a.stdout, cleanNetwork(n))
		},
	}
}

func newNetworkRmCmd(a *app) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove a network; it must have no ports left, unless --force",
		Args:    positional(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/networks/" + url.PathEscape(args[0])
			if force {
				path += "?force=true"
			}
			if err := a.do(http.MethodDelete, path, nil, nil); err != nil {
				return err
			}
			if !a.json() {
				a.printf("removed network %s\n", args[0])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove the network's ports too")
	return cmd
}

// newNetworkConnectCmd is `network connect A B` and `network disconnect A B`:
// POST /networks/A/{verb} with B in the body. The relation is symmetric; the
// daemon keeps both sides.
func newNetworkConnectCmd(a *app, verb, short, done string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " A B",
		Short: short,
		Args:  positional(2, "A", "B"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/networks/" + url.PathEscape(args[0]) + "/" + verb
			if err := a.do(http.MethodPost, path, api.NetworkConnect{Network: args[1]}, nil); err != nil {
				return err
			}
			if !a.json() {
				a.printf("%s networks %s and %s\n", done, args[0], args[1])
			}
			return nil
		},
	}
}
