package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"vswitch/internal/manpage"
)

// newManCmd writes a manual page for vswitchctl and for each of its
// commands, made from the same texts as --help (package manpage), so that
// `man vswitchctl-port-add` and `vswitchctl port add --help` agree. The
// Debian package (make deb) installs them.
func newManCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "man DIR",
		Short: "Write the manual pages of vswitchctl and its commands (roff, section 1) into DIR",
		Long: `Write vswitchctl.1 and one page per command (vswitchctl-port-add.1, ...) into
DIR, which is created if missing. The pages say what --help says. Their date
is SOURCE_DATE_EPOCH's when it is set (a reproducible build), else today's.`,
		Args: positional(1, "DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			date, err := manDate()
			if err != nil {
				return usageErrorf(cmd, "%v", err)
			}
			n, err := writeManPages(cmd.Root(), args[0], date)
			if err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, map[string]any{"dir": args[0], "pages": n})
			}
			a.printf("wrote %d manual pages to %s\n", n, args[0])
			return nil
		},
	}
}

// manDate is the pages' date: SOURCE_DATE_EPOCH (reproducible builds) or now.
func manDate() (string, error) {
	t := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return "", fmt.Errorf("SOURCE_DATE_EPOCH %q is not a number of seconds", s)
		}
		t = time.Unix(sec, 0)
	}
	return t.UTC().Format("2006-01-02"), nil
}

// pageName is a command's page: "vswitchctl-port-add".
func pageName(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "-")
}

func writeManPages(root *cobra.Command, dir, date string) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("cannot create %s: %v", dir, err)
	}
	n := 0
	var err error
	walkCommands(root, func(c *cobra.Command) {
		if err != nil {
			return
		}
		p := commandPage(c, date)
		path := filepath.Join(dir, p.Name+".1")
		var f *os.File
		if f, err = os.Create(path); err != nil {
			err = fmt.Errorf("cannot write %s: %v", path, err)
			return
		}
		if err = p.Write(f); err == nil {
			err = f.Close()
		} else {
			f.Close()
		}
		n++
	})
	return n, err
}

// commandPage is one command's page.
func commandPage(c *cobra.Command, date string) *manpage.Page {
	p := &manpage.Page{
		Name: pageName(c), Section: 1, Date: date,
		Source: "vswitch " + version, Manual: "vswitch manual",
		Short:       c.Short,
		Synopsis:    []string{c.UseLine()},
		Description: c.Long,
	}
	if p.Description == "" {
		p.Description = c.Short + "."
	}
	if c.HasAvailableSubCommands() {
		p.Synopsis = []string{c.CommandPath() + " COMMAND [flags]"}
	}
	for _, s := range c.Commands() {
		if s.Hidden || s.Name() == "help" {
			continue
		}
		p.Commands = append(p.Commands, manpage.Command{
			Name: strings.TrimPrefix(s.CommandPath(), "vswitchctl "), Page: pageName(s) + "(1)", Short: s.Short,
		})
	}
	p.Options = flagOptions(c.NonInheritedFlags())
	p.Global = flagOptions(c.InheritedFlags())
	if !c.HasParent() {
		p.Global = flagOptions(c.PersistentFlags())
	}
	if c.Example != "" {
		p.Sections = append(p.Sections, manpage.Section{Title: "Examples", Text: c.Example})
	}
	p.Sections = append(p.Sections, manpage.Section{Title: "Exit status", Text: `0 on success; 1 when the operation failed (the daemon refused it, with its reason, or could not be reached); 2 for a usage error. Every error is one line on stderr starting with "vswitchctl: ".`})
	p.Sections = append(p.Sections, manpage.Section{Title: "Environment", Text: "VSWITCH_SOCKET: vswitchd's unix socket when --socket is not given."})
	if c.HasParent() {
		p.SeeAlso = append(p.SeeAlso, pageName(c.Parent())+"(1)")
	}
	p.SeeAlso = append(p.SeeAlso, "vswitchd(8)", "/usr/share/doc/vswitch/cli.md")
	return p
}

// flagOptions lists a flag set's visible flags, help aside.
func flagOptions(fs *pflag.FlagSet) []manpage.Option {
	var out []manpage.Option
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		_, usage := pflag.UnquoteUsage(f)
		o := manpage.Option{Short: f.Shorthand, Long: f.Name, Usage: usage}
		switch f.Value.Type() {
		case "bool":
		case "int", "uint", "uint16", "uint32", "int64", "float64":
			o.Arg = "N"
		case "duration":
			o.Arg = "DURATION"
		default: // a string: named after the flag, as docs/cli.md does (--netns NETNS)
			o.Arg = strings.ToUpper(f.Name)
		}
		switch {
		case f.DefValue == "", f.DefValue == "false", f.DefValue == "0", f.DefValue == "[]":
		case strings.Contains(usage, "default"): // the usage says it better
		default:
			o.Def = f.DefValue
		}
		out = append(out, o)
	})
	return out
}

// walkCommands calls fn for cmd and every command under it a user can run
// (not the hidden ones, nor cobra's own help).
func walkCommands(cmd *cobra.Command, fn func(*cobra.Command)) {
	if cmd.Hidden || cmd.Name() == "help" {
		return
	}
	fn(cmd)
	for _, c := range cmd.Commands() {
		walkCommands(c, fn)
	}
}
