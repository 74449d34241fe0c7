package main

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"vswitch/api"
)

func newPublishCmd(a *app) *cobra.Command {
	cmd := group("publish", "Publish ports of containers on vswitchd's addresses, like 'docker run -p'")
	cmd.AddCommand(
		newPublishAddCmd(a),
		newPublishLsCmd(a),
		newPublishRmCmd(a),
	)
	return cmd
}

func newPublishAddCmd(a *app) *cobra.Command {
	var req api.PublishAdd
	cmd := &cobra.Command{
		Use:   "add NETWORK --proto tcp|udp --port [HOSTIP:]HPORT --to IP:PORT",
		Short: "Forward a port of vswitchd's addresses to a container (DNAT)",
		Long: `Forward a port of vswitchd's addresses to a container (DNAT), as 'docker run -p'.

Traffic to HPORT on HOSTIP, or on every address of vswitchd when HOSTIP is left
out (each uplink's and each gateway's, for hairpin, IPv4 and IPv6), goes to
IP:PORT on NETWORK. An IPv4 HOSTIP publishes on IPv4 only; an IPv6 one, in
brackets ([2001:db8:12::15]:8000), on IPv6 only, to the IPv6 address of the
port IP names. The container sees the client's real source address; a container
reaching a published port through vswitchd (hairpin) gets its answers back the
same way. Internal networks have no way in and refuse published ports.`,
		Args: positional(1, "NETWORK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Network = args[0]
			if req.Proto != "tcp" && req.Proto != "udp" {
				return usageErrorf(cmd, "invalid --proto %q: use tcp or udp", req.Proto)
			}
			var p api.Publish
			if err := a.do(http.MethodPost, "/publish", req, &p); err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, p)
			}
			host := p.HostIP
			if strings.Contains(host, ":") {
				host = "[" + host + "]" // an IPv6 host address, as --port takes it
			}
			a.printf("published %s %s:%d -> %s on network %s (rule %d)\n", p.Proto, host, p.HostPort, p.To, p.Network, p.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Proto, "proto", "", "tcp or udp")
	f.StringVar(&req.Port, "port", "", "the host port, optionally behind one of vswitchd's addresses: 8000, 10.0.12.15:8000 or [2001:db8:12::15]:8000 (IPv6 only)")
	f.StringVar(&req.To, "to", "", "the container's address and port on NETWORK, e.g. 172.17.0.101:8080")
	for _, name := range []string{"proto", "port", "to"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func newPublishLsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list", "show"},
		Short:   "List published ports (HOST-IP 0.0.0.0: every address of vswitchd)",
		Args:    positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var pubs []api.Publish
			if err := a.do(http.MethodGet, "/publish", nil, &pubs); err != nil {
				return err
			}
			pubs = nonNil(pubs)
			if a.json() {
				return printJSON(a.stdout, pubs)
			}
			t := newTable(a.stdout, "ID", "NETWORK", "PROTO", "HOST-IP", "HOST-PORT", "TO")
			for _, p := range pubs {
				t.row(p.ID, p.Network, p.Proto, p.HostIP, p.HostPort, p.To)
			}
			return t.flush()
		},
	}
}

func newPublishRmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "rm ID",
		Aliases: []string{"del", "remove"},
		Short:   "Stop publishing a port (its ID is in 'publish ls')",
		Args:    positional(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.do(http.MethodDelete, "/publish/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			if !a.json() {
				a.printf("removed publish rule %s\n", args[0])
			}
			return nil
		},
	}
}
