package main

import (
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"vswitch/api"
)

func newRouteCmd(a *app) *cobra.Command {
	cmd := group("route", "Add, list and remove routes of vswitchd's router, like 'ip route'")
	cmd.AddCommand(
		newRouteAddCmd(a),
		newRouteLsCmd(a),
		newRouteDelCmd(a),
	)
	return cmd
}

func newRouteAddCmd(a *app) *cobra.Command {
	var req api.RouteAdd
	cmd := &cobra.Command{
		Use:   "add PREFIX (--via IP | --port NAME)",
		Short: "Add a static route: traffic to PREFIX goes via a next hop, or out of a port",
		Args:  positional(1, "PREFIX"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Prefix = args[0]
			switch {
			case req.Via == "" && req.Port == "":
				return usageErrorf(cmd, "missing --via IP or --port NAME: say where traffic to %s goes", req.Prefix)
			case req.Via != "" && req.Port != "":
				return usageErrorf(cmd, "--via and --port cannot both be given: route via a next hop or out of a port")
			}
			var r api.Route
			if err := a.do(http.MethodPost, "/routes", req, &r); err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, r)
			}
			a.printf("added route %s%s\n", r.Prefix, routeTarget(r))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Via, "via", "", "next hop: an address on a network's subnet or the uplink's")
	f.StringVar(&req.Port, "port", "", "the port (TAP or attached) traffic to PREFIX leaves by, on-link")
	return cmd
}

// routeTarget says where a route leads, as a confirmation line prints it.
func routeTarget(r api.Route) string {
	s := ""
	if r.Via != "" {
		s += " via " + r.Via
	}
	if r.Port != "" {
		s += " port " + r.Port
	}
	return s
}

func newRouteLsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list", "show"},
		Short:   "List routes: connected, static and default",
		Args:    positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var routes []api.Route
			if err := a.do(http.MethodGet, "/routes", nil, &routes); err != nil {
				return err
			}
			routes = nonNil(routes)
			if a.json() {
				return printJSON(a.stdout, routes)
			}
			t := newTable(a.stdout, "PREFIX", "VIA", "PORT", "KIND")
			for _, r := range routes {
				t.row(r.Prefix, r.Via, r.Port, r.Kind)
			}
			return t.flush()
		},
	}
}

func newRouteDelCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "del PREFIX",
		Aliases: []string{"rm"},
		Short:   "Remove a static route",
		Args:    positional(1, "PREFIX"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/routes?" + url.Values{"prefix": {args[0]}}.Encode()
			if err := a.do(http.MethodDelete, path, nil, nil); err != nil {
				return err
			}
			if !a.json() {
				a.printf("removed route %s\n", args[0])
			}
			return nil
		},
	}
}
