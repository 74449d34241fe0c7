package harness

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Iperf3 is what the harness takes from `iperf3 -J`.
type Iperf3 struct {
	Gbps        float64
	Retransmits int
	Seconds     float64
}

// ParseIperf3 reads the client's JSON: the receiver-side sum over all
// streams, so a -P 4 run is the aggregate of the four.
func ParseIperf3(b []byte) (Iperf3, error) {
	var doc struct {
		Error string `json:"error"`
		End   struct {
			SumSent struct {
				Seconds     float64 `json:"seconds"`
				Retransmits int     `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				Seconds       float64 `json:"seconds"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return Iperf3{}, fmt.Errorf("iperf3 output is not JSON: %w", err)
	}
	if doc.Error != "" {
		return Iperf3{}, fmt.Errorf("iperf3: %s", doc.Error)
	}
	if doc.End.SumReceived.BitsPerSecond <= 0 {
		return Iperf3{}, errors.New("iperf3: no bytes received")
	}
	return Iperf3{
		Gbps:        doc.End.SumReceived.BitsPerSecond / 1e9,
		Retransmits: doc.End.SumSent.Retransmits,
		Seconds:     doc.End.SumReceived.Seconds,
	}, nil
}

// Sockperf holds the round-trip percentiles of a ping-pong run, in µs.
type Sockperf struct {
	P50, P99, P999, Avg float64
	Observations        int
	ValidSeconds        float64
}

var (
	ansiRE       = regexp.MustCompile(`\x1b\[[0-9;]*m`)
	percentileRE = regexp.MustCompile(`percentile\s+([0-9.]+)\s*=\s*([0-9.]+)`)
	avgRE        = regexp.MustCompile(`avg-(?:rtt|lat|latency)=([0-9.]+)`)
	totalRE      = regexp.MustCompile(`Total\s+([0-9]+)\s+observations`)
	validRE      = regexp.MustCompile(`\[Valid Duration\]\s+RunTime=([0-9.]+)`)
)

// ParseSockperf reads `sockperf ping-pong` output (colour codes and all).
func ParseSockperf(out string) (Sockperf, error) {
	out = ansiRE.ReplaceAllString(out, "")
	var s Sockperf
	pct := map[string]float64{}
	for _, m := range percentileRE.FindAllStringSubmatch(out, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		p, _ := strconv.ParseFloat(m[1], 64)
		pct[strconv.FormatFloat(p, 'f', 3, 64)] = v
	}
	var ok bool
	if s.P50, ok = pct["50.000"]; !ok {
		return s, errors.New("sockperf: no 50th percentile in the output")
	}
	if s.P99, ok = pct["99.000"]; !ok {
		return s, errors.New("sockperf: no 99th percentile in the output")
	}
	s.P999 = pct["99.900"]
	if m := avgRE.FindStringSubmatch(out); m != nil {
		s.Avg, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := totalRE.FindStringSubmatch(out); m != nil {
		s.Observations, _ = strconv.Atoi(m[1])
	}
	if m := validRE.FindStringSubmatch(out); m != nil {
		s.ValidSeconds, _ = strconv.ParseFloat(m[1], 64)
	}
	return s, nil
}

// BenchLine is one result line of `go test -bench`.
type BenchLine struct {
	Pkg        string             // import path, from the "pkg:" line
	Name       string             // BenchmarkLookup1M/parallel, without -GOMAXPROCS
	Iterations int64              //
	Values     map[string]float64 // unit → value: "ns/op", "B/op", "B/entry", ...
}

var procsSuffixRE = regexp.MustCompile(`-[0-9]+$`)

// ParseGoBench reads `go test -bench` output, including custom metrics
// reported with b.ReportMetric (B/entry, B/route ...).
func ParseGoBench(out string) []BenchLine {
	var lines []BenchLine
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue // a benchmark that logged or failed mid-line
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		bl := BenchLine{Pkg: pkg, Name: procsSuffixRE.ReplaceAllString(f[0], ""), Iterations: n, Values: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			bl.Values[f[i+1]] = v
		}
		lines = append(lines, bl)
	}
	return lines
}

// BenchKey names a benchmark in latest.json "scale": the package's last
// path element and the benchmark in snake case, e.g. vswitch/fdb
// BenchmarkLookup1M → fdb_lookup_1m.
func BenchKey(pkg, name string) string {
	parts := []string{pkg[strings.LastIndex(pkg, "/")+1:]}
	seps := func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }
	for _, seg := range strings.FieldsFunc(strings.TrimPrefix(name, "Benchmark"), seps) {
		parts = append(parts, camelWords(seg)...)
	}
	return strings.ToLower(strings.Join(parts, "_"))
}

// camelWords splits "LPMLookup1MParallel" into LPM, Lookup, 1M, Parallel:
// a word starts at a lower→upper change, at a letter→digit change, and at
// the last capital of an acronym followed by a lower-case letter. A digit
// followed by letters stays one word ("1M", "4k").
func camelWords(s string) []string {
	rs := []rune(s)
	var out []string
	start := 0
	for i := 1; i < len(rs); i++ {
		p, c := rs[i-1], rs[i]
		if (unicode.IsLower(p) && unicode.IsUpper(c)) ||
			(unicode.IsLetter(p) && unicode.IsDigit(c)) ||
			(unicode.IsUpper(p) && unicode.IsUpper(c) && i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
			out = append(out, string(rs[start:i]))
			start = i
		}
	}
	return append(out, string(rs[start:]))
}

// UnitKey maps a `go test -bench` unit to a JSON key: ns/op → ns_per_op,
// B/entry → bytes_per_entry, allocs/op → allocs_per_op.
func UnitKey(unit string) string {
	num, den, ok := strings.Cut(unit, "/")
	if !ok {
		return sanitize(unit)
	}
	switch num {
	case "B":
		num = "bytes"
	case "MB":
		num = "mb"
	}
	return sanitize(num) + "_per_" + sanitize(den)
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		} else {
			b.WriteRune('_')
		}
	}
	return b.String()
}

