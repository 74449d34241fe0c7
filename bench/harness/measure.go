package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"vswitch/bench/report"
	"vswitch/bench/traffic"
)

// Test is one traffic run; it yields one or more metrics.
type Test struct {
	Name    string
	Metrics []string
	// Scenarios the test runs in; none means every one.
	Scenarios []string
}

// In says whether the test runs in scenario scn.
func (t Test) In(scn string) bool { return len(t.Scenarios) == 0 || contains(t.Scenarios, scn) }

// Tests in the order they run within a scenario.
var Tests = []Test{
	{"tcp1", []string{"tcp_1_gbps"}, nil},
	{"tcp4", []string{"tcp_4_gbps"}, nil},
	// IPv4 only: the generator's frames are 64 bytes with an IPv4 header
	// (an IPv6 one would make them 84), and the sink binds 0.0.0.0.
	{"udp64", []string{"udp64_kpps", "cpu_per_pkt_ns"}, report.DefaultScenarios},
	{"rr", []string{"rr_p50_us", "rr_p99_us"}, nil},
	{"conn", []string{"conn_per_s"}, nil},
	// Last in a scenario, so nothing else runs on the heels of a flood;
	// l2 and routed only, to keep the run's time (issue 17 asks for them).
	{"overload", []string{"udp64_overload_kpps", "udp64_overload_flows_kpps", "udp64_after_overload_kpps"}, []string{"l2", "routed"}},
}

// userHZ is the unit of utime/stime in /proc/PID/stat (USER_HZ, 100 on
// every Linux ABI the project runs on).
const userHZ = 100

// udpWarmup is skipped at the sink before its window: ARP, queues filling.
const udpWarmup = 300 * time.Millisecond

// metricsOf returns the metrics a test yields on a side.
func metricsOf(test Test, peer bool) []string {
	var out []string
	for _, m := range test.Metrics {
		if mm, _ := report.MetricByName(m); peer && mm.VswitchOnly {
			continue
		}
		out = append(out, m)
	}
	return out
}

// failAll records the same failure for every metric of a test.
func failAll(t *Topology, pair int, scn string, test Test, status, reason string) []report.Sample {
	var out []report.Sample
	for _, m := range metricsOf(test, t.Peer()) {
		out = append(out, report.Failed(t.Side, pair, scn, m, status, reason, nil))
	}
	return out
}

// measure runs one test of one scenario on one side. It never returns a
// zero for a failure: a failure is a sample with an error.
func (h *Harness) measure(ctx context.Context, t *Topology, pair int, scn string, test Test) []report.Sample {
	if err := ctx.Err(); err != nil {
		return failAll(t, pair, scn, test, report.StatusError, "not run: "+h.stopReason(ctx))
	}
	sup, ok := t.support[scn]
	if !ok {
		sup = support{status: report.StatusError, note: "topology was not built"}
	}
	if sup.status != report.StatusOK {
		return failAll(t, pair, scn, test, sup.status, sup.note)
	}
	if t.daemon != nil && t.daemon.Exited() {
		return failAll(t, pair, scn, test, report.StatusError, "vswitchd exited: "+t.daemonLog())
	}
	if err := h.reachable(ctx, t, scn); err != nil {
		return failAll(t, pair, scn, test, report.StatusError, err.Error())
	}
	if err := h.sourceCheck(ctx, t, scn); err != nil {
		return failAll(t, pair, scn, test, report.StatusError, err.Error())
	}

	var cpu0 uint64
	cpuProc, cpuKey := t.cpuProc()
	if cpuProc != nil {
		cpu0, _ = procTicks(cpuProc)
	}
	start := time.Now()
	var out []report.Sample
	switch test.Name {
	case "tcp1", "tcp4":
		streams := 1
		if test.Name == "tcp4" {
			streams = 4
		}
		v, d, err := h.iperf(ctx, t, scn, streams)
		out = append(out, sample(t, pair, scn, test.Metrics[0], v, d, err))
	case "udp64":
		out = h.udp64(ctx, t, pair, scn)
	case "overload":
		out = h.overload(ctx, t, pair, scn)
	case "rr":
		rr := h.sockperf
		if report.IsIPv6(scn) || h.cfg.RRTool == "vsbench" {
			rr = h.rrVsbench
		}
		p50, p99, d, err := rr(ctx, t, scn)
		out = append(out, sample(t, pair, scn, "rr_p50_us", p50, d, err), sample(t, pair, scn, "rr_p99_us", p99, d, err))
	case "conn":
		v, d, err := h.connRate(ctx, t, scn)
		out = append(out, sample(t, pair, scn, "conn_per_s", v, d, err))
	default:
		return failAll(t, pair, scn, test, report.StatusError, "unknown test "+test.Name)
	}
	if cpuProc != nil {
		if cpu1, err := procTicks(cpuProc); err == nil && cpu1 >= cpu0 {
			pct := 100 * float64(cpu1-cpu0) / userHZ / time.Since(start).Seconds()
			for i := range out {
				if out[i].Detail == nil {
					out[i].Detail = map[string]any{}
				}
				out[i].Detail[cpuKey] = report.Round(pct)
			}
		}
	}
	return out
}

