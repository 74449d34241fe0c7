package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"vswitch/api"
)

func newPortCmd(a *app) *cobra.Command {
	cmd := group("port", "Add, attach, list and remove ports")
	cmd.AddCommand(
		newPortAddCmd(a),
		newPortAttachCmd(a),
		newPortLsCmd(a),
		newPortSetCmd(a),
		newPortRmCmd(a),
	)
	return cmd
}

func newPortAddCmd(a *app) *cobra.Command {
	var (
		req          api.PortAdd
		portSecurity bool
	)
	cmd := &cobra.Command{
		Use:   "add NETWORK --netns NS",
		Short: "Create a TAP inside a network namespace and plug it into NETWORK",
		Long: `Create a TAP inside a network namespace and plug it into NETWORK.

NS is a name under /run/netns (as 'ip netns add' makes) or a path such as
/proc/PID/ns/net. The TAP gets the address given, or the network's next free
one, is brought up with lo, and gets a default route via the gateway unless
--no-default-route is given or the network is internal.`,
		Args: positional(1, "NETWORK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Network = args[0]
			if cmd.Flags().Changed("port-security") {
				req.PortSecurity = &portSecurity
			}
			if !cmd.Flags().Changed("ip6") {
				req.IP6 = "" // auto where the network has IPv6; nothing asked of one without
			}
			var p api.Port
			if err := a.do(http.MethodPost, "/ports", req, &p); err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, p)
			}
			if p.IP6 != "" {
				a.printf("created port %s %s %s on %s (netns %s, %s, mac %s)\n", p.Name, p.IP, p.IP6, p.Network, p.Netns, p.Ifname, p.MAC)
				return nil
			}
			a.printf("created port %s %s on %s (netns %s, %s, mac %s)\n", p.Name, p.IP, p.Network, p.Netns, p.Ifname, p.MAC)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Netns, "netns", "", "network namespace: a name under /run/netns or a path")
	f.StringVar(&req.Name, "name", "", "port name (default: the namespace's name, or NS-IF when taken)")
	f.StringVar(&req.Ifname, "ifname", "", "interface name inside the namespace (default: eth0, or the next free ethN)")
	f.StringVar(&req.IP, "ip", "auto", "address: CIDR, bare IP (the network's prefix length) or auto for the next free one")
	f.StringVar(&req.IP6, "ip6", "auto", "IPv6 address on a network made with --ipv6: ADDR, ADDR/64 or auto for the next free one")
	f.StringVar(&req.MAC, "mac", "", "MAC address (default: 02:42 and the four bytes of the IP, as Docker does)")
	f.BoolVar(&req.NoDefaultRoute, "no-default-route", false, "do not add a default route via the gateway")
	f.BoolVar(&portSecurity, "port-security", true, "send only from the port's own MAC and IP (default: the network's)")
	f.StringArrayVar(&req.Aliases, "alias", nil, "another name the embedded DNS answers for this port on its network (repeatable)")
	f.BoolVar(&req.NoResolvConf, "no-resolv-conf", false, "do not write /etc/netns/NS/resolv.conf (nameserver 127.0.0.11) for a named namespace")
	f.StringSliceVar(&req.AllowedIPs, "allowed-ips", nil, "IPv4 CIDRs the port may also send from, e.g. for a router container: 10.0.0.0/8,192.168.0.0/16")
	_ = cmd.MarkFlagRequired("netns")
	return cmd
}