// ProcCPUTicks returns utime+stime (clock ticks, all threads) from the
// content of /proc/PID/stat. The command name may hold spaces and
// parentheses, so fields are counted after the last ')'.
func ProcCPUTicks(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc/PID/stat: no ')'")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, errors.New("/proc/PID/stat: too few fields")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/PID/stat: bad utime/stime %q %q", f[11], f[12])
	}
	return ut + st, nil
}

// ProcRSSBytes returns VmRSS from the content of /proc/PID/status.
func ProcRSSBytes(status string) (uint64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmRSS: unexpected %q", v)
			}
			kb, err := strconv.ParseUint(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}

// PortCounters sums the per-port counters of `vswitchctl -o json stats`.
type PortCounters struct {
	Ports     int
	RxPackets uint64
	TxPackets uint64
}

// ParseStats reads the CLI.md stats object: {"ports": [{"name",
// "rx_packets", "tx_packets", ...}], "drops": {...}}.
func ParseStats(b []byte) (PortCounters, error) {
	var doc struct {
		Ports *[]struct {
			Name      string  `json:"name"`
			RxPackets *uint64 `json:"rx_packets"`
			TxPackets *uint64 `json:"tx_packets"`
		} `json:"ports"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return PortCounters{}, fmt.Errorf("stats: not the JSON object CLI.md describes: %w", err)
	}
	if doc.Ports == nil {
		return PortCounters{}, errors.New(`stats: no "ports" array`)
	}
	var c PortCounters
	for _, p := range *doc.Ports {
		if p.RxPackets == nil || p.TxPackets == nil {
			return PortCounters{}, fmt.Errorf("stats: port %q lacks rx_packets/tx_packets", p.Name)
		}
		c.Ports++
		c.RxPackets += *p.RxPackets
		c.TxPackets += *p.TxPackets
	}
	return c, nil
}

// ParseDrops reads the totals of `vswitchctl -o json stats`: "drops", an
// object REASON → count.
func ParseDrops(b []byte) (map[string]uint64, error) {
	var doc struct {
		Drops map[string]uint64 `json:"drops"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return doc.Drops, nil
}

// DropDelta renders the reasons whose count grew, "no-nat=3, ttl=1", in
// reason order.
func DropDelta(before, after map[string]uint64) string {
	var parts []string
	for reason, n := range after {
		if n > before[reason] {
			parts = append(parts, fmt.Sprintf("%s=%d", reason, n-before[reason]))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// CtlOutcome classifies a vswitchctl exit per CLI.md: 0 success, 1 the
// operation failed, 2 usage error — which for a command this build does not
// have (`network connect`, `uplink add`, `publish add`) means the feature
// is not there yet.
type CtlOutcome int

// CtlOutcome values.
const (
	CtlOK CtlOutcome = iota
	CtlFailed
	CtlUnsupported
)

// ClassifyCtl maps an exit status to an outcome.
func ClassifyCtl(exitCode int) CtlOutcome {
	switch exitCode {
	case 0:
		return CtlOK
	case 2:
		return CtlUnsupported
	default:
		return CtlFailed
	}
}

// FirstLine returns the first non-empty line of s, trimmed: error messages
// of tools go into one table cell.
func FirstLine(s string) string {
	for _, l := range strings.Split(ansiRE.ReplaceAllString(s, ""), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// LastLines returns the last n non-empty lines of s, joined by " / ".
func LastLines(s string, n int) string {
	var ls []string
	for _, l := range strings.Split(ansiRE.ReplaceAllString(s, ""), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, " / ")
}

// TaskStat is what the harness reads of one thread's /proc/PID/task/TID/stat.
type TaskStat struct {
	Comm  string
	Nice  int
	Ticks uint64 // utime + stime, clock ticks (USER_HZ)
}

// ParseTaskStat reads comm (field 2), utime and stime (14, 15) and nice
// (19) of a /proc/PID/task/TID/stat line. comm may hold spaces and
// parentheses, so the fields are counted from its last ')'.
func ParseTaskStat(stat string) (TaskStat, error) {
	open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return TaskStat{}, errors.New("task stat: no (comm)")
	}
	f := strings.Fields(stat[end+1:])
	// f[0] is field 3 (state): utime f[11], stime f[12], nice f[16]
	if len(f) < 17 {
		return TaskStat{}, errors.New("task stat: too few fields")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	nice, err3 := strconv.Atoi(f[16])
	if err1 != nil || err2 != nil || err3 != nil {
		return TaskStat{}, fmt.Errorf("task stat: bad utime/stime/nice %q %q %q", f[11], f[12], f[16])
	}
	return TaskStat{Comm: stat[open+1 : end], Nice: nice, Ticks: ut + st}, nil
}

// ThreadLoad is one thread's share of a CPU over a measurement.
type ThreadLoad struct {
	TID    int     `json:"tid"`
	Comm   string  `json:"comm"`
	Nice   int     `json:"nice"`
	CPUPct float64 `json:"cpu_pct"`
}

// busyPct is the share of a CPU above which a thread counts as one that
// worked during the measurement: Go's sysmon and the control plane stay
// well under it, a forwarding worker is far above.
const busyPct = 2.0

// WorkerComm is how vswitchd's worker threads are named, with their index.
const WorkerComm = "vswd-worker"

// Workers picks the forwarding threads of a switch daemon from its threads'
// stats before and after a measurement of secs seconds, and says how it
// chose them. vswitchd raises the priority of its dataplane worker threads
// only (dataplane Options.Nice, -5 by default), so the threads whose nice
// differs from the main thread's (tid == pid) are its workers, idle ones
// included (an idle worker under many flows is the finding). Failing that
// (nice 0, or Open vSwitch, whose threads share one nice), the workers are
// the threads that used more than busyPct of a CPU. Threads that started
// during the measurement count from zero; those that ended are left out.
// The result is busiest first. A vswitchd that names its workers' threads
// (WorkerComm) is read by the names first: a worker that happens to run on
// the main thread would make the nice test pick the wrong threads.
func Workers(before, after map[int]TaskStat, mainTID int, secs float64) ([]ThreadLoad, string) {
	if secs <= 0 {
		return nil, "no measurement"
	}
	var all []ThreadLoad
	for tid, a := range after {
		b := before[tid] // zero if it started since
		if a.Ticks < b.Ticks {
			b.Ticks = 0 // a reused TID
		}
		all = append(all, ThreadLoad{TID: tid, Comm: a.Comm, Nice: a.Nice,
			CPUPct: math.Round(1000*float64(a.Ticks-b.Ticks)/userHZ/secs) / 10})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].CPUPct != all[j].CPUPct {
			return all[i].CPUPct > all[j].CPUPct
		}
		return all[i].TID < all[j].TID
	})
	// vswitchd names its workers' threads (dataplane/worker.go): the surest
	// sign. Older builds did not; then the nice value, then the CPU used.
	var named []ThreadLoad
	for _, l := range all {
		if strings.HasPrefix(l.Comm, WorkerComm) {
			named = append(named, l)
		}
	}
	if len(named) > 0 {
		return named, "threads named " + WorkerComm + "N (vswitchd names its dataplane workers)"
	}
	main, ok := after[mainTID]
	if ok {
		var out []ThreadLoad
		for _, l := range all {
			if l.TID != mainTID && l.Nice != main.Nice {
				out = append(out, l)
			}
		}
		if len(out) > 0 {
			return out, fmt.Sprintf("nice %d, unlike the main thread's %d (vswitchd raises only its dataplane workers)", out[0].Nice, main.Nice)
		}
	}
	var out []ThreadLoad
	for _, l := range all {
		if l.CPUPct > busyPct {
			out = append(out, l)
		}
	}
	return out, fmt.Sprintf("threads that used more than %.0f%% of a CPU during the measurement", busyPct)
}