func (h *Harness) stopReason(ctx context.Context) string {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Sprintf("run time budget (%v) exhausted", h.cfg.Budget)
	}
	return "run interrupted"
}

func sample(t *Topology, pair int, scn, metric string, v float64, detail map[string]any, err error) report.Sample {
	if err != nil {
		return report.Failed(t.Side, pair, scn, metric, report.StatusError, err.Error(), detail)
	}
	return report.OK(t.Side, pair, scn, metric, v, detail)
}

// reachable pings the scenario's destination from its client (ARP warm,
// path proven) before any figure is taken from it.
func (h *Harness) reachable(ctx context.Context, t *Topology, scn string) error {
	ep := endpointFor(scn)
	drops := func() map[string]uint64 {
		if t.daemon == nil {
			return nil
		}
		r := h.vsctl(ctx, t, "-o", "json", "stats")
		d, _ := ParseDrops([]byte(r.Stdout))
		return d
	}
	before := drops()
	var r result
	for i := 0; i < 3; i++ {
		r = h.nsExec(ctx, t.NS(ep.client), 5*time.Second, "ping", "-c", "1", "-W", "1", "-q", ep.dst)
		if r.Code == 0 {
			return nil
		}
	}
	err := fmt.Errorf("no connectivity: ping %s → %s: %s", ep.client, ep.dst, pingFailure(r))
	// vswitchd names why it dropped: say it
	if d := DropDelta(before, drops()); d != "" {
		err = fmt.Errorf("%w; vswitchd drops: %s", err, d)
	}
	return err
}

// sourceCheck connects once from the scenario's client to a peersrv on
// its server and compares the source address the server saw with the one
// it must see (endpoint.src): a nat-out whose ext does not see the uplink
// address is not NAT, a publish-in that hides the client is not Docker's.
// The answer is kept for the topology's life.
func (h *Harness) sourceCheck(ctx context.Context, t *Topology, scn string) error {
	if err, done := t.srcChecked[scn]; done {
		return err
	}
	err := h.askSource(ctx, t, scn)
	t.srcChecked[scn] = err
	return err
}

func (h *Harness) askSource(ctx context.Context, t *Topology, scn string) error {
	ep := endpointFor(scn)
	srv, err := h.startNS("peersrv", t.NS(ep.server), nil, h.cfg.Self, "peersrv", "--port", strconv.Itoa(portConn), v6Flag(scn))
	if err != nil {
		return err
	}
	defer h.stop(srv, 2*time.Second)
	if err := srv.waitFor("ready", 5*time.Second); err != nil {
		return err
	}
	dst := hostPort(ep.dst, ep.port(portConn))
	r := h.nsExec(ctx, t.NS(ep.client), 10*time.Second, h.cfg.Self, "peerask", "--dst", dst)
	if r.Code != 0 {
		return fmt.Errorf("source check: %w", r.errorf("peerask "+dst))
	}
	return CheckSource(scn, ep.server, r.Stdout, ep.src)
}

// v6Flag is the flag that makes a server of ours listen on [::] in an
// IPv6 scenario (-6=false, the default, in the others).
func v6Flag(scn string) string { return "-6=" + strconv.FormatBool(report.IsIPv6(scn)) }

// hostPort is ADDR:PORT, or [ADDR]:PORT for IPv6.
func hostPort(addr string, port int) string { return net.JoinHostPort(addr, strconv.Itoa(port)) }

