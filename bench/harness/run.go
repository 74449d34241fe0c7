package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"vswitch/bench/report"
)

// Config is one harness run.
type Config struct {
	Repo     string        // the module root
	Mode     string        // "full" or "quick", for the record
	Pairs    int           // alternating kernel/vswitch pairs
	Duration time.Duration // of each measurement
	// Budget bounds the traffic part; what has not run by then is
	// recorded as an error, and the results are still written.
	Budget    time.Duration
	Scenarios []string
	Tests     []string
	// Peers are the sides vswitchd is compared with: report.SideKernel,
	// report.SideOVS (Open vSwitch's userspace datapath), in that order.
	Peers []string
	// Bins are the vswitchd builds; the first is the "vswitch" column,
	// the others extra columns named vswitch@LABEL.
	Bins []VswitchBin
	// VswitchError, when set, is why no vswitchd can run (its build
	// failed): every vswitch figure is that error.
	VswitchError string

	Scale        bool   // run the scale figures
	BenchTime    string // -benchtime of the Go benchmarks
	BenchTimeout time.Duration
	Ports        int // ports of the daemon scale run

	UDPThreads int
	// OverloadFlows is the number of flows (source ports) of the
	// many-flow overload run.
	OverloadFlows int
	ConnWorkers   int
	// RRTool times the IPv4 scenarios' round trips: "sockperf" (default)
	// or "vsbench" (rrclient/rrsrv, which the IPv6 scenarios always use).
	RRTool string

	Self     string // this binary, run inside namespaces for the generators
	Log      io.Writer
	Verbose  bool
	KeepWork bool // keep /tmp/vsbench-ID (daemon logs) for debugging
}

