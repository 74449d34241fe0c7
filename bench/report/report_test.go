package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{9.5, 9.5}, 9.5},
	} {
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
	in := []float64{3, 1, 2}
	Median(in)
	if in[0] != 3 {
		t.Error("Median sorted its input in place")
	}
}

func TestMinMax(t *testing.T) {
	lo, hi := MinMax([]float64{2, -1, 7, 3})
	if lo != -1 || hi != 7 {
		t.Errorf("MinMax = %v, %v", lo, hi)
	}
	lo, hi = MinMax(nil)
	if !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Error("MinMax(nil) is not NaN")
	}
}

func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		name            string
		kernel, vswitch float64
		higher          bool
		want            float64
		ok              bool
	}{
		{"throughput better", 9.5, 9.9, true, 1.042, true},
		{"throughput worse", 20, 5, true, 0.25, true},
		{"latency better", 20, 10, false, 2, true},
		{"latency worse", 10, 40, false, 0.25, true},
		{"zero kernel throughput", 0, 5, true, 0, false},
		{"zero vswitch latency", 10, 0, false, 0, false},
		{"missing side", math.NaN(), 5, true, 0, false},
	} {
		got, ok := Ratio(tc.kernel, tc.vswitch, tc.higher)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s: Ratio(%v, %v, %v) = %v, %v; want %v, %v", tc.name, tc.kernel, tc.vswitch, tc.higher, got, ok, tc.want, tc.ok)
		}
	}
}

// samples builds a small run: l2 measured on both sides, routed not
// supported by vswitchd, a failed kernel run, a vswitch-only metric.
func samples() []Sample {
	var s []Sample
	for pair, kv := range [][2]float64{{20, 10}, {22, 12}, {21, 11}} {
		s = append(s,
			OK(SideKernel, pair, "l2", "tcp_1_gbps", kv[0], nil),
			OK(SideVswitch, pair, "l2", "tcp_1_gbps", kv[1], nil),
			OK(SideKernel, pair, "l2", "rr_p50_us", 14, nil),
			OK(SideVswitch, pair, "l2", "rr_p50_us", 12+float64(pair), nil),
			Failed(SideKernel, pair, "l2", "cpu_per_pkt_ns", StatusNotApplicable, "", nil),
			OK(SideVswitch, pair, "l2", "cpu_per_pkt_ns", 800+float64(pair), nil),
			OK(SideKernel, pair, "routed", "tcp_1_gbps", 18, nil),
			Failed(SideVswitch, pair, "routed", "tcp_1_gbps", StatusNotSupported, "network connect: unknown command", nil),
		)
	}
	s = append(s,
		Failed(SideKernel, 0, "nat-out", "udp64_kpps", StatusError, "udpsink: no packets received", nil),
		OK(SideVswitch, 0, "nat-out", "udp64_kpps", 300, nil),
	)
	return s
}

func findRow(t *testing.T, rows []Row, scn, metric string) Row {
	t.Helper()
	for _, r := range rows {
		if r.Scenario == scn && r.Metric == metric {
			return r
		}
	}
	t.Fatalf("no row %s %s", scn, metric)
	return Row{}
}