// CheckSource compares the address a peersrv reported with the one the
// scenario's server must see, and says which is which when they differ.
func CheckSource(scn, server, answer, want string) error {
	got, err := traffic.ParsePeerLine(answer)
	if err != nil {
		return fmt.Errorf("source check: %w", err)
	}
	if got.String() != want {
		why := "the client's own address"
		if want == uplinkIP {
			why = "the uplink address (masquerade)"
		}
		return fmt.Errorf("source check: %s in %s saw source %s, want %s, %s", server, scn, got, want, why)
	}
	return nil
}

// pingFailure says in a few words why ping failed: its error message, or
// its loss summary.
func pingFailure(r result) string {
	if msg := FirstLine(r.Stderr); msg != "" {
		return msg
	}
	for _, l := range strings.Split(r.Stdout, "\n") {
		for _, f := range strings.Split(l, ",") {
			if strings.Contains(f, "packet loss") {
				return strings.TrimSpace(f)
			}
		}
	}
	if r.Err != nil {
		return r.Err.Error()
	}
	return "no reply"
}

// waitListen waits until a server in ns listens on port (ss, inside ns).
func (h *Harness) waitListen(ctx context.Context, ns, proto string, port int, srv *Proc) error {
	flag := "-Hltn"
	if proto == "udp" {
		flag = "-Hlun"
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		r := h.nsExec(ctx, ns, 5*time.Second, "ss", flag, "sport", "=", ":"+strconv.Itoa(port))
		if r.Code == 0 && strings.TrimSpace(r.Stdout) != "" {
			return nil
		}
		if srv.Exited() {
			return fmt.Errorf("%s exited: %s", srv.name, FirstLine(srv.stderr.String()+srv.stdout.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not listening on %d within 5 s", srv.name, port)
}

func (h *Harness) seconds() int {
	s := int(h.cfg.Duration.Round(time.Second).Seconds())
	return max(s, 1)
}

// iperf measures TCP throughput, receiver side, over streams connections.
func (h *Harness) iperf(ctx context.Context, t *Topology, scn string, streams int) (float64, map[string]any, error) {
	ep := endpointFor(scn)
	detail := map[string]any{"tool": "iperf3", "streams": streams, "duration_s": h.seconds(),
		"dst": hostPort(ep.dst, ep.port(portIperf)), "offered": "unlimited (TCP, default window)"}
	srv, err := h.startNS("iperf3 server", t.NS(ep.server), nil, "iperf3", "-s", "-1", "-p", strconv.Itoa(portIperf))
	if err != nil {
		return 0, detail, err
	}
	defer h.stop(srv, 2*time.Second)
	if err := h.waitListen(ctx, t.NS(ep.server), "tcp", portIperf, srv); err != nil {
		return 0, detail, err
	}
	r := h.nsExec(ctx, t.NS(ep.client), h.cfg.Duration+20*time.Second, "iperf3", "-c", ep.dst,
		"-p", strconv.Itoa(ep.port(portIperf)), "-t", strconv.Itoa(h.seconds()), "-P", strconv.Itoa(streams),
		"-J", "--connect-timeout", "3000")
	res, err := ParseIperf3([]byte(r.Stdout))
	if err != nil {
		if r.Code != 0 && !strings.HasPrefix(strings.TrimSpace(r.Stdout), "{") {
			return 0, detail, r.errorf("iperf3")
		}
		return 0, detail, err
	}
	detail["retransmits"] = res.Retransmits
	detail["measured_s"] = report.Round(res.Seconds)
	return res.Gbps, detail, nil
}

// sockperf measures TCP request/response round trips (ping-pong, one
// message in flight, 14 bytes) and returns the 50th and 99th percentiles.
func (h *Harness) sockperf(ctx context.Context, t *Topology, scn string) (float64, float64, map[string]any, error) {
	ep := endpointFor(scn)
	detail := map[string]any{"tool": "sockperf ping-pong --tcp --full-rtt", "duration_s": h.seconds(),
		"dst": fmt.Sprintf("%s:%d", ep.dst, ep.port(portSockperf)), "offered": "one 14-byte message in flight"}
	srv, err := h.startNS("sockperf server", t.NS(ep.server), nil, "sockperf", "server", "--tcp",
		"-i", "0.0.0.0", "-p", strconv.Itoa(portSockperf))
	if err != nil {
		return 0, 0, detail, err
	}
	defer h.stop(srv, 2*time.Second)
	if err := h.waitListen(ctx, t.NS(ep.server), "tcp", portSockperf, srv); err != nil {
		return 0, 0, detail, err
	}
	r := h.nsExec(ctx, t.NS(ep.client), h.cfg.Duration+20*time.Second, "sockperf", "ping-pong", "--tcp",
		"-i", ep.dst, "-p", strconv.Itoa(ep.port(portSockperf)), "-t", strconv.Itoa(h.seconds()), "--full-rtt")
	res, err := ParseSockperf(r.Stdout + r.Stderr)
	if err != nil {
		if r.Code != 0 {
			return 0, 0, detail, r.errorf("sockperf ping-pong")
		}
		return 0, 0, detail, err
	}
	detail["observations"] = res.Observations
	detail["measured_s"] = res.ValidSeconds
	detail["avg_us"] = res.Avg
	detail["p999_us"] = res.P999
	return res.P50, res.P99, detail, nil
}

// rrVsbench is the rr test of the IPv6 scenarios: sockperf 3.7 takes IPv4
// addresses only, so vsbench rrclient/rrsrv make the same round trips
// (TCP_NODELAY, one 14-byte message in flight, full round trip) on both
// sides. Its figures are comparable across sides, not with sockperf's;
// --rr-tool vsbench uses it in the IPv4 scenarios too, to tell the tool's
// part of a difference from IPv6's.
func (h *Harness) rrVsbench(ctx context.Context, t *Topology, scn string) (float64, float64, map[string]any, error) {
	ep := endpointFor(scn)
	detail := map[string]any{"tool": "vsbench rrclient/rrsrv", "duration_s": h.cfg.Duration.Seconds(),
		"dst": hostPort(ep.dst, ep.port(portSockperf)), "offered": fmt.Sprintf("one %d-byte message in flight", traffic.RRSize)}
	srv, err := h.startNS("rrsrv", t.NS(ep.server), nil, h.cfg.Self, "rrsrv", "--port", strconv.Itoa(portSockperf), v6Flag(scn))
	if err != nil {
		return 0, 0, detail, err
	}
	defer h.stop(srv, 2*time.Second)
	if err := srv.waitFor("ready", 5*time.Second); err != nil {
		return 0, 0, detail, err
	}
	r := h.nsExec(ctx, t.NS(ep.client), h.cfg.Duration+20*time.Second, h.cfg.Self, "rrclient",
		"--dst", hostPort(ep.dst, ep.port(portSockperf)), "--duration", h.cfg.Duration.String())
	var res traffic.RRResult
	if r.Code != 0 || json.Unmarshal([]byte(lastJSON(r.Stdout)), &res) != nil {
		return 0, 0, detail, r.errorf("rrclient")
	}
	detail["observations"] = res.Observations
	detail["measured_s"] = report.Round(res.Seconds)
	detail["avg_us"] = res.Avg
	detail["p999_us"] = res.P999
	detail["max_us"] = res.Max
	return res.P50, res.P99, detail, nil
}

// flood is one run of the UDP generator against the sink.
type flood struct {
	threads, flows int
	warmup, window time.Duration
	// around is called once the sink is ready, just before the generator
	// starts; what it returns is called as soon as the generator ends.
	around func() func()
}

// udpFlood runs the sink in the scenario's server and the generator in its
// client, and returns the rate delivered at the sink's eth0 over the
// window and the rate the generator handed to the kernel over its whole
// run (both kpps). It records how in detail.
func (h *Harness) udpFlood(ctx context.Context, t *Topology, scn string, f flood, detail map[string]any) (delivered, offered float64, err error) {
	ep := endpointFor(scn)
	gen := f.warmup + f.window + 400*time.Millisecond
	detail["sender_threads"] = f.threads
	detail["flows"] = f.flows
	detail["window_s"] = f.window.Seconds()
	detail["generator_s"] = gen.Seconds()
	sink, err := h.startNS("udpsink", t.NS(ep.server), nil, h.cfg.Self, "udpsink", "--port", strconv.Itoa(portUDP),
		"--if", "eth0", "--warmup", f.warmup.String(), "--window", f.window.String())
	if err != nil {
		return 0, 0, err
	}
	defer h.stop(sink, 2*time.Second)
	if err := sink.waitFor("ready", 5*time.Second); err != nil {
		return 0, 0, err
	}
	after := func() {}
	if f.around != nil {
		after = f.around()
	}
	r := h.nsExec(ctx, t.NS(ep.client), gen+15*time.Second, h.cfg.Self, "udpgen",
		"--dst", fmt.Sprintf("%s:%d", ep.dst, ep.port(portUDP)), "--duration", gen.String(),
		"--payload", strconv.Itoa(traffic.Payload64), "--threads", strconv.Itoa(f.threads),
		"--flows", strconv.Itoa(f.flows), "--window-from", f.warmup.String(), "--window", f.window.String())
	after()
	var g traffic.GenResult
	if r.Code != 0 || json.Unmarshal([]byte(lastJSON(r.Stdout)), &g) != nil {
		return 0, 0, r.errorf("udpgen")
	}
	// Offered over the sink's window where the generator saw all of it
	// (the sink's window starts at its first packet, within milliseconds of
	// the generator's start); else over the generator's whole run.
	offered = g.PPS / 1000
	detail["offered_over"] = "generator run"
	if g.WindowPPS > 0 {
		offered = g.WindowPPS / 1000
		detail["offered_over"] = "window"
	}
	detail["offered_kpps"] = report.Round(offered)
	detail["offered_run_kpps"] = report.Round(g.PPS / 1000)
	detail["sent"] = g.Sent
	detail["send_errors"] = g.SendErrors
	if g.FirstError != "" {
		detail["send_first_error"] = g.FirstError
	}
	if err := sink.Wait(5 * time.Second); err != nil {
		return 0, 0, fmt.Errorf("udpsink: %s", FirstLine(sink.stderr.String()+err.Error()))
	}
	var s traffic.SinkResult
	if err := json.Unmarshal([]byte(lastJSON(sink.stdout.String())), &s); err != nil {
		return 0, 0, fmt.Errorf("udpsink output: %v", err)
	}
	detail["sink_if_rx_packets"] = s.IfPackets
	detail["sink_app_kpps"] = report.Round(s.AppPPS / 1000)
	detail["measured_s"] = report.Round(s.Seconds)
	// The generator counts datagrams the kernel accepted; where the
	// sender's own CPU forwards them (veth) it cannot offer more than it
	// carries. Say so rather than claim an overload that did not happen.
	detail["offered_exceeds_carried"] = offered*1000 > s.IfPPS*1.02
	return s.IfPPS / 1000, offered, nil
}

// withOffered records the offered rate beside a successful figure.
func withOffered(s report.Sample, offered float64) report.Sample {
	if s.Status == report.StatusOK && offered > 0 {
		o := report.Round(offered)
		s.Offered = &o
	}
	return s
}

// udp64 floods 64-byte frames from the client and counts what reaches the
// server's interface. On the vswitch side it also takes vswitchd's CPU
// time over the flood and divides by the packets it forwarded.
func (h *Harness) udp64(ctx context.Context, t *Topology, pair int, scn string) []report.Sample {
	ep := endpointFor(scn)
	detail := map[string]any{"tool": "vsbench udpgen/udpsink", "payload_bytes": traffic.Payload64, "frame_bytes": 64,
		"dst": fmt.Sprintf("%s:%d", ep.dst, ep.port(portUDP)), "figure": "rx packets of the sink's eth0 over the window"}
	var cpuSample *report.Sample
	f := flood{threads: h.cfg.UDPThreads, flows: h.cfg.UDPThreads, warmup: udpWarmup, window: h.cfg.Duration}
	if t.daemon != nil {
		f.around = func() func() {
			before, err := h.snapshot(ctx, t)
			if err != nil {
				before = &daemonSnapshot{err: err}
			}
			return func() {
				s := h.cpuPerPacket(ctx, t, pair, scn, before)
				cpuSample = &s
			}
		}
	}
	v, offered, err := h.udpFlood(ctx, t, scn, f, detail)
	s := withOffered(sample(t, pair, scn, "udp64_kpps", v, detail, err), offered)
	return h.withCPU(t, pair, scn, []report.Sample{s}, cpuSample)
}

// afterWarmup is the sink's warm-up of the one-sender run that follows
// the overload: short, so its window starts right after the flood (ARP
// and the path are warm by then).
const afterWarmup = 100 * time.Millisecond

// oneSenderWindow is the window of the one-sender runs before and after
// the overload.
const oneSenderWindow = time.Second

// floodWindow bounds the window of the overload floods: a rate held for
// 2 s under overload is the finding, and the four runs of the test, in
// two scenarios on every side of every pair, must fit the run's budget.
const floodWindow = 2 * time.Second

// overload floods the path from a sender thread per CPU, first on one flow
// and then on many (each its own source port), far above what it carries,
// and records delivered and offered rates and how busy each worker of the
// switch daemon was. A one-sender run just before and one right after the
// floods show whether the path gets its old rate back.
func (h *Harness) overload(ctx context.Context, t *Topology, pair int, scn string) []report.Sample {
	ep := endpointFor(scn)
	base := func(what string) map[string]any {
		return map[string]any{"tool": "vsbench udpgen/udpsink", "payload_bytes": traffic.Payload64, "frame_bytes": 64,
			"dst": fmt.Sprintf("%s:%d", ep.dst, ep.port(portUDP)), "figure": "rx packets of the sink's eth0 over the window", "run": what}
	}
	one := flood{threads: 1, flows: 1, warmup: udpWarmup, window: oneSenderWindow}
	beforeDetail := base("one sender, before the flood")
	beforeKpps, beforeOffered, beforeErr := h.udpFlood(ctx, t, scn, one, beforeDetail)

	var out []report.Sample
	for _, run := range []struct {
		metric string
		flows  int
	}{{"udp64_overload_kpps", 1}, {"udp64_overload_flows_kpps", h.cfg.OverloadFlows}} {
		d := base(fmt.Sprintf("%d sender threads, %d flow(s)", h.cfg.UDPThreads, run.flows))
		f := flood{threads: h.cfg.UDPThreads, flows: run.flows, warmup: udpWarmup, window: min(h.cfg.Duration, floodWindow)}
		if p, _ := t.cpuProc(); p != nil {
			f.around = func() func() {
				b, at := taskStats(p.Pid()), time.Now()
				return func() {
					secs := time.Since(at).Seconds()
					w, how := Workers(b, taskStats(p.Pid()), p.Pid(), secs)
					pct := make([]float64, len(w))
					for i, l := range w {
						pct[i] = l.CPUPct
					}
					d["worker_cpu_pct"] = pct
					d["workers"] = w
					d["workers_by"] = how
					d["workers_over_s"] = report.Round(secs)
				}
			}
		}
		v, offered, err := h.udpFlood(ctx, t, scn, f, d)
		out = append(out, withOffered(sample(t, pair, scn, run.metric, v, d, err), offered))
	}

	after := one
	after.warmup = afterWarmup
	d := base("one sender, right after the flood")
	v, offered, err := h.udpFlood(ctx, t, scn, after, d)
	if beforeErr != nil {
		d["before_error"] = beforeErr.Error()
	} else {
		d["before_kpps"] = report.Round(beforeKpps)
		d["before_offered_kpps"] = report.Round(beforeOffered)
		if err == nil && beforeKpps > 0 {
			d["after_over_before"] = report.Round(v / beforeKpps)
		}
	}
	return append(out, withOffered(sample(t, pair, scn, "udp64_after_overload_kpps", v, d, err), offered))
}

// taskStats reads every thread of pid; threads that vanish while it reads
// are left out.
func taskStats(pid int) map[int]TaskStat {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := make(map[int]TaskStat, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if s, err := ParseTaskStat(string(b)); err == nil {
			out[tid] = s
		}
	}
	return out
}

func (h *Harness) withCPU(t *Topology, pair int, scn string, out []report.Sample, cpu *report.Sample) []report.Sample {
	if t.Peer() {
		return out
	}
	if cpu == nil {
		s := report.Failed(t.Side, pair, scn, "cpu_per_pkt_ns", report.StatusError, "no udp64 flood to measure over", nil)
		cpu = &s
	}
	return append(out, *cpu)
}

// lastJSON returns the last line of out that looks like a JSON object.
func lastJSON(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "{") {
			return l
		}
	}
	return ""
}

// daemonSnapshot is vswitchd's CPU time and packet counters at an instant.
type daemonSnapshot struct {
	ticks    uint64
	counters PortCounters
	at       time.Time
	err      error
}

func daemonTicks(t *Topology) (uint64, error) { return procTicks(t.daemon) }

// procTicks is a process's utime+stime, all threads, in clock ticks.
func procTicks(p *Proc) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return 0, err
	}
	return ProcCPUTicks(string(b))
}

