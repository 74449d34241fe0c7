package main

import (
	"cmp"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"vswitch/api"
)

func newStatsCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "stats [PORT]",
		Short: "Per-port packet, byte and drop counters, and drops by reason",
		Args:  positional(0, "PORT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/stats"
			if len(args) == 1 {
				path += "?" + url.Values{"port": {args[0]}}.Encode()
			}
			var s api.Stats
			if err := a.do(http.MethodGet, path, nil, &s); err != nil {
				return err
			}
			s = cleanStats(s)
			if a.json() {
				return printJSON(a.stdout, s)
			}
			return printStats(a.stdout, s)
		},
	}
}

func cleanStats(s api.Stats) api.Stats {
	s.Ports = nonNil(s.Ports)
	s.Drops = nonNilMap(s.Drops)
	for i := range s.Ports {
		s.Ports[i].Drops = nonNilMap(s.Ports[i].Drops)
	}
	return s
}

// printStats prints one row per port, then which reasons the drops had and
// on which ports, the biggest first: the reason is what tells what to fix.
func printStats(w io.Writer, s api.Stats) error {
	t := newTable(w, "PORT", "NETWORK", "RX-PKTS", "RX-BYTES", "TX-PKTS", "TX-BYTES", "RX-GSO", "DROPS")
	for _, p := range s.Ports {
		t.row(p.Name, p.Network, p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes, p.RxGSO, sum(p.Drops))
	}
	if err := t.flush(); err != nil {
		return err
	}

	type reason struct {
		name   string
		total  uint64
		byPort []string // "PORT=COUNT"
	}
	var reasons []reason
	for _, name := range dropReasons(s) {
		r := reason{name: name}
		var portSum uint64
		for _, p := range s.Ports {
			if n := p.Drops[name]; n > 0 {
				portSum += n
				r.byPort = append(r.byPort, fmt.Sprintf("%s=%d", p.Name, n))
			}
		}
		r.total = portSum
		if n, ok := s.Drops[name]; ok {
			r.total = n
		}
		if r.total > 0 || len(r.byPort) > 0 {
			reasons = append(reasons, r)
		}
	}
	if len(reasons) == 0 {
		return nil
	}
	slices.SortFunc(reasons, func(x, y reason) int {
		return cmp.Or(cmp.Compare(y.total, x.total), strings.Compare(x.name, y.name))
	})
	fmt.Fprintln(w, "\nDrops by reason:")
	t = newTable(w, "REASON", "COUNT", "PORTS")
	for _, r := range reasons {
		t.row(r.name, r.total, strings.Join(r.byPort, " "))
	}
	return t.flush()
}

// dropReasons lists every reason named in the totals or by a port.
func dropReasons(s api.Stats) []string {
	seen := map[string]bool{}
	for name := range s.Drops {
		seen[name] = true
	}
	for _, p := range s.Ports {
		for name := range p.Drops {
			seen[name] = true
		}
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	return names
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