func TestAggregate(t *testing.T) {
	rows := Aggregate(samples(), []string{SideVswitch})
	if len(rows) != 5 {
		t.Fatalf("got %d rows, want 5", len(rows))
	}
	// catalog order within a scenario, scenario order across
	var order []string
	for _, r := range rows {
		order = append(order, r.Scenario+"/"+r.Metric)
	}
	if got, want := strings.Join(order, " "), "l2/tcp_1_gbps l2/rr_p50_us l2/cpu_per_pkt_ns routed/tcp_1_gbps nat-out/udp64_kpps"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}

	tcp := findRow(t, rows, "l2", "tcp_1_gbps")
	if *tcp.KernelMedian != 21 || *tcp.VswitchMedian != 11 || *tcp.KernelMin != 20 || *tcp.VswitchMax != 12 {
		t.Errorf("l2 tcp figures wrong: %+v", tcp)
	}
	if *tcp.Ratio != 0.524 || *tcp.MeetsTarget {
		t.Errorf("l2 tcp ratio %v meets %v, want 0.524 false", *tcp.Ratio, *tcp.MeetsTarget)
	}
	rr := findRow(t, rows, "l2", "rr_p50_us")
	if *rr.Ratio != 1.077 || !*rr.MeetsTarget || *rr.TargetRatio != 0.8 {
		t.Errorf("rr ratio %v meets %v target %v", *rr.Ratio, *rr.MeetsTarget, *rr.TargetRatio)
	}

	cpu := findRow(t, rows, "l2", "cpu_per_pkt_ns")
	if cpu.Kernel != nil || cpu.KernelMedian != nil || cpu.Ratio != nil || cpu.TargetRatio != nil || cpu.MeetsTarget != nil {
		t.Errorf("vswitch-only row has kernel or ratio figures: %+v", cpu)
	}
	if *cpu.VswitchMedian != 801 {
		t.Errorf("cpu median %v", *cpu.VswitchMedian)
	}

	routed := findRow(t, rows, "routed", "tcp_1_gbps")
	if routed.VswitchStatus != StatusNotSupported || routed.Ratio != nil || routed.VswitchMedian != nil {
		t.Errorf("routed vswitch: %+v", routed)
	}
	if len(routed.VswitchErrors) != 1 || !strings.Contains(routed.VswitchErrors[0], "unknown command") {
		t.Errorf("routed keeps the reason once: %q", routed.VswitchErrors)
	}
	if *routed.KernelMedian != 18 {
		t.Errorf("routed kernel still measured: %+v", routed)
	}

	udp := findRow(t, rows, "nat-out", "udp64_kpps")
	if udp.KernelStatus != StatusError || udp.KernelMedian != nil || udp.Ratio != nil || len(udp.Kernel) != 0 {
		t.Errorf("failed kernel run must not become a number: %+v", udp)
	}
}

func TestAggregateExtraSides(t *testing.T) {
	s := []Sample{
		OK(SideKernel, 0, "l2", "tcp_1_gbps", 20, nil),
		OK(SideVswitch, 0, "l2", "tcp_1_gbps", 10, nil),
		OK("vswitch@new", 0, "l2", "tcp_1_gbps", 30, nil),
	}
	rows := Aggregate(s, []string{SideVswitch, "vswitch@new"})
	x, ok := rows[0].Extra["vswitch@new"]
	if !ok || *x.Ratio != 1.5 || *rows[0].Ratio != 0.5 {
		t.Errorf("extra side: %+v", rows[0])
	}
}

func result() Result {
	return Result{
		Commit: "abc1234", Date: "2025-01-02T03:04:05Z", Mode: "quick", Pairs: 3, MeasureSecs: 2,
		Machine: Machine{NProc: 2, Kernel: "6.1", GoVersion: "go1.26", CPUModel: "AMD EPYC"},
		Sides:   []string{SideKernel, SideVswitch},
		Rows:    Aggregate(samples(), []string{SideVswitch}),
		Scale: []ScaleEntry{
			{Name: "fdb_lookup_1m", Status: StatusOK, Values: map[string]float64{"ns_per_op": 20.123, "bytes_per_entry": 24}},
			{Name: "routing_build_1m", Status: StatusOK, Values: map[string]float64{"ns_per_op": 428458743, "bytes_per_op": 133038192, "allocs_per_op": 83, "bytes_per_route": 90.9, "trie_b_per_route": 26.9},
				Info: map[string]string{"package": "vswitch/routing"}},
			{Name: "conntrack", Status: StatusNotSupported, Error: "no package conntrack"},
			{Name: "ports_500", Status: StatusError, Error: "vswitchd exited"},
		},
	}
}

