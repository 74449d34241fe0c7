package main

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"vswitch/api"
)

// `network vtep add|ls|rm`: the remote VTEPs of a VXLAN network.

func newNetworkVTEPCmd(a *app) *cobra.Command {
	cmd := group("vtep", "Add, list and remove the remote VTEPs of a VXLAN network")
	cmd.AddCommand(newVTEPAddCmd(a), newVTEPLsCmd(a), newVTEPRmCmd(a))
	return cmd
}

func vtepPath(network string) string { return "/networks/" + url.PathEscape(network) + "/vteps" }

func newVTEPAddCmd(a *app) *cobra.Command {
	var mac string
	cmd := &cobra.Command{
		Use:   "add NETWORK IP [--mac MAC]",
		Short: "Add a remote VTEP: it gets the network's flooded frames (head-end replication); --mac pins a MAC behind it",
		Args:  positional(2, "NETWORK", "IP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v api.VTEP
			if err := a.do(http.MethodPost, vtepPath(args[0]), api.VTEPAdd{IP: args[1], MAC: mac}, &v); err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, v)
			}
			if mac != "" {
				a.printf("pinned %s behind VTEP %s on network %s\n", mac, v.IP, args[0])
			} else {
				a.printf("added VTEP %s to network %s\n", v.IP, args[0])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&mac, "mac", "", "a static entry: frames to this MAC go to this VTEP only")
	return cmd
}

func newVTEPLsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "ls NETWORK",
		Aliases: []string{"list", "show"},
		Short:   "List the remote VTEPs and the MACs learned (or pinned) behind each, with their age",
		Args:    positional(1, "NETWORK"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var vs []api.VTEP
			if err := a.do(http.MethodGet, vtepPath(args[0]), nil, &vs); err != nil {
				return err
			}
			vs = nonNil(vs)
			for i := range vs {
				vs[i].MACs = nonNil(vs[i].MACs)
			}
			if a.json() {
				return printJSON(a.stdout, vs)
			}
			t := newTable(a.stdout, "VTEP", "MAC", "AGE", "STATIC")
			for _, v := range vs {
				if len(v.MACs) == 0 {
					t.row(v.IP, "", "", "")
				}
				for _, m := range v.MACs {
					age := fmt.Sprintf("%ds", m.AgeS)
					if m.Static {
						age = ""
					}
					t.row(v.IP, m.MAC, age, yesNo(m.Static))
				}
			}
			return t.flush()
		},
	}
}

func newVTEPRmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NETWORK IP",
		Aliases: []string{"remove", "del"},
		Short:   "Remove a remote VTEP and every MAC behind it",
		Args:    positional(2, "NETWORK", "IP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.do(http.MethodDelete, vtepPath(args[0])+"/"+url.PathEscape(args[1]), nil, nil); err != nil {
				return err
			}
			if !a.json() {
				a.printf("removed VTEP %s from network %s\n", args[1], args[0])
			}
			return nil
		},
	}
}
