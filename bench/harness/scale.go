package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"vswitch/bench/report"
)

// benchGroups are the scale figures BENCH.md asks of the Go benchmarks,
// by the packages that would hold them. Conntrack's figure is a benchmark
// of its own (conntrackLookup), not a group.
var benchGroups = []struct {
	name string
	pkgs []string // last path elements
	want string
	// match says whether a benchmark of those packages is of this group
	match func(pkg, name string) bool
}{
	{"fdb", []string{"fdb"}, "FDB with 1M MACs: lookup ns, bytes per entry",
		func(pkg, _ string) bool { return path.Base(pkg) == "fdb" }},
	{"lpm", []string{"routing", "lpm"}, "LPM with 1M routes: lookup ns",
		func(pkg, _ string) bool { return path.Base(pkg) == "routing" || path.Base(pkg) == "lpm" }},
	{"nat", []string{"nat"}, "NAT benchmarks",
		func(pkg, name string) bool { return path.Base(pkg) == "nat" }},
}

// The conntrack figure of BENCH.md ("conntrack with 1M entries: memory,
// lookup ns") is the nat package's BenchmarkLookup1M: a table of a million
// connections, ns per lookup and the B/entry it reports.
const (
	conntrackPkg   = "nat"
	conntrackBench = "Lookup1M$"
	conntrackName  = "conntrack_lookup_1m"
)

// goBenchmarks runs the benchmarks of the packages above that exist, one
// `go test` per package so one that does not compile does not hide the
// others, and reports a group with no benchmark as not supported yet.
func (h *Harness) goBenchmarks(ctx context.Context) []report.ScaleEntry {
	r := h.run(ctx, 3*time.Minute, "", "go", "-C", h.cfg.Repo, "list", "-e", "-f", "{{.ImportPath}}", "./...")
	if r.Code != 0 {
		return []report.ScaleEntry{{Name: "go_benchmarks", Status: report.StatusError, Error: r.errorf("go list").Error()}}
	}
	wanted := map[string]bool{}
	for _, g := range benchGroups {
		for _, p := range g.pkgs {
			wanted[p] = true
		}
	}
	var pkgs []string
	for _, p := range strings.Fields(r.Stdout) {
		if wanted[path.Base(p)] && !strings.Contains(p, "/bench/") {
			pkgs = append(pkgs, p)
		}
	}
	var entries []report.ScaleEntry
	var lines []BenchLine
	for _, p := range pkgs {
		h.logf("scale: go test -bench %s (benchtime %s)", p, h.cfg.BenchTime)
		timeout := h.cfg.BenchTimeout
		args := []string{"go", "-C", h.cfg.Repo, "test", "-run", "^$", "-bench", ".",
			"-benchmem", "-benchtime", h.cfg.BenchTime, "-count", "1", "-timeout", timeout.String()}
		if path.Base(p) == conntrackPkg {
			args = append(args, "-skip", conntrackBench) // measured on its own below
		}
		r := h.run(ctx, timeout+30*time.Second, "", append(args, p)...)
		got := ParseGoBench(r.Stdout)
		for i := range got {
			if got[i].Pkg == "" {
				got[i].Pkg = p
			}
		}
		lines = append(lines, got...)
		if r.Code != 0 {
			entries = append(entries, report.ScaleEntry{Name: path.Base(p) + "_benchmarks", Status: report.StatusError,
				Error: fmt.Sprintf("go test -bench %s: %s", p, LastLines(r.Stdout+r.Stderr, 2))})
		}
	}
	for _, l := range lines {
		e := report.ScaleEntry{Name: BenchKey(l.Pkg, l.Name), Status: report.StatusOK, Values: map[string]float64{},
			Info: map[string]string{"package": l.Pkg, "benchmark": l.Name}}
		for unit, v := range l.Values {
			e.Values[UnitKey(unit)] = v
		}
		entries = append(entries, e)
	}
	entries = append(entries, h.conntrackLookup(ctx, pkgs))
	for _, g := range benchGroups {
		found := false
		for _, l := range lines {
			if g.match(l.Pkg, l.Name) {
				found = true
			}
		}
		if !found && g.name != "nat" {
			entries = append(entries, report.ScaleEntry{Name: g.name, Status: report.StatusNotSupported,
				Error: fmt.Sprintf("%s: no benchmark in package %s yet", g.want, strings.Join(g.pkgs, " or "))})
		}
	}
	return entries
}