// TestJSONShape checks the keys BENCH.md prescribes and the null rules.
func TestJSONShape(t *testing.T) {
	b, err := result().JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"commit", "machine", "rows", "scale"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("latest.json lacks %q", k)
		}
	}
	rows := doc["rows"].([]any)
	for _, r := range rows {
		row := r.(map[string]any)
		for _, k := range []string{"scenario", "metric", "higher_is_better", "kernel", "vswitch", "kernel_median", "vswitch_median", "ratio"} {
			if _, ok := row[k]; !ok {
				t.Errorf("row %v lacks %q", row["metric"], k)
			}
		}
		if row["metric"] == "cpu_per_pkt_ns" {
			if row["kernel"] != nil || row["kernel_median"] != nil || row["ratio"] != nil {
				t.Errorf("cpu_per_pkt_ns: kernel and ratio must be null: %v", row)
			}
		}
		if row["scenario"] == "routed" && row["vswitch_status"] != StatusNotSupported {
			t.Errorf("routed vswitch_status %v", row["vswitch_status"])
		}
	}
	scale := doc["scale"].([]any)
	fdb := scale[0].(map[string]any)
	if fdb["name"] != "fdb_lookup_1m" || fdb["ns_per_op"] != 20.123 || fdb["bytes_per_entry"] != 24.0 {
		t.Errorf("scale entry not flat: %v", fdb)
	}

	if eb, _ := json.Marshal(result().Scale[0]); string(eb) != `{"name":"fdb_lookup_1m","status":"ok","bytes_per_entry":24,"ns_per_op":20.123}` {
		t.Errorf("scale entry not in name, status, sorted-keys order: %s", eb)
	}

	// the flat form reads back
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Scale[0].Values["ns_per_op"] != 20.123 || back.Scale[2].Error != "no package conntrack" {
		t.Errorf("scale round trip: %+v", back.Scale)
	}
}

func TestMarkdown(t *testing.T) {
	md := result().Markdown()
	for _, want := range []string{
		"| l2 | tcp_1_gbps ↑ | Gbit/s | 21.0 (20.0–22.0) | 11.0 (10.0–12.0) | 0.52 | **short** of ≥ 1.00 |",
		"| l2 | rr_p50_us ↓ | µs | 14.0 (14.0–14.0) | 13.0 (12.0–14.0) | 1.08 | meets ≥ 0.80 |",
		"| l2 | cpu_per_pkt_ns ↓ | ns | — (vswitch only) | 801 (800–802) | — | — |",
		"| routed | tcp_1_gbps ↑ | Gbit/s | 18.0 (18.0–18.0) | not supported yet | — | not supported yet |",
		"| nat-out | udp64_kpps ↑ | kpps | error: udpsink: no packets received | 300 | — | no ratio |",
		"| fdb_lookup_1m | 20.1 ns/op, 24 B/entry |",
		"| routing_build_1m | 428 ms/op, 127 MiB/op, 83 allocs/op, 90.9 B/route, 26.9 trie_b/route |",
		"| conntrack | not supported yet (no package conntrack) |",
		"| ports_500 | error: vswitchd exited |",
		"commit `abc1234`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
	// every table line has the same number of cells
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| l2") || strings.HasPrefix(line, "| routed") || strings.HasPrefix(line, "| nat-out") {
			if n := strings.Count(line, "|"); n != 8 {
				t.Errorf("%d separators in %q", n, line)
			}
		}
	}
}

func TestShortCell(t *testing.T) {
	s := short("a|b\n  c " + strings.Repeat("x", 100))
	if strings.ContainsAny(s, "|\n") || len([]rune(s)) > 90 {
		t.Errorf("short(...) = %q", s)
	}
}

