// Command vswitchctl is the client of vswitchd. Each command is one request to
// the daemon's HTTP API on its unix socket (package api), printed as a table or,
// with -o json, as JSON. It holds no state and makes no decision of its own: the
// daemon validates every request and its error message is what the user sees.
//
// The command line is a contract (shared/design/CLI.md): exit status 0 on
// success, 1 when the operation failed, 2 for a usage error, and every error is
// one line on stderr starting with "vswitchctl: ".
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"vswitch/api"
)

// Set at build time: go build -ldflags "-X main.version=1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses of CLI.md.
const (
	exitOK     = 0
	exitFailed = 1 // the daemon said no, or could not be reached
	exitUsage  = 2 // the command line is wrong
)

// run executes one command line and returns the exit status. Tests call it
// directly.
func run(args []string, stdout, stderr io.Writer) int {
	if args == nil {
		args = []string{} // cobra reads os.Args when given nil
	}
	a := &app{stdout: stdout}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	_, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "vswitchctl: "+oneLine(err.Error()))
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}

// app is what every command shares: the global flags and where to print.
type app struct {
	stdout io.Writer
	socket string
	output string // "table" or "json"
}

// do sends one request to the daemon. Its errors are operation errors (exit 1):
// for a refusal, the daemon's own message.
func (a *app) do(method, path string, in, out any) error {
	return api.NewClient(a.socket).Do(method, path, in, out)
}

func (a *app) json() bool { return a.output == "json" }

func (a *app) printf(format string, args ...any) {
	fmt.Fprintf(a.stdout, format, args...)
}

func newRootCmd(a *app) *cobra.Command {
	socket := os.Getenv("VSWITCH_SOCKET")
	if socket == "" {
		socket = api.DefaultSocket
	}
	root := &cobra.Command{
		Use:   "vswitchctl",
		Short: "Control vswitchd, the userspace virtual switch and router",
		Long: `vswitchctl drives vswitchd and explains it. Each command is one request to the
daemon's HTTP API on its unix socket: networks (a broadcast domain with its
gateway, subnet and policy), ports (TAPs it creates in network namespaces, or
interfaces it attaches with AF_PACKET or AF_XDP), uplinks, routes, published
ports and ACLs; and what the dataplane decided: the MAC and neighbour tables,
connection tracking, counters with drop reasons, a trace of any packet's walk
through the stages, and captures. Output is a table, or JSON with -o json.

vswitchctl holds no state and decides nothing itself: the daemon validates
every request, and its message is what an error says.`,
		// Errors are printed by run, as one line; a usage dump would bury them.
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noSubcommand,
		RunE:          showHelp,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.output != "table" && a.output != "json" && (a.output != "dot" || cmd.Annotations[outputDot] == "") {
				return usageErrorf(cmd, "invalid output format %q: use -o table or -o json", a.output)
			}
			// cobra checks these itself only after this hook, with errors
			// that cannot be told apart from an operation's: checking first
			// makes them usage errors.
			if err := cmd.ValidateRequiredFlags(); err != nil {
				return usageErrorf(cmd, "%v", err)
			}
			if err := cmd.ValidateFlagGroups(); err != nil {
				return usageErrorf(cmd, "%v", err)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErrorf(cmd, "%v", err)
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.socket, "socket", socket, "vswitchd's unix socket (env VSWITCH_SOCKET)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")

	root.AddCommand(
		newNetworkCmd(a),
		newPortCmd(a),
		newUplinkCmd(a),
		newRouteCmd(a),
		newPublishCmd(a),
		newACLCmd(a),
		newConntrackCmd(a),
		newFDBCmd(a),
		newARPCmd(a),
		newStatsCmd(a),
		newTraceCmd(a),
		newCaptureCmd(a),
		newTopCmd(a),
		newVersionCmd(a),
		newReloadCmd(a),
		newCompletionCmd(a),
		newManCmd(a),
	)
	return root
}

// group returns a command that only holds subcommands: alone it prints its
// help, with an unknown subcommand it is a usage error.
func group(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noSubcommand,
		RunE:  showHelp,
	}
}

func showHelp(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// noSubcommand rejects what cobra found no subcommand for. Without it, cobra
// prints the help and exits 0 for "vswitchctl network frob".
func noSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(", did you mean %q?", s[0])
	}
	return usageErrorf(cmd, "%s", msg)
}

// positional accepts the arguments named (as in the command's Use), the first
// `required` of them mandatory, and says which one is missing or extra.
func positional(required int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < required {
			return usageErrorf(cmd, "missing %s", strings.Join(names[len(args):required], " "))
		}
		if len(args) > len(names) {
			return usageErrorf(cmd, "unexpected argument %q", args[len(names)])
		}
		return nil
	}
}

// usageError is a mistake in the command line itself (exit status 2). Its
// message ends by saying where to read how to do it right.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...) + fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())}
}

// oneLine folds a multi-line message so that every error is one line on stderr.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}
