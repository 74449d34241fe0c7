package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	colorMeets = color.RGBA{R: 0x2e, G: 0x8b, B: 0x57, A: 0xff} // sea green
	colorShort = color.RGBA{R: 0xd9, G: 0x53, B: 0x4f, A: 0xff} // red
	colorOVS   = color.RGBA{R: 0x80, G: 0x80, B: 0x80, A: 0xff} // grey
	// extra vswitchd binaries, in --vswitchd-bin order after the primary
	sideColors = []color.Color{
		color.RGBA{R: 0x33, G: 0x66, B: 0xcc, A: 0xff},
		color.RGBA{R: 0xff, G: 0x99, B: 0x00, A: 0xff},
		color.RGBA{R: 0x99, G: 0x33, B: 0x99, A: 0xff},
		color.RGBA{R: 0x00, G: 0x99, B: 0x99, A: 0xff},
	}
)

// chartCap is the longest bar: one noisy latency pair (a 90 ms p99 on a
// loaded machine) would otherwise squash every other bar to a sliver. The
// label still gives the real ratio.
const chartCap = 3.0

// chartRows are the rows that have a ratio to draw: every comparable
// metric, whether or not it was measured, so a missing bar says why.
func chartRows(rows []Row) []Row {
	var out []Row
	for _, r := range rows {
		if m, ok := MetricByName(r.Metric); ok && m.VswitchOnly {
			continue
		}
		out = append(out, r)
	}
	return out
}

// chartLabel names a bar; when there is no bar it says why, so the chart
// reads without the table.
func chartLabel(r Row) string {
	dir := "higher better"
	if !r.HigherIsBetter {
		dir = "lower better"
	}
	l := fmt.Sprintf("%s  %s (%s)", r.Scenario, r.Metric, dir)
	switch r.OVSStatus {
	case StatusNotSupported:
		l += ": ovs not supported yet"
	case StatusError:
		l += ": ovs run failed"
	}
	if r.OVSRatio == nil && r.OVSStatus == StatusOK && r.KernelMedian != nil {
		l += ": no ovs ratio"
	}
	switch {
	case r.Ratio != nil:
		return l
	case r.VswitchStatus == StatusNotSupported:
		return l + ": vswitch not supported yet"
	case r.KernelMedian == nil:
		return l + ": kernel run failed"
	default:
		return l + ": vswitch run failed"
	}
}

