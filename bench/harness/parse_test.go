package harness

import (
	"strings"
	"testing"

	"vswitch/bench/report"
)

func TestParseIperf3(t *testing.T) {
	const out = `{"start": {}, "intervals": [],
	  "end": {"sum_sent": {"seconds": 2.0, "bytes": 1, "bits_per_second": 2.51e10, "retransmits": 7},
	          "sum_received": {"seconds": 2.0, "bytes": 1, "bits_per_second": 2.5e10}}}`
	r, err := ParseIperf3([]byte(out))
	if err != nil || r.Gbps != 25 || r.Retransmits != 7 || r.Seconds != 2 {
		t.Errorf("ParseIperf3 = %+v, %v", r, err)
	}
	for _, bad := range []string{
		`{"start": {}, "end": {}, "error": "unable to connect to server: Connection refused"}`,
		`{"end": {"sum_received": {"bits_per_second": 0}}}`,
		`iperf3: error - unable to connect`,
	} {
		if _, err := ParseIperf3([]byte(bad)); err == nil {
			t.Errorf("ParseIperf3(%q) did not fail", bad)
		}
	}
	_, err = ParseIperf3([]byte(`{"error": "unable to connect to server: Connection refused"}`))
	if err == nil || !strings.Contains(err.Error(), "Connection refused") {
		t.Errorf("iperf3's own error is lost: %v", err)
	}
}

const sockperfOut = "sockperf: \x1b[2;35m== version #3.7-no.git == \x1b[0m\n" + `sockperf[CLIENT] send on:sockperf: using recvfrom() to block on socket(s)
[ 0] IP = 10.9.0.2        PORT = 11111 # TCP
sockperf: [Total Run] RunTime=1.000 sec; Warm up time=400 msec; SentMessages=45799; ReceivedMessages=45798
sockperf: [Valid Duration] RunTime=0.550 sec; SentMessages=29707; ReceivedMessages=29707
sockperf: ` + "\x1b[2;35m====> avg-rtt=18.504 (std-dev=79.620)\x1b[0m" + `
sockperf: Summary: Round trip is 18.504 usec
sockperf: ` + "\x1b[2;35mTotal 29707 observations\x1b[0m" + `; each percentile contains 297.07 observations
sockperf: ---> <MAX> observation = 4506.329
sockperf: ---> percentile 99.999 = 4506.329
sockperf: ---> percentile 99.990 = 3871.970
sockperf: ---> percentile 99.900 = 1138.374
sockperf: ---> percentile 99.000 =   45.907
sockperf: ---> percentile 90.000 =   15.142
sockperf: ---> percentile 75.000 =   14.681
sockperf: ---> percentile 50.000 =   14.020
sockperf: ---> percentile 25.000 =   13.920
sockperf: ---> <MIN> observation =   13.710
`

func TestParseSockperf(t *testing.T) {
	s, err := ParseSockperf(sockperfOut)
	if err != nil {
		t.Fatal(err)
	}
	if s.P50 != 14.02 || s.P99 != 45.907 || s.P999 != 1138.374 || s.Avg != 18.504 || s.Observations != 29707 || s.ValidSeconds != 0.55 {
		t.Errorf("ParseSockperf = %+v", s)
	}
	if _, err := ParseSockperf("sockperf: ERROR: connect: Connection refused"); err == nil {
		t.Error("output without percentiles did not fail")
	}
}

const goBenchOut = `goos: linux
goarch: amd64
pkg: vswitch/fdb
cpu: AMD EPYC
BenchmarkLookup1M-2      	 5000000	       234.5 ns/op	        24.00 B/entry	       0 B/op	       0 allocs/op
BenchmarkLearn/parallel-2	 1000000	      1021 ns/op
BenchmarkBroken-2        	--- FAIL: BenchmarkBroken
PASS
ok  	vswitch/fdb	3.2s
pkg: vswitch/routing
BenchmarkLPMLookup1MRoutes 	10000000	        98.1 ns/op	        61.5 B/route
`

func TestParseGoBench(t *testing.T) {
	ls := ParseGoBench(goBenchOut)
	if len(ls) != 3 {
		t.Fatalf("got %d lines: %+v", len(ls), ls)
	}
	if l := ls[0]; l.Pkg != "vswitch/fdb" || l.Name != "BenchmarkLookup1M" || l.Iterations != 5000000 ||
		l.Values["ns/op"] != 234.5 || l.Values["B/entry"] != 24 || l.Values["allocs/op"] != 0 {
		t.Errorf("line 0: %+v", l)
	}
	if l := ls[1]; l.Name != "BenchmarkLearn/parallel" || l.Values["ns/op"] != 1021 {
		t.Errorf("line 1: %+v", l)
	}
	if l := ls[2]; l.Pkg != "vswitch/routing" || l.Values["B/route"] != 61.5 {
		t.Errorf("line 2: %+v", l)
	}
}