// New prepares a harness: a random run ID, its work directory and a pid
// file by which `vsbench clean` tells a live run from a dead one.
func New(cfg Config) (*Harness, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root: it creates network namespaces (nothing in the root namespace is changed)")
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	h := &Harness{cfg: cfg, id: hex.EncodeToString(b), procs: map[*Proc]bool{}}
	h.work = "/tmp/vsbench-" + h.id
	if err := os.MkdirAll(h.work, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(h.work, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	return h, nil
}

// ID is the run's random ID, part of every namespace name.
func (h *Harness) ID() string { return h.id }

// Run measures and returns the result. It returns an error only when the
// run was interrupted (ctx cancelled); every failure inside is a recorded
// error in the result.
func (h *Harness) Run(ctx context.Context) (report.Result, error) {
	start := time.Now()
	cfg := h.cfg
	res := report.Result{
		Date: start.UTC().Format(time.RFC3339), Mode: cfg.Mode, Pairs: cfg.Pairs,
		MeasureSecs: cfg.Duration.Seconds(),
	}
	for _, p := range report.Peers {
		if contains(cfg.Peers, p) {
			res.Sides = append(res.Sides, p)
		}
	}
	var vsSides []string
	for _, b := range cfg.Bins {
		vsSides = append(vsSides, b.Side)
		res.Sides = append(res.Sides, b.Side)
	}
	res.Commit, res.Dirty = h.commit(ctx)
	res.Machine = h.machine(ctx)
	res.Tools = h.tools(ctx)
	res.Load = h.load()
	h.logf("run %s: %s mode, %d pair(s), %v per measurement, scenarios %s, namespaces %s%s-*",
		h.id, cfg.Mode, cfg.Pairs, cfg.Duration, strings.Join(cfg.Scenarios, ","), NSPrefix, h.id)

	var tests []Test
	for _, t := range Tests {
		if contains(cfg.Tests, t.Name) {
			tests = append(tests, t)
		}
	}
	mctx, cancel := context.WithTimeout(ctx, cfg.Budget)
	defer cancel()
	unsupported := map[string]string{}
	for pair := 0; pair < cfg.Pairs && len(tests) > 0; pair++ {
		sides := h.buildPair(mctx, pair)
		for _, scn := range cfg.Scenarios {
			for _, test := range tests {
				if !test.In(scn) {
					continue
				}
				for _, s := range sides {
					var got []report.Sample
					if s.err != nil {
						got = failAll(s.topo, pair, scn, test, report.StatusError, "topology: "+s.err.Error())
					} else {
						idle := idleDaemons(sides, s)
						got = h.measure(mctx, s.topo, pair, scn, test)
						idle.record(got)
					}
					for _, g := range got {
						h.logf("pair %d/%d %-10s %-14s %-8s %s", pair+1, cfg.Pairs, scn, g.Metric, g.Side, describe(g))
						if g.Status == report.StatusNotSupported && unsupported[scn+" "+g.Side] == "" {
							unsupported[scn+" "+g.Side] = g.Error
						}
					}
					res.Runs = append(res.Runs, got...)
				}
			}
		}
		for _, s := range sides {
			h.closeTopology(s.topo)
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("interrupted")
		}
	}

	if cfg.Scale {
		sctx, cancel := context.WithTimeout(ctx, 2*cfg.BenchTimeout+3*time.Minute)
		res.Scale = append(res.Scale, h.goBenchmarks(sctx)...)
		if len(cfg.Bins) > 0 {
			h.logf("scale: %d ports on one network", cfg.Ports)
			res.Scale = append(res.Scale, h.portScale(sctx, cfg.Bins[0]))
		}
		cancel()
		if ctx.Err() != nil {
			return res, fmt.Errorf("interrupted")
		}
	}

	res.Rows = report.Aggregate(res.Runs, vsSides)
	res.Notes = h.notes(res, unsupported)
	res.WallSecs = time.Since(start).Seconds()
	return res, nil
}

// pairSide is one side's topology in a pair, or why it could not be built.
type pairSide struct {
	topo *Topology
	err  error
}

// buildPair builds every side's topology afresh for one pair.
func (h *Harness) buildPair(ctx context.Context, pair int) []pairSide {
	var sides []pairSide
	if contains(h.cfg.Peers, report.SideKernel) {
		k, err := h.buildKernel(ctx, fmt.Sprintf("k%d", pair))
		if err != nil {
			h.logf("kernel topology: %v", err)
		}
		sides = append(sides, pairSide{k, err})
	}
	if contains(h.cfg.Peers, report.SideOVS) {
		o, err := h.buildOVS(ctx, fmt.Sprintf("o%d", pair))
		if err != nil {
			h.logf("ovs topology: %v", err)
		}
		sides = append(sides, pairSide{o, err})
	}
	for i, b := range h.cfg.Bins {
		v, err := h.buildVswitch(ctx, b, fmt.Sprintf("v%d%d", i, pair))
		if err != nil {
			h.logf("%s topology: %v", b.Side, err)
		}
		sides = append(sides, pairSide{v, err})
	}
	return sides
}

// idle tracks the CPU the switch daemons of the other sides use while one
// side is measured: a vswitchd or ovs-vswitchd that polls while idle would
// slow the others' runs. Recorded as idle_vswitchd_cpu_pct and
// idle_ovs_vswitchd_cpu_pct.
type idle struct {
	ticks map[*Proc]uint64
	keys  map[*Proc]string
	start time.Time
}

func idleDaemons(sides []pairSide, measured pairSide) idle {
	i := idle{ticks: map[*Proc]uint64{}, keys: map[*Proc]string{}, start: time.Now()}
	for _, s := range sides {
		if s.topo == measured.topo || s.topo == nil {
			continue
		}
		if p, key := s.topo.cpuProc(); p != nil && !p.Exited() {
			if t, err := procTicks(p); err == nil {
				i.ticks[p], i.keys[p] = t, "idle_"+key
			}
		}
	}
	return i
}

func (i idle) record(samples []report.Sample) {
	pct := map[string]float64{}
	for p, t0 := range i.ticks {
		if t1, err := procTicks(p); err == nil && t1 >= t0 {
			pct[i.keys[p]] += 100 * float64(t1-t0) / userHZ / time.Since(i.start).Seconds()
		}
	}
	for j := range samples {
		for k, v := range pct {
			if samples[j].Detail == nil {
				samples[j].Detail = map[string]any{}
			}
			samples[j].Detail[k] = report.Round(v)
		}
	}
}

func describe(s report.Sample) string {
	if s.Status == report.StatusOK {
		m, _ := report.MetricByName(s.Metric)
		d := report.Num(*s.Value) + " " + m.Unit
		if s.Offered != nil {
			d += " of " + report.Num(*s.Offered) + " offered"
		}
		if w, ok := s.Detail["worker_cpu_pct"].([]float64); ok {
			d += fmt.Sprintf(", workers %v %% CPU", w)
		}
		return d
	}
	if s.Status == report.StatusNotSupported {
		return s.Status // the reason is in the notes
	}
	return s.Status + ": " + s.Error
}

// load says what each metric offered, for the record.
func (h *Harness) load() map[string]string {
	d := h.seconds()
	rrLoad := fmt.Sprintf("sockperf ping-pong --tcp --full-rtt -t %d, one 14-byte message in flight", d)
	if h.cfg.RRTool == "vsbench" {
		rrLoad = fmt.Sprintf("vsbench rrclient/rrsrv for %v, one 14-byte message in flight, TCP_NODELAY, full round trip", h.cfg.Duration)
	}
	if h.wantIPv6() {
		rrLoad += fmt.Sprintf("; IPv6 scenarios: vsbench rrclient/rrsrv for %v (sockperf 3.7 has no IPv6)", h.cfg.Duration)
	}
	return map[string]string{
		"tcp_1_gbps":                fmt.Sprintf("iperf3 -P 1 -t %d, unlimited rate, MTU 1500", d),
		"tcp_4_gbps":                fmt.Sprintf("iperf3 -P 4 -t %d, unlimited rate, MTU 1500", d),
		"udp64_kpps":                fmt.Sprintf("%d sendmmsg thread(s), 64-byte frames (18-byte UDP payload), batches of 64, as fast as the socket takes them; %v warm-up then a %v window at the sink", h.cfg.UDPThreads, udpWarmup, h.cfg.Duration),
		"rr_p50_us":                 rrLoad,
		"rr_p99_us":                 rrLoad,
		"conn_per_s":                fmt.Sprintf("%d workers, each back to back: connect, 1 byte each way, close with RST, for %v", h.cfg.ConnWorkers, h.cfg.Duration),
		"cpu_per_pkt_ns":            "vswitchd utime+stime over the udp64 flood ÷ packets it transmitted",
		"udp64_overload_kpps":       fmt.Sprintf("%d sendmmsg threads (one per CPU), one flow (one source port), as fast as the sockets take them; %v warm-up then a %v window (l2, routed)", h.cfg.UDPThreads, udpWarmup, min(h.cfg.Duration, floodWindow)),
		"udp64_overload_flows_kpps": fmt.Sprintf("%d sendmmsg threads (one per CPU), %d flows (source ports, round robin per batch), as fast as the sockets take them; %v warm-up then a %v window (l2, routed)", h.cfg.UDPThreads, h.cfg.OverloadFlows, udpWarmup, min(h.cfg.Duration, floodWindow)),
		"udp64_after_overload_kpps": fmt.Sprintf("1 sendmmsg thread, one flow, started right after the many-flow flood; %v warm-up then a %v window; compared with the same run just before the floods (detail before_kpps)", afterWarmup, oneSenderWindow),
	}
}

func (h *Harness) notes(res report.Result, unsupported map[string]string) []string {
	notes := []string{
		"kernel: Linux bridges brA/brB inside their own namespace with veths to c1, c2, c3 and ext, ip_forward, iptables-nft with Docker's rules (FORWARD DROP + conntrack accept, MASQUERADE towards the uplink, DNAT of published ports).",
		"vswitch: vswitchd in its own namespace, TAP ports in c1, c2, c3, an uplink on a veth whose other end is ext; same addresses, MTU 1500 on both sides.",
		fmt.Sprintf("udp64_kpps is the rate at the receiving namespace's eth0 over the window, with %d sending thread(s) (one per CPU): on the kernel side each sender's CPU also does the forwarding (offered ≈ carried), on the vswitch side the senders fill the TAP queue and share the CPUs with vswitchd (see offered_kpps and offered_exceeds_carried in runs). The figure after \"of\" is the generator's own send rate (datagrams the kernel accepted per second, over the sink's window): delivered close to it means the generator, not the switch, was the limit.", h.cfg.UDPThreads),
		fmt.Sprintf("overload (l2, routed; last in each scenario): one sender for %v, then %d sender threads on 1 flow and on %d flows, then one sender again right after (udp64_after_overload_kpps, against the run before: before_kpps, after_over_before). worker_cpu_pct is each worker thread's CPU over a flood, from /proc/PID/task/TID/stat of the switch daemon (workers_by says how they were told apart).", oneSenderWindow, h.cfg.UDPThreads, h.cfg.OverloadFlows),
	}
	if h.wantIPv6() {
		notes = append(notes, "IPv6 (l2-v6, routed-v6): the run's topologies are dual-stack, for its IPv4 scenarios too. kernel: fd00:201:1::1/64 on brA and fd00:201:2::1/64 on brB, c1 ::2, c2 ::3 on A, c3 ::2 on B (nodad, accept_dad=0 in those namespaces), default routes via the bridges, net.ipv6.conf.all.forwarding=1 and ip6tables with Docker's FORWARD rules in the router namespace. vswitch: networks created with --ipv6 --subnet6, ports with --ip6 (port add settles DAD itself). tcp_1/tcp_4 with iperf3 and conn_per_s with vsbench connclient as in IPv4; rr with vsbench rrclient/rrsrv (sockperf 3.7 has no IPv6), so the IPv6 rr figures compare sides, not with the IPv4 rows; no udp64 (IPv4 frames).")
	}
	if contains(res.Sides, report.SideOVS) {
		notes = append(notes, "ovs: Open vSwitch's userspace datapath ("+res.Tools["ovs-vswitchd"]+"): its own ovsdb-server and ovs-vswitchd (private database and run directory) inside a namespace of the run, bridge datapath_type=netdev, other_config:userspace-tso-enable=true set before ovs-vswitchd starts, veth ports (AF_PACKET), access VLANs per network, OpenFlow tables "+OVSFlowFile+" (NORMAL within a network, routing by MAC rewrite and dec_ttl, ct(nat) masquerade and published ports); same addresses, MTU 1500.")
	}
	var keys []string
	for k := range unsupported {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		scn, side, _ := strings.Cut(k, " ")
		notes = append(notes, fmt.Sprintf("%s on %s: not supported yet (%s)", scn, side, unsupported[k]))
	}
	if res.Machine.BrNetfilter {
		notes = append(notes, "br_netfilter is loaded on this host: bridged kernel frames also traverse iptables, as under Docker.")
	}
	return notes
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
