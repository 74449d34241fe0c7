package report

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Num formats a figure with about three significant digits.
func Num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// cell renders one side of a row: "median (min–max)", then offered (" of
// N offered" or nothing), or its status.
func cell(values []float64, median, lo, hi *float64, status string, errs []string, offered string) string {
	switch {
	case status == StatusNotApplicable:
		return "— (vswitch only)"
	case status == StatusNotRun:
		return "not run"
	case status == StatusNotSupported:
		return "not supported yet"
	case median == nil:
		return "error: " + short(first(errs))
	}
	s := Num(*median)
	if len(values) > 1 {
		s += fmt.Sprintf(" (%s–%s)", Num(*lo), Num(*hi))
	}
	s += offered
	if len(errs) > 0 {
		s += fmt.Sprintf(" [%d failed]", len(errs))
	}
	return s
}

func first(xs []string) string {
	if len(xs) == 0 {
		return "no sample"
	}
	return xs[0]
}

// short keeps a table cell to one readable line; the JSON has the whole
// message.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "/")
	if r := []rune(s); len(r) > 90 {
		s = string(r[:89]) + "…"
	}
	return s
}

// verdict says plainly whether a row meets BENCH.md's target.
func verdict(r Row) string {
	switch {
	case r.TargetRatio == nil:
		return "—"
	case r.VswitchStatus == StatusNotSupported:
		return "not supported yet"
	case r.MeetsTarget == nil:
		return "no ratio"
	case *r.MeetsTarget:
		return "meets ≥ " + Num(*r.TargetRatio)
	default:
		return "**short** of ≥ " + Num(*r.TargetRatio)
	}
}

func arrow(higher bool) string {
	if higher {
		return "↑"
	}
	return "↓"
}

