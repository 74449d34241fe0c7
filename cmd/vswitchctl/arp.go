package main

import (
	"net/http"

	"github.com/spf13/cobra"

	"vswitch/api"
)

func newARPCmd(a *app) *cobra.Command {
	cmd := group("arp", "Show the neighbor (ARP) tables of vswitchd's router, like 'ip neigh'")
	cmd.AddCommand(newARPShowCmd(a))
	return cmd
}

func newARPShowCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "show",
		Aliases: []string{"ls"},
		Short:   "List neighbors: IP, MAC, state and the port behind which they are",
		Args:    positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var neighs []api.Neighbor
			if err := a.do(http.MethodGet, "/arp", nil, &neighs); err != nil {
				return err
			}
			neighs = nonNil(neighs)
			if a.json() {
				return printJSON(a.stdout, neighs)
			}
			t := newTable(a.stdout, "IP", "MAC", "STATE", "PORT")
			for _, n := range neighs {
				t.row(n.IP, n.MAC, n.State, n.Port)
			}
			return t.flush()
		},
	}
}
