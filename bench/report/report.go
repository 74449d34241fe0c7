package report

import (
	"bytes"
	"encoding/json"
	"math"
	"sort"
)

// Side names. Extra vswitchd binaries (BENCH.md: "run the old and the new
// vswitchd binary in the same run") are named "vswitch@LABEL". The kernel
// and Open vSwitch's userspace datapath (issue 9) are the peers vswitchd is
// compared with.
const (
	SideKernel  = "kernel"
	SideOVS     = "ovs"
	SideVswitch = "vswitch"
)

// Peers are the sides vswitchd is measured against, in column order.
var Peers = []string{SideKernel, SideOVS}

// Sample statuses.
const (
	StatusOK           = "ok"
	StatusError        = "error"
	StatusNotSupported = "not supported yet"
	// StatusNotApplicable marks the kernel side of a vswitch-only metric.
	StatusNotApplicable = "not applicable"
	// StatusNotRun marks a peer left out of the run (--peers).
	StatusNotRun = "not run"
)

// Metric describes one figure of the table.
type Metric struct {
	Name           string
	Unit           string
	HigherIsBetter bool
	// VswitchOnly metrics have no kernel counterpart: kernel and ratio are
	// null in the JSON (cpu_per_pkt_ns).
	VswitchOnly bool
	// Target is the ratio the design asks for (BENCH.md "Targets"); 0 means
	// none.
	Target float64
	Tool   string
}

// Metrics is the catalog, in table order.
var Metrics = []Metric{
	{Name: "tcp_1_gbps", Unit: "Gbit/s", HigherIsBetter: true, Target: 1.0, Tool: "iperf3 -P 1"},
	{Name: "tcp_4_gbps", Unit: "Gbit/s", HigherIsBetter: true, Target: 1.0, Tool: "iperf3 -P 4"},
	{Name: "udp64_kpps", Unit: "kpps", HigherIsBetter: true, Target: 1.0, Tool: "vsbench udpgen/udpsink (sendmmsg)"},
	// Senders on every CPU, one flow and then many (issue 17): the kernel's
	// rate is the aim, not a target; the one-sender rate before and after
	// the flood is in the runs' detail and the Markdown's overload section.
	{Name: "udp64_overload_kpps", Unit: "kpps", HigherIsBetter: true, Tool: "vsbench udpgen (a thread per CPU, 1 flow)/udpsink"},
	{Name: "udp64_overload_flows_kpps", Unit: "kpps", HigherIsBetter: true, Tool: "vsbench udpgen (a thread per CPU, many flows)/udpsink"},
	{Name: "udp64_after_overload_kpps", Unit: "kpps", HigherIsBetter: true, Tool: "vsbench udpgen (1 thread, 1 flow, 1 s)/udpsink"},
	{Name: "rr_p50_us", Unit: "µs", HigherIsBetter: false, Target: 0.8, Tool: "sockperf ping-pong --tcp --full-rtt"},
	{Name: "rr_p99_us", Unit: "µs", HigherIsBetter: false, Target: 0.8, Tool: "sockperf ping-pong --tcp --full-rtt"},
	{Name: "conn_per_s", Unit: "conn/s", HigherIsBetter: true, Target: 1.0, Tool: "vsbench connclient/connsrv (RST close)"},
	{Name: "cpu_per_pkt_ns", Unit: "ns", HigherIsBetter: false, VswitchOnly: true, Tool: "/proc/PID/stat ÷ vswitchctl stats"},
}

// Scenarios in table order: every scenario the harness knows.
var Scenarios = []string{"l2", "routed", "nat-out", "publish-in", "l2-v6", "routed-v6"}

// DefaultScenarios are run unless --scenarios says otherwise: the IPv4
// ones. The IPv6 variants are asked for by name (or `ipv6`): they make
// the whole run's topology dual-stack and add a minute to a quick run.
var DefaultScenarios = []string{"l2", "routed", "nat-out", "publish-in"}

// IPv6Scenarios are the IPv6 variants of l2 and routed.
var IPv6Scenarios = []string{"l2-v6", "routed-v6"}

// IsIPv6 reports whether a scenario runs over IPv6.
func IsIPv6(scenario string) bool { return contains(IPv6Scenarios, scenario) }