// Chart renders latest.png: one horizontal bar per scenario and metric
// with the vswitch/kernel ratio, the 1.0 line, each bar labelled with its
// value, green where the target is met and red where it is not.
func (r Result) Chart() ([]byte, error) {
	rows := chartRows(r.Rows)
	if len(rows) == 0 {
		return nil, fmt.Errorf("chart: no comparable rows")
	}
	extras := r.extraSides()
	ovs := r.HasOVS()
	// bar groups: OVS (against the kernel) when it ran, then each vswitchd
	groupNames := []string{SideVswitch + " / kernel"}
	if ovs {
		groupNames = append([]string{"Open vSwitch userspace / kernel"}, groupNames...)
	}
	for _, e := range extras {
		groupNames = append(groupNames, e+" / kernel")
	}
	p := plot.New()
	p.Title.Text = "vswitchd vs kernel bridge + iptables: ratio (≥ 1.0 = vswitchd as good or better)"
	if ovs {
		p.Title.Text = "kernel bridge + iptables = 1.0; Open vSwitch userspace and vswitchd against it (≥ 1.0 = as good or better)"
	}
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text = fmt.Sprintf("ratio: vswitch/kernel for throughput, kernel/vswitch for latency  ·  %s  ·  commit %s  ·  %s mode, %d pair(s)  ·  %d × %s",
		r.Date, r.Commit, r.Mode, r.Pairs, r.Machine.NProc, r.Machine.CPUModel)
	p.X.Min = 0

	// Nominal Y grows upwards; put the first row at the top.
	n := len(rows)
	names := make([]string, n)
	maxRatio := 1.0
	for i, row := range rows {
		names[n-1-i] = chartLabel(row)
		for _, v := range ratios(row, extras, ovs) {
			if v != nil {
				maxRatio = math.Max(maxRatio, math.Min(*v, chartCap))
			}
		}
	}
	p.X.Max = maxRatio * 1.55 // room on the right for the legend
	p.NominalY(names...)

	groups := len(groupNames)
	barWidth := vg.Points(14) / vg.Length(groups)
	for g := 0; g < groups; g++ {
		meets, short := make(plotter.Values, n), make(plotter.Values, n)
		var labels plotter.XYLabels
		for i, row := range rows {
			v := ratios(row, extras, ovs)[g]
			if v == nil {
				continue
			}
			y := n - 1 - i
			if groups == 1 && row.MeetsTarget != nil && !*row.MeetsTarget {
				short[y] = math.Min(*v, chartCap)
			} else {
				meets[y] = math.Min(*v, chartCap)
			}
			text := fmt.Sprintf(" %.2f", *v)
			if *v > chartCap {
				text += " (bar cut at " + Num(chartCap) + ")"
			}
			labels.XYs = append(labels.XYs, plotter.XY{X: math.Min(*v, chartCap), Y: float64(y)})
			labels.Labels = append(labels.Labels, text)
		}
		offset := (vg.Length(g) - vg.Length(groups-1)/2) * barWidth
		for _, set := range []struct {
			vals plotter.Values
			c    color.Color
		}{{meets, colorMeets}, {short, colorShort}} {
			bars, err := plotter.NewBarChart(set.vals, barWidth)
			if err != nil {
				return nil, err
			}
			bars.Horizontal = true
			bars.Offset = -offset // Y grows upwards: the primary bar goes on top
			bars.LineStyle.Width = 0
			bars.Color = set.c
			if groups > 1 {
				bars.Color = groupColor(g, ovs)
			}
			p.Add(bars)
			if groups > 1 {
				p.Legend.Add(groupNames[g], bars)
				break // one colour per side; meets and short are the same set
			}
		}
		if len(labels.XYs) > 0 {
			l, err := plotter.NewLabels(labels)
			if err != nil {
				return nil, err
			}
			for i := range l.TextStyle {
				l.TextStyle[i].YAlign = draw.YCenter
				l.TextStyle[i].Font.Size = vg.Points(9)
			}
			l.Offset = vg.Point{Y: -offset}
			p.Add(l)
		}
	}
	parity, err := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.6}, {X: 1, Y: float64(n) - 0.4}})
	if err != nil {
		return nil, err
	}
	parity.LineStyle.Width = vg.Points(1.5)
	parity.LineStyle.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	parity.LineStyle.Color = color.Black
	p.Add(parity)
	p.Legend.Add("1.0 = parity with the kernel", parity)
	if groups == 1 {
		for _, e := range []struct {
			name string
			c    color.Color
		}{{"meets target (throughput ≥ 1.0, latency ≥ 0.8)", colorMeets}, {"short of target", colorShort}} {
			sw, _ := plotter.NewBarChart(plotter.Values{0}, 1)
			sw.Color = e.c
			sw.LineStyle.Width = 0
			p.Legend.Add(e.name, sw)
		}
	}
	p.Legend.Top = true
	p.Legend.Left = false
	p.Add(plotter.NewGrid())

	h := vg.Length(n)*vg.Points(22)*vg.Length(math.Max(1, float64(groups)*0.7)) + vg.Points(140)
	wt, err := p.WriterTo(vg.Points(1100), h, "png")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// groupColor is OVS's grey, then the vswitchd sides' colours.
func groupColor(g int, ovs bool) color.Color {
	if ovs {
		if g == 0 {
			return colorOVS
		}
		g--
	}
	return sideColors[g%len(sideColors)]
}

// ratios of a row against the kernel: OVS when it ran, the primary vswitch
// side, then each extra side.
func ratios(r Row, extras []string, ovs bool) []*float64 {
	var out []*float64
	if ovs {
		out = append(out, r.OVSRatio)
	}
	out = append(out, r.Ratio)
	for _, e := range extras {
		out = append(out, r.Extra[e].Ratio)
	}
	return out
}
