package main

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"vswitch/api"
)

func newConntrackCmd(a *app) *cobra.Command {
	cmd := group("conntrack", "Show and flush the connection table, like 'conntrack -L' and 'conntrack -F'")
	cmd.AddCommand(
		newConntrackShowCmd(a),
		newConntrackFlushCmd(a),
	)
	return cmd
}

// protoNumber is what conntrack -L prints after the protocol's name.
var protoNumber = map[string]int{"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58}

func newConntrackShowCmd(a *app) *cobra.Command {
	var proto string
	cmd := &cobra.Command{
		Use:     "show [--proto tcp|udp|icmp|icmpv6]",
		Aliases: []string{"ls", "list"},
		Short:   "List tracked connections, one per line as 'conntrack -L' prints them",
		Long: `List tracked connections, one per line as 'conntrack -L' prints them:
protocol, its number, seconds until the entry expires, state, then the
original tuple (as the first packet came) and the reply tuple (what the
answers carry; it differs from the original reversed when the connection is
NATed). ICMP echo shows its identifier as id=N; in JSON it is both sport and
dport. IPv6 connections follow the IPv4 ones, in the same form (ICMPv6 echo
as icmpv6); --proto tcp or udp lists both families'.`,
		Args: positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/conntrack"
			switch proto {
			case "":
			case "tcp", "udp", "icmp", "icmpv6":
				path += "?" + url.Values{"proto": {proto}}.Encode()
			default:
				return usageErrorf(cmd, "invalid --proto %q: use tcp, udp, icmp or icmpv6", proto)
			}
			var conns []api.ConntrackEntry
			if err := a.do(http.MethodGet, path, nil, &conns); err != nil {
				return err
			}
			conns = nonNil(conns)
			if a.json() {
				return printJSON(a.stdout, conns)
			}
			for _, c := range conns {
				a.printf("%-8s %d %d %s %s %s\n", c.Proto, protoNumber[c.Proto], c.TimeoutS, c.State,
					tupleText(c.Proto, c.Orig), tupleText(c.Proto, c.Reply))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&proto, "proto", "", "only tcp, udp, icmp or icmpv6 connections")
	return cmd
}

func tupleText(proto string, t api.ConntrackTuple) string {
	if proto == "icmp" || proto == "icmpv6" {
		return fmt.Sprintf("src=%s dst=%s id=%d", t.Src, t.Dst, t.SPort)
	}
	return fmt.Sprintf("src=%s dst=%s sport=%d dport=%d", t.Src, t.Dst, t.SPort, t.DPort)
}

func newConntrackFlushCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "flush",
		Short: "Empty the connection table: the next packet of every flow is new to it",
		Args:  positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res api.ConntrackFlush
			if err := a.do(http.MethodDelete, "/conntrack", nil, &res); err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, res)
			}
			a.printf("flushed %d connection(s)\n", res.Flushed)
			return nil
		},
	}
}
