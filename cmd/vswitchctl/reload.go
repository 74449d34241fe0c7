package main

import (
	"net/http"

	"github.com/spf13/cobra"

	"vswitch/api"
)

func newReloadCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Make vswitchd read its --config file again and apply what changed (as SIGHUP does)",
		Long: `Make vswitchd read its --config file again and apply what changed since it
was last applied: networks added or taken out, live options changed, ports,
published ports and ACL rules added or taken out. What did not change is not
touched. A file with a mistake is refused whole, with its line, and nothing
changes. Prints one line per change.`,
		Args: positional(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r api.Reload
			if err := a.do(http.MethodPost, "/reload", nil, &r); err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, r)
			}
			if len(r.Changes) == 0 {
				a.printf("config %s: nothing changed\n", r.File)
			}
			for _, c := range r.Changes {
				a.printf("%s\n", c)
			}
			return nil
		},
	}
}
