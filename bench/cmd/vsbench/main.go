// Command vsbench is the bench harness (BENCH.md): `vsbench run` compares
// vswitchd with the kernel bridge and iptables and writes
// bench/results/latest.{json,md,png}. Its other subcommands are the
// traffic generators the harness runs inside its namespaces.
//
//	vsbench run [--mode full|quick] [flags]   # as root; bench/run.sh wraps it
//	vsbench clean                             # remove namespaces of dead runs
//	vsbench udpgen|udpsink|connclient|connsrv # used by run, inside namespaces
//	vsbench peersrv|peerask                   # the source-address check of run
//	vsbench rrsrv|rrclient                    # rr over IPv6 (sockperf 3.7 has no IPv6)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"vswitch/bench/harness"
	"vswitch/bench/report"
	"vswitch/bench/traffic"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = cmdRun(os.Args[2:])
	case "clean":
		err = harness.CleanStale(os.Stderr)
	case "udpgen":
		err = cmdUDPGen(os.Args[2:])
	case "udpsink":
		err = cmdUDPSink(os.Args[2:])
	case "connclient":
		err = cmdConnClient(os.Args[2:])
	case "connsrv":
		err = cmdConnSrv(os.Args[2:])
	case "peersrv":
		err = cmdPeerSrv(os.Args[2:])
	case "peerask":
		err = cmdPeerAsk(os.Args[2:])
	case "rrsrv":
		err = cmdRRSrv(os.Args[2:])
	case "rrclient":
		err = cmdRRClient(os.Args[2:])
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "vsbench: unknown command %q\n", os.Args[1])
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vsbench: %v\n", err)
		if errors.Is(err, errInterrupted) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: vsbench COMMAND [flags]

  run         compare vswitchd with the kernel bridge + iptables (root)
  clean       remove namespaces left by runs that were killed
  udpgen      UDP sendmmsg generator      (run by "run" inside a namespace)
  udpsink     UDP sink and rate counter   (run by "run" inside a namespace)
  connclient  TCP connection-rate client  (run by "run" inside a namespace)
  connsrv     TCP accept loop             (run by "run" inside a namespace)
  peersrv     answers each TCP connection with its source address
  peerask     prints the source address a peersrv saw
  rrsrv       TCP echo server for round trips (IPv6 scenarios' rr)
  rrclient    TCP request/response client  (IPv6 scenarios' rr)

"vsbench COMMAND -h" lists a command's flags.
`)
	os.Exit(2)
}

var errInterrupted = errors.New("interrupted; everything the run created was removed, no results written")

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	mode := fs.String("mode", "full", "full (3 pairs, 3 s measurements) or quick (1 pair, 2 s)")
	pairs := fs.Int("pairs", 0, "alternating kernel/vswitch pairs (default by mode)")
	dur := fs.Duration("duration", 0, "length of each measurement (default by mode)")
	budget := fs.Duration("budget", 0, "bound on the traffic part; what has not run by then is recorded as an error (default by mode)")
	repo := fs.String("repo", ".", "the vswitch module root")
	out := fs.String("out", "", "output directory (default REPO/bench/results)")
	scenarios := fs.String("scenarios", "default", "scenarios to run: names ("+strings.Join(report.Scenarios, ",")+
		") or the groups default ("+strings.Join(report.DefaultScenarios, ",")+"), ipv6 ("+strings.Join(report.IPv6Scenarios, ",")+"), all")
	var testNames []string
	for _, t := range harness.Tests {
		testNames = append(testNames, t.Name)
	}
	tests := fs.String("tests", strings.Join(testNames, ","), "tests to run in each scenario (none: only the scale figures)")
	var bins listFlag
	fs.Var(&bins, "vswitchd-bin", "[LABEL=]PATH of a vswitchd to compare (repeatable; vswitchctl is taken from the same directory); the first is the \"vswitch\" column (default REPO/bin/vswitchd)")
	vsErr := fs.String("vswitchd-error", "", "record the vswitch side as failed with this reason instead of running it (bench/run.sh: the build failed)")
	peers := fs.String("peers", "", "sides vswitchd is compared with: kernel, ovs, comma-separated (default: kernel, and ovs when Open vSwitch is installed)")
	noScale := fs.Bool("no-scale", false, "skip the scale figures (Go benchmarks, port scale run)")
	benchtime := fs.String("benchtime", "", "go test -benchtime for the scale benchmarks (default by mode)")
	ports := fs.Int("ports", 500, "ports in the daemon scale run")
	udpThreads := fs.Int("udp-threads", 0, "sending threads of the UDP generator (default: one per CPU)")
	overloadFlows := fs.Int("overload-flows", 64, "flows (source ports) of the many-flow overload run")
	connWorkers := fs.Int("conn-workers", 4, "concurrent connections of the connection-rate client")
	rrTool := fs.String("rr-tool", "sockperf", "what times rr in the IPv4 scenarios: sockperf, or vsbench (rrclient, which the IPv6 scenarios use: run both to compare the tools)")
	verbose := fs.Bool("v", false, "log every command")
	keep := fs.Bool("keep-work", false, "keep /tmp/vsbench-ID (daemon logs, state) after the run")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("run: unexpected argument %q", fs.Arg(0))
	}

	if *udpThreads <= 0 {
		*udpThreads = runtime.NumCPU()
	}
	if *rrTool != "sockperf" && *rrTool != "vsbench" {
		return fmt.Errorf("run: --rr-tool is sockperf or vsbench, not %q", *rrTool)
	}
	cfg := harness.Config{Mode: *mode, Ports: *ports, UDPThreads: *udpThreads, OverloadFlows: max(*overloadFlows, 1), ConnWorkers: *connWorkers, RRTool: *rrTool,
		VswitchError: *vsErr, Scale: !*noScale, Log: os.Stderr, Verbose: *verbose, KeepWork: *keep}
	switch *mode {
	case "full":
		cfg.Pairs, cfg.Duration, cfg.Budget, cfg.BenchTime, cfg.BenchTimeout = 3, 3*time.Second, 15*time.Minute, "1s", 4*time.Minute
	case "quick":
		cfg.Pairs, cfg.Duration, cfg.Budget, cfg.BenchTime, cfg.BenchTimeout = 1, 2*time.Second, 180*time.Second, "100ms", 90*time.Second
	default:
		return fmt.Errorf("run: --mode is full or quick, not %q", *mode)
	}
	if *pairs > 0 {
		cfg.Pairs = *pairs
	}
	if *dur > 0 {
		cfg.Duration = *dur
	}
	if *budget > 0 {
		cfg.Budget = *budget
	}
	if *benchtime != "" {
		cfg.BenchTime = *benchtime
	}
	var err error
	if cfg.Repo, err = filepath.Abs(*repo); err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(cfg.Repo, "go.mod")); err != nil || !strings.Contains(string(b), "module vswitch\n") {
		return fmt.Errorf("run: %s is not the vswitch module root (--repo)", cfg.Repo)
	}
	if cfg.Self, err = os.Executable(); err != nil {
		return err
	}
	ovsOK, ovsMissing := harness.OVSInstalled()
	if cfg.Peers, err = harness.ParsePeers(*peers, ovsOK); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if *peers == "" && !ovsOK {
		fmt.Fprintf(os.Stderr, "vsbench: no ovs column: %s is not installed (bench/run.sh installs openvswitch-switch)\n", ovsMissing)
	}
	if cfg.Scenarios, err = harness.ParseScenarios(*scenarios); err != nil {
		return fmt.Errorf("run: --scenarios: %w", err)
	}
	for _, t := range strings.Split(*tests, ",") {
		if t == "" || t == "none" { // --tests none: only the scale figures
			continue
		}
		if !contains(testNames, t) {
			return fmt.Errorf("run: unknown test %q (have %s)", t, strings.Join(testNames, ","))
		}
		cfg.Tests = append(cfg.Tests, t)
	}
	if len(bins) == 0 {
		bins = listFlag{filepath.Join(cfg.Repo, "bin", "vswitchd")}
	}
	for i, b := range bins {
		label, path, ok := strings.Cut(b, "=")
		if !ok {
			label, path = "", b
		}
		path, _ = filepath.Abs(path)
		side := report.SideVswitch
		if i > 0 {
			if label == "" {
				label = fmt.Sprint(i + 1)
			}
			side = "vswitch@" + label
		}
		cfg.Bins = append(cfg.Bins, harness.VswitchBin{Side: side, Daemon: path, Ctl: filepath.Join(filepath.Dir(path), "vswitchctl")})
	}
	if *budget <= 0 && *mode == "full" {
		// 15 min for two sides was the bound; the overload runs add about
		// a minute per side over three pairs
		cfg.Budget = max(15*time.Minute, 330*time.Second*time.Duration(len(cfg.Peers)+len(cfg.Bins)))
	}
	if *budget <= 0 && *mode == "quick" {
		// 90 s of traffic per side, and 20 more for the overload runs: a
		// third column must not push the last scenarios past the budget
		cfg.Budget = 110 * time.Second * time.Duration(max(2, len(cfg.Peers)+len(cfg.Bins)))
	}
	if *budget <= 0 {
		// the IPv6 scenarios come on top of the IPv4 ones
		cfg.Budget += harness.IPv6Budget(cfg.Scenarios, len(cfg.Peers)+len(cfg.Bins), cfg.Pairs)
	}
	outDir := *out
	if outDir == "" {
		outDir = filepath.Join(cfg.Repo, "bench", "results")
	}

	h, err := harness.New(cfg)
	if err != nil {
		return err
	}
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "vsbench: %v: stopping and removing namespaces vsb-%s-* (again to force)\n", s, h.ID())
		cancel()
		<-sig
		fmt.Fprintln(os.Stderr, "vsbench: cleaning up now")
		h.Close()
		os.Exit(130)
	}()

	res, err := h.Run(ctx)
	if err != nil {
		return errInterrupted
	}
	h.Close()
	return write(res, outDir)
}

func write(res report.Result, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := res.JSON()
	if err != nil {
		return err
	}
	md := res.Markdown()
	files := map[string][]byte{"latest.json": js, "latest.md": []byte(md)}
	png, err := res.Chart()
	if err != nil {
		// no stale chart next to a new table
		fmt.Fprintf(os.Stderr, "vsbench: chart: %v (no latest.png)\n", err)
		_ = os.Remove(filepath.Join(dir, "latest.png"))
	} else {
		files["latest.png"] = png
	}
	for name, b := range files {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	fmt.Println(md)
	fmt.Fprintf(os.Stderr, "vsbench: wrote %s/latest.{json,md,png} in %.0f s\n", dir, res.WallSecs)
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

func cmdUDPGen(args []string) error {
	fs := flag.NewFlagSet("udpgen", flag.ExitOnError)
	dst := fs.String("dst", "", "IP:PORT to send to")
	dur := fs.Duration("duration", 3*time.Second, "how long to send")
	payload := fs.Int("payload", traffic.Payload64, "UDP payload bytes (18 = 64-byte frames)")
	batch := fs.Int("batch", 64, "datagrams per sendmmsg")
	threads := fs.Int("threads", 1, "sending threads")
	winFrom := fs.Duration("window-from", 0, "start of the window (from the run's start) over which the send rate is also reported")
	window := fs.Duration("window", 0, "length of that window (0: none)")
	flows := fs.Int("flows", 1, "connected sockets (source ports) spread over the threads; at least one per thread")
	_ = fs.Parse(args)
	ap, err := netip.ParseAddrPort(*dst)
	if err != nil {
		return fmt.Errorf("udpgen: --dst: %w", err)
	}
	res, err := traffic.Generate(traffic.GenConfig{Dst: ap, Payload: *payload, Batch: *batch, Threads: *threads, Flows: *flows, Duration: *dur,
		WindowFrom: *winFrom, Window: *window})
	if err != nil {
		return err
	}
	return printJSON(res)
}

func cmdUDPSink(args []string) error {
	fs := flag.NewFlagSet("udpsink", flag.ExitOnError)
	port := fs.Int("port", 9000, "UDP port to listen on")
	ifname := fs.String("if", "eth0", "interface whose rx counter is reported")
	warmup := fs.Duration("warmup", 300*time.Millisecond, "skipped after the first packet")
	window := fs.Duration("window", 3*time.Second, "measured window")
	wait := fs.Duration("first-packet", 5*time.Second, "how long to wait for traffic")
	_ = fs.Parse(args)
	res, err := traffic.Sink(traffic.SinkConfig{Port: *port, Ifname: *ifname, FirstPacket: *wait, Warmup: *warmup, Window: *window},
		func() { fmt.Println("ready") })
	if err != nil {
		return err
	}
	return printJSON(res)
}

func cmdConnClient(args []string) error {
	fs := flag.NewFlagSet("connclient", flag.ExitOnError)
	dst := fs.String("dst", "", "IP:PORT to connect to")
	dur := fs.Duration("duration", 3*time.Second, "how long to connect")
	workers := fs.Int("workers", 4, "connections in flight")
	_ = fs.Parse(args)
	ap, err := netip.ParseAddrPort(*dst)
	if err != nil {
		return fmt.Errorf("connclient: --dst: %w", err)
	}
	res, err := traffic.ConnClient(traffic.ConnConfig{Dst: ap, Workers: *workers, Duration: *dur})
	if err != nil {
		return err
	}
	return printJSON(res)
}

func cmdConnSrv(args []string) error {
	fs := flag.NewFlagSet("connsrv", flag.ExitOnError)
	port := fs.Int("port", 7000, "TCP port to listen on")
	threads := fs.Int("threads", 2, "accepting threads")
	v6 := fs.Bool("6", false, "listen on [::] (IPv6) instead of 0.0.0.0")
	_ = fs.Parse(args)
	return traffic.ConnServe(*port, *threads, *v6, func() { fmt.Println("ready") })
}

func cmdPeerSrv(args []string) error {
	fs := flag.NewFlagSet("peersrv", flag.ExitOnError)
	port := fs.Int("port", 7000, "TCP port to listen on")
	v6 := fs.Bool("6", false, "listen on [::] (IPv6) instead of 0.0.0.0")
	_ = fs.Parse(args)
	return traffic.PeerServe(*port, *v6, func() { fmt.Println("ready") })
}

func cmdRRSrv(args []string) error {
	fs := flag.NewFlagSet("rrsrv", flag.ExitOnError)
	port := fs.Int("port", 11111, "TCP port to listen on")
	v6 := fs.Bool("6", false, "listen on [::] (IPv6) instead of 0.0.0.0")
	_ = fs.Parse(args)
	return traffic.RRServe(*port, *v6, func() { fmt.Println("ready") })
}

func cmdRRClient(args []string) error {
	fs := flag.NewFlagSet("rrclient", flag.ExitOnError)
	dst := fs.String("dst", "", "IP:PORT ([IPv6]:PORT) of an rrsrv")
	dur := fs.Duration("duration", 3*time.Second, "how long to make round trips")
	size := fs.Int("size", traffic.RRSize, "message bytes")
	warmup := fs.Int("warmup", 100, "untimed round trips first")
	_ = fs.Parse(args)
	ap, err := netip.ParseAddrPort(*dst)
	if err != nil {
		return fmt.Errorf("rrclient: --dst: %w", err)
	}
	res, err := traffic.RRClient(traffic.RRConfig{Dst: ap, Duration: *dur, Size: *size, Warmup: *warmup})
	if err != nil {
		return err
	}
	return printJSON(res)
}

func cmdPeerAsk(args []string) error {
	fs := flag.NewFlagSet("peerask", flag.ExitOnError)
	dst := fs.String("dst", "", "IP:PORT of a peersrv")
	timeout := fs.Duration("timeout", 3*time.Second, "connect and read timeout")
	_ = fs.Parse(args)
	ap, err := netip.ParseAddrPort(*dst)
	if err != nil {
		return fmt.Errorf("peerask: --dst: %w", err)
	}
	a, err := traffic.PeerAsk(ap, *timeout)
	if err != nil {
		return err
	}
	fmt.Println(a)
	return nil
}