func newPortAttachCmd(a *app) *cobra.Command {
	var req api.PortAttach
	cmd := &cobra.Command{
		Use:   "attach (NETWORK | --trunk [--vlans LIST] [--native VID]) --dev IF",
		Short: "Plug an existing interface into NETWORK (AF_PACKET), or as an 802.1Q trunk of the VLAN networks",
		Args: func(cmd *cobra.Command, args []string) error {
			if req.Trunk {
				if len(args) > 0 {
					return usageErrorf(cmd, "a trunk carries the networks of its VLANs, not network %s alone: drop NETWORK (--vlans chooses the VLANs)", args[0])
				}
				return nil
			}
			return positional(1, "NETWORK")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				req.Network = args[0]
			}
			var p api.Port
			if err := a.do(http.MethodPost, "/ports/attach", req, &p); err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, p)
			}
			where := ""
			if p.Netns != "" {
				where = " in netns " + p.Netns
			}
			if p.Trunk != nil {
				a.printf("attached trunk %s (dev %s%s), %s\n", p.Name, p.Ifname, where, trunkText(p.Trunk))
				return nil
			}
			a.printf("attached port %s to %s (dev %s%s)\n", p.Name, p.Network, p.Ifname, where)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Dev, "dev", "", "the interface to attach")
	f.StringVar(&req.Netns, "netns", "", "namespace of the interface (default: vswitchd's own)")
	f.StringVar(&req.Name, "name", "", "port name (default: chosen by vswitchd)")
	f.StringVar(&req.Kind, "kind", "afpacket", "how frames move: afpacket (recvmmsg/sendmmsg) or xdp (AF_XDP rings, veth ends)")
	f.BoolVar(&req.Trunk, "trunk", false, "an 802.1Q trunk: carries the networks made with --vlan, tagged (no NETWORK then)")
	f.StringVar(&req.VLANs, "vlans", "", "with --trunk: only these VLANs, e.g. 10,20,30-40 (default: every VLAN)")
	f.IntVar(&req.Native, "native", 0, "with --trunk: the VLAN of untagged frames, whose frames leave untagged (default: none, untagged frames are dropped)")
	_ = cmd.MarkFlagRequired("dev")
	return cmd
}

func newPortLsCmd(a *app) *cobra.Command {
	var network string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List ports",
		Args:    positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/ports"
			if network != "" {
				path += "?" + url.Values{"network": {network}}.Encode()
			}
			var ports []api.Port
			if err := a.do(http.MethodGet, path, nil, &ports); err != nil {
				return err
			}
			ports = nonNil(ports)
			if a.json() {
				return printJSON(a.stdout, ports)
			}
			// IP6 and RATE only when some port has an IPv6 address or a
			// policer.
			var rows [][]any
			for _, p := range ports {
				netw := p.Network
				if p.Trunk != nil {
					netw = "trunk:" + vidList(p.Trunk.Carried) // e.g. trunk:10,20
				}
				rows = append(rows, []any{p.Name, netw, p.Kind, p.Netns, p.Ifname, p.MAC, p.IP, p.IP6, p.State, policeText(p)})
			}
			return printSparse(a.stdout, []string{"NAME", "NETWORK", "KIND", "NETNS", "IFNAME", "MAC", "IP", "IP6", "STATE", "RATE"},
				[]string{"IP6", "RATE"}, rows)
		},
	}
	cmd.Flags().StringVar(&network, "network", "", "only the ports of this network")
	return cmd
}

func newPortRmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove a port (and the TAP it created)",
		Args:    positional(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.do(http.MethodDelete, "/ports/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			if !a.json() {
				a.printf("removed port %s\n", args[0])
			}
			return nil
		},
	}
}

// vidList writes VLAN ids as "10,20" ("-" for none).
func vidList(vids []int) string {
	if len(vids) == 0 {
		return "-"
	}
	parts := make([]string, len(vids))
	for i, v := range vids {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ",")
}

// trunkText is what port attach says of a trunk it made.
func trunkText(t *api.TrunkInfo) string {
	var b strings.Builder
	if len(t.Carried) == 0 {
		b.WriteString("carrying no VLAN yet (networks made with --vlan join it)")
	} else {
		b.WriteString("carrying VLANs ")
		for i, v := range t.Carried {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%d (%s)", v, t.Networks[i])
		}
	}
	if t.Native != 0 {
		fmt.Fprintf(&b, ", native VLAN %d", t.Native)
	}
	return b.String()
}
