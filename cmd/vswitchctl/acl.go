package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"vswitch/api"
)

func newACLCmd(a *app) *cobra.Command {
	cmd := group("acl", "Add, list and remove the rules of networks' ACLs")
	cmd.AddCommand(
		newACLAddCmd(a),
		newACLLsCmd(a),
		newACLRmCmd(a),
	)
	return cmd
}

func newACLAddCmd(a *app) *cobra.Command {
	var (
		req      api.ACLAdd
		priority int
	)
	cmd := &cobra.Command{
		Use:   "add NETWORK --action allow|deny",
		Short: "Add a rule to a network's ACL",
		Long: `Add a rule to a network's ACL.

A network's ACL decides which flows may be delivered to its ports, switched
inside the network or routed into it. Rules are tried by priority, lowest
first (then in the order they were added); the first that matches decides.
A flow no rule matches gets the network's default (network create
--acl-default, allow unless told otherwise). ACLs are stateful: the answers of
an allowed flow pass. An allow rule can admit a flow from another network that
isolation would drop. A flag left out matches anything.`,
		Args: positional(1, "NETWORK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Network = args[0]
			if req.Action != "allow" && req.Action != "deny" {
				return usageErrorf(cmd, "invalid --action %q: use allow or deny", req.Action)
			}
			switch req.Proto {
			case "", "tcp", "udp", "icmp", "icmpv6", "icmp6":
			default:
				return usageErrorf(cmd, "invalid --proto %q: use tcp, udp, icmp or icmpv6", req.Proto)
			}
			if req.DPort != "" && req.Proto != "tcp" && req.Proto != "udp" {
				return usageErrorf(cmd, "--dport needs --proto tcp or udp")
			}
			if cmd.Flags().Changed("priority") {
				req.Priority = &priority
			}
			var r api.ACLRule
			if err := a.do(http.MethodPost, "/acls", req, &r); err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, r)
			}
			a.printf("added rule %d to the ACL of network %s: %s\n", r.ID, r.Network, describeRule(r))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Action, "action", "", "allow or deny")
	f.StringVar(&req.Src, "src", "", "source prefix, IPv4 or IPv6 (CIDR or address; default any)")
	f.StringVar(&req.Dst, "dst", "", "destination prefix, IPv4 or IPv6 (CIDR or address; default any)")
	f.StringVar(&req.Proto, "proto", "", "tcp, udp, icmp or icmpv6 (default any)")
	f.StringVar(&req.DPort, "dport", "", "destination port N or range N-M (needs --proto tcp or udp)")
	f.IntVar(&priority, "priority", 100, "lower is tried first")
	_ = cmd.MarkFlagRequired("action")
	return cmd
}

// describeRule says what a rule matches, as its confirmation line prints it.
func describeRule(r api.ACLRule) string {
	s := []string{r.Action}
	for _, kv := range [][2]string{{"src", r.Src}, {"dst", r.Dst}, {"proto", r.Proto}, {"dport", r.DPort}} {
		if kv[1] != "" {
			s = append(s, kv[0]+" "+kv[1])
		}
	}
	if len(s) == 1 {
		s = append(s, "all")
	}
	return strings.Join(s, " ") + fmt.Sprintf(", priority %d", r.Priority)
}

func newACLLsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "ls [NETWORK]",
		Aliases: []string{"list", "show"},
		Short:   "List ACL rules in the order they are tried, with the flows each decided",
		Args:    positional(0, "NETWORK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/acls"
			if len(args) == 1 {
				path += "?" + url.Values{"network": {args[0]}}.Encode()
			}
			var rules []api.ACLRule
			if err := a.do(http.MethodGet, path, nil, &rules); err != nil {
				return err
			}
			rules = nonNil(rules)
			if a.json() {
				return printJSON(a.stdout, rules)
			}
			t := newTable(a.stdout, "ID", "NETWORK", "PRIORITY", "ACTION", "PROTO", "SRC", "DST", "DPORT", "HITS")
			for _, r := range rules {
				t.row(r.ID, r.Network, r.Priority, r.Action, r.Proto, r.Src, r.Dst, r.DPort, r.Hits)
			}
			return t.flush()
		},
	}
}

func newACLRmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "rm ID",
		Aliases: []string{"del", "remove"},
		Short:   "Remove an ACL rule (its ID is in 'acl ls')",
		Args:    positional(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.do(http.MethodDelete, "/acls/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			if !a.json() {
				a.printf("removed ACL rule %s\n", args[0])
			}
			return nil
		},
	}
}