func (h *Harness) snapshot(ctx context.Context, t *Topology) (*daemonSnapshot, error) {
	s := &daemonSnapshot{at: time.Now()}
	var err error
	if s.ticks, err = daemonTicks(t); err != nil {
		return nil, err
	}
	r := h.vsctl(ctx, t, "-o", "json", "stats")
	if r.Code != 0 {
		return nil, r.errorf("vswitchctl -o json stats")
	}
	if s.counters, err = ParseStats([]byte(r.Stdout)); err != nil {
		return nil, err
	}
	return s, nil
}

// cpuPerPacket is vswitchd's utime+stime over the flood divided by the
// packets it transmitted on its ports (each forwarded packet once).
func (h *Harness) cpuPerPacket(ctx context.Context, t *Topology, pair int, scn string, before *daemonSnapshot) report.Sample {
	fail := func(err error) report.Sample {
		return report.Failed(t.Side, pair, scn, "cpu_per_pkt_ns", report.StatusError, err.Error(), nil)
	}
	if before == nil {
		return fail(fmt.Errorf("no counters before the flood"))
	}
	if before.err != nil {
		return fail(fmt.Errorf("counters before the flood: %v", before.err))
	}
	after, err := h.snapshot(ctx, t)
	if err != nil {
		return fail(err)
	}
	pkts := after.counters.TxPackets - before.counters.TxPackets
	ticks := after.ticks - before.ticks
	if after.counters.TxPackets < before.counters.TxPackets || pkts == 0 {
		return fail(fmt.Errorf("vswitchd stats show no packet forwarded during the flood (tx %d → %d)",
			before.counters.TxPackets, after.counters.TxPackets))
	}
	cpuNS := float64(ticks) * 1e9 / userHZ
	return report.OK(t.Side, pair, scn, "cpu_per_pkt_ns", cpuNS/float64(pkts), map[string]any{
		"cpu_s": report.Round(cpuNS / 1e9), "packets_forwarded": pkts, "window_s": report.Round(after.at.Sub(before.at).Seconds()),
		"tool": "utime+stime of /proc/PID/stat ÷ Δ sum(tx_packets) of vswitchctl stats, during udp64",
	})
}

