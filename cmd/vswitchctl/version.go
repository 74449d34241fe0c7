package main

import (
	"net/http"
	"runtime"

	"github.com/spf13/cobra"

	"vswitch/api"
)

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of vswitchctl and of the vswitchd it talks to",
		Args:  positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			client := api.Version{Version: version, Commit: commit, Go: runtime.Version()}
			var daemon api.Version
			// The client's version is printed even when the daemon cannot
			// be reached: that is when it is wanted most.
			err := a.do(http.MethodGet, "/version", nil, &daemon)
			if a.json() {
				out := struct {
					Client api.Version  `json:"client"`
					Daemon *api.Version `json:"daemon,omitempty"`
				}{Client: client}
				if err == nil {
					out.Daemon = &daemon
				}
				if perr := printJSON(a.stdout, out); perr != nil {
					return perr
				}
				return err
			}
			a.printf("client: vswitchctl %s (commit %s, %s)\n", client.Version, client.Commit, client.Go)
			if err != nil {
				return err
			}
			a.printf("daemon: vswitchd %s (commit %s, %s)\n", daemon.Version, daemon.Commit, daemon.Go)
			return nil
		},
	}
}