// conntrackLookup runs `go test -run '^$' -bench 'Lookup1M$' ./nat` and
// makes the conntrack_lookup_1m entry of it.
func (h *Harness) conntrackLookup(ctx context.Context, pkgs []string) report.ScaleEntry {
	pkg := ""
	for _, p := range pkgs {
		if path.Base(p) == conntrackPkg && path.Dir(p) == "vswitch" {
			pkg = p
		}
	}
	if pkg == "" {
		return ConntrackEntry(nil, false, "", "")
	}
	h.logf("scale: go test -bench '%s' %s (benchtime %s)", conntrackBench, pkg, h.cfg.BenchTime)
	timeout := h.cfg.BenchTimeout
	r := h.run(ctx, timeout+30*time.Second, "", "go", "-C", h.cfg.Repo, "test", "-run", "^$", "-bench", conntrackBench,
		"-benchmem", "-benchtime", h.cfg.BenchTime, "-count", "1", "-timeout", timeout.String(), "./"+conntrackPkg)
	var failure string
	if r.Code != 0 {
		failure = LastLines(r.Stdout+r.Stderr, 2)
	}
	return ConntrackEntry(ParseGoBench(r.Stdout), true, failure, h.cfg.BenchTime)
}

// ConntrackEntry turns the output of the conntrack benchmark into its
// scale entry: ns_per_op and bytes_per_entry (the benchmark's B/entry), or
// why there is none — the package or the benchmark is not there yet (not
// supported yet), or it failed (error).
func ConntrackEntry(lines []BenchLine, havePkg bool, failure, benchtime string) report.ScaleEntry {
	e := report.ScaleEntry{Name: conntrackName}
	if !havePkg {
		e.Status, e.Error = report.StatusNotSupported, "conntrack with 1M entries: no package ./"+conntrackPkg+" yet"
		return e
	}
	var found *BenchLine
	for i := range lines {
		if strings.HasSuffix(lines[i].Name, "Lookup1M") {
			found = &lines[i]
			break
		}
	}
	switch {
	case found == nil && failure != "":
		e.Status, e.Error = report.StatusError, "go test -bench "+conntrackBench+" ./"+conntrackPkg+": "+failure
		return e
	case found == nil:
		e.Status, e.Error = report.StatusNotSupported, "conntrack with 1M entries: no BenchmarkLookup1M in ./"+conntrackPkg+" yet"
		return e
	}
	e.Status = report.StatusOK
	e.Values = map[string]float64{}
	e.Info = map[string]string{"package": found.Pkg, "benchmark": found.Name}
	if benchtime != "" {
		e.Info["benchtime"] = benchtime
	}
	for unit, v := range found.Values {
		e.Values[UnitKey(unit)] = v
	}
	if _, ok := e.Values["ns_per_op"]; !ok {
		e.Status, e.Error = report.StatusError, found.Name+" reported no ns/op"
	} else if _, ok := e.Values["bytes_per_entry"]; !ok {
		e.Status, e.Error = report.StatusError, found.Name+" reported no B/entry (b.ReportMetric(..., \"B/entry\"))"
	}
	if failure != "" && e.Status == report.StatusOK {
		e.Info["warning"] = "go test exited non-zero: " + failure
	}
	return e
}

