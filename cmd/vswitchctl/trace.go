package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"vswitch/api"
)

func newTraceCmd(a *app) *cobra.Command {
	var req api.TraceRequest
	var lreq api.TraceLiveRequest
	var live bool
	cmd := &cobra.Command{
		Use:   "trace --in PORT --dst IP [flags] | trace --live [filters]",
		Short: "Each stage's decision for a packet: a synthetic one (changes nothing), or real ones with --live",
		Long: `trace builds a packet as the container behind --in would send it and runs it
through vswitchd's pipeline without side effects (nothing learned, tracked,
queued or sent), printing each stage's decision and the state it used. The
last line is "Verdict: forward to PORT ..." or "Verdict: drop (REASON)".

trace --live follows real packets that match the filters (addresses and
--dport match either direction, so answers show too) and prints the same
records as they pass, until --count packets or Ctrl-C.`,
		Args: positional(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl := cmd.Flags()
			if live {
				for _, f := range []string{"in", "src-mac", "dst-mac", "sport"} {
					if fl.Changed(f) {
						return usageErrorf(cmd, "--%s is for a synthetic packet, not --live (filter with --port, --src, --dst, --proto, --dport)", f)
					}
				}
				lreq.Src, lreq.Dst, lreq.Proto, lreq.DPort = req.Src, req.Dst, req.Proto, req.DPort
				return a.traceLive(lreq)
			}
			for _, f := range []string{"port", "count", "drops"} {
				if fl.Changed(f) {
					return usageErrorf(cmd, "--%s is for --live; a synthetic packet enters at --in PORT", f)
				}
			}
			if req.In == "" || req.Dst == "" {
				return usageErrorf(cmd, "give --in PORT and --dst IP (or --live to follow real packets)")
			}
			var t api.Trace
			if err := a.do(http.MethodPost, "/trace", req, &t); err != nil {
				return err
			}
			t.Stages = nonNil(t.Stages)
			if a.json() {
				return printJSON(a.stdout, t)
			}
			printTrace(a.stdout, t)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.In, "in", "", "port the packet enters at")
	f.StringVar(&req.SrcMAC, "src-mac", "", "source MAC (default: the port's)")
	f.StringVar(&req.DstMAC, "dst-mac", "", "destination MAC (default: the gateway's off the subnet, else the station's)")
	f.StringVar(&req.Src, "src", "", "source IPv4 or IPv6 address (default: the port's); with --live, either end")
	f.StringVar(&req.Dst, "dst", "", "destination IPv4 or IPv6 address; with --live, the other end")
	f.StringVar(&req.Proto, "proto", "", "tcp, udp or icmp (default: tcp with --dport, else icmp); to an IPv6 --dst icmpv6 (echo) or nd (a neighbour solicitation for it)")
	f.IntVar(&req.SPort, "sport", 0, "source port (default 40000), or the ICMP echo identifier")
	f.IntVar(&req.DPort, "dport", 0, "destination port")
	f.BoolVar(&live, "live", false, "follow real packets instead of a synthetic one")
	f.StringVar(&lreq.Port, "port", "", "with --live: packets in or out of this port")
	f.IntVar(&lreq.Count, "count", 10, "with --live: stop after this many packets")
	f.BoolVar(&lreq.Drops, "drops", false, "with --live: only packets the pipeline drops, each with the stage and reason")
	return cmd
}

// printTrace prints the packet, one line per stage, and the verdict last.
func printTrace(w io.Writer, t api.Trace) {
	head := "Packet"
	if t.Time != "" {
		head = t.Time
	}
	fmt.Fprintf(w, "%s: in %s (%s): %s\n", head, t.In, t.Network, t.Frame.String())
	for _, s := range t.Stages {
		d := s.Decision
		if s.Reason != "" && s.Decision == "drop" {
			d += " (" + s.Reason + ")"
		}
		fmt.Fprintf(w, "  %-10s %-17s %s\n", s.Stage, d, s.Text)
	}
	if t.Truncated {
		fmt.Fprintln(w, "  (more stages than a trace keeps)")
	}
	fmt.Fprintf(w, "Verdict: %s\n", t.Verdict.Text)
}

// traceLive streams the records of real packets until the daemon ends the
// trace (--count reached) or Ctrl-C.
func (a *app) traceLive(req api.TraceLiveRequest) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var packets int
	var overflow uint64
	why := "stopped"
	err := api.NewClient(a.socket).Stream(ctx, http.MethodPost, "/trace/live", req, func(line []byte) error {
		var ev api.TraceEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return fmt.Errorf("vswitchd sent a trace record this vswitchctl cannot read (%v): are both the same version?", err)
		}
		overflow = ev.Overflow
		if a.json() {
			a.printf("%s\n", line)
		}
		switch {
		case ev.Trace != nil:
			packets++
			if !a.json() {
				if packets > 1 {
					a.printf("\n")
				}
				ev.Trace.Stages = nonNil(ev.Trace.Stages)
				printTrace(a.stdout, *ev.Trace)
			}
		case ev.End != nil:
			why = ev.End.Why
			overflow = ev.End.Overflow
		}
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if !a.json() {
		a.printf("\n%d packets traced (%s)", packets, why)
		if overflow > 0 {
			a.printf("; %d records lost: the workers do not wait for a slow reader", overflow)
		}
		a.printf("\n")
	}
	return nil
}
