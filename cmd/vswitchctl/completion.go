package main

import (
	"github.com/spf13/cobra"
)

// completionShells are the shells cobra writes completion scripts for.
var completionShells = []string{"bash", "zsh", "fish", "powershell"}

// newCompletionCmd replaces cobra's default completion command, which
// answers an unknown shell with its help and exit 0: here that is a usage
// error (exit 2), as everywhere else. The scripts are cobra's: they ask
// vswitchctl itself (its hidden __complete command) what may follow, so
// they always match the binary.
func newCompletionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script for vswitchctl (bash, zsh, fish, powershell)",
		Long: `Print a script that makes the shell complete vswitchctl's commands and flags.

The Debian package (make deb) installs them where each shell finds them:
  bash  /usr/share/bash-completion/completions/vswitchctl (needs bash-completion)
  zsh   /usr/share/zsh/vendor-completions/_vswitchctl
  fish  /usr/share/fish/vendor_completions.d/vswitchctl.fish
Without the package, for the current shell only:
  bash  source <(vswitchctl completion bash)
  zsh   source <(vswitchctl completion zsh)
  fish  vswitchctl completion fish | source`,
		ValidArgs: completionShells,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := positional(1, "SHELL")(cmd, args); err != nil {
				return err
			}
			for _, s := range completionShells {
				if args[0] == s {
					return nil
				}
			}
			return usageErrorf(cmd, "unknown shell %q: want bash, zsh, fish or powershell", args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root, w := cmd.Root(), a.stdout
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			default:
				return root.GenPowerShellCompletionWithDesc(w)
			}
		},
	}
}