// portScale is the daemon run: cfg.Ports TAP ports on one network, the
// time the CLI takes to create them one by one (a vswitchctl process per
// port, as a user or CNI would) and vswitchd's resident memory.
//
// The ports go into a few namespaces, 50 each (eth0 ... eth49, no default
// route: one per namespace would be enough and the rest would clash), which
// tests the daemon, not `ip netns add`. If this vswitchctl lacks --ifname
// or --no-default-route, it falls back to one namespace per port.
func (h *Harness) portScale(ctx context.Context, bin VswitchBin) report.ScaleEntry {
	name := fmt.Sprintf("ports_%d_one_network", h.cfg.Ports)
	fail := func(err error) report.ScaleEntry {
		return report.ScaleEntry{Name: name, Status: report.StatusError, Error: err.Error()}
	}
	const perNS = 50
	nNS := (h.cfg.Ports + perNS - 1) / perNS
	roles := []string{"d"}
	for i := 0; i < nNS; i++ {
		roles = append(roles, "p"+strconv.Itoa(i))
	}
	t, err := h.newTopology(ctx, bin.Side, "s", roles...)
	defer h.closeTopology(t)
	if err != nil {
		return fail(err)
	}
	if err := h.startDaemon(ctx, t, bin, "s"); err != nil {
		return fail(err)
	}
	subnet := netip.MustParsePrefix("10.210.0.0/22") // 1021 hosts after the gateway
	if s := h.ctlStep(ctx, t, "network", "create", "scale", "--subnet", subnet.String(), "--mtu", mtu); s.status != report.StatusOK {
		return fail(fmt.Errorf("%s", s.note))
	}
	rss0, err := daemonRSS(t)
	if err != nil {
		return fail(err)
	}
	addr := subnet.Addr().Next() // the gateway
	layout := fmt.Sprintf("%d namespaces × %d ports (--ifname ethN --no-default-route)", nNS, perNS)
	oneEach := false
	start := time.Now()
	for i := 0; i < h.cfg.Ports; i++ {
		if ctx.Err() != nil {
			return fail(fmt.Errorf("stopped after %d ports: %s", i, h.stopReason(ctx)))
		}
		addr = addr.Next()
		ip := fmt.Sprintf("%s/%d", addr, subnet.Bits())
		var s support
		if oneEach {
			ns := fmt.Sprintf("q%d", i)
			if err := h.addNS(ctx, t.nsName(h, "s", ns)); err != nil {
				return fail(err)
			}
			t.ns[ns] = t.nsName(h, "s", ns)
			s = h.ctlStep(ctx, t, "port", "add", "scale", "--netns", t.ns[ns], "--ip", ip)
		} else {
			s = h.ctlStep(ctx, t, "port", "add", "scale", "--netns", t.ns["p"+strconv.Itoa(i/perNS)],
				"--ifname", "eth"+strconv.Itoa(i%perNS), "--ip", ip, "--no-default-route")
			if i == 0 && s.status == report.StatusNotSupported {
				h.logf("scale: %s; falling back to one namespace per port", s.note)
				oneEach, layout = true, fmt.Sprintf("%d namespaces × 1 port (fallback: %s)", h.cfg.Ports, s.note)
				i, addr = -1, subnet.Addr().Next()
				continue
			}
		}
		if s.status != report.StatusOK {
			return fail(fmt.Errorf("port %d of %d: %s", i+1, h.cfg.Ports, s.note))
		}
	}
	elapsed := time.Since(start)
	rss1, err := daemonRSS(t)
	if err != nil {
		return fail(err)
	}
	e := report.ScaleEntry{Name: name, Status: report.StatusOK, Values: map[string]float64{
		"ports":            float64(h.cfg.Ports),
		"create_s":         elapsed.Seconds(),
		"ms_per_port":      float64(elapsed.Milliseconds()) / float64(h.cfg.Ports),
		"rss_mib":          float64(rss1) / (1 << 20),
		"rss_baseline_mib": float64(rss0) / (1 << 20),
		"rss_per_port_kib": (float64(rss1) - float64(rss0)) / 1024 / float64(h.cfg.Ports),
	}, Info: map[string]string{"layout": layout, "timing": "wall time of one `vswitchctl port add` process per port, sequential"}}
	if oneEach {
		e.Info["timing"] += "; namespaces created outside the timing"
	}
	// the daemon must say it has them all
	r := h.vsctl(ctx, t, "-o", "json", "port", "ls")
	var ports []json.RawMessage
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &ports) != nil {
		e.Info["check"] = "port ls failed: " + r.errorf("vswitchctl -o json port ls").Error()
	} else if len(ports) != h.cfg.Ports {
		e.Status, e.Error = report.StatusError, fmt.Sprintf("port ls lists %d ports, %d were added", len(ports), h.cfg.Ports)
	}
	t0 := time.Now()
	if s := h.ctlStep(ctx, t, "network", "rm", "scale", "--force"); s.status == report.StatusOK {
		e.Values["remove_s"] = time.Since(t0).Seconds()
	}
	return e
}

// nsName is the namespace name of a role added after the topology.
func (t *Topology) nsName(h *Harness, tag, role string) string {
	return fmt.Sprintf("%s%s-%s-%s", NSPrefix, h.id, tag, role)
}

func daemonRSS(t *Topology) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", t.daemon.Pid()))
	if err != nil {
		return 0, fmt.Errorf("vswitchd memory: %w", err)
	}
	return ProcRSSBytes(string(b))
}