func TestBenchKey(t *testing.T) {
	for _, tc := range []struct{ pkg, name, want string }{
		{"vswitch/fdb", "BenchmarkLookup1M", "fdb_lookup_1m"},
		{"vswitch/routing", "BenchmarkLPMLookup1MRoutes", "routing_lpm_lookup_1m_routes"},
		{"vswitch/nat/conntrack", "BenchmarkLookup/entries=1000000", "conntrack_lookup_entries_1000000"},
		{"vswitch/fdb", "BenchmarkLearn/parallel", "fdb_learn_parallel"},
		{"fdb", "Benchmark_lookup_1M", "fdb_lookup_1m"},
	} {
		if got := BenchKey(tc.pkg, tc.name); got != tc.want {
			t.Errorf("BenchKey(%q, %q) = %q, want %q", tc.pkg, tc.name, got, tc.want)
		}
	}
}

func TestUnitKey(t *testing.T) {
	for in, want := range map[string]string{
		"ns/op": "ns_per_op", "B/op": "bytes_per_op", "allocs/op": "allocs_per_op",
		"B/entry": "bytes_per_entry", "B/route": "bytes_per_route", "MB/s": "mb_per_s", "lookups": "lookups",
	} {
		if got := UnitKey(in); got != want {
			t.Errorf("UnitKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProcCPUTicks(t *testing.T) {
	// comm with a space and a parenthesis, utime 1200, stime 34
	const stat = "4242 (vs(witch) d) S 1 4242 4242 0 -1 4194560 3000 0 0 0 1200 34 0 0 20 0 9 0 100 1000000 500 18446744073709551615"
	n, err := ProcCPUTicks(stat)
	if err != nil || n != 1234 {
		t.Errorf("ProcCPUTicks = %d, %v; want 1234", n, err)
	}
	if _, err := ProcCPUTicks("4242 (x) S 1"); err == nil {
		t.Error("short stat did not fail")
	}
}

func TestProcRSSBytes(t *testing.T) {
	n, err := ProcRSSBytes("Name:\tvswitchd\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads: 9\n")
	if err != nil || n != 12345*1024 {
		t.Errorf("ProcRSSBytes = %d, %v", n, err)
	}
	if _, err := ProcRSSBytes("Name: x\n"); err == nil {
		t.Error("missing VmRSS did not fail")
	}
}

func TestParseStats(t *testing.T) {
	c, err := ParseStats([]byte(`{"ports": [
	  {"name": "c1", "rx_packets": 100, "rx_bytes": 6000, "tx_packets": 3, "tx_bytes": 1, "drops": {}},
	  {"name": "c2", "rx_packets": 4, "rx_bytes": 1, "tx_packets": 97, "tx_bytes": 5820, "drops": {"no_route": 1}}],
	  "drops": {"no_route": 1}}`))
	if err != nil || c.Ports != 2 || c.RxPackets != 104 || c.TxPackets != 100 {
		t.Errorf("ParseStats = %+v, %v", c, err)
	}
	for _, bad := range []string{`[]`, `{"drops": {}}`, `{"ports": [{"name": "c1"}]}`, `not json`} {
		if _, err := ParseStats([]byte(bad)); err == nil {
			t.Errorf("ParseStats(%q) did not fail", bad)
		}
	}
}

func TestClassifyCtl(t *testing.T) {
	if ClassifyCtl(0) != CtlOK || ClassifyCtl(1) != CtlFailed || ClassifyCtl(2) != CtlUnsupported || ClassifyCtl(-1) != CtlFailed {
		t.Error("ClassifyCtl does not follow CLI.md exit statuses")
	}
}

func TestLines(t *testing.T) {
	s := "\n  \x1b[31mfirst\x1b[0m \nsecond\n\nthird\n"
	if got := FirstLine(s); got != "first" {
		t.Errorf("FirstLine = %q", got)
	}
	if got := LastLines(s, 2); got != "second / third" {
		t.Errorf("LastLines = %q", got)
	}
}

func TestDrops(t *testing.T) {
	before, err := ParseDrops([]byte(`{"ports": [], "drops": {"no-nat": 2, "ttl": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := ParseDrops([]byte(`{"ports": [], "drops": {"no-nat": 5, "ttl": 1, "no-route": 1}}`))
	if got := DropDelta(before, after); got != "no-nat=3, no-route=1" {
		t.Errorf("DropDelta = %q", got)
	}
	if got := DropDelta(nil, nil); got != "" {
		t.Errorf("DropDelta(nil, nil) = %q", got)
	}
}

func TestConntrackEntry(t *testing.T) {
	const out = `goos: linux
pkg: vswitch/nat
BenchmarkLookup1M-2   	 3000000	        41.5 ns/op	        72.00 B/entry	       0 B/op	       0 allocs/op
PASS
`
	e := ConntrackEntry(ParseGoBench(out), true, "", "100ms")
	if e.Name != "conntrack_lookup_1m" || e.Status != report.StatusOK ||
		e.Values["ns_per_op"] != 41.5 || e.Values["bytes_per_entry"] != 72 || e.Values["allocs_per_op"] != 0 {
		t.Errorf("entry = %+v", e)
	}
	// what the harness reports while the nat package is being written
	if e := ConntrackEntry(nil, false, "", ""); e.Status != report.StatusNotSupported || !strings.Contains(e.Error, "no package ./nat") {
		t.Errorf("no package: %+v", e)
	}
	if e := ConntrackEntry(ParseGoBench("PASS\n"), true, "", ""); e.Status != report.StatusNotSupported || !strings.Contains(e.Error, "no BenchmarkLookup1M") {
		t.Errorf("no benchmark: %+v", e)
	}
	if e := ConntrackEntry(nil, true, "nat/table.go:3:1: syntax error", ""); e.Status != report.StatusError || !strings.Contains(e.Error, "syntax error") {
		t.Errorf("build failure: %+v", e)
	}
	noMetric := "pkg: vswitch/nat\nBenchmarkLookup1M-2 \t 100 \t 41.5 ns/op\n"
	if e := ConntrackEntry(ParseGoBench(noMetric), true, "", ""); e.Status != report.StatusError || !strings.Contains(e.Error, "B/entry") {
		t.Errorf("no B/entry: %+v", e)
	}
}

func TestParseTaskStat(t *testing.T) {
	// a comm with a space and a ')' in it, as prctl(PR_SET_NAME) allows
	line := "4242 (dp w)rk 0) S 1 4240 4240 0 -1 4194624 100 0 0 0 1234 567 0 0 15 -5 9 0 5000 1000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	s, err := ParseTaskStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if s.Comm != "dp w)rk 0" || s.Ticks != 1234+567 || s.Nice != -5 {
		t.Errorf("got %+v, want comm %q, ticks %d, nice -5", s, "dp w)rk 0", 1234+567)
	}
	for _, bad := range []string{"", "4242 vswitchd S 1", "4242 (vswitchd) S 1 2 3", "4242 (x) S 1 4240 4240 0 -1 0 0 0 0 0 x 5 0 0 20 0 1"} {
		if _, err := ParseTaskStat(bad); err == nil {
			t.Errorf("ParseTaskStat(%q) accepted", bad)
		}
	}
}

func TestWorkersByNice(t *testing.T) {
	// main thread 100 at nice 0, two workers at -5 (one idle), a runtime
	// thread at 0 that used a little CPU; 2 s, 100 ticks a second
	before := map[int]TaskStat{100: {"vswitchd", 0, 50}, 101: {"vswitchd", -5, 10}, 102: {"vswitchd", -5, 0}, 103: {"vswitchd", 0, 3}}
	after := map[int]TaskStat{100: {"vswitchd", 0, 52}, 101: {"vswitchd", -5, 200}, 102: {"vswitchd", -5, 0}, 103: {"vswitchd", 0, 9}}
	w, how := Workers(before, after, 100, 2)
	if len(w) != 2 || w[0].TID != 101 || w[0].CPUPct != 95 || w[1].TID != 102 || w[1].CPUPct != 0 {
		t.Errorf("workers %+v, want tid 101 at 95%% then idle tid 102", w)
	}
	if !strings.Contains(how, "nice -5") {
		t.Errorf("how = %q, want it to name the nice", how)
	}
}

func TestWorkersByName(t *testing.T) {
	// worker 0 runs on the main thread (tid 100, nice -5): by nice the
	// workers would be the runtime's threads; by name they are 100 and 102
	before := map[int]TaskStat{100: {"vswd-worker0", -5, 10}, 101: {"vswitchd", 0, 50}, 102: {"vswd-worker1", -5, 0}, 103: {"vswitchd", 0, 3}}
	after := map[int]TaskStat{100: {"vswd-worker0", -5, 200}, 101: {"vswitchd", 0, 52}, 102: {"vswd-worker1", -5, 20}, 103: {"vswitchd", 0, 9}}
	w, how := Workers(before, after, 100, 2)
	if len(w) != 2 || w[0].TID != 100 || w[0].CPUPct != 95 || w[1].TID != 102 || w[1].CPUPct != 10 {
		t.Errorf("workers %+v, want tid 100 at 95%% then tid 102 at 10%%", w)
	}
	if !strings.Contains(how, "named vswd-worker") {
		t.Errorf("how = %q, want it to say the threads were told by name", how)
	}
}

func TestWorkersByCPU(t *testing.T) {
	// every thread at one nice (Open vSwitch, or vswitchd with nice 0): the
	// busy threads are the workers; one started during the measurement
	before := map[int]TaskStat{7: {"ovs-vswitchd", 0, 10}, 8: {"handler1", 0, 5}}
	after := map[int]TaskStat{7: {"ovs-vswitchd", 0, 190}, 8: {"handler1", 0, 6}, 9: {"pmd-c01", 0, 60}}
	w, how := Workers(before, after, 7, 2)
	if len(w) != 2 || w[0].TID != 7 || w[0].CPUPct != 90 || w[1].TID != 9 || w[1].CPUPct != 30 {
		t.Errorf("workers %+v, want tid 7 at 90%% and the new tid 9 at 30%%", w)
	}
	if !strings.Contains(how, "used more than") {
		t.Errorf("how = %q", how)
	}
	if w, _ := Workers(before, after, 7, 0); w != nil {
		t.Errorf("zero-length measurement gave %+v", w)
	}
}
