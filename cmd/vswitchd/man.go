package main

import (
	"flag"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"vswitch/daemon"
	"vswitch/internal/manpage"
)

// flagArgs names the value of each flag that takes one, as docs/cli.md
// writes it.
var flagArgs = map[string]string{
	"config": "FILE", "check-config": "FILE", "socket": "PATH", "socket-group": "GROUP",
	"state-dir": "DIR", "log-level": "LEVEL", "metrics-addr": "HOST:PORT", "workers": "N",
	"worker-nice": "N", "worker-spin": "DURATION", "worker-rt": "N", "afpacket-ring": "off|v2|v3",
	"conntrack-max": "N", "nat-ports": "LOW-HIGH", "dns-upstream": "IP[:PORT]",
}

const manDescription = `vswitchd is a virtual switch and router in userspace. It owns TAP ports it
creates inside network namespaces, and interfaces it attaches with AF_PACKET or
AF_XDP, and does for them what Docker asks of the Linux bridge and iptables:
MAC learning and flooding, ARP and IPv6 neighbour discovery at each network's
gateway, longest-prefix routing between networks and to uplinks, masquerade and
published ports with connection tracking, and Docker's isolation between
networks. vswitchctl(1) drives it through an HTTP API on a unix socket.

It runs in the foreground and logs to stderr. On its first start, unless
--no-default-network is given, it creates the network bridge (172.17.0.0/16,
gateway 172.17.0.1, masquerade on), as Docker does. Whether it stops or dies,
its TAPs stay in their namespaces with their addresses and routes; the next
start takes them over from the state file.`

const manSignals = `SIGINT, SIGTERM: stop cleanly (exit 0).
SIGHUP: read the --config file again and apply what changed: networks, ports
and options added, removed or changed live; a file with an error is refused
whole, with its line, and nothing changes.`

const manFiles = `/var/lib/vswitch/state.json
  networks, ports and tables to restore (--state-dir)
/run/vswitch/vswitchd.sock
  the API socket (--socket), mode 0660
/etc/vswitch/vswitchd.yaml
  the config file the packaged service reads (--config)
/etc/default/vswitchd
  the service's extra flags (VSWITCHD_OPTS)`

// writeManPage prints vswitchd(8) from the flag set: the flags and their
// usage strings are the ones -h prints.
func writeManPage(fs *flag.FlagSet, w io.Writer) int {
	date := time.Now()
	if s, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		date = time.Unix(s, 0)
	}
	p := &manpage.Page{
		Name: "vswitchd", Section: 8, Date: date.UTC().Format("2006-01-02"),
		Source: "vswitch " + daemon.Version, Manual: "vswitch manual",
		Short:       "the vswitch daemon: a userspace virtual switch and router for network namespaces",
		Synopsis:    []string{"vswitchd [flags]", "vswitchd --check-config FILE", "vswitchd --man"},
		Description: manDescription,
		Sections: []manpage.Section{
			{Title: "Signals", Text: manSignals},
			{Title: "Files", Text: manFiles},
			{Title: "Exit status", Text: "0 after a clean stop; 1 when it could not start (socket taken, state file damaged, config refused); 2 for a bad command line, in one line naming the flag."},
		},
		SeeAlso: []string{"vswitchctl(1)", "/usr/share/doc/vswitch/operators.md", "/usr/share/doc/vswitch/cli.md"},
	}
	fs.VisitAll(func(f *flag.Flag) {
		_, usage := flag.UnquoteUsage(f)
		o := manpage.Option{Long: f.Name, Arg: flagArgs[f.Name], Usage: usage}
		switch {
		case f.DefValue == "", f.DefValue == "false", f.DefValue == "0", f.DefValue == "0s", strings.Contains(usage, "default"):
		default:
			o.Def = f.DefValue
		}
		p.Options = append(p.Options, o)
	})
	if err := p.Write(w); err != nil {
		return 1
	}
	return 0
}