// connRate counts new TCP connections per second: connect, one byte each
// way, RST close, workers connections in flight.
func (h *Harness) connRate(ctx context.Context, t *Topology, scn string) (float64, map[string]any, error) {
	ep := endpointFor(scn)
	detail := map[string]any{"tool": "vsbench connclient/connsrv", "workers": h.cfg.ConnWorkers, "duration_s": h.cfg.Duration.Seconds(),
		"dst": hostPort(ep.dst, ep.port(portConn)), "offered": "back-to-back connect + 1 byte each way + RST close per worker"}
	srv, err := h.startNS("connsrv", t.NS(ep.server), nil, h.cfg.Self, "connsrv", "--port", strconv.Itoa(portConn), "--threads", "2", v6Flag(scn))
	if err != nil {
		return 0, detail, err
	}
	defer h.stop(srv, 2*time.Second)
	if err := srv.waitFor("ready", 5*time.Second); err != nil {
		return 0, detail, err
	}
	r := h.nsExec(ctx, t.NS(ep.client), h.cfg.Duration+20*time.Second, h.cfg.Self, "connclient",
		"--dst", hostPort(ep.dst, ep.port(portConn)), "--duration", h.cfg.Duration.String(),
		"--workers", strconv.Itoa(h.cfg.ConnWorkers))
	var c traffic.ConnResult
	if r.Code != 0 || json.Unmarshal([]byte(lastJSON(r.Stdout)), &c) != nil {
		return 0, detail, r.errorf("connclient")
	}
	detail["connections"] = c.Connections
	detail["errors"] = c.Errors
	detail["measured_s"] = report.Round(c.Seconds)
	if c.FirstError != "" {
		detail["first_error"] = c.FirstError
	}
	if c.Connections == 0 {
		return 0, detail, fmt.Errorf("no connection completed: %s", c.FirstError)
	}
	return c.PerSecond, detail, nil
}
