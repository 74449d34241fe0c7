package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"vswitch/api"
)

func newUplinkCmd(a *app) *cobra.Command {
	cmd := group("uplink", "Add, list and remove uplinks: the way out of vswitchd's networks")
	cmd.AddCommand(
		newUplinkAddCmd(a),
		newUplinkLsCmd(a),
		newUplinkRmCmd(a),
	)
	return cmd
}

func newUplinkAddCmd(a *app) *cobra.Command {
	var req api.UplinkAdd
	cmd := &cobra.Command{
		Use:   "add --dev IF --ip CIDR [--ip6 ADDR/PLEN [--gateway6 IP6]] [--vlan N]",
		Short: "Take an interface as uplink, with an address owned by vswitchd",
		Long: `Take an interface as uplink, with an address owned by vswitchd.

The address is vswitchd's, not the kernel's: the interface under it should have
none. vswitchd answers ARP and ping for it, routes the traffic of non-internal
networks out through it (masquerading it to this address, unless the network
has --no-masquerade), and forwards ports published with 'publish add' on it.
With --gateway, the default route goes via that next hop.

With --ip6, vswitchd also owns an IPv6 address on the link: it answers
neighbour solicitations and ping for it, resolves its next hops by neighbour
discovery, masquerades the IPv6 of networks made with --nat66 to it, and
answers published ports on it. With --gateway6, the IPv6 default route goes
via that next hop. A network without --nat66 keeps its IPv6 addresses: the
far side needs a route to its prefix via the --ip6 address.

With --vlan N, the uplink's frames are 802.1Q-tagged N on the interface, and
only frames tagged N are the uplink's. Several uplinks on one interface, each
with its own --vlan, share its socket (an uplink trunk).`,
		Args: positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var u api.Uplink
			if err := a.do(http.MethodPost, "/uplinks", req, &u); err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, u)
			}
			where := ""
			if u.Netns != "" {
				where = " in netns " + u.Netns
			}
			gw := ""
			if u.Gateway != "" {
				gw = ", gateway " + u.Gateway
			}
			if u.IP6 != "" {
				gw += ", ip6 " + u.IP6
			}
			if u.Gateway6 != "" {
				gw += ", gateway6 " + u.Gateway6
			}
			if u.VLAN != 0 {
				gw += fmt.Sprintf(", vlan %d", u.VLAN)
			}
			a.printf("added uplink %s %s on dev %s%s (mac %s%s)\n", u.Name, u.IP, u.Dev, where, u.MAC, gw)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Dev, "dev", "", "the interface to take")
	f.StringVar(&req.Netns, "netns", "", "namespace of the interface (default: vswitchd's own)")
	f.StringVar(&req.IP, "ip", "", "vswitchd's address on the link, as CIDR")
	f.StringVar(&req.Gateway, "gateway", "", "next hop of the default route (default: none)")
	f.StringVar(&req.Name, "name", "", "uplink name (default: chosen by vswitchd)")
	f.StringVar(&req.IP6, "ip6", "", "vswitchd's IPv6 address on the link with its prefix, ADDR/PLEN (default: none)")
	f.StringVar(&req.Gateway6, "gateway6", "", "next hop of the IPv6 default route, on the --ip6 prefix (default: none)")
	f.IntVar(&req.VLAN, "vlan", 0, "802.1Q VLAN id of the uplink's frames on the interface, 1 to 4094 (default: untagged)")
	_ = cmd.MarkFlagRequired("dev")
	_ = cmd.MarkFlagRequired("ip")
	return cmd
}

func newUplinkLsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List uplinks",
		Args:    positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ups []api.Uplink
			if err := a.do(http.MethodGet, "/uplinks", nil, &ups); err != nil {
				return err
			}
			ups = nonNil(ups)
			if a.json() {
				return printJSON(a.stdout, ups)
			}
			// The IPv6 columns only when some uplink has IPv6, so the
			// IPv4-only listing reads as before.
			v6 := slices.ContainsFunc(ups, func(u api.Uplink) bool { return u.IP6 != "" })
			vlan := slices.ContainsFunc(ups, func(u api.Uplink) bool { return u.VLAN != 0 })
			cols := []any{"NAME", "DEV", "NETNS", "IP", "GATEWAY", "MAC", "STATE"}
			if v6 {
				cols = append(cols, "IP6", "GATEWAY6")
			}
			if vlan { // likewise the VLAN column
				cols = append(cols, "VLAN")
			}
			t := newTable(a.stdout, cols...)
			for _, u := range ups {
				row := []any{u.Name, u.Dev, u.Netns, u.IP, u.Gateway, u.MAC, u.State}
				if v6 {
					row = append(row, u.IP6, u.Gateway6)
				}
				if vlan {
					v := "-"
					if u.VLAN != 0 {
						v = strconv.Itoa(u.VLAN)
					}
					row = append(row, v)
				}
				t.row(row...)
			}
			return t.flush()
		},
	}
}

func newUplinkRmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"remove"},
		Short:   "Remove an uplink",
		Args:    positional(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.do(http.MethodDelete, "/uplinks/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			if !a.json() {
				a.printf("removed uplink %s\n", args[0])
			}
			return nil
		},
	}
}