// Markdown renders latest.md: a header naming the run, the comparison
// table, the scale figures and the notes.
func (r Result) Markdown() string {
	var b strings.Builder
	ovs := r.HasOVS()
	if ovs {
		fmt.Fprintf(&b, "# vswitchd vs the kernel bridge + iptables and Open vSwitch (userspace datapath)\n\n")
	} else {
		fmt.Fprintf(&b, "# vswitchd vs the kernel bridge + iptables\n\n")
	}
	dirty := ""
	if r.Dirty {
		dirty = " (with uncommitted changes)"
	}
	fmt.Fprintf(&b, "%s · commit `%s`%s · mode %s (%d alternating pair(s), %s s measurements, %s s wall)  \n",
		r.Date, r.Commit, dirty, r.Mode, r.Pairs, Num(r.MeasureSecs), Num(r.WallSecs))
	m := r.Machine
	fmt.Fprintf(&b, "machine: %d × %s, %d MiB, Linux %s, %s\n\n", m.NProc, m.CPUModel, m.MemTotalMB, m.Kernel, m.GoVersion)
	b.WriteString("Medians of the runs, (min–max) when there were several. **ratio ≥ 1.0 means vswitchd is as good or better**: ")
	b.WriteString("vswitch/kernel for ↑ (higher is better), kernel/vswitch for ↓ (lower is better)")
	if ovs {
		b.WriteString("; \"ratio vs ovs\" is the same against Open vSwitch")
	}
	b.WriteString(". \"not supported yet\": that side lacks the feature the scenario needs; the others are still measured.\n\n")

	extras := r.extraSides()
	b.WriteString("| scenario | metric | unit | kernel |")
	if ovs {
		b.WriteString(" ovs |")
	}
	b.WriteString(" vswitch | ratio |")
	if ovs {
		b.WriteString(" ratio vs ovs |")
	}
	b.WriteString(" target |")
	for _, e := range extras {
		fmt.Fprintf(&b, " %s | ratio %s |", e, e)
		if ovs {
			fmt.Fprintf(&b, " ratio %s vs ovs |", e)
		}
	}
	b.WriteString("\n|---|---|---|---:|")
	if ovs {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|")
	if ovs {
		b.WriteString("---:|")
	}
	b.WriteString("---|")
	for range extras {
		b.WriteString("---:|---:|")
		if ovs {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, row := range r.Rows {
		k := cell(row.Kernel, row.KernelMedian, row.KernelMin, row.KernelMax, row.KernelStatus, row.KernelErrors, offeredCell(row, SideKernel))
		v := cell(row.Vswitch, row.VswitchMedian, row.VswitchMin, row.VswitchMax, row.VswitchStatus, row.VswitchErrors, offeredCell(row, SideVswitch))
		fmt.Fprintf(&b, "| %s | %s %s | %s | %s |", row.Scenario, row.Metric, arrow(row.HigherIsBetter), row.Unit, k)
		if ovs {
			fmt.Fprintf(&b, " %s |", cell(row.OVS, row.OVSMedian, row.OVSMin, row.OVSMax, row.OVSStatus, row.OVSErrors, offeredCell(row, SideOVS)))
		}
		fmt.Fprintf(&b, " %s | %s |", v, ratioCell(row.Ratio))
		if ovs {
			fmt.Fprintf(&b, " %s |", ratioCell(row.RatioVsOVS))
		}
		fmt.Fprintf(&b, " %s |", verdict(row))
		for _, e := range extras {
			x := row.Extra[e]
			fmt.Fprintf(&b, " %s | %s |", cell(x.Values, x.Median, x.Min, x.Max, x.Status, x.Errors, offeredCell(row, e)), ratioCell(x.Ratio))
			if ovs {
				fmt.Fprintf(&b, " %s |", ratioCell(x.RatioVsOVS))
			}
		}
		b.WriteString("\n")
	}
	if ovs {
		b.WriteString("\nOpen vSwitch against the kernel (ovs/kernel for ↑, kernel/ovs for ↓): ")
		var parts []string
		for _, row := range r.Rows {
			if row.OVSRatio != nil {
				parts = append(parts, fmt.Sprintf("%s %s %.2f", row.Scenario, row.Metric, *row.OVSRatio))
			}
		}
		if len(parts) == 0 {
			b.WriteString("no figure.\n")
		} else {
			b.WriteString(strings.Join(parts, ", ") + ".\n")
		}
	}

	if ov := r.overloadLines(); len(ov) > 0 {
		b.WriteString("\n## Overload (64-byte UDP, a sender thread per CPU)\n\n")
		b.WriteString("Delivered of offered (the generator's own send rate), kpps; the switch daemon's busiest threads' CPU during each flood; ")
		b.WriteString("one sender just before the floods and right after them (after/before ≈ 1: the old rate is back).\n\n")
		for _, l := range ov {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}

	if len(r.Scale) > 0 {
		b.WriteString("\n## Scale (vswitch only)\n\n| figure | value |\n|---|---|\n")
		for _, e := range r.Scale {
			fmt.Fprintf(&b, "| %s | %s |\n", e.Name, scaleCell(e))
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// overloadLines say, per scenario, side and pair, what the overload runs
// found: one line each, from the runs' details.
func (r Result) overloadLines() []string {
	type key struct {
		scn, side string
		pair      int
	}
	by := map[key]map[string]Sample{}
	var order []key
	for _, s := range r.Runs {
		switch s.Metric {
		case "udp64_overload_kpps", "udp64_overload_flows_kpps", "udp64_after_overload_kpps":
		default:
			continue
		}
		k := key{s.Scenario, s.Side, s.Pair}
		if by[k] == nil {
			by[k] = map[string]Sample{}
			order = append(order, k)
		}
		by[k][s.Metric] = s
	}
	var out []string
	for _, k := range order {
		m := by[k]
		var parts []string
		for _, name := range []string{"udp64_overload_kpps", "udp64_overload_flows_kpps"} {
			s, ok := m[name]
			if !ok {
				continue
			}
			flows := "1 flow"
			if f, ok := number(s.Detail["flows"]); ok && f != 1 {
				flows = fmt.Sprintf("%.0f flows", f)
			}
			parts = append(parts, flows+" "+delivered(s)+workersText(s))
		}
		if s, ok := m["udp64_after_overload_kpps"]; ok {
			after := "error: " + short(s.Error)
			if s.Status == StatusOK {
				after = Num(*s.Value)
			}
			before := "?"
			if v, ok := number(s.Detail["before_kpps"]); ok {
				before = Num(v)
			} else if e, ok := s.Detail["before_error"].(string); ok {
				before = "error: " + short(e)
			}
			line := "one sender " + before + " before, " + after + " after"
			if x, ok := number(s.Detail["after_over_before"]); ok {
				line += fmt.Sprintf(" (%.2f)", x)
			}
			parts = append(parts, line)
		}
		out = append(out, fmt.Sprintf("%s, %s, pair %d: %s", k.scn, k.side, k.pair+1, strings.Join(parts, "; ")))
	}
	return out
}

// delivered is "195 of 310 offered", or the error.
func delivered(s Sample) string {
	if s.Status != StatusOK || s.Value == nil {
		return "error: " + short(s.Error)
	}
	d := Num(*s.Value)
	if s.Offered != nil {
		d += " of " + Num(*s.Offered) + " offered"
	}
	return d
}

// workersText is ", workers 95%, 3% CPU" from a flood's worker_cpu_pct.
func workersText(s Sample) string {
	raw, ok := s.Detail["worker_cpu_pct"]
	if !ok {
		return ""
	}
	var pct []string
	switch v := raw.(type) {
	case []float64:
		for _, x := range v {
			pct = append(pct, fmt.Sprintf("%.0f%%", x))
		}
	case []any: // read back from JSON
		for _, x := range v {
			if f, ok := number(x); ok {
				pct = append(pct, fmt.Sprintf("%.0f%%", f))
			}
		}
	}
	if len(pct) == 0 {
		return " (no busy worker thread)"
	}
	return " (threads " + strings.Join(pct, ", ") + " CPU)"
}

// number is a detail value as a float64, whether set by the harness or
// read back from JSON.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// offeredCell is " of N offered" after a delivered figure whose side
// recorded what its source offered (the median over the same runs).
func offeredCell(r Row, side string) string {
	o, ok := r.Offered[side]
	if !ok || o.Median == nil {
		return ""
	}
	return " of " + Num(*o.Median) + " offered"
}

func ratioCell(p *float64) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f", *p)
}

// HasOVS says whether Open vSwitch was a side of the run.
func (r Result) HasOVS() bool { return contains(r.Sides, SideOVS) }

func (r Result) extraSides() []string {
	var out []string
	for _, s := range r.Sides {
		if s != SideKernel && s != SideVswitch && s != SideOVS {
			out = append(out, s)
		}
	}
	return out
}

// scaleUnits renders the well-known keys of a scale entry; the order is
// the order of the cell.
var scaleUnits = []struct{ key, unit string }{
	{"ns_per_op", "ns/op"},
	{"ports", "ports"},
	{"create_s", "s to create"},
	{"ms_per_port", "ms/port"},
	{"rss_mib", "MiB RSS"},
	{"rss_baseline_mib", "MiB RSS before"},
	{"rss_per_port_kib", "KiB RSS/port"},
	{"remove_s", "s to remove (network rm --force)"},
	{"bytes_per_op", "B/op"},
	{"allocs_per_op", "allocs/op"},
}

// scaleHidden are Info keys left to the JSON: the table names the entry
// already.
var scaleHidden = map[string]bool{"package": true, "benchmark": true}

// scaleNum is Num, but whole numbers print whole and big ns/op in ms.
func scaleNum(key string, v float64) (string, string) {
	if key == "ns_per_op" && v >= 1e6 {
		return Num(v / 1e6), "ms/op"
	}
	if key == "bytes_per_op" && v >= 1<<20 {
		return Num(v / (1 << 20)), "MiB/op"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e12 {
		return fmt.Sprintf("%.0f", v), ""
	}
	return Num(v), ""
}

// scaleCell renders a scale entry's figures, e.g. "20.1 ns/op, 24 B/entry".
func scaleCell(e ScaleEntry) string {
	switch e.Status {
	case StatusNotSupported:
		if e.Error != "" {
			return "not supported yet (" + short(e.Error) + ")"
		}
		return "not supported yet"
	case StatusError:
		return "error: " + short(e.Error)
	}
	var parts []string
	add := func(key, unit string) {
		v, u := scaleNum(key, e.Values[key])
		if u != "" {
			unit = u
		}
		parts = append(parts, v+" "+unit)
	}
	done := map[string]bool{}
	for _, u := range scaleUnits {
		if _, ok := e.Values[u.key]; ok {
			add(u.key, u.unit)
			done[u.key] = true
		}
	}
	var rest []string
	for k := range e.Values {
		if !done[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		unit := k
		if strings.HasPrefix(k, "bytes_per_") {
			unit = "B/" + strings.TrimPrefix(k, "bytes_per_")
		} else {
			unit = strings.Replace(k, "_per_", "/", 1)
		}
		add(k, unit)
	}
	var info []string
	for k, v := range e.Info {
		if !scaleHidden[k] {
			info = append(info, k+": "+v)
		}
	}
	sort.Strings(info)
	s := strings.Join(parts, ", ")
	if len(info) > 0 {
		s += " (" + strings.Join(info, "; ") + ")"
	}
	return s
}
