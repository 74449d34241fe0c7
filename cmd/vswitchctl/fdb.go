package main

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"vswitch/api"
)

func newFDBCmd(a *app) *cobra.Command {
	cmd := group("fdb", "Show and edit the forwarding databases (MAC tables), like 'bridge fdb'")
	cmd.AddCommand(
		newFDBShowCmd(a),
		newFDBAddCmd(a),
		newFDBDelCmd(a),
	)
	return cmd
}

func newFDBShowCmd(a *app) *cobra.Command {
	var network string
	cmd := &cobra.Command{
		Use:     "show",
		Aliases: []string{"ls"},
		Short:   "List learned and static MAC addresses",
		Args:    positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/fdb"
			if network != "" {
				path += "?" + url.Values{"network": {network}}.Encode()
			}
			var entries []api.FDBEntry
			if err := a.do(http.MethodGet, path, nil, &entries); err != nil {
				return err
			}
			entries = nonNil(entries)
			if a.json() {
				return printJSON(a.stdout, entries)
			}
			t := newTable(a.stdout, "MAC", "PORT", "NETWORK", "AGE", "STATIC")
			for _, e := range entries {
				t.row(e.MAC, e.Port, e.Network, fmt.Sprintf("%ds", e.AgeS), yesNo(e.Static))
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&network, "network", "", "only the entries of this network")
	return cmd
}

func newFDBAddCmd(a *app) *cobra.Command {
	var req api.FDBAdd
	cmd := &cobra.Command{
		Use:   "add MAC --port NAME",
		Short: "Add a static entry: frames to MAC go to port NAME, and it never ages",
		Args:  positional(1, "MAC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.MAC = args[0]
			var e api.FDBEntry
			if err := a.do(http.MethodPost, "/fdb", req, &e); err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, e)
			}
			a.printf("added static entry %s on port %s (network %s)\n", e.MAC, e.Port, e.Network)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Port, "port", "", "the port frames to MAC leave by")
	_ = cmd.MarkFlagRequired("port")
	return cmd
}

func newFDBDelCmd(a *app) *cobra.Command {
	var network string
	cmd := &cobra.Command{
		Use:     "del MAC --network NETWORK",
		Aliases: []string{"rm"},
		Short:   "Remove an entry, learned or static",
		Args:    positional(1, "MAC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/fdb/" + url.PathEscape(args[0]) + "?" + url.Values{"network": {network}}.Encode()
			if err := a.do(http.MethodDelete, path, nil, nil); err != nil {
				return err
			}
			if !a.json() {
				a.printf("removed %s from network %s\n", args[0], network)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&network, "network", "", "the network whose FDB holds MAC")
	_ = cmd.MarkFlagRequired("network")
	return cmd
}
