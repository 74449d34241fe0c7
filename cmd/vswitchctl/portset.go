package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"vswitch/api"
)

// port set: a port's ingress policing (daemon/police.go validates).

func newPortSetCmd(a *app) *cobra.Command {
	var rate, burst string
	cmd := &cobra.Command{
		Use:   "set PORT --rate MBIT [--burst KB]",
		Short: "Police what a port may send: a rate in Mbit/s and a burst in KB (--rate 0 removes it)",
		Long: `Police what a port may send, as Open vSwitch's ingress_policing_rate and
ingress_policing_burst: a token bucket of --burst KB (1024 bytes) filled at
--rate Mbit/s; a frame from the port that the bucket cannot pay for is
dropped and counted as 'policed'. A GSO super-frame costs the segments it
carries, each with its headers. --burst defaults to a quarter second of
the rate and at least 1000 KB (OVS's default, 8000 kbit), which lets TCP
hold the rate; it must hold one 64 KiB frame. --rate 0 removes the limit.
Kept in the state file and applied again at restart.`,
		Args: positional(1, "PORT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req api.PortSet
			var err error
			if cmd.Flags().Changed("rate") {
				if req.IngressRateMbit, err = wholeNumber("--rate", rate, "Mbit/s"); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("burst") {
				if req.IngressBurstKB, err = wholeNumber("--burst", burst, "KB"); err != nil {
					return err
				}
			}
			if req.IngressRateMbit == nil && req.IngressBurstKB == nil {
				return usageErrorf(cmd, "nothing to set: pass --rate MBIT (and --burst KB)")
			}
			var p api.Port
			if err := a.do(http.MethodPost, "/ports/"+url.PathEscape(args[0])+"/set", req, &p); err != nil {
				return err
			}
			if a.json() {
				return printJSON(a.stdout, p)
			}
			if p.IngressRateMbit == 0 {
				a.printf("port %s: no ingress policing\n", p.Name)
			} else {
				a.printf("port %s: ingress policed to %d Mbit/s, burst %d KB\n", p.Name, p.IngressRateMbit, p.IngressBurstKB)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&rate, "rate", "", "Mbit/s the port may send (1 to 100000); 0 removes the limit")
	f.StringVar(&burst, "burst", "", "bucket size in KB of 1024 bytes (64 to 1048576; default: a quarter second of the rate, at least 1000)")
	return cmd
}

// wholeNumber reads a flag's value as an integer; the daemon checks its
// range. A value that is no number is the operation's error (exit 1), said
// in one line.
func wholeNumber(flag, s, unit string) (*int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil, fmt.Errorf("bad %s %q: want a whole number of %s", flag, s, unit)
	}
	return &n, nil
}

// policeText is the RATE column of port ls.
func policeText(p api.Port) string {
	if p.IngressRateMbit == 0 {
		return ""
	}
	return fmt.Sprintf("%dMbit/%dKB", p.IngressRateMbit, p.IngressBurstKB)
}