func TestNum(t *testing.T) {
	for in, want := range map[float64]string{0.524: "0.52", 14: "14.0", 801: "801", 9.999: "10.00"} {
		if got := Num(in); got != want {
			t.Errorf("Num(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestChart(t *testing.T) {
	for _, sides := range [][]string{{SideKernel, SideVswitch}, {SideKernel, SideVswitch, "vswitch@new"}} {
		r := result()
		r.Sides = sides
		if len(sides) == 3 {
			s := append(samples(), OK("vswitch@new", 0, "l2", "tcp_1_gbps", 30, nil))
			r.Rows = Aggregate(s, sides[1:])
		}
		b, err := r.Chart()
		if err != nil {
			t.Fatal(err)
		}
		if out := os.Getenv("VSBENCH_CHART_OUT"); out != "" { // to look at it
			_ = os.WriteFile(fmt.Sprintf("%s-%d.png", out, len(sides)), b, 0o644)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds().Dx() < 500 || img.Bounds().Dy() < 200 {
			t.Errorf("chart too small: %v", img.Bounds())
		}
	}
	if _, err := (Result{}).Chart(); err == nil {
		t.Error("chart of nothing did not fail")
	}
}

func TestChartLabel(t *testing.T) {
	rows := result().Rows
	if got := chartLabel(findRow(t, rows, "routed", "tcp_1_gbps")); !strings.HasSuffix(got, "vswitch not supported yet") {
		t.Errorf("routed label %q", got)
	}
	if got := chartLabel(findRow(t, rows, "nat-out", "udp64_kpps")); !strings.HasSuffix(got, "kernel run failed") {
		t.Errorf("nat-out label %q", got)
	}
	for _, r := range chartRows(rows) {
		if r.Metric == "cpu_per_pkt_ns" {
			t.Error("vswitch-only metric charted")
		}
	}
}

// samplesOVS is a run with all three columns: OVS slower than the kernel
// on l2, vswitchd between them, routed not supported by OVS.
func samplesOVS() []Sample {
	return []Sample{
		OK(SideKernel, 0, "l2", "tcp_1_gbps", 20, nil),
		OK(SideOVS, 0, "l2", "tcp_1_gbps", 10, nil),
		OK(SideVswitch, 0, "l2", "tcp_1_gbps", 15, nil),
		OK(SideKernel, 0, "l2", "rr_p50_us", 30, nil),
		OK(SideOVS, 0, "l2", "rr_p50_us", 100, nil),
		OK(SideVswitch, 0, "l2", "rr_p50_us", 40, nil),
		OK(SideVswitch, 0, "l2", "cpu_per_pkt_ns", 800, nil),
		OK(SideKernel, 0, "routed", "tcp_1_gbps", 18, nil),
		Failed(SideOVS, 0, "routed", "tcp_1_gbps", StatusNotSupported, "no flows", nil),
		OK(SideVswitch, 0, "routed", "tcp_1_gbps", 9, nil),
	}
}

func TestAggregateOVS(t *testing.T) {
	rows := Aggregate(samplesOVS(), []string{SideVswitch})
	tcp := findRow(t, rows, "l2", "tcp_1_gbps")
	if *tcp.OVSMedian != 10 || *tcp.Ratio != 0.75 || *tcp.RatioVsOVS != 1.5 || *tcp.OVSRatio != 0.5 || tcp.OVSStatus != StatusOK {
		t.Errorf("l2 tcp: ovs %v ratio %v vs ovs %v ovs/kernel %v", *tcp.OVSMedian, *tcp.Ratio, *tcp.RatioVsOVS, *tcp.OVSRatio)
	}
	// lower is better: ovs/vswitch, as kernel/vswitch
	rr := findRow(t, rows, "l2", "rr_p50_us")
	if *rr.RatioVsOVS != 2.5 || *rr.OVSRatio != 0.3 {
		t.Errorf("rr vs ovs %v, ovs vs kernel %v; want 2.5, 0.3", *rr.RatioVsOVS, *rr.OVSRatio)
	}
	cpu := findRow(t, rows, "l2", "cpu_per_pkt_ns")
	if cpu.OVS != nil || cpu.RatioVsOVS != nil || cpu.OVSStatus != StatusNotApplicable {
		t.Errorf("vswitch-only row has OVS figures: %+v", cpu)
	}
	routed := findRow(t, rows, "routed", "tcp_1_gbps")
	if routed.OVSStatus != StatusNotSupported || routed.RatioVsOVS != nil || *routed.Ratio != 0.5 {
		t.Errorf("routed: %+v", routed)
	}
	// a run without OVS says so instead of inventing a column
	plain := findRow(t, Aggregate(samples(), []string{SideVswitch}), "l2", "tcp_1_gbps")
	if plain.OVSStatus != StatusNotRun || plain.OVSMedian != nil || plain.RatioVsOVS != nil {
		t.Errorf("no OVS in the run: %+v", plain)
	}
}

func TestMarkdownOVS(t *testing.T) {
	r := result()
	r.Sides = []string{SideKernel, SideOVS, SideVswitch}
	r.Rows = Aggregate(samplesOVS(), []string{SideVswitch})
	md := r.Markdown()
	for _, want := range []string{
		"| scenario | metric | unit | kernel | ovs | vswitch | ratio | ratio vs ovs | target |",
		"| l2 | tcp_1_gbps ↑ | Gbit/s | 20.0 | 10.0 | 15.0 | 0.75 | 1.50 | **short** of ≥ 1.00 |",
		"| l2 | rr_p50_us ↓ | µs | 30.0 | 100 | 40.0 | 0.75 | 2.50 | **short** of ≥ 0.80 |",
		"| l2 | cpu_per_pkt_ns ↓ | ns | — (vswitch only) | — (vswitch only) | 800 | — | — | — |",
		"| routed | tcp_1_gbps ↑ | Gbit/s | 18.0 | not supported yet | 9.00 | 0.50 | — |",
		"l2 tcp_1_gbps 0.50",
		"Open vSwitch (userspace datapath)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| l2") || strings.HasPrefix(line, "| routed") {
			if n := strings.Count(line, "|"); n != 10 {
				t.Errorf("%d separators in %q", n, line)
			}
		}
	}
	// without OVS in the run the table keeps its two columns
	if strings.Contains(result().Markdown(), "ratio vs ovs") {
		t.Error("an OVS column in a run without OVS")
	}
}

func TestChartOVS(t *testing.T) {
	r := result()
	r.Sides = []string{SideKernel, SideOVS, SideVswitch}
	r.Rows = Aggregate(samplesOVS(), []string{SideVswitch})
	b, err := r.Chart()
	if err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("VSBENCH_CHART_OUT"); out != "" {
		_ = os.WriteFile(out+"-ovs.png", b, 0o644)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	row := findRow(t, r.Rows, "l2", "tcp_1_gbps")
	got := ratios(row, nil, true)
	if len(got) != 2 || *got[0] != 0.5 || *got[1] != 0.75 {
		t.Errorf("bars of l2 tcp: %v", got)
	}
}

// An outlier ratio is drawn cut at chartCap and labelled with its value.
func TestChartCap(t *testing.T) {
	r := result()
	r.Rows = Aggregate([]Sample{
		OK(SideKernel, 0, "l2", "rr_p99_us", 90000, nil),
		OK(SideVswitch, 0, "l2", "rr_p99_us", 300, nil),
		OK(SideKernel, 0, "l2", "tcp_1_gbps", 10, nil),
		OK(SideVswitch, 0, "l2", "tcp_1_gbps", 7, nil),
	}, []string{SideVswitch})
	if _, err := r.Chart(); err != nil {
		t.Fatal(err)
	}
	if *findRow(t, r.Rows, "l2", "rr_p99_us").Ratio != 300 {
		t.Error("the ratio itself must not be capped")
	}
}

// udp64 rows carry what the generator offered on each side, and the table
// shows it beside the delivered figure.
func TestOffered(t *testing.T) {
	off := func(s Sample, v float64) Sample { s.Offered = &v; return s }
	var runs []Sample
	for pair, x := range [][4]float64{{300, 310, 150, 900}, {320, 330, 160, 950}, {310, 305, 155, 1000}} {
		runs = append(runs,
			off(OK(SideKernel, pair, "l2", "udp64_kpps", x[0], nil), x[1]),
			off(OK(SideVswitch, pair, "l2", "udp64_kpps", x[2], nil), x[3]),
			OK(SideKernel, pair, "l2", "tcp_1_gbps", 20, nil),
			OK(SideVswitch, pair, "l2", "tcp_1_gbps", 10, nil))
	}
	// a failed run's offered figure, if any, is not counted
	runs = append(runs, off(Failed(SideVswitch, 3, "l2", "udp64_kpps", StatusError, "udpsink: no packet", nil), 5))
	rows := Aggregate(runs, []string{SideVswitch})
	udp := findRow(t, rows, "l2", "udp64_kpps")
	if k := udp.Offered[SideKernel]; k.Median == nil || *k.Median != 310 || len(k.Values) != 3 {
		t.Errorf("kernel offered %+v, want median 310 of 3 values", k)
	}
	if v := udp.Offered[SideVswitch]; v.Median == nil || *v.Median != 950 || *v.Min != 900 || *v.Max != 1000 || len(v.Values) != 3 {
		t.Errorf("vswitch offered %+v, want median 950 (900–1000) of 3 values", v)
	}
	if _, ok := udp.Offered[SideOVS]; ok {
		t.Error("ovs has an offered figure without a run")
	}
	if tcp := findRow(t, rows, "l2", "tcp_1_gbps"); tcp.Offered != nil {
		t.Errorf("tcp row has offered figures %+v", tcp.Offered)
	}
	b, _ := json.Marshal(udp)
	if !strings.Contains(string(b), `"offered":{"kernel":{"values":[300,320,310]`) && !strings.Contains(string(b), `"offered":{"kernel":{"values":[310,330,305]`) {
		t.Errorf("row JSON lacks the offered sub-object: %s", b)
	}
	res := Result{Sides: []string{SideKernel, SideVswitch}, Rows: rows, Runs: runs}
	md := res.Markdown()
	if !strings.Contains(md, "| 310 (300–320) of 310 offered | 155 (150–160) of 950 offered [1 failed] |") {
		t.Errorf("udp64 row does not show offered beside delivered:\n%s", md)
	}
	for _, l := range strings.Split(md, "\n") {
		if strings.Contains(l, "tcp_1_gbps") && strings.Contains(l, "offered") {
			t.Errorf("tcp row shows an offered figure: %s", l)
		}
	}
}

// The overload section says per side what the floods delivered of what
// was offered, how busy the workers were, and whether one sender got its
// rate back; the same from a result read back from JSON.
func TestOverloadSection(t *testing.T) {
	off := func(s Sample, v float64) Sample { s.Offered = &v; return s }
	runs := []Sample{
		off(OK(SideVswitch, 0, "l2", "udp64_overload_kpps", 150, map[string]any{"flows": 1, "worker_cpu_pct": []float64{95, 2}}), 900),
		off(OK(SideVswitch, 0, "l2", "udp64_overload_flows_kpps", 260, map[string]any{"flows": 64, "worker_cpu_pct": []float64{90, 85}}), 1000),
		off(OK(SideVswitch, 0, "l2", "udp64_after_overload_kpps", 148, map[string]any{"before_kpps": 150.0, "after_over_before": 0.987}), 600),
		off(OK(SideKernel, 0, "l2", "udp64_overload_kpps", 800, map[string]any{"flows": 1}), 810),
		Failed(SideKernel, 0, "l2", "udp64_overload_flows_kpps", StatusError, "udpgen: exit 1", map[string]any{"flows": 64}),
		off(OK(SideKernel, 0, "l2", "udp64_after_overload_kpps", 400, map[string]any{"before_error": "udpsink: no packet"}), 410),
	}
	res := Result{Sides: []string{SideKernel, SideVswitch}, Rows: Aggregate(runs, []string{SideVswitch}), Runs: runs}
	js, err := res.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]Result{"in memory": res, "from JSON": back} {
		md := r.Markdown()
		for _, want := range []string{
			"- l2, vswitch, pair 1: 1 flow 150 of 900 offered (threads 95%, 2% CPU); 64 flows 260 of 1000 offered (threads 90%, 85% CPU); one sender 150 before, 148 after (0.99)",
			"- l2, kernel, pair 1: 1 flow 800 of 810 offered; 64 flows error: udpgen: exit 1; one sender error: udpsink: no packet before, 400 after",
		} {
			if !strings.Contains(md, want) {
				t.Errorf("%s: no line %q in\n%s", name, want, md)
			}
		}
	}
	if strings.Contains(Result{Runs: samples()}.Markdown(), "## Overload") {
		t.Error("an overload section without overload runs")
	}
}