// MetricByName returns the catalog entry for name.
func MetricByName(name string) (Metric, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// Sample is one measurement of one metric on one side in one pair.
type Sample struct {
	Side     string   `json:"side"`
	Pair     int      `json:"pair"`
	Scenario string   `json:"scenario"`
	Metric   string   `json:"metric"`
	Status   string   `json:"status"`
	Value    *float64 `json:"value"`
	// Error is the reason for StatusError and StatusNotSupported.
	Error string `json:"error,omitempty"`
	// Offered is what the source offered, in the metric's unit, where that
	// is a figure (the UDP generator's own send rate: datagrams the kernel
	// accepted per second over its run).
	Offered *float64 `json:"offered,omitempty"`
	// Detail records how the figure was obtained: tool, offered load,
	// duration, raw counters.
	Detail map[string]any `json:"detail,omitempty"`
}

// OK returns a successful sample.
func OK(side string, pair int, scenario, metric string, v float64, detail map[string]any) Sample {
	v = Round(v)
	return Sample{Side: side, Pair: pair, Scenario: scenario, Metric: metric, Status: StatusOK, Value: &v, Detail: detail}
}

// Failed returns a sample for a measurement that did not produce a figure.
func Failed(side string, pair int, scenario, metric, status, reason string, detail map[string]any) Sample {
	return Sample{Side: side, Pair: pair, Scenario: scenario, Metric: metric, Status: status, Error: reason, Detail: detail}
}

// SideFigures are the aggregated figures of one side of a row.
type SideFigures struct {
	Values []float64 `json:"values"`
	Median *float64  `json:"median"`
	Min    *float64  `json:"min"`
	Max    *float64  `json:"max"`
	Status string    `json:"status"`
	Errors []string  `json:"errors,omitempty"`
}

// Row is one line of the table and one element of latest.json "rows". The
// first fields are exactly the BENCH.md shape; the rest are extra keys.
type Row struct {
	Scenario       string    `json:"scenario"`
	Metric         string    `json:"metric"`
	HigherIsBetter bool      `json:"higher_is_better"`
	Kernel         []float64 `json:"kernel"`
	Vswitch        []float64 `json:"vswitch"`
	KernelMedian   *float64  `json:"kernel_median"`
	VswitchMedian  *float64  `json:"vswitch_median"`
	Ratio          *float64  `json:"ratio"`

	Unit          string   `json:"unit"`
	KernelMin     *float64 `json:"kernel_min"`
	KernelMax     *float64 `json:"kernel_max"`
	VswitchMin    *float64 `json:"vswitch_min"`
	VswitchMax    *float64 `json:"vswitch_max"`
	KernelStatus  string   `json:"kernel_status"`
	VswitchStatus string   `json:"vswitch_status"`
	KernelErrors  []string `json:"kernel_errors,omitempty"`
	VswitchErrors []string `json:"vswitch_errors,omitempty"`
	// TargetRatio is BENCH.md's target; MeetsTarget is null when there is
	// no ratio.
	TargetRatio *float64 `json:"target_ratio"`
	MeetsTarget *bool    `json:"meets_target"`
	// Open vSwitch's userspace datapath (issue 9). RatioVsOVS is vswitchd
	// against it by the same rule as Ratio (≥ 1.0: vswitchd as good or
	// better); OVSRatio is OVS against the kernel, by the same rule.
	OVS        []float64 `json:"ovs"`
	OVSMedian  *float64  `json:"ovs_median"`
	RatioVsOVS *float64  `json:"ratio_vs_ovs"`
	OVSRatio   *float64  `json:"ovs_ratio_vs_kernel"`
	OVSMin     *float64  `json:"ovs_min"`
	OVSMax     *float64  `json:"ovs_max"`
	OVSStatus  string    `json:"ovs_status"`
	OVSErrors  []string  `json:"ovs_errors,omitempty"`

	// Extra holds further vswitchd binaries, by side name, each with its
	// ratio against the kernel and against OVS.
	Extra map[string]ExtraSide `json:"extra,omitempty"`

	// Offered is, by side name, what the source offered in the samples that
	// say (udp64 rows: the generator's send rate), over the same runs as
	// the delivered figures. A delivered rate well under the offered one
	// means the path was the limit; the two level means the generator was.
	Offered map[string]OfferedFigures `json:"offered,omitempty"`
}

// OfferedFigures aggregate the offered rates of one side of a row.
type OfferedFigures struct {
	Values []float64 `json:"values"`
	Median *float64  `json:"median"`
	Min    *float64  `json:"min"`
	Max    *float64  `json:"max"`
}

// offered aggregates the offered figures of the successful samples; ok is
// false when none has one.
func offered(samples []Sample) (OfferedFigures, bool) {
	var f OfferedFigures
	for _, s := range samples {
		if s.Status == StatusOK && s.Offered != nil {
			f.Values = append(f.Values, *s.Offered)
		}
	}
	if len(f.Values) == 0 {
		return f, false
	}
	f.Median = ptr(Median(f.Values))
	lo, hi := MinMax(f.Values)
	f.Min, f.Max = ptr(lo), ptr(hi)
	return f, true
}

// ExtraSide is a further vswitchd binary's figures in a row.
type ExtraSide struct {
	SideFigures
	Ratio      *float64 `json:"ratio"`
	RatioVsOVS *float64 `json:"ratio_vs_ovs"`
}

// Median of xs (the mean of the middle two for an even count); NaN for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MinMax of xs; NaN for none.
func MinMax(xs []float64) (lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	lo, hi = xs[0], xs[0]
	for _, x := range xs[1:] {
		lo = math.Min(lo, x)
		hi = math.Max(hi, x)
	}
	return lo, hi
}

// Ratio is vswitch/kernel for higher-is-better and kernel/vswitch for
// lower-is-better, so ≥ 1.0 always means vswitchd is as good or better. It
// is undefined (ok false) when either side is missing or a divisor is 0.
func Ratio(kernel, vswitch float64, higherIsBetter bool) (float64, bool) {
	if math.IsNaN(kernel) || math.IsNaN(vswitch) {
		return 0, false
	}
	num, den := vswitch, kernel
	if !higherIsBetter {
		num, den = kernel, vswitch
	}
	if den <= 0 || num < 0 {
		return 0, false
	}
	return Round(num / den), true
}

// Round keeps three decimals: the figures are not that precise and the
// JSON stays readable.
func Round(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	return math.Round(v*1000) / 1000
}

func ptr(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	v = Round(v)
	return &v
}

// figures aggregates the samples of one side of one row.
func figures(samples []Sample) SideFigures {
	f := SideFigures{Values: []float64{}}
	var unsupported []string
	for _, s := range samples {
		switch s.Status {
		case StatusOK:
			if s.Value != nil {
				f.Values = append(f.Values, *s.Value)
			}
		case StatusNotSupported:
			unsupported = append(unsupported, s.Error)
		case StatusNotApplicable:
		default:
			f.Errors = append(f.Errors, s.Error)
		}
	}
	f.Median = ptr(Median(f.Values))
	lo, hi := MinMax(f.Values)
	f.Min, f.Max = ptr(lo), ptr(hi)
	switch {
	case len(f.Values) > 0:
		f.Status = StatusOK
	case len(unsupported) > 0:
		f.Status = StatusNotSupported
		f.Errors = dedup(unsupported)
	case len(f.Errors) > 0:
		f.Status = StatusError
	default:
		f.Status = StatusNotApplicable
	}
	f.Errors = dedup(f.Errors)
	return f
}

func dedup(xs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// Aggregate builds the rows from the samples: one row per scenario and
// metric that has any sample, in catalog order. sides lists the vswitch
// sides; the first is the primary ("vswitch"), the others go to Extra. The
// peers (kernel, ovs) are taken from the samples; a peer with no sample at
// all was not in the run and is "not run".
func Aggregate(samples []Sample, vswitchSides []string) []Row {
	type key struct{ scenario, metric, side string }
	by := map[key][]Sample{}
	present := map[[2]string]bool{}
	ran := map[string]bool{}
	for _, s := range samples {
		by[key{s.Scenario, s.Metric, s.Side}] = append(by[key{s.Scenario, s.Metric, s.Side}], s)
		present[[2]string{s.Scenario, s.Metric}] = true
		ran[s.Side] = true
	}
	scenarios := append([]string(nil), Scenarios...)
	for _, s := range samples { // unknown scenarios keep first-seen order
		if !contains(scenarios, s.Scenario) {
			scenarios = append(scenarios, s.Scenario)
		}
	}
	ratio := func(base, v SideFigures, m Metric) *float64 {
		if m.VswitchOnly || base.Median == nil || v.Median == nil {
			return nil
		}
		if x, ok := Ratio(*base.Median, *v.Median, m.HigherIsBetter); ok {
			return &x
		}
		return nil
	}
	peer := func(scn string, m Metric, side string) SideFigures {
		switch {
		case !ran[side]:
			return SideFigures{Status: StatusNotRun}
		case m.VswitchOnly:
			return SideFigures{Status: StatusNotApplicable}
		}
		return figures(by[key{scn, m.Name, side}])
	}
	var rows []Row
	for _, scn := range scenarios {
		for _, m := range Metrics {
			if !present[[2]string{scn, m.Name}] {
				continue
			}
			r := Row{Scenario: scn, Metric: m.Name, HigherIsBetter: m.HigherIsBetter, Unit: m.Unit}
			for _, side := range append(append([]string(nil), Peers...), vswitchSides...) {
				if f, ok := offered(by[key{scn, m.Name, side}]); ok {
					if r.Offered == nil {
						r.Offered = map[string]OfferedFigures{}
					}
					r.Offered[side] = f
				}
			}
			if m.Target > 0 && !m.VswitchOnly {
				r.TargetRatio = ptr(m.Target)
			}
			k := peer(scn, m, SideKernel)
			if m.VswitchOnly {
				k = SideFigures{Status: StatusNotApplicable}
			}
			r.Kernel, r.KernelMedian, r.KernelMin, r.KernelMax = k.Values, k.Median, k.Min, k.Max
			r.KernelStatus, r.KernelErrors = k.Status, k.Errors
			o := peer(scn, m, SideOVS)
			r.OVS, r.OVSMedian, r.OVSMin, r.OVSMax = o.Values, o.Median, o.Min, o.Max
			r.OVSStatus, r.OVSErrors = o.Status, o.Errors
			r.OVSRatio = ratio(k, o, m)
			for i, side := range vswitchSides {
				v := figures(by[key{scn, m.Name, side}])
				vk, vo := ratio(k, v, m), ratio(o, v, m)
				if i == 0 {
					r.Vswitch, r.VswitchMedian, r.VswitchMin, r.VswitchMax = v.Values, v.Median, v.Min, v.Max
					r.VswitchStatus, r.VswitchErrors = v.Status, v.Errors
					r.Ratio, r.RatioVsOVS = vk, vo
					if vk != nil && r.TargetRatio != nil {
						meets := *vk >= *r.TargetRatio
						r.MeetsTarget = &meets
					}
					continue
				}
				if r.Extra == nil {
					r.Extra = map[string]ExtraSide{}
				}
				r.Extra[side] = ExtraSide{SideFigures: v, Ratio: vk, RatioVsOVS: vo}
			}
			rows = append(rows, r)
		}
	}
	return rows
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Machine describes the box the figures come from.
type Machine struct {
	NProc      int    `json:"nproc"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	CPUModel   string `json:"cpu_model"`
	MemTotalMB int    `json:"mem_total_mb"`
	Hostname   string `json:"hostname,omitempty"`
	// BrNetfilter tells whether br_netfilter was loaded (bridged frames then
	// traverse iptables on the kernel side, as under Docker).
	BrNetfilter bool `json:"br_netfilter_loaded"`
}

// ScaleEntry is one element of latest.json "scale". Values and Info are
// flattened into the object, so an entry reads
// {"name": "fdb_lookup_1m", "ns_per_op": 20, "bytes_per_entry": 24}.
type ScaleEntry struct {
	Name   string
	Status string
	Error  string
	Values map[string]float64
	Info   map[string]string
}

// MarshalJSON flattens Values and Info next to name and status; name,
// status and error come first, the rest in key order.
func (e ScaleEntry) MarshalJSON() ([]byte, error) {
	rest := map[string]any{}
	for k, v := range e.Info {
		rest[k] = v
	}
	for k, v := range e.Values {
		rest[k] = Round(v)
	}
	keys := make([]string, 0, len(rest))
	for k := range rest {
		if k != "name" && k != "status" && k != "error" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b bytes.Buffer
	field := func(k string, v any) error {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
		return nil
	}
	b.WriteByte('{')
	_ = field("name", e.Name)
	_ = field("status", e.Status)
	if e.Error != "" {
		_ = field("error", e.Error)
	}
	for _, k := range keys {
		if err := field(k, rest[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON is the inverse of MarshalJSON: numbers go to Values,
// strings other than name, status and error to Info.
func (e *ScaleEntry) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*e = ScaleEntry{}
	for k, v := range m {
		switch x := v.(type) {
		case float64:
			if e.Values == nil {
				e.Values = map[string]float64{}
			}
			e.Values[k] = x
		case string:
			switch k {
			case "name":
				e.Name = x
			case "status":
				e.Status = x
			case "error":
				e.Error = x
			default:
				if e.Info == nil {
					e.Info = map[string]string{}
				}
				e.Info[k] = x
			}
		}
	}
	return nil
}

// Result is the whole of latest.json.
type Result struct {
	Commit      string            `json:"commit"`
	Dirty       bool              `json:"dirty"`
	Date        string            `json:"date"`
	Mode        string            `json:"mode"`
	Pairs       int               `json:"pairs"`
	MeasureSecs float64           `json:"measure_seconds"`
	WallSecs    float64           `json:"wall_seconds"`
	Machine     Machine           `json:"machine"`
	Tools       map[string]string `json:"tools"`
	// Load says, per metric, what was offered (streams, sender threads,
	// payload, workers).
	Load  map[string]string `json:"offered_load"`
	Sides []string          `json:"sides"`
	Rows  []Row             `json:"rows"`
	Scale []ScaleEntry      `json:"scale"`
	Notes []string          `json:"notes,omitempty"`
	Runs  []Sample          `json:"runs"`
}

// JSON renders latest.json.
func (r Result) JSON() ([]byte, error) {
	if r.Rows == nil {
		r.Rows = []Row{}
	}
	if r.Scale == nil {
		r.Scale = []ScaleEntry{}
	}
	if r.Runs == nil {
		r.Runs = []Sample{}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
