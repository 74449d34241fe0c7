// Command vswitchd is the vswitch daemon: it owns the ports, runs the
// dataplane and serves the API on a unix socket. See docs/ and CLI.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"vswitch/api"
	"vswitch/daemon"
	"vswitch/dataplane"
	"vswitch/internal/sdnotify"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses the command line and runs the daemon; it returns the exit
// status (2 for a bad command line, 1 when the daemon cannot run).
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vswitchd", flag.ContinueOnError)
	config := fs.String("config", "", "YAML file of networks and ports to create at start")
	socket := fs.String("socket", api.DefaultSocket, "unix socket of the API")
	group := fs.String("socket-group", "root", "group owning the socket (mode 0660)")
	stateDir := fs.String("state-dir", "/var/lib/vswitch", "directory of the state file")
	logLevel := fs.String("log-level", "info", "debug|info|warn|error")
	metricsAddr := fs.String("metrics-addr", "", "HOST:PORT to serve Prometheus metrics (/metrics) and Go profiles (/debug/pprof/) on (off when empty)")
	noDefault := fs.Bool("no-default-network", false, "do not create the default network 'bridge' (172.17.0.0/16)")
	workers := fs.Int("workers", 0, "dataplane worker threads (default: one per CPU)")
	nice := fs.Int("worker-nice", -5, "scheduling priority of the worker threads, -20 to 19 (0: leave as is); below 0 they forward ahead of the namespaces' processes, as the kernel's softirq does")
	uring := fs.Bool("io-uring", false, "move TAP reads and writes through one io_uring per worker, many frames per system call (falls back to read/write when the kernel refuses); see docs/performance.md")
	afRing := fs.String("afpacket-ring", "off", "off|v2|v3: AF_PACKET ports (port attach, uplinks) read through a TPACKET_V2 (per-frame wake-ups) or V3 (1 ms block timer) receive ring, or with recvmmsg (off); falls back to recvmmsg with a warning; see docs/performance.md")
	spin := fs.Duration("worker-spin", dataplane.DefaultSpin, "how long a worker keeps polling its ports after its last frame before it sleeps, yielding the CPU to any other thread meanwhile (0: sleep at once); see docs/performance.md")
	rt := fs.Int("worker-rt", 0, "run the worker threads SCHED_FIFO at this priority, 1 to 99 (0: off, --worker-nice applies); an experiment, see docs/performance.md")
	ctMax := fs.Int("conntrack-max", 0, "most connections tracked at once (default 262144, package nat's); new flows beyond it are dropped (reason conntrack-full), established ones keep going")
	natPorts := fs.String("nat-ports", "", "LOW-HIGH: source ports masquerade picks from when a flow's own is taken (default 1024-65535, package nat's)")
	var dnsUp stringList
	fs.Var(&dnsUp, "dns-upstream", "IP[:PORT] of a resolver the embedded DNS forwards other names to (repeatable or a comma list; none: NXDOMAIN for single-label names, REFUSED for the rest)")
	checkConfig := fs.String("check-config", "", "FILE: read and check a config file as --config would, print what it holds and exit (0 valid, 1 not, with the line that is wrong); starts nothing")
	man := fs.Bool("man", false, "print the manual page vswitchd(8) (roff, from these flags) and exit")
	keepCaps := fs.Bool("keep-caps", false, "keep every capability (by default vswitchd drops all but the few it needs once set up, see docs/architecture.md)")
	// Errors are one line; the full usage only when asked for (-h).
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprintln(stdout, "usage: vswitchd [flags]   (the vswitch daemon; see docs/cli.md)")
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "vswitchd: %v (see vswitchd -h)\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vswitchd: unexpected argument %q: vswitchd takes flags only (see vswitchd -h)\n", fs.Arg(0))
		return 2
	}
	if *man {
		return writeManPage(fs, stdout)
	}
	if *checkConfig != "" {
		return checkConfigFile(*checkConfig, stdout, stderr)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "vswitchd: bad --log-level %q: want debug, info, warn or error\n", *logLevel)
		return 2
	}
	if *nice < -20 || *nice > 19 {
		fmt.Fprintf(stderr, "vswitchd: bad --worker-nice %d: want -20 to 19\n", *nice)
		return 2
	}
	if *spin < 0 || *spin > time.Second {
		fmt.Fprintf(stderr, "vswitchd: bad --worker-spin %v: want 0 to 1s, e.g. 50us\n", *spin)
		return 2
	}
	if *rt < 0 || *rt > 99 {
		fmt.Fprintf(stderr, "vswitchd: bad --worker-rt %d: want 0 (off) to 99\n", *rt)
		return 2
	}
	dopts := daemon.Options{Workers: *workers, WorkerNice: *nice, WorkerSpin: *spin, WorkerRT: *rt, WorkerIOUring: *uring}
	switch *afRing {
	case "off":
	case "v2":
		dopts.AFPacketRing = 2
	case "v3":
		dopts.AFPacketRing = 3
	default:
		fmt.Fprintf(stderr, "vswitchd: bad --afpacket-ring %q: want off, v2 or v3\n", *afRing)
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["conntrack-max"] {
		if err := daemon.CheckConntrackMax(*ctMax); err != nil {
			fmt.Fprintf(stderr, "vswitchd: --conntrack-max: %v\n", err)
			return 2
		}
		dopts.ConntrackMax = *ctMax
	}
	if set["nat-ports"] {
		lo, hi, err := daemon.ParseNATPorts(*natPorts)
		if err != nil {
			fmt.Fprintf(stderr, "vswitchd: --nat-ports: %v\n", err)
			return 2
		}
		dopts.NATPortMin, dopts.NATPortMax = lo, hi
	}
	if up, err := daemon.ParseDNSUpstreams(dnsUp); err != nil {
		fmt.Fprintf(stderr, "vswitchd: --dns-upstream: %v\n", err)
		return 2
	} else {
		dopts.DNSUpstreams = up
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	if err := serve(log, *config, *socket, *group, *stateDir, *metricsAddr, *noDefault, *keepCaps, dopts); err != nil {
		fmt.Fprintf(stderr, "vswitchd: %v\n", err)
		return 1
	}
	return 0
}

func serve(log *slog.Logger, config, socket, group, stateDir, metricsAddr string, noDefault, keepCaps bool, dopts daemon.Options) error {
	var cfg *daemon.Config
	if config != "" {
		var err error
		if cfg, err = daemon.LoadConfig(config); err != nil {
			return err
		}
		// The config's settings, unless a flag said otherwise.
		if dopts.ConntrackMax == 0 {
			dopts.ConntrackMax = cfg.ConntrackMax
		}
		if dopts.NATPortMin == 0 && cfg.NATPorts != "" {
			dopts.NATPortMin, dopts.NATPortMax, _ = daemon.ParseNATPorts(cfg.NATPorts) // checked by LoadConfig
		}
	}
	gid := 0
	if group != "root" && group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return fmt.Errorf("no group %q for --socket-group: create it or pick another", group)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	ln, err := listen(socket, gid)
	if err != nil {
		return err
	}
	defer os.Remove(socket)

	dopts.StateDir, dopts.NoDefaultNetwork, dopts.Logger = stateDir, noDefault, log
	d, err := daemon.New(dopts)
	if err != nil {
		ln.Close()
		return err
	}
	defer d.Close()
	if cfg != nil {
		if err := d.Apply(cfg); err != nil {
			ln.Close()
			return err
		}
	}

	srv := d.APIServer(gid) // admits root and the socket's group only
	errc := make(chan error, 2)
	var msrv *http.Server
	if metricsAddr != "" {
		// Bound before the capabilities go: a port below 1024 needs one.
		mln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--metrics-addr: %v", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(d.Registry(), promhttp.HandlerOpts{}))
		// Profiles of the running daemon, on the same operator-only address:
		// where a forwarding second goes (user code, which syscall) is the
		// first question when a figure disappoints.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		msrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- msrv.Serve(mln) }()
	}
	if keepCaps {
		log.Info("capabilities kept (--keep-caps)")
	} else if kept, err := daemon.DropCaps(); errors.Is(err, daemon.ErrCapsCgo) {
		log.Warn("capabilities not dropped", "err", err)
	} else if err != nil {
		ln.Close()
		return err
	} else {
		log.Info("capabilities dropped", "kept", strings.Join(kept, ","))
	}
	go func() { errc <- srv.Serve(ln) }()
	log.Info("vswitchd ready", "socket", socket, "state_dir", stateDir, "version", daemon.Version)
	notifyReady(log, d, socket)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
wait:
	for {
		select {
		case s := <-sig:
			if s == syscall.SIGHUP {
				reload(log, d) // reload.go
				continue
			}
			log.Info("stopping; ports stay in their namespaces", "signal", s.String())
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("server failed: %v", err)
			}
		}
		break wait
	}
	if _, err := sdnotify.Stopping("stopping; ports stay in their namespaces"); err != nil {
		log.Warn("cannot tell systemd", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	if msrv != nil {
		msrv.Shutdown(ctx)
	}
	return nil
}

// checkConfigFile is --check-config: what LoadConfig can judge without a
// daemon (syntax, keys, types, addresses, settings), as ExecStartPre or a
// package's postinst would use it. Overlaps with what the state holds are
// for the daemon to find when it applies the file.
func checkConfigFile(path string, stdout, stderr io.Writer) int {
	c, err := daemon.LoadConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "vswitchd: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "config %s is valid: %d networks, %d ports, %d attached, %d published, %d ACL rules\n",
		path, len(c.Networks), len(c.Ports), len(c.Attach), len(c.Publish), len(c.ACLs))
	return 0
}

// notifyReady tells systemd (Type=notify, internal/sdnotify) that vswitchd
// serves, once it does: the dataplane runs since daemon.New, and one request
// through the socket proves the API answers, so a unit ordered after
// vswitchd.service can use vswitchctl at once. Without systemd it does
// nothing.
func notifyReady(log *slog.Logger, d *daemon.Daemon, socket string) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	var v api.Version
	if err := api.NewClient(socket).Do("GET", "/version", nil, &v); err != nil {
		// Not ready then; systemd's start timeout will say so.
		log.Error("the API does not answer on its own socket; not telling systemd it is ready", "socket", socket, "err", err)
		return
	}
	status := fmt.Sprintf("serving %s: %d networks", socket, len(d.Networks()))
	if _, err := sdnotify.Ready(status); err != nil {
		log.Warn("cannot tell systemd", "err", err)
	}
}

// listen opens the API socket with mode 0660, replacing a stale socket file
// left by a daemon that died, but refusing to steal a live one.
func listen(socket string, gid int) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create %s: %v", filepath.Dir(socket), err)
	}
	if c, err := net.Dial("unix", socket); err == nil {
		c.Close()
		return nil, fmt.Errorf("another vswitchd is serving %s: stop it first or use --socket", socket)
	}
	os.Remove(socket)
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %v", socket, err)
	}
	if err := os.Chmod(socket, 0o660); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Chown(socket, 0, gid); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }
